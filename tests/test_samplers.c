/* Samplers (core/samplers.*) with the exact Gaussian-mixture "network" (core/gmm.*):
 * update rules against hand-computed values, whole samplers against hand-computed short
 * runs, every sampler against the mixture's mean / variance / mode weights, DDIM vs DDPM
 * at 10 steps, determinism and independence of batch composition, the probability-flow
 * ODE against its exact solution for a Gaussian, classifier-free guidance, NFE counts.
 *
 * Tolerances on moments: mean 5 standard errors + 0.03, variance 5 standard errors + 4%,
 * mode weight 5 standard errors + 0.02 (standard errors from the samples themselves). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/diffusion.h"
#include "core/gmm.h"
#include "core/pixels.h"
#include "core/rng.h"
#include "core/sampler.h"
#include "core/sched.h"
#include "tests/testlib.h"

/* 0.3 N(-2, 0.25^2) + 0.7 N(1.5, 0.5^2) */
static Gmm gmm_1d(void)
{
    Gmm g = {0};
    g.K = 2;
    g.dim = 1;
    g.w[0] = 0.3; g.mu[0][0] = -2.0; g.var[0] = 0.0625;
    g.w[1] = 0.7; g.mu[1][0] = 1.5;  g.var[1] = 0.25;
    return g;
}

/* three isotropic 2-D components */
static Gmm gmm_2d(void)
{
    Gmm g = {0};
    g.K = 3;
    g.dim = 2;
    g.w[0] = 0.2; g.mu[0][0] = -2.0; g.mu[0][1] = 0.0;  g.var[0] = 0.09;
    g.w[1] = 0.5; g.mu[1][0] = 1.0;  g.mu[1][1] = 1.5;  g.var[1] = 0.25;
    g.w[2] = 0.3; g.mu[2][0] = 1.5;  g.mu[2][1] = -1.5; g.var[2] = 0.16;
    return g;
}

/* a single Gaussian N(0.5, 0.3) in 1-D: a linear denoiser, closed-form ODE */
static Gmm gmm_single(void)
{
    Gmm g = {0};
    g.K = 1;
    g.dim = 1;
    g.w[0] = 1.0; g.mu[0][0] = 0.5; g.var[0] = 0.3;
    return g;
}

static void sched_vp_cosine(Schedule *s)
{
    SchedConfig c;
    sched_config_default(&c);
    c.schedule = SCHED_COSINE;
    sched_init(s, &c);
}

/* run nsamples samples with seeds seed0.. in batches of `batch`; returns (nsamples, D) */
static float *run(const SamplerConfig *sc, const Schedule *s, const Gmm *g, size_t D,
                  int nsamples, uint64_t seed0, int batch, const int *labels, int conditional,
                  long long *nfe)
{
    GmmModel gm;
    gmm_model_init(&gm, g, s, D, conditional);
    Denoiser m;
    denoiser_init(&m, gmm_denoise, &gm, s, D, gm.num_classes);
    float *x = xalloc_floats((size_t)nsamples * D);
    uint64_t *seeds = xmalloc(sizeof(uint64_t) * (size_t)nsamples);
    for (int i = 0; i < nsamples; i++) seeds[i] = seed0 + (uint64_t)i;
    for (int i = 0; i < nsamples; i += batch) {
        int b = nsamples - i < batch ? nsamples - i : batch;
        sampler_run(sc, s, &m, x + (size_t)i * D, seeds + i, labels ? labels + i : NULL, b);
    }
    if (nfe) *nfe = m.nfe;
    denoiser_free(&m);
    free(seeds);
    return x;
}

/* moments of npts points against the mixture; prints one line, returns pass */
static int check_moments(const char *what, const Gmm *g, const float *x, size_t npts)
{
    int dim = g->dim;
    double tm[GMM_MAX_DIM], tc[GMM_MAX_DIM * GMM_MAX_DIM];
    gmm_moments(g, tm, tc);
    double m[GMM_MAX_DIM] = {0}, v[GMM_MAX_DIM] = {0}, m4[GMM_MAX_DIM] = {0};
    double cnt[GMM_MAX_K] = {0};
    for (size_t i = 0; i < npts; i++) {
        for (int d = 0; d < dim; d++) m[d] += x[i * dim + d];
        cnt[gmm_component(g, x + i * dim)] += 1;
    }
    for (int d = 0; d < dim; d++) m[d] /= npts;
    for (size_t i = 0; i < npts; i++)
        for (int d = 0; d < dim; d++) {
            double r = x[i * dim + d] - m[d];
            v[d] += r * r;
            m4[d] += r * r * r * r;
        }
    int ok = 1;
    char line[512];
    int len = snprintf(line, sizeof line, "%s (%zu points):", what, npts);
    for (int d = 0; d < dim; d++) {
        v[d] /= npts;
        m4[d] /= npts;
        double tv = tc[d * dim + d];
        double tol_m = 5 * sqrt(tv / npts) + 0.03;
        double tol_v = 5 * sqrt(fmax(m4[d] - v[d] * v[d], 0) / npts) + 0.04 * tv;
        int okd = fabs(m[d] - tm[d]) <= tol_m && fabs(v[d] - tv) <= tol_v;
        ok &= okd;
        len += snprintf(line + len, sizeof line - len, " mean%s %.3f (%.3f) var %.3f (%.3f)",
                        dim > 1 ? (d ? "_y" : "_x") : "", m[d], tm[d], v[d], tv);
    }
    len += snprintf(line + len, sizeof line - len, " w");
    for (int k = 0; k < g->K; k++) {
        double w = cnt[k] / npts;
        double tol = 5 * sqrt(g->w[k] * (1 - g->w[k]) / npts) + 0.02;
        ok &= fabs(w - g->w[k]) <= tol;
        len += snprintf(line + len, sizeof line - len, " %.3f", w);
    }
    len += snprintf(line + len, sizeof line - len, " (");
    for (int k = 0; k < g->K; k++)
        len += snprintf(line + len, sizeof line - len, "%s%.2f", k ? " " : "", g->w[k]);
    snprintf(line + len, sizeof line - len, ")");
    return check(ok, "%s", line);
}

/* Wasserstein-1 between the samples (1-D) and the mixture: integral |F_n - F| dx */
static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double w1_1d(const Gmm *g, const float *x, size_t n)
{
    float *s = xmalloc(n * sizeof(float));
    memcpy(s, x, n * sizeof(float));
    qsort(s, n, sizeof(float), cmp_float);
    double lo = fmin(-8.0, s[0]), hi = fmax(8.0, s[n - 1]), h = 1e-3, w = 0;
    size_t j = 0;
    for (double t = lo + h / 2; t < hi; t += h) {
        while (j < n && s[j] <= t) j++;
        w += fabs((double)j / n - gmm_cdf_1d(g, t)) * h;
    }
    free(s);
    return w;
}

/* ------------------------------------------------------------------ small checks */

