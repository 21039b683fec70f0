/* Raw image sources that `ddm prep` imports into a dataset file: n images of c channels,
 * each fetched by row, with optional labels and class names.
 *   fashion-mnist          Debian's dataset-fashion-mnist (IMPORT_FMNIST_DIR, or the
 *                          folder in $DDM_FASHION_MNIST); 10 named classes
 *   idx:IMAGES[,LABELS]    MNIST-format IDX files, gzipped or not; classes = max label + 1
 *   png-dir:DIR            a folder of PNGs; with sub-folders, each is a class (sorted by
 *                          name); 1 channel when every PNG is gray, else 3
 *   noise:N[,CxHxW]        N images of uniform bytes (Philox seed 0, stream 0: the same
 *                          every time), the ceiling of a metric; no labels
 *   mask:KIND,N[,CxHxW]    N inpainting masks (core/masks.h), 255 = known; no labels
 * Every function dies naming the file and the problem. */
#ifndef DDM_IMPORT_H
#define DDM_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "io/idx.h"

#define IMPORT_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    size_t n;
    int c, h, w;       /* c: channels of every row; h, w: of the first (all, without --resize) */
    int classes;       /* 0: no labels */
    int32_t *labels;   /* (n) or NULL */
    char **class_names; /* (classes) or NULL */
    char *source;      /* for the 'source' attribute */
    /* IDX: everything in memory */
    IdxData idx;
    /* png-dir: one file per row */
    char **files;
} ImportSource;

/* Open the source named by from (the forms above). split: "train" or "test" (fashion-mnist);
 * limit > 0 keeps the first limit images; resize != 0 lets PNGs differ in size. png-dir
 * reads every header first (sizes and channels known and checked before any writing),
 * with a progress line every 2 s. */
void import_open(ImportSource *s, const char *from, const char *split, size_t limit, int resize);
/* Raw image of row i (malloc'd, s->c channels) and its size. */
uint8_t *import_row(const ImportSource *s, size_t i, int *h, int *w);
void import_free(ImportSource *s);

#endif
