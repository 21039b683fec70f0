/* ddm prep: import a dataset (Fashion-MNIST, IDX files, a folder of PNGs) into a dataset
 * HDF5 file. One process does the work (rank 0); under mpirun the other ranks wait. The
 * output is written to FILE.h5.tmp-PID and renamed into place; on any error the
 * temporary is removed, so FILE.h5 is either complete or untouched. */
#define _DEFAULT_SOURCE /* DT_DIR, strcasecmp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/rng.h"
#include "io/dataset.h"
#include "io/h5.h"
#include "io/idx.h"
#include "io/png.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define BLOCK 256 /* images per write */

static const char *const FMNIST_NAMES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                             "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                             "Bag",         "Ankle boot"};

/* ---- the temporary output, removed by ddm_die ------------------------------------- */

static char *g_tmp = NULL;

static void remove_tmp(void)
{
    if (g_tmp) unlink(g_tmp);
}

/* ---- a source: n raw images, each fetched by row --------------------------------- */

typedef struct {
    size_t n;
    int c, h, w;       /* c: channels of every row; h, w: of the first (all, without --resize) */
    int classes;       /* 0: no labels */
    int32_t *labels;   /* (n) or NULL */
    char **class_names; /* (classes) or NULL */
    char *source;      /* for the 'source' attribute */
    /* IDX: everything in memory */
    IdxData idx;
    /* png-dir: one file per row */
    char **files;
} Source;

/* A progress line every 2 s of long work; quick work prints none. */
typedef struct {
    double last;
    int printed;
} Progress;

static Progress progress_start(void) { return (Progress){ddm_now(), 0}; }

static void progress(const char *what, size_t done, size_t total, Progress *p)
{
    double now = ddm_now();
    if (done < total ? now - p->last < 2.0 : !p->printed) return;
    printf("prep: %s %zu/%zu (%.0f%%)\n", what, done, total, 100.0 * (double)done / (double)total);
    fflush(stdout);
    p->last = now;
    p->printed = 1;
}

static void source_from_idx(Source *s, const char *images, const char *labels, size_t limit)
{
    idx_read(images, labels, limit, &s->idx);
    s->n = s->idx.n;
    s->c = 1;
    s->h = s->idx.h;
    s->w = s->idx.w;
    s->labels = s->idx.labels;
    s->idx.labels = NULL;
    if (s->labels) {
        int32_t mx = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->labels[i] > mx) mx = s->labels[i];
        s->classes = mx + 1;
    }
}

static void source_fmnist(Source *s, const char *split, size_t limit)
{
    const char *dir = getenv("DDM_FASHION_MNIST");
    if (!dir || !*dir) dir = FMNIST_DIR;
    const char *stem = strcmp(split, "train") == 0 ? "train" : "t10k";
    char im[4096], lb[4096];
    snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    if (access(im, R_OK) != 0)
        ddm_die("%s: %s (Fashion-MNIST comes from Debian's dataset-fashion-mnist package, "
                "or set DDM_FASHION_MNIST to a folder holding its files)",
                im, strerror(errno));
    source_from_idx(s, im, lb, limit);
    s->classes = 10;
    s->class_names = xmalloc(10 * sizeof(char *));
    for (int i = 0; i < 10; i++) s->class_names[i] = xstrdup(FMNIST_NAMES[i]);
    size_t n = strlen(im) + 64;
    s->source = xmalloc(n);
    snprintf(s->source, n, "fashion-mnist %s split (%s)", split, im);
}

/* noise:N[,CxHxW]: N images of uniform bytes (Philox seed 0, stream 0: the same file
 * every time), the ceiling of a metric; no labels */
