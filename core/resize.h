/* Resizing, the ones used everywhere.
 * Bilinear (prep --resize, the Inception input): PyTorch's F.interpolate(mode='bilinear',
 * align_corners=False, antialias=False) in float, in the order of its separable kernel, so
 * features match pytorch-fid's.
 * Bicubic and the super-resolution degradation (SR3 training, the superres task, prep
 * --degrade): PyTorch's F.interpolate(mode='bicubic', align_corners=False), in float.
 * N = planes (images x channels), H, W = input height, width, Ho, Wo = output's. */
#ifndef DDM_RESIZE_H
#define DDM_RESIZE_H

#include <stdint.h>

/* N planes (N,H,W) -> out (N,Ho,Wo). Equal sizes copy. */
void resize_bilinear(float *out, const float *in, int N, int H, int W, int Ho, int Wo);
/* The same on bytes: each output rounded to nearest (lrintf) and clamped to 0..255. */
void resize_bilinear_u8(uint8_t *out, const uint8_t *in, int N, int H, int W, int Ho, int Wo);

/* N planes (N,H,W) -> out (N,Ho,Wo) by Keys' cubic convolution (Keys 1981, a = -0.75 as
 * PyTorch): source position s = (H/Ho)(d + 0.5) - 0.5 (not clamped), the 4 taps around
 * floor(s) with their indices clamped to the border. Equal sizes copy. */
void resize_bicubic(float *out, const float *in, int N, int H, int W, int Ho, int Wo);
/* The SR3 degradation (Saharia et al. 2021, sec. 4): the mean over f x f blocks (area
 * downsampling to H/f x W/f), then bicubic back to H x W. N planes (N,H,W); f must divide
 * H and W; f = 1 copies. out may not alias in. */
void degrade_superres(float *out, const float *in, int N, int H, int W, int f);

#endif
