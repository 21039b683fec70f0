/* conv2d: forward and backward lowered to OpenBLAS sgemm, and plain-loop references.
 *
 * B = batch, C = input channels, OC = output channels, H, W = input height, width,
 * Ho, Wo = output height, width, K = kernel size, CKK = C*K*K, P = Ho*Wo,
 * nb = images per chunk, ncol = nb*P.
 *
 * Three paths, chosen by shape (the same choice in conv2d_scratch_floats):
 *  - 3x3 stride 1, >= 16 channels in and out, output >= 16 wide: Winograd F(2x2,3x3),
 *    below; 2.25x fewer flops than im2col, all of them still in sgemm. Most of the
 *    U-Net's conv flops (its 32x32 and 16x16 levels).
 *  - 1x1 stride 1 unpadded on large images (P >= CONV_DIRECT_MIN_P): one GEMM per image
 *    straight on the NCHW arrays, no scratch.
 *  - everything else (stride 2, first and last convs with 1 channel, ...): im2col.
 *    The batch is processed in chunks of nb images so that every GEMM is large (its
 *    long side is ncol = nb*P, not P, which matters at 8x8 and 16x16) while the scratch
 *    stays bounded:
 *      col  (CKK, ncol)  im2col of the chunk; in the backward it is reused for dcol
 *      mat  (OC, ncol)   forward: W x col before it is scattered to (nb, OC, P) with
 *                        bias; backward: the chunk of dout gathered to (OC, ncol)
 *    forward:  mat = W (OC,CKK) x col                     then scatter + bias
 *    backward: dw += mat x col^T (beta = 1);  col = W^T x mat;  din += col2im(col)
 * Scratch: conv2d_scratch_floats() <= CONV_CHUNK_FLOATS (1M floats, 4 MB) plus, for
 * Winograd, 32*OC*C; at least one image's worth when a single image needs more.
 *
 * Threads: all the parallelism is OpenMP's. Each chunk runs in one parallel region in
 * which every thread does its share of im2col, of each GEMM (a slice of its rows or
 * columns, through a single-threaded OpenBLAS call) and of the scatter / col2im.
 * OpenBLAS is switched to one thread for the duration of a call and restored after:
 * alternating OpenMP loops with OpenBLAS's own pthreads makes the two thread pools
 * spin against each other (libgomp busy-waits after a region, OpenBLAS workers after a
 * GEMM), which on 2 cores halved the speed of a 3x3 conv (and cut some 1x1 shapes 20x).
 */
#include "core/layers.h"

#include <cblas.h>
#include <string.h>

#include "core/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Floats of scratch a chunk may use: 1M floats = 4 MB. A chunk's transformed data is
 * written and read back at once, so it should stay in cache: with 2M or 4M floats the
 * 3x3 C=OC=64 32x32 conv ran 5% and 25-40% slower (one thread; 512K was as fast as 1M),
 * while 1M still gives each GEMM >= 256 columns per thread at 2 threads. Nodes with many
 * more threads per process may want more: build with -DCONV_CHUNK_FLOATS=... */
#ifndef CONV_CHUNK_FLOATS
#define CONV_CHUNK_FLOATS ((size_t)1 << 20)
#endif
/* 1x1 convs with at least this many positions per image use per-image GEMMs */
#define CONV_DIRECT_MIN_P 256

static int conv_out_size(int H, int K, int stride, int pad)
{
    return (H + 2 * pad - K) / stride + 1;
}

static void conv_check(int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
    DDM_ASSERT(B > 0 && C > 0 && H > 0 && W > 0 && OC > 0 && K > 0 && stride > 0 && pad >= 0,
               "conv2d: bad shape B=%d C=%d H=%d W=%d OC=%d K=%d stride=%d pad=%d",
               B, C, H, W, OC, K, stride, pad);
    DDM_ASSERT(H + 2 * pad >= K && W + 2 * pad >= K,
               "conv2d: kernel %d larger than padded input %dx%d (pad %d)", K, H, W, pad);
}

/* images per chunk; monotone in B, so scratch sized for B serves any smaller batch */
static int conv_chunk(int B, int C, int OC, int K, int P)
{
    size_t per_image = ((size_t)C * K * K + (size_t)OC) * (size_t)P;
    size_t nb = CONV_CHUNK_FLOATS / per_image;
    if (nb < 1) nb = 1;
    if (nb > (size_t)B) nb = (size_t)B;
    return (int)nb;
}

/* a conv with fewer multiply-adds than this runs on one thread: forking would cost more,
 * and on a shared, oversubscribed machine each fork/join can cost a time slice */
#define CONV_PAR_MIN_MACS 4e6

static int conv_par(int B, int C, int OC, int K, size_t P)
{
    return (double)B * C * OC * K * K * (double)P >= CONV_PAR_MIN_MACS;
}

static int conv_is_direct(int K, int stride, int pad, int P)
{
    return K == 1 && stride == 1 && pad == 0 && P >= CONV_DIRECT_MIN_P;
}

