/* mpi/shard and io/samples under MPI (also runs plainly as one rank). Driven by
 * tests/t_shard.sh and tests/t_samplesfile.sh:
 *
 *   test_shard [selftest]                 (what tests/run.sh runs) a small version of all
 *                                         below at this rank count, in a temporary folder
 *   test_shard gen FILE N C S [CHUNK]     write a test dataset (pixels a function of row),
 *                                         deflate-compressed in chunks of CHUNK rows (16)
 *   test_shard read FILE OUT BG STEPS SEED [cache] [collective] [flip]
 *        every rank reads its part of STEPS global steps; rank 0 gathers the global
 *        batches, checks them against an independent derivation (order, epochs, pixels,
 *        labels, flips) and writes them to OUT, which the script compares across P
 *   test_shard bench FILE BG STEPS        seconds per step: independent, collective, cache
 *   test_shard open FILE C S BG           just shard_open (for the error checks)
 *   test_shard samples FILE STEPS N [STOP [GROUP [SETTINGS]]]
 *        write a 2-group samples file, rows interleaved over the ranks (row i by rank
 *        i % P); resumes by itself; with STOP > 0 the job aborts (MPI_Abort) after that
 *        many collective row writes, like a job killed mid-run. GROUP names the first
 *        group (default: the canonical name), SETTINGS replaces its settings text;
 *        the environment variable TS_CKPT_STEP changes the checkpoint step (100).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/rng.h"
#include "io/h5.h"
#include "io/samples.h"
#include "mpi/dist.h"
#include "mpi/h5par.h"
#include "mpi/shard.h"
#include "tests/testlib.h"

#define NCLASSES 7

static uint8_t pixel(int64_t row, size_t k)
{
    return (uint8_t)((row * 37 + (int64_t)k * 11 + (row * (int64_t)k) % 13) & 255);
}

static int gen(const char *path, int64_t n, int c, int s, int64_t chunk_rows)
{
    const size_t img = (size_t)c * s * s;
    hid_t f = h5_create(path, H5P_DEFAULT);
    h5_set_kind(f, "dataset");
    h5_attr_set_i64(f, "classes", NCLASSES);
    h5_attr_set_str(f, "source", "test_shard");
    hsize_t dims[4] = {(hsize_t)n, (hsize_t)c, (hsize_t)s, (hsize_t)s};
    hsize_t chunk[4] = {(hsize_t)(n < chunk_rows ? n : chunk_rows), (hsize_t)c, (hsize_t)s,
                        (hsize_t)s};
    hid_t sp = H5Screate_simple(4, dims, NULL);
    H5OK(sp);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5OK(dcpl);
    H5OK(H5Pset_chunk(dcpl, 4, chunk));
    H5OK(H5Pset_deflate(dcpl, 4)); /* like io/dataset.c */
    hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5OK(d);
    uint8_t *buf = xmalloc((size_t)n * img);
    for (int64_t r = 0; r < n; r++)
        for (size_t k = 0; k < img; k++) buf[(size_t)r * img + k] = pixel(r, k);
    H5OK(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    H5OK(H5Dclose(d));
    H5OK(H5Sclose(sp));
    sp = H5Screate_simple(1, dims, NULL);
    H5OK(sp);
    hid_t lcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5OK(lcpl);
    H5OK(H5Pset_chunk(lcpl, 1, chunk));
    d = H5Dcreate2(f, "labels", H5T_STD_I32LE, sp, H5P_DEFAULT, lcpl, H5P_DEFAULT);
    H5OK(d);
    int32_t *lab = xmalloc((size_t)n * sizeof *lab);
    for (int64_t r = 0; r < n; r++) lab[r] = (int32_t)(r % NCLASSES);
    H5OK(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab));
    H5OK(H5Dclose(d));
    H5OK(H5Sclose(sp));
    H5OK(H5Pclose(dcpl));
    H5OK(H5Pclose(lcpl));
    h5_close(f);
    free(buf);
    free(lab);
    printf("wrote %s: %lld x %d x %d x %d\n", path, (long long)n, c, s, s);
    return 0;
}

/* Gather this rank's (B) arrays into rank 0's global batch (Bg), rank-major. */
static void gather(const void *mine, void *all, int count, MPI_Datatype t)
{
    MPICHECK(MPI_Gather(mine, count, t, all, count, t, 0, g_dist.comm));
}

