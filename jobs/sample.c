/* ddm sample: the sampling farm. Seeds x sampler settings from one checkpoint into one
 * samples file (io/samples.h), on P ranks, resumable (DESIGN.md).
 *
 * Image identity: an image depends only on (checkpoint, weights, setting, seed): the
 * samplers key every draw by (seed, step), the network runs in fixed 8-image slots keyed
 * by the seed (core/netslots.h), a row's label comes from its setting and seed.
 *
 * Flow: rank 0 checks the options, seeds, sweep and output path and loads the model (every
 * rank gets it, mpi/model_bcast.h); every rank builds the same settings (a bad setting is
 * refused collectively, once). Then every rank opens the samples file collectively, and
 * the farm (mpi/farm.h) hands out (setting, batch) items round by round; each round ends
 * with one collective write per setting it touched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clsguide.h"
#include "core/common.h"
#include "core/netslots.h"
#include "core/pixels.h"
#include "core/progress.h"
#include "core/sampler.h"
#include "core/seedlist.h"
#include "core/stopsig.h"
#include "io/fsio.h"
#include "io/grids.h"
#include "io/ini.h"
#include "io/model_load.h"
#include "io/samples_out.h"
#include "io/settings.h"
#include "io/task_inputs.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"
#include "mpi/farm.h"
#include "mpi/h5par.h"
#include "mpi/model_bcast.h"

#define SAMPLE_MAX_SEEDS 100000000LL
#define MAX_SAMPLER_OPTS 48 /* sampler and task option rows */

static const char SYNOPSIS[] =
    "--ckpt RUN_DIR|CKPT.h5 --out FILE.h5 --seeds A-B[,C-D...] [--sampler NAME] [--steps N] "
    "[--eta E] [--guidance W] [--class K|--class-per-seed] [--classifier CKPT --classifier-scale S] "
    "[--batch N] [--sweep FILE.ini] ...";
static const char DESCRIPTION[] =
    "Generate one image per seed and sampler setting from a checkpoint (EMA weights by\n"
    "default) into the samples file FILE.h5: a group per setting with images, seeds,\n"
    "labels and done. An image depends only on the checkpoint, the setting and its seed,\n"
    "never on the number of ranks, the batch size or the rank that made it.\n"
    "Work items (setting, batch of seeds) are handed out dynamically to all ranks in\n"
    "rounds; each round ends with one collective write. Re-running the same command on an\n"
    "unfinished FILE.h5 makes only the missing images. On SIGTERM or SIGUSR1 every rank\n"
    "finishes the round, it is written and the job exits with status 99 (requeue me).\n"
    "--sweep FILE.ini: one INI section per setting, the section name is the group name:\n"
    "  [ddim-10]\n  sampler = ddim\n  steps = 10\n  eta = 0\n"
    "keys: sampler, class (K, per_seed or none), classifier_scale, model_class (yes|no) and\n"
    "the options below (a section's sampler takes its own); sampler options given on the\n"
    "command line are every section's defaults.\n"
    "Classifier guidance (Dhariwal & Nichol 2021): --classifier CKPT.h5 (a noise-aware\n"
    "classifier, 'ddm train --task noisy-classifier', trained on the model's own [diffusion]\n"
    "schedule) and --classifier-scale S move each step's noise estimate by the gradient of\n"
    "log p(class | x_t, t): eps~ = eps - sqrt(1 - abar_t) S grad (the score form for SDE/ODE\n"
    "samplers), toward --class K or --class-per-seed; it combines with --guidance W. With\n"
    "--model-class no the network gets the null label (a conditional model sampled\n"
    "unconditionally), the class guiding through the classifier only; an unconditional model\n"
    "is always guided that way.\n"
    "Writes a PNG grid of the first images of each setting (OUT without .h5 + -GROUP.png,\n"
    "or --grid).";

typedef struct {
    char *ckpt, *out, *seeds, *sweep, *grid, *weights, *cls, *sampler, *task, *input, *mask;
    char *classifier, *cls_scale, *model_class, *prior_classifier;
    double ema_rate, progress_every;
    int class_per_seed, batch, threads, items_per_rank, verbose;
    char *opt[MAX_SAMPLER_OPTS]; /* the registries' sampler and task options, as given */
} Args;

/* Everything the stages of the job share. */
typedef struct {
    Args a;
    int P, T, ns;
    LoadedModel model;
    Schedule sched;
    LoadedModel clf;    /* --classifier: the noise-aware classifier, or --prior-classifier:
                           the clean one (path NULL: none) */
    ClsGuide guide;
    ClsClean clean;
    int64_t *seeds, n_seeds, total_rows, total_todo;
    int64_t *row_seeds, *row_input, n_rows; /* a row's seed and task input (-1: none) */
    TaskInputFiles inputs;
    char *input_abs;   /* --input, absolute */
    SampleSetting *st;
    SamplesGroup *g;
    int64_t **todo, *ntodo;
    SamplesPending *pend;
    SamplesFile sf;
    hid_t fapl, dxpl;
    NetSlots slots;
    Farm farm;
    Progress prog;
    double last_print;
    size_t D;
} SampleJob;

