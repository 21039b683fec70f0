/* ddm train: data-parallel training of the diffusion U-Net (or the eval classifier) on P
 * ranks, with checkpoints, exact resume and Slurm preemption (DESIGN.md, issue #4). */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "core/optim.h"
#include "core/pixels.h"
#include "core/progress.h"
#include "core/sampler.h"
#include "core/sched.h"
#include "core/stopsig.h"
#include "core/trainer.h"
#include "io/ckpt.h"
#include "io/config.h"
#include "io/fsio.h"
#include "io/runinfo.h"
#include "io/json.h"
#include "io/png.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"
#include "mpi/shard.h"

/* exit status when the loss became NaN/Inf (a signal: DDM_EXIT_REQUEUE, core/stopsig.h) */
#define TRAIN_EXIT_NONFINITE 3

static const char SYNOPSIS[] =
    "--data FILE.h5 --out RUN_DIR [--config FILE.ini] [--set section.key=value]...";
static const char DESCRIPTION[] =
    "Train a diffusion model (train.task=diffusion), the evaluation classifier\n"
    "(--task classifier, clean images) or the noise-aware classifier of classifier guidance\n"
    "(--task noisy-classifier: p(y | x_t, t), the U-Net's down path and middle with a pooled\n"
    "linear head, on images noised by the config's [diffusion] schedule; use the [diffusion]\n"
    "section of the model it will guide) on the dataset FILE.h5 made by 'ddm prep'. Every rank reads its\n"
    "part of each global batch (train.batch, split over the ranks) and the gradients are\n"
    "summed with one allreduce. Resumes by itself from the newest checkpoint in RUN_DIR\n"
    "(unless --fresh). On SIGTERM or SIGUSR1 every rank finishes its step, a checkpoint is\n"
    "written and the job exits with status 99 (requeue me); a NaN/Inf loss stops it with\n"
    "status 3, the last good checkpoint kept. Writes RUN_DIR/config.ini, metrics.jsonl,\n"
    "ckpt-STEP.h5, curves.png (loss, learning rate and images/s against the step, redrawn\n"
    "at every checkpoint; needs gnuplot) and, every train.preview_every steps,\n"
    "preview-STEP.png. 'ddm info RUN_DIR' sums the run up.";

typedef struct {
    char *data, *out, *config, *task;
    CliMulti set;
    int fresh, cache, verbose, check_every;
} TrainArgs;

static void load_config(DdmConfig *cfg, const TrainArgs *a, const char *ckpt_path)
{
    char err[512];
    config_defaults(cfg);
    if (ckpt_path) { /* resuming: the run's own config is the base */
        CkptMeta meta;
        memset(&meta, 0, sizeof meta);
        ckpt_read_meta(ckpt_path, &meta);
        if (meta.config_text && config_parse_text(cfg, meta.config_text, ckpt_path, err, sizeof err))
            ddm_die("%s", err);
        ckpt_meta_free(&meta);
    }
    if (a->config && config_load_ini(cfg, a->config, err, sizeof err)) ddm_die("%s", err);
    if (a->task) {
        char buf[64];
        snprintf(buf, sizeof buf, "train.task=%s", a->task);
        if (config_set(cfg, buf, err, sizeof err)) ddm_die("--task %s: %s", a->task, err);
    }
    for (int i = 0; i < a->set.n; i++)
        if (config_set(cfg, a->set.v[i], err, sizeof err)) ddm_die("%s", err);
    if (config_validate(cfg, err, sizeof err)) {
        /* name where the keys came from: the config file, else the run's own config */
        if (a->config) ddm_die("%s: %s", a->config, err);
        if (ckpt_path) ddm_die("%s (the run's config): %s", ckpt_path, err);
        ddm_die("%s", err);
    }
}

