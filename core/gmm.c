/* Gaussian-mixture data with closed-form noisy marginals: an exact denoiser for tests. */
#include "core/gmm.h"

#include <math.h>
#include <string.h>

#include "core/common.h"
#include "core/diffusion.h"
#include "core/rng.h"

#define GMM_LOG_2PI 1.8378770664093454836

void gmm_sample(const Gmm *g, float *x, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        Rng r;
        rng_init(&r, seed, i);
        double u = rng_uniform_double(&r), acc = 0;
        int k = g->K - 1;
        for (int j = 0; j < g->K; j++) {
            acc += g->w[j];
            if (u < acc) { k = j; break; }
        }
        double sd = sqrt(g->var[k]);
        for (int d = 0; d < g->dim; d++)
            x[i * g->dim + d] = (float)(g->mu[k][d] + sd * rng_normal(&r));
    }
}

void gmm_moments(const Gmm *g, double *mean, double *cov)
{
    int n = g->dim;
    for (int d = 0; d < n; d++) {
        mean[d] = 0;
        for (int k = 0; k < g->K; k++) mean[d] += g->w[k] * g->mu[k][d];
    }
    for (int d = 0; d < n; d++)
        for (int e = 0; e < n; e++) {
            double v = 0;
            for (int k = 0; k < g->K; k++)
                v += g->w[k] * ((g->mu[k][d] - mean[d]) * (g->mu[k][e] - mean[e]) +
                                (d == e ? g->var[k] : 0.0));
            cov[d * n + e] = v;
        }
}

double gmm_cdf_1d(const Gmm *g, double x)
{
    double F = 0;
    for (int k = 0; k < g->K; k++)
        F += g->w[k] * 0.5 * erfc(-(x - g->mu[k][0]) / sqrt(2.0 * g->var[k]));
    return F;
}

int gmm_component(const Gmm *g, const float *x)
{
    int best = 0;
    double bl = -INFINITY;
    for (int k = 0; k < g->K; k++) {
        double r2 = 0;
        for (int d = 0; d < g->dim; d++) {
            double t = x[d] - g->mu[k][d];
            r2 += t * t;
        }
        double l = log(g->w[k]) - 0.5 * g->dim * log(g->var[k]) - 0.5 * r2 / g->var[k];
        if (l > bl) { bl = l; best = k; }
    }
    return best;
}

/* per noise level: component variances and log normalisers (weights included unless one
 * component is selected) */
typedef struct {
    double v[GMM_MAX_K], lc[GMM_MAX_K];
} Level;

static void level_init(Level *L, const Gmm *g, double a, double sg, int only)
{
    for (int k = 0; k < g->K; k++) {
        L->v[k] = a * a * g->var[k] + sg * sg;
        L->lc[k] = (only >= 0 && k != only) ? -INFINITY
                   : (only >= 0 ? 0.0 : log(g->w[k])) - 0.5 * g->dim * (GMM_LOG_2PI + log(L->v[k]));
    }
}

static void posterior(const Gmm *g, const Level *L, double a, double sg, const double *x,
                      double *eps_hat, double *x0_hat, double *resp)
{
    double lw[GMM_MAX_K], lmax = -INFINITY;
    for (int k = 0; k < g->K; k++) {
        if (L->lc[k] == -INFINITY) { lw[k] = -INFINITY; continue; }
        double r2 = 0;
        for (int d = 0; d < g->dim; d++) {
            double t = x[d] - a * g->mu[k][d];
            r2 += t * t;
        }
        lw[k] = L->lc[k] - 0.5 * r2 / L->v[k];
        if (lw[k] > lmax) lmax = lw[k];
    }
    double sum = 0;
    for (int k = 0; k < g->K; k++) {
        lw[k] = lw[k] == -INFINITY ? 0.0 : exp(lw[k] - lmax);
        sum += lw[k];
    }
    double score[GMM_MAX_DIM] = {0};
    for (int k = 0; k < g->K; k++) {
        double r = lw[k] / sum;
        if (resp) resp[k] = r;
        if (r == 0) continue;
        /* grad log N(x; a mu_k, v_k I) = -(x - a mu_k)/v_k */
        for (int d = 0; d < g->dim; d++) score[d] -= r * (x[d] - a * g->mu[k][d]) / L->v[k];
    }
    for (int d = 0; d < g->dim; d++) {
        double e = -sg * score[d];                      /* Tweedie: E[eps|x] = -sg score */
        if (eps_hat) eps_hat[d] = e;
        if (x0_hat) x0_hat[d] = (x[d] - sg * e) / a;    /* E[x0|x] */
    }
}

void gmm_posterior(const Gmm *g, double a, double sg, const double *x, int only,
                   double *eps_hat, double *x0_hat, double *resp)
{
    Level L;
    level_init(&L, g, a, sg, only);
    posterior(g, &L, a, sg, x, eps_hat, x0_hat, resp);
}

void gmm_model_init(GmmModel *gm, const Gmm *g, const Schedule *s, size_t D, int conditional)
{
    DDM_ASSERT(g->K >= 1 && g->K <= GMM_MAX_K && g->dim >= 1 && g->dim <= GMM_MAX_DIM,
               "gmm: K %d or dim %d out of range", g->K, g->dim);
    DDM_ASSERT(D % (size_t)g->dim == 0, "gmm: D = %zu is not a multiple of dim %d", D, g->dim);
    memset(gm, 0, sizeof *gm);
    gm->gmm = g;
    gm->sched = s;
    gm->D = D;
    gm->num_classes = conditional ? g->K : 0;
}

void gmm_denoise(void *ctx, float *out, const float *x, const float *tcond, const int *labels,
                 int B)
{
    /* Serial: a test model, cheap per point; threads would mostly add barrier costs. */
    GmmModel *gm = ctx;
    const Gmm *g = gm->gmm;
    const Schedule *s = gm->sched;
    size_t D = gm->D, P = D / (size_t)g->dim;
    double last_t = NAN, a = 1, sg = 1; /* the previous sample's level, reused if unchanged */
    int last_only = -2;
    Level L;
    for (int b = 0; b < B; b++) {
        double t = tcond[b];
        int only = -1;
        if (labels && gm->num_classes > 0 && labels[b] < gm->num_classes) only = labels[b];
        if (!(t == last_t) || only != last_only) {
            if (t == floor(t) && t >= 0 && t <= s->n - 1) sched_marginal_k(s, (int)t, &a, &sg);
            else sched_marginal(s, sched_sigma(s, t), &a, &sg);
            level_init(&L, g, a, sg, only);
            last_t = t;
            last_only = only;
        }
        const float *xb = x + (size_t)b * D;
        float *ob = out + (size_t)b * D;
        for (size_t p = 0; p < P; p++) {
            double xp[GMM_MAX_DIM], e[GMM_MAX_DIM];
            float ef[GMM_MAX_DIM];
            for (int d = 0; d < g->dim; d++) xp[d] = xb[p * g->dim + d];
            posterior(g, &L, a, sg, xp, e, NULL, NULL);
            for (int d = 0; d < g->dim; d++) ef[d] = (float)e[d];
            diffusion_to_output(s, ob + p * g->dim, ef, xb + p * g->dim, a, sg, (size_t)g->dim);
        }
    }
    gm->points += (long long)B * (long long)P;
}
