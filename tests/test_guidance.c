/* Classifier guidance (core/clsguide.c, core/denoiser.c):
 *  - the noise-aware classifier's grad_x log p(y | x_t, t) against PyTorch autograd in
 *    float64 on the reference pooled net (tests/ref/make_guide_ref.py, guide_ref.h5) and
 *    against central differences of its own log p;
 *  - an image's gradient does not depend on its batch or the thread count (slots);
 *  - the denoiser applies the seed's formula eps~ = eps - sg s grad log p exactly, so the
 *    score moves by s grad log p, for eps, x0 and v prediction and for ve, combined with
 *    classifier-free guidance;
 *  - sampling with a scale of 0 is bitwise the unguided sampler, and a large scale moves
 *    every sampler's output toward the target class (log p rises).
 * The diffusion "network" is the exact Gaussian mixture of core/gmm.h (no training needed).
 */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clsguide.h"
#include "core/common.h"
#include "core/denoiser.h"
#include "core/gmm.h"
#include "core/netslots.h"
#include "core/sampler.h"
#include "core/sched.h"
#include "io/h5.h"
#include "tests/testlib.h"

#define REF "tests/ref/guide_ref.h5"
#define NET "tests/ref/unet_ref_pool.h5"

static void pool_config(UNetConfig *c, int S, int K)
{
    unet_config_default(c);
    c->ch = 8;
    c->n_levels = 2;
    c->ch_mult[0] = 1;
    c->ch_mult[1] = 2;
    c->num_res_blocks = 1;
    c->attn_res[0] = 8;
    c->groups = 4;
    c->image_size = S;
    c->in_ch = 1;
    c->out_ch = K;
    c->head = UNET_HEAD_POOL;
}

/* the reference pooled net's weights, read tensor by tensor from unet_ref_pool.h5 */
static float *ref_weights(const UNetConfig *c)
{
    UNet *probe = unet_init(c, 1, 0);
    float *w = xalloc_floats(unet_num_params(probe));
    hid_t f = h5_open(NET, H5F_ACC_RDONLY, H5P_DEFAULT);
    for (int i = 0; i < unet_num_tensors(probe); i++) {
        const UNetTensor *t = unet_tensor(probe, i);
        hsize_t dims[4];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        char name[128];
        snprintf(name, sizeof name, "params/%s", t->name);
        h5_read_f32(f, NET, name, w + t->offset, t->ndim, dims);
    }
    H5Fclose(f);
    unet_free(probe);
    return w;
}

