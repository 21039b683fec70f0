/* The ddm config: one table of keys (OptSpec rows, core/opt.h) drives parsing, defaults,
 * canonical text and help; io/ini.c reads the files. This file adds what only the config
 * has: its sections, the cross-checks of config_validate and the converters to the
 * modules' own structs. */
#include "io/config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "io/ini.h"

#define OFF(sec, field) offsetof(DdmConfig, sec.field)

/* A row whose name is its field's name; lists also name their count field. */
#define SCALAR(sec, field, ty, choices_, def_, unit_, help_)                                      \
    {.section = #sec, .name = #field, .type = ty, .offset = OFF(sec, field), .choices = choices_, \
     .def = def_, .unit = unit_, .help = help_}
#define LIST(sec, field, count, ty, def_, unit_, help_)                                           \
    {.section = #sec, .name = #field, .type = ty, .offset = OFF(sec, field),                      \
     .count_offset = OFF(sec, count), .def = def_, .unit = unit_, .help = help_,                  \
     .list_max = CONFIG_MAX_LIST}

/* Ranges are not in the rows: config_validate checks them (with the cross-checks), so a
 * config can be read in full before it is judged. */
static const OptSpec KEYS[] = {
    /* [model] */
    SCALAR(model, ch, OPT_INT, NULL, "32", "channels", "base width of the U-Net"),
    LIST(model, ch_mult, n_ch_mult, OPT_INT_LIST, "1,2,2", "",
         "width multiplier per resolution level (one entry per level)"),
    SCALAR(model, num_res_blocks, OPT_INT, NULL, "2", "", "ResBlocks per level on the down path"),
    LIST(model, attn_resolutions, n_attn, OPT_INT_LIST, "8", "pixels",
         "resolutions with self-attention (empty = none)"),
    SCALAR(model, groups, OPT_INT, NULL, "8", "", "GroupNorm groups (must divide every width)"),
    SCALAR(model, dropout, OPT_F64, NULL, "0", "probability", "dropout inside the ResBlocks"),
    SCALAR(model, num_classes, OPT_INT, NULL, "0", "",
           "label classes for class conditioning (0 = unconditional)"),
    SCALAR(model, image_size, OPT_INT, NULL, "32", "pixels", "height = width of the images"),
    SCALAR(model, channels, OPT_INT, NULL, "1", "", "image channels"),
    SCALAR(model, cond_channels, OPT_INT, NULL, "0", "",
           "condition channels concatenated to the input: SR3 super-resolution's low-resolution "
           "image (= channels, with train.degrade; 0 = none)"),
    /* [diffusion] */
    SCALAR(diffusion, process, OPT_CHOICE, "vp|ve", "vp", "", "vp: DDPM / VP-SDE; ve: NCSN / VE-SDE"),
    SCALAR(diffusion, schedule, OPT_CHOICE, "linear|cosine", "linear", "", "beta schedule (vp)"),
    SCALAR(diffusion, timesteps, OPT_INT, NULL, "1000", "steps", "T, discrete diffusion steps (vp)"),
    SCALAR(diffusion, beta_start, OPT_F64, NULL, "0.0001", "", "beta_1 of the linear schedule (vp)"),
    SCALAR(diffusion, beta_end, OPT_F64, NULL, "0.02", "", "beta_T of the linear schedule (vp)"),
    SCALAR(diffusion, prediction, OPT_CHOICE, "eps|x0|v", "eps", "",
           "what the network predicts (ve: eps only)"),
    SCALAR(diffusion, loss, OPT_CHOICE, "simple|vlb", "simple", "",
           "per-timestep loss weight: simple = 1, vlb = normalised VLB weight (vp)"),
    SCALAR(diffusion, sigma_min, OPT_F64, NULL, "0.01", "", "smallest noise level (ve)"),
    SCALAR(diffusion, sigma_max, OPT_F64, NULL, "50", "", "largest noise level (ve)"),
    SCALAR(diffusion, num_scales, OPT_INT, NULL, "232", "levels", "L, geometric noise levels (ve)"),
    /* [train] */
    SCALAR(train, batch, OPT_INT, NULL, "64", "images", "GLOBAL batch, split evenly over the ranks"),
    SCALAR(train, lr, OPT_F64, NULL, "0.0002", "", "peak learning rate"),
    SCALAR(train, warmup, OPT_INT, NULL, "500", "steps", "linear learning-rate warm-up"),
    SCALAR(train, weight_decay, OPT_F64, NULL, "0", "", "AdamW decoupled weight decay"),
    SCALAR(train, grad_clip, OPT_F64, NULL, "1", "", "max global gradient norm (0 = off)"),
    LIST(train, ema, n_ema, OPT_F64_LIST, "0.9999", "",
         "EMA decay rates, one weight copy each (empty = none)"),
    SCALAR(train, max_steps, OPT_I64, NULL, "10000", "steps", "stop after this many optimizer steps"),
    SCALAR(train, log_every, OPT_INT, NULL, "50", "steps", "metrics line interval"),
    SCALAR(train, ckpt_every, OPT_INT, NULL, "1000", "steps", "checkpoint interval"),
    SCALAR(train, keep, OPT_INT, NULL, "3", "files", "checkpoints kept in the run folder"),
    SCALAR(train, preview_every, OPT_INT, NULL, "0", "steps", "preview grid interval (0 = off)"),
    SCALAR(train, seed, OPT_U64, NULL, "0", "", "seed of weights, data order, noise"),
    SCALAR(train, p_uncond, OPT_F64, NULL, "0.1", "probability",
           "label dropped to 'no label' (classifier-free guidance; conditional models)"),
    SCALAR(train, threads, OPT_INT, NULL, "0", "per rank", "compute threads (0 = all the rank has)"),
    /* an int, not OPT_BOOL: config_validate says "must be 0 or 1" after reading it all */
    SCALAR(train, flip, OPT_INT, NULL, "0", "0|1", "random horizontal flips of training images"),
    LIST(train, degrade, n_degrade, OPT_INT_LIST, "", "factors",
         "SR3: condition on the image downsampled by a factor (block mean) and upsampled back "
         "(bicubic); several: each image draws one (needs model.cond_channels; empty = none)"),
    SCALAR(train, task, OPT_CHOICE, "diffusion|classifier|noisy-classifier", "diffusion", "",
           "what to train: the diffusion U-Net, the eval classifier (clean images) or the "
           "noise-aware classifier of classifier guidance (the U-Net's encoder on x_t)"),
    SCALAR(train, adam_beta1, OPT_F64, NULL, "0.9", "", "AdamW first-moment decay"),
    SCALAR(train, adam_beta2, OPT_F64, NULL, "0.999", "", "AdamW second-moment decay"),
    SCALAR(train, adam_eps, OPT_F64, NULL, "1e-08", "", "AdamW epsilon"),
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

static const char *SECTIONS[] = {"model", "diffusion", "train"};
#define NSECTIONS ((int)(sizeof SECTIONS / sizeof SECTIONS[0]))

int config_num_keys(void) { return NKEYS; }
const CfgKey *config_key(int i) { return i >= 0 && i < NKEYS ? &KEYS[i] : NULL; }

static int section_known(const char *s)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (!strcmp(SECTIONS[i], s)) return 1;
    return 0;
}

