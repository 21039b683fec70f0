/* Noise schedules: the discrete VP tables (DDPM) and VE sigmas (NCSN), the VE-equivalent
 * sigma of every level, and the sigma <-> network-conditioning map. All in double. */
#include "core/sched.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

#define SCHED_PI 3.14159265358979323846
#define COSINE_S 0.008       /* Nichol & Dhariwal 2021, eq. 17 */
#define COSINE_MAX_BETA 0.999 /* Nichol & Dhariwal 2021, sec. 3.2: clip to avoid singularity */

void sched_config_default(SchedConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->process = PROC_VP;
    cfg->schedule = SCHED_LINEAR;
    cfg->timesteps = 1000;
    cfg->beta_start = 1e-4;    /* Ho et al. 2020, sec. 4 */
    cfg->beta_end = 0.02;
    cfg->prediction = PRED_EPS;
    cfg->sigma_min = 0.01;     /* Song & Ermon 2020 (NCSNv2), CIFAR-10 */
    cfg->sigma_max = 50.0;
    cfg->num_scales = 232;
    cfg->loss = LOSS_SIMPLE;
}

const char *sched_config_check(const SchedConfig *c)
{
    if (c->process != PROC_VP && c->process != PROC_VE) return "diffusion.process must be vp or ve";
    if (c->process == PROC_VP) {
        if (c->schedule != SCHED_LINEAR && c->schedule != SCHED_COSINE)
            return "diffusion.schedule must be linear or cosine";
        if (c->timesteps < 2) return "diffusion.timesteps must be >= 2";
        if (c->timesteps > 1000000) return "diffusion.timesteps must be <= 1000000";
        if (c->schedule == SCHED_LINEAR) {
            if (!(c->beta_start > 0 && c->beta_start < 1))
                return "diffusion.beta_start must be in (0,1)";
            if (!(c->beta_end > 0 && c->beta_end < 1)) return "diffusion.beta_end must be in (0,1)";
            if (!(c->beta_end >= c->beta_start))
                return "diffusion.beta_end must be >= diffusion.beta_start";
        }
        if (c->prediction != PRED_EPS && c->prediction != PRED_X0 && c->prediction != PRED_V)
            return "diffusion.prediction must be eps, x0 or v";
    } else {
        if (!(c->sigma_min > 0)) return "diffusion.sigma_min must be > 0";
        if (!(c->sigma_max > c->sigma_min)) return "diffusion.sigma_max must be > diffusion.sigma_min";
        if (c->num_scales < 2) return "diffusion.num_scales must be >= 2";
        if (c->num_scales > 1000000) return "diffusion.num_scales must be <= 1000000";
        if (c->prediction != PRED_EPS)
            return "process ve needs prediction eps (the network outputs sigma*score, NCSN)";
        if (c->loss == LOSS_VLB)
            return "loss vlb is for process vp (ve uses lambda(sigma) = sigma^2, NCSN)";
    }
    if (c->loss != LOSS_SIMPLE && c->loss != LOSS_VLB) return "diffusion.loss must be simple or vlb";
    return NULL;
}

