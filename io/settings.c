/* Sample settings from key = value entries (see settings.h). */
#include "io/settings.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

/* Drop the words the group attributes already hold from a describe string. */
static void settings_words(char *out, size_t n, const char *describe)
{
    size_t off = 0;
    out[0] = '\0';
    const char *p = strchr(describe, ' '); /* the sampler name goes first */
    while (p && *p) {
        p += strspn(p, " ");
        size_t wl = strcspn(p, " ");
        if (!wl) break;
        if (strncmp(p, "steps=", 6) && strncmp(p, "eta=", 4) && strncmp(p, "guidance=", 9) &&
            off < n)
            off += (size_t)snprintf(out + off, n - off, "%s%.*s", off ? " " : "", (int)wl, p);
        p += wl;
    }
}

/* nc: the model's classes; ncls: the classifier's, for an unconditional model guided by
 * one (0: none) */
static int parse_class(SampleSetting *st, const IniEntry *cls, int nc, int ncls, char *err,
                       size_t errlen)
{
    st->class_label = -1;
    st->label_mode = nc > 0 ? LABELS_NULL : LABELS_NONE;
    st->n_classes = nc > 0 ? nc : ncls;
    if (!cls || !strcmp(cls->value, "none")) return 0;
    if (nc <= 0 && ncls > 0) nc = ncls; /* the classifier's target only */
    if (nc <= 0) {
        snprintf(err, errlen, "%s: the model is unconditional (model.num_classes = 0): it "
                 "takes no class label (a noise-aware classifier can guide it toward one: "
                 "--classifier CKPT --classifier-scale S)", cls->where);
        return -1;
    }
    if (!strcmp(cls->value, "per_seed") || !strcmp(cls->value, "per-seed")) {
        st->label_mode = LABELS_PER_SEED;
        return 0;
    }
    if (!strcmp(cls->value, "input")) {
        st->label_mode = LABELS_INPUT;
        return 0;
    }
    char *end;
    errno = 0;
    long k = strtol(cls->value, &end, 10);
    if (end == cls->value || *end || errno) {
        snprintf(err, errlen, "%s: bad class '%s' (want a class number, per_seed, input or none)",
                 cls->where, cls->value);
        return -1;
    }
    if (k < 0 || k >= nc) {
        snprintf(err, errlen, "%s: class %ld out of range: the model has classes 0..%d",
                 cls->where, k, nc - 1);
        return -1;
    }
    st->label_mode = LABELS_FIXED;
    st->class_label = (int)k;
    return 0;
}

/* A model with a condition image (SR3) and a task that sets one go together; the task's
 * scale is one of the model's factors (0: the first). */
static int sr3_check(SampleSetting *st, const SettingModel *m, char *err, size_t errlen)
{
    const int conditions = st->has_task && st->tc.def->condition;
    char fl[96] = "";
    size_t off = 0;
    for (int i = 0; i < m->n_factors && off < sizeof fl; i++)
        off += (size_t)snprintf(fl + off, sizeof fl - off, "%s%d", i ? "," : "", m->factors[i]);
    if (m->cond_channels > 0 && !conditions) {
        snprintf(err, errlen, "the model is an SR3 super-resolution model (model.cond_channels = "
                 "%d, train.degrade = %s): it samples only with --task superres and --input "
                 "images", m->cond_channels, fl);
        return -1;
    }
    if (!conditions) return 0;
    if (m->cond_channels == 0 || m->n_factors == 0) {
        snprintf(err, errlen, "task %s needs a model trained with a condition image "
                 "(model.cond_channels and train.degrade); this one has model.cond_channels = 0",
                 st->tc.def->name);
        return -1;
    }
    if (st->tc.scale == 0) st->tc.scale = m->factors[0];
    for (int i = 0; i < m->n_factors; i++)
        if (m->factors[i] == st->tc.scale) return 0;
    snprintf(err, errlen, "task %s: scale %d is not a factor the model was trained for "
             "(train.degrade = %s)", st->tc.def->name, st->tc.scale, fl);
    return -1;
}

