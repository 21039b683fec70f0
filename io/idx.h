/* MNIST IDX files (http://yann.lecun.com/exdb/mnist/), gzipped or raw: the format of
 * MNIST and Fashion-MNIST. Only the two kinds ddm needs are read:
 *   images: magic 0x00000803 (ubyte, 3 dims), then N, H, W (big-endian int32), N*H*W bytes
 *   labels: magic 0x00000801 (ubyte, 1 dim),  then N, N bytes
 * Every problem (missing file, wrong magic, short header, truncated payload or gzip
 * stream, corrupt gzip data, label count != image count) dies naming the file. */
#ifndef DDM_IDX_H
#define DDM_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

typedef struct {
    uint8_t *images;  /* (n, h, w), row-major */
    int32_t *labels;  /* (n), or NULL when no label file was read */
    size_t n;         /* images read (<= n_file when a limit was given) */
    size_t n_file;    /* images the file holds */
    int h, w;
} IdxData;

/* Read the images of an IDX file: at most limit of them (limit 0: all). */
void idx_read_images(const char *path, size_t limit, IdxData *out);
/* Read images and, when labels_path is not NULL, their labels; the label file must hold
 * exactly as many entries as the image file ("...: 60000 labels but ... has 10000 images"). */
void idx_read(const char *images_path, const char *labels_path, size_t limit, IdxData *out);
void idx_free(IdxData *d);

/* Write an IDX file, gzipped when gz != 0 (for tests and tools).
 * images: dims = {n, h, w}, data n*h*w bytes; labels: dims = {n}, data n bytes. */
void idx_write(const char *path, uint32_t magic, const uint32_t *dims, const uint8_t *data,
               int gz);

#endif
