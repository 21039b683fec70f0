/* The ddm config: INI (`key = value` under `[sections]`, `#` and `;` comments, read by
 * io/ini.c) plus `--set section.key=value` overrides. Every key lives in ONE table
 * (io/config.c, OptSpec rows of core/opt.h) that gives its section, name, type, default,
 * unit and help: parsing, defaults, the canonical text stored in output files and
 * `ddm train --help` all come from it. Key names match with '-' and '_' the same.
 *
 * Errors are returned, not fatal (a job turns them into ddm_die): functions that can fail
 * return 0 on success, -1 on error with a one-line message in err (errlen bytes).
 */
#ifndef DDM_CONFIG_H
#define DDM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/classifier.h"
#include "core/opt.h"
#include "core/optim.h"
#include "core/sched.h"
#include "core/unet.h"

#define CONFIG_MAX_LIST 8 /* entries of a list-valued key (ch_mult, attn_resolutions, ema) */

/* what train.task trains: the diffusion U-Net; the evaluation classifier (clean images);
 * the noise-aware classifier p(y | x_t, t) of classifier guidance (the U-Net's pooled
 * encoder, UNET_HEAD_POOL, on images noised by [diffusion]) */
typedef enum { TASK_DIFFUSION = 0, TASK_CLASSIFIER = 1, TASK_NOISY_CLASSIFIER = 2 } DdmTask;

typedef struct {
    struct {
        int ch;                                 /* base channels (32) */
        int n_ch_mult;
        int ch_mult[CONFIG_MAX_LIST];           /* (1,2,2) */
        int num_res_blocks;                     /* (2) */
        int n_attn;                             /* 0 = no attention blocks */
        int attn_resolutions[CONFIG_MAX_LIST];  /* (8) */
        int groups;                             /* GroupNorm groups (8) */
        double dropout;                         /* (0) */
        int num_classes;                        /* 0 = unconditional */
        int image_size;                         /* (32) */
        int channels;                           /* (1) */
        int cond_channels;                      /* condition channels concatenated to the
                                                   input (SR3: = channels; 0 = none) */
    } model;
    struct {
        int process;        /* SchedProcess: PROC_VP | PROC_VE */
        int schedule;       /* SchedKind: SCHED_LINEAR | SCHED_COSINE */
        int timesteps;      /* (1000) */
        double beta_start;  /* (1e-4) */
        double beta_end;    /* (0.02) */
        int prediction;     /* SchedPred: PRED_EPS | PRED_X0 | PRED_V */
        int loss;           /* SchedLoss: LOSS_SIMPLE | LOSS_VLB */
        double sigma_min;   /* (0.01) */
        double sigma_max;   /* (50) */
        int num_scales;     /* (232) */
    } diffusion;
    struct {
        int batch;                      /* GLOBAL batch, split over the ranks (64) */
        double lr;                      /* peak learning rate (2e-4) */
        int warmup;                     /* linear warm-up, steps (500) */
        double weight_decay;            /* AdamW decoupled decay (0) */
        double grad_clip;               /* max gradient norm, 0 = off (1.0) */
        int n_ema;
        double ema[CONFIG_MAX_LIST];    /* EMA decay rates (0.9999) */
        int64_t max_steps;              /* (10000) */
        int log_every;                  /* steps (50) */
        int ckpt_every;                 /* steps (1000) */
        int keep;                       /* checkpoints kept (3) */
        int preview_every;              /* steps, 0 = off */
        uint64_t seed;                  /* (0) */
        double p_uncond;                /* label dropout for classifier-free guidance (0.1) */
        int threads;                    /* per rank, 0 = all the rank has */
        int flip;                       /* random horizontal flips (0|1) */
        int n_degrade;
        int degrade[CONFIG_MAX_LIST];   /* SR3 downsampling factors (empty = not SR3) */
        int task;                       /* DdmTask */
        double adam_beta1, adam_beta2, adam_eps; /* (0.9, 0.999, 1e-8) */
    } train;
} DdmConfig;

/* Every key at its default. */
void config_defaults(DdmConfig *cfg);

/* Apply an INI file over cfg (keys not in the file keep their values; on an error
 * nothing of the file is applied). Errors:
 *   "FILE:LINE: unknown key 'x' in [train]", "FILE:LINE: unknown section [x]",
 *   "FILE:LINE: bad value 'abc' for train.lr (a number)", "FILE: cannot open: <reason>",
 *   "FILE:LINE: key 'lr' appears twice in [train] (FILE:LINE)",
 *   "FILE:LINE: section [train] appears twice (FILE:LINE)" */
int config_load_ini(DdmConfig *cfg, const char *path, char *err, size_t errlen);
/* The same from text in memory (e.g. the config stored in a checkpoint); name is used
 * in place of FILE in messages. */
int config_parse_text(DdmConfig *cfg, const char *text, const char *name, char *err,
                      size_t errlen);
/* One override, "section.key=value" (a bare "key=value" is accepted too: every key name
 * is unique across sections). Errors name the --set:
 *   "--set train.lr=abc: bad value 'abc' for train.lr (a number)" */
int config_set(DdmConfig *cfg, const char *assignment, char *err, size_t errlen);
/* Cross-checks of values (ranges, groups dividing channels, attention at a resolution
 * the network has, ...): "train.lr = -1: must be >= 0". */
int config_validate(const DdmConfig *cfg, char *err, size_t errlen);

/* Canonical INI of every key in force (malloc'd). config_parse_text of it over the
 * defaults gives back an identical struct. */
char *config_to_text(const DdmConfig *cfg);
/* Every key with its default, unit and help, grouped by section (for --help). */
void config_print_keys(FILE *f);

/* Equality of the values in force (lists compared over their used entries). */
int config_equal(const DdmConfig *a, const DdmConfig *b);

/* The pieces the modules take. */
void config_to_unet(const DdmConfig *cfg, UNetConfig *u);
void config_to_sched(const DdmConfig *cfg, SchedConfig *s);
void config_to_adamw(const DdmConfig *cfg, AdamW *o); /* lr = the peak rate */
/* the eval/guidance classifier: in_ch, image_size, num_classes, ch, groups from [model];
 * feat_dim stays at classifier_config_default's value */
void config_to_classifier(const DdmConfig *cfg, ClassifierConfig *c);

/* The key table, for tools that want to walk it (e.g. to print metrics headers): one
 * OptSpec row per key (core/opt.h), section set, offsets into DdmConfig. */
typedef OptSpec CfgKey;
int config_num_keys(void);
const CfgKey *config_key(int i);
/* lookup by "section.key" or a bare "key"; NULL when unknown */
const CfgKey *config_find_key(const char *name);
/* The value of one key as written in the canonical text (malloc'd). */
char *config_value_text(const DdmConfig *cfg, const CfgKey *k);

#endif