/* Inside a parallel region: this thread's part of the row-major
 * C (M,N) = alpha op(A) op(B) + beta C, split along the longer of M and N (column slices
 * start on multiples of 16 floats). No barrier. */
static void par_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *Bm, int ldb, float beta, float *Cm, int ldc)
{
    int T = 1, t = 0;
#ifdef _OPENMP
    T = omp_get_num_threads();
    t = omp_get_thread_num();
#endif
    const enum CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE opb = tb ? CblasTrans : CblasNoTrans;
    if (N >= M) {
        int step = (N + T - 1) / T;
        step = (step + 15) / 16 * 16;
        const int n0 = t * step < N ? t * step : N;
        const int n1 = n0 + step < N ? n0 + step : N;
        if (n1 <= n0) return;
        const float *Bp = tb ? Bm + (size_t)n0 * ldb : Bm + n0;
        cblas_sgemm(CblasRowMajor, opa, opb, M, n1 - n0, K, alpha, A, lda, Bp, ldb, beta,
                    Cm + n0, ldc);
    } else {
        const int step = (M + T - 1) / T;
        const int m0 = t * step < M ? t * step : M;
        const int m1 = m0 + step < M ? m0 + step : M;
        if (m1 <= m0) return;
        const float *Ap = ta ? A + m0 : A + (size_t)m0 * lda;
        cblas_sgemm(CblasRowMajor, opa, opb, m1 - m0, N, K, alpha, Ap, lda, Bm, ldb, beta,
                    Cm + (size_t)m0 * ldc, ldc);
    }
}

/* ================================================================ Winograd F(2x2, 3x3)
 * (Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural Networks", sec. 4.1-4.2)
 * for 3x3 stride-1 convs: each 2x2 output tile comes from a 4x4 input tile d as
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]      A^T = [1 1 1 0; 0 1 -1 -1]
 * Taking each of the 16 positions xi of the transformed tiles as its own matrix, the sums
 * over input channels become 16 GEMMs
 *   M[xi] (Cout, T) = U[xi] (Cout, Cin) V[xi] (Cin, T),   T = tiles of the chunk,
 * with 16/4 = 4 multiplications per output instead of 9 (2.25x fewer flops).
 *   backward data:    the same conv of dout with the kernel rotated 180 degrees and its
 *                     channel axes swapped, pad' = 2 - pad, added into din;
 *   backward weights: dU[xi] += (A dY A^T)[xi] V[xi]^T over all tiles, dw += G^T dU G.
 * All transform constants are 0, +-1, +-1/2: the rounding error stays close to that of
 * the direct sum (~1e-6 of the output scale in tests/test_layers.c).
 * Threads split the tile rows (image, ty). Forward and backward data run in one parallel
 * region each: after the weight transform every thread transforms, multiplies and writes
 * back its own tile rows, piece by piece in its own slice of the scratch, with no further
 * synchronisation (few sync points also keep an oversubscribed machine from stalling us).
 * Backward weights: chunks of images side by side; per chunk a barrier after the
 * transforms and one after the 16 GEMMs (one xi per thread).
 * Scratch: U (16 OC C), dU (16 OC C), then an area of about CONV_CHUNK_FLOATS (at least
 * one image's V (16 Cin tiles) and M (16 Cout tiles)). */

#define WINO_MAX_TW 1024 /* tiles per row a stack row buffer holds (images <= 2048 wide) */
#define WINO_MIN_CH 16   /* with fewer input or output channels the GEMMs are too thin */
/* Narrower outputs go to im2col: a tile row is then a handful of tiles and the
 * transforms' per-row overhead eats the gain (at 8x8 the backward ran 10% slower). */
#define WINO_MIN_WO 16

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CONV_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define CONV_CLONES
#endif

static int wino_ok(int C, int H, int W, int OC, int K, int stride, int pad)
{
    return K == 3 && stride == 1 && pad <= 2 && C >= WINO_MIN_CH && OC >= WINO_MIN_CH &&
           W + 2 * pad - 2 >= WINO_MIN_WO && (W + 2 * pad - 1) / 2 <= WINO_MAX_TW &&
           (W + 1) / 2 <= WINO_MAX_TW && H > 0;
}

/* tiles per image, the larger of the forward's (output Ho x Wo) and the backward data
 * pass's (output H x W) */
static size_t wino_tiles(int H, int W, int pad)
{
    const int Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2;
    const size_t f = (size_t)((Ho + 1) / 2) * (size_t)((Wo + 1) / 2);
    const size_t d = (size_t)((H + 1) / 2) * (size_t)((W + 1) / 2);
    return f > d ? f : d;
}

static int wino_chunk(int B, int C, int OC, int H, int W, int pad)
{
    const size_t per_image = 16 * ((size_t)C + (size_t)OC) * wino_tiles(H, W, pad);
    size_t nb = CONV_CHUNK_FLOATS / per_image;
    if (nb < 1) nb = 1;
    if (nb > (size_t)B) nb = (size_t)B;
    return (int)nb;
}

