/* A small CNN classifier for gray (or C-channel) S x S images, NCHW float32: the feature
 * extractor of `ddm eval` (its penultimate activations feed FID/KID/precision/recall,
 * its class probabilities the Inception Score) and of its class match. It sees clean
 * images only (no time input), so it cannot serve classifier guidance, which needs
 * p(y | x_t, t) on noisy images (a noise-aware classifier: issue "classifier guidance").
 *
 *   conv1 3x3 C->ch        -> norm1 GN -> SiLU       (S x S)
 *   conv2 3x3/2 ch->2ch    -> norm2 GN -> SiLU       (S2 = (S-1)/2+1)
 *   conv3 3x3/2 2ch->4ch   -> norm3 GN -> SiLU       (S3 = (S2-1)/2+1)
 *   global average pool                              (4ch)
 *   fc1 4ch->feat_dim -> SiLU                        features (penultimate)
 *   fc2 feat_dim->num_classes                        logits
 *
 * Parameters in one block, gradients in another (same layout), PyTorch-style names in
 * the order of named_parameters() of the equivalent nn.Module:
 *   conv1.{weight,bias} norm1.{weight,bias} conv2.* norm2.* conv3.* norm3.* fc1.* fc2.*
 * B = batch, C = in_ch, S = image_size, K = num_classes, F = feat_dim.
 */
#ifndef DDM_CLASSIFIER_H
#define DDM_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "core/unet.h" /* UNetTensor: the name/shape/offset table row shared by all models */

typedef struct {
    int in_ch;       /* C (1) */
    int image_size;  /* S (32; 28 works too) */
    int num_classes; /* K (10) */
    int ch;          /* base channels (32): conv widths ch, 2ch, 4ch */
    int groups;      /* GroupNorm groups (8) */
    int feat_dim;    /* F, width of the penultimate features (128) */
} ClassifierConfig;

typedef UNetTensor ClassifierTensor;
typedef struct Classifier Classifier;

void classifier_config_default(ClassifierConfig *cfg);
/* NULL when valid, else a static message saying what is wrong */
const char *classifier_config_check(const ClassifierConfig *cfg);

/* max_batch: the largest B forward will see. training = 0: no gradients (less memory). */
Classifier *classifier_init(const ClassifierConfig *cfg, int max_batch, int training);
void classifier_free(Classifier *net);

const ClassifierConfig *classifier_config(const Classifier *net);
size_t classifier_num_params(const Classifier *net);
float *classifier_params(Classifier *net);
float *classifier_grads(Classifier *net); /* NULL for an inference net */
int classifier_num_tensors(const Classifier *net);
const ClassifierTensor *classifier_tensor(const Classifier *net, int i);
const ClassifierTensor *classifier_find_tensor(const Classifier *net, const char *name);

/* PyTorch's default initialisation (conv/linear weight and bias U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)), i.e. kaiming-uniform with a = sqrt(5); GroupNorm weight 1, bias 0),
 * drawn from the Philox streams (seed, tensor index). */
void classifier_init_weights(Classifier *net, uint64_t seed);

/* x (B,C,S,S) -> logits (B,K); feat (B,F) (after SiLU) when not NULL. Keeps the
 * activations for classifier_backward. */
void classifier_forward(Classifier *net, float *logits, float *feat, const float *x, int B);
/* Mean cross-entropy of logits (B,K) against labels (B) in [0,K); dlogits (B,K), when not
 * NULL, is overwritten with d(loss)/d(logits) = (softmax - onehot) / B. */
float classifier_loss(float *dlogits, const float *logits, const int *labels, int B, int K);
/* Accumulates the parameter gradients of the last forward (a training net); dx (B,C,S,S)
 * accumulated too when not NULL. */
void classifier_backward(Classifier *net, float *dx, const float *dlogits);
void classifier_zero_grad(Classifier *net);

/* Evaluation: feat (B,F) and/or probs (B,K) (softmax of the logits), either may be NULL.
 * B may exceed max_batch: the batch is run in pieces. */
void classifier_eval(Classifier *net, float *feat, float *probs, const float *x, int B);
void classifier_features(Classifier *net, float *feat, const float *x, int B);
void classifier_probs(Classifier *net, float *probs, const float *x, int B);

/* uint8 images (B,C,H,W) -> x (B,C,S,S) in [-1,1], centred in the S x S frame with -1
 * (black) around them when H, W < S (28 -> 32 pads 2 on each side). H, W <= S. */
void classifier_input_u8(float *x, const uint8_t *img, int B, int C, int H, int W, int S);

/* row-wise softmax of logits (B,K) into probs, in float64 internally */
void classifier_softmax(float *probs, const float *logits, int B, int K);

#endif
