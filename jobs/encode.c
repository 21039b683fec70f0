/* ddm encode: the deterministic encoder. Input images (a ddm dataset) to the sampler's
 * level-0 state, the latent a decoder run of the same setting starts from (DDIM inversion,
 * the probability-flow ODE run from the data up; core/sampler.h: sampler_encode), into a
 * latents file (io/latents.h).
 *
 * Flow: rank 0 checks the options and the input file, every rank gets the model
 * (mpi/model_bcast.h) and builds the same setting (a bad one is refused collectively,
 * once). The N inputs are cut into P contiguous blocks, block r to rank r; each rank
 * encodes its block in batches. A latent depends only on (checkpoint, setting, class, the
 * input row): the network slots key on the row index, so the file is the same at any rank
 * count and batch size. The blocks are gathered and rank 0 writes the whole file to a
 * temporary and renames it (a latents file is the size of a test split; one writer keeps
 * the atomic commit a single-rank operation and the bytes independent of P). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/netslots.h"
#include "core/progress.h"
#include "core/sampler.h"
#include "io/fsio.h"
#include "io/latents.h"
#include "io/model_load.h"
#include "io/task_inputs.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"
#include "mpi/model_bcast.h"

static const char SYNOPSIS[] =
    "--ckpt RUN_DIR|CKPT.h5 --input IMAGES.h5 --out LATENTS.h5 [--sampler ddim|ode] [--steps N] "
    "[--class K|input|none] [--guidance W] [--batch N] ...";
static const char DESCRIPTION[] =
    "Encode every image of IMAGES.h5 (a ddm dataset, e.g. from ddm prep) to the latent of a\n"
    "deterministic sampler: the sampler run backwards from the data (its last level) to its\n"
    "first, noisiest level (DDIM inversion with eta = 0; the probability-flow ODE by Heun).\n"
    "Decoding a latent with the same sampler setting and class gives the image back up to\n"
    "the solver's error; `ddm sample --task ddib` encodes and decodes in one run.\n"
    "LATENTS.h5 holds /latents float32 [N,C,H,W] (the state x = a x0 + sg eps at level 0;\n"
    "attributes a, sg, sigma, state, sampler, steps, checkpoint, input) and /labels int32 [N]\n"
    "(the class each row was encoded with, -1 = none). The inputs are cut into one\n"
    "contiguous block per rank; rank 0 writes the file (temporary + rename: nothing is\n"
    "left on error). A latent depends only on the checkpoint, the setting, its class and\n"
    "its image, never on the number of ranks or the batch size.";

typedef struct {
    char *ckpt, *input, *out, *sampler, *steps, *eta, *guidance, *cls, *weights;
    CliMulti opts;
    double ema_rate, progress_every;
    int batch, threads;
} Args;

typedef struct {
    Args a;
    LoadedModel model;
    Schedule sched;
    SamplerConfig sc;
    TaskInputFiles in;
    int P, T;
    int64_t n, lo, hi;       /* all rows; this rank's [lo, hi) */
    int32_t *file_lab;       /* (n) the class recorded per row, -1 = none */
    int *net_lab;            /* (n) what the network gets, NULL = an unconditional model */
    size_t D;
    /* progress, in network evaluations x images */
    Denoiser *den;
    Progress prog;
    long units_total, units_done, nfe_row;
    int batch_now;
    long long nfe_at_batch;
    double last_print;
} EncodeJob;

/* ------------------------------------------------------------------ setup */

