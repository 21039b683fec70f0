/* The ScaLAPACK Fréchet distance (mpi/fid.c) and the rank-spread metrics (mpi/pairwise.c).
 *
 *   test_fid_mpi                    self-contained checks at whatever rank count it runs
 *                                   (1 when run plainly, as tests/run.sh does)
 *   test_fid_mpi --cases FILE       FID of every case in FILE (written by tests/ref/fid_ref.py)
 *                                   against scipy's value; tests/t_fid.sh runs this under
 *                                   mpirun at 1, 2 and 4 ranks
 *
 * Every rank computes; rank 0 reports (one line per check, then "N passed, M failed").
 * D = feature width, P = ranks.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/metrics.h"
#include "core/rng.h"
#include "mpi/dist.h"
#include "mpi/fid.h"
#include "mpi/pairwise.h"
#include "tests/testlib.h"

static int g_rank, g_size;

/* a check made on every rank, reported by rank 0: passes when it passes everywhere */
static void check_all(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check_all(int ok, const char *fmt, ...)
{
    int all = ok;
    MPICHECK(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
    if (g_rank != 0) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    check(all, "[P=%d] %s", g_size, buf);
}

/* the same double on every rank? (bitwise) */
static int same_everywhere(double v)
{
    double lo = v, hi = v;
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD));
    MPICHECK(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
    return lo == hi;
}

static void fill_features(float *x, size_t n, int d, float shift, float scale, uint64_t seed)
{
    Rng r;
    rng_init(&r, seed, 1);
    for (size_t i = 0; i < n; i++) {
        float common = rng_normal(&r); /* a shared factor makes the covariance dense */
        for (int j = 0; j < d; j++)
            x[i * d + j] = shift + scale * (1.0f + 0.02f * j) * rng_normal(&r) + 0.5f * common;
    }
}

/* statistics of all n rows, each rank adding its share, then the reduction */
static void stats_spread(double *mu, double *sigma, const float *x, size_t n, int d)
{
    FeatStats s;
    featstats_init(&s, d);
    size_t a = n * (size_t)g_rank / (size_t)g_size, b = n * (size_t)(g_rank + 1) / (size_t)g_size;
    featstats_add(&s, x + a * d, b - a);
    fid_stats_allreduce(&s, MPI_COMM_WORLD);
    featstats_mean_cov(&s, mu, sigma);
    featstats_free(&s);
}

static void self_checks(void)
{
    const int d = 96;
    const size_t n1 = 700, n2 = 500;
    float *x = xalloc_floats(n1 * d), *y = xalloc_floats(n2 * d);
    fill_features(x, n1, d, 0.0f, 1.0f, 1);
    fill_features(y, n2, d, 0.2f, 1.3f, 2);
    double *mu1 = xmalloc(sizeof(double) * d), *s1 = xmalloc(sizeof(double) * d * d);
    double *mu2 = xmalloc(sizeof(double) * d), *s2 = xmalloc(sizeof(double) * d * d);
    double *rmu = xmalloc(sizeof(double) * d), *rs = xmalloc(sizeof(double) * d * d);

    /* statistics reduced over ranks = statistics of all rows on one rank */
    stats_spread(mu1, s1, x, n1, d);
    stats_spread(mu2, s2, y, n2, d);
    {
        FeatStats s;
        featstats_init(&s, d);
        featstats_add(&s, x, n1);
        featstats_mean_cov(&s, rmu, rs);
        featstats_free(&s);
        double worst = 0.0;
        for (size_t i = 0; i < (size_t)d * d; i++) worst = fmax(worst, fabs(s1[i] - rs[i]));
        for (int i = 0; i < d; i++) worst = fmax(worst, fabs(mu1[i] - rmu[i]));
        check_all(worst < 1e-12, "statistics of rows spread over ranks = of all rows on one: "
                                 "max |diff| %.2g", worst);
    }

    /* ScaLAPACK vs LAPACK (serial, same formula) */
    FidInfo info;
    double f = fid_frechet(mu1, s1, (int64_t)n1, mu2, s2, (int64_t)n2, d, MPI_COMM_WORLD, 0,
                           &info);
    double ref = metrics_frechet_lapack(mu1, s1, mu2, s2, d, NULL);
    check_all(fabs(f - ref) <= 1e-10 * fabs(ref) && same_everywhere(f),
              "FID D=%d on a %dx%d grid (nb %d) = serial LAPACK: %.12g vs %.12g (rel %.2g), same "
              "on every rank, %.3f s", d, info.nprow, info.npcol, info.nb, f, ref,
              fabs(f - ref) / fabs(ref), info.seconds);
    double g = fid_frechet(mu2, s2, (int64_t)n2, mu1, s1, (int64_t)n1, d, MPI_COMM_WORLD, 0, NULL);
    check_all(fabs(f - g) <= 1e-10 * fabs(f), "FID is symmetric: FID(1,2) - FID(2,1) = %.3g",
              f - g);
    double z = fid_frechet(mu1, s1, (int64_t)n1, mu1, s1, (int64_t)n1, d, MPI_COMM_WORLD, 0, &info);
    check_all(fabs(z) <= 1e-9 * info.trace_term, "FID(X, X) = 0 to rounding: %.3g (tr S = %.4g)",
              z, info.trace_term / 2);
    /* fewer samples than dimensions: finite, flagged */
    stats_spread(rmu, rs, x, 40, d);
    double fs = fid_frechet(rmu, rs, 40, mu2, s2, (int64_t)n2, d, MPI_COMM_WORLD, 1, &info);
    double fsr = metrics_frechet_lapack(rmu, rs, mu2, s2, d, NULL);
    check_all(isfinite(fs) && info.near_singular && info.clamped1 >= d - 40 &&
                  fabs(fs - fsr) <= 1e-8 * fabs(fsr),
              "FID with 40 samples in D=%d: finite %.10g (serial %.10g), flagged near-singular, "
              "%d eigenvalues ~0 (min %.2g)", d, fs, fsr, info.clamped1, info.min_eig1);

    /* a D smaller than one block: most ranks hold nothing of the matrices */
    {
        const double m1[3] = {1, 2, 3}, m2[3] = {0, 2, 5};
        const double a[9] = {2, 0.5, 0, 0.5, 1, 0.2, 0, 0.2, 3};
        const double b[9] = {1, 0, 0.1, 0, 2, 0, 0.1, 0, 0.5};
        double f3 = fid_frechet(m1, a, 0, m2, b, 0, 3, MPI_COMM_WORLD, 0, &info);
        double r3 = metrics_frechet_lapack(m1, a, m2, b, 3, NULL);
        check_all(fabs(f3 - r3) <= 1e-12 * fabs(r3) && !info.near_singular,
                  "FID D=3 on a %dx%d grid (nb %d, blocks of 1-2 rows) = serial: %.15g vs %.15g",
                  info.nprow, info.npcol, info.nb, f3, r3);
    }

    /* KID and precision/recall with the work spread over ranks = serial */
    KidResult ks, kp;
    metrics_kid(&ks, x, n1, y, n2, d, 100, 10, 5);
    pairwise_kid(&kp, x, n1, y, n2, d, 100, 10, 5, MPI_COMM_WORLD);
    check_all(kp.mean == ks.mean && kp.std == ks.std,
              "KID with subsets spread over ranks = serial, bitwise: %.10g +- %.3g", kp.mean,
              kp.std);
    PrResult ps, pp;
    metrics_precision_recall(&ps, x, n1, y, n2, d, 3);
    pairwise_precision_recall(&pp, x, n1, NULL, y, n2, d, 3, MPI_COMM_WORLD);
    check_all(fabs(pp.precision - ps.precision) <= 1.0 / n2 &&
                  fabs(pp.recall - ps.recall) <= 1.0 / n1,
              "precision/recall with rows spread over ranks = serial: %.4f, %.4f vs %.4f, %.4f",
              pp.precision, pp.recall, ps.precision, ps.recall);
    float *radii = pairwise_knn_radii(x, n1, d, 3, MPI_COMM_WORLD);
    PrResult pc;
    pairwise_precision_recall(&pc, x, n1, radii, y, n2, d, 3, MPI_COMM_WORLD);
    check_all(pc.precision == pp.precision && pc.recall == pp.recall,
              "precision/recall with the reference radii computed once = computed inside: %.4f, %.4f",
              pc.precision, pc.recall);
    free(radii);
    free(x);
    free(y);
    free(mu1);
    free(s1);
    free(mu2);
    free(s2);
    free(rmu);
    free(rs);
}

/* one case file of tests/ref/fid_ref.py, read on rank 0 */
static int run_case(const char *name, const char *path, double want, double want_eigh,
                    double rtol, int singular)
{
    int64_t hdr[3] = {0, 0, 0};
    double *mu1 = NULL, *s1 = NULL, *mu2 = NULL, *s2 = NULL;
    if (g_rank == 0) {
        FILE *f = xfopen(path, "rb");
        if (fread(hdr, sizeof(int64_t), 3, f) != 3 || hdr[0] <= 0 || hdr[0] > 65536)
            ddm_die("%s: not a case file (bad header)", path);
        const size_t d = (size_t)hdr[0];
        mu1 = xmalloc(sizeof(double) * d);
        mu2 = xmalloc(sizeof(double) * d);
        s1 = xmalloc(sizeof(double) * d * d);
        s2 = xmalloc(sizeof(double) * d * d);
        if (fread(mu1, sizeof(double), d, f) != d || fread(s1, sizeof(double), d * d, f) != d * d ||
            fread(mu2, sizeof(double), d, f) != d || fread(s2, sizeof(double), d * d, f) != d * d)
            ddm_die("%s: truncated case file", path);
        fclose(f);
    }
    MPICHECK(MPI_Bcast(hdr, 3, MPI_INT64_T, 0, MPI_COMM_WORLD));
    const int d = (int)hdr[0];
    FidInfo info;
    double got = fid_frechet(mu1, s1, hdr[1], mu2, s2, hdr[2], d, MPI_COMM_WORLD, 0, &info);
    /* numpy's eigh computes the same symmetric form: closer than scipy's sqrtm of a
     * (near-)singular product can be. want = nan: scipy was not run for this case. */
    const double rtol_eigh = singular ? 1e-7 : 1e-10;
    const int have_scipy = !isnan(want);
    double rel = have_scipy ? fabs(got - want) / fabs(want) : 0.0;
    double rel_eigh = fabs(got - want_eigh) / fabs(want_eigh);
    int ok = isfinite(got) && rel <= rtol && rel_eigh <= rtol_eigh &&
             (!singular || info.near_singular);
    char vs_scipy[160];
    if (have_scipy)
        snprintf(vs_scipy, sizeof vs_scipy, "scipy %.12g  rel diff %.2g (tol %g)", want, rel, rtol);
    else
        snprintf(vs_scipy, sizeof vs_scipy, "scipy not run (fid_ref.py --full)");
    check_all(ok, "FID %-15s D=%-4d grid %dx%d nb %-2d: C %.12g  %s  [numpy eigh %.12g, rel %.2g "
                  "(tol %g)]%s  %.2f s (eig %.2f + gemm %.2f + eig %.2f)",
              name, d, info.nprow, info.npcol, info.nb, got, vs_scipy, want_eigh, rel_eigh,
              rtol_eigh,
              singular ? (info.near_singular ? "  near-singular: warned" : "  NOT flagged") : "",
              info.seconds, info.seconds_eig1, info.seconds_gemm, info.seconds_eig2);
    free(mu1);
    free(s1);
    free(mu2);
    free(s2);
    return ok;
}

static void run_cases(const char *list)
{
    FILE *f = NULL;
    if (g_rank == 0) f = xfopen(list, "r");
    for (;;) {
        char line[2048] = "", name[256], path[1536];
        double want = 0, want_eigh = 0, rtol = 0;
        int singular = 0, more = 0;
        if (g_rank == 0) more = fgets(line, sizeof line, f) != NULL;
        MPICHECK(MPI_Bcast(&more, 1, MPI_INT, 0, MPI_COMM_WORLD));
        if (!more) break;
        MPICHECK(MPI_Bcast(line, (int)sizeof line, MPI_CHAR, 0, MPI_COMM_WORLD));
        if (sscanf(line, "%255s %1535s %lf %lf %lf %d", name, path, &want, &want_eigh, &rtol,
                   &singular) != 6)
            continue;
        run_case(name, path, want, want_eigh, rtol, singular);
    }
    if (f) fclose(f);
}

int main(int argc, char **argv)
{
    dist_init(&argc, &argv);
    g_rank = dist_rank();
    g_size = dist_size();
    ddm_set_threads(0);
    const char *cases = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cases") == 0 && i + 1 < argc) cases = argv[++i];
        else ddm_die("usage: test_fid_mpi [--cases FILE]");
    }
    double t0 = ddm_now();
    if (cases) run_cases(cases);
    else self_checks();
    int rc = 0;
    if (g_rank == 0) {
        printf("(%.1f s at %d rank%s)\n", ddm_now() - t0, g_size, g_size > 1 ? "s" : "");
        rc = test_summary();
    }
    MPICHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
    dist_finalize();
    return rc;
}
