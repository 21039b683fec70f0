/* ddm export: hand finished samples to other tools, as one PNG per sample (named by its
 * seed) or as a NumPy .npz: arr_0 uint8 (N,H,W,C), the layout improved-diffusion's and
 * guided-diffusion's evaluators read, and arr_1 int32 (N) labels when the file has them.
 * Only rows with done=1 are exported. Runs on rank 0; under mpirun the other ranks wait.
 *
 * The .npz is written here (no libzip): a zip of stored (uncompressed) members, each an
 * .npy v1.0 file. Members over 4 GiB use ZIP64 records; DDM_NPZ_ZIP64=1 forces them for
 * tests. N = rows, C = channels, H, W = height, width. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "io/fsio.h"
#include "io/h5.h"
#include "io/npz.h"
#include "io/png.h"
#include "io/samples.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

#define ROWS 256 /* images per read */

typedef void (*RowFn)(void *ctx, const SamplesSet *s, size_t row, const uint8_t *chw);

/* fn on every finished row in order, ROWS rows read at a time (blocks with none skipped);
 * a line "export: K/N WHAT" every 2 s */
static void each_done_row(const SamplesSet *s, size_t ndone, const char *what, RowFn fn, void *ctx)
{
    const size_t img = (size_t)s->c * s->h * s->w;
    uint8_t *buf = xmalloc(img * ROWS);
    double last = ddm_now();
    size_t written = 0;
    for (size_t r0 = 0; r0 < s->n; r0 += ROWS) {
        size_t nb = s->n - r0 < ROWS ? s->n - r0 : ROWS, any = 0;
        for (size_t j = 0; j < nb; j++) any += s->done[r0 + j] != 0;
        if (!any) continue;
        samples_set_read_images(s, r0, nb, buf);
        for (size_t j = 0; j < nb; j++)
            if (s->done[r0 + j]) {
                fn(ctx, s, r0 + j, buf + j * img);
                written++;
            }
        if (ddm_now() - last > 2.0) {
            printf("export: %zu/%zu %s\n", written, ndone, what);
            fflush(stdout);
            last = ddm_now();
        }
    }
    free(buf);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void png_row(void *dir, const SamplesSet *s, size_t row, const uint8_t *chw)
{
    char *p = xmalloc(strlen(dir) + 40);
    sprintf(p, "%s/%06lld.png", (const char *)dir, (long long)s->seeds[row]);
    pngio_write(p, chw, s->c, s->h, s->w);
    free(p);
}

static void export_pngs(const SamplesSet *s, const char *dir, size_t ndone)
{
    if (s->c != 1 && s->c != 3)
        ddm_die("%s: images have %d channels; PNG export takes 1 or 3 (use --npz)", s->path, s->c);
    fsio_mkdir_p(dir);
    /* a seed twice would silently overwrite its PNG: say so */
    int64_t *sd = xmalloc(sizeof(int64_t) * (ndone ? ndone : 1));
    size_t k = 0, dup = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->done[i]) sd[k++] = s->seeds[i];
    qsort(sd, k, sizeof(int64_t), cmp_i64);
    for (size_t i = 1; i < k; i++) dup += sd[i] == sd[i - 1];
    free(sd);
    if (dup) ddm_warn("%s: %zu finished rows repeat a seed; the last of each wins", s->path, dup);
    each_done_row(s, ndone, "PNGs", png_row, (void *)dir);
}

static void npz_row(void *z, const SamplesSet *s, size_t row, const uint8_t *chw)
{
    (void)row;
    const size_t plane = (size_t)s->h * s->w, img = plane * (size_t)s->c;
    uint8_t *hwc = xmalloc(img);
    for (size_t i = 0; i < plane; i++) /* (C,H,W) -> (H,W,C) */
        for (int k = 0; k < s->c; k++) hwc[i * (size_t)s->c + (size_t)k] = chw[(size_t)k * plane + i];
    npz_write(z, hwc, img);
    free(hwc);
}

