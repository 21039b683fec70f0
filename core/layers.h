/* Layers: forward and backward over flat float32 arrays, NCHW.
 *
 * B = batch, C = input channels, OC = output channels, H, W = height, width,
 * K = kernel size, HW = H*W, N = attention positions (H*W), G = groups,
 * IN, OUT = linear features, D = embedding width.
 *
 * Conventions (../shared/CONVENTIONS.md): outputs first, then inputs, then sizes.
 * Forward functions overwrite their outputs; backward functions ACCUMULATE (+=) into
 * every gradient they produce (din, dw, db, ...). A gradient pointer may be NULL when
 * that gradient is not wanted (e.g. din of the first layer). Layers never allocate:
 * where a layer needs scratch, a *_scratch_floats() function says how much and the
 * caller passes it. What a backward needs (GroupNorm mean/rstd, softmax probabilities,
 * dropout mask) is an explicit output of the forward. Loops use OpenMP; GEMMs OpenBLAS.
 */
#ifndef DDM_LAYERS_H
#define DDM_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- threads. All layer parallelism is OpenMP's; where OpenMP threads call OpenBLAS
 * (conv2d, attention, linear) OpenBLAS is switched to one thread for the call, because
 * its own worker threads and OpenMP's, alternating, spin against each other for the
 * cores. begin returns what end must restore; use around any other GEMM-heavy loop. */
int layers_blas_serial_begin(void);
void layers_blas_serial_end(int saved);

/* ---- conv2d: in (B,C,H,W), w (OC,C,K,K), b (OC) or NULL, out (B,OC,Ho,Wo)
 * Ho = (H + 2*pad - K)/stride + 1. Zero padding. Lowered to sgemm (im2col or
 * equivalent); the _ref kernels are plain loops kept to test the fast ones.
 * Scratch (same for forward and backward): at most 1M floats + 32*OC*C (more only when
 * a single image needs more), 0 for 1x1 convs on >= 256 positions; scratch sized for a
 * batch B serves any smaller batch with the same other sizes. */
size_t conv2d_scratch_floats(int B, int C, int H, int W, int OC, int K, int stride, int pad);
void conv2d_forward(float *out, const float *in, const float *w, const float *b,
                    int B, int C, int H, int W, int OC, int K, int stride, int pad,
                    float *scratch);
void conv2d_backward(float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w,
                     int B, int C, int H, int W, int OC, int K, int stride, int pad,
                     float *scratch);
void conv2d_forward_ref(float *out, const float *in, const float *w, const float *b,
                        int B, int C, int H, int W, int OC, int K, int stride, int pad);
void conv2d_backward_ref(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w,
                         int B, int C, int H, int W, int OC, int K, int stride, int pad);

/* ---- linear: in (B,IN), w (OUT,IN) as PyTorch stores it, b (OUT) or NULL, out (B,OUT) */
void linear_forward(float *out, const float *in, const float *w, const float *b,
                    int B, int IN, int OUT);
void linear_backward(float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w, int B, int IN, int OUT);

/* ---- group norm: in/out (B,C,HW), gamma/beta (C); mean/rstd (B,G) are outputs of the
 * forward, inputs of the backward. eps = 1e-5 (PyTorch's default). C % G == 0. */
#define GROUPNORM_EPS 1e-5f
void groupnorm_forward(float *out, float *mean, float *rstd, const float *in,
                       const float *gamma, const float *beta, int B, int C, int HW, int G);
void groupnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *mean, const float *rstd,
                        const float *gamma, int B, int C, int HW, int G);
/* Fused out = silu(groupnorm(in)): one pass instead of two, and the norm's output need
 * not be kept for the backward (it is recomputed from in, mean, rstd, gamma, beta).
 * Same mean/rstd as groupnorm_forward; the backward takes beta too. */
void groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *gamma, const float *beta, int B, int C, int HW, int G);
void groupnorm_silu_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *mean, const float *rstd,
                             const float *gamma, const float *beta, int B, int C, int HW,
                             int G);

/* ---- SiLU x*sigmoid(x), elementwise over n values */
void silu_forward(float *out, const float *in, size_t n);
void silu_backward(float *din, const float *dout, const float *in, size_t n);

/* ---- dropout with probability p (inverted: kept values scaled by 1/(1-p)).
 * mask (n) is an output of the forward holding 0 or 1/(1-p). The draws come from the
 * Philox stream (seed, stream), element i using counter position i, so a mask is
 * reproducible anywhere. p == 0 copies and fills the mask with 1. */
void dropout_forward(float *out, float *mask, const float *in, size_t n, float p,
                     uint64_t seed, uint64_t stream);
void dropout_backward(float *din, const float *dout, const float *mask, size_t n);

/* ---- nearest 2x upsample: in (B,C,H,W) -> out (B,C,2H,2W) */
void upsample2x_forward(float *out, const float *in, int B, int C, int H, int W);
void upsample2x_backward(float *din, const float *dout, int B, int C, int H, int W);

/* ---- channel concat: a (B,C1,HW), b (B,C2,HW) -> out (B,C1+C2,HW) */
void concat_forward(float *out, const float *a, const float *b, int B, int C1, int C2, int HW);
void concat_backward(float *da, float *db, const float *dout, int B, int C1, int C2, int HW);

/* ---- elementwise helpers */
void add_forward(float *out, const float *a, const float *b, size_t n);  /* out = a + b */
void add_inplace(float *acc, const float *x, size_t n);                  /* acc += x */
/* h (B,C,HW) += v (B,C) broadcast over positions; backward: dv (B,C) += sum over HW */
void add_channel_forward(float *h, const float *v, int B, int C, int HW);
void add_channel_backward(float *dv, const float *dh, int B, int C, int HW);

/* ---- single-head attention core over N positions, given q, k, v (B,C,N) (the 1x1
 * convs and the residual are the caller's). att (B,N,N) is an output of the forward:
 * att[b,i,j] = softmax_j( sum_c q[b,c,i] k[b,c,j] / sqrt(C) ); out[b,c,i] = sum_j
 * v[b,c,j] att[b,i,j]. The backward needs scratch of attention_scratch_floats(). */
size_t attention_scratch_floats(int B, int C, int N);
void attention_forward(float *out, float *att, const float *q, const float *k,
                       const float *v, int B, int C, int N);
void attention_backward(float *dq, float *dk, float *dv, const float *dout,
                        const float *att, const float *q, const float *k, const float *v,
                        int B, int C, int N, float *scratch);

/* softmax over each of `rows` rows of n values, in place (max-subtracted; exp accurate
 * to 1.5e-7 relative). Used by attention_forward. */
void softmax_rows(float *x, size_t rows, int n);

/* ---- sinusoidal time embedding: t (B) -> out (B,dim): with half = dim/2 and
 * f_i = 10000^(-i/half), out[b,i] = sin(t_b f_i), out[b,half+i] = cos(t_b f_i). */
void timestep_embedding(float *out, const float *t, int B, int dim);

/* ---- embedding lookup: table (rows,D), idx (B) in [0,rows) -> out (B,D) */
void embedding_forward(float *out, const float *table, const int *idx, int B, int D);
void embedding_backward(float *dtable, const float *dout, const int *idx, int B, int D);

#endif
