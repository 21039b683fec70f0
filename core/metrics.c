/* Evaluation math: feature statistics, KID, Inception Score, precision/recall, and a
 * serial LAPACK Fréchet distance (the reference for the ScaLAPACK one in mpi/fid.c).
 *
 * N = samples, D = feature width, K = classes, M = KID subset size,
 * RB = rows per block, CB = columns per block (pairwise distances).
 *
 * Sums run in a fixed order (per-row partial sums, then a serial sum over rows), so a
 * result does not depend on OMP_NUM_THREADS beyond what OpenBLAS's GEMMs do.
 */
#include "core/metrics.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"

/* LAPACK (Fortran): symmetric eigendecomposition, divide and conquer. The trailing
 * size_t arguments are gfortran's hidden lengths of the character arguments. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
                    const int *lda, double *w, double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info, size_t jobz_len, size_t uplo_len);

/* ================================================================ statistics */

void featstats_init(FeatStats *s, int d)
{
    DDM_ASSERT(d > 0, "featstats_init: bad width %d", d);
    memset(s, 0, sizeof *s);
    s->d = d;
    s->shift = xcalloc((size_t)d, sizeof(double));
    s->sum = xcalloc((size_t)d, sizeof(double));
    s->sxx = xcalloc((size_t)d * d, sizeof(double));
    s->buf = xmalloc(sizeof(double) * FEATSTATS_CHUNK * (size_t)d);
}

void featstats_free(FeatStats *s)
{
    free(s->shift);
    free(s->sum);
    free(s->sxx);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

void featstats_reset(FeatStats *s)
{
    const size_t d = (size_t)s->d;
    s->n = 0;
    s->shift_set = 0;
    memset(s->shift, 0, sizeof(double) * d);
    memset(s->sum, 0, sizeof(double) * d);
    memset(s->sxx, 0, sizeof(double) * d * d);
}

void featstats_set_shift(FeatStats *s, const double *shift)
{
    DDM_ASSERT(s->n == 0, "featstats_set_shift: %lld rows already added (use featstats_reshift)",
               (long long)s->n);
    memcpy(s->shift, shift, sizeof(double) * (size_t)s->d);
    s->shift_set = 1;
}

/* row i of a float or double (n,D) array, as double */
static inline double at_row(const float *xf, const double *xd, size_t i, size_t j, size_t d)
{
    return xf ? (double)xf[i * d + j] : xd[i * d + j];
}

static void add_rows(FeatStats *s, const float *xf, const double *xd, size_t n)
{
    const size_t d = (size_t)s->d;
    if (n == 0) return;
    if (!s->shift_set) { /* shift = mean of this first batch */
        for (size_t j = 0; j < d; j++) s->shift[j] = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) s->shift[j] += at_row(xf, xd, i, j, d);
        for (size_t j = 0; j < d; j++) s->shift[j] /= (double)n;
        s->shift_set = 1;
    }
    for (size_t r0 = 0; r0 < n; r0 += FEATSTATS_CHUNK) {
        const size_t nb = n - r0 < FEATSTATS_CHUNK ? n - r0 : FEATSTATS_CHUNK;
        for (size_t i = 0; i < nb; i++) {
            double *row = s->buf + i * d;
            for (size_t j = 0; j < d; j++) {
                row[j] = at_row(xf, xd, r0 + i, j, d) - s->shift[j];
                s->sum[j] += row[j];
            }
        }
        /* Q (D,D) upper += buf^T buf, buf (nb,D) row-major */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, s->buf,
                    (int)d, 1.0, s->sxx, (int)d);
    }
    s->n += (int64_t)n;
}

void featstats_add(FeatStats *s, const float *x, size_t n) { add_rows(s, x, NULL, n); }
void featstats_add_d(FeatStats *s, const double *x, size_t n) { add_rows(s, NULL, x, n); }

