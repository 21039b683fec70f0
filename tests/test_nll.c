/* The variational bound's math (core/nll.*): the Gaussian tail log Q(z) and the
 * discretized decoder against values computed with mpmath at 80 digits, far into both
 * tails; the 256 bins' probabilities summing to 1; the KL closed form against numerical
 * integration; the per-step KL terms against DDPM eq. 11's mean (an independent algebra);
 * a perfect network; the prior; the prediction types; the step plans; the noise streams. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/diffusion.h"
#include "core/nll.h"
#include "core/sched.h"
#include "tests/testlib.h"

#define PI 3.14159265358979323846

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

/* log Q(z) = log P(N(0,1) > z): mpmath, log(erfc(z/sqrt(2))/2) at 80 digits */
static void test_tail(void)
{
    const double z[] = {-40, -5, -1.5, -0.5, 0, 0.5, 5, 20, 29.9, 30.1, 37, 40, 100, 1000, 100000};
    const double ref[] = {0.0 /* -3.7e-350: below double */, -2.8665161296376359338e-7,
                          -0.069143455612233982993, -0.36894641528865639307, -0.69314718055994530942,
                          -1.1759117615936186089, -15.064998393988725736, -203.91715537109726394,
                          -451.32291245852867701, -457.32956441638221506, -689.0305855768905936,
                          -804.60844201375378817, -5005.5242086942050886, -500007.82669481218431,
                          -5000000012.4318639983};
    double worst = 0;
    int iw = 0;
    for (int i = 0; i < 15; i++) {
        double v = nll_log_normal_sf(z[i]);
        double e = fabs(v - ref[i]) / fmax(fabs(ref[i]), 1e-300);
        if (z[i] == -40) e = fabs(v - ref[i]); /* 0 in double: an absolute check */
        if (!(e <= worst)) {
            worst = e;
            iw = i;
        }
    }
    check(worst < 2e-14, "log Q(z) at 15 points from z = -40 to 1e5 (both sides of the series switch at 30): "
          "worst relative error %.2g at z = %g", worst, z[iw]);
    /* the switch from erfc to the series is seamless: the slope across it is -1/M(z) */
    const double hz = 1e-6, slope = (nll_log_normal_sf(30.0 + hz) - nll_log_normal_sf(30.0 - hz)) / (2 * hz);
    const double mills = 30.0 + 1.0 / 30 - 2.0 / (30.0 * 30 * 30); /* 1/M(z) = z + 1/z - 2/z^3 + ... */
    check(fabs(slope + mills) < 1e-5, "log Q smooth across the series switch at z = 30: slope %.8f, "
          "-(z + 1/z - 2/z^3) = %.8f", slope, -mills);
    double prev = 0;
    int mono = 1;
    for (double zz = -50; zz < 200; zz += 0.37) {
        double v = nll_log_normal_sf(zz);
        if (!isfinite(v) || (zz > -50 && v > prev)) mono = 0;
        prev = v;
    }
    check(mono, "log Q finite and decreasing on [-50, 200]");
}

/* the decoder's bins: mpmath values of log(Phi(b) - Phi(a)) (edges open) at 80 digits */
static void test_bins(void)
{
    const struct { int u; double mean, sd, ref; } c[] = {
        {127, 0.5, 0.01, -1254.8313611394199013},    /* far below the mean (z ~ -50) */
        {64, 0.5, 0.003, -54910.605312784209637},    /* z ~ -330 */
        {200, -0.9, 0.01, -10732.722418781867936},   /* far above (z ~ 146) */
        {255, 0.0, 0.02, -1245.04273681776588},      /* the top edge bin, far */
        {0, 0.8, 0.05, -649.68059625635162729},      /* the bottom edge bin, far */
        {128, 0.004, 0.003, -0.21232728113491099043},/* near the mean */
        {255, 1.0, 0.007, -0.3392045844314175758},   /* edges at the mean */
        {0, -1.0, 0.007, -0.3392045844314175758},
        {10, -0.9, 0.3, -4.5656949010803968804},     /* wide */
    };
    double worst = 0;
    int iw = 0;
    for (int i = 0; i < 9; i++) {
        double x = c[i].u / 127.5 - 1.0;
        double e = rel(nll_log_bin_prob(x, c[i].mean, log(c[i].sd)), c[i].ref);
        if (!(e <= worst)) {
            worst = e;
            iw = i;
        }
    }
    check(worst < 1e-12, "discretized Gaussian: 9 bins against mpmath, log p from -54910 to -0.21: worst relative "
          "error %.2g (bin %d)", worst, c[iw].u);
    /* the 256 bins of any Gaussian hold all of its mass */
    const double means[] = {0.0, -1.0, 1.0, 0.37, -3.0, 2.5, 1.0 / 255};
    const double sds[] = {1e-4, 0.0074, 0.05, 0.5, 3.0};
    double wsum = 0;
    for (int m = 0; m < 7; m++)
        for (int s = 0; s < 5; s++) {
            double sum = 0;
            for (int u = 0; u < 256; u++) sum += exp(nll_log_bin_prob(u / 127.5 - 1.0, means[m], log(sds[s])));
            wsum = fmax(wsum, fabs(sum - 1.0));
        }
    check(wsum < 1e-12, "the 256 bins' probabilities sum to 1 (35 Gaussians, means -3..2.5, sd 1e-4..3): "
          "worst |sum - 1| %.2g", wsum);
    /* finite where a difference of CDFs (or improved-diffusion's tanh approximation) is not */
    double far = nll_log_bin_prob(0.0, 0.9, log(1e-3));
    check(isfinite(far) && far < -4e5, "a bin 900 sd from the mean: log p = %.6g (finite)", far);
}

