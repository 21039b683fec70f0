/* pc: predictor-corrector (Song et al. 2021, Alg. 2 ve / Alg. 3 vp) with the Langevin
 * corrector (Alg. 4 ve / Alg. 5 vp). Per level: M corrector steps, then the predictor to
 * the next level; the last predictor step (to the data) adds no noise when denoise = 1.
 * vp levels: tau as ddim; ve levels: N geometric sigmas (N = L: the trained ones) and 0.
 * The corrector's step 2 alpha (r |z| / |s|)^2 uses THIS sample's norms (the paper's
 * reference code averages norms over the batch, which would tie samples together). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/sampler.h"

void sampler_rd_vp_update(float *x, const float *score, const float *z, double beta, size_t n)
{
    double c = 2.0 - sqrt(1.0 - beta), sb = sqrt(beta);
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        double v = c * x[i] + beta * score[i];     /* Song et al. 2021, Alg. 3 lines 3-5 */
        if (z) v += sb * z[i];
        x[i] = (float)v;
    }
}

void sampler_rd_ve_update(float *x, const float *score, const float *z, double d, size_t n)
{
    double sd = sqrt(d);
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        double v = x[i] + d * score[i];            /* Song et al. 2021, Alg. 2 lines 3-5 */
        if (z) v += sd * z[i];
        x[i] = (float)v;
    }
}

void sampler_em_vp_update(float *x, const float *score, const float *z, double beta, size_t n)
{
    double sb = sqrt(beta);
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        /* reverse SDE (Song et al. 2021 eq. 6): dx = [f - g^2 s] dt + g dw, f = -beta x/2 */
        double v = x[i] + beta * (0.5 * x[i] + score[i]);
        if (z) v += sb * z[i];
        x[i] = (float)v;
    }
}

double sampler_corrector_update(float *x, const float *score, const float *z, double snr,
                                double alpha, size_t n)
{
    double zz = 0, gg = 0;
    for (size_t i = 0; i < n; i++) {
        zz += (double)z[i] * z[i];
        gg += (double)score[i] * score[i];
    }
    if (!(gg > 0)) return 0.0;
    double e = 2.0 * alpha * snr * snr * zz / gg; /* Song et al. 2021, Alg. 4/5 */
    double se = sqrt(2.0 * e);
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] + e * score[i] + se * z[i]);
    return e;
}

static long long nfe(const SamplerConfig *sc, const Schedule *s, int N)
{
    (void)s;
    long long e = (long long)N * (sc->corrector_steps + (sc->predictor == PREDICTOR_NONE ? 0 : 1));
    if (sc->predictor == PREDICTOR_NONE && sc->denoise) e += 1;
    return e;
}

static int check(const SamplerConfig *sc, const Schedule *s, int N, char *err, size_t errlen)
{
    if (sampler_check_tau(sc, s, N, err, errlen)) return -1;
    if (sc->corrector_steps > 0 && !(sc->snr > 0)) {
        snprintf(err, errlen, "sampler pc: snr must be > 0, got %g", sc->snr);
        return -1;
    }
    if (sc->predictor == PREDICTOR_NONE && sc->corrector_steps == 0) {
        snprintf(err, errlen, "sampler pc: predictor none with corrector_steps 0 does nothing");
        return -1;
    }
    return 0;
}

/* aux per level: [0] the predictor's step (vp: the chain's beta on tau, App. B:
 * beta_i = beta(i/N)/N for N = T; ve: sigma_i^2 - sigma_{i-1}^2, or g^2 dt for
 * Euler-Maruyama), [1] the corrector's alpha_i (Alg. 5; ve: 1, Alg. 4) */
static void plan(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p)
{
    if (s->cfg.process == PROC_VP) {
        sampler_plan_tau(sc, s, N, p);
        for (int l = 0; l < N; l++) {
            int k = p->k[l], kp = p->k[l + 1];
            double ab = s->alpha_bar[k], abp = kp >= 0 ? s->alpha_bar[kp] : 1.0;
            double st = (kp >= 0 && kp == k - 1) || (kp < 0 && k == 0) ? s->beta[k]
                                                                         : 1.0 - ab / abp;
            p->aux[(size_t)l * SAMPLER_AUX] = st;
            p->aux[(size_t)l * SAMPLER_AUX + 1] = 1.0 - st; /* Alg. 5: alpha_i */
        }
    } else {
        double *sig = xmalloc(sizeof(double) * (size_t)N);
        sampler_ve_levels(s, N, sig);
        for (int l = 0; l < N; l++) {
            int i = N - 1 - l; /* ascending index */
            double prev = i > 0 ? sig[i - 1] : 0.0; /* sigma_0 = 0: the data */
            p->a[l] = 1.0;
            p->sg[l] = p->sigma[l] = sig[i];
            p->tcond[l] = N == s->n ? (double)i : sched_tcond(s, sig[i]);
            p->k[l] = N == s->n ? i : -1;
            double *q = p->aux + (size_t)l * SAMPLER_AUX;
            if (sc->predictor == PREDICTOR_EULER_MARUYAMA && i > 0)
                /* g(t)^2 dt at the step's start, VE SDE eq. 30-31 on geometric levels */
                q[0] = 2.0 * sig[i] * sig[i] * log(sig[i] / prev);
            else
                q[0] = sig[i] * sig[i] - prev * prev; /* Alg. 2 line 3 */
            q[1] = 1.0;                               /* Alg. 4 */
        }
        p->prior_std = sig[N - 1];
        sampler_plan_set_k(p, s, N, -1);
        free(sig);
    }
    if (sc->predictor == PREDICTOR_NONE && sc->denoise) sampler_plan_tweedie(p);
}

