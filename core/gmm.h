/* An analytic "network" for tests: data from a Gaussian mixture with isotropic components,
 * whose noisy marginals are known in closed form, so the exact eps / x0 / v / score at any
 * noise level can stand in for a trained network (Tweedie: E[eps | x] = -sg grad log p(x)).
 *
 * Data: x0 ~ sum_k w_k N(mu_k, var_k I) in `dim` dimensions.
 * Noisy: x = a x0 + sg eps (sched.h) ~ sum_k w_k N(a mu_k, (a^2 var_k + sg^2) I):
 *   vp: a = sqrt(ab), sg = sqrt(1-ab): var ab var_k + (1-ab); ve: a = 1, sg = sigma:
 *   var var_k + sigma^2.
 * A sample of D values holds D/dim independent points of the mixture (D = dim: one point),
 * so moments can be gathered from many points per sample and per-sample norms (pc's
 * corrector) behave as in high dimension.
 */
#ifndef DDM_GMM_H
#define DDM_GMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/sched.h"

#define GMM_MAX_K 8
#define GMM_MAX_DIM 4

typedef struct {
    int K, dim;
    double w[GMM_MAX_K];                 /* weights, sum 1 */
    double mu[GMM_MAX_K][GMM_MAX_DIM];   /* means */
    double var[GMM_MAX_K];               /* isotropic variances s_k^2 */
} Gmm;

/* n points (n*dim floats), point i from the Philox stream (seed, i) */
void gmm_sample(const Gmm *g, float *x, size_t n, uint64_t seed);
/* exact mean (dim) and covariance (dim*dim) of the data */
void gmm_moments(const Gmm *g, double *mean, double *cov);
/* 1-D only: the data's CDF */
double gmm_cdf_1d(const Gmm *g, double x);
/* component with the largest responsibility for a clean point x (dim values) */
int gmm_component(const Gmm *g, const float *x);
/* Exact posterior at a noisy point x (dim values) of x = a x0 + sg eps, sg > 0:
 * eps_hat = E[eps | x] (dim), x0_hat = E[x0 | x] (dim), resp (K) responsibilities; each
 * may be NULL. Only component `only` when only >= 0 (the class-conditional density). */
void gmm_posterior(const Gmm *g, double a, double sg, const double *x, int only,
                   double *eps_hat, double *x0_hat, double *resp);

typedef struct {
    const Gmm *gmm;
    const Schedule *sched;  /* the process and prediction type to answer in */
    size_t D;               /* values per sample, a multiple of gmm->dim */
    int num_classes;        /* 0: unconditional; K: label c < K conditions on component c,
                               label K (the null label) is the whole mixture */
    long long points;       /* noisy points evaluated so far */
} GmmModel;

void gmm_model_init(GmmModel *gm, const Gmm *g, const Schedule *s, size_t D, int conditional);
/* A DenoiseFn (core/denoiser.h): out = exact raw output of s's prediction type at x, noise level
 * from tcond through sched_sigma (integer tcond: the discrete level's table values). */
void gmm_denoise(void *ctx, float *out, const float *x, const float *tcond, const int *labels,
                 int B);

#endif
