/* Evaluation math (core/metrics.h) and the classifier (core/classifier.h), serial:
 * statistics against a two-pass reference, KID, Inception Score, precision/recall on
 * sets with known answers and against brute force, the LAPACK Fréchet distance on
 * diagonal covariances, and the classifier's shapes and its backward against central
 * finite differences. (The ScaLAPACK Fréchet distance against scipy is tests/t_fid.sh.)
 * N = rows, D = feature width, K = classes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/classifier.h"
#include "core/common.h"
#include "core/metrics.h"
#include "core/optim.h"
#include "core/rng.h"
#include "tests/testlib.h"

static void fill_normal(float *x, size_t n, float mean, float std, uint64_t seed)
{
    Rng r;
    rng_init(&r, seed, 11);
    for (size_t i = 0; i < n; i++) x[i] = mean + std * rng_normal(&r);
}

/* ---------------------------------------------------------------- statistics */

static void two_pass(double *mu, double *cov, const float *x, size_t n, int d)
{
    for (int j = 0; j < d; j++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += x[i * d + j];
        mu[j] = s / (double)n;
    }
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double s = 0.0;
            for (size_t i = 0; i < n; i++) s += (x[i * d + a] - mu[a]) * (x[i * d + b] - mu[b]);
            cov[(size_t)a * d + b] = s / (double)(n - 1);
        }
}

static void test_stats(void)
{
    /* a tiny case by hand: rows (1,2) (3,4) (5,0): mean (3,2), np.cov [[4,-2],[-2,4]] */
    {
        const float x[6] = {1, 2, 3, 4, 5, 0};
        const double want_mu[2] = {3, 2}, want_cov[4] = {4, -2, -2, 4};
        double mu[2], cov[4];
        FeatStats s;
        featstats_init(&s, 2);
        featstats_add(&s, x, 1);
        featstats_add(&s, x + 2, 2);
        featstats_mean_cov(&s, mu, cov);
        check_close_d("stats by hand: mean of 3 rows", mu, want_mu, 2, 1e-14, 0);
        check_close_d("stats by hand: covariance (N-1) of 3 rows", cov, want_cov, 4, 1e-13, 0);
        featstats_free(&s);
    }
    /* far-off-centre data in uneven batches against the two-pass reference */
    const int d = 24;
    const size_t n = 1037;
    float *x = xalloc_floats(n * d);
    fill_normal(x, n * d, 0.0f, 1.0f, 5);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            x[i * d + j] = 1000.0f + (float)j + x[i * d + j] * (0.5f + 0.1f * j);
    double *mu = xmalloc(sizeof(double) * d), *cov = xmalloc(sizeof(double) * d * d);
    double *rmu = xmalloc(sizeof(double) * d), *rcov = xmalloc(sizeof(double) * d * d);
    two_pass(rmu, rcov, x, n, d);
    FeatStats s;
    featstats_init(&s, d);
    const size_t cuts[] = {0, 7, 300, 301, 800, n};
    for (int c = 0; c + 1 < (int)(sizeof cuts / sizeof cuts[0]); c++)
        featstats_add(&s, x + cuts[c] * d, cuts[c + 1] - cuts[c]);
    featstats_mean_cov(&s, mu, cov);
    check(s.n == (int64_t)n, "stats: n = %lld after 5 uneven batches", (long long)s.n);
    check_close_d("stats: mean (|mean| ~ 1000) vs two-pass", mu, rmu, (size_t)d, 0, 1e-13);
    check_close_d("stats: covariance (|mean|/std ~ 2000) vs two-pass", cov, rcov, (size_t)d * d,
                  1e-11, 1e-10);
    /* merge of two halves with their own shifts, and an explicit reshift */
    FeatStats a, b;
    featstats_init(&a, d);
    featstats_init(&b, d);
    featstats_add(&a, x, 400);
    featstats_add(&b, x + 400 * d, n - 400);
    featstats_merge(&a, &b);
    featstats_mean_cov(&a, mu, cov);
    check_close_d("stats: merge of two halves (different shifts), covariance", cov, rcov,
                  (size_t)d * d, 1e-11, 1e-10);
    double *zero = xcalloc((size_t)d, sizeof(double));
    featstats_reshift(&a, zero);
    featstats_reshift(&a, b.shift);
    featstats_mean_cov(&a, mu, cov);
    check_close_d("stats: reshift to 0 and back, mean", mu, rmu, (size_t)d, 0, 1e-13);
    check_close_d("stats: reshift to 0 and back, covariance", cov, rcov, (size_t)d * d, 1e-9,
                  1e-8);
    featstats_free(&a);
    featstats_free(&b);
    featstats_free(&s);
    free(zero);
    free(x);
    free(mu);
    free(cov);
    free(rmu);
    free(rcov);
}

