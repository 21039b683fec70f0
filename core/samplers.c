/* Samplers: ddpm, ddim, annealed Langevin, predictor-corrector, probability-flow ODE
 * (Heun) and DPM-Solver++(2M). B = samples, D = values per sample. */
#include "core/samplers.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/diffusion.h"

/* Elementwise loops are parallel only when large: a parallel region costs more than the
 * arithmetic of a small batch, and far more when the cores are oversubscribed. */
#define PAR_MIN_ELEMS (1 << 16)

/* ------------------------------------------------------------------ model + guidance */

void sampler_model_init(SamplerModel *m, DenoiseFn fn, void *ctx, size_t D, int num_classes)
{
    memset(m, 0, sizeof *m);
    m->fn = fn;
    m->ctx = ctx;
    m->D = D;
    m->num_classes = num_classes;
}

void sampler_model_free(SamplerModel *m)
{
    free(m->buf);
    free(m->lab);
    m->buf = NULL;
    m->lab = NULL;
    m->cap = 0;
}

static void model_reserve(SamplerModel *m, int B)
{
    if ((size_t)B <= m->cap) return;
    free(m->buf);
    free(m->lab);
    size_t n2 = 2 * (size_t)B;
    m->buf = xalloc_floats(2 * n2 * m->D + n2);
    m->lab = xmalloc(sizeof(int) * n2);
    m->cap = (size_t)B;
}

void sampler_model_eval(SamplerModel *m, float *out, const float *x, const float *tcond,
                        const int *labels, int B, double w)
{
    if (w == 0) {
        m->fn(m->ctx, out, x, tcond, labels, B);
        m->calls++;
        m->nfe++;
        return;
    }
    DDM_ASSERT(labels && m->num_classes > 0,
               "classifier-free guidance (w = %g) needs a class-conditional model and labels", w);
    model_reserve(m, B);
    size_t n = (size_t)B * m->D;
    const float *oc, *ou;
    if (m->batched_guidance) {
        float *xx = m->buf, *oo = m->buf + 2 * n, *tt = m->buf + 4 * n;
        memcpy(xx, x, n * sizeof(float));
        memcpy(xx + n, x, n * sizeof(float));
        memcpy(tt, tcond, (size_t)B * sizeof(float));
        memcpy(tt + B, tcond, (size_t)B * sizeof(float));
        for (int b = 0; b < B; b++) {
            m->lab[b] = labels[b];
            m->lab[B + b] = m->num_classes; /* the null label */
        }
        m->fn(m->ctx, oo, xx, tt, m->lab, 2 * B);
        m->calls++;
        oc = oo;
        ou = oo + n;
    } else {
        float *uo = m->buf;
        for (int b = 0; b < B; b++) m->lab[b] = m->num_classes;
        m->fn(m->ctx, out, x, tcond, labels, B);
        m->fn(m->ctx, uo, x, tcond, m->lab, B);
        m->calls += 2;
        oc = out;
        ou = uo;
    }
    /* Ho & Salimans 2022, eq. 6: (1+w) eps(x,c) - w eps(x) */
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) out[i] = (float)((1.0 + w) * oc[i] - w * ou[i]);
    m->nfe += 2;
}

/* ------------------------------------------------------------------ config */

static const char *const NAMES[SAMPLER_COUNT] = {"ddpm", "ddim", "langevin", "pc", "ode",
                                                 "dpmpp2m"};

const char *sampler_name(SamplerKind k)
{
    return k >= 0 && k < SAMPLER_COUNT ? NAMES[k] : "?";
}

int sampler_config_init(SamplerConfig *sc, const char *name, char *err, size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    int kind = -1;
    for (int i = 0; i < SAMPLER_COUNT; i++)
        if (name && !strcmp(name, NAMES[i])) kind = i;
    if (kind < 0) {
        if (err) snprintf(err, errlen,
                          "unknown sampler '%s'; one of ddpm, ddim, langevin, pc, ode, dpmpp2m",
                          name ? name : "");
        return -1;
    }
    sc->kind = (SamplerKind)kind;
    sc->steps = 0;
    sc->eta = 0.0;
    sc->skip = SKIP_UNIFORM;
    sc->sigma2 = SIGMA2_BETA;
    sc->eps = 6.2e-6;          /* Song & Ermon 2020 (NCSNv2), CIFAR-10 */
    sc->steps_per_level = 5;
    sc->snr = 0.16;            /* Song et al. 2021, App. G */
    sc->corrector_steps = 1;
    sc->predictor = PREDICTOR_REVERSE_DIFFUSION;
    sc->rho = 7.0;             /* Karras et al. 2022, sec. 3 */
    sc->sigma_max = 80.0;      /* Karras et al. 2022, sec. 3 (capped by the schedule) */
    sc->guidance = 0.0;
    sc->denoise = 1;
    sc->clip = 0;
    return 0;
}

