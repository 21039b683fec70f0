/* The reference U-Net of ../shared/DESIGN.md ("The reference network"), NCHW float32.
 *
 * Parameters live in one allocation, gradients in another (same layout), activations in
 * a third; every tensor has a PyTorch-style name (tests/ref/unet_ref.py builds the same
 * module tree), in the order of PyTorch's named_parameters():
 *   temb.dense.0.{weight,bias}  temb.dense.1.{weight,bias}  label_emb.weight (if classes)
 *   conv_in.{weight,bias}
 *   down.L.block.I.{norm1,conv1,temb_proj,norm2,conv2,nin_shortcut}.{weight,bias}
 *   down.L.attn.I.{norm,q,k,v,proj_out}.{weight,bias}   down.L.downsample.conv.{weight,bias}
 *   mid.block_1.*  mid.attn_1.*  mid.block_2.*
 *   up.L.block.I.*  up.L.attn.I.*  up.L.upsample.conv.*   (L = resolution level, as down)
 *   norm_out.{weight,bias}  conv_out.{weight,bias}
 */
#ifndef DDM_UNET_H
#define DDM_UNET_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define UNET_MAX_LEVELS 8

typedef struct {
    int ch;                          /* base channels (32) */
    int n_levels;                    /* entries of ch_mult (3) */
    int ch_mult[UNET_MAX_LEVELS];    /* (1,2,2) */
    int num_res_blocks;              /* (2) */
    int n_attn;                      /* entries of attn_res (1) */
    int attn_res[UNET_MAX_LEVELS];   /* resolutions with attention (8) */
    int groups;                      /* GroupNorm groups (8) */
    float dropout;                   /* (0) */
    int num_classes;                 /* 0: unconditional; else a label table of num_classes+1
                                        rows, row num_classes is the null label */
    int image_size;                  /* (32) */
    int in_ch, out_ch;               /* (1, 1) */
    int cond_ch;                     /* condition channels concatenated after the image's
                                        in_ch (SR3's low-resolution image; 0 = none) */
    int head;                        /* UNET_HEAD_IMAGE: the U-Net, out (B,out_ch,S,S).
                                        UNET_HEAD_POOL: the encoder of a noise-aware
                                        classifier (Dhariwal & Nichol 2021, sec. 4): the down
                                        path and the middle only, then GroupNorm, SiLU, a
                                        global average pool and a linear layer to out_ch
                                        logits, out (B,out_ch); tensors norm_out.* (on the
                                        middle's channels) and head.{weight,bias} replace
                                        up.* and conv_out.* */
} UNetConfig;

enum { UNET_HEAD_IMAGE = 0, UNET_HEAD_POOL = 1 };

void unet_config_default(UNetConfig *cfg);
/* NULL when valid, else a static message saying what is wrong */
const char *unet_config_check(const UNetConfig *cfg);

/* name, shape and offset of a parameter in the block (core/tensor.h) */
typedef TensorInfo UNetTensor;

typedef struct UNet UNet;

/* max_batch: the largest batch forward() will see. training = 0 builds an inference-only
 * net: no gradients, and activations are not kept for a backward (much less memory; it
 * also walks a large batch in chunks of 32 images, so its memory does not grow with
 * max_batch beyond that). */
UNet *unet_init(const UNetConfig *cfg, int max_batch, int training);
void unet_free(UNet *net);

const UNetConfig *unet_config(const UNet *net);
size_t unet_num_params(const UNet *net);
float *unet_params(UNet *net);
float *unet_grads(UNet *net);    /* NULL for an inference net */
int unet_num_tensors(const UNet *net);
const UNetTensor *unet_tensor(const UNet *net, int i);
const UNetTensor *unet_find_tensor(const UNet *net, const char *name);
size_t unet_activation_bytes(const UNet *net); /* memory held for activations + scratch */

/* PyTorch's default initialisation (kaiming-uniform weights, uniform biases, GroupNorm
 * weight 1 bias 0, embedding N(0,1)), drawn from Philox streams keyed by (seed, tensor). */
void unet_init_weights(UNet *net, uint64_t seed);

/* x (B,in_ch+cond_ch,S,S): the image, then its condition channels (cond_ch = 0: the image
 * alone), t (B) timestep values (float: discrete step index or noise level),
 * labels (B) in [0, num_classes] (num_classes = null label) or NULL (all null / uncond).
 * out (B,out_ch,S,S), or (B,out_ch) logits with head = UNET_HEAD_POOL. Dropout (when cfg.dropout > 0 and training) draws from the Philox
 * stream (dropout_seed, layer), layer = the ResBlock's position in forward order (down,
 * mid, up; 0-based); training = 1 with dropout needs a training net. */
void unet_forward(UNet *net, float *out, const float *x, const float *t, const int *labels,
                  int B, int training, uint64_t dropout_seed);
/* Accumulates parameter gradients for the last forward (which must have had training=1
 * on a training net); dx (B,in_ch+cond_ch,S,S) accumulated too when not NULL. */
void unet_backward(UNet *net, float *dx, const float *dout);
void unet_zero_grad(UNet *net);

/* Per-layer-kind timing (seconds, accumulated since the last reset), for the bench.
 * Kinds: conv3x3, conv1x1, groupnorm (fused with SiLU where a SiLU follows), silu,
 * attention (the softmax(q^T k) v core; its 1x1 convs count as conv1x1), linear, other
 * (concat, upsample, adds, embeddings, dropout, zeroing). flops: forward plus backward
 * flops done in that time (GEMM kinds exact, elementwise kinds nominal). */
typedef struct { const char *kind; double fwd_s, bwd_s; double flops; } UNetTiming;
int unet_timing(const UNet *net, const UNetTiming **rows);
void unet_timing_reset(UNet *net);

#endif