/* KL(N(mq,vq) || N(mp,vp)) against the integral of q log(q/p) (Simpson, 20001 points) */
static void test_kl_closed_form(void)
{
    const double mq = 0.3, vq = 0.5, mp = -0.2, vp = 2.0;
    const int n = 20000;
    const double lo = mq - 12 * sqrt(vq), hi = mq + 12 * sqrt(vq), h = (hi - lo) / n;
    double sum = 0;
    for (int i = 0; i <= n; i++) {
        double x = lo + i * h;
        double lq = -0.5 * log(2 * PI * vq) - (x - mq) * (x - mq) / (2 * vq);
        double lp = -0.5 * log(2 * PI * vp) - (x - mp) * (x - mp) / (2 * vp);
        double f = exp(lq) * (lq - lp);
        sum += f * (i == 0 || i == n ? 1 : i % 2 ? 4 : 2);
    }
    sum *= h / 3;
    double kl = nll_kl_normal(mq, vq, mp, vp);
    check(rel(kl, sum) < 1e-10, "KL closed form %.12g = integral %.12g", kl, sum);
    check(nll_kl_normal(0.4, 0.3, 0.4, 0.3) == 0, "KL of a Gaussian with itself is 0");
}

static void fill_x0(double *x0, size_t D, unsigned seed)
{
    float *u = xalloc_floats(D);
    test_fill_uniform(u, D, 0, 256, seed);
    for (size_t d = 0; d < D; d++) x0[d] = floor(u[d]) / 127.5 - 1.0;
    free(u);
}

/* The KL terms of nll_step against the general closed form with DDPM eq. 11's mean
 * mu = (x_t - beta/sqrt(1-ab) eps)/sqrt(alpha) and eq. 7's posterior mean. */