static size_t wino_scratch(int B, int C, int H, int W, int OC, int pad)
{
    const size_t nb = (size_t)wino_chunk(B, C, OC, H, W, pad);
    return 32 * (size_t)OC * C + 16 * ((size_t)C + (size_t)OC) * nb * wino_tiles(H, W, pad);
}

/* this thread's share [r0, r1) of R tile rows */
static void wino_rows(int R, int *r0, int *r1)
{
    int T = 1, t = 0;
#ifdef _OPENMP
    T = omp_get_num_threads();
    t = omp_get_thread_num();
#endif
    *r0 = (int)((long long)R * t / T);
    *r1 = (int)((long long)R * (t + 1) / T);
}

/* V[(xi Cin + c) T + t] = (B^T d B)[xi] for the tiles of tile rows [r0, r1). Tile row r
 * is image r / TH, tile row ty = r % TH; the buffer starts at tile row rb, so the tiles
 * of row r are t = (r - rb) TW + tx. */
CONV_CLONES static void wino_in_k(float *V, const float *in, int Cin, int H, int W, int pad,
                                  int TH, int TW, size_t T, int rb, int r0, int r1)
{
    const int Wb = 2 * TW + 2; /* buffer column bx holds input column bx - pad */
    float b[4][2 * WINO_MAX_TW + 2], t[4][2 * WINO_MAX_TW + 2];
    const int n = W < Wb - pad ? W : Wb - pad;
    for (int r = r0; r < r1; r++) {
        const int i = r / TH, ty = r % TH;
        const size_t base = (size_t)(r - rb) * TW;
        for (int c = 0; c < Cin; c++) {
            const float *plane = in + ((size_t)i * Cin + c) * H * W;
            for (int k = 0; k < 4; k++) {
                const int iy = 2 * ty - pad + k;
                if (iy < 0 || iy >= H) {
                    memset(b[k], 0, sizeof(float) * (size_t)Wb);
                    continue;
                }
                memset(b[k], 0, sizeof(float) * (size_t)pad);
                memcpy(b[k] + pad, plane + (size_t)iy * W, sizeof(float) * (size_t)n);
                memset(b[k] + pad + n, 0, sizeof(float) * (size_t)(Wb - pad - n));
            }
            /* B^T along y */
#pragma omp simd
            for (int x = 0; x < Wb; x++) {
                t[0][x] = b[0][x] - b[2][x];
                t[1][x] = b[1][x] + b[2][x];
                t[2][x] = b[2][x] - b[1][x];
                t[3][x] = b[1][x] - b[3][x];
            }
            /* B along x, one tile per tx */
            for (int k = 0; k < 4; k++) {
                const float *tk = t[k];
                float *v0 = V + ((size_t)(4 * k + 0) * Cin + c) * T + base;
                float *v1 = V + ((size_t)(4 * k + 1) * Cin + c) * T + base;
                float *v2 = V + ((size_t)(4 * k + 2) * Cin + c) * T + base;
                float *v3 = V + ((size_t)(4 * k + 3) * Cin + c) * T + base;
#pragma omp simd
                for (int tx = 0; tx < TW; tx++) {
                    v0[tx] = tk[2 * tx] - tk[2 * tx + 2];
                    v1[tx] = tk[2 * tx + 1] + tk[2 * tx + 2];
                    v2[tx] = tk[2 * tx + 2] - tk[2 * tx + 1];
                    v3[tx] = tk[2 * tx + 1] - tk[2 * tx + 3];
                }
            }
        }
    }
}

/* Output tiles Y = A^T M A of tile rows [r0, r1) (buffer from tile row rb), cropped to
 * Hout x Wout, plus bias: written, or added when accumulate */
CONV_CLONES static void wino_out_k(float *out, const float *M, const float *bias,
                                   int accumulate, int Cout, int Hout, int Wout, int TH, int TW,
                                   size_t T, int rb, int r0, int r1)
{
    float y[2][2 * WINO_MAX_TW];
    for (int r = r0; r < r1; r++) {
        const int i = r / TH, ty = r % TH;
        const size_t base = (size_t)(r - rb) * TW;
        for (int oc = 0; oc < Cout; oc++) {
            const float *m[16];
            for (int xi = 0; xi < 16; xi++) m[xi] = M + ((size_t)xi * Cout + oc) * T + base;
#pragma omp simd
            for (int tx = 0; tx < TW; tx++) {
                /* A along x for each of the 4 rows, then A^T along y */
                const float s00 = m[0][tx] + m[1][tx] + m[2][tx];
                const float s01 = m[1][tx] - m[2][tx] - m[3][tx];
                const float s10 = m[4][tx] + m[5][tx] + m[6][tx];
                const float s11 = m[5][tx] - m[6][tx] - m[7][tx];
                const float s20 = m[8][tx] + m[9][tx] + m[10][tx];
                const float s21 = m[9][tx] - m[10][tx] - m[11][tx];
                const float s30 = m[12][tx] + m[13][tx] + m[14][tx];
                const float s31 = m[13][tx] - m[14][tx] - m[15][tx];
                y[0][2 * tx] = s00 + s10 + s20;
                y[0][2 * tx + 1] = s01 + s11 + s21;
                y[1][2 * tx] = s10 - s20 - s30;
                y[1][2 * tx + 1] = s11 - s21 - s31;
            }
            const float bv = bias ? bias[oc] : 0.0f;
            for (int a = 0; a < 2; a++) {
                const int oy = 2 * ty + a;
                if (oy >= Hout) break;
                float *dst = out + (((size_t)i * Cout + oc) * Hout + oy) * Wout;
                const float *ya = y[a];
                if (accumulate) {
#pragma omp simd
                    for (int x = 0; x < Wout; x++) dst[x] += ya[x] + bv;
                } else {
#pragma omp simd
                    for (int x = 0; x < Wout; x++) dst[x] = ya[x] + bv;
                }
            }
        }
    }
}