static int parse_d(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static int parse_i(const char *v, int *out)
{
    char *end;
    errno = 0;
    long l = strtol(v, &end, 10);
    if (end == v || *end || errno || l < -2147483647L || l > 2147483647L) return -1;
    *out = (int)l;
    return 0;
}

int sampler_config_set(SamplerConfig *sc, const char *key, const char *v, char *err,
                       size_t errlen)
{
    int bad = 0;
    const char *want = "a number";
    if (!strcmp(key, "steps")) { bad = parse_i(v, &sc->steps); want = "an integer"; }
    else if (!strcmp(key, "eta")) bad = parse_d(v, &sc->eta);
    else if (!strcmp(key, "eps")) bad = parse_d(v, &sc->eps);
    else if (!strcmp(key, "snr")) bad = parse_d(v, &sc->snr);
    else if (!strcmp(key, "rho")) bad = parse_d(v, &sc->rho);
    else if (!strcmp(key, "sigma_max")) bad = parse_d(v, &sc->sigma_max);
    else if (!strcmp(key, "guidance")) bad = parse_d(v, &sc->guidance);
    else if (!strcmp(key, "steps_per_level")) { bad = parse_i(v, &sc->steps_per_level); want = "an integer"; }
    else if (!strcmp(key, "corrector_steps")) { bad = parse_i(v, &sc->corrector_steps); want = "an integer"; }
    else if (!strcmp(key, "denoise") || !strcmp(key, "clip")) {
        int *p = !strcmp(key, "denoise") ? &sc->denoise : &sc->clip;
        want = "0 or 1";
        bad = parse_i(v, p) || (*p != 0 && *p != 1);
    } else if (!strcmp(key, "skip")) {
        want = "uniform or quadratic";
        if (!strcmp(v, "uniform")) sc->skip = SKIP_UNIFORM;
        else if (!strcmp(v, "quadratic")) sc->skip = SKIP_QUADRATIC;
        else bad = 1;
    } else if (!strcmp(key, "sigma2")) {
        want = "beta or beta_tilde";
        if (!strcmp(v, "beta")) sc->sigma2 = SIGMA2_BETA;
        else if (!strcmp(v, "beta_tilde")) sc->sigma2 = SIGMA2_BETA_TILDE;
        else bad = 1;
    } else if (!strcmp(key, "predictor")) {
        want = "reverse_diffusion, euler_maruyama or none";
        if (!strcmp(v, "reverse_diffusion")) sc->predictor = PREDICTOR_REVERSE_DIFFUSION;
        else if (!strcmp(v, "euler_maruyama")) sc->predictor = PREDICTOR_EULER_MARUYAMA;
        else if (!strcmp(v, "none")) sc->predictor = PREDICTOR_NONE;
        else bad = 1;
    } else {
        if (err) snprintf(err, errlen,
                          "unknown sampler option '%s'; one of steps, eta, skip, sigma2, eps, "
                          "steps_per_level, snr, corrector_steps, predictor, rho, sigma_max, guidance, "
                          "denoise, clip", key);
        return -1;
    }
    if (bad) {
        if (err) snprintf(err, errlen, "bad value '%s' for sampler option %s: want %s", v, key, want);
        return -1;
    }
    return 0;
}

int sampler_steps(const SamplerConfig *sc, const Schedule *s)
{
    if (sc->steps > 0) return sc->steps;
    switch (sc->kind) {
    case SAMPLER_DDPM: return s->n;
    case SAMPLER_DDIM: return s->n < 50 ? s->n : 50;
    case SAMPLER_LANGEVIN: return s->n;
    case SAMPLER_PC: return s->n;
    case SAMPLER_ODE: return 18;      /* Karras et al. 2022, CIFAR-10: 35 NFE */
    case SAMPLER_DPMPP2M: return 20;
    default: return 0;
    }
}

int sampler_config_check(const SamplerConfig *sc, const Schedule *s, char *err, size_t errlen)
{
    const char *name = sampler_name(sc->kind);
    const int vp = s->cfg.process == PROC_VP;
    char msg[256] = "";
    int N = sampler_steps(sc, s);
    if (sc->kind < 0 || sc->kind >= SAMPLER_COUNT)
        snprintf(msg, sizeof msg, "unknown sampler kind %d", (int)sc->kind);
    else if ((sc->kind == SAMPLER_DDPM || sc->kind == SAMPLER_DDIM) && !vp)
        snprintf(msg, sizeof msg, "sampler '%s' needs process vp; the model is ve "
                 "(use langevin, pc, ode or dpmpp2m)", name);
    else if (sc->kind == SAMPLER_LANGEVIN && vp)
        snprintf(msg, sizeof msg, "sampler 'langevin' needs process ve; the model is vp "
                 "(use ddpm, ddim, pc, ode or dpmpp2m)");
    else if (sc->steps < 0)
        snprintf(msg, sizeof msg, "sampler %s: steps must be >= 1 (0 = default), got %d", name,
                 sc->steps);
    else if (vp && (sc->kind == SAMPLER_DDPM || sc->kind == SAMPLER_DDIM ||
                    sc->kind == SAMPLER_PC) && N > s->n)
        snprintf(msg, sizeof msg, "sampler %s: steps %d exceed the model's %d timesteps", name,
                 N, s->n);
    else if (!(sc->eta >= 0))
        snprintf(msg, sizeof msg, "sampler %s: eta must be >= 0, got %g", name, sc->eta);
    else if (sc->kind == SAMPLER_LANGEVIN && !(sc->eps > 0))
        snprintf(msg, sizeof msg, "sampler langevin: eps must be > 0, got %g", sc->eps);
    else if (sc->kind == SAMPLER_LANGEVIN && sc->steps_per_level < 1)
        snprintf(msg, sizeof msg, "sampler langevin: steps_per_level must be >= 1, got %d",
                 sc->steps_per_level);
    else if (sc->kind == SAMPLER_PC && sc->corrector_steps < 0)
        snprintf(msg, sizeof msg, "sampler pc: corrector_steps must be >= 0, got %d",
                 sc->corrector_steps);
    else if (sc->kind == SAMPLER_PC && sc->corrector_steps > 0 && !(sc->snr > 0))
        snprintf(msg, sizeof msg, "sampler pc: snr must be > 0, got %g", sc->snr);
    else if (sc->kind == SAMPLER_PC && sc->predictor == PREDICTOR_NONE && sc->corrector_steps == 0)
        snprintf(msg, sizeof msg, "sampler pc: predictor none with corrector_steps 0 does nothing");
    else if ((sc->kind == SAMPLER_ODE || sc->kind == SAMPLER_DPMPP2M) && !(sc->rho > 0))
        snprintf(msg, sizeof msg, "sampler %s: rho must be > 0, got %g", name, sc->rho);
    else if ((sc->kind == SAMPLER_ODE || sc->kind == SAMPLER_DPMPP2M) &&
             !(sc->sigma_max == 0 || sc->sigma_max > sched_sigma_min(s)))
        snprintf(msg, sizeof msg, "sampler %s: sigma_max must be 0 (the schedule's) or > the "
                 "schedule's sigma_min %g, got %g", name, sched_sigma_min(s), sc->sigma_max);
    else if (!isfinite(sc->guidance))
        snprintf(msg, sizeof msg, "sampler %s: guidance must be a number", name);
    if (msg[0]) {
        if (err) snprintf(err, errlen, "%s", msg);
        return -1;
    }
    return 0;
}

long long sampler_nfe(const SamplerConfig *sc, const Schedule *s)
{
    long long N = sampler_steps(sc, s), e = 0;
    switch (sc->kind) {
    case SAMPLER_DDPM:
    case SAMPLER_DDIM:
    case SAMPLER_DPMPP2M: e = N; break;
    case SAMPLER_LANGEVIN: e = N * sc->steps_per_level + (sc->denoise ? 1 : 0); break;
    case SAMPLER_PC:
        e = N * (sc->corrector_steps + (sc->predictor == PREDICTOR_NONE ? 0 : 1));
        if (sc->predictor == PREDICTOR_NONE && sc->denoise) e += 1;
        break;
    case SAMPLER_ODE: e = 2 * N - 1; break;
    default: break;
    }
    return sc->guidance != 0 ? 2 * e : e;
}

void sampler_config_describe(const SamplerConfig *sc, const Schedule *s, char *buf, size_t n)
{
    int N = sampler_steps(sc, s);
    const char *nm = sampler_name(sc->kind);
    static const char *const PRED[] = {"reverse_diffusion", "euler_maruyama", "none"};
    const char *skip = sc->skip == SKIP_QUADRATIC ? "quadratic" : "uniform";
    switch (sc->kind) {
    case SAMPLER_DDPM:
        snprintf(buf, n, "%s steps=%d sigma2=%s skip=%s clip=%d guidance=%g", nm, N,
                 sc->sigma2 == SIGMA2_BETA_TILDE ? "beta_tilde" : "beta", skip, sc->clip,
                 sc->guidance);
        break;
    case SAMPLER_DDIM:
        snprintf(buf, n, "%s steps=%d eta=%g skip=%s clip=%d guidance=%g", nm, N, sc->eta, skip,
                 sc->clip, sc->guidance);
        break;
    case SAMPLER_LANGEVIN:
        snprintf(buf, n, "%s steps=%d steps_per_level=%d eps=%g denoise=%d guidance=%g", nm, N,
                 sc->steps_per_level, sc->eps, sc->denoise, sc->guidance);
        break;
    case SAMPLER_PC:
        snprintf(buf, n, "%s steps=%d predictor=%s corrector_steps=%d snr=%g skip=%s denoise=%d "
                 "guidance=%g", nm, N, PRED[sc->predictor], sc->corrector_steps, sc->snr, skip,
                 sc->denoise, sc->guidance);
        break;
    default:
        if (sc->sigma_max > 0)
            snprintf(buf, n, "%s steps=%d rho=%g sigma_max=%g guidance=%g", nm, N, sc->rho,
                     sc->sigma_max, sc->guidance);
        else
            snprintf(buf, n, "%s steps=%d rho=%g guidance=%g", nm, N, sc->rho, sc->guidance);
        break;
    }
}

/* ------------------------------------------------------------------ noise */

static void streams_init(Rng *r, const uint64_t *seeds, uint64_t stream, int B)
{
    for (int b = 0; b < B; b++) rng_init(&r[b], seeds[b], stream);
}

static void streams_fill(Rng *r, float *z, int B, size_t D)
{
#pragma omp parallel for schedule(static) if ((size_t)B * D >= PAR_MIN_ELEMS)
    for (int b = 0; b < B; b++) rng_fill_normal(&r[b], z + (size_t)b * D, D);
}

void sampler_draw_normals(float *z, const uint64_t *seeds, uint64_t stream, int B, size_t D)
{
#pragma omp parallel for schedule(static) if ((size_t)B * D >= PAR_MIN_ELEMS)
    for (int b = 0; b < B; b++) {
        Rng r;
        rng_init(&r, seeds[b], stream);
        rng_fill_normal(&r, z + (size_t)b * D, D);
    }
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

/* ------------------------------------------------------------------ bytes */

void sampler_to_uint8(uint8_t *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double u = ((double)x[i] + 1.0) * 127.5;
        if (!(u > 0)) out[i] = 0;            /* also NaN */
        else if (u >= 255.0) out[i] = 255;
        else out[i] = (uint8_t)floor(u + 0.5);
    }
}

void sampler_from_uint8(float *x, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(in[i] / 127.5 - 1.0);
}

/* ------------------------------------------------------------------ update rules */

void sampler_ddpm_update(float *x, const float *x0, const float *z, double c0, double ct,
                         double sigma, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        double v = c0 * x0[i] + ct * x[i];       /* DDPM eq. 7, mu~(x_t, x0^) */
        if (z) v += sigma * z[i];
        x[i] = (float)v;
    }
}

