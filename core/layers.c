/* Layers other than conv2d (core/conv.c) and attention (core/attention.c): linear,
 * group norm (also fused with SiLU), SiLU, dropout, upsample, concat, elementwise adds,
 * time and label embeddings.
 *
 * B = batch, C = channels, HW = positions, G = groups, CG = C/G channels per group,
 * IN, OUT = linear features, D = embedding width, n = element count.
 *
 * Reductions run in a fixed order that does not depend on the thread count, so results
 * are the same with any OMP_NUM_THREADS.
 */
#include "core/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/common.h"

/* below this many elements a loop is not worth an OpenMP fork */
#define PAR_MIN ((size_t)32768)

/* ---------------------------------------------------------------- threads */

int layers_blas_serial_begin(void)
{
    const int n = openblas_get_num_threads();
    if (n > 1) openblas_set_num_threads(1);
    return n;
}

void layers_blas_serial_end(int saved)
{
    if (saved > 1) openblas_set_num_threads(saved);
}

/* ---------------------------------------------------------------- linear
 * These GEMMs are small (batch x 128 x 128 in the U-Net): one OpenBLAS thread. */

void linear_forward(float *out, const float *in, const float *w, const float *b,
                    int B, int IN, int OUT)
{
    DDM_ASSERT(B > 0 && IN > 0 && OUT > 0, "linear: bad shape B=%d IN=%d OUT=%d", B, IN, OUT);
    if (b)
        for (int i = 0; i < B; i++) memcpy(out + (size_t)i * OUT, b, sizeof(float) * OUT);
    const int saved = layers_blas_serial_begin();
    /* out (B,OUT) = in (B,IN) w^T (IN,OUT) [+ out] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, in, IN, w, IN,
                b ? 1.0f : 0.0f, out, OUT);
    layers_blas_serial_end(saved);
}

void linear_backward(float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w, int B, int IN, int OUT)
{
    DDM_ASSERT(B > 0 && IN > 0 && OUT > 0, "linear: bad shape B=%d IN=%d OUT=%d", B, IN, OUT);
    const int saved = layers_blas_serial_begin();
    if (din) /* din (B,IN) += dout (B,OUT) w (OUT,IN) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, IN, OUT, 1.0f, dout, OUT, w,
                    IN, 1.0f, din, IN);
    if (dw) /* dw (OUT,IN) += dout^T (OUT,B) in (B,IN) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, B, 1.0f, dout, OUT, in,
                    IN, 1.0f, dw, IN);
    layers_blas_serial_end(saved);
    if (db)
        for (int o = 0; o < OUT; o++) {
            double s = 0.0;
            for (int i = 0; i < B; i++) s += dout[(size_t)i * OUT + o];
            db[o] += (float)s;
        }
}

/* ---------------------------------------------------------------- vector kernels
 * The elementwise work is memory-bound except for exp. The kernels below are written so
 * that the compiler vectorises them (omp simd, an exp made of arithmetic and bit moves)
 * and, on x86-64 Linux with GCC, are compiled three times (SSE2, AVX2, AVX-512) with
 * the best picked at load time (target_clones), so the default -O2 build without
 * -march=native still runs them at vector speed. They hold no OpenMP regions; callers
 * split work across threads around them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LAYERS_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define LAYERS_CLONES
#endif

/* elements per block handed to a kernel, and per float partial sum inside one */
#define VBLOCK ((size_t)4096)
#define SUMBLOCK ((size_t)1024)

/* e^x for x in float range, relative error < 1.5e-7 (Cody-Waite reduction by ln 2, then
 * the Taylor series of e^r to r^7 for |r| <= ln2/2, then the exponent bits). Arguments
 * are clamped to [-87, 88]: e^-87 is still a normal float, e^88 still finite. */
static inline float vexpf(float x)
{
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    /* round(x / ln2) with the 1.5*2^23 trick (exact for |x/ln2| < 2^22) */
    const float kf = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (x - kf * 0.693145751953125f) - kf * 1.428606765330187045e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)kf + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float vsigmoid(float x) { return 1.0f / (1.0f + vexpf(-x)); }

LAYERS_CLONES static void silu_fwd_k(float *out, const float *in, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = in[i] * vsigmoid(in[i]);
}

/* d/dx x s(x) = s (1 + x (1 - s)) */
LAYERS_CLONES static void silu_bwd_k(float *din, const float *dout, const float *in, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        const float s = vsigmoid(in[i]);
        din[i] += dout[i] * s * (1.0f + in[i] * (1.0f - s));
    }
}