const CfgKey *config_find_key(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot) return opt_find(KEYS, NKEYS, NULL, name);
    char sec[64];
    size_t n = (size_t)(dot - name);
    if (n >= sizeof sec) return NULL;
    memcpy(sec, name, n);
    sec[n] = '\0';
    return opt_find(KEYS, NKEYS, sec, dot + 1);
}

/* What a value of k must look like, in the words config errors have always used
 * ("bad value 'abc' for train.lr (a number)"): users and tests know them. */
static const char *key_want(const CfgKey *k, char *buf, size_t n)
{
    switch (k->type) {
    case OPT_INT:
    case OPT_I64:
        return "an integer";
    case OPT_U64:
        return "a non-negative integer";
    case OPT_CHOICE:
        snprintf(buf, n, "one of %s", k->choices);
        return buf;
    case OPT_INT_LIST:
        return "a comma-separated list of integers, may be empty";
    case OPT_F64_LIST:
        return "a comma-separated list of numbers, may be empty";
    default:
        return opt_want(k, buf, n);
    }
}

/* Set k from value; context ("b.ini:3", "--set train.lr=abc") prefixes the error. */
static int key_set(DdmConfig *cfg, const CfgKey *k, const char *value, const char *context,
                   char *err, size_t errlen)
{
    if (opt_set(k, cfg, value, NULL, 0) == 0) return 0;
    char tb[128];
    ddm_set_err(err, errlen, "%s: bad value '%s' for %s.%s (%s)", context, value, k->section, k->name,
            key_want(k, tb, sizeof tb));
    return -1;
}