static void source_noise(Source *s, const char *spec, size_t limit)
{
    char *end;
    errno = 0;
    long long n = strtoll(spec, &end, 10);
    int c = 1, h = 32, w = 32;
    if (errno || end == spec || n < 1 || n > 100000000LL ||
        (*end && (*end != ',' || sscanf(end + 1, "%dx%dx%d", &c, &h, &w) != 3)))
        ddm_die("ddm prep: --from noise:%s: expected noise:N[,CxHxW] with N >= 1, e.g. noise:10000,1x32x32", spec);
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > 16384 || w > 16384)
        ddm_die("ddm prep: --from noise:%s: channels must be 1 or 3 and sizes 1..16384", spec);
    s->n = limit > 0 && limit < (size_t)n ? limit : (size_t)n;
    s->c = c;
    s->h = h;
    s->w = w;
    s->idx.n = s->n;
    s->idx.h = h;
    s->idx.w = w;
    const size_t total = s->n * (size_t)c * h * w;
    s->idx.images = xmalloc(total);
    Rng r;
    rng_init(&r, 0, 0);
    for (size_t i = 0; i < total; i++) s->idx.images[i] = (uint8_t)(rng_u32(&r) >> 24);
    s->source = xmalloc(96);
    snprintf(s->source, 96, "uniform noise, %lld images %dx%dx%d (Philox seed 0)", n, c, h, w);
}

