/* The FID Inception-v3 (see inception.h): tensor table, BatchNorm folding, the forward
 * and the pieces it needs beyond core/layers.h (bilinear resize, pools, non-square conv).
 *
 * B = batch, C = channels, H, W = height, width, OC = output channels, P = Ho*Wo,
 * CKK = C*KH*KW, nb = images per chunk, ncol = nb*P.
 *
 * Shapes are fixed by the 299x299 input, so every conv's input size is known when the
 * table is built; the work buffers are sized from the table:
 *   x, y    (per image: the largest activation, 64x147x147 after Conv2d_2b_3x3)
 *           ping-pong between layers and blocks; a block reads one and writes the other
 *   t1, t2  (per image: the largest tensor inside a Mixed block, 288x35x35) hold branch
 *           intermediates; each branch's result is copied into its channel slice of the
 *           block output (a conv writes (B,OC,P) contiguously, a slice is strided for B>1;
 *           the copies are ~0.1% of the time)
 *   scratch the largest conv scratch at the internal batch
 */
#include "core/inception.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/resize.h"
#include "core/layers.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define INC_NCONV 94             /* BasicConv2d modules in the FID Inception */
#define INC_NT_PER_CONV 5        /* conv.weight, bn.{weight,bias,running_mean,running_var} */
#define INC_NBLOCK 11            /* Mixed_5b .. Mixed_7c */
#define INC_CHUNK_FLOATS ((size_t)4 << 20) /* scratch of one non-square conv chunk, as conv.c */
/* Elementwise loops, pools and copies below this many floats run on one thread: a
 * parallel region costs more than they do, and far more when the cores are shared (a
 * thread descheduled at a barrier stalls the others; the 8x8 blocks are many small ops). */
#define INC_PAR_MIN ((size_t)1 << 16)

typedef struct {
    char name[40];      /* module path, e.g. "Mixed_6b.branch7x7_2" */
    int cin, cout;
    InceptionKernel k;
    int h, w, ho, wo;   /* input and output sizes (fixed by the 299x299 input) */
    int t;              /* tensor index of <name>.conv.weight; bn.weight, bn.bias, running_mean,
                           running_var follow */
} IncConv;

typedef struct {
    float *p;
    size_t cap; /* floats */
} IncBuf;

struct Inception {
    IncConv conv[INC_NCONV];
    int n_conv;
    int block[INC_NBLOCK]; /* index of each Mixed block's first conv */
    TensorInfo tensor[INC_NCONV * INC_NT_PER_CONV];
    int n_tensors;
    float *params;
    size_t n_params;
    int prepared;
    int max_batch;   /* images per forward pass */
    /* work buffers, for ws_batch images */
    int ws_batch;
    IncBuf x, y, t1, t2, scratch;
    float *plane;    /* the input images as float (inception_features) */
    size_t plane_cap;
};

/* ================================================================ the table */

static int out_size(int n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }

static void add_tensor(Inception *n, const char *conv, const char *suffix, int ndim,
                       const int *shape)
{
    DDM_ASSERT(n->n_tensors < INC_NCONV * INC_NT_PER_CONV, "inception: tensor table full");
    TensorInfo *t = &n->tensor[n->n_tensors++];
    int len = snprintf(t->name, sizeof t->name, "%s.%s", conv, suffix);
    DDM_ASSERT(len > 0 && (size_t)len < sizeof t->name, "inception: name too long: %s.%s", conv,
               suffix);
    t->ndim = ndim;
    t->size = 1;
    for (int i = 0; i < 4; i++) t->shape[i] = i < ndim ? shape[i] : 0;
    for (int i = 0; i < ndim; i++) t->size *= (size_t)shape[i];
    t->offset = n->n_params;
    n->n_params += t->size;
}

/* One BasicConv2d: "<blk>.<name>" (or "<name>" when blk is NULL) with its 5 tensors in
 * state_dict order. Returns its conv index. */
static int add_conv(Inception *n, const char *blk, const char *name, int cin, int cout, int kh,
                    int kw, int stride, int ph, int pw, int h, int w)
{
    DDM_ASSERT(n->n_conv < INC_NCONV, "inception: conv table full");
    const int i = n->n_conv++;
    IncConv *c = &n->conv[i];
    int len = blk ? snprintf(c->name, sizeof c->name, "%s.%s", blk, name)
                  : snprintf(c->name, sizeof c->name, "%s", name);
    DDM_ASSERT(len > 0 && (size_t)len < sizeof c->name, "inception: conv name too long");
    c->cin = cin;
    c->cout = cout;
    c->k = (InceptionKernel){kh, kw, stride, stride, ph, pw};
    c->h = h;
    c->w = w;
    c->ho = out_size(h, kh, stride, ph);
    c->wo = out_size(w, kw, stride, pw);
    c->t = n->n_tensors;
    const int wshape[4] = {cout, cin, kh, kw}, vshape[1] = {cout};
    add_tensor(n, c->name, "conv.weight", 4, wshape);
    add_tensor(n, c->name, "bn.weight", 1, vshape);
    add_tensor(n, c->name, "bn.bias", 1, vshape);
    add_tensor(n, c->name, "bn.running_mean", 1, vshape);
    add_tensor(n, c->name, "bn.running_var", 1, vshape);
    return i;
}

