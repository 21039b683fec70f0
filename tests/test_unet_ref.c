/* The U-Net against its PyTorch reference (tests/ref/make_unet_ref.py, unet_ref.py):
 * parameter count and names, output, loss, d loss/d x and every parameter gradient, for the
 * default config, a class-conditional one and an SR3 one (a condition channel concatenated
 * to the input); inference net == training net; three AdamW
 * steps against torch.optim.AdamW; a finite-difference check of the whole net on a tiny
 * config (with dropout on), also with a condition channel. Run from the repo root.
 *
 *   bin/tests/test_unet_ref            the checks
 *   bin/tests/test_unet_ref --bench    also: memory of a training net at B=64 and an
 *                                      inference net at B=256, forward/backward ms at B=64
 *
 * The reference is computed in float64 from float32 weights and inputs and rounded once,
 * so the differences below are this code's float32 error alone.
 * B = batch, C = channels, S = image side.
 */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/unet.h"
#include "tests/testlib.h"

#define REF_UNCOND "tests/ref/unet_ref.h5"
#define REF_COND "tests/ref/unet_ref_cond.h5"
#define REF_SR3 "tests/ref/unet_ref_sr3.h5"
#define REF_POOL "tests/ref/unet_ref_pool.h5"

/* ---- HDF5 reading (C API, serial) */

static void h5ok(long long rc, const char *what, const char *path)
{
    if (rc < 0) ddm_die("%s: HDF5 call failed: %s", path, what);
}

/* dataset name -> buf of n values of mem_type; its element count must be n.
 * Returns 0 when the dataset is absent. ndim/dims (may be NULL) receive the shape. */
static int h5_read(hid_t f, const char *path, const char *name, hid_t mem_type, void *buf,
                   size_t n, int *ndim, hsize_t dims[8])
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    h5ok(d, name, path);
    hid_t sp = H5Dget_space(d);
    h5ok(sp, "H5Dget_space", path);
    hsize_t dd[8];
    int nd = H5Sget_simple_extent_ndims(sp);
    DDM_ASSERT(nd >= 0 && nd <= 8, "%s: %s: bad rank", path, name);
    H5Sget_simple_extent_dims(sp, dd, NULL);
    size_t cnt = 1;
    for (int i = 0; i < nd; i++) cnt *= (size_t)dd[i];
    DDM_ASSERT(cnt == n, "%s: %s has %zu values, expected %zu", path, name, cnt, n);
    h5ok(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), name, path);
    if (ndim) *ndim = nd;
    if (dims) memcpy(dims, dd, sizeof(hsize_t) * (size_t)nd);
    H5Sclose(sp);
    H5Dclose(d);
    return 1;
}

/* shape of a dataset, -1 when absent */
static int h5_dims(hid_t f, const char *name, hsize_t dims[8])
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return nd;
}

/* integer (or integer array) attribute of the file; returns its element count */
static int h5_attr_ints(hid_t f, const char *path, const char *name, int64_t *v, int max)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    h5ok(a, name, path);
    hid_t sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    DDM_ASSERT(n >= 0 && n <= max, "%s: attribute %s has %lld values", path, name,
               (long long)n);
    h5ok(H5Aread(a, H5T_NATIVE_INT64, v), name, path);
    H5Sclose(sp);
    H5Aclose(a);
    return (int)n;
}

static double h5_attr_double(hid_t f, const char *path, const char *name)
{
    double v;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    h5ok(a, name, path);
    h5ok(H5Aread(a, H5T_NATIVE_DOUBLE, &v), name, path);
    H5Aclose(a);
    return v;
}

static int64_t h5_attr_int(hid_t f, const char *path, const char *name)
{
    int64_t v;
    h5_attr_ints(f, path, name, &v, 1);
    return v;
}

