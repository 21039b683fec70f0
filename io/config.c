/* The ddm config: one table of keys drives parsing, defaults, canonical text and help. */
#include "io/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

#define OFF(sec, field) offsetof(DdmConfig, sec.field)
#define NOCOUNT 0

static const CfgKey KEYS[] = {
    /* [model] */
    {"model", "ch", CFG_INT, OFF(model, ch), NOCOUNT, NULL, "32", "channels",
     "base width of the U-Net"},
    {"model", "ch_mult", CFG_INT_LIST, OFF(model, ch_mult), OFF(model, n_ch_mult), NULL, "1,2,2",
     "", "width multiplier per resolution level (one entry per level)"},
    {"model", "num_res_blocks", CFG_INT, OFF(model, num_res_blocks), NOCOUNT, NULL, "2", "",
     "ResBlocks per level on the down path"},
    {"model", "attn_resolutions", CFG_INT_LIST, OFF(model, attn_resolutions), OFF(model, n_attn),
     NULL, "8", "pixels", "resolutions with self-attention (empty = none)"},
    {"model", "groups", CFG_INT, OFF(model, groups), NOCOUNT, NULL, "8", "",
     "GroupNorm groups (must divide every width)"},
    {"model", "dropout", CFG_F64, OFF(model, dropout), NOCOUNT, NULL, "0", "probability",
     "dropout inside the ResBlocks"},
    {"model", "num_classes", CFG_INT, OFF(model, num_classes), NOCOUNT, NULL, "0", "",
     "label classes for class conditioning (0 = unconditional)"},
    {"model", "image_size", CFG_INT, OFF(model, image_size), NOCOUNT, NULL, "32", "pixels",
     "height = width of the images"},
    {"model", "channels", CFG_INT, OFF(model, channels), NOCOUNT, NULL, "1", "", "image channels"},
    /* [diffusion] */
    {"diffusion", "process", CFG_CHOICE, OFF(diffusion, process), NOCOUNT, "vp|ve", "vp", "",
     "vp: DDPM / VP-SDE; ve: NCSN / VE-SDE"},
    {"diffusion", "schedule", CFG_CHOICE, OFF(diffusion, schedule), NOCOUNT, "linear|cosine",
     "linear", "", "beta schedule (vp)"},
    {"diffusion", "timesteps", CFG_INT, OFF(diffusion, timesteps), NOCOUNT, NULL, "1000", "steps",
     "T, discrete diffusion steps (vp)"},
    {"diffusion", "beta_start", CFG_F64, OFF(diffusion, beta_start), NOCOUNT, NULL, "0.0001", "",
     "beta_1 of the linear schedule (vp)"},
    {"diffusion", "beta_end", CFG_F64, OFF(diffusion, beta_end), NOCOUNT, NULL, "0.02", "",
     "beta_T of the linear schedule (vp)"},
    {"diffusion", "prediction", CFG_CHOICE, OFF(diffusion, prediction), NOCOUNT, "eps|x0|v", "eps",
     "", "what the network predicts (ve: eps only)"},
    {"diffusion", "loss", CFG_CHOICE, OFF(diffusion, loss), NOCOUNT, "simple|vlb", "simple", "",
     "per-timestep loss weight: simple = 1, vlb = normalised VLB weight (vp)"},
    {"diffusion", "sigma_min", CFG_F64, OFF(diffusion, sigma_min), NOCOUNT, NULL, "0.01", "",
     "smallest noise level (ve)"},
    {"diffusion", "sigma_max", CFG_F64, OFF(diffusion, sigma_max), NOCOUNT, NULL, "50", "",
     "largest noise level (ve)"},
    {"diffusion", "num_scales", CFG_INT, OFF(diffusion, num_scales), NOCOUNT, NULL, "232", "levels",
     "L, geometric noise levels (ve)"},
    /* [train] */
    {"train", "batch", CFG_INT, OFF(train, batch), NOCOUNT, NULL, "64", "images",
     "GLOBAL batch, split evenly over the ranks"},
    {"train", "lr", CFG_F64, OFF(train, lr), NOCOUNT, NULL, "0.0002", "", "peak learning rate"},
    {"train", "warmup", CFG_INT, OFF(train, warmup), NOCOUNT, NULL, "500", "steps",
     "linear learning-rate warm-up"},
    {"train", "weight_decay", CFG_F64, OFF(train, weight_decay), NOCOUNT, NULL, "0", "",
     "AdamW decoupled weight decay"},
    {"train", "grad_clip", CFG_F64, OFF(train, grad_clip), NOCOUNT, NULL, "1", "",
     "max global gradient norm (0 = off)"},
    {"train", "ema", CFG_F64_LIST, OFF(train, ema), OFF(train, n_ema), NULL, "0.9999", "",
     "EMA decay rates, one weight copy each (empty = none)"},
    {"train", "max_steps", CFG_I64, OFF(train, max_steps), NOCOUNT, NULL, "10000", "steps",
     "stop after this many optimizer steps"},
    {"train", "log_every", CFG_INT, OFF(train, log_every), NOCOUNT, NULL, "50", "steps",
     "metrics line interval"},
    {"train", "ckpt_every", CFG_INT, OFF(train, ckpt_every), NOCOUNT, NULL, "1000", "steps",
     "checkpoint interval"},
    {"train", "keep", CFG_INT, OFF(train, keep), NOCOUNT, NULL, "3", "files",
     "checkpoints kept in the run folder"},
    {"train", "preview_every", CFG_INT, OFF(train, preview_every), NOCOUNT, NULL, "0", "steps",
     "preview grid interval (0 = off)"},
    {"train", "seed", CFG_U64, OFF(train, seed), NOCOUNT, NULL, "0", "",
     "seed of weights, data order, noise"},
    {"train", "p_uncond", CFG_F64, OFF(train, p_uncond), NOCOUNT, NULL, "0.1", "probability",
     "label dropped to 'no label' (classifier-free guidance; conditional models)"},
    {"train", "threads", CFG_INT, OFF(train, threads), NOCOUNT, NULL, "0", "per rank",
     "compute threads (0 = all the rank has)"},
    {"train", "flip", CFG_INT, OFF(train, flip), NOCOUNT, NULL, "0", "0|1",
     "random horizontal flips of training images"},
    {"train", "task", CFG_CHOICE, OFF(train, task), NOCOUNT, "diffusion|classifier", "diffusion",
     "", "what to train: the diffusion U-Net or the eval/guidance classifier"},
    {"train", "adam_beta1", CFG_F64, OFF(train, adam_beta1), NOCOUNT, NULL, "0.9", "",
     "AdamW first-moment decay"},
    {"train", "adam_beta2", CFG_F64, OFF(train, adam_beta2), NOCOUNT, NULL, "0.999", "",
     "AdamW second-moment decay"},
    {"train", "adam_eps", CFG_F64, OFF(train, adam_eps), NOCOUNT, NULL, "1e-08", "",
     "AdamW epsilon"},
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

static const char *SECTIONS[] = {"model", "diffusion", "train"};
#define NSECTIONS ((int)(sizeof SECTIONS / sizeof SECTIONS[0]))

int config_num_keys(void) { return NKEYS; }
const CfgKey *config_key(int i) { return i >= 0 && i < NKEYS ? &KEYS[i] : NULL; }

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int section_known(const char *s)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (!strcmp(SECTIONS[i], s)) return 1;
    return 0;
}