/* The blocks, convs in torchvision's registration (= state_dict = forward) order. */
static int build_a(Inception *n, const char *b, int cin, int pool_features, int s)
{
    const int first = add_conv(n, b, "branch1x1", cin, 64, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch5x5_1", cin, 48, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch5x5_2", 48, 64, 5, 5, 1, 2, 2, s, s);
    add_conv(n, b, "branch3x3dbl_1", cin, 64, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1, s, s);
    add_conv(n, b, "branch3x3dbl_3", 96, 96, 3, 3, 1, 1, 1, s, s);
    add_conv(n, b, "branch_pool", cin, pool_features, 1, 1, 1, 0, 0, s, s);
    return first;
}

static int build_b(Inception *n, const char *b, int cin, int s)
{
    const int first = add_conv(n, b, "branch3x3", cin, 384, 3, 3, 2, 0, 0, s, s);
    add_conv(n, b, "branch3x3dbl_1", cin, 64, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch3x3dbl_2", 64, 96, 3, 3, 1, 1, 1, s, s);
    add_conv(n, b, "branch3x3dbl_3", 96, 96, 3, 3, 2, 0, 0, s, s);
    return first;
}

static int build_c(Inception *n, const char *b, int cin, int c7, int s)
{
    const int first = add_conv(n, b, "branch1x1", cin, 192, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch7x7_1", cin, c7, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch7x7_2", c7, c7, 1, 7, 1, 0, 3, s, s);
    add_conv(n, b, "branch7x7_3", c7, 192, 7, 1, 1, 3, 0, s, s);
    add_conv(n, b, "branch7x7dbl_1", cin, c7, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0, s, s);
    add_conv(n, b, "branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3, s, s);
    add_conv(n, b, "branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0, s, s);
    add_conv(n, b, "branch7x7dbl_5", c7, 192, 1, 7, 1, 0, 3, s, s);
    add_conv(n, b, "branch_pool", cin, 192, 1, 1, 1, 0, 0, s, s);
    return first;
}

static int build_d(Inception *n, const char *b, int cin, int s)
{
    const int first = add_conv(n, b, "branch3x3_1", cin, 192, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch3x3_2", 192, 320, 3, 3, 2, 0, 0, s, s);
    add_conv(n, b, "branch7x7x3_1", cin, 192, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch7x7x3_2", 192, 192, 1, 7, 1, 0, 3, s, s);
    add_conv(n, b, "branch7x7x3_3", 192, 192, 7, 1, 1, 3, 0, s, s);
    add_conv(n, b, "branch7x7x3_4", 192, 192, 3, 3, 2, 0, 0, s, s);
    return first;
}

static int build_e(Inception *n, const char *b, int cin, int s)
{
    const int first = add_conv(n, b, "branch1x1", cin, 320, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch3x3_1", cin, 384, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch3x3_2a", 384, 384, 1, 3, 1, 0, 1, s, s);
    add_conv(n, b, "branch3x3_2b", 384, 384, 3, 1, 1, 1, 0, s, s);
    add_conv(n, b, "branch3x3dbl_1", cin, 448, 1, 1, 1, 0, 0, s, s);
    add_conv(n, b, "branch3x3dbl_2", 448, 384, 3, 3, 1, 1, 1, s, s);
    add_conv(n, b, "branch3x3dbl_3a", 384, 384, 1, 3, 1, 0, 1, s, s);
    add_conv(n, b, "branch3x3dbl_3b", 384, 384, 3, 1, 1, 1, 0, s, s);
    add_conv(n, b, "branch_pool", cin, 192, 1, 1, 1, 0, 0, s, s);
    return first;
}

Inception *inception_create(void)
{
    Inception *n = xcalloc(1, sizeof *n);
    /* stem: 299 -> 149 -> 147 -> 147 -> maxpool 73 -> 73 -> 71 -> maxpool 35 */
    add_conv(n, NULL, "Conv2d_1a_3x3", 3, 32, 3, 3, 2, 0, 0, 299, 299);
    add_conv(n, NULL, "Conv2d_2a_3x3", 32, 32, 3, 3, 1, 0, 0, 149, 149);
    add_conv(n, NULL, "Conv2d_2b_3x3", 32, 64, 3, 3, 1, 1, 1, 147, 147);
    add_conv(n, NULL, "Conv2d_3b_1x1", 64, 80, 1, 1, 1, 0, 0, 73, 73);
    add_conv(n, NULL, "Conv2d_4a_3x3", 80, 192, 3, 3, 1, 0, 0, 73, 73);
    int k = 0;
    n->block[k++] = build_a(n, "Mixed_5b", 192, 32, 35);  /* -> 256 x 35 x 35 */
    n->block[k++] = build_a(n, "Mixed_5c", 256, 64, 35);  /* -> 288 */
    n->block[k++] = build_a(n, "Mixed_5d", 288, 64, 35);  /* -> 288 */
    n->block[k++] = build_b(n, "Mixed_6a", 288, 35);      /* -> 768 x 17 x 17 */
    n->block[k++] = build_c(n, "Mixed_6b", 768, 128, 17);
    n->block[k++] = build_c(n, "Mixed_6c", 768, 160, 17);
    n->block[k++] = build_c(n, "Mixed_6d", 768, 160, 17);
    n->block[k++] = build_c(n, "Mixed_6e", 768, 192, 17); /* -> 768 x 17 x 17 */
    n->block[k++] = build_d(n, "Mixed_7a", 768, 17);      /* -> 1280 x 8 x 8 */
    n->block[k++] = build_e(n, "Mixed_7b", 1280, 8);      /* -> 2048 */
    n->block[k++] = build_e(n, "Mixed_7c", 2048, 8);      /* -> 2048 */
    DDM_ASSERT(n->n_conv == INC_NCONV, "inception: %d convs, expected %d", n->n_conv,
               INC_NCONV);
    n->max_batch = INCEPTION_MAX_BATCH;
    n->params = xalloc_floats(n->n_params);
    memset(n->params, 0, sizeof(float) * n->n_params);
    return n;
}

void inception_free(Inception *n)
{
    if (!n) return;
    free(n->params);
    free(n->x.p);
    free(n->y.p);
    free(n->t1.p);
    free(n->t2.p);
    free(n->scratch.p);
    free(n->plane);
    free(n);
}

int inception_num_tensors(const Inception *n) { return n->n_tensors; }

const TensorInfo *inception_tensor(const Inception *n, int i)
{
    DDM_ASSERT(i >= 0 && i < n->n_tensors, "inception_tensor: index %d out of [0,%d)", i,
               n->n_tensors);
    return &n->tensor[i];
}

const TensorInfo *inception_find_tensor(const Inception *n, const char *name)
{
    for (int i = 0; i < n->n_tensors; i++)
        if (strcmp(n->tensor[i].name, name) == 0) return &n->tensor[i];
    return NULL;
}

size_t inception_num_params(const Inception *n) { return n->n_params; }
float *inception_params(Inception *n) { return n->params; }

/* ================================================================ BatchNorm folding */

int inception_fold_bn(float *w, float *b, const float *gamma, const float *beta,
                      const float *mean, const float *var, int OC, size_t per_oc, double eps)
{
    for (int oc = 0; oc < OC; oc++) {
        const double v = (double)var[oc] + eps;
        if (!(v > 0.0)) return oc;
        const double s = (double)gamma[oc] / sqrt(v);
        const double bias = (double)beta[oc] - (double)mean[oc] * s;
        if (!isfinite(s) || !isfinite(bias)) return oc;
        float *wo = w + (size_t)oc * per_oc;
        for (size_t j = 0; j < per_oc; j++) {
            wo[j] = (float)((double)wo[j] * s);
            if (!isfinite(wo[j])) return oc;
        }
        b[oc] = (float)bias;
    }
    return -1;
}

void inception_prepare(Inception *n, const char *what)
{
    DDM_ASSERT(!n->prepared, "inception_prepare: the BatchNorms are already folded");
    for (int i = 0; i < n->n_conv; i++) {
        const IncConv *c = &n->conv[i];
        const TensorInfo *t = &n->tensor[c->t];
        float *p = n->params;
        const int bad = inception_fold_bn(p + t[0].offset, p + t[2].offset, p + t[1].offset,
                                          p + t[2].offset, p + t[3].offset, p + t[4].offset,
                                          c->cout, t[0].size / (size_t)c->cout,
                                          INCEPTION_BN_EPS);
        if (bad >= 0)
            ddm_die("%s: %s: channel %d has a non-finite weight or statistic, or "
                    "running_var + eps <= 0 (running_var %g)",
                    what ? what : "inception weights", c->name, bad,
                    (double)p[t[4].offset + (size_t)bad]);
    }
    n->prepared = 1;
}

/* ================================================================ resize and input */

void inception_resize_bilinear(float *out, const float *in, int N, int H, int W, int Ho,
                               int Wo)
{
    resize_bilinear(out, in, N, H, W, Ho, Wo);
}

void inception_input(float *x, const uint8_t *img, int B, int C, int H, int W, float *plane)
{
    DDM_ASSERT(C == 1 || C == 3, "inception: images must have 1 or 3 channels, not %d", C);
    DDM_ASSERT(B > 0 && H > 0 && W > 0, "inception: bad image shape %dx%dx%dx%d", B, C, H, W);
    const size_t HW = (size_t)H * W, S2 = (size_t)INCEPTION_SIZE * INCEPTION_SIZE;
    const size_t n = (size_t)B * C * HW;
    /* torchvision's ToTensor: float(u8) / 255, in float */
#pragma omp parallel for schedule(static) if (n > INC_PAR_MIN)
    for (size_t j = 0; j < n; j++) plane[j] = (float)img[j] / 255.0f;
    if (C == 3)
        inception_resize_bilinear(x, plane, 3 * B, H, W, INCEPTION_SIZE, INCEPTION_SIZE);
    else /* gray: into channel 0 of each image, repeated below */
        for (int i = 0; i < B; i++)
            inception_resize_bilinear(x + (size_t)i * 3 * S2, plane + (size_t)i * HW, 1, H, W,
                                      INCEPTION_SIZE, INCEPTION_SIZE);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < B; i++) {
        float *xi = x + (size_t)i * 3 * S2;
        /* normalize_input: [0,1] -> [-1,1] */
        for (size_t j = 0; j < (size_t)C * S2; j++) xi[j] = 2.0f * xi[j] - 1.0f;
        if (C == 1) {
            memcpy(xi + S2, xi, sizeof(float) * S2);
            memcpy(xi + 2 * S2, xi, sizeof(float) * S2);
        }
    }
}

/* ================================================================ pools */

void inception_maxpool(float *out, const float *in, int B, int C, int H, int W, int K,
                       int stride, int pad)
{
    DDM_ASSERT(B > 0 && C > 0 && K > 0 && stride > 0 && pad >= 0 && 2 * pad <= K &&
                   H + 2 * pad >= K && W + 2 * pad >= K,
               "inception_maxpool: bad shape %dx%d K=%d stride=%d pad=%d", H, W, K, stride, pad);
    const int Ho = out_size(H, K, stride, pad), Wo = out_size(W, K, stride, pad);
    const size_t work = (size_t)B * C * Ho * Wo * K * K;
#pragma omp parallel for collapse(2) schedule(static) if (work > INC_PAR_MIN)
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const float *p = in + ((size_t)n * C + c) * H * W;
            float *o = out + ((size_t)n * C + c) * Ho * Wo;
            for (int oy = 0; oy < Ho; oy++) {
                const int y0 = oy * stride - pad, ya = y0 < 0 ? 0 : y0,
                          yb = y0 + K < H ? y0 + K : H;
                for (int ox = 0; ox < Wo; ox++) {
                    const int x0 = ox * stride - pad, xa = x0 < 0 ? 0 : x0,
                              xb = x0 + K < W ? x0 + K : W;
                    float m = -INFINITY;
                    for (int y = ya; y < yb; y++)
                        for (int x = xa; x < xb; x++) {
                            const float v = p[(size_t)y * W + x];
                            if (v > m || isnan(v)) m = v; /* as PyTorch: a NaN sticks */
                        }
                    o[(size_t)oy * Wo + ox] = m;
                }
            }
        }
}

void inception_avgpool(float *out, const float *in, int B, int C, int H, int W, int K,
                       int stride, int pad, int count_include_pad)
{
    DDM_ASSERT(B > 0 && C > 0 && K > 0 && stride > 0 && pad >= 0 && 2 * pad <= K &&
                   H + 2 * pad >= K && W + 2 * pad >= K,
               "inception_avgpool: bad shape %dx%d K=%d stride=%d pad=%d", H, W, K, stride, pad);
    const int Ho = out_size(H, K, stride, pad), Wo = out_size(W, K, stride, pad);
    const size_t work = (size_t)B * C * Ho * Wo * K * K;
#pragma omp parallel for collapse(2) schedule(static) if (work > INC_PAR_MIN)
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const float *p = in + ((size_t)n * C + c) * H * W;
            float *o = out + ((size_t)n * C + c) * Ho * Wo;
            for (int oy = 0; oy < Ho; oy++) {
                /* PyTorch's avg_pool2d: the window clipped to the padded image, then to it */
                const int y0 = oy * stride - pad, yp = y0 + K < H + pad ? y0 + K : H + pad;
                const int ya = y0 < 0 ? 0 : y0, yb = yp < H ? yp : H;
                for (int ox = 0; ox < Wo; ox++) {
                    const int x0 = ox * stride - pad, xp = x0 + K < W + pad ? x0 + K : W + pad;
                    const int xa = x0 < 0 ? 0 : x0, xb = xp < W ? xp : W;
                    const int div = count_include_pad ? (yp - y0) * (xp - x0)
                                                      : (yb - ya) * (xb - xa);
                    float s = 0.0f;
                    for (int y = ya; y < yb; y++)
                        for (int x = xa; x < xb; x++) s += p[(size_t)y * W + x];
                    o[(size_t)oy * Wo + ox] = s / (float)div;
                }
            }
        }
}

void inception_global_avgpool(float *out, const float *in, int B, int C, int HW)
{
#pragma omp parallel for collapse(2) schedule(static) if ((size_t)B * C * HW > INC_PAR_MIN)
    for (int n = 0; n < B; n++)
        for (int c = 0; c < C; c++) {
            const float *p = in + ((size_t)n * C + c) * HW;
            double s = 0.0;
            for (int j = 0; j < HW; j++) s += p[j];
            out[(size_t)n * C + c] = (float)(s / HW);
        }
}

/* ================================================================ non-square conv */

static void kernel_check(int B, int C, int H, int W, int OC, InceptionKernel k)
{
    DDM_ASSERT(B > 0 && C > 0 && H > 0 && W > 0 && OC > 0 && k.kh > 0 && k.kw > 0 && k.sh > 0 &&
                   k.sw > 0 && k.ph >= 0 && k.pw >= 0 && H + 2 * k.ph >= k.kh &&
                   W + 2 * k.pw >= k.kw,
               "inception_conv: bad shape B=%d C=%d %dx%d OC=%d kernel %dx%d stride %d,%d "
               "pad %d,%d", B, C, H, W, OC, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw);
}

/* images per chunk: bounded scratch, monotone in B (scratch for B serves any smaller B) */
static int kconv_chunk(int B, int C, int OC, InceptionKernel k, size_t P)
{
    const size_t per_image = ((size_t)C * k.kh * k.kw + (size_t)OC) * P;
    size_t nb = INC_CHUNK_FLOATS / per_image;
    if (nb < 1) nb = 1;
    if (nb > (size_t)B) nb = (size_t)B;
    return (int)nb;
}

size_t inception_conv_scratch_floats(int B, int C, int H, int W, int OC, InceptionKernel k)
{
    kernel_check(B, C, H, W, OC, k);
    const size_t P = (size_t)out_size(H, k.kh, k.sh, k.ph) * out_size(W, k.kw, k.sw, k.pw);
    const size_t nb = (size_t)kconv_chunk(B, C, OC, k, P);
    return ((size_t)C * k.kh * k.kw + (size_t)OC) * nb * P;
}

/* Inside a parallel region, this thread's part of row-major C (M,N) = A (M,K) B (K,N),
 * split along the longer side (column slices on multiples of 16 floats). No barrier. */
static void part_sgemm(int M, int N, int K, const float *A, const float *Bm, float *Cm)
{
    int T = 1, t = 0;
#ifdef _OPENMP
    T = omp_get_num_threads();
    t = omp_get_thread_num();
#endif
    if (N >= M) {
        int step = (N + T - 1) / T;
        step = (step + 15) / 16 * 16;
        const int n0 = t * step < N ? t * step : N, n1 = n0 + step < N ? n0 + step : N;
        if (n1 > n0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, n1 - n0, K, 1.0f, A, K,
                        Bm + n0, N, 0.0f, Cm + n0, N);
    } else {
        const int step = (M + T - 1) / T;
        const int m0 = t * step < M ? t * step : M, m1 = m0 + step < M ? m0 + step : M;
        if (m1 > m0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1 - m0, N, K, 1.0f,
                        A + (size_t)m0 * K, K, Bm, N, 0.0f, Cm + (size_t)m0 * N, N);
    }
}

/* the conv, with a ReLU fused into the write-out when relu != 0 */
static void kconv_forward(float *out, const float *in, const float *w, const float *b, int B,
                          int C, int H, int W, int OC, InceptionKernel k, float *scratch,
                          int relu)
{
    kernel_check(B, C, H, W, OC, k);
    DDM_ASSERT(scratch, "inception_conv_forward: scratch is NULL");
    const int Ho = out_size(H, k.kh, k.sh, k.ph), Wo = out_size(W, k.kw, k.sw, k.pw);
    const size_t P = (size_t)Ho * Wo, HW = (size_t)H * W;
    const int CKK = C * k.kh * k.kw;
    const int nbmax = kconv_chunk(B, C, OC, k, P);
    const int saved = layers_blas_serial_begin();
    for (int i0 = 0; i0 < B; i0 += nbmax) {
        const int nb = B - i0 < nbmax ? B - i0 : nbmax;
        const size_t ncol = (size_t)nb * P;
        float *col = scratch, *mat = scratch + (size_t)CKK * ncol;
        const float *src = in + (size_t)i0 * C * HW;
#pragma omp parallel
        {
            /* col (CKK, ncol): row (c, ki, kj), column (image, oy, ox) */
#pragma omp for collapse(2) schedule(static)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < nb; i++) {
                    const float *plane = src + ((size_t)i * C + c) * HW;
                    for (int ki = 0; ki < k.kh; ki++)
                        for (int kj = 0; kj < k.kw; kj++) {
                            float *dst = col + ((size_t)(c * k.kh + ki) * k.kw + kj) * ncol +
                                         (size_t)i * P;
                            for (int oy = 0; oy < Ho; oy++) {
                                const int iy = oy * k.sh - k.ph + ki;
                                float *d = dst + (size_t)oy * Wo;
                                if (iy < 0 || iy >= H) {
                                    memset(d, 0, sizeof(float) * (size_t)Wo);
                                    continue;
                                }
                                const float *row = plane + (size_t)iy * W;
                                for (int ox = 0; ox < Wo; ox++) {
                                    const int ix = ox * k.sw - k.pw + kj;
                                    d[ox] = ix >= 0 && ix < W ? row[ix] : 0.0f;
                                }
                            }
                        }
                }
            /* mat (OC, ncol) = W (OC, CKK) col */
            part_sgemm(OC, (int)ncol, CKK, w, col, mat);
#pragma omp barrier
#pragma omp for collapse(2) schedule(static)
            for (int i = 0; i < nb; i++)
                for (int oc = 0; oc < OC; oc++) {
                    float *d = out + ((size_t)(i0 + i) * OC + oc) * P;
                    const float *m = mat + (size_t)oc * ncol + (size_t)i * P;
                    const float bv = b ? b[oc] : 0.0f;
                    if (relu)
                        for (size_t p = 0; p < P; p++) d[p] = m[p] + bv > 0.0f ? m[p] + bv : 0.0f;
                    else
                        for (size_t p = 0; p < P; p++) d[p] = m[p] + bv;
                }
        }
    }
    layers_blas_serial_end(saved);
}

void inception_conv_forward(float *out, const float *in, const float *w, const float *b,
                            int B, int C, int H, int W, int OC, InceptionKernel k,
                            float *scratch)
{
    kconv_forward(out, in, w, b, B, C, H, W, OC, k, scratch, 0);
}

void inception_conv_forward_ref(float *out, const float *in, const float *w, const float *b,
                                int B, int C, int H, int W, int OC, InceptionKernel k)
{
    kernel_check(B, C, H, W, OC, k);
    const int Ho = out_size(H, k.kh, k.sh, k.ph), Wo = out_size(W, k.kw, k.sw, k.pw);
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double s = b ? b[oc] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < k.kh; ki++)
                            for (int kj = 0; kj < k.kw; kj++) {
                                const int iy = oy * k.sh - k.ph + ki, ix = ox * k.sw - k.pw + kj;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += (double)in[(((size_t)n * C + c) * H + iy) * W + ix] *
                                     w[(((size_t)oc * C + c) * k.kh + ki) * k.kw + kj];
                            }
                    out[(((size_t)n * OC + oc) * Ho + oy) * Wo + ox] = (float)s;
                }
}

