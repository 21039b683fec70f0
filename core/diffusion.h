/* The forward process and the training loss, for a network the caller runs itself.
 *
 * B = images in the (local) batch, D = values per image (C*H*W).
 *
 * One training step of the train job, per image b of global index g:
 *   k_b = diffusion_draw(s, seed, step, g, noise_b, D, u_b);     its level and noise
 *   diffusion_prepare(s, xt, tcond, target, weight, x0, k, noise, B, D);
 *   unet_forward(net, out, xt, tcond, labels, B, ...);
 *   loss = diffusion_loss(dout, NULL, out, target, weight, B, D, B_global);
 *   unet_backward(net, NULL, dout);
 *
 * What the network is trained to output (sched.h's prediction):
 *   vp eps: eps                    (Ho et al. 2020, eq. 14)
 *   vp x0:  x0
 *   vp v:   v = sqrt(ab) eps - sqrt(1-ab) x0   (Salimans & Ho 2022, sec. 4)
 *   ve:     sigma * score = -z, for x~ = x0 + sigma z (NCSN, Song & Ermon 2019 eq. 5-6 with
 *           lambda(sigma) = sigma^2: lambda l = 1/2 |sigma s + z|^2). Note the sign: a VE
 *           network predicts MINUS the noise. Our per-element loss is (out + z)^2, i.e.
 *           NCSN's 1/2|sigma s + z|^2 times 2/D: a constant factor only.
 * The network is conditioned on tcond = the level index k (a float; see sched.h), for both
 * processes: timestep 0..T-1 (vp) or level 0..L-1 counted from sigma_min (ve).
 */
#ifndef DDM_DIFFUSION_H
#define DDM_DIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#include "core/sched.h"

/* Randomness of one training image, a pure function of (seed, step, index): the Philox
 * stream with key mix(seed) (a fixed mix, so it never shares a stream with other users of
 * the same seed: weight init, permutations, dropout) and stream id step<<32 | index
 * (step, index < 2^32). Draw order: level k uniform in 0..n-1, then u[0], u[1] uniform in
 * (0,1) (the caller's: e.g. label drop for classifier-free guidance when u[0] < p_uncond,
 * horizontal flip when u[1] < 0.5), then D standard normals into noise.
 * Returns k. u may be NULL (the uniforms are drawn anyway, so noise does not change). */
int diffusion_draw(const Schedule *s, uint64_t seed, uint64_t step, uint64_t index,
                   float *noise, size_t D, float u[2]);

/* Network input and target for a batch (all outputs written):
 *   x0 (B,D) data, k (B) levels 0..n-1, noise (B,D) standard normal;
 *   xt (B,D) = a_k x0 + sg_k noise (vp: sqrt(ab) x0 + sqrt(1-ab) eps; ve: x0 + sigma z);
 *   tcond (B) = k; target (B,D) per the prediction above; weight (B) per-image loss weight:
 *   simple: 1. vlb (vp): vlb_weight[k] (DDPM eq. 12 lambda_t, normalised to mean 1) times
 *   the factor that turns an error in the predicted quantity into the eps error, so the
 *   loss is the same VLB term whatever the prediction: eps 1, x0 ab/(1-ab), v ab. */
void diffusion_prepare(const Schedule *s, float *xt, float *tcond, float *target,
                       float *weight, const float *x0, const int *k, const float *noise,
                       int B, size_t D);

/* loss = sum_b weight_b sum_d (out - target)^2 / (norm_images * D), i.e. the weighted mean
 * over elements of a global batch of norm_images images (pass the GLOBAL batch size: the
 * per-rank losses and gradients then simply sum across ranks; one rank: norm_images = B).
 * dout (B,D) = dloss/dout is written (not accumulated) when not NULL; per_image (B), when
 * not NULL, gets each image's weighted mean square error (sum_d w (out-target)^2 / D). */
double diffusion_loss(float *dout, double *per_image, const float *out, const float *target,
                      const float *weight, int B, size_t D, double norm_images);

/* Raw network output -> eps-hat, x0-hat, score (each may be NULL), n values, at a state
 * x = a*x0 + sg*eps (sched_marginal / sched_marginal_k give a, sg; ve: a = 1, sg = sigma):
 *   eps: eps = out, x0 = (x - sg eps)/a;   x0: x0 = out, eps = (x - a x0)/sg;
 *   v:   x0 = a x - sg v, eps = sg x + a v (Salimans & Ho 2022, needs a^2 + sg^2 = 1);
 *   ve:  eps = -out, x0 = x + sigma out;   score = -eps/sg always (Tweedie).
 * Outputs may alias out but not x. */
void diffusion_from_output(const Schedule *s, float *eps, float *x0, float *score,
                           const float *out, const float *x, double a, double sg, size_t n);
/* The x0-hat of diffusion_from_output for a vp model, in double from a double state x
 * (the variational bound, core/nll.h, keeps every term in double). */
void diffusion_x0_hat_d(const Schedule *s, double *x0, const float *out, const double *x,
                        double a, double sg, size_t n);
/* The inverse: the raw output of the configured prediction that corresponds to eps-hat at
 * state x (for analytic "networks" and tests). out may alias eps. */
void diffusion_to_output(const Schedule *s, float *out, const float *eps, const float *x,
                         double a, double sg, size_t n);

#endif