static int read_steps(int argc, char **argv)
{
    if (argc < 7)
        ddm_die("usage: test_shard read FILE OUT BG STEPS SEED [cache] [collective] [flip]");
    const char *path = argv[2], *out = argv[3];
    int64_t bg = atoll(argv[4]), steps = atoll(argv[5]);
    uint64_t seed = strtoull(argv[6], NULL, 10);
    ShardOptions o = {0, 0, 0};
    for (int i = 7; i < argc; i++) {
        if (!strcmp(argv[i], "cache"))
            o.cache = 1;
        else if (!strcmp(argv[i], "collective"))
            o.collective = 1;
        else if (!strcmp(argv[i], "flip"))
            o.flip = 1;
        else
            ddm_die("unknown option %s", argv[i]);
    }
    /* the file's shape from a serial peek (every rank) */
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hsize_t d[8];
    h5_shape(f, "images", d);
    h5_close(f);
    Shard s;
    shard_open(&s, path, (int)d[1], (int)d[2], bg, seed, &o);
    const int B = s.batch_local, P = g_dist.size, root = g_dist.rank == 0;
    const size_t img = (size_t)s.c * s.h * s.w;
    float *x = xmalloc((size_t)B * img * sizeof *x), *X = NULL;
    int32_t *lab = xmalloc((size_t)B * sizeof *lab), *LAB = NULL;
    int64_t *pos = xmalloc((size_t)B * sizeof *pos), *POS = NULL;
    int64_t *rows = xmalloc((size_t)B * sizeof *rows), *ROWS = NULL;
    FILE *fo = NULL;
    int64_t *perm = NULL, *seen = NULL;
    size_t bad_pos = 0, bad_row = 0, bad_px = 0, bad_lab = 0, dup = 0, flips = 0;
    int64_t bad_epoch = 0;
    if (root) {
        X = xmalloc((size_t)bg * img * sizeof *X);
        LAB = xmalloc((size_t)bg * sizeof *LAB);
        POS = xmalloc((size_t)bg * sizeof *POS);
        ROWS = xmalloc((size_t)bg * sizeof *ROWS);
        fo = xfopen(out, "wb");
        perm = xmalloc((size_t)s.n * sizeof *perm);
        seen = xcalloc((size_t)s.n, sizeof *seen);
    }
    int64_t spe = s.n / bg, perm_epoch = -1;
    for (int64_t step = 0; step < steps; step++) {
        shard_read(&s, step, x, lab, pos, rows);
        gather(x, X, (int)((size_t)B * img), MPI_FLOAT);
        gather(lab, LAB, B, MPI_INT32_T);
        gather(pos, POS, B, MPI_INT64_T);
        gather(rows, ROWS, B, MPI_INT64_T);
        if (!root) continue;
        fwrite(&step, sizeof step, 1, fo);
        fwrite(POS, sizeof *POS, (size_t)bg, fo);
        fwrite(ROWS, sizeof *ROWS, (size_t)bg, fo);
        fwrite(LAB, sizeof *LAB, (size_t)bg, fo);
        fwrite(X, sizeof *X, (size_t)bg * img, fo);
        /* independent derivation of what the step must hold */
        int64_t e = step / spe;
        if (shard_epoch(&s, step) != e || shard_epoch_pos(&s, step) != step % spe * bg) bad_epoch++;
        if (e != perm_epoch) {
            rng_permutation(perm, s.n, seed, (uint64_t)e);
            memset(seen, 0, (size_t)s.n * sizeof *seen);
            perm_epoch = e;
        }
        for (int64_t i = 0; i < bg; i++) {
            int64_t want_row = perm[step % spe * bg + i];
            bad_pos += POS[i] != step * bg + i;
            bad_row += ROWS[i] != want_row;
            bad_lab += LAB[i] != (int32_t)(want_row % NCLASSES);
            dup += seen[want_row]++ != 0;
            int fl =
                o.flip && rng_uniform_at(seed, SHARD_FLIP_STREAM, (uint64_t)(step * bg + i)) < 0.5f;
            flips += fl;
            for (int ch = 0; ch < s.c; ch++)
                for (int y = 0; y < s.h; y++)
                    for (int xx = 0; xx < s.w; xx++) {
                        size_t k = ((size_t)ch * s.h + y) * s.w + xx;
                        size_t src = ((size_t)ch * s.h + y) * s.w + (fl ? s.w - 1 - xx : xx);
                        float want = pixel(want_row, src) / 127.5f - 1.0f;
                        bad_px += X[(size_t)i * img + k] != want;
                    }
        }
    }
    if (root) {
        fclose(fo);
        char opts[64];
        snprintf(opts, sizeof opts, "%s%s%s", o.cache ? " cache" : "",
                 o.collective ? " collective" : "", o.flip ? " flip" : "");
        printf("P=%d Bg=%lld B=%d N=%lld steps/epoch=%lld steps=%lld%s\n", P, (long long)bg, B,
               (long long)s.n, (long long)spe, (long long)steps, opts);
        check(bad_pos == 0, "global positions are step*Bg + i (%zu wrong)", bad_pos);
        check(bad_row == 0,
              "rows follow the (seed, epoch) permutation across %lld epochs (%zu wrong)",
              (long long)((steps - 1) / spe + 1), bad_row);
        check(dup == 0, "no row twice within an epoch (%zu repeats)", dup);
        check(bad_epoch == 0, "shard_epoch / shard_epoch_pos agree (%lld wrong)",
              (long long)bad_epoch);
        check(bad_lab == 0, "labels are those of the rows (%zu wrong)", bad_lab);
        check(bad_px == 0, "pixels are u8/127.5 - 1 of the rows, in batch order (%zu wrong)",
              bad_px);
        if (o.flip)
            check(flips > 0 && flips < (size_t)(steps * bg),
                  "flips drawn per global position (%zu of %lld flipped)", flips,
                  (long long)(steps * bg));
        printf("read time: %.4f s on rank 0\n", s.read_s);
    }
    shard_close(&s);
    free(x);
    free(lab);
    free(pos);
    free(rows);
    free(X);
    free(LAB);
    free(POS);
    free(ROWS);
    free(perm);
    free(seen);
    return 0;
}