/* the sums (sum, sxx upper) of n rows around `from` re-expressed around `to` */
static void reshift_sums(double *sum, double *sxx, int64_t n, const double *from,
                         const double *to, size_t d)
{
    double *delta = xmalloc(sizeof(double) * d);
    for (size_t j = 0; j < d; j++) delta[j] = from[j] - to[j];
    const double dn = (double)n;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++)
            sxx[i * d + j] += delta[i] * sum[j] + sum[i] * delta[j] + dn * delta[i] * delta[j];
    for (size_t j = 0; j < d; j++) sum[j] += dn * delta[j];
    free(delta);
}

void featstats_reshift(FeatStats *s, const double *new_shift)
{
    const size_t d = (size_t)s->d;
    if (s->n > 0) reshift_sums(s->sum, s->sxx, s->n, s->shift, new_shift, d);
    memcpy(s->shift, new_shift, sizeof(double) * d);
    s->shift_set = 1;
}

void featstats_merge(FeatStats *dst, const FeatStats *src)
{
    DDM_ASSERT(dst->d == src->d, "featstats_merge: widths differ (%d vs %d)", dst->d, src->d);
    const size_t d = (size_t)dst->d;
    if (src->n == 0) return;
    if (!dst->shift_set) {
        memcpy(dst->shift, src->shift, sizeof(double) * d);
        dst->shift_set = 1;
    }
    double *sum = xmalloc(sizeof(double) * d);
    double *sxx = xmalloc(sizeof(double) * d * d);
    memcpy(sum, src->sum, sizeof(double) * d);
    memcpy(sxx, src->sxx, sizeof(double) * d * d);
    reshift_sums(sum, sxx, src->n, src->shift, dst->shift, d);
    for (size_t j = 0; j < d; j++) dst->sum[j] += sum[j];
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++) dst->sxx[i * d + j] += sxx[i * d + j];
    dst->n += src->n;
    free(sum);
    free(sxx);
}

void featstats_mean_cov(const FeatStats *s, double *mu, double *sigma)
{
    const size_t d = (size_t)s->d;
    DDM_ASSERT(s->n >= 1, "featstats_mean_cov: no rows added");
    const double n = (double)s->n;
    if (mu)
        for (size_t j = 0; j < d; j++) mu[j] = s->shift[j] + s->sum[j] / n;
    if (sigma) {
        DDM_ASSERT(s->n >= 2, "featstats_mean_cov: a covariance needs at least 2 rows (have %lld)",
                   (long long)s->n);
        for (size_t i = 0; i < d; i++)
            for (size_t j = i; j < d; j++) {
                double c = (s->sxx[i * d + j] - s->sum[i] * s->sum[j] / n) / (n - 1.0);
                sigma[i * d + j] = c;
                sigma[j * d + i] = c;
            }
    }
}

/* ================================================================ KID */

int kid_subset_size(size_t nx, size_t ny, int subset_size)
{
    size_t m = subset_size > 0 ? (size_t)subset_size : KID_SUBSET_SIZE;
    if (nx < m) m = nx;
    if (ny < m) m = ny;
    return (int)m;
}

/* rows of m distinct indices of [0,n) (partial Fisher-Yates on the Philox stream) copied
 * to out (m,D) */
static void draw_rows(float *out, const float *x, size_t n, int d, int m, uint64_t seed,
                      uint64_t stream)
{
    DDM_ASSERT(n <= UINT32_MAX, "KID: %zu rows are more than this sampler handles", n);
    uint32_t *idx = xmalloc(sizeof(uint32_t) * n);
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    Rng r;
    rng_init(&r, seed, stream);
    for (int i = 0; i < m; i++) {
        size_t j = (size_t)i + rng_below(&r, (uint32_t)(n - (size_t)i));
        uint32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        memcpy(out + (size_t)i * d, x + (size_t)idx[i] * d, sizeof(float) * (size_t)d);
    }
    free(idx);
}

static inline double cubic(float g) { double t = (double)g + 1.0; return t * t * t; }

