/* Dataset files (kind=dataset, ../shared/DESIGN.md):
 *   /images uint8 [N,C,H,W], chunked by whole images and deflate-compressed
 *   /labels int32 [N]           optional
 *   attrs kind, format_version, classes (int), source (string),
 *         class_names (1-D array of strings, one per class; optional)
 * A streaming writer (prep) and a serial reader (tests, eval, tools). Both die naming the
 * file on any problem. Also the two pixel transforms prep offers (pad, resize).
 * N = images, C = channels, H, W = height, width. */
#ifndef DDM_DATASET_H
#define DDM_DATASET_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    hid_t file, images, labels; /* labels < 0 when the file has none */
    char *path;
    size_t n;
    int c, h, w;
    int classes; /* 0 when there are no labels */
} DatasetFile;

/* ---- writing: create, write rows in order (any block size), close ------------------ */

/* Create path (truncating it) for n images of (c,h,w); labels when with_labels. */
void dataset_create(DatasetFile *ds, const char *path, size_t n, int c, int h, int w,
                    int with_labels);
/* Write rows [start, start+count): images (count,C,H,W) and labels (count) (NULL when
 * the file has no labels). */
void dataset_write_rows(DatasetFile *ds, size_t start, size_t count, const uint8_t *images,
                        const int32_t *labels);
/* Root attributes; class_names may be NULL, else classes strings. */
void dataset_set_meta(DatasetFile *ds, int classes, const char *source,
                      const char *const *class_names);

/* ---- reading ---------------------------------------------------------------------- */

/* Open path read-only; dies unless it is a dataset file of this format_version with
 * /images uint8 [N,C,H,W] (and /labels int32 [N] when present). */
void dataset_open(DatasetFile *ds, const char *path);
void dataset_read_images(DatasetFile *ds, size_t start, size_t count, uint8_t *out);
void dataset_read_labels(DatasetFile *ds, size_t start, size_t count, int32_t *out);
/* The stored class names (malloc'd array of ds->classes malloc'd strings), or NULL. */
char **dataset_class_names(DatasetFile *ds);
void dataset_free_names(char **names, int n);

/* Closes either kind of handle. */
void dataset_close(DatasetFile *ds);

/* ---- pixel transforms (uint8, planar) --------------------------------------------- */

/* out (C, H+2p, W+2p): in centred, a zero border of p pixels. */
void dataset_pad(uint8_t *out, const uint8_t *in, int c, int h, int w, int p);
/* out (C,oh,ow) from in (C,h,w): core/resize.h's resize_bilinear_u8 (PyTorch's bilinear,
 * align_corners=False, no antialias, rounded to nearest), under the name prep used. */
void dataset_resize(uint8_t *out, int oh, int ow, const uint8_t *in, int c, int h, int w);

#endif
