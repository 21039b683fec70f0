/* Progress lines for long work: done/total, rate, ETA; and a JSON-lines writer. */
#ifndef DDM_PROGRESS_H
#define DDM_PROGRESS_H

#include <stdio.h>

typedef struct {
    double t0;        /* when the work (or this resumed part of it) started */
    long start_done;  /* units already done at t0 (resumed work) */
    double last_print;
} Progress;

void progress_start(Progress *p, long done_at_start);
/* units per second since start (over this process's part only) */
double progress_rate(const Progress *p, long done);
/* "1h02m" / "3m05s" / "12s" for seconds remaining to total; "?" when no rate yet */
void progress_eta(const Progress *p, long done, long total, char *buf, size_t n);
/* formats seconds as above */
void format_duration(double s, char *buf, size_t n);

/* Append one line to a file and flush it (metrics.jsonl, results.jsonl). */
void jsonl_append(const char *path, const char *line);

#endif