static void test_config(void)
{
    SamplerConfig sc;
    char err[256];
    int rc = sampler_config_init(&sc, "euler", err, sizeof err);
    check(rc == -1 && !strcmp(err, "unknown sampler 'euler'; one of ddpm, ddim, langevin, pc, ode, dpmpp2m, unipc, pnp"),
          "unknown sampler: '%s'", err);
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    const char *names[] = {"ddpm", "ddim", "langevin", "pc", "ode", "dpmpp2m"};
    const int fit_vp[] = {1, 1, 0, 1, 1, 1}, fit_ve[] = {0, 0, 1, 1, 1, 1};
    int ok = 1;
    for (int i = 0; i < 6; i++) {
        test_sampler_config(&sc, names[i], NULL);
        ok &= (sampler_config_check(&sc, &vp, err, sizeof err) == 0) == fit_vp[i];
        ok &= (sampler_config_check(&sc, &ve, err, sizeof err) == 0) == fit_ve[i];
    }
    check(ok, "process fit: ddpm/ddim vp only, langevin ve only, pc/ode/dpmpp2m both");
    test_sampler_config(&sc, "langevin", NULL);
    sampler_config_check(&sc, &vp, err, sizeof err);
    check(strstr(err, "needs process ve") != NULL, "langevin on vp: '%s'", err);
    test_sampler_config(&sc, "ddim", "steps=1001");
    rc = sampler_config_check(&sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "exceed the model's 1000 timesteps"), "ddim steps 1001: '%s'", err);
    rc = sampler_config_set(&sc, "skip", "cubic", err, sizeof err);
    check(rc == -1 && strstr(err, "want uniform or quadratic"), "bad skip: '%s'", err);
    rc = sampler_config_set(&sc, "temperature", "1", err, sizeof err);
    check(rc == -1 && strstr(err, "unknown sampler option 'temperature'"), "unknown option: '%.50s...'", err);
    test_sampler_config(&sc, "ddim", "steps=20,eta=0.5,skip=quadratic,guidance=1.5");
    char d[256];
    sampler_config_describe(&sc, &vp, d, sizeof d);
    check(!strcmp(d, "ddim steps=20 eta=0.5 skip=quadratic clip=0 guidance=1.5"), "describe: '%s'", d);
    test_sampler_config(&sc, "ode", "sigma_max=0.001");
    rc = sampler_config_check(&sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "sigma_max must be 0"), "ode sigma_max below sigma_min: '%s'", err);
    /* defaults */
    test_sampler_config(&sc, "ddpm", NULL);
    int s1 = sampler_steps(&sc, &vp);
    test_sampler_config(&sc, "ode", NULL);
    int s2 = sampler_steps(&sc, &vp);
    long long n2 = sampler_nfe(&sc, &vp);
    test_sampler_config(&sc, "pc", "corrector_steps=2,guidance=1");
    long long n3 = sampler_nfe(&sc, &ve);
    check(s1 == 1000 && s2 == 18 && n2 == 35 && n3 == 2 * 10 * 3,
          "defaults: ddpm %d steps, ode %d steps = %lld NFE (EDM: 35), pc M=2 guided on L=10: %lld NFE",
          s1, s2, n2, n3);
    sched_free(&vp);
    sched_free(&ve);
}

static void test_uint8(void)
{
    float x[9] = {-1.0f, 1.0f, 0.0f, -2.0f, 3.0f, NAN, -1.0f + 0.6f / 127.5f, 0.5f, -0.99999f};
    uint8_t u[9], want[9] = {0, 255, 128, 0, 255, 0, 1, 191, 0};
    pixels_to_uint8(u, x, 9);
    check(memcmp(u, want, 9) == 0, "to_uint8: -1->0 1->255 0->128 (127.5 up) clamp, NaN->0, -1+0.6/127.5->1, 0.5->191: "
          "%d %d %d %d %d %d %d %d %d", u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8]);
    uint8_t all[256], back[256];
    float f[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    pixels_from_uint8(f, all, 256);
    pixels_to_uint8(back, f, 256);
    check(memcmp(all, back, 256) == 0 && f[0] == -1.0f && f[255] == 1.0f,
          "from_uint8 then to_uint8 is the identity on 0..255");
}

static void test_update_rules(void)
{
    float x, x0, eps, z, s;
    x = 0.5f; x0 = 0.2f; z = 1.5f;
    sampler_ddpm_update(&x, &x0, &z, 0.3, 0.9, 0.1, 1);
    check(fabs(x - 0.66) < 1e-6, "ddpm update: 0.3*0.2 + 0.9*0.5 + 0.1*1.5 = 0.66 (%.7f)", x);
    x0 = 0.2f; eps = -1; z = 0.5f;
    sampler_ddim_update(&x, &x0, &eps, &z, 0.64, 0.3, 1);
    check(fabs(x - (0.16 - sqrt(0.27) + 0.15)) < 1e-6,
          "ddim eq. 12: 0.8*0.2 + sqrt(1-0.64-0.09)*(-1) + 0.3*0.5 = %.7f (%.7f)", x, 0.31 - sqrt(0.27));
    x = 1; s = -2; z = 0.5f;
    sampler_langevin_update(&x, &s, &z, 0.04, 1);
    check(fabs(x - 1.06) < 1e-6, "langevin: 1 + 0.02*(-2) + 0.2*0.5 = 1.06 (%.7f)", x);
    x = 1;
    sampler_rd_vp_update(&x, &s, &z, 0.19, 1);
    check(fabs(x - (1.1 - 0.38 + sqrt(0.19) * 0.5)) < 1e-6,
          "reverse diffusion vp: (2-0.9)*1 + 0.19*(-2) + sqrt(0.19)*0.5 = %.7f", x);
    x = 1;
    sampler_rd_ve_update(&x, &s, &z, 0.25, 1);
    check(fabs(x - 0.75) < 1e-6, "reverse diffusion ve: 1 + 0.25*(-2) + 0.5*0.5 = 0.75 (%.7f)", x);
    x = 1;
    sampler_em_vp_update(&x, &s, &z, 0.19, 1);
    check(fabs(x - (1 - 0.285 + sqrt(0.19) * 0.5)) < 1e-6,
          "euler-maruyama vp: 1 + 0.19*(0.5 - 2) + sqrt(0.19)*0.5 = %.7f", x);
    float xv[2] = {1, -1}, sv[2] = {3, 4}, zv[2] = {0.6f, 0.8f};
    double e = sampler_corrector_update(xv, sv, zv, 0.5, 0.9, 2);
    double se = sqrt(0.036);
    check(fabs(e - 0.018) < 1e-9 && fabs(xv[0] - (1.054 + se * 0.6)) < 1e-6 &&
              fabs(xv[1] - (-0.928 + se * 0.8)) < 1e-6,
          "corrector: e = 2*0.9*(0.5*1/5)^2 = %.4f, x = (%.6f, %.6f)", e, xv[0], xv[1]);
    double sig[8];
    sampler_karras_sigmas(sig, 4, 0.01, 10, 1.0);
    int ok = fabs(sig[1] - (10 - 9.99 / 3)) < 1e-12 && sig[4] == 0;
    sampler_karras_sigmas(sig, 7, 0.002, 80, 7.0);
    double mid = pow((pow(80, 1 / 7.0) + pow(0.002, 1 / 7.0)) / 2, 7);
    check(ok && sig[0] == 80 && sig[6] == 0.002 && fabs(sig[3] - mid) < 1e-12 && sig[7] == 0,
          "karras sigmas (eq. 5): rho=1 linear; rho=7 mid %.6f; ends 80, 0.002, then 0", sig[3]);
}