static void read_config(hid_t f, const char *path, UNetConfig *c)
{
    int64_t v[UNET_MAX_LEVELS];
    memset(c, 0, sizeof *c);
    c->ch = (int)h5_attr_int(f, path, "ch");
    c->n_levels = h5_attr_ints(f, path, "ch_mult", v, UNET_MAX_LEVELS);
    for (int i = 0; i < c->n_levels; i++) c->ch_mult[i] = (int)v[i];
    c->num_res_blocks = (int)h5_attr_int(f, path, "num_res_blocks");
    c->n_attn = h5_attr_ints(f, path, "attn_resolutions", v, UNET_MAX_LEVELS);
    for (int i = 0; i < c->n_attn; i++) c->attn_res[i] = (int)v[i];
    c->groups = (int)h5_attr_int(f, path, "groups");
    c->dropout = (float)h5_attr_double(f, path, "dropout");
    c->num_classes = (int)h5_attr_int(f, path, "num_classes");
    c->image_size = (int)h5_attr_int(f, path, "image_size");
    c->in_ch = (int)h5_attr_int(f, path, "in_ch");
    c->out_ch = (int)h5_attr_int(f, path, "out_ch");
    c->cond_ch = H5Aexists(f, "cond_ch") > 0 ? (int)h5_attr_int(f, path, "cond_ch") : 0;
    c->head = H5Aexists(f, "head") > 0 ? (int)h5_attr_int(f, path, "head") : UNET_HEAD_IMAGE;
}

static int group_size(hid_t f, const char *name)
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
    hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
    H5G_info_t info;
    H5Gget_info(g, &info);
    H5Gclose(g);
    return (int)info.nlinks;
}

/* Reads group/<tensor name> for every tensor of net into a block of the net's layout.
 * Checks each exists with the tensor's shape, and (check_index) that its `index`
 * attribute is the tensor's position. Returns the number of mismatches. */
static int read_block(hid_t f, const char *path, const char *group, const UNet *net,
                      float *block, int check_index)
{
    int bad = 0;
    char name[160];
    for (int i = 0; i < unet_num_tensors(net); i++) {
        const UNetTensor *t = unet_tensor(net, i);
        snprintf(name, sizeof name, "%s/%s", group, t->name);
        hsize_t dims[8];
        int nd = h5_dims(f, name, dims);
        int same = nd == t->ndim;
        for (int k = 0; same && k < nd; k++) same = dims[k] == (hsize_t)t->shape[k];
        if (!same) {
            if (bad++ < 5)
                printf("     %s: %s\n", name, nd < 0 ? "missing" : "shape differs");
            continue;
        }
        h5_read(f, path, name, H5T_NATIVE_FLOAT, block + t->offset, t->size, NULL, NULL);
        if (check_index) {
            hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
            hid_t a = H5Aopen(d, "index", H5P_DEFAULT);
            int64_t idx = -1;
            if (a >= 0) {
                H5Aread(a, H5T_NATIVE_INT64, &idx);
                H5Aclose(a);
            }
            H5Dclose(d);
            if (idx != i && bad++ < 5)
                printf("     %s: PyTorch index %lld, here %d\n", name, (long long)idx, i);
        }
    }
    return bad;
}

