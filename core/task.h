/* Sample tasks as a registry: the seeds' applications (SDEdit, RePaint, ILVR, ...) as
 * tables plugged into the sampling core's loop (core/sampler.h: SampleTask), the way
 * samplers are tables in core/samplers/.
 *
 * B = samples in the batch, C, H, W = image shape, D = C*H*W, n = B*D.
 *
 * A task is a table (TaskDef, one file each under core/tasks/, one line in
 * core/tasks/registry.h): its name, citation, option rows (core/opt.h, into TaskConfig),
 * the inputs it needs (an image per sample, a mask), a check against the sampler and
 * process, and its SampleTask hooks (task_bind hands them the config and one batch's inputs
 * hooks (initial state and start level, a hook after every step, jumps back).
 *
 * Inputs are in data space ([-1,1], float (B,D)), one row per sample of the batch, in
 * the order of the batch's seeds. Every random draw of a task comes from the sample's own
 * Philox stream (seed, TASK_STREAM + the driver's stream_offset + level), so a sample
 * depends only on (model, sampler setting, task setting, its input row, its seed).
 */
#ifndef DDM_TASK_H
#define DDM_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "core/opt.h"
#include "core/sampler.h"

/* the streams of a task's draws (no sampler step uses them) */
#define TASK_STREAM ((uint64_t)1 << 50)

/* CLASS: a class-conditional model and a target class (--class K, per seed or input) */
enum { TASK_NEEDS_IMAGE = 1u, TASK_NEEDS_MASK = 2u, TASK_NEEDS_CLASS = 4u };

typedef struct TaskDef TaskDef;

/* One task setting: which task and every task option (each task's rows say which). */
typedef struct {
    const TaskDef *def;
    double t0;         /* sdedit: start time in (0,1] of the SDE (Meng et al. 2022) */
    int jump_length;   /* repaint: j, levels per jump back (Lugmayr et al. 2022: 10) */
    int resample;      /* repaint: r, passes over each stretch of j levels (10; 1 = none) */
    int factor;        /* ilvr: N, the low-pass factor (Choi et al. 2021: 4..32) */
    double range_from, range_to; /* ilvr: applied while the step's t is in [to, from] */
    int source;        /* ddib: the class the input is encoded with, -1 = its own label */
    int scale;         /* superres: F, the downsampling factor (0 = the model's first
                          trained factor, resolved by the job) */
    int lowres;        /* superres, set by the job (not an option): 0, the inputs are the
                          full-size truth, degraded by the task; F > 0, they are low-resolution
                          images of H/F x W/F already upsampled to H x W by bicubic
                          (io/task_inputs) */
} TaskConfig;

/* One batch's inputs (NULL where the task needs none). */
typedef struct {
    const float *image;  /* (B,D) the guide (sdedit), original (repaint), reference (ilvr) */
    const float *mask;   /* (B,D) 1 = known pixel, 0 = to fill (repaint) */
    int C, H, W;
    const int *labels;   /* (B) each input's label, -1 = none; NULL: the file has none (ddib) */
} TaskInputs;

/* What a bound task keeps while its batch runs (owned by the caller, zeroed before bind,
 * freed by task_state_free). */
typedef struct {
    const TaskConfig *tc;
    TaskInputs in;
    float *buf;          /* (3 n) scratch */
    size_t cap;
    int *visits;         /* per level: passes so far (repaint) */
    int n_levels;
    double level_t;      /* scratch */
} TaskState;

struct TaskDef {
    const char *name;
    const char *cite;
    const OptSpec *opts;   /* its options (into TaskConfig), NULL-name ended */
    unsigned needs;        /* TASK_NEEDS_* */
    /* beyond the option rows: does it fit this sampler and process? 0 / -1 + err */
    int (*check)(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s, char *err,
                 size_t errlen);
    /* the SampleTask hooks of a batch (core/sampler.h), ctx = the batch's TaskState (its
     * config and inputs): the initial state and start level (NULL: the driver's prior at
     * level 0), the hook after every step (NULL: none), the bound on jumps back */
    int (*init)(void *ctx, const SampleRun *r, float *x);
    int (*after_step)(void *ctx, const SampleRun *r, int i, float *x);
    int max_jumps;
    /* beyond the needs: do the inputs fit the setting (e.g. ilvr: H, W multiples of the
     * factor)? NULL = nothing more. 0 / -1 + err */
    int (*inputs_check)(const TaskConfig *tc, const TaskInputs *in, char *err, size_t errlen);
    /* the sampler steps one sample passes on plan p (its start level, its jumps back, its
     * own runs of the plan); NULL = the plan's N */
    long long (*steps_run)(const TaskConfig *tc, const Schedule *s, const SamplerPlan *p);
    /* the image the network is conditioned on, cond (B,D), for a model trained with one
     * (superres: model.cond_channels); NULL = the task sets none. task_run hands it to the
     * denoiser (denoiser_set_cond) for the batch. */
    void (*condition)(const TaskConfig *tc, const TaskInputs *in, int B, float *cond);
};