/* ---------------------------------------------------------------- KID */

static double kpoly(const float *a, const float *b, int d)
{
    double s = 0.0;
    for (int j = 0; j < d; j++) s += (double)a[j] * b[j];
    s = s / d + 1.0;
    return s * s * s;
}

static void test_kid(void)
{
    const int d = 32;
    const size_t n = 600;
    float *x = xalloc_floats(n * d), *x2 = xalloc_floats(n * d), *y = xalloc_floats(n * d);
    fill_normal(x, n * d, 0.0f, 1.0f, 1);
    fill_normal(x2, n * d, 0.0f, 1.0f, 2);
    fill_normal(y, n * d, 0.5f, 1.0f, 3);

    /* one subset holding every row: the full unbiased MMD^2, by brute force */
    {
        const size_t m = 120;
        double kxx = 0, kyy = 0, kxy = 0;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++) {
                if (i != j) {
                    kxx += kpoly(x + i * d, x + j * d, d);
                    kyy += kpoly(y + i * d, y + j * d, d);
                }
                kxy += kpoly(x + i * d, y + j * d, d);
            }
        double want = (kxx + kyy) / (double)(m * (m - 1)) - 2.0 * kxy / (double)(m * m);
        KidResult k;
        metrics_kid(&k, x, m, y, m, d, (int)m, 1, 7);
        check(fabs(k.mean - want) <= 1e-5 * fabs(want) + 1e-7,
              "KID, one subset of all %zu rows = brute-force unbiased MMD^2: %.9g vs %.9g", m,
              k.mean, want);
    }
    KidResult same, other, shifted;
    metrics_kid(&same, x, n, x, n, d, 200, 50, 1);
    metrics_kid(&other, x, n, x2, n, d, 200, 50, 1);
    metrics_kid(&shifted, x, n, y, n, d, 200, 50, 1);
    check(same.subset_size == 200 && same.subsets == 50, "KID: subset size %d, %d subsets",
          same.subset_size, same.subsets);
    /* clean-fid draws the two subsets independently: against itself they share ~M^2/N
     * rows, whose k(x,x) ~ 8 (vs k(x,y) ~ 1) in the cross term pulls the KID down by
     * ~ 2 (8 - 1) / N ~ 0.023 at N = 600 */
    check(fabs(same.mean) < 0.05 * shifted.mean,
          "KID of a set against itself ~ 0 (slightly negative from shared rows, ~ -14/N = %.3g): "
          "%.3g (+- %.2g), vs %.3g when shifted by 0.5",
          -14.0 / n, same.mean, same.std, shifted.mean);
    check(fabs(other.mean) < 0.02 * shifted.mean,
          "KID of two draws of one distribution ~ 0: %.3g (+- %.2g)", other.mean, other.std);
    check(shifted.mean > 10 * shifted.std / sqrt(50.0) && shifted.mean > 0,
          "KID of sets shifted by 0.5 > 0: %.4g (+- %.2g)", shifted.mean, shifted.std);
    KidResult again;
    metrics_kid(&again, x, n, y, n, d, 200, 50, 1);
    check(again.mean == shifted.mean, "KID is reproducible for a seed (%.17g)", again.mean);
    KidResult dflt;
    metrics_kid(&dflt, x, n, y, n, d, 0, 3, 1);
    check(dflt.subset_size == (int)n, "KID: the default subset size 1000 shrinks to N = %zu (%d)",
          n, dflt.subset_size);
    free(x);
    free(x2);
    free(y);
}

/* ---------------------------------------------------------------- Inception Score */

