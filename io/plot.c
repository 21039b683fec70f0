/* gnuplot line plots (io/plot.h). */
#define _GNU_SOURCE
#include "io/plot.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/common.h"
#include "core/strbuf.h"
#include "io/fsio.h"

extern char **environ;

/* gnuplot: $DDM_GNUPLOT, else the first 'gnuplot' on PATH (malloc'd), or NULL */
static char *find_gnuplot(void)
{
    const char *env = getenv("DDM_GNUPLOT");
    if (env && *env) return access(env, X_OK) == 0 ? xstrdup(env) : NULL;
    const char *path = getenv("PATH");
    if (!path) return NULL;
    char *p = xstrdup(path), *save = NULL, *found = NULL;
    for (char *d = strtok_r(p, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *c = strbuf_printf("%s/gnuplot", *d ? d : ".");
        if (access(c, X_OK) == 0) found = c;
        else free(c);
    }
    free(p);
    return found;
}

/* a gnuplot single-quoted string ('' stands for ') */
static void gp_str(StrBuf *b, const char *s)
{
    strbuf_add(b, "'");
    for (; *s; s++) strbuf_add(b, *s == '\'' ? "''" : "%c", *s);
    strbuf_add(b, "'");
}

static int cmp_x(const void *p, const void *q)
{
    const PlotPoint *a = *(const PlotPoint *const *)p, *b = *(const PlotPoint *const *)q;
    return (a->x > b->x) - (a->x < b->x);
}

/* run gnuplot on script; 1 when it made pngtmp */
static int run_gnuplot(char *gp, char *script, const char *pngtmp, const char *png)
{
    char *argv[] = {gp, script, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, gp, NULL, NULL, argv, environ), status = 0;
    if (rc != 0) ddm_warn("%s: cannot run: %s: no plot written", gp, strerror(rc));
    else if (waitpid(pid, &status, 0) < 0) ddm_warn("waiting for gnuplot: %s: no plot written", strerror(errno));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || access(pngtmp, F_OK) != 0)
        ddm_warn("gnuplot failed (status %d): no plot written (%s)", WIFEXITED(status) ? WEXITSTATUS(status) : -1, png);
    else return 1;
    return 0;
}

int plot_lines(const char *png, const char *title, const char *xlabel, const char *ylabel, const PlotPoint *pts,
               int n)
{
    PlotPanel p = {ylabel, pts, n, 0};
    return plot_panels(png, title, xlabel, &p, 1);
}

/* the data of one panel into dat (gnuplot index base..), its plot command into sc;
 * returns its line count */
static int panel(StrBuf *dat, StrBuf *sc, const char *datp, const PlotPanel *pp, int base)
{
    const PlotPoint *pts = pp->pts;
    const int n = pp->n;
    const char **fam = xcalloc((size_t)n + 1, sizeof(char *));
    int nf = 0;
    for (int i = 0; i < n; i++) {
        int f = 0;
        while (f < nf && strcmp(fam[f], pts[i].family)) f++;
        if (f == nf) fam[nf++] = pts[i].family;
    }
    const PlotPoint **line = xmalloc(sizeof(PlotPoint *) * (size_t)(n + 1));
    double minx = 0, maxx = 0;
    for (int f = 0; f < nf; f++) {
        int np = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(pts[i].family, fam[f]) && isfinite(pts[i].y)) line[np++] = &pts[i];
        qsort(line, (size_t)np, sizeof *line, cmp_x);
        strbuf_add(dat, "# %s\n", fam[f]);
        for (int j = 0; j < np; j++) {
            strbuf_add(dat, "%.10g %.10g\n", line[j]->x, line[j]->y);
            if (minx == 0 || line[j]->x < minx) minx = line[j]->x;
            if (line[j]->x > maxx) maxx = line[j]->x;
        }
        strbuf_add(dat, "\n\n");
    }
    strbuf_add(sc, "set ylabel ");
    gp_str(sc, pp->ylabel);
    strbuf_add(sc, "\n");
    if (!pp->linear_x && minx > 0 && maxx >= 8 * minx) strbuf_add(sc, "set logscale x 2\n");
    else strbuf_add(sc, "unset logscale x\n");
    if (pp->linear_x) strbuf_add(sc, "set offsets 0, 0, graph 0.05, 0\nset xrange [0:*]\n");
    strbuf_add(sc, "plot ");
    for (int f = 0; f < nf; f++) {
        strbuf_add(sc, "%s", f ? ", " : "");
        gp_str(sc, datp);
        strbuf_add(sc, " index %d using 1:2 with %s title ", base + f,
                   pp->linear_x ? "lines lw 2" : "linespoints lw 2 pt 7");
        gp_str(sc, fam[f]);
    }
    strbuf_add(sc, "\n");
    free(line);
    free(fam);
    return nf;
}

int plot_panels(const char *png, const char *title, const char *xlabel, const PlotPanel *panels,
                int npanels)
{
    char *gp = find_gnuplot();
    if (!gp) {
        const char *env = getenv("DDM_GNUPLOT");
        ddm_warn("gnuplot not found (%s%s; Debian: apt-get install gnuplot-nox): no plot written (%s)",
                 env && *env ? "DDM_GNUPLOT=" : "looked on PATH", env && *env ? env : "", png);
        return 0;
    }
    StrBuf dat, sc;
    strbuf_init(&dat);
    strbuf_init(&sc);
    char *datp = fsio_tmp_name(png), *scp = strbuf_printf("%s.gp", datp), *pngtmp = strbuf_printf("%s.png", datp);
    fsio_track_created(pngtmp);
    const int h = npanels > 1 ? 300 * npanels : 560;
    strbuf_add(&sc, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 900,%d noenhanced } "
                    "else { set terminal png size 900,%d noenhanced }\n", h, h);
    strbuf_add(&sc, "set output ");
    gp_str(&sc, pngtmp);
    if (npanels > 1) {
        strbuf_add(&sc, "\nset multiplot layout %d,1 title ", npanels);
        gp_str(&sc, title);
    } else {
        strbuf_add(&sc, "\nset title ");
        gp_str(&sc, title);
    }
    strbuf_add(&sc, "\nset xlabel ");
    gp_str(&sc, xlabel);
    strbuf_add(&sc, "\nset grid\nset key top right\nset yrange [0:*]\nset offsets graph 0.04, graph 0.04, graph 0.05, 0\n");
    int lines = 0;
    for (int p = 0; p < npanels; p++) lines += panel(&dat, &sc, datp, &panels[p], lines);
    if (npanels > 1) strbuf_add(&sc, "unset multiplot\n");
    fsio_track_created(datp);
    fsio_track_created(scp);
    fsio_write_atomic(datp, dat.s, dat.n);
    fsio_write_atomic(scp, sc.s, sc.n);
    int ok = run_gnuplot(gp, scp, pngtmp, png);
    if (ok) fsio_commit(pngtmp, png);
    unlink(datp);
    unlink(scp);
    unlink(pngtmp);
    fsio_untrack(datp);
    fsio_untrack(scp);
    fsio_untrack(pngtmp);
    free(datp);
    free(scp);
    free(pngtmp);
    strbuf_free(&dat);
    strbuf_free(&sc);
    free(gp);
    return ok ? lines : 0;
}