static float max_abs(const float *x, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

/* ---- the reference cases */

typedef struct {
    double out_atol, out_rtol;     /* output */
    double grad_frac, grad_rtol;   /* grads: atol = grad_frac * max|ref| of the tensor */
    double grad_floor;             /*   + grad_floor * max|ref| over all gradients */
} Tol;

static void ref_case(const char *path, const char *label, const Tol *tol, int adamw)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        check(0, "%s: cannot open %s (run from the repo root)", label, path);
        return;
    }
    UNetConfig cfg;
    read_config(f, path, &cfg);
    const int B = (int)h5_attr_int(f, path, "batch");
    const int64_t np_ref = h5_attr_int(f, path, "num_params");
    const int S = cfg.image_size;
    const size_t nx = (size_t)B * (cfg.in_ch + cfg.cond_ch) * S * S;
    const size_t per_out = cfg.head == UNET_HEAD_POOL ? (size_t)cfg.out_ch
                                                      : (size_t)cfg.out_ch * S * S;
    const size_t ny = (size_t)B * per_out;

    UNet *net = unet_init(&cfg, B, 1);
    const size_t np = unet_num_params(net);
    check((int64_t)np == np_ref, "%s: %zu parameters, PyTorch %lld", label, np,
          (long long)np_ref);
    int n_h5 = group_size(f, "params");
    check(n_h5 == unet_num_tensors(net), "%s: %d tensors, PyTorch %d", label,
          unet_num_tensors(net), n_h5);
    int bad = read_block(f, path, "params", net, unet_params(net), 1);
    check(bad == 0, "%s: every tensor name, shape and position matches PyTorch's "
          "named_parameters() (%d mismatches)", label, bad);

    float *x = xmalloc(sizeof(float) * nx), *gx_ref = xmalloc(sizeof(float) * nx);
    float *target = xmalloc(sizeof(float) * ny), *out_ref = xmalloc(sizeof(float) * ny);
    float *out = xmalloc(sizeof(float) * ny), *dout = xmalloc(sizeof(float) * ny);
    float *dx = xcalloc(nx, sizeof(float)), *t = xmalloc(sizeof(float) * (size_t)B);
    int *labels = NULL;
    double loss_ref;
    h5_read(f, path, "x", H5T_NATIVE_FLOAT, x, nx, NULL, NULL);
    h5_read(f, path, "t", H5T_NATIVE_FLOAT, t, (size_t)B, NULL, NULL);
    h5_read(f, path, "target", H5T_NATIVE_FLOAT, target, ny, NULL, NULL);
    h5_read(f, path, "out", H5T_NATIVE_FLOAT, out_ref, ny, NULL, NULL);
    h5_read(f, path, "grad_x", H5T_NATIVE_FLOAT, gx_ref, nx, NULL, NULL);
    h5_read(f, path, "loss", H5T_NATIVE_DOUBLE, &loss_ref, 1, NULL, NULL);
    if (cfg.num_classes > 0) {
        labels = xmalloc(sizeof(int) * (size_t)B);
        DDM_ASSERT(h5_read(f, path, "labels", H5T_NATIVE_INT, labels, (size_t)B, NULL, NULL),
                   "%s: no /labels", path);
    }

    unet_zero_grad(net);
    unet_forward(net, out, x, t, labels, B, 1, 0);
    char what[200];
    snprintf(what, sizeof what, "%s: output", label);
    check_close(what, out, out_ref, ny, tol->out_atol, tol->out_rtol);
    double loss = 0;
    for (size_t i = 0; i < ny; i++) {
        double d = (double)out[i] - target[i];
        loss += d * d;
        dout[i] = (float)(2.0 * d / (double)ny);
    }
    loss /= (double)ny;
    check(fabs(loss - loss_ref) <= 1e-5 * fabs(loss_ref),
          "%s: loss %.8f, PyTorch %.8f (rtol 1e-5)", label, loss, loss_ref);

    unet_backward(net, dx, dout);
    snprintf(what, sizeof what, "%s: d loss/d x", label);
    check_close(what, dx, gx_ref, nx, tol->grad_frac * max_abs(gx_ref, nx), tol->grad_rtol);

    float *g_ref = xmalloc(sizeof(float) * np);
    bad = read_block(f, path, "grads", net, g_ref, 0);
    check(bad == 0, "%s: a reference gradient for every tensor (%d missing)", label, bad);
    const float *g = unet_grads(net);
    const double floor = tol->grad_floor * max_abs(g_ref, np);
    int n_ok = 0;
    for (int i = 0; i < unet_num_tensors(net); i++) {
        const UNetTensor *tt = unet_tensor(net, i);
        const float *r = g_ref + tt->offset;
        snprintf(what, sizeof what, "%s: grad %s", label, tt->name);
        n_ok += check_close(what, g + tt->offset, r, tt->size,
                            tol->grad_frac * max_abs(r, tt->size) + floor, tol->grad_rtol);
    }
    printf("     %s: %d of %d parameter gradients within tolerance\n", label, n_ok,
           unet_num_tensors(net));

    /* an inference net (other memory plan, activations reused) computes the same */
    {
        UNet *inf = unet_init(&cfg, B, 0);
        memcpy(unet_params(inf), unet_params(net), sizeof(float) * np);
        float *out2 = xmalloc(sizeof(float) * ny);
        unet_forward(inf, out2, x, t, labels, B, 0, 0);
        snprintf(what, sizeof what, "%s: inference net output == training net output", label);
        check_close(what, out2, out, ny, 0, 0);
        /* a larger net at a smaller batch: rows do not depend on the batch around them */
        UNet *big = unet_init(&cfg, B + 3, 0);
        memcpy(unet_params(big), unet_params(net), sizeof(float) * np);
        unet_forward(big, out2, x + (size_t)(cfg.in_ch + cfg.cond_ch) * S * S, t + 1,
                     labels ? labels + 1 : NULL, B - 1, 0, 0);
        snprintf(what, sizeof what, "%s: images 1..B-1 alone (net sized for B+3) == in the batch",
                 label);
        check_close(what, out2, out + per_out, ny - per_out,
                    tol->out_atol, tol->out_rtol); /* GEMM blocking follows the batch */
        unet_free(big);
        unet_free(inf);
        free(out2);
    }

    if (adamw) {
        /* 3 steps of adamw_step, each with the reference gradient, from the reference params */
        float *p = xmalloc(sizeof(float) * np), *p_ref = xmalloc(sizeof(float) * np);
        float *m = xcalloc(np, sizeof(float)), *v = xcalloc(np, sizeof(float));
        memcpy(p, unet_params(net), sizeof(float) * np);
        bad = read_block(f, path, "adamw/step3", net, p_ref, 0);
        check(bad == 0, "%s: AdamW reference for every tensor", label);
        AdamW opt = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                     .weight_decay = 0.01f};
        for (long step = 1; step <= 3; step++) adamw_step(p, g_ref, m, v, np, step, &opt);
        snprintf(what, sizeof what, "%s: 3 AdamW steps == torch.optim.AdamW (all params)", label);
        check_close(what, p, p_ref, np, 1e-6, 1e-6);
        free(p);
        free(p_ref);
        free(m);
        free(v);
    }

    free(g_ref);
    free(x);
    free(gx_ref);
    free(target);
    free(out_ref);
    free(out);
    free(dout);
    free(dx);
    free(t);
    free(labels);
    unet_free(net);
    H5Fclose(f);
}