/* Mb[(xi OC + oc) T + t] = (A dY A^T)[xi] for the tiles of tile rows [r0, r1) (buffer
 * from tile row rb), dY the 2x2 block of dout at the tile (zero past Ho x Wo) */
CONV_CLONES static void wino_dy_k(float *Mb, const float *dout, int OC, int Ho, int Wo, int TH,
                                  int TW, size_t T, int rb, int r0, int r1)
{
    float z[2][2 * WINO_MAX_TW], a[4][2 * WINO_MAX_TW];
    const int Wz = 2 * TW;
    for (int r = r0; r < r1; r++) {
        const int i = r / TH, ty = r % TH;
        const size_t base = (size_t)(r - rb) * TW;
        for (int oc = 0; oc < OC; oc++) {
            const float *plane = dout + ((size_t)i * OC + oc) * Ho * Wo;
            for (int k = 0; k < 2; k++) {
                const int oy = 2 * ty + k;
                if (oy >= Ho) {
                    memset(z[k], 0, sizeof(float) * (size_t)Wz);
                    continue;
                }
                memcpy(z[k], plane + (size_t)oy * Wo, sizeof(float) * (size_t)Wo);
                memset(z[k] + Wo, 0, sizeof(float) * (size_t)(Wz - Wo));
            }
            /* A along y */
#pragma omp simd
            for (int x = 0; x < Wz; x++) {
                a[0][x] = z[0][x];
                a[1][x] = z[0][x] + z[1][x];
                a[2][x] = z[0][x] - z[1][x];
                a[3][x] = -z[1][x];
            }
            /* A^T along x */
            for (int k = 0; k < 4; k++) {
                const float *ak = a[k];
                float *m0 = Mb + ((size_t)(4 * k + 0) * OC + oc) * T + base;
                float *m1 = Mb + ((size_t)(4 * k + 1) * OC + oc) * T + base;
                float *m2 = Mb + ((size_t)(4 * k + 2) * OC + oc) * T + base;
                float *m3 = Mb + ((size_t)(4 * k + 3) * OC + oc) * T + base;
#pragma omp simd
                for (int tx = 0; tx < TW; tx++) {
                    const float p = ak[2 * tx], q = ak[2 * tx + 1];
                    m0[tx] = p;
                    m1[tx] = p + q;
                    m2[tx] = p - q;
                    m3[tx] = -q;
                }
            }
        }
    }
}

/* U[(xi Cout + co) Cin + ci] = (G g G^T)[xi]. Forward: Cout = OC, Cin = C, g = w[co][ci].
 * Backward data (rotate): Cout = C, Cin = OC, g = w[ci][co] turned 180 degrees.
 * Work-shared over the rows of U: call inside a parallel region. */
static void wino_weights(float *U, const float *w, int OC, int C, int rotate)
{
    const int Cout = rotate ? C : OC, Cin = rotate ? OC : C;
#pragma omp for collapse(2) schedule(static)
    for (int co = 0; co < Cout; co++)
        for (int ci = 0; ci < Cin; ci++) {
            const float *src =
                rotate ? w + ((size_t)ci * C + co) * 9 : w + ((size_t)co * C + ci) * 9;
            float g[3][3], h[4][3];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    g[a][b] = rotate ? src[(2 - a) * 3 + (2 - b)] : src[a * 3 + b];
            for (int b = 0; b < 3; b++) { /* G along y */
                h[0][b] = g[0][b];
                h[1][b] = 0.5f * (g[0][b] + g[1][b] + g[2][b]);
                h[2][b] = 0.5f * (g[0][b] - g[1][b] + g[2][b]);
                h[3][b] = g[2][b];
            }
            for (int k = 0; k < 4; k++) { /* G^T along x */
                float *u = U + ((size_t)(4 * k) * Cout + co) * Cin + ci;
                const size_t step = (size_t)Cout * Cin;
                u[0] = h[k][0];
                u[step] = 0.5f * (h[k][0] + h[k][1] + h[k][2]);
                u[2 * step] = 0.5f * (h[k][0] - h[k][1] + h[k][2]);
                u[3 * step] = h[k][2];
            }
        }
}