static void test_is(void)
{
    const int k = 10;
    const size_t n = 1000;
    float *p = xalloc_floats(n * k);
    double m, s;
    for (size_t i = 0; i < n * k; i++) p[i] = 1.0f / k;
    metrics_inception_score(&m, &s, p, n, k, 10);
    check(fabs(m - 1.0) < 1e-6 && s < 1e-6, "IS of uniform probabilities = 1: %.9g +- %.2g", m, s);
    memset(p, 0, sizeof(float) * n * k);
    for (size_t i = 0; i < n; i++) p[i * k + i % k] = 1.0f;
    metrics_inception_score(&m, &s, p, n, k, 0);
    /* equal rows spread over the splits like any others: each split holds a random share
     * of every class, so IS is just below k */
    check(m > 9.0 && m <= k + 1e-9, "IS of balanced one-hot probabilities: %.6g +- %.2g (9 .. %d)", m, s, k);
    /* the order of the rows does not matter: a set sorted by class (consecutive splits
     * would each hold about one class: IS ~1) scores as the same set shuffled, bit for bit */
    Rng rng;
    rng_init(&rng, 77, 0);
    for (size_t i = 0; i < n; i++) {
        const int c = (int)(i * k / n); /* sorted: rows 0..99 class 0, ... */
        double sum = 0;
        for (int j = 0; j < k; j++) sum += p[i * k + j] = (float)(0.02 + 0.1 * rng_uniform_double(&rng) + (j == c ? 3.0 : 0.0));
        for (int j = 0; j < k; j++) p[i * k + j] = (float)(p[i * k + j] / sum);
    }
    float *sh = xalloc_floats(n * k);
    int64_t *perm = xmalloc(sizeof *perm * n);
    rng_permutation(perm, (int64_t)n, 78, 0);
    for (size_t i = 0; i < n; i++) memcpy(sh + i * k, p + (size_t)perm[i] * k, sizeof(float) * k);
    double ms, ss, mh, sh_std;
    metrics_inception_score(&ms, &ss, p, n, k, 10);
    metrics_inception_score(&mh, &sh_std, sh, n, k, 10);
    double cons = 0; /* what consecutive splits of the sorted rows give: each split one class */
    for (int q = 0; q < 10; q++) {
        double m1, s1;
        metrics_inception_score(&m1, &s1, p + (size_t)q * (n / 10) * k, n / 10, k, 1);
        cons += m1 / 10;
    }
    check(ms == mh && ss == sh_std && ms > 3 * cons,
          "IS: sorted by class %.6g +- %.2g == shuffled %.6g +- %.2g (bit for bit); consecutive "
          "splits of the sorted rows would give %.4g", ms, ss, mh, sh_std, cons);
    free(sh);
    free(perm);
    /* by hand: rows (1,0) and (1/2,1/2), one split:
     * p(y) = (3/4,1/4); KL = log(4/3) and (log(2/3) + log 2)/2 */
    const float q[4] = {1.0f, 0.0f, 0.5f, 0.5f};
    metrics_inception_score(&m, &s, q, 2, 2, 1);
    double want = exp((log(4.0 / 3.0) + 0.5 * log(2.0 / 3.0) + 0.5 * log(2.0)) / 2.0);
    check(fabs(m - want) < 1e-7, "IS by hand (2 rows, 2 classes, 1 split): %.9g vs %.9g", m, want);
    free(p);
}

/* ---------------------------------------------------------------- precision / recall */

static double d2(const float *a, const float *b, int d)
{
    double s = 0.0;
    for (int j = 0; j < d; j++) s += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    return s;
}

static void brute_radii(double *r2, const float *x, size_t n, int d, int k)
{
    double *best = xmalloc(sizeof(double) * (size_t)k);
    for (size_t i = 0; i < n; i++) {
        for (int t = 0; t < k; t++) best[t] = INFINITY;
        for (size_t j = 0; j < n; j++) {
            if (j == i) continue;
            double v = d2(x + i * d, x + j * d, d);
            int p = k - 1;
            if (v >= best[p]) continue;
            while (p > 0 && best[p - 1] > v) { best[p] = best[p - 1]; p--; }
            best[p] = v;
        }
        r2[i] = best[k - 1];
    }
    free(best);
}

static double brute_share(const float *q, size_t nq, const float *ref, const double *r2,
                          size_t nr, int d)
{
    size_t in = 0;
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nr; j++)
            if (d2(q + i * d, ref + j * d, d) <= r2[j]) { in++; break; }
    return (double)in / (double)nq;
}

