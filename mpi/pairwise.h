/* Precision/recall and KID with their pairwise work spread over the ranks of a
 * communicator. Every rank holds the full feature sets (for the classifier's 128-wide
 * features, 50,000 rows are 25 MB); the work, not the data, is split.
 *   precision/recall: the rows of each distance computation are split by rank
 *     ([r N/P, (r+1) N/P)); k-NN radii are gathered on every rank, inside-counts summed.
 *   KID: subset s is computed by rank s mod P; the per-subset values are summed over
 *     ranks into one array and reduced in subset order, so the KID is the same bits at
 *     any rank count.
 */
#ifndef DDM_PAIRWISE_H
#define DDM_PAIRWISE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"

/* Collective. The squared distance of every row of x (n, d) to its k-th nearest other
 * row (k <= 0 takes 3), on every rank (malloc'd, n floats). */
float *pairwise_knn_radii(const float *x, size_t n, int d, int k, MPI_Comm comm);

/* Collective. k <= 0 takes 3. real_radii: pairwise_knn_radii(real, ..., k), to reuse over
 * several fake sets; NULL computes them. The same result on every rank. */
void pairwise_precision_recall(PrResult *out, const float *real, size_t nr, const float *real_radii,
                               const float *fake, size_t nf, int d, int k, MPI_Comm comm);

/* Collective. subset_size, subsets <= 0 take the defaults (1000, 100). */
void pairwise_kid(KidResult *out, const float *x, size_t nx, const float *y, size_t ny, int d,
                  int subset_size, int subsets, uint64_t seed, MPI_Comm comm);

#endif
