/* Precision/recall and KID over ranks: see mpi/pairwise.h.
 * N = rows of a set, D = feature width, P = ranks. */
#include "mpi/pairwise.h"

#include <stdlib.h>

#include "core/common.h"
#include "mpi/dist.h"

/* this rank's rows [*r0, *r1) of n */
static void my_rows(size_t n, int rank, int size, size_t *r0, size_t *r1)
{
    *r0 = n * (size_t)rank / (size_t)size;
    *r1 = n * (size_t)(rank + 1) / (size_t)size;
}

static float *radii_all(const float *x, size_t n, int d, int k, int rank, int size,
                        MPI_Comm comm)
{
    DDM_ASSERT(n <= (size_t)INT32_MAX, "precision/recall: %zu rows are too many for one gather", n);
    float *radius2 = xalloc_floats(n ? n : 1);
    size_t r0, r1;
    my_rows(n, rank, size, &r0, &r1);
    metrics_knn_radii(radius2 + r0, x, n, d, k, r0, r1);
    if (size > 1) {
        int *counts = xmalloc(sizeof(int) * (size_t)size);
        int *displs = xmalloc(sizeof(int) * (size_t)size);
        for (int p = 0; p < size; p++) {
            size_t a, b;
            my_rows(n, p, size, &a, &b);
            counts[p] = (int)(b - a);
            displs[p] = (int)a;
        }
        MPICHECK(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, radius2, counts, displs,
                                MPI_FLOAT, comm));
        free(counts);
        free(displs);
    }
    return radius2;
}

float *pairwise_knn_radii(const float *x, size_t n, int d, int k, MPI_Comm comm)
{
    int rank = 0, size = 1;
    MPICHECK(MPI_Comm_rank(comm, &rank));
    MPICHECK(MPI_Comm_size(comm, &size));
    return radii_all(x, n, d, k <= 0 ? PR_K : k, rank, size, comm);
}

void pairwise_precision_recall(PrResult *out, const float *real, size_t nr, const float *real_radii,
                               const float *fake, size_t nf, int d, int k, MPI_Comm comm)
{
    int rank = 0, size = 1;
    MPICHECK(MPI_Comm_rank(comm, &rank));
    MPICHECK(MPI_Comm_size(comm, &size));
    if (k <= 0) k = PR_K;
    float *own = real_radii ? NULL : radii_all(real, nr, d, k, rank, size, comm);
    const float *rr = real_radii ? real_radii : own;
    float *rf = radii_all(fake, nf, d, k, rank, size, comm);
    size_t a, b;
    long long counts[2];
    my_rows(nf, rank, size, &a, &b);
    counts[0] = (long long)metrics_count_inside(fake, nf, real, rr, nr, d, a, b);
    my_rows(nr, rank, size, &a, &b);
    counts[1] = (long long)metrics_count_inside(real, nr, fake, rf, nf, d, a, b);
    if (size > 1) MPICHECK(MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_LONG_LONG, MPI_SUM, comm));
    out->k = k;
    out->precision = (double)counts[0] / (double)nf;
    out->recall = (double)counts[1] / (double)nr;
    free(own);
    free(rf);
}

void pairwise_kid(KidResult *out, const float *x, size_t nx, const float *y, size_t ny, int d,
                  int subset_size, int subsets, uint64_t seed, MPI_Comm comm)
{
    int rank = 0, size = 1;
    MPICHECK(MPI_Comm_rank(comm, &rank));
    MPICHECK(MPI_Comm_size(comm, &size));
    if (subsets <= 0) subsets = KID_SUBSETS;
    const int m = kid_subset_size(nx, ny, subset_size);
    double *v = xcalloc((size_t)subsets, sizeof(double));
    for (int s = rank; s < subsets; s += size) v[s] = kid_subset(x, nx, y, ny, d, m, seed, s);
    /* each entry is non-zero on one rank only: the sum is exact */
    if (size > 1) MPICHECK(MPI_Allreduce(MPI_IN_PLACE, v, subsets, MPI_DOUBLE, MPI_SUM, comm));
    double sum = 0.0, sum_sq = 0.0;
    for (int s = 0; s < subsets; s++) {
        sum += v[s];
        sum_sq += v[s] * v[s];
    }
    kid_finish(out, sum, sum_sq, subsets, m);
    free(v);
}