static void test_pr(void)
{
    const int d = 16;
    const size_t n = 700, nf = 500;
    float *real = xalloc_floats(n * d), *fake = xalloc_floats(nf * d);
    fill_normal(real, n * d, 0.0f, 1.0f, 21);
    PrResult pr;
    metrics_precision_recall(&pr, real, n, real, n, d, 3);
    check(pr.precision == 1.0 && pr.recall == 1.0 && pr.k == 3,
          "precision/recall of a set against itself = 1, 1: %.4f, %.4f", pr.precision, pr.recall);
    fill_normal(fake, nf * d, 100.0f, 1.0f, 22);
    metrics_precision_recall(&pr, real, n, fake, nf, d, 0);
    check(pr.precision == 0.0 && pr.recall == 0.0,
          "precision/recall of disjoint far sets = 0, 0: %.4f, %.4f", pr.precision, pr.recall);
    /* partly overlapping: narrower and shifted fakes; brute force in double */
    fill_normal(fake, nf * d, 0.3f, 0.7f, 23);
    metrics_precision_recall(&pr, real, n, fake, nf, d, 3);
    double *rr = xmalloc(sizeof(double) * n), *rf = xmalloc(sizeof(double) * nf);
    brute_radii(rr, real, n, d, 3);
    brute_radii(rf, fake, nf, d, 3);
    double bp = brute_share(fake, nf, real, rr, n, d), br = brute_share(real, n, fake, rf, nf, d);
    check(fabs(pr.precision - bp) <= 1.0 / nf && fabs(pr.recall - br) <= 1.0 / n,
          "precision/recall of overlapping sets = brute force (float64): %.4f, %.4f vs %.4f, %.4f",
          pr.precision, pr.recall, bp, br);
    /* radii of row ranges are the same as of the whole */
    float *all = xalloc_floats(n), *part = xalloc_floats(n);
    metrics_knn_radii(all, real, n, d, 3, 0, n);
    metrics_knn_radii(part, real, n, d, 3, 0, 100);
    metrics_knn_radii(part + 100, real, n, d, 3, 100, 333);
    metrics_knn_radii(part + 333, real, n, d, 3, 333, n);
    /* (GEMMs of other shapes may round differently in the last bits) */
    check_close("k-NN radii of 3 row ranges = of all rows", part, all, n, 0, 1e-5);
    double maxrel = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(all[i] - rr[i]) / rr[i];
        if (e > maxrel) maxrel = e;
    }
    check(maxrel < 1e-4, "k-NN radii (GEMM, float32) vs brute force (float64): max rel diff %.2g",
          maxrel);
    int64_t c1 = metrics_count_inside(fake, nf, real, all, n, d, 0, 250);
    int64_t c2 = metrics_count_inside(fake, nf, real, all, n, d, 250, nf);
    check(llabs((long long)(c1 + c2) - llround(bp * nf)) <= 1,
          "inside-counts of 2 row ranges add up: %lld + %lld", (long long)c1, (long long)c2);
    free(real);
    free(fake);
    free(rr);
    free(rf);
    free(all);
    free(part);
}

/* ---------------------------------------------------------------- Fréchet (serial) */

static void test_frechet(void)
{
    const int d = 5;
    double mu1[5] = {0, 1, 2, 3, 4}, mu2[5] = {1, 1, 0, 3, 4};
    double s1[25] = {0}, s2[25] = {0};
    const double a[5] = {1, 4, 9, 0.25, 2}, b[5] = {4, 4, 1, 1, 0};
    double want = 1.0 + 4.0;
    for (int i = 0; i < d; i++) {
        s1[i * d + i] = a[i];
        s2[i * d + i] = b[i];
        want += (sqrt(a[i]) - sqrt(b[i])) * (sqrt(a[i]) - sqrt(b[i]));
    }
    int clamped = -1;
    double f = metrics_frechet_lapack(mu1, s1, mu2, s2, d, &clamped);
    check(fabs(f - want) < 1e-12 * want, "Frechet (LAPACK) of diagonal covariances: %.15g vs %.15g",
          f, want);
    double g = metrics_frechet_lapack(mu2, s2, mu1, s1, d, &clamped);
    check(fabs(f - g) < 1e-12 * want && clamped == 1,
          "Frechet is symmetric (%.3g apart); the singular S (one 0 eigenvalue) counted: %d",
          fabs(f - g), clamped);
    /* a dense covariance against itself */
    const int n = 200, dd = 40;
    float *x = xalloc_floats((size_t)n * dd);
    fill_normal(x, (size_t)n * dd, 0.2f, 1.0f, 9);
    FeatStats s;
    featstats_init(&s, dd);
    featstats_add(&s, x, (size_t)n);
    double *mu = xmalloc(sizeof(double) * dd), *cov = xmalloc(sizeof(double) * dd * dd);
    featstats_mean_cov(&s, mu, cov);
    double self = metrics_frechet_lapack(mu, cov, mu, cov, dd, NULL);
    check(fabs(self) < 1e-10, "Frechet(X, X) = 0 to rounding: %.3g", self);
    featstats_free(&s);
    free(x);
    free(mu);
    free(cov);
}