/* ================================================================ the forward */

static size_t conv_in_floats(const IncConv *c) { return (size_t)c->cin * c->h * c->w; }
static size_t conv_out_floats(const IncConv *c) { return (size_t)c->cout * c->ho * c->wo; }
static int conv_is_square(const IncConv *c)
{
    return c->k.kh == c->k.kw && c->k.sh == c->k.sw && c->k.ph == c->k.pw;
}

static void buf_alloc(IncBuf *b, size_t n)
{
    free(b->p);
    b->p = xalloc_floats(n ? n : 1);
    b->cap = n;
}

/* work buffers for nb images (kept when already large enough) */
static void ws_reserve(Inception *n, int nb)
{
    if (nb <= n->ws_batch) return;
    size_t act = 0, tmp = 0, scr = 0;
    for (int i = 0; i < n->n_conv; i++) {
        const IncConv *c = &n->conv[i];
        const size_t a = conv_in_floats(c) > conv_out_floats(c) ? conv_in_floats(c)
                                                                : conv_out_floats(c);
        if (a > act) act = a;
        if (i >= n->block[0] && a > tmp) tmp = a; /* inside Mixed blocks */
        const size_t s = conv_is_square(c)
                             ? conv2d_scratch_floats(nb, c->cin, c->h, c->w, c->cout, c->k.kh,
                                                     c->k.sh, c->k.ph)
                             : inception_conv_scratch_floats(nb, c->cin, c->h, c->w, c->cout,
                                                             c->k);
        if (s > scr) scr = s;
    }
    const size_t in = 3 * (size_t)INCEPTION_SIZE * INCEPTION_SIZE;
    if (in > act) act = in;
    buf_alloc(&n->x, act * nb);
    buf_alloc(&n->y, act * nb);
    buf_alloc(&n->t1, tmp * nb);
    buf_alloc(&n->t2, tmp * nb);
    buf_alloc(&n->scratch, scr);
    n->ws_batch = nb;
}

