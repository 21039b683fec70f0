/* Sample settings: what one group of a samples file is made with. A setting is a sampler
 * configuration (core/sampler.h) plus the label policy, built from key = value entries
 * (the command line's sampler options, then a sweep section's), checked against the model,
 * with the identity the samples file stores (io/samples.h's SamplesSetting, group name).
 *
 * Keys: sampler, class (K | per_seed | none), steps, guidance, classifier_scale (classifier
 * guidance toward the class by a noise-aware classifier, 0 = off), model_class (yes | no:
 * no gives the diffusion network the null label, the class being the classifier's target
 * only) and every option of the
 * chosen sampler (core/samplers/<name>.c); task (core/task.h: sdedit, repaint, ilvr) and
 * every option of the chosen task (core/tasks/<name>.c); superres's scale = 0 becomes the
 * model's first trained factor. Errors name where the entry came from
 * ("sweep.ini:3 [a]: unknown sampler option 'x' ...", "--eta -1: ..."), 0 / -1 + err.
 */
#ifndef DDM_SETTINGS_H
#define DDM_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "core/sampler.h"
#include "core/task.h"
#include "io/ini.h"
#include "io/samples.h"

/* What a sample's label is: none (unconditional model), the null label (a conditional
 * model sampled without a class), one fixed class, seed % num_classes, or the label of
 * the task input it is made from (class = input). */
typedef enum { LABELS_NONE = 0, LABELS_NULL, LABELS_FIXED, LABELS_PER_SEED, LABELS_INPUT } LabelMode;

typedef struct {
    char name[128];       /* the group */
    SamplerConfig sc;
    int has_task;
    TaskConfig tc;        /* has_task: the application bending the sampler's loop */
    LabelMode label_mode;
    int class_label;      /* LABELS_FIXED: the class; else -1 */
    int n_classes;        /* classes the label mode picks from (per_seed: seed % n_classes) */
    double cls_scale;     /* classifier guidance scale s (0 = off) */
    int model_class;      /* 1: the network gets the class; 0: the null label (or none) */
    char settings[640];   /* every setting beyond sampler/steps/eta/guidance, as words */
    SamplesSetting set;   /* points into this struct */
    int steps;
    long long nfe;        /* per image, guidance counted */
} SampleSetting;

/* The model the settings are checked against. */
typedef struct {
    const Schedule *sched;
    int num_classes;
    const char *weights_word; /* "ema:0.9999" | "raw" */
    int net_width;            /* images per network call (core/netslots.h) */
    int cond_channels;        /* SR3: condition channels of the network (0 = none): such a
                                 model samples only with a task that sets the condition
                                 (superres), and only such a model runs that task */
    const int *factors;       /* SR3: the factors it was trained for (train.degrade) */
    int n_factors;
    int cls_classes;          /* the classifier's classes (0: none loaded) */
    int cls_clean;            /* 1: it is a clean-image classifier (the pnp sampler's
                                 constraint), 0: a noise-aware one (classifier guidance) */
    const char *cls_word;     /* its identity in the settings ("PATH@STEP weights") */
} SettingModel;

/* All settings: one from base (sweep NULL), or one per sweep section with base's entries
 * as every section's defaults (a base option the section's sampler does not have is left
 * out). Two settings with one group name are refused. *out: n settings, free(). */
int settings_build(const IniEntry *base, int nbase, const IniFile *sweep, const SettingModel *m,
                   SampleSetting **out, int *n, char *err, size_t errlen);
/* The labels of B samples with these seeds (and the labels of their task inputs, for
 * class = input): what the network gets (LABELS_NONE gives 0; model_class = no the null
 * label) and what the file records, the class of the sample (file: -1 = none), which is
 * also classifier guidance's target. */
void settings_labels(const SampleSetting *st, int num_classes, const uint64_t *seeds,
                     const int32_t *input_labels, int B, int *net, int32_t *file);
/* "  NAME  describe, N NFE per image, class ..." for the job's header */
void settings_describe(const SampleSetting *st, const Schedule *s, int num_classes, char *buf,
                       size_t n);

#endif
