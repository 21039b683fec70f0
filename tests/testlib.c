#include "tests/testlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"

static int n_pass, n_fail;

int check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) n_pass++; else n_fail++;
    return ok;
}

int check_close_d(const char *what, const double *a, const double *ref, size_t n,
                  double atol, double rtol)
{
    size_t worst = 0, bad = 0;
    double worst_excess = -INFINITY, max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - ref[i]);
        double tol = atol + rtol * fabs(ref[i]);
        double excess = isfinite(d) ? d - tol : INFINITY;
        if (!(d <= tol)) bad++;
        if (isfinite(d) && d > max_abs) max_abs = d;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    return check(bad == 0,
                 "%s: n=%zu max|diff|=%.3g, worst [%zu] got %.8g ref %.8g (atol %.1g rtol %.1g)%s",
                 what, n, max_abs, worst, n ? a[worst] : 0.0, n ? ref[worst] : 0.0, atol, rtol,
                 bad ? " <- out of tolerance" : "");
}

int check_close(const char *what, const float *a, const float *ref, size_t n, double atol,
                double rtol)
{
    size_t worst = 0, bad = 0;
    double worst_excess = -INFINITY, max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        double tol = atol + rtol * fabs((double)ref[i]);
        double excess = isfinite(d) ? d - tol : INFINITY;
        if (!(d <= tol)) bad++;
        if (isfinite(d) && d > max_abs) max_abs = d;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    return check(bad == 0,
                 "%s: n=%zu max|diff|=%.3g, worst [%zu] got %.8g ref %.8g (atol %.1g rtol %.1g)%s",
                 what, n, max_abs, worst, n ? (double)a[worst] : 0.0,
                 n ? (double)ref[worst] : 0.0, atol, rtol, bad ? " <- out of tolerance" : "");
}

int test_summary(void)
{
    printf("%d passed, %d failed\n", n_pass, n_fail);
    fflush(stdout);
    return n_fail ? 1 : 0;
}

void test_fill_uniform(float *x, size_t n, float lo, float hi, unsigned long seed)
{
    Rng r;
    rng_init(&r, seed, 0x7e57);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(&r);
}

void test_sched_vp(Schedule *s, SchedPred pred)
{
    SchedConfig c;
    sched_config_default(&c);
    c.prediction = pred;
    sched_init(s, &c);
}

void test_sched_ve(Schedule *s)
{
    SchedConfig c;
    sched_config_default(&c);
    c.process = PROC_VE;
    c.sigma_min = 0.01;
    c.sigma_max = 10;
    c.num_scales = 10;
    sched_init(s, &c);
}

/* opts "k=v,k=v" applied by set(obj, k, v) */
static void apply_opts(const char *opts, void *obj,
                       int (*set)(void *obj, const char *k, const char *v, char *err, size_t n))
{
    char err[256], buf[256];
    if (!opts) return;
    snprintf(buf, sizeof buf, "%s", opts);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        DDM_ASSERT(eq, "bad option %s", tok);
        *eq = 0;
        if (set(obj, tok, eq + 1, err, sizeof err)) ddm_die("%s", err);
    }
}

static int set_sampler(void *obj, const char *k, const char *v, char *err, size_t n)
{
    return sampler_config_set(obj, k, v, err, n);
}

static int set_task(void *obj, const char *k, const char *v, char *err, size_t n)
{
    return task_config_set(obj, k, v, err, n);
}

void test_sampler_config(SamplerConfig *sc, const char *name, const char *opts)
{
    char err[256];
    if (sampler_config_init(sc, name, err, sizeof err)) ddm_die("%s", err);
    if (opt_find(sc->def->opts, -1, NULL, "clip")) sc->clip = 0;
    apply_opts(opts, sc, set_sampler);
}

void test_task_config(TaskConfig *tc, const char *name, const char *opts)
{
    char err[256];
    if (task_config_init(tc, name, err, sizeof err)) ddm_die("%s", err);
    apply_opts(opts, tc, set_task);
}