/* out (B, Cout, Hout, Wout) =, or +=, the 3x3 conv of in (B, Cin, Hin, Win) with pad:
 * one parallel region. U (16, Cout, Cin) is transformed from w first (rotated for the
 * backward data pass); then each thread takes a contiguous share of the B*TH tile rows
 * and walks it in pieces that fit its own slice of the area (V, then M), with no
 * further synchronisation. */
static void wino_pass(float *out, const float *in, float *U, const float *w, int rotate,
                      const float *bias, int accumulate, int B, int Cin, int Hin, int Win,
                      int Cout, int pad, float *area, size_t area_floats)
{
    const int Hout = Hin + 2 * pad - 2, Wout = Win + 2 * pad - 2;
    const int TH = (Hout + 1) / 2, TW = (Wout + 1) / 2, R = B * TH;
    const size_t row_floats = 16 * ((size_t)Cin + (size_t)Cout) * (size_t)TW;
    /* the area holds at least one image's tile rows; no more threads than rows fit */
    int nthr = 1;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    if ((size_t)nthr > area_floats / row_floats) nthr = (int)(area_floats / row_floats);
    if (!conv_par(B, Cin, Cout, 3, (size_t)Hout * Wout) || nthr < 1) nthr = 1;
#pragma omp parallel num_threads(nthr)
    {
        wino_weights(U, w, rotate ? Cin : Cout, rotate ? Cout : Cin, rotate);
        int T = 1, t = 0, r0, r1;
#ifdef _OPENMP
        T = omp_get_num_threads();
        t = omp_get_thread_num();
#endif
        const size_t slice = area_floats / (size_t)T;
        const int rows = (int)(slice / row_floats);
        float *V = area + (size_t)t * slice;
        wino_rows(R, &r0, &r1);
        for (int ra = r0; ra < r1; ra += rows) {
            const int rz = ra + rows < r1 ? ra + rows : r1;
            const size_t ncol = (size_t)(rz - ra) * TW;
            float *M = V + 16 * (size_t)Cin * ncol;
            wino_in_k(V, in, Cin, Hin, Win, pad, TH, TW, ncol, ra, ra, rz);
            for (int xi = 0; xi < 16; xi++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Cout, (int)ncol, Cin,
                            1.0f, U + (size_t)xi * Cout * Cin, Cin, V + (size_t)xi * Cin * ncol,
                            (int)ncol, 0.0f, M + (size_t)xi * Cout * ncol, (int)ncol);
            wino_out_k(out, M, bias, accumulate, Cout, Hout, Wout, TH, TW, ncol, ra, ra, rz);
        }
    }
}

static void wino_forward(float *out, const float *in, const float *w, const float *b, int B,
                         int C, int H, int W, int OC, int pad, float *scratch)
{
    const size_t CO16 = 16 * (size_t)OC * C;
    wino_pass(out, in, scratch, w, 0, b, 0, B, C, H, W, OC, pad, scratch + 2 * CO16,
              wino_scratch(B, C, H, W, OC, pad) - 2 * CO16);
}