/* A setting from entries applied in order; nbase of them are defaults (lenient). name
 * NULL: the canonical group name. */
static int setting_build(SampleSetting *st, const char *name, const IniEntry *kv, int n,
                         int nbase, const SettingModel *m, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    const Schedule *s = m->sched;
    const IniEntry *smp = NULL, *cls = NULL, *tsk = NULL, *csc = NULL, *mcl = NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "sampler")) smp = &kv[i];
        else if (!strcmp(kv[i].key, "class")) cls = &kv[i];
        else if (!strcmp(kv[i].key, "task")) tsk = &kv[i];
        else if (!strcmp(kv[i].key, "classifier_scale")) csc = &kv[i];
        else if (!strcmp(kv[i].key, "model_class")) mcl = &kv[i];
    }
    st->model_class = 1;
    if (csc) {
        char *end;
        errno = 0;
        st->cls_scale = strtod(csc->value, &end);
        if (end == csc->value || *end || errno || !isfinite(st->cls_scale)) {
            snprintf(err, errlen, "%s: classifier_scale '%s' is not a finite number", csc->where,
                     csc->value);
            return -1;
        }
    }
    if (mcl) {
        if (!strcmp(mcl->value, "yes") || !strcmp(mcl->value, "1")) st->model_class = 1;
        else if (!strcmp(mcl->value, "no") || !strcmp(mcl->value, "0")) st->model_class = 0;
        else {
            snprintf(err, errlen, "%s: model_class '%s': want yes or no", mcl->where, mcl->value);
            return -1;
        }
    }
    const char *sampler = smp ? smp->value : s->cfg.process == PROC_VP ? "ddim" : "ode";
    char e[512];
    if (sampler_config_init(&st->sc, sampler, e, sizeof e)) {
        if (name && smp && smp - kv >= nbase)
            snprintf(err, errlen, "%s [%s]: %s", smp->where, name, e);
        else snprintf(err, errlen, "%s: %s", smp ? smp->where : "--sampler", e);
        return -1;
    }
    if (tsk && strcmp(tsk->value, "none")) {
        if (task_config_init(&st->tc, tsk->value, e, sizeof e)) {
            snprintf(err, errlen, "%s: %s", tsk->where, e);
            return -1;
        }
        st->has_task = 1;
    }
    for (int i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "sampler") || !strcmp(kv[i].key, "class") ||
            !strcmp(kv[i].key, "task") || !strcmp(kv[i].key, "classifier_scale") ||
            !strcmp(kv[i].key, "model_class"))
            continue;
        const int known = opt_find(st->sc.def->opts, -1, NULL, kv[i].key) ||
                          !strcmp(kv[i].key, "steps") || !strcmp(kv[i].key, "guidance");
        const int task_key = st->has_task && opt_find(st->tc.def->opts, -1, NULL, kv[i].key);
        if (task_key && !known) {
            if (task_config_set(&st->tc, kv[i].key, kv[i].value, e, sizeof e)) {
                snprintf(err, errlen, "%s: %s", kv[i].where, e);
                return -1;
            }
            continue;
        }
        if (i < nbase && name && !known) continue; /* another sampler's (or task's) default */
        const TaskDef *owner = NULL; /* an option of a task this setting does not run */
        for (int t = 0; !known && !owner && t < task_count(); t++)
            if (opt_find(task_def(t)->opts, -1, NULL, kv[i].key)) owner = task_def(t);
        if (owner) {
            snprintf(err, errlen, "%s: '%s' is an option of task %s; this setting %s%s", kv[i].where,
                     kv[i].key, owner->name, st->has_task ? "runs task " : "runs no task (--task)",
                     st->has_task ? st->tc.def->name : "");
            return -1;
        }
        if (sampler_config_set(&st->sc, kv[i].key, kv[i].value, e, sizeof e)) {
            if (name && i >= nbase) snprintf(err, errlen, "%s [%s]: %s", kv[i].where, name, e);
            else snprintf(err, errlen, "%s: %s", kv[i].where, e);
            return -1;
        }
    }
    if (sampler_config_check(&st->sc, s, e, sizeof e)) {
        if (name) snprintf(err, errlen, "setting [%s]: %s", name, e);
        else snprintf(err, errlen, "%s", e);
        return -1;
    }
    if (sr3_check(st, m, e, sizeof e)) {
        if (name) snprintf(err, errlen, "setting [%s]: %s", name, e);
        else snprintf(err, errlen, "%s", e);
        return -1;
    }
    if (st->has_task && task_config_check(&st->tc, &st->sc, s, e, sizeof e)) {
        if (name) snprintf(err, errlen, "setting [%s]: %s", name, e);
        else snprintf(err, errlen, "%s", e);
        return -1;
    }
    if (csc) {
        const int pnp = !strcmp(st->sc.def->name, "pnp");
        if (st->cls_scale != 0 && m->cls_classes <= 0) {
            if (pnp)
                snprintf(err, errlen, "%s: the pnp sampler's class constraint needs a clean "
                         "classifier: --prior-classifier CKPT.h5 (ddm train --task classifier)",
                         csc->where);
            else
                snprintf(err, errlen, "%s: classifier guidance needs a noise-aware classifier: "
                         "--classifier CKPT.h5 (ddm train --task noisy-classifier)", csc->where);
            return -1;
        }
        if (st->cls_scale != 0 && pnp && !m->cls_clean) {
            snprintf(err, errlen, "%s: the pnp sampler's constraint log p(y | x) is of clean "
                     "images: give the classifier with --prior-classifier (a 'ddm train --task "
                     "classifier' checkpoint), not --classifier", csc->where);
            return -1;
        }
        if (st->cls_scale != 0 && !pnp && m->cls_clean) {
            snprintf(err, errlen, "%s: sampler %s: a clean classifier (--prior-classifier) "
                     "constrains only the pnp sampler; classifier guidance needs a noise-aware "
                     "one (--classifier)", csc->where, st->sc.def->name);
            return -1;
        }
    }
    if (parse_class(st, cls, m->num_classes, m->cls_classes, err, errlen))
        return -1;
    if (m->num_classes <= 0) st->model_class = 0; /* an unconditional network takes none */
    if (st->cls_scale != 0 && (st->label_mode == LABELS_NULL || st->label_mode == LABELS_NONE)) {
        snprintf(err, errlen, "%s%s%sclassifier guidance (classifier_scale %g) needs a class to "
                 "guide toward: --class K or --class-per-seed%s", name ? "setting [" : "",
                 name ? name : "", name ? "]: " : "", st->cls_scale,
                 name ? " (or class = K | per_seed)" : "");
        return -1;
    }
    if (!st->model_class && st->label_mode != LABELS_NULL && st->label_mode != LABELS_NONE &&
        st->cls_scale == 0 && m->num_classes > 0 && m->cls_classes <= 0) {
        snprintf(err, errlen, "%s%s%smodel_class = no samples the network without its class; "
                 "that goes with classifier guidance (--classifier), which supplies it",
                 name ? "setting [" : "", name ? name : "", name ? "]: " : "");
        return -1;
    }
    if (!st->model_class && m->num_classes > 0 && st->sc.guidance != 0) {
        snprintf(err, errlen, "%s%s%sclassifier-free guidance (guidance %g) needs the class in "
                 "the network: not with model_class = no", name ? "setting [" : "",
                 name ? name : "", name ? "]: " : "", st->sc.guidance);
        return -1;
    }
    if (st->sc.guidance != 0) {
        char who[160];
        if (name) snprintf(who, sizeof who, "setting [%s]: guidance %g", name, st->sc.guidance);
        else snprintf(who, sizeof who, "--guidance %g", st->sc.guidance);
        if (m->num_classes <= 0) {
            snprintf(err, errlen, "%s: the model is unconditional (model.num_classes = 0); "
                     "classifier-free guidance needs a class-conditional model", who);
            return -1;
        }
        if (st->label_mode == LABELS_NULL) {
            snprintf(err, errlen, "%s needs a class to guide toward: --class K or "
                     "--class-per-seed%s", who, name ? " (or class = K | per_seed)" : "");
            return -1;
        }
    }
    if (st->has_task && (st->tc.def->needs & TASK_NEEDS_CLASS)) {
        const char *tn = st->tc.def->name, *at = name ? "setting [" : "", *at2 = name ? "]: " : "";
        if (m->num_classes <= 0) {
            snprintf(err, errlen, "%s%s%stask %s needs a class-conditional model; this one is "
                     "unconditional (model.num_classes = 0)", at, name ? name : "", at2, tn);
            return -1;
        }
        if (st->label_mode == LABELS_NULL) {
            snprintf(err, errlen, "%s%s%stask %s decodes to a target class: --class K, "
                     "--class-per-seed or --class input", at, name ? name : "", at2, tn);
            return -1;
        }
        if (st->tc.source >= m->num_classes) {
            snprintf(err, errlen, "%s%s%stask %s: source class %d out of range: the model has "
                     "classes 0..%d", at, name ? name : "", at2, tn, st->tc.source,
                     m->num_classes - 1);
            return -1;
        }
    }
    st->steps = sampler_steps(&st->sc, s);
    st->nfe = st->has_task ? task_nfe(&st->tc, &st->sc, s) : sampler_nfe(&st->sc, s);
    char desc[512], words[512];
    sampler_config_describe(&st->sc, s, desc, sizeof desc);
    settings_words(words, sizeof words, desc);
    static const char *const LAB[] = {"none", "null", "fixed", "per_seed", "input"};
    char task[256] = "";
    if (st->has_task) {
        char td[240];
        task_config_describe(&st->tc, td, sizeof td);
        snprintf(task, sizeof task, " task=%s", td); /* "task=repaint jump_length=10 ..." */
    }
    char cg[320] = "";
    if (st->cls_scale != 0)
        snprintf(cg, sizeof cg, " classifier_scale=%.17g classifier=%s", st->cls_scale,
                 m->cls_word ? m->cls_word : "?");
    if (!st->model_class && m->num_classes > 0)
        snprintf(cg + strlen(cg), sizeof cg - strlen(cg), " model_class=no");
    snprintf(st->settings, sizeof st->settings, "%s labels=%s weights=%s net_slots=%d%s%s", words,
             LAB[st->label_mode], m->weights_word, m->net_width, task, cg);
    st->set.sampler = sampler_name(&st->sc);
    st->set.steps = st->steps;
    st->set.eta = opt_find(st->sc.def->opts, -1, NULL, "eta") ? st->sc.eta : -1.0;
    st->set.guidance = st->sc.guidance;
    st->set.class_label = st->class_label;
    st->set.nfe = st->nfe > INT_MAX ? INT_MAX : (int)st->nfe;
    st->set.settings = st->settings;
    if (name) {
        snprintf(st->name, sizeof st->name, "%s", name);
    } else {
        char g[96];
        samples_group_name(g, sizeof g, &st->set);
        char cgn[48] = "";
        if (st->cls_scale != 0) snprintf(cgn, sizeof cgn, "-cg%g", st->cls_scale);
        if (!st->model_class && m->num_classes > 0)
            snprintf(cgn + strlen(cgn), sizeof cgn - strlen(cgn), "-uncond");
        snprintf(st->name, sizeof st->name, "%s%s%s%s", st->has_task ? st->tc.def->name : "",
                 st->has_task ? "-" : "", g, cgn);
    }
    return 0;
}