static const CfgKey *find_in(const char *section, const char *name)
{
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].section, section) && !strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

const CfgKey *config_find_key(const char *name)
{
    const char *dot = strchr(name, '.');
    if (dot) {
        char sec[64];
        size_t n = (size_t)(dot - name);
        if (n >= sizeof sec) return NULL;
        memcpy(sec, name, n);
        sec[n] = '\0';
        return find_in(sec, dot + 1);
    }
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

/* ---- values ---- */

static const char *type_desc(const CfgKey *k, char *buf, size_t n)
{
    switch (k->type) {
    case CFG_INT:
    case CFG_I64:
        return "an integer";
    case CFG_U64:
        return "a non-negative integer";
    case CFG_F64:
        return "a number";
    case CFG_CHOICE:
        snprintf(buf, n, "one of %s", k->choices);
        return buf;
    case CFG_INT_LIST:
        return "a comma-separated list of integers, may be empty";
    case CFG_F64_LIST:
        return "a comma-separated list of numbers, may be empty";
    }
    return "?";
}

static int parse_i64(const char *s, long long lo, long long hi, long long *out)
{
    if (!*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_f64(const char *s, double *out)
{
    if (!*s) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* Parse a list "a, b, c" (empty = no entries) into up to CONFIG_MAX_LIST items. */
static int parse_list(const char *value, int is_int, void *dst, int *count)
{
    char buf[512];
    if (strlen(value) >= sizeof buf) return -1;
    strcpy(buf, value);
    char *s = trim(buf);
    int n = 0;
    int ivals[CONFIG_MAX_LIST];
    double dvals[CONFIG_MAX_LIST];
    if (*s) {
        /* strtok would merge empty items ("1,,2"): walk by hand to reject them */
        char *p = s;
        for (;;) {
            char *comma = strchr(p, ',');
            if (comma) *comma = '\0';
            char *item = trim(p);
            if (!*item || n >= CONFIG_MAX_LIST) return -1;
            if (is_int) {
                long long v;
                if (parse_i64(item, -2147483647LL, 2147483647LL, &v)) return -1;
                ivals[n++] = (int)v;
            } else {
                double v;
                if (parse_f64(item, &v)) return -1;
                dvals[n++] = v;
            }
            if (!comma) break;
            p = comma + 1;
        }
    }
    if (is_int)
        memcpy(dst, ivals, (size_t)n * sizeof(int));
    else
        memcpy(dst, dvals, (size_t)n * sizeof(double));
    *count = n;
    return 0;
}

/* Store value (already trimmed) into cfg; -1 when it does not parse as k's type. */
static int set_value(DdmConfig *cfg, const CfgKey *k, const char *value)
{
    char *base = (char *)cfg;
    void *dst = base + k->offset;
    switch (k->type) {
    case CFG_INT: {
        long long v;
        if (parse_i64(value, -2147483647LL - 1, 2147483647LL, &v)) return -1;
        *(int *)dst = (int)v;
        return 0;
    }
    case CFG_I64: {
        long long v;
        if (parse_i64(value, INT64_MIN, INT64_MAX, &v)) return -1;
        *(int64_t *)dst = (int64_t)v;
        return 0;
    }
    case CFG_U64: {
        if (!*value || !isdigit((unsigned char)value[0])) return -1;
        errno = 0;
        char *end;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || *end) return -1;
        *(uint64_t *)dst = (uint64_t)v;
        return 0;
    }
    case CFG_F64: {
        double v;
        if (parse_f64(value, &v)) return -1;
        *(double *)dst = v;
        return 0;
    }
    case CFG_CHOICE: {
        const char *c = k->choices;
        size_t vl = strlen(value);
        for (int idx = 0; *c; idx++) {
            const char *bar = strchr(c, '|');
            size_t n = bar ? (size_t)(bar - c) : strlen(c);
            if (n == vl && !strncmp(c, value, n)) {
                *(int *)dst = idx;
                return 0;
            }
            if (!bar) break;
            c = bar + 1;
        }
        return -1;
    }
    case CFG_INT_LIST:
        return parse_list(value, 1, dst, (int *)(base + k->count_offset));
    case CFG_F64_LIST:
        return parse_list(value, 0, dst, (int *)(base + k->count_offset));
    }
    return -1;
}

/* shortest decimal text that reads back as exactly x */
static void fmt_double(char *buf, size_t n, double x)
{
    if (x == floor(x) && fabs(x) < 1e15) { /* "50", not "5e+01" */
        snprintf(buf, n, "%.0f", x);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

char *config_value_text(const DdmConfig *cfg, const CfgKey *k)
{
    const char *base = (const char *)cfg;
    const void *src = base + k->offset;
    char buf[512];
    buf[0] = '\0';
    switch (k->type) {
    case CFG_INT:
        snprintf(buf, sizeof buf, "%d", *(const int *)src);
        break;
    case CFG_I64:
        snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)src);
        break;
    case CFG_U64:
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)src);
        break;
    case CFG_F64:
        fmt_double(buf, sizeof buf, *(const double *)src);
        break;
    case CFG_CHOICE: {
        int idx = *(const int *)src;
        const char *c = k->choices;
        for (int i = 0; i < idx && c; i++) {
            c = strchr(c, '|');
            if (c) c++;
        }
        if (!c) c = "?";
        size_t n = strcspn(c, "|");
        snprintf(buf, sizeof buf, "%.*s", (int)n, c);
        break;
    }
    case CFG_INT_LIST:
    case CFG_F64_LIST: {
        int cnt = *(const int *)(base + k->count_offset);
        size_t off = 0;
        for (int i = 0; i < cnt && off < sizeof buf; i++) {
            char item[40];
            if (k->type == CFG_INT_LIST)
                snprintf(item, sizeof item, "%d", ((const int *)src)[i]);
            else
                fmt_double(item, sizeof item, ((const double *)src)[i]);
            off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? "," : "", item);
        }
        break;
    }
    }
    return xstrdup(buf);
}