char *config_value_text(const DdmConfig *cfg, const CfgKey *k)
{
    char buf[1024];
    opt_format(k, cfg, buf, sizeof buf);
    return xstrdup(buf);
}

void config_defaults(DdmConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    opt_defaults(KEYS, NKEYS, cfg);
}

/* ---- INI ---- */

/* An INI syntax error in the words config errors had before io/ini.c (tests pin them). */
static void ini_error(const IniFile *ini, const char *name, char *err, size_t errlen)
{
    switch (ini->err_kind) {
    case INI_ERR_SYNTAX:
        ddm_set_err(err, errlen, "%s:%d: expected 'key = value' or '[section]', got '%s'", name,
                ini->err_line, ini->err_text);
        break;
    case INI_ERR_HEADER:
        ddm_set_err(err, errlen, "%s:%d: bad section line '%s' (expected [name])", name,
                ini->err_line, ini->err_text);
        break;
    case INI_ERR_ORPHAN:
        ddm_set_err(err, errlen, "%s:%d: key '%s' before any [section]", name, ini->err_line,
                ini->err_key);
        break;
    default:
        break; /* ini's own message stands */
    }
}

/* Apply parsed INI over cfg: all or nothing. */
static int config_apply(DdmConfig *cfg, const IniFile *ini, char *err, size_t errlen)
{
    DdmConfig c = *cfg;
    for (int s = 0; s < ini->n; s++) {
        const IniSection *sec = &ini->sec[s];
        if (!section_known(sec->name)) {
            ddm_set_err(err, errlen, "%s: unknown section [%s] (sections: [model] [diffusion] [train])",
                    sec->where, sec->name);
            return -1;
        }
        for (int i = 0; i < sec->n; i++) {
            const IniEntry *e = &sec->e[i];
            const CfgKey *k = opt_find(KEYS, NKEYS, sec->name, e->key);
            if (!k) {
                const CfgKey *other = opt_find(KEYS, NKEYS, NULL, e->key);
                if (other)
                    ddm_set_err(err, errlen, "%s: unknown key '%s' in [%s] (it belongs in [%s])",
                            e->where, e->key, sec->name, other->section);
                else
                    ddm_set_err(err, errlen, "%s: unknown key '%s' in [%s]", e->where, e->key,
                            sec->name);
                return -1;
            }
            if (key_set(&c, k, e->value, e->where, err, errlen)) return -1;
        }
    }
    *cfg = c;
    return 0;
}

int config_parse_text(DdmConfig *cfg, const char *text, const char *name, char *err, size_t errlen)
{
    IniFile ini;
    /* a key given twice is refused (issue 16): which one wins would be a guess */
    if (ini_parse_text(text, name, INI_UNIQUE_KEYS, &ini, err, errlen)) {
        ini_error(&ini, name, err, errlen);
        ini_free(&ini);
        return -1;
    }
    int rc = config_apply(cfg, &ini, err, errlen);
    ini_free(&ini);
    return rc;
}

