/* The output side of the sampling farm: checking the --out path before any work, and the
 * rows a rank finished in a round, kept until the round's collective write. */
#ifndef DDM_SAMPLES_OUT_H
#define DDM_SAMPLES_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "io/samples.h"

/* Rank 0, before anything is written: the folder of out exists and is writable; an
 * existing out is a samples file we may write. Dies naming the path and the problem. */
void samples_check_out(const char *out);

/* This rank's finished rows of one group in the current round. */
typedef struct {
    int64_t *rows;
    uint8_t *img;
    int32_t *lab;
    size_t n, cap, D;
} SamplesPending;

void samples_pending_add(SamplesPending *p, const int64_t *rows, const uint8_t *img,
                         const int32_t *lab, size_t n, size_t D);
/* Collective: write them (samples_write_rows; a rank with none joins) and empty the list. */
void samples_pending_flush(SamplesPending *p, SamplesGroup *g);
void samples_pending_free(SamplesPending *p);

#endif