static int bench(int argc, char **argv)
{
    if (argc < 5) ddm_die("usage: test_shard bench FILE BG STEPS");
    const char *path = argv[2];
    int64_t bg = atoll(argv[3]), steps = atoll(argv[4]);
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hsize_t d[8];
    h5_shape(f, "images", d);
    h5_close(f);
    const char *names[3] = {"independent", "collective", "cache"};
    for (int mode = 0; mode < 3; mode++) {
        ShardOptions o = {mode == 2, 0, mode == 1};
        dist_barrier();
        double t0 = ddm_now();
        Shard s;
        shard_open(&s, path, (int)d[1], (int)d[2], bg, 1, &o);
        double t_open = ddm_now() - t0;
        float *x = xmalloc((size_t)s.batch_local * s.c * s.h * s.w * sizeof *x);
        for (int64_t st = 0; st < steps; st++) shard_read(&s, st, x, NULL, NULL, NULL);
        double mine = s.read_s, worst = mine;
        MPICHECK(MPI_Reduce(&mine, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, g_dist.comm));
        if (g_dist.rank == 0)
            printf("bench P=%d Bg=%lld N=%llu %-11s open %.3f s, %.2f ms/step (slowest rank)\n",
                   g_dist.size, (long long)bg, (unsigned long long)d[0], names[mode], t_open,
                   1e3 * worst / (double)steps);
        free(x);
        shard_close(&s);
    }
    return 0;
}

static int open_only(int argc, char **argv)
{
    if (argc < 6) ddm_die("usage: test_shard open FILE C S BG");
    Shard s;
    ShardOptions o = {0, 0, 0};
    shard_open(&s, argv[2], atoi(argv[3]), atoi(argv[4]), atoll(argv[5]), 0, &o);
    shard_close(&s);
    if (g_dist.rank == 0) printf("opened\n");
    return 0;
}

/* ---- samples ---- */

static uint8_t spixel(int64_t seed, size_t k)
{
    return (uint8_t)((seed * 131 + (int64_t)k * 17) & 255);
}

