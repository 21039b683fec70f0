/* langevin: annealed Langevin dynamics (Song & Ermon 2019, Alg. 1) over N geometric ve
 * levels sigma_max..sigma_min (N = L: the trained levels), alpha_i = eps sigma_i^2 /
 * sigma_min^2; denoise: a final x0-hat = x + sigma_min^2 s (Tweedie's formula; NCSNv2's
 * last step). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/sampler.h"

void sampler_langevin_update(float *x, const float *score, const float *z, double alpha,
                             size_t n)
{
    double sa = sqrt(alpha);
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        double v = x[i] + 0.5 * alpha * score[i];  /* NCSN Alg. 1 line 6 */
        if (z) v += sa * z[i];
        x[i] = (float)v;
    }
}

static long long nfe(const SamplerConfig *sc, const Schedule *s, int N)
{
    (void)s;
    return (long long)N * sc->steps_per_level + (sc->denoise ? 1 : 0);
}

static int check(const SamplerConfig *sc, const Schedule *s, int N, char *err, size_t errlen)
{
    (void)s;
    (void)N;
    if (!(sc->eps > 0)) {
        snprintf(err, errlen, "sampler langevin: eps must be > 0, got %g", sc->eps);
        return -1;
    }
    return 0;
}

/* levels 0..N-1: the N sigmas descending; the denoise step (level N, at sigma_min) ends at
 * the data. aux[0] of a level: alpha_i (Alg. 1 line 3) */
static void plan(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p)
{
    double *sig = xmalloc(sizeof(double) * (size_t)N);
    sampler_ve_levels(s, N, sig);
    const double smin = sig[0];
    for (int l = 0; l < N; l++) {
        int i = N - 1 - l; /* ascending index */
        p->a[l] = 1.0;
        p->sg[l] = p->sigma[l] = sig[i];
        p->tcond[l] = N == s->n ? (double)i : sched_tcond(s, sig[i]);
        p->k[l] = N == s->n ? i : -1;
        /* Alg. 1 line 3: alpha_i = eps sigma_i^2 / sigma_L^2, sigma_L the smallest level */
        p->aux[(size_t)l * SAMPLER_AUX] = sc->eps * sig[i] * sig[i] / (smin * smin);
    }
    p->prior_std = sig[N - 1];
    p->a[N] = 1.0; /* the end: sigma_min, or the data after a Tweedie step */
    p->sg[N] = p->sigma[N] = smin;
    if (sc->denoise) sampler_plan_tweedie(p);
    free(sig);
}

static void step(SampleRun *r, int i, float *x)
{
    const SamplerPlan *p = r->plan;
    const int spl = r->sc->steps_per_level;
    if (sampler_tweedie_step(r, i, x)) return; /* x0^ = x + sigma_min^2 s(x, sigma_min) */
    const double alpha = p->aux[(size_t)i * SAMPLER_AUX];
    for (int t = 0; t < spl; t++) {
        sampler_eval_level(r, x, i, NULL, NULL, r->eps); /* eps buffer = score */
        sampler_draw_normals(r->z, r->seeds, r->stream_offset + (uint64_t)i * spl + (uint64_t)t,
                             r->B, r->D);
        sampler_langevin_update(x, r->eps, r->z, alpha, r->n);
    }
}

#define OFF(f) offsetof(SamplerConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "steps_per_level", OPT_INT, OFF(steps_per_level), 0, NULL, "5", "N", "steps",
     "Langevin steps per noise level (NCSNv2 CIFAR-10: 5)", 1, 2147483647.0, 0, 0},
    {NULL, "eps", OPT_F64, OFF(eps), 0, NULL, "6.2e-06", "E", "",
     "step scale at sigma_min (Song & Ermon 2020, NCSNv2 CIFAR-10: 6.2e-6)", 0, 0, 0, 0},
    {NULL, "denoise", OPT_BOOL, OFF(denoise), 0, NULL, "1", "0|1", "",
     "finish with x0-hat by Tweedie's formula (a noise-free step)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const SamplerDef sampler_langevin_def = {
    .name = "langevin",
    .cite = "Song & Ermon 2019, Alg. 1 (annealed Langevin dynamics)",
    .processes = 1u << PROC_VE,
    .opts = OPTS,
    .nfe = nfe,
    .check = check,
    .plan = plan,
    .step = step,
};
