/* ddm info RUN_DIR: a training run folder summed up (io/runinfo.h). */
#define _DEFAULT_SOURCE
#include "io/runinfo.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/progress.h"
#include "io/ckpt.h"
#include "io/config.h"
#include "io/plot.h"

/* the number after "key": in a flat JSON line of ddm's own; NAN when absent or null */
static double jnum(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(line, pat);
    if (!p) return NAN;
    p += strlen(pat);
    if (*p == '"') p++; /* a string value holding a number (slurm_job) */
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

typedef struct {
    long lines, resumes, restarts_max;
    double first_step, last_step, prev_step, loss, smooth, ips, lr, wall, ranks, threads;
    double jobs[16];
    int n_jobs;
} Log;

static void read_log(const char *path, Log *g)
{
    memset(g, 0, sizeof *g);
    g->first_step = g->last_step = g->prev_step = NAN;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        double step = jnum(line, "step");
        if (isnan(step)) continue;
        g->lines++;
        if (isnan(g->first_step)) g->first_step = step;
        if (!isnan(g->prev_step) && step <= g->prev_step) g->resumes++; /* logged again */
        g->prev_step = g->last_step = step;
        g->loss = jnum(line, "loss");
        g->smooth = jnum(line, "loss_smoothed");
        g->ips = jnum(line, "images_per_s");
        g->lr = jnum(line, "lr");
        g->wall = jnum(line, "wall_s");
        g->ranks = jnum(line, "ranks");
        g->threads = jnum(line, "threads");
        double job = jnum(line, "slurm_job"), rs = jnum(line, "slurm_restarts");
        if (!isnan(rs) && rs > g->restarts_max) g->restarts_max = (long)rs;
        int seen = 0;
        for (int i = 0; i < g->n_jobs; i++) seen |= g->jobs[i] == job;
        if (!isnan(job) && !seen && g->n_jobs < 16) g->jobs[g->n_jobs++] = job;
    }
    fclose(f);
}

static int by_step(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int runinfo_describe(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    FILE *probe = fopen(path, "r");
    if (!probe) return -1;
    fclose(probe);
    DdmConfig cfg;
    config_defaults(&cfg);
    char err[1024];
    const int cfg_ok = config_load_ini(&cfg, path, err, sizeof err) == 0;
    printf("run folder: %s\n", dir);
    static const char *const TASK[] = {"diffusion U-Net", "classifier (clean images)",
                                       "noise-aware classifier"};
    if (cfg_ok)
        printf("  task: %s; train.max_steps %lld, global batch %d; config.ini\n",
               TASK[cfg.train.task], (long long)cfg.train.max_steps, cfg.train.batch);
    else
        printf("  config.ini: %s\n", err);

    /* checkpoints */
    int64_t steps[256];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        const char *nm = de->d_name;
        if (strncmp(nm, "ckpt-", 5)) continue;
        const char *q = nm + 5;
        while (*q >= '0' && *q <= '9') q++;
        if (q == nm + 5 || strcmp(q, ".h5") || n >= 256) continue;
        steps[n++] = strtoll(nm + 5, NULL, 10);
    }
    if (d) closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, by_step);
    if (n == 0) {
        printf("  checkpoints: none yet\n");
    } else {
        char list[512] = "";
        size_t off = 0;
        for (int i = 0; i < n && off < sizeof list; i++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%lld", i ? ", " : "",
                                    (long long)steps[i]);
        char *last = ckpt_path(dir, steps[n - 1]);
        double rates[16];
        int nr = ckpt_ema_rates(last, rates, 16);
        char rl[160] = "";
        off = 0;
        for (int i = 0; i < nr && off < sizeof rl; i++)
            off += (size_t)snprintf(rl + off, sizeof rl - off, "%s%g", i ? ", " : "", rates[i]);
        CkptMeta meta;
        memset(&meta, 0, sizeof meta);
        ckpt_read_meta(last, &meta);
        char wall[32];
        format_duration(meta.wall_time, wall, sizeof wall);
        printf("  checkpoints: %d (steps %s); newest %s: step %lld, %lld images seen, %s of "
               "training; EMA rates: %s\n", n, list, last, (long long)meta.step,
               (long long)meta.images_seen, wall, nr ? rl : "none");
        ckpt_meta_free(&meta);
        free(last);
    }

    /* the log */
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    Log g;
    read_log(path, &g);
    if (g.lines == 0) {
        printf("  metrics.jsonl: no lines yet\n");
    } else {
        printf("  progress: step %.0f", g.last_step);
        if (cfg_ok) printf(" of %lld (%.1f%%)", (long long)cfg.train.max_steps,
                           100.0 * g.last_step / (double)cfg.train.max_steps);
        printf("; loss %.5g (smoothed %.5g), lr %.3g\n", g.loss, g.smooth, g.lr);
        char eta[32] = "?", wall[32];
        if (cfg_ok && g.ips > 0 && g.last_step < cfg.train.max_steps)
            format_duration(((double)cfg.train.max_steps - g.last_step) * cfg.train.batch / g.ips,
                            eta, sizeof eta);
        else if (cfg_ok && g.last_step >= cfg.train.max_steps)
            snprintf(eta, sizeof eta, "done");
        format_duration(isnan(g.wall) ? 0 : g.wall, wall, sizeof wall);
        printf("  speed: %.1f images/s on %.0f rank(s) x %.0f thread(s) at the last log line; "
               "%s of training so far; ETA %s\n", g.ips, g.ranks, g.threads, wall, eta);
        printf("  metrics.jsonl: %ld lines (steps %.0f..%.0f), %ld resume%s seen (a step logged "
               "again)", g.lines, g.first_step, g.last_step, g.resumes, g.resumes == 1 ? "" : "s");
        if (g.n_jobs) {
            printf("; Slurm job%s", g.n_jobs > 1 ? "s" : "");
            for (int i = 0; i < g.n_jobs; i++) printf(" %.0f", g.jobs[i]);
            printf(", requeued %ld time%s", g.restarts_max, g.restarts_max == 1 ? "" : "s");
        }
        printf("\n");
    }
    return 0;
}