static int samples(int argc, char **argv)
{
    if (argc < 5) ddm_die("usage: test_shard samples FILE STEPS N [STOP [GROUP [SETTINGS]]]");
    const char *path = argv[2];
    int steps = atoi(argv[3]);
    int64_t n = atoll(argv[4]);
    int stop_after = argc > 5 ? atoi(argv[5]) : 0;
    const char *group0 = argc > 6 ? argv[6] : NULL, *settings0 = argc > 7 ? argv[7] : NULL;
    const int P = g_dist.size, r = g_dist.rank, C = 1, H = 4, W = 5, per_call = 3;
    const size_t img = (size_t)C * H * W;
    hid_t fapl = h5par_fapl(), dxpl = h5par_dxpl_collective();
    SamplesSource src = {"run/ckpt-00000100.h5", 100, "[model]\nch = 32\n"};
    if (getenv("TS_CKPT_STEP")) src.ckpt_step = atoll(getenv("TS_CKPT_STEP"));
    SamplesFile sf;
    samples_open(&sf, path, h5par_exists(path), &src, fapl, dxpl, r == 0);
    int calls = 0;
    for (int grp = 0; grp < 2; grp++) {
        SamplesSetting set = {grp ? "ddpm" : "ddim",
                              grp ? 2 * steps : steps,
                              grp ? -1 : 0,
                              0,
                              grp ? 3 : -1,
                              steps,
                              grp ? "clip=1" : "skip=uniform clip=1", NULL, NULL};
        if (!grp && settings0) set.settings = settings0;
        char name[64];
        samples_group_name(name, sizeof name, &set);
        if (!grp && group0) snprintf(name, sizeof name, "%s", group0);
        int64_t *seeds = xmalloc((size_t)n * sizeof *seeds);
        for (int64_t i = 0; i < n; i++) seeds[i] = 1000 + i + grp * 7;
        SamplesGroup g;
        int64_t *todo = NULL;
        int64_t ntodo = samples_group_open(&g, &sf, name, &set, seeds, n, C, H, W, &todo);
        if (r == 0)
            printf("group %s: %lld of %lld rows to do\n", name, (long long)ntodo, (long long)n);
        /* rank r takes todo[j] for j % P == r, per_call rows per collective write */
        int64_t mine = ntodo / P + (r < ntodo % P);
        int64_t most = ntodo / P + (ntodo % P != 0);
        int64_t ncalls = (most + per_call - 1) / per_call;
        uint8_t *im = xmalloc((size_t)per_call * img);
        int32_t *lab = xmalloc((size_t)per_call * sizeof *lab);
        int64_t *rows = xmalloc((size_t)per_call * sizeof *rows);
        for (int64_t c = 0; c < ncalls; c++) {
            size_t k = 0;
            for (int64_t q = c * per_call; q < (c + 1) * per_call && q < mine; q++) {
                /* reverse order inside a call: rows need not be sorted */
                int64_t row = todo[(q * P + r)];
                rows[k] = row;
                for (size_t p = 0; p < img; p++) im[k * img + p] = spixel(seeds[row], p);
                lab[k] = (int32_t)(seeds[row] % 10);
                k++;
            }
            for (size_t a = 0, b = k ? k - 1 : 0; a < b; a++, b--) {
                int64_t tr = rows[a];
                rows[a] = rows[b];
                rows[b] = tr;
                int32_t tl = lab[a];
                lab[a] = lab[b];
                lab[b] = tl;
                uint8_t tmp[64];
                memcpy(tmp, im + a * img, img);
                memcpy(im + a * img, im + b * img, img);
                memcpy(im + b * img, tmp, img);
            }
            samples_write_rows(&g, rows, k, im, lab);
            if (++calls == stop_after) {
                dist_barrier();
                if (r == 0) printf("stopping after %d collective writes (simulated kill)\n", calls);
                fflush(stdout);
                MPI_Abort(MPI_COMM_WORLD, 3);
            }
        }
        free(im);
        free(lab);
        free(rows);
        free(todo);
        free(seeds);
        samples_group_close(&g);
    }
    samples_close(&sf);
    h5par_close(dxpl);
    h5par_close(fapl);
    if (r == 0) printf("samples done\n");
    return 0;
}