/* the gmm's exact denoiser for one Gaussian: eps = sg (x - a mu)/(a^2 v + sg^2) */
static void test_gmm(void)
{
    Gmm g = gmm_single();
    double x = 1.7, e, z, resp;
    gmm_posterior(&g, 0.6, 0.8, &x, -1, &e, &z, &resp);
    double want = 0.8 * (1.7 - 0.6 * 0.5) / (0.36 * 0.3 + 0.64);
    check(fabs(e - want) < 1e-12 && fabs(z - (1.7 - 0.8 * want) / 0.6) < 1e-12 && resp == 1,
          "gmm posterior, one Gaussian: E[eps|x] = %.10f (hand %.10f)", e, want);
    Gmm g1 = gmm_1d();
    double r[2], x2 = -0.2;
    gmm_posterior(&g1, 1.0, 1.0, &x2, -1, NULL, NULL, r);
    /* responsibilities by hand with variances var_k + 1 */
    double p0 = 0.3 / sqrt(1.0625) * exp(-0.5 * 1.8 * 1.8 / 1.0625);
    double p1 = 0.7 / sqrt(1.25) * exp(-0.5 * 1.7 * 1.7 / 1.25);
    check(fabs(r[0] - p0 / (p0 + p1)) < 1e-12, "gmm responsibilities at sigma = 1 by hand: %.6f", r[0]);
    /* score against a finite difference of the log density */
    double h = 1e-5, xa = 0.4, xb = xa + h, xc = xa - h, ea;
    gmm_posterior(&g1, 0.8, 0.6, &xa, -1, &ea, NULL, NULL);
    double va[2] = {0.64 * 0.0625 + 0.36, 0.64 * 0.25 + 0.36};
    double pb = 0, pc = 0;
    for (int k = 0; k < 2; k++) {
        pb += g1.w[k] / sqrt(va[k]) * exp(-0.5 * pow(xb - 0.8 * g1.mu[k][0], 2) / va[k]);
        pc += g1.w[k] / sqrt(va[k]) * exp(-0.5 * pow(xc - 0.8 * g1.mu[k][0], 2) / va[k]);
    }
    double score_fd = (log(pb) - log(pc)) / (2 * h);
    check(fabs(-ea / 0.6 - score_fd) < 1e-6, "gmm score -eps/sg = %.8f vs d log p/dx = %.8f",
          -ea / 0.6, score_fd);
    /* samples of the data */
    float *xs = xalloc_floats(20000);
    gmm_sample(&g1, xs, 20000, 9);
    check_moments("gmm_sample 1-D", &g1, xs, 20000);
    free(xs);
}

/* constant-output model for hand-computed runs */
static void const_denoise(void *ctx, float *out, const float *x, const float *tcond,
                          const int *labels, int B)
{
    (void)x; (void)tcond; (void)labels;
    float c = *(const float *)ctx;
    for (int i = 0; i < B; i++) out[i] = c;
}

static void test_hand_runs(void)
{
    enum { B = 3 };
    uint64_t seeds[B] = {11, 12, 13};
    float xT[B], out[B], z[B];
    sampler_draw_normals(xT, seeds, SAMPLER_STREAM_INIT, B, 1);
    Schedule s;
    test_sched_vp(&s, PRED_EPS);
    float c = 0.3f;
    Denoiser m;
    denoiser_init(&m, const_denoise, &c, &s, 1, 0);
    SamplerConfig sc;
    /* ddim, one step from t = T: x0 = (x_T - sqrt(1-ab_T) c)/sqrt(ab_T) */
    test_sampler_config(&sc, "ddim", "steps=1");
    sampler_run(&sc, &s, &m, out, seeds, NULL, B);
    float want[B];
    for (int i = 0; i < B; i++)
        want[i] = (float)((xT[i] - sqrt(1 - s.alpha_bar[999]) * c) / sqrt(s.alpha_bar[999]));
    check_close("ddim 1 step, constant eps: x0 = (x_T - sqrt(1-ab) eps)/sqrt(ab)", out, want, B, 1e-5, 1e-5);
    /* ddpm on tau = {0, 999}: Alg. 2 with the respaced beta' = 1 - ab_T/ab_1, then t = 1 */
    test_sampler_config(&sc, "ddpm", "steps=2");
    sampler_run(&sc, &s, &m, out, seeds, NULL, B);
    sampler_draw_normals(z, seeds, 0, B, 1);
    double ab = s.alpha_bar[999], abp = s.alpha_bar[0], bp = 1 - ab / abp;
    for (int i = 0; i < B; i++) {
        double x1 = (xT[i] - bp / sqrt(1 - ab) * c) / sqrt(1 - bp) + sqrt(bp) * z[i];
        want[i] = (float)((x1 - sqrt(1 - abp) * c) / sqrt(abp));
    }
    check_close("ddpm 2 steps (respaced), Alg. 2 by hand", out, want, B, 1e-4, 1e-5);
    denoiser_free(&m);
    sched_free(&s);

    /* ve, one Gaussian N(0.5, 0.3): D(x; sigma) = mu + (x - mu) v/(v + sigma^2) */
    Schedule ve;
    test_sched_ve(&ve);
    Gmm g = gmm_single();
    GmmModel gm;
    gmm_model_init(&gm, &g, &ve, 1, 0);
    denoiser_init(&m, gmm_denoise, &gm, &ve, 1, 0);
    const double mu = 0.5, v = 0.3;
#define DEN(x, sg) (mu + ((x) - mu) * v / (v + (sg) * (sg)))
#define SCORE(x, sg) (-((x) - mu) / (v + (sg) * (sg)))
    /* Heun, N = 2: sigmas 10, 0.01, 0 */
    test_sampler_config(&sc, "ode", "steps=2");
    sampler_run(&sc, &ve, &m, out, seeds, NULL, B);
    for (int i = 0; i < B; i++) {
        double x = 10.0 * xT[i], s0 = 10, s1 = 0.01, hh = s1 - s0;
        double d = (x - DEN(x, s0)) / s0, x1 = x + hh * d, d1 = (x1 - DEN(x1, s1)) / s1;
        x = x + hh * 0.5 * (d + d1);
        want[i] = (float)DEN(x, s1);
    }
    check_close("ode (Heun) 2 steps on a Gaussian, EDM Alg. 1 by hand", out, want, B, 1e-5, 1e-5);
    /* DPM-Solver++(2M), N = 3 */
    test_sampler_config(&sc, "dpmpp2m", "steps=3");
    sampler_run(&sc, &ve, &m, out, seeds, NULL, B);
    double sg3[4];
    sampler_karras_sigmas(sg3, 3, 0.01, 10, 7);
    for (int i = 0; i < B; i++) {
        double x = 10.0 * xT[i];
        double d0 = DEN(x, sg3[0]);
        x = sg3[1] / sg3[0] * x + (1 - sg3[1] / sg3[0]) * d0;
        double d1 = DEN(x, sg3[1]);
        double h = log(sg3[1] / sg3[2]), r = log(sg3[0] / sg3[1]) / h;
        double Dm = (1 + 1 / (2 * r)) * d1 - 1 / (2 * r) * d0;
        x = sg3[2] / sg3[1] * x + (1 - sg3[2] / sg3[1]) * Dm;
        want[i] = (float)DEN(x, sg3[2]);
    }
    check_close("dpmpp2m 3 steps on a Gaussian, Lu et al. Alg. 2 by hand", out, want, B, 1e-5, 1e-4);
    /* annealed Langevin: levels {10, 0.01}, 2 steps each, eps 2e-5, then Tweedie */
    test_sampler_config(&sc, "langevin", "steps=2,steps_per_level=2,eps=2e-5");
    sampler_run(&sc, &ve, &m, out, seeds, NULL, B);
    for (int i = 0; i < B; i++) {
        double x = 10.0 * xT[i];
        const double lev[2] = {10, 0.01};
        int st = 0;
        for (int l = 0; l < 2; l++) {
            double alpha = 2e-5 * lev[l] * lev[l] / (0.01 * 0.01);
            for (int t = 0; t < 2; t++, st++) {
                float zz;
                sampler_draw_normals(&zz, seeds + i, (uint64_t)st, 1, 1);
                x = x + alpha / 2 * SCORE(x, lev[l]) + sqrt(alpha) * zz;
            }
        }
        want[i] = (float)DEN(x, 0.01);
    }
    check_close("langevin 2 levels x 2 steps + denoise, NCSN Alg. 1 by hand", out, want, B, 1e-5, 1e-5);
    denoiser_free(&m);
    /* predictor-corrector (ve), levels {10, 0.01}, M = 1, 4 values per sample */
    {
        enum { D = 4 };
        GmmModel g4;
        gmm_model_init(&g4, &g, &ve, D, 0);
        denoiser_init(&m, gmm_denoise, &g4, &ve, D, 0);
        test_sampler_config(&sc, "pc", "steps=2,snr=0.16");
        float o4[B * D], w4[B * D], x0n[B * D];
        sampler_run(&sc, &ve, &m, o4, seeds, NULL, B);
        sampler_draw_normals(x0n, seeds, SAMPLER_STREAM_INIT, B, D);
        for (int i = 0; i < B; i++) {
            double x[D], gsc[D];
            for (int d = 0; d < D; d++) x[d] = 10.0 * x0n[i * D + d];
            const double lev[3] = {0.0, 0.01, 10};
            for (int l = 2; l >= 1; l--) {
                Rng r;
                rng_init(&r, seeds[i], (uint64_t)(2 - l));
                float zc[D], zp[D];
                rng_fill_normal(&r, zc, D);
                double zz = 0, gg = 0;
                for (int d = 0; d < D; d++) {
                    gsc[d] = SCORE(x[d], lev[l]);
                    zz += zc[d] * zc[d];
                    gg += gsc[d] * gsc[d];
                }
                double e = 2 * pow(0.16, 2) * zz / gg;
                for (int d = 0; d < D; d++) x[d] += e * gsc[d] + sqrt(2 * e) * zc[d];
                double dd = lev[l] * lev[l] - lev[l - 1] * lev[l - 1];
                if (l > 1) rng_fill_normal(&r, zp, D);
                for (int d = 0; d < D; d++)
                    x[d] += dd * SCORE(x[d], lev[l]) + (l > 1 ? sqrt(dd) * zp[d] : 0.0);
            }
            for (int d = 0; d < D; d++) w4[i * D + d] = (float)x[d];
        }
        check_close("pc (ve) 2 levels, Langevin corrector + reverse diffusion, Alg. 2/4 by hand", o4,
                    w4, B * D, 1e-5, 1e-5);
        denoiser_free(&m);
    }
#undef DEN
#undef SCORE
    sched_free(&ve);
}