/* ------------------------------------------------------------------ options */

static const OptSpec *g_rows[MAX_SAMPLER_OPTS];
static int g_nrows;

/* The fixed options, then one per sampler option of the registry (help from its row). */
static CliOpt *options(Args *a, char ***owned)
{
    static char owners[MAX_SAMPLER_OPTS][96];
    g_nrows = sampler_all_options(g_rows, owners, MAX_SAMPLER_OPTS);
    for (int t = 0; t < task_count(); t++) /* then every task's own rows */
        for (const OptSpec *r = task_def(t)->opts; r && r->name && g_nrows < MAX_SAMPLER_OPTS; r++) {
            g_rows[g_nrows] = r;
            snprintf(owners[g_nrows++], 96, "task %s", task_def(t)->name);
        }
    char names[256];
    sampler_names(names, sizeof names);
    const CliOpt fixed[] = {
        {"ckpt", CLI_STR, &a->ckpt, "RUN_DIR|CKPT.h5", "checkpoint file, or a run folder (its newest checkpoint)", 1},
        {"out", CLI_STR, &a->out, "FILE.h5", "samples file; when it exists, only its unfinished images are made", 1},
        {"seeds", CLI_STR, &a->seeds, "A-B[,C-D...]", "seeds, inclusive ranges or single numbers: one image per seed and setting", 1},
        {"sampler", CLI_STR, &a->sampler, "NAME", NULL, 0},
        {"class", CLI_STR, &a->cls, "K|input", "class of every image, 0..num_classes-1, or input: the label of its task input (default: none, the null label)", 0},
        {"class-per-seed", CLI_FLAG, &a->class_per_seed, NULL, "class of each image = its seed % num_classes", 0},
        {"classifier", CLI_STR, &a->classifier, "CKPT.h5|RUN_DIR", "noise-aware classifier for classifier guidance (ddm train --task noisy-classifier; EMA weights)", 0},
        {"classifier-scale", CLI_STR, &a->cls_scale, "S", "classifier guidance scale (default 0 = off; same as classifier_scale in a sweep)", 0},
        {"prior-classifier", CLI_STR, &a->prior_classifier, "CKPT.h5|RUN_DIR", "clean-image classifier (ddm train --task classifier, e.g. the evaluation classifier): the pnp sampler's constraint log p(class | x), weighted by --classifier-scale", 0},
        {"model-class", CLI_STR, &a->model_class, "yes|no", "no: the network gets the null label, the class guides through the classifier only (default yes)", 0},
        {"batch", CLI_INT, &a->batch, "N", "images of one setting per work item; multiples of 8 fill the network's 8-image calls (default 64)", 0},
        {"weights", CLI_STR, &a->weights, "ema|raw", "EMA weights (default) or the raw trained ones", 0},
        {"ema-rate", CLI_DOUBLE, &a->ema_rate, "R", "which EMA copy (default: the first rate of train.ema, else the largest)", 0},
        {"sweep", CLI_STR, &a->sweep, "FILE.ini", "several settings, one INI section each (see above)", 0},
        {"grid", CLI_STR, &a->grid, "FILE.png", "PNG grid of the first 64 images, or with --class-per-seed one class per row, 10 a row (several settings: FILE-GROUP.png; default OUT without .h5 + -GROUP.png)", 0},
        {"threads", CLI_INT, &a->threads, "T", "threads per rank (default 0 = what the rank may use)", 0},
        {"items-per-rank", CLI_INT, &a->items_per_rank, "N", "work items per rank in a round, the unit of writing and resuming (default 4)", 0},
        {"progress-every", CLI_DOUBLE, &a->progress_every, "S", "at most one progress line per S seconds (default 5; 0 = one after every round)", 0},
        {"verbose", CLI_FLAG, &a->verbose, NULL, "every rank prints its own summary line", 0},
        {"task", CLI_STR, &a->task, "NAME", NULL, 0},
        {"input", CLI_STR, &a->input, "FILE.h5", "a task's input images (a ddm dataset file): one output per input and seed, rows input-major", 0},
        {"mask", CLI_STR, &a->mask, "FILE.h5", "a task's masks (a dataset of 0/255 images, 255 = known): one for every input, or one per input", 0},
    };
    const int nf = (int)(sizeof fixed / sizeof fixed[0]);
    CliOpt *o = xcalloc((size_t)(nf + g_nrows + 1), sizeof *o);
    char **s = xcalloc((size_t)(3 * g_nrows + 2), sizeof *s); /* what o points to */
    memcpy(o, fixed, sizeof fixed);
    char h[8192];
    snprintf(h, sizeof h, "%s (default ddim on vp models, ode on ve)", names);
    o[3].help = s[3 * g_nrows] = xstrdup(h);
    task_names(names, sizeof names);
    snprintf(h, sizeof h, "an application bending the sampler's loop: %s (default none; see below)", names);
    o[nf - 3].help = s[3 * g_nrows + 1] = xstrdup(h);
    for (int i = 0; i < g_nrows; i++) {
        const OptSpec *r = g_rows[i];
        char want[128];
        s[3 * i] = xstrdup(r->name);
        for (char *c = s[3 * i]; *c; c++)
            if (*c == '_') *c = '-';
        snprintf(h, sizeof h, "%s: %s (default %s)", owners[i], r->help,
                 strcmp(r->name, "steps") ? r->def : "the sampler's own");
        s[3 * i + 1] = xstrdup(h);
        s[3 * i + 2] = xstrdup(r->meta ? r->meta : r->choices ? r->choices : opt_want(r, want, sizeof want));
        o[nf + i] = (CliOpt){s[3 * i], CLI_STR, &a->opt[i], s[3 * i + 2], s[3 * i + 1], 0};
    }
    *owned = s;
    return o;
}

