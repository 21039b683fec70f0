/* The noise-aware classifier of classifier guidance in fixed 8-image slots: a U-Net with
 * the pooled head (core/unet.h UNET_HEAD_POOL, K logits, trained by
 * `ddm train --task noisy-classifier`) giving grad_x log p(y | x_t, t) for the denoiser
 * (core/denoiser.h DenoiseGradFn).
 *
 * Like core/netslots.h, every call runs NETSLOTS_WIDTH images, the image of key k in slot
 * k % NETSLOTS_WIDTH (empty slots zero, their gradient zero), one call per thread on its
 * own single-threaded training-mode net (its backward gives d/dx): an image's gradient is
 * the same whatever its batch, rank or the thread count.
 *
 * log p(y | x, t) = logits_y - logsumexp(logits); its gradient with respect to the logits
 * is onehot(y) - softmax, carried back to x by the U-Net's backward.
 * B = images, D = C*S*S values per image, K = classes.
 */
#ifndef DDM_CLSGUIDE_H
#define DDM_CLSGUIDE_H

#include <stddef.h>
#include <stdint.h>

#include "core/classifier.h"
#include "core/unet.h"

typedef struct {
    UNet **nets;          /* one per thread, NETSLOTS_WIDTH wide, training mode */
    int n_nets;
    int K;                /* classes (the head's out_ch) */
    size_t D;
    int *plan;            /* call c, slot r -> image index, or -1 */
    float *xs, *ts, *dx;  /* per thread: NETSLOTS_WIDTH x (D, 1, D) */
    float *lg, *dl;       /* per thread: NETSLOTS_WIDTH x K logits and their gradient */
    double *logp;         /* when not NULL: log p(y | x, t) of each image of the last call */
    int blas_saved;
} ClsGuide;

/* threads nets with these weights (unet_num_params floats of a UNET_HEAD_POOL config) */
void clsguide_init(ClsGuide *g, const UNetConfig *uc, const float *weights, int threads);
void clsguide_free(ClsGuide *g);
/* A DenoiseGradFn: ctx is the ClsGuide. grad (B,D) = grad_x log p(targets_b | x_b, t_b). */
void clsguide_grad(void *ctx, float *grad, const float *x, const float *tcond,
                   const int *targets, const uint64_t *keys, int B);
/* The same, also giving log p(y | x, t) per image (logp (B), float64). */
void clsguide_grad_logp(ClsGuide *g, float *grad, double *logp, const float *x,
                        const float *tcond, const int *targets, const uint64_t *keys, int B);

/* The clean-image classifier (core/classifier.h, `ddm train --task classifier`, the
 * evaluation classifier) as the constraint log c(x, y) = log p(y | x) of plug-and-play
 * priors ("models trained on data without Gaussian noise"). One image per call on a
 * training net (its backward gives d/dx), so an image's gradient never depends on its
 * batch; images run in parallel over the threads. */
typedef struct {
    Classifier **nets;    /* one per thread, batch 1, training mode */
    int n_nets, K;
    size_t D;
    float *lg, *dl;       /* per thread: K */
    int blas_saved;
} ClsClean;

void clsclean_init(ClsClean *g, const ClassifierConfig *cc, const float *weights, int threads);
void clsclean_free(ClsClean *g);
/* A DenoiseGradFn (tcond and keys unused): grad (B,D) = grad_x log p(targets_b | x_b). */
void clsclean_grad(void *ctx, float *grad, const float *x, const float *tcond,
                   const int *targets, const uint64_t *keys, int B);

#endif