/* out = relu(bn(conv(in))) with the folded weights, for B images */
static void conv_bn_relu(Inception *n, const IncConv *c, IncBuf *out, const float *in, int B)
{
    const size_t m = (size_t)B * conv_out_floats(c);
    DDM_ASSERT(m <= out->cap, "inception: %s: output of %zu floats in a buffer of %zu", c->name,
               m, out->cap);
    const float *w = n->params + n->tensor[c->t].offset;
    const float *b = n->params + n->tensor[c->t + 2].offset; /* folded bias */
    if (!conv_is_square(c)) {
        kconv_forward(out->p, in, w, b, B, c->cin, c->h, c->w, c->cout, c->k, n->scratch.p, 1);
        return;
    }
    conv2d_forward(out->p, in, w, b, B, c->cin, c->h, c->w, c->cout, c->k.kh, c->k.sh,
                   c->k.ph, n->scratch.p);
    /* one thread: memory-bound and short (~0.5 ms for the largest), where a parallel
     * region on shared cores cost ~3 ms at each of the 94 convs */
    float *o = out->p;
#pragma omp simd
    for (size_t j = 0; j < m; j++) o[j] = o[j] > 0.0f ? o[j] : 0.0f;
}

/* channels [coff, coff+C) of dst (B,Ctot,HW) = src (B,C,HW) */
static void put(IncBuf *dst, int Ctot, int coff, const float *src, int B, int C, int HW)
{
    DDM_ASSERT((size_t)B * Ctot * HW <= dst->cap && coff + C <= Ctot,
               "inception: concat out of bounds");
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW > INC_PAR_MIN)
    for (int i = 0; i < B; i++)
        memcpy(dst->p + ((size_t)i * Ctot + coff) * HW, src + (size_t)i * C * HW,
               sizeof(float) * (size_t)C * HW);
}

