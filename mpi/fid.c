/* Fréchet distance on ScaLAPACK (pdsyevd, pdgemm, pdgemr2d) and the reduction of feature
 * statistics over ranks. See mpi/fid.h for the formula.
 *
 * D = feature width, P = ranks, NB = block size, (nprow x npcol) = the process grid,
 * mloc x nloc = this rank's local piece of a distributed (D,D) matrix.
 * ScaLAPACK is column-major; every matrix here is symmetric, so the row-major inputs are
 * read as they are.
 */
#include "mpi/fid.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "mpi/dist.h"

/* ---- BLACS / ScaLAPACK: no C header ships with Debian's libscalapack-openmpi, so the
 * symbols used are declared here. Fortran routines take every argument by reference and,
 * after the list, gfortran's hidden lengths of character arguments; pdgemm_ (PBLAS) and
 * pdgemr2d_ (REDIST) are written in C and take none. */
extern void Cblacs_pinfo(int *mypnum, int *nprocs);
extern int Csys2blacs_handle(MPI_Comm comm);
extern void Cfree_blacs_system_handle(int handle);
extern void Cblacs_gridinit(int *ictxt, const char *order, int nprow, int npcol);
extern void Cblacs_gridinfo(int ictxt, int *nprow, int *npcol, int *myrow, int *mycol);
extern void Cblacs_gridexit(int ictxt);
extern int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
                   const int *nprocs);
extern void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
                      const int *irsrc, const int *icsrc, const int *ictxt, const int *lld,
                      int *info);
extern void pdgemr2d_(const int *m, const int *n, const double *a, const int *ia,
                      const int *ja, const int *desca, double *b, const int *ib,
                      const int *jb, const int *descb, const int *ictxt);
extern void pdgemm_(const char *transa, const char *transb, const int *m, const int *n,
                    const int *k, const double *alpha, const double *a, const int *ia,
                    const int *ja, const int *desca, const double *b, const int *ib,
                    const int *jb, const int *descb, const double *beta, double *c,
                    const int *ic, const int *jc, const int *descc);
extern void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
                     const int *ia, const int *ja, const int *desca, double *w, double *z,
                     const int *iz, const int *jz, const int *descz, double *work,
                     const int *lwork, int *iwork, const int *liwork, int *info,
                     size_t jobz_len, size_t uplo_len);

#define DLEN 9 /* descriptor length */
#define CTXT_ 1 /* descriptor entry: context */

void fid_grid_shape(int p, int *nprow, int *npcol)
{
    int r = (int)sqrt((double)p);
    while (r > 1 && p % r != 0) r--;
    if (r < 1) r = 1;
    *nprow = r;
    *npcol = p / r;
}

/* block size: 64 (pdsyevd's usual choice) for large D, smaller so that a small D still
 * spreads over the grid, and always below D: with the whole matrix in one block (D <= NB)
 * Debian's pdsyevd (ScaLAPACK 2.2) hands the ranks off process (0,0) wrong eigenvalues
 * with info 0 (seen at D = 3..8, NB = 8 on 1x2 and 2x2 grids). */
static int pick_nb(int d, int nprow, int npcol)
{
    int maxdim = nprow > npcol ? nprow : npcol;
    int nb = d / (2 * maxdim);
    if (nb > 64) nb = 64;
    if (nb < 8) nb = 8;
    if (nb >= d) nb = (d + 1) / 2 < d ? (d + 1) / 2 : 1;
    return nb;
}

/* global index of local index l along a dimension split in blocks of nb over np procs */
static inline int l2g(int l, int nb, int iproc, int np)
{
    return ((l / nb) * np + iproc) * nb + l % nb;
}

typedef struct {
    int ctxt, nprow, npcol, myrow, mycol, nb, d, mloc, nloc, lld;
    int desc[DLEN];
} Grid;

