/* Sample tasks (core/task.c, core/tasks/) with the exact Gaussian-mixture "network"
 * (core/gmm.*): the registry and its messages, level times on discrete and Karras plans,
 * ILVR's low-pass, then SDEdit, RePaint and ILVR end to end on every sampler they run on:
 * start levels and NFE against the plan, known pixels kept exactly, the jump schedule's
 * NFE, low frequencies taken from the reference, independence of batch composition.
 *
 * Images are 1 x 4 x 4 (D = 16); the mixture is 1-D, so each value is an independent
 * point of it (gmm.h), which is enough for these checks (no check needs pixels to be
 * correlated). */
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

enum { C = 1, H = 4, W = 4, D = C * H * W };

/* 0.4 N(-0.6, 0.15^2) + 0.6 N(0.4, 0.25^2): mostly inside [-1, 1], like images */
static Gmm gmm_img(void)
{
    Gmm g = {0};
    g.K = 2;
    g.dim = 1;
    g.w[0] = 0.4; g.mu[0][0] = -0.6; g.var[0] = 0.0225;
    g.w[1] = 0.6; g.mu[1][0] = 0.4;  g.var[1] = 0.0625;
    return g;
}

/* nsamples outputs (nsamples, D) of the task with seeds seed0.., in batches of `batch`;
 * image and mask (nsamples, D) or NULL; *nfe: network evaluations per sample (one batch
 * only) */
static float *run(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s,
                  const Gmm *g, const float *image, const float *mask, int nsamples,
                  uint64_t seed0, int batch, long long *nfe)
{
    char err[512];
    if (task_config_check(tc, sc, s, err, sizeof err)) ddm_die("%s", err);
    GmmModel gm;
    gmm_model_init(&gm, g, s, D, 0);
    Denoiser m;
    denoiser_init(&m, gmm_denoise, &gm, s, D, 0);
    float *x = xalloc_floats((size_t)nsamples * D);
    uint64_t *seeds = xmalloc(sizeof(uint64_t) * (size_t)nsamples);
    for (int i = 0; i < nsamples; i++) seeds[i] = seed0 + (uint64_t)i;
    for (int i = 0; i < nsamples; i += batch) {
        int b = nsamples - i < batch ? nsamples - i : batch;
        TaskInputs in = {image ? image + (size_t)i * D : NULL, mask ? mask + (size_t)i * D : NULL,
                         C, H, W, NULL};
        task_run(tc, &in, sc, s, &m, x + (size_t)i * D, seeds + i, NULL, b);
    }
    if (nfe) *nfe = m.nfe;
    denoiser_free(&m);
    free(seeds);
    return x;
}

static double mean_abs_diff(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t j = 0; j < n; j++) s += fabs((double)a[j] - b[j]);
    return s / n;
}

/* ------------------------------------------------------------------ the registry */

static char *help_text(void)
{
    char *help = NULL;
    size_t hlen = 0;
    FILE *f = open_memstream(&help, &hlen);
    task_print_help(f);
    fclose(f);
    return help;
}

/* the registry as a whole: names, lookups, the unknown-task message, task inputs every
 * task shares */
static void test_registry(void)
{
    char names[128], err[512];
    task_names(names, sizeof names);
    check(task_count() == 5 && !strcmp(names, "sdedit, repaint, ilvr, ddib, superres") && task_find("sdedit") == task_def(0) &&
              !task_find("deblur") && !task_def(task_count()) && !task_def(-1),
          "registry: %d tasks '%s', found by name", task_count(), names);
    TaskConfig tc;
    int rc = task_config_init(&tc, "deblur", err, sizeof err);
    check(rc == -1 && !strcmp(err, "unknown task 'deblur'; one of sdedit, repaint, ilvr, ddib, superres"),
          "unknown task: '%s'", err);
    float img[2 * D];
    for (int j = 0; j < 2 * D; j++) img[j] = 0.1f * (j % 7);
    TaskInputs in = {img, NULL, C, H, W, NULL}, none = {NULL, NULL, C, H, W, NULL}, flat = {img, NULL, C, 0, W, NULL};
    test_task_config(&tc, "sdedit", NULL);
    check(task_check_inputs(&tc, &in, 2, err, sizeof err) == 0, "good inputs pass");
    rc = task_check_inputs(&tc, &none, 2, err, sizeof err);
    check(rc == -1 && !strcmp(err, "task sdedit needs an image per sample"), "sdedit without an image: '%s'", err);
    rc = task_check_inputs(&tc, &flat, 2, err, sizeof err);
    check(rc == -1 && strstr(err, "image shape 1x0x4: each must be >= 1"), "shape 1x0x4: '%s'", err);
    img[D + 5] = NAN;
    rc = task_check_inputs(&tc, &in, 2, err, sizeof err);
    check(rc == -1 && strstr(err, "image 1 has a value that is not a number (at 5)"), "image NaN: '%s'", err);
}