static void pool_check(const IncBuf *dst, size_t m)
{
    DDM_ASSERT(m <= dst->cap, "inception: pool output of %zu floats in a buffer of %zu", m,
               dst->cap);
}

/* FIDInceptionA (Mixed_5b/c/d): [1x1 64 | 1x1 48, 5x5 64 | 1x1 64, 3x3 96, 3x3 96 |
 * avgpool 3/1/1 (count_include_pad=False), 1x1 pf] */
static void block_a(Inception *n, const IncConv *c, IncBuf *out, const float *x, int B)
{
    const int S = c[0].h, HW = S * S, pf = c[6].cout, Ct = 64 + 64 + 96 + pf;
    IncBuf *t1 = &n->t1, *t2 = &n->t2;
    conv_bn_relu(n, &c[0], t1, x, B);
    put(out, Ct, 0, t1->p, B, 64, HW);
    conv_bn_relu(n, &c[1], t1, x, B);
    conv_bn_relu(n, &c[2], t2, t1->p, B);
    put(out, Ct, 64, t2->p, B, 64, HW);
    conv_bn_relu(n, &c[3], t1, x, B);
    conv_bn_relu(n, &c[4], t2, t1->p, B);
    conv_bn_relu(n, &c[5], t1, t2->p, B);
    put(out, Ct, 128, t1->p, B, 96, HW);
    pool_check(t1, (size_t)B * c[0].cin * HW);
    inception_avgpool(t1->p, x, B, c[0].cin, S, S, 3, 1, 1, 0);
    conv_bn_relu(n, &c[6], t2, t1->p, B);
    put(out, Ct, 224, t2->p, B, pf, HW);
}

