/* The FID Inception (core/inception.h, io/inception_io.h).
 *
 *   test_inception                       self-contained checks: resize against hand-computed
 *                                        values, pools, the non-square conv against its
 *                                        loop reference, BatchNorm folding, the tensor
 *                                        table, and the whole network on synthetic weights
 *                                        (finite, batch-invariant, gray = repeated RGB)
 *   test_inception WEIGHTS.h5 REF.h5     features against PyTorch (tests/ref/
 *                                        make_inception_ref.py; run by tests/t_inception.sh)
 *   test_inception --load WEIGHTS.h5     load only (for the bad-file checks)
 *
 * Tolerances, per tensor: kernels against their float64 loop references 1e-5 relative
 * to the output scale; features against PyTorch in float64 |c - ref| <= 2e-4 max|ref| +
 * 1e-3 |ref|. Why 2e-4: float32 rounding through 94 conv + BatchNorm layers, amplified
 * where a BatchNorm removes a large mean (post-ReLU inputs), leaves PyTorch's own float32
 * run 1-4e-5 max|ref| from float64 on the test weights, and this code 1-2x that (printed
 * per case). An error in the network's definition shows up at ~1e-1 (e.g. the wrong
 * count_include_pad in Mixed_6b-e: 0.9 on features of max 4).
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/inception.h"
#include "io/h5.h"
#include "io/inception_io.h"
#include "tests/testlib.h"

static double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static double max_abs_d(const double *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* ---------------------------------------------------------------- resize */
static void test_resize(void)
{
    /* 2x2 -> 4x4, align_corners=False: source coords -0.25 (clamped to 0), 0.25, 0.75,
     * 1.25 (right tap clamped to the edge) in each direction */
    const float in[4] = {0, 1, 2, 3};
    const float want[16] = {0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                            1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
    float out[16];
    inception_resize_bilinear(out, in, 1, 2, 2, 4, 4);
    check_close("resize 2x2 -> 4x4 (hand-computed)", out, want, 16, 1e-6, 0);

    /* a ramp 0..3 (one row), 4 -> 3 wide: s = (d + 0.5) 4/3 - 0.5 = 1/6, 3/2, 17/6, and a
     * linear ramp is reproduced exactly at s; 1 -> 2 tall repeats the row */
    const float ramp[4] = {0, 1, 2, 3};
    const float want2[6] = {1.0f / 6, 1.5f, 17.0f / 6, 1.0f / 6, 1.5f, 17.0f / 6};
    float out2[6];
    inception_resize_bilinear(out2, ramp, 1, 1, 4, 2, 3);
    check_close("resize 1x4 -> 2x3 (ramp, hand-computed)", out2, want2, 6, 1e-6, 0);

    /* same size: a copy, bit for bit; two planes kept apart */
    float a[2 * 5 * 7], b[2 * 5 * 7];
    test_fill_uniform(a, 70, -1, 1, 11);
    inception_resize_bilinear(b, a, 2, 5, 7, 5, 7);
    check(memcmp(a, b, sizeof a) == 0, "resize 5x7 -> 5x7 is the identity (2 planes)");

    /* the input path: u8 -> /255 -> resize -> 2x-1; gray repeated to 3 channels */
    uint8_t g[4] = {0, 255, 51, 102};
    float *x = xalloc_floats(3 * 299 * 299), *plane = xalloc_floats(4); /* B*C*H*W */
    inception_input(x, g, 1, 1, 2, 2, plane);
    const size_t S2 = 299 * 299;
    int same = memcmp(x, x + S2, S2 * sizeof(float)) == 0 &&
               memcmp(x, x + 2 * S2, S2 * sizeof(float)) == 0;
    /* corners of the 299x299 output: s = (0 + 0.5)*2/299 - 0.5 < 0 -> the corner pixel */
    check(same && x[0] == -1.0f && fabsf(x[298] - 1.0f) < 1e-6f &&
              fabsf(x[298 * 299] - (2.0f * 0.2f - 1.0f)) < 1e-6f &&
              fabsf(x[S2 - 1] - (2.0f * 0.4f - 1.0f)) < 1e-6f,
          "input: gray 2x2 -> 3x299x299 in [-1,1], corners %.6g %.6g %.6g %.6g, channels equal",
          x[0], x[298], x[298 * 299], x[S2 - 1]);
    free(x);
    free(plane);
}

/* ---------------------------------------------------------------- pools */
static void test_pools(void)
{
    float in[25], out[25];
    for (int i = 0; i < 25; i++) in[i] = (float)i;
    inception_maxpool(out, in, 1, 1, 5, 5, 3, 2, 0);
    const float want_max[4] = {12, 14, 22, 24};
    check_close("maxpool 3/2 on 5x5 ramp", out, want_max, 4, 0, 0);

    /* padding never wins: all-negative input, 3/1 pad 1 */
    float neg[9];
    for (int i = 0; i < 9; i++) neg[i] = -(float)(i + 1);
    inception_maxpool(out, neg, 1, 1, 3, 3, 3, 1, 1);
    const float want_neg[9] = {-1, -1, -2, -1, -1, -2, -4, -4, -5};
    check_close("maxpool 3/1/1 on negatives (padding is -inf)", out, want_neg, 9, 0, 0);

    float withnan[9];
    memcpy(withnan, neg, sizeof neg);
    withnan[0] = NAN;
    inception_maxpool(out, withnan, 1, 1, 3, 3, 3, 1, 1);
    check(isnan(out[0]) && isnan(out[1]) && isnan(out[3]) && isnan(out[4]) && out[8] == -5,
          "maxpool: a NaN propagates to the windows holding it, only those");

    /* average 3/1/1: count_include_pad=False divides by the in-image part of the window,
     * True by 9 */
    float v[9];
    for (int i = 0; i < 9; i++) v[i] = (float)(i + 1);
    inception_avgpool(out, v, 1, 1, 3, 3, 3, 1, 1, 0);
    const float want_ex[9] = {3.0f, 3.5f, 4.0f, 4.5f, 5.0f, 5.5f, 6.0f, 6.5f, 7.0f};
    check_close("avgpool 3/1/1 count_include_pad=False", out, want_ex, 9, 1e-6, 0);
    inception_avgpool(out, v, 1, 1, 3, 3, 3, 1, 1, 1);
    const float want_in[9] = {12.0f / 9, 21.0f / 9, 16.0f / 9, 27.0f / 9, 45.0f / 9,
                              33.0f / 9, 24.0f / 9, 39.0f / 9, 28.0f / 9};
    check_close("avgpool 3/1/1 count_include_pad=True", out, want_in, 9, 1e-6, 0);

    /* several planes: each its own */
    float two[2 * 9], o2[2 * 9];
    for (int i = 0; i < 9; i++) {
        two[i] = v[i];
        two[9 + i] = -v[i];
    }
    inception_avgpool(o2, two, 2, 1, 3, 3, 3, 1, 1, 0);
    int ok = 1;
    for (int i = 0; i < 9; i++) ok &= fabsf(o2[i] - want_ex[i]) < 1e-6f && o2[9 + i] == -o2[i];
    check(ok, "avgpool over 2 images keeps planes apart");

    float g[2 * 3 * 4], gm[6];
    for (int i = 0; i < 24; i++) g[i] = (float)i;
    inception_global_avgpool(gm, g, 2, 3, 4);
    const float want_g[6] = {1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f};
    check_close("global average pool (2,3,4) -> (2,3)", gm, want_g, 6, 1e-6, 0);
}

/* ---------------------------------------------------------------- non-square conv */
static void conv_case(const char *what, int B, int C, int H, int W, int OC, InceptionKernel k,
                      int bias)
{
    const int Ho = (H + 2 * k.ph - k.kh) / k.sh + 1, Wo = (W + 2 * k.pw - k.kw) / k.sw + 1;
    const size_t nin = (size_t)B * C * H * W, nw = (size_t)OC * C * k.kh * k.kw,
                 nout = (size_t)B * OC * Ho * Wo;
    float *in = xalloc_floats(nin), *w = xalloc_floats(nw), *b = xalloc_floats(OC);
    float *o = xalloc_floats(nout), *r = xalloc_floats(nout);
    float *s = xalloc_floats(inception_conv_scratch_floats(B, C, H, W, OC, k));
    test_fill_uniform(in, nin, -1, 1, 21);
    test_fill_uniform(w, nw, -0.2f, 0.2f, 22);
    test_fill_uniform(b, OC, -0.5f, 0.5f, 23);
    inception_conv_forward(o, in, w, bias ? b : NULL, B, C, H, W, OC, k, s);
    inception_conv_forward_ref(r, in, w, bias ? b : NULL, B, C, H, W, OC, k);
    char name[160];
    snprintf(name, sizeof name, "conv %s: (%d,%d,%d,%d) -> (%d,%d,%d,%d) = loops", what, B, C,
             H, W, B, OC, Ho, Wo);
    check_close(name, o, r, nout, 1e-5 * max_abs(r, nout), 0);
    free(in);
    free(w);
    free(b);
    free(o);
    free(r);
    free(s);
}

static void test_conv(void)
{
    conv_case("1x7 pad 0,3", 2, 5, 9, 11, 7, (InceptionKernel){1, 7, 1, 1, 0, 3}, 1);
    conv_case("7x1 pad 3,0", 2, 5, 9, 11, 7, (InceptionKernel){7, 1, 1, 1, 3, 0}, 1);
    conv_case("1x3 pad 0,1", 3, 6, 8, 8, 4, (InceptionKernel){1, 3, 1, 1, 0, 1}, 0);
    conv_case("3x1 pad 1,0", 3, 6, 8, 8, 4, (InceptionKernel){3, 1, 1, 1, 1, 0}, 1);
    conv_case("2x3 stride 2,1 pad 1,0", 2, 3, 7, 6, 5, (InceptionKernel){2, 3, 2, 1, 1, 0}, 1);
    /* large enough that the batch is split into chunks of 2 + 1 images */
    conv_case("1x7 chunked", 3, 512, 24, 24, 32, (InceptionKernel){1, 7, 1, 1, 0, 3}, 1);
}

/* ---------------------------------------------------------------- BatchNorm folding */
static void test_fold(void)
{
    enum { B = 2, C = 3, S = 6, OC = 5 };
    const InceptionKernel k = {3, 3, 1, 1, 1, 1};
    float in[B * C * S * S], w[OC * C * 9], wf[OC * C * 9], bf[OC], conv[B * OC * S * S],
        folded[B * OC * S * S], want[B * OC * S * S];
    float gamma[OC], beta[OC], mean[OC], var[OC];
    test_fill_uniform(in, sizeof in / sizeof *in, -1, 1, 31);
    test_fill_uniform(w, sizeof w / sizeof *w, -0.5f, 0.5f, 32);
    test_fill_uniform(gamma, OC, 0.5f, 1.5f, 33);
    test_fill_uniform(beta, OC, -0.5f, 0.5f, 34);
    test_fill_uniform(mean, OC, -0.3f, 0.3f, 35);
    test_fill_uniform(var, OC, 0.2f, 2.0f, 36);
    inception_conv_forward_ref(conv, in, w, NULL, B, C, S, S, OC, k);
    for (int n = 0; n < B; n++)
        for (int o = 0; o < OC; o++)
            for (int p = 0; p < S * S; p++) {
                const size_t i = ((size_t)n * OC + o) * S * S + p;
                want[i] = (float)((conv[i] - mean[o]) / sqrt((double)var[o] + 1e-3) * gamma[o] +
                                  beta[o]);
            }
    memcpy(wf, w, sizeof w);
    const int bad = inception_fold_bn(wf, bf, gamma, beta, mean, var, OC, C * 9, 1e-3);
    inception_conv_forward_ref(folded, in, wf, bf, B, C, S, S, OC, k);
    check(bad < 0, "fold_bn accepts good statistics");
    check_close("conv with folded BN = BN(conv)", folded, want, B * OC * S * S,
                1e-6 * max_abs(want, B * OC * S * S), 0);
    var[2] = -0.5f;
    memcpy(wf, w, sizeof w);
    check(inception_fold_bn(wf, bf, gamma, beta, mean, var, OC, C * 9, 1e-3) == 2,
          "fold_bn rejects running_var + eps <= 0 (names channel 2)");
}

/* ---------------------------------------------------------------- the network */
static void test_table(Inception *net)
{
    const int nt = inception_num_tensors(net);
    const TensorInfo *t0 = inception_tensor(net, 0), *tl = inception_tensor(net, nt - 1);
    const TensorInfo *t7 = inception_find_tensor(net, "Mixed_6b.branch7x7_2.conv.weight");
    check(nt == 470 && inception_num_params(net) == 21820000 &&
              strcmp(t0->name, "Conv2d_1a_3x3.conv.weight") == 0 && t0->shape[0] == 32 &&
              t0->shape[1] == 3 && strcmp(tl->name, "Mixed_7c.branch_pool.bn.running_var") == 0 &&
              t7 && t7->shape[0] == 128 && t7->shape[2] == 1 && t7->shape[3] == 7 &&
              tl->offset + tl->size == inception_num_params(net),
          "tensor table: %d tensors, %zu floats (PyTorch: 470, 21820000), first %s, last %s",
          nt, inception_num_params(net), t0->name, tl->name);
}

/* synthetic weights with activations of order one: He-uniform convs, BN identity-ish */
static void fill_synthetic(Inception *net)
{
    float *p = inception_params(net);
    const int nt = inception_num_tensors(net);
    for (int i = 0; i < nt; i++) {
        const TensorInfo *t = inception_tensor(net, i);
        float *x = p + t->offset;
        const char *sfx = strrchr(t->name, '.') + 1;
        if (strcmp(sfx, "weight") == 0 && t->ndim == 4) {
            const double fan_in = (double)t->size / t->shape[0], a = sqrt(6.0 / fan_in);
            test_fill_uniform(x, t->size, (float)-a, (float)a, 100 + i);
        } else if (strcmp(sfx, "weight") == 0) {
            test_fill_uniform(x, t->size, 0.8f, 1.2f, 100 + i);
        } else if (strcmp(sfx, "bias") == 0 || strcmp(sfx, "running_mean") == 0) {
            test_fill_uniform(x, t->size, -0.1f, 0.1f, 100 + i);
        } else {
            test_fill_uniform(x, t->size, 0.8f, 1.25f, 100 + i);
        }
    }
}

static void test_network(void)
{
    Inception *net = inception_create();
    test_table(net);
    fill_synthetic(net);
    inception_prepare(net, "synthetic");

    enum { S = 32, D = INCEPTION_DIM };
    uint8_t img[2 * S * S], rgb[3 * S * S];
    float u[2 * S * S];
    test_fill_uniform(u, 2 * S * S, 0, 256, 41);
    for (int i = 0; i < 2 * S * S; i++) img[i] = (uint8_t)(u[i] >= 255.5f ? 255 : (int)u[i]);
    for (int c = 0; c < 3; c++) memcpy(rgb + c * S * S, img + S * S, S * S); /* image 1 */

    float *f2 = xalloc_floats(2 * D), *f1 = xalloc_floats(2 * D), *frgb = xalloc_floats(D);
    double t0 = ddm_now();
    inception_features(net, f2, img, 2, 1, S, S);
    const double per_image = (ddm_now() - t0) / 2;
    inception_set_max_batch(net, 1); /* the same 2 images in two passes of 1 */
    inception_features(net, f1, img, 2, 1, S, S);
    inception_set_max_batch(net, INCEPTION_MAX_BATCH);
    inception_features(net, frgb, rgb, 1, 3, S, S);

    int finite = 1, nonneg = 1, nonzero = 0;
    for (int i = 0; i < 2 * D; i++) {
        finite &= isfinite(f2[i]) != 0;
        nonneg &= f2[i] >= 0;
        nonzero += f2[i] > 0;
    }
    check(finite && nonneg && nonzero > D / 4,
          "synthetic weights: 2 gray 32x32 -> (2,2048) finite, >= 0 (ReLU then mean), %d > 0, "
          "max %.4g; %.2f s per image", nonzero, max_abs(f2, 2 * D), per_image);
    check_close("batch invariance: 2 images in passes of 1 = in one pass of 2", f1, f2, 2 * D,
                1e-5 * max_abs(f2, 2 * D), 1e-5);
    check(memcmp(f1 + D, frgb, sizeof(float) * D) == 0,
          "gray image = the same image as 3 equal RGB channels (bit for bit)");
    int differ = 0;
    for (int i = 0; i < D; i++) differ += f2[i] != f2[D + i];
    check(differ > D / 4, "two different images give different features (%d of 2048 differ)",
          differ);
    free(f2);
    free(f1);
    free(frgb);
    inception_free(net);
}

/* ---------------------------------------------------------------- against PyTorch */
static int read_u8(hid_t f, const char *name, uint8_t *x)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return 0;
    herr_t e = H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    return e >= 0;
}