int settings_build(const IniEntry *base, int nbase, const IniFile *sweep, const SettingModel *m,
                   SampleSetting **out, int *nout, char *err, size_t errlen)
{
    int rc = 0;
    if (!sweep) {
        *out = xcalloc(1, sizeof **out);
        *nout = 1;
        rc = setting_build(*out, NULL, base, nbase, 0, m, err, errlen);
    } else if (sweep->n == 0) {
        snprintf(err, errlen, "no [section]: a sweep needs one section per setting");
        *out = NULL;
        *nout = 0;
        return -1;
    } else {
        *out = xcalloc((size_t)sweep->n, sizeof **out);
        *nout = sweep->n;
        for (int i = 0; i < sweep->n && !rc; i++) {
            const IniSection *sec = &sweep->sec[i];
            int n = nbase + sec->n;
            IniEntry *kv = xmalloc(sizeof *kv * (size_t)(n ? n : 1));
            if (nbase) memcpy(kv, base, sizeof *kv * (size_t)nbase);
            if (sec->n) memcpy(kv + nbase, sec->e, sizeof *kv * (size_t)sec->n);
            rc = setting_build(&(*out)[i], sec->name, kv, n, nbase, m, err, errlen);
            free(kv);
        }
    }
    /* two settings with one group name would write into each other */
    for (int i = 0; !rc && i < *nout; i++)
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp((*out)[i].name, (*out)[j].name)) {
                snprintf(err, errlen, "two settings have the group name '%s'", (*out)[i].name);
                rc = -1;
            }
    return rc;
}