/* The command line's setting entries, in table order: sampler, its options, class. */
static int cli_entries(const Args *a, IniEntry *e, char (*where)[160])
{
    int n = 0;
#define ADD(k, v, ...) do { snprintf(where[n], 160, __VA_ARGS__); \
        e[n] = (IniEntry){(char *)(k), (char *)(v), where[n]}; n++; } while (0)
    if (a->sampler) ADD("sampler", a->sampler, "--sampler %s", a->sampler);
    if (a->task) ADD("task", a->task, "--task %s", a->task);
    for (int i = 0; i < g_nrows; i++)
        if (a->opt[i]) ADD(g_rows[i]->name, a->opt[i], "--%s %s", g_rows[i]->name, a->opt[i]);
    if (a->cls) ADD("class", a->cls, "--class %s", a->cls);
    if (a->class_per_seed) ADD("class", "per_seed", "--class-per-seed");
    if (a->cls_scale) ADD("classifier_scale", a->cls_scale, "--classifier-scale %s", a->cls_scale);
    if (a->model_class) ADD("model_class", a->model_class, "--model-class %s", a->model_class);
#undef ADD
    return n;
}

/* ------------------------------------------------------------------ setup */

/* The rows of every group: without a task one per seed; with a task one per (input, seed),
 * input-major. A task's inputs are read by every rank. */
static void job_inputs(SampleJob *j)
{
    const Args *a = &j->a;
    char err[1024] = "";
    unsigned needs = 0;
    int with_task = 0, rc = 0;
    for (int i = 0; i < j->ns; i++)
        if (j->st[i].has_task) {
            needs |= j->st[i].tc.def->needs;
            with_task++;
        }
    if (with_task && with_task < j->ns)
        snprintf(err, sizeof err, "a sweep mixes settings with and without a task: their rows "
                 "differ (one per input and seed, or one per seed); use two runs");
    else if ((needs & TASK_NEEDS_IMAGE) && !a->input)
        snprintf(err, sizeof err, "the task needs input images: --input FILE.h5 (a ddm dataset)");
    else if ((needs & TASK_NEEDS_MASK) && !a->mask)
        snprintf(err, sizeof err, "the task needs masks: --mask FILE.h5 (a ddm dataset of 0/255 "
                 "images; ddm prep --from mask:...)");
    else if (a->input && !with_task)
        snprintf(err, sizeof err, "--input %s: goes with --task", a->input);
    else if (a->mask && !(needs & TASK_NEEDS_MASK))
        snprintf(err, sizeof err, "--mask %s: no task here takes a mask", a->mask);
    dist_check(!err[0], "%s", err);
    const UNetConfig *uc = &j->model.unet;
    /* superres settings: their common scale (0 when they differ), for a low-res input */
    int sr_scale = -1;
    for (int i = 0; i < j->ns; i++)
        if (j->st[i].has_task && j->st[i].tc.def->condition)
            sr_scale = sr_scale < 0 || sr_scale == j->st[i].tc.scale ? j->st[i].tc.scale : 0;
    if (a->input && sr_scale >= 0) {
        rc = task_inputs_load_superres(&j->inputs, a->input, uc->in_ch, uc->image_size,
                                       uc->image_size, sr_scale, err, sizeof err);
        for (int i = 0; !rc && i < j->ns; i++) j->st[i].tc.lowres = j->inputs.lowres;
    } else if (a->input) {
        rc = task_inputs_load(&j->inputs, a->input, (needs & TASK_NEEDS_MASK) ? a->mask : NULL,
                              uc->in_ch, uc->image_size, uc->image_size, err, sizeof err);
    }
    for (int i = 0; !rc && i < j->ns; i++)
        if (j->st[i].label_mode == LABELS_INPUT) {
            if (!a->input) rc = snprintf(err, sizeof err, "class = input needs --input (a task's inputs)");
            else if (!j->inputs.labels)
                rc = snprintf(err, sizeof err, "%s: has no labels, so class = input has none to give", a->input);
            for (int64_t r = 0; !rc && j->inputs.labels && r < j->inputs.n; r++)
                if (j->inputs.labels[r] < 0 || j->inputs.labels[r] >= uc->num_classes)
                    rc = snprintf(err, sizeof err, "%s: input %lld has label %d; the model has classes 0..%d",
                                  a->input, (long long)r, j->inputs.labels[r], uc->num_classes - 1);
        }
    if (!rc && a->input) { /* the tasks' own checks of their inputs, on the first row */
        const size_t D = (size_t)uc->in_ch * uc->image_size * uc->image_size;
        float *img = xalloc_floats(D), *msk = j->inputs.mask ? xalloc_floats(D) : NULL;
        int64_t first = 0;
        task_inputs_rows(&j->inputs, &first, 1, img, msk);
        TaskInputs in = {img, msk, uc->in_ch, uc->image_size, uc->image_size, j->inputs.labels};
        for (int i = 0; !rc && i < j->ns; i++) {
            char e[512];
            if (task_check_inputs(&j->st[i].tc, &in, 1, e, sizeof e)) {
                snprintf(err, sizeof err, "%s: %s", a->input, e);
                rc = -1;
            }
        }
        free(img);
        free(msk);
    }
    dist_check(rc == 0, "%s", err);
    if (a->input) j->input_abs = fsio_abs_path(a->input);
    const int64_t ni = a->input ? j->inputs.n : 1;
    if (ni > SAMPLE_MAX_SEEDS / j->n_seeds)
        ddm_die("%lld inputs x %lld seeds: more than %lld images", (long long)ni,
                (long long)j->n_seeds, SAMPLE_MAX_SEEDS);
    j->n_rows = ni * j->n_seeds;
    j->row_seeds = xmalloc(sizeof *j->row_seeds * (size_t)j->n_rows);
    j->row_input = xmalloc(sizeof *j->row_input * (size_t)j->n_rows);
    for (int64_t r = 0; r < j->n_rows; r++) {
        j->row_seeds[r] = j->seeds[r % j->n_seeds];
        j->row_input[r] = a->input ? r / j->n_seeds : -1;
    }
}

