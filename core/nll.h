/* The variational bound of a vp diffusion model on data, per image, in nats
 * (Ho et al. 2020, eq. 5; Nichol & Dhariwal 2021, sec. 2 and improved-diffusion's
 * calc_bpt; the seed lecture's L):
 *
 *   -log p(x0) <= L = L_T + sum_{t=2..T} L_{t-1} + L_0
 *   L_T     = KL(q(x_T|x0) || N(0,I))                        (no network)
 *   L_{t-1} = KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t)),  x_t ~ q(x_t|x0)
 *   L_0     = -log p(x0|x1)                                  (discretized decoder)
 *
 * Paper t = 1..T is the schedule's level k = t-1 (core/sched.h). The posterior
 * q(x_{t-1}|x_t,x0) = N(c0 x0 + ct x_t, beta~_t) (DDPM eq. 6-7: c0 = post_coef_x0,
 * ct = post_coef_xt); the model's mean is the same formula at the network's x0-hat
 * (core/diffusion.h, for every prediction type; for eps it is DDPM eq. 11), so the two
 * means differ by c0 (x0 - x0-hat), computed so (no cancellation). The reverse variance
 * sigma_t^2 is beta_t or beta~_t (DDPM sec. 3.2, the two fixed choices); per value
 *   KL = 1/2 [log(sigma^2/beta~) + beta~/sigma^2 - 1 + (c0 (x0 - x0-hat))^2 / sigma^2],
 * where with sigma^2 = beta the constant part is 1/2 (u - log1p(u)), u = beta~/beta - 1 =
 * -ab_{t-1} beta_t / (1 - ab_t), and with sigma^2 = beta~ it is 0.
 *   L_T per value = 1/2 [ab_T (x0^2 - 1) - log1p(-ab_T)].
 *   L_0: Ho et al. 2020 eq. 13: pixel bins of width 2/255 around x0 in [-1,1] (data
 * x0 = u8/127.5 - 1), the edge bins open to -inf / +inf, under N(x0-hat, s^2) from the
 * network at x_1. As in Ho et al.'s and improved-diffusion's code, s^2 = beta~_2 for both
 * variance choices (beta~_1 = 0; their "posterior_log_variance_clipped"). The bin
 * probability Phi(b) - Phi(a) is taken in logs from the upper tail of the side the bin's
 * centre is on: log(Q(a) - Q(b)) = log Q(a) + log(-expm1(log Q(b) - log Q(a))), with
 * log Q(z) = log(erfc(z/sqrt 2)/2) from libm (log1p(-Q(-z)) for z < -1) and, for z >= 30,
 * the asymptotic series of the Mills ratio (Abramowitz & Stegun 26.2.12, 7 terms; error
 * < 3e-16): accurate far into the tails, where improved-diffusion's tanh approximation of
 * Phi and a plain difference of CDFs lose every digit.
 *
 * Optionally x0-hat is clipped to [-1, 1] first (improved-diffusion's clip_denoised): still
 * a bound, of a slightly different model.
 *
 * A subset of the steps (NllPlan): t = 1 always (L_0, exact), and K-1 steps each standing
 * for a stretch of consecutive KL terms (the middle one, weighted by the stretch length):
 * an estimate of the sum; K = T is every term once, the exact bound.
 *
 * The noise of image i at step t is its own Philox stream keyed (seed, t << 32 | i), so an
 * image's terms depend on nothing but its data, the model, the seed and the plan.
 * D = values per image (C*H*W). No MPI, no HDF5.
 */
#ifndef DDM_NLL_H
#define DDM_NLL_H

#include <stddef.h>
#include <stdint.h>

#include "core/sched.h"

/* The per-image terms, nats summed over the image's values. */
enum { NLL_PRIOR = 0, NLL_KL_BETA = 1, NLL_KL_TILDE = 2, NLL_DECODER = 3, NLL_NTERMS = 4 };

typedef struct {
    int T;          /* the model's timesteps */
    int n;          /* steps evaluated: network evaluations per image */
    int *t;         /* paper t in 1..T, ascending; t[0] = 1, the decoder */
    double *weight; /* terms each step stands for: 1 for t = 1, its stretch's length else */
} NllPlan;

/* K steps of T (2 <= K <= T; K = T: every step). 0, or -1 with a message in err. */
int nll_plan_init(NllPlan *p, int T, int K, char *err, size_t errlen);
void nll_plan_free(NllPlan *p);

/* The standard normal noise of image `index` (< 2^32) at step t (D values). */
void nll_noise(float *noise, uint64_t seed, uint64_t index, int t, size_t D);
/* The network's input x_t = sqrt(ab_t) x0 + sqrt(1-ab_t) noise, computed in double and
 * rounded once (the same x_t nll_step uses in double). */
void nll_input(const Schedule *s, int t, float *xin, const double *x0, const float *noise,
               size_t D);
/* L_T of one image (nats). */
double nll_prior(const Schedule *s, const double *x0, size_t D);
/* Adds the step-t terms of one image, times weight, to terms: t = 1 the decoder L_0, else
 * both KL terms. out = the network's raw output at nll_input(t) with tcond = t-1;
 * scratch holds 2*D doubles. */
void nll_step(const Schedule *s, int t, double weight, int clip, const double *x0,
              const float *noise, const float *out, double *scratch, size_t D,
              double terms[NLL_NTERMS]);

/* log Q(z) = log P(N(0,1) > z), accurate in both tails. */
double nll_log_normal_sf(double z);
/* log of the discretized Gaussian's probability of the pixel value x (a multiple of 2/255
 * in [-1,1] minus 1) under N(mean, exp(log_sd)^2). */
double nll_log_bin_prob(double x, double mean, double log_sd);
/* KL(q || p) of one value, q = N(mq, vq), p = N(mp, vp) (the general closed form, for tests). */
double nll_kl_normal(double mq, double vq, double mp, double vp);

/* nats summed over D values -> bits per dimension */
double nll_bits_per_dim(double nats, size_t D);

#endif