int config_load_ini(DdmConfig *cfg, const char *path, char *err, size_t errlen)
{
    IniFile ini;
    if (ini_load(path, INI_UNIQUE_KEYS, &ini, err, errlen)) {
        ini_error(&ini, path, err, errlen);
        ini_free(&ini);
        return -1;
    }
    int rc = config_apply(cfg, &ini, err, errlen);
    ini_free(&ini);
    return rc;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

int config_set(DdmConfig *cfg, const char *assignment, char *err, size_t errlen)
{
    int rc = -1;
    char *a = xstrdup(assignment);
    char *eq = strchr(a, '=');
    if (!eq) {
        ddm_set_err(err, errlen, "--set %s: expected section.key=value", assignment);
        goto out;
    }
    *eq = '\0';
    char *name = trim(a), *value = trim(eq + 1);
    const char *dot = strchr(name, '.');
    if (dot) {
        char sec[64];
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - name), name);
        if (!section_known(sec)) {
            ddm_set_err(err, errlen,
                    "--set %s: unknown section [%s] (sections: model, diffusion, train)",
                    assignment, sec);
            goto out;
        }
        if (!opt_find(KEYS, NKEYS, sec, dot + 1)) {
            ddm_set_err(err, errlen, "--set %s: unknown key '%s' in [%s]", assignment, dot + 1, sec);
            goto out;
        }
    }
    const CfgKey *k = config_find_key(name);
    if (!k) {
        ddm_set_err(err, errlen, "--set %s: unknown key '%s'", assignment, name);
        goto out;
    }
    char context[300];
    snprintf(context, sizeof context, "--set %s", assignment);
    rc = key_set(cfg, k, value, context, err, errlen);
out:
    free(a);
    return rc;
}

/* ---- validation ---- */

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

#define CONFIG_MAX_WIDTH 8192 /* channels of one level: 3x3 convs of 8192 are 600M weights */

