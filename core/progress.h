/* Progress of long work: rate since the (possibly resumed) start, ETA, durations.
 * Pure C, no MPI: callers decide which rank prints. */
#ifndef DDM_PROGRESS_H
#define DDM_PROGRESS_H

#include <stddef.h>

typedef struct {
    double t0;        /* when the work (or this resumed part of it) started */
    long start_done;  /* units already done at t0 (resumed work) */
    double last_print;
    int printed;      /* progress_report printed a line */
} Progress;

void progress_start(Progress *p, long done_at_start);
/* units per second since start (over this process's part only) */
double progress_rate(const Progress *p, long done);
/* "1h02m" / "3m05s" / "12s" for seconds remaining to total; "?" when no rate yet */
void progress_eta(const Progress *p, long done, long total, char *buf, size_t n);
/* formats seconds as above ("?" when negative, NaN or absurdly large) */
void format_duration(double s, char *buf, size_t n);
/* 1 (and remembers now) when at least `every` seconds passed since the last time it
 * returned 1 (or since progress_start): for "a line every few seconds" loops */
int progress_due(Progress *p, double every);

/* A line "WHAT done/total (pct%)" on stdout at most every `every` seconds while
 * done < total, and a last one at done == total when any was printed: quick work prints
 * none. */
void progress_report(Progress *p, const char *what, long done, long total, double every);

#endif
