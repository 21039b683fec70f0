/* The FID Inception-v3 of pytorch-fid: the `inception:WEIGHTS.h5` feature extractor of
 * `ddm eval`. Forward only, NCHW float32.
 *
 * What it computes (pytorch-fid's InceptionV3(output_blocks=[3]) on its default
 * settings, i.e. the network of TTUR/TensorFlow FID with pytorch-fid's published weights
 * pt_inception-2015-12-05-6726825d.pth):
 *   uint8 (B,C,H,W), C = 1 or 3  ->  x/255 in [0,1]  (gray: the plane repeated 3 times)
 *   -> bilinear resize to 299x299 (F.interpolate, align_corners=False, no antialias;
 *      a no-op at 299x299)  -> 2x - 1  (normalize_input)
 *   -> torchvision's Inception-v3 stem and Mixed_5b..Mixed_7c with pytorch-fid's
 *      FIDInceptionA (5b-5d), FIDInceptionC (6b-6e), FIDInceptionE_1 (7b), FIDInceptionE_2
 *      (7c) patches: the pool branch of A, C, E_1 is a 3x3/1 pad-1 average pool with
 *      count_include_pad=False; that of E_2 a 3x3/1 pad-1 max pool
 *   -> global average pool over 8x8: the 2048-d "pool3" features FID uses.
 * Every conv is BasicConv2d: conv (no bias) -> BatchNorm(eps 0.001, running stats) ->
 * ReLU; the BatchNorm is folded into the conv weight and a bias once, at load time.
 *
 * Parameters: the PyTorch state_dict of pytorch-fid's model minus fc and
 * num_batches_tracked, in state_dict order, one flat float block with a TensorInfo table
 * ("Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.weight", ".bn.bias",
 * ".bn.running_mean", ".bn.running_var", ..., "Mixed_7c.branch_pool.bn.running_var";
 * 94 convs, 470 tensors, 21,820,000 floats). io/inception_io.c fills the block from HDF5
 * (/inception/<name>, written by tests/ref/convert_inception.py) and calls
 * inception_prepare(), which folds the BatchNorms IN PLACE: afterwards <conv>.conv.weight
 * holds w*gamma/sqrt(var+eps) and <conv>.bn.bias holds beta - mean*gamma/sqrt(var+eps);
 * the other bn.* slots are stale.
 *
 * How `ddm eval --features inception:WEIGHTS.h5` calls it (every rank, on its own shard
 * of the images; nothing here is collective):
 *     #include "io/inception_io.h"
 *     Inception *net = inception_load(path);  // reads + folds; ddm_die on a bad file
 *     char *src = inception_load_source(path); // for the stats file's extractor attribute
 *     float *feat = xalloc_floats((size_t)n * INCEPTION_DIM);
 *     for (size_t i0 = 0; i0 < n; i0 += nb)     // any nb; e.g. rows read from samples.h5
 *         inception_features(net, feat + i0 * INCEPTION_DIM,      // (nb, 2048) out
 *                            img + i0 * (size_t)C * H * W, nb, C, H, W); // uint8 in
 *     ... mean/covariance of the feature rows in float64 -> FID / KID / precision-recall
 *     inception_free(net);
 * C must be 1 or 3 (dies otherwise); any H, W (each image is resized to 299x299 on its
 * own). The features of an image do not depend on nb or on how the batch is split beyond
 * float rounding (~1e-6 relative: the GEMM blocking differs). The file's fc.* tensors
 * (1008 logits) are not used: no Inception Score from this extractor.
 * Threads: OpenMP (OMP_NUM_THREADS / ddm_set_threads), single-threaded OpenBLAS inside
 * the regions, as core/conv.c. Cost: ~5.7 G multiply-adds per image, 0.15-0.27 s per
 * image on one core of the shared 2-core test machine (a training job running beside).
 * Memory: 87 MB of weights, ~14 MB of work buffers per image of the internal batch
 * (inception_set_max_batch, default 4) plus conv scratch, allocated on first use and kept
 * until inception_free: ~190 MB peak RSS at a batch of 4, ~150 MB at 1.
 *
 * B = batch, C = channels, H, W = height, width, OC = output channels, P = Ho*Wo.
 */
#ifndef DDM_INCEPTION_H
#define DDM_INCEPTION_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define INCEPTION_DIM 2048      /* feature width (pool3) */
#define INCEPTION_SIZE 299      /* network input height and width */
#define INCEPTION_BN_EPS 1e-3   /* torchvision BasicConv2d's BatchNorm eps */
#define INCEPTION_MAX_BATCH 4   /* images per internal forward pass (default) */