/* A grid of samples from an EMA copy: DDIM, 20 steps, one image per class (or 16). */
static void write_preview(const DdmConfig *cfg, const Schedule *sched, const float *weights,
                          const char *run_dir, int64_t step)
{
    UNetConfig uc;
    config_to_unet(cfg, &uc);
    const int n = cfg->model.num_classes > 0 ? 2 * cfg->model.num_classes : 16;
    UNet *net = unet_init(&uc, n, 0);
    memcpy(unet_params(net), weights, unet_num_params(net) * sizeof(float));
    UNetDenoiser den = {net, n};
    size_t D = (size_t)uc.in_ch * uc.image_size * uc.image_size;
    Denoiser m;
    denoiser_init(&m, trainer_unet_denoise, &den, sched, D, cfg->model.num_classes);
    SamplerConfig sc;
    char err[256];
    if (cfg->diffusion.process == PROC_VP) {
        sampler_config_init(&sc, "ddim", err, sizeof err);
        sc.steps = 20 < sched->n ? 20 : sched->n;
    } else {
        sampler_config_init(&sc, "ode", err, sizeof err);
        sc.steps = 18;
    }
    uint64_t *seeds = xcalloc((size_t)n, sizeof *seeds);
    int *labels = xcalloc((size_t)n, sizeof *labels);
    for (int i = 0; i < n; i++) {
        seeds[i] = (uint64_t)i;
        labels[i] = cfg->model.num_classes > 0 ? i % cfg->model.num_classes : 0;
    }
    float *x = xalloc_floats((size_t)n * D);
    sampler_run(&sc, sched, &m, x, seeds, cfg->model.num_classes > 0 ? labels : NULL, n);
    uint8_t *img = xmalloc((size_t)n * D);
    pixels_to_uint8(img, x, (size_t)n * D);
    char path[4096];
    snprintf(path, sizeof path, "%s/preview-%08lld.png", run_dir, (long long)step);
    pngio_write_grid(path, img, n, uc.in_ch, uc.image_size, uc.image_size,
                     cfg->model.num_classes > 0 ? cfg->model.num_classes : 4);
    free(img); free(x); free(seeds); free(labels);
    denoiser_free(&m);
    unet_free(net);
}

typedef struct {
    DdmConfig cfg;
    Trainer tr;
    UNet *unet;
    Classifier *clf;
    Schedule sched;
    float *m, *v, *ema[CONFIG_MAX_LIST];
    size_t np;
    CkptMeta meta;
    const char *run_dir;
} Run;

/* What a checkpoint holds of the run: weights, EMA copies, optimizer moments. */
static void run_blocks(Run *r, CkptBlocks *b)
{
    memset(b, 0, sizeof *b);
    b->tensors = trainer_tensors(&r->tr);
    b->n_tensors = trainer_num_tensors(&r->tr);
    b->model = trainer_params(&r->tr);
    b->n_ema = r->cfg.train.n_ema;
    for (int i = 0; i < b->n_ema; i++) {
        b->ema_rate[i] = r->cfg.train.ema[i];
        b->ema[i] = r->ema[i];
    }
    b->m = r->m;
    b->v = r->v;
}

static char *save_ckpt(Run *r, int64_t step, int64_t images_seen, double wall, const Shard *sh)
{
    char *path = NULL;
    if (dist_is_root()) {
        CkptBlocks b;
        run_blocks(r, &b);
        CkptMeta meta;
        memset(&meta, 0, sizeof meta);
        meta.step = step;
        meta.images_seen = images_seen;
        meta.epoch = shard_epoch(sh, step);
        meta.data_pos = step * sh->batch_global - shard_epoch_pos(sh, step);
        ckpt_meta_set_seed(&meta, (int64_t)r->cfg.train.seed); /* all the random state there is */
        meta.config_text = config_to_text(&r->cfg);
        meta.wall_time = wall;
        path = ckpt_write(r->run_dir, &b, &meta, r->cfg.train.keep);
        free(meta.config_text);
    }
    dist_barrier();
    return path;
}