static double *grid_alloc(const Grid *g)
{
    size_t n = (size_t)g->lld * (size_t)(g->nloc > 0 ? g->nloc : 1);
    return xcalloc(n, sizeof(double));
}

/* Symmetric eigendecomposition of the distributed a (destroyed): eigenvalues w (D,
 * ascending, on every rank), eigenvectors in z. */
static void grid_syevd(const Grid *g, double *a, double *w, double *z, const char *what)
{
    const int one = 1, m1 = -1;
    int info = 0, iwq = 0;
    double wq = 0.0;
    pdsyevd_("V", "L", &g->d, a, &one, &one, g->desc, w, z, &one, &one, g->desc, &wq, &m1,
             &iwq, &m1, &info, 1, 1);
    if (info != 0) ddm_die("pdsyevd workspace query for %s failed (info %d)", what, info);
    /* The query's answer (and the documented LWMIN it is built from) was seen too small
     * when a rank holds little of the matrix (D <= NB on a 2x2 grid): PDORMTR, called
     * inside, rejected its LWORK and pdsyevd still returned info 0. pick_nb keeps clear of
     * that case; as a margin the workspace also gets what PDORMTR asks for,
     * max(NB(NB-1)/2, (NP+NQ) NB) + NB^2, and the 3D pdsyevd keeps for itself. */
    const int zero = 0;
    int np = numroc_(&g->d, &g->nb, &g->myrow, &zero, &g->nprow);
    int nq = numroc_(&g->d, &g->nb, &g->mycol, &zero, &g->npcol);
    const double nb = g->nb, n = g->d;
    double trilwmin = 3.0 * n + fmax(nb * (np + 1), 3.0 * nb);
    double lmin = fmax(1.0 + 6.0 * n + 2.0 * (double)np * nq, trilwmin) + 2.0 * n;
    double ormtr = fmax(nb * (nb - 1.0) / 2.0, (double)(np + nq) * nb) + nb * nb;
    double lw = fmax(wq, lmin) + ormtr + 3.0 * n + 1.0;
    if (lw > (double)INT32_MAX)
        ddm_die("pdsyevd for %s needs %.0f doubles of workspace, more than LAPACK integers count",
                what, lw);
    int lwork = (int)lw;
    int liwork = 7 * g->d + 8 * g->npcol + 2;
    if (iwq > liwork) liwork = iwq;
    double *work = xmalloc(sizeof(double) * (size_t)lwork);
    int *iwork = xmalloc(sizeof(int) * (size_t)liwork);
    pdsyevd_("V", "L", &g->d, a, &one, &one, g->desc, w, z, &one, &one, g->desc, work, &lwork,
             iwork, &liwork, &info, 1, 1);
    free(work);
    free(iwork);
    if (info != 0)
        ddm_die("pdsyevd on %s (%dx%d, grid %dx%d, nb %d) failed: info %d", what, g->d, g->d,
                g->nprow, g->npcol, g->nb, info);
}

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