typedef struct Inception Inception;

/* ---- the network */

/* An unloaded network: the tensor table and a zeroed parameter block (fill it, then
 * inception_prepare). Most callers want inception_load (io/inception_io.h) instead. */
Inception *inception_create(void);
void inception_free(Inception *net);

int inception_num_tensors(const Inception *net);
const TensorInfo *inception_tensor(const Inception *net, int i);
const TensorInfo *inception_find_tensor(const Inception *net, const char *name); /* or NULL */
size_t inception_num_params(const Inception *net);
float *inception_params(Inception *net); /* the raw block, PyTorch layout (see above) */

/* Fold every BatchNorm into its conv (in place, once). Dies naming `what` (the weights
 * file; may be NULL) and the conv when a parameter is not finite or a running_var + eps
 * is not positive. */
void inception_prepare(Inception *net, const char *what);

/* Images per internal forward pass (default INCEPTION_MAX_BATCH): the work buffers hold
 * this many. Larger batches run in pieces; results do not depend on it beyond rounding. */
void inception_set_max_batch(Inception *net, int nb);

/* uint8 images img (B,C,H,W), C = 1 or 3, any H, W >= 1 -> feat (B,2048). */
void inception_features(Inception *net, float *feat, const uint8_t *img, int B, int C, int H,
                        int W);
/* The network alone: x (B,3,299,299), already in [-1,1] -> feat (B,2048). */
void inception_forward(Inception *net, float *feat, const float *x, int B);

/* ---- the pieces, public for the tests (each overwrites its output, never allocates) */

/* core/resize.h's resize_bilinear under the name the Inception tests use. */
void inception_resize_bilinear(float *out, const float *in, int N, int H, int W, int Ho,
                               int Wo);

/* uint8 (B,C,H,W), C = 1 or 3 -> x (B,3,299,299): /255, resize, 2x - 1, gray repeated.
 * plane: scratch of B*C*H*W floats. */
void inception_input(float *x, const uint8_t *img, int B, int C, int H, int W, float *plane);

/* Pools over in (B,C,H,W) -> out (B,C,Ho,Wo), Ho = (H + 2 pad - K)/stride + 1 (floor).
 * Max: padding never wins (PyTorch pads with -inf); a NaN in the window gives NaN.
 * Average: count_include_pad = 1 divides by the window clipped to the padded image,
 * 0 by its part inside the image (TensorFlow's, and pytorch-fid's FID blocks'). */
void inception_maxpool(float *out, const float *in, int B, int C, int H, int W, int K,
                       int stride, int pad);
void inception_avgpool(float *out, const float *in, int B, int C, int H, int W, int K,
                       int stride, int pad, int count_include_pad);
/* out (B,C) = mean over HW of in (B,C,HW) (summed in double) */
void inception_global_avgpool(float *out, const float *in, int B, int C, int HW);

/* Conv with a KH x KW kernel, strides SH, SW and zero padding PH, PW (the 1x7, 7x1, 1x3,
 * 3x1 convs: core/layers.h's conv2d takes square kernels only). in (B,C,H,W),
 * w (OC,C,KH,KW), b (OC) or NULL, out (B,OC,Ho,Wo), Ho = (H + 2 PH - KH)/SH + 1.
 * im2col + OpenBLAS sgemm; scratch from inception_conv_scratch_floats(). */
typedef struct {
    int kh, kw, sh, sw, ph, pw;
} InceptionKernel;
size_t inception_conv_scratch_floats(int B, int C, int H, int W, int OC, InceptionKernel k);
void inception_conv_forward(float *out, const float *in, const float *w, const float *b,
                            int B, int C, int H, int W, int OC, InceptionKernel k,
                            float *scratch);
/* the same as plain loops (summed in double), to test the fast one */
void inception_conv_forward_ref(float *out, const float *in, const float *w, const float *b,
                                int B, int C, int H, int W, int OC, InceptionKernel k);

/* BatchNorm (inference) folded into the conv before it: for each output channel oc,
 * s = gamma/sqrt(var + eps), w[oc, :] *= s (per_oc = C*KH*KW weights), b[oc] =
 * beta - mean*s. b may alias beta. Computed in double. Returns the index of the first
 * channel whose var + eps <= 0 or whose result is not finite, -1 when all are fine. */
int inception_fold_bn(float *w, float *b, const float *gamma, const float *beta,
                      const float *mean, const float *var, int OC, size_t per_oc, double eps);

#endif