/* --classifier: load it on every rank and check it fits the model: the same image shape,
 * the same noise levels (its time input is the model's level index), the same classes for
 * a conditional model. cls_word: its identity in the settings. */
static void load_classifier(SampleJob *j, char *cls_word, size_t n)
{
    ModelLoadOptions co = {"ema", 0, TASK_NOISY_CLASSIFIER, NULL, 0};
    model_bcast_load(&j->clf, j->a.classifier, &co);
    const UNetConfig *m = &j->model.unet, *c = &j->clf.unet;
    const SchedConfig *ms = &j->model.sched, *cs = &j->clf.sched;
    if (c->in_ch != m->in_ch || c->image_size != m->image_size)
        ddm_die("%s: the classifier takes %dx%dx%d images, the model makes %dx%dx%d", j->clf.path,
                c->in_ch, c->image_size, c->image_size, m->in_ch, m->image_size, m->image_size);
    if (m->num_classes > 0 && c->out_ch != m->num_classes)
        ddm_die("%s: the classifier has %d classes, the model %d (model.num_classes): their "
                "labels would not mean the same", j->clf.path, c->out_ch, m->num_classes);
    const int same = cs->process == ms->process && cs->schedule == ms->schedule &&
                     (ms->process == PROC_VE
                          ? cs->sigma_min == ms->sigma_min && cs->sigma_max == ms->sigma_max &&
                                cs->num_scales == ms->num_scales
                          : cs->timesteps == ms->timesteps && cs->beta_start == ms->beta_start &&
                                cs->beta_end == ms->beta_end);
    if (!same)
        ddm_die("%s: the classifier was trained on other noise levels ([diffusion] process %s, "
                "schedule %s, %d levels) than the model samples (process %s, schedule %s, %d "
                "levels); train it with the model's [diffusion] section", j->clf.path,
                sched_process_name(cs->process), sched_kind_name(cs->schedule),
                cs->process == PROC_VE ? cs->num_scales : cs->timesteps,
                sched_process_name(ms->process), sched_kind_name(ms->schedule),
                ms->process == PROC_VE ? ms->num_scales : ms->timesteps);
    char w[64];
    model_load_weights_word(&j->clf, w, sizeof w);
    snprintf(cls_word, n, "%s@%lld:%s", j->clf.path, (long long)j->clf.step, w);
}

/* --prior-classifier: a clean classifier of the model's images and classes */
static void load_prior_classifier(SampleJob *j, char *cls_word, size_t n)
{
    ModelLoadOptions co = {NULL, 0, TASK_CLASSIFIER, NULL, 0};
    model_bcast_load(&j->clf, j->a.prior_classifier, &co);
    const UNetConfig *m = &j->model.unet;
    const ClassifierConfig *c = &j->clf.clf;
    if (c->in_ch != m->in_ch || c->image_size != m->image_size)
        ddm_die("%s: the classifier takes %dx%dx%d images, the model makes %dx%dx%d", j->clf.path,
                c->in_ch, c->image_size, c->image_size, m->in_ch, m->image_size, m->image_size);
    if (m->num_classes > 0 && c->num_classes != m->num_classes)
        ddm_die("%s: the classifier has %d classes, the model %d (model.num_classes): their "
                "labels would not mean the same", j->clf.path, c->num_classes, m->num_classes);
    char w[64];
    model_load_weights_word(&j->clf, w, sizeof w);
    snprintf(cls_word, n, "%s@%lld:%s", j->clf.path, (long long)j->clf.step, w);
}