static void wino_backward(float *din, float *dw, const float *dout, const float *in,
                          const float *w, int B, int C, int H, int W, int OC, int pad,
                          float *scratch)
{
    const int Ho = H + 2 * pad - 2, Wo = W + 2 * pad - 2;
    const int TH = (Ho + 1) / 2, TW = (Wo + 1) / 2;
    const int nbmax = wino_chunk(B, C, OC, H, W, pad);
    const size_t CO16 = 16 * (size_t)OC * C;
    float *U = scratch, *dU = scratch + CO16, *V = scratch + 2 * CO16;
    const int par = conv_par(B, C, OC, 3, (size_t)Ho * Wo);
    if (dw) {
        memset(dU, 0, sizeof(float) * CO16);
        /* chunks of images laid out side by side (all threads' tiles in one V, Mb): each
         * dU[xi] GEMM sums over all of a chunk's tiles, one xi per thread */
#pragma omp parallel if (par)
        {
            int nt = 1, t = 0;
#ifdef _OPENMP
            nt = omp_get_num_threads();
            t = omp_get_thread_num();
#endif
            for (int i0 = 0; i0 < B; i0 += nbmax) {
                const int nb = B - i0 < nbmax ? B - i0 : nbmax, R = nb * TH;
                const size_t T = (size_t)R * TW;
                float *Mb = V + 16 * (size_t)C * T;
                int r0, r1;
                wino_rows(R, &r0, &r1);
                wino_in_k(V, in + (size_t)i0 * C * H * W, C, H, W, pad, TH, TW, T, 0, r0, r1);
                wino_dy_k(Mb, dout + (size_t)i0 * OC * Ho * Wo, OC, Ho, Wo, TH, TW, T, 0, r0,
                          r1);
#pragma omp barrier
                /* dU[xi] (OC, C) += Mb[xi] (OC, T) V[xi]^T (T, C) */
                for (int xi = t; xi < 16; xi += nt)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, C, (int)T, 1.0f,
                                Mb + (size_t)xi * OC * T, (int)T, V + (size_t)xi * C * T,
                                (int)T, 1.0f, dU + (size_t)xi * OC * C, C);
#pragma omp barrier
            }
            /* dw += G^T dU G */
#pragma omp for collapse(2) schedule(static)
            for (int oc = 0; oc < OC; oc++)
                for (int c = 0; c < C; c++) {
                    const size_t step = (size_t)OC * C, o = (size_t)oc * C + c;
                    float q[3][4];
                    for (int j = 0; j < 4; j++) {
                        const float d0 = dU[o + (size_t)j * step];
                        const float d1 = dU[o + (size_t)(4 + j) * step];
                        const float d2 = dU[o + (size_t)(8 + j) * step];
                        const float d3 = dU[o + (size_t)(12 + j) * step];
                        q[0][j] = d0 + 0.5f * (d1 + d2);
                        q[1][j] = 0.5f * (d1 - d2);
                        q[2][j] = 0.5f * (d1 + d2) + d3;
                    }
                    float *g = dw + o * 9;
                    for (int a = 0; a < 3; a++) {
                        g[a * 3 + 0] += q[a][0] + 0.5f * (q[a][1] + q[a][2]);
                        g[a * 3 + 1] += 0.5f * (q[a][1] - q[a][2]);
                        g[a * 3 + 2] += 0.5f * (q[a][1] + q[a][2]) + q[a][3];
                    }
                }
        }
    }
    if (din)
        wino_pass(din, dout, U, w, 1, NULL, 1, B, OC, Ho, Wo, C, 2 - pad, V,
                  wino_scratch(B, C, H, W, OC, pad) - 2 * CO16);
}

size_t conv2d_scratch_floats(int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
    conv_check(B, C, H, W, OC, K, stride, pad);
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    size_t P = (size_t)Ho * (size_t)Wo;
    if (conv_is_direct(K, stride, pad, (int)P)) return 0;
    if (wino_ok(C, H, W, OC, K, stride, pad)) return wino_scratch(B, C, H, W, OC, pad);
    size_t nb = (size_t)conv_chunk(B, C, OC, K, (int)P);
    return ((size_t)C * K * K + (size_t)OC) * nb * P;
}

/* col (C*K*K, ncol) rows for images [0,nb) of the chunk starting at in; column offset of
 * image i is i*P. Called inside a parallel region (work-shared, ends on a barrier). */
static void im2col(float *col, const float *in, int nb, int C, int H, int W, int K,
                   int stride, int pad, int Ho, int Wo)
{
    const size_t P = (size_t)Ho * Wo, ncol = (size_t)nb * P, HW = (size_t)H * W;
#pragma omp for collapse(2) schedule(static)
    for (int i = 0; i < nb; i++) {
        for (int c = 0; c < C; c++) {
            const float *src = in + ((size_t)i * C + c) * HW;
            for (int ki = 0; ki < K; ki++) {
                for (int kj = 0; kj < K; kj++) {
                    float *dst = col + ((size_t)(c * K + ki) * K + kj) * ncol + (size_t)i * P;
                    /* valid ox: 0 <= ox*stride - pad + kj < W */
                    int ox0 = 0, ox1 = Wo;
                    while (ox0 < Wo && ox0 * stride - pad + kj < 0) ox0++;
                    while (ox1 > ox0 && (ox1 - 1) * stride - pad + kj >= W) ox1--;
                    for (int oy = 0; oy < Ho; oy++) {
                        float *d = dst + (size_t)oy * Wo;
                        int iy = oy * stride - pad + ki;
                        if (iy < 0 || iy >= H) {
                            memset(d, 0, sizeof(float) * (size_t)Wo);
                            continue;
                        }
                        for (int ox = 0; ox < ox0; ox++) d[ox] = 0.0f;
                        if (ox1 > ox0) {
                            const float *s = src + (size_t)iy * W + (ox0 * stride - pad + kj);
                            if (stride == 1)
                                memcpy(d + ox0, s, sizeof(float) * (size_t)(ox1 - ox0));
                            else
                                for (int ox = ox0; ox < ox1; ox++)
                                    d[ox] = s[(size_t)(ox - ox0) * stride];
                        }
                        for (int ox = ox1; ox < Wo; ox++) d[ox] = 0.0f;
                    }
                }
            }
        }
    }
}

/* din (nb, C, H, W) += col2im(col); each (image, channel) plane is owned by one thread.
 * Called inside a parallel region (work-shared, ends on a barrier). */