static void test_sdedit_settings(void)
{
    char err[512], d[128];
    TaskConfig tc;
    int rc;
    test_task_config(&tc, "sdedit", NULL);
    task_config_describe(&tc, d, sizeof d);
    check(tc.t0 == 0.5 && !strcmp(d, "sdedit t0=0.5"), "sdedit default and describe: '%s'", d);
    rc = task_config_set(&tc, "jump_length", "3", err, sizeof err);
    check(rc == -1 && !strcmp(err, "unknown task option 'jump_length' for task sdedit; it takes t0"),
          "an option sdedit does not have: '%s'", err);
    rc = task_config_set(&tc, NULL, "1", err, sizeof err);
    check(rc == -1 && !strcmp(err, "unknown task option '' for task sdedit; it takes t0"), "no key: '%s'", err);
    rc = task_config_set(&tc, "t0", "half", err, sizeof err);
    check(rc == -1 && !strcmp(err, "task sdedit: bad value 'half' for t0: want a number"), "bad value: '%s'", err);
    char *help = help_text();
    check(strstr(help, "sdedit (needs an image per sample; Meng et al. 2022") && strstr(help, "  t0 = T"),
          "help: sdedit, its input, citation and row");
    free(help);
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    SamplerConfig sc;
    test_sampler_config(&sc, "ddim", "steps=20");
    const char *t0s[] = {"0", "1.5", "-0.1"};
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        test_task_config(&tc, "sdedit", NULL);
        task_config_set(&tc, "t0", t0s[i], err, sizeof err);
        ok &= task_config_check(&tc, &sc, &vp, err, sizeof err) == -1 &&
              strstr(err, "t0 must be in (0, 1]") != NULL;
    }
    check(ok, "sdedit t0 = 0, 1.5, -0.1 refused: '%s'", err);
    test_task_config(&tc, "sdedit", "t0=1");
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    test_task_config(&tc, "sdedit", "t0=1e-9");
    rc |= task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == 0, "sdedit t0 = 1 and 1e-9 accepted");
    test_sampler_config(&sc, "langevin", NULL);
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "needs process ve"), "a sampler that does not fit: '%s'", err);
    sched_free(&vp);
}

static void test_repaint_settings(void)
{
    char err[512], d[128];
    TaskConfig tc;
    int rc;
    test_task_config(&tc, "repaint", NULL);
    task_config_describe(&tc, d, sizeof d);
    check(tc.jump_length == 10 && tc.resample == 10 && !strcmp(d, "repaint jump_length=10 resample=10"),
          "repaint defaults and describe: '%s'", d);
    rc = task_config_set(&tc, "t0", "0.3", err, sizeof err);
    check(rc == -1 &&
              !strcmp(err, "unknown task option 't0' for task repaint; it takes jump_length, resample"),
          "an option of another task: '%s'", err);
    rc = task_config_set(&tc, "jump_length", "ten", err, sizeof err);
    check(rc == -1 && !strcmp(err, "task repaint: bad value 'ten' for jump_length: want a whole number"),
          "bad value: '%s'", err);
    rc = task_config_set(&tc, "resample", "0", err, sizeof err);
    check(rc == -1 && !strcmp(err, "task repaint: resample = 0: must be >= 1"), "resample 0: '%s'", err);
    char *help = help_text();
    check(strstr(help, "repaint (needs an image and a mask per sample; Lugmayr et al. 2022") &&
              strstr(help, "  jump_length = J") && strstr(help, "  resample = R"),
          "help: repaint, its inputs, citation and rows");
    free(help);
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    SamplerConfig sc;
    test_sampler_config(&sc, "ddim", "steps=20");
    tc.jump_length = 0; /* past the row's range, as a struct filled by hand */
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "jump_length and resample must be >= 1"), "repaint jump_length 0: '%s'", err);
    rc = task_config_set(&tc, "jump_length", "0", err, sizeof err);
    check(rc == -1 && strstr(err, "jump_length = 0: must be >= 1"), "... and from text: '%s'", err);
    test_task_config(&tc, "repaint", "jump_length=20");
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "jump_length 20 leaves no stretch to resample in the plan's 20 steps"),
          "repaint jump_length >= steps: '%s'", err);
    test_task_config(&tc, "repaint", "jump_length=20,resample=1");
    check(task_config_check(&tc, &sc, &vp, err, sizeof err) == 0, "... fine without resampling");
    test_sampler_config(&sc, "ddpm", "steps=1000");
    test_task_config(&tc, "repaint", "jump_length=1,resample=3");
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "1998 jumps back"), "repaint with too many jumps: '%s'", err);
    test_task_config(&tc, "repaint", NULL); /* 9 x 99 = 891 jumps: RePaint's own setting fits */
    check(task_config_check(&tc, &sc, &vp, err, sizeof err) == 0, "repaint j = r = 10 on 1000 steps accepted");
    /* inputs */
    float img[2 * D], mask[2 * D];
    for (int j = 0; j < 2 * D; j++) {
        img[j] = 0.1f * (j % 7);
        mask[j] = (float)(j % 2);
    }
    TaskInputs in = {img, NULL, C, H, W, NULL};
    rc = task_check_inputs(&tc, &in, 2, err, sizeof err);
    check(rc == -1 && !strcmp(err, "task repaint needs a mask per sample"), "repaint without a mask: '%s'", err);
    in.mask = mask;
    check(task_check_inputs(&tc, &in, 2, err, sizeof err) == 0, "repaint with image and mask passes");
    mask[D + 3] = 0.5f;
    rc = task_check_inputs(&tc, &in, 2, err, sizeof err);
    check(rc == -1 && strstr(err, "mask 1 has 0.5 at 3: want 0 (fill) or 1 (known)"), "mask 0.5: '%s'", err);
    sched_free(&vp);
}

