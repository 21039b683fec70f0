/* Forward process q(x_t | x0), training targets, per-image weights and the loss. */
#include "core/diffusion.h"

#include <math.h>

#include "core/common.h"
#include "core/rng.h"

/* splitmix64 finaliser of seed ^ tag: the training draws get their own Philox key */
#define DIFFUSION_KEY_TAG 0x64696666752d7472ull /* "diffu-tr" */

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int diffusion_draw(const Schedule *s, uint64_t seed, uint64_t step, uint64_t index,
                   float *noise, size_t D, float u[2])
{
    DDM_ASSERT(step < (1ull << 32) && index < (1ull << 32),
               "diffusion_draw: step %llu and index %llu must be < 2^32",
               (unsigned long long)step, (unsigned long long)index);
    Rng r;
    rng_init(&r, mix64(seed ^ DIFFUSION_KEY_TAG), step << 32 | index);
    int k = (int)rng_below(&r, (uint32_t)s->n);
    float u0 = rng_uniform(&r), u1 = rng_uniform(&r);
    if (u) {
        u[0] = u0;
        u[1] = u1;
    }
    rng_fill_normal(&r, noise, D);
    return k;
}

void diffusion_prepare(const Schedule *s, float *xt, float *tcond, float *target,
                       float *weight, const float *x0, const int *k, const float *noise,
                       int B, size_t D)
{
    const int ve = s->cfg.process == PROC_VE;
    const SchedPred pred = s->cfg.prediction;
    for (int b = 0; b < B; b++) {
        int kb = k[b];
        DDM_ASSERT(kb >= 0 && kb < s->n, "diffusion_prepare: level %d of image %d out of 0..%d",
                   kb, b, s->n - 1);
        double a, sg;
        sched_marginal_k(s, kb, &a, &sg);
        const float *x = x0 + (size_t)b * D, *e = noise + (size_t)b * D;
        float *xo = xt + (size_t)b * D, *tg = target + (size_t)b * D;
        for (size_t d = 0; d < D; d++) {
            /* DDPM eq. 4: x_t = sqrt(ab) x0 + sqrt(1-ab) eps; NCSN: x~ = x + sigma z */
            xo[d] = (float)(a * x[d] + sg * e[d]);
            if (ve) tg[d] = -e[d];                       /* sigma s* = -z (NCSN eq. 5-6) */
            else if (pred == PRED_EPS) tg[d] = e[d];
            else if (pred == PRED_X0) tg[d] = x[d];
            else tg[d] = (float)(a * e[d] - sg * x[d]);  /* Salimans & Ho 2022, v */
        }
        tcond[b] = (float)kb;
        double w = 1.0;
        if (!ve && s->cfg.loss == LOSS_VLB) {
            double ab = s->alpha_bar[kb];
            /* |eps - eps^|^2 = ab/(1-ab) |x0 - x0^|^2 = ab |v - v^|^2 at fixed x_t */
            double f = pred == PRED_EPS ? 1.0 : pred == PRED_X0 ? ab / (1.0 - ab) : ab;
            w = s->vlb_weight[kb] * f;
        }
        weight[b] = (float)w;
    }
}

double diffusion_loss(float *dout, double *per_image, const float *out, const float *target,
                      const float *weight, int B, size_t D, double norm_images)
{
    DDM_ASSERT(norm_images > 0, "diffusion_loss: norm_images must be > 0");
    double scale = 1.0 / (norm_images * (double)D), total = 0;
    for (int b = 0; b < B; b++) {
        const float *o = out + (size_t)b * D, *t = target + (size_t)b * D;
        double w = weight[b], sum = 0;
        for (size_t d = 0; d < D; d++) {
            double r = (double)o[d] - (double)t[d];
            sum += r * r;
            if (dout) dout[(size_t)b * D + d] = (float)(2.0 * w * r * scale);
        }
        if (per_image) per_image[b] = w * sum / (double)D;
        total += w * sum;
    }
    return total * scale;
}

void diffusion_from_output(const Schedule *s, float *eps, float *x0, float *score,
                           const float *out, const float *x, double a, double sg, size_t n)
{
    const int ve = s->cfg.process == PROC_VE;
    const SchedPred pred = s->cfg.prediction;
    for (size_t i = 0; i < n; i++) {
        double o = out[i], xi = x[i], e, z;
        if (ve) {
            e = -o;                      /* out = sigma s = -eps */
            z = xi - sg * e;
        } else if (pred == PRED_EPS) {
            e = o;
            z = (xi - sg * e) / a;       /* DDPM eq. 4 solved for x0 */
        } else if (pred == PRED_X0) {
            z = o;
            e = (xi - a * z) / sg;
        } else {
            z = a * xi - sg * o;         /* Salimans & Ho 2022, sec. 4 */
            e = sg * xi + a * o;
        }
        if (eps) eps[i] = (float)e;
        if (x0) x0[i] = (float)z;
        if (score) score[i] = (float)(-e / sg); /* grad log p = -eps/sg */
    }
}

void diffusion_x0_hat_d(const Schedule *s, double *x0, const float *out, const double *x,
                        double a, double sg, size_t n)
{
    DDM_ASSERT(s->cfg.process == PROC_VP, "diffusion_x0_hat_d: a vp model only");
    const SchedPred pred = s->cfg.prediction;
    for (size_t i = 0; i < n; i++) {
        const double o = out[i];
        if (pred == PRED_EPS) x0[i] = (x[i] - sg * o) / a; /* DDPM eq. 4 solved for x0 */
        else if (pred == PRED_X0) x0[i] = o;
        else x0[i] = a * x[i] - sg * o;                   /* Salimans & Ho 2022, sec. 4 */
    }
}

void diffusion_to_output(const Schedule *s, float *out, const float *eps, const float *x,
                         double a, double sg, size_t n)
{
    const int ve = s->cfg.process == PROC_VE;
    const SchedPred pred = s->cfg.prediction;
    for (size_t i = 0; i < n; i++) {
        double e = eps[i], xi = x[i], z = (xi - sg * e) / a;
        double o;
        if (ve) o = -e;
        else if (pred == PRED_EPS) o = e;
        else if (pred == PRED_X0) o = z;
        else o = a * e - sg * z;
        out[i] = (float)o;
    }
}