const char *sched_process_name(SchedProcess p) { return p == PROC_VE ? "ve" : "vp"; }
const char *sched_kind_name(SchedKind k) { return k == SCHED_COSINE ? "cosine" : "linear"; }
const char *sched_pred_name(SchedPred p)
{
    return p == PRED_X0 ? "x0" : p == PRED_V ? "v" : "eps";
}
const char *sched_loss_name(SchedLoss l) { return l == LOSS_VLB ? "vlb" : "simple"; }

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (end == v || *end || errno || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static int parse_int(const char *v, int *out)
{
    char *end;
    errno = 0;
    long l = strtol(v, &end, 10);
    while (*end == ' ' || *end == '\t') end++;
    if (end == v || *end || errno || l < -2147483647L || l > 2147483647L) return -1;
    *out = (int)l;
    return 0;
}

int sched_config_set(SchedConfig *c, const char *key, const char *v, char *err, size_t errlen)
{
    int bad = 0;
    if (!strcmp(key, "process")) {
        if (!strcmp(v, "vp")) c->process = PROC_VP;
        else if (!strcmp(v, "ve")) c->process = PROC_VE;
        else bad = 1;
    } else if (!strcmp(key, "schedule")) {
        if (!strcmp(v, "linear")) c->schedule = SCHED_LINEAR;
        else if (!strcmp(v, "cosine")) c->schedule = SCHED_COSINE;
        else bad = 1;
    } else if (!strcmp(key, "prediction")) {
        if (!strcmp(v, "eps")) c->prediction = PRED_EPS;
        else if (!strcmp(v, "x0")) c->prediction = PRED_X0;
        else if (!strcmp(v, "v")) c->prediction = PRED_V;
        else bad = 1;
    } else if (!strcmp(key, "loss")) {
        if (!strcmp(v, "simple")) c->loss = LOSS_SIMPLE;
        else if (!strcmp(v, "vlb")) c->loss = LOSS_VLB;
        else bad = 1;
    } else if (!strcmp(key, "timesteps")) {
        bad = parse_int(v, &c->timesteps);
    } else if (!strcmp(key, "num_scales")) {
        bad = parse_int(v, &c->num_scales);
    } else if (!strcmp(key, "beta_start")) {
        bad = parse_double(v, &c->beta_start);
    } else if (!strcmp(key, "beta_end")) {
        bad = parse_double(v, &c->beta_end);
    } else if (!strcmp(key, "sigma_min")) {
        bad = parse_double(v, &c->sigma_min);
    } else if (!strcmp(key, "sigma_max")) {
        bad = parse_double(v, &c->sigma_max);
    } else {
        if (err) snprintf(err, errlen,
                          "unknown key diffusion.%s; one of process, schedule, timesteps, "
                          "beta_start, beta_end, prediction, sigma_min, sigma_max, num_scales, loss",
                          key);
        return -1;
    }
    if (bad) {
        const char *want = !strcmp(key, "process")      ? "vp or ve"
                           : !strcmp(key, "schedule")   ? "linear or cosine"
                           : !strcmp(key, "prediction") ? "eps, x0 or v"
                           : !strcmp(key, "loss")       ? "simple or vlb"
                           : !strcmp(key, "timesteps") || !strcmp(key, "num_scales")
                               ? "an integer"
                               : "a number";
        if (err) snprintf(err, errlen, "bad value '%s' for diffusion.%s: want %s", v, key, want);
        return -1;
    }
    return 0;
}

/* f(t) of the cosine schedule, t in [0,1] (Nichol & Dhariwal 2021, eq. 17) */
static double cosine_f(double t)
{
    double c = cos((t + COSINE_S) / (1.0 + COSINE_S) * SCHED_PI / 2.0);
    return c * c;
}

void sched_init(Schedule *s, const SchedConfig *cfg)
{
    const char *msg = sched_config_check(cfg);
    if (msg) ddm_die("%s", msg);
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    if (cfg->process == PROC_VP) {
        int T = cfg->timesteps;
        s->n = T;
        s->block = xmalloc(sizeof(double) * (size_t)T * 13);
        double *p = s->block;
        s->beta = p; p += T;
        s->alpha = p; p += T;
        s->alpha_bar = p; p += T;
        s->alpha_bar_prev = p; p += T;
        s->sqrt_alpha_bar = p; p += T;
        s->sqrt_one_minus_alpha_bar = p; p += T;
        s->beta_tilde = p; p += T;
        s->post_coef_x0 = p; p += T;
        s->post_coef_xt = p; p += T;
        s->vlb_lambda = p; p += T;
        s->vlb_weight = p; p += T;
        s->sigma = p; p += T;
        s->log_sigma = p;
        for (int k = 0; k < T; k++) {
            if (cfg->schedule == SCHED_LINEAR) {
                /* Ho et al. 2020, sec. 4: linear from beta_1 to beta_T */
                s->beta[k] = cfg->beta_start + (cfg->beta_end - cfg->beta_start) * k / (T - 1);
            } else {
                /* Nichol & Dhariwal 2021, eq. 17 and the clipping below it:
                 * beta_t = min(1 - ab(t)/ab(t-1), 0.999), ab(t) = f(t/T)/f(0) */
                double b = 1.0 - cosine_f((double)(k + 1) / T) / cosine_f((double)k / T);
                s->beta[k] = b < COSINE_MAX_BETA ? b : COSINE_MAX_BETA;
            }
        }
        double ab = 1.0;
        for (int k = 0; k < T; k++) {
            double b = s->beta[k];
            s->alpha[k] = 1.0 - b;
            s->alpha_bar_prev[k] = ab;
            ab *= 1.0 - b;
            s->alpha_bar[k] = ab;
        }
        double lam_sum = 0;
        for (int k = 0; k < T; k++) {
            double b = s->beta[k], a = s->alpha[k], abk = s->alpha_bar[k];
            double abp = s->alpha_bar_prev[k];
            s->sqrt_alpha_bar[k] = sqrt(abk);
            s->sqrt_one_minus_alpha_bar[k] = sqrt(1.0 - abk);
            /* DDPM eq. 7: posterior q(x_{t-1} | x_t, x0) */
            s->beta_tilde[k] = (1.0 - abp) / (1.0 - abk) * b;
            s->post_coef_x0[k] = sqrt(abp) * b / (1.0 - abk);
            s->post_coef_xt[k] = sqrt(a) * (1.0 - abp) / (1.0 - abk);
            /* DDPM eq. 12 weight with sigma_t^2 = beta_t: beta^2/(2 beta alpha (1-ab)).
             * (sigma_t^2 = beta_tilde would make lambda_1 infinite: beta_tilde_1 = 0.) */
            s->vlb_lambda[k] = b * b / (2.0 * b * a * (1.0 - abk));
            lam_sum += s->vlb_lambda[k];
            s->sigma[k] = sqrt((1.0 - abk) / abk);
            s->log_sigma[k] = log(s->sigma[k]);
        }
        /* Normalised so the weights average 1 over uniformly drawn t: the vlb loss has
         * the scale of L_simple and the same learning rate works. */
        for (int k = 0; k < T; k++) s->vlb_weight[k] = s->vlb_lambda[k] * T / lam_sum;
    } else {
        int L = cfg->num_scales;
        s->n = L;
        s->block = xmalloc(sizeof(double) * (size_t)L * 2);
        s->sigma = s->block;
        s->log_sigma = s->block + L;
        double l0 = log(cfg->sigma_min), l1 = log(cfg->sigma_max);
        for (int k = 0; k < L; k++) {
            /* NCSN (Song & Ermon 2019, sec. 4.2): geometric sequence sigma_max .. sigma_min */
            s->log_sigma[k] = l0 + (l1 - l0) * k / (L - 1);
            s->sigma[k] = exp(s->log_sigma[k]);
        }
        s->sigma[0] = cfg->sigma_min;
        s->sigma[L - 1] = cfg->sigma_max;
        s->log_sigma[0] = l0;
        s->log_sigma[L - 1] = l1;
    }
}

void sched_free(Schedule *s)
{
    free(s->block);
    memset(s, 0, sizeof *s);
}

double sched_sigma_min(const Schedule *s) { return s->sigma[0]; }
double sched_sigma_max(const Schedule *s) { return s->sigma[s->n - 1]; }

double sched_tcond(const Schedule *s, double sigma)
{
    DDM_ASSERT(sigma > 0, "sched_tcond: sigma must be > 0 (got %g)", sigma);
    double ls = log(sigma);
    if (s->cfg.process == PROC_VE) {
        double l0 = log(s->cfg.sigma_min), l1 = log(s->cfg.sigma_max);
        return (s->n - 1) * (ls - l0) / (l1 - l0);
    }
    /* vp: log sigma is increasing in k; invert the piecewise-linear interpolation.
     * Outside [sigma(0), sigma(T-1)] the nearest end is used. */
    const double *l = s->log_sigma;
    int n = s->n;
    if (ls <= l[0]) return 0.0;
    if (ls >= l[n - 1]) return n - 1;
    int lo = 0, hi = n - 1; /* l[lo] < ls < l[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (l[mid] <= ls) lo = mid;
        else hi = mid;
    }
    if (l[lo] == ls) return lo;
    return lo + (ls - l[lo]) / (l[hi] - l[lo]);
}

double sched_sigma(const Schedule *s, double tcond)
{
    if (s->cfg.process == PROC_VE) {
        double l0 = log(s->cfg.sigma_min), l1 = log(s->cfg.sigma_max);
        return exp(l0 + (l1 - l0) * tcond / (s->n - 1));
    }
    int n = s->n;
    if (!(tcond > 0)) return s->sigma[0];
    if (tcond >= n - 1) return s->sigma[n - 1];
    int i = (int)floor(tcond);
    double f = tcond - i;
    if (f == 0) return s->sigma[i];
    return exp((1.0 - f) * s->log_sigma[i] + f * s->log_sigma[i + 1]);
}

void sched_marginal(const Schedule *s, double sigma, double *a, double *sg)
{
    if (s->cfg.process == PROC_VE) {
        *a = 1.0;
        *sg = sigma;
    } else {
        /* Karras et al. 2022, Table 1 (VP): s = 1/sqrt(1+sigma^2) = sqrt(alpha_bar) */
        double sc = 1.0 / sqrt(1.0 + sigma * sigma);
        *a = sc;
        *sg = sc * sigma;
    }
}

