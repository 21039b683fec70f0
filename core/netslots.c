/* The network in fixed 8-image slots (see netslots.h). */
#include "core/netslots.h"

#include <string.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/common.h"
#include "core/layers.h"

void netslots_init(NetSlots *c, const UNetConfig *uc, const float *weights, int threads)
{
    memset(c, 0, sizeof *c);
    c->n_nets = threads;
    c->num_classes = uc->num_classes;
    c->D = (size_t)uc->in_ch * uc->image_size * uc->image_size;
    c->Dc = (size_t)uc->cond_ch * uc->image_size * uc->image_size;
    c->uc = *uc;
    c->nets = xcalloc((size_t)threads, sizeof *c->nets);
    for (int t = 0; t < threads; t++) {
        c->nets[t] = unet_init(uc, NETSLOTS_WIDTH, 0);
        memcpy(unet_params(c->nets[t]), weights, unet_num_params(c->nets[t]) * sizeof(float));
    }
    const size_t per = (size_t)threads * NETSLOTS_WIDTH;
    c->xs = xalloc_floats(per * (c->D + c->Dc));
    c->os = xalloc_floats(per * c->D);
    c->ts = xalloc_floats(per);
    c->ls = xcalloc(per, sizeof *c->ls);
    /* one thread per network call: OpenBLAS serial, nested OpenMP regions inactive */
    c->blas_saved = layers_blas_serial_begin();
#ifdef _OPENMP
    omp_set_max_active_levels(1);
#endif
}

void netslots_free(NetSlots *c)
{
    if (!c->nets) return;
    for (int t = 0; t < c->n_nets; t++) unet_free(c->nets[t]);
    for (int t = 0; c->vnets && t < c->n_nets; t++) unet_free(c->vnets[t]);
    free(c->nets);
    free(c->vnets);
    free(c->vdx);
    free(c->vdo);
    free(c->xs); free(c->os); free(c->ts); free(c->ls); free(c->plan);
    layers_blas_serial_end(c->blas_saved);
    memset(c, 0, sizeof *c);
}

static void between(NetSlots *c)
{
    if (c->between) c->between(c->between_ctx);
}

/* Thread t's slot inputs of call `call` of the plan: images (with their condition rows),
 * levels and labels; an empty slot is zero, with the first filled slot's level and the
 * null label (its values never reach the other slots). Returns the call's slot row. */
static const int *fill_slots(NetSlots *c, int t, int call, const float *x, const float *tcond,
                             const int *labels)
{
    const size_t D = c->D, Dx = c->D + c->Dc; /* an input row: the image, its condition */
    float *xs = c->xs + (size_t)t * NETSLOTS_WIDTH * Dx;
    float *ts = c->ts + (size_t)t * NETSLOTS_WIDTH;
    int *ls = c->ls + (size_t)t * NETSLOTS_WIDTH;
    const int *slot = c->plan + (size_t)call * NETSLOTS_WIDTH;
    float t_fill = 0;
    for (int r = 0; r < NETSLOTS_WIDTH; r++)
        if (slot[r] >= 0) {
            t_fill = tcond[slot[r]];
            break;
        }
    for (int r = 0; r < NETSLOTS_WIDTH; r++) {
        int b = slot[r];
        if (b >= 0) {
            memcpy(xs + (size_t)r * Dx, x + (size_t)b * D, D * sizeof(float));
            if (c->Dc) /* a guided call holds the batch twice: the row of sample b % n */
                memcpy(xs + (size_t)r * Dx + D, c->cond + (size_t)(b % c->n) * c->Dc,
                       c->Dc * sizeof(float));
            ts[r] = tcond[b];
            ls[r] = labels ? labels[b] : 0;
        } else {
            memset(xs + (size_t)r * Dx, 0, Dx * sizeof(float));
            ts[r] = t_fill;
            ls[r] = c->num_classes;
        }
    }
    return slot;
}

/* One network call of NETSLOTS_WIDTH images on thread t's net: call `call` of the plan. */
static void net_call(NetSlots *c, int t, int call, float *out, const float *x,
                     const float *tcond, const int *labels)
{
    const size_t D = c->D, Dx = c->D + c->Dc;
    const int *slot = fill_slots(c, t, call, x, tcond, labels);
    float *os = c->os + (size_t)t * NETSLOTS_WIDTH * D;
    unet_forward(c->nets[t], os, c->xs + (size_t)t * NETSLOTS_WIDTH * Dx,
                 c->ts + (size_t)t * NETSLOTS_WIDTH,
                 labels ? c->ls + (size_t)t * NETSLOTS_WIDTH : NULL, NETSLOTS_WIDTH, 0, 0);
    for (int r = 0; r < NETSLOTS_WIDTH; r++)
        if (slot[r] >= 0) memcpy(out + (size_t)slot[r] * D, os + (size_t)r * D, D * sizeof(float));
}

/* call `call` forward and backward on thread t's training net: out = net(x), grad =
 * -2 J^T (target - out) (the image part of the input) */
