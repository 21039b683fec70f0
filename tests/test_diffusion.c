/* Schedules (core/sched.*) and the training side (core/diffusion.*): table values by hand,
 * the sigma <-> tcond map, prediction conversions, targets, weights, the loss and its
 * gradient against central differences, and the per-image training draws. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/diffusion.h"
#include "core/rng.h"
#include "core/sched.h"
#include "tests/testlib.h"

#define PI 3.14159265358979323846

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

static void test_linear(void)
{
    SchedConfig cfg;
    sched_config_default(&cfg);
    Schedule s;
    sched_init(&s, &cfg);
    check(s.n == 1000 && s.beta[0] == 1e-4 && fabs(s.beta[999] - 0.02) < 1e-17,
          "linear: T=1000, beta_1 = %.6g, beta_T = %.6g", s.beta[0], s.beta[999]);
    double b1 = 1e-4 + (0.02 - 1e-4) / 999.0;
    check(rel(s.beta[1], b1) < 1e-14, "linear: beta_2 = 1e-4 + 0.0199/999 = %.10g", s.beta[1]);
    /* alpha_bar by hand: prod (1 - beta) */
    double want1 = (1 - 1e-4) * (1 - b1);
    check(rel(s.alpha_bar[0], 0.9999) < 1e-15 && rel(s.alpha_bar[1], want1) < 1e-15,
          "linear: alpha_bar_1 = 0.9999 (%.16g), alpha_bar_2 = 0.9999*(1-beta_2) (%.16g)",
          s.alpha_bar[0], s.alpha_bar[1]);
    /* reference values: running product in double (python, same formula) */
    const int ks[] = {9, 99, 499, 999};
    const double ref[] = {0.9981052047858344, 0.89701814567496, 0.07858724288177821,
                          4.0358297653756754e-05};
    for (int i = 0; i < 4; i++)
        check(rel(s.alpha_bar[ks[i]], ref[i]) < 1e-12, "linear: alpha_bar[t=%d] = %.12g (ref %.12g)",
              ks[i] + 1, s.alpha_bar[ks[i]], ref[i]);
    check(s.alpha_bar_prev[0] == 1.0 && s.alpha_bar_prev[500] == s.alpha_bar[499],
          "alpha_bar_prev: 1 at t=1, alpha_bar_{t-1} after");
    /* posterior (DDPM eq. 7) */
    check(s.beta_tilde[0] == 0 && rel(s.post_coef_x0[0], 1.0) < 1e-12 && s.post_coef_xt[0] == 0,
          "posterior at t=1: beta~ = 0, mean = x0 (c0 = %.15g, ct = %g)", s.post_coef_x0[0],
          s.post_coef_xt[0]);
    {
        int k = 500;
        double bt = (1 - s.alpha_bar[499]) / (1 - s.alpha_bar[500]) * s.beta[500];
        check(rel(s.beta_tilde[k], bt) < 1e-14, "beta~_501 = (1-ab_500)/(1-ab_501) beta_501 = %.10g",
              bt);
        /* c0 x0 + ct x_t equals 1/sqrt(alpha)(x_t - beta/sqrt(1-ab) eps) (DDPM eq. 7 vs 11) */
        double worst = 0;
        for (int t = 1; t < 1000; t += 37) {
            double x0 = 0.7, eps = -1.3;
            double xt = s.sqrt_alpha_bar[t] * x0 + s.sqrt_one_minus_alpha_bar[t] * eps;
            double m1 = s.post_coef_x0[t] * x0 + s.post_coef_xt[t] * xt;
            double m2 = (xt - s.beta[t] / s.sqrt_one_minus_alpha_bar[t] * eps) / sqrt(s.alpha[t]);
            worst = fmax(worst, fabs(m1 - m2));
        }
        check(worst < 1e-12, "posterior mean: c0 x0 + ct xt = (xt - beta/sqrt(1-ab) eps)/sqrt(alpha), "
              "max diff %.3g", worst);
    }
    /* VLB weight (DDPM eq. 12 with sigma^2 = beta) */
    {
        double lam0 = 1e-4 / (2 * 0.9999 * 1e-4);
        double mean = 0;
        for (int k = 0; k < 1000; k++) mean += s.vlb_weight[k];
        mean /= 1000;
        double lam = s.beta[700] * s.beta[700] /
                     (2 * s.beta[700] * s.alpha[700] * (1 - s.alpha_bar[700]));
        check(rel(s.vlb_lambda[0], lam0) < 1e-12 && rel(s.vlb_lambda[700], lam) < 1e-12 &&
                  fabs(mean - 1) < 1e-12 && s.vlb_weight[0] > s.vlb_weight[999],
              "vlb: lambda_1 = 1/(2 alpha_1) = %.6g, lambda_701 = %.6g, weights mean %.15g, "
              "w_1 %.4g > w_T %.4g", s.vlb_lambda[0], s.vlb_lambda[700], mean, s.vlb_weight[0],
              s.vlb_weight[999]);
    }
    /* VE-equivalent sigma and the continuous-time VP SDE */
    {
        double worst = 0;
        for (int k = 0; k < 1000; k++)
            worst = fmax(worst, rel(1.0 / (1.0 + s.sigma[k] * s.sigma[k]), s.alpha_bar[k]));
        check(worst < 1e-12, "vp sigma = sqrt((1-ab)/ab): 1/(1+sigma^2) = alpha_bar (rel %.2g)", worst);
        double dl = 0, sumb2 = 0;
        for (int k = 0; k < 1000; k++) {
            sumb2 += 0.5 * s.beta[k] * s.beta[k];
            dl = fmax(dl, fabs(log(sched_vpsde_alpha_bar(&s, (k + 1) / 1000.0)) - log(s.alpha_bar[k])));
        }
        check(dl < 0.01 + sumb2 * 1.5,
              "vp sde (linear beta(t), Song et al. eq. 33) vs discrete: max |d log ab| = %.4f "
              "(O(sum beta^2/2) = %.4f)", dl, sumb2);
        check(rel(sched_vpsde_beta(&s, 0), 0.1) < 1e-12 && rel(sched_vpsde_beta(&s, 1), 20) < 1e-12,
              "vp sde: beta(0) = T beta_start = 0.1, beta(1) = T beta_end = 20");
    }
    /* tcond <-> sigma, vp */
    {
        int ok = 1;
        for (int k = 0; k < 1000; k++) ok &= sched_tcond(&s, s.sigma[k]) == k && sched_sigma(&s, k) == s.sigma[k];
        check(ok, "vp: tcond(sigma_k) = k and sigma(k) = sigma_k for every level");
        double worst = 0;
        for (double t = 0.3; t < 999; t += 13.37)
            worst = fmax(worst, fabs(sched_tcond(&s, sched_sigma(&s, t)) - t));
        double smid = sched_sigma(&s, 10.5);
        check(worst < 1e-9 && smid > s.sigma[10] && smid < s.sigma[11] &&
                  rel(smid, sqrt(s.sigma[10] * s.sigma[11])) < 1e-12,
              "vp: fractional tcond round trip (max err %.2g), sigma(10.5) = geometric mean of "
              "neighbours", worst);
        check(sched_tcond(&s, 1e-6) == 0 && sched_tcond(&s, 1e6) == 999,
              "vp: tcond clamps to [0, T-1] outside the schedule's sigmas");
        double a, sg;
        sched_marginal(&s, s.sigma[300], &a, &sg);
        check(rel(a, s.sqrt_alpha_bar[300]) < 1e-12 && rel(sg, s.sqrt_one_minus_alpha_bar[300]) < 1e-12,
              "vp marginal at sigma_k: a = sqrt(ab), sg = sqrt(1-ab)");
    }
    /* subsequences */
    {
        int tau[1000];
        sched_subsequence(&s, 10, SKIP_UNIFORM, tau);
        const int want[10] = {0, 111, 222, 333, 444, 555, 666, 777, 888, 999};
        check(memcmp(tau, want, sizeof want) == 0, "uniform 10 of 1000: 0 111 ... 888 999 (got %d %d .. %d)",
              tau[0], tau[1], tau[9]);
        int n = sched_subsequence(&s, 50, SKIP_QUADRATIC, tau), inc = 1;
        for (int i = 1; i < n; i++) inc &= tau[i] > tau[i - 1];
        check(inc && tau[0] == 0 && tau[49] == 999 && tau[1] == 1 && tau[25] == 260,
              "quadratic 50: strictly increasing 0 .. 999, tau_1=%d tau_25=%d (round(0.5102^2*999)=260)",
              tau[1], tau[25]);
        sched_subsequence(&s, 1000, SKIP_QUADRATIC, tau);
        int id = 1;
        for (int i = 0; i < 1000; i++) id &= tau[i] == i;
        sched_subsequence(&s, 1, SKIP_UNIFORM, tau);
        check(id && tau[0] == 999, "N = T gives every step; N = 1 gives {T-1}");
    }
    sched_free(&s);
}