void config_defaults(DdmConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < NKEYS; i++)
        DDM_ASSERT(set_value(cfg, &KEYS[i], KEYS[i].def) == 0,
                   "config table: bad default '%s' for %s.%s", KEYS[i].def, KEYS[i].section,
                   KEYS[i].name);
}

/* ---- INI ---- */

int config_parse_text(DdmConfig *cfg, const char *text, const char *name, char *err, size_t errlen)
{
    char section[64] = "";
    int have_section = 0, lineno = 0, rc = 0;
    const char *p = text;
    char *line = NULL;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        free(line);
        line = xmalloc(n + 1);
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (nl ? 1 : 0);
        lineno++;
        /* comments: '#' or ';' to the end of the line (no value contains either) */
        line[strcspn(line, "#;")] = '\0';
        char *s = trim(line);
        if (!*s) continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || *trim(close + 1)) {
                set_err(err, errlen, "%s:%d: bad section line '%s' (expected [name])", name, lineno,
                        s);
                rc = -1;
                goto out;
            }
            *close = '\0';
            char *sec = trim(s + 1);
            if (!section_known(sec)) {
                set_err(err, errlen,
                        "%s:%d: unknown section [%s] (sections: [model] [diffusion] [train])", name,
                        lineno, sec);
                rc = -1;
                goto out;
            }
            snprintf(section, sizeof section, "%s", sec);
            have_section = 1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            set_err(err, errlen, "%s:%d: expected 'key = value' or '[section]', got '%s'", name,
                    lineno, s);
            rc = -1;
            goto out;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!have_section) {
            set_err(err, errlen, "%s:%d: key '%s' before any [section]", name, lineno, key);
            rc = -1;
            goto out;
        }
        const CfgKey *k = find_in(section, key);
        if (!k) {
            const CfgKey *other = config_find_key(key);
            if (other)
                set_err(err, errlen, "%s:%d: unknown key '%s' in [%s] (it belongs in [%s])", name,
                        lineno, key, section, other->section);
            else
                set_err(err, errlen, "%s:%d: unknown key '%s' in [%s]", name, lineno, key, section);
            rc = -1;
            goto out;
        }
        if (set_value(cfg, k, value)) {
            char tb[128];
            set_err(err, errlen, "%s:%d: bad value '%s' for %s.%s (%s)", name, lineno, value,
                    k->section, k->name, type_desc(k, tb, sizeof tb));
            rc = -1;
            goto out;
        }
    }
