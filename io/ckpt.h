/* Checkpoint files (kind=checkpoint), one per saved step: RUN_DIR/ckpt-%08ld.h5.
 *
 * Layout (one float32 dataset per tensor, names and shapes from a TensorInfo table):
 *   /model/<name>            the trained weights
 *   /ema/<rate>/<name>       one copy per EMA rate, rate written "%.10g" ("0.9999")
 *   /optim/m/<name>          AdamW first moments
 *   /optim/v/<name>          AdamW second moments
 *   attributes: kind, format_version, step, images_seen, epoch, data_pos (images into the
 *   epoch), rng (uint8 bytes: see CkptMeta.rng), config (text), wall_time (s),
 *   ddm_version, n_params
 *
 * Written by ONE process with serial HDF5 (under MPI: rank 0, the others wait) to
 * PATH.tmp-PID, fsynced and renamed: a crash never leaves a half checkpoint under the
 * final name. After the rename the oldest ckpt-*.h5 beyond `keep` are deleted.
 *
 * Reading picks the newest checkpoint by the step in its file name. A candidate that is
 * not a readable HDF5 file or has no kind=checkpoint attribute (damaged or truncated by
 * something outside ddm) is skipped with a warning and the next older one is tried;
 * ckpt-*.h5.tmp-* files are never candidates. Once a checkpoint is chosen, any mismatch
 * with the caller's table is fatal: the file and the first differing tensor are named.
 */
#ifndef DDM_CKPT_H
#define DDM_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define CKPT_MAX_EMA 8
#define CKPT_RNG_MAX 512 /* bytes the 'rng' attribute may hold */

/* The tensors and the flat blocks they live in. Any block pointer may be NULL on write
 * (not stored) and on read (not loaded). */
typedef struct {
    const TensorInfo *tensors;
    int n_tensors;
    float *model;
    int n_ema;
    double ema_rate[CKPT_MAX_EMA];
    float *ema[CKPT_MAX_EMA];
    float *m, *v; /* optimizer moments */
} CkptBlocks;

typedef struct {
    int64_t step;        /* optimizer steps done */
    int64_t images_seen; /* global images consumed */
    int64_t epoch;       /* epoch of the next step */
    int64_t data_pos;    /* images into that epoch */
    /* The 'rng' attribute. Despite its name it is not a generator state: every random
     * draw of ddm train is counter-based, keyed by (train.seed, step, position), so the
     * seed is all there is to restore, and ddm train stores just that (8 bytes, the
     * int64 seed in native byte order; ckpt_meta_set_seed / ckpt_meta_seed). The name
     * stays so that every checkpoint written so far reads the same. */
    uint8_t rng[CKPT_RNG_MAX];
    size_t rng_bytes;
    char *config_text;   /* canonical INI (io/config.h); read: malloc'd, free with ckpt_meta_free */
    double wall_time;    /* training seconds so far */
    char version[32];    /* ddm version that wrote it (filled on write from DDM_VERSION) */
} CkptMeta;

void ckpt_meta_free(CkptMeta *m);
/* The training seed into / out of the 'rng' attribute (see CkptMeta.rng); ckpt_meta_seed
 * returns 0 when the attribute does not hold one. */
void ckpt_meta_set_seed(CkptMeta *m, int64_t seed);
int ckpt_meta_seed(const CkptMeta *m, int64_t *seed);

/* "RUN_DIR/ckpt-%08ld.h5" (malloc'd) */
char *ckpt_path(const char *run_dir, int64_t step);

/* Write RUN_DIR/ckpt-<step>.h5 atomically, then keep only the newest `keep` checkpoints
 * (keep <= 0: delete none). Also removes stale ckpt-*.h5.tmp-* left by a crashed writer
 * (one run folder has one writer). Returns the path (malloc'd). Dies on any error. */
char *ckpt_write(const char *run_dir, const CkptBlocks *b, const CkptMeta *meta, int keep);

/* Newest usable checkpoint of RUN_DIR (see top of file): returns 1 and sets *path
 * (malloc'd) and *step, or 0 when the folder holds none (or does not exist). */
int ckpt_find_latest(const char *run_dir, char **path, int64_t *step);

/* --ckpt RUN_DIR|CKPT.h5: a folder resolves to its newest checkpoint (dies when it has
 * none); a file is returned as is. malloc'd. */
char *ckpt_resolve(const char *path_or_dir);

/* Load a checkpoint for resuming: checks kind, format_version and every tensor of the
 * table in each block asked for (non-NULL); the EMA rates asked for must be present.
 * meta may be NULL. Dies naming the file and tensor on a mismatch:
 *   "F: /model/conv_in.weight has shape [32,1,3,3], the model expects [16,1,3,3]"
 *   "F: /model has no tensor 'x' (the model expects it)"
 *   "F: /model has a tensor 'y' the model does not have" */
void ckpt_load(const char *path, CkptBlocks *b, CkptMeta *meta);

/* Loads the newest checkpoint of RUN_DIR into b/meta: 1 when one was loaded (*path set
 * when path is not NULL), 0 when there is none. */
int ckpt_load_latest(const char *run_dir, CkptBlocks *b, CkptMeta *meta, char **path);

/* For sampling. The EMA rates a checkpoint holds (ascending); returns their count. */
int ckpt_ema_rates(const char *path, double *rates, int max);
/* Loads one weight set into block: ema_rate < 0 -> /model, else /ema/<rate> (dies,
 * listing the rates present, when absent). Same checks as ckpt_load. meta may be NULL. */
void ckpt_load_weights(const char *path, const TensorInfo *tensors, int n_tensors,
                       float *block, double ema_rate, CkptMeta *meta);
/* Only the attributes (e.g. the config text, to build the network before loading). */
void ckpt_read_meta(const char *path, CkptMeta *meta);

/* "%.10g" of an EMA rate: the group name under /ema */
void ckpt_ema_name(char *buf, size_t n, double rate);

#endif
