/* PNG files through libpng, as uint8 planar blocks (C,H,W), C = 1 (gray) or 3 (RGB).
 * The prefix is pngio_ because libpng owns every png_ name. Every libpng error ends the
 * process (ddm_die) with "PATH: <what libpng said>". Writes are atomic: PATH.tmp-PID,
 * then rename, so a reader never sees half a PNG. */
#ifndef DDM_PNG_H
#define DDM_PNG_H

/* the largest side of an image ddm reads (a larger header is refused before allocating) */
#define PNGIO_MAX_SIDE 8192

#include <stdint.h>

/* Header only: size and the channel count pngio_read will return (1 for gray and
 * gray+alpha, 3 for RGB, RGBA and palette). */
void pngio_probe(const char *path, int *c, int *h, int *w);

/* Read a PNG into a malloc'd (C,H,W) block. Gray+alpha -> gray, RGBA -> RGB (alpha
 * dropped), palette -> RGB, 1/2/4-bit gray expanded to 8 bits, 16-bit reduced to 8. */
uint8_t *pngio_read(const char *path, int *c, int *h, int *w);

/* Write one (C,H,W) image, C = 1 or 3. */
void pngio_write(const char *path, const uint8_t *img, int c, int h, int w);

/* Write n images (N,C,H,W), C = 1 or 3, as a grid with `cols` columns (cols <= 0: about
 * square) and a mid-gray (128) border between and around them: 1 px for images up to
 * 64 px, else 2 px. Empty cells of the last row are gray. */
void pngio_write_grid(const char *path, const uint8_t *imgs, int n, int c, int h, int w,
                      int cols);

#endif
