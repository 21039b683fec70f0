/* superres: SR3 (Saharia et al. 2021, "Image Super-Resolution via Iterative Refinement",
 * sec. 2-3): the reverse process of a model trained with the low-resolution image as extra
 * input channels (model.cond_channels, train.degrade), run from pure noise with the
 * condition y = the low-resolution image upsampled to full size by bicubic:
 *   x_{t-1} from x_t and f(x_t, y, t)   (SR3 Alg. 2, any sampler here)
 * The input is the full-size truth, degraded here exactly as in training (block mean by
 * `scale`, bicubic back up: degrade_superres), or a low-resolution image the loader has
 * already upsampled (TaskConfig.lowres). The sampler loop is otherwise the plain one. */
#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "core/resize.h"
#include "core/task.h"

static void condition(const TaskConfig *tc, const TaskInputs *in, int B, float *cond)
{
    const size_t D = (size_t)in->C * in->H * in->W;
    if (tc->lowres) { /* upsampled already: the low-resolution content, as given */
        memcpy(cond, in->image, (size_t)B * D * sizeof(float));
        return;
    }
    degrade_superres(cond, in->image, B * in->C, in->H, in->W, tc->scale);
}

static int check(const TaskConfig *tc, const SamplerConfig *sc, const Schedule *s, char *err,
                 size_t errlen)
{
    (void)sc;
    (void)s;
    if (tc->scale < 1) {
        snprintf(err, errlen, "task superres: scale must be >= 1 (the model's factor), got %d",
                 tc->scale);
        return -1;
    }
    return 0;
}

static int inputs_check(const TaskConfig *tc, const TaskInputs *in, char *err, size_t errlen)
{
    if (tc->lowres && tc->lowres != tc->scale) {
        snprintf(err, errlen, "task superres: the input is low resolution for scale %d, the "
                 "setting has scale %d", tc->lowres, tc->scale);
        return -1;
    }
    if (tc->scale >= 1 && in->H % tc->scale == 0 && in->W % tc->scale == 0) return 0;
    snprintf(err, errlen, "task superres: scale %d must divide the image's height and width "
             "(%dx%d)", tc->scale, in->H, in->W);
    return -1;
}

#define OFF(f) offsetof(TaskConfig, f)
static const OptSpec OPTS[] = {
    {NULL, "scale", OPT_INT, OFF(scale), 0, NULL, "0", "F", "",
     "upsampling factor F, one the model was trained for (train.degrade); 0 = its first. An "
     "input of the model's size is the truth, degraded by F here; one of 1/F the size is the "
     "low-resolution image itself", 0, 2147483647.0, 0, 0},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0},
};

const TaskDef task_superres_def = {
    .name = "superres",
    .cite = "Saharia et al. 2021 (SR3)",
    .opts = OPTS,
    .needs = TASK_NEEDS_IMAGE,
    .check = check,
    .inputs_check = inputs_check,
    .condition = condition,
};
