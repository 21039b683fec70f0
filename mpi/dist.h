/* Rank setup and abort-on-error. Every job calls dist_init first: afterwards a fatal
 * error on any rank (ddm_die, DDM_ASSERT) ends all ranks through MPI_Abort. */
#ifndef DDM_DIST_H
#define DDM_DIST_H

#include <mpi.h>
#include <stddef.h>

typedef struct {
    int rank, size;
    MPI_Comm comm;
} Dist;

extern Dist g_dist;

void dist_init(int *argc, char ***argv);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);
int dist_is_root(void);

/* MPICHECK(call): an MPI call that must succeed (MPI_ERRORS_RETURN is set on the comm) */
#define MPICHECK(call) \
    do { int mpi_rc_ = (call); if (mpi_rc_ != MPI_SUCCESS) dist_mpi_fail(mpi_rc_, #call, __FILE__, __LINE__); } while (0)
_Noreturn void dist_mpi_fail(int rc, const char *what, const char *file, int line);

/* Sum a float block over ranks in place. Returns seconds. */
double dist_allreduce_sum(float *x, size_t n);
void dist_allreduce_sum_d(double *x, size_t n);
void dist_bcast(void *buf, size_t bytes, int root);
void dist_barrier(void);
/* true on every rank when any rank passed true */
int dist_any(int flag);

#endif
