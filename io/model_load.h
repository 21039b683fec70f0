/* One loader from a checkpoint to a network's weights, for every job that runs a trained
 * model (sample, eval's classifier features, previews): resolve the path, read the meta
 * and config text, parse the config, check train.task, pick the weights with ONE policy,
 * load them into one float block.
 *
 * Weights policy (model_load):
 *  - "ema" (the default) with a rate: that EMA copy; dies listing the rates present
 *    when the file has none at that rate;
 *  - "ema" without a rate: the first rate of the config's train.ema present in the file
 *    (what the train job's previews use), else the largest rate present; a file without
 *    EMA copies gives the raw weights, said once on stdout ("WHO: F holds no EMA
 *    weights (train.ema empty): using the raw weights");
 *  - "raw": /model; a slim checkpoint without /model (scripts/slim_ckpt.py keeps one EMA
 *    copy) gives its EMA weights by the rule above, said once.
 *
 * Serial (rank 0 alone, or a serial program); under MPI use mpi/model_bcast.h, which runs
 * this on rank 0 and hands every rank the same struct. Dies naming the file on any
 * problem. */
#ifndef DDM_MODEL_LOAD_H
#define DDM_MODEL_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/classifier.h"
#include "core/sched.h"
#include "core/unet.h"
#include "io/config.h"

typedef struct {
    const char *weights; /* "ema" (NULL = "ema") or "raw" */
    double ema_rate;     /* > 0: this EMA copy (weights "ema" only); <= 0: the policy */
    int task;            /* TASK_DIFFUSION, TASK_CLASSIFIER or TASK_NOISY_CLASSIFIER: what the
                            caller can run */
    const char *who;     /* names the program in the one informational line ("ddm sample");
                          * NULL: say nothing */
    int no_weights;      /* 1: resolve, configs and choice only (weights stays NULL) */
} ModelLoadOptions;

typedef struct {
    char *path;            /* the checkpoint, absolute */
    int64_t step;          /* its optimizer step */
    char *config_text;     /* the config it was trained with (canonical INI) */
    DdmConfig cfg;         /* that text, parsed */
    UNetConfig unet;       /* train.task = diffusion or noisy-classifier: the network */
    SchedConfig sched;     /* diffusion / noisy-classifier: the noise schedule (sched_init it) */
    ClassifierConfig clf;  /* train.task = classifier: the network */
    double ema_rate;       /* the copy loaded, -1 = the raw weights /model */
    float *weights;        /* n_params floats (xalloc_floats), the network's block layout */
    size_t n_params;
} LoadedModel;

/* path_or_dir: a checkpoint file or a run folder (its newest checkpoint, ckpt_resolve). */
void model_load(LoadedModel *m, const char *path_or_dir, const ModelLoadOptions *o);
void model_load_free(LoadedModel *m);

/* The weights chosen, in words: "raw" or "ema:<rate>" (rate as ckpt_ema_name). */
void model_load_weights_word(const LoadedModel *m, char *buf, size_t n);

/* Load the chosen weights of a model whose configs are set (model_load with no_weights,
 * or model_load_configure) into m->weights (allocated when NULL). */
void model_load_weights(LoadedModel *m);

/* After path, step, config_text and ema_rate are set (e.g. received from rank 0): parse
 * the config, check the task, fill unet/sched/clf and n_params. model_load calls it. */
void model_load_configure(LoadedModel *m, const ModelLoadOptions *o);

#endif