/* sum over i < j of k from an upper-triangular gram (M,M) already scaled by 1/D */
static double sum_upper_offdiag(const float *g, int m, double *row_sum)
{
#pragma omp parallel for schedule(static) if (m >= 256)
    for (int i = 0; i < m; i++) {
        double s = 0.0;
        const float *gi = g + (size_t)i * m;
        for (int j = i + 1; j < m; j++) s += cubic(gi[j]);
        row_sum[i] = s;
    }
    double s = 0.0;
    for (int i = 0; i < m; i++) s += row_sum[i];
    return s;
}

double kid_subset(const float *x, size_t nx, const float *y, size_t ny, int d, int m,
                  uint64_t seed, int subset)
{
    DDM_ASSERT(m >= 2 && (size_t)m <= nx && (size_t)m <= ny && d > 0,
               "KID: subset size %d does not fit sets of %zu and %zu rows", m, nx, ny);
    const size_t md = (size_t)m * d, mm = (size_t)m * m;
    float *xs = xalloc_floats(md), *ys = xalloc_floats(md), *g = xalloc_floats(mm);
    double *row_sum = xmalloc(sizeof(double) * (size_t)m);
    draw_rows(xs, x, nx, d, m, seed, 2 * (uint64_t)subset);
    draw_rows(ys, y, ny, d, m, seed, 2 * (uint64_t)subset + 1);
    const float inv_d = 1.0f / (float)d;

    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, m, d, inv_d, xs, d, 0.0f, g, m);
    double kxx = 2.0 * sum_upper_offdiag(g, m, row_sum);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, m, d, inv_d, ys, d, 0.0f, g, m);
    double kyy = 2.0 * sum_upper_offdiag(g, m, row_sum);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, d, inv_d, xs, d, ys, d, 0.0f,
                g, m);
#pragma omp parallel for schedule(static) if (m >= 256)
    for (int i = 0; i < m; i++) {
        double s = 0.0;
        const float *gi = g + (size_t)i * m;
        for (int j = 0; j < m; j++) s += cubic(gi[j]);
        row_sum[i] = s;
    }
    double kxy = 0.0;
    for (int i = 0; i < m; i++) kxy += row_sum[i];

    free(xs);
    free(ys);
    free(g);
    free(row_sum);
    const double dm = (double)m;
    /* Binkowski et al. 2018, eq. 4 (unbiased MMD^2 estimator) */
    return (kxx + kyy) / (dm * (dm - 1.0)) - 2.0 * kxy / (dm * dm);
}

void kid_finish(KidResult *out, double sum, double sum_sq, int subsets, int subset_size)
{
    out->subsets = subsets;
    out->subset_size = subset_size;
    out->mean = sum / subsets;
    double var = sum_sq / subsets - out->mean * out->mean;
    out->std = var > 0.0 ? sqrt(var) : 0.0;
}

void metrics_kid(KidResult *out, const float *x, size_t nx, const float *y, size_t ny, int d,
                 int subset_size, int subsets, uint64_t seed)
{
    if (subsets <= 0) subsets = KID_SUBSETS;
    int m = kid_subset_size(nx, ny, subset_size);
    double sum = 0.0, sum_sq = 0.0;
    for (int s = 0; s < subsets; s++) {
        double v = kid_subset(x, nx, y, ny, d, m, seed, s);
        sum += v;
        sum_sq += v * v;
    }
    kid_finish(out, sum, sum_sq, subsets, m);
}

/* ================================================================ Inception Score */

/* The order the splits are cut in: a pseudo-random permutation that depends only on the
 * rows' values, so that IS does not depend on the order of the images (a dataset sorted by
 * class would otherwise put one class in each split). Rows sorted by their bytes; equal
 * rows numbered 0, 1, 2, ...; each row's key mixes (splitmix64) the FNV-1a hash of its
 * bytes with its number; rows sorted by key (ties: the byte order). */
typedef struct {
    uint64_t key;
    size_t row, rank;
} IsRow;
static const float *is_probs;
static int is_k;