static void test_ilvr_settings(void)
{
    char err[512], d[128];
    TaskConfig tc;
    int rc;
    test_task_config(&tc, "ilvr", NULL);
    task_config_describe(&tc, d, sizeof d);
    check(tc.factor == 4 && tc.range_from == 1 && tc.range_to == 0 &&
              !strcmp(d, "ilvr factor=4 range_from=1 range_to=0"),
          "ilvr defaults and describe: '%s'", d);
    test_task_config(&tc, "ilvr", "factor=8,range_from=0.75,range_to=0.125");
    task_config_describe(&tc, d, sizeof d);
    check(!strcmp(d, "ilvr factor=8 range_from=0.75 range_to=0.125"), "set and describe: '%s'", d);
    char *help = help_text();
    check(strstr(help, "ilvr (needs an image per sample; Choi et al. 2021") && strstr(help, "  factor = N") &&
              strstr(help, "  range_to = T"),
          "help: ilvr, its input, citation and rows");
    free(help);
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    SamplerConfig sc;
    test_sampler_config(&sc, "ddim", NULL);
    tc.range_to = 0.6;
    tc.range_from = 0.4;
    rc = task_config_check(&tc, &sc, &vp, err, sizeof err);
    check(rc == -1 && strstr(err, "0 <= range_to <= range_from <= 1"), "ilvr range backwards: '%s'", err);
    rc = task_config_set(&tc, "range_from", "1.5", err, sizeof err);
    check(rc == -1 && strstr(err, "range_from = 1.5: must be <= 1"), "ilvr range_from 1.5: '%s'", err);
    float img[D] = {0};
    TaskInputs in = {img, NULL, C, H, W, NULL};
    test_task_config(&tc, "ilvr", "factor=3");
    rc = task_check_inputs(&tc, &in, 1, err, sizeof err);
    check(rc == -1 && strstr(err, "factor 3 must divide the image's height and width (4x4)"),
          "ilvr factor 3 on 4x4: '%s'", err);
    test_task_config(&tc, "ilvr", "factor=2");
    check(task_check_inputs(&tc, &in, 1, err, sizeof err) == 0, "ilvr factor 2 on 4x4 passes");
    sched_free(&vp);
}

/* ------------------------------------------------------------------ level times */