static void torch_case(void)
{
    UNetConfig c;
    pool_config(&c, 16, 10);
    float *w = ref_weights(&c);
    enum { B = 5, D = 256 };
    float x[B * D], t[B], grad[B * D];
    double logp_ref[B], g_ref[B * D], logp[B];
    int targets[B];
    hid_t f = h5_open(REF, H5F_ACC_RDONLY, H5P_DEFAULT);
    hsize_t dx[4] = {B, 1, 16, 16}, d1[1] = {B};
    h5_read_f32(f, REF, "x", x, 4, dx);
    h5_read_f32(f, REF, "t", t, 1, d1);
    h5_read_f64(f, REF, "logp", logp_ref, 1, d1);
    h5_read_f64(f, REF, "grad_x", g_ref, 4, dx);
    hid_t ds = H5Dopen2(f, "targets", H5P_DEFAULT);
    DDM_ASSERT(ds >= 0 && H5Dread(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, targets) >= 0,
               "%s: /targets", REF);
    H5Dclose(ds);
    H5Fclose(f);

    ClsGuide g;
    clsguide_init(&g, &c, w, 1);
    uint64_t keys[B] = {0, 1, 2, 3, 4};
    clsguide_grad_logp(&g, grad, logp, x, t, targets, keys, B);
    check_close_d("log p(y | x_t, t) of the reference pooled net == PyTorch (float64)", logp,
                  logp_ref, B, 1e-6, 1e-6);
    double gmax = 0, worst = 0;
    for (int i = 0; i < B * D; i++) gmax = fmax(gmax, fabs(g_ref[i]));
    for (int i = 0; i < B * D; i++) worst = fmax(worst, fabs(grad[i] - g_ref[i]));
    check(worst <= 1e-3 * gmax, "grad_x log p(y | x_t, t) == PyTorch autograd: max|diff| %.3g "
          "(tol 1e-3 of max|grad| %.3g), 5 images at t = 0..999", worst, gmax);

    /* central differences of its own log p, at a few coordinates of every image */
    const float h = 1e-2f;
    int ok = 1;
    double wfd = 0;
    for (int k = 0; k < 10; k++) {
        const int i = (int)(((unsigned)k * 2654435761u) % (B * D)), b = i / D;
        float keep = x[i], gtmp[B * D];
        double lp[B], lm[B];
        x[i] = keep + h;
        clsguide_grad_logp(&g, gtmp, lp, x, t, targets, keys, B);
        x[i] = keep - h;
        clsguide_grad_logp(&g, gtmp, lm, x, t, targets, keys, B);
        x[i] = keep;
        double fd = (lp[b] - lm[b]) / (2.0 * h), an = grad[i];
        if (fabs(fd - an) > 2e-5 + 3e-2 * fabs(an)) ok = 0;
        wfd = fmax(wfd, fabs(fd - an));
    }
    check(ok, "grad_x log p vs central differences of log p (h = 1e-2, float32) at 10 "
          "coordinates: max|diff| %.2g (atol 2e-5 rtol 3e-2)", wfd);

    /* slots: an image's gradient is the same alone, in another batch, on 2 threads */
    float g1[D], gb[13 * D], xb[13 * D], tb[13];
    int yb[13];
    uint64_t kb[13];
    for (int j = 0; j < 13; j++) {
        memcpy(xb + (size_t)j * D, x + (size_t)(j % B) * D, sizeof(float) * D);
        tb[j] = t[j % B];
        yb[j] = targets[j % B];
        kb[j] = (uint64_t)(100 + 3 * j);
    }
    ClsGuide g2;
    clsguide_init(&g2, &c, w, 2);
    clsguide_grad(&g2, gb, xb, tb, yb, kb, 13);
    int same = 1;
    for (int j = 0; j < 13; j++) {
        clsguide_grad(&g, g1, xb + (size_t)j * D, tb + j, yb + j, kb + j, 1);
        same &= memcmp(g1, gb + (size_t)j * D, sizeof g1) == 0;
    }
    check(same, "each image's gradient alone (1 thread) == in a batch of 13 on 2 threads, bitwise");
    clsguide_free(&g2);
    clsguide_free(&g);
    free(w);
}

/* ---- the denoiser's formula, with a 1x4x4 mixture and a random 4x4 classifier */

enum { GD = 16, GK = 3 };

static Gmm gmm_img(void)
{
    Gmm g = {0};
    g.K = 2;
    g.dim = 1;
    g.w[0] = 0.4; g.mu[0][0] = -0.6; g.var[0] = 0.0225;
    g.w[1] = 0.6; g.mu[1][0] = 0.4;  g.var[1] = 0.0625;
    return g;
}