/* ---------------------------------------------------------------- classifier */

static void test_classifier_shapes(void)
{
    ClassifierConfig cfg;
    classifier_config_default(&cfg);
    Classifier *net = classifier_init(&cfg, 8, 0);
    /* conv1 320 + norm1 64 + conv2 18496 + norm2 128 + conv3 73856 + norm3 256 +
     * fc1 16512 + fc2 1290 */
    check(classifier_num_params(net) == 110922, "classifier (defaults): %zu parameters (110922)",
          classifier_num_params(net));
    const ClassifierTensor *t = classifier_find_tensor(net, "conv2.weight");
    check(t && t->ndim == 4 && t->shape[0] == 64 && t->shape[1] == 32 && t->shape[2] == 3,
          "classifier: conv2.weight is (64,32,3,3)");
    const ClassifierTensor *last = classifier_tensor(net, classifier_num_tensors(net) - 1);
    check(classifier_num_tensors(net) == 16 && strcmp(last->name, "fc2.bias") == 0 &&
              last->offset + last->size == classifier_num_params(net),
          "classifier: 16 tensors, the last (fc2.bias) ends the block");
    classifier_init_weights(net, 1);
    const int B = 19; /* more than max_batch: eval runs in pieces */
    float *x = xalloc_floats((size_t)B * 32 * 32), *feat = xalloc_floats((size_t)B * 128);
    float *probs = xalloc_floats((size_t)B * 10), *feat1 = xalloc_floats(128);
    test_fill_uniform(x, (size_t)B * 32 * 32, -1, 1, 3);
    for (size_t i = 0; i < (size_t)B * 128; i++) feat[i] = NAN;
    classifier_eval(net, feat, probs, x, B);
    int finite = floats_finite(feat, (size_t)B * 128) && floats_finite(probs, (size_t)B * 10);
    double worst = 0;
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int k = 0; k < 10; k++) s += probs[b * 10 + k];
        worst = fmax(worst, fabs(s - 1.0));
    }
    check(finite && worst < 1e-6,
          "classifier eval of %d 1x32x32 images: features (%d,128), probs (%d,10) rows sum to 1 "
          "(worst %.2g)", B, B, B, worst);
    classifier_features(net, feat1, x + (size_t)(B - 1) * 32 * 32, 1);
    check_close("classifier: features of the last image alone = in the batch (no cross-talk)",
                feat1, feat + (size_t)(B - 1) * 128, 128, 1e-6, 1e-5);
    /* 28x28 images padded into the 32x32 frame */
    uint8_t img[28 * 28];
    for (int i = 0; i < 28 * 28; i++) img[i] = (uint8_t)(i % 256);
    classifier_input_u8(x, img, 1, 1, 28, 28, 32);
    check(x[0] == -1.0f && x[2 * 32 + 2] == -1.0f && x[2 * 32 + 3] == 1.0f / 127.5f - 1.0f &&
              x[31 * 32 + 31] == -1.0f,
          "classifier input: 28x28 uint8 centred in 32x32, [-1,1], padded with -1");
    free(x);
    free(feat);
    free(feat1);
    free(probs);
    classifier_free(net);
}

static double loss_at(Classifier *net, const float *x, const int *labels, int B, float *logits)
{
    const ClassifierConfig *c = classifier_config(net);
    classifier_forward(net, logits, NULL, x, B);
    return classifier_loss(NULL, logits, labels, B, c->num_classes);
}

