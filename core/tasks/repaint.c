/* repaint: RePaint (Lugmayr et al. 2022, "RePaint: Inpainting using Denoising Diffusion
 * Probabilistic Models", Alg. 1 and sec. 4.2): after every step the known pixels (mask 1)
 * are replaced by the original noised to the new level, q(x_{t-1} | x0) (Alg. 1 lines 5
 * and 8), and the unknown ones (mask 0) keep the sampler's proposal (line 7). Resampling
 * (lines 3 and 9-11, with the jumps of sec. 4.2): the levels are cut into stretches of j
 * steps; at the end of a stretch the state goes back j levels by the forward process
 * (the driver's sampler_q_forward) until the stretch was passed r times, so known and
 * generated pixels harmonise. r = 1: no resampling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/task.h"

/* Alg. 1 line 8, x = m known + (1 - m) x with m in {0,1} (task_check_inputs), as a
 * selection: the unknown values are not touched at all, the known ones are copied. */
static void blend(float *x, const float *known, const float *m, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t j = 0; j < n; j++)
        if (m[j] != 0.0f) x[j] = known[j];
}

static int init(void *ctx, const SampleRun *r, float *x)
{
    TaskState *st = ctx;
    const SamplerPlan *p = r->plan;
    float *known = task_state_scratch(st, r->n);
    free(st->visits);
    st->n_levels = p->N + 1;
    st->visits = xcalloc((size_t)st->n_levels, sizeof(int));
    /* Alg. 1 line 1: x_T ~ N(0, I), the driver's prior and stream */
    sampler_draw_normals(x, r->seeds, SAMPLER_STREAM_INIT, r->B, r->D);
    if (p->prior_std != 1.0)
        for (size_t j = 0; j < r->n; j++) x[j] = (float)(p->prior_std * x[j]);
    task_noised(r, known, st->in.image, 0);
    blend(x, known, st->in.mask, r->n);
    return 0;
}

static int after_step(void *ctx, const SampleRun *r, int i, float *x)
{
    TaskState *st = ctx;
    const SamplerPlan *p = r->plan;
    const int l = i + 1, j = st->tc->jump_length;
    float *known = task_state_scratch(st, r->n);
    /* Alg. 1 line 5: x_{t-1}^known ~ q(x_{t-1} | x0), new noise on every pass (the stream
     * moves with r->stream_offset). At the plan's end the original itself, also when the
     * plan ends at a small noise level instead of the data (langevin, pc without a final
     * denoise step): the output keeps the known pixels. */
    if (l == p->N) memcpy(known, st->in.image, r->n * sizeof(float));
    else task_noised(r, known, st->in.image, l);
    blend(x, known, st->in.mask, r->n); /* line 8 */
    /* lines 9-11 with jumps of j levels (sec. 4.2): at the end of a stretch, back to its
     * start until it was passed r times */
    if (l < p->N && l % j == 0 && ++st->visits[l] < st->tc->resample) return l - j;
    return l;
}

/* jumps back of one batch on a plan of N steps */
static long long jumps(const TaskConfig *tc, int N)
{
    return (long long)(tc->resample - 1) * ((N - 1) / tc->jump_length);
}

static long long steps_run(const TaskConfig *tc, const Schedule *s, const SamplerPlan *p)
{
    (void)s;
    return p->N + jumps(tc, p->N) * tc->jump_length;
}

static int check(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s, char *err,
                 size_t errlen)
{
    if (tc->jump_length < 1 || tc->resample < 1) {
        snprintf(err, errlen, "task repaint: jump_length and resample must be >= 1, got %d and %d",
                 tc->jump_length, tc->resample);
        return -1;
    }
    SamplerPlan p;
    sampler_plan_init(&p, sc, s);
    const int N = p.N;
    sampler_plan_free(&p);
    if (tc->resample > 1 && N - 1 < tc->jump_length) {
        snprintf(err, errlen, "task repaint: jump_length %d leaves no stretch to resample in the "
                 "plan's %d steps (want jump_length < %d, or resample 1)", tc->jump_length, N, N);
        return -1;
    }
    if (jumps(tc, N) > TASK_MAX_JUMPS) {
        snprintf(err, errlen, "task repaint: %lld jumps back (resample %d, %d stretches of %d "
                 "steps) exceed the %d that keep the samples' random streams apart",
                 jumps(tc, N), tc->resample, (N - 1) / tc->jump_length, tc->jump_length,
                 TASK_MAX_JUMPS);
        return -1;
    }
    return 0;
}

#define OFF(f) offsetof(TaskConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "jump_length", OPT_INT, OFF(jump_length), 0, NULL, "10", "J", "steps",
     "levels per jump back, j (Lugmayr et al. 2022, sec. 4.2: 10)", 1, 2147483647.0, 0, 0},
    {NULL, "resample", OPT_INT, OFF(resample), 0, NULL, "10", "R", "",
     "passes over each stretch of j levels, r (sec. 4.2: 10; 1 = no resampling)", 1,
     2147483647.0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const TaskDef task_repaint_def = {
    .name = "repaint",
    .cite = "Lugmayr et al. 2022 (RePaint), Alg. 1 with jumps of sec. 4.2",
    .opts = OPTS,
    .needs = TASK_NEEDS_IMAGE | TASK_NEEDS_MASK,
    .check = check,
    .init = init,
    .after_step = after_step,
    .max_jumps = TASK_MAX_JUMPS,
    .steps_run = steps_run,
};
