/* Collective model loading: rank 0 runs io/model_load.h's model_load (so a bad file is
 * reported once), every rank receives the same LoadedModel (path, step, config text, the
 * weights chosen and the weights themselves) and parses the configs itself. */
#ifndef DDM_MODEL_BCAST_H
#define DDM_MODEL_BCAST_H

#include "io/model_load.h"

/* Collective. Same arguments and result as model_load, on every rank. */
void model_bcast_load(LoadedModel *m, const char *path_or_dir, const ModelLoadOptions *o);

/* Collective: the weights of a model every rank has configured (model_load with
 * no_weights, the same file and choice on every rank): rank 0 reads them, every rank
 * gets them in m->weights. */
void model_bcast_weights(LoadedModel *m);

#endif