int config_validate(const DdmConfig *c, char *err, size_t errlen)
{
    /* [model] */
    if (c->model.ch < 1) return bad(err, errlen, "model.ch = %d: must be >= 1", c->model.ch);
    if (c->model.n_ch_mult < 1)
        return bad(err, errlen, "model.ch_mult is empty: give one multiplier per level");
    for (int i = 0; i < c->model.n_ch_mult; i++)
        if (c->model.ch_mult[i] < 1)
            return bad(err, errlen, "model.ch_mult entry %d is %d: must be >= 1", i + 1,
                       c->model.ch_mult[i]);
    if (c->model.num_res_blocks < 1)
        return bad(err, errlen, "model.num_res_blocks = %d: must be >= 1", c->model.num_res_blocks);
    if (c->model.groups < 1)
        return bad(err, errlen, "model.groups = %d: must be >= 1", c->model.groups);
    if (c->model.ch % c->model.groups)
        return bad(err, errlen, "model.groups = %d does not divide model.ch = %d", c->model.groups,
                   c->model.ch);
    /* ch % groups == 0 covers every level: widths are ch * ch_mult */
    /* widths beyond any network that fits a node: say which key, before allocating it */
    for (int i = 0; i < c->model.n_ch_mult; i++)
        if ((long long)c->model.ch * c->model.ch_mult[i] > CONFIG_MAX_WIDTH)
            return bad(err, errlen, "model.ch = %d x model.ch_mult entry %d (%d) = %lld channels: "
                       "at most %d (the weights alone would not fit in memory)", c->model.ch,
                       i + 1, c->model.ch_mult[i],
                       (long long)c->model.ch * c->model.ch_mult[i], CONFIG_MAX_WIDTH);
    if (!(c->model.dropout >= 0 && c->model.dropout < 1))
        return bad(err, errlen, "model.dropout = %g: must be in [0, 1)", c->model.dropout);
    if (c->model.num_classes < 0)
        return bad(err, errlen, "model.num_classes = %d: must be >= 0 (0 = unconditional)",
                   c->model.num_classes);
    if (c->model.channels < 1)
        return bad(err, errlen, "model.channels = %d: must be >= 1", c->model.channels);
    if (c->model.image_size < 1)
        return bad(err, errlen, "model.image_size = %d: must be >= 1", c->model.image_size);
    {
        int div = 1 << (c->model.n_ch_mult - 1);
        if (c->model.image_size % div)
            return bad(err, errlen,
                       "model.image_size = %d: must be divisible by %d (2^(levels-1), %d levels in "
                       "model.ch_mult)",
                       c->model.image_size, div, c->model.n_ch_mult);
    }
    for (int i = 0; i < c->model.n_attn; i++) {
        int r = c->model.attn_resolutions[i], found = 0;
        for (int l = 0; l < c->model.n_ch_mult; l++) found |= (c->model.image_size >> l) == r;
        if (!found) {
            char res[128];
            size_t off = 0;
            for (int l = 0; l < c->model.n_ch_mult && off < sizeof res; l++)
                off += (size_t)snprintf(res + off, sizeof res - off, "%s%d", l ? "," : "",
                                        c->model.image_size >> l);
            return bad(err, errlen,
                       "model.attn_resolutions: %d is not a resolution of the network (%s)", r,
                       res);
        }
    }
    /* [diffusion] */
    if (c->diffusion.timesteps < 1)
        return bad(err, errlen, "diffusion.timesteps = %d: must be >= 1", c->diffusion.timesteps);
    if (c->diffusion.process == PROC_VP && c->diffusion.schedule == SCHED_LINEAR) {
        if (!(c->diffusion.beta_start > 0 && c->diffusion.beta_start < 1))
            return bad(err, errlen, "diffusion.beta_start = %g: must be in (0, 1)",
                       c->diffusion.beta_start);
        if (!(c->diffusion.beta_end >= c->diffusion.beta_start && c->diffusion.beta_end < 1))
            return bad(err, errlen,
                       "diffusion.beta_end = %g: must be in [beta_start, 1) (beta_start = %g)",
                       c->diffusion.beta_end, c->diffusion.beta_start);
    }
    if (!(c->diffusion.sigma_min > 0))
        return bad(err, errlen, "diffusion.sigma_min = %g: must be > 0", c->diffusion.sigma_min);
    if (!(c->diffusion.sigma_max > c->diffusion.sigma_min))
        return bad(err, errlen, "diffusion.sigma_max = %g: must be > sigma_min = %g",
                   c->diffusion.sigma_max, c->diffusion.sigma_min);
    if (c->diffusion.num_scales < 2)
        return bad(err, errlen, "diffusion.num_scales = %d: must be >= 2", c->diffusion.num_scales);
    if (c->diffusion.process == PROC_VE && c->diffusion.prediction != PRED_EPS)
        return bad(err, errlen,
                   "diffusion.prediction: the ve process trains eps (the NCSN score) only");
    if (c->diffusion.process == PROC_VE && c->diffusion.loss != LOSS_SIMPLE)
        return bad(err, errlen, "diffusion.loss = vlb needs diffusion.process = vp");
    /* [train] */
    if (c->train.batch < 1)
        return bad(err, errlen, "train.batch = %d: must be >= 1", c->train.batch);
    if (!(c->train.lr >= 0)) return bad(err, errlen, "train.lr = %g: must be >= 0", c->train.lr);
    if (c->train.warmup < 0)
        return bad(err, errlen, "train.warmup = %d: must be >= 0", c->train.warmup);
    if (!(c->train.weight_decay >= 0))
        return bad(err, errlen, "train.weight_decay = %g: must be >= 0", c->train.weight_decay);
    if (!(c->train.grad_clip >= 0))
        return bad(err, errlen, "train.grad_clip = %g: must be >= 0 (0 = off)", c->train.grad_clip);
    for (int i = 0; i < c->train.n_ema; i++) {
        if (!(c->train.ema[i] > 0 && c->train.ema[i] < 1))
            return bad(err, errlen, "train.ema entry %d is %g: a decay rate must be in (0, 1)",
                       i + 1, c->train.ema[i]);
        for (int j = 0; j < i; j++)
            if (c->train.ema[j] == c->train.ema[i])
                return bad(err, errlen, "train.ema lists %g twice", c->train.ema[i]);
    }
    if (c->train.max_steps < 0)
        return bad(err, errlen, "train.max_steps = %lld: must be >= 0",
                   (long long)c->train.max_steps);
    if (c->train.log_every < 1)
        return bad(err, errlen, "train.log_every = %d: must be >= 1", c->train.log_every);
    if (c->train.ckpt_every < 1)
        return bad(err, errlen, "train.ckpt_every = %d: must be >= 1", c->train.ckpt_every);
    if (c->train.keep < 1) return bad(err, errlen, "train.keep = %d: must be >= 1", c->train.keep);
    if (c->train.preview_every < 0)
        return bad(err, errlen, "train.preview_every = %d: must be >= 0 (0 = off)",
                   c->train.preview_every);
    if (!(c->train.p_uncond >= 0 && c->train.p_uncond <= 1))
        return bad(err, errlen, "train.p_uncond = %g: must be in [0, 1]", c->train.p_uncond);
    if (c->train.threads < 0)
        return bad(err, errlen, "train.threads = %d: must be >= 0 (0 = all)", c->train.threads);
    if (c->train.flip != 0 && c->train.flip != 1)
        return bad(err, errlen, "train.flip = %d: must be 0 or 1", c->train.flip);
    if (!(c->train.adam_beta1 >= 0 && c->train.adam_beta1 < 1))
        return bad(err, errlen, "train.adam_beta1 = %g: must be in [0, 1)", c->train.adam_beta1);
    if (!(c->train.adam_beta2 >= 0 && c->train.adam_beta2 < 1))
        return bad(err, errlen, "train.adam_beta2 = %g: must be in [0, 1)", c->train.adam_beta2);
    if (!(c->train.adam_eps > 0))
        return bad(err, errlen, "train.adam_eps = %g: must be > 0", c->train.adam_eps);
    if (c->model.cond_channels < 0)
        return bad(err, errlen, "model.cond_channels = %d: must be >= 0 (0 = none)",
                   c->model.cond_channels);
    for (int i = 0; i < c->train.n_degrade; i++) {
        const int f = c->train.degrade[i];
        if (f < 2 || c->model.image_size % f)
            return bad(err, errlen, "train.degrade entry %d is %d: a factor must be >= 2 and "
                       "divide model.image_size = %d", i + 1, f, c->model.image_size);
        for (int j = 0; j < i; j++)
            if (c->train.degrade[j] == f)
                return bad(err, errlen, "train.degrade lists %d twice", f);
    }
    if (c->train.n_degrade > 0 && c->model.cond_channels != c->model.channels)
        return bad(err, errlen, "train.degrade = %d...: the degraded image is the condition, so "
                   "model.cond_channels must be model.channels = %d (it is %d)",
                   c->train.degrade[0], c->model.channels, c->model.cond_channels);
    if (c->model.cond_channels > 0 && c->train.n_degrade == 0)
        return bad(err, errlen, "model.cond_channels = %d: a condition image needs train.degrade "
                   "(the SR3 factors, e.g. 4 or 2,4)", c->model.cond_channels);
    if (c->model.cond_channels > 0 && c->train.task != TASK_DIFFUSION)
        return bad(err, errlen, "model.cond_channels = %d goes with train.task = diffusion",
                   c->model.cond_channels);
    if (c->model.cond_channels > 0 && c->train.preview_every > 0)
        return bad(err, errlen, "train.preview_every = %d: previews need no condition image; "
                   "set 0 for a super-resolution model (model.cond_channels = %d)",
                   c->train.preview_every, c->model.cond_channels);
    if (c->train.task != TASK_DIFFUSION && c->model.num_classes < 2)
        return bad(err, errlen, "train.task = %s needs model.num_classes >= 2 (it is %d)",
                   c->train.task == TASK_CLASSIFIER ? "classifier" : "noisy-classifier",
                   c->model.num_classes);
    return 0;
}