int runinfo_curves(const char *dir)
{
    char path[4096], png[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    snprintf(png, sizeof png, "%s/curves.png", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    static const char *const QL[4] = {"t quartile 1 (least noise)", "t quartile 2", "t quartile 3",
                                      "t quartile 4 (most noise)"};
    static const char *const QA[4] = {"accuracy, t quartile 1", "accuracy, t quartile 2",
                                      "accuracy, t quartile 3", "accuracy, t quartile 4"};
    int cap = 1024, n1 = 0, n2 = 0, n3 = 0;
    PlotPoint *p1 = xmalloc(sizeof *p1 * (size_t)cap * 6), *p2 = xmalloc(sizeof *p2 * (size_t)cap),
              *p3 = xmalloc(sizeof *p3 * (size_t)cap);
    char line[8192];
    int acc = 0;
    while (fgets(line, sizeof line, f)) {
        const double step = jnum(line, "step");
        if (isnan(step)) continue;
        if (n2 == cap) {
            cap *= 2;
            p1 = xrealloc(p1, sizeof *p1 * (size_t)cap * 6);
            p2 = xrealloc(p2, sizeof *p2 * (size_t)cap);
            p3 = xrealloc(p3, sizeof *p3 * (size_t)cap);
        }
        p1[n1++] = (PlotPoint){"loss", step, jnum(line, "loss")};
        p1[n1++] = (PlotPoint){"smoothed", step, jnum(line, "loss_smoothed")};
        for (int q = 0; q < 4; q++) {
            char k[32];
            snprintf(k, sizeof k, "loss_q%d", q + 1);
            double v = jnum(line, k);
            if (isnan(v)) {
                snprintf(k, sizeof k, "accuracy_q%d", q + 1);
                v = jnum(line, k);
                if (!isnan(v)) acc = 1;
                p1[n1++] = (PlotPoint){QA[q], step, v};
            } else {
                p1[n1++] = (PlotPoint){QL[q], step, v < 0 ? NAN : v};
            }
        }
        p2[n2++] = (PlotPoint){"lr", step, jnum(line, "lr")};
        p3[n3++] = (PlotPoint){"images/s", step, jnum(line, "images_per_s")};
    }
    fclose(f);
    int ok = 0; /* nothing to plot */
    if (n2 > 0) {
        PlotPanel pan[3] = {{acc ? "loss; accuracy" : "loss", p1, n1, 1},
                            {"learning rate", p2, n2, 1},
                            {"images/s", p3, n3, 1}};
        char title[4200];
        const char *base = strrchr(dir, '/');
        base = base && base[1] ? base + 1 : dir;
        snprintf(title, sizeof title, "%s: training curves (metrics.jsonl)", base);
        ok = plot_panels(png, title, "step", pan, 3) > 0 ? 1 : -1;
    }
    free(p1);
    free(p2);
    free(p3);
    return ok;
}