/* Rank 0 checks every input and loads the model, every rank gets it and builds the same
 * settings; nothing is written. */
static void job_setup(SampleJob *j)
{
    Args *a = &j->a;
    char err[1024];
    char *sweep_text = NULL;
    if (dist_is_root()) {
        if (a->batch < 1) ddm_die("--batch %d: must be >= 1", a->batch);
        if (a->items_per_rank < 1) ddm_die("--items-per-rank %d: must be >= 1", a->items_per_rank);
        if (!(a->progress_every >= 0)) ddm_die("--progress-every: must be >= 0");
        if (a->cls && a->class_per_seed) ddm_die("--class and --class-per-seed exclude each other");
        if (a->ema_rate != 0 && !(a->ema_rate > 0 && a->ema_rate < 1))
            ddm_die("--ema-rate %g: want a rate in (0,1), e.g. 0.9999", a->ema_rate);
        if (a->weights && strcmp(a->weights, "ema") && strcmp(a->weights, "raw"))
            ddm_die("--weights %s: want ema or raw", a->weights);
        if (a->weights && !strcmp(a->weights, "raw") && a->ema_rate != 0)
            ddm_die("--ema-rate goes with --weights ema, not raw");
        if (seedlist_parse(a->seeds, SAMPLE_MAX_SEEDS, &j->seeds, &j->n_seeds, err, sizeof err))
            ddm_die("%s", err);
        if (a->sweep && !(sweep_text = ini_read_text(a->sweep, err, sizeof err))) ddm_die("%s", err);
        if (a->grid && strlen(a->grid) > 4 && strcmp(a->grid + strlen(a->grid) - 4, ".png"))
            ddm_die("--grid %s: want a .png file name", a->grid);
        samples_check_out(a->out);
    }
    dist_bcast_str(&sweep_text);
    ModelLoadOptions mo = {a->weights, a->ema_rate, TASK_DIFFUSION, "ddm sample", 0};
    model_bcast_load(&j->model, a->ckpt, &mo);
    sched_init(&j->sched, &j->model.sched);
    if (!dist_is_root() &&
        seedlist_parse(a->seeds, SAMPLE_MAX_SEEDS, &j->seeds, &j->n_seeds, err, sizeof err))
        ddm_die("%s", err); /* rank 0 parsed the same text */

    char weights_word[64], where[MAX_SAMPLER_OPTS + 4][160], cls_word[4200] = "";
    model_load_weights_word(&j->model, weights_word, sizeof weights_word);
    if (a->classifier && a->prior_classifier)
        ddm_die("--classifier and --prior-classifier exclude each other (one classifier a run: "
                "guidance by a noise-aware one, or the pnp sampler's clean one)");
    int cls_classes = 0;
    if (a->classifier) {
        load_classifier(j, cls_word, sizeof cls_word);
        cls_classes = j->clf.unet.out_ch;
    } else if (a->prior_classifier) {
        load_prior_classifier(j, cls_word, sizeof cls_word);
        cls_classes = j->clf.clf.num_classes;
    }
    SettingModel sm = {&j->sched, j->model.unet.num_classes, weights_word, NETSLOTS_WIDTH,
                       j->model.unet.cond_ch, j->model.cfg.train.degrade,
                       j->model.cfg.train.n_degrade, cls_classes, a->prior_classifier != NULL,
                       cls_word};
    IniEntry base[MAX_SAMPLER_OPTS + 4];
    const int nb = cli_entries(a, base, where);
    IniFile sweep = {0};
    int rc = sweep_text ? ini_parse_text(sweep_text, a->sweep, INI_TOKENS | INI_UNIQUE_KEYS,
                                         &sweep, err, sizeof err)
                        : 0;
    if (!rc && sweep_text && sweep.n == 0) {
        snprintf(err, sizeof err, "%s: no [section]: a sweep needs one section per setting", a->sweep);
        rc = -1;
    }
    if (!rc) rc = settings_build(base, nb, sweep_text ? &sweep : NULL, &sm, &j->st, &j->ns, err,
                                 sizeof err);
    dist_check(rc == 0, "%s", err); /* the same inputs on every rank: rank 0 says it */
    ini_free(&sweep);
    free(sweep_text);
    job_inputs(j);

    j->T = ddm_threads();
    netslots_init(&j->slots, &j->model.unet, j->model.weights, j->T);
    if (a->classifier) clsguide_init(&j->guide, &j->clf.unet, j->clf.weights, j->T);
    if (a->prior_classifier) clsclean_init(&j->clean, &j->clf.clf, j->clf.weights, j->T);
    free(j->clf.weights);
    j->clf.weights = NULL;
    j->D = j->slots.D;
    free(j->model.weights);
    j->model.weights = NULL;
}

/* ------------------------------------------------------------------ the run */

