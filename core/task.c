/* The task registry, task settings, task_run and the pieces the tasks share (level times,
 * the noised input q(x_L | x0), ILVR's low-pass).
 *
 * B = samples in the batch, C, H, W = image shape, D = C*H*W, n = B*D. */
#include "core/task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

/* ------------------------------------------------------------------ the registry */

#define TASK(name) extern const TaskDef task_##name##_def;
#include "core/tasks/registry.h"
#undef TASK

static const TaskDef *const REGISTRY[] = {
#define TASK(name) &task_##name##_def,
#include "core/tasks/registry.h"
#undef TASK
};
#define NTASKS ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

int task_count(void) { return NTASKS; }
const TaskDef *task_def(int i) { return i >= 0 && i < NTASKS ? REGISTRY[i] : NULL; }

const TaskDef *task_find(const char *name)
{
    for (int i = 0; name && i < NTASKS; i++)
        if (!strcmp(REGISTRY[i]->name, name)) return REGISTRY[i];
    return NULL;
}

void task_names(char *buf, size_t n)
{
    size_t off = 0;
    if (!n) return;
    buf[0] = '\0';
    for (int i = 0; i < NTASKS && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", REGISTRY[i]->name);
}

/* ------------------------------------------------------------------ settings */

int task_config_init(TaskConfig *tc, const char *name, char *err, size_t errlen)
{
    memset(tc, 0, sizeof *tc);
    const TaskDef *d = task_find(name);
    if (!d) {
        char all[256];
        task_names(all, sizeof all);
        if (err) snprintf(err, errlen, "unknown task '%s'; one of %s", name ? name : "", all);
        return -1;
    }
    tc->def = d;
    /* every task's defaults, so a TaskConfig is complete whichever task it names */
    for (int i = 0; i < NTASKS; i++)
        if (REGISTRY[i]->opts) opt_defaults(REGISTRY[i]->opts, -1, tc);
    if (d->opts) opt_defaults(d->opts, -1, tc);
    return 0;
}

int task_config_set(TaskConfig *tc, const char *key, const char *value, char *err,
                    size_t errlen)
{
    const TaskDef *d = tc->def;
    if (!d) {
        if (err) snprintf(err, errlen, "no task chosen");
        return -1;
    }
    const OptSpec *o = d->opts && key ? opt_find(d->opts, -1, NULL, key) : NULL;
    if (!o) {
        char list[512] = "";
        size_t off = 0;
        for (const OptSpec *r = d->opts; r && r->name && off < sizeof list; r++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "",
                                    r->name);
        if (err) snprintf(err, errlen, "unknown task option '%s' for task %s; it takes %s",
                          key ? key : "", d->name, off ? list : "no options");
        return -1;
    }
    char e[256];
    if (opt_set(o, tc, value, e, sizeof e)) {
        if (err) snprintf(err, errlen, "task %s: %s", d->name, e);
        return -1;
    }
    return 0;
}

int task_config_check(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s,
                      char *err, size_t errlen)
{
    char msg[512] = "";
    if (!tc->def) {
        snprintf(msg, sizeof msg, "no task chosen");
    } else if (sampler_config_check(sc, s, msg, sizeof msg)) {
        /* the task's check may build the sampler's plan: the sampler must be valid first */
    } else if (tc->def->check && tc->def->check(tc, sc, s, msg, sizeof msg)) {
        if (!msg[0]) snprintf(msg, sizeof msg, "task %s: bad setting", tc->def->name);
    }
    if (msg[0]) {
        if (err) snprintf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}

void task_config_describe(const TaskConfig *tc, char *buf, size_t n)
{
    if (!n) return;
    size_t off = (size_t)snprintf(buf, n, "%s", tc->def ? tc->def->name : "?");
    char v[64];
    for (const OptSpec *o = tc->def ? tc->def->opts : NULL; o && o->name && off < n; o++) {
        opt_format(o, tc, v, sizeof v);
        off += (size_t)snprintf(buf + off, n - off, " %s=%s", o->name, v);
    }
}

static void needs_text(unsigned needs, char *buf, size_t n)
{
    snprintf(buf, n, "%s%s%s", needs & TASK_NEEDS_IMAGE ? "an image" : "",
             (needs & TASK_NEEDS_IMAGE) && (needs & TASK_NEEDS_MASK) ? " and " : "",
             needs & TASK_NEEDS_MASK ? "a mask" : "");
    if (!(needs & (TASK_NEEDS_IMAGE | TASK_NEEDS_MASK))) snprintf(buf, n, "no input");
    if (needs & TASK_NEEDS_CLASS) {
        size_t l = strlen(buf);
        snprintf(buf + l, n - l, ", a class-conditional model and a target class");
    }
}

void task_print_help(FILE *f)
{
    for (int i = 0; i < NTASKS; i++) {
        const TaskDef *d = REGISTRY[i];
        char needs[128];
        needs_text(d->needs, needs, sizeof needs);
        fprintf(f, "%s (needs %s per sample%s; %s):\n", d->name, needs,
                d->condition ? " and a model trained with its condition" : "", d->cite);
        if (d->opts) opt_print_help(f, d->opts, -1, "");
    }
}

int task_check_inputs(const TaskConfig *tc, const TaskInputs *in, int B, char *err,
                      size_t errlen)
{
    const TaskDef *d = tc->def;
    char msg[512] = "";
    const size_t D = in->C > 0 && in->H > 0 && in->W > 0
                         ? (size_t)in->C * (size_t)in->H * (size_t)in->W : 0;
    const size_t n = (size_t)(B > 0 ? B : 0) * D;
    if (!d) {
        snprintf(msg, sizeof msg, "no task chosen");
    } else if (!D) {
        snprintf(msg, sizeof msg, "task %s: image shape %dx%dx%d: each must be >= 1", d->name,
                 in->C, in->H, in->W);
    } else if ((d->needs & TASK_NEEDS_IMAGE) && !in->image) {
        snprintf(msg, sizeof msg, "task %s needs an image per sample", d->name);
    } else if ((d->needs & TASK_NEEDS_MASK) && !in->mask) {
        snprintf(msg, sizeof msg, "task %s needs a mask per sample", d->name);
    } else if (d->inputs_check && d->inputs_check(tc, in, msg, sizeof msg)) {
        if (!msg[0]) snprintf(msg, sizeof msg, "task %s: bad inputs", d->name);
    } else {
        for (size_t j = 0; in->image && j < n && !msg[0]; j++)
            if (!isfinite(in->image[j]))
                snprintf(msg, sizeof msg, "task %s: image %zu has a value that is not a number "
                         "(at %zu)", d->name, j / D, j % D);
        /* the blend is a selection (Lugmayr et al. 2022, Alg. 1 line 8 with m in {0,1}) */
        for (size_t j = 0; in->mask && j < n && !msg[0]; j++)
            if (in->mask[j] != 0.0f && in->mask[j] != 1.0f)
                snprintf(msg, sizeof msg, "task %s: mask %zu has %g at %zu: want 0 (fill) or 1 "
                         "(known)", d->name, j / D, (double)in->mask[j], j % D);
    }
    if (msg[0]) {
        if (err) snprintf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ running */

long long task_nfe(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s)
{
    const long long nfe = sampler_nfe(sc, s);
    if (!tc->def->steps_run) return nfe;
    SamplerPlan p;
    sampler_plan_init(&p, sc, s);
    const long long steps = tc->def->steps_run(tc, s, &p), N = p.N;
    sampler_plan_free(&p);
    return N > 0 ? (nfe * steps + N / 2) / N : nfe;
}

void task_run(const TaskConfig *tc, const TaskInputs *in, const SamplerConfig *sc,
              const Schedule *s, Denoiser *den, float *x0_out, const uint64_t *seeds,
              const int *labels, int B)
{
    char err[512];
    if (task_config_check(tc, sc, s, err, sizeof err)) ddm_die("%s", err);
    if (B <= 0) return;
    if (task_check_inputs(tc, in, B, err, sizeof err)) ddm_die("%s", err);
    DDM_ASSERT((size_t)in->C * in->H * in->W == den->D,
               "task %s: inputs of %dx%dx%d values, the model makes %zu", tc->def->name, in->C,
               in->H, in->W, den->D);
    DDM_ASSERT(!tc->def->condition == !den->cond_D,
               "task %s on a network that %s a condition image", tc->def->name,
               den->cond_D ? "takes" : "takes no");
    float *cond = NULL;
    if (tc->def->condition) {
        DDM_ASSERT(den->cond_D == den->D, "task %s: the network's condition has %zu values, "
                   "the images %zu", tc->def->name, den->cond_D, den->D);
        cond = xalloc_floats((size_t)B * den->D);
        tc->def->condition(tc, in, B, cond);
        denoiser_set_cond(den, cond);
    }
    TaskState st;
    SampleTask t;
    task_bind(tc, in, &st, &t);
    sampler_run_task(sc, s, den, &t, x0_out, seeds, labels, B);
    task_state_free(&st);
    if (cond) {
        denoiser_set_cond(den, NULL);
        free(cond);
    }
}

void task_bind(const TaskConfig *tc, const TaskInputs *in, TaskState *st, SampleTask *out)
{
    memset(st, 0, sizeof *st);
    st->tc = tc;
    st->in = *in;
    *out = (SampleTask){tc->def->name, st, tc->def->init, tc->def->after_step, tc->def->max_jumps};
}

void task_state_free(TaskState *st)
{
    free(st->buf);
    free(st->visits);
    memset(st, 0, sizeof *st);
}

float *task_state_scratch(TaskState *st, size_t n)
{
    if (st->cap < 3 * n) {
        free(st->buf);
        st->buf = xalloc_floats(3 * n);
        st->cap = 3 * n;
    }
    return st->buf;
}

/* ------------------------------------------------------------------ shared pieces */

/* vp: the t in [0,1] with alpha_bar(t) = 1/(1+sigma^2) on the continuous curve (sched.h;
 * Song et al. 2021 eq. 33, Nichol & Dhariwal 2021 eq. 17), by bisection: alpha_bar is
 * decreasing in t. Beyond the curve's end: 1. */
static double vp_time_of_sigma(const Schedule *s, double sigma)
{
    const double target = 1.0 / (1.0 + sigma * sigma);
    if (sched_vpsde_alpha_bar(s, 1.0) >= target) return 1.0;
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 80 && hi - lo > 1e-15; it++) {
        double mid = 0.5 * (lo + hi);
        if (sched_vpsde_alpha_bar(s, mid) > target) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

double task_level_time(const Schedule *s, const SamplerPlan *p, int L)
{
    DDM_ASSERT(L >= 0 && L <= p->N, "task_level_time: level %d outside 0..%d", L, p->N);
    const int k = p->k[L];
    const int vp = s->cfg.process == PROC_VP;
    if (k >= 0) /* sched.h: discrete level k sits at t = (k+1)/T (vp) or k/(L-1) (ve) */
        return vp ? (double)(k + 1) / s->n : s->n > 1 ? (double)k / (s->n - 1) : 1.0;
    const double sigma = p->sigma[L];
    if (!(sigma > 0)) return 0.0;
    if (vp) return vp_time_of_sigma(s, sigma);
    /* ve: sigma(t) = smin (smax/smin)^t (Song et al. 2021 eq. 30) solved for t */
    const double smin = s->cfg.sigma_min, smax = s->cfg.sigma_max;
    double t = log(sigma / smin) / log(smax / smin);
    return t < 0 ? 0.0 : t > 1 ? 1.0 : t;
}

int task_level_at(const Schedule *s, const SamplerPlan *p, double t0)
{
    for (int L = 0; L < p->N; L++)
        if (task_level_time(s, p, L) <= t0) return L;
    return p->N;
}

void task_noised(const SampleRun *r, float *x, const float *x0, int L)
{
    const SamplerPlan *p = r->plan;
    const double a = p->a[L], sg = p->sg[L];
    if (sg == 0.0 && a == 1.0) { /* the data: x0 itself, bit for bit */
        if (x != x0) memcpy(x, x0, r->n * sizeof(float));
        return;
    }
    DDM_ASSERT(x != x0, "task_noised: x may not alias x0");
    sampler_draw_normals(x, r->seeds, TASK_STREAM + r->stream_offset + (uint64_t)L, r->B, r->D);
    const size_t n = r->n;
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t j = 0; j < n; j++) x[j] = (float)(a * x0[j] + sg * x[j]); /* DDPM eq. 4 */
}

void task_lowpass(float *out, const float *in, int B, int C, int H, int W, int N)
{
    DDM_ASSERT(N >= 1 && H % N == 0 && W % N == 0,
               "task_lowpass: %dx%d images do not split into %dx%d blocks", H, W, N, N);
    DDM_ASSERT(out != in, "task_lowpass: out may not alias in");
    const size_t planes = (size_t)B * (size_t)C, hw = (size_t)H * (size_t)W;
    const double nn = (double)N * N;
#pragma omp parallel for schedule(static) if (planes * hw >= SAMPLER_PAR_MIN)
    for (size_t pl = 0; pl < planes; pl++) {
        const float *src = in + pl * hw;
        float *dst = out + pl * hw;
        for (int by = 0; by < H; by += N)
            for (int bx = 0; bx < W; bx += N) {
                double sum = 0;
                for (int y = by; y < by + N; y++)
                    for (int x = bx; x < bx + N; x++) sum += src[(size_t)y * W + x];
                /* N = 1: the identity; a constant block gives its value back exactly */
                const float m = N == 1 ? src[(size_t)by * W + bx] : (float)(sum / nn);
                for (int y = by; y < by + N; y++)
                    for (int x = bx; x < bx + N; x++) dst[(size_t)y * W + x] = m;
            }
    }
}
