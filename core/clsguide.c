/* The noise-aware classifier's gradient in fixed 8-image slots (see clsguide.h). */
#include "core/clsguide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/common.h"
#include "core/layers.h"
#include "core/netslots.h"

#define W NETSLOTS_WIDTH

void clsguide_init(ClsGuide *g, const UNetConfig *uc, const float *weights, int threads)
{
    DDM_ASSERT(uc->head == UNET_HEAD_POOL && uc->out_ch >= 2 && uc->cond_ch == 0,
               "clsguide: needs a pooled U-Net (a noise-aware classifier) with >= 2 classes");
    memset(g, 0, sizeof *g);
    g->n_nets = threads > 0 ? threads : 1;
    g->K = uc->out_ch;
    g->D = (size_t)uc->in_ch * uc->image_size * uc->image_size;
    g->nets = xcalloc((size_t)g->n_nets, sizeof *g->nets);
    for (int t = 0; t < g->n_nets; t++) {
        g->nets[t] = unet_init(uc, W, 1);
        memcpy(unet_params(g->nets[t]), weights, unet_num_params(g->nets[t]) * sizeof(float));
    }
    const size_t per = (size_t)g->n_nets * W;
    g->xs = xalloc_floats(per * g->D);
    g->dx = xalloc_floats(per * g->D);
    g->ts = xalloc_floats(per);
    g->lg = xalloc_floats(per * (size_t)g->K);
    g->dl = xalloc_floats(per * (size_t)g->K);
    g->blas_saved = layers_blas_serial_begin();
}

void clsguide_free(ClsGuide *g)
{
    if (!g->nets) return;
    for (int t = 0; t < g->n_nets; t++) unet_free(g->nets[t]);
    free(g->nets);
    free(g->xs); free(g->dx); free(g->ts); free(g->lg); free(g->dl); free(g->plan);
    layers_blas_serial_end(g->blas_saved);
    memset(g, 0, sizeof *g);
}

/* log p(y) = log softmax(l)_y of logits l (K), and its gradient d log p / d l =
 * onehot(y) - softmax(l) into d (K), in float64 */
static double logp_grad(float *d, const float *l, int K, int y)
{
    double mx = l[0], sum = 0;
    for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
    for (int k = 0; k < K; k++) sum += exp((double)l[k] - mx);
    const double lse = mx + log(sum);
    for (int k = 0; k < K; k++) d[k] = (float)((k == y) - exp((double)l[k] - lse));
    return (double)l[y] - lse;
}

/* Call `call` of the plan on thread t's net. */
static void cls_call(ClsGuide *g, int t, int call, float *grad, double *logp, const float *x,
                     const float *tcond, const int *targets)
{
    const size_t D = g->D;
    const int K = g->K;
    float *xs = g->xs + (size_t)t * W * D, *dx = g->dx + (size_t)t * W * D;
    float *ts = g->ts + (size_t)t * W;
    float *lg = g->lg + (size_t)t * W * K, *dl = g->dl + (size_t)t * W * K;
    const int *slot = g->plan + (size_t)call * W;
    float t_fill = 0;
    for (int r = 0; r < W; r++)
        if (slot[r] >= 0) {
            t_fill = tcond[slot[r]];
            break;
        }
    for (int r = 0; r < W; r++) {
        const int b = slot[r];
        if (b >= 0) {
            memcpy(xs + (size_t)r * D, x + (size_t)b * D, D * sizeof(float));
            ts[r] = tcond[b];
        } else { /* an empty slot: zero, its gradient zero */
            memset(xs + (size_t)r * D, 0, D * sizeof(float));
            ts[r] = t_fill;
        }
    }
    UNet *net = g->nets[t];
    unet_forward(net, lg, xs, ts, NULL, W, 0, 0);
    for (int r = 0; r < W; r++) {
        const int b = slot[r];
        float *l = lg + (size_t)r * K, *d = dl + (size_t)r * K;
        if (b < 0) {
            memset(d, 0, sizeof(float) * (size_t)K);
            continue;
        }
        const double lp = logp_grad(d, l, K, targets[b]);
        if (logp) logp[b] = lp;
    }
    memset(dx, 0, sizeof(float) * W * D);
    unet_zero_grad(net); /* the parameter gradients are a by-product, not kept */
    unet_backward(net, dx, dl);
    for (int r = 0; r < W; r++)
        if (slot[r] >= 0) memcpy(grad + (size_t)slot[r] * D, dx + (size_t)r * D, D * sizeof(float));
}

