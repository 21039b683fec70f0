#include "core/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/diffusion.h"
#include "core/resize.h"
#include "core/rng.h"

/* the Philox key of the SR3 factor draws: seed ^ this tag ("sr3-degr") */
#define TRAINER_DEGRADE_TAG 0x7372332d64656772ull

static void alloc_buffers(Trainer *t)
{
    size_t BD = (size_t)t->B * t->D;
    t->xt = xalloc_floats(BD);
    t->target = xalloc_floats(BD);
    t->noise = xalloc_floats(BD);
    t->out = xalloc_floats(BD);
    t->dout = xalloc_floats(BD);
    t->tcond = xalloc_floats((size_t)t->B);
    t->weight = xalloc_floats((size_t)t->B);
    t->k = xcalloc((size_t)t->B, sizeof(int));
    t->lab = xcalloc((size_t)t->B, sizeof(int));
    t->per_image = xcalloc((size_t)t->B, sizeof(double));
}

/* the fields every task shares, then the buffers */
static void init_common(Trainer *t, int task, int num_classes, uint64_t seed, int B,
                        int64_t batch_global, int C, int S)
{
    t->task = task;
    t->num_classes = num_classes;
    t->seed = seed;
    t->B = B;
    t->batch_global = batch_global;
    t->C = C;
    t->S = S;
    t->D = (size_t)C * S * S;
    alloc_buffers(t);
}

void trainer_init_diffusion(Trainer *t, UNet *net, const Schedule *s, int num_classes,
                            double p_uncond, uint64_t seed, int B, int64_t batch_global,
                            int C, int S)
{
    memset(t, 0, sizeof *t);
    t->unet = net;
    t->sched = s;
    t->p_uncond = p_uncond;
    init_common(t, 0, num_classes, seed, B, batch_global, C, S);
}

void trainer_init_classifier(Trainer *t, Classifier *net, uint64_t seed, int B,
                             int64_t batch_global, int C, int S)
{
    memset(t, 0, sizeof *t);
    t->clf = net;
    init_common(t, 1, classifier_config(net)->num_classes, seed, B, batch_global, C, S);
}

void trainer_init_noisy_classifier(Trainer *t, UNet *net, const Schedule *s, uint64_t seed,
                                   int B, int64_t batch_global, int C, int S)
{
    const UNetConfig *c = unet_config(net);
    DDM_ASSERT(c->head == UNET_HEAD_POOL && c->out_ch >= 2 && c->out_ch <= C * S * S,
               "trainer_init_noisy_classifier: needs a pooled U-Net with 2..D logits");
    memset(t, 0, sizeof *t);
    t->unet = net;
    t->sched = s;
    init_common(t, 2, c->out_ch, seed, B, batch_global, C, S);
}

void trainer_free(Trainer *t)
{
    free(t->xt); free(t->target); free(t->noise); free(t->out); free(t->dout);
    free(t->tcond); free(t->weight); free(t->k); free(t->lab); free(t->per_image);
    free(t->xin); free(t->cond);
    memset(t, 0, sizeof *t);
}

void trainer_set_degrade(Trainer *t, const int *factors, int n)
{
    DDM_ASSERT(t->task == 0 && n >= 1 && n <= 8, "trainer_set_degrade: %d factors (1..8, "
               "diffusion only)", n);
    DDM_ASSERT(unet_config(t->unet)->cond_ch == t->C, "trainer_set_degrade: the U-Net takes %d "
               "condition channels, the images have %d", unet_config(t->unet)->cond_ch, t->C);
    for (int i = 0; i < n; i++) {
        DDM_ASSERT(factors[i] >= 1 && t->S % factors[i] == 0,
                   "trainer_set_degrade: factor %d does not divide the image size %d",
                   factors[i], t->S);
        t->degrade[i] = factors[i];
    }
    t->n_degrade = n;
    free(t->xin);
    free(t->cond);
    t->xin = xalloc_floats(2 * (size_t)t->B * t->D);
    t->cond = xalloc_floats((size_t)t->B * t->D);
}