static void print_header(const SampleJob *j)
{
    const Args *a = &j->a;
    const UNetConfig *uc = &j->model.unet;
    char wdesc[64], line[1024];
    if (j->model.ema_rate < 0) snprintf(wdesc, sizeof wdesc, "raw weights");
    else snprintf(wdesc, sizeof wdesc, "EMA %.10g weights", j->model.ema_rate);
    char inputs[64] = "";
    if (a->input) snprintf(inputs, sizeof inputs, "%lld inputs x ", (long long)j->inputs.n);
    printf("ddm sample: %s (step %lld, %s), %s model, %d setting%s x %s%lld seed%s = %lld images "
           "of %dx%dx%d; %d rank%s x %d thread%s, batch %d\n", j->model.path,
           (long long)j->model.step, wdesc, sched_process_name(j->sched.cfg.process), j->ns,
           j->ns > 1 ? "s" : "", inputs, (long long)j->n_seeds, j->n_seeds > 1 ? "s" : "",
           (long long)j->total_rows, uc->in_ch, uc->image_size, uc->image_size, j->P,
           j->P > 1 ? "s" : "", j->T, j->T > 1 ? "s" : "", a->batch);
    for (int i = 0; i < j->ns; i++) {
        settings_describe(&j->st[i], &j->sched, uc->num_classes, line, sizeof line);
        printf("%s\n", line);
    }
    if (a->batch % NETSLOTS_WIDTH)
        printf("ddm sample: note: --batch %d is not a multiple of %d: some network calls run with "
               "empty slots\n", a->batch, NETSLOTS_WIDTH);
    if (j->T > 1 && a->batch < NETSLOTS_WIDTH * j->T)
        printf("ddm sample: note: --batch %d makes %d network calls per step for %d threads; "
               "--batch %d keeps every thread busy\n", a->batch,
               (a->batch + NETSLOTS_WIDTH - 1) / NETSLOTS_WIDTH, j->T, NETSLOTS_WIDTH * j->T);
    if (j->total_todo == 0)
        printf("ddm sample: nothing to do: all %lld images are in %s\n", (long long)j->total_rows,
               a->out);
    else if (j->total_todo < j->total_rows)
        printf("ddm sample: resuming %s: %lld of %lld images already done; making the %lld "
               "missing\n", a->out, (long long)(j->total_rows - j->total_todo),
               (long long)j->total_rows, (long long)j->total_todo);
    fflush(stdout);
}

/* Collective: create or reopen the samples file and its groups; the rows to do. */
static void job_open(SampleJob *j)
{
    const int exists = h5par_exists(j->a.out);
    if (!exists) fsio_track_created(j->a.out); /* deleted if we die before the first write */
    j->fapl = h5par_fapl();
    j->dxpl = h5par_dxpl_collective();
    SamplesSource ss = {j->model.path, j->model.step, j->model.config_text};
    samples_open(&j->sf, j->a.out, exists, &ss, j->fapl, j->dxpl, dist_is_root());
    const int C = j->model.unet.in_ch, S = j->model.unet.image_size;
    j->g = xcalloc((size_t)j->ns, sizeof *j->g);
    j->todo = xcalloc((size_t)j->ns, sizeof *j->todo);
    j->ntodo = xcalloc((size_t)j->ns, sizeof *j->ntodo);
    j->pend = xcalloc((size_t)j->ns, sizeof *j->pend);
    j->total_rows = j->n_rows * j->ns;
    for (int i = 0; i < j->ns; i++) {
        if (j->a.input) {
            j->st[i].set.inputs = j->row_input;
            j->st[i].set.input_file = j->input_abs;
        }
        j->ntodo[i] = samples_group_open(&j->g[i], &j->sf, j->st[i].name, &j->st[i].set,
                                         j->row_seeds, j->n_rows, C, S, S, &j->todo[i]);
        j->total_todo += j->ntodo[i];
    }
    if (dist_is_root()) print_header(j);
}

/* Rank 0's progress line. when: 1 = now, 0 = after a round, -1 = between network calls;
 * at most one line per --progress-every seconds except when 1; every = 0: after every
 * round only */
static void print_progress(SampleJob *j, int when)
{
    const double t = ddm_now(), every = j->a.progress_every;
    if (!dist_is_root() || (when < 0 && every <= 0) || (when <= 0 && t - j->last_print < every))
        return;
    j->last_print = t;
    int64_t made = 0, nfe = 0;
    farm_totals(&j->farm, &made, &nfe);
    const double dt = t - j->prog.t0;
    const long done = (long)(j->total_rows - j->total_todo + made);
    char eta[32];
    progress_eta(&j->prog, done, (long)j->total_rows, eta, sizeof eta);
    printf("images %lld/%lld (%.1f%%)  %.2f img/s  %.1f NFE/s  ETA %s\n", (long long)done,
           (long long)j->total_rows, j->total_rows ? 100.0 * done / j->total_rows : 100.0,
           dt > 0 ? made / dt : 0, dt > 0 ? nfe / dt : 0, eta);
    fflush(stdout);
}

/* between network calls: the farm's window and rank 0's progress line */
static void between_calls(void *ctx)
{
    SampleJob *j = ctx;
    dist_heartbeat(); /* local work goes on: the hang watchdog is not to fire */
    farm_poll(&j->farm);
    print_progress(j, -1);
}

/* The rounds. Returns 1 when a signal stopped the job before the end; *nonfinite counts
 * this rank's NaN or infinite values. */