/* The setting and the classes; the same on every rank (rank 0 says what is wrong). */
static int job_setting(EncodeJob *j, char *err, size_t errlen)
{
    const Args *a = &j->a;
    const int nc = j->model.unet.num_classes;
    const char *name = a->sampler ? a->sampler
                                  : j->sched.cfg.process == PROC_VP ? "ddim" : "ode";
    if (sampler_config_init(&j->sc, name, err, errlen)) return -1;
    struct { const char *key, *val; } kv[] = {{"steps", a->steps}, {"eta", a->eta},
                                              {"guidance", a->guidance}};
    for (int i = 0; i < 3; i++)
        if (kv[i].val && sampler_config_set(&j->sc, kv[i].key, kv[i].val, err, errlen)) return -1;
    for (int i = 0; i < a->opts.n; i++) {
        char *kvs = xstrdup(a->opts.v[i]), *eq = strchr(kvs, '=');
        int rc = 0;
        if (!eq) rc = snprintf(err, errlen, "--sampler-opt %s: want KEY=VALUE", a->opts.v[i]);
        else {
            *eq = '\0';
            rc = sampler_config_set(&j->sc, kvs, eq + 1, err, errlen);
        }
        free(kvs);
        if (rc) return -1;
    }
    if (sampler_check_encode(&j->sc, &j->sched, err, errlen)) return -1;
    /* the classes */
    const char *cls = a->cls ? a->cls : "none";
    int fixed = -2; /* -1 none, -2 input, else K */
    if (!strcmp(cls, "none")) fixed = -1;
    else if (strcmp(cls, "input")) {
        char *end;
        long k = strtol(cls, &end, 10);
        if (end == cls || *end)
            return snprintf(err, errlen, "--class %s: want a class number, input or none", cls), -1;
        if (nc <= 0)
            return snprintf(err, errlen, "--class %s: the model is unconditional "
                            "(model.num_classes = 0): it takes no class", cls), -1;
        if (k < 0 || k >= nc)
            return snprintf(err, errlen, "--class %s: out of range: the model has classes 0..%d",
                            cls, nc - 1), -1;
        fixed = (int)k;
    } else {
        if (nc <= 0)
            return snprintf(err, errlen, "--class input: the model is unconditional "
                            "(model.num_classes = 0): it takes no class"), -1;
        if (!j->in.labels)
            return snprintf(err, errlen, "%s: has no labels, so --class input has none to give",
                            a->input), -1;
    }
    if (j->sc.guidance != 0 && (nc <= 0 || fixed == -1))
        return snprintf(err, errlen, "--guidance %g needs a class-conditional model and a class "
                        "(--class K or input)", j->sc.guidance), -1;
    j->file_lab = xmalloc(sizeof(int32_t) * (size_t)j->n);
    j->net_lab = nc > 0 ? xmalloc(sizeof(int) * (size_t)j->n) : NULL;
    for (int64_t r = 0; r < j->n; r++) {
        int c = fixed == -2 ? j->in.labels[r] : fixed;
        if (c >= nc || c < (fixed == -2 ? 0 : -1))
            return snprintf(err, errlen, "%s: input %lld has label %d; the model has classes "
                            "0..%d", a->input, (long long)r, c, nc - 1), -1;
        j->file_lab[r] = c;
        if (j->net_lab) j->net_lab[r] = c < 0 ? nc : c; /* the null label */
    }
    return 0;
}

static void job_setup(EncodeJob *j)
{
    Args *a = &j->a;
    char err[1024] = "";
    if (dist_is_root()) {
        if (a->batch < 1) ddm_die("--batch %d: must be >= 1", a->batch);
        if (!(a->progress_every >= 0)) ddm_die("--progress-every: must be >= 0");
        fsio_refuse_overwrite("ddm encode", a->out, a->input, "the --input file");
        /* an output we cannot write fails now, not after the work */
        char *tmp = fsio_claim_tmp(a->out);
        unlink(tmp);
        fsio_untrack(tmp);
        free(tmp);
    }
    ModelLoadOptions mo = {a->weights, a->ema_rate, TASK_DIFFUSION, "ddm encode", 0};
    model_bcast_load(&j->model, a->ckpt, &mo);
    sched_init(&j->sched, &j->model.sched);
    const UNetConfig *uc = &j->model.unet;
    /* rank 0 reads the inputs first, so a bad file is reported once */
    int rc = 0;
    if (dist_is_root())
        rc = task_inputs_load(&j->in, a->input, NULL, uc->in_ch, uc->image_size,
                              uc->image_size, err, sizeof err);
    dist_check(rc == 0, "%s", err);
    if (!dist_is_root() &&
        task_inputs_load(&j->in, a->input, NULL, uc->in_ch, uc->image_size, uc->image_size, err,
                         sizeof err))
        ddm_die("%s", err);
    j->n = j->in.n;
    rc = job_setting(j, err, sizeof err);
    dist_check(rc == 0, "%s", err);
    j->lo = j->n * dist_rank() / j->P;
    j->hi = j->n * (dist_rank() + 1) / j->P;
    j->T = ddm_threads();
}

/* ------------------------------------------------------------------ the run */

