/* ddm export: hand finished samples to other tools, as one PNG per sample (named by its
 * seed) or as a NumPy .npz: arr_0 uint8 (N,H,W,C), the layout improved-diffusion's and
 * guided-diffusion's evaluators read, and arr_1 int32 (N) labels when the file has them.
 * Only rows with done=1 are exported. Runs on rank 0; under mpirun the other ranks wait.
 *
 * The .npz is written here (no libzip): a zip of stored (uncompressed) members, each an
 * .npy v1.0 file. Members over 4 GiB use ZIP64 records; DDM_NPZ_ZIP64=1 forces them for
 * tests. N = rows, C = channels, H, W = height, width. */
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/common.h"
#include "io/h5.h"
#include "io/npz.h"
#include "io/png.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

#define ROWS 256 /* images per read */

/* ---- which set of samples ------------------------------------------------------------ */

static int holds_set(hid_t loc, const char *g)
{
    char p[1100];
    const char *need[] = {"images", "seeds", "done"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s%s", g, g[0] ? "/" : "", need[i]);
        if (!h5_exists(loc, p)) return 0;
    }
    return 1;
}

typedef struct {
    char **v;
    int n;
} Names;

#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t LinkInfo;
#else
typedef H5L_info_t LinkInfo;
#endif

static herr_t collect_group(hid_t loc, const char *name, const LinkInfo *info, void *op)
{
    Names *g = op;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) return 0;
    int is_group = H5Iget_type(o) == H5I_GROUP;
    H5Oclose(o);
    if (is_group && holds_set(loc, name)) {
        g->v = xrealloc(g->v, sizeof(char *) * (size_t)(g->n + 1));
        g->v[g->n++] = xstrdup(name);
    }
    return 0;
}

static void names_str(const Names *g, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < g->n && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", g->v[i]);
}

/* The group holding the set to export ("" for the root), malloc'd. */
static char *pick_group(hid_t f, const char *path, const char *want)
{
    Names g = {NULL, 0};
    hsize_t idx = 0;
    if (H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_group, &g) < 0)
        ddm_die("%s: cannot list its groups (damaged?)", path);
    char list[2048];
    names_str(&g, list, sizeof list);
    char *out = NULL;
    if (want) {
        while (*want == '/') want++;
        for (int i = 0; i < g.n && !out; i++)
            if (strcmp(g.v[i], want) == 0) out = xstrdup(want);
        if (!out) {
            if (g.n) ddm_die("%s: has no samples group '%s' (groups: %s)", path, want, list);
            ddm_die("%s: has no samples group '%s' (it holds no sampler groups%s)", path, want,
                    holds_set(f, "") ? "; its samples are at the root: drop --group" : "");
        }
    } else if (holds_set(f, "")) {
        out = xstrdup("");
    } else if (g.n == 1) {
        out = xstrdup(g.v[0]);
    } else if (g.n == 0) {
        ddm_die("%s: holds no samples (datasets images, seeds and done, at the root or in a "
                "group)", path);
    } else {
        ddm_die("%s: holds %d sampler groups (%s): pick one with --group NAME", path, g.n, list);
    }
    for (int i = 0; i < g.n; i++) free(g.v[i]);
    free(g.v);
    return out;
}

/* ---- the samples ------------------------------------------------------------------- */

typedef struct {
    const char *path;
    char group[1024];
    hid_t images;
    size_t n;
    int c, h, w;
    int64_t *seeds;
    uint8_t *done;
    int32_t *labels; /* NULL when none */
} Samples;

static hid_t open_1d(hid_t f, const Samples *s, const char *name, size_t n, int need)
{
    char p[1100];
    snprintf(p, sizeof p, "%s%s%s", s->group, s->group[0] ? "/" : "", name);
    if (!h5_exists(f, p)) {
        if (need) ddm_die("%s: has no dataset '/%s'", s->path, p);
        return -1;
    }
    hsize_t d[8];
    int nd = h5_shape(f, p, d);
    if (nd != 1 || d[0] != n)
        ddm_die("%s: dataset '/%s' must have shape [%zu] like the images", s->path, p, n);
    hid_t ds = H5Dopen2(f, p, H5P_DEFAULT);
    if (ds < 0) ddm_die("%s: cannot open dataset '/%s'", s->path, p);
    hid_t t = H5Dget_type(ds);
    H5OK(t);
    if (H5Tget_class(t) != H5T_INTEGER) ddm_die("%s: dataset '/%s' is not integer", s->path, p);
    H5OK(H5Tclose(t));
    return ds;
}