/* sum of (x - c) and of (x - c)^2: float vector partials over SUMBLOCK values, double
 * across them. Shifting by c (a sample, then the mean) keeps the float partials small
 * even when |mean| >> std. */
LAYERS_CLONES static void sums_k(const float *x, size_t n, float c, double *sum, double *sq)
{
    double s = 0.0, q = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += SUMBLOCK) {
        const size_t i1 = i0 + SUMBLOCK < n ? i0 + SUMBLOCK : n;
        float ps = 0.0f, pq = 0.0f;
#pragma omp simd reduction(+ : ps, pq)
        for (size_t i = i0; i < i1; i++) {
            const float d = x[i] - c;
            ps += d;
            pq += d * d;
        }
        s += ps;
        q += pq;
    }
    *sum = s;
    *sq = q;
}

/* y = (x - m) a + bc, or silu of it */
LAYERS_CLONES static void gn_apply_k(float *y, const float *x, size_t n, float m, float a,
                                     float bc, int fuse_silu)
{
    if (fuse_silu) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const float t = (x[i] - m) * a + bc;
            y[i] = t * vsigmoid(t);
        }
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = (x[i] - m) * a + bc;
    }
}

/* one channel of the backward: sums of dy and dy*xhat, where dy is dout, or dout through
 * the SiLU of t = (x - m) a + bc; xhat = (x - m) r */
LAYERS_CLONES static void gn_bsums_k(const float *x, const float *d, size_t n, float m, float r,
                                     float a, float bc, int fuse_silu, double *sdy,
                                     double *sdyx)
{
    double s1 = 0.0, s2 = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += SUMBLOCK) {
        const size_t i1 = i0 + SUMBLOCK < n ? i0 + SUMBLOCK : n;
        float p1 = 0.0f, p2 = 0.0f;
        if (fuse_silu) {
#pragma omp simd reduction(+ : p1, p2)
            for (size_t i = i0; i < i1; i++) {
                const float xh = (x[i] - m) * r, t = (x[i] - m) * a + bc;
                const float s = vsigmoid(t);
                const float dy = d[i] * s * (1.0f + t * (1.0f - s));
                p1 += dy;
                p2 += dy * xh;
            }
        } else {
#pragma omp simd reduction(+ : p1, p2)
            for (size_t i = i0; i < i1; i++) {
                p1 += d[i];
                p2 += d[i] * ((x[i] - m) * r);
            }
        }
        s1 += p1;
        s2 += p2;
    }
    *sdy = s1;
    *sdyx = s2;
}

/* dx += r (g dy - m1 - xhat m2) for one channel with scale g = gamma[c] */
LAYERS_CLONES static void gn_bdin_k(float *dx, const float *x, const float *d, size_t n,
                                    float m, float r, float a, float bc, float g, float m1,
                                    float m2, int fuse_silu)
{
    if (fuse_silu) {
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            const float t = (x[i] - m) * a + bc;
            const float s = vsigmoid(t);
            const float dy = d[i] * s * (1.0f + t * (1.0f - s));
            dx[i] += r * (g * dy - m1 - (x[i] - m) * r * m2);
        }
    } else {
#pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] += r * (g * d[i] - m1 - (x[i] - m) * r * m2);
    }
}