/* ------------------------------------------------------------------ distributions */

static void test_moments(void)
{
    {
        /* the yardstick for W1: as many true samples as a run has points */
        Gmm g = gmm_1d();
        float *xd = xalloc_floats(8000);
        gmm_sample(&g, xd, 8000, 78);
        printf("# W1 of 8000 true samples of the 1-D mixture: %.4f; of 4096: ", w1_1d(&g, xd, 8000));
        printf("%.4f\n", w1_1d(&g, xd, 4096));
        free(xd);
    }
    Schedule vp, ve, cs;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    sched_vp_cosine(&cs);
    Gmm g1 = gmm_1d(), g2 = gmm_2d();
    struct {
        const char *name, *opts;
        int ve;     /* 0 vp linear, 1 ve, 2 vp cosine */
        size_t D1; /* values per sample for the 1-D mixture (points per sample) */
        int n1;    /* samples */
        const char *label;
    } runs[] = {
        {"ddpm", NULL, 0, 1, 6000, "ddpm 1000 steps (beta)"},
        {"ddim", "steps=50,eta=0", 0, 1, 8000, "ddim 50 eta=0"},
        {"ddim", "steps=50,eta=1", 0, 1, 8000, "ddim 50 eta=1"},
        {"pc", "steps=500", 0, 32, 192, "pc vp 500 RD + Langevin snr 0.16"},
        {"pc", "steps=500,predictor=euler_maruyama", 0, 32, 192, "pc vp 500 EM + Langevin snr 0.16"},
        {"pc", "steps=500", 1, 32, 192, "pc ve 500 RD + Langevin snr 0.16"},
        {"pc", "steps=500,predictor=euler_maruyama", 1, 32, 192, "pc ve 500 EM + Langevin snr 0.16"},
        {"langevin", "steps_per_level=100,eps=2e-5", 1, 1, 6000, "langevin ve L=10 x 100, eps 2e-5"},
        {"ode", NULL, 0, 1, 8000, "ode heun 18 vp"},
        {"ode", NULL, 1, 1, 8000, "ode heun 18 ve"},
        {"dpmpp2m", NULL, 0, 1, 8000, "dpmpp2m 20 vp"},
        {"dpmpp2m", NULL, 1, 1, 8000, "dpmpp2m 20 ve"},
        {"ddim", "steps=50,skip=quadratic", 2, 1, 8000, "cosine: ddim 50 eta=0 quadratic"},
        {"pc", "steps=500", 2, 32, 128, "cosine: pc vp 500 RD + Langevin snr 0.16"},
        {"ode", NULL, 2, 1, 8000, "cosine: ode heun 18 (sigma_max 80)"},
        {"dpmpp2m", NULL, 2, 1, 8000, "cosine: dpmpp2m 20 (sigma_max 80)"},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        SamplerConfig sc;
        test_sampler_config(&sc, runs[r].name, runs[r].opts);
        const Schedule *s = runs[r].ve == 1 ? &ve : runs[r].ve == 2 ? &cs : &vp;
        char what[160];
        double t0 = ddm_now();
        long long nfe;
        float *x = run(&sc, s, &g1, runs[r].D1, runs[r].n1, 1000, 512, NULL, 0, &nfe);
        double dt = ddm_now() - t0;
        size_t np1 = runs[r].D1 * (size_t)runs[r].n1;
        snprintf(what, sizeof what, "%s, 1-D, NFE %lld, %.1fs, W1 %.4f", runs[r].label,
                 sampler_nfe(&sc, s), dt, w1_1d(&g1, x, np1));
        check_moments(what, &g1, x, runs[r].D1 * (size_t)runs[r].n1);
        free(x);
        /* 2-D: same sampler, 2 values per point */
        t0 = ddm_now();
        size_t D2 = runs[r].D1 * 2;
        int n2 = runs[r].n1 * 3 / 4;
        x = run(&sc, s, &g2, D2, n2, 5000, 512, NULL, 0, NULL);
        snprintf(what, sizeof what, "%s, 2-D, %.1fs", runs[r].label, ddm_now() - t0);
        check_moments(what, &g2, x, D2 / 2 * (size_t)n2);
        free(x);
    }
    sched_free(&vp);
    sched_free(&ve);
}

/* KS distance between the samples (1-D) and the mixture */
static double ks_1d(const Gmm *g, const float *x, size_t n)
{
    float *s = xmalloc(n * sizeof(float));
    memcpy(s, x, n * sizeof(float));
    qsort(s, n, sizeof(float), cmp_float);
    double k = 0;
    for (size_t i = 0; i < n; i++) {
        double F = gmm_cdf_1d(g, s[i]);
        k = fmax(k, fmax(fabs(F - (double)i / n), fabs(F - (double)(i + 1) / n)));
    }
    free(s);
    return k;
}

/* 10 steps: DDIM (eta 0) against DDPM with either variance. The deterministic samplers'
 * error at n = 4000 is dominated by the sampling noise of x_T (the mode weight moves by
 * ~0.01 between seed sets), so 40000 samples are used. */
static void test_ddim_vs_ddpm(void)
{
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    Gmm g = gmm_1d();
    const int n = 40000;
    const char *names[] = {"ddim", "ddpm", "ddpm"};
    const char *opts[] = {"steps=10,eta=0", "steps=10", "steps=10,sigma2=beta_tilde"};
    double w1[3], ks[3], we[3];
    for (int i = 0; i < 3; i++) {
        SamplerConfig sc;
        test_sampler_config(&sc, names[i], opts[i]);
        float *x = run(&sc, &vp, &g, 1, n, 0, 4000, NULL, 0, NULL);
        w1[i] = w1_1d(&g, x, n);
        ks[i] = ks_1d(&g, x, n);
        int c0 = 0;
        for (int j = 0; j < n; j++) c0 += gmm_component(&g, x + j) == 0;
        we[i] = fabs((double)c0 / n - 0.3);
        free(x);
    }
    check(w1[0] < w1[1] && w1[0] < w1[2] && ks[0] < ks[1] && ks[0] < ks[2] && we[0] < we[1] && we[0] < we[2],
          "10 steps, %d samples: ddim eta=0 W1 %.4f KS %.4f |w0 err| %.4f beats ddpm (beta) W1 %.4f KS %.4f "
          "|w0 err| %.4f and ddpm (beta~) W1 %.4f KS %.4f |w0 err| %.4f", n, w1[0], ks[0], we[0], w1[1],
          ks[1], we[1], w1[2], ks[2], we[2]);
    sched_free(&vp);
}