static void test_level_time(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    SamplerConfig sc;
    SamplerPlan p;
    /* ddim 50 on T = 1000: every level but the last on the grid */
    test_sampler_config(&sc, "ddim", "steps=50");
    sampler_plan_init(&p, &sc, &vp);
    int ok = 1, on_grid = 1;
    for (int L = 0; L < p.N; L++) {
        on_grid &= p.k[L] >= 0;
        ok &= task_level_time(&vp, &p, L) == (double)(p.k[L] + 1) / 1000;
    }
    int L5 = task_level_at(&vp, &p, 0.5);
    check(on_grid && ok && task_level_time(&vp, &p, 0) == 1.0 && task_level_time(&vp, &p, p.N) == 0.0,
          "ddim 50 on T=1000: level L at t = (k+1)/T, level 0 at %g, level N at %g",
          task_level_time(&vp, &p, 0), task_level_time(&vp, &p, p.N));
    check(task_level_time(&vp, &p, L5) <= 0.5 && task_level_time(&vp, &p, L5 - 1) > 0.5 &&
              task_level_at(&vp, &p, 1.0) == 0 && task_level_at(&vp, &p, 1e-9) == p.N,
          "ddim 50: level_at(0.5) = %d (t %.3f, the level before %.3f), level_at(1) = 0, "
          "level_at(1e-9) = N", L5, task_level_time(&vp, &p, L5), task_level_time(&vp, &p, L5 - 1));
    sampler_plan_free(&p);

    /* Karras plans (off the grid) on vp and ve */
    const Schedule *ss[2] = {&vp, &ve};
    for (int q = 0; q < 2; q++) {
        const Schedule *s = ss[q];
        test_sampler_config(&sc, "ode", "steps=18");
        sampler_plan_init(&p, &sc, s);
        int mono = 1, off = 1;
        double worst = 0;
        for (int L = 0; L <= p.N; L++) {
            double t = task_level_time(s, &p, L);
            off &= p.k[L] < 0;
            /* strictly decreasing; ve: sigma_min and the data both at t = 0 */
            if (L > 0) mono &= t < task_level_time(s, &p, L - 1) || (t == 0 && L == p.N);
            if (p.sigma[L] > 0 && t > 0 && t < 1) { /* the time gives back the sigma */
                double sig = q == 0 ? sqrt(1.0 / sched_vpsde_alpha_bar(s, t) - 1.0) : sched_vesde_sigma(s, t);
                worst = fmax(worst, fabs(sig / p.sigma[L] - 1));
            }
        }
        int at_ok = 1;
        const double t0s[] = {0.1, 0.3, 0.5, 0.77, 0.95};
        for (int i = 0; i < 5; i++) {
            int L = task_level_at(s, &p, t0s[i]);
            at_ok &= task_level_time(s, &p, L) <= t0s[i] &&
                     (L == 0 || task_level_time(s, &p, L - 1) > t0s[i]);
        }
        check(off && mono && worst < 1e-9 && at_ok && task_level_time(s, &p, p.N) == 0.0 &&
                  task_level_time(s, &p, 0) <= 1.0,
              "ode 18 (Karras plan) on %s: times from sigma, decreasing from %.4f to 0, sigma(t) "
              "back within %.1e, level_at(t0) at or below t0 and the level before above",
              sched_process_name(s->cfg.process), task_level_time(s, &p, 0), worst);
        sampler_plan_free(&p);
    }
    /* ve on the trained levels: t = k/(L-1) */
    test_sampler_config(&sc, "langevin", NULL);
    sampler_plan_init(&p, &sc, &ve);
    ok = p.N == 11;
    for (int L = 0; L < 10; L++) ok &= task_level_time(&ve, &p, L) == (double)(9 - L) / 9;
    check(ok && task_level_time(&ve, &p, 10) == 0 && task_level_time(&ve, &p, 11) == 0,
          "langevin on L=10 ve levels (+ Tweedie step): t = k/(L-1), 1 .. 0, then 0 at the data");
    sampler_plan_free(&p);
    sched_free(&vp);
    sched_free(&ve);
}

/* ------------------------------------------------------------------ the low-pass */

static void test_lowpass(void)
{
    enum { B = 2, Cc = 3, Hh = 4, Ww = 8, n = B * Cc * Hh * Ww };
    float x[n], y[n], z[n];
    for (int j = 0; j < n; j++) x[j] = 0.37f;
    task_lowpass(y, x, B, Cc, Hh, Ww, 2);
    check(memcmp(x, y, sizeof x) == 0, "low-pass of a constant image is the image");
    test_fill_uniform(x, n, -1, 1, 3);
    int ok_i = 1, ok_m = 1, ok_c = 1;
    const int Ns[] = {1, 2, 4};
    for (int q = 0; q < 3; q++) {
        int N = Ns[q];
        task_lowpass(y, x, B, Cc, Hh, Ww, N);
        task_lowpass(z, y, B, Cc, Hh, Ww, N);
        ok_i &= memcmp(y, z, sizeof y) == 0;
        for (int pl = 0; pl < B * Cc; pl++)
            for (int by = 0; by < Hh; by += N)
                for (int bx = 0; bx < Ww; bx += N) {
                    double sx = 0, sy = 0;
                    float v = y[pl * Hh * Ww + by * Ww + bx];
                    for (int yy = by; yy < by + N; yy++)
                        for (int xx = bx; xx < bx + N; xx++) {
                            sx += x[pl * Hh * Ww + yy * Ww + xx];
                            sy += y[pl * Hh * Ww + yy * Ww + xx];
                            ok_c &= y[pl * Hh * Ww + yy * Ww + xx] == v;
                        }
                    ok_m &= fabs(sx - sy) < 1e-5;
                }
    }
    task_lowpass(y, x, B, Cc, Hh, Ww, 1);
    check(ok_i && ok_m && ok_c && memcmp(x, y, sizeof x) == 0,
          "low-pass, 2x3x4x8 with N = 1, 2, 4: idempotent bit for bit, constant on blocks, "
          "block sums kept, N = 1 the identity");
}

