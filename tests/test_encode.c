/* The encoder (core/sampler.h: step_back, sampler_encode) and the ddib task
 * (core/tasks/ddib.c) with the exact class-conditional Gaussian-mixture "network"
 * (core/gmm.h): which settings may encode and what the others are told; step_back undoes
 * step to second order locally; encode then decode with the same class gives the input
 * back, closer as the steps grow (ddim, ode); encoding is batch invariant; ddib from class a
 * to class b lands on b's component, at the place the exact ODE maps it to.
 *
 * Images are 1 x 4 x 4 (D = 16); the mixture is 1-D, so each value is an independent point
 * of it (gmm.h). Class c conditions on component c. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/gmm.h"
#include "core/sampler.h"
#include "core/sched.h"
#include "core/task.h"
#include "tests/testlib.h"

enum { C = 1, H = 4, W = 4, D = C * H * W, NS = 24 };

/* class 0: N(-0.6, 0.1^2), class 1: N(0.5, 0.2^2): far apart in units of their spread */
static Gmm gmm_two(void)
{
    Gmm g = {0};
    g.K = 2;
    g.dim = 1;
    g.w[0] = 0.5; g.mu[0][0] = -0.6; g.var[0] = 0.01;
    g.w[1] = 0.5; g.mu[1][0] = 0.5;  g.var[1] = 0.04;
    return g;
}

/* n samples; sample b from component lab[b] (all D values) */
static void sample_classes(const Gmm *g, float *x, const int *lab, int n, uint64_t seed)
{
    for (int b = 0; b < n; b++) {
        Gmm one = {0};
        one.K = 1;
        one.dim = 1;
        one.w[0] = 1;
        one.mu[0][0] = g->mu[lab[b]][0];
        one.var[0] = g->var[lab[b]];
        gmm_sample(&one, x + (size_t)b * D, D, seed + (uint64_t)b);
    }
}

static double mean_abs_diff(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t j = 0; j < n; j++) s += fabs((double)a[j] - b[j]);
    return s / (double)n;
}

static void sampler_with_steps(SamplerConfig *sc, const char *name, int N)
{
    char o[32];
    snprintf(o, sizeof o, "steps=%d", N);
    test_sampler_config(sc, name, o);
}

/* ddib of n inputs x (classes src) to classes dst in batches of `batch`: out (n, D);
 * returns the network evaluations per sample (of the last batch) */
static long long run_ddib(const SamplerConfig *sc, const Schedule *s, const Gmm *g, const float *x,
                     const int *src, const int *dst, int n, int batch, float *out)
{
    GmmModel gm;
    gmm_model_init(&gm, g, s, D, 1);
    Denoiser den;
    denoiser_init(&den, gmm_denoise, &gm, s, D, g->K);
    TaskConfig tc;
    test_task_config(&tc, "ddib", NULL);
    uint64_t seeds[NS];
    for (int b = 0; b < n; b++) seeds[b] = 100 + (uint64_t)b;
    for (int b = 0; b < n; b += batch) {
        const int B = n - b < batch ? n - b : batch;
        TaskInputs in = {x + (size_t)b * D, NULL, C, H, W, src + b};
        task_run(&tc, &in, sc, s, &den, out + (size_t)b * D, seeds + b, dst + b, B);
    }
    const long long nfe = den.nfe;
    denoiser_free(&den);
    return nfe;
}

/* ------------------------------------------------------------------ settings */