void sampler_ddim_update(float *x, const float *x0, const float *eps, const float *z,
                         double ab_prev, double sigma, size_t n)
{
    double dir2 = 1.0 - ab_prev - sigma * sigma;
    double cd = dir2 > 0 ? sqrt(dir2) : 0.0, c0 = sqrt(ab_prev);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        /* DDIM eq. 12: predicted x0, direction pointing to x_t, random noise */
        double v = c0 * x0[i] + cd * eps[i];
        if (z) v += sigma * z[i];
        x[i] = (float)v;
    }
}

void sampler_langevin_update(float *x, const float *score, const float *z, double alpha,
                             size_t n)
{
    double sa = sqrt(alpha);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        double v = x[i] + 0.5 * alpha * score[i];  /* NCSN Alg. 1 line 6 */
        if (z) v += sa * z[i];
        x[i] = (float)v;
    }
}

void sampler_rd_vp_update(float *x, const float *score, const float *z, double beta, size_t n)
{
    double c = 2.0 - sqrt(1.0 - beta), sb = sqrt(beta);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        double v = c * x[i] + beta * score[i];     /* Song et al. 2021, Alg. 3 lines 3-5 */
        if (z) v += sb * z[i];
        x[i] = (float)v;
    }
}

void sampler_rd_ve_update(float *x, const float *score, const float *z, double d, size_t n)
{
    double sd = sqrt(d);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
    for (size_t i = 0; i < n; i++) {
        double v = x[i] + d * score[i];            /* Song et al. 2021, Alg. 2 lines 3-5 */
        if (z) v += sd * z[i];
        x[i] = (float)v;
    }
}