static void print_progress(EncodeJob *j, int last)
{
    const double t = ddm_now();
    if (!dist_is_root() || (!last && (j->a.progress_every <= 0 || t - j->last_print < j->a.progress_every)))
        return;
    j->last_print = t;
    const long done = j->units_done + (long)j->batch_now * (long)(j->den->nfe - j->nfe_at_batch);
    char eta[32];
    progress_eta(&j->prog, done, j->units_total, eta, sizeof eta);
    const double rate = progress_rate(&j->prog, done) / (double)j->nfe_row;
    printf("rank 0: images %.1f/%lld of its block (%.1f%%)  %.2f img/s per rank  ETA %s\n",
           (double)done / j->nfe_row, (long long)(j->hi - j->lo),
           j->units_total ? 100.0 * done / j->units_total : 100.0, rate, eta);
    fflush(stdout);
}

static void between_calls(void *ctx)
{
    dist_heartbeat();
    print_progress(ctx, 0);
}

/* This rank's block (hi-lo, D) of latents. */
static float *job_run(EncodeJob *j, NetSlots *slots)
{
    const int64_t mine = j->hi - j->lo;
    const int bmax = j->a.batch;
    float *x = xalloc_floats((size_t)(mine > 0 ? mine : 1) * j->D);
    uint64_t *keys = xmalloc(sizeof *keys * (size_t)bmax);
    int64_t *idx = xmalloc(sizeof *idx * (size_t)bmax);
    Denoiser den;
    netslots_denoiser(&den, slots, &j->sched);
    j->den = &den;
    j->nfe_row = (long)sampler_nfe(&j->sc, &j->sched);
    j->units_total = (long)mine * j->nfe_row;
    slots->between = between_calls;
    slots->between_ctx = j;
    progress_start(&j->prog, 0);
    j->last_print = ddm_now();
    for (int64_t r = j->lo; r < j->hi; r += bmax) {
        const int B = (int)(j->hi - r < bmax ? j->hi - r : bmax);
        for (int k = 0; k < B; k++) {
            idx[k] = r + k;
            keys[k] = (uint64_t)(r + k); /* the slots key on the row: batch-free latents */
        }
        float *xb = x + (size_t)(r - j->lo) * j->D;
        task_inputs_rows(&j->in, idx, B, xb, NULL);
        j->batch_now = B;
        j->nfe_at_batch = den.nfe;
        sampler_encode(&j->sc, &j->sched, &den, xb, keys, j->net_lab ? j->net_lab + r : NULL, B);
        j->units_done += (long)B * j->nfe_row;
        j->batch_now = 0;
    }
    if (j->prog.printed || ddm_now() - j->prog.t0 >= j->a.progress_every) print_progress(j, 1);
    slots->between = NULL;
    denoiser_free(&den);
    free(keys);
    free(idx);
    return x;
}

