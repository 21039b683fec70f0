/* Inpainting masks (RePaint's test masks, Lugmayr et al. 2022, sec. 5): bytes per pixel,
 * 255 = known, 0 = to fill; every channel alike. */
#ifndef DDM_MASKS_H
#define DDM_MASKS_H

#include <stdint.h>

typedef enum { MASK_CENTRE = 0, MASK_HALF, MASK_STROKES } MaskKind;

/* "centre" | "half" | "strokes" -> kind, or -1 */
int masks_kind(const char *name);
/* Mask i of a file of this kind (C x H x W bytes into out):
 *   centre:  the centre square of side H/2 x W/2 to fill;
 *   half:    the right half to fill;
 *   strokes: 4 random brush strokes (random walks of 3-pixel squares, 2H steps each) to
 *            fill, drawn from the Philox stream (seed, i): mask i is the same every time. */
void masks_make(uint8_t *out, MaskKind kind, uint64_t seed, uint64_t i, int C, int H, int W);

#endif
