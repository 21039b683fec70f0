/* Checkpoint -> config -> weights (io/model_load.h). */
#define _DEFAULT_SOURCE /* realpath */
#include "io/model_load.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "io/ckpt.h"
#include "io/h5.h"

static const char *task_name(int task)
{
    return task == TASK_CLASSIFIER ? "classifier" : task == TASK_NOISY_CLASSIFIER ? "noisy-classifier" : "diffusion";
}

static const char *task_hint(int task)
{
    return task == TASK_CLASSIFIER         ? " (trained with 'ddm train --task classifier')"
           : task == TASK_NOISY_CLASSIFIER ? " (trained with 'ddm train --task noisy-classifier')"
                                           : "";
}

void model_load_configure(LoadedModel *m, const ModelLoadOptions *o)
{
    char err[1024];
    config_defaults(&m->cfg);
    if (config_parse_text(&m->cfg, m->config_text, m->path, err, sizeof err)) ddm_die("%s", err);
    if (m->cfg.train.task != o->task)
        ddm_die("%s: is a checkpoint of a %s model (train.task = %s), this needs a %s model%s", m->path,
                task_name(m->cfg.train.task), task_name(m->cfg.train.task), task_name(o->task),
                task_hint(o->task));
    if (o->task != TASK_CLASSIFIER) { /* a U-Net: the diffusion model or the noisy classifier */
        config_to_unet(&m->cfg, &m->unet);
        const char *why = unet_config_check(&m->unet);
        if (why) ddm_die("%s: model config: %s", m->path, why);
        config_to_sched(&m->cfg, &m->sched);
        UNet *probe = unet_init(&m->unet, 1, 0);
        m->n_params = unet_num_params(probe);
        unet_free(probe);
    } else {
        config_to_classifier(&m->cfg, &m->clf);
        const char *why = classifier_config_check(&m->clf);
        if (why) ddm_die("%s: its classifier config is invalid: %s", m->path, why);
        Classifier *probe = classifier_init(&m->clf, 1, 0);
        m->n_params = classifier_num_params(probe);
        classifier_free(probe);
    }
}

/* The EMA copy by the policy of the header: -1 when the file has none. */
static double policy_rate(const LoadedModel *m, const double *rates, int n)
{
    if (n == 0) return -1;
    double r = rates[n - 1];
    for (int i = 0; i < n && m->cfg.train.n_ema > 0; i++)
        if (rates[i] == m->cfg.train.ema[0]) r = rates[i];
    return r;
}

static void choose_weights(LoadedModel *m, const ModelLoadOptions *o)
{
    const char *w = o->weights ? o->weights : "ema";
    const int raw = !strcmp(w, "raw");
    if (!raw && strcmp(w, "ema")) ddm_die("--weights %s: want ema or raw", w);
    double rates[CKPT_MAX_EMA * 2];
    int n = ckpt_ema_rates(m->path, rates, CKPT_MAX_EMA * 2);
    const char *who = o->who;
    m->ema_rate = -1;
    if (raw) {
        hid_t f = h5_open(m->path, H5F_ACC_RDONLY, H5P_DEFAULT);
        const int has_model = h5_exists(f, "model");
        h5_close(f);
        if (has_model) return;
        if (n == 0) ddm_die("%s: holds neither /model nor EMA weights", m->path);
        m->ema_rate = policy_rate(m, rates, n);
        if (who) printf("%s: %s holds no raw weights (a slim checkpoint): using its EMA %.10g weights\n", who, m->path,
               m->ema_rate);
        return;
    }
    if (o->ema_rate > 0) {
        int found = 0;
        char list[256] = "";
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            found |= rates[i] == o->ema_rate;
            if (off < sizeof list)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%.10g", i ? ", " : "", rates[i]);
        }
        if (!found)
            ddm_die("%s: has no EMA weights at rate %.10g (it has: %s)", m->path, o->ema_rate, n ? list : "none");
        m->ema_rate = o->ema_rate;
        return;
    }
    m->ema_rate = policy_rate(m, rates, n);
    if (m->ema_rate < 0 && who) printf("%s: %s holds no EMA weights (train.ema empty): using the raw weights\n", who, m->path);
}

void model_load(LoadedModel *m, const char *path_or_dir, const ModelLoadOptions *o)
{
    memset(m, 0, sizeof *m);
    char *resolved = ckpt_resolve(path_or_dir); /* dies on a missing path or an empty run folder */
    m->path = realpath(resolved, NULL);
    if (!m->path) ddm_die("%s: %s", resolved, strerror(errno));
    free(resolved);
    CkptMeta meta;
    memset(&meta, 0, sizeof meta);
    ckpt_read_meta(m->path, &meta);
    if (!meta.config_text || !meta.config_text[0]) ddm_die("%s: the checkpoint holds no config text", m->path);
    m->config_text = xstrdup(meta.config_text);
    m->step = meta.step;
    ckpt_meta_free(&meta);
    model_load_configure(m, o);
    choose_weights(m, o);
    if (!o->no_weights) model_load_weights(m);
}

/* Weights holding NaN or Inf (a diverged run's checkpoint) would make NaN images or
 * features: refuse them, naming the file, the copy and the first such tensor. */
static void weights_finite(const LoadedModel *m, const TensorInfo *t, int nt)
{
    for (int i = 0; i < nt; i++) {
        size_t bad = 0;
        for (size_t j = 0; j < t[i].size; j++) bad += !isfinite(m->weights[t[i].offset + j]);
        if (!bad) continue;
        char which[64];
        if (m->ema_rate > 0) snprintf(which, sizeof which, "EMA %.10g weights", m->ema_rate);
        else snprintf(which, sizeof which, "raw weights");
        ddm_die("%s: the %s hold NaN or Inf (%zu of the %zu values of %s%s): a diverged run's "
                "checkpoint; use an earlier one", m->path, which, bad, t[i].size, t[i].name,
                i + 1 < nt ? ", the first such tensor" : "");
    }
}

void model_load_weights(LoadedModel *m)
{
    if (!m->weights) m->weights = xalloc_floats(m->n_params);
    if (m->cfg.train.task != TASK_CLASSIFIER) {
        UNet *probe = unet_init(&m->unet, 1, 0);
        ckpt_load_weights(m->path, unet_tensor(probe, 0), unet_num_tensors(probe), m->weights, m->ema_rate, NULL);
        weights_finite(m, unet_tensor(probe, 0), unet_num_tensors(probe));
        unet_free(probe);
    } else {
        Classifier *probe = classifier_init(&m->clf, 1, 0);
        ckpt_load_weights(m->path, classifier_tensor(probe, 0), classifier_num_tensors(probe), m->weights,
                          m->ema_rate, NULL);
        weights_finite(m, classifier_tensor(probe, 0), classifier_num_tensors(probe));
        classifier_free(probe);
    }
}

void model_load_free(LoadedModel *m)
{
    free(m->path);
    free(m->config_text);
    free(m->weights);
    memset(m, 0, sizeof *m);
}

void model_load_weights_word(const LoadedModel *m, char *buf, size_t n)
{
    if (m->ema_rate < 0) {
        snprintf(buf, n, "raw");
        return;
    }
    char r[32];
    ckpt_ema_name(r, sizeof r, m->ema_rate);
    snprintf(buf, n, "ema:%s", r);
}
