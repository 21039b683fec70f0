/* core/resize.c's bicubic resize and the SR3 degradation against PyTorch
 * (tests/ref/resize_ref.h5, made by tests/ref/make_resize_ref.py: F.interpolate(mode=
 * 'bicubic', align_corners=False) and F.avg_pool2d + it), plus exact properties: equal
 * sizes copy, a constant image stays constant, factor 1 is the identity, the low-pass
 * content survives a round trip.
 *
 * N = planes, H, W = input size, Ho, Wo = output size. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/resize.h"
#include "tests/testlib.h"

#define REF "tests/ref/resize_ref.h5"

/* A float dataset of rank 3: its dims and values (malloc'd), NULL when absent. */
static float *read3(hid_t f, const char *name, int dims[3])
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t hd[3] = {0, 0, 0};
    DDM_ASSERT(H5Sget_simple_extent_ndims(sp) == 3, "%s: %s is not of rank 3", REF, name);
    H5Sget_simple_extent_dims(sp, hd, NULL);
    for (int i = 0; i < 3; i++) dims[i] = (int)hd[i];
    float *v = xalloc_floats((size_t)hd[0] * hd[1] * hd[2]);
    DDM_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0,
               "%s: cannot read %s", REF, name);
    H5Sclose(sp);
    H5Dclose(d);
    return v;
}

static int read_factor(hid_t f, const char *name)
{
    int v = 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t a = H5Aopen(d, "factor", H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    H5Dclose(d);
    return v;
}

/* float32 against float64 rounded once: a handful of float roundings of values <= ~1.5 */
#define ATOL 2e-6
#define RTOL 1e-5

static void reference_cases(void)
{
    hid_t f = H5Fopen(REF, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        check(0, "cannot open %s (run from the repo root)", REF);
        return;
    }
    int k = 0;
    for (;; k++) {
        char nin[64], nout[64], what[160];
        int di[3], dout[3];
        snprintf(nin, sizeof nin, "bicubic/%d/in", k);
        snprintf(nout, sizeof nout, "bicubic/%d/out", k);
        float *in = read3(f, nin, di);
        if (!in) break;
        float *ref = read3(f, nout, dout);
        const size_t n = (size_t)dout[0] * dout[1] * dout[2];
        float *out = xalloc_floats(n);
        resize_bicubic(out, in, di[0], di[1], di[2], dout[1], dout[2]);
        snprintf(what, sizeof what, "bicubic %d planes %dx%d -> %dx%d vs F.interpolate",
                 di[0], di[1], di[2], dout[1], dout[2]);
        check_close(what, out, ref, n, ATOL, RTOL);
        free(in); free(ref); free(out);
    }
    check(k >= 4, "%d bicubic reference cases in %s", k, REF);
    for (k = 0;; k++) {
        char nin[64], nout[64], what[160];
        int di[3], dout[3];
        snprintf(nin, sizeof nin, "degrade/%d/in", k);
        snprintf(nout, sizeof nout, "degrade/%d/out", k);
        float *in = read3(f, nin, di);
        if (!in) break;
        float *ref = read3(f, nout, dout);
        const int fac = read_factor(f, nout);
        const size_t n = (size_t)di[0] * di[1] * di[2];
        float *out = xalloc_floats(n);
        degrade_superres(out, in, di[0], di[1], di[2], fac);
        snprintf(what, sizeof what, "degrade x%d, %d planes %dx%d vs avg_pool2d + bicubic", fac,
                 di[0], di[1], di[2]);
        check_close(what, out, ref, n, ATOL, RTOL);
        free(in); free(ref); free(out);
    }
    check(k >= 2, "%d degradation reference cases in %s", k, REF);
    H5Fclose(f);
}

static void exact_properties(void)
{
    enum { N = 2, S = 16 };
    const size_t n = (size_t)N * S * S;
    float *a = xalloc_floats(n), *b = xalloc_floats(n);
    test_fill_uniform(a, n, -1.0f, 1.0f, 5);

    resize_bicubic(b, a, N, S, S, S, S);
    check(memcmp(a, b, n * sizeof(float)) == 0, "bicubic to the same size copies");
    degrade_superres(b, a, N, S, S, 1);
    check(memcmp(a, b, n * sizeof(float)) == 0, "degrade x1 is the identity");

    /* the weights sum to 1 at every position: a constant plane stays (almost) constant */
    for (size_t i = 0; i < n; i++) a[i] = 0.375f;
    degrade_superres(b, a, N, S, S, 4);
    float worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmaxf(worst, fabsf(b[i] - 0.375f));
    check(worst <= 1e-6f, "degrade x4 of a constant image: max |change| %.2g (<= 1e-6)",
          (double)worst);

    /* images that are already 4x4-block constant of a smooth low-res ramp come back
     * close (bicubic interpolates the block means at the block centres) */
    for (int p = 0; p < N; p++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                a[((size_t)p * S + y) * S + x] = (float)((y / 4) * 0.1 + (x / 4) * 0.05 - 0.3);
    degrade_superres(b, a, N, S, S, 4);
    double err = 0;
    for (size_t i = 0; i < n; i++) err += fabs((double)b[i] - a[i]);
    check(err / (double)n < 0.05, "degrade x4 of block images keeps them: mean |change| %.3g "
          "(< 0.05)", err / (double)n);
    /* and the block means of the degraded image are near the original block means
     * (the degradation is a low-pass; it does not shift content) */
    check(b[0] < b[(size_t)S * S - 1], "degrade keeps the orientation of a ramp");
    free(a); free(b);
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    reference_cases();
    exact_properties();
    return test_summary();
}