/* The SR3 factor of the image at global position pos of step `step`. */
static int degrade_factor(const Trainer *t, int64_t step, int64_t pos)
{
    if (t->n_degrade == 1) return t->degrade[0];
    Rng r;
    rng_init(&r, t->seed ^ TRAINER_DEGRADE_TAG, (uint64_t)step << 32 | (uint64_t)pos);
    return t->degrade[rng_below(&r, (uint32_t)t->n_degrade)];
}

float *trainer_params(Trainer *t) { return t->task == 1 ? classifier_params(t->clf) : unet_params(t->unet); }
float *trainer_grads(Trainer *t) { return t->task == 1 ? classifier_grads(t->clf) : unet_grads(t->unet); }
size_t trainer_num_params(const Trainer *t)
{
    return t->task == 1 ? classifier_num_params(t->clf) : unet_num_params(t->unet);
}
int trainer_num_tensors(const Trainer *t)
{
    return t->task == 1 ? classifier_num_tensors(t->clf) : unet_num_tensors(t->unet);
}
const TensorInfo *trainer_tensors(const Trainer *t)
{
    return t->task == 1 ? classifier_tensor(t->clf, 0) : unet_tensor(t->unet, 0);
}

static void classifier_step(Trainer *t, TrainerStats *st, const float *x, const int32_t *labels)
{
    const int B = t->B, K = t->num_classes;
    DDM_ASSERT(labels, "the classifier task needs a dataset with labels");
    for (int b = 0; b < B; b++) {
        DDM_ASSERT(labels[b] >= 0 && labels[b] < K, "label %d outside [0,%d)", labels[b], K);
        t->lab[b] = labels[b];
    }
    float *logits = t->out; /* B*K <= B*D for any image */
    classifier_zero_grad(t->clf);
    classifier_forward(t->clf, logits, NULL, x, B);
    float loss = classifier_loss(t->dout, logits, t->lab, B, K);
    /* classifier_loss averages over the B local images; rescale to the global batch */
    const float scale = (float)B / (float)t->batch_global;
    for (size_t i = 0; i < (size_t)B * K; i++) t->dout[i] *= scale;
    classifier_backward(t->clf, NULL, t->dout);
    st->loss = loss * scale;
    for (int b = 0; b < B; b++) {
        int best = 0;
        for (int j = 1; j < K; j++)
            if (logits[(size_t)b * K + j] > logits[(size_t)b * K + best]) best = j;
        st->correct += best == t->lab[b];
    }
}

/* The noise-aware classifier: x_t ~ q(x_t | x_0) at a level drawn like diffusion
 * training's (the same draws: diffusion_draw), cross-entropy of p(y | x_t, t). The
 * quartile stats hold the correctly classified images by noise level. */
static void noisy_classifier_step(Trainer *t, TrainerStats *st, const float *x,
                                  const int32_t *labels, const int64_t *pos, int64_t step)
{
    const int B = t->B, K = t->num_classes, n = t->sched->n;
    const size_t D = t->D;
    DDM_ASSERT(labels, "the noisy-classifier task needs a dataset with labels");
    for (int b = 0; b < B; b++) {
        DDM_ASSERT(labels[b] >= 0 && labels[b] < K, "label %d outside [0,%d)", labels[b], K);
        t->lab[b] = labels[b];
        float u[2];
        t->k[b] = diffusion_draw(t->sched, t->seed, (uint64_t)step, (uint64_t)pos[b],
                                 t->noise + (size_t)b * D, D, u);
    }
    diffusion_prepare(t->sched, t->xt, t->tcond, t->target, t->weight, x, t->k, t->noise, B, D);
    float *logits = t->out; /* B*K <= B*D (checked at init) */
    unet_zero_grad(t->unet);
    unet_forward(t->unet, logits, t->xt, t->tcond, NULL, B, 1,
                 t->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(step + 1)));
    float loss = classifier_loss(t->dout, logits, t->lab, B, K);
    const float scale = (float)B / (float)t->batch_global; /* to the global batch's mean */
    for (size_t i = 0; i < (size_t)B * K; i++) t->dout[i] *= scale;
    unet_backward(t->unet, NULL, t->dout);
    st->loss = loss * scale;
    for (int b = 0; b < B; b++) {
        int best = 0;
        for (int j = 1; j < K; j++)
            if (logits[(size_t)b * K + j] > logits[(size_t)b * K + best]) best = j;
        int q = (int)((int64_t)t->k[b] * TRAINER_QUARTILES / n);
        if (q >= TRAINER_QUARTILES) q = TRAINER_QUARTILES - 1;
        st->correct += best == t->lab[b];
        st->q_sum[q] += best == t->lab[b];
        st->q_count[q] += 1;
    }
}

