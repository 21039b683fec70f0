/* Feature extractors for the sample-quality metrics (ddm eval): uint8 images ->
 * feature rows (B, D) and, for a classifier, class probabilities (B, K).
 *   pixels                       the pixel values / 255 (D = C*H*W)
 *   classifier:CKPT.h5|RUN_DIR   penultimate activations and softmax of the evaluation
 *                                classifier (loaded through io/model_load.h)
 *   inception:WEIGHTS.h5         pytorch-fid's Inception-v3 pool3 (D = 2048)
 * Each extractor has a key (its identity, stored in stats files so a cache made with other
 * features is never reused), a short tag for cache file names and a description.
 * Serial (io/ never calls MPI): every rank parses its own copy. B = images, D = feature width,
 * K = classes. */
#ifndef DDM_FEATURES_H
#define DDM_FEATURES_H

#include <stdint.h>

#include "core/classifier.h"
#include "core/inception.h"
#include "io/model_load.h"

#define FEATURES_BLOCK 256 /* images per extractor call (the classifier's batch) */

typedef enum { FEAT_PIXELS, FEAT_CLASSIFIER, FEAT_INCEPTION } FeatKind;

typedef struct {
    FeatKind kind;
    char *key;       /* identity stored in stats files */
    char tag[64];    /* file-name part of the cache: "pixels", "classifier-1a2b3c4d" */
    char *desc;      /* for people */
    int d;           /* feature width (pixels: set from the image shape) */
    int k;           /* classes of the probabilities (0 = none) */
    /* classifier */
    LoadedModel model; /* path (absolute), step, config, chosen weights */
    Classifier *net;
    int C, S;        /* the classifier's input channels and size */
    float *x;        /* (FEATURES_BLOCK, C, S, S) input scratch */
    /* inception */
    Inception *inc;
    char *weights;   /* absolute path of the weights file */
} FeatExtractor;

/* Parse --features SPEC (light: reads headers and configs, no weights). ema > 0 picks that
 * EMA copy of the classifier (default: its raw weights, or the EMA copy of a slim
 * checkpoint). Dies with a message naming SPEC on anything wrong. */
void features_parse(FeatExtractor *e, const char *spec, double ema);
/* Build the network and load its weights (a classifier's from e->model.weights when
 * already there: under MPI rank 0 reads them and broadcasts, mpi/model_bcast.h). */
void features_load(FeatExtractor *e);
void features_free(FeatExtractor *e);

/* Dies unless images of (c,h,w) can go through e, naming `what`. */
void features_check_images(const FeatExtractor *e, const char *what, int c, int h, int w);
/* Samples (sname, sc x sh x sw) against reference images (rname; 0 = unknown): channels
 * must agree, pixels features need equal sizes; both must suit e. Dies naming both. */
void features_check_pair(const FeatExtractor *e, const char *sname, int sc, int sh, int sw, const char *rname,
                         int rc, int rh, int rw);
/* feat (B,D) and probs (B,K) (either may be NULL) of B <= FEATURES_BLOCK uint8 images
 * (B,C,H,W). */
void features_run(FeatExtractor *e, const uint8_t *img, int B, int C, int H, int W, float *feat, float *probs);

/* 64-bit FNV-1a of a string: the short tags of keys */
uint64_t features_hash(const char *s);

#endif