/* ---- finite differences on a tiny config, dropout on (fixed mask per seed) */

static double fd_loss(UNet *net, float *out, const float *x, const float *t, const int *lab,
                      const float *r, int B, size_t ny)
{
    unet_forward(net, out, x, t, lab, B, 1, 99);
    double s = 0;
    for (size_t i = 0; i < ny; i++) s += (double)out[i] * r[i];
    return s;
}

/* cond_ch > 0: an SR3 input, the coordinates checked in the condition channels.
 * pool: the classifier head (UNET_HEAD_POOL, 5 logits, no labels). */
static void fd_case(int cond_ch, int pool)
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
    c.dropout = 0.1f;
    c.num_classes = 3;
    c.image_size = 8;
    c.in_ch = 2;
    c.out_ch = 2;
    c.cond_ch = cond_ch;
    if (pool) {
        c.head = UNET_HEAD_POOL;
        c.num_classes = 0;
        c.out_ch = 5;
    }
    const int B = 2, S = c.image_size, cin = c.in_ch + c.cond_ch;
    const size_t per_out = pool ? (size_t)c.out_ch : (size_t)c.out_ch * S * S;
    const size_t nx = (size_t)B * cin * S * S, ny = (size_t)B * per_out;
    const char *what_net = pool ? " (pooled classifier head, 5 logits)"
                           : cond_ch ? " + 1 condition channel" : "";
    UNet *net = unet_init(&c, B, 1);
    unet_init_weights(net, 5);
    float *x = xmalloc(sizeof(float) * nx), *r = xmalloc(sizeof(float) * ny);
    float *out = xmalloc(sizeof(float) * ny), *dx = xcalloc(nx, sizeof(float));
    float t[2] = {3.0f, 700.0f};
    int lab2[2] = {1, 3};
    const int *lab = pool ? NULL : lab2;
    test_fill_uniform(x, nx, -1.5f, 1.5f, 11);
    test_fill_uniform(r, ny, -1.0f, 1.0f, 12);

    /* L = sum(out * r): dout = r */
    unet_zero_grad(net);
    fd_loss(net, out, x, t, lab, r, B, ny);
    unet_backward(net, dx, r);

    /* float32 forward, h = 1e-2: rounding noise ~1e-6/2h ~ 1e-4 and truncation ~h^2 ~ 1e-4
     * times the third derivative, so the tolerance is loose: |fd - an| <= 3e-3 + 3e-2 |an| */
    const float h = 1e-2f;
    const double atol = 3e-3, rtol = 3e-2;
    const int n_pick = 8;
    double worst = 0;
    int ok = 1;
    for (int k = 0; k < n_pick; k++) {
        size_t i = ((size_t)k * 2654435761u) % nx;
        if (cond_ch > 0) { /* the same pixel in a condition channel of its image */
            const size_t hw = (size_t)S * S, per = (size_t)cin * hw;
            i = (i / per) * per + ((size_t)c.in_ch + (size_t)k % (size_t)cond_ch) * hw + i % hw;
        }
        float keep = x[i];
        x[i] = keep + h;
        double lp = fd_loss(net, out, x, t, lab, r, B, ny);
        x[i] = keep - h;
        double lm = fd_loss(net, out, x, t, lab, r, B, ny);
        x[i] = keep;
        double fd = (lp - lm) / (2.0 * h), an = dx[i];
        double ex = fabs(fd - an) - (atol + rtol * fabs(an));
        if (ex > 0) ok = 0;
        if (fabs(fd - an) > worst) worst = fabs(fd - an);
        printf("     fd dx[%zu]: finite difference %.6f, backward %.6f\n", i, fd, an);
    }
    check(ok, "tiny U-Net (dropout 0.1, %s, 2 channels%s): d/dx at %d coordinates%s vs "
          "central differences (h=1e-2, float32): max|diff| %.2g (atol %.0g rtol %.0g)",
          pool ? "no classes" : "3 classes", what_net, n_pick,
          cond_ch ? " of the condition channel" : "", worst, atol, rtol);

    /* a few parameters: one coordinate in tensors of every kind */
    const char *names_unet[] = {"temb.dense.0.weight", "label_emb.weight", "conv_in.weight",
                                "down.0.block.0.norm1.weight",
                                "down.1.block.0.nin_shortcut.weight", "down.1.attn.0.q.weight",
                                "mid.attn_1.proj_out.bias", "up.1.upsample.conv.weight",
                                "up.0.block.1.temb_proj.weight", "norm_out.bias",
                                "conv_out.weight"};
    const char *names_pool[] = {"temb.dense.0.weight", "conv_in.weight",
                                "down.0.block.0.norm1.weight",
                                "down.0.downsample.conv.weight",
                                "down.1.block.0.nin_shortcut.weight", "down.1.attn.0.q.weight",
                                "mid.block_2.temb_proj.weight", "mid.attn_1.proj_out.bias",
                                "norm_out.weight", "head.weight", "head.bias"};
    const char **names = pool ? names_pool : names_unet;
    const int n_names = 11;
    float *p = unet_params(net);
    const float *g = unet_grads(net);
    ok = 1;
    worst = 0;
    for (int k = 0; k < n_names; k++) {
        const UNetTensor *tt = unet_find_tensor(net, names[k]);
        if (!tt) {
            printf("     no tensor %s\n", names[k]);
            ok = 0;
            continue;
        }
        size_t i = tt->offset + ((size_t)k * 40503u) % tt->size;
        float keep = p[i];
        p[i] = keep + h;
        double lp = fd_loss(net, out, x, t, lab, r, B, ny);
        p[i] = keep - h;
        double lm = fd_loss(net, out, x, t, lab, r, B, ny);
        p[i] = keep;
        double fd = (lp - lm) / (2.0 * h), an = g[i];
        double ex = fabs(fd - an) - (atol + rtol * fabs(an));
        if (ex > 0) ok = 0;
        if (fabs(fd - an) > worst) worst = fabs(fd - an);
        printf("     fd %s[%zu]: finite difference %.6f, backward %.6f\n", names[k],
               i - tt->offset, fd, an);
    }
    check(ok, "tiny U-Net%s: d/dparam at %d tensors of every kind vs central differences: "
          "max|diff| %.2g", what_net, n_names, worst);

    /* dropout: the same seed gives the same output, another seed another one */
    {
        float *o1 = xmalloc(sizeof(float) * ny), *o2 = xmalloc(sizeof(float) * ny);
        unet_forward(net, o1, x, t, lab, B, 1, 7);
        unet_forward(net, o2, x, t, lab, B, 1, 7);
        int same = memcmp(o1, o2, sizeof(float) * ny) == 0;
        unet_forward(net, o2, x, t, lab, B, 1, 8);
        int differ = memcmp(o1, o2, sizeof(float) * ny) != 0;
        unet_forward(net, o2, x, t, lab, B, 0, 8);
        UNet *inf = unet_init(&c, B, 0);
        memcpy(unet_params(inf), p, sizeof(float) * unet_num_params(net));
        unet_forward(inf, o1, x, t, lab, B, 0, 0);
        check(same && differ && memcmp(o1, o2, sizeof(float) * ny) == 0,
              "dropout: same seed same output, new seed new output; training=0 on a "
              "training net == inference net");
        unet_free(inf);
        free(o1);
        free(o2);
    }
    free(x);
    free(r);
    free(out);
    free(dx);
    unet_free(net);

    /* an inference net walks a batch above 32 in chunks: 37 = 32 + 5 */
    {
        const int BB = 37;
        const size_t mx = (size_t)BB * cin * S * S, my = (size_t)BB * per_out;
        UNet *tr = unet_init(&c, BB, 1), *inf = unet_init(&c, BB, 0);
        unet_init_weights(tr, 6);
        memcpy(unet_params(inf), unet_params(tr), sizeof(float) * unet_num_params(tr));
        float *xx = xmalloc(sizeof(float) * mx), *o1 = xmalloc(sizeof(float) * my);
        float *o2 = xmalloc(sizeof(float) * my), tt[37];
        int ll[37];
        test_fill_uniform(xx, mx, -1, 1, 13);
        for (int b = 0; b < BB; b++) {
            tt[b] = (float)(b * 27);
            ll[b] = b % 4;
        }
        unet_forward(tr, o1, xx, tt, pool ? NULL : ll, BB, 0, 0);
        unet_forward(inf, o2, xx, tt, pool ? NULL : ll, BB, 0, 0);
        check_close("inference net, B=37 in chunks (32+5) == training net in one walk", o2, o1, my,
                    1e-5, 1e-4);
        free(xx);
        free(o1);
        free(o2);
        unet_free(tr);
        unet_free(inf);
    }
}

