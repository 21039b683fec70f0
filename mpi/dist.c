#include "mpi/dist.h"

#include <limits.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- the hang watchdog: a rank whose main thread makes no progress (no collective
 * returns, no heartbeat) for DDM_HANG_TIMEOUT seconds ends itself with a clear line, and
 * mpirun / srun then end the job: a stopped rank or a dead link never hangs the others. */
static volatile double g_beat;
static double g_hang_timeout;

void dist_heartbeat(void) { g_beat = ddm_now(); }

static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
        const double idle = ddm_now() - g_beat;
        if (idle > g_hang_timeout) {
            char line[512];
            int n = snprintf(line, sizeof line,
                             "ddm: error: rank %d of %d: no progress for %.0f s (DDM_HANG_TIMEOUT = "
                             "%g): another rank stopped or the network failed; ending the job\n",
                             g_dist.rank, g_dist.size, idle, g_hang_timeout);
            fflush(stdout);
            if (write(2, line, (size_t)n) < 0) { /* nothing more to do */ }
            void (*cleanup)(void) = ddm_cleanup_hook();
            if (cleanup) cleanup(); /* half-written outputs of this rank */
            _exit(DIST_EXIT_HANG);
        }
    }
    return NULL;
}

static void watchdog_start(void)
{
    const char *e = getenv("DDM_HANG_TIMEOUT");
    g_hang_timeout = DIST_HANG_TIMEOUT_DEFAULT;
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (end == e || *end || !(v >= 0))
            ddm_die("DDM_HANG_TIMEOUT=%s: want seconds >= 0 (0 = no watchdog)", e);
        g_hang_timeout = v;
    }
    if (g_dist.size < 2 || g_hang_timeout == 0) return;
    dist_heartbeat();
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, watchdog, NULL) != 0)
        ddm_warn("cannot start the hang watchdog: a stopped rank would hang the job");
    pthread_attr_destroy(&at);
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
    /* an error every rank meets (a missing input read by all) is printed once: by rank 0,
     * whose abort ends the others while they wait; an error of one rank alone is printed
     * by it, half a second late */
    if (g_dist.rank != 0 && g_dist.size > 1) ddm_set_die_delay(0.5);
    watchdog_start();
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
    dist_heartbeat();
    return ddm_now() - t0;
}

void dist_allreduce_sum_d(double *x, size_t n)
{
    if (g_dist.size > 1)
        for (size_t off = 0; off < n; off += (size_t)INT_MAX / 2) {
            size_t m = n - off < (size_t)INT_MAX / 2 ? n - off : (size_t)INT_MAX / 2;
            MPICHECK(MPI_Allreduce(MPI_IN_PLACE, x + off, (int)m, MPI_DOUBLE, MPI_SUM, g_dist.comm));
        }
    dist_heartbeat();
}

void dist_bcast(void *buf, size_t bytes, int root)
{
    const size_t chunk = (size_t)1 << 30; /* MPI counts are int */
    if (g_dist.size > 1)
        for (size_t off = 0; off < bytes; off += chunk)
            MPICHECK(MPI_Bcast((char *)buf + off, (int)(bytes - off < chunk ? bytes - off : chunk), MPI_BYTE,
                               root, g_dist.comm));
}

void dist_barrier(void)
{
    if (g_dist.size > 1) MPICHECK(MPI_Barrier(g_dist.comm));
    dist_heartbeat();
}

int dist_any(int flag)
{
    int out = flag;
    if (g_dist.size > 1) MPICHECK(MPI_Allreduce(&flag, &out, 1, MPI_INT, MPI_LOR, g_dist.comm));
    dist_heartbeat();
    return out;
}

void dist_allreduce_sum_ll(long long *x, size_t n)
{
    if (g_dist.size > 1)
        for (size_t off = 0; off < n; off += (size_t)INT_MAX / 2) {
            size_t m = n - off < (size_t)INT_MAX / 2 ? n - off : (size_t)INT_MAX / 2;
            MPICHECK(MPI_Allreduce(MPI_IN_PLACE, x + off, (int)m, MPI_LONG_LONG, MPI_SUM, g_dist.comm));
        }
}