static int is_cmp_bytes(const void *a, const void *b)
{
    const IsRow *x = a, *y = b;
    return memcmp(is_probs + x->row * (size_t)is_k, is_probs + y->row * (size_t)is_k,
                  sizeof(float) * (size_t)is_k);
}

static int is_cmp_key(const void *a, const void *b)
{
    const IsRow *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

static uint64_t splitmix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

size_t *metrics_is_order(const float *probs, size_t n, int k)
{
    IsRow *r = xmalloc(sizeof *r * (n ? n : 1));
    for (size_t i = 0; i < n; i++) r[i].row = i;
    is_probs = probs;
    is_k = k;
    qsort(r, n, sizeof *r, is_cmp_bytes);
    uint64_t occ = 0;
    for (size_t i = 0; i < n; i++) {
        occ = i > 0 && is_cmp_bytes(&r[i - 1], &r[i]) == 0 ? occ + 1 : 0;
        const unsigned char *b = (const unsigned char *)(probs + r[i].row * (size_t)k);
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t j = 0; j < sizeof(float) * (size_t)k; j++) h = (h ^ b[j]) * 0x100000001b3ull;
        r[i].key = splitmix64(h ^ splitmix64(occ));
        r[i].rank = i;
    }
    qsort(r, n, sizeof *r, is_cmp_key);
    size_t *order = xmalloc(sizeof *order * (n ? n : 1));
    for (size_t i = 0; i < n; i++) order[i] = r[i].row;
    free(r);
    return order;
}

void metrics_inception_score(double *mean, double *std, const float *probs, size_t n, int k,
                             int splits)
{
    if (splits <= 0) splits = IS_SPLITS;
    DDM_ASSERT(k > 0 && n >= (size_t)splits,
               "Inception Score: %zu samples cannot make %d splits", n, splits);
    size_t *order = metrics_is_order(probs, n, k);
    double *py = xmalloc(sizeof(double) * (size_t)k);
    double *score = xmalloc(sizeof(double) * (size_t)splits);
    for (int s = 0; s < splits; s++) {
        size_t a = (size_t)s * n / (size_t)splits, b = (size_t)(s + 1) * n / (size_t)splits;
        for (int c = 0; c < k; c++) py[c] = 0.0;
        for (size_t i = a; i < b; i++)
            for (int c = 0; c < k; c++) py[c] += probs[order[i] * (size_t)k + c];
        for (int c = 0; c < k; c++) py[c] /= (double)(b - a);
        double kl = 0.0;
        for (size_t i = a; i < b; i++)
            for (int c = 0; c < k; c++) {
                double p = probs[order[i] * (size_t)k + c];
                if (p > 0.0) kl += p * (log(p) - log(py[c]));
            }
        score[s] = exp(kl / (double)(b - a));
    }
    double m = 0.0, v = 0.0;
    for (int s = 0; s < splits; s++) m += score[s];
    m /= splits;
    for (int s = 0; s < splits; s++) v += (score[s] - m) * (score[s] - m);
    *mean = m;
    *std = sqrt(v / splits);
    free(order);
    free(py);
    free(score);
}

/* ================================================================ precision / recall */

#define PR_RB 256
#define PR_CB 4096

static double *row_norms(const float *x, size_t n, int d)
{
    double *nrm = xmalloc(sizeof(double) * (n ? n : 1));
#pragma omp parallel for schedule(static) if (n >= 4096)
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        nrm[i] = s;
    }
    return nrm;
}

/* dot (rb,cb) = a[r..r+rb) b[c..c+cb)^T */
static void block_dots(float *dot, const float *a, size_t r, size_t rb, const float *b,
                       size_t c, size_t cb, int d)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rb, (int)cb, d, 1.0f,
                a + r * d, d, b + c * d, d, 0.0f, dot, (int)cb);
}