/* ------------------------------------------------------------------ SDEdit */

static void test_sdedit(void)
{
    Schedule vp;
    test_sched_vp(&vp, PRED_EPS);
    Gmm g = gmm_img();
    enum { NS = 64 };
    float *guide = xalloc_floats(NS * D);
    gmm_sample(&g, guide, NS * D, 21);
    SamplerConfig sc;
    test_sampler_config(&sc, "ddim", "steps=50");
    SamplerPlan p;
    sampler_plan_init(&p, &sc, &vp);
    TaskConfig tc;
    const double t0s[] = {0.05, 0.3, 0.5, 1.0};
    double diff[4];
    int ok = 1;
    char line[256] = "";
    size_t len = 0;
    for (int q = 0; q < 4; q++) {
        char o[32];
        snprintf(o, sizeof o, "t0=%g", t0s[q]);
        test_task_config(&tc, "sdedit", o);
        long long nfe;
        float *x = run(&tc, &sc, &vp, &g, guide, NULL, NS, 1000, NS, &nfe);
        int L0 = task_level_at(&vp, &p, t0s[q]);
        ok &= nfe == p.N - L0 && task_nfe(&tc, &sc, &vp) == nfe;
        diff[q] = mean_abs_diff(x, guide, NS * D);
        len += (size_t)snprintf(line + len, sizeof line - len, "%st0 %g: L0 %d, NFE %lld, |out - guide| %.3f",
                                q ? "; " : "", t0s[q], L0, nfe, diff[q]);
        if (q == 3) ok &= L0 == 0;
        free(x);
    }
    check(ok, "sdedit on ddim 50: NFE = N - L0 = task_nfe (t0 = 1: level 0): %s", line);
    check(diff[0] < 0.15 && diff[0] < diff[1] && diff[1] < diff[2] && diff[2] < diff[3] && diff[3] > 0.4,
          "sdedit: the output leaves the guide as t0 grows: %.3f < %.3f < %.3f < %.3f (t0 0.05 < 0.15, "
          "t0 1 > 0.4; the data's spread ~0.5)", diff[0], diff[1], diff[2], diff[3]);
    test_task_config(&tc, "sdedit", "t0=0.4");
    test_sampler_config(&sc, "ddim", "steps=50,eta=1");
    float *a = run(&tc, &sc, &vp, &g, guide, NULL, NS, 7, 16, NULL);
    float *b = run(&tc, &sc, &vp, &g, guide, NULL, NS, 7, 5, NULL);
    check(memcmp(a, b, NS * D * sizeof(float)) == 0, "sdedit (ddim eta 1): batches of 16 == batches of 5, bytes");
    free(a);
    free(b);
    /* every sampler: the start level's NFE only */
    struct { const char *name, *opts; int per_step; } cfgs[] = {
        {"ddpm", "steps=40", 1}, {"pc", "steps=30", 2}, {"dpmpp2m", "steps=12", 1}, {"unipc", "steps=12", 1},
    };
    ok = 1;
    len = 0;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        test_sampler_config(&sc, cfgs[c].name, cfgs[c].opts);
        SamplerPlan q;
        sampler_plan_init(&q, &sc, &vp);
        int L0 = task_level_at(&vp, &q, 0.4);
        long long nfe;
        float *x = run(&tc, &sc, &vp, &g, guide, NULL, NS, 7, NS, &nfe);
        double d = mean_abs_diff(x, guide, NS * D);
        ok &= nfe == (long long)(q.N - L0) * cfgs[c].per_step && isfinite(d);
        ok &= llabs(task_nfe(&tc, &sc, &vp) - nfe) <= cfgs[c].per_step - 1; /* pc: 2 a step */
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s L0 %d NFE %lld |d| %.3f",
                                c ? ", " : "", cfgs[c].name, L0, nfe, d);
        free(x);
        sampler_plan_free(&q);
    }
    check(ok, "sdedit t0 0.4 on other samplers: NFE of the levels below L0 only (%s)", line);
    sampler_plan_free(&p);
    free(guide);
    sched_free(&vp);
}

/* ------------------------------------------------------------------ RePaint */