int job_encode(int argc, char **argv)
{
    dist_init(&argc, &argv);
    cli_quiet = !dist_is_root();
    EncodeJob j;
    memset(&j, 0, sizeof j);
    Args *a = &j.a;
    a->batch = 64;
    a->progress_every = 5;
    char samplers[256], help_s[400];
    sampler_encode_names(samplers, sizeof samplers);
    snprintf(help_s, sizeof help_s, "the encoder: %s (default ddim on vp models, ode on ve)", samplers);
    const CliOpt opts[] = {
        {"ckpt", CLI_STR, &a->ckpt, "RUN_DIR|CKPT.h5", "checkpoint file, or a run folder (its newest checkpoint)", 1},
        {"input", CLI_STR, &a->input, "IMAGES.h5", "the images to encode (a ddm dataset of the model's shape)", 1},
        {"out", CLI_STR, &a->out, "LATENTS.h5", "the latents file (replaced atomically)", 1},
        {"sampler", CLI_STR, &a->sampler, "NAME", help_s, 0},
        {"steps", CLI_STR, &a->steps, "N", "sampler steps (default: the sampler's own, ddim 50, ode 18); decode with the same", 0},
        {"eta", CLI_STR, &a->eta, "E", "ddim: must be 0 (the only deterministic eta; default 0)", 0},
        {"guidance", CLI_STR, &a->guidance, "W", "classifier-free guidance weight w of the encoder (default 0 = off; needs a class)", 0},
        {"sampler-opt", CLI_MULTI, &a->opts, "KEY=VALUE", "another option of the sampler (ddim: skip, clip; ode: rho, sigma_max; see ddm sample --help); repeatable", 0},
        {"class", CLI_STR, &a->cls, "K|input|none", "the class every image is encoded with: K, input (each image's label in IMAGES.h5) or none (the null label; default)", 0},
        {"batch", CLI_INT, &a->batch, "N", "images per encoder run; multiples of 8 fill the network's 8-image calls (default 64)", 0},
        {"weights", CLI_STR, &a->weights, "ema|raw", "EMA weights (default) or the raw trained ones", 0},
        {"ema-rate", CLI_DOUBLE, &a->ema_rate, "R", "which EMA copy (default: the first rate of train.ema, else the largest)", 0},
        {"threads", CLI_INT, &a->threads, "T", "threads per rank (default 0 = what the rank may use)", 0},
        {"progress-every", CLI_DOUBLE, &a->progress_every, "S", "at most one progress line per S seconds (default 5; 0 = none)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("encode", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        cli_multi_free(&a->opts);
        return dist_finish(0);
    }
    j.P = dist_size();
    ddm_set_threads(a->threads);
    job_setup(&j);

    const UNetConfig *uc = &j.model.unet;
    NetSlots slots;
    netslots_init(&slots, uc, j.model.weights, j.T);
    j.D = slots.D;
    free(j.model.weights);
    j.model.weights = NULL;
    SamplerPlan plan;
    sampler_plan_init(&plan, &j.sc, &j.sched);
    char desc[512];
    sampler_config_describe(&j.sc, &j.sched, desc, sizeof desc);
    const int karras = plan.a[0] == 1.0 && plan.sg[0] == plan.sigma[0] &&
                       j.sched.cfg.process == PROC_VP;
    if (dist_is_root()) {
        printf("ddm encode: %s (step %lld), %s model: %lld images of %dx%dx%d from %s; %s; class "
               "%s; %d rank%s x %d thread%s, contiguous blocks of about %lld, batch %d\n",
               j.model.path, (long long)j.model.step, sched_process_name(j.sched.cfg.process),
               (long long)j.n, uc->in_ch, uc->image_size, uc->image_size, a->input, desc,
               a->cls ? a->cls : "none", j.P, j.P > 1 ? "s" : "", j.T, j.T > 1 ? "s" : "",
               (long long)((j.n + j.P - 1) / j.P), a->batch);
        printf("ddm encode: the latent is the state at level 0: x = %.6g x0 + %.6g eps (sigma %.6g)\n",
               plan.a[0], plan.sg[0], plan.sigma[0]);
        fflush(stdout);
    }
    const double t0 = ddm_now();
    float *mine = job_run(&j, &slots);
    int64_t nonfinite = 0;
    for (size_t i = 0; i < (size_t)(j.hi - j.lo) * j.D; i++) nonfinite += !isfinite(mine[i]);
    long long nf = (long long)nonfinite;
    dist_allreduce_sum_ll(&nf, 1);
    int64_t total = 0;
    float *all = dist_allgather_rows(mine, j.hi - j.lo, (int)j.D, &total);
    DDM_ASSERT(total == j.n, "gathered %lld latents of %lld", (long long)total, (long long)j.n);
    if (dist_is_root()) {
        if (nf > 0)
            ddm_warn("%lld latent values are NaN or infinite: the model or the setting diverges", nf);
        char *input_abs = fsio_abs_path(a->input), *tmp = fsio_tmp_name(a->out);
        LatentsMeta m = {j.model.path, j.model.step, j.model.config_text, input_abs, desc,
                         plan.N, karras ? "xbar" : "x", plan.a[0], plan.sg[0], plan.sigma[0],
                         plan.prior_std};
        fsio_track_created(tmp);
        latents_write(tmp, &m, all, j.file_lab, j.n, uc->in_ch, uc->image_size, uc->image_size);
        fsio_commit(tmp, a->out);
        char d[32];
        const double wall = ddm_now() - t0;
        format_duration(wall, d, sizeof d);
        printf("ddm encode: done: %lld latents in %s (%.2f img/s, %lld NFE each) -> %s\n",
               (long long)j.n, d, wall > 0 ? j.n / wall : 0, (long long)j.nfe_row, a->out);
        fflush(stdout);
        free(input_abs);
        free(tmp);
    }
    free(all);
    free(mine);
    sampler_plan_free(&plan);
    free(j.file_lab);
    free(j.net_lab);
    task_inputs_free(&j.in);
    netslots_free(&slots);
    sched_free(&j.sched);
    model_load_free(&j.model);
    cli_multi_free(&a->opts);
    return dist_finish(0);
}