/* InceptionB (Mixed_6a), 35 -> 17: [3x3/2 384 | 1x1 64, 3x3 96, 3x3/2 96 | maxpool 3/2] */
static void block_b(Inception *n, const IncConv *c, IncBuf *out, const float *x, int B)
{
    const int S = c[0].h, So = c[0].ho, HWo = So * So, Cin = c[0].cin, Ct = 384 + 96 + Cin;
    IncBuf *t1 = &n->t1, *t2 = &n->t2;
    conv_bn_relu(n, &c[0], t1, x, B);
    put(out, Ct, 0, t1->p, B, 384, HWo);
    conv_bn_relu(n, &c[1], t1, x, B);
    conv_bn_relu(n, &c[2], t2, t1->p, B);
    conv_bn_relu(n, &c[3], t1, t2->p, B);
    put(out, Ct, 384, t1->p, B, 96, HWo);
    pool_check(t1, (size_t)B * Cin * HWo);
    inception_maxpool(t1->p, x, B, Cin, S, S, 3, 2, 0);
    put(out, Ct, 480, t1->p, B, Cin, HWo);
}

/* FIDInceptionC (Mixed_6b..e): [1x1 192 | 1x1 c7, 1x7 c7, 7x1 192 | 1x1 c7, 7x1 c7, 1x7 c7,
 * 7x1 c7, 1x7 192 | avgpool 3/1/1 (count_include_pad=False), 1x1 192] */
