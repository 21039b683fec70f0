/* unipc: UniPC (Zhao et al. 2023), the unified predictor-corrector: the multistep
 * predictor UniP-p and the corrector UniC-p, which raises the order by one at no extra
 * network evaluation (UniC reuses the evaluation at the predicted point that the next step
 * needs anyway: NFE = N). On the probability-flow ODE in xbar with data prediction, as
 * DPM-Solver++ (alpha = 1, sigma = sigma, lambda = -log sigma) on the Karras sigmas.
 *
 * One step from s0 to t, h = log(s0/t), history D_0 = D(x; s0), D_k at s_k (k < p), with
 * r_k = log(s0/s_k)/h (< 0), B = -h (bh1) or e^{-h} - 1 (bh2), and the phi recursion in
 * z = -h: g_1 = (e^z - 1)/z - 1, g_{i+1} = g_i/z - 1/(i+1)!, b_i = i! g_i / B:
 *   x_base = (t/s0) x - (e^{-h} - 1) D_0                       (the first-order step)
 *   UniP-p: x_t = x_base - B sum_{k<p} rho_k (D_k - D_0)/r_k     rho = 0.5 (p = 2), or
 *           sum_k rho_k r_k^i = b_{i+1}, i < p-1 (p = 3)
 *   UniC-p: x_t = x_base - B (sum_{k<p} rc_k (D_k - D_0)/r_k + rc_p (D_t - D_0))
 *           rc = 0.5 (p = 1), or the p x p system with r_p = 1
 * where D_t = D(x_t; t) at the predicted (uncorrected) point. The order ramps up over the
 * first steps and down over the last ones (lower_order_final), the step to sigma = 0 is
 * x = D_0, and no corrector follows the last step. */
#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/sampler.h"

#define UNIPC_MAX_ORDER 3
#define HIST (UNIPC_MAX_ORDER + 1) /* D values kept: a step's p and the new one */

/* the coefficients of a step s0 -> t of order p over history sigmas sk[1..p-1] */
typedef struct {
    int p;
    double ratio, hphi1, B, r[UNIPC_MAX_ORDER], rho_p[UNIPC_MAX_ORDER], rho_c[UNIPC_MAX_ORDER];
} Coef;

/* solve the m x m system a x = y (m <= 3) by Gaussian elimination with pivoting */
static void solve(int m, double a[3][3], const double *y, double *x)
{
    double A[3][4];
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < m; j++) A[i][j] = a[i][j];
        A[i][m] = y[i];
    }
    for (int c = 0; c < m; c++) {
        int piv = c;
        for (int i = c + 1; i < m; i++)
            if (fabs(A[i][c]) > fabs(A[piv][c])) piv = i;
        for (int j = 0; j <= m; j++) {
            double t = A[c][j];
            A[c][j] = A[piv][j];
            A[piv][j] = t;
        }
        for (int i = c + 1; i < m; i++) {
            double f = A[i][c] / A[c][c];
            for (int j = c; j <= m; j++) A[i][j] -= f * A[c][j];
        }
    }
    for (int i = m - 1; i >= 0; i--) {
        double v = A[i][m];
        for (int j = i + 1; j < m; j++) v -= A[i][j] * x[j];
        x[i] = v / A[i][i];
    }
}

/* Zhao et al. 2023: the weights of UniP-p and UniC-p for a step s0 -> t > 0 */
static void coef(Coef *c, int p, const double *sig_hist, double t, int bh2)
{
    const double s0 = sig_hist[0], h = log(s0 / t), z = -h;
    c->p = p;
    c->ratio = t / s0;
    c->hphi1 = expm1(z);
    c->B = bh2 ? expm1(z) : z;
    double g = c->hphi1 / z - 1.0, fact = 1.0, b[UNIPC_MAX_ORDER];
    for (int i = 1; i <= p; i++) {
        fact *= i;
        b[i - 1] = fact * g / c->B;
        g = g / z - 1.0 / (fact * (i + 1));
    }
    for (int k = 1; k < p; k++) c->r[k - 1] = log(s0 / sig_hist[k]) / h;
    c->r[p - 1] = 1.0;
    /* predictor: p - 1 weights */
    if (p == 2) {
        c->rho_p[0] = 0.5;
    } else if (p == 3) {
        double a[3][3] = {{1, 1, 0}, {c->r[0], c->r[1], 0}, {0}};
        solve(2, a, b, c->rho_p);
    }
    /* corrector: p weights, the last for the new point (r = 1) */
    if (p == 1) {
        c->rho_c[0] = 0.5;
    } else {
        double a[3][3];
        for (int i = 0; i < p; i++)
            for (int k = 0; k < p; k++) a[i][k] = pow(c->r[k], i);
        solve(p, a, b, c->rho_c);
    }
}

