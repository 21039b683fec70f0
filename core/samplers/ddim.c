/* ddim: DDIM (Song, Meng & Ermon 2021), eq. 12 with sigma of eq. 16 times eta, on the
 * timestep subsequence tau. */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/sampler.h"

void sampler_ddim_update(float *x, const float *x0, const float *eps, const float *z,
                         double ab_prev, double sigma, size_t n)
{
    double dir2 = 1.0 - ab_prev - sigma * sigma;
    double cd = dir2 > 0 ? sqrt(dir2) : 0.0, c0 = sqrt(ab_prev);
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        /* DDIM eq. 12: predicted x0, direction pointing to x_t, random noise */
        double v = c0 * x0[i] + cd * eps[i];
        if (z) v += sigma * z[i];
        x[i] = (float)v;
    }
}

static int default_steps(const SamplerConfig *sc, const Schedule *s)
{
    (void)sc;
    return s->n < 50 ? s->n : 50;
}

static void step(SampleRun *r, int i, float *x)
{
    const SamplerPlan *p = r->plan;
    const Schedule *s = r->s;
    const int k = p->k[i], kp = p->k[i + 1];
    const double ab = s->alpha_bar[k], abp = kp >= 0 ? s->alpha_bar[kp] : 1.0;
    sampler_eval_clipped(r, x, i);
    /* DDIM eq. 16 times eta */
    double sigma = r->sc->eta * sqrt((1.0 - abp) / (1.0 - ab)) * sqrt(1.0 - ab / abp);
    const float *z = NULL;
    if (i < p->N - 1 && sigma > 0) {
        sampler_draw_normals(r->z, r->seeds, r->stream_offset + (uint64_t)i, r->B, r->D);
        z = r->z;
    }
    sampler_ddim_update(x, r->x0, r->eps, z, abp, sigma, r->n);
}

/* DDIM inversion (Song et al. 2021, sec. 4.3: eq. 12 with sigma = 0 is an Euler step of
 * the ODE of eq. 14, which can be run from t-1 to t): from level i+1 up to level i,
 * x_i = sqrt(ab_i) x0^ + sqrt(1 - ab_i) eps^ with eps^, x0^ of the network at the current,
 * less noisy state (level i+1; clipped as the forward step clips). From the data (level N,
 * sigma 0) the network is evaluated at the data with level i's conditioning and x0^ is the
 * data itself. eta is ignored: sampler_check_encode requires eta = 0. */
static void step_back(SampleRun *r, int i, float *x)
{
    const SamplerPlan *p = r->plan;
    const int k = p->k[i];
    if (p->k[i + 1] < 0) { /* from the data: eps at the data as if at level i */
        sampler_eval_level(r, x, i, r->eps, NULL, NULL);
        memcpy(r->x0, x, r->n * sizeof(float));
    } else {
        sampler_eval_clipped(r, x, i + 1);
    }
    sampler_ddim_update(x, r->x0, r->eps, NULL, r->s->alpha_bar[k], 0.0, r->n);
}

#define OFF(f) offsetof(SamplerConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "eta", OPT_F64, OFF(eta), 0, NULL, "0", "E", "",
     "0 = deterministic .. 1 = DDPM-like (DDIM eq. 16)", 0, 1e308, 0, 0},
    {NULL, "skip", OPT_CHOICE, OFF(skip), 0, "uniform|quadratic", "uniform", NULL, "",
     "timestep subsequence spacing (DDIM sec. 4.2)", 0, 0, 0, 0},
    {NULL, "clip", OPT_BOOL, OFF(clip), 0, NULL, "1", "0|1", "",
     "clip the predicted x0 to [-1,1] (images)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const SamplerDef sampler_ddim_def = {
    .name = "ddim",
    .cite = "Song et al. 2021 (DDIM), eq. 12 and 16",
    .processes = 1u << PROC_VP,
    .opts = OPTS,
    .default_steps = default_steps,
    .check = sampler_check_tau,
    .plan = sampler_plan_tau,
    .step = step,
    .step_back = step_back,
};
