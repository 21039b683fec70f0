/* AdamW (Loshchilov & Hutter 2019, as torch.optim.AdamW), gradient-norm clipping, EMA. */
#ifndef DDM_OPTIM_H
#define DDM_OPTIM_H

#include <stddef.h>

typedef struct {
    float lr;           /* learning rate at this step (warm-up applied by the caller) */
    float beta1, beta2; /* moment decay rates */
    float eps;
    float weight_decay; /* decoupled: p -= lr * wd * p */
} AdamW;

/* One AdamW step over n parameters; step is 1-based (for bias correction). */
void adamw_step(float *p, const float *g, float *m, float *v, size_t n, long step,
                const AdamW *cfg);

/* Euclidean norm of g, accumulated in double. */
double grad_norm(const float *g, size_t n);
/* Scale g so that its norm is at most max_norm (no-op when max_norm <= 0);
 * returns the norm before clipping. */
double grad_clip(float *g, size_t n, double max_norm);

/* ema = decay * ema + (1 - decay) * p */
void ema_update(float *ema, const float *p, size_t n, float decay);

/* true when every value is finite */
int floats_finite(const float *x, size_t n);

#endif