double fid_frechet(const double *mu1, const double *sigma1, int64_t n1, const double *mu2,
                   const double *sigma2, int64_t n2, int d, MPI_Comm comm, int quiet,
                   FidInfo *info)
{
    double t0 = ddm_now();
    int rank = 0, size = 1;
    MPICHECK(MPI_Comm_rank(comm, &rank));
    MPICHECK(MPI_Comm_size(comm, &size));
    DDM_ASSERT(d > 0, "FID: bad width %d", d);
    const size_t dd = (size_t)d * d;

    /* rank 0: the cheap terms, and input checks */
    double mean_term = 0.0, trace_term = 0.0;
    if (rank == 0) {
        DDM_ASSERT(mu1 && sigma1 && mu2 && sigma2, "FID: rank 0 needs both statistics");
        if (!all_finite(mu1, (size_t)d) || !all_finite(sigma1, dd))
            ddm_die("FID: the first statistics (mu/sigma) hold NaN or Inf");
        if (!all_finite(mu2, (size_t)d) || !all_finite(sigma2, dd))
            ddm_die("FID: the second statistics (mu/sigma) hold NaN or Inf");
        for (int i = 0; i < d; i++) {
            double e = mu1[i] - mu2[i];
            mean_term += e * e;
            trace_term += sigma1[(size_t)i * d + i] + sigma2[(size_t)i * d + i];
        }
    }

    /* the P-rank grid, and a 1x1 grid on rank 0 holding the full input matrices */
    int mypnum = 0, nprocs = 0;
    Cblacs_pinfo(&mypnum, &nprocs);
    Grid g;
    memset(&g, 0, sizeof g);
    g.d = d;
    fid_grid_shape(size, &g.nprow, &g.npcol);
    g.nb = pick_nb(d, g.nprow, g.npcol);
    int sys = Csys2blacs_handle(comm);
    g.ctxt = sys;
    Cblacs_gridinit(&g.ctxt, "Row", g.nprow, g.npcol);
    int pr = 0, pc = 0;
    Cblacs_gridinfo(g.ctxt, &pr, &pc, &g.myrow, &g.mycol);
    DDM_ASSERT(g.myrow >= 0 && g.mycol >= 0 && pr == g.nprow && pc == g.npcol,
               "FID: rank %d is not on the %dx%d BLACS grid", rank, g.nprow, g.npcol);
    const int zero = 0, one = 1;
    g.mloc = numroc_(&d, &g.nb, &g.myrow, &zero, &g.nprow);
    g.nloc = numroc_(&d, &g.nb, &g.mycol, &zero, &g.npcol);
    g.lld = g.mloc > 1 ? g.mloc : 1;
    int dinfo = 0;
    descinit_(g.desc, &d, &d, &g.nb, &g.nb, &zero, &zero, &g.ctxt, &g.lld, &dinfo);
    if (dinfo != 0)
        ddm_die("FID: descinit for the %dx%d grid failed (info %d)", g.nprow, g.npcol, dinfo);

    int sys0 = Csys2blacs_handle(comm);
    int ctxt0 = sys0;
    Cblacs_gridinit(&ctxt0, "Row", 1, 1);
    int r0 = -1, c0 = -1, p0r = 0, p0c = 0;
    if (rank == 0) Cblacs_gridinfo(ctxt0, &p0r, &p0c, &r0, &c0);
    int desc0[DLEN];
    memset(desc0, 0, sizeof desc0);
    desc0[CTXT_] = -1; /* ranks off the 1x1 grid take part in the copy with no data */
    if (rank == 0) {
        DDM_ASSERT(r0 == 0 && c0 == 0, "FID: rank 0 is not on the 1x1 BLACS grid");
        descinit_(desc0, &d, &d, &d, &d, &zero, &zero, &ctxt0, &d, &dinfo);
        if (dinfo != 0) ddm_die("FID: descinit for the 1x1 grid failed (info %d)", dinfo);
    }

    double *a = grid_alloc(&g), *b = grid_alloc(&g), *z = grid_alloc(&g), *t = grid_alloc(&g);
    double *w1 = xmalloc(sizeof(double) * (size_t)d), *w2 = xmalloc(sizeof(double) * (size_t)d);

    /* scatter S1 -> a, S2 -> b */
    pdgemr2d_(&d, &d, sigma1, &one, &one, desc0, a, &one, &one, g.desc, &g.ctxt);
    pdgemr2d_(&d, &d, sigma2, &one, &one, desc0, b, &one, &one, g.desc, &g.ctxt);

    /* S1 = Z diag(w1) Z^T */
    double t1 = ddm_now();
    grid_syevd(&g, a, w1, z, "the first covariance");
    const double lmax1 = fabs(w1[d - 1]);
    const double tiny1 = (double)d * DBL_EPSILON * lmax1;
    int clamped1 = 0;
    for (int i = 0; i < d; i++) {
        if (w1[i] <= tiny1) clamped1++;
    }
    double min_eig1 = w1[0], max_eig1 = w1[d - 1];
    for (int i = 0; i < d; i++) w1[i] = sqrt(w1[i] > 0.0 ? w1[i] : 0.0);

    /* bracket = diag(s) Z^T S2 Z diag(s), s = sqrt(max(w1, 0)) */
    double t2 = ddm_now();
    const double alpha = 1.0, beta = 0.0;
    pdgemm_("N", "N", &d, &d, &d, &alpha, b, &one, &one, g.desc, z, &one, &one, g.desc, &beta,
            t, &one, &one, g.desc);
    pdgemm_("T", "N", &d, &d, &d, &alpha, z, &one, &one, g.desc, t, &one, &one, g.desc, &beta,
            a, &one, &one, g.desc);
    for (int lj = 0; lj < g.nloc; lj++) {
        const double sj = w1[l2g(lj, g.nb, g.mycol, g.npcol)];
        double *col = a + (size_t)lj * g.lld;
        for (int li = 0; li < g.mloc; li++) col[li] *= w1[l2g(li, g.nb, g.myrow, g.nprow)] * sj;
    }
    double t3 = ddm_now();
    grid_syevd(&g, a, w2, b, "sqrt(S1) S2 sqrt(S1)");
    double t4 = ddm_now();
    const double tiny2 = (double)d * DBL_EPSILON * fabs(w2[d - 1]);
    double trsqrt = 0.0, clamp_doubt = 0.0;
    int clamped2 = 0;
    for (int i = 0; i < d; i++) {
        if (w2[i] <= tiny2) {
            clamped2++;
            clamp_doubt += sqrt(fabs(w2[i])); /* what the square root of a rounding-sized value can add */
        }
        trsqrt += sqrt(w2[i] > 0.0 ? w2[i] : 0.0);
    }

    free(a);
    free(b);
    free(z);
    free(t);
    free(w1);
    free(w2);
    if (rank == 0) Cblacs_gridexit(ctxt0);
    Cblacs_gridexit(g.ctxt);
    Cfree_blacs_system_handle(sys0);
    Cfree_blacs_system_handle(sys);

    /* pdsyevd hands every rank the same eigenvalues. That is checked, since a ScaLAPACK
     * failure deep inside (a rejected workspace, say) can leave info 0 and wrong values on
     * some ranks; then rank 0's terms are used everywhere. */
    double lo[2] = {trsqrt, (double)clamped1}, hi[2] = {trsqrt, (double)clamped1};
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, lo, 2, MPI_DOUBLE, MPI_MIN, comm));
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, hi, 2, MPI_DOUBLE, MPI_MAX, comm));
    if (!(hi[0] - lo[0] <= 1e-12 * fabs(hi[0])) || lo[1] != hi[1])
        ddm_die("FID: ScaLAPACK gave the ranks different eigenvalues (tr sqrt %.17g .. %.17g, "
                "%g .. %g near zero) on the %dx%d grid, D = %d, nb = %d",
                lo[0], hi[0], lo[1], hi[1], g.nprow, g.npcol, d, g.nb);
    double parts[6] = {mean_term, trace_term, trsqrt, min_eig1, max_eig1, clamp_doubt};
    MPICHECK(MPI_Bcast(parts, 6, MPI_DOUBLE, 0, comm));
    mean_term = parts[0];
    trace_term = parts[1];
    trsqrt = parts[2];
    min_eig1 = parts[3];
    max_eig1 = parts[4];
    clamp_doubt = 2.0 * parts[5];
    double fid = mean_term + trace_term - 2.0 * trsqrt;

    /* Fewer samples than dimensions: the covariance is singular and the FID a poor
     * estimate. Otherwise eigenvalues at rounding level (of S1, or of the bracket, which is
     * congruent to S2 when S1 is not singular) are clamped to 0; that matters only when
     * their square roots could move the FID by more than 1e-3 of itself. */
    int few1 = n1 > 0 && n1 <= d, few2 = n2 > 0 && n2 <= d;
    int doubt = (clamped1 > 0 || clamped2 > 0) && clamp_doubt > 1e-3 * fabs(fid) + 1e-12 * trace_term;
    int near_singular = few1 || few2 || doubt;
    if (near_singular && rank == 0 && !quiet) {
        if (few1 || few2)
            ddm_warn("FID: near-singular covariance (D = %d; %lld and %lld samples; eigenvalues "
                     "~0, clamped to 0: %d of S1, %d of sqrt(S1) S2 sqrt(S1)): the FID is finite "
                     "but a poor estimate; use more samples than feature dimensions",
                     d, (long long)n1, (long long)n2, clamped1, clamped2);
        else
            ddm_warn("FID: near-singular covariance (D = %d; eigenvalues ~0, clamped to 0: %d of S1, "
                     "%d of sqrt(S1) S2 sqrt(S1)): the FID %.6g may be off by up to %.2g (features "
                     "that are constant or linearly dependent)",
                     d, clamped1, clamped2, fid, clamp_doubt);
    }
    if (info) {
        info->nprow = g.nprow;
        info->npcol = g.npcol;
        info->nb = g.nb;
        info->clamped1 = clamped1;
        info->clamped2 = clamped2;
        info->min_eig1 = min_eig1;
        info->max_eig1 = max_eig1;
        info->mean_term = mean_term;
        info->trace_term = trace_term;
        info->trsqrt = trsqrt;
        info->near_singular = near_singular;
        info->seconds = ddm_now() - t0;
        info->seconds_eig1 = t2 - t1;
        info->seconds_gemm = t3 - t2;
        info->seconds_eig2 = t4 - t3;
    }
    return fid;
}

