/* ddm side of `make bench`: the reference U-Net (DESIGN.md, 1x32x32) timed in-process.
 *   bench_unet train  [--batch 64]  [--reps R] [--threads T]   training step: fwd+bwd+AdamW
 *   bench_unet sample [--batch 256] [--reps R] [--threads T]   inference forward
 *   bench_unet sgemm  [--n 2048]    [--reps R] [--threads T]   OpenBLAS square sgemm
 * Prints one JSON object: median seconds per repetition, rate, peak RSS, and (train,
 * sample) the per-layer-kind time and GFLOP/s table from unet_timing. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blascore.h"
#include "core/common.h"
#include "core/optim.h"
#include "core/unet.h"
#include "tests/testlib.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void print_timing(const UNet *net, int reps)
{
    const UNetTiming *rows;
    int n = unet_timing(net, &rows);
    printf(", \"layers\": [");
    for (int i = 0; i < n; i++) {
        double s = (rows[i].fwd_s + rows[i].bwd_s) / reps;
        double gf = rows[i].flops > 0 && s > 0 ? rows[i].flops / reps / s * 1e-9 : 0;
        printf("%s{\"kind\": \"%s\", \"fwd_ms\": %.3f, \"bwd_ms\": %.3f, \"gflops\": %.2f}",
               i ? ", " : "", rows[i].kind, 1e3 * rows[i].fwd_s / reps,
               1e3 * rows[i].bwd_s / reps, gf);
    }
    printf("]");
}

int main(int argc, char **argv)
{
    blascore_pin(argv); /* the kernels bin/ddm runs with */
    if (argc < 2) {
        fprintf(stderr, "usage: bench_unet train|sample|sgemm [--batch B] [--reps R] [--threads T] [--n N]\n");
        return 2;
    }
    const char *mode = argv[1];
    int batch = strcmp(mode, "train") == 0 ? 64 : 256, reps = 5, threads = 0, n = 2048;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = atoi(argv[i + 1]);
        else ddm_die("bench_unet: unknown option %s", argv[i]);
    }
    if (reps < 1 || reps > 1000) ddm_die("bench_unet: --reps must be 1..1000");
    ddm_set_threads(threads);
    double *times = xcalloc((size_t)reps, sizeof(double));

    if (!strcmp(mode, "sgemm")) {
        size_t nn = (size_t)n * n;
        float *a = xalloc_floats(nn), *b = xalloc_floats(nn), *c = xalloc_floats(nn);
        test_fill_uniform(a, nn, -1, 1, 1);
        test_fill_uniform(b, nn, -1, 1, 2);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        for (int r = 0; r < reps; r++) {
            double t0 = ddm_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            times[r] = ddm_now() - t0;
        }
        double med = median(times, reps);
        printf("{\"side\": \"ddm\", \"mode\": \"sgemm\", \"n\": %d, \"threads\": %d, \"median_s\": %.6f, "
               "\"gflops\": %.2f}\n", n, ddm_threads(), med, 2.0 * n * (double)n * n / med * 1e-9);
        return 0;
    }

    int training = !strcmp(mode, "train");
    if (!training && strcmp(mode, "sample")) ddm_die("bench_unet: mode must be train, sample or sgemm");
    UNetConfig cfg;
    unet_config_default(&cfg);
    UNet *net = unet_init(&cfg, batch, training);
    unet_init_weights(net, 1);
    size_t np = unet_num_params(net), nx = (size_t)batch * 32 * 32;
    float *x = xalloc_floats(nx), *out = xalloc_floats(nx), *dout = xalloc_floats(nx), *t = xalloc_floats((size_t)batch);
    test_fill_uniform(x, nx, -1, 1, 3);
    for (int i = 0; i < batch; i++) t[i] = (float)((i * 37) % 1000);
    float *m = NULL, *v = NULL;
    AdamW opt = {.lr = 2e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};
    if (training) {
        m = xcalloc(np, sizeof(float));
        v = xcalloc(np, sizeof(float));
    }
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up, not timed */
        if (r == 0) unet_timing_reset(net);
        double t0 = ddm_now();
        unet_forward(net, out, x, t, NULL, batch, training, 0);
        if (training) {
            for (size_t i = 0; i < nx; i++) dout[i] = 2.0f * (out[i] - x[i]) / (float)nx;
            unet_zero_grad(net);
            unet_backward(net, NULL, dout);
            adamw_step(unet_params(net), unet_grads(net), m, v, np, r + 2, &opt);
        }
        if (r >= 0) times[r] = ddm_now() - t0;
    }
    double med = median(times, reps);
    printf("{\"side\": \"ddm\", \"mode\": \"%s\", \"batch\": %d, \"threads\": %d, \"params\": %zu, "
           "\"median_s\": %.6f, \"images_per_s\": %.2f, \"peak_rss_mb\": %.1f, \"activation_mb\": %.1f",
           mode, batch, ddm_threads(), np, med, batch / med, ddm_peak_rss() / 1048576.0,
           unet_activation_bytes(net) / 1048576.0);
    print_timing(net, reps);
    printf("}\n");
    unet_free(net);
    return 0;
}
