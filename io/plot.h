/* Line plots through gnuplot (a PNG), for sweep reports: y against x, one line per family.
 * gnuplot is $DDM_GNUPLOT, else the first 'gnuplot' on PATH; without it no plot is
 * written (a warning says so: plots are a convenience, never a reason to fail a job).
 * The data and script go to temporary files beside the PNG, removed afterwards (and on
 * death, io/fsio.h); the PNG appears under its name only when complete. */
#ifndef DDM_PLOT_H
#define DDM_PLOT_H

typedef struct {
    const char *family; /* the line this point belongs to (its legend) */
    double x, y;        /* points with a non-finite y are left out */
} PlotPoint;

/* Lines in order of first appearance of their family, points sorted by x; a log2 x axis
 * when x spans a factor 8 or more; y from 0. Returns the number of lines drawn, 0 when
 * no plot was written (warned). */
int plot_lines(const char *png, const char *title, const char *xlabel, const char *ylabel, const PlotPoint *pts,
               int n);

/* Several panels stacked over one x axis (gnuplot multiplot), each with its own y label
 * and lines; linear_x = 1 keeps x linear (a training step axis) and draws lines without
 * points. Returns the lines drawn, 0 when no plot was written (warned). */
typedef struct {
    const char *ylabel;
    const PlotPoint *pts;
    int n;
    int linear_x;
} PlotPanel;
int plot_panels(const char *png, const char *title, const char *xlabel, const PlotPanel *panels,
                int npanels);

#endif