/* ---- the registry */
int task_count(void);
const TaskDef *task_def(int i);
const TaskDef *task_find(const char *name);
void task_names(char *buf, size_t n); /* "sdedit, repaint, ilvr, ddib" */

/* ---- settings (as for samplers: "unknown task", "unknown task option 'x' for task
 * repaint; it takes jump_length, resample", "bad value ...") */
int task_config_init(TaskConfig *tc, const char *name, char *err, size_t errlen);
int task_config_set(TaskConfig *tc, const char *key, const char *value, char *err,
                    size_t errlen);
int task_config_check(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s,
                      char *err, size_t errlen);
/* Network evaluations per sample under the task (guided ones count 2): the sampler's
 * NFE scaled by the steps the task runs (steps_run) over the plan's N; exact for samplers
 * with the same NFE every step, within a step's NFE for Heun (whose last step costs 1). */
long long task_nfe(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s);
/* "repaint jump_length=10 resample=10" */
void task_config_describe(const TaskConfig *tc, char *buf, size_t n);
void task_print_help(FILE *f);

/* The SampleTask of one batch: st (zeroed here) keeps the config and the inputs, which
 * must stay valid while the batch runs; out gets the def's hooks with ctx = st. */
void task_bind(const TaskConfig *tc, const TaskInputs *in, TaskState *st, SampleTask *out);
/* Bind and run: sampler_run_task with the task's hooks for one batch. */
void task_run(const TaskConfig *tc, const TaskInputs *in, const SamplerConfig *sc,
              const Schedule *s, Denoiser *den, float *x0_out, const uint64_t *seeds,
              const int *labels, int B);
void task_state_free(TaskState *st);
/* Do a batch's inputs fit the task: the image and mask it needs present, a valid shape,
 * finite image values, mask values 0 or 1, the task's own inputs_check. 0, or -1 with a
 * message. task_run dies with it; a job calls it first to report the input file. */
int task_check_inputs(const TaskConfig *tc, const TaskInputs *in, int B, char *err,
                      size_t errlen);
/* st->buf with room for 3 n floats (grown when smaller); for the tasks' hooks */
float *task_state_scratch(TaskState *st, size_t n);

/* jumps back per batch at most: each jump moves the driver's stream offset by 2^40, and
 * 2^10 of them would reach TASK_STREAM, where the task's own draws live */
#define TASK_MAX_JUMPS 1023

/* ---- pieces the tasks share (core/task.c) */
/* t in [0,1] of plan level L: the SDE time whose marginal has the level's VE-equivalent
 * sigma (vp: alpha_bar(t) = 1/(1+sigma^2) on the schedule's continuous curve; ve:
 * sigma(t) = smin (smax/smin)^t; sigma = 0: t = 0) */
double task_level_time(const Schedule *s, const SamplerPlan *p, int L);
/* The first plan level at or below time t0 (noisiest level L with time <= t0). */
int task_level_at(const Schedule *s, const SamplerPlan *p, double t0);
/* q(x_L | x0) for the batch: x = a_L x0 + sg_L z, z from the samples' task streams at
 * level L (stream TASK_STREAM + r->stream_offset + L) */
void task_noised(const SampleRun *r, float *x, const float *x0, int L);
/* phi_N: the low-pass of ILVR: the mean over N x N blocks, repeated back to full size
 * (B images of C x H x W, H and W multiples of N); out may not alias in */
void task_lowpass(float *out, const float *in, int B, int C, int H, int W, int N);

#endif
