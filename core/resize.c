/* Bilinear resize (core/resize.h). */
#include "core/resize.h"

#include <math.h>
#include <stdlib.h>

#include "core/common.h"

/* Source indices and weights of output index d along one axis of in -> out samples, as
 * PyTorch (aten/src/ATen/native/UpSample.h, float opmath): scale = in/out,
 * s = scale*(d + 0.5) - 0.5, s < 0 -> 0, i0 = (int)s, i1 = i0 + (i0 < in-1),
 * l1 = s - i0, l0 = 1 - l1; equal sizes copy. */
static void src_pos(int d, int in, int out, float scale, int *i0, int *i1, float *l0, float *l1)
{
    *i0 = *i1 = d;
    *l0 = 1.0f;
    *l1 = 0.0f;
    if (in == out) return;
    float s = scale * ((float)d + 0.5f) - 0.5f;
    if (s < 0.0f) s = 0.0f;
    *i0 = (int)s;
    *i1 = *i0 + (*i0 < in - 1 ? 1 : 0);
    *l1 = s - (float)*i0;
    *l0 = 1.0f - *l1;
}

void resize_bilinear(float *out, const float *in, int N, int H, int W, int Ho, int Wo)
{
    DDM_ASSERT(N > 0 && H > 0 && W > 0 && Ho > 0 && Wo > 0,
               "resize_bilinear: bad shape N=%d %dx%d -> %dx%d", N, H, W, Ho, Wo);
    const float sy = (float)H / (float)Ho, sx = (float)W / (float)Wo;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < Ho; oy++) {
            int y0, y1;
            float ly0, ly1;
            src_pos(oy, H, Ho, sy, &y0, &y1, &ly0, &ly1);
            const float *r0 = in + ((size_t)n * H + y0) * W, *r1 = in + ((size_t)n * H + y1) * W;
            float *dst = out + ((size_t)n * Ho + oy) * Wo;
            for (int ox = 0; ox < Wo; ox++) {
                int x0, x1;
                float lx0, lx1;
                src_pos(ox, W, Wo, sx, &x0, &x1, &lx0, &lx1);
                /* the order of PyTorch's separable kernel: rows first, then across rows */
                const float a = r0[x0] * lx0 + r0[x1] * lx1;
                const float c = r1[x0] * lx0 + r1[x1] * lx1;
                dst[ox] = a * ly0 + c * ly1;
            }
        }
}

void resize_bilinear_u8(uint8_t *out, const uint8_t *in, int N, int H, int W, int Ho, int Wo)
{
    const size_t ni = (size_t)N * H * W, no = (size_t)N * Ho * Wo;
    float *a = xalloc_floats(ni), *b = xalloc_floats(no);
    for (size_t i = 0; i < ni; i++) a[i] = (float)in[i];
    resize_bilinear(b, a, N, H, W, Ho, Wo);
    for (size_t i = 0; i < no; i++) {
        long q = lrintf(b[i]);
        out[i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
    }
    free(a);
    free(b);
}
