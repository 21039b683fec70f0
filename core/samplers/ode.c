/* ode: the probability-flow ODE dxbar/dsigma = (xbar - D(xbar; sigma)) / sigma solved by
 * Heun's 2nd-order method (Karras et al. 2022, Alg. 1 with S_churn = 0) on Karras sigmas
 * (eq. 5, rho) from sigma_max (capped by the setting) to the schedule's sigma_min, then 0,
 * in the VE-equivalent variable xbar = x / s(sigma) (vp: sigma = sqrt((1-ab)/ab),
 * s = sqrt(ab)). */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/sampler.h"

void sampler_karras_denoise(SampleRun *r, float *den, const float *xbar, double sigma)
{
    double a, sg;
    sched_marginal(r->s, sigma, &a, &sg);
    for (size_t j = 0; j < r->n; j++) r->tmp[j] = (float)(a * xbar[j]);
    denoiser_eval(r->den, r->tmp, sched_tcond(r->s, sigma), a, sg, NULL, den, NULL);
}

int sampler_check_karras(const SamplerConfig *sc, const Schedule *s, int N, char *err,
                         size_t errlen)
{
    (void)N;
    if (!(sc->rho > 0)) {
        snprintf(err, errlen, "sampler %s: rho must be > 0, got %g", sampler_name(sc), sc->rho);
        return -1;
    }
    if (!(sc->sigma_max == 0 || sc->sigma_max > sched_sigma_min(s))) {
        snprintf(err, errlen, "sampler %s: sigma_max must be 0 (the schedule's) or > the "
                 "schedule's sigma_min %g, got %g", sampler_name(sc), sched_sigma_min(s),
                 sc->sigma_max);
        return -1;
    }
    return 0;
}

/* Karras et al. 2022, Alg. 1 lines 4-8: an Euler step to s1, corrected by the slope there
 * (2nd order) unless s1 = 0. x (n), den = D(x; s0) given; d, x1 scratch. */
void sampler_heun_update(SampleRun *r, float *x, const float *den, float *d, float *x1,
                         double s0, double s1)
{
    const double h = s1 - s0;
    for (size_t j = 0; j < r->n; j++) {
        d[j] = (float)((x[j] - den[j]) / s0);      /* Alg. 1 line 4 */
        x1[j] = (float)(x[j] + h * d[j]);          /* line 5 */
    }
    if (s1 > 0) {                                  /* lines 6-8: 2nd order */
        sampler_karras_denoise(r, r->x0, x1, s1);
        for (size_t j = 0; j < r->n; j++) {
            double d1 = (x1[j] - r->x0[j]) / s1;
            x[j] = (float)(x[j] + h * 0.5 * (d[j] + d1));
        }
    } else {
        memcpy(x, x1, r->n * sizeof(float));
    }
}

static long long nfe(const SamplerConfig *sc, const Schedule *s, int N)
{
    (void)sc;
    (void)s;
    return 2LL * N - 1;
}

static void step(SampleRun *r, int i, float *x)
{
    const double s0 = r->plan->sigma[i], s1 = r->plan->sigma[i + 1];
    sampler_karras_denoise(r, r->x0, x, s0);
    sampler_heun_update(r, x, r->x0, r->eps, r->z, s0, s1);
}

/* The same ODE solved upward, from level i+1 (sigma s1) to level i (s0 > s1): Heun from s1
 * to s0. From the data (s1 = 0) the slope d = (xbar - D)/sigma is not defined at sigma 0:
 * that first step is Euler with the network evaluated at the data at s0,
 * xbar <- xbar + s0 (xbar - D(xbar; s0)) / s0 (the first step of DDIM inversion in xbar;
 * first order, as the forward run's last step s_min -> 0 is). */
static void step_back(SampleRun *r, int i, float *x)
{
    const double s0 = r->plan->sigma[i], s1 = r->plan->sigma[i + 1];
    if (s1 > 0) {
        sampler_karras_denoise(r, r->x0, x, s1);
        sampler_heun_update(r, x, r->x0, r->eps, r->z, s1, s0);
        return;
    }
    sampler_karras_denoise(r, r->x0, x, s0);
    for (size_t j = 0; j < r->n; j++) {
        const double d = (x[j] - r->x0[j]) / s0;
        x[j] = (float)(x[j] + s0 * d);
    }
}

#define OFF(f) offsetof(SamplerConfig, f)
const OptSpec sampler_karras_opts[] = {
    {NULL, "rho", OPT_F64, OFF(rho), 0, NULL, "7", "R", "",
     "Karras sigma spacing exponent (Karras et al. 2022, eq. 5: 7)", 0, 0, 0, 0},
    {NULL, "sigma_max", OPT_F64, OFF(sigma_max), 0, NULL, "80", "S", "",
     "start at min(S, the schedule's sigma_max) (EDM: 80; 0 = the schedule's)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const SamplerDef sampler_ode_def = {
    .name = "ode",
    .cite = "Karras et al. 2022, Alg. 1 (Heun, S_churn = 0) on the probability-flow ODE",
    .processes = (1u << PROC_VP) | (1u << PROC_VE),
    .opts = sampler_karras_opts,
    .steps_default = 18, /* Karras et al. 2022, CIFAR-10: 35 NFE */
    .nfe = nfe,
    .check = sampler_check_karras,
    .plan = sampler_plan_karras,
    .step = step,
    .step_back = step_back,
};
