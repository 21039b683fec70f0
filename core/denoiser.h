/* The denoiser: one object that turns (x, noise level, condition) into eps, x0 and score
 * for every prediction type and process. Samplers, sample tasks, training previews and
 * `ddm sample` all call the network through it.
 *
 * B = samples in the batch, D = values per sample (C*H*W).
 *
 * It owns:
 * - the network, as a DenoiseFn (a U-Net in fixed 8-image slots, core/netslots.h, or an
 *   analytic stand-in for tests, core/gmm.h);
 * - the condition of the batch being made: its seeds (the slots key on them), its labels
 *   (labels[b] in 0..num_classes-1, num_classes = the null label; NULL = unconditional)
 *   and, for a model trained with one (SR3, model.cond_channels), its condition image:
 *   cond (B, cond_D), concatenated to x as channels by the network (core/netslots.c);
 *   it is the same in both halves of a guided evaluation;
 * - classifier guidance (Dhariwal & Nichol 2021; the seed's formula): with a noise-aware
 *   classifier's gradient g = grad_x log p(y | x_t, t) and scale s,
 *       eps~ = eps - sg * s * g,   i.e. score~ = score + s * g,  x0~ = (x - sg eps~) / a,
 *   applied after classifier-free guidance (the two combine), in every sampler and process
 *   (denoiser_eval knows the marginal a, sg); its targets y are set per batch apart from
 *   the network's labels (an unconditional network can be guided toward a class);
 * - classifier-free guidance (Ho & Salimans 2022, eq. 6): eps~ = (1+w) eps(x,c) - w eps(x).
 *   It is applied to the raw outputs: every prediction type is affine in eps at fixed x
 *   with the same coefficients, and (1+w) - w = 1, so combining outputs is exactly
 *   combining eps (or x0, or v, or scores);
 * - the conversion of the raw output to eps, x0 and score at the state's marginal
 *   x = a x0 + sg eps (core/diffusion.h: diffusion_from_output).
 */
#ifndef DDM_DENOISER_H
#define DDM_DENOISER_H

#include <stddef.h>
#include <stdint.h>

#include "core/sched.h"

/* The network: out (B,D) = raw output of the configured prediction at x (B,D),
 * conditioned on tcond (B) (sched.h: the level index, fractional between levels) and
 * labels (B) in 0..num_classes (num_classes = the null label), or labels = NULL for an
 * unconditional model. */
typedef void (*DenoiseFn)(void *ctx, float *out, const float *x, const float *tcond,
                          const int *labels, int B);
/* Told the seeds of the batch before its network calls (the slots key on them); may be
 * NULL for networks whose output does not depend on them. */
typedef void (*DenoiseBatchFn)(void *ctx, const uint64_t *seeds, int B);
/* Told the condition image of the batch (B, cond_D) in seed order, or NULL, before the
 * network calls that use it; a call of kB images (guidance) uses row b % B for image b. */
typedef void (*DenoiseCondFn)(void *ctx, const float *cond);
/* The network's vector-Jacobian product for plug-and-play priors: out (B,D) = the raw
 * output at x (B,D), grad (B,D) = d/dx sum ||target - out||^2 = -2 J^T (target - out). */
typedef void (*DenoiseVjpFn)(void *ctx, float *out, float *grad, const float *x,
                             const float *tcond, const int *labels, const float *target, int B);
/* Classifier guidance's gradient: grad (B,D) = grad_x log p(y_b | x_b, tcond_b) for the
 * targets y (B) in 0..K-1, at x (B,D); keys (B) say which network slot each sample takes
 * (its seed or slot key, as the denoiser's network gets them). */
typedef void (*DenoiseGradFn)(void *ctx, float *grad, const float *x, const float *tcond,
                              const int *targets, const uint64_t *keys, int B);