out:
    free(line);
    return rc;
}

int config_load_ini(DdmConfig *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *text = xmalloc(cap);
    size_t got;
    while ((got = fread(text + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            text = xrealloc(text, cap);
        }
    }
    int bad = ferror(f);
    fclose(f);
    text[n] = '\0';
    int rc;
    if (bad) {
        set_err(err, errlen, "%s: read error", path);
        rc = -1;
    } else if (strlen(text) != n) {
        set_err(err, errlen, "%s: not a text file (contains NUL bytes)", path);
        rc = -1;
    } else {
        rc = config_parse_text(cfg, text, path, err, errlen);
    }
    free(text);
    return rc;
}

int config_set(DdmConfig *cfg, const char *assignment, char *err, size_t errlen)
{
    int rc = -1;
    char *a = xstrdup(assignment);
    char *eq = strchr(a, '=');
    if (!eq) {
        set_err(err, errlen, "--set %s: expected section.key=value", assignment);
        goto out;
    }
    *eq = '\0';
    char *name = trim(a), *value = trim(eq + 1);
    const char *dot = strchr(name, '.');
    if (dot) {
        char sec[64];
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - name), name);
        if (!section_known(sec)) {
            set_err(err, errlen,
                    "--set %s: unknown section [%s] (sections: model, diffusion, train)",
                    assignment, sec);
            goto out;
        }
        if (!find_in(sec, dot + 1)) {
            set_err(err, errlen, "--set %s: unknown key '%s' in [%s]", assignment, dot + 1, sec);
            goto out;
        }
    }
    const CfgKey *k = config_find_key(name);
    if (!k) {
        set_err(err, errlen, "--set %s: unknown key '%s'", assignment, name);
        goto out;
    }
    if (set_value(cfg, k, value)) {
        char tb[128];
        set_err(err, errlen, "--set %s: bad value '%s' for %s.%s (%s)", assignment, value,
                k->section, k->name, type_desc(k, tb, sizeof tb));
        goto out;
    }
    rc = 0;
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
    if (c->train.task == TASK_CLASSIFIER && c->model.num_classes < 2)
        return bad(err, errlen, "train.task = classifier needs model.num_classes >= 2 (it is %d)",
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
            if (k->type == CFG_CHOICE) fprintf(f, " (%s)", k->choices);
            if (*k->unit) fprintf(f, " [%s]", k->unit);
            fputc('\n', f);
        }
    }
}

int config_equal(const DdmConfig *a, const DdmConfig *b)
{
    for (int i = 0; i < NKEYS; i++) {
        char *x = config_value_text(a, &KEYS[i]), *y = config_value_text(b, &KEYS[i]);
        int same = !strcmp(x, y);
        free(x);
        free(y);
        if (!same) return 0;
    }
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