void sampler_em_vp_update(float *x, const float *score, const float *z, double beta, size_t n)
{
    double sb = sqrt(beta);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN_ELEMS)
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

/* ------------------------------------------------------------------ runs */

typedef struct {
    const Schedule *s;
    SamplerModel *m;
    const int *labels;
    double w;
    int B;
    size_t D, n;
    float *out, *eps, *x0, *z, *tc, *xin;
} Ctx;

static void fill_tc(Ctx *c, double v)
{
    for (int b = 0; b < c->B; b++) c->tc[b] = (float)v;
}

/* network at x with conditioning tcond; marginal (a, sg): eps, x0, score into given buffers */
static void eval_at(Ctx *c, const float *x, double tcond, double a, double sg, float *eps,
                    float *x0, float *score)
{
    fill_tc(c, tcond);
    sampler_model_eval(c->m, c->out, x, c->tc, c->labels, c->B, c->w);
    diffusion_from_output(c->s, eps, x0, score, c->out, x, a, sg, c->n);
}

/* ddpm (Ho et al. 2020, Alg. 2) and ddim (Song et al. 2021a, eq. 12/16) on tau */
static void run_ddpm_ddim(const SamplerConfig *sc, Ctx *c, float *x, const uint64_t *seeds)
{
    const Schedule *s = c->s;
    int N = sampler_steps(sc, s);
    int *tau = xmalloc(sizeof(int) * (size_t)N);
    sched_subsequence(s, N, sc->skip, tau);
    sampler_draw_normals(x, seeds, SAMPLER_STREAM_INIT, c->B, c->D); /* x_T ~ N(0,I) */
    for (int i = N - 1; i >= 0; i--) {
        uint64_t st = (uint64_t)(N - 1 - i);
        int k = tau[i], kp = i > 0 ? tau[i - 1] : -1;
        double ab = s->alpha_bar[k], abp = kp >= 0 ? s->alpha_bar[kp] : 1.0;
        double a = s->sqrt_alpha_bar[k], sg = s->sqrt_one_minus_alpha_bar[k];
        eval_at(c, x, k, a, sg, c->eps, c->x0, NULL);
        if (sc->clip) {
            for (size_t j = 0; j < c->n; j++) {
                float v = c->x0[j] < -1.f ? -1.f : c->x0[j] > 1.f ? 1.f : c->x0[j];
                c->x0[j] = v;
                c->eps[j] = (float)((x[j] - a * v) / sg);
            }
        }
        if (sc->kind == SAMPLER_DDPM) {
            double beta, c0, ct, bt;
            if (kp == k - 1) {
                beta = s->beta[k];
                c0 = s->post_coef_x0[k];
                ct = s->post_coef_xt[k];
                bt = s->beta_tilde[k];
            } else {
                /* respaced: the chain on tau has beta'_i = 1 - ab_i/ab_{i-1}
                 * (Nichol & Dhariwal 2021, sec. 4), and DDPM eq. 7 with it */
                beta = 1.0 - ab / abp;
                c0 = sqrt(abp) * beta / (1.0 - ab);
                ct = sqrt(1.0 - beta) * (1.0 - abp) / (1.0 - ab);
                bt = (1.0 - abp) / (1.0 - ab) * beta;
            }
            double sigma = sqrt(sc->sigma2 == SIGMA2_BETA ? beta : bt);
            const float *z = NULL;
            if (i > 0) { /* Alg. 2 line 3: z = 0 at the last step */
                sampler_draw_normals(c->z, seeds, st, c->B, c->D);
                z = c->z;
            }
            sampler_ddpm_update(x, c->x0, z, c0, ct, sigma, c->n);
        } else {
            /* DDIM eq. 16 times eta */
            double sigma = sc->eta * sqrt((1.0 - abp) / (1.0 - ab)) * sqrt(1.0 - ab / abp);
            const float *z = NULL;
            if (i > 0 && sigma > 0) {
                sampler_draw_normals(c->z, seeds, st, c->B, c->D);
                z = c->z;
            }
            sampler_ddim_update(x, c->x0, c->eps, z, abp, sigma, c->n);
        }
    }
    free(tau);
}

