/* The inputs of a sample task from dataset files (see task_inputs.h). */
#include "io/task_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/pixels.h"
#include "io/dataset.h"

/* the whole file: images (and labels) */
static int read_all(const char *path, int C, int H, int W, int64_t *n, uint8_t **img,
                    int32_t **lab, const char *what, char *err, size_t errlen)
{
    DatasetFile ds;
    dataset_open(&ds, path);
    if (ds.c != C || ds.h != H || ds.w != W) {
        snprintf(err, errlen, "%s: %s are %dx%dx%d, the model makes %dx%dx%d", path, what, ds.c,
                 ds.h, ds.w, C, H, W);
        dataset_close(&ds);
        return -1;
    }
    if (ds.n == 0) {
        snprintf(err, errlen, "%s: holds no %s", path, what);
        dataset_close(&ds);
        return -1;
    }
    const size_t D = (size_t)C * H * W;
    *n = (int64_t)ds.n;
    *img = xmalloc(ds.n * D);
    dataset_read_images(&ds, 0, ds.n, *img);
    if (lab && ds.labels >= 0) {
        *lab = xmalloc(sizeof **lab * ds.n);
        dataset_read_labels(&ds, 0, ds.n, *lab);
    }
    dataset_close(&ds);
    return 0;
}

int task_inputs_load(TaskInputFiles *t, const char *input, const char *mask, int C, int H, int W,
                     char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->C = C;
    t->H = H;
    t->W = W;
    if (read_all(input, C, H, W, &t->n, &t->images, &t->labels, "images", err, errlen))
        return -1;
    if (!mask) return 0;
    if (read_all(mask, C, H, W, &t->n_mask, &t->mask, NULL, "masks", err, errlen)) return -1;
    if (t->n_mask != 1 && t->n_mask != t->n) {
        snprintf(err, errlen, "%s: %lld masks for %lld inputs (want 1 or %lld)", mask,
                 (long long)t->n_mask, (long long)t->n, (long long)t->n);
        return -1;
    }
    const size_t D = (size_t)C * H * W;
    for (int64_t m = 0; m < t->n_mask; m++)
        for (size_t j = 0; j < D; j++) {
            const uint8_t v = t->mask[(size_t)m * D + j];
            if (v != 0 && v != 255) {
                snprintf(err, errlen, "%s: pixel values must be 0 (fill) or 255 (known), found "
                         "%d in mask %lld", mask, v, (long long)m);
                return -1;
            }
        }
    return 0;
}

void task_inputs_free(TaskInputFiles *t)
{
    free(t->images);
    free(t->labels);
    free(t->mask);
    memset(t, 0, sizeof *t);
}

void task_inputs_rows(const TaskInputFiles *t, const int64_t *idx, int B, float *img,
                      float *mask)
{
    const size_t D = (size_t)t->C * t->H * t->W;
    for (int b = 0; b < B; b++) {
        DDM_ASSERT(idx[b] >= 0 && idx[b] < t->n, "task input %lld of %lld", (long long)idx[b],
                   (long long)t->n);
        pixels_from_uint8(img + (size_t)b * D, t->images + (size_t)idx[b] * D, D);
        if (!mask) continue;
        const uint8_t *m = t->mask + (size_t)(t->n_mask == 1 ? 0 : idx[b]) * D;
        for (size_t j = 0; j < D; j++) mask[(size_t)b * D + j] = m[j] ? 1.0f : 0.0f;
    }
}