static int job_run(SampleJob *j, int64_t *nonfinite)
{
    const Args *a = &j->a;
    int64_t *nfe_img = xcalloc((size_t)j->ns, sizeof *nfe_img);
    for (int i = 0; i < j->ns; i++) nfe_img[i] = j->st[i].nfe;
    farm_plan(&j->farm, j->ns, j->ntodo, nfe_img, a->batch, a->items_per_rank, j->P);
    free(nfe_img);
    if (dist_is_root() && j->farm.n_rounds > 0) {
        printf("ddm sample: %lld work items in %lld rounds\n", (long long)j->farm.n_items,
               (long long)j->farm.n_rounds);
        fflush(stdout);
    }
    j->slots.between = between_calls;
    j->slots.between_ctx = j;
    Denoiser den;
    netslots_denoiser(&den, &j->slots, &j->sched);
    if (a->classifier) denoiser_set_classifier(&den, clsguide_grad, &j->guide, j->guide.K);
    if (a->prior_classifier) denoiser_set_classifier(&den, clsclean_grad, &j->clean, j->clean.K);
    const size_t bn = (size_t)a->batch;
    float *x = xalloc_floats(bn * j->D);
    uint8_t *img = xmalloc(bn * j->D);
    uint64_t *seeds = xmalloc(sizeof *seeds * bn), *keys = xmalloc(sizeof *keys * bn);
    int *lab = xmalloc(sizeof *lab * bn), *tgt = xmalloc(sizeof *tgt * bn);
    int32_t *flab = xmalloc(sizeof *flab * bn), *in_lab = xmalloc(sizeof *in_lab * bn);
    int64_t *rows = xmalloc(sizeof *rows * bn), *idx = xmalloc(sizeof *idx * bn);
    float *in_img = a->input ? xalloc_floats(bn * j->D) : NULL;
    float *in_mask = a->mask ? xalloc_floats(bn * j->D) : NULL;
    const UNetConfig *uc = &j->model.unet;

    stopsig_install();
    int stopped = 0;
    farm_start(&j->farm);
    progress_start(&j->prog, (long)(j->total_rows - j->total_todo));
    j->last_print = ddm_now();
    for (int64_t r = 0; r < j->farm.n_rounds; r++) {
        int64_t it;
        while (farm_next(&j->farm, r, &it)) {
            const FarmItem *item = &j->farm.items[it];
            const SampleSetting *s = &j->st[item->group];
            const int B = item->count;
            for (int k = 0; k < B; k++) {
                rows[k] = j->todo[item->group][item->first + k];
                seeds[k] = (uint64_t)j->row_seeds[rows[k]];
                idx[k] = j->row_input[rows[k]];
            }
            for (int k = 0; k < B; k++)
                in_lab[k] = idx[k] >= 0 && j->inputs.labels ? j->inputs.labels[idx[k]] : -1;
            settings_labels(s, uc->num_classes, seeds, in_lab, B, lab, flab);
            farm_busy_begin(&j->farm);
            const int *nl = uc->num_classes > 0 ? lab : NULL;
            for (int k = 0; k < B; k++) tgt[k] = flab[k]; /* the class: guidance's target */
            denoiser_set_guide(&den, s->cls_scale != 0 ? tgt : NULL, s->cls_scale);
            if (s->has_task) {
                task_inputs_rows(&j->inputs, idx, B, in_img, in_mask);
                TaskInputs in = {in_img, in_mask, uc->in_ch, uc->image_size, uc->image_size,
                                 j->inputs.labels ? in_lab : NULL};
                for (int k = 0; k < B; k++) keys[k] = seeds[k] + (uint64_t)idx[k];
                den.slot_keys = keys; /* inputs sharing a seed spread over the slots */
                task_run(&s->tc, &in, &s->sc, &j->sched, &den, x, seeds, nl, B);
                den.slot_keys = NULL;
            } else {
                sampler_run(&s->sc, &j->sched, &den, x, seeds, nl, B);
            }
            const size_t n = (size_t)B * j->D;
            for (size_t i = 0; i < n; i++) *nonfinite += !isfinite(x[i]);
            pixels_to_uint8(img, x, n);
            farm_busy_end(&j->farm);
            samples_pending_add(&j->pend[item->group], rows, img, flab, (size_t)B, j->D);
            farm_done(&j->farm, B, (int64_t)s->nfe * B);
            farm_poll(&j->farm);
        }
        /* the round's collective writes: every setting the round touched, in order */
        for (int g = 0; g < j->ns; g++)
            if (farm_round_has_group(&j->farm, r, g)) samples_pending_flush(&j->pend[g], &j->g[g]);
        fsio_untrack(a->out); /* the file holds finished images now: never delete it */
        print_progress(j, r + 1 == j->farm.n_rounds);
        if (dist_any(stopsig_received() != 0)) {
            stopped = r + 1 < j->farm.n_rounds;
            break;
        }
    }
    farm_finish(&j->farm);
    fsio_untrack(a->out);
    free(x); free(img); free(seeds); free(keys); free(in_lab); free(lab); free(tgt); free(flab); free(rows); free(idx);
    free(in_img); free(in_mask);
    denoiser_free(&den);
    return stopped;
}