static void read_1d(const Samples *s, hid_t ds, hid_t memtype, void *buf, const char *name)
{
    if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        ddm_die("%s: cannot read '%s' (file damaged or truncated?)", s->path, name);
    H5OK(H5Dclose(ds));
}

static void samples_open(Samples *s, hid_t f, const char *path, const char *group)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    snprintf(s->group, sizeof s->group, "%s", group);
    char p[1100];
    snprintf(p, sizeof p, "%s%simages", group, group[0] ? "/" : "");
    hsize_t d[8];
    int nd = h5_shape(f, p, d);
    if (nd != 4) ddm_die("%s: '/%s' must be uint8 [N,C,H,W], it has %d dimensions", path, p, nd);
    s->images = H5Dopen2(f, p, H5P_DEFAULT);
    if (s->images < 0) ddm_die("%s: cannot open '/%s'", path, p);
    hid_t t = H5Dget_type(s->images);
    H5OK(t);
    if (H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 1)
        ddm_die("%s: '/%s' must be uint8 [N,C,H,W]", path, p);
    H5OK(H5Tclose(t));
    s->n = d[0];
    s->c = (int)d[1];
    s->h = (int)d[2];
    s->w = (int)d[3];
    size_t n = s->n ? s->n : 1;
    s->seeds = xmalloc(sizeof(int64_t) * n);
    s->done = xmalloc(n);
    read_1d(s, open_1d(f, s, "seeds", s->n, 1), H5T_NATIVE_INT64, s->seeds, "seeds");
    read_1d(s, open_1d(f, s, "done", s->n, 1), H5T_NATIVE_UINT8, s->done, "done");
    hid_t lab = open_1d(f, s, "labels", s->n, 0);
    if (lab >= 0) {
        s->labels = xmalloc(sizeof(int32_t) * n);
        read_1d(s, lab, H5T_NATIVE_INT32, s->labels, "labels");
    }
}

static void samples_read(const Samples *s, size_t start, size_t count, uint8_t *out)
{
    hsize_t off[4] = {start, 0, 0, 0}, cnt[4] = {count, (hsize_t)s->c, (hsize_t)s->h, (hsize_t)s->w};
    hid_t fs = H5Dget_space(s->images);
    H5OK(fs);
    H5OK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL));
    hid_t ms = H5Screate_simple(4, cnt, NULL);
    H5OK(ms);
    if (H5Dread(s->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, out) < 0)
        ddm_die("%s: cannot read images [%zu, %zu) (file damaged or truncated?)", s->path,
                start, start + count);
    H5OK(H5Sclose(ms));
    H5OK(H5Sclose(fs));
}

static void samples_close(Samples *s)
{
    if (s->images > 0) H5OK(H5Dclose(s->images));
    free(s->seeds);
    free(s->done);
    free(s->labels);
}

/* ---- PNG folder ---------------------------------------------------------------------- */