static void test_step_terms(const char *name, SchedKind kind, int T)
{
    SchedConfig cfg;
    sched_config_default(&cfg);
    cfg.schedule = kind;
    cfg.timesteps = T;
    Schedule s;
    sched_init(&s, &cfg);
    const size_t D = 64;
    double *x0 = xmalloc(sizeof(double) * D), *scr = xmalloc(sizeof(double) * 2 * D);
    float *noise = xalloc_floats(D), *out = xalloc_floats(D), *xin = xalloc_floats(D);
    fill_x0(x0, D, 5);
    double worst_b = 0, worst_t = 0;
    for (int t = 2; t <= T; t += (T > 100 ? 53 : 3)) {
        nll_noise(noise, 7, 3, t, D);
        test_fill_uniform(out, D, -2, 2, 100 + t); /* some network's eps */
        double terms[NLL_NTERMS] = {0};
        nll_step(&s, t, 1.0, 0, x0, noise, out, scr, D, terms);
        const int k = t - 1;
        double a = s.sqrt_alpha_bar[k], sg = s.sqrt_one_minus_alpha_bar[k], kb = 0, kt = 0;
        for (size_t d = 0; d < D; d++) {
            double xt = a * x0[d] + sg * noise[d];
            double mq = s.post_coef_x0[k] * x0[d] + s.post_coef_xt[k] * xt;
            double mp = (xt - s.beta[k] / sg * out[d]) / sqrt(s.alpha[k]);
            kb += nll_kl_normal(mq, s.beta_tilde[k], mp, s.beta[k]);
            kt += nll_kl_normal(mq, s.beta_tilde[k], mp, s.beta_tilde[k]);
        }
        worst_b = fmax(worst_b, rel(terms[NLL_KL_BETA], kb));
        worst_t = fmax(worst_t, rel(terms[NLL_KL_TILDE], kt));
        DDM_ASSERT(terms[NLL_PRIOR] == 0 && terms[NLL_DECODER] == 0, "a KL step touched another term");
    }
    /* the independent form subtracts two O(1) means: its own error is ~1e-16/|diff| */
    check(worst_b < 1e-8 && worst_t < 1e-8, "%s: KL terms = sum of closed-form KLs with DDPM eq. 11's mean: "
          "worst relative difference %.2g (beta), %.2g (beta~)", name, worst_b, worst_t);

    /* a perfect eps network: the means agree, the beta~ KL vanishes, the beta KL is its constant */
    double wt = 0, wb = 0;
    for (int t = 2; t <= T; t += (T > 100 ? 97 : 5)) {
        nll_noise(noise, 7, 3, t, D);
        double terms[NLL_NTERMS] = {0};
        nll_step(&s, t, 2.0, 0, x0, noise, noise, scr, D, terms);
        const int k = t - 1;
        double r = s.beta_tilde[k] / s.beta[k];
        double want = 2.0 * 0.5 * (double)D * (r - 1 - log(r));
        wt = fmax(wt, terms[NLL_KL_TILDE]);
        wb = fmax(wb, fabs(terms[NLL_KL_BETA] - want) / fmax(want, 1e-30));
    }
    check(wt < 1e-12 && wb < 1e-6, "%s: a perfect network: KL (beta~) <= %.2g nats, KL (beta) = D (r - 1 - log r)/2 "
          "to %.2g", name, wt, wb);

    /* x0 and v networks with the same eps give the same terms (to float rounding) */
    {
        const int t = T / 3 + 1, k = t - 1;
        nll_noise(noise, 7, 3, t, D);
        test_fill_uniform(out, D, -2, 2, 9);
        double te[NLL_NTERMS] = {0}, tx[NLL_NTERMS] = {0}, tv[NLL_NTERMS] = {0};
        nll_step(&s, t, 1.0, 0, x0, noise, out, scr, D, te);
        nll_input(&s, t, xin, x0, noise, D);
        float *o2 = xalloc_floats(D);
        double a = s.sqrt_alpha_bar[k], sg = s.sqrt_one_minus_alpha_bar[k];
        Schedule sx = s, sv = s;
        sx.cfg.prediction = PRED_X0;
        sv.cfg.prediction = PRED_V;
        diffusion_to_output(&sx, o2, out, xin, a, sg, D);
        nll_step(&sx, t, 1.0, 0, x0, noise, o2, scr, D, tx);
        diffusion_to_output(&sv, o2, out, xin, a, sg, D);
        nll_step(&sv, t, 1.0, 0, x0, noise, o2, scr, D, tv);
        double e = fmax(rel(tx[NLL_KL_BETA], te[NLL_KL_BETA]), rel(tv[NLL_KL_BETA], te[NLL_KL_BETA]));
        check(e < 1e-4, "%s: eps, x0 and v outputs of one network give one KL term (t = %d, %.2g)", name, t, e);
        free(o2);
    }

    /* the decoder at a perfect x0-hat: -sum log(2 Phi(h/s) - 1) inside, log Phi(h/s) at the edges */
    {
        nll_noise(noise, 7, 3, 1, D);
        for (size_t d = 0; d < D; d++) out[d] = (float)x0[d];
        Schedule sx = s;
        sx.cfg.prediction = PRED_X0;
        double terms[NLL_NTERMS] = {0};
        nll_step(&sx, 1, 1.0, 0, x0, noise, out, scr, D, terms);
        double sd = sqrt(s.beta_tilde[1]), z = (1.0 / 255) / sd, want = 0;
        for (size_t d = 0; d < D; d++)
            want -= fabs(x0[d]) == 1.0 ? log(0.5 * erfc(-z / sqrt(2.0)))
                                       : log(erf(z / sqrt(2.0)));
        check(rel(terms[NLL_DECODER], want) < 1e-5 && terms[NLL_KL_BETA] == 0,
              "%s: decoder at x0-hat = x0 (float): %.8g nats, closed form %.8g (sd sqrt(beta~_2) = %.4g)",
              name, terms[NLL_DECODER], want, sd);
        /* clipping: an x0-hat beyond [-1,1] scores as the edge value */
        for (size_t d = 0; d < D; d++) out[d] = x0[d] > 0.999 ? 1.5f : x0[d] < -0.999 ? -1.5f : (float)x0[d];
        double tc[NLL_NTERMS] = {0}, tn[NLL_NTERMS] = {0};
        nll_step(&sx, 1, 1.0, 1, x0, noise, out, scr, D, tc);
        nll_step(&sx, 1, 1.0, 0, x0, noise, out, scr, D, tn);
        int edges = 0;
        for (size_t d = 0; d < D; d++) edges += fabs(x0[d]) > 0.999;
        check(rel(tc[NLL_DECODER], terms[NLL_DECODER]) < 1e-12 && (edges == 0 || tn[NLL_DECODER] != tc[NLL_DECODER]),
              "%s: clipped x0-hat (%d edge values at +-1.5) scores as x0-hat = x0", name, edges);
    }

    /* the prior: the closed form per value */
    double pr = nll_prior(&s, x0, D), want = 0, ab = s.alpha_bar[T - 1];
    for (size_t d = 0; d < D; d++) want += nll_kl_normal(sqrt(ab) * x0[d], 1 - ab, 0, 1);
    check(rel(pr, want) < 1e-6 || fabs(pr - want) < 1e-12, "%s: L_T = %.6g nats (closed form %.6g, ab_T = %.3g)",
          name, pr, want, ab);
    free(x0);
    free(scr);
    free(noise);
    free(out);
    free(xin);
    sched_free(&s);
}

