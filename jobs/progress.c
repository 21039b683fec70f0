#include "jobs/progress.h"

#include <errno.h>
#include <string.h>

#include "core/common.h"

void progress_start(Progress *p, long done_at_start)
{
    p->t0 = ddm_now();
    p->start_done = done_at_start;
    p->last_print = 0;
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

void jsonl_append(const char *path, const char *line)
{
    FILE *f = fopen(path, "a");
    if (!f) ddm_die("%s: cannot append: %s", path, strerror(errno));
    fputs(line, f);
    if (line[0] && line[strlen(line) - 1] != '\n') fputc('\n', f);
    if (fclose(f) != 0) ddm_die("%s: write failed: %s", path, strerror(errno));
}
