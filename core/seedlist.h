/* Seed lists: "A-B[,C-D...]" (inclusive ranges; a bare "N" is N-N) into ascending seeds,
 * each a whole number in 0..2^63-1, no seed twice, at most `max` seeds in all. */
#ifndef DDM_SEEDLIST_H
#define DDM_SEEDLIST_H

#include <stddef.h>
#include <stdint.h>

/* 0, or -1 with "--seeds SPEC: ..." in err: "bad range 'x' (...)", "end before start",
 * "seed N is in two ranges", "more than MAX seeds", "N is out of range (0..9223372036854775807)".
 * *seeds (malloc'd) gets *n seeds. */
int seedlist_parse(const char *spec, int64_t max, int64_t **seeds, int64_t *n, char *err,
                   size_t errlen);

#endif
