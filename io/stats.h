/* Stats files (kind=stats): the feature statistics of a reference set, written by
 * `ddm eval` as the cache of a reference dataset (REF.h5 -> REF.stats-<extractor>.h5) and
 * accepted back as --ref. Also the pytorch-fid .npz of a set's statistics.
 *
 * Layout:
 *   /mu           float64 [D]      mean of the features (np.mean)
 *   /sigma        float64 [D,D]    covariance, unbiased (np.cov(rowvar=False), N-1)
 *   /features     float32 [M,D]    optional: feature rows of M <= N images, for KID and
 *                                  precision/recall (which need rows, not moments)
 *   /feature_rows int64 [M]        optional: the image index of each of those rows
 *   attrs: kind=stats, format_version, n (images behind mu/sigma), d, features (the
 *          extractor key: name, checkpoint path and step, or weights file identity),
 *          source (what the images were: dataset path, n, mtime), image_c/h/w (the
 *          image shape the extractor saw, 0 = unknown), features_cap (the M asked for),
 *          ddm_version
 * D = feature width, N = images, M = feature rows kept.
 */
#ifndef DDM_STATS_H
#define DDM_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int d;
    int64_t n;
    double *mu;             /* (D) */
    double *sigma;          /* (D,D) row-major, symmetric */
    int64_t n_feat;         /* rows in features (0 = none stored / not loaded) */
    int64_t features_cap;   /* the cap the rows were chosen under (0 = none stored) */
    float *features;        /* (n_feat, D) or NULL */
    int64_t *feature_rows;  /* (n_feat) or NULL */
    char *features_key;     /* extractor key */
    char *source;           /* description of the images */
    int c, h, w;            /* image shape (0 = unknown) */
} StatsData;

/* Write path atomically (PATH.tmp-PID, fsync, rename): a reader never sees half a file.
 * features/feature_rows are written when n_feat > 0. Dies naming the file on error. */
void stats_write(const char *path, const StatsData *s);

/* Header only (d, n, n_feat, features_cap, keys, shape; no arrays). Returns 1 when path is
 * a readable ddm stats file of this format_version, else 0 and *why (static text) says
 * what it is instead; never dies on a bad file (a cache that fails this is recomputed). */
int stats_peek(const char *path, StatsData *s, const char **why);

/* Everything; the rows only when load_features (and the file has them). Dies unless path
 * is a stats file with consistent shapes. */
void stats_read(const char *path, StatsData *s, int load_features);

void stats_free(StatsData *s);

/* pytorch-fid's statistics file: an .npz (zip, stored members) holding mu.npy float64 (D)
 * and sigma.npy float64 (D,D), little-endian, .npy format 1.0. Written atomically. */
void stats_write_npz(const char *path, const double *mu, const double *sigma, int d);

#endif