typedef struct {
    DenoiseFn fn;
    DenoiseBatchFn batch_fn;
    DenoiseCondFn cond_fn; /* set with cond_D > 0 by a network that takes a condition image */
    DenoiseVjpFn vjp_fn;   /* NULL: the network gives no gradient (denoiser_prior_grad) */
    void *ctx;
    const Schedule *s;
    size_t D;
    int num_classes;      /* 0: unconditional (guidance not allowed) */
    size_t cond_D;        /* values of the condition image per sample (0: the network takes
                             none) */
    int batched_guidance; /* 1: a guided evaluation is one call of 2B (the network must take
                             batch 2B); 0: two calls of B. Fixed per model, not per batch. */
    /* the condition of the current batch (denoiser_begin) */
    const int *labels;
    const float *cond;    /* (B, cond_D) or NULL (denoiser_set_cond) */
    double guidance;      /* classifier-free w, 0 = off */
    int B;
    /* what the network slots key on instead of the seeds (NULL: the seeds), set by the
     * caller before a batch: any function of a sample's identity, e.g. seed + task input,
     * so that samples sharing a seed still spread over the slots */
    const uint64_t *slot_keys;
    /* classifier guidance (denoiser_set_classifier, denoiser_set_guide) */
    DenoiseGradFn grad_fn;
    void *grad_ctx;
    int grad_classes;     /* K of the classifier */
    const int *targets;   /* (B) the classes guided toward, or NULL: off */
    double grad_scale;    /* s; 0 = off */
    const uint64_t *keys; /* of the batch (slot_keys or seeds) */
    long long grad_calls; /* classifier gradients per sample so far */
    /* counters */
    long long nfe;        /* network evaluations per sample so far (guided: 2 per call) */
    long long calls;      /* calls of fn */
    /* scratch */
    float *buf;           /* guidance: 2 * 2B*D + 2B floats */
    int *lab;             /* 2B labels */
    float *out, *tc;      /* raw output (B*D), conditioning (B) */
    float *geps, *grad;   /* classifier guidance: eps and the gradient (B*D each) */
    size_t cap;           /* B the scratch holds */
} Denoiser;

void denoiser_init(Denoiser *d, DenoiseFn fn, void *ctx, const Schedule *s, size_t D,
                   int num_classes);
void denoiser_free(Denoiser *d);
/* The batch to be made next: B samples with these seeds, labels (NULL = unconditional)
 * and guidance weight w (w != 0 needs labels and num_classes > 0). seeds and labels must
 * stay valid until the batch is done. */
void denoiser_begin(Denoiser *d, const uint64_t *seeds, const int *labels, double w, int B);
/* The condition image of the batch (B, cond_D), in the order of its seeds, or NULL to
 * clear it; kept until changed (a task sets it before the batch and clears it after).
 * A network with cond_D > 0 refuses to run without one; one with cond_D = 0 refuses one. */
void denoiser_set_cond(Denoiser *d, const float *cond);
/* The noise-aware classifier of classifier guidance: its gradient function, context and
 * class count. It is applied to the batches given targets (denoiser_set_guide). */
void denoiser_set_classifier(Denoiser *d, DenoiseGradFn fn, void *ctx, int classes);
/* Classifier guidance for the next batches: targets (B, in 0..K-1; kept by pointer until
 * changed) and scale s; targets NULL or s = 0 turn it off. Set before denoiser_begin. */
void denoiser_set_guide(Denoiser *d, const int *targets, double scale);
/* Plug-and-play priors (Graikos et al. 2022, Algorithm 1, line 5): at x (B,D) with every
 * sample at level conditioning tcond, eps (B,D) = the network's raw output (an eps model:
 * the caller checks) and grad (B,D) = d/dx ||noise - eps(x)||^2 per sample, through the
 * whole network. No classifier-free guidance. Counts one NFE. */
void denoiser_prior_grad(Denoiser *d, float *eps, float *grad, const float *x, double tcond,
                         const float *noise);
/* out (B,D) = the (guided when w != 0) raw network output at x with conditioning tcond (B).
 * Classifier-free guidance only: classifier guidance needs the marginal (denoiser_eval). */
void denoiser_output(Denoiser *d, float *out, const float *x, const float *tcond);
/* The network at x (B,D), every sample at conditioning tcond and marginal (a, sg):
 * eps-hat, x0-hat and score (each may be NULL) into (B,D) buffers that do not alias x,
 * with classifier-free and classifier guidance applied. */
void denoiser_eval(Denoiser *d, const float *x, double tcond, double a, double sg, float *eps,
                   float *x0, float *score);

#endif