/* ------------------------------------------------------------------ identity */

static void test_identity(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    Gmm g = gmm_1d();
    struct { const char *name, *opts; int ve; int cond; } cfgs[] = {
        {"ddpm", "steps=50", 0, 0},      {"ddim", "steps=20,eta=1", 0, 0},
        {"ddim", "steps=20,eta=0", 0, 0}, {"langevin", "steps_per_level=3", 1, 0},
        {"pc", "steps=40,corrector_steps=2", 0, 0}, {"pc", "steps=40", 1, 0},
        {"ode", "steps=8", 0, 0},        {"dpmpp2m", "steps=8", 1, 0},
        {"ddim", "steps=20,eta=0.5,guidance=2", 0, 1},
    };
    const size_t D = 3;
    int labels[16];
    for (int i = 0; i < 16; i++) labels[i] = i % 3; /* 2 = the null label */
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        SamplerConfig sc;
        test_sampler_config(&sc, cfgs[c].name, cfgs[c].opts);
        const Schedule *s = cfgs[c].ve ? &ve : &vp;
        const int *lab = cfgs[c].cond ? labels : NULL;
        float *a = run(&sc, s, &g, D, 16, 0, 16, lab, cfgs[c].cond, NULL);
        float *b = run(&sc, s, &g, D, 16, 0, 5, lab, cfgs[c].cond, NULL);
        float *e = run(&sc, s, &g, D, 16, 0, 16, lab, cfgs[c].cond, NULL);
        /* the same seeds in another order: sample j must follow its seed */
        GmmModel gm;
        gmm_model_init(&gm, &g, s, D, cfgs[c].cond);
        Denoiser m;
        denoiser_init(&m, gmm_denoise, &gm, s, D, gm.num_classes);
        uint64_t rs[16];
        int rl[16];
        float r[16 * 3];
        for (int i = 0; i < 16; i++) { rs[i] = (uint64_t)(15 - i); rl[i] = labels[15 - i]; }
        sampler_run(&sc, s, &m, r, rs, lab ? rl : NULL, 16);
        int same_rev = 1;
        for (int i = 0; i < 16; i++) same_rev &= memcmp(r + i * D, a + (15 - i) * D, D * sizeof(float)) == 0;
        /* one thread vs two */
        ddm_set_threads(1);
        float *t1 = run(&sc, s, &g, D, 16, 0, 16, lab, cfgs[c].cond, NULL);
        ddm_set_threads(0);
        char desc[200];
        sampler_config_describe(&sc, s, desc, sizeof desc);
        check(memcmp(a, b, 16 * D * sizeof(float)) == 0 && memcmp(a, e, 16 * D * sizeof(float)) == 0 &&
                  same_rev && memcmp(a, t1, 16 * D * sizeof(float)) == 0,
              "%s (%s): seeds 0..15 bitwise the same as one batch of 16, batches of 5, reversed, "
              "rerun, 1 thread", desc, sched_process_name(s->cfg.process));
        denoiser_free(&m);
        free(a); free(b); free(e); free(t1);
    }
    /* ddim eta=0 is deterministic and ddpm with beta~ is ddim with eta=1 (same streams) */
    {
        SamplerConfig p, q;
        test_sampler_config(&p, "ddpm", "sigma2=beta_tilde,steps=100");
        test_sampler_config(&q, "ddim", "eta=1,steps=100");
        float *a = run(&p, &vp, &g, 1, 200, 3, 200, NULL, 0, NULL);
        float *b = run(&q, &vp, &g, 1, 200, 3, 200, NULL, 0, NULL);
        check_close("ddpm (beta~, 100 respaced steps) == ddim eta=1, same noise streams", a, b, 200, 1e-4, 1e-4);
        free(a); free(b);
        test_sampler_config(&p, "ddpm", "sigma2=beta_tilde");
        test_sampler_config(&q, "ddim", "eta=1,steps=1000");
        a = run(&p, &vp, &g, 1, 100, 3, 100, NULL, 0, NULL);
        b = run(&q, &vp, &g, 1, 100, 3, 100, NULL, 0, NULL);
        check_close("ddpm (beta~, 1000 steps) == ddim eta=1 1000 steps", a, b, 100, 1e-4, 1e-4);
        free(a); free(b);
    }
    /* one network, three parameterisations: the samples agree */
    {
        Schedule sx, sv;
        test_sched_vp(&sx, PRED_X0);
        test_sched_vp(&sv, PRED_V);
        SamplerConfig q;
        test_sampler_config(&q, "ddim", "steps=50,eta=0");
        float *a = run(&q, &vp, &g, 1, 300, 9, 300, NULL, 0, NULL);
        float *b = run(&q, &sx, &g, 1, 300, 9, 300, NULL, 0, NULL);
        float *c = run(&q, &sv, &g, 1, 300, 9, 300, NULL, 0, NULL);
        check_close("ddim with an x0-predicting network == with eps", b, a, 300, 2e-3, 1e-3);
        check_close("ddim with a v-predicting network == with eps", c, a, 300, 2e-3, 1e-3);
        free(a); free(b); free(c);
        test_sampler_config(&q, "dpmpp2m", "steps=15");
        a = run(&q, &vp, &g, 1, 300, 9, 300, NULL, 0, NULL);
        c = run(&q, &sv, &g, 1, 300, 9, 300, NULL, 0, NULL);
        check_close("dpmpp2m with a v-predicting network == with eps", c, a, 300, 2e-3, 1e-3);
        free(a); free(c);
        sched_free(&sx);
        sched_free(&sv);
    }
    /* large samples (B*D >= 2^16: the threaded paths of the updates and draws) */
    {
        SamplerConfig q;
        test_sampler_config(&q, "pc", "steps=10,corrector_steps=1");
        const size_t DL = 4096;
        float *a = run(&q, &vp, &g, DL, 20, 40, 20, NULL, 0, NULL);
        float *b = run(&q, &vp, &g, DL, 20, 40, 7, NULL, 0, NULL);
        ddm_set_threads(1);
        float *c = run(&q, &vp, &g, DL, 20, 40, 20, NULL, 0, NULL);
        ddm_set_threads(0);
        check(memcmp(a, b, 20 * DL * sizeof(float)) == 0 && memcmp(a, c, 20 * DL * sizeof(float)) == 0,
              "pc vp with D=4096 (threaded loops): batch of 20 == batches of 7 == 1 thread, bitwise");
        free(a); free(b); free(c);
    }
    /* clip: x0^ clipped to [-1,1] (images); the mixture's modes lie outside */
    {
        SamplerConfig q;
        int inside = 1;
        for (int k = 0; k < 2; k++) {
            test_sampler_config(&q, k ? "ddpm" : "ddim", k ? "steps=50,clip=1" : "steps=20,clip=1");
            float *a = run(&q, &vp, &g, 1, 200, 0, 200, NULL, 0, NULL);
            for (int i = 0; i < 200; i++) inside &= a[i] >= -1.0f && a[i] <= 1.0f;
            free(a);
        }
        check(inside, "clip=1: ddim and ddpm outputs lie in [-1,1]");
    }
    sched_free(&vp);
    sched_free(&ve);
}