static void test_plan(void)
{
    NllPlan p;
    char err[256];
    int ok = nll_plan_init(&p, 1000, 1000, err, sizeof err) == 0;
    for (int i = 0; ok && i < 1000; i++) ok = p.t[i] == i + 1 && p.weight[i] == 1;
    check(ok, "plan K = T = 1000: t = 1..1000, each once");
    nll_plan_free(&p);
    ok = nll_plan_init(&p, 1000, 2, err, sizeof err) == 0 && p.t[0] == 1 && p.t[1] == 501 && p.weight[1] == 999;
    check(ok, "plan K = 2: t = 1 and t = %d standing for the 999 KL terms", ok ? p.t[1] : -1);
    nll_plan_free(&p);
    int sums = 1, inside = 1;
    const int Ks[] = {3, 7, 100, 101, 333, 999};
    for (int i = 0; i < 6; i++) {
        nll_plan_init(&p, 1000, Ks[i], err, sizeof err);
        double w = 0;
        int lo = 2;
        for (int j = 1; j < p.n; j++) {
            w += p.weight[j];
            int hi = lo + (int)p.weight[j] - 1; /* stretch [lo, hi] holds its step */
            inside &= p.t[j] >= lo && p.t[j] <= hi && p.t[j] > p.t[j - 1];
            lo = hi + 1;
        }
        sums &= w == 999 && lo == 1001;
        nll_plan_free(&p);
    }
    check(sums && inside, "plans K = 3, 7, 100, 101, 333, 999: stretches tile t = 2..1000, each step inside its own");
    check(nll_plan_init(&p, 1000, 1, err, sizeof err) && strstr(err, "2..1000"), "K = 1 refused: %s", err);
    check(nll_plan_init(&p, 1000, 1001, err, sizeof err) != 0, "K = T+1 refused");
}

static void test_noise(void)
{
    const size_t D = 4096;
    float *a = xalloc_floats(D), *b = xalloc_floats(D), *c = xalloc_floats(D);
    nll_noise(a, 0, 12, 5, D);
    nll_noise(b, 0, 12, 5, D);
    nll_noise(c, 0, 13, 5, D);
    int same = !memcmp(a, b, D * sizeof(float)), diff = memcmp(a, c, D * sizeof(float)) != 0;
    nll_noise(c, 0, 12, 6, D);
    diff &= memcmp(a, c, D * sizeof(float)) != 0;
    nll_noise(c, 1, 12, 5, D);
    diff &= memcmp(a, c, D * sizeof(float)) != 0;
    double m = 0, v = 0;
    for (size_t d = 0; d < D; d++) m += a[d];
    m /= D;
    for (size_t d = 0; d < D; d++) v += (a[d] - m) * (a[d] - m);
    v /= D - 1;
    check(same && diff && fabs(m) < 0.08 && fabs(v - 1) < 0.08,
          "noise: a pure function of (seed, image, t), other keys other draws; mean %.3f var %.3f", m, v);
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    test_tail();
    test_bins();
    test_kl_closed_form();
    test_step_terms("linear T=1000", SCHED_LINEAR, 1000);
    test_step_terms("cosine T=1000", SCHED_COSINE, 1000);
    test_step_terms("linear T=20", SCHED_LINEAR, 20);
    test_plan();
    test_noise();
    return test_summary();
}