static void block_c(Inception *n, const IncConv *c, IncBuf *out, const float *x, int B)
{
    const int S = c[0].h, HW = S * S, Ct = 4 * 192;
    IncBuf *t1 = &n->t1, *t2 = &n->t2;
    conv_bn_relu(n, &c[0], t1, x, B);
    put(out, Ct, 0, t1->p, B, 192, HW);
    conv_bn_relu(n, &c[1], t1, x, B);
    conv_bn_relu(n, &c[2], t2, t1->p, B);
    conv_bn_relu(n, &c[3], t1, t2->p, B);
    put(out, Ct, 192, t1->p, B, 192, HW);
    conv_bn_relu(n, &c[4], t1, x, B);
    conv_bn_relu(n, &c[5], t2, t1->p, B);
    conv_bn_relu(n, &c[6], t1, t2->p, B);
    conv_bn_relu(n, &c[7], t2, t1->p, B);
    conv_bn_relu(n, &c[8], t1, t2->p, B);
    put(out, Ct, 384, t1->p, B, 192, HW);
    pool_check(t1, (size_t)B * c[0].cin * HW);
    inception_avgpool(t1->p, x, B, c[0].cin, S, S, 3, 1, 1, 0);
    conv_bn_relu(n, &c[9], t2, t1->p, B);
    put(out, Ct, 576, t2->p, B, 192, HW);
}

/* InceptionD (Mixed_7a), 17 -> 8: [1x1 192, 3x3/2 320 | 1x1 192, 1x7 192, 7x1 192,
 * 3x3/2 192 | maxpool 3/2] */
static void block_d(Inception *n, const IncConv *c, IncBuf *out, const float *x, int B)
{
    const int S = c[0].h, So = c[1].ho, HWo = So * So, Cin = c[0].cin, Ct = 320 + 192 + Cin;
    IncBuf *t1 = &n->t1, *t2 = &n->t2;
    conv_bn_relu(n, &c[0], t1, x, B);
    conv_bn_relu(n, &c[1], t2, t1->p, B);
    put(out, Ct, 0, t2->p, B, 320, HWo);
    conv_bn_relu(n, &c[2], t1, x, B);
    conv_bn_relu(n, &c[3], t2, t1->p, B);
    conv_bn_relu(n, &c[4], t1, t2->p, B);
    conv_bn_relu(n, &c[5], t2, t1->p, B);
    put(out, Ct, 320, t2->p, B, 192, HWo);
    pool_check(t1, (size_t)B * Cin * HWo);
    inception_maxpool(t1->p, x, B, Cin, S, S, 3, 2, 0);
    put(out, Ct, 512, t1->p, B, Cin, HWo);
}

/* FIDInceptionE_1 (Mixed_7b, avgpool count_include_pad=False) and FIDInceptionE_2
 * (Mixed_7c, maxpool): [1x1 320 | 1x1 384, (1x3 384 | 3x1 384) | 1x1 448, 3x3 384,
 * (1x3 384 | 3x1 384) | pool 3/1/1, 1x1 192] */