void trainer_grads_step(Trainer *t, TrainerStats *st, const float *x, const int32_t *labels,
                        const int64_t *pos, int64_t step)
{
    memset(st, 0, sizeof *st);
    if (t->task == 1) {
        classifier_step(t, st, x, labels);
        return;
    }
    if (t->task == 2) {
        noisy_classifier_step(t, st, x, labels, pos, step);
        return;
    }
    const int B = t->B;
    const size_t D = t->D;
    const int n = t->sched->n;
    for (int b = 0; b < B; b++) {
        float u[2];
        t->k[b] = diffusion_draw(t->sched, t->seed, (uint64_t)step, (uint64_t)pos[b],
                                 t->noise + (size_t)b * D, D, u);
        if (t->num_classes > 0) {
            int l = labels ? labels[b] : t->num_classes;
            if (l < 0 || l > t->num_classes) l = t->num_classes;
            t->lab[b] = u[0] < t->p_uncond ? t->num_classes : l; /* label dropout */
        }
    }
    diffusion_prepare(t->sched, t->xt, t->tcond, t->target, t->weight, x, t->k, t->noise, B, D);
    const float *xin = t->xt;
    if (t->n_degrade > 0) { /* SR3: the input is [x_t | degrade(x0)] per image */
        for (int b = 0; b < B; b++) {
            float *c = t->cond + (size_t)b * D, *xi = t->xin + 2 * (size_t)b * D;
            degrade_superres(c, x + (size_t)b * D, t->C, t->S, t->S,
                             degrade_factor(t, step, pos[b]));
            memcpy(xi, t->xt + (size_t)b * D, D * sizeof(float));
            memcpy(xi + D, c, D * sizeof(float));
        }
        xin = t->xin;
    }
    unet_zero_grad(t->unet);
    /* dropout draws keyed by (seed, step) and layer; with dropout > 0 the masks of a
     * step depend on how the batch is split (the only such case; dropout is 0 by default) */
    unet_forward(t->unet, t->out, xin, t->tcond, t->num_classes > 0 ? t->lab : NULL, B, 1,
                 t->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(step + 1)));
    st->loss = diffusion_loss(t->dout, t->per_image, t->out, t->target, t->weight, B, D,
                              (double)t->batch_global);
    unet_backward(t->unet, NULL, t->dout);
    for (int b = 0; b < B; b++) {
        int q = (int)((int64_t)t->k[b] * TRAINER_QUARTILES / n);
        if (q >= TRAINER_QUARTILES) q = TRAINER_QUARTILES - 1;
        st->q_sum[q] += t->per_image[b];
        st->q_count[q] += 1;
    }
}

double trainer_lr(double peak, int64_t step, int warmup)
{
    if (warmup <= 0) return peak;
    double f = (double)(step + 1) / warmup;
    return peak * (f < 1 ? f : 1);
}

void trainer_unet_denoise(void *ctx, float *out, const float *x, const float *tcond,
                          const int *labels, int B)
{
    const UNetDenoiser *d = ctx;
    UNet *net = d->net;
    const UNetConfig *c = unet_config(net);
    DDM_ASSERT(c->cond_ch == 0, "trainer_unet_denoise: the U-Net takes a condition image "
               "(cond_ch %d); use core/netslots with a task that sets it", c->cond_ch);
    size_t din = (size_t)c->in_ch * c->image_size * c->image_size;
    size_t dout = (size_t)c->out_ch * c->image_size * c->image_size;
    const int mb = d->max_batch;
    for (int b0 = 0; b0 < B; b0 += mb) {
        int nb = B - b0 < mb ? B - b0 : mb;
        unet_forward(net, out + (size_t)b0 * dout, x + (size_t)b0 * din, tcond + b0,
                     labels ? labels + b0 : NULL, nb, 0, 0);
    }
}

double trainer_checksum(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)((i % 7) + 1);
    return s;
}
