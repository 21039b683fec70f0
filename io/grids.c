/* PNG grids of a samples file's groups (see grids.h). */
#include "io/grids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "io/h5.h"
#include "io/png.h"
#include "io/samples.h"

#define GRID_MAX 64
#define GRID_PER_ROW 10

/* The finished images among rows 0..n-1 of one class per row (lab in 0..nc-1) into a
 * gray (nc*GRID_PER_ROW, D) block: returns it and its image count (0 when none). */
static uint8_t *by_class_block(const uint8_t *img, const int32_t *lab, const uint8_t *done,
                               int64_t n, size_t D, int nc, int *k)
{
    const int64_t cap = (int64_t)nc * GRID_PER_ROW;
    uint8_t *g = xmalloc((size_t)cap * D);
    memset(g, 128, (size_t)cap * D);
    int *fill = xcalloc((size_t)nc, sizeof(int));
    *k = 0;
    for (int64_t r = 0; r < n; r++) {
        const int l = lab[r];
        if (!done[r] || l < 0 || l >= nc || fill[l] >= GRID_PER_ROW) continue;
        memcpy(g + ((size_t)l * GRID_PER_ROW + (size_t)fill[l]++) * D, img + (size_t)r * D, D);
        (*k)++;
    }
    free(fill);
    if (*k > 0) *k = (int)cap;
    return g;
}

/* input | output pairs of the finished rows among 0..n-1, 2*GRID_PAIRS images at most */
#define GRID_PAIRS 32
static uint8_t *pairs_block(const uint8_t *img, const uint8_t *done, int64_t n, size_t D,
                            const GridGroup *g, int *k)
{
    uint8_t *p = xmalloc((size_t)2 * GRID_PAIRS * D);
    *k = 0;
    for (int64_t r = 0; r < n && *k < 2 * GRID_PAIRS; r++) {
        if (!done[r]) continue;
        memcpy(p + (size_t)(*k)++ * D, g->inputs + (size_t)(r / g->per_input) * D, D);
        memcpy(p + (size_t)(*k)++ * D, img + (size_t)r * D, D);
    }
    return p;
}

void grids_write(const char *out, const char *grid, const GridGroup *gg, int ng, int64_t n_rows,
                 int c, int h, int w, int num_classes)
{
    hid_t f = h5_open(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    const size_t D = (size_t)c * h * w;
    for (int i = 0; i < ng; i++) {
        const int pairs = gg[i].inputs != NULL;
        const int by_class = !pairs && gg[i].by_class && num_classes >= 2 && num_classes <= 16;
        const int64_t cap = pairs ? 4 * GRID_PAIRS : by_class ? (int64_t)num_classes * GRID_PER_ROW : GRID_MAX;
        const int64_t n = n_rows < cap ? n_rows : cap;
        uint8_t *img = xmalloc((size_t)(n ? n : 1) * D), *done = xmalloc((size_t)(n ? n : 1));
        int32_t *lab = xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
        samples_read_rows(f, out, gg[i].name, 0, n, img, NULL, lab, done);
        int k = 0;
        if (by_class || pairs) {
            uint8_t *g = pairs ? pairs_block(img, done, n, D, &gg[i], &k)
                               : by_class_block(img, lab, done, n, D, num_classes, &k);
            free(img);
            img = g;
        } else {
            for (int64_t r = 0; r < n; r++)
                if (done[r]) memmove(img + (size_t)k++ * D, img + (size_t)r * D, D);
        }
        free(lab);
        char path[4096];
        if (grid && ng == 1) {
            snprintf(path, sizeof path, "%s", grid);
        } else {
            const char *base = grid ? grid : out;
            const char *ext = grid ? ".png" : ".h5";
            size_t bl = strlen(base), el = strlen(ext);
            if (bl > el && !strcmp(base + bl - el, ext)) bl -= el;
            snprintf(path, sizeof path, "%.*s-%s.png", (int)bl, base, gg[i].name);
        }
        if (k > 0) {
            pngio_write_grid(path, img, k, c, h, w, by_class || pairs ? GRID_PER_ROW : 0);
            if (pairs) printf("ddm sample: grid of %s, input | output pairs: %s\n", gg[i].name, path);
            else if (by_class) printf("ddm sample: grid of %s, one class per row: %s\n", gg[i].name, path);
            else printf("ddm sample: grid of the first %d images of %s: %s\n", k, gg[i].name, path);
        }
        free(img);
        free(done);
    }
    h5_close(f);
}
