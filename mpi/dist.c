#include "mpi/dist.h"

#include <limits.h>
#include <stdio.h>

#include "core/common.h"

Dist g_dist = {0, 1, MPI_COMM_NULL};

static void abort_all(int code)
{
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized && g_dist.size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    _Exit(code);
}

void dist_init(int *argc, char ***argv)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_Init(argc, argv);
    g_dist.comm = MPI_COMM_WORLD;
    MPI_Comm_set_errhandler(g_dist.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(g_dist.comm, &g_dist.rank);
    MPI_Comm_size(g_dist.comm, &g_dist.size);
    ddm_set_fatal_hook(abort_all);
}

void dist_finalize(void)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
}

int dist_rank(void) { return g_dist.rank; }
int dist_size(void) { return g_dist.size; }
int dist_is_root(void) { return g_dist.rank == 0; }

void dist_mpi_fail(int rc, const char *what, const char *file, int line)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    ddm_die_at(file, line, "rank %d: %s failed: %s", g_dist.rank, what, msg);
}

double dist_allreduce_sum(float *x, size_t n)
{
    double t0 = ddm_now();
    if (g_dist.size > 1)
        for (size_t off = 0; off < n; off += (size_t)INT_MAX / 2) {
            size_t m = n - off < (size_t)INT_MAX / 2 ? n - off : (size_t)INT_MAX / 2;
            MPICHECK(MPI_Allreduce(MPI_IN_PLACE, x + off, (int)m, MPI_FLOAT, MPI_SUM, g_dist.comm));
        }
    return ddm_now() - t0;
}

void dist_allreduce_sum_d(double *x, size_t n)
{
    if (g_dist.size > 1)
        for (size_t off = 0; off < n; off += (size_t)INT_MAX / 2) {
            size_t m = n - off < (size_t)INT_MAX / 2 ? n - off : (size_t)INT_MAX / 2;
            MPICHECK(MPI_Allreduce(MPI_IN_PLACE, x + off, (int)m, MPI_DOUBLE, MPI_SUM, g_dist.comm));
        }
}

void dist_bcast(void *buf, size_t bytes, int root)
{
    if (g_dist.size > 1) MPICHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, g_dist.comm));
}

void dist_barrier(void)
{
    if (g_dist.size > 1) MPICHECK(MPI_Barrier(g_dist.comm));
}

int dist_any(int flag)
{
    int out = flag;
    if (g_dist.size > 1) MPICHECK(MPI_Allreduce(&flag, &out, 1, MPI_INT, MPI_LOR, g_dist.comm));
    return out;
}