void clsguide_grad_logp(ClsGuide *g, float *grad, double *logp, const float *x,
                        const float *tcond, const int *targets, const uint64_t *keys, int B)
{
    for (int b = 0; b < B; b++)
        DDM_ASSERT(targets[b] >= 0 && targets[b] < g->K,
                   "classifier guidance: target class %d outside [0, %d)", targets[b], g->K);
    const int ncalls = netslots_plan(&g->plan, keys, B, B);
    const int nt = g->n_nets < ncalls ? g->n_nets : ncalls;
    if (nt <= 1) {
        for (int k = 0; k < ncalls; k++) cls_call(g, 0, k, grad, logp, x, tcond, targets);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int k = 0; k < ncalls; k++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
        omp_set_num_threads(1);
#endif
        cls_call(g, t, k, grad, logp, x, tcond, targets);
    }
}

void clsguide_grad(void *ctx, float *grad, const float *x, const float *tcond,
                   const int *targets, const uint64_t *keys, int B)
{
    clsguide_grad_logp(ctx, grad, NULL, x, tcond, targets, keys, B);
}

/* ---- the clean classifier */

void clsclean_init(ClsClean *g, const ClassifierConfig *cc, const float *weights, int threads)
{
    memset(g, 0, sizeof *g);
    g->n_nets = threads > 0 ? threads : 1;
    g->K = cc->num_classes;
    g->D = (size_t)cc->in_ch * cc->image_size * cc->image_size;
    g->nets = xcalloc((size_t)g->n_nets, sizeof *g->nets);
    for (int t = 0; t < g->n_nets; t++) {
        g->nets[t] = classifier_init(cc, 1, 1);
        memcpy(classifier_params(g->nets[t]), weights,
               classifier_num_params(g->nets[t]) * sizeof(float));
    }
    g->lg = xalloc_floats((size_t)g->n_nets * g->K);
    g->dl = xalloc_floats((size_t)g->n_nets * g->K);
    g->blas_saved = layers_blas_serial_begin();
}

void clsclean_free(ClsClean *g)
{
    if (!g->nets) return;
    for (int t = 0; t < g->n_nets; t++) classifier_free(g->nets[t]);
    free(g->nets);
    free(g->lg);
    free(g->dl);
    layers_blas_serial_end(g->blas_saved);
    memset(g, 0, sizeof *g);
}

static void clean_one(ClsClean *g, int t, float *grad, const float *x, int y)
{
    const int K = g->K;
    float *l = g->lg + (size_t)t * K, *d = g->dl + (size_t)t * K;
    Classifier *net = g->nets[t];
    classifier_forward(net, l, NULL, x, 1);
    logp_grad(d, l, K, y);
    memset(grad, 0, g->D * sizeof(float));
    classifier_zero_grad(net);
    classifier_backward(net, grad, d);
}

void clsclean_grad(void *ctx, float *grad, const float *x, const float *tcond,
                   const int *targets, const uint64_t *keys, int B)
{
    (void)tcond;
    (void)keys;
    ClsClean *g = ctx;
    for (int b = 0; b < B; b++)
        DDM_ASSERT(targets[b] >= 0 && targets[b] < g->K,
                   "plug-and-play prior: target class %d outside [0, %d)", targets[b], g->K);
    const int nt = g->n_nets < B ? g->n_nets : B;
    if (nt <= 1) {
        for (int b = 0; b < B; b++)
            clean_one(g, 0, grad + (size_t)b * g->D, x + (size_t)b * g->D, targets[b]);
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int b = 0; b < B; b++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
        omp_set_num_threads(1);
#endif
        clean_one(g, t, grad + (size_t)b * g->D, x + (size_t)b * g->D, targets[b]);
    }
}
