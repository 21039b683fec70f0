/* Rank setup and abort-on-error. Every job calls dist_init first: afterwards a fatal
 * error on any rank (ddm_die, DDM_ASSERT) ends all ranks through MPI_Abort. */
#ifndef DDM_DIST_H
#define DDM_DIST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

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
/* Collective: sums of a long long block over ranks, in place. */
void dist_allreduce_sum_ll(long long *x, size_t n);
/* Collective: the smallest and largest v over the ranks. */
void dist_minmax_d(double v, double *lo, double *hi);
/* Collective: a string of rank 0 (malloc'd, NULL allowed) onto every rank; *s of the
 * other ranks is overwritten (not freed). */
void dist_bcast_str(char **s);
/* Collective: rows x (n, w) of every rank onto every rank, in rank order (malloc'd
 * float block, *ntotal rows). Dies when the total passes what one MPI call moves. */
float *dist_allgather_rows(const float *x, int64_t n, int w, int64_t *ntotal);
/* The same for double rows (malloc'd). */
double *dist_allgather_rows_d(const double *x, int64_t n, int w, int64_t *ntotal);

/* Collective: a decision every rank must share. Every rank passes whether its check
 * passed; when any failed, the lowest failing rank dies with its message (ddm_die: printed
 * once, MPI_Abort ends every rank with a non-zero status) and the others wait for that.
 * Returns only when every rank passed, so no rank goes on alone. */
void dist_check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "Rank 0 first": rank 0 parses and checks the input alone, so a bad input is reported
 * once; the other ranks wait in dist_root_first_wait until rank 0 calls
 * dist_root_first_release (collective, matched once). go = 0 tells them to stop (rank 0
 * printed --help); a death on rank 0 ends them through MPI_Abort. On rank 0
 * dist_root_first_wait returns 1 at once. */
int dist_root_first_wait(void);
void dist_root_first_release(int go);

/* Jobs that work on rank 0 alone (prep, info, export, merge): dist_init, then on every
 * other rank wait for rank 0 (dist_finish) and return 0; returns 1 on rank 0. */
int dist_root_only(int *argc, char ***argv);
/* Collective end of a job: barrier, MPI_Finalize; returns rc (the exit status). */
int dist_finish(int rc);

/* The hang watchdog (started by dist_init on 2+ ranks): a rank that records no progress
 * for DDM_HANG_TIMEOUT seconds (default DIST_HANG_TIMEOUT_DEFAULT; 0 = off) prints one
 * line and exits with DIST_EXIT_HANG, which makes mpirun / srun end the job. Progress is
 * every collective of this module returning, and dist_heartbeat(), which the jobs' loops
 * call between their units of local work (a training step, a network call, a batch). */
#define DIST_HANG_TIMEOUT_DEFAULT 1800.0
#define DIST_EXIT_HANG 4
void dist_heartbeat(void);

#endif