static void test_cosine(void)
{
    SchedConfig cfg;
    sched_config_default(&cfg);
    cfg.schedule = SCHED_COSINE;
    Schedule s;
    sched_init(&s, &cfg);
    double f0 = cos(0.008 / 1.008 * PI / 2), f1 = cos((0.001 + 0.008) / 1.008 * PI / 2);
    double ab1 = f1 * f1 / (f0 * f0);
    check(rel(s.alpha_bar[0], ab1) < 1e-13, "cosine: alpha_bar_1 = f(1/T)/f(0) = %.15g", ab1);
    check(s.beta[999] == 0.999 && s.beta[998] < 0.999, "cosine: beta_T clipped to 0.999, beta_{T-1} = %.6g",
          s.beta[998]);
    check(rel(s.alpha_bar[998], 2.4287669070348544e-06) < 1e-9 &&
              rel(s.alpha_bar[999], s.alpha_bar[998] * 0.001) < 1e-12 &&
              rel(s.alpha_bar[499], 0.4938435904406382) < 1e-12,
          "cosine: alpha_bar[t=500] = %.12g (0.4938435904), [t=999] = %.6g, [t=T] = %.6g",
          s.alpha_bar[499], s.alpha_bar[998], s.alpha_bar[999]);
    double worst = 0;
    for (int k = 0; k < 999; k++)
        worst = fmax(worst, rel(sched_vpsde_alpha_bar(&s, (k + 1) / 1000.0), s.alpha_bar[k]));
    check(worst < 1e-9, "cosine: continuous alpha_bar(t) matches the discrete table before the clip "
          "(rel %.2g)", worst);
    /* beta(t) = -d log ab/dt, by central difference */
    double t = 0.37, h = 1e-5;
    double fd = -(log(sched_vpsde_alpha_bar(&s, t + h)) - log(sched_vpsde_alpha_bar(&s, t - h))) / (2 * h);
    check(rel(sched_vpsde_beta(&s, t), fd) < 1e-6, "cosine: beta(t) = -d log ab/dt (%.8g vs %.8g)",
          sched_vpsde_beta(&s, t), fd);
    sched_free(&s);
}

