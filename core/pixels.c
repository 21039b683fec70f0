/* Bytes <-> model values (core/pixels.h). The bodies of pixels_to_uint8 and
 * pixels_from_uint8 are the ones every sample file was written with. */
#include "core/pixels.h"

#include <math.h>

void pixels_to_uint8(uint8_t *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double u = ((double)x[i] + 1.0) * 127.5;
        if (!(u > 0)) out[i] = 0;            /* also NaN */
        else if (u >= 255.0) out[i] = 255;
        else out[i] = (uint8_t)floor(u + 0.5);
    }
}

void pixels_from_uint8(float *x, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(in[i] / 127.5 - 1.0);
}

void pixels_from_uint8_f32(float *x, const uint8_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = in[i] / 127.5f - 1.0f;
}
