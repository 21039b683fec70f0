/* Feature passes over P ranks (ddm eval): the used rows of an image set (a dataset, or
 * the finished rows of a samples group) cut into whole blocks of FEATURES_BLOCK rows, split
 * over the ranks; each rank runs the extractor on its part and adds to float64 FeatStats,
 * which one reduction combines. Every image goes through the extractor in the same batch
 * whatever the rank count, so its features are the same bits at any P.
 * And the reference side: what --ref is, its statistics computed (collective) or checked,
 * and the cache file beside a reference dataset. N = rows, D = feature width. */
#ifndef DDM_FEATPASS_H
#define DDM_FEATPASS_H

#include <hdf5.h>
#include <stdint.h>

#include "core/metrics.h"
#include "io/dataset.h"
#include "io/features.h"
#include "io/stats.h"

/* The images one pass reads. */
typedef struct {
    const char *path;   /* for messages */
    char *label;        /* "reference" or the group name, for progress lines */
    int is_dataset;
    DatasetFile ds;     /* a dataset */
    hid_t file;         /* a samples file */
    const char *group;
    int c, h, w;
    int64_t n;          /* rows used */
    int64_t *rows;      /* (n) the file rows used, ascending; NULL = rows 0..n-1 */
} FeatSet;

/* file row of used row i */
int64_t featset_row(const FeatSet *s, int64_t i);
/* used rows [i0, i1) into out (i1-i0, C,H,W): one read per run of consecutive file rows
 * (one read per block for a finished file) */
void featset_read(FeatSet *s, int64_t i0, int64_t i1, uint8_t *out);
/* This rank's used rows [lo, hi) of n: whole blocks of FEATURES_BLOCK rows per rank. */
void featpass_part(int64_t n, int64_t *lo, int64_t *hi);
/* Features of this rank's part of s (not collective). Adds every row to st; keeps the rows
 * whose used index is in sel[0..nsel) (sorted; sel == NULL && keep_all: every row) in
 * *keep (malloc'd, *nkeep rows) and the class probabilities of every row in *probs (when
 * probs != NULL). Rank 0 prints a progress line every 10 s. Returns this part's rows. */
int64_t featpass_extract(FeatExtractor *e, FeatSet *s, FeatStats *st, const int64_t *sel, int64_t nsel,
                         int keep_all, float **keep, int64_t *nkeep, float **probs);
/* m <= n indices spread evenly over [0, n): floor(j n / m) (malloc'd) */
int64_t *featpass_spread_rows(int64_t n, int64_t m);

/* The reference of a run. */
typedef struct {
    StatsData st;      /* mu, sigma, n; features (n_feat rows) when loaded */
    char *path;        /* --ref */
    char *cache;       /* the cache file (NULL when --ref is a stats file or caching is off) */
    int from_cache;    /* statistics read from a cache */
    int is_stats;      /* --ref is a stats file */
    double seconds;
} FeatRef;

/* "dataset:<abs path> n=<N> size=<bytes> mtime=<s.ns>" (malloc'd): changes when the file does */
char *featref_dataset_key(const char *path, size_t n);
/* REF.stats-<tag>.h5 beside REF.h5 (malloc'd) */
char *featref_cache_path(const char *ref, const FeatExtractor *e);
/* What --ref is: 1 for a stats file, 0 for a dataset; dies otherwise. */
int featref_kind(const char *path);
/* Checks of a stats file given as --ref against this run; dies naming path. */
void featref_check_stats(const StatsData *h, const char *path, const FeatExtractor *e, int need_rows);
/* Collective: the statistics of the dataset r->path into r->st, with up to cap feature
 * rows kept (evenly spread); rank 0 writes the cache r->cache when write_cache (and its
 * folder is writable). */
void featref_compute(FeatRef *r, FeatExtractor *e, const char *dskey, int64_t cap, int write_cache);
/* Rank 0: whether the cache file of a reference dataset (dskey) holds statistics of these
 * features and ref_features rows; says why not ("eval: reference cache ... recomputing"). */
int featref_cache_usable(const char *cache, const FeatExtractor *e, const char *dskey, int64_t ref_features,
                         int64_t ref_n);
/* Collective: ref->st from the stats file --ref (ref->is_stats), the cache (cache_ok) or
 * computed (featref_compute, cached when ref->cache); rank 0 says which, with timings. */
void featref_load(FeatRef *ref, FeatExtractor *e, const char *dskey, int cache_ok, int need_rows,
                  int64_t ref_features, int64_t ref_n);

#endif