static void test_ve(void)
{
    SchedConfig cfg;
    sched_config_default(&cfg);
    cfg.process = PROC_VE;
    cfg.sigma_min = 0.01;
    cfg.sigma_max = 10;
    cfg.num_scales = 10;
    Schedule s;
    sched_init(&s, &cfg);
    double r = pow(1000.0, 1.0 / 9), worst = 0;
    for (int k = 0; k + 1 < 10; k++) worst = fmax(worst, rel(s.sigma[k + 1] / s.sigma[k], r));
    check(s.sigma[0] == 0.01 && s.sigma[9] == 10 && worst < 1e-12 && rel(s.sigma[3], 0.1) < 1e-12,
          "ve: sigmas geometric 0.01 .. 10, ratio 1000^(1/9) = %.6f (rel %.2g), sigma_4 = 0.1", r, worst);
    int ok = 1;
    for (int k = 0; k < 10; k++) ok &= fabs(sched_tcond(&s, s.sigma[k]) - k) < 1e-12;
    check(ok && fabs(sched_tcond(&s, sqrt(0.01 * r * 0.01)) - 0.5) < 1e-12,
          "ve: tcond(sigma_k) = k (level index from sigma_min), log-linear between levels");
    check(fabs(sched_sigma(&s, sched_tcond(&s, 3.7)) - 3.7) < 1e-12 && rel(sched_sigma(&s, 9), 10) < 1e-12,
          "ve: sigma(tcond) inverts tcond");
    /* VE SDE: sigma(t) geometric, g^2 = d sigma^2/dt */
    double t = 0.4, h = 1e-6;
    double fd = (pow(sched_vesde_sigma(&s, t + h), 2) - pow(sched_vesde_sigma(&s, t - h), 2)) / (2 * h);
    check(rel(sched_vesde_sigma(&s, 3.0 / 9), s.sigma[3]) < 1e-12 && rel(sched_vesde_g2(&s, t), fd) < 1e-6,
          "ve sde: sigma(k/(L-1)) = sigma_k; g^2 = d sigma^2/dt (%.6g vs %.6g)", sched_vesde_g2(&s, t), fd);
    double a, sg;
    sched_marginal(&s, 2.5, &a, &sg);
    check(a == 1 && sg == 2.5, "ve marginal: a = 1, sg = sigma");
    sched_free(&s);
}