/* ---- text ---- */

char *config_to_text(const DdmConfig *cfg)
{
    size_t cap = 4096, n = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (int s = 0; s < NSECTIONS; s++) {
        char line[700];
        int len = snprintf(line, sizeof line, "%s[%s]\n", s ? "\n" : "", SECTIONS[s]);
        if (n + (size_t)len + 1 > cap) out = xrealloc(out, cap = 2 * (n + (size_t)len + 1));
        memcpy(out + n, line, (size_t)len + 1);
        n += (size_t)len;
        for (int i = 0; i < NKEYS; i++) {
            if (strcmp(KEYS[i].section, SECTIONS[s])) continue;
            char *v = config_value_text(cfg, &KEYS[i]);
            len = snprintf(line, sizeof line, "%s = %s\n", KEYS[i].name, v);
            free(v);
            if (n + (size_t)len + 1 > cap) out = xrealloc(out, cap = 2 * (n + (size_t)len + 1));
            memcpy(out + n, line, (size_t)len + 1);
            n += (size_t)len;
        }
    }
    return out;
}

void config_print_keys(FILE *f)
{
    for (int s = 0; s < NSECTIONS; s++) {
        fprintf(f, "  [%s]\n", SECTIONS[s]);
        for (int i = 0; i < NKEYS; i++) {
            const CfgKey *k = &KEYS[i];
            if (strcmp(k->section, SECTIONS[s])) continue;
            char lhs[96];
            snprintf(lhs, sizeof lhs, "%s.%s = %s", k->section, k->name,
                     *k->def ? k->def : "(none)");
            fprintf(f, "    %-34s %s", lhs, k->help);
            if (k->type == OPT_CHOICE) fprintf(f, " (%s)", k->choices);
            if (*k->unit) fprintf(f, " [%s]", k->unit);
            fputc('\n', f);
        }
    }
}

