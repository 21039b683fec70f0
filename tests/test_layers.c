/* Layers (core/layers.h): every backward against central finite differences, the fast
 * conv2d against the plain-loop reference, accumulation (+=) of every backward, dropout
 * reproducibility, group-norm statistics, the time embedding formula.
 *
 * Finite differences: L = sum(r * out) with a fixed random r, so dL/dout = r and the
 * analytic gradient is backward(dout = r). The forward runs in float and L is summed in
 * double; the FD quotient divides by the perturbation actually applied ((x+h) - (x-h) in
 * float). Two error sources set the tolerances:
 *  - float rounding of the outputs the perturbed input touches: ~6e-8 |out| each, adding
 *    up to ~1e-6 in L for our sizes (up to 144 outputs of magnitude ~2), divided by 2h;
 *  - truncation: h^2/6 L''' of the central difference, zero for layers linear in the
 *    perturbed input.
 * Linear-in-the-input layers (conv2d, linear, upsample, concat, dropout, add_channel,
 * embedding, attention in v; conv2d/linear also in w, b) use h = 5e-2: no truncation,
 * rounding noise ~1e-5 (worst seen 4e-5, a 16-channel conv): atol 2e-4, rtol 1e-3.
 * Nonlinear layers (groupnorm, SiLU, attention in q, k) use Richardson extrapolation,
 * (4 D(h/2) - D(h)) / 3, which cancels the h^2 term, so h can be 4e-2 and the noise
 * small (plain central differences with h = 1e-2 were off by up to 2e-4 on groupnorm's
 * 10-value groups; this is off by <= 3e-5): atol 2e-4, rtol 2e-3.
 * A missing or wrong term is of the size of the gradients themselves (1e-3 .. 1).
 *
 * B = batch, C = channels, OC = output channels, H, W = height, width, K = kernel size.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/layers.h"
#include "core/rng.h"
#include "tests/testlib.h"

#define H_LIN 5e-2
#define H_NONLIN 4e-2
#define ATOL_LIN 2e-4
#define RTOL_LIN 1e-3
#define ATOL_NONLIN 2e-4
#define RTOL_NONLIN 2e-3
/* at most this many FD points per tensor (evenly strided) to keep the test fast */
#define FD_MAX_POINTS 150

static unsigned long g_seed = 1000;

static float *fnew(size_t n)
{
    float *p = xalloc_floats(n ? n : 1);
    memset(p, 0, sizeof(float) * (n ? n : 1));
    return p;
}

static float *frand(size_t n, float lo, float hi)
{
    float *p = fnew(n);
    test_fill_uniform(p, n, lo, hi, g_seed++);
    return p;
}