void metrics_knn_radii(float *radius2, const float *x, size_t n, int d, int k, size_t row0,
                       size_t row1)
{
    DDM_ASSERT(k >= 1 && n > (size_t)k, "k-NN radii: %zu points cannot have %d neighbours", n, k);
    DDM_ASSERT(row0 <= row1 && row1 <= n, "k-NN radii: bad rows [%zu,%zu) of %zu", row0, row1, n);
    if (row0 == row1) return;
    double *nrm = row_norms(x, n, d);
    float *dot = xalloc_floats((size_t)PR_RB * PR_CB);
    double *best = xmalloc(sizeof(double) * PR_RB * (size_t)k); /* k smallest, ascending */
    for (size_t r = row0; r < row1; r += PR_RB) {
        const size_t rb = row1 - r < PR_RB ? row1 - r : PR_RB;
        for (size_t i = 0; i < rb * (size_t)k; i++) best[i] = INFINITY;
        for (size_t c = 0; c < n; c += PR_CB) {
            const size_t cb = n - c < PR_CB ? n - c : PR_CB;
            block_dots(dot, x, r, rb, x, c, cb, d);
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < rb; i++) {
                double *bi = best + i * k;
                const float *di = dot + i * cb;
                for (size_t j = 0; j < cb; j++) {
                    if (c + j == r + i) continue; /* self */
                    double d2 = nrm[r + i] + nrm[c + j] - 2.0 * (double)di[j];
                    if (d2 < 0.0) d2 = 0.0;
                    if (d2 >= bi[k - 1]) continue;
                    int p = k - 1;
                    while (p > 0 && bi[p - 1] > d2) { bi[p] = bi[p - 1]; p--; }
                    bi[p] = d2;
                }
            }
        }
        for (size_t i = 0; i < rb; i++) radius2[r - row0 + i] = (float)best[i * k + k - 1];
    }
    free(nrm);
    free(dot);
    free(best);
}

int64_t metrics_count_inside(const float *q, size_t nq, const float *ref,
                             const float *ref_radius2, size_t nr, int d, size_t row0,
                             size_t row1)
{
    DDM_ASSERT(row0 <= row1 && row1 <= nq, "count inside: bad rows [%zu,%zu) of %zu", row0, row1,
               nq);
    if (row0 == row1 || nr == 0) return 0;
    double *nq2 = row_norms(q + row0 * d, row1 - row0, d);
    double *nr2 = row_norms(ref, nr, d);
    float *dot = xalloc_floats((size_t)PR_RB * PR_CB);
    unsigned char inside[PR_RB];
    int64_t count = 0;
    for (size_t r = row0; r < row1; r += PR_RB) {
        const size_t rb = row1 - r < PR_RB ? row1 - r : PR_RB;
        memset(inside, 0, sizeof inside);
        size_t n_in = 0;
        for (size_t c = 0; c < nr && n_in < rb; c += PR_CB) {
            const size_t cb = nr - c < PR_CB ? nr - c : PR_CB;
            block_dots(dot, q, r, rb, ref, c, cb, d);
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < rb; i++) {
                if (inside[i]) continue;
                const float *di = dot + i * cb;
                const double a = nq2[r - row0 + i];
                for (size_t j = 0; j < cb; j++) {
                    double d2 = a + nr2[c + j] - 2.0 * (double)di[j];
                    if (d2 < 0.0) d2 = 0.0;
                    if (d2 <= (double)ref_radius2[c + j]) { inside[i] = 1; break; }
                }
            }
            n_in = 0;
            for (size_t i = 0; i < rb; i++) n_in += inside[i];
        }
        count += (int64_t)n_in;
    }
    free(nq2);
    free(nr2);
    free(dot);
    return count;
}

void metrics_precision_recall(PrResult *out, const float *real, size_t nr, const float *fake,
                              size_t nf, int d, int k)
{
    if (k <= 0) k = PR_K;
    float *rr = xalloc_floats(nr), *rf = xalloc_floats(nf);
    metrics_knn_radii(rr, real, nr, d, k, 0, nr);
    metrics_knn_radii(rf, fake, nf, d, k, 0, nf);
    out->k = k;
    out->precision = (double)metrics_count_inside(fake, nf, real, rr, nr, d, 0, nf) / (double)nf;
    out->recall = (double)metrics_count_inside(real, nr, fake, rf, nf, d, 0, nr) / (double)nr;
    free(rr);
    free(rf);
}