void dist_minmax_d(double v, double *lo, double *hi)
{
    double in[2] = {v, -v}, out[2] = {v, -v};
    if (g_dist.size > 1) MPICHECK(MPI_Allreduce(in, out, 2, MPI_DOUBLE, MPI_MAX, g_dist.comm));
    *hi = out[0];
    *lo = -out[1];
}

void dist_bcast_str(char **s)
{
    long long len = dist_is_root() ? (*s ? (long long)strlen(*s) : -1) : 0;
    dist_bcast(&len, sizeof len, 0);
    if (dist_is_root()) {
        if (len > 0) dist_bcast(*s, (size_t)len, 0);
        return;
    }
    if (len < 0) {
        *s = NULL;
        return;
    }
    *s = xmalloc((size_t)len + 1);
    if (len > 0) dist_bcast(*s, (size_t)len, 0);
    (*s)[len] = '\0';
}

/* rows x (n, w) of elem_size-byte values of type t from every rank, in rank order */
static void *allgather_rows(const void *x, int64_t n, int w, size_t elem_size, MPI_Datatype t, int64_t *ntotal)
{
    const int P = g_dist.size;
    long long mine = n;
    long long *all = xmalloc(sizeof(long long) * (size_t)P);
    if (P > 1) MPICHECK(MPI_Allgather(&mine, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG, g_dist.comm));
    else all[0] = mine;
    int *counts = xmalloc(sizeof(int) * (size_t)P), *displs = xmalloc(sizeof(int) * (size_t)P);
    long long tot = 0;
    for (int p = 0; p < P; p++) {
        if (all[p] > 2147483647LL || tot > 2147483647LL - all[p])
            ddm_die("gathering rows: %lld rows are more than one MPI call moves", tot + all[p]);
        counts[p] = (int)all[p];
        displs[p] = (int)tot;
        tot += all[p];
    }
    void *out = xmalloc(elem_size * (size_t)(tot > 0 ? tot : 1) * (size_t)w);
    if (P == 1) {
        memcpy(out, x, elem_size * (size_t)n * (size_t)w);
    } else {
        MPI_Datatype row;
        MPICHECK(MPI_Type_contiguous(w, t, &row));
        MPICHECK(MPI_Type_commit(&row));
        MPICHECK(MPI_Allgatherv(x, (int)n, row, out, counts, displs, row, g_dist.comm));
        MPICHECK(MPI_Type_free(&row));
    }
    free(all);
    free(counts);
    free(displs);
    *ntotal = tot;
    return out;
}

float *dist_allgather_rows(const float *x, int64_t n, int w, int64_t *ntotal)
{
    return allgather_rows(x, n, w, sizeof(float), MPI_FLOAT, ntotal);
}

double *dist_allgather_rows_d(const double *x, int64_t n, int w, int64_t *ntotal)
{
    return allgather_rows(x, n, w, sizeof(double), MPI_DOUBLE, ntotal);
}

void dist_check(int ok, const char *fmt, ...)
{
    int mine = ok ? g_dist.size : g_dist.rank, first = mine;
    if (g_dist.size > 1) MPICHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, g_dist.comm));
    if (first == g_dist.size) return; /* every rank passed */
    if (first == g_dist.rank) {
        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        ddm_die("%s", msg);
    }
    /* another rank reports and aborts the job; wait for that (the barrier never ends) */
    MPI_Barrier(g_dist.comm);
    _Exit(1);
}

int dist_root_only(int *argc, char ***argv)
{
    dist_init(argc, argv);
    if (dist_is_root()) return 1;
    dist_finish(0);
    return 0;
}

int dist_finish(int rc)
{
    dist_barrier();
    dist_finalize();
    return rc;
}

int dist_root_first_wait(void)
{
    int go = 1;
    if (!dist_is_root()) dist_bcast(&go, sizeof go, 0);
    return go;
}

void dist_root_first_release(int go)
{
    if (dist_is_root()) dist_bcast(&go, sizeof go, 0);
}
