/* Bilinear resize, the one used everywhere (prep --resize, the Inception input):
 * PyTorch's F.interpolate(mode='bilinear', align_corners=False, antialias=False) in float,
 * in the order of its separable kernel, so features match pytorch-fid's. */
#ifndef DDM_RESIZE_H
#define DDM_RESIZE_H

#include <stdint.h>

/* N planes (N,H,W) -> out (N,Ho,Wo). Equal sizes copy. */
void resize_bilinear(float *out, const float *in, int N, int H, int W, int Ho, int Wo);
/* The same on bytes: each output rounded to nearest (lrintf) and clamped to 0..255. */
void resize_bilinear_u8(uint8_t *out, const uint8_t *in, int N, int H, int W, int Ho, int Wo);

#endif
