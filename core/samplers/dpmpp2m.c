/* dpmpp2m: DPM-Solver++(2M) (Lu et al. 2022, Alg. 2), data prediction, on the Karras
 * sigmas of the probability-flow ODE in xbar (alpha = 1, sigma = sigma, lambda = -log
 * sigma); first order at the first step (and after a jump back) and to sigma = 0. */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/sampler.h"

void sampler_dpmpp2m_update(float *x, const float *den, const float *old, double sp, double s0,
                            double s1, size_t n)
{
    /* h = lambda_{i+1} - lambda_i; x <- (s1/s0) x - (e^{-h} - 1) D */
    double hl = log(s0 / s1), ratio = s1 / s0, cD = -(exp(-hl) - 1.0);
    if (!old) {
        for (size_t j = 0; j < n; j++) x[j] = (float)(ratio * x[j] + cD * den[j]);
        return;
    }
    /* D = (1 + 1/2r) x0_i - 1/2r x0_{i-1}, r = h_{i-1} / h_i */
    double r = log(sp / s0) / hl;
    double c1 = 1.0 + 1.0 / (2.0 * r), c2 = -1.0 / (2.0 * r);
    for (size_t j = 0; j < n; j++) x[j] = (float)(ratio * x[j] + cD * (c1 * den[j] + c2 * old[j]));
}

static void step(SampleRun *r, int i, float *x)
{
    const double *sig = r->plan->sigma;
    const double s0 = sig[i], s1 = sig[i + 1];
    float *den = r->x0, *old = r->priv;
    sampler_karras_denoise(r, den, x, s0);
    if (s1 == 0) memcpy(x, den, r->n * sizeof(float)); /* lambda = inf: x = x0^ */
    else sampler_dpmpp2m_update(x, den, i == r->first ? NULL : old, i > 0 ? sig[i - 1] : 0.0,
                                s0, s1, r->n);
    memcpy(old, den, r->n * sizeof(float));
}

const SamplerDef sampler_dpmpp2m_def = {
    .name = "dpmpp2m",
    .cite = "Lu et al. 2022 (DPM-Solver++), Alg. 2 (2M), data prediction",
    .processes = (1u << PROC_VP) | (1u << PROC_VE),
    .opts = sampler_karras_opts,
    .steps_default = 20,
    .check = sampler_check_karras,
    .plan = sampler_plan_karras,
    .step = step,
    .priv_per_value = 1,
};
