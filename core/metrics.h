/* Evaluation math on feature vectors: feature statistics (mean, covariance), KID,
 * Inception Score, and improved precision/recall. Pure math: no MPI, no HDF5. The
 * distributed pieces (Fréchet distance on ScaLAPACK, pairwise work split over ranks)
 * are in mpi/fid.h and mpi/pairwise.h and build on the functions here.
 *
 * N = samples, D = feature width, K = classes, M = KID subset size.
 * Feature sets are row-major (N,D) float32, as a feature extractor writes them.
 */
#ifndef DDM_METRICS_H
#define DDM_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- statistics
 * Running sums in float64 around a shift vector c (the mean of the first batch added,
 * unless set with featstats_set_shift before any add):
 *   n, s = sum (x - c), Q = sum (x - c)(x - c)^T    (Q: upper triangle, via dsyrk)
 * Summing around a point near the mean keeps the covariance free of the cancellation
 * that raw moments suffer when |mean| >> std. Mean and covariance follow pytorch-fid
 * (np.mean, np.cov with rowvar=False, i.e. unbiased, N-1):
 *   mu = c + s/n,  Sigma = (Q - s s^T / n) / (n - 1). */
typedef struct {
    int d;
    int64_t n;
    int shift_set;  /* 0 until the shift is fixed (first add or featstats_set_shift) */
    double *shift;  /* (D) c */
    double *sum;    /* (D) s */
    double *sxx;    /* (D,D) Q, row-major; only the upper triangle (i <= j) is kept */
    double *buf;    /* (FEATSTATS_CHUNK, D) scratch for one chunk of shifted rows */
} FeatStats;

#define FEATSTATS_CHUNK 256

void featstats_init(FeatStats *s, int d);
void featstats_free(FeatStats *s);
/* start over (keeps the allocation; the shift is chosen again by the next add) */
void featstats_reset(FeatStats *s);
/* fix the shift c (D) before the first add; the distributed reduction uses it to make
 * every rank sum around the same point */
void featstats_set_shift(FeatStats *s, const double *shift);
/* add n rows x (n,D) float32 / float64 */
void featstats_add(FeatStats *s, const float *x, size_t n);
void featstats_add_d(FeatStats *s, const double *x, size_t n);
/* re-express the sums around another shift (exact algebra, no data needed):
 * s' = s + n (c - c'),  Q' = Q + (c-c') s^T + s (c-c')^T + n (c-c')(c-c')^T */
void featstats_reshift(FeatStats *s, const double *new_shift);
/* dst += src (both re-expressed around dst's shift; src is not changed) */
void featstats_merge(FeatStats *dst, const FeatStats *src);
/* mu (D) and sigma (D,D) full symmetric, row-major (= column-major). sigma needs n >= 2;
 * either output may be NULL. */
void featstats_mean_cov(const FeatStats *s, double *mu, double *sigma);

/* ---------------------------------------------------------------- KID
 * Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with the cubic
 * polynomial kernel k(x,y) = (x.y/D + 1)^3, averaged over subsets as clean-fid does:
 * M = min(NX, NY, subset_size) rows of each set drawn without replacement per subset,
 *   mmd = [sum_{i!=j} k(x_i,x_j) + sum_{i!=j} k(y_i,y_j)] / (M(M-1)) - 2 sum_ij k(x_i,y_j) / M^2
 * Subset s draws from the Philox streams (seed, 2s) for x and (seed, 2s+1) for y, so a
 * subset is the same whichever rank computes it. Grams in float32 GEMMs, sums in float64. */
#define KID_SUBSET_SIZE 1000
#define KID_SUBSETS 100

typedef struct {
    double mean;  /* the KID value (clean-fid's number) */
    double std;   /* standard deviation over subsets (torch-fidelity's kid_std) */
    int subsets, subset_size;
} KidResult;

/* the unbiased MMD^2 of subset number `subset` (m rows of each set; m >= 2) */
double kid_subset(const float *x, size_t nx, const float *y, size_t ny, int d, int m,
                  uint64_t seed, int subset);