/* ---- default config: count, names, init, memory */

static void default_checks(void)
{
    UNetConfig c;
    unet_config_default(&c);
    check(unet_config_check(&c) == NULL, "default config is valid");
    UNet *net = unet_init(&c, 2, 1);
    check(unet_num_params(net) == 1623169, "default config: %zu parameters (DESIGN.md: 1,623,169)",
          unet_num_params(net));
    const UNetTensor *t = unet_find_tensor(net, "up.2.upsample.conv.weight");
    const UNetTensor *last = unet_tensor(net, unet_num_tensors(net) - 1);
    check(t && t->shape[0] == 64 && t->shape[1] == 64 && !unet_find_tensor(net, "up.0.upsample.conv.weight") &&
          strcmp(last->name, "conv_out.bias") == 0 && last->offset + last->size == unet_num_params(net),
          "default config: up modules indexed by level, conv_out.bias last, block contiguous");

    unet_init_weights(net, 1);
    const float *p = unet_params(net);
    const UNetTensor *w = unet_find_tensor(net, "down.1.block.0.conv1.weight"); /* fan_in 288 */
    const UNetTensor *gw = unet_find_tensor(net, "mid.attn_1.norm.weight");
    const UNetTensor *gb = unet_find_tensor(net, "mid.attn_1.norm.bias");
    double bound = 1.0 / sqrt(32.0 * 9.0), mx = 0, mean = 0, var = 0;
    for (size_t i = 0; i < w->size; i++) {
        double v = p[w->offset + i];
        mx = fabs(v) > mx ? fabs(v) : mx;
        mean += v;
        var += v * v;
    }
    mean /= (double)w->size;
    var = var / (double)w->size - mean * mean;
    int gn_ok = 1;
    for (size_t i = 0; i < gw->size; i++)
        gn_ok &= p[gw->offset + i] == 1.0f && p[gb->offset + i] == 0.0f;
    /* U(-b,b): max close to b, variance b^2/3 */
    check(mx <= bound && mx > 0.99 * bound && fabs(var / (bound * bound / 3.0) - 1.0) < 0.05 && gn_ok,
          "init: conv weight U(-1/sqrt(fan_in), +): max %.5f bound %.5f var ratio %.3f; "
          "GroupNorm 1/0", mx, bound, var / (bound * bound / 3.0));
    float *copy = xmalloc(sizeof(float) * unet_num_params(net));
    memcpy(copy, p, sizeof(float) * unet_num_params(net));
    unet_init_weights(net, 1);
    int same = memcmp(copy, p, sizeof(float) * unet_num_params(net)) == 0;
    unet_init_weights(net, 2);
    check(same && memcmp(copy, p, sizeof(float) * unet_num_params(net)) != 0,
          "init: same seed same weights, other seed other weights");
    free(copy);
    unet_free(net);

    /* sampling memory: an inference net at B=256 holds a chunk's activations only */
    {
        UNet *tr = unet_init(&c, 64, 1), *inf = unet_init(&c, 256, 0);
        double mt = unet_activation_bytes(tr) / 1e6, mi = unet_activation_bytes(inf) / 1e6;
        check(mi < 100.0, "memory: inference net B=256 %.1f MB (< 100), training net B=64 %.1f MB",
              mi, mt);
        unet_free(tr);
        unet_free(inf);
    }

    UNetConfig bad = c;
    bad.groups = 5;
    check(unet_config_check(&bad) != NULL, "config check rejects ch %% groups != 0 (\"%s\")",
          unet_config_check(&bad));
    bad = c;
    bad.image_size = 30;
    check(unet_config_check(&bad) != NULL, "config check rejects image 30 with 3 levels (\"%s\")",
          unet_config_check(&bad));
}