static void export_npz(const SamplesSet *s, const char *out, size_t ndone)
{
    NpzWriter *z = npz_open(out);
    size_t shape[4] = {ndone, (size_t)s->h, (size_t)s->w, (size_t)s->c};
    npz_begin_array(z, "arr_0", "|u1", 4, shape, 1);
    each_done_row(s, ndone, "images", npz_row, z);
    npz_end_array(z);
    if (s->labels) {
        size_t ls[1] = {ndone};
        npz_begin_array(z, "arr_1", "<i4", 1, ls, 4);
        for (size_t i = 0; i < s->n; i++) {
            if (!s->done[i]) continue;
            uint32_t v = (uint32_t)s->labels[i];
            unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                                  (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
            npz_write(z, b, 4);
        }
        npz_end_array(z);
    }
    npz_close(z);
}

/* ---- the job -------------------------------------------------------------------------- */

static const char SYNOPSIS[] = "--samples FILE.h5 (--png-dir DIR | --npz FILE.npz) [--group NAME]";
static const char DESCRIPTION[] =
    "Write the finished samples (done=1) of a samples file for other tools (pytorch-fid,\n"
    "clean-fid, torch-fidelity, improved-diffusion's evaluator):\n"
    "  --png-dir DIR   one PNG per sample, named by its seed: DIR/000123.png\n"
    "  --npz FILE.npz  arr_0 uint8 [N,H,W,C] (+ arr_1 int32 [N] labels when present)\n"
    "Both may be given. A sweep file holds one group per sampler setting: --group picks one.";

int job_export(int argc, char **argv)
{
    if (!dist_root_only(&argc, &argv)) return 0;
    char *samples = NULL, *png_dir = NULL, *npz = NULL, *group = NULL;
    const CliOpt opts[] = {
        {"samples", CLI_STR, &samples, "FILE.h5", "the samples file to read", 1},
        {"png-dir", CLI_STR, &png_dir, "DIR", "write one PNG per finished sample here (created if missing)", 0},
        {"npz", CLI_STR, &npz, "FILE.npz", "write the finished samples as a NumPy .npz (replaced atomically)", 0},
        {"group", CLI_STR, &group, "NAME", "the sampler group of a sweep file; default: the only one", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("export", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) return dist_finish(0);
    if (!png_dir && !npz) ddm_die("ddm export: give --png-dir DIR or --npz FILE.npz (or both)");
    if (npz) {
        size_t l = strlen(npz);
        if (l < 4 || strcmp(npz + l - 4, ".npz") != 0)
            ddm_die("ddm export: --npz %s: the name must end in .npz (numpy.load needs it)", npz);
    }
    hid_t f = h5_open(samples, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(f, samples, "samples");
    char *g = samples_find_set(f, samples, group);
    SamplesSet s;
    samples_set_open(&s, f, samples, g);
    size_t ndone = 0;
    for (size_t i = 0; i < s.n; i++) ndone += s.done[i] != 0;
    const char *where = g[0] ? g : "/";
    if (ndone == 0)
        ddm_die("%s: no finished samples in %s (0 of %zu rows done)", samples, where, s.n);
    if (png_dir) export_pngs(&s, png_dir, ndone);
    if (npz) export_npz(&s, npz, ndone);
    printf("export: %s%s%s: %zu images [%d,%d,%d] written", samples, g[0] ? " group " : "",
           g[0] ? g : "", ndone, s.c, s.h, s.w);
    if (png_dir) printf(" to %s/", png_dir);
    if (npz) printf("%s%s%s", png_dir ? " and " : " to ", npz, s.labels ? " (with labels)" : "");
    size_t skipped = s.n - ndone;
    printf("; %zu unfinished row%s skipped\n", skipped, skipped == 1 ? "" : "s");
    samples_set_close(&s);
    free(g);
    h5_close(f);
    return dist_finish(0);
}
