/* Progress lines for long work: rate, ETA, durations (core/progress.h). */
#include "core/progress.h"

#include <stdio.h>

#include "core/common.h"

void progress_start(Progress *p, long done_at_start)
{
    p->t0 = ddm_now();
    p->start_done = done_at_start;
    p->last_print = p->t0;
    p->printed = 0;
}

double progress_rate(const Progress *p, long done)
{
    double dt = ddm_now() - p->t0;
    return dt > 0 ? (double)(done - p->start_done) / dt : 0.0;
}

void format_duration(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, n, "%lds", t);
}

void progress_eta(const Progress *p, long done, long total, char *buf, size_t n)
{
    double r = progress_rate(p, done);
    if (r <= 0) snprintf(buf, n, "?");
    else format_duration((double)(total - done) / r, buf, n);
}

int progress_due(Progress *p, double every)
{
    double now = ddm_now();
    if (now - p->last_print < every) return 0;
    p->last_print = now;
    return 1;
}

void progress_report(Progress *p, const char *what, long done, long total, double every)
{
    if (done < total ? !progress_due(p, every) : !p->printed) return;
    printf("%s %ld/%ld (%.0f%%)\n", what, done, total, 100.0 * (double)done / (double)total);
    fflush(stdout);
    p->printed = 1;
}