static void bench(void)
{
    UNetConfig c;
    unet_config_default(&c);
    UNet *tr = unet_init(&c, 64, 1);
    UNet *inf = unet_init(&c, 256, 0);
    printf("     memory: training net B=64: %.1f MB activations+scratch (+ %.1f MB params+grads)\n",
           unet_activation_bytes(tr) / 1e6, 8.0 * unet_num_params(tr) / 1e6);
    printf("     memory: inference net B=256: %.1f MB activations+scratch (+ %.1f MB params)\n",
           unet_activation_bytes(inf) / 1e6, 4.0 * unet_num_params(inf) / 1e6);
    unet_free(inf);

    const int B = 64, S = c.image_size;
    const size_t nx = (size_t)B * S * S;
    float *x = xmalloc(sizeof(float) * nx), *out = xmalloc(sizeof(float) * nx);
    float *dout = xmalloc(sizeof(float) * nx), t[64];
    test_fill_uniform(x, nx, -1, 1, 1);
    test_fill_uniform(dout, nx, -1e-3f, 1e-3f, 2);
    for (int b = 0; b < B; b++) t[b] = (float)(b * 15);
    unet_init_weights(tr, 3);
    unet_forward(tr, out, x, t, NULL, B, 1, 0); /* warm up */
    unet_backward(tr, NULL, dout);
    unet_timing_reset(tr);
    /* the fastest of 5: the least disturbed by whatever else runs on the machine */
    const int reps = 5;
    double tf = 1e30, tb = 1e30;
    for (int r = 0; r < reps; r++) {
        unet_zero_grad(tr);
        double t0 = ddm_now();
        unet_forward(tr, out, x, t, NULL, B, 1, 0);
        double t1 = ddm_now();
        unet_backward(tr, NULL, dout);
        double t2 = ddm_now();
        tf = t1 - t0 < tf ? t1 - t0 : tf;
        tb = t2 - t1 < tb ? t2 - t1 : tb;
    }
    printf("     time: B=64, %d threads: forward %.1f ms, backward %.1f ms (best of %d)\n",
           ddm_threads(), 1e3 * tf, 1e3 * tb, reps);
    const UNetTiming *rows;
    int n = unet_timing(tr, &rows);
    for (int i = 0; i < n; i++)
        printf("     %-10s fwd %7.1f ms  bwd %7.1f ms  %6.2f GFLOP/s (mean)\n", rows[i].kind,
               1e3 * rows[i].fwd_s / reps, 1e3 * rows[i].bwd_s / reps,
               rows[i].flops / (rows[i].fwd_s + rows[i].bwd_s + 1e-12) / 1e9);
    free(x);
    free(out);
    free(dout);
    unet_free(tr);
}

