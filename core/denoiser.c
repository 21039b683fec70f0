/* The denoiser: network + condition + classifier-free guidance + prediction conversion. */
#include "core/denoiser.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>

#include "core/common.h"
#include "core/diffusion.h"
#include "core/sampler.h"

void denoiser_init(Denoiser *d, DenoiseFn fn, void *ctx, const Schedule *s, size_t D,
                   int num_classes)
{
    memset(d, 0, sizeof *d);
    d->fn = fn;
    d->ctx = ctx;
    d->s = s;
    d->D = D;
    d->num_classes = num_classes;
}

void denoiser_free(Denoiser *d)
{
    free(d->buf);
    free(d->lab);
    free(d->out);
    free(d->geps);
    d->buf = d->out = d->geps = d->grad = NULL;
    d->lab = NULL;
    d->tc = NULL;
    d->cap = 0;
}

static void reserve(Denoiser *d, int B)
{
    if ((size_t)B <= d->cap) return;
    denoiser_free(d);
    size_t n2 = 2 * (size_t)B;
    d->buf = xalloc_floats(2 * n2 * d->D + n2);
    d->lab = xmalloc(sizeof(int) * n2);
    d->out = xalloc_floats((size_t)B * d->D + (size_t)B);
    d->tc = d->out + (size_t)B * d->D;
    d->geps = xalloc_floats(2 * (size_t)B * d->D);
    d->grad = d->geps + (size_t)B * d->D;
    d->cap = (size_t)B;
}

void denoiser_set_classifier(Denoiser *d, DenoiseGradFn fn, void *ctx, int classes)
{
    d->grad_fn = fn;
    d->grad_ctx = ctx;
    d->grad_classes = classes;
}

void denoiser_set_guide(Denoiser *d, const int *targets, double scale)
{
    DDM_ASSERT(!targets || scale == 0 || d->grad_fn,
               "classifier guidance (scale %g) without a classifier", scale);
    DDM_ASSERT(isfinite(scale), "classifier guidance: scale %g is not finite", scale);
    d->targets = scale != 0 ? targets : NULL;
    d->grad_scale = targets ? scale : 0;
}

void denoiser_begin(Denoiser *d, const uint64_t *seeds, const int *labels, double w, int B)
{
    DDM_ASSERT(w == 0 || (labels && d->num_classes > 0),
               "classifier-free guidance (w = %g) needs a class-conditional model and labels", w);
    reserve(d, B);
    d->labels = labels;
    d->guidance = w;
    d->B = B;
    d->keys = d->slot_keys ? d->slot_keys : seeds;
    for (int b = 0; d->targets && b < B; b++)
        DDM_ASSERT(d->targets[b] >= 0 && d->targets[b] < d->grad_classes,
                   "classifier guidance: target class %d outside [0, %d)", d->targets[b],
                   d->grad_classes);
    if (d->batch_fn) d->batch_fn(d->ctx, d->slot_keys ? d->slot_keys : seeds, B);
}

void denoiser_set_cond(Denoiser *d, const float *cond)
{
    DDM_ASSERT(!cond || d->cond_D > 0, "a condition image for a network that takes none");
    d->cond = cond;
    if (d->cond_fn) d->cond_fn(d->ctx, cond);
}

void denoiser_output(Denoiser *d, float *out, const float *x, const float *tcond)
{
    const int B = d->B;
    DDM_ASSERT(!d->cond_D || d->cond, "the model is conditioned on an image (SR3, "
               "model.cond_channels): a task must give it (superres)");
    const double w = d->guidance;
    if (w == 0) {
        d->fn(d->ctx, out, x, tcond, d->labels, B);
        d->calls++;
        d->nfe++;
        return;
    }
    size_t n = (size_t)B * d->D;
    const float *oc, *ou;
    if (d->batched_guidance) {
        float *xx = d->buf, *oo = d->buf + 2 * n, *tt = d->buf + 4 * n;
        memcpy(xx, x, n * sizeof(float));
        memcpy(xx + n, x, n * sizeof(float));
        memcpy(tt, tcond, (size_t)B * sizeof(float));
        memcpy(tt + B, tcond, (size_t)B * sizeof(float));
        for (int b = 0; b < B; b++) {
            d->lab[b] = d->labels[b];
            d->lab[B + b] = d->num_classes; /* the null label */
        }
        d->fn(d->ctx, oo, xx, tt, d->lab, 2 * B);
        d->calls++;
        oc = oo;
        ou = oo + n;
    } else {
        float *uo = d->buf;
        for (int b = 0; b < B; b++) d->lab[b] = d->num_classes;
        d->fn(d->ctx, out, x, tcond, d->labels, B);
        d->fn(d->ctx, uo, x, tcond, d->lab, B);
        d->calls += 2;
        oc = out;
        ou = uo;
    }
    /* Ho & Salimans 2022, eq. 6: (1+w) eps(x,c) - w eps(x) */
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = (float)((1.0 + w) * oc[i] - w * ou[i]);
    d->nfe += 2;
}

void denoiser_prior_grad(Denoiser *d, float *eps, float *grad, const float *x, double tcond,
                         const float *noise)
{
    DDM_ASSERT(d->vjp_fn, "plug-and-play priors need the network's gradient (core/netslots)");
    DDM_ASSERT(d->guidance == 0, "plug-and-play priors take no classifier-free guidance");
    DDM_ASSERT(!d->cond_D, "plug-and-play priors: not for a model with a condition image");
    for (int b = 0; b < d->B; b++) d->tc[b] = (float)tcond;
    d->vjp_fn(d->ctx, eps, grad, x, d->tc, d->labels, noise, d->B);
    d->calls++;
    d->nfe++;
}

void denoiser_eval(Denoiser *d, const float *x, double tcond, double a, double sg, float *eps,
                   float *x0, float *score)
{
    for (int b = 0; b < d->B; b++) d->tc[b] = (float)tcond;
    denoiser_output(d, d->out, x, d->tc);
    const size_t n = (size_t)d->B * d->D;
    if (d->targets && d->grad_scale != 0) {
        /* eps~ = eps - sg s grad log p(y | x_t): back into the network's output form, so
         * that every prediction type gets the same correction */
        diffusion_from_output(d->s, d->geps, NULL, NULL, d->out, x, a, sg, n);
        d->grad_fn(d->grad_ctx, d->grad, x, d->tc, d->targets, d->keys, d->B);
        d->grad_calls++;
        const double c = sg * d->grad_scale;
        for (size_t i = 0; i < n; i++) d->geps[i] = (float)(d->geps[i] - c * d->grad[i]);
        diffusion_to_output(d->s, d->out, d->geps, x, a, sg, n);
    }
    diffusion_from_output(d->s, eps, x0, score, d->out, x, a, sg, n);
}
