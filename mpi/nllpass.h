/* The variational bound over a dataset on P ranks (the loop of `ddm eval --metrics nll`;
 * the math is core/nll.h).
 *
 * Rank r takes the contiguous images [n r / P, n (r+1) / P) of the first n of the dataset,
 * in batches: for each batch and each step of the plan it draws every image's noise (its
 * own stream, keyed by image index and step), runs the network once through the denoiser
 * (fixed 8-image slots keyed by the image index, core/netslots.h) and adds the image's
 * terms. The per-image terms are gathered to every rank in image order: every value, and
 * every sum over images made from them, is the same whatever P, the batch size or the
 * thread count.
 *
 * Collective. N = images, K = steps of the plan, D = values per image.
 */
#ifndef DDM_NLLPASS_H
#define DDM_NLLPASS_H

#include <stdint.h>

#include "core/denoiser.h"
#include "core/nll.h"
#include "core/sched.h"

typedef struct {
    const char *data;       /* the dataset file (ddm prep) */
    int64_t n;              /* images: the first n */
    const Schedule *s;      /* the model's (vp) */
    const NllPlan *plan;
    Denoiser *den;          /* the network, D values per image */
    int clip;               /* clip x0-hat to [-1,1] */
    uint64_t seed;          /* of the noise streams */
    int batch;              /* images per network batch */
    double progress_every;  /* seconds between rank 0's progress lines (<= 0: none) */
    /* test aid: a file for every image's noise and raw network output at every step of the
     * plan and its terms (/noise, /out (N,K,D) float32, /terms (N,4) float64, /t, /weight
     * (K)); attrs from the caller (model, weights, seed, clip) */
    const char *dump;
    const char *dump_model, *dump_weights;
} NllPass;

typedef struct {
    double *terms;          /* (n, NLL_NTERMS) nats, image order, on every rank */
    int64_t nfe;            /* network evaluations, all ranks */
    double seconds;         /* wall time of the pass (the slowest rank) */
} NllPassResult;

void nllpass_run(const NllPass *p, NllPassResult *r);
void nllpass_result_free(NllPassResult *r);

#endif