void sched_marginal_k(const Schedule *s, int k, double *a, double *sg)
{
    DDM_ASSERT(k >= 0 && k < s->n, "sched_marginal_k: level %d out of 0..%d", k, s->n - 1);
    if (s->cfg.process == PROC_VE) {
        *a = 1.0;
        *sg = s->sigma[k];
    } else {
        *a = s->sqrt_alpha_bar[k];
        *sg = s->sqrt_one_minus_alpha_bar[k];
    }
}

double sched_vpsde_beta(const Schedule *s, double t)
{
    if (s->cfg.schedule == SCHED_COSINE) {
        double u = (t + COSINE_S) / (1.0 + COSINE_S) * SCHED_PI / 2.0;
        return SCHED_PI / (1.0 + COSINE_S) * tan(u);
    }
    double T = s->cfg.timesteps;
    double bmin = T * s->cfg.beta_start, bmax = T * s->cfg.beta_end;
    return bmin + t * (bmax - bmin); /* Song et al. 2021, eq. 32 */
}

double sched_vpsde_alpha_bar(const Schedule *s, double t)
{
    if (s->cfg.schedule == SCHED_COSINE) return cosine_f(t) / cosine_f(0.0);
    double T = s->cfg.timesteps;
    double bmin = T * s->cfg.beta_start, bmax = T * s->cfg.beta_end;
    /* Song et al. 2021, eq. 33: mean coefficient exp(-1/4 t^2 (bmax-bmin) - 1/2 t bmin),
     * alpha_bar is its square */
    return exp(-0.5 * t * t * (bmax - bmin) - t * bmin);
}

