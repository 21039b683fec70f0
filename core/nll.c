/* The variational bound per image (see nll.h for the formulas and their sources). */
#include "core/nll.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/common.h"
#include "core/diffusion.h"
#include "core/rng.h"

#define NLL_KEY_TAG 0x6e6c6c2d6e6f6973ull /* "nll-nois": the bound's draws get their own key */
#define NLL_HALF_BIN (1.0 / 255.0)         /* half the width of a pixel bin on [-1,1] */
#define NLL_EDGE 0.999                     /* |x| beyond: the open edge bins (x = -1, 1) */
#define NLL_TAIL_Z 30.0                    /* log Q by the asymptotic series from here */
#define NLL_LOG_SQRT_2PI 0.91893853320467274178
#define NLL_SQRT2 1.41421356237309504880
#define NLL_LN2 0.69314718055994530942

int nll_plan_init(NllPlan *p, int T, int K, char *err, size_t errlen)
{
    p->T = T;
    p->n = 0;
    p->t = NULL;
    p->weight = NULL;
    if (T < 2 || K < 2 || K > T) {
        ddm_set_err(err, errlen, "want 2..%d (T = %d): step t = 1 gives the decoder term L_0, the other "
                    "steps the KL terms", T, T);
        return -1;
    }
    p->n = K;
    p->t = xmalloc(sizeof(int) * (size_t)K);
    p->weight = xmalloc(sizeof(double) * (size_t)K);
    p->t[0] = 1;
    p->weight[0] = 1;
    /* the T-1 KL terms t = 2..T cut into m = K-1 stretches as equal as integers allow */
    const int64_t m = K - 1, nkl = T - 1;
    for (int64_t j = 0; j < m; j++) {
        const int64_t lo = 2 + j * nkl / m, hi = 1 + (j + 1) * nkl / m;
        p->t[j + 1] = (int)((lo + hi) / 2);
        p->weight[j + 1] = (double)(hi - lo + 1);
    }
    return 0;
}

void nll_plan_free(NllPlan *p)
{
    free(p->t);
    free(p->weight);
    p->t = NULL;
    p->weight = NULL;
    p->n = 0;
}

void nll_noise(float *noise, uint64_t seed, uint64_t index, int t, size_t D)
{
    DDM_ASSERT(index < (1ull << 32) && t >= 1, "nll_noise: image %llu, step %d",
               (unsigned long long)index, t);
    Rng r;
    rng_init(&r, rng_mix64(seed ^ NLL_KEY_TAG), (uint64_t)t << 32 | index);
    rng_fill_normal(&r, noise, D);
}

void nll_input(const Schedule *s, int t, float *xin, const double *x0, const float *noise,
               size_t D)
{
    double a, sg;
    sched_marginal_k(s, t - 1, &a, &sg);
    for (size_t d = 0; d < D; d++) xin[d] = (float)(a * x0[d] + sg * noise[d]); /* DDPM eq. 4 */
}

double nll_prior(const Schedule *s, const double *x0, size_t D)
{
    const double ab = s->alpha_bar[s->n - 1], c = -log1p(-ab);
    double sum = 0;
    for (size_t d = 0; d < D; d++) sum += 0.5 * (ab * (x0[d] * x0[d] - 1.0) + c);
    return sum;
}

/* u - log1p(u), u > -1, without cancellation near 0 */
static double u_minus_log1p(double u)
{
    if (fabs(u) < 1e-3) /* u^2/2 - u^3/3 + ...; the next term is below 1e-15 of the sum */
        return u * u * (0.5 + u * (-1.0 / 3 + u * (0.25 + u * (-0.2 + u / 6))));
    return u - log1p(u);
}

void nll_step(const Schedule *s, int t, double weight, int clip, const double *x0,
              const float *noise, const float *out, double *scratch, size_t D,
              double terms[NLL_NTERMS])
{
    DDM_ASSERT(s->cfg.process == PROC_VP && t >= 1 && t <= s->n, "nll_step: step %d of a %s model",
               t, sched_process_name(s->cfg.process));
    const int k = t - 1;
    double a, sg;
    sched_marginal_k(s, k, &a, &sg);
    double *xt = scratch, *x0h = scratch + D;
    for (size_t d = 0; d < D; d++) xt[d] = a * x0[d] + sg * noise[d];
    diffusion_x0_hat_d(s, x0h, out, xt, a, sg, D);
    if (clip)
        for (size_t d = 0; d < D; d++) x0h[d] = x0h[d] < -1.0 ? -1.0 : x0h[d] > 1.0 ? 1.0 : x0h[d];
    if (t == 1) { /* L_0: the mean at t = 1 is x0-hat (c0 = 1, ct = 0); variance beta~_2 */
        const double log_sd = 0.5 * log(s->beta_tilde[1]);
        double lp = 0;
        for (size_t d = 0; d < D; d++) lp += nll_log_bin_prob(x0[d], x0h[d], log_sd);
        terms[NLL_DECODER] -= weight * lp;
        return;
    }
    const double c0 = s->post_coef_x0[k];
    double sq = 0;
    for (size_t d = 0; d < D; d++) {
        const double diff = c0 * (x0[d] - x0h[d]); /* posterior mean - model mean */
        sq += diff * diff;
    }
    const double u = -s->alpha_bar_prev[k] * s->beta[k] / (1.0 - s->alpha_bar[k]);
    terms[NLL_KL_TILDE] += weight * 0.5 * sq / s->beta_tilde[k];
    terms[NLL_KL_BETA] += weight * 0.5 * ((double)D * u_minus_log1p(u) + sq / s->beta[k]);
}

double nll_log_normal_sf(double z)
{
    if (z < -1.0) return log1p(-0.5 * erfc(-z / NLL_SQRT2));
    if (z < NLL_TAIL_Z) return log(0.5 * erfc(z / NLL_SQRT2));
    /* Q(z) = phi(z)/z (1 - 1/z^2 + 3/z^4 - 15/z^6 + 105/z^8 - 945/z^10 + 10395/z^12 ...),
     * A&S 26.2.12; at z >= 30 the first omitted term, 135135/z^14, is below 3e-16 */
    const double w = 1.0 / (z * z);
    const double series =
        1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + w * (105.0 + w * (-945.0 + w * 10395.0)))));
    return -0.5 * z * z - log(z) - NLL_LOG_SQRT_2PI + log(series);
}

/* log(Q(lo) - Q(hi)) for lo < hi */
static double log_sf_diff(double lo, double hi)
{
    const double a = nll_log_normal_sf(lo), b = nll_log_normal_sf(hi);
    return a + log(-expm1(b - a));
}

double nll_log_bin_prob(double x, double mean, double log_sd)
{
    const double inv = exp(-log_sd), c = x - mean;
    const double plus = inv * (c + NLL_HALF_BIN), minus = inv * (c - NLL_HALF_BIN);
    if (x < -NLL_EDGE) return nll_log_normal_sf(-plus);  /* log Phi(plus) */
    if (x > NLL_EDGE) return nll_log_normal_sf(minus);   /* log (1 - Phi(minus)) */
    /* Phi(plus) - Phi(minus) from the tail on the bin's side of the mean */
    if (c >= 0) return log_sf_diff(minus, plus);
    return log_sf_diff(-plus, -minus);
}

double nll_kl_normal(double mq, double vq, double mp, double vp)
{
    const double dm = mq - mp;
    return 0.5 * (log(vp / vq) + (vq + dm * dm) / vp - 1.0);
}

double nll_bits_per_dim(double nats, size_t D)
{
    return nats / ((double)D * NLL_LN2);
}