/* one row's softmax in place, max-subtracted */
LAYERS_CLONES static void softmax_row_k(float *x, int n)
{
    float mx = x[0];
    for (int j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        x[j] = vexpf(x[j] - mx);
        sum += x[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < n; j++) x[j] *= inv;
}

void softmax_rows(float *x, size_t rows, int n)
{
#pragma omp parallel for schedule(static) if (rows * (size_t)n >= PAR_MIN)
    for (size_t i = 0; i < rows; i++) softmax_row_k(x + i * (size_t)n, n);
}

/* ---------------------------------------------------------------- group norm
 * y = (x - mean) rstd gamma + beta over each (b, g) group of CG*HW values, biased
 * variance, eps = GROUPNORM_EPS (Wu & He 2018, eq. 1-2). Statistics: two passes (mean,
 * then squared deviations from it), float vector partials over 1024 values summed in
 * double. They are stored as float, and forward and backward both normalise with the
 * stored values, so the backward is the exact derivative of what the forward did.
 * With fused SiLU the output is silu(y); its backward recomputes y from x, mean, rstd.
 * Every (b, g) is one task; results do not depend on the thread count. */

static void gn_check(int B, int C, int HW, int G)
{
    DDM_ASSERT(B > 0 && C > 0 && HW > 0 && G > 0 && C % G == 0,
               "groupnorm: bad shape B=%d C=%d HW=%d G=%d (C %% G must be 0)", B, C, HW, G);
}

static void gn_forward(float *out, float *mean, float *rstd, const float *in,
                       const float *gamma, const float *beta, int B, int C, int HW, int G,
                       int fuse_silu)
{
    gn_check(B, C, HW, G);
    const int CG = C / G;
    const size_t n = (size_t)CG * HW;
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int bg = 0; bg < B * G; bg++) {
        const int g = bg % G;
        const float *x = in + (size_t)bg * n;
        double s, q;
        sums_k(x, n, x[0], &s, &q);
        const float mf = (float)((double)x[0] + s / (double)n);
        sums_k(x, n, mf, &s, &q);
        /* deviations were taken from the rounded mean mf: remove its offset */
        const double off = s / (double)n;
        double v = q / (double)n - off * off;
        if (v < 0.0) v = 0.0;
        const float rf = (float)(1.0 / sqrt(v + (double)GROUPNORM_EPS));
        mean[bg] = mf;
        rstd[bg] = rf;
        for (int cc = 0; cc < CG; cc++) {
            const int c = g * CG + cc;
            gn_apply_k(out + (size_t)bg * n + (size_t)cc * HW, x + (size_t)cc * HW, (size_t)HW,
                       mf, rf * gamma[c], beta[c], fuse_silu);
        }
    }
}

/* per-(b, c) sums of dy and dy*xhat for a block of the batch: 2*C doubles per image */
#define GN_PART_DOUBLES 8192