static double dot_proj(const float *r, const float *out, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * out[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* central difference of loss wrt x[i] with step h */
static double central(loss_fn f, void *ctx, float *x, size_t i, double h)
{
    const float x0 = x[i];
    const float xp = (float)(x0 + h), xm = (float)(x0 - h);
    x[i] = xp;
    const double lp = f(ctx);
    x[i] = xm;
    const double lm = f(ctx);
    x[i] = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

enum { FD_LIN, FD_NONLIN };

/* FD of loss wrt x[0..n) at up to FD_MAX_POINTS points, compared with grad; step and
 * tolerances by kind (see the top of the file), Richardson extrapolation for FD_NONLIN */
static void fd_check(const char *what, loss_fn f, void *ctx, float *x, size_t n,
                     const float *grad, int kind)
{
    const double h = kind == FD_NONLIN ? H_NONLIN : H_LIN;
    const double atol = kind == FD_NONLIN ? ATOL_NONLIN : ATOL_LIN;
    const double rtol = kind == FD_NONLIN ? RTOL_NONLIN : RTOL_LIN;
    size_t step = n > FD_MAX_POINTS ? (n + FD_MAX_POINTS - 1) / FD_MAX_POINTS : 1;
    size_t m = 0;
    double *fd = malloc(sizeof(double) * (n / step + 1));
    double *an = malloc(sizeof(double) * (n / step + 1));
    for (size_t i = 0; i < n; i += step) {
        const double d1 = central(f, ctx, x, i, h);
        fd[m] = kind == FD_NONLIN ? (4.0 * central(f, ctx, x, i, 0.5 * h) - d1) / 3.0 : d1;
        an[m] = grad[i];
        m++;
    }
    char label[200];
    snprintf(label, sizeof label, "FD %s (%zu points)", what, m);
    check_close_d(label, an, fd, m, atol, rtol);
    free(fd);
    free(an);
}

static double max_abs(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* g2 == 2*g1: the second backward added the same gradient again. Not bit-exact: a GEMM
 * with beta = 1 (and the reference's += loops) round each partial sum against the
 * accumulator, so atol is 1e-5 of the tensor's largest value. */
static void check_twice(const char *what, const float *g2, const float *g1, size_t n)
{
    float *t = fnew(n);
    for (size_t i = 0; i < n; i++) t[i] = 2.0f * g1[i];
    char label[200];
    snprintf(label, sizeof label, "accumulates: %s twice = 2x once", what);
    check_close(label, g2, t, n, 1e-5 * max_abs(t, n) + 1e-12, 1e-5);
    free(t);
}

/* ================================================================ conv2d */

typedef struct {
    int B, C, H, W, OC, K, s, p, Ho, Wo;
    float *in, *w, *b, *out, *r, *scratch;
} ConvCtx;

static double conv_loss(void *vc)
{
    ConvCtx *c = vc;
    conv2d_forward(c->out, c->in, c->w, c->b, c->B, c->C, c->H, c->W, c->OC, c->K, c->s, c->p,
                   c->scratch);
    return dot_proj(c->r, c->out, (size_t)c->B * c->OC * c->Ho * c->Wo);
}

static void conv_setup(ConvCtx *c, int B, int C, int H, int W, int OC, int K, int s, int p)
{
    *c = (ConvCtx){B, C, H, W, OC, K, s, p, (H + 2 * p - K) / s + 1, (W + 2 * p - K) / s + 1,
                   NULL, NULL, NULL, NULL, NULL, NULL};
    size_t nin = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K;
    size_t nout = (size_t)B * OC * c->Ho * c->Wo;
    c->in = frand(nin, -1, 1);
    c->w = frand(nw, -0.5f, 0.5f);
    c->b = frand(OC, -0.5f, 0.5f);
    c->out = fnew(nout);
    c->r = frand(nout, -1, 1);
    c->scratch = fnew(conv2d_scratch_floats(B, C, H, W, OC, K, s, p));
}

static void conv_free(ConvCtx *c)
{
    free(c->in); free(c->w); free(c->b); free(c->out); free(c->r); free(c->scratch);
}

static void test_conv_fd(int B, int C, int H, int W, int OC, int K, int s, int p)
{
    ConvCtx c;
    conv_setup(&c, B, C, H, W, OC, K, s, p);
    size_t nin = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K;
    float *din = fnew(nin), *dw = fnew(nw), *db = fnew(OC);
    conv_loss(&c);
    conv2d_backward(din, dw, db, c.r, c.in, c.w, B, C, H, W, OC, K, s, p, c.scratch);
    char tag[160];
    snprintf(tag, sizeof tag, "conv2d B%d C%d %dx%d OC%d K%d s%d p%d", B, C, H, W, OC, K, s, p);
    char what[200];
    snprintf(what, sizeof what, "%s din", tag);
    fd_check(what, conv_loss, &c, c.in, nin, din, FD_LIN);
    snprintf(what, sizeof what, "%s dw", tag);
    fd_check(what, conv_loss, &c, c.w, nw, dw, FD_LIN);
    snprintf(what, sizeof what, "%s db", tag);
    fd_check(what, conv_loss, &c, c.b, OC, db, FD_LIN);
    free(din); free(dw); free(db);
    conv_free(&c);
}

/* fast vs reference: forward, every gradient, NULL gradients, accumulation.
 * Tolerance atol = 1e-4 of the largest |ref| (plus rtol 1e-4): the two sum the same
 * products in different orders (GEMM blocking, Winograd's transforms; the reference's
 * dw/din are plain float += loops), which measured ~1e-6 of that scale; a wrong index
 * or a missed tap gives errors of order 1. */
static void test_conv_vs_ref(int B, int C, int H, int W, int OC, int K, int s, int p)
{
    ConvCtx c;
    conv_setup(&c, B, C, H, W, OC, K, s, p);
    size_t nin = (size_t)B * C * H * W, nw = (size_t)OC * C * K * K;
    size_t nout = (size_t)B * OC * c.Ho * c.Wo;
    float *oref = fnew(nout);
    char tag[160], what[220];
    snprintf(tag, sizeof tag, "conv2d B%d C%d %dx%d OC%d K%d s%d p%d", B, C, H, W, OC, K, s, p);

    conv2d_forward_ref(oref, c.in, c.w, c.b, B, C, H, W, OC, K, s, p);
    conv2d_forward(c.out, c.in, c.w, c.b, B, C, H, W, OC, K, s, p, c.scratch);
    snprintf(what, sizeof what, "%s forward fast == ref", tag);
    check_close(what, c.out, oref, nout, 1e-4 * max_abs(oref, nout), 1e-4);
    conv2d_forward(c.out, c.in, c.w, NULL, B, C, H, W, OC, K, s, p, c.scratch);
    conv2d_forward_ref(oref, c.in, c.w, NULL, B, C, H, W, OC, K, s, p);
    snprintf(what, sizeof what, "%s forward without bias fast == ref", tag);
    check_close(what, c.out, oref, nout, 1e-4 * max_abs(oref, nout), 1e-4);

    float *din = fnew(nin), *dw = fnew(nw), *db = fnew(OC);
    float *rin = fnew(nin), *rw = fnew(nw), *rb = fnew(OC);
    conv2d_backward_ref(rin, rw, rb, c.r, c.in, c.w, B, C, H, W, OC, K, s, p);
    conv2d_backward(din, dw, db, c.r, c.in, c.w, B, C, H, W, OC, K, s, p, c.scratch);
    snprintf(what, sizeof what, "%s din fast == ref", tag);
    check_close(what, din, rin, nin, 1e-4 * max_abs(rin, nin), 1e-4);
    snprintf(what, sizeof what, "%s dw fast == ref", tag);
    check_close(what, dw, rw, nw, 1e-4 * max_abs(rw, nw), 1e-4);
    snprintf(what, sizeof what, "%s db fast == ref", tag);
    check_close(what, db, rb, OC, 1e-4 * max_abs(rb, OC), 1e-4);

    /* accumulation: a second call adds the same again (fast and ref) */
    float *din2 = fnew(nin), *dw2 = fnew(nw), *db2 = fnew(OC);
    memcpy(din2, din, sizeof(float) * nin);
    memcpy(dw2, dw, sizeof(float) * nw);
    memcpy(db2, db, sizeof(float) * OC);
    conv2d_backward(din2, dw2, db2, c.r, c.in, c.w, B, C, H, W, OC, K, s, p, c.scratch);
    snprintf(what, sizeof what, "%s din", tag);
    check_twice(what, din2, din, nin);
    snprintf(what, sizeof what, "%s dw", tag);
    check_twice(what, dw2, dw, nw);
    snprintf(what, sizeof what, "%s db", tag);
    check_twice(what, db2, db, OC);
    memcpy(din2, rin, sizeof(float) * nin);
    memcpy(dw2, rw, sizeof(float) * nw);
    memcpy(db2, rb, sizeof(float) * OC);
    conv2d_backward_ref(din2, dw2, db2, c.r, c.in, c.w, B, C, H, W, OC, K, s, p);
    snprintf(what, sizeof what, "%s ref din", tag);
    check_twice(what, din2, rin, nin);
    snprintf(what, sizeof what, "%s ref dw", tag);
    check_twice(what, dw2, rw, nw);
    snprintf(what, sizeof what, "%s ref db", tag);
    check_twice(what, db2, rb, OC);

    /* NULL gradients: each one alone equals its part of the full backward */
    memset(din2, 0, sizeof(float) * nin);
    memset(dw2, 0, sizeof(float) * nw);
    memset(db2, 0, sizeof(float) * OC);
    conv2d_backward(din2, NULL, NULL, c.r, c.in, c.w, B, C, H, W, OC, K, s, p, c.scratch);
    conv2d_backward(NULL, dw2, NULL, c.r, c.in, c.w, B, C, H, W, OC, K, s, p, c.scratch);
    conv2d_backward(NULL, NULL, db2, c.r, c.in, c.w, B, C, H, W, OC, K, s, p, c.scratch);
    int same = memcmp(din2, din, sizeof(float) * nin) == 0 &&
               memcmp(dw2, dw, sizeof(float) * nw) == 0 && memcmp(db2, db, sizeof(float) * OC) == 0;
    check(same, "%s din, dw, db each alone (others NULL) == full backward", tag);

    free(oref); free(din); free(dw); free(db); free(rin); free(rw); free(rb);
    free(din2); free(dw2); free(db2);
    conv_free(&c);
}

/* ================================================================ linear */

typedef struct {
    int B, IN, OUT;
    float *in, *w, *b, *out, *r;
} LinCtx;

static double lin_loss(void *vc)
{
    LinCtx *c = vc;
    linear_forward(c->out, c->in, c->w, c->b, c->B, c->IN, c->OUT);
    return dot_proj(c->r, c->out, (size_t)c->B * c->OUT);
}

static void test_linear(void)
{
    LinCtx c = {3, 7, 5, NULL, NULL, NULL, NULL, NULL};
    size_t nin = 21, nw = 35, nout = 15;
    c.in = frand(nin, -1, 1); c.w = frand(nw, -1, 1); c.b = frand(5, -1, 1);
    c.out = fnew(nout); c.r = frand(nout, -1, 1);
    /* forward against a direct double sum */
    lin_loss(&c);
    float *ref = fnew(nout);
    for (int i = 0; i < c.B; i++)
        for (int o = 0; o < c.OUT; o++) {
            double s = c.b[o];
            for (int j = 0; j < c.IN; j++) s += (double)c.in[i * c.IN + j] * c.w[o * c.IN + j];
            ref[i * c.OUT + o] = (float)s;
        }
    check_close("linear forward == direct sum", c.out, ref, nout, 1e-6, 1e-5);
    float *din = fnew(nin), *dw = fnew(nw), *db = fnew(5);
    linear_backward(din, dw, db, c.r, c.in, c.w, c.B, c.IN, c.OUT);
    fd_check("linear B3 IN7 OUT5 din", lin_loss, &c, c.in, nin, din, FD_LIN);
    fd_check("linear dw", lin_loss, &c, c.w, nw, dw, FD_LIN);
    fd_check("linear db", lin_loss, &c, c.b, 5, db, FD_LIN);
    float *din2 = fnew(nin), *dw2 = fnew(nw), *db2 = fnew(5);
    memcpy(din2, din, sizeof(float) * nin); memcpy(dw2, dw, sizeof(float) * nw);
    memcpy(db2, db, sizeof(float) * 5);
    linear_backward(din2, dw2, db2, c.r, c.in, c.w, c.B, c.IN, c.OUT);
    check_twice("linear din", din2, din, nin);
    check_twice("linear dw", dw2, dw, nw);
    check_twice("linear db", db2, db, 5);
    free(ref); free(din); free(dw); free(db); free(din2); free(dw2); free(db2);
    free(c.in); free(c.w); free(c.b); free(c.out); free(c.r);
}

/* ================================================================ group norm */

typedef struct {
    int B, C, HW, G, fused;
    float *in, *gamma, *beta, *out, *mean, *rstd, *r;
} GnCtx;

static double gn_loss(void *vc)
{
    GnCtx *c = vc;
    if (c->fused)
        groupnorm_silu_forward(c->out, c->mean, c->rstd, c->in, c->gamma, c->beta, c->B, c->C,
                               c->HW, c->G);
    else
        groupnorm_forward(c->out, c->mean, c->rstd, c->in, c->gamma, c->beta, c->B, c->C,
                          c->HW, c->G);
    return dot_proj(c->r, c->out, (size_t)c->B * c->C * c->HW);
}

static void gn_backward_any(const GnCtx *c, float *din, float *dg, float *dbt)
{
    if (c->fused)
        groupnorm_silu_backward(din, dg, dbt, c->r, c->in, c->mean, c->rstd, c->gamma, c->beta,
                                c->B, c->C, c->HW, c->G);
    else
        groupnorm_backward(din, dg, dbt, c->r, c->in, c->mean, c->rstd, c->gamma, c->B, c->C,
                           c->HW, c->G);
}

static void test_groupnorm_fd(int B, int C, int HW, int G, int fused)
{
    GnCtx c = {B, C, HW, G, fused, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = (size_t)B * C * HW;
    c.in = frand(n, -1, 1); c.gamma = frand(C, 0.5f, 1.5f); c.beta = frand(C, -0.5f, 0.5f);
    c.out = fnew(n); c.mean = fnew((size_t)B * G); c.rstd = fnew((size_t)B * G);
    c.r = frand(n, -1, 1);
    gn_loss(&c);
    float *din = fnew(n), *dg = fnew(C), *dbt = fnew(C);
    gn_backward_any(&c, din, dg, dbt);
    char tag[120], what[200];
    snprintf(tag, sizeof tag, "%s B%d C%d HW%d G%d", fused ? "groupnorm_silu" : "groupnorm", B,
             C, HW, G);
    snprintf(what, sizeof what, "%s din", tag);
    fd_check(what, gn_loss, &c, c.in, n, din, FD_NONLIN);
    snprintf(what, sizeof what, "%s dgamma", tag);
    fd_check(what, gn_loss, &c, c.gamma, C, dg, FD_NONLIN);
    snprintf(what, sizeof what, "%s dbeta", tag);
    fd_check(what, gn_loss, &c, c.beta, C, dbt, FD_NONLIN);
    float *din2 = fnew(n), *dg2 = fnew(C), *dbt2 = fnew(C);
    memcpy(din2, din, sizeof(float) * n); memcpy(dg2, dg, sizeof(float) * C);
    memcpy(dbt2, dbt, sizeof(float) * C);
    gn_backward_any(&c, din2, dg2, dbt2);
    snprintf(what, sizeof what, "%s din", tag);
    check_twice(what, din2, din, n);
    snprintf(what, sizeof what, "%s dgamma", tag);
    check_twice(what, dg2, dg, C);
    snprintf(what, sizeof what, "%s dbeta", tag);
    check_twice(what, dbt2, dbt, C);
    memset(din2, 0, sizeof(float) * n); memset(dg2, 0, sizeof(float) * C);
    memset(dbt2, 0, sizeof(float) * C);
    gn_backward_any(&c, din2, NULL, NULL);
    gn_backward_any(&c, NULL, dg2, NULL);
    gn_backward_any(&c, NULL, NULL, dbt2);
    check(memcmp(din2, din, sizeof(float) * n) == 0 && memcmp(dg2, dg, sizeof(float) * C) == 0 &&
          memcmp(dbt2, dbt, sizeof(float) * C) == 0,
          "%s din, dgamma, dbeta each alone (others NULL) == full backward", tag);
    free(din); free(dg); free(dbt); free(din2); free(dg2); free(dbt2);
    free(c.in); free(c.gamma); free(c.beta); free(c.out); free(c.mean); free(c.rstd); free(c.r);
}

/* mean, rstd, out against double. offset = 1000 with spread 0.01: E[x^2]-E[x]^2 in float
 * would give garbage there */
static void gn_values(float offset, float spread, double out_atol, const char *label)
{
    const int B = 3, C = 8, HW = 64, G = 4, CG = 2;
    const size_t n = (size_t)B * C * HW;
    float *in = frand(n, -spread, spread), *gamma = frand(C, 0.5f, 1.5f),
          *beta = frand(C, -0.5f, 0.5f);
    for (size_t i = 0; i < n; i++) in[i] += offset;
    float *out = fnew(n), *mean = fnew(B * G), *rstd = fnew(B * G);
    groupnorm_forward(out, mean, rstd, in, gamma, beta, B, C, HW, G);
    float *rm = fnew(B * G), *rr = fnew(B * G), *ro = fnew(n);
    for (int bg = 0; bg < B * G; bg++) {
        const float *x = in + (size_t)bg * CG * HW;
        double s = 0, v = 0;
        for (int i = 0; i < CG * HW; i++) s += x[i];
        s /= CG * HW;
        for (int i = 0; i < CG * HW; i++) v += (x[i] - s) * (x[i] - s);
        v /= CG * HW;
        rm[bg] = (float)s;
        rr[bg] = (float)(1.0 / sqrt(v + 1e-5));
        for (int i = 0; i < CG * HW; i++) {
            int c = (bg % G) * CG + i / HW;
            ro[(size_t)bg * CG * HW + i] = (float)((x[i] - s) * rr[bg] * gamma[c] + beta[c]);
        }
    }
    char what[200];
    snprintf(what, sizeof what, "groupnorm %s: mean == double", label);
    /* float partial sums: good to ~1e-6 of the spread, plus the float rounding of mean */
    check_close(what, mean, rm, B * G, 1e-6 * spread, 1.2e-7);
    snprintf(what, sizeof what, "groupnorm %s: rstd == double", label);
    check_close(what, rstd, rr, B * G, 0, 1e-5);
    snprintf(what, sizeof what, "groupnorm %s: out == double", label);
    check_close(what, out, ro, n, out_atol, 0);
    free(in); free(gamma); free(beta); free(out); free(mean); free(rstd); free(rm); free(rr);
    free(ro);
}

/* dgamma, dbeta of a layer too wide to keep per-image sums (2C > 8192 doubles) against
 * double sums over batch and positions */
static void test_groupnorm_wide(void)
{
    const int B = 3, C = 4098, HW = 3, G = 2;
    const size_t n = (size_t)B * C * HW;
    float *in = frand(n, -1, 1), *gamma = frand(C, 0.5f, 1.5f), *beta = frand(C, -1, 1);
    float *out = fnew(n), *mean = fnew(B * G), *rstd = fnew(B * G), *r = frand(n, -1, 1);
    float *dg = fnew(C), *dbt = fnew(C), *rg = fnew(C), *rb = fnew(C);
    groupnorm_forward(out, mean, rstd, in, gamma, beta, B, C, HW, G);
    groupnorm_backward(NULL, dg, dbt, r, in, mean, rstd, gamma, B, C, HW, G);
    for (int c = 0; c < C; c++) {
        double sg = 0, sb = 0;
        for (int b = 0; b < B; b++)
            for (int p = 0; p < HW; p++) {
                size_t i = ((size_t)b * C + c) * HW + p;
                int bg = b * G + c / (C / G);
                sb += r[i];
                sg += r[i] * ((double)in[i] - mean[bg]) * rstd[bg];
            }
        rg[c] = (float)sg;
        rb[c] = (float)sb;
    }
    check_close("groupnorm C4098 (no per-image sums kept) dgamma == double", dg, rg, C, 1e-5, 1e-5);
    check_close("groupnorm C4098 dbeta == double", dbt, rb, C, 1e-5, 1e-5);
    free(in); free(gamma); free(beta); free(out); free(mean); free(rstd); free(r);
    free(dg); free(dbt); free(rg); free(rb);
}

/* a shape big enough for the threaded path (and several per-image blocks of sums):
 * forward and backward against the formulas in double, plain and fused with SiLU */
static void test_groupnorm_big(int fused)
{
    const int B = 40, C = 256, HW = 64, G = 8, CG = C / G;
    const size_t n = (size_t)B * C * HW, gn = (size_t)CG * HW;
    float *in = frand(n, -2, 2), *gamma = frand(C, 0.5f, 1.5f), *beta = frand(C, -1, 1);
    float *out = fnew(n), *mean = fnew(B * G), *rstd = fnew(B * G), *r = frand(n, -1, 1);
    float *din = fnew(n), *dg = fnew(C), *dbt = fnew(C);
    float *ro = fnew(n), *rdin = fnew(n), *rdg = fnew(C), *rdb = fnew(C);
    double *dy = malloc(sizeof(double) * gn), *xh = malloc(sizeof(double) * gn);
    double *sg = calloc(C, sizeof(double)), *sb = calloc(C, sizeof(double));
    if (fused) {
        groupnorm_silu_forward(out, mean, rstd, in, gamma, beta, B, C, HW, G);
        groupnorm_silu_backward(din, dg, dbt, r, in, mean, rstd, gamma, beta, B, C, HW, G);
    } else {
        groupnorm_forward(out, mean, rstd, in, gamma, beta, B, C, HW, G);
        groupnorm_backward(din, dg, dbt, r, in, mean, rstd, gamma, B, C, HW, G);
    }
    for (int bg = 0; bg < B * G; bg++) {
        const float *x = in + (size_t)bg * gn;
        double m = 0, v = 0, s1 = 0, s2 = 0;
        for (size_t i = 0; i < gn; i++) m += x[i];
        m /= gn;
        for (size_t i = 0; i < gn; i++) v += (x[i] - m) * (x[i] - m);
        const double rs = 1.0 / sqrt(v / gn + 1e-5);
        for (size_t i = 0; i < gn; i++) {
            const int c = (bg % G) * CG + (int)(i / HW);
            const size_t e = (size_t)bg * gn + i;
            xh[i] = (x[i] - m) * rs;
            const double y = xh[i] * gamma[c] + beta[c];
            double o = y, d = r[e];
            if (fused) {
                const double sgm = 1.0 / (1.0 + exp(-y));
                o = y * sgm;
                d = r[e] * sgm * (1 + y * (1 - sgm));
            }
            ro[e] = (float)o;
            dy[i] = d;
            sb[c] += d;
            sg[c] += d * xh[i];
            s1 += gamma[c] * d;
            s2 += gamma[c] * d * xh[i];
        }
        for (size_t i = 0; i < gn; i++) {
            const int c = (bg % G) * CG + (int)(i / HW);
            rdin[(size_t)bg * gn + i] = (float)(rs * (gamma[c] * dy[i] - s1 / gn - xh[i] * s2 / gn));
        }
    }
    for (int c = 0; c < C; c++) {
        rdg[c] = (float)sg[c];
        rdb[c] = (float)sb[c];
    }
    const char *name = fused ? "groupnorm_silu" : "groupnorm";
    char what[160];
    snprintf(what, sizeof what, "%s B40 C256 HW64 G8 (threaded) out == double", name);
    check_close(what, out, ro, n, 1e-5, 1e-5);
    snprintf(what, sizeof what, "%s B40 C256 HW64 G8 din == double", name);
    check_close(what, din, rdin, n, 1e-5 * max_abs(rdin, n), 1e-4);
    snprintf(what, sizeof what, "%s B40 C256 HW64 G8 dgamma == double", name);
    check_close(what, dg, rdg, C, 1e-5 * max_abs(rdg, C), 1e-4);
    snprintf(what, sizeof what, "%s B40 C256 HW64 G8 dbeta == double", name);
    check_close(what, dbt, rdb, C, 1e-5 * max_abs(rdb, C), 1e-4);
    free(in); free(gamma); free(beta); free(out); free(mean); free(rstd); free(r); free(din);
    free(dg); free(dbt); free(ro); free(rdin); free(rdg); free(rdb); free(dy); free(xh);
    free(sg); free(sb);
}

/* the fused layer against the composition groupnorm -> silu */
static void test_groupnorm_values(void)
{
    gn_values(0.0f, 2.0f, 2e-6, "inputs U(-2,2)");
    /* the stored float mean is off the true one by up to ulp(1000)/2 = 3e-5, shifting a
     * group's output by 3e-5 * rstd (~170) * gamma (<= 1.5) <= 8e-3 */
    gn_values(1000.0f, 0.01f, 1e-2, "inputs 1000 + U(-0.01,0.01), variance 3e-5 ~ eps");

    const int B = 3, C = 8, HW = 64, G = 4;
    const size_t n = (size_t)B * C * HW;
    float *gamma = frand(C, 0.5f, 1.5f), *beta = frand(C, -0.5f, 0.5f);
    float *out = fnew(n), *mean = fnew(B * G), *rstd = fnew(B * G);
    float *fo = fnew(n), *so = fnew(n), *fm = fnew(B * G), *fr = fnew(B * G);
    float *in = frand(n, -2, 2);
    groupnorm_forward(out, mean, rstd, in, gamma, beta, B, C, HW, G);
    silu_forward(so, out, n);
    groupnorm_silu_forward(fo, fm, fr, in, gamma, beta, B, C, HW, G);
    check_close("groupnorm_silu forward == silu(groupnorm)", fo, so, n, 1e-6, 1e-5);
    check(memcmp(fm, mean, sizeof(float) * B * G) == 0 &&
          memcmp(fr, rstd, sizeof(float) * B * G) == 0,
          "groupnorm_silu mean/rstd == groupnorm's");
    /* fused backward == silu backward then groupnorm backward */
    float *r = frand(n, -1, 1), *dy = fnew(n), *d1 = fnew(n), *g1 = fnew(C), *b1 = fnew(C);
    float *d2 = fnew(n), *g2 = fnew(C), *b2 = fnew(C);
    silu_backward(dy, r, out, n);
    groupnorm_backward(d1, g1, b1, dy, in, mean, rstd, gamma, B, C, HW, G);
    groupnorm_silu_backward(d2, g2, b2, r, in, mean, rstd, gamma, beta, B, C, HW, G);
    check_close("groupnorm_silu din == composition", d2, d1, n, 1e-5, 1e-4);
    check_close("groupnorm_silu dgamma == composition", g2, g1, C, 1e-5, 1e-4);
    check_close("groupnorm_silu dbeta == composition", b2, b1, C, 1e-5, 1e-4);
    free(in); free(gamma); free(beta); free(out); free(mean); free(rstd);
    free(fo); free(so); free(fm); free(fr); free(r); free(dy); free(d1); free(g1);
    free(b1); free(d2); free(g2); free(b2);
}

/* ================================================================ elementwise layers */

typedef struct {
    size_t n;
    float p;
    float *in, *out, *mask, *r;
} EwCtx;

static double silu_loss(void *vc)
{
    EwCtx *c = vc;
    silu_forward(c->out, c->in, c->n);
    return dot_proj(c->r, c->out, c->n);
}

static double dropout_loss(void *vc)
{
    EwCtx *c = vc;
    dropout_forward(c->out, c->mask, c->in, c->n, c->p, 77, 5);
    return dot_proj(c->r, c->out, c->n);
}

static void test_silu_dropout_fd(void)
{
    EwCtx c = {120, 0.3f, NULL, NULL, NULL, NULL};
    c.in = frand(c.n, -5, 5); c.out = fnew(c.n); c.mask = fnew(c.n); c.r = frand(c.n, -1, 1);
    float *din = fnew(c.n), *din2 = fnew(c.n);
    silu_forward(c.out, c.in, c.n);
    int ok = 1;
    for (size_t i = 0; i < c.n; i++)
        ok &= fabs(c.out[i] - c.in[i] / (1.0 + exp(-(double)c.in[i]))) <= 1e-6 * (1 + fabs(c.in[i]));
    check(ok, "silu forward == x sigmoid(x) in double");
    silu_backward(din, c.r, c.in, c.n);
    fd_check("silu n120 din", silu_loss, &c, c.in, c.n, din, FD_NONLIN);
    memcpy(din2, din, sizeof(float) * c.n);
    silu_backward(din2, c.r, c.in, c.n);
    check_twice("silu din", din2, din, c.n);

    dropout_loss(&c);
    memset(din, 0, sizeof(float) * c.n);
    dropout_backward(din, c.r, c.mask, c.n);
    fd_check("dropout p0.3 n120 din", dropout_loss, &c, c.in, c.n, din, FD_LIN);
    memcpy(din2, din, sizeof(float) * c.n);
    dropout_backward(din2, c.r, c.mask, c.n);
    check_twice("dropout din", din2, din, c.n);
    free(din); free(din2); free(c.in); free(c.out); free(c.mask); free(c.r);
}

/* a size for the threaded path, against double: the exp used is accurate to 1.5e-7 */
static void test_silu_big(void)
{
    const size_t n = 300007;
    float *x = frand(n, -20, 20), *d = frand(n, -1, 1), *y = fnew(n), *dx = fnew(n);
    float *ry = fnew(n), *rdx = fnew(n);
    silu_forward(y, x, n);
    silu_backward(dx, d, x, n);
    for (size_t i = 0; i < n; i++) {
        const double s = 1.0 / (1.0 + exp(-(double)x[i]));
        ry[i] = (float)(x[i] * s);
        rdx[i] = (float)(d[i] * s * (1 + x[i] * (1 - s)));
    }
    check_close("silu forward n300007 (threaded) == double", y, ry, n, 1e-7, 1e-6);
    check_close("silu backward n300007 == double", dx, rdx, n, 1e-7, 1e-6);
    free(x); free(d); free(y); free(dx); free(ry); free(rdx);
}

static void test_dropout_mask(void)
{
    const size_t n = 1000003; /* not a multiple of 4: the tail of the last Philox block */
    const float p = 0.25f;
    float *in = frand(n, -1, 1), *out = fnew(n), *m1 = fnew(n), *m2 = fnew(n), *m3 = fnew(n);
    dropout_forward(out, m1, in, n, p, 1234, 9);
    dropout_forward(out, m2, in, n, p, 1234, 9);
    check(memcmp(m1, m2, sizeof(float) * n) == 0, "dropout mask reproducible (same seed, stream)");
    size_t kept = 0, bad = 0, bad_out = 0;
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        float want = rng_uniform_at(1234, 9, i) >= p ? keep : 0.0f;
        bad += m1[i] != want;
        kept += m1[i] != 0.0f;
        bad_out += out[i] != in[i] * m1[i];
    }
    check(bad == 0, "dropout mask[i] from rng_uniform_at(seed, stream, i): %zu of %zu differ", bad, n);
    check(bad_out == 0, "dropout out = in * mask (%zu differ)", bad_out);
    double rate = (double)kept / n, sd = sqrt(p * (1 - p) / n);
    check(fabs(rate - (1 - p)) < 5 * sd, "dropout keep rate %.5f ~ 1-p = %.2f (5 sigma = %.5f)",
          rate, 1 - p, 5 * sd);
    dropout_forward(out, m3, in, n, p, 1234, 10);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += m3[i] != m1[i];
    check(differ > n / 4, "dropout: another stream gives another mask (%zu differ)", differ);
    dropout_forward(out, m3, in, n, 0.0f, 1234, 9);
    int ok = memcmp(out, in, sizeof(float) * n) == 0;
    for (size_t i = 0; i < n; i++) ok &= m3[i] == 1.0f;
    check(ok, "dropout p=0 copies and the mask is all ones");
    free(in); free(out); free(m1); free(m2); free(m3);
}

/* ================================================================ shape layers */

typedef struct {
    int B, C, C2, H, W;
    float *a, *b, *out, *r;
} ShCtx;

static double up_loss(void *vc)
{
    ShCtx *c = vc;
    upsample2x_forward(c->out, c->a, c->B, c->C, c->H, c->W);
    return dot_proj(c->r, c->out, (size_t)c->B * c->C * 4 * c->H * c->W);
}

static double cat_loss(void *vc)
{
    ShCtx *c = vc;
    concat_forward(c->out, c->a, c->b, c->B, c->C, c->C2, c->H * c->W);
    return dot_proj(c->r, c->out, (size_t)c->B * (c->C + c->C2) * c->H * c->W);
}

/* out = a + v broadcast: h is copied from a, then add_channel_forward adds b (B,C) */
static double addch_loss(void *vc)
{
    ShCtx *c = vc;
    size_t n = (size_t)c->B * c->C * c->H * c->W;
    memcpy(c->out, c->a, sizeof(float) * n);
    add_channel_forward(c->out, c->b, c->B, c->C, c->H * c->W);
    return dot_proj(c->r, c->out, n);
}

static void test_shape_layers(void)
{
    /* upsample */
    {
        ShCtx c = {2, 3, 0, 3, 5, NULL, NULL, NULL, NULL};
        size_t n = 2 * 3 * 3 * 5, n4 = 4 * n;
        c.a = frand(n, -1, 1); c.out = fnew(n4); c.r = frand(n4, -1, 1);
        up_loss(&c);
        int ok = 1;
        for (int bc = 0; bc < 6; bc++)
            for (int y = 0; y < 6; y++)
                for (int x = 0; x < 10; x++)
                    ok &= c.out[(size_t)bc * 60 + y * 10 + x] == c.a[(size_t)bc * 15 + (y / 2) * 5 + x / 2];
        check(ok, "upsample2x forward: out[y,x] = in[y/2,x/2]");
        float *d = fnew(n), *d2 = fnew(n);
        upsample2x_backward(d, c.r, 2, 3, 3, 5);
        fd_check("upsample2x B2 C3 3x5 din", up_loss, &c, c.a, n, d, FD_LIN);
        memcpy(d2, d, sizeof(float) * n);
        upsample2x_backward(d2, c.r, 2, 3, 3, 5);
        check_twice("upsample2x din", d2, d, n);
        free(d); free(d2); free(c.a); free(c.out); free(c.r);
    }
    /* concat */
    {
        ShCtx c = {2, 3, 2, 2, 3, NULL, NULL, NULL, NULL};
        size_t na = 2 * 3 * 6, nb = 2 * 2 * 6, no = na + nb;
        c.a = frand(na, -1, 1); c.b = frand(nb, -1, 1); c.out = fnew(no); c.r = frand(no, -1, 1);
        cat_loss(&c);
        check(memcmp(c.out + 18, c.b, sizeof(float) * 12) == 0 &&
              memcmp(c.out + 30, c.a + 18, sizeof(float) * 18) == 0,
              "concat forward: image 0 = [a0, b0], image 1 starts with a1");
        float *da = fnew(na), *db = fnew(nb), *da2 = fnew(na), *db2 = fnew(nb);
        concat_backward(da, db, c.r, 2, 3, 2, 6);
        fd_check("concat B2 C1=3 C2=2 HW6 da", cat_loss, &c, c.a, na, da, FD_LIN);
        fd_check("concat db", cat_loss, &c, c.b, nb, db, FD_LIN);
        memcpy(da2, da, sizeof(float) * na); memcpy(db2, db, sizeof(float) * nb);
        concat_backward(da2, db2, c.r, 2, 3, 2, 6);
        check_twice("concat da", da2, da, na);
        check_twice("concat db", db2, db, nb);
        memset(db2, 0, sizeof(float) * nb);
        concat_backward(NULL, db2, c.r, 2, 3, 2, 6);
        check(memcmp(db2, db, sizeof(float) * nb) == 0, "concat db alone (da NULL) == full");
        free(da); free(db); free(da2); free(db2); free(c.a); free(c.b); free(c.out); free(c.r);
    }
    /* add_channel */
    {
        ShCtx c = {2, 3, 0, 2, 4, NULL, NULL, NULL, NULL};
        size_t n = 2 * 3 * 8;
        c.a = frand(n, -1, 1); c.b = frand(6, -1, 1); c.out = fnew(n); c.r = frand(n, -1, 1);
        float *dv = fnew(6), *dv2 = fnew(6);
        add_channel_backward(dv, c.r, 2, 3, 8);
        fd_check("add_channel B2 C3 HW8 dv", addch_loss, &c, c.b, 6, dv, FD_LIN);
        memcpy(dv2, dv, sizeof(float) * 6);
        add_channel_backward(dv2, c.r, 2, 3, 8);
        check_twice("add_channel dv", dv2, dv, 6);
        free(dv); free(dv2); free(c.a); free(c.b); free(c.out); free(c.r);
    }
    /* add_forward, add_inplace */
    {
        size_t n = 100001;
        float *a = frand(n, -1, 1), *b = frand(n, -1, 1), *o = fnew(n);
        add_forward(o, a, b, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= o[i] == a[i] + b[i];
        add_inplace(o, a, n);
        for (size_t i = 0; i < n; i++) ok &= o[i] == (a[i] + b[i]) + a[i];
        check(ok, "add_forward and add_inplace exact over %zu values", n);
        free(a); free(b); free(o);
    }
}

/* ================================================================ attention */

typedef struct {
    int B, C, N;
    float *q, *k, *v, *out, *att, *r;
} AttCtx;

static double att_loss(void *vc)
{
    AttCtx *c = vc;
    attention_forward(c->out, c->att, c->q, c->k, c->v, c->B, c->C, c->N);
    return dot_proj(c->r, c->out, (size_t)c->B * c->C * c->N);
}

static void test_attention(int B, int C, int N, int fd)
{
    AttCtx c = {B, C, N, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = (size_t)B * C * N, nn = (size_t)B * N * N;
    c.q = frand(n, -2, 2); c.k = frand(n, -2, 2); c.v = frand(n, -1, 1);
    c.out = fnew(n); c.att = fnew(nn); c.r = frand(n, -1, 1);
    char tag[100], what[200];
    snprintf(tag, sizeof tag, "attention B%d C%d N%d", B, C, N);
    att_loss(&c);
    /* forward against a direct double computation */
    {
        float *ra = fnew(nn), *ro = fnew(n);
        double *s = malloc(sizeof(double) * N);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < N; i++) {
                double mx = -1e300, sum = 0;
                for (int j = 0; j < N; j++) {
                    double t = 0;
                    for (int ch = 0; ch < C; ch++)
                        t += (double)c.q[((size_t)b * C + ch) * N + i] * c.k[((size_t)b * C + ch) * N + j];
                    s[j] = t / sqrt((double)C);
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int j = 0; j < N; j++) sum += (s[j] = exp(s[j] - mx));
                for (int j = 0; j < N; j++) ra[((size_t)b * N + i) * N + j] = (float)(s[j] / sum);
            }
        for (int b = 0; b < B; b++)
            for (int ch = 0; ch < C; ch++)
                for (int i = 0; i < N; i++) {
                    double t = 0;
                    for (int j = 0; j < N; j++)
                        t += (double)c.v[((size_t)b * C + ch) * N + j] * ra[((size_t)b * N + i) * N + j];
                    ro[((size_t)b * C + ch) * N + i] = (float)t;
                }
        snprintf(what, sizeof what, "%s att == double softmax", tag);
        check_close(what, c.att, ra, nn, 1e-6, 1e-4);
        snprintf(what, sizeof what, "%s out == double", tag);
        check_close(what, c.out, ro, n, 1e-5, 1e-4);
        free(ra); free(ro); free(s);
    }
    float *scratch = fnew(attention_scratch_floats(B, C, N));
    float *dq = fnew(n), *dk = fnew(n), *dv = fnew(n);
    attention_backward(dq, dk, dv, c.r, c.att, c.q, c.k, c.v, B, C, N, scratch);
    if (fd) {
        snprintf(what, sizeof what, "%s dq", tag);
        fd_check(what, att_loss, &c, c.q, n, dq, FD_NONLIN);
        snprintf(what, sizeof what, "%s dk", tag);
        fd_check(what, att_loss, &c, c.k, n, dk, FD_NONLIN);
        snprintf(what, sizeof what, "%s dv", tag);
        fd_check(what, att_loss, &c, c.v, n, dv, FD_LIN);
    } else {
        /* large shapes: the backward against the same formulas in double */
        double *datt = malloc(sizeof(double) * N);
        float *eq = fnew(n), *ek = fnew(n), *ev = fnew(n);
        const double sc = 1.0 / sqrt((double)C);
        for (int b = 0; b < B; b++) {
            const float *A = c.att + (size_t)b * N * N, *D = c.r + (size_t)b * C * N;
            const float *Q = c.q + (size_t)b * C * N, *Kk = c.k + (size_t)b * C * N;
            const float *V = c.v + (size_t)b * C * N;
            for (int ch = 0; ch < C; ch++)
                for (int j = 0; j < N; j++) {
                    double t = 0;
                    for (int i = 0; i < N; i++) t += (double)D[ch * N + i] * A[(size_t)i * N + j];
                    ev[(size_t)b * C * N + ch * N + j] = (float)t;
                }
            double *dqd = calloc((size_t)C * N, sizeof(double));
            double *dkd = calloc((size_t)C * N, sizeof(double));
            for (int i = 0; i < N; i++) {
                double dot = 0;
                for (int j = 0; j < N; j++) {
                    double t = 0;
                    for (int ch = 0; ch < C; ch++) t += (double)D[ch * N + i] * V[ch * N + j];
                    datt[j] = t;
                    dot += t * A[(size_t)i * N + j];
                }
                for (int j = 0; j < N; j++) {
                    double ds = A[(size_t)i * N + j] * (datt[j] - dot) * sc;
                    for (int ch = 0; ch < C; ch++) {
                        dqd[ch * N + i] += Kk[ch * N + j] * ds;
                        dkd[ch * N + j] += Q[ch * N + i] * ds;
                    }
                }
            }
            for (size_t e = 0; e < (size_t)C * N; e++) {
                eq[(size_t)b * C * N + e] = (float)dqd[e];
                ek[(size_t)b * C * N + e] = (float)dkd[e];
            }
            free(dqd); free(dkd);
        }
        snprintf(what, sizeof what, "%s dq == double", tag);
        check_close(what, dq, eq, n, 1e-4 * max_abs(eq, n), 1e-3);
        snprintf(what, sizeof what, "%s dk == double", tag);
        check_close(what, dk, ek, n, 1e-4 * max_abs(ek, n), 1e-3);
        snprintf(what, sizeof what, "%s dv == double", tag);
        check_close(what, dv, ev, n, 1e-4 * max_abs(ev, n), 1e-3);
        free(eq); free(ek); free(ev); free(datt);
    }
    float *dq2 = fnew(n), *dk2 = fnew(n), *dv2 = fnew(n);
    memcpy(dq2, dq, sizeof(float) * n); memcpy(dk2, dk, sizeof(float) * n);
    memcpy(dv2, dv, sizeof(float) * n);
    attention_backward(dq2, dk2, dv2, c.r, c.att, c.q, c.k, c.v, B, C, N, scratch);
    snprintf(what, sizeof what, "%s dq", tag);
    check_twice(what, dq2, dq, n);
    snprintf(what, sizeof what, "%s dk", tag);
    check_twice(what, dk2, dk, n);
    snprintf(what, sizeof what, "%s dv", tag);
    check_twice(what, dv2, dv, n);
    memset(dv2, 0, sizeof(float) * n);
    attention_backward(NULL, NULL, dv2, c.r, c.att, c.q, c.k, c.v, B, C, N, scratch);
    snprintf(what, sizeof what, "%s dv alone (dq, dk NULL) == full", tag);
    check(memcmp(dv2, dv, sizeof(float) * n) == 0, "%s", what);
    free(scratch); free(dq); free(dk); free(dv); free(dq2); free(dk2); free(dv2);
    free(c.q); free(c.k); free(c.v); free(c.out); free(c.att); free(c.r);
}

/* ================================================================ embeddings */

typedef struct {
    int B, D;
    const int *idx;
    float *table, *out, *r;
} EmbCtx;

static double emb_loss(void *vc)
{
    EmbCtx *c = vc;
    embedding_forward(c->out, c->table, c->idx, c->B, c->D);
    return dot_proj(c->r, c->out, (size_t)c->B * c->D);
}

static void test_embeddings(void)
{
    /* label table: repeated labels must add up */
    static const int idx[4] = {2, 0, 2, 3};
    EmbCtx c = {4, 5, idx, NULL, NULL, NULL};
    c.table = frand(4 * 5, -1, 1); c.out = fnew(20); c.r = frand(20, -1, 1);
    emb_loss(&c);
    check(memcmp(c.out + 10, c.table + 10, sizeof(float) * 5) == 0 &&
          memcmp(c.out + 5, c.table, sizeof(float) * 5) == 0, "embedding forward copies rows");
    float *dt = fnew(20), *dt2 = fnew(20);
    embedding_backward(dt, c.r, idx, 4, 5);
    fd_check("embedding rows4 B4 D5 dtable (label 2 twice, 1 never)", emb_loss, &c, c.table, 20,
             dt, FD_LIN);
    memcpy(dt2, dt, sizeof(float) * 20);
    embedding_backward(dt2, c.r, idx, 4, 5);
    check_twice("embedding dtable", dt2, dt, 20);
    free(dt); free(dt2); free(c.table); free(c.out); free(c.r);

    /* time embedding: the formula in double. |t| <= 1000 makes the float argument good to
     * ~1e-4 (ulp of 1000 is 6e-5, plus the float frequency), hence atol 3e-4. */
    const float t[5] = {0.0f, 1.0f, 10.5f, 250.0f, 999.0f};
    const int dims[2] = {32, 7};
    for (int k = 0; k < 2; k++) {
        int dim = dims[k], half = dim / 2;
        float *o = fnew((size_t)5 * dim), *ref = fnew((size_t)5 * dim);
        timestep_embedding(o, t, 5, dim);
        for (int b = 0; b < 5; b++) {
            for (int i = 0; i < half; i++) {
                double f = exp(-log(10000.0) * i / half);
                ref[b * dim + i] = (float)sin(t[b] * f);
                ref[b * dim + half + i] = (float)cos(t[b] * f);
            }
            if (dim % 2) ref[b * dim + dim - 1] = 0.0f;
        }
        char what[100];
        snprintf(what, sizeof what, "timestep_embedding dim %d == sin/cos formula in double", dim);
        check_close(what, o, ref, (size_t)5 * dim, 3e-4, 0);
        free(o); free(ref);
    }
}

int main(void)
{
    ddm_set_threads(0);
    double t0 = ddm_now();

    /* conv2d: FD of the fast kernels on small shapes (every path: 3x3 chunked, 1x1
     * chunked, 1x1 direct (P >= 256), stride 2, no padding, non-square, K=5) */
    test_conv_fd(2, 3, 5, 5, 4, 3, 1, 1);
    test_conv_fd(2, 3, 7, 6, 4, 3, 2, 1);
    test_conv_fd(2, 3, 6, 5, 3, 3, 1, 0);
    test_conv_fd(2, 3, 7, 8, 2, 3, 2, 0);
    test_conv_fd(2, 3, 5, 4, 3, 1, 1, 0);
    test_conv_fd(1, 2, 5, 7, 2, 1, 2, 0);
    test_conv_fd(2, 3, 16, 17, 2, 1, 1, 0);
    test_conv_fd(1, 2, 6, 5, 2, 5, 1, 2);
    /* Winograd path (3x3 stride 1, >= 16 channels in and out, output >= 16 wide) */
    test_conv_fd(1, 16, 3, 17, 16, 3, 1, 1);
    test_conv_fd(1, 16, 4, 18, 17, 3, 1, 0);

    /* conv2d fast == ref: several chunks (B=7 in chunks of 3+3+1, B=9 and B=3 in chunks
     * of 1, with CONV_CHUNK_FLOATS = 1M), odd sizes, both 1x1 paths, the U-Net's conv_in
     * and downsample shapes */
    test_conv_vs_ref(7, 32, 32, 32, 4, 3, 1, 1);
    test_conv_vs_ref(9, 64, 32, 32, 4, 3, 1, 1);
    test_conv_vs_ref(3, 128, 48, 48, 8, 3, 1, 1);
    test_conv_vs_ref(5, 5, 7, 9, 6, 3, 2, 1);
    test_conv_vs_ref(3, 7, 11, 10, 5, 3, 2, 0);
    test_conv_vs_ref(4, 6, 16, 16, 8, 1, 1, 0);
    test_conv_vs_ref(4, 6, 8, 8, 8, 1, 1, 0);
    test_conv_vs_ref(4, 64, 32, 32, 32, 1, 1, 0); /* direct 1x1, threaded */
    test_conv_vs_ref(2, 1, 32, 32, 32, 3, 1, 1);
    test_conv_vs_ref(3, 32, 16, 16, 32, 3, 2, 1);
    test_conv_vs_ref(2, 3, 9, 8, 4, 5, 1, 2);
    /* Winograd F(2x2,3x3): odd sizes (partial tiles), pad 0, 1, 2, a one-row image, an
     * odd tall one, several chunks (B=9 in chunks of 2+2+2+2+1), the U-Net's shapes (the
     * 8x8 one takes im2col) */
    test_conv_vs_ref(3, 16, 7, 19, 16, 3, 1, 1);
    test_conv_vs_ref(2, 16, 6, 18, 20, 3, 1, 0);
    test_conv_vs_ref(2, 17, 5, 15, 16, 3, 1, 2);
    test_conv_vs_ref(2, 16, 1, 16, 16, 3, 1, 1);
    test_conv_vs_ref(2, 16, 33, 16, 24, 3, 1, 1);
    test_conv_vs_ref(9, 16, 64, 64, 16, 3, 1, 1);
    test_conv_vs_ref(2, 32, 32, 32, 32, 3, 1, 1);
    test_conv_vs_ref(3, 64, 8, 8, 64, 3, 1, 1);
    test_conv_vs_ref(2, 96, 16, 16, 64, 3, 1, 1);

    test_linear();
    test_groupnorm_fd(2, 6, 5, 3, 0);
    test_groupnorm_fd(2, 4, 9, 4, 0);
    test_groupnorm_fd(3, 4, 4, 1, 0);
    test_groupnorm_fd(2, 6, 5, 3, 1);
    test_groupnorm_values();
    test_groupnorm_wide();
    test_groupnorm_big(0);
    test_groupnorm_big(1);
    test_silu_dropout_fd();
    test_silu_big();
    test_dropout_mask();
    test_shape_layers();
    test_attention(2, 3, 5, 1);   /* thread-parallel path */
    test_attention(1, 4, 6, 1);   /* B = 1: OpenBLAS-threaded path */
    test_attention(3, 8, 200, 0); /* against double, larger N */
    test_attention(1, 8, 300, 0); /* B = 1, larger N */
    test_attention(40, 64, 64, 0); /* the U-Net's 8x8 attention, more images than slots */
    test_embeddings();

    printf("time %.2f s\n", ddm_now() - t0);
    return test_summary();
}