static void col2im_add(float *din, const float *col, int nb, int C, int H, int W, int K,
                       int stride, int pad, int Ho, int Wo)
{
    const size_t P = (size_t)Ho * Wo, ncol = (size_t)nb * P, HW = (size_t)H * W;
#pragma omp for collapse(2) schedule(static)
    for (int i = 0; i < nb; i++) {
        for (int c = 0; c < C; c++) {
            float *dst = din + ((size_t)i * C + c) * HW;
            for (int ki = 0; ki < K; ki++) {
                for (int kj = 0; kj < K; kj++) {
                    const float *src =
                        col + ((size_t)(c * K + ki) * K + kj) * ncol + (size_t)i * P;
                    int ox0 = 0, ox1 = Wo;
                    while (ox0 < Wo && ox0 * stride - pad + kj < 0) ox0++;
                    while (ox1 > ox0 && (ox1 - 1) * stride - pad + kj >= W) ox1--;
                    for (int oy = 0; oy < Ho; oy++) {
                        int iy = oy * stride - pad + ki;
                        if (iy < 0 || iy >= H || ox1 <= ox0) continue;
                        const float *s = src + (size_t)oy * Wo;
                        float *d = dst + (size_t)iy * W + (ox0 * stride - pad + kj);
                        if (stride == 1)
                            for (int ox = ox0; ox < ox1; ox++) d[ox - ox0] += s[ox];
                        else
                            for (int ox = ox0; ox < ox1; ox++)
                                d[(size_t)(ox - ox0) * stride] += s[ox];
                    }
                }
            }
        }
    }
}

void conv2d_forward(float *out, const float *in, const float *w, const float *b,
                    int B, int C, int H, int W, int OC, int K, int stride, int pad,
                    float *scratch)
{
    conv_check(B, C, H, W, OC, K, stride, pad);
    const int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    const size_t P = (size_t)Ho * Wo, CKK = (size_t)C * K * K, HW = (size_t)H * W;
    const int blas_threads = layers_blas_serial_begin();
    const int par = conv_par(B, C, OC, K, P);

    if (conv_is_direct(K, stride, pad, (int)P)) {
        /* out_i (OC,P) = W (OC,C) in_i (C,P) (+ bias), one image per thread at a time */
#pragma omp parallel for schedule(static) if (par)
        for (int i = 0; i < B; i++) {
            float *o = out + (size_t)i * OC * P;
            if (b)
                for (int oc = 0; oc < OC; oc++)
                    for (size_t p = 0; p < P; p++) o[(size_t)oc * P + p] = b[oc];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)P, C, 1.0f, w, C,
                        in + (size_t)i * C * HW, (int)P, b ? 1.0f : 0.0f, o, (int)P);
        }
        layers_blas_serial_end(blas_threads);
        return;
    }

    DDM_ASSERT(scratch, "conv2d_forward: scratch is NULL");
    if (wino_ok(C, H, W, OC, K, stride, pad)) {
        wino_forward(out, in, w, b, B, C, H, W, OC, pad, scratch);
        layers_blas_serial_end(blas_threads);
        return;
    }
    const int nbmax = conv_chunk(B, C, OC, K, (int)P);
    for (int i0 = 0; i0 < B; i0 += nbmax) {
        const int nb = B - i0 < nbmax ? B - i0 : nbmax;
        const size_t ncol = (size_t)nb * P;
        float *col = scratch, *mat = scratch + CKK * ncol;
        float *o0 = out + (size_t)i0 * OC * P;
#pragma omp parallel if (par)
        {
            im2col(col, in + (size_t)i0 * C * HW, nb, C, H, W, K, stride, pad, Ho, Wo);
            /* mat (OC, ncol) = W (OC, CKK) col (CKK, ncol) */
            par_sgemm(0, 0, OC, (int)ncol, (int)CKK, 1.0f, w, (int)CKK, col, (int)ncol, 0.0f,
                      mat, (int)ncol);
#pragma omp barrier
#pragma omp for collapse(2) schedule(static)
            for (int i = 0; i < nb; i++)
                for (int oc = 0; oc < OC; oc++) {
                    const float *s = mat + (size_t)oc * ncol + (size_t)i * P;
                    float *o = o0 + ((size_t)i * OC + oc) * P;
                    const float bv = b ? b[oc] : 0.0f;
                    for (size_t p = 0; p < P; p++) o[p] = s[p] + bv;
                }
        }
    }
    layers_blas_serial_end(blas_threads);
}

/* db (OC) += sum of dout over batch and positions; summed in double, fixed order */
static void conv_bias_grad(float *db, const float *dout, int B, int OC, size_t P)
{
#pragma omp parallel for schedule(static) if ((size_t)B * OC * P >= 65536)
    for (int oc = 0; oc < OC; oc++) {
        double s = 0.0;
        for (int i = 0; i < B; i++) {
            const float *d = dout + ((size_t)i * OC + oc) * P;
            float part = 0.0f;
            for (size_t p = 0; p < P; p++) part += d[p];
            s += part;
        }
        db[oc] += (float)s;
    }
}

