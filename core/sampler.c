/* The sampler registry, settings, plans, the driver and the forward process. */
#include "core/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/diffusion.h"

/* ------------------------------------------------------------------ the registry */

#define SAMPLER(name) extern const SamplerDef sampler_##name##_def;
#include "core/samplers/registry.h"
#undef SAMPLER

static const SamplerDef *const REGISTRY[] = {
#define SAMPLER(name) &sampler_##name##_def,
#include "core/samplers/registry.h"
#undef SAMPLER
};
#define NSAMPLERS ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

int sampler_count(void) { return NSAMPLERS; }
const SamplerDef *sampler_def(int i) { return i >= 0 && i < NSAMPLERS ? REGISTRY[i] : NULL; }

const SamplerDef *sampler_find(const char *name)
{
    for (int i = 0; name && i < NSAMPLERS; i++)
        if (!strcmp(REGISTRY[i]->name, name)) return REGISTRY[i];
    return NULL;
}

/* "a, b, c" (mask = 0) or those running on process bit mask, "a, b or c" */
static void names(char *buf, size_t n, unsigned mask, const char *last_sep)
{
    size_t off = 0;
    int cnt = 0, total = 0;
    buf[0] = '\0';
    for (int i = 0; i < NSAMPLERS; i++) total += !mask || (REGISTRY[i]->processes & mask);
    for (int i = 0; i < NSAMPLERS && off < n; i++) {
        if (mask && !(REGISTRY[i]->processes & mask)) continue;
        const char *sep = cnt == 0 ? "" : cnt == total - 1 ? last_sep : ", ";
        off += (size_t)snprintf(buf + off, n - off, "%s%s", sep, REGISTRY[i]->name);
        cnt++;
    }
}

void sampler_names(char *buf, size_t n) { names(buf, n, 0, ", "); }

/* ------------------------------------------------------------------ settings */

