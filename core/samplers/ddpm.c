/* ddpm: ancestral sampling (Ho et al. 2020, Alg. 2) on the timestep subsequence tau
 * (N = T: every step); a respaced chain has beta'_i = 1 - ab_tau_i / ab_tau_{i-1}
 * (Nichol & Dhariwal 2021, sec. 4). */
#include <math.h>
#include <stdlib.h>

#include "core/common.h"
#include "core/sampler.h"

void sampler_ddpm_update(float *x, const float *x0, const float *z, double c0, double ct,
                         double sigma, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        double v = c0 * x0[i] + ct * x[i];       /* DDPM eq. 7, mu~(x_t, x0^) */
        if (z) v += sigma * z[i];
        x[i] = (float)v;
    }
}

/* aux per level: beta, c0, ct, beta~ of the step from it (DDPM eq. 7 on the chain) */
static void plan(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p)
{
    sampler_plan_tau(sc, s, N, p);
    for (int l = 0; l < N; l++) {
        int k = p->k[l], kp = p->k[l + 1];
        double ab = s->alpha_bar[k], abp = kp >= 0 ? s->alpha_bar[kp] : 1.0;
        double *q = p->aux + (size_t)l * SAMPLER_AUX;
        if (kp == k - 1) {
            q[0] = s->beta[k];
            q[1] = s->post_coef_x0[k];
            q[2] = s->post_coef_xt[k];
            q[3] = s->beta_tilde[k];
        } else {
            /* respaced: the chain on tau has beta'_i = 1 - ab_i/ab_{i-1} (Nichol & Dhariwal
             * 2021, sec. 4), and DDPM eq. 7 with it */
            double beta = 1.0 - ab / abp;
            q[0] = beta;
            q[1] = sqrt(abp) * beta / (1.0 - ab);
            q[2] = sqrt(1.0 - beta) * (1.0 - abp) / (1.0 - ab);
            q[3] = (1.0 - abp) / (1.0 - ab) * beta;
        }
    }
}

static void step(SampleRun *r, int i, float *x)
{
    const SamplerPlan *p = r->plan;
    const double *q = p->aux + (size_t)i * SAMPLER_AUX;
    sampler_eval_clipped(r, x, i);
    double sigma = sqrt(r->sc->sigma2 == SIGMA2_BETA ? q[0] : q[3]);
    const float *z = NULL;
    if (i < p->N - 1) { /* Alg. 2 line 3: z = 0 at the last step */
        sampler_draw_normals(r->z, r->seeds, r->stream_offset + (uint64_t)i, r->B, r->D);
        z = r->z;
    }
    sampler_ddpm_update(x, r->x0, z, q[1], q[2], sigma, r->n);
}

#define OFF(f) offsetof(SamplerConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "sigma2", OPT_CHOICE, OFF(sigma2), 0, "beta|beta_tilde", "beta", NULL, "",
     "reverse variance: beta_t or the posterior's beta~_t (Ho et al. 2020, sec. 3.2)", 0, 0, 0, 0},
    {NULL, "skip", OPT_CHOICE, OFF(skip), 0, "uniform|quadratic", "uniform", NULL, "",
     "timestep subsequence spacing (DDIM sec. 4.2)", 0, 0, 0, 0},
    {NULL, "clip", OPT_BOOL, OFF(clip), 0, NULL, "1", "0|1", "",
     "clip the predicted x0 to [-1,1] (images)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const SamplerDef sampler_ddpm_def = {
    .name = "ddpm",
    .cite = "Ho et al. 2020, Alg. 2; respaced as Nichol & Dhariwal 2021, sec. 4",
    .processes = 1u << PROC_VP,
    .opts = OPTS,
    .check = sampler_check_tau,
    .plan = plan,
    .step = step,
};
