/* SR3's sampling side on a tiny random U-Net with a condition channel (cond_ch = 1): the
 * denoiser's condition image through the 8-image slots (core/netslots.c) equals the network
 * on the concatenated input; a sample's output does not depend on its batch; a condition
 * reaches only its own sample; classifier-free guidance keeps the condition in both halves;
 * the superres task (core/tasks/superres.c) sets the condition for its batch and clears it
 * after, gives the same output for the truth and for its low-resolution image, and refuses
 * bad settings and inputs.
 *
 * B = samples, C, S = channels, size (1 x 16 x 16), D = C*S*S. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/netslots.h"
#include "core/resize.h"
#include "core/sampler.h"
#include "core/task.h"
#include "core/unet.h"
#include "tests/testlib.h"

enum { C = 1, S = 16, D = C * S * S, NB = 11 };

static UNetConfig tiny(int num_classes)
{
    UNetConfig c;
    unet_config_default(&c);
    c.ch = 8;
    c.n_levels = 2;
    c.ch_mult[0] = 1;
    c.ch_mult[1] = 2;
    c.num_res_blocks = 1;
    c.attn_res[0] = 8;
    c.groups = 4;
    c.num_classes = num_classes;
    c.image_size = S;
    c.in_ch = c.out_ch = C;
    c.cond_ch = C;
    return c;
}

/* the raw network output of B samples (seeds) at level tcond, condition cond */
static void eval(Denoiser *d, float *out, const float *x, const uint64_t *seeds,
                 const float *cond, const int *labels, double w, int B)
{
    float t[NB];
    for (int b = 0; b < B; b++) t[b] = 300.0f;
    denoiser_set_cond(d, cond);
    denoiser_begin(d, seeds, labels, w, B);
    denoiser_output(d, out, x, t);
}

static void test_slots(void)
{
    UNetConfig uc = tiny(0);
    UNet *ref = unet_init(&uc, NETSLOTS_WIDTH, 0);
    unet_init_weights(ref, 3);
    Schedule s;
    test_sched_vp(&s, PRED_EPS);
    NetSlots ns;
    netslots_init(&ns, &uc, unet_params(ref), 2);
    Denoiser d;
    netslots_denoiser(&d, &ns, &s);
    check(d.cond_D == (size_t)D && ns.Dc == (size_t)D,
          "netslots: the denoiser of a cond_ch = 1 net takes a condition of %zu values", d.cond_D);

    float x[NB * D], cond[NB * D], out[NB * D], out2[NB * D];
    uint64_t seeds[NB];
    test_fill_uniform(x, NB * D, -1, 1, 1);
    test_fill_uniform(cond, NB * D, -1, 1, 2);
    for (int b = 0; b < NB; b++) seeds[b] = 100 + (uint64_t)b * 3;
    eval(&d, out, x, seeds, cond, NULL, 0, NB);

    /* the net itself on [x | cond] with sample 0 in its slot, the others empty (zero) */
    {
        float xin[NETSLOTS_WIDTH * 2 * D], o[NETSLOTS_WIDTH * D], t[NETSLOTS_WIDTH];
        memset(xin, 0, sizeof xin);
        const int r = (int)(seeds[0] % NETSLOTS_WIDTH);
        memcpy(xin + (size_t)r * 2 * D, x, sizeof(float) * D);
        memcpy(xin + (size_t)r * 2 * D + D, cond, sizeof(float) * D);
        for (int k = 0; k < NETSLOTS_WIDTH; k++) t[k] = 300.0f;
        eval(&d, out2, x, seeds, cond, NULL, 0, 1);
        unet_forward(ref, o, xin, t, NULL, NETSLOTS_WIDTH, 0, 0);
        check(memcmp(o + (size_t)r * D, out2, sizeof(float) * D) == 0,
              "netslots: a sample's output == unet_forward on its [x | condition] in slot %d", r);
    }
    /* batch independence: samples 3..6 alone == in the batch of 11 */
    eval(&d, out2, x + 3 * D, seeds + 3, cond + 3 * D, NULL, 0, 4);
    check(memcmp(out2, out + 3 * D, sizeof(float) * 4 * D) == 0,
          "netslots: samples 3..6 alone == in a batch of %d, byte for byte", NB);
    /* a condition reaches its own sample only */
    float c2[NB * D];
    memcpy(c2, cond, sizeof c2);
    for (int j = 0; j < D; j++) c2[5 * D + j] = -c2[5 * D + j];
    eval(&d, out2, x, seeds, c2, NULL, 0, NB);
    int others = 1;
    for (int b = 0; b < NB; b++)
        if (b != 5) others &= memcmp(out2 + b * D, out + b * D, sizeof(float) * D) == 0;
    check(others && memcmp(out2 + 5 * D, out + 5 * D, sizeof(float) * D) != 0,
          "netslots: changing sample 5's condition changes its output and no other");
    denoiser_set_cond(&d, NULL);
    check(d.cond == NULL && ns.cond == NULL, "denoiser_set_cond(NULL) clears the condition");
    denoiser_free(&d);
    netslots_free(&ns);
    unet_free(ref);

    /* guidance on a class-conditional SR3 net: one call of 2B holds the condition twice */
    uc = tiny(3);
    ref = unet_init(&uc, NETSLOTS_WIDTH, 0);
    unet_init_weights(ref, 4);
    netslots_init(&ns, &uc, unet_params(ref), 1);
    netslots_denoiser(&d, &ns, &s);
    int lab[NB], null[NB];
    for (int b = 0; b < NB; b++) {
        lab[b] = b % 3;
        null[b] = 3;
    }
    const double w = 1.5;
    float oc[NB * D], ou[NB * D];
    eval(&d, oc, x, seeds, cond, lab, 0, NB);
    eval(&d, ou, x, seeds, cond, null, 0, NB);
    double worst = 0;
    for (int mode = 0; mode < 2; mode++) {
        d.batched_guidance = mode;
        eval(&d, out, x, seeds, cond, lab, w, NB);
        for (int j = 0; j < NB * D; j++)
            worst = fmax(worst, fabs(out[j] - ((1 + w) * oc[j] - w * ou[j])));
    }
    check(worst <= 1e-5, "guidance w = %g, batched and in two calls: (1+w) eps(x,c,y) - w "
          "eps(x,c) with the same condition image c in both: max|diff| %.2g", w, worst);
    denoiser_free(&d);
    netslots_free(&ns);
    unet_free(ref);
    sched_free(&s);
}