static void test_config(void)
{
    SchedConfig c;
    char err[256];
    sched_config_default(&c);
    check(sched_config_check(&c) == NULL, "default config is valid (vp linear 1000 eps simple)");
    int rc = sched_config_set(&c, "process", "ve", err, sizeof err);
    rc |= sched_config_set(&c, "prediction", "v", err, sizeof err);
    const char *m = sched_config_check(&c);
    check(rc == 0 && m && strstr(m, "process ve needs prediction eps"), "ve with prediction v: '%s'", m ? m : "");
    sched_config_default(&c);
    rc = sched_config_set(&c, "schedule", "quadratic", err, sizeof err);
    check(rc == -1 && strstr(err, "bad value 'quadratic' for diffusion.schedule"), "bad value: '%s'", err);
    rc = sched_config_set(&c, "timestep", "10", err, sizeof err);
    check(rc == -1 && strstr(err, "unknown key diffusion.timestep"), "unknown key: '%.60s...'", err);
    rc = sched_config_set(&c, "timesteps", "10x", err, sizeof err);
    check(rc == -1, "timesteps '10x' rejected: '%s'", err);
    sched_config_set(&c, "beta_end", "1e-5", err, sizeof err);
    m = sched_config_check(&c);
    check(m && strstr(m, "beta_end must be >="), "beta_end < beta_start: '%s'", m ? m : "");
}

