/* The inputs of a sample task (core/task.h) from ddm dataset files: the images (guides,
 * originals, references: `--input FILE.h5`) and the masks (`--mask FILE.h5`, a dataset of
 * 0/255 images, 255 = known pixel: one mask for every input, or one per input). Every rank
 * reads them whole (they are the size of a dataset split, not of a training set). */
#ifndef DDM_TASK_INPUTS_H
#define DDM_TASK_INPUTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t n;          /* input images */
    int C, H, W;
    uint8_t *images;    /* (n, C*H*W) */
    int32_t *labels;    /* (n), NULL when the file has none */
    int64_t n_mask;     /* 0 (no mask file), 1 (one for all) or n */
    uint8_t *mask;      /* (n_mask, C*H*W) */
    int lowres;         /* 0, or F: the file held low-resolution images of H/F x W/F */
    float *up;          /* lowres: (n, C*H*W) data-space floats, bicubic-upsampled; images
                           then holds them rounded (for grids) */
} TaskInputFiles;

/* Load input (and mask, may be NULL) for a model making C x H x W images. 0, or -1 with
 * a message naming the file: "IN.h5: images are 3x32x32, the model makes 1x32x32",
 * "MASK.h5: 5 masks for 10 inputs (want 1 or 10)", "MASK.h5: pixel values must be 0 or
 * 255 (found 17 in mask 0)". A file that is not a dataset dies (io/dataset). */
int task_inputs_load(TaskInputFiles *t, const char *input, const char *mask, int C, int H, int W,
                     char *err, size_t errlen);
/* The same without a mask for SR3's superres task at factor F (0: several factors, full
 * size only): an input of the model's C x H x W is the truth; one of C x H/F x W/F is the
 * low-resolution image itself, upsampled here to H x W by bicubic in float (core/resize.h)
 * and t->lowres = F. Other sizes: "IN.h5: images are 1x20x20; task superres takes the truth
 * at the model's size 1x32x32 or the low-resolution image at 1x8x8 (scale 4)". */
int task_inputs_load_superres(TaskInputFiles *t, const char *input, int C, int H, int W, int F,
                              char *err, size_t errlen);
void task_inputs_free(TaskInputFiles *t);
/* Rows idx[0..B) as data-space floats: img (B,D) in [-1,1] (core/pixels.h) and, with a
 * mask file, mask (B,D) in {0,1} (NULL: none wanted). */
void task_inputs_rows(const TaskInputFiles *t, const int64_t *idx, int B, float *img,
                      float *mask);

#endif