static void vjp_call(NetSlots *c, int t, int call, float *out, float *grad, const float *x,
                     const float *tcond, const int *labels, const float *target)
{
    const size_t D = c->D, Dx = c->D + c->Dc;
    const int *slot = fill_slots(c, t, call, x, tcond, labels);
    float *xs = c->xs + (size_t)t * NETSLOTS_WIDTH * Dx, *os = c->os + (size_t)t * NETSLOTS_WIDTH * D;
    float *ts = c->ts + (size_t)t * NETSLOTS_WIDTH;
    float *dx = c->vdx + (size_t)t * NETSLOTS_WIDTH * Dx, *dout = c->vdo + (size_t)t * NETSLOTS_WIDTH * D;
    int *ls = c->ls + (size_t)t * NETSLOTS_WIDTH;
    UNet *net = c->vnets[t];
    unet_forward(net, os, xs, ts, labels ? ls : NULL, NETSLOTS_WIDTH, 0, 0);
    for (int r = 0; r < NETSLOTS_WIDTH; r++) {
        const int b = slot[r];
        float *d = dout + (size_t)r * D;
        if (b < 0) {
            memset(d, 0, D * sizeof(float));
            continue;
        }
        const float *o = os + (size_t)r * D, *tg = target + (size_t)b * D;
        for (size_t i = 0; i < D; i++) d[i] = -2.0f * (tg[i] - o[i]);
    }
    memset(dx, 0, sizeof(float) * NETSLOTS_WIDTH * Dx);
    unet_zero_grad(net); /* the parameter gradients are a by-product */
    unet_backward(net, dx, dout);
    for (int r = 0; r < NETSLOTS_WIDTH; r++)
        if (slot[r] >= 0) {
            memcpy(out + (size_t)slot[r] * D, os + (size_t)r * D, D * sizeof(float));
            memcpy(grad + (size_t)slot[r] * D, dx + (size_t)r * Dx, D * sizeof(float));
        }
}

int netslots_plan(int **plan, const uint64_t *keys, int nkeys, int B)
{
    /* the k-th image of residue r goes to call k, slot r */
    int cnt[NETSLOTS_WIDTH] = {0}, ncalls = 0;
    for (int b = 0; b < B; b++) {
        int r = (int)(keys[b % nkeys] % NETSLOTS_WIDTH);
        if (++cnt[r] > ncalls) ncalls = cnt[r];
    }
    *plan = xrealloc(*plan, sizeof **plan * (size_t)(ncalls ? ncalls : 1) * NETSLOTS_WIDTH);
    for (int i = 0; i < ncalls * NETSLOTS_WIDTH; i++) (*plan)[i] = -1;
    memset(cnt, 0, sizeof cnt);
    for (int b = 0; b < B; b++) {
        int r = (int)(keys[b % nkeys] % NETSLOTS_WIDTH);
        (*plan)[(size_t)cnt[r]++ * NETSLOTS_WIDTH + r] = b;
    }
    return ncalls;
}

static void slots_batch(void *ctx, const uint64_t *seeds, int B)
{
    NetSlots *c = ctx;
    c->seeds = seeds;
    c->n = B;
}

static void slots_cond(void *ctx, const float *cond)
{
    NetSlots *c = ctx;
    c->cond = cond;
}

/* A DenoiseFn over the batch c->seeds */
static void slots_denoise(void *ctx, float *out, const float *x, const float *tcond,
                          const int *labels, int B)
{
    NetSlots *c = ctx;
    /* B = n, or a multiple (a guided evaluation in one call: the batch twice) */
    DDM_ASSERT(c->n > 0 && B % c->n == 0, "netslots: a call of %d images for a batch of %d",
               B, c->n);
    DDM_ASSERT(!c->Dc || c->cond, "netslots: the model takes a condition image; none was set");
    between(c);
    const int ncalls = netslots_plan(&c->plan, c->seeds, c->n, B);
    const int nt = c->n_nets < ncalls ? c->n_nets : ncalls;
    if (nt <= 1) {
        for (int k = 0; k < ncalls; k++) {
            net_call(c, 0, k, out, x, tcond, labels);
            between(c);
        }
    } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int k = 0; k < ncalls; k++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
            omp_set_num_threads(1); /* whatever the net asks inside runs on this thread */
#endif
            net_call(c, t, k, out, x, tcond, labels);
        }
    }
    between(c);
}


static void slots_vjp(void *ctx, float *out, float *grad, const float *x, const float *tcond,
                      const int *labels, const float *target, int B)
{
    NetSlots *c = ctx;
    DDM_ASSERT(c->n > 0 && B == c->n, "netslots: a gradient call of %d images for a batch of %d",
               B, c->n);
    if (!c->vnets) {
        c->vnets = xcalloc((size_t)c->n_nets, sizeof *c->vnets);
        for (int t = 0; t < c->n_nets; t++) {
            c->vnets[t] = unet_init(&c->uc, NETSLOTS_WIDTH, 1);
            memcpy(unet_params(c->vnets[t]), unet_params(c->nets[t]),
                   unet_num_params(c->nets[t]) * sizeof(float));
        }
        c->vdx = xalloc_floats((size_t)c->n_nets * NETSLOTS_WIDTH * (c->D + c->Dc));
        c->vdo = xalloc_floats((size_t)c->n_nets * NETSLOTS_WIDTH * c->D);
    }
    between(c);
    const int ncalls = netslots_plan(&c->plan, c->seeds, c->n, B);
    const int nt = c->n_nets < ncalls ? c->n_nets : ncalls;
    if (nt <= 1) {
        for (int k = 0; k < ncalls; k++) {
            vjp_call(c, 0, k, out, grad, x, tcond, labels, target);
            between(c);
        }
    } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int k = 0; k < ncalls; k++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
            omp_set_num_threads(1);
#endif
            vjp_call(c, t, k, out, grad, x, tcond, labels, target);
        }
    }
    between(c);
}

void netslots_denoiser(Denoiser *d, NetSlots *ns, const Schedule *s)
{
    denoiser_init(d, slots_denoise, ns, s, ns->D, ns->num_classes);
    d->vjp_fn = slots_vjp;
    d->batch_fn = slots_batch;
    if (ns->Dc) {
        d->cond_D = ns->Dc;
        d->cond_fn = slots_cond;
    }
}