/* conversions: out of each prediction type -> eps, x0, score, and back */
static void test_conversions(void)
{
    enum { N = 64 };
    float x0[N], eps[N], x[N], out[N], e2[N], z2[N], sc[N], o2[N];
    test_fill_uniform(x0, N, -1, 1, 1);
    Rng r;
    rng_init(&r, 2, 0);
    rng_fill_normal(&r, eps, N);
    const char *names[] = {"eps", "x0", "v", "ve"};
    for (int p = 0; p < 4; p++) {
        SchedConfig cfg;
        sched_config_default(&cfg);
        if (p < 3) cfg.prediction = (SchedPred)p;
        else cfg.process = PROC_VE;
        Schedule s;
        sched_init(&s, &cfg);
        int ks[3] = {0, s.n / 2, s.n - 1};
        double worst = 0, wscore = 0;
        for (int j = 0; j < 3; j++) {
            double a, sg;
            sched_marginal_k(&s, ks[j], &a, &sg);
            for (int i = 0; i < N; i++) x[i] = (float)(a * x0[i] + sg * eps[i]);
            /* the true output of this prediction type */
            for (int i = 0; i < N; i++)
                out[i] = p == 0 ? eps[i] : p == 1 ? x0[i] : p == 2 ? (float)(a * eps[i] - sg * x0[i]) : -eps[i];
            diffusion_from_output(&s, e2, z2, sc, out, x, a, sg, N);
            diffusion_to_output(&s, o2, eps, x, a, sg, N);
            for (int i = 0; i < N; i++) {
                /* x0 from eps at high noise divides by a: allow for the float x */
                double tol0 = 1e-5 * (1 + sg / a);
                worst = fmax(worst, fabs(e2[i] - eps[i]) / (1e-5 * (1 + a / sg)));
                worst = fmax(worst, fabs(z2[i] - x0[i]) / tol0);
                worst = fmax(worst, fabs(o2[i] - out[i]) / (1e-5 * (1 + 1 / a)));
                wscore = fmax(wscore, fabs(sc[i] * sg + e2[i]));
            }
        }
        check(worst <= 1 && wscore < 1e-5,
              "%s: out -> eps, x0 -> out round trip at t = 1, T/2, T (worst/tol %.3f); score = -eps/sg",
              names[p], worst);
        sched_free(&s);
    }
    /* v by hand: a = 0.6, sg = 0.8, x0 = 1, eps = 2: v = 0.4, x = 2.2 */
    SchedConfig cfg;
    sched_config_default(&cfg);
    cfg.prediction = PRED_V;
    Schedule s;
    sched_init(&s, &cfg);
    float v = 0.4f, xx = 2.2f, e, z;
    diffusion_from_output(&s, &e, &z, NULL, &v, &xx, 0.6, 0.8, 1);
    check(fabs(e - 2) < 1e-6 && fabs(z - 1) < 1e-6, "v = 0.4 at x = 2.2, a = 0.6, sg = 0.8 gives eps %.6f (2), x0 %.6f (1)", e, z);
    sched_free(&s);
}