double sched_vesde_sigma(const Schedule *s, double t)
{
    return s->cfg.sigma_min * pow(s->cfg.sigma_max / s->cfg.sigma_min, t); /* eq. 30 */
}

double sched_vesde_g2(const Schedule *s, double t)
{
    double sg = sched_vesde_sigma(s, t);
    return 2.0 * log(s->cfg.sigma_max / s->cfg.sigma_min) * sg * sg; /* d sigma^2 / dt */
}

int sched_subsequence(const Schedule *s, int steps, SchedSkip skip, int *tau)
{
    int n = s->n, N = steps;
    DDM_ASSERT(N >= 1 && N <= n, "sched_subsequence: steps %d must be in 1..%d", N, n);
    if (N == 1) {
        tau[0] = n - 1;
        return 1;
    }
    for (int i = 0; i < N; i++) {
        double f = (double)i / (N - 1);
        if (skip == SKIP_QUADRATIC) f = f * f;
        tau[i] = (int)floor(f * (n - 1) + 0.5);
    }
    tau[0] = 0;
    tau[N - 1] = n - 1;
    for (int i = 1; i < N; i++)
        if (tau[i] <= tau[i - 1]) tau[i] = tau[i - 1] + 1;
    tau[N - 1] = n - 1;
    for (int i = N - 2; i >= 0; i--)
        if (tau[i] >= tau[i + 1]) tau[i] = tau[i + 1] - 1;
    return N;
}