static void gn_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *mean, const float *rstd,
                        const float *gamma, const float *beta, int B, int C, int HW, int G,
                        int fuse_silu)
{
    gn_check(B, C, HW, G);
    const int CG = C / G;
    const size_t n = (size_t)CG * HW;
    const int par = (size_t)B * C * HW >= PAR_MIN;
    /* din = rstd (gdy - mean(gdy) - xhat mean(gdy xhat)) per group, gdy = gamma dy;
     * dgamma[c] += sum dy xhat, dbeta[c] += sum dy over batch and positions. The per-(b,c)
     * sums serve both; they are kept for a block of images at a time and added to
     * dgamma/dbeta in image order, so the result does not depend on the threads. */
    double part[GN_PART_DOUBLES];
    int bblk = GN_PART_DOUBLES / (2 * C);
    const int keep = dgamma || dbeta;
    if (bblk < 1) bblk = 1; /* C > 4096: sums are then not kept past one image */
    for (int b0 = 0; b0 < B; b0 += bblk) {
        const int b1 = b0 + bblk < B ? b0 + bblk : B;
        const int nb = b1 - b0;
        const int fits = 2 * C <= GN_PART_DOUBLES;
#pragma omp parallel for schedule(static) if (par)
        for (int t = 0; t < nb * G; t++) {
            const int b = b0 + t / G, g = t % G, bg = b * G + g;
            const float m = mean[bg], r = rstd[bg];
            const float *x = in + (size_t)bg * n;
            const float *d = dout + (size_t)bg * n;
            double s1 = 0.0, s2 = 0.0;
            for (int cc = 0; cc < CG; cc++) {
                const int c = g * CG + cc;
                double sdy, sdyx;
                gn_bsums_k(x + (size_t)cc * HW, d + (size_t)cc * HW, (size_t)HW, m, r,
                           r * gamma[c], fuse_silu ? beta[c] : 0.0f, fuse_silu, &sdy, &sdyx);
                if (fits) {
                    part[(size_t)(b - b0) * 2 * C + 2 * c] = sdy;
                    part[(size_t)(b - b0) * 2 * C + 2 * c + 1] = sdyx;
                }
                s1 += gamma[c] * sdy;
                s2 += gamma[c] * sdyx;
            }
            if (!din) continue;
            const float m1 = (float)(s1 / (double)n), m2 = (float)(s2 / (double)n);
            for (int cc = 0; cc < CG; cc++) {
                const int c = g * CG + cc;
                gn_bdin_k(din + (size_t)bg * n + (size_t)cc * HW, x + (size_t)cc * HW,
                          d + (size_t)cc * HW, (size_t)HW, m, r, r * gamma[c],
                          fuse_silu ? beta[c] : 0.0f, gamma[c], m1, m2, fuse_silu);
            }
        }
        if (!keep) continue;
        if (fits) {
            for (int c = 0; c < C; c++) {
                double sb = 0.0, sg = 0.0;
                for (int i = 0; i < nb; i++) {
                    sb += part[(size_t)i * 2 * C + 2 * c];
                    sg += part[(size_t)i * 2 * C + 2 * c + 1];
                }
                if (dgamma) dgamma[c] += (float)sg;
                if (dbeta) dbeta[c] += (float)sb;
            }
        } else { /* very wide layers: recompute the sums one channel at a time */
#pragma omp parallel for schedule(static) if (par)
            for (int c = 0; c < C; c++) {
                const int bg = b0 * G + c / CG;
                double sdy, sdyx;
                gn_bsums_k(in + ((size_t)b0 * C + c) * HW, dout + ((size_t)b0 * C + c) * HW,
                           (size_t)HW, mean[bg], rstd[bg], rstd[bg] * gamma[c],
                           fuse_silu ? beta[c] : 0.0f, fuse_silu, &sdy, &sdyx);
                if (dgamma) dgamma[c] += (float)sdyx;
                if (dbeta) dbeta[c] += (float)sdy;
            }
        }
    }
}

void groupnorm_forward(float *out, float *mean, float *rstd, const float *in,
                       const float *gamma, const float *beta, int B, int C, int HW, int G)
{
    gn_forward(out, mean, rstd, in, gamma, beta, B, C, HW, G, 0);
}

void groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *mean, const float *rstd,
                        const float *gamma, int B, int C, int HW, int G)
{
    gn_backward(din, dgamma, dbeta, dout, in, mean, rstd, gamma, NULL, B, C, HW, G, 0);
}

void groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *gamma, const float *beta, int B, int C, int HW, int G)
{
    gn_forward(out, mean, rstd, in, gamma, beta, B, C, HW, G, 1);
}

void groupnorm_silu_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *mean, const float *rstd,
                             const float *gamma, const float *beta, int B, int C, int HW,
                             int G)
{
    gn_backward(din, dgamma, dbeta, dout, in, mean, rstd, gamma, beta, B, C, HW, G, 1);
}

/* ---------------------------------------------------------------- SiLU */

void silu_forward(float *out, const float *in, size_t n)
{
    const size_t nblk = (n + VBLOCK - 1) / VBLOCK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t k = 0; k < nblk; k++) {
        const size_t i0 = k * VBLOCK, len = n - i0 < VBLOCK ? n - i0 : VBLOCK;
        silu_fwd_k(out + i0, in + i0, len);
    }
}

void silu_backward(float *din, const float *dout, const float *in, size_t n)
{
    const size_t nblk = (n + VBLOCK - 1) / VBLOCK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t k = 0; k < nblk; k++) {
        const size_t i0 = k * VBLOCK, len = n - i0 < VBLOCK ? n - i0 : VBLOCK;
        silu_bwd_k(din + i0, dout + i0, in + i0, len);
    }
}

/* ---------------------------------------------------------------- dropout
 * Element i keeps when u_i >= p, u_i = rng_uniform_at(seed, stream, i). One Philox block
 * gives the four draws of counter positions 4j..4j+3, exactly as rng_uniform_at would. */