static void formula_case(const char *what, Schedule *s, int conditional, double w_cfg)
{
    UNetConfig c;
    pool_config(&c, 4, GK);
    c.attn_res[0] = 2;
    UNet *probe = unet_init(&c, 1, 0);
    unet_init_weights(probe, 9);
    ClsGuide cg;
    clsguide_init(&cg, &c, unet_params(probe), 1);
    Gmm gm = gmm_img();
    GmmModel model;
    gmm_model_init(&model, &gm, s, GD, conditional);
    Denoiser d;
    denoiser_init(&d, gmm_denoise, &model, s, GD, conditional ? 2 : 0);
    denoiser_set_classifier(&d, clsguide_grad, &cg, GK);
    enum { B = 3 };
    float x[B * GD], e0[B * GD], z0[B * GD], s0[B * GD], e1[B * GD], z1[B * GD], s1[B * GD];
    float g[B * GD];
    uint64_t seeds[B] = {5, 6, 7};
    int lab[B] = {0, 1, 0}, tgt[B] = {2, 0, 1};
    test_fill_uniform(x, B * GD, -1.2f, 1.2f, 31);
    const int L = s->n / 3;
    const double tc = sched_tcond(s, s->sigma[L]);
    const double a = s->cfg.process == PROC_VP ? s->sqrt_alpha_bar[L] : 1.0;
    const double sg = s->cfg.process == PROC_VP ? s->sqrt_one_minus_alpha_bar[L] : s->sigma[L];
    const double scale = 2.5;
    denoiser_set_guide(&d, NULL, 0);
    denoiser_begin(&d, seeds, conditional ? lab : NULL, w_cfg, B);
    denoiser_eval(&d, x, tc, a, sg, e0, z0, s0);
    denoiser_set_guide(&d, tgt, scale);
    denoiser_begin(&d, seeds, conditional ? lab : NULL, w_cfg, B);
    denoiser_eval(&d, x, tc, a, sg, e1, z1, s1);
    float tcv[B] = {(float)tc, (float)tc, (float)tc};
    clsguide_grad(&cg, g, x, tcv, tgt, seeds, B);
    double we = 0, ws = 0, wz = 0, gm_ = 0;
    for (int i = 0; i < B * GD; i++) {
        const double want_e = e0[i] - sg * scale * g[i];
        we = fmax(we, fabs(e1[i] - want_e));
        ws = fmax(ws, fabs(s1[i] - (s0[i] + scale * g[i])));
        wz = fmax(wz, fabs(z1[i] - (x[i] - sg * want_e) / a));
        gm_ = fmax(gm_, fabs(sg * scale * g[i]));
    }
    check(we <= 1e-5 && ws <= 1e-4 * fmax(1, 1 / sg) && wz <= 1e-5 * fmax(1, sg / a) && gm_ > 1e-4,
          "%s: eps~ = eps - sg s grad log p (max|diff| %.2g), score~ = score + s grad (%.2g), "
          "x0~ from eps~ (%.2g); the correction is %.2g, %lld classifier call",
          what, we, ws, wz, gm_, d.grad_calls);
    denoiser_free(&d);
    clsguide_free(&cg);
    unet_free(probe);
}

/* every sampler: scale 0 == unguided bitwise; scale 30 raises the mean log p(y | x_0) */
static void sampler_case(const char *name, Schedule *s)
{
    UNetConfig c;
    pool_config(&c, 4, GK);
    c.attn_res[0] = 2;
    UNet *probe = unet_init(&c, 1, 0);
    unet_init_weights(probe, 9);
    ClsGuide cg;
    clsguide_init(&cg, &c, unet_params(probe), 1);
    Gmm gm = gmm_img();
    GmmModel model;
    gmm_model_init(&model, &gm, s, GD, 0);
    SamplerConfig sc;
    test_sampler_config(&sc, name, NULL);
    enum { B = 24 };
    uint64_t seeds[B];
    int tgt[B];
    for (int b = 0; b < B; b++) {
        seeds[b] = (uint64_t)b;
        tgt[b] = 1;
    }
    float *x0 = xalloc_floats(B * GD), *x1 = xalloc_floats(B * GD), *x2 = xalloc_floats(B * GD);
    float *gr = xalloc_floats(B * GD), t0[B];
    for (int pass = 0; pass < 3; pass++) {
        Denoiser d;
        denoiser_init(&d, gmm_denoise, &model, s, GD, 0);
        denoiser_set_classifier(&d, clsguide_grad, &cg, GK);
        if (pass > 0) denoiser_set_guide(&d, tgt, pass == 1 ? 0.0 : 30.0);
        sampler_run(&sc, s, &d, pass == 0 ? x0 : pass == 1 ? x1 : x2, seeds, NULL, B);
        denoiser_free(&d);
    }
    double lp0 = 0, lp2 = 0, lp[B];
    for (int b = 0; b < B; b++) t0[b] = 0;
    clsguide_grad_logp(&cg, gr, lp, x0, t0, tgt, seeds, B);
    for (int b = 0; b < B; b++) lp0 += lp[b] / B;
    clsguide_grad_logp(&cg, gr, lp, x2, t0, tgt, seeds, B);
    for (int b = 0; b < B; b++) lp2 += lp[b] / B;
    check(memcmp(x0, x1, sizeof(float) * B * GD) == 0 && lp2 > lp0 + 0.05,
          "%s (%s): scale 0 == no guidance bitwise; scale 30 raises mean log p(y | x) from %.3f "
          "to %.3f", name, s->cfg.process == PROC_VP ? "vp" : "ve", lp0, lp2);
    free(x0); free(x1); free(x2); free(gr);
    clsguide_free(&cg);
    unet_free(probe);
}

