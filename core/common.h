/* Common helpers: checked allocation, fatal errors, assertions, timing, threads.
 * core/ knows nothing of MPI: a fatal error calls a hook that mpi/ points at MPI_Abort. */
#ifndef DDM_COMMON_H
#define DDM_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DDM_VERSION "0.1.0"

/* Print "ddm: error: <msg>" (with file:line when given) and end the process through the
 * fatal hook (default: exit(1); under MPI: MPI_Abort on all ranks). */
_Noreturn void ddm_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void ddm_die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ddm_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A returned error: the message into err (errlen bytes) when err is not NULL. */
void ddm_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* hook(code) must not return; it is called after the message is printed */
void ddm_set_fatal_hook(void (*hook)(int code));
/* Seconds this process waits before printing a fatal error (mpi/dist: ranks other than 0,
 * so that an error every rank meets is printed once, by rank 0, whose abort ends the job). */
void ddm_set_die_delay(double seconds);
/* hook run before the process dies (e.g. to delete a half-written output file) */
void ddm_set_cleanup_hook(void (*hook)(void));
/* the cleanup hook in force (NULL when none): to chain to it */
void (*ddm_cleanup_hook(void))(void);

/* Assertions that stay on in release builds. */
#define DDM_ASSERT(cond, ...) \
    do { if (!(cond)) ddm_die_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)

void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t n, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
FILE *xfopen_at(const char *path, const char *mode, const char *file, int line);
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, s) xcalloc_at((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) xstrdup_at((s), __FILE__, __LINE__)
#define xfopen(p, m) xfopen_at((p), (m), __FILE__, __LINE__)

/* 64-byte aligned allocation for float blocks; free with free(). */
float *xalloc_floats(size_t n);

double ddm_now(void); /* monotonic seconds */

/* Threads for OpenMP loops and OpenBLAS. n <= 0 means: what the process may use
 * (OMP_NUM_THREADS, else SLURM_CPUS_PER_TASK, else the CPUs in the affinity mask). */
void ddm_set_threads(int n);
int ddm_threads(void);

/* Peak resident set size of this process in bytes (from /proc/self/status VmHWM). */
size_t ddm_peak_rss(void);

#endif