/* Collective: the summary line (rank 0), with the busy fraction of every rank. */
static double job_summary(SampleJob *j, int stopped, int64_t nonfinite)
{
    Farm *f = &j->farm;
    double fr_min = 0, fr_mean = 0;
    double *frac = dist_is_root() ? xcalloc((size_t)j->P, sizeof(double)) : NULL;
    farm_busy_fractions(f, frac, &fr_min, &fr_mean);
    double sums[3] = {(double)f->my_images, (double)f->my_nfe, (double)nonfinite};
    dist_allreduce_sum_d(sums, 3);
    if (j->a.verbose)
        printf("rank %d: %lld items, %lld images, busy %.2fs of %.2fs (%.3f), waited %.3fs for "
               "items\n", dist_rank(), (long long)f->my_items, (long long)f->my_images, f->busy,
               f->wall, f->wall > 0 ? f->busy / f->wall : 0, f->wait);
    if (dist_is_root()) {
        if (sums[2] > 0)
            ddm_warn("%.0f pixel values were NaN or infinite (written as 0): the model or the "
                     "sampler settings diverge", sums[2]);
        if (f->n_rounds > 0) {
            char d[32], per[1024] = "";
            format_duration(f->wall, d, sizeof d);
            size_t off = 0;
            for (int i = 0; i < j->P && i < 64 && off < sizeof per; i++)
                off += (size_t)snprintf(per + off, sizeof per - off, "%s%.3f", i ? " " : "", frac[i]);
            printf("ddm sample: %s %.0f images in %s: %.2f img/s, %.1f NFE/s, busy fraction min "
                   "%.3f mean %.3f (per rank: %s%s)\n", stopped ? "stopped after" : "done:",
                   sums[0], d, f->wall > 0 ? sums[0] / f->wall : 0,
                   f->wall > 0 ? sums[1] / f->wall : 0, fr_min, fr_mean, per,
                   j->P > 64 ? " ..." : "");
        }
        fflush(stdout);
    }
    free(frac);
    return sums[0];
}

int job_sample(int argc, char **argv)
{
    dist_init(&argc, &argv);
    cli_quiet = !dist_is_root();
    SampleJob j;
    memset(&j, 0, sizeof j);
    Args *a = &j.a;
    a->batch = 64;
    a->items_per_rank = 4;
    a->progress_every = 5;
    char **owned;
    CliOpt *opts = options(a, &owned);
    if (cli_parse("sample", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        if (!cli_quiet) {
            printf("\nsamplers and their options (also the keys of a sweep section):\n");
            sampler_print_help(stdout);
            printf("\ntasks (--task, or task = NAME in a sweep section) and their options:\n");
            task_print_help(stdout);
        }
        return dist_finish(0);
    }
    j.P = dist_size();
    ddm_set_threads(a->threads);

    job_setup(&j);
    job_open(&j);
    int64_t nonfinite = 0;
    const int stopped = job_run(&j, &nonfinite);
    const double made = job_summary(&j, stopped, nonfinite);
    for (int i = 0; i < j.ns; i++) samples_group_close(&j.g[i]);
    samples_close(&j.sf);
    h5par_close(j.dxpl);
    h5par_close(j.fapl);

    int rc = 0;
    if (stopped) {
        if (dist_is_root())
            printf("ddm sample: signal received: the round was written (%lld of %lld images in "
                   "%s); exiting with status %d so the job is requeued\n",
                   (long long)(j.total_rows - j.total_todo + (int64_t)made),
                   (long long)j.total_rows, a->out, DDM_EXIT_REQUEUE);
        rc = DDM_EXIT_REQUEUE;
    } else if (dist_is_root()) {
        GridGroup *gg = xcalloc((size_t)j.ns, sizeof *gg);
        for (int i = 0; i < j.ns; i++)
            gg[i] = (GridGroup){j.st[i].name, j.st[i].label_mode == LABELS_PER_SEED,
                                j.st[i].has_task ? j.inputs.images : NULL, j.n_seeds};
        const UNetConfig *uc = &j.model.unet;
        grids_write(a->out, a->grid, gg, j.ns, j.n_rows, uc->in_ch, uc->image_size,
                    uc->image_size, uc->num_classes);
        free(gg);
    }
    fflush(stdout);
    for (int i = 0; i < j.ns; i++) {
        free(j.todo[i]);
        samples_pending_free(&j.pend[i]);
    }
    free(j.todo); free(j.ntodo); free(j.pend); free(j.g); free(j.st); free(j.seeds);
    free(j.row_seeds); free(j.row_input);
    task_inputs_free(&j.inputs);
    free(j.input_abs);
    for (int i = 0; i < 3 * g_nrows + 2; i++) free(owned[i]);
    free(owned);
    free(opts);
    farm_free(&j.farm);
    clsguide_free(&j.guide); /* before the slots: it restores the BLAS threads they saved */
    clsclean_free(&j.clean);
    netslots_free(&j.slots);
    sched_free(&j.sched);
    model_load_free(&j.model);
    model_load_free(&j.clf);
    return dist_finish(rc);
}