static void test_reference(const char *weights, const char *refpath)
{
    double t0 = ddm_now();
    Inception *net = inception_load(weights);
    printf("loaded %s in %.2f s\n", weights, ddm_now() - t0);
    char *src = inception_load_source(weights);
    check(src != NULL, "weights file has a source attribute: %s", src ? src : "(none)");
    free(src);
    hid_t f = h5_open(refpath, H5F_ACC_RDONLY, H5P_DEFAULT);
    int ncase = 0, nimg = 0;
    double t_all = 0;
    for (int k = 0;; k++) {
        char g[64], name[96];
        snprintf(g, sizeof g, "case%d", k);
        if (!h5_exists(f, g)) break;
        hsize_t dims[8];
        snprintf(name, sizeof name, "%s/images", g);
        DDM_ASSERT(h5_shape(f, name, dims) == 4, "%s: %s is not 4-d", refpath, name);
        const int B = (int)dims[0], C = (int)dims[1], H = (int)dims[2], W = (int)dims[3];
        uint8_t *img = xmalloc((size_t)B * C * H * W);
        DDM_ASSERT(read_u8(f, name, img), "%s: cannot read %s", refpath, name);
        double *ref = xmalloc(sizeof(double) * B * INCEPTION_DIM);
        float *ref32 = xalloc_floats((size_t)B * INCEPTION_DIM);
        memset(ref32, 0, sizeof(float) * B * INCEPTION_DIM);
        const hsize_t fd[2] = {(hsize_t)B, INCEPTION_DIM};
        snprintf(name, sizeof name, "%s/features", g);
        h5_read_f64(f, refpath, name, ref, 2, fd);
        snprintf(name, sizeof name, "%s/features_f32", g);
        const int have32 = h5_exists(f, name);
        if (have32) h5_read_f32(f, refpath, name, ref32, 2, fd);

        float *feat = xalloc_floats((size_t)B * INCEPTION_DIM);
        const double t = ddm_now();
        inception_features(net, feat, img, B, C, H, W);
        const double dt = ddm_now() - t;
        t_all += dt;
        nimg += B;
        const size_t n = (size_t)B * INCEPTION_DIM;
        double *fd64 = xmalloc(sizeof(double) * n), *t32 = xmalloc(sizeof(double) * n);
        for (size_t i = 0; i < n; i++) {
            fd64[i] = feat[i];
            t32[i] = ref32[i];
        }
        const double m = max_abs_d(ref, n);
        char what[160];
        snprintf(what, sizeof what,
                 "%s: %d x %dx%dx%d -> features = PyTorch float64 (max|ref| %.4g, %.2f s/image)",
                 g, B, C, H, W, m, dt / B);
        check_close_d(what, fd64, ref, n, 2e-4 * m, 1e-3);
        /* context, not a check: how far PyTorch's own float32 run is from float64 */
        double e32 = 0, ec = 0;
        for (size_t i = 0; i < n; i++) {
            if (have32 && fabs(t32[i] - ref[i]) > e32) e32 = fabs(t32[i] - ref[i]);
            if (fabs(fd64[i] - ref[i]) > ec) ec = fabs(fd64[i] - ref[i]);
        }
        if (have32)
            printf("     %s: max|C - f64| = %.3g (%.2g of max|ref|), max|torch f32 - f64| = "
                   "%.3g (%.2g)\n", g, ec, ec / m, e32, e32 / m);
        else
            printf("     %s: max|C - f64| = %.3g (%.2g of max|ref|)\n", g, ec, ec / m);
        free(img);
        free(ref);
        free(ref32);
        free(feat);
        free(fd64);
        free(t32);
        ncase++;
    }
    h5_close(f);
    check(ncase > 0, "%s: %d reference cases, %d images, %.2f s per image (299x299 forward)",
          refpath, ncase, nimg, nimg ? t_all / nimg : 0.0);
    inception_free(net);
}

int main(int argc, char **argv)
{
    ddm_set_threads(0);
    h5_quiet();
    if (argc == 3 && strcmp(argv[1], "--load") == 0) {
        Inception *net = inception_load(argv[2]);
        printf("loaded %s: %zu floats\n", argv[2], inception_num_params(net));
        inception_free(net);
        return 0;
    }
    if (argc == 3) {
        test_reference(argv[1], argv[2]);
        return test_summary();
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [WEIGHTS.h5 REF.h5 | --load WEIGHTS.h5]\n", argv[0]);
        return 2;
    }
    test_resize();
    test_pools();
    test_conv();
    test_fold();
    test_network();
    return test_summary();
}