static float u32_open01(uint32_t x) /* same mapping as core/rng.c: top 24 bits + half ulp */
{
    return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/* elements per dropout kernel call: a multiple of 4, so blocks start on a Philox block */
#define DROP_BLOCK ((size_t)4096)

/* Philox4x32-10 (as core/rng.c) of the counters (j, stream) for j in [j0, j0+nb), in a
 * form the compiler vectorises; the four words of counter j go to w[4 (j - j0) + t] */
LAYERS_CLONES static void philox_block_k(uint32_t *w, uint64_t j0, int nb, uint64_t seed,
                                         uint64_t stream)
{
    uint32_t w0[DROP_BLOCK / 4], w1[DROP_BLOCK / 4], w2[DROP_BLOCK / 4], w3[DROP_BLOCK / 4];
#pragma omp simd
    for (int t = 0; t < nb; t++) {
        const uint64_t j = j0 + (uint64_t)t;
        uint32_t c0 = (uint32_t)j, c1 = (uint32_t)(j >> 32);
        uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
        for (int r = 0; r < 10; r++) {
            const uint64_t p0 = (uint64_t)0xD2511F53u * c0;
            const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
            const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
            const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        w0[t] = c0;
        w1[t] = c1;
        w2[t] = c2;
        w3[t] = c3;
    }
    for (int t = 0; t < nb; t++) {
        w[4 * t] = w0[t];
        w[4 * t + 1] = w1[t];
        w[4 * t + 2] = w2[t];
        w[4 * t + 3] = w3[t];
    }
}

/* elements [i0, i0+len) of the mask, i0 a multiple of 4, len <= DROP_BLOCK */
static void dropout_k(float *out, float *mask, const float *in, size_t len, size_t i0, float p,
                      float keep, uint64_t seed, uint64_t stream)
{
    uint32_t w[DROP_BLOCK];
    philox_block_k(w, i0 / 4, (int)((len + 3) / 4), seed, stream);
    for (size_t i = 0; i < len; i++) {
        const float m = u32_open01(w[i]) >= p ? keep : 0.0f;
        mask[i] = m;
        out[i] = in[i] * m;
    }
}

void dropout_forward(float *out, float *mask, const float *in, size_t n, float p,
                     uint64_t seed, uint64_t stream)
{
    DDM_ASSERT(p >= 0.0f && p < 1.0f, "dropout: p = %g outside [0,1)", (double)p);
    if (p == 0.0f) {
        memcpy(out, in, sizeof(float) * n);
        for (size_t i = 0; i < n; i++) mask[i] = 1.0f;
        return;
    }
    const float keep = 1.0f / (1.0f - p);
    const size_t nblk = (n + DROP_BLOCK - 1) / DROP_BLOCK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t k = 0; k < nblk; k++) {
        const size_t i0 = k * DROP_BLOCK, len = n - i0 < DROP_BLOCK ? n - i0 : DROP_BLOCK;
        dropout_k(out + i0, mask + i0, in + i0, len, i0, p, keep, seed, stream);
    }
}

void dropout_backward(float *din, const float *dout, const float *mask, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) din[i] += dout[i] * mask[i];
}

/* ---------------------------------------------------------------- nearest 2x upsample */

void upsample2x_forward(float *out, const float *in, int B, int C, int H, int W)
{
    const int W2 = 2 * W;
#pragma omp parallel for schedule(static) if ((size_t)B * C * H * W >= PAR_MIN)
    for (int bc = 0; bc < B * C; bc++) {
        const float *x = in + (size_t)bc * H * W;
        float *y = out + (size_t)bc * 4 * H * W;
        for (int i = 0; i < H; i++) {
            float *r0 = y + (size_t)(2 * i) * W2;
            for (int j = 0; j < W; j++) r0[2 * j] = r0[2 * j + 1] = x[(size_t)i * W + j];
            memcpy(r0 + W2, r0, sizeof(float) * W2);
        }
    }
}