void conv2d_backward(float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w,
                     int B, int C, int H, int W, int OC, int K, int stride, int pad,
                     float *scratch)
{
    conv_check(B, C, H, W, OC, K, stride, pad);
    const int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    const size_t P = (size_t)Ho * Wo, CKK = (size_t)C * K * K, HW = (size_t)H * W;

    if (db) conv_bias_grad(db, dout, B, OC, P);
    if (!din && !dw) return;
    const int blas_threads = layers_blas_serial_begin();
    const int par = conv_par(B, C, OC, K, P);

    if (conv_is_direct(K, stride, pad, (int)P)) {
        /* din_i (C,P) += W^T dout_i, one image per thread at a time; dw (OC,C) += sum_i
         * dout_i in_i^T as one GEMM over the batch with the images side by side would need
         * a copy, so each thread's rows of dw take every image in turn */
        if (din) {
#pragma omp parallel for schedule(static) if (par)
            for (int i = 0; i < B; i++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, (int)P, OC, 1.0f, w, C,
                            dout + (size_t)i * OC * P, (int)P, 1.0f, din + (size_t)i * C * HW,
                            (int)P);
        }
        if (dw) {
#pragma omp parallel if (par)
            for (int i = 0; i < B; i++)
                par_sgemm(0, 1, OC, C, (int)P, 1.0f, dout + (size_t)i * OC * P, (int)P,
                          in + (size_t)i * C * HW, (int)P, 1.0f, dw, C);
        }
        layers_blas_serial_end(blas_threads);
        return;
    }

    DDM_ASSERT(scratch, "conv2d_backward: scratch is NULL");
    if (wino_ok(C, H, W, OC, K, stride, pad)) {
        wino_backward(din, dw, dout, in, w, B, C, H, W, OC, pad, scratch);
        layers_blas_serial_end(blas_threads);
        return;
    }
    const int nbmax = conv_chunk(B, C, OC, K, (int)P);
    for (int i0 = 0; i0 < B; i0 += nbmax) {
        const int nb = B - i0 < nbmax ? B - i0 : nbmax;
        const size_t ncol = (size_t)nb * P;
        float *col = scratch, *mat = scratch + CKK * ncol;
        const float *d0 = dout + (size_t)i0 * OC * P;
#pragma omp parallel if (par)
        {
            /* mat (OC, ncol) = this chunk of dout, images side by side */
#pragma omp for collapse(2) schedule(static)
            for (int i = 0; i < nb; i++)
                for (int oc = 0; oc < OC; oc++)
                    memcpy(mat + (size_t)oc * ncol + (size_t)i * P,
                           d0 + ((size_t)i * OC + oc) * P, sizeof(float) * P);
            if (dw) {
                im2col(col, in + (size_t)i0 * C * HW, nb, C, H, W, K, stride, pad, Ho, Wo);
                /* dw (OC, CKK) += mat (OC, ncol) col^T (ncol, CKK) */
                par_sgemm(0, 1, OC, (int)CKK, (int)ncol, 1.0f, mat, (int)ncol, col, (int)ncol,
                          1.0f, dw, (int)CKK);
#pragma omp barrier
            }
            if (din) {
                /* col (CKK, ncol) = W^T (CKK, OC) mat (OC, ncol), then scattered back */
                par_sgemm(1, 0, (int)CKK, (int)ncol, OC, 1.0f, w, (int)CKK, mat, (int)ncol,
                          0.0f, col, (int)ncol);
#pragma omp barrier
                col2im_add(din + (size_t)i0 * C * HW, col, nb, C, H, W, K, stride, pad, Ho,
                           Wo);
            }
        }
    }
    layers_blas_serial_end(blas_threads);
}

/* ---- reference kernels: direct loops, no scratch */

void conv2d_forward_ref(float *out, const float *in, const float *w, const float *b,
                        int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
    conv_check(B, C, H, W, OC, K, stride, pad);
    const int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    double s = b ? b[oc] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++) {
                                int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                s += (double)in[(((size_t)n * C + c) * H + iy) * W + ix] *
                                     w[(((size_t)oc * C + c) * K + ki) * K + kj];
                            }
                    out[(((size_t)n * OC + oc) * Ho + oy) * Wo + ox] = (float)s;
                }
}

void conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w,
                         int B, int C, int H, int W, int OC, int K, int stride, int pad)
{
    conv_check(B, C, H, W, OC, K, stride, pad);
    const int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    const float g = dout[(((size_t)n * OC + oc) * Ho + oy) * Wo + ox];
                    if (db) db[oc] += g;
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++) {
                                int iy = oy * stride - pad + ki, ix = ox * stride - pad + kj;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                size_t ii = (((size_t)n * C + c) * H + iy) * W + ix;
                                size_t wi = (((size_t)oc * C + c) * K + ki) * K + kj;
                                if (din) din[ii] += g * w[wi];
                                if (dw) dw[wi] += g * in[ii];
                            }
                }
}
