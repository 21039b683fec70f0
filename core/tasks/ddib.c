/* ddib: Dual Diffusion Implicit Bridges (Su et al. 2022, "Dual Diffusion Implicit Bridges
 * for Image-to-Image Translation", sec. 3 and Alg. 1): translate an image from a source
 * domain to a target domain with two deterministic ODE runs. The encoder runs the source's
 * probability-flow ODE from the data up to the latent x_T (sampler_encode_run); the decoder
 * is the ordinary deterministic sampler run from level 0 under the target's condition.
 * Here the domains are classes of one class-conditional model: source = the option (or
 * each input's own label), target = the job's class (--class K, per seed or input).
 *
 * The run is deterministic: the seed enters only as the network slots' key, so the rows of
 * one input and different seeds are the same image. Guidance, when set, has the same w for
 * both halves. With source = target the output reconstructs the input up to the solvers'
 * error (which shrinks with the steps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/task.h"

static int init(void *ctx, const SampleRun *r, float *x)
{
    TaskState *st = ctx;
    Denoiser *den = r->den;
    const int nc = den->num_classes;
    DDM_ASSERT(nc > 0 && den->labels, "task ddib needs a class-conditional model and a target class");
    int *src = xmalloc(sizeof(int) * (size_t)r->B);
    for (int b = 0; b < r->B; b++) {
        src[b] = st->tc->source >= 0 ? st->tc->source : st->in.labels ? st->in.labels[b] : -1;
        DDM_ASSERT(src[b] >= 0 && src[b] < nc, "task ddib: source class %d of sample %d outside "
                   "0..%d", src[b], b, nc - 1);
    }
    memcpy(x, st->in.image, r->n * sizeof(float)); /* level N: the data */
    /* encode under the source labels (Alg. 1 line 1), decode under the target's: the
     * driver's batch keeps its seeds, guidance and scratch, only the labels change */
    const int *target = den->labels;
    den->labels = src;
    sampler_encode_run(r, x);
    den->labels = target;
    free(src);
    return 0;
}

static int check(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s, char *err,
                 size_t errlen)
{
    (void)tc;
    char e[448];
    if (sampler_check_encode(sc, s, e, sizeof e)) {
        snprintf(err, errlen, "task ddib: %s", e);
        return -1;
    }
    return 0;
}

static int inputs_check(const TaskConfig *tc, const TaskInputs *in, char *err, size_t errlen)
{
    if (tc->source < 0 && !in->labels) {
        snprintf(err, errlen, "task ddib: source = -1 encodes each input with its own label, "
                 "and the inputs have none: give the source class (--source K)");
        return -1;
    }
    return 0;
}

/* the encoder's N steps back, then the decoder's N */
static long long steps_run(const TaskConfig *tc, const Schedule *s, const SamplerPlan *p)
{
    (void)tc;
    (void)s;
    return 2LL * p->N;
}

#define OFF(f) offsetof(TaskConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "source", OPT_INT, OFF(source), 0, NULL, "-1", "K", "",
     "class the input is encoded with (-1 = the input's own label); the target is the job's "
     "class", -1, 2147483647.0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const TaskDef task_ddib_def = {
    .name = "ddib",
    .cite = "Su et al. 2022 (DDIB), Alg. 1",
    .opts = OPTS,
    .needs = TASK_NEEDS_IMAGE | TASK_NEEDS_CLASS,
    .check = check,
    .init = init,
    .inputs_check = inputs_check,
    .steps_run = steps_run,
};