void upsample2x_backward(float *din, const float *dout, int B, int C, int H, int W)
{
    const int W2 = 2 * W;
#pragma omp parallel for schedule(static) if ((size_t)B * C * H * W >= PAR_MIN)
    for (int bc = 0; bc < B * C; bc++) {
        float *x = din + (size_t)bc * H * W;
        const float *y = dout + (size_t)bc * 4 * H * W;
        for (int i = 0; i < H; i++) {
            const float *r0 = y + (size_t)(2 * i) * W2, *r1 = r0 + W2;
            for (int j = 0; j < W; j++)
                x[(size_t)i * W + j] += (r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1]);
        }
    }
}

/* ---------------------------------------------------------------- channel concat */

void concat_forward(float *out, const float *a, const float *b, int B, int C1, int C2, int HW)
{
    const size_t na = (size_t)C1 * HW, nb = (size_t)C2 * HW;
#pragma omp parallel for schedule(static) if ((size_t)B * (na + nb) >= PAR_MIN)
    for (int i = 0; i < B; i++) {
        float *o = out + (size_t)i * (na + nb);
        memcpy(o, a + (size_t)i * na, sizeof(float) * na);
        memcpy(o + na, b + (size_t)i * nb, sizeof(float) * nb);
    }
}

void concat_backward(float *da, float *db, const float *dout, int B, int C1, int C2, int HW)
{
    const size_t na = (size_t)C1 * HW, nb = (size_t)C2 * HW;
#pragma omp parallel for schedule(static) if ((size_t)B * (na + nb) >= PAR_MIN)
    for (int i = 0; i < B; i++) {
        const float *d = dout + (size_t)i * (na + nb);
        if (da) {
            float *x = da + (size_t)i * na;
            for (size_t j = 0; j < na; j++) x[j] += d[j];
        }
        if (db) {
            float *x = db + (size_t)i * nb;
            for (size_t j = 0; j < nb; j++) x[j] += d[na + j];
        }
    }
}

/* ---------------------------------------------------------------- elementwise */

void add_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void add_inplace(float *acc, const float *x, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) acc[i] += x[i];
}

void add_channel_forward(float *h, const float *v, int B, int C, int HW)
{
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int bc = 0; bc < B * C; bc++) {
        float *x = h + (size_t)bc * HW;
        const float s = v[bc];
        for (int p = 0; p < HW; p++) x[p] += s;
    }
}

void add_channel_backward(float *dv, const float *dh, int B, int C, int HW)
{
#pragma omp parallel for schedule(static) if ((size_t)B * C * HW >= PAR_MIN)
    for (int bc = 0; bc < B * C; bc++) {
        const float *x = dh + (size_t)bc * HW;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int p = 0; p < HW; p++) s += x[p];
        dv[bc] += s;
    }
}

/* ---------------------------------------------------------------- embeddings */

void timestep_embedding(float *out, const float *t, int B, int dim)
{
    DDM_ASSERT(B > 0 && dim >= 2, "timestep_embedding: bad shape B=%d dim=%d", B, dim);
    const int half = dim / 2;
    /* float32 in the order of the PyTorch reference:
     * freqs = exp(-ln(10000) * arange(half) / half); args = t[:, None] * freqs */
    const float neglog = (float)(-log(10000.0));
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * dim;
        for (int i = 0; i < half; i++) {
            const float f = expf(neglog * (float)i / (float)half);
            const float arg = t[b] * f;
            o[i] = sinf(arg);
            o[half + i] = cosf(arg);
        }
        if (dim % 2) o[dim - 1] = 0.0f; /* odd width: zero pad, as guided-diffusion does */
    }
}

void embedding_forward(float *out, const float *table, const int *idx, int B, int D)
{
    for (int b = 0; b < B; b++) {
        DDM_ASSERT(idx[b] >= 0, "embedding: index %d at %d is negative", idx[b], b);
        memcpy(out + (size_t)b * D, table + (size_t)idx[b] * D, sizeof(float) * D);
    }
}

void embedding_backward(float *dtable, const float *dout, const int *idx, int B, int D)
{
    for (int b = 0; b < B; b++) {
        DDM_ASSERT(idx[b] >= 0, "embedding: index %d at %d is negative", idx[b], b);
        float *r = dtable + (size_t)idx[b] * D;
        const float *d = dout + (size_t)b * D;
        for (int j = 0; j < D; j++) r[j] += d[j];
    }
}