/* N ascending ve levels: the trained ones when N = L, else geometric */
static void ve_levels(const Schedule *s, int N, double *sig)
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

/* annealed Langevin dynamics (Song & Ermon 2019, Alg. 1) */
static void run_langevin(const SamplerConfig *sc, Ctx *c, float *x, const uint64_t *seeds)
{
    const Schedule *s = c->s;
    int N = sampler_steps(sc, s);
    double *sig = xmalloc(sizeof(double) * (size_t)N);
    ve_levels(s, N, sig);
    sampler_draw_normals(x, seeds, SAMPLER_STREAM_INIT, c->B, c->D);
    double smax = sig[N - 1], smin = sig[0];
    for (size_t j = 0; j < c->n; j++) x[j] = (float)(smax * x[j]);
    uint64_t st = 0;
    for (int i = N - 1; i >= 0; i--) {
        /* Alg. 1 line 3: alpha_i = eps sigma_i^2 / sigma_L^2, sigma_L the smallest level */
        double alpha = sc->eps * sig[i] * sig[i] / (smin * smin);
        double tcond = N == s->n ? (double)i : sched_tcond(s, sig[i]);
        for (int t = 0; t < sc->steps_per_level; t++, st++) {
            eval_at(c, x, tcond, 1.0, sig[i], NULL, NULL, c->eps); /* eps buffer = score */
            sampler_draw_normals(c->z, seeds, st, c->B, c->D);
            sampler_langevin_update(x, c->eps, c->z, alpha, c->n);
        }
    }
    if (sc->denoise) {
        /* x0^ = x + sigma_min^2 s(x, sigma_min) (Tweedie's formula) */
        eval_at(c, x, N == s->n ? 0.0 : sched_tcond(s, smin), 1.0, smin, NULL, c->x0, NULL);
        memcpy(x, c->x0, c->n * sizeof(float));
    }
    free(sig);
}