/* the probability-flow ODE of a Gaussian N(mu, v) maps xbar_T to
 * mu + (xbar_T - mu) sqrt(v / (v + sigma_max^2)) (in the xbar = x/s variable) */
static void test_ode_exact(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    Gmm g = gmm_single();
    const int n = 64;
    for (int p = 0; p < 2; p++) {
        const Schedule *s = p ? &ve : &vp;
        double smax = fmin(80.0, sched_sigma_max(s)); /* the ode samplers' default cap */
        double scale = p ? smax : sqrt(1 + smax * smax);
        float *z = xalloc_floats(n), *ex = xalloc_floats(n);
        uint64_t seeds[64];
        for (int i = 0; i < n; i++) seeds[i] = 500 + (uint64_t)i;
        sampler_draw_normals(z, seeds, SAMPLER_STREAM_INIT, n, 1);
        for (int i = 0; i < n; i++)
            ex[i] = (float)(0.5 + (scale * z[i] - 0.5) * sqrt(0.3 / (0.3 + smax * smax)));
        /* error at N and 4N steps: 2nd order (Heun, DPM-Solver++(2M)) gains ~16x, 1st order
         * (DDIM = Euler in xbar) ~4x */
        const char *names[] = {"ode", "dpmpp2m", "ddim"};
        const int n1[] = {25, 25, 50};
        const double tol[] = {3e-3, 3e-3, 2e-2}, gain[] = {8, 8, 3};
        for (int k = 0; k < (p ? 2 : 3); k++) {
            double err[2];
            for (int q = 0; q < 2; q++) {
                SamplerConfig sc;
                char o[64];
                snprintf(o, sizeof o, "steps=%d", n1[k] * (q ? 4 : 1));
                test_sampler_config(&sc, names[k], o);
                float *x = run(&sc, s, &g, 1, n, 500, n, NULL, 0, NULL);
                err[q] = 0;
                for (int i = 0; i < n; i++) err[q] = fmax(err[q], fabs(x[i] - ex[i]) / (fabs(ex[i] - 0.5) + 0.1));
                free(x);
            }
            check(err[1] < tol[k] && err[0] / err[1] > gain[k],
                  "%s %s on N(0.5, 0.3): exact probability-flow map, max rel err %.2g at %d steps, %.2g at %d "
                  "(gain %.1f)", names[k], sched_process_name(s->cfg.process), err[0], n1[k], err[1],
                  4 * n1[k], err[0] / err[1]);
        }
        free(z);
        free(ex);
    }
    sched_free(&vp);
    sched_free(&ve);
}

/* ------------------------------------------------------------------ guidance, nfe */

static void test_guidance(void)
{
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    Gmm g = gmm_1d();
    enum { B = 6 };
    GmmModel gm;
    gmm_model_init(&gm, &g, &vp, 1, 1);
    float x[B] = {-2.5f, -1.0f, 0.0f, 0.7f, 1.4f, 3.0f}, tc[B] = {10, 100, 300, 500, 700, 999};
    int lab[B] = {0, 1, 0, 1, 0, 1}, nul[B] = {2, 2, 2, 2, 2, 2};
    float oc[B], ou[B], want[B], got[B], got2[B];
    gmm_denoise(&gm, oc, x, tc, lab, B);
    gmm_denoise(&gm, ou, x, tc, nul, B);
    const double w = 1.7;
    for (int i = 0; i < B; i++) want[i] = (float)((1 + w) * oc[i] - w * ou[i]);
    Denoiser m;
    denoiser_init(&m, gmm_denoise, &gm, &vp, 1, 2);
    uint64_t sd[B] = {0, 1, 2, 3, 4, 5};
    denoiser_begin(&m, sd, lab, w, B);
    denoiser_output(&m, got, x, tc);
    long long n1 = m.nfe, c1 = m.calls;
    m.batched_guidance = 1;
    denoiser_output(&m, got2, x, tc);
    check_close("guidance: (1+w) eps(x,c) - w eps(x,null), two calls", got, want, B, 1e-7, 1e-6);
    check(memcmp(got, got2, sizeof got) == 0 && n1 == 2 && m.nfe == 4 && c1 == 2 && m.calls == 3,
          "guidance: one batched call of 2B gives the same bytes; NFE 2 per evaluation (calls %lld, %lld)",
          c1, m.calls - c1);
    /* check the toy conditional model itself: class c's eps is that of component c alone */
    double xd = x[1], e;
    double a = vp.sqrt_alpha_bar[100], sg = vp.sqrt_one_minus_alpha_bar[100];
    e = sg * (xd - a * 1.5) / (a * a * 0.25 + sg * sg);
    check(fabs(oc[1] - e) < 1e-6, "toy conditional model: eps(x, c=1) = that of N(1.5, 0.25) (%.6f vs %.6f)",
          oc[1], e);
    denoiser_free(&m);
    /* conditional sampling (w = 0) reproduces each class's component; guidance (w = 3)
     * keeps every sample in its class and pushes the classes apart (the guided score
     * (1+w) s(x|c) - w s(x) repels from the other mode while the modes overlap) */
    {
        const int n = 400;
        int *labels = xmalloc(sizeof(int) * n);
        for (int i = 0; i < n; i++) labels[i] = i % 2;
        double mw[2][2];
        int right[2];
        long long nfe[2];
        for (int gi = 0; gi < 2; gi++) {
            SamplerConfig sc;
            test_sampler_config(&sc, "ddim", gi ? "steps=50,guidance=3" : "steps=50");
            float *xs = run(&sc, &vp, &g, 1, n, 0, 100, labels, 1, &nfe[gi]);
            right[gi] = 0;
            mw[gi][0] = mw[gi][1] = 0;
            for (int i = 0; i < n; i++) {
                right[gi] += gmm_component(&g, xs + i) == labels[i];
                mw[gi][labels[i]] += xs[i] / (n / 2);
            }
            free(xs);
        }
        check(right[0] == n && fabs(mw[0][0] + 2) < 0.05 && fabs(mw[0][1] - 1.5) < 0.1 && nfe[0] == 50 * (n / 100),
              "conditional ddim (w=0): %d/%d samples in their class's component, class means %.3f (-2), "
              "%.3f (1.5)", right[0], n, mw[0][0], mw[0][1]);
        check(right[1] == n && mw[1][0] < mw[0][0] - 0.1 && mw[1][1] > mw[0][1] + 0.1 &&
                  nfe[1] == 2 * 50 * (n / 100),
              "guided ddim (w=3): %d/%d in their class's component, class means pushed apart to %.3f, %.3f; "
              "NFE %lld = 2 x 50", right[1], n, mw[1][0], mw[1][1], nfe[1] / (n / 100));
        free(labels);
    }
    sched_free(&vp);
}

static void test_nfe(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    Gmm g = gmm_1d();
    struct { const char *name, *opts; int ve; } cfgs[] = {
        {"ddpm", "steps=30", 0}, {"ddim", "steps=25", 0}, {"langevin", "steps_per_level=4", 1},
        {"langevin", "steps_per_level=4,denoise=0", 1}, {"pc", "steps=20,corrector_steps=2", 0},
        {"pc", "steps=20,predictor=none,corrector_steps=3", 1}, {"ode", "steps=7", 1},
        {"dpmpp2m", "steps=9", 0},
    };
    int ok = 1;
    char line[512] = "";
    size_t len = 0;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        SamplerConfig sc;
        test_sampler_config(&sc, cfgs[c].name, cfgs[c].opts);
        const Schedule *s = cfgs[c].ve ? &ve : &vp;
        long long nfe;
        float *x = run(&sc, s, &g, 1, 4, 0, 4, NULL, 0, &nfe);
        free(x);
        ok &= nfe == sampler_nfe(&sc, s);
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s=%lld", c ? ", " : "", cfgs[c].name, nfe);
    }
    check(ok, "counted NFE equals sampler_nfe: %s", line);
    sched_free(&vp);
    sched_free(&ve);
}