static int file_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        same = x == y;
        if (x == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Everything at this rank count, self-checked: the shard reads (plain, cache, collective
 * give the same global batches) and a samples file read back row by row. */
static int selftest(void)
{
    const int root = g_dist.rank == 0;
    char dir[64] = "/tmp/ddm-test-shard.XXXXXX";
    if (root && !mkdtemp(dir)) ddm_die("mkdtemp failed");
    dist_bcast(dir, sizeof dir, 0);
    char d[128], o[3][128], sp[128];
    snprintf(d, sizeof d, "%s/d.h5", dir);
    snprintf(sp, sizeof sp, "%s/s.h5", dir);
    if (root) gen(d, 37, 1, 4, 16);
    dist_barrier();
    const char *modes[3] = {NULL, "cache", "collective"};
    for (int m = 0; m < 3; m++) {
        snprintf(o[m], sizeof o[m], "%s/o%d", dir, m);
        char *av[9] = {"test_shard", "read", d, o[m], "8", "12", "5", "flip", (char *)modes[m]};
        read_steps(modes[m] ? 9 : 8, av);
    }
    if (root) {
        check(file_equal(o[0], o[1]), "cache reads give the same global batches");
        check(file_equal(o[0], o[2]), "collective reads give the same global batches");
    }
    char *av[5] = {"test_shard", "samples", sp, "50", "23"};
    samples(5, av);
    if (root) {
        hid_t f = h5_open(sp, H5F_ACC_RDONLY, H5P_DEFAULT);
        h5_require_kind(f, sp, "samples");
        char **names = NULL;
        int ng = samples_list_groups(f, &names);
        check(ng == 2 && !strcmp(names[0], "ddim-50-eta0") && !strcmp(names[1], "ddpm-100-c3"),
              "samples file lists its 2 groups (%s, %s)", ng > 0 ? names[0] : "-",
              ng > 1 ? names[1] : "-");
        for (int gi = 0; gi < ng; gi++) {
            SamplesGroupInfo info;
            samples_group_info(f, sp, names[gi], &info);
            uint8_t im[23 * 20], done[23];
            int64_t seeds[23];
            int32_t lab[23];
            samples_read_rows(f, sp, names[gi], 0, 23, im, seeds, lab, done);
            size_t bad = 0;
            for (int r = 0; r < 23; r++) {
                bad += seeds[r] != 1000 + r + gi * 7 || lab[r] != seeds[r] % 10 || !done[r];
                for (size_t k = 0; k < 20; k++) bad += im[r * 20 + k] != spixel(seeds[r], k);
            }
            check(info.n == 23 && info.n_done == 23 && info.c == 1 && info.h == 4 && info.w == 5 &&
                      bad == 0,
                  "group %s (%s, steps %d): 23/%lld rows done, images/seeds/labels right (%zu "
                  "wrong)",
                  names[gi], info.sampler, info.steps, (long long)info.n_done, bad);
            samples_group_info_free(&info);
        }
        samples_free_names(names, ng);
        h5_close(f);
    }
    dist_barrier();
    int rc = root ? test_summary() : 0;
    if (root) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) printf("(could not remove %s)\n", dir);
    }
    return rc;
}

int main(int argc, char **argv)
{
    dist_init(&argc, &argv);
    h5_quiet();
    int rc = 0;
    if (argc < 2 || !strcmp(argv[1], "selftest")) {
        rc = selftest();
    } else if (!strcmp(argv[1], "gen")) {
        if (argc < 6) ddm_die("usage: test_shard gen FILE N C S [CHUNK_ROWS]");
        if (g_dist.rank == 0)
            rc = gen(argv[2], atoll(argv[3]), atoi(argv[4]), atoi(argv[5]),
                     argc > 6 ? atoll(argv[6]) : 16);
    } else if (!strcmp(argv[1], "read")) {
        rc = read_steps(argc, argv);
        if (g_dist.rank == 0) rc = test_summary();
    } else if (!strcmp(argv[1], "bench")) {
        rc = bench(argc, argv);
    } else if (!strcmp(argv[1], "open")) {
        rc = open_only(argc, argv);
    } else if (!strcmp(argv[1], "samples")) {
        rc = samples(argc, argv);
    } else {
        ddm_die("unknown mode %s", argv[1]);
    }
    dist_finalize();
    return rc;
}