#define OFF(f) offsetof(SamplerConfig, f)
/* the options every sampler has */
static const OptSpec COMMON[] = {
    {NULL, "steps", OPT_INT, OFF(steps), 0, NULL, "0", "N", "steps",
     "sampler steps (0 = the sampler's default)", 0, 0, 0, 0},
    {NULL, "guidance", OPT_F64, OFF(guidance), 0, NULL, "0", "W", "",
     "classifier-free guidance weight w (0 = off; needs a class)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const char *sampler_name(const SamplerConfig *sc) { return sc->def ? sc->def->name : "?"; }

int sampler_config_init(SamplerConfig *sc, const char *name, char *err, size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    const SamplerDef *d = sampler_find(name);
    if (!d) {
        char all[256];
        sampler_names(all, sizeof all);
        if (err) snprintf(err, errlen, "unknown sampler '%s'; one of %s", name ? name : "", all);
        return -1;
    }
    sc->def = d;
    opt_defaults(COMMON, -1, sc);
    opt_defaults(d->opts, -1, sc);
    return 0;
}

int sampler_config_set(SamplerConfig *sc, const char *key, const char *value, char *err,
                       size_t errlen)
{
    const OptSpec *o = opt_find(COMMON, -1, NULL, key);
    if (!o && sc->def->opts) o = opt_find(sc->def->opts, -1, NULL, key);
    if (!o) {
        char list[512];
        size_t off = (size_t)snprintf(list, sizeof list, "steps, guidance");
        for (const OptSpec *r = sc->def->opts; r && r->name && off < sizeof list; r++)
            off += (size_t)snprintf(list + off, sizeof list - off, ", %s", r->name);
        if (err) snprintf(err, errlen, "unknown sampler option '%s' for sampler %s; it takes %s",
                          key, sc->def->name, list);
        return -1;
    }
    char e[256];
    if (opt_set(o, sc, value, e, sizeof e)) {
        if (err) snprintf(err, errlen, "sampler %s: %s", sc->def->name, e);
        return -1;
    }
    return 0;
}

int sampler_steps(const SamplerConfig *sc, const Schedule *s)
{
    const SamplerDef *d = sc->def;
    if (sc->steps > 0) return sc->steps;
    if (d->default_steps) return d->default_steps(sc, s);
    return d->steps_default > 0 ? d->steps_default : s->n;
}

int sampler_config_check(const SamplerConfig *sc, const Schedule *s, char *err, size_t errlen)
{
    const SamplerDef *d = sc->def;
    const SchedProcess p = s->cfg.process;
    char msg[512] = "";
    if (!d) {
        snprintf(msg, sizeof msg, "no sampler chosen");
    } else if (!(d->processes & (1u << p))) {
        char ok[256];
        names(ok, sizeof ok, 1u << p, " or ");
        snprintf(msg, sizeof msg, "sampler '%s' needs process %s; the model is %s (use %s)",
                 d->name, sched_process_name(p == PROC_VP ? PROC_VE : PROC_VP),
                 sched_process_name(p), ok);
    } else if (sc->steps < 0) {
        snprintf(msg, sizeof msg, "sampler %s: steps must be >= 1 (0 = default), got %d",
                 d->name, sc->steps);
    } else if (!isfinite(sc->guidance)) {
        snprintf(msg, sizeof msg, "sampler %s: guidance must be a number", d->name);
    } else if (d->check && d->check(sc, s, sampler_steps(sc, s), msg, sizeof msg)) {
        if (!msg[0]) snprintf(msg, sizeof msg, "sampler %s: bad setting", d->name);
    }
    if (msg[0]) {
        if (err) snprintf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}

long long sampler_nfe(const SamplerConfig *sc, const Schedule *s)
{
    const int N = sampler_steps(sc, s);
    long long e = sc->def->nfe ? sc->def->nfe(sc, s, N) : N;
    return sc->guidance != 0 ? 2 * e : e;
}

void sampler_config_describe(const SamplerConfig *sc, const Schedule *s, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "%s steps=%d", sampler_name(sc), sampler_steps(sc, s));
    char v[64];
    for (const OptSpec *o = sc->def->opts; o && o->name && off < n; o++) {
        opt_format(o, sc, v, sizeof v);
        off += (size_t)snprintf(buf + off, n - off, " %s=%s", o->name, v);
    }
    if (off < n) {
        opt_format(&COMMON[1], sc, v, sizeof v);
        snprintf(buf + off, n - off, " guidance=%s", v);
    }
}

void sampler_print_help(FILE *f)
{
    fprintf(f, "options of every sampler:\n");
    opt_print_help(f, COMMON, -1, "");
    for (int i = 0; i < NSAMPLERS; i++) {
        const SamplerDef *d = REGISTRY[i];
        fprintf(f, "%s (%s%s%s; %s):\n", d->name, d->processes & (1u << PROC_VP) ? "vp" : "",
                d->processes == 3u ? ", " : "", d->processes & (1u << PROC_VE) ? "ve" : "",
                d->cite);
        if (d->opts) opt_print_help(f, d->opts, -1, "");
    }
}

int sampler_all_options(const OptSpec **rows, char (*owners)[96], int max)
{
    int n = 0;
    for (const OptSpec *o = COMMON; o->name && n < max; o++) {
        rows[n] = o;
        snprintf(owners[n++], 96, "all");
    }
    for (int i = 0; i < NSAMPLERS; i++)
        for (const OptSpec *o = REGISTRY[i]->opts; o && o->name; o++) {
            int k = 0;
            while (k < n && strcmp(rows[k]->name, o->name)) k++;
            if (k == n) {
                if (n == max) continue;
                rows[n] = o;
                owners[n++][0] = '\0';
            }
            size_t l = strlen(owners[k]);
            snprintf(owners[k] + l, 96 - l, "%s%s", l ? ", " : "", REGISTRY[i]->name);
        }
    return n;
}

/* ------------------------------------------------------------------ plans */

void sampler_plan_init(SamplerPlan *p, const SamplerConfig *sc, const Schedule *s)
{
    memset(p, 0, sizeof *p);
    const int N = sampler_steps(sc, s);
    const size_t L = (size_t)N + 2; /* one spare: a plan may add a final step */
    p->N = N;
    p->prior_std = 1.0;
    p->block = xcalloc(L * (5 + SAMPLER_AUX), sizeof(double));
    p->a = p->block;
    p->sg = p->a + L;
    p->sigma = p->sg + L;
    p->tcond = p->sigma + L;
    p->aux = p->tcond + L;
    p->k = xcalloc(L, sizeof(int));
    for (size_t l = 0; l < L; l++) p->k[l] = -1;
    sc->def->plan(sc, s, N, p);
}

void sampler_plan_free(SamplerPlan *p)
{
    free(p->block);
    free(p->k);
    memset(p, 0, sizeof *p);
}

void sampler_plan_set_k(SamplerPlan *p, const Schedule *s, int L, int k)
{
    p->k[L] = k;
    if (k < 0) { /* the data */
        p->a[L] = 1.0;
        p->sg[L] = 0.0;
        p->sigma[L] = 0.0;
        p->tcond[L] = 0.0;
        return;
    }
    sched_marginal_k(s, k, &p->a[L], &p->sg[L]);
    p->sigma[L] = s->sigma[k];
    p->tcond[L] = k;
}

void sampler_karras_sigmas(double *sig, int N, double smin, double smax, double rho)
{
    if (N == 1) {
        sig[0] = smax;
    } else {
        double a = pow(smax, 1.0 / rho), b = pow(smin, 1.0 / rho);
        for (int i = 0; i < N; i++) sig[i] = pow(a + (double)i / (N - 1) * (b - a), rho); /* eq. 5 */
        sig[0] = smax;
        sig[N - 1] = smin;
    }
    sig[N] = 0.0;
}

void sampler_plan_karras(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p)
{
    double smin = sched_sigma_min(s), smax = sched_sigma_max(s);
    if (sc->sigma_max > 0 && sc->sigma_max < smax) smax = sc->sigma_max;
    sampler_karras_sigmas(p->sigma, N, smin, smax, sc->rho);
    for (int l = 0; l <= N; l++) {
        p->a[l] = 1.0;          /* the state is xbar = x0 + sigma eps */
        p->sg[l] = p->sigma[l];
        p->tcond[l] = p->sigma[l] > 0 ? sched_tcond(s, p->sigma[l]) : 0.0;
    }
    /* vp: x_T ~ N(0,I) is xbar = x_T / sqrt(ab_T) = x_T sqrt(1 + sigma_max^2); ve: N(0, smax^2) */
    p->prior_std = s->cfg.process == PROC_VP ? sqrt(1.0 + smax * smax) : smax;
}

void sampler_ve_levels(const Schedule *s, int N, double *sig)
{
    if (N == s->n) {
        memcpy(sig, s->sigma, sizeof(double) * (size_t)N);
        return;
    }
    double l0 = log(s->cfg.sigma_min), l1 = log(s->cfg.sigma_max);
    if (N == 1) {
        sig[0] = s->cfg.sigma_max;
        return;
    }
    for (int i = 0; i < N; i++) sig[i] = exp(l0 + (l1 - l0) * i / (N - 1));
    sig[0] = s->cfg.sigma_min;
    sig[N - 1] = s->cfg.sigma_max;
}

void sampler_plan_tau(const SamplerConfig *sc, const Schedule *s, int N, SamplerPlan *p)
{
    int *tau = xmalloc(sizeof(int) * (size_t)N);
    sched_subsequence(s, N, (SchedSkip)sc->skip, tau);
    for (int l = 0; l < N; l++) sampler_plan_set_k(p, s, l, tau[N - 1 - l]);
    sampler_plan_set_k(p, s, N, -1);
    free(tau);
}

void sampler_plan_tweedie(SamplerPlan *p)
{
    const int N = p->N;
    p->a[N] = p->a[N - 1];
    p->sg[N] = p->sg[N - 1];
    p->sigma[N] = p->sigma[N - 1];
    p->tcond[N] = p->tcond[N - 1];
    p->k[N] = p->k[N - 1];
    p->a[N + 1] = 1.0;
    p->sg[N + 1] = p->sigma[N + 1] = 0.0;
    p->k[N + 1] = -1;
    p->N = N + 1;
    p->tweedie = 1;
}

int sampler_tweedie_step(SampleRun *r, int i, float *x)
{
    if (!r->plan->tweedie || i != r->plan->N - 1) return 0;
    sampler_eval_level(r, x, i, NULL, r->x0, NULL);
    memcpy(x, r->x0, r->n * sizeof(float));
    return 1;
}

int sampler_check_tau(const SamplerConfig *sc, const Schedule *s, int N, char *err,
                      size_t errlen)
{
    if (s->cfg.process != PROC_VP || N <= s->n) return 0;
    snprintf(err, errlen, "sampler %s: steps %d exceed the model's %d timesteps",
             sampler_name(sc), N, s->n);
    return -1;
}

void sampler_eval_clipped(SampleRun *r, const float *x, int L)
{
    const double a = r->plan->a[L], sg = r->plan->sg[L];
    sampler_eval_level(r, x, L, r->eps, r->x0, NULL);
    if (!r->sc->clip) return;
    for (size_t j = 0; j < r->n; j++) {
        float v = r->x0[j] < -1.f ? -1.f : r->x0[j] > 1.f ? 1.f : r->x0[j];
        r->x0[j] = v;
        r->eps[j] = (float)((x[j] - a * v) / sg);
    }
}

/* ------------------------------------------------------------------ noise */

void sampler_draw_normals(float *z, const uint64_t *seeds, uint64_t stream, int B, size_t D)
{
#pragma omp parallel for schedule(static) if ((size_t)B * D >= SAMPLER_PAR_MIN)
    for (int b = 0; b < B; b++) {
        Rng r;
        rng_init(&r, seeds[b], stream);
        rng_fill_normal(&r, z + (size_t)b * D, D);
    }
}

void sampler_q_sample(float *x, const float *x0, const float *z, double a, double sg, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = (float)(a * x0[i] + sg * z[i]); /* DDPM eq. 4 */
}

void sampler_q_forward(float *x, const float *z, double a1, double sg1, double a2, double sg2,
                       size_t n)
{
    const double r = a2 / a1, v = sg2 * sg2 - r * r * sg1 * sg1, s = v > 0 ? sqrt(v) : 0.0;
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = (float)(r * x[i] + s * z[i]);
}

void sampler_eval_level(SampleRun *r, const float *x, int L, float *eps, float *x0,
                        float *score)
{
    const SamplerPlan *p = r->plan;
    denoiser_eval(r->den, x, p->tcond[L], p->a[L], p->sg[L], eps, x0, score);
}

/* ------------------------------------------------------------------ the driver */

/* the jump-back noise of level i: a stream no step uses */
#define SAMPLER_STREAM_JUMP ((uint64_t)1 << 39)
#define SAMPLER_STREAM_VISIT ((uint64_t)1 << 40)

/* The plan, the denoiser's batch and the run of B samples (its scratch: free r->eps). */
static void run_begin(SampleRun *r, SamplerPlan *plan, const SamplerConfig *sc,
                      const Schedule *s, Denoiser *den, const uint64_t *seeds,
                      const int *labels, int B)
{
    sampler_plan_init(plan, sc, s);
    denoiser_begin(den, seeds, labels, sc->guidance, B);
    memset(r, 0, sizeof *r);
    r->sc = sc;
    r->s = s;
    r->plan = plan;
    r->den = den;
    r->seeds = seeds;
    r->B = B;
    r->D = den->D;
    r->n = (size_t)B * den->D;
    const size_t np = (size_t)sc->def->priv_per_value * r->n;
    float *blk = xalloc_floats(4 * r->n + np);
    r->eps = blk;
    r->x0 = blk + r->n;
    r->z = blk + 2 * r->n;
    r->tmp = blk + 3 * r->n;
    r->priv = np ? blk + 4 * r->n : NULL;
}

void sampler_run_task(const SamplerConfig *sc, const Schedule *s, Denoiser *den,
                      const SampleTask *task, float *x, const uint64_t *seeds,
                      const int *labels, int B)
{
    char err[512];
    if (sampler_config_check(sc, s, err, sizeof err)) ddm_die("%s", err);
    if (B <= 0) return;
    SamplerPlan plan;
    SampleRun r;
    run_begin(&r, &plan, sc, s, den, seeds, labels, B);
    float *blk = r.eps;

    int i = 0;
    if (task && task->init) {
        i = task->init(task->ctx, &r, x);
        DDM_ASSERT(i >= 0 && i <= plan.N, "task %s: start level %d outside 0..%d", task->name, i,
                   plan.N);
    } else {
        sampler_draw_normals(x, seeds, SAMPLER_STREAM_INIT, B, r.D);
        if (plan.prior_std != 1.0)
            for (size_t j = 0; j < r.n; j++) x[j] = (float)(plan.prior_std * x[j]);
    }
    r.first = i;
    int jumps = 0;
    while (i < plan.N) {
        sc->def->step(&r, i, x);
        int next = i + 1;
        if (task && task->after_step) next = task->after_step(task->ctx, &r, i, x);
        if (next <= i) { /* jump back: x from level i+1 to level next by the forward process */
            DDM_ASSERT(next >= 0, "task %s: jump to level %d", task->name, next);
            DDM_ASSERT(!task->max_jumps || ++jumps <= task->max_jumps,
                       "task %s: more than %d jumps back", task->name, task->max_jumps);
            r.stream_offset += SAMPLER_STREAM_VISIT;
            sampler_draw_normals(r.z, seeds, r.stream_offset + SAMPLER_STREAM_JUMP + (uint64_t)i,
                                 B, r.D);
            sampler_q_forward(x, r.z, plan.a[i + 1], plan.sg[i + 1], plan.a[next],
                              plan.sg[next], r.n);
            r.first = next;
        }
        i = next;
    }
    free(blk);
    sampler_plan_free(&plan);
}

void sampler_run(const SamplerConfig *sc, const Schedule *s, Denoiser *den, float *x0_out,
                 const uint64_t *seeds, const int *labels, int B)
{
    sampler_run_task(sc, s, den, NULL, x0_out, seeds, labels, B);
}

/* ------------------------------------------------------------------ the encoder */

void sampler_encode_names(char *buf, size_t n)
{
    size_t off = 0;
    int cnt = 0, total = 0;
    buf[0] = '\0';
    for (int i = 0; i < NSAMPLERS; i++) total += REGISTRY[i]->step_back != NULL;
    for (int i = 0; i < NSAMPLERS && off < n; i++) {
        if (!REGISTRY[i]->step_back) continue;
        const char *sep = cnt == 0 ? "" : cnt == total - 1 ? " and " : ", ";
        const OptSpec *o = REGISTRY[i]->opts;
        const int has_eta = o && opt_find(o, -1, NULL, "eta") != NULL;
        off += (size_t)snprintf(buf + off, n - off, "%s%s%s", sep, REGISTRY[i]->name,
                                has_eta ? " (eta 0)" : "");
        cnt++;
    }
}

int sampler_check_encode(const SamplerConfig *sc, const Schedule *s, char *err, size_t errlen)
{
    char msg[512] = "", ok[128];
    sampler_encode_names(ok, sizeof ok);
    if (sampler_config_check(sc, s, msg, sizeof msg)) {
        /* msg says it */
    } else if (!sc->def->step_back) {
        snprintf(msg, sizeof msg, "sampler %s cannot run backwards (encode): it is not "
                 "deterministic or not invertible step by step; %s can", sc->def->name, ok);
    } else if (sc->def->opts && opt_find(sc->def->opts, -1, NULL, "eta") && sc->eta != 0) {
        /* eta > 0 draws noise at every step: no step has a deterministic reverse */
        snprintf(msg, sizeof msg, "sampler %s: encoding is deterministic: eta must be 0, got %g",
                 sc->def->name, sc->eta);
    }
    if (msg[0]) {
        if (err) snprintf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}

void sampler_encode_run(const SampleRun *r, float *x)
{
    const SamplerPlan *p = r->plan;
    DDM_ASSERT(r->sc->def->step_back, "sampler %s cannot encode", r->sc->def->name);
    DDM_ASSERT(p->a[p->N] == 1.0 && p->sg[p->N] == 0.0 && !p->tweedie,
               "sampler %s: the plan does not end at the data", r->sc->def->name);
    SampleRun w = *r; /* the steps may write the run's own fields */
    w.stream_offset = 0;
    w.first = p->N;
    for (int i = p->N - 1; i >= 0; i--) w.sc->def->step_back(&w, i, x);
}

void sampler_encode(const SamplerConfig *sc, const Schedule *s, Denoiser *den, float *x,
                    const uint64_t *seeds, const int *labels, int B)
{
    char err[512];
    if (sampler_check_encode(sc, s, err, sizeof err)) ddm_die("%s", err);
    if (B <= 0) return;
    SamplerPlan plan;
    SampleRun r;
    run_begin(&r, &plan, sc, s, den, seeds, labels, B);
    sampler_encode_run(&r, x);
    free(r.eps);
    sampler_plan_free(&plan);
}