/* ------------------------------------------------------------------ sample tasks */

/* An inpainting task in the manner of RePaint (Lugmayr et al. 2022, Alg. 1) on the
 * driver's hooks: values j % 4 < 2 of every sample are known (x0 = known[j]); after every
 * step they are replaced by q(x_level | known) with the task's own noise; with jump > 0,
 * after step i (i % jump == jump - 1 and until each step was jumped once) the state goes
 * back `jump` levels. start > 0: the initial state is the known values noised to that
 * level (SDEdit, Meng et al. 2022) instead of the prior. */
typedef struct {
    const float *known;  /* (B,D) */
    int start, jump, jumps_left, jumps_done;
    int *jumped;         /* per step */
} InpaintCtx;

static void inpaint_blend(const SampleRun *r, const float *known, int level, float *x)
{
    const SamplerPlan *p = r->plan;
    float *z = xalloc_floats(r->n), *q = xalloc_floats(r->n);
    sampler_draw_normals(z, r->seeds, ((uint64_t)1 << 50) + r->stream_offset + (uint64_t)level,
                         r->B, r->D);
    sampler_q_sample(q, known, z, p->a[level], p->sg[level], r->n);
    for (size_t j = 0; j < r->n; j++)
        if (j % 4 < 2) x[j] = q[j];
    free(z);
    free(q);
}

static int inpaint_init(void *ctx, const SampleRun *r, float *x)
{
    InpaintCtx *c = ctx;
    float *z = xalloc_floats(r->n);
    sampler_draw_normals(z, r->seeds, SAMPLER_STREAM_INIT, r->B, r->D);
    const SamplerPlan *p = r->plan;
    if (c->start == 0)
        for (size_t j = 0; j < r->n; j++) x[j] = (float)(p->prior_std * z[j]);
    else
        sampler_q_sample(x, c->known, z, p->a[c->start], p->sg[c->start], r->n);
    free(z);
    inpaint_blend(r, c->known, c->start, x);
    return c->start;
}

static int inpaint_after(void *ctx, const SampleRun *r, int i, float *x)
{
    InpaintCtx *c = ctx;
    inpaint_blend(r, c->known, i + 1, x);
    if (c->jump > 0 && i + 1 < r->plan->N && i + 1 >= c->jump && !c->jumped[i] &&
        i % c->jump == c->jump - 1) {
        c->jumped[i] = 1;
        c->jumps_done++;
        return i + 1 - c->jump;
    }
    return i + 1;
}

static float *run_task(const SamplerConfig *sc, const Schedule *s, const Gmm *g, size_t D,
                       int nsamples, int batch, const float *known, int start, int jump,
                       long long *nfe, int *jumps)
{
    GmmModel gm;
    gmm_model_init(&gm, g, s, D, 0);
    Denoiser m;
    denoiser_init(&m, gmm_denoise, &gm, s, D, 0);
    float *x = xalloc_floats((size_t)nsamples * D);
    uint64_t *seeds = xmalloc(sizeof(uint64_t) * (size_t)nsamples);
    for (int i = 0; i < nsamples; i++) seeds[i] = (uint64_t)i;
    int total_jumps = 0;
    for (int i = 0; i < nsamples; i += batch) {
        int b = nsamples - i < batch ? nsamples - i : batch;
        int jumped[4096] = {0};
        InpaintCtx c = {known + (size_t)i * D, start, jump, 0, 0, jumped};
        SampleTask t = {"inpaint", &c, inpaint_init, inpaint_after, 0};
        sampler_run_task(sc, s, &m, &t, x + (size_t)i * D, seeds + i, NULL, b);
        total_jumps += c.jumps_done;
    }
    if (nfe) *nfe = m.nfe;
    if (jumps) *jumps = total_jumps;
    denoiser_free(&m);
    free(seeds);
    return x;
}

/* a task with no hooks is plain generation, byte for byte */
static void test_tasks(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    Gmm g = gmm_1d();
    const size_t D = 4;
    enum { NS = 48 };
    struct { const char *name, *opts; int ve; } cfgs[] = {
        {"ddpm", "steps=40", 0}, {"ddim", "steps=20", 0}, {"ddim", "steps=20,eta=1", 0},
        {"pc", "steps=30", 0},   {"ode", "steps=10", 0},  {"dpmpp2m", "steps=12", 0},
        {"unipc", "steps=12", 0}, {"langevin", "steps=10,steps_per_level=2", 1},
        {"pc", "steps=10", 1},    {"ode", "steps=10", 1},  {"dpmpp2m", "steps=10", 1},
    };
    float *known = xalloc_floats(NS * D);
    gmm_sample(&g, known, NS * D, 77);
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        SamplerConfig sc;
        test_sampler_config(&sc, cfgs[c].name, cfgs[c].opts);
        const Schedule *s = cfgs[c].ve ? &ve : &vp;
        char desc[200];
        sampler_config_describe(&sc, s, desc, sizeof desc);
        const char *proc = sched_process_name(s->cfg.process);
        /* the trivial task */
        GmmModel gm;
        gmm_model_init(&gm, &g, s, D, 0);
        Denoiser m;
        denoiser_init(&m, gmm_denoise, &gm, s, D, 0);
        uint64_t seeds[NS];
        for (int i = 0; i < NS; i++) seeds[i] = (uint64_t)i;
        float *a = xalloc_floats(NS * D), *b = xalloc_floats(NS * D);
        sampler_run(&sc, s, &m, a, seeds, NULL, NS);
        SampleTask none = {"none", NULL, NULL, NULL, 0};
        sampler_run_task(&sc, s, &m, &none, b, seeds, NULL, NS);
        check(memcmp(a, b, NS * D * sizeof(float)) == 0,
              "%s (%s): a task without hooks gives plain generation's bytes", desc, proc);
        denoiser_free(&m);
        /* inpainting from the prior, with and without jumps back */
        long long nfe0, nfe1;
        int j0, j1;
        float *p0 = run_task(&sc, s, &g, D, NS, NS, known, 0, 0, &nfe0, &j0);
        float *p1 = run_task(&sc, s, &g, D, NS, NS, known, 0, 2, &nfe1, &j1);
        float *p1b = run_task(&sc, s, &g, D, NS, 5, known, 0, 2, NULL, NULL);
        int kept0 = 1, kept1 = 1;
        double moved = 0;
        for (size_t j = 0; j < NS * D; j++)
            if (j % 4 < 2) {
                kept0 &= p0[j] == known[j];
                kept1 &= p1[j] == known[j];
            } else {
                moved += fabs(p0[j] - p1[j]);
            }
        check(kept0 && kept1 && moved > 0 && j1 > 0 && nfe1 > nfe0 &&
                  memcmp(p1, p1b, NS * D * sizeof(float)) == 0,
              "%s (%s): known values kept exactly at the end, with %d jumps back (NFE %lld -> "
              "%lld, the unknown values differ by %.3g in all) and batches of 5 == 48",
              desc, proc, j1, nfe0, nfe1, moved);
        free(a); free(b); free(p0); free(p1); free(p1b);
    }
    /* SDEdit-style start at a middle level: NFE of the remaining steps only; start = N
     * (no step) returns the input itself */
    {
        SamplerConfig sc;
        test_sampler_config(&sc, "ddim", "steps=20");
        long long nfe;
        float *x = run_task(&sc, &vp, &g, D, NS, NS, known, 12, 0, &nfe, NULL);
        check(nfe == 8, "ddim 20 steps started at level 12 of 20: %lld NFE (8)", nfe);
        free(x);
        x = run_task(&sc, &vp, &g, D, NS, NS, known, 20, 0, &nfe, NULL);
        check(nfe == 0 && memcmp(x, known, NS * D * sizeof(float)) == 0,
              "started at the last level (the data): no step, the input comes back (NFE %lld)", nfe);
        free(x);
    }
    /* the forward process between two levels: q(x2 | x1) has mean (a2/a1) x1 and variance
     * sg2^2 - (a2/a1)^2 sg1^2, so from q(x1 | x0) it lands on q(x2 | x0) */
    {
        const size_t n = 200000;
        float *x = xalloc_floats(n), *z = xalloc_floats(n);
        uint64_t seed = 5;
        Rng r;
        rng_init(&r, seed, 1);
        rng_fill_normal(&r, z, n);
        const double a1 = 0.9, sg1 = sqrt(1 - 0.81), a2 = 0.5, sg2 = sqrt(0.75), x0 = 0.7;
        for (size_t i = 0; i < n; i++) x[i] = (float)(a1 * x0 + sg1 * z[i]);
        rng_init(&r, seed, 2);
        rng_fill_normal(&r, z, n);
        sampler_q_forward(x, z, a1, sg1, a2, sg2, n);
        double m1 = 0, m2 = 0;
        for (size_t i = 0; i < n; i++) { m1 += x[i]; m2 += (double)x[i] * x[i]; }
        m1 /= n;
        m2 = m2 / n - m1 * m1;
        check(fabs(m1 - a2 * x0) < 0.01 && fabs(m2 - sg2 * sg2) < 0.01,
              "q_forward from q(x1|x0) lands on q(x2|x0): mean %.4f (%.4f), var %.4f (%.4f)",
              m1, a2 * x0, m2, sg2 * sg2);
        free(x);
        free(z);
    }
    free(known);
    sched_free(&vp);
    sched_free(&ve);
}