int main(int argc, char **argv)
{
    ddm_set_threads(0);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    default_checks();

    /* out: float32 vs exact, |out| ~ 0.1: atol 1e-5 rtol 1e-4 (seen: 1.3e-6).
     * grads: atol a fraction 1e-3 of the tensor's largest |ref| (small entries of a
     * gradient are sums of many cancelling terms, so a relative bound alone would be
     * meaningless for them; seen: <= 7.1e-5 of it) plus rtol 1e-3, plus a floor of 1e-7
     * of the largest gradient anywhere: the attention k biases have an exact gradient of
     * zero (softmax ignores a shift shared by a row), where float64 leaves 1e-20 and
     * float32 1e-11. */
    const Tol tol = {.out_atol = 1e-5, .out_rtol = 1e-4, .grad_frac = 1e-3, .grad_rtol = 1e-3,
                     .grad_floor = 1e-7};
    ref_case(REF_UNCOND, "default config B=2", &tol, 0);
    ref_case(REF_COND, "class-cond 16x16x3 B=4", &tol, 1);
    ref_case(REF_SR3, "SR3 16x16x1 + 1 condition channel B=3", &tol, 0);
    ref_case(REF_POOL, "noise-aware classifier (pooled head) 16x16x1, 10 logits, B=3", &tol, 0);
    fd_case(0, 0);
    fd_case(1, 0);
    fd_case(0, 1);
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) bench();
    return test_summary();
}