int job_train(int argc, char **argv)
{
    dist_init(&argc, &argv);
    cli_quiet = !dist_is_root();
    TrainArgs a;
    memset(&a, 0, sizeof a);
    a.check_every = 0;
    const CliOpt opts[] = {
        {"data", CLI_STR, &a.data, "FILE.h5", "dataset made by 'ddm prep'", 1},
        {"out", CLI_STR, &a.out, "RUN_DIR", "run folder: checkpoints, metrics.jsonl, config.ini, previews", 1},
        {"config", CLI_STR, &a.config, "FILE.ini", "config file (INI); keys below", 0},
        {"set", CLI_MULTI, &a.set, "SECTION.KEY=VALUE", "override one config key (repeatable)", 0},
        {"task", CLI_STR, &a.task, "NAME", "diffusion (default), classifier or noisy-classifier (same as --set train.task=...)", 0},
        {"fresh", CLI_FLAG, &a.fresh, NULL, "start from step 0 even when RUN_DIR has checkpoints", 0},
        {"cache", CLI_FLAG, &a.cache, NULL, "read the whole dataset into memory once (each rank)", 0},
        {"check-weights", CLI_INT, &a.check_every, "N", "debug: every N steps check that all ranks hold the same weights (default 0 = off)", 0},
        {"verbose", CLI_FLAG, &a.verbose, NULL, "every rank prints its own timing lines", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("train", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        if (dist_is_root()) {
            printf("\nconfig keys (INI sections; --set section.key=value):\n");
            config_print_keys(stdout);
        }
        dist_finalize();
        return 0;
    }

    Run r;
    memset(&r, 0, sizeof r);
    r.run_dir = a.out;
    struct stat out_st;
    const int made_dir = dist_is_root() && stat(a.out, &out_st) != 0;
    if (dist_is_root()) fsio_mkdir_p(a.out);
    if (made_dir) fsio_track_created(a.out); /* a setup error leaves no empty RUN_DIR */
    dist_barrier();
    char *resume = NULL;
    int64_t resume_step = 0;
    if (!a.fresh) ckpt_find_latest(a.out, &resume, &resume_step);
    load_config(&r.cfg, &a, resume);
    DdmConfig *cfg = &r.cfg;
    ddm_set_threads(cfg->train.threads);
    const int P = dist_size();
    char err[512];
    if (shard_validate(cfg->train.batch, P, err, sizeof err)) ddm_die("%s", err);
    const int B = (int)(cfg->train.batch / P);
    const int C = cfg->model.channels, S = cfg->model.image_size;
    const int task = cfg->train.task;

    /* the network and the trainer */
    if (task == TASK_NOISY_CLASSIFIER) {
        UNetConfig uc;
        config_to_unet(cfg, &uc); /* the pooled encoder, model.num_classes logits */
        SchedConfig scfg;
        config_to_sched(cfg, &scfg);
        sched_init(&r.sched, &scfg);
        r.unet = unet_init(&uc, B, 1);
        unet_init_weights(r.unet, cfg->train.seed);
        trainer_init_noisy_classifier(&r.tr, r.unet, &r.sched, cfg->train.seed, B,
                                      cfg->train.batch, C, S);
    } else if (task == TASK_DIFFUSION) {
        UNetConfig uc;
        config_to_unet(cfg, &uc);
        SchedConfig scfg;
        config_to_sched(cfg, &scfg);
        sched_init(&r.sched, &scfg);
        r.unet = unet_init(&uc, B, 1);
        unet_init_weights(r.unet, cfg->train.seed);
        trainer_init_diffusion(&r.tr, r.unet, &r.sched, cfg->model.num_classes,
                               cfg->model.num_classes > 0 ? cfg->train.p_uncond : 0,
                               cfg->train.seed, B, cfg->train.batch, C, S);
        if (cfg->train.n_degrade > 0)
            trainer_set_degrade(&r.tr, cfg->train.degrade, cfg->train.n_degrade);
    } else {
        ClassifierConfig cc;
        config_to_classifier(cfg, &cc);
        if (cc.num_classes < 2) ddm_die("the classifier task needs model.num_classes >= 2 (the dataset's classes)");
        r.clf = classifier_init(&cc, B, 1);
        classifier_init_weights(r.clf, cfg->train.seed);
        trainer_init_classifier(&r.tr, r.clf, cfg->train.seed, B, cfg->train.batch, C, S);
    }
    r.np = trainer_num_params(&r.tr);
    float *params = trainer_params(&r.tr), *grads = trainer_grads(&r.tr);
    r.m = xcalloc(r.np, sizeof(float));
    r.v = xcalloc(r.np, sizeof(float));
    for (int i = 0; i < cfg->train.n_ema; i++) {
        r.ema[i] = xalloc_floats(r.np);
        memcpy(r.ema[i], params, r.np * sizeof(float));
    }

    /* resume */
    int64_t step = 0, images_seen = 0;
    double wall_before = 0;
    if (resume) {
        CkptBlocks b;
        run_blocks(&r, &b);
        CkptMeta meta;
        memset(&meta, 0, sizeof meta);
        ckpt_load(resume, &b, &meta);
        step = meta.step;
        images_seen = meta.images_seen;
        wall_before = meta.wall_time;
        ckpt_meta_free(&meta);
    }

    /* data */
    Shard sh;
    ShardOptions so = {.cache = a.cache, .flip = cfg->train.flip, .collective = 0};
    shard_open(&sh, a.data, C, S, cfg->train.batch, cfg->train.seed, &so);
    if (task != TASK_DIFFUSION && !sh.has_labels)
        ddm_die("%s: has no /labels; the %s task needs them", a.data,
                task == TASK_CLASSIFIER ? "classifier" : "noisy-classifier");
    if (cfg->model.num_classes > 0 && task == TASK_DIFFUSION) {
        if (!sh.has_labels) ddm_die("%s: has no /labels, but model.num_classes = %d (class-conditional)", a.data, cfg->model.num_classes);
        if (sh.classes > cfg->model.num_classes)
            ddm_die("%s: has %d classes, model.num_classes = %d", a.data, sh.classes, cfg->model.num_classes);
    }
    if (task != TASK_DIFFUSION && sh.classes > cfg->model.num_classes)
        ddm_die("%s: has %d classes, model.num_classes = %d", a.data, sh.classes, cfg->model.num_classes);

    size_t D = (size_t)C * S * S;
    float *x = xalloc_floats((size_t)B * D);
    int32_t *labels = xcalloc((size_t)B, sizeof(int32_t));
    int64_t *pos = xcalloc((size_t)B, sizeof(int64_t));

    if (dist_is_root()) {
        char *text = config_to_text(cfg), path[4096];
        snprintf(path, sizeof path, "%s/config.ini", a.out);
        fsio_write_atomic(path, text, strlen(text));
        free(text);
        if (made_dir) fsio_untrack(a.out); /* set up: the run folder stays from here on */
        printf("ddm train: %s, %zu parameters, %d rank%s x %d thread%s, global batch %d (%d per rank), "
               "%lld images of %dx%dx%d%s\n",
               task == TASK_DIFFUSION ? "diffusion U-Net"
               : task == TASK_CLASSIFIER ? "classifier"
                                         : "noise-aware classifier (U-Net encoder, pooled head)",
               r.np, P, P > 1 ? "s" : "",
               ddm_threads(), ddm_threads() > 1 ? "s" : "", cfg->train.batch, B, (long long)sh.n, C, S, S,
               resume ? "" : ", from scratch");
        if (cfg->train.n_degrade > 0) {
            char *f = config_value_text(cfg, config_find_key("train.degrade"));
            printf("ddm train: SR3: x_t with %d condition channel%s, the image degraded by a "
                   "factor of %s (each image draws one)\n", cfg->model.cond_channels,
                   cfg->model.cond_channels > 1 ? "s" : "", f);
            free(f);
        }
        if (resume) printf("ddm train: resuming from %s (step %lld)\n", resume, (long long)step);
        if (step >= cfg->train.max_steps)
            printf("ddm train: already at step %lld of train.max_steps = %lld: nothing to do\n",
                   (long long)step, (long long)cfg->train.max_steps);
        fflush(stdout);
    }

    stopsig_install();

    AdamW opt;
    config_to_adamw(cfg, &opt);
    Progress prog;
    progress_start(&prog, step);
    const int64_t start_step = step;
    double t_run0 = ddm_now(), t_comm = 0, t_step = 0, t_read = 0;
    double acc_loss = 0, acc_q[TRAINER_QUARTILES] = {0}, acc_qn[TRAINER_QUARTILES] = {0}, acc_correct = 0, acc_norm = 0;
    int64_t acc_steps = 0;
    double smooth = NAN;
    char metrics_path[4096];
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", a.out);
    char *last_ckpt = resume ? xstrdup(resume) : NULL;
    int exit_code = 0, plots_ok = 1;

    while (step < cfg->train.max_steps) {
        double t0 = ddm_now();
        shard_read(&sh, step, x, labels, pos, NULL);
        double t1 = ddm_now();
        TrainerStats st;
        trainer_grads_step(&r.tr, &st, x, sh.has_labels ? labels : NULL, pos, step);
        /* one allreduce: gradients + the step's statistics appended in a side buffer */
        t_comm += dist_allreduce_sum(grads, r.np);
        double stats[3 + 2 * TRAINER_QUARTILES];
        stats[0] = st.loss;
        stats[1] = st.correct;
        stats[2] = stopsig_received() ? 1 : 0;
        for (int q = 0; q < TRAINER_QUARTILES; q++) {
            stats[3 + q] = st.q_sum[q];
            stats[3 + TRAINER_QUARTILES + q] = st.q_count[q];
        }
        dist_allreduce_sum_d(stats, 3 + 2 * TRAINER_QUARTILES);
        double loss = stats[0];
        if (!isfinite(loss) || !floats_finite(grads, r.np)) {
            if (dist_is_root())
                fprintf(stderr, "ddm: error: step %lld: the loss is %s; stopping. The last good checkpoint is %s\n",
                        (long long)step + 1, isfinite(loss) ? "finite but a gradient is not" : (isnan(loss) ? "NaN" : "infinite"),
                        last_ckpt ? last_ckpt : "(none yet)");
            exit_code = TRAIN_EXIT_NONFINITE;
            break;
        }
        double gnorm = grad_clip(grads, r.np, cfg->train.grad_clip);
        opt.lr = (float)trainer_lr(cfg->train.lr, step, cfg->train.warmup);
        adamw_step(params, grads, r.m, r.v, r.np, step + 1, &opt);
        for (int i = 0; i < cfg->train.n_ema; i++) ema_update(r.ema[i], params, r.np, (float)cfg->train.ema[i]);
        /* the update itself can overflow with a finite loss and gradients (train.lr beyond
         * float range): stop before such weights reach a checkpoint (every rank holds the
         * same weights, so all stop together) */
        int wbad = !floats_finite(params, r.np);
        for (int i = 0; !wbad && i < cfg->train.n_ema; i++) wbad = !floats_finite(r.ema[i], r.np);
        if (wbad) {
            if (dist_is_root())
                fprintf(stderr, "ddm: error: step %lld: the update made a weight NaN or Inf (train.lr %g); "
                        "stopping. The last good checkpoint is %s\n", (long long)step + 1, cfg->train.lr,
                        last_ckpt ? last_ckpt : "(none yet)");
            exit_code = TRAIN_EXIT_NONFINITE;
            break;
        }
        step++;
        images_seen += cfg->train.batch;
        t_read += t1 - t0;
        t_step += ddm_now() - t0;
        acc_loss += loss;
        acc_correct += stats[1];
        acc_norm += gnorm;
        for (int q = 0; q < TRAINER_QUARTILES; q++) {
            acc_q[q] += stats[3 + q];
            acc_qn[q] += stats[3 + TRAINER_QUARTILES + q];
        }
        acc_steps++;
        smooth = isnan(smooth) ? loss : 0.98 * smooth + 0.02 * loss;

        if (a.check_every > 0 && step % a.check_every == 0) {
            double cs = trainer_checksum(params, r.np), lo, hi;
            dist_minmax_d(cs, &lo, &hi);
            dist_check(lo == hi, "step %lld: ranks hold different weights (checksums %.17g .. %.17g)", (long long)step,
                       lo, hi);
            if (dist_is_root() && a.verbose) printf("step %lld: weights identical on all ranks (checksum %.17g)\n", (long long)step, cs);
        }

        int last = step == cfg->train.max_steps;
        if ((cfg->train.log_every > 0 && step % cfg->train.log_every == 0) || last) {
            if (dist_is_root()) {
                double rate = acc_steps * cfg->train.batch / t_step;
                char eta[32], qbuf[128] = "";
                progress_eta(&prog, step, cfg->train.max_steps, eta, sizeof eta);
                double qv[TRAINER_QUARTILES];
                for (int q = 0; q < TRAINER_QUARTILES; q++) qv[q] = acc_qn[q] > 0 ? acc_q[q] / acc_qn[q] : NAN;
                if (task == TASK_DIFFUSION)
                    snprintf(qbuf, sizeof qbuf, " by t quartile %.4f %.4f %.4f %.4f", qv[0], qv[1], qv[2], qv[3]);
                else if (task == TASK_NOISY_CLASSIFIER)
                    snprintf(qbuf, sizeof qbuf, " accuracy %.4f (by t quartile %.3f %.3f %.3f %.3f)",
                             acc_correct / (acc_steps * (double)cfg->train.batch), qv[0], qv[1], qv[2], qv[3]);
                else
                    snprintf(qbuf, sizeof qbuf, " accuracy %.4f", acc_correct / (acc_steps * (double)cfg->train.batch));
                printf("step %lld/%lld  images %lld  loss %.5f (smoothed %.5f)%s  %.1f img/s  allreduce %.1f%%  read %.1f%%  lr %.3g  ETA %s\n",
                       (long long)step, (long long)cfg->train.max_steps, (long long)images_seen,
                       acc_loss / acc_steps, smooth, qbuf, rate, 100 * t_comm / t_step, 100 * t_read / t_step,
                       (double)opt.lr, eta);
                fflush(stdout);
                JsonLine j;
                json_begin(&j);
                json_int(&j, "step", step);
                json_int(&j, "images_seen", images_seen);
                json_num(&j, "loss", "%.6g", acc_loss / acc_steps);
                json_num(&j, "loss_smoothed", "%.6g", smooth);
                json_num(&j, "images_per_s", "%.4g", rate);
                json_num(&j, "allreduce_s", "%.6g", t_comm / acc_steps);
                json_num(&j, "step_s", "%.6g", t_step / acc_steps);
                json_num(&j, "allreduce_fraction", "%.5f", t_comm / t_step);
                json_num(&j, "read_fraction", "%.5f", t_read / t_step);
                json_num(&j, "lr", "%.6g", (double)opt.lr);
                json_num(&j, "grad_norm", "%.6g", acc_norm / acc_steps);
                json_int(&j, "ranks", P);
                json_int(&j, "threads", ddm_threads());
                json_num(&j, "wall_s", "%.3f", wall_before + ddm_now() - t_run0);
                const char *sj = getenv("SLURM_JOB_ID"), *sr = getenv("SLURM_RESTART_COUNT");
                if (sj && *sj) json_str(&j, "slurm_job", sj);
                if (sr && *sr) json_int(&j, "slurm_restarts", atoll(sr));
                char key[16];
                for (int q = 0; q < TRAINER_QUARTILES && task != TASK_CLASSIFIER; q++) {
                    snprintf(key, sizeof key, task == TASK_DIFFUSION ? "loss_q%d" : "accuracy_q%d", q + 1);
                    json_num(&j, key, "%.6g", isnan(qv[q]) ? -1.0 : qv[q]);
                }
                if (task != TASK_DIFFUSION)
                    json_num(&j, "accuracy", "%.6g", acc_correct / (acc_steps * (double)cfg->train.batch));
                fsio_append_line(metrics_path, json_end(&j));
                json_free(&j);
            }
            acc_loss = acc_correct = acc_norm = 0;
            memset(acc_q, 0, sizeof acc_q);
            memset(acc_qn, 0, sizeof acc_qn);
            acc_steps = 0;
            t_comm = t_step = t_read = 0;
        }
        if (task == TASK_DIFFUSION && cfg->train.preview_every > 0 && step % cfg->train.preview_every == 0 && dist_is_root())
            write_preview(cfg, &r.sched, cfg->train.n_ema > 0 ? r.ema[0] : params, a.out, step);
        int stop = stats[2] > 0;
        if (last || stop || (cfg->train.ckpt_every > 0 && step % cfg->train.ckpt_every == 0)) {
            char *p = save_ckpt(&r, step, images_seen, wall_before + ddm_now() - t_run0, &sh);
            if (p) {
                free(last_ckpt);
                last_ckpt = p;
            }
            /* RUN_DIR/curves.png, fresh at every checkpoint (not when a signal is stopping
             * the job: its grace time is for the checkpoint); after one failure (no
             * gnuplot, warned) no more tries */
            if (dist_is_root() && !stop && plots_ok) plots_ok = runinfo_curves(a.out) >= 0;
        }
        if (stop) {
            if (dist_is_root()) {
                printf("ddm train: signal received: checkpoint at step %lld written (%s); exiting with status %d so the job is requeued\n",
                       (long long)step, last_ckpt ? last_ckpt : "?", DDM_EXIT_REQUEUE);
                fflush(stdout);
            }
            exit_code = DDM_EXIT_REQUEUE;
            break;
        }
    }
    if (dist_is_root() && exit_code == 0 && step > start_step) {
        char d[32];
        format_duration(ddm_now() - t_run0, d, sizeof d);
        printf("ddm train: done: step %lld, %lld images seen, %s; newest checkpoint %s\n", (long long)step,
               (long long)images_seen, d, last_ckpt ? last_ckpt : "-");
    }
    shard_close(&sh);
    free(last_ckpt);
    free(x); free(labels); free(pos); free(r.m); free(r.v);
    for (int i = 0; i < cfg->train.n_ema; i++) free(r.ema[i]);
    trainer_free(&r.tr);
    if (r.unet) { unet_free(r.unet); sched_free(&r.sched); }
    if (r.clf) classifier_free(r.clf);
    free(resume);
    cli_multi_free(&a.set);
    dist_finalize();
    return exit_code;
}
