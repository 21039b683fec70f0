/* Feature extractors for the sample-quality metrics (ddm eval): uint8 images ->
 * feature rows (B, D) and, for a classifier, class probabilities (B, K).
 *   pixels                       the pixel values / 255 (D = C*H*W)
 *   classifier:CKPT.h5|RUN_DIR   penultimate activations and softmax of the evaluation
 *                                classifier (loaded through io/model_load.h)
 *   inception:WEIGHTS.h5         pytorch-fid's Inception-v3 pool3 (D = 2048)
 * Each extractor has a key (its identity, stored in stats files so a cache made with other
 * features is never reused), a short tag for cache file names and a description.
 * Serial: every rank parses and loads its own copy. B = images, D = feature width,
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
/* Build the network and load its weights. */
void features_load(FeatExtractor *e);
void features_free(FeatExtractor *e);

/* Dies unless images of (c,h,w) can go through e, naming `what`. */
void features_check_images(const FeatExtractor *e, const char *what, int c, int h, int w);
/* feat (B,D) and probs (B,K) (either may be NULL) of B <= FEATURES_BLOCK uint8 images
 * (B,C,H,W). */
void features_run(FeatExtractor *e, const uint8_t *img, int B, int C, int H, int W, float *feat, float *probs);

/* 64-bit FNV-1a of a string: the short tags of keys */
uint64_t features_hash(const char *s);

#endif