static void test_repaint(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    Gmm g = gmm_img();
    enum { NS = 32 };
    float *orig = xalloc_floats(NS * D), *mask = xalloc_floats(NS * D);
    gmm_sample(&g, orig, NS * D, 31);
    /* a different mask per sample, about 2/3 known */
    for (int b = 0; b < NS; b++)
        for (int j = 0; j < D; j++) mask[b * D + j] = (j * 7 + b) % 3 != 0 ? 1.0f : 0.0f;
    /* per_step: NFE of one step that is not the plan's last */
    struct { const char *name, *opts; int ve, per_step; } cfgs[] = {
        {"ddim", "steps=20", 0, 1},     {"ddim", "steps=20,eta=1", 0, 1}, {"ddpm", "steps=40", 0, 1},
        {"ode", "steps=10", 0, 2},      {"dpmpp2m", "steps=12", 0, 1},    {"unipc", "steps=12", 0, 1},
        {"pc", "steps=30", 0, 2},       {"langevin", "steps_per_level=4,eps=2e-5", 1, 4},
        {"langevin", "steps_per_level=4,eps=2e-5,denoise=0", 1, 4}, {"pc", "steps=10", 1, 2},
        {"ode", "steps=10", 1, 2},
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        const Schedule *s = cfgs[c].ve ? &ve : &vp;
        SamplerConfig sc;
        test_sampler_config(&sc, cfgs[c].name, cfgs[c].opts);
        char desc[200];
        sampler_config_describe(&sc, s, desc, sizeof desc);
        SamplerPlan p;
        sampler_plan_init(&p, &sc, s);
        const int N = p.N, j = 5, r = 2;
        sampler_plan_free(&p);
        TaskConfig t1, t2;
        test_task_config(&t1, "repaint", "jump_length=5,resample=1");
        test_task_config(&t2, "repaint", "jump_length=5,resample=2");
        long long nfe1, nfe2;
        float *x1 = run(&t1, &sc, s, &g, orig, mask, NS, 100, NS, &nfe1);
        float *x2 = run(&t2, &sc, s, &g, orig, mask, NS, 100, NS, &nfe2);
        float *x2b = run(&t2, &sc, s, &g, orig, mask, NS, 100, 5, NULL);
        int kept = 1, finite = 1;
        double moved = 0;
        for (size_t i = 0; i < NS * D; i++) {
            finite &= isfinite(x1[i]) && isfinite(x2[i]);
            if (mask[i] != 0) kept &= x1[i] == orig[i] && x2[i] == orig[i];
            else moved += fabs(x1[i] - x2[i]);
        }
        /* stretch ends at levels j, 2j, .. below N, each passed r times */
        const long long want = nfe1 + (long long)(r - 1) * ((N - 1) / j) * j * cfgs[c].per_step;
        /* the header's estimate: exact at one NFE a step, within one step's NFE else */
        const long long est = task_nfe(&t2, &sc, s);
        check(llabs(est - nfe2) <= (cfgs[c].per_step == 1 ? 0 : cfgs[c].per_step),
              "repaint on %s (%s): task_nfe %lld against the %lld made", desc,
              sched_process_name(s->cfg.process), est, nfe2);
        check(kept && finite && nfe1 == sampler_nfe(&sc, s) && nfe2 == want && moved > 0 &&
                  memcmp(x2, x2b, NS * D * sizeof(float)) == 0,
              "repaint on %s (%s): known pixels = the original exactly (r = 1 and 2); j = 5, r = 2: "
              "NFE %lld -> %lld (%lld: %d stretches of %d steps again), unknown pixels moved %.3g "
              "in all; batches of 5 == %d", desc, sched_process_name(s->cfg.process), nfe1, nfe2,
              want, (N - 1) / j, j, moved, NS);
        free(x1);
        free(x2);
        free(x2b);
    }
    /* the unknown pixels are samples of the data: with independent pixels their moments
     * are the mixture's (ddpm 100 steps, RePaint's own j = r = 10 on 10 steps of 10) */
    {
        SamplerConfig sc;
        test_sampler_config(&sc, "ddpm", "steps=100");
        TaskConfig tc;
        test_task_config(&tc, "repaint", NULL);
        enum { NB = 512 };
        float *o = xalloc_floats(NB * D), *mk = xalloc_floats(NB * D);
        gmm_sample(&g, o, NB * D, 41);
        for (int i = 0; i < NB * D; i++) mk[i] = i % 2 ? 1.0f : 0.0f;
        float *x = run(&tc, &sc, &vp, &g, o, mk, NB, 5000, 128, NULL);
        double mean = 0, var = 0, tm = 0.4 * -0.6 + 0.6 * 0.4;
        double tv = 0.4 * (0.0225 + 0.36) + 0.6 * (0.0625 + 0.16) - tm * tm;
        size_t cnt = 0;
        for (int i = 0; i < NB * D; i++)
            if (!mk[i]) { mean += x[i]; cnt++; }
        mean /= cnt;
        for (int i = 0; i < NB * D; i++)
            if (!mk[i]) var += (x[i] - mean) * (x[i] - mean);
        var /= cnt;
        check(fabs(mean - tm) < 5 * sqrt(tv / cnt) + 0.02 && fabs(var - tv) < 0.05 * tv + 0.01,
              "repaint (ddpm 100, j = r = 10): the %zu filled pixels have the data's mean %.4f (%.4f) "
              "and variance %.4f (%.4f)", cnt, mean, tm, var, tv);
        free(x);
        free(o);
        free(mk);
    }
    free(orig);
    free(mask);
    sched_free(&vp);
    sched_free(&ve);
}

