/* Latents files (kind=latents): what `ddm encode` writes, the sampler's level-0 state of
 * every input image (the deterministic encoder, core/sampler.h: sampler_encode).
 *
 *   /latents  float32 [N,C,H,W]  the state at the plan's level 0 (the noisiest): its
 *                                marginal is x = a x0 + sg eps (attrs a, sg)
 *   /labels   int32 [N]          the class each row was encoded with, -1 = the null label
 *                                (or an unconditional model)
 *   file attrs: kind=latents, format_version, checkpoint (path), checkpoint_step, config
 *     (text the checkpoint was trained with), input (path), sampler (its setting in words,
 *     "ddim steps=50 eta=0 skip=uniform clip=1 guidance=0"), steps, state ("x": the
 *     process's own variable; "xbar": x / s(sigma), the Karras-family state), a, sg, sigma
 *     (level 0's marginal and VE-equivalent noise level), prior_std (the std of the
 *     generation prior at level 0: a latent of data is about N(0, prior_std^2) per value)
 *
 * Serial: rank 0 writes the whole file (to a temporary the caller commits).
 * N = rows, C = channels, H, W = height, width. */
#ifndef DDM_LATENTS_H
#define DDM_LATENTS_H

#include <stdint.h>

typedef struct {
    const char *ckpt_path;
    int64_t ckpt_step;
    const char *config_text;
    const char *input_file;
    const char *sampler;  /* sampler_config_describe */
    int steps;
    const char *state;    /* "x" or "xbar" */
    double a, sg, sigma, prior_std;
} LatentsMeta;

/* Create path (truncated) and write everything. Dies naming the file on failure. */
void latents_write(const char *path, const LatentsMeta *m, const float *x, const int32_t *labels,
                   int64_t n, int C, int H, int W);

#endif