static void block_e(Inception *n, const IncConv *c, IncBuf *out, const float *x, int B,
                    int max_pool)
{
    const int S = c[0].h, HW = S * S, Cin = c[0].cin, Ct = 320 + 4 * 384 + 192;
    IncBuf *t1 = &n->t1, *t2 = &n->t2;
    conv_bn_relu(n, &c[0], t1, x, B);
    put(out, Ct, 0, t1->p, B, 320, HW);
    conv_bn_relu(n, &c[1], t1, x, B);
    conv_bn_relu(n, &c[2], t2, t1->p, B);
    put(out, Ct, 320, t2->p, B, 384, HW);
    conv_bn_relu(n, &c[3], t2, t1->p, B);
    put(out, Ct, 704, t2->p, B, 384, HW);
    conv_bn_relu(n, &c[4], t1, x, B);
    conv_bn_relu(n, &c[5], t2, t1->p, B);
    conv_bn_relu(n, &c[6], t1, t2->p, B);
    put(out, Ct, 1088, t1->p, B, 384, HW);
    conv_bn_relu(n, &c[7], t1, t2->p, B);
    put(out, Ct, 1472, t1->p, B, 384, HW);
    pool_check(t1, (size_t)B * Cin * HW);
    if (max_pool)
        inception_maxpool(t1->p, x, B, Cin, S, S, 3, 1, 1);
    else
        inception_avgpool(t1->p, x, B, Cin, S, S, 3, 1, 1, 0);
    conv_bn_relu(n, &c[8], t2, t1->p, B);
    put(out, Ct, 1856, t2->p, B, 192, HW);
}

/* B <= ws_batch images x (B,3,299,299) (may be n->y) -> feat (B,2048) */
static void forward_chunk(Inception *n, float *feat, const float *x, int B)
{
    const IncConv *c = n->conv;
    IncBuf *X = &n->x, *Y = &n->y;
    conv_bn_relu(n, &c[0], X, x, B);    /* 32 x 149 x 149 */
    conv_bn_relu(n, &c[1], Y, X->p, B); /* 32 x 147 x 147 */
    conv_bn_relu(n, &c[2], X, Y->p, B); /* 64 x 147 x 147 */
    pool_check(Y, (size_t)B * 64 * 73 * 73);
    inception_maxpool(Y->p, X->p, B, 64, 147, 147, 3, 2, 0); /* 64 x 73 x 73 */
    conv_bn_relu(n, &c[3], X, Y->p, B);                     /* 80 x 73 x 73 */
    conv_bn_relu(n, &c[4], Y, X->p, B);                     /* 192 x 71 x 71 */
    pool_check(X, (size_t)B * 192 * 35 * 35);
    inception_maxpool(X->p, Y->p, B, 192, 71, 71, 3, 2, 0); /* 192 x 35 x 35 */
    /* Mixed blocks alternate X -> Y -> X ... */
    IncBuf *in = X, *out = Y;
    for (int k = 0; k < INC_NBLOCK; k++) {
        const IncConv *bc = n->conv + n->block[k];
        if (k < 3)
            block_a(n, bc, out, in->p, B);
        else if (k == 3)
            block_b(n, bc, out, in->p, B);
        else if (k < 8)
            block_c(n, bc, out, in->p, B);
        else if (k == 8)
            block_d(n, bc, out, in->p, B);
        else
            block_e(n, bc, out, in->p, B, k == 10);
        IncBuf *t = in;
        in = out;
        out = t;
    }
    inception_global_avgpool(feat, in->p, B, INCEPTION_DIM, 8 * 8);
}

void inception_set_max_batch(Inception *n, int nb)
{
    DDM_ASSERT(nb > 0, "inception_set_max_batch: %d", nb);
    n->max_batch = nb;
}

void inception_forward(Inception *n, float *feat, const float *x, int B)
{
    DDM_ASSERT(n->prepared, "inception_forward: weights not prepared (inception_prepare)");
    DDM_ASSERT(B > 0, "inception_forward: B = %d", B);
    const int nbmax = B < n->max_batch ? B : n->max_batch;
    ws_reserve(n, nbmax);
    const size_t in = 3 * (size_t)INCEPTION_SIZE * INCEPTION_SIZE;
    for (int i0 = 0; i0 < B; i0 += nbmax) {
        const int nb = B - i0 < nbmax ? B - i0 : nbmax;
        forward_chunk(n, feat + (size_t)i0 * INCEPTION_DIM, x + (size_t)i0 * in, nb);
    }
}

void inception_features(Inception *n, float *feat, const uint8_t *img, int B, int C, int H,
                        int W)
{
    DDM_ASSERT(n->prepared, "inception_features: weights not prepared (inception_prepare)");
    DDM_ASSERT(C == 1 || C == 3, "inception: images must have 1 or 3 channels, not %d", C);
    DDM_ASSERT(B > 0 && H > 0 && W > 0, "inception: bad image shape %dx%dx%dx%d", B, C, H, W);
    const int nbmax = B < n->max_batch ? B : n->max_batch;
    ws_reserve(n, nbmax);
    const size_t HW = (size_t)H * W;
    if ((size_t)nbmax * C * HW > n->plane_cap) {
        free(n->plane);
        n->plane_cap = (size_t)nbmax * C * HW;
        n->plane = xalloc_floats(n->plane_cap);
    }
    for (int i0 = 0; i0 < B; i0 += nbmax) {
        const int nb = B - i0 < nbmax ? B - i0 : nbmax;
        /* the input goes to y: the first conv reads it and writes x */
        inception_input(n->y.p, img + (size_t)i0 * C * HW, nb, C, H, W, n->plane);
        forward_chunk(n, feat + (size_t)i0 * INCEPTION_DIM, n->y.p, nb);
    }
}