static void test_settings(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    char names[128], err[512];
    sampler_encode_names(names, sizeof names);
    check(!strcmp(names, "ddim (eta 0) and ode"), "samplers that encode: '%s'", names);
    const char *cannot[] = {"ddpm", "pc", "dpmpp2m", "unipc"};
    int ok = 1;
    SamplerConfig sc;
    for (int i = 0; i < 4; i++) {
        test_sampler_config(&sc, cannot[i], NULL);
        char want[256];
        snprintf(want, sizeof want, "sampler %s cannot run backwards (encode)", cannot[i]);
        ok &= sampler_check_encode(&sc, &vp, err, sizeof err) == -1 && strstr(err, want) &&
              strstr(err, "ddim (eta 0) and ode can");
    }
    test_sampler_config(&sc, "langevin", NULL);
    ok &= sampler_check_encode(&sc, &ve, err, sizeof err) == -1 && strstr(err, "langevin cannot");
    check(ok, "ddpm, pc, dpmpp2m, unipc, langevin refused: '%s'", err);
    test_sampler_config(&sc, "ddim", "eta=0.5");
    int rc = sampler_check_encode(&sc, &vp, err, sizeof err);
    check(rc == -1 && !strcmp(err, "sampler ddim: encoding is deterministic: eta must be 0, got 0.5"),
          "ddim eta 0.5 refused: '%s'", err);
    test_sampler_config(&sc, "ddim", NULL);
    rc = sampler_check_encode(&sc, &vp, err, sizeof err);
    test_sampler_config(&sc, "ode", NULL);
    rc |= sampler_check_encode(&sc, &vp, err, sizeof err) | sampler_check_encode(&sc, &ve, err, sizeof err);
    check(rc == 0, "ddim eta 0 (vp) and ode (vp, ve) encode");
    test_sampler_config(&sc, "ddim", NULL);
    rc = sampler_check_encode(&sc, &ve, err, sizeof err);
    check(rc == -1 && strstr(err, "needs process vp"), "ddim on ve: the sampler's own check: '%s'", err);

    TaskConfig tc;
    test_task_config(&tc, "ddib", NULL);
    char d[128];
    task_config_describe(&tc, d, sizeof d);
    check(tc.source == -1 && !strcmp(d, "ddib source=-1"), "ddib default and describe: '%s'", d);
    test_sampler_config(&sc, "ddpm", NULL);
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "task ddib: sampler ddpm cannot run backwards"), "ddib on ddpm: '%s'", err);
    test_sampler_config(&sc, "ddim", "eta=1");
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "task ddib: sampler ddim: encoding is deterministic: eta must be 0"),
          "ddib on ddim eta 1: '%s'", err);
    rc = task_config_set(&tc, "source", "-2", err, sizeof err);
    check(rc == -1 && strstr(err, "source = -2: must be >= -1"), "source -2: '%s'", err);
    float img[D] = {0};
    TaskInputs in = {img, NULL, C, H, W, NULL};
    rc = task_check_inputs(&tc, &in, 1, err, sizeof err);
    check(rc == -1 && strstr(err, "inputs have none: give the source class (--source K)"),
          "ddib source -1 without input labels: '%s'", err);
    test_task_config(&tc, "ddib", "source=1");
    check(task_check_inputs(&tc, &in, 1, err, sizeof err) == 0, "... fine with source 1");
    sched_free(&vp);
    sched_free(&ve);
}

/* ------------------------------------------------------------------ step_back */

/* mean |step_back(step(x)) - x| at the plan level nearest time t, x = a x0 + sg z there */
static double round_trip(const char *name, int N, const Schedule *s, const Gmm *g, double t)
{
    SamplerConfig sc;
    sampler_with_steps(&sc, name, N);
    SamplerPlan p;
    sampler_plan_init(&p, &sc, s);
    const int L = task_level_at(s, &p, t);
    GmmModel gm;
    gmm_model_init(&gm, g, s, D, 1);
    Denoiser den;
    denoiser_init(&den, gmm_denoise, &gm, s, D, g->K);
    uint64_t seeds[NS];
    int lab[NS];
    for (int b = 0; b < NS; b++) {
        seeds[b] = 7 + (uint64_t)b;
        lab[b] = b % 2;
    }
    denoiser_begin(&den, seeds, lab, 0, NS);
    SampleRun r;
    memset(&r, 0, sizeof r);
    r.sc = &sc;
    r.s = s;
    r.plan = &p;
    r.den = &den;
    r.seeds = seeds;
    r.B = NS;
    r.D = D;
    r.n = (size_t)NS * D;
    float *blk = xalloc_floats(7 * r.n);
    r.eps = blk;
    r.x0 = blk + r.n;
    r.z = blk + 2 * r.n;
    r.tmp = blk + 3 * r.n;
    float *x = blk + 4 * r.n, *y = blk + 5 * r.n, *x0 = blk + 6 * r.n;
    sample_classes(g, x0, lab, NS, 500);
    sampler_draw_normals(r.z, seeds, 3, NS, D);
    sampler_q_sample(x, x0, r.z, p.a[L], p.sg[L], r.n);
    memcpy(y, x, r.n * sizeof(float));
    sc.def->step(&r, L, y);
    sc.def->step_back(&r, L, y);
    const double e = mean_abs_diff(x, y, r.n);
    free(blk);
    denoiser_free(&den);
    sampler_plan_free(&p);
    return e;
}