static void mkdir_p(const char *dir)
{
    char *p = xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char keep = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) ddm_die("%s: cannot create folder %s: %s", dir, p, strerror(errno));
        *s = keep;
        if (!keep) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) ddm_die("%s: is not a folder", dir);
    if (access(dir, W_OK) != 0) ddm_die("%s: folder is not writable: %s", dir, strerror(errno));
    free(p);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void export_pngs(const Samples *s, const char *dir, size_t ndone)
{
    if (s->c != 1 && s->c != 3)
        ddm_die("%s: images have %d channels; PNG export takes 1 or 3 (use --npz)", s->path, s->c);
    mkdir_p(dir);
    /* a seed twice would silently overwrite its PNG: say so */
    int64_t *sd = xmalloc(sizeof(int64_t) * (ndone ? ndone : 1));
    size_t k = 0, dup = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->done[i]) sd[k++] = s->seeds[i];
    qsort(sd, k, sizeof(int64_t), cmp_i64);
    for (size_t i = 1; i < k; i++) dup += sd[i] == sd[i - 1];
    free(sd);
    if (dup) ddm_warn("%s: %zu finished rows repeat a seed; the last of each wins", s->path, dup);

    size_t img = (size_t)s->c * s->h * s->w;
    uint8_t *buf = xmalloc(img * ROWS);
    size_t plen = strlen(dir) + 40;
    char *p = xmalloc(plen);
    double last = ddm_now();
    size_t written = 0;
    for (size_t r0 = 0; r0 < s->n; r0 += ROWS) {
        size_t nb = s->n - r0 < ROWS ? s->n - r0 : ROWS;
        size_t any = 0;
        for (size_t j = 0; j < nb; j++) any += s->done[r0 + j] != 0;
        if (!any) continue;
        samples_read(s, r0, nb, buf);
        for (size_t j = 0; j < nb; j++) {
            if (!s->done[r0 + j]) continue;
            snprintf(p, plen, "%s/%06lld.png", dir, (long long)s->seeds[r0 + j]);
            pngio_write(p, buf + j * img, s->c, s->h, s->w);
            written++;
        }
        if (ddm_now() - last > 2.0) {
            printf("export: %zu/%zu PNGs\n", written, ndone);
            fflush(stdout);
            last = ddm_now();
        }
    }
    free(p);
    free(buf);
}

static void export_npz(const Samples *s, const char *out, size_t ndone)
{
    NpzWriter *z = npz_open(out);
    size_t shape[4] = {ndone, (size_t)s->h, (size_t)s->w, (size_t)s->c};
    size_t img = (size_t)s->c * s->h * s->w, plane = (size_t)s->h * s->w;
    npz_begin_array(z, "arr_0", "|u1", 4, shape, 1);
    uint8_t *buf = xmalloc(img * ROWS), *hwc = xmalloc(img);
    double last = ddm_now();
    size_t written = 0;
    for (size_t r0 = 0; r0 < s->n; r0 += ROWS) {
        size_t nb = s->n - r0 < ROWS ? s->n - r0 : ROWS, any = 0;
        for (size_t j = 0; j < nb; j++) any += s->done[r0 + j] != 0;
        if (!any) continue;
        samples_read(s, r0, nb, buf);
        for (size_t j = 0; j < nb; j++) {
            if (!s->done[r0 + j]) continue;
            const uint8_t *chw = buf + j * img;
            for (size_t i = 0; i < plane; i++) /* (C,H,W) -> (H,W,C) */
                for (int k = 0; k < s->c; k++) hwc[i * (size_t)s->c + (size_t)k] = chw[(size_t)k * plane + i];
            npz_write(z, hwc, img);
            written++;
        }
        if (ddm_now() - last > 2.0) {
            printf("export: %zu/%zu images\n", written, ndone);
            fflush(stdout);
            last = ddm_now();
        }
    }
    free(hwc);
    free(buf);
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
    dist_init(&argc, &argv);
    if (!dist_is_root()) {
        dist_barrier();
        dist_finalize();
        return 0;
    }
    char *samples = NULL, *png_dir = NULL, *npz = NULL, *group = NULL;
    const CliOpt opts[] = {
        {"samples", CLI_STR, &samples, "FILE.h5", "the samples file to read", 1},
        {"png-dir", CLI_STR, &png_dir, "DIR", "write one PNG per finished sample here (created if missing)", 0},
        {"npz", CLI_STR, &npz, "FILE.npz", "write the finished samples as a NumPy .npz (replaced atomically)", 0},
        {"group", CLI_STR, &group, "NAME", "the sampler group of a sweep file; default: the only one", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("export", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        dist_barrier();
        dist_finalize();
        return 0;
    }
    if (!png_dir && !npz) ddm_die("ddm export: give --png-dir DIR or --npz FILE.npz (or both)");
    if (npz) {
        size_t l = strlen(npz);
        if (l < 4 || strcmp(npz + l - 4, ".npz") != 0)
            ddm_die("ddm export: --npz %s: the name must end in .npz (numpy.load needs it)", npz);
    }
    hid_t f = h5_open(samples, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(f, samples, "samples");
    char *g = pick_group(f, samples, group);
    Samples s;
    samples_open(&s, f, samples, g);
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
    samples_close(&s);
    free(g);
    h5_close(f);
    dist_barrier();
    dist_finalize();
    return 0;
}