/* x <- x_base(x_s0) - B (sum_k w_k (D_k - D_0)/r_k [+ w_p (D_t - D_0)]); d[k] = D_k, d[0]
 * = D_0; dt = D_t or NULL (the predictor) */
static void update(float *x, const float *xs0, const float *const *d, const float *dt,
                   const Coef *c, const double *w, size_t n)
{
    const int p = c->p;
    double wk[UNIPC_MAX_ORDER] = {0};
    for (int k = 1; k < p; k++) wk[k - 1] = w[k - 1] / c->r[k - 1];
    const double wt = dt ? w[p - 1] : 0.0;
#pragma omp parallel for schedule(static) if (n >= SAMPLER_PAR_MIN)
    for (size_t j = 0; j < n; j++) {
        double d0 = d[0][j], v = c->ratio * xs0[j] - c->hphi1 * d0, s = 0;
        for (int k = 1; k < p; k++) s += wk[k - 1] * (d[k][j] - d0);
        if (dt) s += wt * (dt[j] - d0);
        x[j] = (float)(v - c->B * s);
    }
}

/* r->state: [0] ring head, [1] D values held, [2] pending order (0 = none), [3..6] the
 * sigmas of the ring's D values, newest first; r->priv: HIST D values, then x_s0 */
static float *hist_d(SampleRun *r, int k)
{
    int head = (int)r->state[0];
    return r->priv + (size_t)((head - k + HIST) % HIST) * r->n;
}

static void step(SampleRun *r, int i, float *x)
{
    const SamplerConfig *sc = r->sc;
    const double *sig = r->plan->sigma;
    const double s0 = sig[i], t = sig[i + 1];
    double *st = r->state, *hsig = st + 3;
    float *xs0 = r->priv + (size_t)HIST * r->n;
    if (i == r->first) st[0] = st[1] = st[2] = 0; /* a new start: no history */
    /* push D(x; s0) */
    st[0] = (double)(((int)st[0] + 1) % HIST);
    for (int k = HIST - 1; k > 0; k--) hsig[k] = hsig[k - 1];
    hsig[0] = s0;
    if (st[1] < HIST) st[1] += 1;
    sampler_karras_denoise(r, hist_d(r, 0), x, s0);
    if (t == 0) { /* lambda = inf: x = x0^ (a corrector of the state here would be discarded) */
        memcpy(x, hist_d(r, 0), r->n * sizeof(float));
        return;
    }
    const int bh2 = sc->variant == 1;
    if (st[2] > 0) { /* UniC for the step just taken, s1 -> s0, with D_t = D(x; s0) */
        const int p = (int)st[2];
        Coef c;
        coef(&c, p, hsig + 1, s0, bh2);
        const float *d[UNIPC_MAX_ORDER];
        for (int k = 0; k < p; k++) d[k] = hist_d(r, k + 1);
        update(x, xs0, d, hist_d(r, 0), &c, c.rho_c, r->n);
    }
    /* UniP-p, s0 -> t */
    int p = sc->order, have = (int)st[1], left = r->plan->N - i;
    if (p > have) p = have;
    if (p > left) p = left; /* lower order at the last steps */
    Coef c;
    coef(&c, p, hsig, t, bh2);
    const float *d[UNIPC_MAX_ORDER];
    for (int k = 0; k < p; k++) d[k] = hist_d(r, k);
    memcpy(xs0, x, r->n * sizeof(float));
    update(x, xs0, d, NULL, &c, c.rho_p, r->n);
    st[2] = p;
}

#define OFF(f) offsetof(SamplerConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "order", OPT_INT, OFF(order), 0, NULL, "2", "P", "",
     "UniP/UniC order (UniPC-p is of order p+1)", 1, UNIPC_MAX_ORDER, 0, 0},
    {NULL, "variant", OPT_CHOICE, OFF(variant), 0, "bh1|bh2", "bh2", NULL, "",
     "B(h) = h (bh1) or e^h - 1 (bh2)", 0, 0, 0, 0},
    {NULL, "rho", OPT_F64, OFF(rho), 0, NULL, "7", "R", "",
     "Karras sigma spacing exponent (Karras et al. 2022, eq. 5: 7)", 0, 0, 0, 0},
    {NULL, "sigma_max", OPT_F64, OFF(sigma_max), 0, NULL, "80", "S", "",
     "start at min(S, the schedule's sigma_max) (EDM: 80; 0 = the schedule's)", 0, 0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const SamplerDef sampler_unipc_def = {
    .name = "unipc",
    .cite = "Zhao et al. 2023 (UniPC), UniP-p + UniC-p, data prediction",
    .processes = (1u << PROC_VP) | (1u << PROC_VE),
    .opts = OPTS,
    .steps_default = 10, /* Zhao et al. 2023: the 5-10 NFE regime */
    .check = sampler_check_karras,
    .plan = sampler_plan_karras,
    .step = step,
    .priv_per_value = HIST + 1,
};
