/* Rank 0 loads, every rank gets the model (mpi/model_bcast.h). */
#include "mpi/model_bcast.h"

#include <string.h>

#include "core/common.h"
#include "mpi/dist.h"

void model_bcast_load(LoadedModel *m, const char *path_or_dir, const ModelLoadOptions *o)
{
    if (dist_is_root()) model_load(m, path_or_dir, o);
    else memset(m, 0, sizeof *m);
    if (dist_size() == 1) return;
    dist_bcast_str(&m->path);
    dist_bcast_str(&m->config_text);
    dist_bcast(&m->step, sizeof m->step, 0);
    dist_bcast(&m->ema_rate, sizeof m->ema_rate, 0);
    if (!dist_is_root()) model_load_configure(m, o); /* the same text gives the same configs */
    if (o->no_weights) return;
    if (!dist_is_root()) m->weights = xalloc_floats(m->n_params);
    dist_bcast(m->weights, sizeof(float) * m->n_params, 0);
}

void model_bcast_weights(LoadedModel *m)
{
    if (dist_is_root()) model_load_weights(m);
    else if (!m->weights) m->weights = xalloc_floats(m->n_params);
    dist_bcast(m->weights, sizeof(float) * m->n_params, 0);
}