int config_equal(const DdmConfig *a, const DdmConfig *b)
{
    for (int i = 0; i < NKEYS; i++)
        if (!opt_equal(&KEYS[i], a, b)) return 0;
    return 1;
}

/* ---- to the modules ---- */

void config_to_unet(const DdmConfig *cfg, UNetConfig *u)
{
    memset(u, 0, sizeof *u);
    u->ch = cfg->model.ch;
    u->n_levels = cfg->model.n_ch_mult < UNET_MAX_LEVELS ? cfg->model.n_ch_mult : UNET_MAX_LEVELS;
    for (int i = 0; i < u->n_levels; i++) u->ch_mult[i] = cfg->model.ch_mult[i];
    u->num_res_blocks = cfg->model.num_res_blocks;
    u->n_attn = cfg->model.n_attn < UNET_MAX_LEVELS ? cfg->model.n_attn : UNET_MAX_LEVELS;
    for (int i = 0; i < u->n_attn; i++) u->attn_res[i] = cfg->model.attn_resolutions[i];
    u->groups = cfg->model.groups;
    u->dropout = (float)cfg->model.dropout;
    u->num_classes = cfg->model.num_classes;
    u->image_size = cfg->model.image_size;
    u->in_ch = cfg->model.channels;
    u->out_ch = cfg->model.channels;
    u->cond_ch = cfg->model.cond_channels;
    if (cfg->train.task == TASK_NOISY_CLASSIFIER) { /* the encoder, num_classes logits */
        u->head = UNET_HEAD_POOL;
        u->num_classes = 0;
        u->out_ch = cfg->model.num_classes;
    }
}

void config_to_sched(const DdmConfig *cfg, SchedConfig *s)
{
    memset(s, 0, sizeof *s);
    s->process = cfg->diffusion.process == 1 ? PROC_VE : PROC_VP;
    s->schedule = cfg->diffusion.schedule == 1 ? SCHED_COSINE : SCHED_LINEAR;
    s->timesteps = cfg->diffusion.timesteps;
    s->beta_start = cfg->diffusion.beta_start;
    s->beta_end = cfg->diffusion.beta_end;
    s->prediction = cfg->diffusion.prediction == 1   ? PRED_X0
                    : cfg->diffusion.prediction == 2 ? PRED_V
                                                     : PRED_EPS;
    s->sigma_min = cfg->diffusion.sigma_min;
    s->sigma_max = cfg->diffusion.sigma_max;
    s->num_scales = cfg->diffusion.num_scales;
    s->loss = cfg->diffusion.loss == 1 ? LOSS_VLB : LOSS_SIMPLE;
}

void config_to_adamw(const DdmConfig *cfg, AdamW *o)
{
    o->lr = (float)cfg->train.lr;
    o->beta1 = (float)cfg->train.adam_beta1;
    o->beta2 = (float)cfg->train.adam_beta2;
    o->eps = (float)cfg->train.adam_eps;
    o->weight_decay = (float)cfg->train.weight_decay;
}

void config_to_classifier(const DdmConfig *cfg, ClassifierConfig *c)
{
    classifier_config_default(c);
    c->in_ch = cfg->model.channels;
    c->image_size = cfg->model.image_size;
    c->num_classes = cfg->model.num_classes;
    c->ch = cfg->model.ch;
    c->groups = cfg->model.groups;
}
