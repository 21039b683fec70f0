/* Fréchet distance on ScaLAPACK, and the reduction of feature statistics over ranks.
 *
 * FID (Heusel et al. 2017) between N(mu1, S1) and N(mu2, S2), in the symmetric form
 *   FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( sqrt( sqrt(S1) S2 sqrt(S1) ) )
 * which equals pytorch-fid's tr(sqrtm(S1 S2)) form but needs only symmetric
 * eigendecompositions (pdsyevd), whose tiny negative eigenvalues can be clamped to 0: the
 * result is finite even when a covariance is singular (fewer samples than dimensions).
 *   S1 = V diag(l) V^T,  sqrt(S1) S2 sqrt(S1) = V [diag(sqrt l) V^T S2 V diag(sqrt l)] V^T
 * so tr sqrt(...) = sum_i sqrt(eig_i(bracket)).
 * The matrices are spread over a 2-D BLACS grid of all ranks of the communicator (as
 * square as the rank count allows: 1x1, 1x2, 2x2, 1x3, 2x3, ...); with one rank it still
 * runs through ScaLAPACK on a 1x1 grid.
 */
#ifndef DDM_FID_H
#define DDM_FID_H

#include <mpi.h>
#include <stdint.h>

#include "core/metrics.h"

typedef struct {
    int nprow, npcol, nb;      /* the BLACS grid and block size used */
    int clamped1;              /* eigenvalues of S1 <= D*eps*max (numerically zero) */
    int clamped2;              /* the same for the bracket sqrt(S1) S2 sqrt(S1) */
    double min_eig1, max_eig1; /* extreme eigenvalues of S1 before clamping */
    double mean_term;          /* |mu1 - mu2|^2 */
    double trace_term;         /* tr(S1) + tr(S2) */
    double trsqrt;             /* tr sqrt(sqrt(S1) S2 sqrt(S1)) */
    int near_singular;         /* a covariance is (numerically) singular: FID is a poor estimate */
    double seconds;            /* all of fid_frechet, of which: */
    double seconds_eig1;       /*   eigendecomposition of S1 */
    double seconds_gemm;       /*   the two products V^T S2 V */
    double seconds_eig2;       /*   eigenvalues of the bracket */
} FidInfo;

/* Collective over comm. mu (D) and sigma (D,D) full symmetric (row- or column-major, the
 * same thing) are read on rank 0 only; the other ranks may pass NULL. n1, n2 are the
 * sample counts behind the statistics (0 when unknown). Fewer samples than D, or
 * numerically zero eigenvalues (<= D*eps*max) of S1 or of the bracket, print a warning
 * on rank 0 (unless quiet) and set info->near_singular; the negative ones are clamped to
 * 0, so the result is still finite. Returns the FID on every rank (not clamped at 0: FID(X,X)
 * comes out as +-1e-12 or so); info (may be NULL) likewise. Dies (all ranks) on
 * non-finite input or a ScaLAPACK failure. */
double fid_frechet(const double *mu1, const double *sigma1, int64_t n1, const double *mu2,
                   const double *sigma2, int64_t n2, int d, MPI_Comm comm, int quiet,
                   FidInfo *info);

/* the BLACS grid fid_frechet uses for P ranks: nprow x npcol = P, nprow <= npcol, as
 * square as possible */
void fid_grid_shape(int p, int *nprow, int *npcol);

/* Collective: sum the statistics of every rank's rows into every rank's s (all ranks
 * end up holding the statistics of the union). Sums are re-expressed around one common
 * shift (the first rank with rows chooses it) before they are added. */
void fid_stats_allreduce(FeatStats *s, MPI_Comm comm);

#endif