static void test_prepare_loss(void)
{
    enum { B = 6, D = 10 };
    float x0[B * D], noise[B * D], xt[B * D], tc[B], tg[B * D], w[B], out[B * D], dout[B * D];
    int k[B] = {0, 1, 250, 500, 998, 999};
    test_fill_uniform(x0, B * D, -1, 1, 3);
    Rng r;
    rng_init(&r, 4, 0);
    rng_fill_normal(&r, noise, B * D);
    for (int p = 0; p < 3; p++) {
        SchedConfig cfg;
        sched_config_default(&cfg);
        cfg.prediction = (SchedPred)p;
        Schedule s;
        sched_init(&s, &cfg);
        diffusion_prepare(&s, xt, tc, tg, w, x0, k, noise, B, D);
        double worst = 0;
        int ok = 1;
        for (int b = 0; b < B; b++) {
            double a = sqrt(s.alpha_bar[k[b]]), sg = sqrt(1 - s.alpha_bar[k[b]]);
            ok &= tc[b] == (float)k[b] && w[b] == 1.0f;
            for (int d = 0; d < D; d++) {
                int i = b * D + d;
                double want_x = a * x0[i] + sg * noise[i];
                double want_t = p == 0 ? noise[i] : p == 1 ? x0[i] : a * noise[i] - sg * x0[i];
                worst = fmax(worst, fabs(xt[i] - want_x) + fabs(tg[i] - want_t));
            }
        }
        check(ok && worst < 1e-6, "prepare %s: x_t = sqrt(ab) x0 + sqrt(1-ab) eps, target, tcond = k, w = 1 "
              "(max err %.2g)", sched_pred_name((SchedPred)p), worst);
        sched_free(&s);
    }
    /* ve: x~ = x0 + sigma z, target -z */
    {
        SchedConfig cfg;
        sched_config_default(&cfg);
        cfg.process = PROC_VE;
        Schedule s;
        sched_init(&s, &cfg);
        int kv[B] = {0, 1, 100, 200, 230, 231};
        diffusion_prepare(&s, xt, tc, tg, w, x0, kv, noise, B, D);
        double worst = 0;
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                int i = b * D + d;
                worst = fmax(worst, fabs(xt[i] - (x0[i] + s.sigma[kv[b]] * noise[i])) + fabs(tg[i] + noise[i]));
            }
        check(worst < 1e-4 && tc[5] == 231.0f, "prepare ve: x~ = x0 + sigma_k z, target -z (sigma*score), tcond = k");
        sched_free(&s);
    }
    /* loss and its gradient (central differences; the loss is quadratic) */
    {
        float tgt[B * D], wt[B];
        test_fill_uniform(out, B * D, -2, 2, 5);
        test_fill_uniform(tgt, B * D, -2, 2, 6);
        test_fill_uniform(wt, B, 0.1f, 3, 7);
        double norm = 10;
        double L = diffusion_loss(dout, NULL, out, tgt, wt, B, D, norm);
        double hand = 0;
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) hand += wt[b] * pow((double)out[b * D + d] - (double)tgt[b * D + d], 2);
        hand /= norm * D;
        float fd[B * D];
        for (int i = 0; i < B * D; i++) {
            float o = out[i], h = 1e-2f;
            out[i] = o + h;
            double lp = diffusion_loss(NULL, NULL, out, tgt, wt, B, D, norm);
            out[i] = o - h;
            double lm = diffusion_loss(NULL, NULL, out, tgt, wt, B, D, norm);
            out[i] = o;
            fd[i] = (float)((lp - lm) / ((double)(o + h) - (double)(o - h)));
        }
        check(rel(L, hand) < 1e-12, "loss = sum w (out-target)^2 / (norm D) = %.8g (hand %.8g)", L, hand);
        check_close("dloss/dout vs central differences", dout, fd, B * D, 1e-7, 1e-4);
        double per[B], tot = 0;
        diffusion_loss(NULL, per, out, tgt, wt, B, D, B);
        for (int b = 0; b < B; b++) tot += per[b];
        check(rel(tot / B, diffusion_loss(NULL, NULL, out, tgt, wt, B, D, B)) < 1e-12,
              "per-image losses average to the batch loss");
        /* split across "ranks": the sum of two halves with norm = B equals the whole */
        double l1 = diffusion_loss(NULL, NULL, out, tgt, wt, 2, D, B);
        double l2 = diffusion_loss(NULL, NULL, out + 2 * D, tgt + 2 * D, wt + 2, B - 2, D, B);
        check(rel(l1 + l2, diffusion_loss(NULL, NULL, out, tgt, wt, B, D, B)) < 1e-12,
              "loss with the global batch size sums across a split batch");
    }
    /* vlb weights: the same loss whatever the prediction type */
    {
        double L[3];
        float ehat[B * D];
        test_fill_uniform(ehat, B * D, -0.3f, 0.3f, 8);
        for (int p = 0; p < 3; p++) {
            SchedConfig cfg;
            sched_config_default(&cfg);
            cfg.prediction = (SchedPred)p;
            cfg.loss = LOSS_VLB;
            Schedule s;
            sched_init(&s, &cfg);
            int kk[B] = {3, 40, 250, 500, 800, 990};
            diffusion_prepare(&s, xt, tc, tg, w, x0, kk, noise, B, D);
            /* a fixed imperfect network: eps^ = eps + ehat, expressed as this type's output */
            float e[B * D];
            for (int i = 0; i < B * D; i++) e[i] = noise[i] + ehat[i];
            for (int b = 0; b < B; b++) {
                double a, sg;
                sched_marginal_k(&s, kk[b], &a, &sg);
                diffusion_to_output(&s, out + b * D, e + b * D, xt + b * D, a, sg, D);
            }
            L[p] = diffusion_loss(NULL, NULL, out, tg, w, B, D, B);
            if (p == 0) {
                double hand = 0;
                for (int b = 0; b < B; b++)
                    for (int d = 0; d < D; d++) hand += s.vlb_weight[kk[b]] * ehat[b * D + d] * ehat[b * D + d];
                check(rel(L[0], hand / (B * D)) < 1e-5, "vlb eps loss = mean lambda_t |eps - eps^|^2");
            }
            sched_free(&s);
        }
        check(rel(L[1], L[0]) < 2e-3 && rel(L[2], L[0]) < 2e-3,
              "vlb: same loss for eps (%.6g), x0 (%.6g), v (%.6g) predictions of one network",
              L[0], L[1], L[2]);
    }
}