/* ---- plug-and-play priors: the network's gradient (netslots) and the clean classifier */

static double prior_loss(Denoiser *d, const float *x, double tc, const float *noise, float *eps,
                         float *g, int b, size_t D)
{
    denoiser_prior_grad(d, eps, g, x, tc, noise);
    double l = 0;
    for (size_t i = 0; i < D; i++) {
        double e = noise[(size_t)b * D + i] - eps[(size_t)b * D + i];
        l += e * e;
    }
    return l;
}

static void pnp_grad_case(void)
{
    UNetConfig c;
    unet_config_default(&c);
    c.ch = 8;
    c.n_levels = 2;
    c.ch_mult[0] = 1;
    c.ch_mult[1] = 2;
    c.num_res_blocks = 1;
    c.attn_res[0] = 4;
    c.groups = 4;
    c.num_classes = 3;
    c.image_size = 8;
    UNet *probe = unet_init(&c, 1, 0);
    unet_init_weights(probe, 21);
    Schedule s;
    test_sched_vp(&s, PRED_EPS);
    enum { B = 5, D = 64 };
    float x[B * D], z[B * D], eps[B * D], g[B * D], e1[B * D], g1[B * D];
    uint64_t seeds[B] = {3, 11, 4, 12, 7};
    int lab[B] = {0, 1, 2, 3, 1};
    test_fill_uniform(x, B * D, -1, 1, 41);
    test_fill_uniform(z, B * D, -2, 2, 42);
    NetSlots ns;
    netslots_init(&ns, &c, unet_params(probe), 2);
    Denoiser d;
    netslots_denoiser(&d, &ns, &s);
    denoiser_begin(&d, seeds, lab, 0, B);
    denoiser_prior_grad(&d, eps, g, x, 250.0, z);
    /* the output is the network's, bitwise */
    float out[B * D], tcv[B] = {250, 250, 250, 250, 250};
    d.fn(d.ctx, out, x, tcv, lab, B);
    int same_out = memcmp(out, eps, sizeof out) == 0;
    /* central differences of ||z - eps(x)||^2 */
    const float h = 1e-2f;
    int ok = 1;
    double worst = 0;
    for (int k = 0; k < 10; k++) {
        const int i = (int)(((unsigned)k * 2654435761u) % (B * D)), b = i / D;
        float keep = x[i];
        x[i] = keep + h;
        double lp = prior_loss(&d, x, 250.0, z, e1, g1, b, D);
        x[i] = keep - h;
        double lm = prior_loss(&d, x, 250.0, z, e1, g1, b, D);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * h), an = g[i];
        if (fabs(fd - an) > 3e-3 + 3e-2 * fabs(an)) ok = 0;
        worst = fmax(worst, fabs(fd - an));
    }
    check(ok && same_out, "pnp prior term: d/dx ||eps - eps_theta(x)||^2 through the U-Net (8-image "
          "slots, 2 threads) vs central differences at 10 coordinates: max|diff| %.2g (atol 3e-3 "
          "rtol 3e-2); its output == the network's, bitwise", worst);
    /* alone (1 thread) == in the batch */
    NetSlots ns1;
    netslots_init(&ns1, &c, unet_params(probe), 1);
    Denoiser d1;
    netslots_denoiser(&d1, &ns1, &s);
    int same = 1;
    for (int b = 0; b < B; b++) {
        denoiser_begin(&d1, seeds + b, lab + b, 0, 1);
        denoiser_prior_grad(&d1, e1, g1, x + (size_t)b * D, 250.0, z + (size_t)b * D);
        same &= memcmp(g1, g + (size_t)b * D, sizeof(float) * D) == 0;
    }
    check(same, "pnp prior gradient of each image alone (1 thread) == in a batch of 5 on 2 threads, "
          "bitwise");
    denoiser_free(&d1);
    netslots_free(&ns1);
    denoiser_free(&d);
    netslots_free(&ns);

    /* the clean classifier's grad log p(y | x) vs central differences */
    ClassifierConfig cc;
    classifier_config_default(&cc);
    cc.image_size = 8;
    cc.ch = 8;
    cc.groups = 4;
    cc.feat_dim = 16;
    cc.num_classes = 4;
    Classifier *cl = classifier_init(&cc, 1, 0);
    classifier_init_weights(cl, 5);
    ClsClean cg;
    clsclean_init(&cg, &cc, classifier_params(cl), 2);
    int tg[B] = {0, 3, 1, 2, 3};
    float gc[B * D], gb[D];
    clsclean_grad(&cg, gc, x, NULL, tg, seeds, B);
    ok = 1;
    worst = 0;
    for (int k = 0; k < 10; k++) {
        const int i = (int)(((unsigned)k * 40503u + 7) % (B * D)), b = i / D;
        double lpv[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            float keep = x[i], lg[4], pr[4];
            x[i] = keep + (sgn ? -h : h);
            classifier_forward(cl, lg, NULL, x + (size_t)b * D, 1);
            classifier_softmax(pr, lg, 1, 4);
            lpv[sgn] = log((double)pr[tg[b]]);
            x[i] = keep;
        }
        double fd = (lpv[0] - lpv[1]) / (2.0 * h), an = gc[i];
        if (fabs(fd - an) > 1e-3 + 3e-2 * fabs(an)) ok = 0;
        worst = fmax(worst, fabs(fd - an));
    }
    clsclean_grad(&cg, gb, x + 2 * D, NULL, tg + 2, seeds + 2, 1);
    check(ok && memcmp(gb, gc + 2 * D, sizeof gb) == 0,
          "pnp constraint: the clean classifier's grad_x log p(y | x) vs central differences: "
          "max|diff| %.2g; an image alone == in the batch, bitwise", worst);
    clsclean_free(&cg);
    classifier_free(cl);
    unet_free(probe);
    sched_free(&s);
}

int main(void)
{
    ddm_set_threads(0);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    torch_case();

    Schedule vp, vpx, vpv, ve;
    test_sched_vp(&vp, PRED_EPS);
    test_sched_vp(&vpx, PRED_X0);
    test_sched_vp(&vpv, PRED_V);
    test_sched_ve(&ve);
    formula_case("vp eps prediction", &vp, 0, 0);
    formula_case("vp x0 prediction", &vpx, 0, 0);
    formula_case("vp v prediction", &vpv, 0, 0);
    formula_case("ve", &ve, 0, 0);
    formula_case("vp eps, with classifier-free guidance w = 2", &vp, 1, 2.0);

    const char *vp_samplers[] = {"ddpm", "ddim", "ode", "pc", "dpmpp2m", "unipc"};
    for (int i = 0; i < 6; i++) sampler_case(vp_samplers[i], &vp);
    const char *ve_samplers[] = {"langevin", "pc", "ode"};
    for (int i = 0; i < 3; i++) sampler_case(ve_samplers[i], &ve);
    pnp_grad_case();
    sched_free(&vp);
    sched_free(&vpx);
    sched_free(&vpv);
    sched_free(&ve);
    return test_summary();
}