/* ================================================================ Fréchet (serial) */

/* eigenvalues w (ascending) and, in a, the eigenvectors of the symmetric a (D,D) */
static void sym_eig(double *a, double *w, int d)
{
    int info = 0, lwork = -1, liwork = -1, iw = 0;
    double wq = 0.0;
    dsyevd_("V", "L", &d, a, &d, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
    DDM_ASSERT(info == 0, "dsyevd workspace query failed (info %d)", info);
    lwork = (int)wq + 1;
    liwork = iw;
    double *work = xmalloc(sizeof(double) * (size_t)lwork);
    int *iwork = xmalloc(sizeof(int) * (size_t)liwork);
    dsyevd_("V", "L", &d, a, &d, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    DDM_ASSERT(info == 0, "dsyevd failed (info %d) on a %dx%d matrix", info, d, d);
    free(work);
    free(iwork);
}

double metrics_frechet_lapack(const double *mu1, const double *sigma1, const double *mu2,
                              const double *sigma2, int d, int *n_clamped)
{
    const size_t dd = (size_t)d * d;
    double *v = xmalloc(sizeof(double) * dd), *t = xmalloc(sizeof(double) * dd);
    double *c = xmalloc(sizeof(double) * dd);
    double *w1 = xmalloc(sizeof(double) * (size_t)d), *w2 = xmalloc(sizeof(double) * (size_t)d);
    double diff2 = 0.0, tr = 0.0;
    for (int i = 0; i < d; i++) {
        double e = mu1[i] - mu2[i];
        diff2 += e * e;
        tr += sigma1[(size_t)i * d + i] + sigma2[(size_t)i * d + i];
    }
    /* S1 = V diag(w1) V^T */
    memcpy(v, sigma1, sizeof(double) * dd);
    sym_eig(v, w1, d);
    int clamped = 0;
    const double tiny = (double)d * DBL_EPSILON * fabs(w1[d - 1]);
    for (int i = 0; i < d; i++) {
        if (w1[i] <= tiny) clamped++;
        w1[i] = sqrt(w1[i] > 0.0 ? w1[i] : 0.0);
    }
    /* sqrt(S1) S2 sqrt(S1) = V [diag(s) V^T S2 V diag(s)] V^T: same eigenvalues as the
     * bracket, so only the bracket is decomposed (column-major = row-major here, every
     * operand being symmetric or used through its transpose consistently) */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, sigma2, d, v, d, 0.0,
                t, d);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, d, d, d, 1.0, v, d, t, d, 0.0, c, d);
    for (int j = 0; j < d; j++)
        for (int i = 0; i < d; i++) c[(size_t)j * d + i] *= w1[i] * w1[j];
    sym_eig(c, w2, d);
    double trsqrt = 0.0;
    for (int i = 0; i < d; i++) trsqrt += sqrt(w2[i] > 0.0 ? w2[i] : 0.0);
    free(v);
    free(t);
    free(c);
    free(w1);
    free(w2);
    if (n_clamped) *n_clamped = clamped;
    return diff2 + tr - 2.0 * trsqrt;
}

/* ---------------------------------------------------------------- class decisions */

int metrics_argmax(const float *p, int k)
{
    int best = 0;
    for (int i = 1; i < k; i++)
        if (p[i] > p[best]) best = i;
    return best;
}

double metrics_class_match(const float *probs, const int32_t *labels, size_t n, int k)
{
    if (n == 0) return NAN;
    size_t hit = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k) return NAN;
        hit += metrics_argmax(probs + i * (size_t)k, k) == labels[i];
    }
    return (double)hit / (double)n;
}