static void test_classifier_grad(void)
{
    ClassifierConfig cfg = {.in_ch = 2, .image_size = 8, .num_classes = 3, .ch = 4,
                            .groups = 2, .feat_dim = 6};
    const int B = 3, K = 3;
    Classifier *net = classifier_init(&cfg, B, 1);
    classifier_init_weights(net, 17);
    float *p = classifier_params(net), *g = classifier_grads(net);
    /* GroupNorm affine away from 1/0 so that its gradients are exercised */
    Rng r;
    rng_init(&r, 5, 5);
    for (int i = 0; i < classifier_num_tensors(net); i++) {
        const ClassifierTensor *t = classifier_tensor(net, i);
        if (strncmp(t->name, "norm", 4) == 0)
            for (size_t j = 0; j < t->size; j++) p[t->offset + j] += 0.3f * rng_normal(&r);
    }
    const size_t nx = (size_t)B * 2 * 8 * 8;
    float *x = xalloc_floats(nx), *dx = xalloc_floats(nx), *fdx = xalloc_floats(nx);
    float logits[9], dlogits[9];
    test_fill_uniform(x, nx, -1, 1, 8);
    const int labels[3] = {0, 2, 1};
    classifier_zero_grad(net);
    memset(dx, 0, sizeof(float) * nx);
    classifier_forward(net, logits, NULL, x, B);
    classifier_loss(dlogits, logits, labels, B, K);
    classifier_backward(net, dx, dlogits);

    const size_t np = classifier_num_params(net);
    float *fd = xalloc_floats(np);
    const float eps = 1e-2f;
    /* ~4000 forwards of a tiny net: one thread (forks would cost more than the work, and
     * much more on busy shared cores) */
    const int threads = ddm_threads();
    ddm_set_threads(1);
    for (size_t i = 0; i < np; i++) {
        const float keep = p[i];
        p[i] = keep + eps;
        double lp = loss_at(net, x, labels, B, logits);
        p[i] = keep - eps;
        double lm = loss_at(net, x, labels, B, logits);
        p[i] = keep;
        fd[i] = (float)((lp - lm) / (2.0 * eps));
    }
    for (int i = 0; i < classifier_num_tensors(net); i++) {
        const ClassifierTensor *t = classifier_tensor(net, i);
        char what[160];
        snprintf(what, sizeof what, "classifier backward vs central differences: %s", t->name);
        check_close(what, g + t->offset, fd + t->offset, t->size, 2e-3, 5e-2);
    }
    for (size_t i = 0; i < nx; i++) {
        const float keep = x[i];
        x[i] = keep + eps;
        double lp = loss_at(net, x, labels, B, logits);
        x[i] = keep - eps;
        double lm = loss_at(net, x, labels, B, logits);
        x[i] = keep;
        fdx[i] = (float)((lp - lm) / (2.0 * eps));
    }
    ddm_set_threads(threads);
    check_close("classifier backward vs central differences: input", dx, fdx, nx, 2e-3, 5e-2);
    free(fd);
    free(x);
    free(dx);
    free(fdx);
    classifier_free(net);
}

/* a few AdamW steps on two separable classes (bright left half vs bright right half) */
static void test_classifier_learns(void)
{
    ClassifierConfig cfg = {.in_ch = 1, .image_size = 16, .num_classes = 2, .ch = 8,
                            .groups = 4, .feat_dim = 16};
    const int B = 16, S = 16;
    Classifier *net = classifier_init(&cfg, B, 1);
    classifier_init_weights(net, 3);
    const size_t np = classifier_num_params(net);
    float *m = xcalloc(np, sizeof(float)), *v = xcalloc(np, sizeof(float));
    float *x = xalloc_floats((size_t)B * S * S), logits[32], dlogits[32];
    int labels[16];
    AdamW opt = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};
    Rng r;
    rng_init(&r, 4, 4);
    float first = 0, last = 0;
    for (long step = 1; step <= 40; step++) {
        for (int b = 0; b < B; b++) {
            labels[b] = (int)rng_below(&r, 2);
            for (int i = 0; i < S * S; i++) {
                int right = (i % S) >= S / 2;
                x[(size_t)b * S * S + i] =
                    (right == labels[b] ? 0.5f : -0.5f) + 0.5f * rng_normal(&r);
            }
        }
        classifier_zero_grad(net);
        classifier_forward(net, logits, NULL, x, B);
        float loss = classifier_loss(dlogits, logits, labels, B, 2);
        classifier_backward(net, NULL, dlogits);
        adamw_step(classifier_params(net), classifier_grads(net), m, v, np, step, &opt);
        if (step == 1) first = loss;
        last = loss;
    }
    check(last < 0.5f * first, "classifier learns two classes: loss %.4f -> %.4f in 40 AdamW steps",
          first, last);
    free(m);
    free(v);
    free(x);
    classifier_free(net);
}

