/* Bilinear and bicubic resize, the SR3 degradation (core/resize.h). */
#include "core/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Keys' cubic convolution kernel (Keys 1981, eq. 15) at distance x, a = -0.75 as PyTorch:
 * |x| <= 1: (a+2)|x|^3 - (a+3)|x|^2 + 1;  1 < |x| < 2: a|x|^3 - 5a|x|^2 + 8a|x| - 4a */
#define BICUBIC_A (-0.75f)

static void cubic_weights(float t, float w[4])
{
    const float A = BICUBIC_A;
    const float x0 = t + 1.0f, x1 = t, x2 = 1.0f - t, x3 = 2.0f - t;
    w[0] = ((A * x0 - 5.0f * A) * x0 + 8.0f * A) * x0 - 4.0f * A;
    w[1] = ((A + 2.0f) * x1 - (A + 3.0f)) * x1 * x1 + 1.0f;
    w[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
    w[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

/* The 4 clamped source indices and weights of output index d along an axis in -> out. */
static void cubic_taps(int d, int in, int out, int idx[4], float w[4])
{
    const float scale = (float)in / (float)out;
    const float s = scale * ((float)d + 0.5f) - 0.5f;
    const float fl = floorf(s);
    const int i0 = (int)fl;
    cubic_weights(s - fl, w);
    for (int k = 0; k < 4; k++) {
        int i = i0 - 1 + k;
        idx[k] = i < 0 ? 0 : i > in - 1 ? in - 1 : i;
    }
}

void resize_bicubic(float *out, const float *in, int N, int H, int W, int Ho, int Wo)
{
    DDM_ASSERT(N > 0 && H > 0 && W > 0 && Ho > 0 && Wo > 0,
               "resize_bicubic: bad shape N=%d %dx%d -> %dx%d", N, H, W, Ho, Wo);
    if (H == Ho && W == Wo) {
        if (out != in) memcpy(out, in, sizeof(float) * (size_t)N * H * W);
        return;
    }
    int *xi = xmalloc(sizeof(int) * 4 * (size_t)Wo);
    float *xw = xalloc_floats(4 * (size_t)Wo);
    for (int ox = 0; ox < Wo; ox++) cubic_taps(ox, W, Wo, xi + 4 * ox, xw + 4 * ox);
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)N * Ho * Wo >= (1 << 16))
    for (int n = 0; n < N; n++)
        for (int oy = 0; oy < Ho; oy++) {
            int yi[4];
            float yw[4];
            cubic_taps(oy, H, Ho, yi, yw);
            float *dst = out + ((size_t)n * Ho + oy) * Wo;
            for (int ox = 0; ox < Wo; ox++) {
                const int *ix = xi + 4 * ox;
                const float *wx = xw + 4 * ox;
                /* along x in each of the 4 rows, then across the rows */
                float acc = 0.0f;
                for (int k = 0; k < 4; k++) {
                    const float *row = in + ((size_t)n * H + yi[k]) * W;
                    const float r = row[ix[0]] * wx[0] + row[ix[1]] * wx[1] +
                                    row[ix[2]] * wx[2] + row[ix[3]] * wx[3];
                    acc += r * yw[k];
                }
                dst[ox] = acc;
            }
        }
    free(xi);
    free(xw);
}

void degrade_superres(float *out, const float *in, int N, int H, int W, int f)
{
    DDM_ASSERT(f >= 1 && H % f == 0 && W % f == 0,
               "degrade_superres: %dx%d images do not split into %dx%d blocks", H, W, f, f);
    DDM_ASSERT(out != in, "degrade_superres: out may not alias in");
    const int h = H / f, w = W / f;
    if (f == 1) {
        memcpy(out, in, sizeof(float) * (size_t)N * H * W);
        return;
    }
    float *lo = xalloc_floats((size_t)N * h * w);
    const double ff = (double)f * f;
    for (int n = 0; n < N; n++)
        for (int by = 0; by < h; by++)
            for (int bx = 0; bx < w; bx++) {
                const float *src = in + ((size_t)n * H + (size_t)by * f) * W + (size_t)bx * f;
                double sum = 0;
                for (int y = 0; y < f; y++)
                    for (int x = 0; x < f; x++) sum += src[(size_t)y * W + x];
                lo[((size_t)n * h + by) * w + bx] = (float)(sum / ff);
            }
    resize_bicubic(out, lo, N, h, w, H, W);
    free(lo);
}