/* ------------------------------------------------------------------ ILVR */

/* A task around another that keeps a copy of the state when it reaches level `at`. */
typedef struct {
    const SampleTask *inner;
    int at;
    float *snap;
} Spy;

static int spy_after(void *ctx, const SampleRun *r, int i, float *x)
{
    Spy *s = ctx;
    int next = s->inner && s->inner->after_step ? s->inner->after_step(s->inner->ctx, r, i, x) : i + 1;
    if (i + 1 == s->at) memcpy(s->snap, x, r->n * sizeof(float));
    return next;
}

/* the state at level `at` of an ILVR run (tc NULL: plain generation) */
static void spy_run(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s, const Gmm *g,
                    const float *ref, int nsamples, int at, float *snap, float *out)
{
    GmmModel gm;
    gmm_model_init(&gm, g, s, D, 0);
    Denoiser m;
    denoiser_init(&m, gmm_denoise, &gm, s, D, 0);
    uint64_t *seeds = xmalloc(sizeof(uint64_t) * (size_t)nsamples);
    for (int i = 0; i < nsamples; i++) seeds[i] = 300 + (uint64_t)i;
    TaskState st;
    memset(&st, 0, sizeof st);
    SampleTask inner;
    memset(&inner, 0, sizeof inner);
    TaskInputs in = {ref, NULL, C, H, W, NULL};
    if (tc) task_bind(tc, &in, &st, &inner);
    Spy spy = {tc ? &inner : NULL, at, snap};
    SampleTask t = {"spy", &spy, NULL, spy_after, 0};
    sampler_run_task(sc, s, &m, &t, out, seeds, NULL, nsamples);
    task_state_free(&st);
    denoiser_free(&m);
    free(seeds);
}