void fid_stats_allreduce(FeatStats *s, MPI_Comm comm)
{
    int rank = 0, size = 1;
    MPICHECK(MPI_Comm_rank(comm, &rank));
    MPICHECK(MPI_Comm_size(comm, &size));
    if (size == 1) return;
    const size_t d = (size_t)s->d;
    int dmax = s->d, dmin = s->d;
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, &dmax, 1, MPI_INT, MPI_MAX, comm));
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, &dmin, 1, MPI_INT, MPI_MIN, comm));
    if (dmax != dmin)
        ddm_die("feature statistics: widths differ across ranks (%d vs %d)", dmin, dmax);

    /* one shift for all: that of the lowest rank holding rows */
    int root = s->n > 0 ? rank : size;
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, &root, 1, MPI_INT, MPI_MIN, comm));
    if (root == size) return; /* no rows anywhere */
    double *shift = xmalloc(sizeof(double) * d);
    memcpy(shift, s->shift, sizeof(double) * d);
    MPICHECK(MPI_Bcast(shift, (int)d, MPI_DOUBLE, root, comm));
    featstats_reshift(s, shift);
    free(shift);

    long long n = (long long)s->n;
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_LONG_LONG, MPI_SUM, comm));
    s->n = (int64_t)n;
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, s->sum, (int)d, MPI_DOUBLE, MPI_SUM, comm));
    /* the upper triangle, packed (the lower one is not kept) */
    const size_t np = d * (d + 1) / 2;
    double *packed = xmalloc(sizeof(double) * np);
    size_t k = 0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++) packed[k++] = s->sxx[i * d + j];
    const size_t chunk = (size_t)1 << 28;
    for (size_t off = 0; off < np; off += chunk) {
        size_t m = np - off < chunk ? np - off : chunk;
        MPICHECK(MPI_Allreduce(MPI_IN_PLACE, packed + off, (int)m, MPI_DOUBLE, MPI_SUM, comm));
    }
    k = 0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++) s->sxx[i * d + j] = packed[k++];
    free(packed);
}
