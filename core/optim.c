#include "optim.h"

#include <math.h>

void adamw_step(float *p, const float *g, float *m, float *v, size_t n, long step,
                const AdamW *c)
{
    /* torch.optim.AdamW: decay first, then the Adam update with bias-corrected moments */
    const double bc1 = 1.0 - pow(c->beta1, (double)step);
    const double bc2 = 1.0 - pow(c->beta2, (double)step);
    const float step_size = (float)(c->lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float decay = 1.0f - c->lr * c->weight_decay;
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;
        p[i] = p[i] * decay - step_size * mi / denom;
    }
}

double grad_norm(const float *g, size_t n)
{
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

double grad_clip(float *g, size_t n, double max_norm)
{
    double norm = grad_norm(g, n);
    if (max_norm > 0 && norm > max_norm) {
        /* torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) */
        float s = (float)(max_norm / (norm + 1e-6));
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) g[i] *= s;
    }
    return norm;
}

void ema_update(float *ema, const float *p, size_t n, float decay)
{
    const float a = 1.0f - decay;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) ema[i] += a * (p[i] - ema[i]);
}

int floats_finite(const float *x, size_t n)
{
    int ok = 1;
#pragma omp parallel for reduction(&& : ok) schedule(static)
    for (size_t i = 0; i < n; i++) ok = ok && isfinite(x[i]);
    return ok;
}