static int is_png_name(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Sorted names in dir: PNG files into *pngs, sub-folders into *dirs (hidden ones skipped). */
static void list_dir(const char *dir, char ***pngs, int *npng, char ***dirs, int *ndir)
{
    DIR *d = opendir(dir);
    if (!d) ddm_die("%s: %s", dir, strerror(errno));
    int cp = 0, cd = 0;
    *pngs = NULL;
    if (dirs) *dirs = NULL;
    *npng = *ndir = 0;
    struct dirent *e;
    while ((errno = 0, e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *full = join(dir, e->d_name);
        struct stat st;
        if (stat(full, &st) != 0) ddm_die("%s: %s", full, strerror(errno));
        if (S_ISDIR(st.st_mode) && dirs) {
            if (*ndir == cd) *dirs = xrealloc(*dirs, sizeof(char *) * (size_t)(cd = cd * 2 + 8));
            (*dirs)[(*ndir)++] = xstrdup(e->d_name);
        } else if (S_ISREG(st.st_mode) && is_png_name(e->d_name)) {
            if (*npng == cp) *pngs = xrealloc(*pngs, sizeof(char *) * (size_t)(cp = cp * 2 + 64));
            (*pngs)[(*npng)++] = xstrdup(e->d_name);
        }
        free(full);
    }
    if (errno) ddm_die("%s: cannot list: %s", dir, strerror(errno));
    closedir(d);
    if (*npng) qsort(*pngs, (size_t)*npng, sizeof(char *), cmp_str);
    if (*ndir) qsort(*dirs, (size_t)*ndir, sizeof(char *), cmp_str);
}

static void source_pngdir(Source *s, const char *dir, size_t limit, int resize)
{
    char **top, **sub;
    int ntop, nsub;
    list_dir(dir, &top, &ntop, &sub, &nsub);
    size_t cap = 0;
    if (nsub == 0) {
        s->files = xmalloc(sizeof(char *) * (size_t)(ntop ? ntop : 1));
        for (int i = 0; i < ntop; i++) s->files[s->n++] = join(dir, top[i]);
    } else {
        if (ntop)
            ddm_die("%s: holds PNG files (%s) beside class sub-folders (%s): put every PNG in "
                    "the folder of its class",
                    dir, top[0], sub[0]);
        s->classes = nsub;
        s->class_names = sub;
        for (int k = 0; k < nsub; k++) {
            char *cdir = join(dir, sub[k]), **f;
            int nf, nd_unused = 0;
            list_dir(cdir, &f, &nf, NULL, &nd_unused);
            if (nf == 0) ddm_warn("%s: class folder holds no PNG files", cdir);
            for (int i = 0; i < nf; i++) {
                if (s->n == cap) {
                    cap = cap * 2 + 256;
                    s->files = xrealloc(s->files, sizeof(char *) * cap);
                    s->labels = xrealloc(s->labels, sizeof(int32_t) * cap);
                }
                s->labels[s->n] = k;
                s->files[s->n++] = join(cdir, f[i]);
                free(f[i]);
            }
            free(f);
            free(cdir);
        }
    }
    for (int i = 0; i < ntop; i++) free(top[i]);
    free(top);
    if (s->n == 0) ddm_die("%s: no PNG files found%s", dir, nsub ? " in its sub-folders" : "");
    if (limit && limit < s->n) {
        for (size_t i = limit; i < s->n; i++) free(s->files[i]);
        s->n = limit;
    }
    /* every header first: sizes and channels are known (and checked) before any writing */
    Progress last = progress_start();
    for (size_t i = 0; i < s->n; i++) {
        int c, h, w;
        pngio_probe(s->files[i], &c, &h, &w);
        if (i == 0) {
            s->h = h;
            s->w = w;
        } else if ((h != s->h || w != s->w) && !resize) {
            ddm_die("%s: is %dx%d pixels but %s is %dx%d: all PNGs must have one size "
                    "(or give --resize N)",
                    s->files[i], w, h, s->files[0], s->w, s->h);
        }
        if (c > s->c) s->c = c;
        progress("checking PNG headers", i + 1, s->n, &last);
    }
    size_t n = strlen(dir) + 64;
    s->source = xmalloc(n);
    snprintf(s->source, n, "png-dir:%s", dir);
}

/* Raw image of row i (malloc'd, s->c channels) and its size. */
static uint8_t *source_row(const Source *s, size_t i, int *h, int *w)
{
    if (!s->files) {
        size_t sz = (size_t)s->c * s->h * s->w;
        uint8_t *p = xmalloc(sz);
        memcpy(p, s->idx.images + i * sz, sz);
        *h = s->h;
        *w = s->w;
        return p;
    }
    int c;
    uint8_t *img = pngio_read(s->files[i], &c, h, w);
    if (c == s->c) return img;
    /* a gray PNG in a colour dataset: the gray plane three times */
    size_t plane = (size_t)*h * *w;
    uint8_t *rgb = xmalloc(plane * 3);
    for (int k = 0; k < 3; k++) memcpy(rgb + (size_t)k * plane, img, plane);
    free(img);
    return rgb;
}

static void source_free(Source *s)
{
    idx_free(&s->idx);
    free(s->labels);
    if (s->class_names)
        for (int i = 0; i < s->classes; i++) free(s->class_names[i]);
    free(s->class_names);
    if (s->files)
        for (size_t i = 0; i < s->n; i++) free(s->files[i]);
    free(s->files);
    free(s->source);
    memset(s, 0, sizeof *s);
}

/* ---- the job ------------------------------------------------------------------------ */

static const char SYNOPSIS[] = "--from SRC --out FILE.h5 [--split train|test] [--pad N] "
                               "[--resize N] [--limit N]";
static const char DESCRIPTION[] =
    "Import a dataset into a ddm dataset file (/images uint8 [N,C,H,W], /labels int32 [N]).\n"
    "SRC is one of:\n"
    "  fashion-mnist          Debian's dataset-fashion-mnist (" FMNIST_DIR ",\n"
    "                         or the folder in $DDM_FASHION_MNIST); 10 named classes\n"
    "  idx:IMAGES[,LABELS]    MNIST-format IDX files, gzipped or not; classes = max label + 1\n"
    "  png-dir:DIR            a folder of PNGs; with sub-folders, each sub-folder is a class\n"
    "                         (sorted by name; class_names = folder names). 1 channel when\n"
    "                         every PNG is gray, else 3 (RGB; alpha dropped)\n"
    "  noise:N[,CxHxW]        N images of uniform random bytes (default 1x32x32; the same\n"
    "                         every time): the ceiling of FID and friends, via ddm eval\n"
    "Each image is resized first (--resize), then padded (--pad). Runs on one process\n"
    "(rank 0); the output appears only when complete.";

int job_prep(int argc, char **argv)
{
    dist_init(&argc, &argv);
    if (!dist_is_root()) { /* one process imports; a failure there aborts every rank */
        dist_barrier();
        dist_finalize();
        return 0;
    }
    char *from = NULL, *out = NULL, *split = "train";
    int pad = 0, resize = 0;
    long limit = 0;
    const CliOpt opts[] = {
        {"from", CLI_STR, &from, "SRC", "what to import: fashion-mnist, idx:IMAGES[,LABELS], png-dir:DIR, noise:N[,CxHxW]", 1},
        {"out", CLI_STR, &out, "FILE.h5", "the dataset file to write (replaced atomically)", 1},
        {"split", CLI_STR, &split, "train|test", "fashion-mnist split: train (60000) or test (10000); default train", 0},
        {"pad", CLI_INT, &pad, "N", "zero pixels added on each side, e.g. 28->32 with 2; default 0", 0},
        {"resize", CLI_INT, &resize, "N", "resize to NxN pixels, bilinear (half-pixel centres, no antialias); default 0 = keep", 0},
        {"limit", CLI_LONG, &limit, "N", "keep only the first N images; default 0 = all", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("prep", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        dist_barrier();
        dist_finalize();
        return 0;
    }
    if (pad < 0 || pad > 4096) ddm_die("ddm prep: --pad must be 0..4096 pixels, not %d", pad);
    if (resize < 0 || resize > 16384)
        ddm_die("ddm prep: --resize must be 1..16384 pixels (0: keep), not %d", resize);
    if (limit < 0) ddm_die("ddm prep: --limit must be >= 0 (0: all), not %ld", limit);
    if (strcmp(split, "train") != 0 && strcmp(split, "test") != 0)
        ddm_die("ddm prep: --split must be train or test, not '%s'", split);
    int is_fm = strcmp(from, "fashion-mnist") == 0;
    int is_idx = strncmp(from, "idx:", 4) == 0, is_png = strncmp(from, "png-dir:", 8) == 0;
    int is_noise = strncmp(from, "noise:", 6) == 0;
    if (!is_fm && !is_idx && !is_png && !is_noise)
        ddm_die("ddm prep: --from '%s': unknown source (fashion-mnist, idx:IMAGES[,LABELS], "
                "png-dir:DIR, noise:N[,CxHxW])",
                from);
    for (int i = 1; i < argc; i++)
        if (!is_fm && (strcmp(argv[i], "--split") == 0 || strncmp(argv[i], "--split=", 8) == 0))
            ddm_die("ddm prep: --split is only for --from fashion-mnist");
    if ((is_idx && !from[4]) || (is_png && !from[8]))
        ddm_die("ddm prep: --from '%s': the path is missing", from);

    /* claim the temporary now: an unwritable output fails before any reading */
    struct stat ost;
    if (stat(out, &ost) == 0 && S_ISDIR(ost.st_mode))
        ddm_die("%s: is a folder, expected a file name", out);
    g_tmp = h5_tmp_name(out);
    int fd = open(g_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        char *d = xstrdup(out), *slash = strrchr(d, '/');
        if (slash) *slash = '\0';
        if (e == ENOENT && slash && slash != d && stat(d, &st) != 0)
            ddm_die("%s: cannot create: folder %s does not exist", out, d);
        ddm_die("%s: cannot create: %s", out, strerror(e));
    }
    close(fd);
    ddm_set_cleanup_hook(remove_tmp);

    double t0 = ddm_now();
    Source src;
    memset(&src, 0, sizeof src);
    if (is_fm) {
        source_fmnist(&src, split, (size_t)limit);
    } else if (is_idx) {
        char *spec = xstrdup(from + 4), *comma = strchr(spec, ',');
        if (comma) *comma = '\0';
        source_from_idx(&src, spec, comma ? comma + 1 : NULL, (size_t)limit);
        size_t n = strlen(from) + 8;
        src.source = xmalloc(n);
        snprintf(src.source, n, "%s", from);
        free(spec);
    } else if (is_noise) {
        source_noise(&src, from + 6, (size_t)limit);
    } else {
        source_pngdir(&src, from + 8, (size_t)limit, resize);
    }

    int rh = resize ? resize : src.h, rw = resize ? resize : src.w;
    int C = src.c, H = rh + 2 * pad, W = rw + 2 * pad;
    {
        char extra[128] = "";
        size_t off = 0;
        if (resize) off += (size_t)snprintf(extra + off, sizeof extra - off, "; resize %d", resize);
        if (pad) off += (size_t)snprintf(extra + off, sizeof extra - off, "; pad %d", pad);
        if (limit) snprintf(extra + off, sizeof extra - off, "; limit %ld", limit);
        size_t n = strlen(src.source) + strlen(extra) + 1;
        src.source = xrealloc(src.source, n);
        strcat(src.source, extra);
    }
    printf("prep: %s: %zu images, %dx%d -> %d x %d x %d, %d classes\n", from, src.n, src.w,
           src.h, C, H, W, src.classes);
    fflush(stdout);

    DatasetFile ds;
    dataset_create(&ds, g_tmp, src.n, C, H, W, src.labels != NULL);
    size_t img = (size_t)C * H * W;
    uint8_t *block = xmalloc(img * BLOCK);
    uint8_t *rs = xmalloc((size_t)C * rh * rw);
    size_t *counts = xcalloc(src.classes > 0 ? (size_t)src.classes : 1, sizeof(size_t));
    Progress last = progress_start();
    for (size_t b0 = 0; b0 < src.n; b0 += BLOCK) {
        size_t nb = src.n - b0 < BLOCK ? src.n - b0 : BLOCK;
        for (size_t j = 0; j < nb; j++) {
            int h, w;
            uint8_t *raw = source_row(&src, b0 + j, &h, &w);
            const uint8_t *cur = raw;
            if (resize && (h != rh || w != rw)) {
                dataset_resize(rs, rh, rw, raw, C, h, w);
                cur = rs;
            }
            if (pad) dataset_pad(block + j * img, cur, C, rh, rw, pad);
            else memcpy(block + j * img, cur, img);
            free(raw);
        }
        if (src.labels)
            for (size_t j = 0; j < nb; j++) {
                int32_t l = src.labels[b0 + j];
                if (l < 0 || l >= src.classes)
                    ddm_die("%s: label %d of image %zu is outside 0..%d", from, l, b0 + j,
                            src.classes - 1);
                counts[l]++;
            }
        dataset_write_rows(&ds, b0, nb, block, src.labels ? src.labels + b0 : NULL);
        progress("writing images", b0 + nb, src.n, &last);
    }
    dataset_set_meta(&ds, src.classes, src.source, (const char *const *)src.class_names);
    dataset_close(&ds);
    h5_commit_tmp(g_tmp, out);
    ddm_set_cleanup_hook(NULL);

    printf("prep: wrote %s: images uint8 [%zu,%d,%d,%d]", out, src.n, C, H, W);
    if (src.classes > 0) {
        size_t lo = (size_t)-1, hi = 0;
        for (int k = 0; k < src.classes; k++) {
            if (counts[k] < lo) lo = counts[k];
            if (counts[k] > hi) hi = counts[k];
        }
        printf(", %d classes (%zu..%zu images each)", src.classes, lo, hi);
    } else {
        printf(", no labels");
    }
    printf(", %.1f s\n", ddm_now() - t0);
    free(counts);
    free(rs);
    free(block);
    free(g_tmp);
    g_tmp = NULL;
    source_free(&src);
    dist_barrier();
    dist_finalize();
    return 0;
}
