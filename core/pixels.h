/* The one mapping between image bytes and model values: u in 0..255 <-> x in [-1, 1].
 * Byte-identical results matter (sample files, previews and PNGs are compared by bytes),
 * so the arithmetic is fixed here and nowhere else. */
#ifndef DDM_PIXELS_H
#define DDM_PIXELS_H

#include <stddef.h>
#include <stdint.h>

/* u = (x + 1) * 127.5 in double, rounded half up, clamped to 0..255; NaN -> 0 */
void pixels_to_uint8(uint8_t *out, const float *x, size_t n);
/* x = u / 127.5 - 1 in double, then rounded to float */
void pixels_from_uint8(float *x, const uint8_t *in, size_t n);
/* x = (float)u / 127.5f - 1.0f in float: the data side (training batches, classifier
 * inputs). It differs from pixels_from_uint8 in the last bit for half of the byte values;
 * both stay because checkpoints and reference tests depend on those bits. */
void pixels_from_uint8_f32(float *x, const uint8_t *in, size_t n);

#endif
