/* PNG grids of a samples file's groups, for a person to look at. */
#ifndef DDM_GRIDS_H
#define DDM_GRIDS_H

#include <stdint.h>

typedef struct {
    const char *name;  /* the group */
    int by_class;      /* labels are seed % classes: one class per row, 10 a row */
    const uint8_t *inputs; /* a task's input images (row r's is r / per_input): pairs */
    int64_t per_input;     /* rows per input (the seeds) */
} GridGroup;

/* One PNG per group of the samples file `samples` (n_rows rows of c x h x w): the first
 * 64 finished images, or with by_class (and 2..16 classes) one class per row, 10 a row,
 * gray where a class has fewer; with inputs, input | output pairs of the first 32 finished
 * rows, 5 pairs a row. Paths: `grid` itself for a single group, else GRID without
 * .png (or SAMPLES without .h5) + "-GROUP.png". Says each file on stdout. */
void grids_write(const char *samples, const char *grid, const GridGroup *g, int ng,
                 int64_t n_rows, int c, int h, int w, int num_classes);

#endif