/* test_metrics --torch-ref FILE: the classifier against tests/ref/classifier_ref.py's
 * dump (same weights, input and labels): logits, features, loss, every gradient */
static void read_exact(void *dst, size_t size, size_t n, FILE *f, const char *path)
{
    if (fread(dst, size, n, f) != n) ddm_die("%s: truncated reference dump", path);
}

static void test_classifier_torch(const char *path)
{
    FILE *f = xfopen(path, "rb");
    int32_t h[7];
    read_exact(h, sizeof(int32_t), 7, f, path);
    ClassifierConfig cfg = {.in_ch = h[0], .image_size = h[1], .num_classes = h[2], .ch = h[3],
                            .groups = h[4], .feat_dim = h[5]};
    const int B = h[6], K = cfg.num_classes, F = cfg.feat_dim;
    Classifier *net = classifier_init(&cfg, B, 1);
    const size_t np = classifier_num_params(net);
    const size_t nx = (size_t)B * cfg.in_ch * cfg.image_size * cfg.image_size;
    float *x = xalloc_floats(nx), *rlogits = xalloc_floats((size_t)B * K);
    float *rfeat = xalloc_floats((size_t)B * F), *rgrad = xalloc_floats(np);
    float *rdx = xalloc_floats(nx), *logits = xalloc_floats((size_t)B * K);
    float *dlogits = xalloc_floats((size_t)B * K), *feat = xalloc_floats((size_t)B * F);
    float *dx = xcalloc(nx, sizeof(float));
    int *labels = xmalloc(sizeof(int) * (size_t)B);
    float rloss;
    read_exact(classifier_params(net), sizeof(float), np, f, path);
    read_exact(x, sizeof(float), nx, f, path);
    read_exact(labels, sizeof(int), (size_t)B, f, path);
    read_exact(rlogits, sizeof(float), (size_t)B * K, f, path);
    read_exact(rfeat, sizeof(float), (size_t)B * F, f, path);
    read_exact(&rloss, sizeof(float), 1, f, path);
    read_exact(rgrad, sizeof(float), np, f, path);
    read_exact(rdx, sizeof(float), nx, f, path);
    char extra;
    check(fread(&extra, 1, 1, f) == 0,
          "PyTorch dump holds exactly %zu parameters in named_parameters() order", np);
    fclose(f);

    classifier_zero_grad(net);
    classifier_forward(net, logits, feat, x, B);
    float loss = classifier_loss(dlogits, logits, labels, B, K);
    classifier_backward(net, dx, dlogits);
    check_close("classifier vs PyTorch: logits", logits, rlogits, (size_t)B * K, 1e-6, 1e-4);
    check_close("classifier vs PyTorch: features", feat, rfeat, (size_t)B * F, 2e-7, 1e-4);
    check_close("classifier vs PyTorch: loss", &loss, &rloss, 1, 1e-6, 1e-5);
    for (int i = 0; i < classifier_num_tensors(net); i++) {
        const ClassifierTensor *t = classifier_tensor(net, i);
        char what[160];
        snprintf(what, sizeof what, "classifier vs PyTorch: grad %s", t->name);
        check_close(what, classifier_grads(net) + t->offset, rgrad + t->offset, t->size, 1e-7,
                    1e-3);
    }
    check_close("classifier vs PyTorch: grad input", dx, rdx, nx, 1e-8, 1e-3);
    free(x);
    free(rlogits);
    free(rfeat);
    free(rgrad);
    free(rdx);
    free(logits);
    free(dlogits);
    free(feat);
    free(dx);
    free(labels);
    classifier_free(net);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--torch-ref") == 0) {
        test_classifier_torch(argv[2]);
        return test_summary();
    }
    if (argc != 1) ddm_die("usage: test_metrics [--torch-ref FILE]");
    double t0 = ddm_now();
    test_stats();
    test_kid();
    test_is();
    test_pr();
    test_frechet();
    test_classifier_shapes();
    test_classifier_grad();
    test_classifier_learns();
    printf("(%.1f s)\n", ddm_now() - t0);
    return test_summary();
}
