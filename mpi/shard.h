/* Reading the training data across ranks (DESIGN.md, "Training invariance").
 *
 * The data order is one permutation of the N dataset rows per epoch, from (seed, epoch)
 * (rng_permutation, stream = epoch). An epoch has floor(N/Bg) steps (the remainder is
 * dropped) and step s takes positions [s*Bg, (s+1)*Bg) of the concatenated epochs; rank r
 * of P takes batch rows [r*Bg/P, (r+1)*Bg/P). So the images of a step, and in which batch
 * row each sits, do not depend on P. Each batch row also has a GLOBAL POSITION
 * pos = s*Bg + i (i = row within the global batch): the train job keys its noise and
 * timesteps by it, and the optional horizontal flip is drawn from (seed, SHARD_FLIP_STREAM,
 * pos), so those do not depend on P either.
 *
 * Every rank opens the dataset with the MPI-IO driver and reads only its rows: scattered
 * rows are read as one sorted hyperslab union per step and put back in batch order.
 * Independent reads by default: measured on 4096-8192 images of 1x32x32 in deflate chunks
 * of 256 rows (as io/dataset.c writes them), Bg = 64, 2 cores: independent 3-6 ms/step,
 * collective 11-36 ms/step at 1 and 2 ranks (the collective path for filtered chunks
 * gains nothing from the chunk cache, so every touched chunk is inflated on every read,
 * and it adds a synchronisation per step). With `cache` the whole /images is read into memory once at
 * open (N*C*H*W bytes per rank) and a step costs ~0.1 ms: the right choice for datasets
 * that fit (Fashion-MNIST at 32x32 is 61 MB).
 *
 * B = rows of this rank's batch (Bg/P), C, H, W = channels, height, width.
 */
#ifndef DDM_SHARD_H
#define DDM_SHARD_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Philox stream of the flip decisions (far from the per-epoch permutation streams). */
#define SHARD_FLIP_STREAM 0x666c697000000000ULL /* "flip" << 32 */

typedef struct {
    int cache;      /* read the whole dataset into memory once at open */
    int flip;       /* random horizontal flips, p = 1/2 per image */
    int collective; /* collective reads (every rank must then call shard_read each step) */
} ShardOptions;

typedef struct {
    char *path;
    hid_t file, images, dxpl;
    int64_t n;             /* dataset rows */
    int c, h, w;
    int has_labels;
    int classes;           /* the file's 'classes' attribute (0 when absent) */
    int32_t *labels;       /* all N labels (read at open), NULL when the file has none */
    int64_t batch_global;  /* Bg */
    int batch_local;       /* Bg / P */
    int rank, nranks;
    uint64_t seed;
    ShardOptions opt;
    int64_t steps_per_epoch;
    int64_t *perm;         /* order of perm_epoch */
    int64_t perm_epoch;
    uint8_t *cache;        /* all images when opt.cache */
    uint8_t *buf;          /* B images, scratch */
    void *order;           /* B (row, batch index) pairs, scratch */
    double read_s;         /* seconds spent in shard_read */
} Shard;

/* 0 when a global batch of batch_global splits evenly over nranks; else -1 and a
 * message: "train.batch = 10 does not split over 4 ranks: use a multiple of 4 (8, 12)". */
int shard_validate(int64_t batch_global, int nranks, char *err, size_t errlen);

/* Collective (every rank). Opens path (kind=dataset; /images uint8 [N,C,H,W] with
 * C = channels and H = W = image_size, else dies naming the file and both shapes), for
 * global batches of batch_global over the ranks of g_dist (one rank without dist_init).
 * Dies when the batch does not split (shard_validate) or N < batch_global. */
void shard_open(Shard *s, const char *path, int channels, int image_size,
                int64_t batch_global, uint64_t seed, const ShardOptions *opt);
void shard_close(Shard *s); /* collective */

/* This rank's part of global step `step`: x (B,C,H,W) floats in [-1,1] (u8/127.5 - 1,
 * flipped when asked), labels (B) (-1 when the file has none), pos (B) global positions,
 * rows (B) dataset row indices. Any output but x may be NULL. */
void shard_read(Shard *s, int64_t step, float *x, int32_t *labels, int64_t *pos, int64_t *rows);

int64_t shard_epoch(const Shard *s, int64_t step);     /* epoch of a step */
int64_t shard_epoch_pos(const Shard *s, int64_t step); /* images into that epoch at its start */
/* whether the image at global position pos is flipped (opt.flip) */
int shard_flipped(const Shard *s, int64_t pos);

#endif
