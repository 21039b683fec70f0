/* ilvr: ILVR (Choi et al. 2021, "ILVR: Conditioning Method for Denoising Diffusion
 * Probabilistic Models", Alg. 1): after every step whose new level lies in the time range
 * [range_to, range_from], the low frequencies of the state are replaced by those of the
 * reference noised to that level:
 *   y_{t-1} ~ q(y_{t-1} | y)                               (line 8)
 *   x_{t-1} <- phi_N(y_{t-1}) + x'_{t-1} - phi_N(x'_{t-1})   (line 9)
 * with phi_N the low-pass of scale N (task_lowpass: block means over N x N). The sample
 * then shares the reference's coarse content (N small) or only its layout (N large). */
#include <math.h>
#include <stdio.h>

#include "core/common.h"
#include "core/task.h"

static int after_step(void *ctx, const SampleRun *r, int i, float *x)
{
    TaskState *st = ctx;
    const TaskConfig *tc = st->tc;
    const int l = i + 1;
    st->level_t = task_level_time(r->s, r->plan, l);
    if (st->level_t < tc->range_to || st->level_t > tc->range_from) return l;
    float *phx = task_state_scratch(st, r->n), *y = phx + r->n, *phy = y + r->n;
    const int C = st->in.C, H = st->in.H, W = st->in.W, N = tc->factor;
    task_noised(r, y, st->in.image, l);                /* line 8 */
    task_lowpass(phy, y, r->B, C, H, W, N);
    task_lowpass(phx, x, r->B, C, H, W, N);
    const size_t n = r->n;
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t j = 0; j < n; j++) x[j] = phy[j] + (x[j] - phx[j]); /* line 9 */
    return l;
}

static int check(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s, char *err,
                 size_t errlen)
{
    (void)sc;
    (void)s;
    if (tc->factor < 1) {
        snprintf(err, errlen, "task ilvr: factor must be >= 1, got %d", tc->factor);
        return -1;
    }
    if (!(tc->range_to >= 0 && tc->range_to <= tc->range_from && tc->range_from <= 1)) {
        snprintf(err, errlen, "task ilvr: the range needs 0 <= range_to <= range_from <= 1, got "
                 "range_to %g, range_from %g", tc->range_to, tc->range_from);
        return -1;
    }
    return 0;
}

static int inputs_check(const TaskConfig *tc, const TaskInputs *in, char *err, size_t errlen)
{
    if (tc->factor >= 1 && in->H % tc->factor == 0 && in->W % tc->factor == 0) return 0;
    snprintf(err, errlen, "task ilvr: factor %d must divide the image's height and width "
             "(%dx%d)", tc->factor, in->H, in->W);
    return -1;
}

#define OFF(f) offsetof(TaskConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "factor", OPT_INT, OFF(factor), 0, NULL, "4", "N", "",
     "low-pass scale N: block means over N x N pixels (Choi et al. 2021: 4..64)", 1,
     2147483647.0, 0, 0},
    {NULL, "range_from", OPT_F64, OFF(range_from), 0, NULL, "1", "T", "",
     "refine while the step's time t <= range_from (1 = from the start)", 0, 1, 0, 0},
    {NULL, "range_to", OPT_F64, OFF(range_to), 0, NULL, "0", "T", "",
     "... and t >= range_to (0 = to the end)", 0, 1, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const TaskDef task_ilvr_def = {
    .name = "ilvr",
    .cite = "Choi et al. 2021 (ILVR), Alg. 1",
    .opts = OPTS,
    .needs = TASK_NEEDS_IMAGE,
    .check = check,
    .after_step = after_step,
    .inputs_check = inputs_check,
};