static void step(SampleRun *r, int i, float *x)
{
    const SamplerConfig *sc = r->sc;
    const SamplerPlan *p = r->plan;
    const int vp = r->s->cfg.process == PROC_VP;
    if (sampler_tweedie_step(r, i, x)) return;
    const double *q = p->aux + (size_t)i * SAMPLER_AUX;
    const int last = i == p->N - 1 - p->tweedie;
    float *g = r->eps; /* score buffer */
    Rng *rng = xmalloc(sizeof(Rng) * (size_t)r->B);
    for (int b = 0; b < r->B; b++) rng_init(&rng[b], r->seeds[b], r->stream_offset + (uint64_t)i);
    for (int j = 0; j < sc->corrector_steps; j++) {
        sampler_eval_level(r, x, i, NULL, NULL, g);
#pragma omp parallel for schedule(static) if (r->n >= SAMPLER_PAR_MIN)
        for (int b = 0; b < r->B; b++) rng_fill_normal(&rng[b], r->z + (size_t)b * r->D, r->D);
#pragma omp parallel for schedule(static) if (r->n >= SAMPLER_PAR_MIN)
        for (int b = 0; b < r->B; b++)
            sampler_corrector_update(x + (size_t)b * r->D, g + (size_t)b * r->D,
                                     r->z + (size_t)b * r->D, sc->snr, q[1], r->D);
    }
    if (sc->predictor != PREDICTOR_NONE) {
        sampler_eval_level(r, x, i, NULL, NULL, g);
        const float *z = NULL;
        if (!(last && sc->denoise)) {
#pragma omp parallel for schedule(static) if (r->n >= SAMPLER_PAR_MIN)
            for (int b = 0; b < r->B; b++) rng_fill_normal(&rng[b], r->z + (size_t)b * r->D, r->D);
            z = r->z;
        }
        if (!vp) sampler_rd_ve_update(x, g, z, q[0], r->n);
        else if (sc->predictor == PREDICTOR_REVERSE_DIFFUSION) sampler_rd_vp_update(x, g, z, q[0], r->n);
        else sampler_em_vp_update(x, g, z, q[0], r->n);
    }
    free(rng);
}

#define OFF(f) offsetof(SamplerConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "predictor", OPT_CHOICE, OFF(predictor), 0, "reverse_diffusion|euler_maruyama|none",
     "reverse_diffusion", NULL, "", "the predictor (Song et al. 2021, Alg. 2/3; none: corrector only)",
     0, 0, 0, 0},
    {NULL, "corrector_steps", OPT_INT, OFF(corrector_steps), 0, NULL, "1", "M", "steps",
     "Langevin corrector steps per level", 0, 2147483647.0, 0, 0},
    {NULL, "snr", OPT_F64, OFF(snr), 0, NULL, "0.16", "R", "",
     "corrector signal-to-noise ratio r (Song et al. 2021, App. G: 0.16)", 0, 0, 0, 0},
    {NULL, "skip", OPT_CHOICE, OFF(skip), 0, "uniform|quadratic", "uniform", NULL, "",
     "timestep subsequence spacing on vp (DDIM sec. 4.2)", 0, 0, 0, 0},
    {NULL, "denoise", OPT_BOOL, OFF(denoise), 0, NULL, "1", "0|1", "",
     "the last step adds no noise (predictor none: a final Tweedie step)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const SamplerDef sampler_pc_def = {
    .name = "pc",
    .cite = "Song et al. 2021 (score SDE), Alg. 2-5",
    .processes = (1u << PROC_VP) | (1u << PROC_VE),
    .opts = OPTS,
    .nfe = nfe,
    .check = check,
    .plan = plan,
    .step = step,
};
