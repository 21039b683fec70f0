/* sdedit: SDEdit (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with
 * Stochastic Differential Equations", sec. 3 and Alg. 1): perturb the guide to time t0 of
 * the SDE, x(t0) ~ N(a(t0) guide, sg(t0)^2 I), and run the reverse process from there to
 * t = 0. t0 trades faithfulness to the guide (small t0) for realism (large t0; t0 = 1
 * starts from almost pure noise). The run starts at the first plan level at or below t0
 * (task_level_at), so it costs only the steps below it. */
#include <math.h>
#include <stdio.h>

#include "core/common.h"
#include "core/task.h"

static int init(void *ctx, const SampleRun *r, float *x)
{
    TaskState *st = ctx;
    const int L0 = task_level_at(r->s, r->plan, st->tc->t0);
    st->level_t = task_level_time(r->s, r->plan, L0);
    task_noised(r, x, st->in.image, L0); /* Alg. 1: x = x^(g) + sigma(t0) z (ve form) */
    return L0;
}

static int check(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s, char *err,
                 size_t errlen)
{
    (void)sc;
    (void)s;
    if (!(tc->t0 > 0 && tc->t0 <= 1)) {
        snprintf(err, errlen, "task sdedit: t0 must be in (0, 1], got %g", tc->t0);
        return -1;
    }
    return 0;
}

static long long steps_run(const TaskConfig *tc, const Schedule *s, const SamplerPlan *p)
{
    return p->N - task_level_at(s, p, tc->t0);
}

#define OFF(f) offsetof(TaskConfig, f)
static const OptSpec OPTS[] = {
    /* (0, 1] is an open interval the row's [min, max] cannot say: check() refuses the rest */
    {NULL, "t0", OPT_F64, OFF(t0), 0, NULL, "0.5", "T", "",
     "start time in (0,1] of the reverse SDE: the guide is noised to t0 (Meng et al. 2022: "
     "0.3..0.6)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const TaskDef task_sdedit_def = {
    .name = "sdedit",
    .cite = "Meng et al. 2022 (SDEdit), Alg. 1",
    .opts = OPTS,
    .needs = TASK_NEEDS_IMAGE,
    .check = check,
    .init = init,
    .steps_run = steps_run,
};
