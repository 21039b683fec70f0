/* The inputs of a sample task from dataset files (see task_inputs.h). */
#include "io/task_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/pixels.h"
#include "core/resize.h"
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

int task_inputs_load_superres(TaskInputFiles *t, const char *input, int C, int H, int W, int F,
                              char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->C = C;
    t->H = H;
    t->W = W;
    DatasetFile ds;
    dataset_open(&ds, input);
    const int full = ds.c == C && ds.h == H && ds.w == W;
    const int low = F > 1 && H % F == 0 && W % F == 0 && ds.c == C && ds.h == H / F &&
                    ds.w == W / F;
    const int fc = ds.c, fh = ds.h, fw = ds.w;
    dataset_close(&ds);
    if (full) return task_inputs_load(t, input, NULL, C, H, W, err, errlen);
    if (!low) {
        if (F > 1 && H % F == 0 && W % F == 0)
            snprintf(err, errlen, "%s: images are %dx%dx%d; task superres takes the truth at the "
                     "model's size %dx%dx%d or the low-resolution image at %dx%dx%d (scale %d)",
                     input, fc, fh, fw, C, H, W, C, H / F, W / F, F);
        else
            snprintf(err, errlen, "%s: images are %dx%dx%d; task superres takes the truth at the "
                     "model's size %dx%dx%d%s", input, fc, fh, fw, C, H, W,
                     F > 1 ? "" : " (low-resolution inputs need one scale for every setting)");
        return -1;
    }
    const int h = H / F, w = W / F;
    uint8_t *lo8 = NULL;
    if (read_all(input, C, h, w, &t->n, &lo8, &t->labels, "images", err, errlen)) return -1;
    const size_t D = (size_t)C * H * W, d = (size_t)C * h * w;
    float *lo = xalloc_floats((size_t)t->n * d);
    pixels_from_uint8(lo, lo8, (size_t)t->n * d);
    free(lo8);
    t->up = xalloc_floats((size_t)t->n * D);
    resize_bicubic(t->up, lo, (int)t->n * C, h, w, H, W);
    free(lo);
    t->images = xmalloc((size_t)t->n * D);
    pixels_to_uint8(t->images, t->up, (size_t)t->n * D);
    t->lowres = F;
    return 0;
}

void task_inputs_free(TaskInputFiles *t)
{
    free(t->images);
    free(t->labels);
    free(t->mask);
    free(t->up);
    memset(t, 0, sizeof *t);
}

void task_inputs_rows(const TaskInputFiles *t, const int64_t *idx, int B, float *img,
                      float *mask)
{
    const size_t D = (size_t)t->C * t->H * t->W;
    for (int b = 0; b < B; b++) {
        DDM_ASSERT(idx[b] >= 0 && idx[b] < t->n, "task input %lld of %lld", (long long)idx[b],
                   (long long)t->n);
        if (t->up)
            memcpy(img + (size_t)b * D, t->up + (size_t)idx[b] * D, D * sizeof(float));
        else
            pixels_from_uint8(img + (size_t)b * D, t->images + (size_t)idx[b] * D, D);
        if (!mask) continue;
        const uint8_t *m = t->mask + (size_t)(t->n_mask == 1 ? 0 : idx[b]) * D;
        for (size_t j = 0; j < D; j++) mask[(size_t)b * D + j] = m[j] ? 1.0f : 0.0f;
    }
}