static void test_task(void)
{
    UNetConfig uc = tiny(0);
    UNet *ref = unet_init(&uc, NETSLOTS_WIDTH, 0);
    unet_init_weights(ref, 5);
    Schedule s;
    test_sched_vp(&s, PRED_EPS);
    NetSlots ns;
    netslots_init(&ns, &uc, unet_params(ref), 1);
    Denoiser d;
    netslots_denoiser(&d, &ns, &s);
    SamplerConfig sc;
    test_sampler_config(&sc, "ddim", "steps=5");
    TaskConfig tc;
    test_task_config(&tc, "superres", "scale=4");
    char err[512];
    check(task_config_check(&tc, &sc, &s, err, sizeof err) == 0, "superres scale=4 on ddim");

    enum { B = 3, h = S / 4 };
    float lo[B * h * h], truth[B * D], up[B * D], o1[B * D], o2[B * D];
    uint64_t seeds[B] = {7, 8, 9};
    test_fill_uniform(lo, B * h * h, -1, 1, 9);
    for (int b = 0; b < B; b++) /* the truth: the low-res image's 4x4 blocks */
        for (int y = 0; y < S; y++)
            for (int xx = 0; xx < S; xx++)
                truth[(size_t)b * D + y * S + xx] = lo[b * h * h + (y / 4) * h + xx / 4];
    resize_bicubic(up, lo, B, h, h, S, S);
    TaskInputs in = {truth, NULL, C, S, S, NULL};
    task_run(&tc, &in, &sc, &s, &d, o1, seeds, NULL, B);
    check(d.cond == NULL && ns.cond == NULL, "task_run clears the condition after its batch");
    tc.lowres = 4;
    TaskInputs inl = {up, NULL, C, S, S, NULL};
    task_run(&tc, &inl, &sc, &s, &d, o2, seeds, NULL, B);
    check(memcmp(o1, o2, sizeof o1) == 0, "superres: the truth (degraded by the task) and its "
          "low-resolution image (bicubic-upsampled) give the same samples, byte for byte");
    tc.lowres = 0;
    test_task_config(&tc, "superres", "scale=2");
    task_run(&tc, &in, &sc, &s, &d, o2, seeds, NULL, B);
    check(memcmp(o1, o2, sizeof o1) != 0, "superres: scale 2 and 4 condition differently");

    /* refusals */
    TaskConfig bad;
    test_task_config(&bad, "superres", NULL);
    check(bad.scale == 0 && task_config_check(&bad, &sc, &s, err, sizeof err) == -1 &&
              strstr(err, "scale must be >= 1"),
          "scale 0 (unresolved: the job gives the model's factor) is refused by the task: '%s'",
          err);
    check(task_config_set(&bad, "scale", "-2", err, sizeof err) == -1, "scale -2 refused: '%s'",
          err);
    test_task_config(&bad, "superres", "scale=3");
    check(task_check_inputs(&bad, &in, B, err, sizeof err) == -1 &&
              strstr(err, "scale 3 must divide the image's height and width (16x16)"),
          "scale 3 on 16x16 inputs: '%s'", err);
    test_task_config(&bad, "superres", "scale=2");
    bad.lowres = 4;
    check(task_check_inputs(&bad, &inl, B, err, sizeof err) == -1 &&
              strstr(err, "low resolution for scale 4, the setting has scale 2"),
          "a low-res input of another scale: '%s'", err);
    check(task_find("superres")->condition != NULL && task_find("ilvr")->condition == NULL,
          "superres (and no other task) conditions the network");
    denoiser_free(&d);
    netslots_free(&ns);
    unet_free(ref);
    sched_free(&s);
}

int main(void)
{
    ddm_set_threads(1);
    test_slots();
    test_task();
    return test_summary();
}
