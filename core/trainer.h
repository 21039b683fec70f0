/* One training step's local gradient, for the diffusion U-Net (task diffusion) or the
 * evaluation classifier (task classifier). The train job reads the batch, calls
 * trainer_grads, sums the gradient block over ranks, and steps the optimizer.
 *
 * Every random draw of an image (timestep/level, noise, label drop for classifier-free
 * guidance) is keyed by (seed, step, global position of the image), never by rank, so 1
 * rank and P ranks at the same global batch compute the same global gradient. Losses and
 * gradients are normalised by the GLOBAL batch: the per-rank values simply add up.
 *
 * B = this rank's batch, D = C*H*W values per image.
 */
#ifndef DDM_TRAINER_H
#define DDM_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "core/classifier.h"
#include "core/sched.h"
#include "core/tensor.h"
#include "core/unet.h"

#define TRAINER_QUARTILES 4

typedef struct {
    int task;                 /* 0 diffusion, 1 classifier, 2 noisy classifier */
    UNet *unet;               /* task diffusion; the pooled encoder of task 2 */
    Classifier *clf;          /* task classifier */
    const Schedule *sched;    /* task diffusion */
    int num_classes;          /* label table rows - 1 (0: unconditional) */
    double p_uncond;          /* label drop probability (classifier-free guidance) */
    uint64_t seed;
    int B;                    /* local batch */
    int64_t batch_global;
    int C, S;                 /* channels, image size */
    size_t D;
    float *xt, *tcond, *target, *weight, *noise, *out, *dout;
    int *k, *lab;
    /* SR3 (trainer_set_degrade): the factors, and the network input [x_t | degraded x0] */
    int n_degrade;
    int degrade[8];
    float *xin, *cond;      /* (B, 2D), (B, D) */
    double *per_image;
} Trainer;

typedef struct {
    double loss;                       /* this rank's share of the global mean loss */
    double q_sum[TRAINER_QUARTILES];   /* per-image losses by noise-level quartile */
    double q_count[TRAINER_QUARTILES];
    double correct;                    /* classifiers: correctly classified images (the noisy
                                          classifier's q_sum: by noise-level quartile) */
} TrainerStats;

void trainer_init_diffusion(Trainer *t, UNet *net, const Schedule *s, int num_classes,
                            double p_uncond, uint64_t seed, int B, int64_t batch_global,
                            int C, int S);
void trainer_init_classifier(Trainer *t, Classifier *net, uint64_t seed, int B,
                             int64_t batch_global, int C, int S);
/* The noise-aware classifier p(y | x_t, t) of classifier guidance: net is a U-Net with
 * the pooled head (UNET_HEAD_POOL, out_ch = K logits), s the schedule that noises its
 * inputs (levels and noise drawn as in diffusion training). */
void trainer_init_noisy_classifier(Trainer *t, UNet *net, const Schedule *s, uint64_t seed,
                                   int B, int64_t batch_global, int C, int S);
void trainer_free(Trainer *t);
/* SR3 (Saharia et al. 2021): condition the U-Net (built with cond_ch = C) on the image
 * degraded by one of n factors (core/resize.h: degrade_superres), concatenated to x_t as
 * channels. Each image draws its factor from its own Philox stream keyed by (seed, step,
 * global position), like its noise: the run stays independent of the rank count. */
void trainer_set_degrade(Trainer *t, const int *factors, int n);

float *trainer_params(Trainer *t);
float *trainer_grads(Trainer *t);
size_t trainer_num_params(const Trainer *t);
int trainer_num_tensors(const Trainer *t);
const TensorInfo *trainer_tensors(const Trainer *t); /* contiguous table */

/* Zero the gradients, then forward + backward of this rank's B images of global `step`:
 * x (B,C,S,S) in [-1,1], labels (B) (may be NULL: unconditional), pos (B) global
 * positions. Stats are this rank's contributions (sum them over ranks). */
void trainer_grads_step(Trainer *t, TrainerStats *st, const float *x, const int32_t *labels,
                        const int64_t *pos, int64_t step);

/* Linear warm-up: peak * min(1, (step+1)/warmup) (warmup <= 0: peak). */
double trainer_lr(double peak, int64_t step, int warmup);

/* A DenoiseFn (core/denoiser.h) over a U-Net: ctx is a UNetDenoiser; batches larger
 * than max_batch (what the net was built for) are run in pieces. */
typedef struct {
    UNet *net;
    int max_batch;
} UNetDenoiser;
void trainer_unet_denoise(void *ctx, float *out, const float *x, const float *tcond,
                          const int *labels, int B);

/* Checksum of a float block (for the debug check that all ranks hold the same weights). */
double trainer_checksum(const float *x, size_t n);

#endif
