#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void (*fatal_hook)(int) = NULL;
static void (*cleanup_hook)(void) = NULL;

static double die_delay = 0;

void ddm_set_fatal_hook(void (*hook)(int code)) { fatal_hook = hook; }
void ddm_set_die_delay(double seconds) { die_delay = seconds; }
void ddm_set_cleanup_hook(void (*hook)(void)) { cleanup_hook = hook; }
void (*ddm_cleanup_hook(void))(void) { return cleanup_hook; }

static _Noreturn void die_now(void)
{
    fflush(stdout);
    fflush(stderr);
    if (cleanup_hook) {
        void (*h)(void) = cleanup_hook;
        cleanup_hook = NULL; /* never twice, even if the hook itself fails */
        h();
    }
    if (fatal_hook) fatal_hook(1);
    exit(1);
}

/* The error line, written at once (two ranks' lines never interleave), after the die
 * delay of this rank (ddm_set_die_delay: the other ranks of a job wait, so that when every
 * rank meets the same error, rank 0's line and its abort of the job come first and the
 * line is printed once). */
static void die_line(const char *prefix, const char *fmt, va_list ap)
{
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s", prefix);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof buf) vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    size_t len = strlen(buf);
    if (len + 1 < sizeof buf) {
        buf[len++] = '\n';
        buf[len] = '\0';
    }
    fflush(stdout);
    if (die_delay > 0) {
        struct timespec ts = {(time_t)die_delay, (long)((die_delay - (double)(time_t)die_delay) * 1e9)};
        nanosleep(&ts, NULL);
    }
    fputs(buf, stderr);
}

void ddm_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    die_line("ddm: error: ", fmt, ap);
    va_end(ap);
    die_now();
}

void ddm_die_at(const char *file, int line, const char *fmt, ...)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, "ddm: error: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    die_line(prefix, fmt, ap);
    va_end(ap);
    die_now();
}

void ddm_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ddm: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void *xmalloc_at(size_t n, const char *file, int line)
{
    void *p = malloc(n ? n : 1);
    if (!p) ddm_die_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *xcalloc_at(size_t n, size_t size, const char *file, int line)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ddm_die_at(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) ddm_die_at(file, line, "out of memory reallocating %zu bytes", n);
    return q;
}

char *xstrdup_at(const char *s, const char *file, int line)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc_at(n, file, line);
    memcpy(d, s, n);
    return d;
}

FILE *xfopen_at(const char *path, const char *mode, const char *file, int line)
{
    FILE *f = fopen(path, mode);
    if (!f) ddm_die_at(file, line, "%s: cannot open: %s", path, strerror(errno));
    return f;
}

float *xalloc_floats(size_t n)
{
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    if (posix_memalign(&p, 64, bytes) != 0)
        ddm_die("out of memory allocating %zu floats", n);
    return p;
}

double ddm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* OpenBLAS exports this; declared here so that core/ needs no OpenBLAS header. */
void openblas_set_num_threads(int n);

static int g_threads = 0;

void ddm_set_threads(int n)
{
    if (n < 0) ddm_die("--threads %d: want a count >= 1, or 0 for what the rank may use", n);
    if (n == 0) {
        const char *e = getenv("OMP_NUM_THREADS");
        if (!e || !*e) e = getenv("SLURM_CPUS_PER_TASK");
        if (e && *e) n = atoi(e);
    }
    if (n <= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    }
    if (n <= 0) n = 1;
    g_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

int ddm_threads(void)
{
    if (g_threads <= 0) ddm_set_threads(0);
    return g_threads;
}

size_t ddm_peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) { kb = (size_t)strtoull(line + 6, NULL, 10); break; }
    fclose(f);
    return kb * 1024;
}

void ddm_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