static void test_step_back(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    const Gmm g = gmm_two();
    struct { const char *name; const Schedule *s; const char *sn; int N0; } cases[] = {
        {"ddim", &vp, "vp", 25}, {"ode", &vp, "vp", 10}, {"ode", &ve, "ve", 10}};
    for (int c = 0; c < 3; c++) {
        double e[3];
        for (int q = 0; q < 3; q++) e[q] = round_trip(cases[c].name, cases[c].N0 << q, cases[c].s, &g, 0.5);
        /* second order: halving h divides the error by 4 (Heun's by 8) */
        check(e[0] > 0 && e[0] / e[1] > 3 && e[1] / e[2] > 3,
              "%s (%s) step_back(step(x)) at t ~ 0.5, steps %d, %d, %d: |error| %.2e, %.2e, %.2e "
              "(ratios %.1f, %.1f; >= 3 = second order or better)", cases[c].name, cases[c].sn,
              cases[c].N0, cases[c].N0 * 2, cases[c].N0 * 4, e[0], e[1], e[2], e[0] / e[1], e[1] / e[2]);
    }
    sched_free(&vp);
    sched_free(&ve);
}

/* ------------------------------------------------------------------ encode + decode */

static void test_reconstruct(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    const Gmm g = gmm_two();
    float *x = xalloc_floats((size_t)NS * D), *y = xalloc_floats((size_t)NS * D);
    int lab[NS];
    for (int b = 0; b < NS; b++) lab[b] = b % 2;
    sample_classes(&g, x, lab, NS, 900);
    struct { const char *name; const Schedule *s; const char *sn; int N[4]; double tol; } cases[] = {
        {"ddim", &vp, "vp", {10, 20, 50, 100}, 0.025}, /* DDIM is first order */
        {"ode", &vp, "vp", {5, 10, 20, 40}, 0.005},
        {"ode", &ve, "ve", {5, 10, 20, 40}, 0.005}};
    for (int c = 0; c < 3; c++) {
        double e[4];
        for (int q = 0; q < 4; q++) {
            SamplerConfig sc;
            sampler_with_steps(&sc, cases[c].name, cases[c].N[q]);
            const long long nfe = run_ddib(&sc, cases[c].s, &g, x, lab, lab, NS, NS, y);
            e[q] = mean_abs_diff(x, y, (size_t)NS * D);
            if (q == 0) { /* the header's estimate: encode + decode; Heun's data step costs 1 */
                TaskConfig tc;
                test_task_config(&tc, "ddib", NULL);
                const long long est = task_nfe(&tc, &sc, cases[c].s);
                check(llabs(est - nfe) <= (strcmp(cases[c].name, "ode") ? 0 : 1),
                      "%s (%s) ddib %d steps: task_nfe %lld against the %lld made", cases[c].name,
                      cases[c].sn, cases[c].N[0], est, nfe);
            }
        }
        check(e[1] < e[0] && e[2] < e[1] && e[3] < e[2] && e[3] < cases[c].tol,
              "%s (%s) encode + decode, same class: mean |out - in| %.2e, %.2e, %.2e, %.2e at %d, %d, "
              "%d, %d steps (shrinking; last < %g)", cases[c].name, cases[c].sn, e[0], e[1], e[2],
              e[3], cases[c].N[0], cases[c].N[1], cases[c].N[2], cases[c].N[3], cases[c].tol);
    }
    free(x);
    free(y);
    sched_free(&vp);
    sched_free(&ve);
}