/* predictor-corrector (Song et al. 2021, Alg. 2-5) */
static void run_pc(const SamplerConfig *sc, Ctx *c, float *x, const uint64_t *seeds)
{
    const Schedule *s = c->s;
    const int vp = s->cfg.process == PROC_VP;
    int N = sampler_steps(sc, s), M = sc->corrector_steps;
    double *tcond = xmalloc(sizeof(double) * (size_t)N * 5);
    double *av = tcond + N, *sgv = av + N, *step = sgv + N, *calpha = step + N;
    Rng *rng = xmalloc(sizeof(Rng) * (size_t)c->B);
    if (vp) {
        int *tau = xmalloc(sizeof(int) * (size_t)N);
        sched_subsequence(s, N, sc->skip, tau);
        for (int i = 0; i < N; i++) {
            int k = tau[i];
            double ab = s->alpha_bar[k], abp = i > 0 ? s->alpha_bar[tau[i - 1]] : 1.0;
            tcond[i] = k;
            av[i] = s->sqrt_alpha_bar[k];
            sgv[i] = s->sqrt_one_minus_alpha_bar[k];
            /* the discrete chain's beta on tau (App. B: beta_i = beta(i/N)/N for N = T) */
            step[i] = (i > 0 && tau[i - 1] == k - 1) || (i == 0 && k == 0) ? s->beta[k]
                                                                              : 1.0 - ab / abp;
            calpha[i] = 1.0 - step[i];  /* Alg. 5: alpha_i */
        }
        free(tau);
        sampler_draw_normals(x, seeds, SAMPLER_STREAM_INIT, c->B, c->D);
    } else {
        double *sig = xmalloc(sizeof(double) * (size_t)N);
        ve_levels(s, N, sig);
        for (int i = 0; i < N; i++) {
            double prev = i > 0 ? sig[i - 1] : 0.0; /* sigma_0 = 0: the data */
            tcond[i] = N == s->n ? (double)i : sched_tcond(s, sig[i]);
            av[i] = 1.0;
            sgv[i] = sig[i];
            if (sc->predictor == PREDICTOR_EULER_MARUYAMA && i > 0)
                /* g(t)^2 dt at the step's start, VE SDE eq. 30-31 on geometric levels */
                step[i] = 2.0 * sig[i] * sig[i] * log(sig[i] / prev);
            else
                step[i] = sig[i] * sig[i] - prev * prev; /* Alg. 2 line 3 */
            calpha[i] = 1.0;                             /* Alg. 4 */
        }
        sampler_draw_normals(x, seeds, SAMPLER_STREAM_INIT, c->B, c->D);
        double smax = sig[N - 1];
        for (size_t j = 0; j < c->n; j++) x[j] = (float)(smax * x[j]);
        free(sig);
    }
    float *g = c->eps; /* score buffer */
    for (int i = N - 1; i >= 0; i--) {
        uint64_t st = (uint64_t)(N - 1 - i);
        streams_init(rng, seeds, st, c->B);
        for (int j = 0; j < M; j++) {
            eval_at(c, x, tcond[i], av[i], sgv[i], NULL, NULL, g);
            streams_fill(rng, c->z, c->B, c->D);
#pragma omp parallel for schedule(static) if (c->n >= PAR_MIN_ELEMS)
            for (int b = 0; b < c->B; b++)
                sampler_corrector_update(x + (size_t)b * c->D, g + (size_t)b * c->D,
                                         c->z + (size_t)b * c->D, sc->snr, calpha[i], c->D);
        }
        if (sc->predictor == PREDICTOR_NONE) continue;
        eval_at(c, x, tcond[i], av[i], sgv[i], NULL, NULL, g);
        const float *z = NULL;
        if (!(i == 0 && sc->denoise)) {
            streams_fill(rng, c->z, c->B, c->D);
            z = c->z;
        }
        if (!vp) sampler_rd_ve_update(x, g, z, step[i], c->n);
        else if (sc->predictor == PREDICTOR_REVERSE_DIFFUSION)
            sampler_rd_vp_update(x, g, z, step[i], c->n);
        else sampler_em_vp_update(x, g, z, step[i], c->n);
    }
    if (sc->predictor == PREDICTOR_NONE && sc->denoise) {
        eval_at(c, x, tcond[0], av[0], sgv[0], NULL, c->x0, NULL); /* Tweedie x0^ */
        memcpy(x, c->x0, c->n * sizeof(float));
    }
    free(rng);
    free(tcond);
}