static void test_ilvr(void)
{
    Schedule vp, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_ve(&ve);
    Gmm g = gmm_img();
    enum { NS = 64 };
    float *ref = xalloc_floats(NS * D), *lr = xalloc_floats(NS * D), *lx = xalloc_floats(NS * D);
    gmm_sample(&g, ref, NS * D, 51);
    SamplerConfig sc;
    TaskConfig tc;
    /* plain generation: how far the low frequencies are without ILVR */
    test_sampler_config(&sc, "ddpm", "steps=100");
    double base[2];
    {
        float *x = NULL;
        GmmModel gm;
        gmm_model_init(&gm, &g, &vp, D, 0);
        Denoiser m;
        denoiser_init(&m, gmm_denoise, &gm, &vp, D, 0);
        uint64_t seeds[NS]; /* those of the ILVR runs below: the same prior noise */
        for (int i = 0; i < NS; i++) seeds[i] = 200 + (uint64_t)i;
        x = xalloc_floats(NS * D);
        sampler_run(&sc, &vp, &m, x, seeds, NULL, NS);
        for (int q = 0; q < 2; q++) {
            task_lowpass(lr, ref, NS, C, H, W, 2 + 2 * q);
            task_lowpass(lx, x, NS, C, H, W, 2 + 2 * q);
            base[q] = mean_abs_diff(lr, lx, NS * D);
        }
        free(x);
        denoiser_free(&m);
    }
    struct { const char *name, *opts; int ve; } cfgs[] = {
        {"ddpm", "steps=100", 0}, {"ddim", "steps=50", 0}, {"ode", "steps=18", 0},
        {"unipc", "steps=12", 0}, {"langevin", "steps_per_level=20,eps=2e-5", 1}, {"pc", "steps=10", 1},
    };
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        const Schedule *s = cfgs[c].ve ? &ve : &vp;
        test_sampler_config(&sc, cfgs[c].name, cfgs[c].opts);
        char desc[200];
        sampler_config_describe(&sc, s, desc, sizeof desc);
        double dl[2], dseed = 0;
        int same = 1;
        for (int q = 0; q < 2; q++) {
            const int N = 2 + 2 * q;
            char o[64];
            snprintf(o, sizeof o, "factor=%d", N);
            test_task_config(&tc, "ilvr", o);
            float *x = run(&tc, &sc, s, &g, ref, NULL, NS, 200, NS, NULL);
            float *x2 = run(&tc, &sc, s, &g, ref, NULL, NS, 900, NS, NULL);
            float *xb = run(&tc, &sc, s, &g, ref, NULL, NS, 200, 5, NULL);
            task_lowpass(lr, ref, NS, C, H, W, N);
            task_lowpass(lx, x, NS, C, H, W, N);
            dl[q] = mean_abs_diff(lr, lx, NS * D);
            if (q == 0) dseed = mean_abs_diff(x, x2, NS * D);
            same &= memcmp(x, xb, NS * D * sizeof(float)) == 0;
            free(x);
            free(x2);
            free(xb);
        }
        check(dl[0] < 0.01 && dl[1] < 0.01 && dseed > 0.1 && same,
              "ilvr on %s (%s): |phi_N(out) - phi_N(ref)| %.2g (N = 2), %.2g (N = 4) (plain "
              "generation: %.3f, %.3f); other seeds differ by %.3f; batches of 5 == %d",
              desc, sched_process_name(s->cfg.process), dl[0], dl[1], base[0], base[1], dseed, NS);
    }
    /* the range: refining only down to t = range_to pulls the low frequencies towards the
     * reference's, the more the lower range_to (less noise on y_t); [0, 0.5] leaves the
     * early steps alone */
    {
        test_sampler_config(&sc, "ddim", "steps=50");
        const double tos[] = {0.5, 0.2, 0.05, 0.01};
        double d[4];
        task_lowpass(lr, ref, NS, C, H, W, 2);
        for (int q = 0; q < 4; q++) {
            char o[64];
            snprintf(o, sizeof o, "factor=2,range_to=%g", tos[q]);
            test_task_config(&tc, "ilvr", o);
            float *x = run(&tc, &sc, &vp, &g, ref, NULL, NS, 200, NS, NULL);
            task_lowpass(lx, x, NS, C, H, W, 2);
            d[q] = mean_abs_diff(lr, lx, NS * D);
            free(x);
        }
        check(d[0] < base[0] && d[1] < d[0] && d[2] < d[1] && d[3] < d[2] && d[2] < 0.5 * base[0] &&
                  d[3] > 1e-3,
              "ilvr on ddim 50, range [t, 1] for t = 0.5, 0.2, 0.05, 0.01: |phi_2(out) - phi_2(ref)| "
              "%.3f > %.3f > %.3f > %.3f (plain generation %.3f; [0, 1]: 0)", d[0], d[1], d[2], d[3],
              base[0]);
        SamplerPlan p;
        sampler_plan_init(&p, &sc, &vp);
        const int Lh = task_level_at(&vp, &p, 0.5) - 1; /* the last level above t = 0.5 */
        sampler_plan_free(&p);
        float *sp = xalloc_floats(NS * D), *sa = xalloc_floats(NS * D), *sb = xalloc_floats(NS * D);
        float *op = xalloc_floats(NS * D), *oa = xalloc_floats(NS * D), *ob = xalloc_floats(NS * D);
        TaskConfig late, all;
        test_task_config(&late, "ilvr", "factor=2,range_from=0.5");
        test_task_config(&all, "ilvr", "factor=2");
        spy_run(NULL, &sc, &vp, &g, ref, NS, Lh, sp, op);
        spy_run(&late, &sc, &vp, &g, ref, NS, Lh, sa, oa);
        spy_run(&all, &sc, &vp, &g, ref, NS, Lh, sb, ob);
        size_t bytes = NS * D * sizeof(float);
        check(memcmp(sp, sa, bytes) == 0 && memcmp(sp, sb, bytes) != 0 && memcmp(oa, ob, bytes) != 0 &&
                  memcmp(oa, op, bytes) != 0,
              "ilvr range [0, 0.5] on ddim 50: the state at level %d (t > 0.5) is plain generation's, "
              "bit for bit; range [0, 1] changed it; the outputs of the two ranges and of plain "
              "generation all differ (by %.2g, %.2g)", Lh, mean_abs_diff(oa, ob, NS * D),
              mean_abs_diff(oa, op, NS * D));
        free(sp); free(sa); free(sb); free(op); free(oa); free(ob);
    }
    free(ref);
    free(lr);
    free(lx);
    sched_free(&vp);
    sched_free(&ve);
}

int main(void)
{
    double t0 = ddm_now();
#define SECTION(f) do { double ts = ddm_now(); f(); printf("# %s: %.1fs\n", #f, ddm_now() - ts); } while (0)
    SECTION(test_registry);
    SECTION(test_sdedit_settings);
    SECTION(test_repaint_settings);
    SECTION(test_ilvr_settings);
    SECTION(test_level_time);
    SECTION(test_lowpass);
    SECTION(test_sdedit);
    SECTION(test_repaint);
    SECTION(test_ilvr);
    printf("test_tasks: %.1fs\n", ddm_now() - t0);
    return test_summary();
}