/* sampler_encode over the batch at once == in pieces of 5 (and the ddib task likewise) */
static void test_batch_invariance(void)
{
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    const Gmm g = gmm_two();
    const size_t n = (size_t)NS * D;
    float *x = xalloc_floats(n), *a = xalloc_floats(n), *b = xalloc_floats(n);
    int lab[NS];
    uint64_t seeds[NS];
    for (int k = 0; k < NS; k++) {
        lab[k] = (k * 7) % 2;
        seeds[k] = (uint64_t)k;
    }
    sample_classes(&g, x, lab, NS, 300);
    const char *names[] = {"ddim", "ode"};
    for (int c = 0; c < 2; c++) {
        SamplerConfig sc;
        sampler_with_steps(&sc, names[c], 10);
        sc.guidance = c ? 0.0 : 1.5; /* guided and not */
        GmmModel gm;
        gmm_model_init(&gm, &g, &vp, D, 1);
        Denoiser den;
        denoiser_init(&den, gmm_denoise, &gm, &vp, D, g.K);
        memcpy(a, x, n * sizeof(float));
        memcpy(b, x, n * sizeof(float));
        sampler_encode(&sc, &vp, &den, a, seeds, lab, NS);
        for (int k = 0; k < NS; k += 5) {
            const int B = NS - k < 5 ? NS - k : 5;
            sampler_encode(&sc, &vp, &den, b + (size_t)k * D, seeds + k, lab + k, B);
        }
        int nonzero = 0;
        for (size_t j = 0; j < n; j++) nonzero += a[j] != x[j];
        check(memcmp(a, b, n * sizeof(float)) == 0 && nonzero == (int)n,
              "%s encode (guidance %g): batch 24 == batches of 5, bit for bit (every value moved)",
              names[c], sc.guidance);
        run_ddib(&sc, &vp, &g, x, lab, lab, NS, NS, a);
        run_ddib(&sc, &vp, &g, x, lab, lab, NS, 5, b);
        check(memcmp(a, b, n * sizeof(float)) == 0, "%s ddib: batch 24 == batches of 5, bit for bit",
              names[c]);
        denoiser_free(&den);
    }
    free(x);
    free(a);
    free(b);
    sched_free(&vp);
}

/* The exact ODE maps N(mu_a, s_a^2) to N(mu_b, s_b^2) by matching the standardized
 * coordinate at every level: at level 0 (a, sg), z = a mu_a + sqrt(a^2 s_a^2 + sg^2) u with
 * u = (x - mu_a)/s_a, and decoding z under b gives mu_b + s_b (z - a mu_b)/sqrt(a^2 s_b^2 + sg^2). */
static void test_ddib_translate(void)
{
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    const Gmm g = gmm_two();
    const size_t n = (size_t)NS * D;
    float *x = xalloc_floats(n), *y = xalloc_floats(n);
    int src[NS], dst[NS];
    for (int k = 0; k < NS; k++) {
        src[k] = 0;
        dst[k] = 1;
    }
    sample_classes(&g, x, src, NS, 77);
    const char *names[] = {"ddim", "ode"};
    const int steps[] = {100, 40};
    const double tol[] = {0.04, 0.002}; /* DDIM is first order, Heun second */
    for (int c = 0; c < 2; c++) {
        SamplerConfig sc;
        sampler_with_steps(&sc, names[c], steps[c]);
        run_ddib(&sc, &vp, &g, x, src, dst, NS, NS, y);
        SamplerPlan p;
        sampler_plan_init(&p, &sc, &vp);
        const double a = p.a[0], sg = p.sg[0];
        sampler_plan_free(&p);
        const double ma = g.mu[0][0], sa = sqrt(g.var[0]), mb = g.mu[1][0], sb = sqrt(g.var[1]);
        int in_b = 0;
        double gap = 0, far = 0;
        for (size_t j = 0; j < n; j++) {
            in_b += gmm_component(&g, &y[j]) == 1;
            const double z = a * ma + sqrt(a * a * sa * sa + sg * sg) * (x[j] - ma) / sa;
            const double want = mb + sb * (z - a * mb) / sqrt(a * a * sb * sb + sg * sg);
            gap += fabs(y[j] - want);
            far += fabs(x[j] - want);
        }
        gap /= (double)n;
        far /= (double)n;
        check(in_b == (int)n && gap < tol[c],
              "%s %d steps: ddib class 0 -> 1: %d of %zu values on component 1; mean |out - exact "
              "ODE map| %.2e (< %g; the inputs are %.2f from it)", names[c], steps[c], in_b, n, gap,
              tol[c], far);
    }
    free(x);
    free(y);
    sched_free(&vp);
}

int main(void)
{
    double t0 = ddm_now();
#define SECTION(f) do { double ts = ddm_now(); f(); printf("# %s: %.1fs\n", #f, ddm_now() - ts); } while (0)
    SECTION(test_settings);
    SECTION(test_step_back);
    SECTION(test_reconstruct);
    SECTION(test_batch_invariance);
    SECTION(test_ddib_translate);
    printf("test_encode: %.1fs\n", ddm_now() - t0);
    return test_summary();
}