/* denoiser D(xbar; sigma) = x0^ of the network at x = s(sigma) xbar (Karras et al. 2022,
 * eq. 7 and Table 1) */
static void karras_denoise(Ctx *c, float *den, const float *xbar, double sigma)
{
    double a, sg;
    sched_marginal(c->s, sigma, &a, &sg);
    for (size_t j = 0; j < c->n; j++) c->xin[j] = (float)(a * xbar[j]);
    eval_at(c, c->xin, sched_tcond(c->s, sigma), a, sg, NULL, den, NULL);
}

/* Heun (Karras et al. 2022, Alg. 1, deterministic) and DPM-Solver++(2M) (Lu et al. 2022,
 * Alg. 2) on the probability-flow ODE dxbar/dsigma = (xbar - D(xbar; sigma)) / sigma */
static void run_ode(const SamplerConfig *sc, Ctx *c, float *x, const uint64_t *seeds)
{
    const Schedule *s = c->s;
    const int vp = s->cfg.process == PROC_VP;
    int N = sampler_steps(sc, s);
    double *sig = xmalloc(sizeof(double) * (size_t)(N + 1));
    double smin = sched_sigma_min(s), smax = sched_sigma_max(s);
    if (sc->sigma_max > 0 && sc->sigma_max < smax) smax = sc->sigma_max;
    sampler_karras_sigmas(sig, N, smin, smax, sc->rho);
    sampler_draw_normals(x, seeds, SAMPLER_STREAM_INIT, c->B, c->D);
    /* vp: x_T ~ N(0,I) is xbar = x_T / sqrt(ab_T) = x_T sqrt(1 + sigma_max^2); ve: N(0, smax^2) */
    double scale = vp ? sqrt(1.0 + smax * smax) : smax;
    for (size_t j = 0; j < c->n; j++) x[j] = (float)(scale * x[j]);
    float *den = c->x0, *d = c->eps, *x1 = c->z;
    float *old = xalloc_floats(c->n);
    for (int i = 0; i < N; i++) {
        double s0 = sig[i], s1 = sig[i + 1], h = s1 - s0;
        karras_denoise(c, den, x, s0);
        if (sc->kind == SAMPLER_ODE) {
            for (size_t j = 0; j < c->n; j++) {
                d[j] = (float)((x[j] - den[j]) / s0);      /* Alg. 1 line 4 */
                x1[j] = (float)(x[j] + h * d[j]);           /* line 5 */
            }
            if (s1 > 0) {                                   /* lines 6-8: 2nd order */
                karras_denoise(c, den, x1, s1);
                for (size_t j = 0; j < c->n; j++) {
                    double d1 = (x1[j] - den[j]) / s1;
                    x[j] = (float)(x[j] + h * 0.5 * (d[j] + d1));
                }
            } else {
                memcpy(x, x1, c->n * sizeof(float));
            }
        } else {
            if (s1 == 0) {
                memcpy(x, den, c->n * sizeof(float));       /* lambda = inf: x = x0^ */
            } else {
                /* Lu et al. 2022 (DPM-Solver++), Alg. 2 with alpha = 1, sigma = sigma:
                 * h = lambda_{i+1} - lambda_i, lambda = -log sigma,
                 * x <- (s1/s0) x - (e^{-h} - 1) D, D = (1 + 1/2r) x0_i - 1/2r x0_{i-1} */
                double hl = log(s0 / s1), ratio = s1 / s0, cD = -(exp(-hl) - 1.0);
                if (i == 0) {
                    for (size_t j = 0; j < c->n; j++) x[j] = (float)(ratio * x[j] + cD * den[j]);
                } else {
                    double r = log(sig[i - 1] / s0) / hl;
                    double c1 = 1.0 + 1.0 / (2.0 * r), c2 = -1.0 / (2.0 * r);
                    for (size_t j = 0; j < c->n; j++)
                        x[j] = (float)(ratio * x[j] + cD * (c1 * den[j] + c2 * old[j]));
                }
            }
            memcpy(old, den, c->n * sizeof(float));
        }
    }
    free(old);
    free(sig);
}