void settings_labels(const SampleSetting *st, int nc, const uint64_t *seeds,
                     const int32_t *input_labels, int B, int *net, int32_t *file)
{
    for (int k = 0; k < B; k++) {
        switch (st->label_mode) {
        case LABELS_INPUT: net[k] = file[k] = input_labels[k]; break;
        case LABELS_NULL: net[k] = nc; file[k] = -1; break;
        case LABELS_FIXED: net[k] = file[k] = st->class_label; break;
        case LABELS_PER_SEED: net[k] = file[k] = (int)(seeds[k] % (uint64_t)st->n_classes); break;
        default: net[k] = 0; file[k] = -1; break;
        }
        if (!st->model_class) net[k] = nc > 0 ? nc : 0; /* the null label, or none */
    }
}

void settings_describe(const SampleSetting *st, const Schedule *s, int nc, char *buf, size_t n)
{
    char desc[512], cls[64] = "";
    sampler_config_describe(&st->sc, s, desc, sizeof desc);
    if (st->label_mode == LABELS_FIXED) snprintf(cls, sizeof cls, ", class %d", st->class_label);
    if (st->label_mode == LABELS_PER_SEED)
        snprintf(cls, sizeof cls, ", class = seed %% %d", st->n_classes);
    if (st->label_mode == LABELS_NULL) snprintf(cls, sizeof cls, ", no class (null label)");
    if (st->label_mode == LABELS_INPUT) snprintf(cls, sizeof cls, ", class = the input's label");
    char task[256] = "";
    if (st->has_task) {
        char td[240];
        task_config_describe(&st->tc, td, sizeof td);
        snprintf(task, sizeof task, ", task %s", td);
    }
    char cg[160] = "";
    if (st->cls_scale != 0 && !strcmp(st->sc.def->name, "pnp"))
        snprintf(cg, sizeof cg, ", constraint log p(class | x) of the clean classifier x %g",
                 st->cls_scale);
    else if (st->cls_scale != 0)
        snprintf(cg, sizeof cg, ", classifier guidance s = %g (+1 classifier gradient a step)",
                 st->cls_scale);
    if (!st->model_class && nc > 0 && st->label_mode != LABELS_NULL)
        snprintf(cg + strlen(cg), sizeof cg - strlen(cg),
                 ", the network without its class (null label)");
    snprintf(buf, n, "  %-20s %s, %lld NFE per image%s%s%s", st->name, desc, st->nfe, cls, task, cg);
}
