/* Inpainting masks (see masks.h). */
#include "core/masks.h"

#include <string.h>

#include "core/rng.h"

int masks_kind(const char *name)
{
    if (!strcmp(name, "centre") || !strcmp(name, "center")) return MASK_CENTRE;
    if (!strcmp(name, "half")) return MASK_HALF;
    if (!strcmp(name, "strokes")) return MASK_STROKES;
    return -1;
}

/* a square of side 3 centred at (y, x) to fill, clipped to the image */
static void brush(uint8_t *m, int H, int W, int y, int x)
{
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
            int yy = y + dy, xx = x + dx;
            if (yy >= 0 && yy < H && xx >= 0 && xx < W) m[(size_t)yy * W + xx] = 0;
        }
}

void masks_make(uint8_t *out, MaskKind kind, uint64_t seed, uint64_t i, int C, int H, int W)
{
    const size_t hw = (size_t)H * W;
    uint8_t *m = out; /* channel 0, copied to the others at the end */
    memset(m, 255, hw);
    if (kind == MASK_CENTRE) {
        for (int y = H / 4; y < H / 4 + H / 2; y++)
            for (int x = W / 4; x < W / 4 + W / 2; x++) m[(size_t)y * W + x] = 0;
    } else if (kind == MASK_HALF) {
        for (int y = 0; y < H; y++)
            for (int x = W / 2; x < W; x++) m[(size_t)y * W + x] = 0;
    } else {
        Rng r;
        rng_init(&r, seed, i);
        for (int s = 0; s < 4; s++) {
            int y = (int)(rng_u32(&r) % (uint32_t)H), x = (int)(rng_u32(&r) % (uint32_t)W);
            for (int t = 0; t < 2 * H; t++) {
                brush(m, H, W, y, x);
                uint32_t d = rng_u32(&r) % 4; /* up, down, left, right, staying inside */
                y += d == 0 ? -1 : d == 1 ? 1 : 0;
                x += d == 2 ? -1 : d == 3 ? 1 : 0;
                y = y < 0 ? 0 : y >= H ? H - 1 : y;
                x = x < 0 ? 0 : x >= W ? W - 1 : x;
            }
        }
    }
    for (int c = 1; c < C; c++) memcpy(out + (size_t)c * hw, m, hw);
}