void sampler_run(const SamplerConfig *sc, const Schedule *s, SamplerModel *m, float *x0_out,
                 const uint64_t *seeds, const int *labels, int B)
{
    char err[256];
    if (sampler_config_check(sc, s, err, sizeof err)) ddm_die("%s", err);
    if (B <= 0) return;
    DDM_ASSERT(sc->guidance == 0 || (labels && m->num_classes > 0),
               "classifier-free guidance needs a class-conditional model and labels");
    Ctx c;
    c.s = s;
    c.m = m;
    c.labels = labels;
    c.w = sc->guidance;
    c.B = B;
    c.D = m->D;
    c.n = (size_t)B * m->D;
    float *blk = xalloc_floats(5 * c.n + (size_t)B);
    c.out = blk;
    c.eps = blk + c.n;
    c.x0 = blk + 2 * c.n;
    c.z = blk + 3 * c.n;
    c.xin = blk + 4 * c.n;
    c.tc = blk + 5 * c.n;
    switch (sc->kind) {
    case SAMPLER_DDPM:
    case SAMPLER_DDIM: run_ddpm_ddim(sc, &c, x0_out, seeds); break;
    case SAMPLER_LANGEVIN: run_langevin(sc, &c, x0_out, seeds); break;
    case SAMPLER_PC: run_pc(sc, &c, x0_out, seeds); break;
    case SAMPLER_ODE:
    case SAMPLER_DPMPP2M: run_ode(sc, &c, x0_out, seeds); break;
    default: ddm_die("sampler_run: unknown sampler kind %d", (int)sc->kind);
    }
    free(blk);
}