static void test_draw(void)
{
    SchedConfig cfg;
    sched_config_default(&cfg);
    Schedule s;
    sched_init(&s, &cfg);
    enum { D = 16 };
    float a[D], b[D], c[D], u[2], u2[2];
    int k1 = diffusion_draw(&s, 42, 7, 123, a, D, u);
    int k2 = diffusion_draw(&s, 42, 7, 123, b, D, NULL);
    int k3 = diffusion_draw(&s, 42, 7, 124, c, D, u2);
    check(k1 == k2 && memcmp(a, b, sizeof a) == 0, "draw: (seed, step, index) -> the same t and noise, u or not");
    check(k1 != k3 || memcmp(a, c, sizeof a) != 0, "draw: another index gives another draw (t %d vs %d)", k1, k3);
    check(u[0] > 0 && u[0] < 1 && u[1] > 0 && u[1] < 1 && u[0] != u2[0], "draw: uniforms in (0,1) (%.4f %.4f)",
          u[0], u[1]);
    /* distribution of t and noise */
    double st = 0, sn = 0, sn2 = 0;
    int n = 20000, lo = 1000, hi = -1;
    for (int i = 0; i < n; i++) {
        int k = diffusion_draw(&s, 1, 3, (uint64_t)i, a, D, NULL);
        st += k;
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
        for (int d = 0; d < D; d++) { sn += a[d]; sn2 += a[d] * a[d]; }
    }
    double mt = st / n, mn = sn / (n * D), vn = sn2 / (n * D) - mn * mn;
    check(fabs(mt - 499.5) < 10 && lo == 0 && hi == 999 && fabs(mn) < 0.01 && fabs(vn - 1) < 0.02,
          "draw: t uniform on 0..999 (mean %.1f, range %d..%d), noise mean %.4f var %.4f", mt, lo, hi, mn, vn);
    /* not the stream other users of the seed read: the permutation stream (seed, epoch) */
    Rng r;
    rng_init(&r, 42, (7ull << 32) | 123);
    float raw[D];
    (void)rng_u32(&r);
    rng_uniform(&r);
    rng_uniform(&r);
    rng_fill_normal(&r, raw, D);
    diffusion_draw(&s, 42, 7, 123, a, D, NULL);
    check(memcmp(raw, a, sizeof raw) != 0, "draw: the key is a mix of the seed, not the raw seed");
    sched_free(&s);
}

int main(void)
{
    test_linear();
    test_cosine();
    test_ve();
    test_config();
    test_conversions();
    test_prepare_loss();
    test_draw();
    return test_summary();
}
