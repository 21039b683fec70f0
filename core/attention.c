/* Single-head attention core: softmax(q^T k / sqrt(C)) applied to v, per batch element.
 *
 * B = batch, C = channels, N = positions. q, k, v, out (B,C,N); att (B,N,N) with
 * att[b,i,j] = softmax_j(s[b,i,j]), s[b,i,j] = sum_c q[b,c,i] k[b,c,j] / sqrt(C);
 * out[b,c,i] = sum_j v[b,c,j] att[b,i,j]   (Vaswani et al. 2017, eq. 1)
 *
 * Backward, with dS the gradient wrt s:
 *   dv   += dout att                       (C,N) x (N,N)
 *   datt  = dout^T v                       (N,C) x (C,N)
 *   dS[i,j] = att[i,j] (datt[i,j] - sum_j' att[i,j'] datt[i,j'])   (softmax Jacobian)
 *   dq   += k dS^T / sqrt(C),  dk += q dS / sqrt(C)
 *
 * Each batch element is a handful of GEMMs of size N x N x C (64 x 64 x 64 in the
 * reference U-Net): batch elements are spread over OpenMP threads, each with its own
 * N*N slot of scratch and OpenBLAS switched to one thread meanwhile (see core/conv.c on
 * why the two thread pools must not alternate). A single batch element (B = 1) runs with
 * OpenBLAS threading its GEMMs instead.
 */
#include "core/layers.h"

#include <cblas.h>
#include <math.h>

#include "core/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* scratch slots (batch elements in flight) at most; caps the threads used here */
#define ATT_MAX_SLOTS 32

static int att_slots(int B)
{
    return B < 2 ? 1 : (B < ATT_MAX_SLOTS ? B : ATT_MAX_SLOTS);
}

/* threads for the batch-parallel path: one for small problems (a fork costs more) */
static int att_threads(int slots, int B, int C, int N)
{
#ifdef _OPENMP
    if ((double)B * C * N * N < 1e6) return 1;
    int t = omp_get_max_threads();
    return t < slots ? t : slots;
#else
    (void)slots, (void)B, (void)C, (void)N;
    return 1;
#endif
}

size_t attention_scratch_floats(int B, int C, int N)
{
    DDM_ASSERT(B > 0 && C > 0 && N > 0, "attention: bad shape B=%d C=%d N=%d", B, C, N);
    return (size_t)att_slots(B) * (size_t)N * (size_t)N;
}

static void att_forward_one(float *out, float *att, const float *q, const float *k,
                            const float *v, int C, int N)
{
    const float scale = (float)(1.0 / sqrt((double)C));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, N, C, scale, q, N, k, N, 0.0f,
                att, N);
    softmax_rows(att, (size_t)N, N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, N, N, 1.0f, v, N, att, N, 0.0f,
                out, N);
}

void attention_forward(float *out, float *att, const float *q, const float *k,
                       const float *v, int B, int C, int N)
{
    DDM_ASSERT(B > 0 && C > 0 && N > 0, "attention: bad shape B=%d C=%d N=%d", B, C, N);
    const size_t CN = (size_t)C * N, NN = (size_t)N * N;
    const int slots = att_slots(B);
    if (slots > 1) {
        const int blas_threads = layers_blas_serial_begin();
#pragma omp parallel for schedule(static) num_threads(att_threads(slots, B, C, N))
        for (int b = 0; b < B; b++)
            att_forward_one(out + b * CN, att + b * NN, q + b * CN, k + b * CN, v + b * CN, C,
                            N);
        layers_blas_serial_end(blas_threads);
    } else {
        for (int b = 0; b < B; b++)
            att_forward_one(out + b * CN, att + b * NN, q + b * CN, k + b * CN, v + b * CN, C,
                            N);
    }
}

static void att_backward_one(float *dq, float *dk, float *dv, const float *dout,
                             const float *att, const float *q, const float *k, const float *v,
                             int C, int N, float *ds, int parallel_rows)
{
    if (dv)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, N, N, 1.0f, dout, N, att, N,
                    1.0f, dv, N);
    if (!dq && !dk) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, N, C, 1.0f, dout, N, v, N, 0.0f,
                ds, N);
#pragma omp parallel for schedule(static) if (parallel_rows)
    for (int i = 0; i < N; i++) {
        const float *a = att + (size_t)i * N;
        float *d = ds + (size_t)i * N;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < N; j++) dot += a[j] * d[j];
#pragma omp simd
        for (int j = 0; j < N; j++) d[j] = a[j] * (d[j] - dot);
    }
    const float scale = (float)(1.0 / sqrt((double)C));
    if (dq)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, N, N, scale, k, N, ds, N, 1.0f,
                    dq, N);
    if (dk)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, N, N, scale, q, N, ds, N,
                    1.0f, dk, N);
}

/* p + o, or NULL for a gradient that is not wanted */
static float *at_off(float *p, size_t o) { return p ? p + o : NULL; }

void attention_backward(float *dq, float *dk, float *dv, const float *dout,
                        const float *att, const float *q, const float *k, const float *v,
                        int B, int C, int N, float *scratch)
{
    DDM_ASSERT(B > 0 && C > 0 && N > 0, "attention: bad shape B=%d C=%d N=%d", B, C, N);
    DDM_ASSERT(scratch || (!dq && !dk), "attention_backward: scratch is NULL");
    const size_t CN = (size_t)C * N, NN = (size_t)N * N;
    const int slots = att_slots(B);
    if (slots > 1) {
        const int blas_threads = layers_blas_serial_begin();
#pragma omp parallel num_threads(att_threads(slots, B, C, N))
        {
            int tid = 0;
#ifdef _OPENMP
            tid = omp_get_thread_num();
#endif
            float *ds = scratch ? scratch + (size_t)tid * NN : NULL;
#pragma omp for schedule(static)
            for (int b = 0; b < B; b++)
                att_backward_one(at_off(dq, b * CN), at_off(dk, b * CN), at_off(dv, b * CN),
                                 dout + b * CN, att + b * NN, q + b * CN, k + b * CN,
                                 v + b * CN, C, N, ds, 0);
        }
        layers_blas_serial_end(blas_threads);
    } else {
        for (int b = 0; b < B; b++)
            att_backward_one(at_off(dq, b * CN), at_off(dk, b * CN), at_off(dv, b * CN),
                             dout + b * CN, att + b * NN, q + b * CN, k + b * CN, v + b * CN,
                             C, N, scratch, (size_t)N * N >= 32768);
    }
}