/* ------------------------------------------------------------------ UniPC */

static int points_init(void *ctx, const SampleRun *r, float *x)
{
    memcpy(x, ctx, r->n * sizeof(float));
    return 0;
}

/* UniPC (core/samplers/unipc.c) against tests/ref/unipc_ref.py, an independent NumPy
 * version of Zhao et al. 2023 in the same parameterization, on the 1-D mixture
 * 0.5 N(-1, 0.1^2) + 0.5 N(1, 0.2^2) (ve, sigma 0.002..80): the four fixed points of
 * `unipc_ref.py --points` through 6 Karras steps; and its accuracy against DPM-Solver++(2M)
 * at 20 steps, measured from a 500-step Heun solution. */
static void test_unipc(void)
{
    Schedule ve;
    SchedConfig c;
    sched_config_default(&c);
    c.process = PROC_VE;
    c.sigma_min = 0.002;
    c.sigma_max = 80;
    c.num_scales = 2; /* tcond in [0,1]: float conditioning loses ~1e-7 of sigma */
    sched_init(&ve, &c);
    Gmm g = {0};
    g.K = 2;
    g.dim = 1;
    g.w[0] = 0.5; g.mu[0][0] = -1.0; g.var[0] = 0.01;
    g.w[1] = 0.5; g.mu[1][0] = 1.0;  g.var[1] = 0.04;
    GmmModel gm;
    gmm_model_init(&gm, &g, &ve, 1, 0);
    Denoiser m;
    denoiser_init(&m, gmm_denoise, &gm, &ve, 1, 0);
    float pts[4] = {-100.0f, -7.5f, 0.25f, 60.0f}, out[4];
    uint64_t seeds[4] = {0, 1, 2, 3};
    SampleTask t = {"points", pts, points_init, NULL, 0};
    struct { const char *name, *opts, *label; double want[4]; } ref[] = {
        {"unipc", "steps=6", "UniPC-2 bh2",
         {-1.494515754618, -0.013416673245, 0.248899414834, 1.410696816787}},
        {"unipc", "steps=6,variant=bh1", "UniPC-2 bh1",
         {-3.865367357393, -2.002025908166, 0.528649367900, 4.442915946502}},
        {"unipc", "steps=6,order=3", "UniPC-3 bh2",
         {-2.176567642380, -0.982660873250, 0.227515988643, 2.404273932137}},
        {"unipc", "steps=6,order=1", "UniPC-1 bh2",
         {-0.986017730375, 0.043044169960, 0.142064591840, 0.780884749945}},
        {"dpmpp2m", "steps=6", "DPM-Solver++(2M)",
         {-1.473577440795, 0.014312488636, 0.247578041175, 1.376814702030}},
    };
    for (size_t k = 0; k < sizeof ref / sizeof ref[0]; k++) {
        SamplerConfig sc;
        test_sampler_config(&sc, ref[k].name, ref[k].opts);
        long long n0 = m.nfe;
        sampler_run_task(&sc, &ve, &m, &t, out, seeds, NULL, 4);
        double worst = 0;
        for (int i = 0; i < 4; i++) {
            /* |a - b| <= 2e-6 + 2e-5 |b|: float state against double */
            double e = fabs(out[i] - ref[k].want[i]) / (2e-6 + 2e-5 * fabs(ref[k].want[i]));
            if (e > worst) worst = e;
        }
        check(worst <= 1 && m.nfe - n0 == 6,
              "%s, 6 steps from 4 fixed points = tests/ref/unipc_ref.py --points: %.6f %.6f %.6f "
              "%.6f (worst error %.2f of the tolerance), NFE %lld", ref[k].label, out[0], out[1], out[2], out[3],
              worst, m.nfe - n0);
    }
    /* accuracy: 2000 points from sigma 80, against Heun at 500 steps */
    enum { NP = 2000 };
    float *x0 = xalloc_floats(NP), *xr = xalloc_floats(NP), *xa = xalloc_floats(NP);
    uint64_t *sd = xmalloc(sizeof *sd * NP);
    for (int i = 0; i < NP; i++) sd[i] = (uint64_t)i;
    sampler_draw_normals(x0, sd, SAMPLER_STREAM_INIT, NP, 1);
    for (int i = 0; i < NP; i++) x0[i] *= 80.0f;
    SampleTask ti = {"points", x0, points_init, NULL, 0};
    SamplerConfig sc;
    test_sampler_config(&sc, "ode", "steps=500");
    sampler_run_task(&sc, &ve, &m, &ti, xr, sd, NULL, NP);
    double err[2];
    const char *who[2] = {"unipc", "dpmpp2m"};
    for (int k = 0; k < 2; k++) {
        test_sampler_config(&sc, who[k], "steps=20");
        sampler_run_task(&sc, &ve, &m, &ti, xa, sd, NULL, NP);
        err[k] = 0;
        for (int i = 0; i < NP; i++) err[k] += fabs(xa[i] - xr[i]) / NP;
    }
    check(err[0] < 0.7 * err[1],
          "20 steps, 2000 points: UniPC-2 mean error %.3g < 0.7 x DPM-Solver++(2M)'s %.3g "
          "(against Heun, 500 steps)", err[0], err[1]);
    free(x0); free(xr); free(xa); free(sd);
    denoiser_free(&m);
    sched_free(&ve);
}

int main(void)
{
    double t0 = ddm_now();
#define SECTION(f) do { double ts = ddm_now(); f(); printf("# %s: %.1fs\n", #f, ddm_now() - ts); } while (0)
    test_config();
    test_uint8();
    test_update_rules();
    test_gmm();
    SECTION(test_hand_runs);
    SECTION(test_nfe);
    SECTION(test_guidance);
    SECTION(test_tasks);
    SECTION(test_unipc);
    SECTION(test_identity);
    SECTION(test_ode_exact);
    SECTION(test_ddim_vs_ddpm);
    SECTION(test_moments);
    printf("test_samplers: %.1fs\n", ddm_now() - t0);
    return test_summary();
}