/* the subset size metrics_kid uses: min(nx, ny, subset_size) (subset_size <= 0: 1000) */
int kid_subset_size(size_t nx, size_t ny, int subset_size);
/* subsets <= 0 and subset_size <= 0 take the defaults (100, 1000) */
void metrics_kid(KidResult *out, const float *x, size_t nx, const float *y, size_t ny, int d,
                 int subset_size, int subsets, uint64_t seed);
/* mean and std (ddof 0) from the per-subset values */
void kid_finish(KidResult *out, double sum, double sum_sq, int subsets, int subset_size);

/* ---------------------------------------------------------------- Inception Score
 * IS (Salimans et al. 2016) from class probabilities p (N,K), rows summing to 1: the rows,
 * in the order of metrics_is_order, are cut into `splits` consecutive parts
 * [i N/splits, (i+1) N/splits) (the original code cuts them in the order given, so a file
 * sorted by class scored ~1.6 where the same images shuffled scored 6.6); per part
 * exp(mean_x KL(p(y|x) || p(y))) with p(y) the part's mean row; mean and std (ddof 0)
 * over the parts. splits <= 0 takes 10. 0 log 0 = 0. The result does not depend on the
 * order of the rows, bit for bit. */
#define IS_SPLITS 10
/* A pseudo-random permutation of the n rows (malloc'd) that depends only on their values:
 * rows sorted by their bytes, equal rows numbered 0, 1, ..; key = splitmix64(FNV-1a of the
 * row's bytes ^ splitmix64(its number)); rows in key order (ties: byte order). */
size_t *metrics_is_order(const float *probs, size_t n, int k);
void metrics_inception_score(double *mean, double *std, const float *probs, size_t n, int k,
                             int splits);

/* ---------------------------------------------------------------- class decisions
 * The class a classifier picks from its probabilities (N,K): the largest, the first on
 * ties. */
int metrics_argmax(const float *p, int k);
/* Share of rows whose argmax equals labels[i]; NaN when n == 0 or any label is outside
 * [0, k) (an unconditional sample, -1, or a class the classifier does not know). */
double metrics_class_match(const float *probs, const int32_t *labels, size_t n, int k);

/* ---------------------------------------------------------------- precision / recall
 * Improved precision and recall (Kynkäänniemi et al. 2019) with k nearest neighbours
 * (k = 3 by default): the manifold of a set is the union of balls around its points,
 * each of radius the distance to its k-th nearest other point of the set. Precision =
 * share of fake points inside the real manifold, recall = share of real points inside the
 * fake manifold (a point on a ball's boundary is inside). Squared distances come from
 * float32 GEMMs, |a|^2 + |b|^2 - 2 a.b (norms in float64), clamped at 0. */
#define PR_K 3

/* radius2[i - row0] for rows i in [row0, row1) of x (N,D): squared distance from x_i to
 * its k-th nearest neighbour in x other than itself (self is skipped by index, so a
 * duplicate point counts as a neighbour at distance 0). Needs N > k. */
void metrics_knn_radii(float *radius2, const float *x, size_t n, int d, int k, size_t row0,
                       size_t row1);
/* how many rows i in [row0, row1) of q (NQ,D) lie inside at least one ball
 * (ref_j, radius2_j) of ref (NR,D) */
int64_t metrics_count_inside(const float *q, size_t nq, const float *ref,
                             const float *ref_radius2, size_t nr, int d, size_t row0,
                             size_t row1);

typedef struct {
    double precision, recall;
    int k;
} PrResult;

/* serial: both radii sets, then both counts. k <= 0 takes 3. */
void metrics_precision_recall(PrResult *out, const float *real, size_t nr, const float *fake,
                              size_t nf, int d, int k);

/* ---------------------------------------------------------------- helpers */
/* Fréchet distance for small D, serial, from the same symmetric form as mpi/fid.c with
 * LAPACK dsyevd: a reference the tests hold the ScaLAPACK path against. Returns the
 * number of eigenvalues of sigma1 clamped (<= tol*max) in *n_clamped when not NULL. */
double metrics_frechet_lapack(const double *mu1, const double *sigma1, const double *mu2,
                              const double *sigma2, int d, int *n_clamped);

#endif
