/* Raw image sources for ddm prep (io/import.h). */
#define _DEFAULT_SOURCE /* DT_DIR, strcasecmp */
#include "io/import.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/masks.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/png.h"

static const char *const FMNIST_NAMES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                             "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                             "Bag",         "Ankle boot"};


static void source_from_idx(ImportSource *s, const char *images, const char *labels, size_t limit)
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

static void source_fmnist(ImportSource *s, const char *split, size_t limit)
{
    const char *dir = getenv("DDM_FASHION_MNIST");
    if (!dir || !*dir) dir = IMPORT_FMNIST_DIR;
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

/* a generated source's size: n images of c x h x w, the first limit of them (limit > 0) */
static void generated_shape(ImportSource *s, size_t n, int c, int h, int w, size_t limit)
{
    s->n = limit > 0 && limit < n ? limit : n;
    s->c = c;
    s->h = h;
    s->w = w;
    s->idx.n = s->n;
    s->idx.h = h;
    s->idx.w = w;
}

/* noise:N[,CxHxW]: N images of uniform bytes (Philox seed 0, stream 0: the same file
 * every time), the ceiling of a metric; no labels */
static void source_noise(ImportSource *s, const char *spec, size_t limit)
{
    char *end;
    errno = 0;
    long long n = strtoll(spec, &end, 10);
    int c = 1, h = 32, w = 32;
    if (errno || end == spec || n < 1 || n > 100000000LL ||
        (*end && (*end != ',' || sscanf(end + 1, "%dx%dx%d", &c, &h, &w) != 3)))
        ddm_die("ddm prep: --from noise:%s: expected noise:N[,CxHxW] with N in 1..100000000, e.g. "
                "noise:10000,1x32x32", spec);
    if ((c != 1 && c != 3) || h < 1 || w < 1 || h > 16384 || w > 16384)
        ddm_die("ddm prep: --from noise:%s: channels must be 1 or 3 and sizes 1..16384", spec);
    generated_shape(s, (size_t)n, c, h, w, limit);
    const size_t total = s->n * (size_t)c * h * w;
    s->idx.images = xmalloc(total);
    Rng r;
    rng_init(&r, 0, 0);
    for (size_t i = 0; i < total; i++) s->idx.images[i] = (uint8_t)(rng_u32(&r) >> 24);
    s->source = xmalloc(96);
    snprintf(s->source, 96, "uniform noise, %lld images %dx%dx%d (Philox seed 0)", n, c, h, w);
}

/* mask:KIND,N[,CxHxW]: N inpainting masks (core/masks.h: centre, half, strokes; 255 =
 * known, 0 = to fill), mask i the same every time (strokes: Philox seed 0, stream i) */
static void source_mask(ImportSource *s, const char *spec, size_t limit)
{
    char kind[32] = "";
    long long n = 0;
    int c = 1, h = 32, w = 32, got = sscanf(spec, "%31[a-z],%lld,%dx%dx%d", kind, &n, &c, &h, &w);
    const int k = masks_kind(kind);
    if (k < 0 || (got != 2 && got != 5) || n < 1 || n > 100000000LL)
        ddm_die("ddm prep: --from mask:%s: expected mask:KIND,N[,CxHxW] with KIND centre, half or "
                "strokes and N in 1..100000000, e.g. mask:centre,1 or mask:strokes,1000,1x32x32", spec);
    if ((c != 1 && c != 3) || h < 2 || w < 2 || h > 16384 || w > 16384)
        ddm_die("ddm prep: --from mask:%s: channels must be 1 or 3 and sizes 2..16384", spec);
    generated_shape(s, (size_t)n, c, h, w, limit);
    const size_t D = (size_t)c * h * w;
    s->idx.images = xmalloc(s->n * D);
    for (size_t i = 0; i < s->n; i++) masks_make(s->idx.images + i * D, (MaskKind)k, 0, i, c, h, w);
    s->source = xmalloc(128);
    snprintf(s->source, 128, "inpainting masks '%s', %lld of %dx%dx%d (255 = known)", kind, n, c, h, w);
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

static void source_pngdir(ImportSource *s, const char *dir, size_t limit, int resize)
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
    Progress last;
    progress_start(&last, 0);
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
        progress_report(&last, "prep: checking PNG headers", (long)(i + 1), (long)s->n, 2.0);
    }
    size_t n = strlen(dir) + 64;
    s->source = xmalloc(n);
    snprintf(s->source, n, "png-dir:%s", dir);
}

/* Raw image of row i (malloc'd, s->c channels) and its size. */
uint8_t *import_row(const ImportSource *s, size_t i, int *h, int *w)
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

void import_free(ImportSource *s)
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


void import_open(ImportSource *s, const char *from, const char *split, size_t limit, int resize)
{
    memset(s, 0, sizeof *s);
    if (!strcmp(from, "fashion-mnist")) {
        source_fmnist(s, split, limit);
    } else if (!strncmp(from, "idx:", 4)) {
        char *spec = xstrdup(from + 4), *comma = strchr(spec, ',');
        if (comma) *comma = '\0';
        source_from_idx(s, spec, comma ? comma + 1 : NULL, limit);
        s->source = xstrdup(from);
        free(spec);
    } else if (!strncmp(from, "noise:", 6)) {
        source_noise(s, from + 6, limit);
    } else if (!strncmp(from, "mask:", 5)) {
        source_mask(s, from + 5, limit);
    } else if (!strncmp(from, "png-dir:", 8)) {
        source_pngdir(s, from + 8, limit, resize);
    } else {
        ddm_die("ddm prep: --from '%s': unknown source (fashion-mnist, idx:IMAGES[,LABELS], png-dir:DIR, "
                "noise:N[,CxHxW], mask:KIND,N[,CxHxW])", from);
    }
}
