/* ddm eval: score samples against a reference set (FID, KID, Inception Score, improved
 * precision/recall), and the accuracy of the evaluation classifier (--task accuracy).
 *
 * Work split over P ranks:
 *  - features: the rows used (finished samples, reference images) are cut into P
 *    consecutive parts; each rank reads only its part, runs the extractor and adds to
 *    float64 FeatStats; one reduction (fid_stats_allreduce) gives every rank the
 *    statistics of the union;
 *  - KID and precision/recall need the feature rows themselves: they are gathered to every
 *    rank (MPI_Allgatherv, in row order) and the pairwise work is split (mpi/pairwise);
 *  - the Fréchet distance runs on ScaLAPACK over all ranks (mpi/fid);
 *  - the Inception Score (classifier softmax, 10 splits) is computed on rank 0 from the
 *    gathered probabilities.
 * The reference statistics (and up to --ref-features rows of reference features) are
 * cached in a stats file beside the reference dataset, keyed by extractor and dataset.
 *
 * Input checks run on rank 0 first (the others wait), so a bad input is reported once.
 * N = images, D = feature width, K = classes, P = ranks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/classifier.h"
#include "core/common.h"
#include "core/inception.h"
#include "core/metrics.h"
#include "io/ckpt.h"
#include "io/config.h"
#include "io/dataset.h"
#include "io/h5.h"
#include "io/inception_io.h"
#include "io/samples.h"
#include "io/stats.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "jobs/progress.h"
#include "mpi/dist.h"
#include "mpi/fid.h"
#include "mpi/pairwise.h"

extern char **environ;

#define BLOCK 256               /* images per read and per extractor call */
#define REF_FEATURES_CAP 10000  /* reference feature rows kept for KID and P/R */
#define PROGRESS_EVERY 10.0     /* seconds between progress lines */

enum { M_FID = 1, M_KID = 2, M_IS = 4, M_PR = 8 };

static const char SYNOPSIS[] =
    "--samples FILE.h5 --ref REF.h5 [--features SPEC] [--metrics fid,kid,is,pr] [options]\n"
    "       ddm eval --task accuracy --features classifier:CKPT --ref TEST.h5";
static const char DESCRIPTION[] =
    "Score the finished samples (done=1) of each sampler group of FILE.h5 against a\n"
    "reference: a dataset file (from 'ddm prep') or a stats file (a cache written by this\n"
    "command). FILE.h5 may also be a dataset file, scored as one group 'data': a held-out\n"
    "split gives the floor of a metric, 'ddm prep --from noise:N' the ceiling.\n"
    "Features (--features):\n"
    "  classifier:CKPT.h5|RUN_DIR  penultimate activations (D = 128) and class\n"
    "                              probabilities of a classifier trained with\n"
    "                              'ddm train --task classifier' (smaller images are padded:\n"
    "                              28x28 -> 32x32)\n"
    "  pixels                      the pixel values / 255 (D = C*H*W; no Inception Score)\n"
    "  inception:WEIGHTS.h5        pytorch-fid's Inception-v3 pool3 features (D = 2048; any\n"
    "                              size, resized to 299x299; 1 or 3 channels; slow on CPU:\n"
    "                              ~0.2 s per image per core; no Inception Score)\n"
    "Metrics: fid (pytorch-fid's mu/sigma, unbiased covariance), kid (clean-fid's subsets,\n"
    "cubic kernel), is (10 splits, the classifier's softmax), pr (improved precision/recall, k = 3).\n"
    "With classifier features, samples drawn for a class (--class, --class-per-seed) also get\n"
    "their class match: the share the classifier assigns to the requested class.\n"
    "The reference statistics are cached beside a reference dataset, in\n"
    "REF.stats-<extractor>.h5 (reused while extractor and dataset are unchanged), with the\n"
    "feature rows of up to --ref-features reference images (evenly spread) for KID and P/R.\n"
    "One JSON line per group is printed and appended to --out; a file of several groups (a\n"
    "sweep) also gets a Markdown and CSV table and a plot of FID against NFE (gnuplot).\n"
    "--task accuracy prints the accuracy of a classifier on a labeled dataset (--ref).";

typedef struct {
    char *samples, *ref, *features, *metrics, *group, *out, *table, *plot, *npz, *task;
    long max_n, ref_features, seed;
    int kid_subsets, kid_subset_size, threads, allow_partial, no_cache, verbose;
    double ema;
} EvalArgs;

/* ---------------------------------------------------------------- small helpers */

static char *g_tmp_files[4];

static void remove_tmp_files(void)
{
    for (int i = 0; i < 4; i++)
        if (g_tmp_files[i]) unlink(g_tmp_files[i]);
}

/* remember a temporary file to delete if the process dies (slot 0..3); NULL forgets */
static void track_tmp(int slot, const char *path)
{
    free(g_tmp_files[slot]);
    g_tmp_files[slot] = path ? xstrdup(path) : NULL;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static char *abs_path(const char *p)
{
    char *r = realpath(p, NULL);
    if (!r) ddm_die("%s: %s", p, strerror(errno));
    return r;
}

static char *dir_of(const char *path)
{
    char *d = xstrdup(path);
    char *r = xstrdup(dirname(d));
    free(d);
    return r;
}

/* path without a trailing ".h5" (malloc'd) */
static char *strip_h5(const char *path)
{
    char *s = xstrdup(path);
    size_t l = strlen(s);
    if (l > 3 && strcmp(s + l - 3, ".h5") == 0) s[l - 3] = '\0';
    return s;
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* A growing string for JSON lines and tables. */
typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_add(Buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)n + 1 > b->cap) {
        b->cap = (b->n + (size_t)n + 1) * 2 + 256;
        b->s = xrealloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

static void buf_json_str(Buf *b, const char *s)
{
    buf_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') buf_add(b, "\\%c", *p);
        else if (*p == '\n') buf_add(b, "\\n");
        else if (*p == '\t') buf_add(b, "\\t");
        else if (*p < 0x20) buf_add(b, "\\u%04x", *p);
        else buf_add(b, "%c", *p);
    }
    buf_add(b, "\"");
}

/* a number, or null when not computed (NaN) */
static void buf_json_num(Buf *b, double v)
{
    if (isfinite(v)) buf_add(b, "%.10g", v);
    else buf_add(b, "null");
}

static int parse_metrics(const char *spec, int *mask)
{
    *mask = 0;
    char *s = xstrdup(spec), *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        if (!strcmp(t, "fid")) *mask |= M_FID;
        else if (!strcmp(t, "kid")) *mask |= M_KID;
        else if (!strcmp(t, "is")) *mask |= M_IS;
        else if (!strcmp(t, "pr")) *mask |= M_PR;
        else if (!strcmp(t, "all")) *mask |= M_FID | M_KID | M_IS | M_PR;
        else ddm_die("--metrics %s: unknown metric '%s' (known: fid, kid, is, pr, all)", spec, t);
    }
    free(s);
    if (!*mask) ddm_die("--metrics '%s': names no metric (known: fid, kid, is, pr)", spec);
    return *mask;
}

/* ---------------------------------------------------------------- feature extractors */

typedef enum { FEAT_PIXELS, FEAT_CLASSIFIER, FEAT_INCEPTION } FeatKind;

typedef struct {
    FeatKind kind;
    char *key;       /* identity stored in stats files */
    char tag[64];    /* file-name part of the cache: "pixels", "classifier-1a2b3c4d" */
    char *desc;      /* for people */
    int d;           /* feature width (pixels: set from the image shape) */
    int k;           /* classes of the probabilities (0 = none) */
    /* classifier */
    Classifier *net;
    char *ckpt;
    int64_t step;
    double ema;              /* < 0: the trained weights /model, else this EMA copy */
    ClassifierConfig cc;
    int C, S;
    float *x;        /* (BLOCK, C, S, S) input scratch */
    /* inception */
    Inception *inc;
    char *weights;   /* absolute path of the weights file */
} Extractor;

/* Parse --features (no heavy work: the classifier's weights are loaded by extractor_load) */
static void extractor_parse(Extractor *e, const char *spec, double ema)
{
    memset(e, 0, sizeof *e);
    e->ema = ema;
    if (!strcmp(spec, "pixels")) {
        if (ema >= 0) ddm_die("--ema is for the classifier extractor, not for pixels");
        e->kind = FEAT_PIXELS;
        e->key = xstrdup("pixels");
        snprintf(e->tag, sizeof e->tag, "pixels");
        e->desc = xstrdup("pixels");
        return;
    }
    const char *colon = strchr(spec, ':');
    size_t sl = colon ? (size_t)(colon - spec) : strlen(spec);
    if (sl == 10 && !strncmp(spec, "classifier", 10)) {
        if (!colon || !colon[1])
            ddm_die("--features %s: give the classifier as classifier:CKPT.h5 or classifier:RUN_DIR", spec);
        e->kind = FEAT_CLASSIFIER;
        char *path = ckpt_resolve(colon + 1); /* dies on a missing path or an empty run folder */
        e->ckpt = abs_path(path);
        free(path);
        CkptMeta meta;
        memset(&meta, 0, sizeof meta);
        ckpt_read_meta(e->ckpt, &meta);
        e->step = meta.step;
        DdmConfig cfg;
        config_defaults(&cfg);
        char err[512];
        if (!meta.config_text) ddm_die("%s: the checkpoint holds no config text", e->ckpt);
        if (config_parse_text(&cfg, meta.config_text, e->ckpt, err, sizeof err)) ddm_die("%s", err);
        ckpt_meta_free(&meta);
        if (cfg.train.task != TASK_CLASSIFIER)
            ddm_die("--features %s: %s is a diffusion checkpoint (train.task = diffusion); the features come "
                    "from a classifier trained with 'ddm train --task classifier'", spec, e->ckpt);
        config_to_classifier(&cfg, &e->cc);
        const char *why = classifier_config_check(&e->cc);
        if (why) ddm_die("%s: its classifier config is invalid: %s", e->ckpt, why);
        e->C = e->cc.in_ch;
        e->S = e->cc.image_size;
        e->d = e->cc.feat_dim;
        e->k = e->cc.num_classes;
        /* which weights: --ema RATE (must be there: said here, once, before any rank loads),
         * else /model, else (a slim checkpoint, scripts/slim_ckpt.py) its first EMA copy */
        double rates[CKPT_MAX_EMA * 2];
        int n = ckpt_ema_rates(e->ckpt, rates, CKPT_MAX_EMA * 2), found = 0;
        if (ema >= 0) {
            char list[256] = "";
            size_t off = 0;
            for (int i = 0; i < n; i++) {
                found |= fabs(rates[i] - ema) <= 1e-12;
                if (off < sizeof list) off += (size_t)snprintf(list + off, sizeof list - off, "%s%.10g", i ? ", " : "", rates[i]);
            }
            if (!found) ddm_die("--ema %.10g: %s has no EMA weights at that rate (it has: %s)", ema, e->ckpt, n ? list : "none");
        } else {
            hid_t f = h5_open(e->ckpt, H5F_ACC_RDONLY, H5P_DEFAULT);
            const int has_model = h5_exists(f, "model");
            h5_close(f);
            if (!has_model) {
                if (n == 0) ddm_die("%s: holds neither /model nor EMA weights", e->ckpt);
                e->ema = ema = rates[0];
            }
        }
        struct stat st;
        if (stat(e->ckpt, &st) != 0) ddm_die("%s: %s", e->ckpt, strerror(errno));
        char wts[48];
        if (ema >= 0) snprintf(wts, sizeof wts, "ema-%.10g", ema);
        else snprintf(wts, sizeof wts, "model");
        e->key = str_printf("classifier:%s step=%lld weights=%s mtime=%lld.%09ld", e->ckpt,
                            (long long)e->step, wts, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        snprintf(e->tag, sizeof e->tag, "classifier-%08llx", (unsigned long long)(fnv1a(e->key) & 0xffffffffu));
        e->desc = str_printf("classifier %s (step %lld, %s weights, %d features, %d classes)", e->ckpt,
                             (long long)e->step, wts, e->d, e->k);
        return; /* the network is built by extractor_load */
    }
    if (sl == 9 && !strncmp(spec, "inception", 9)) {
        if (!colon || !colon[1])
            ddm_die("--features %s: give the weights file as inception:WEIGHTS.h5 (made by "
                    "tests/ref/convert_inception.py from pytorch-fid's weights)", spec);
        if (ema >= 0) ddm_die("--ema is for the classifier extractor, not for inception");
        e->kind = FEAT_INCEPTION;
        e->weights = abs_path(colon + 1); /* dies on a missing file */
        hid_t f = h5_open(e->weights, H5F_ACC_RDONLY, H5P_DEFAULT);
        h5_require_kind(f, e->weights, INCEPTION_KIND);
        h5_close(f);
        struct stat st;
        if (stat(e->weights, &st) != 0) ddm_die("%s: %s", e->weights, strerror(errno));
        e->d = INCEPTION_DIM;
        e->k = 0; /* the file's fc logits are not used: no Inception Score */
        e->key = str_printf("inception:%s size=%lld mtime=%lld.%09ld", e->weights, (long long)st.st_size,
                            (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        snprintf(e->tag, sizeof e->tag, "inception-%08llx", (unsigned long long)(fnv1a(e->key) & 0xffffffffu));
        e->desc = str_printf("inception %s (pool3, %d features, images resized to %dx%d)", e->weights,
                             INCEPTION_DIM, INCEPTION_SIZE, INCEPTION_SIZE);
        return; /* the network is loaded by extractor_load */
    }
    ddm_die("--features %s: unknown feature scheme '%.*s' (known: classifier:CKPT.h5|RUN_DIR, pixels, "
            "inception:WEIGHTS.h5)", spec, (int)sl, spec);
}

/* Build the network and load its weights (every rank). */
static void extractor_load(Extractor *e)
{
    if (e->kind == FEAT_INCEPTION) e->inc = inception_load(e->weights);
    if (e->kind != FEAT_CLASSIFIER) return;
    e->net = classifier_init(&e->cc, BLOCK, 0);
    ckpt_load_weights(e->ckpt, classifier_tensor(e->net, 0), classifier_num_tensors(e->net),
                      classifier_params(e->net), e->ema, NULL);
    e->d = classifier_config(e->net)->feat_dim;
    e->x = xalloc_floats((size_t)BLOCK * e->C * e->S * e->S);
}

static void extractor_free(Extractor *e)
{
    if (e->net) classifier_free(e->net);
    if (e->inc) inception_free(e->inc);
    free(e->weights);
    free(e->x);
    free(e->key);
    free(e->desc);
    free(e->ckpt);
}

/* Whether images of (c,h,w) can go through e; dies with the reason naming what. */
static void extractor_check_images(const Extractor *e, const char *what, int c, int h, int w)
{
    if (e->kind == FEAT_INCEPTION && c != 1 && c != 3)
        ddm_die("%s: images have %d channels, the Inception network takes 1 (gray, repeated) or 3", what, c);
    if (e->kind != FEAT_CLASSIFIER) return;
    if (c != e->C)
        ddm_die("%s: images have %d channel%s, the classifier %s takes %d", what, c, c == 1 ? "" : "s",
                e->ckpt, e->C);
    if (h > e->S || w > e->S)
        ddm_die("%s: images are %dx%d, the classifier %s takes at most %dx%d (smaller ones are padded; "
                "ddm eval does not downscale)", what, h, w, e->ckpt, e->S, e->S);
}

/* Samples against reference shapes (0 = unknown). */
static void check_pair(const Extractor *e, const char *sname, int sc, int sh, int sw, const char *rname,
                       int rc, int rh, int rw)
{
    if (rc > 0 && sc != rc)
        ddm_die("%s has %d-channel images, the reference %s has %d-channel images: they cannot be compared",
                sname, sc, rname, rc);
    if (e->kind == FEAT_PIXELS && rh > 0 && (sh != rh || sw != rw))
        ddm_die("%s has %dx%d images, the reference %s has %dx%d: --features pixels needs equal sizes "
                "(the classifier extractor pads smaller images; or prep the reference with --pad/--resize)",
                sname, sh, sw, rname, rh, rw);
    extractor_check_images(e, sname, sc, sh, sw);
    if (rc > 0) extractor_check_images(e, rname, rc, rh, rw);
}

/* feat (B,D) and probs (B,K) (either may be NULL) of B uint8 images (B,C,H,W) */
static void extractor_run(Extractor *e, const uint8_t *img, int B, int C, int H, int W, float *feat,
                          float *probs)
{
    if (e->kind == FEAT_PIXELS) {
        const size_t n = (size_t)B * C * H * W;
        for (size_t i = 0; i < n; i++) feat[i] = (float)img[i] * (1.0f / 255.0f);
        return;
    }
    if (e->kind == FEAT_INCEPTION) {
        inception_features(e->inc, feat, img, B, C, H, W);
        return;
    }
    classifier_input_u8(e->x, img, B, C, H, W, e->S);
    classifier_eval(e->net, feat, probs, e->x, B);
}

/* ---------------------------------------------------------------- image sets */

typedef struct {
    const char *path;   /* for messages */
    char *label;        /* "reference" or the group name, for progress lines */
    int is_dataset;
    DatasetFile ds;     /* a dataset */
    hid_t file;         /* a samples file */
    const char *group;
    int c, h, w;
    int64_t n;          /* rows used */
    int64_t *rows;      /* (n) the file rows used, ascending; NULL = rows 0..n-1 */
} ImageSet;

static int64_t set_row(const ImageSet *s, int64_t i) { return s->rows ? s->rows[i] : i; }

/* used rows [i0, i1) into out (i1-i0, C,H,W): one read per run of consecutive file rows
 * (one read per block for a finished file) */
static void set_read(ImageSet *s, int64_t i0, int64_t i1, uint8_t *out)
{
    const size_t img = (size_t)s->c * s->h * s->w;
    for (int64_t i = i0; i < i1;) {
        int64_t j = i + 1;
        while (j < i1 && set_row(s, j) == set_row(s, j - 1) + 1) j++;
        const int64_t f0 = set_row(s, i), cnt = j - i;
        uint8_t *dst = out + (size_t)(i - i0) * img;
        if (s->is_dataset)
            dataset_read_images(&s->ds, (size_t)f0, (size_t)cnt, dst);
        else
            samples_read_rows(s->file, s->path, s->group, f0, cnt, dst, NULL, NULL, NULL);
        i = j;
    }
}

/* This rank's used rows [lo, hi) of n: whole blocks of BLOCK rows, split over the ranks.
 * Every image then goes through the extractor in the same batch (rows [k BLOCK,
 * (k+1) BLOCK)) whatever the rank count, so its features are the same bits at any P. */
static void my_part(int64_t n, int64_t *lo, int64_t *hi)
{
    const int64_t r = dist_rank(), p = dist_size(), nb = (n + BLOCK - 1) / BLOCK;
    *lo = nb * r / p * BLOCK;
    *hi = nb * (r + 1) / p * BLOCK;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* Features of this rank's part of s. Adds every row to st; keeps the rows whose used index
 * is in sel[0..nsel) (sorted; sel == NULL && keep_all: every row) in *keep (malloc'd,
 * *nkeep rows) and the class probabilities of every row in *probs (when probs != NULL). */
static int64_t extract_part(Extractor *e, ImageSet *s, FeatStats *st, const int64_t *sel, int64_t nsel,
                            int keep_all, float **keep, int64_t *nkeep, float **probs)
{
    int64_t lo, hi;
    my_part(s->n, &lo, &hi);
    const int D = e->d;
    const size_t img = (size_t)s->c * s->h * s->w;
    uint8_t *buf = xmalloc(img * BLOCK);
    float *feat = xalloc_floats((size_t)BLOCK * D);
    float *pb = probs && e->k > 0 ? xalloc_floats((size_t)BLOCK * e->k) : NULL;
    /* the kept rows of this part: sel[a, b) */
    int64_t a = 0, b = 0;
    if (keep) {
        if (keep_all) {
            a = lo;
            b = hi;
        } else {
            while (a < nsel && sel[a] < lo) a++;
            b = a;
            while (b < nsel && sel[b] < hi) b++;
        }
        *nkeep = b - a;
        *keep = xalloc_floats((size_t)(b - a > 0 ? b - a : 1) * D);
    }
    if (pb) *probs = xalloc_floats((size_t)(hi - lo > 0 ? hi - lo : 1) * e->k);
    int64_t ks = a; /* next selected index to keep */
    double t0 = ddm_now(), last = t0;
    for (int64_t i0 = lo; i0 < hi;) {
        const int64_t i1 = i0 + BLOCK < hi ? i0 + BLOCK : hi;
        const int B = (int)(i1 - i0);
        set_read(s, i0, i1, buf);
        extractor_run(e, buf, B, s->c, s->h, s->w, feat, pb);
        featstats_add(st, feat, (size_t)B);
        if (keep) {
            for (; ks < b && (keep_all ? ks : sel[ks]) < i1; ks++) {
                const int64_t u = keep_all ? ks : sel[ks];
                memcpy(*keep + (size_t)(ks - a) * D, feat + (size_t)(u - i0) * D, sizeof(float) * (size_t)D);
            }
        }
        if (pb) memcpy(*probs + (size_t)(i0 - lo) * e->k, pb, sizeof(float) * (size_t)B * e->k);
        i0 = i1;
        double now = ddm_now();
        if (dist_is_root() && now - last > PROGRESS_EVERY) {
            char eta[32];
            format_duration((now - t0) / (double)(i0 - lo) * (double)(hi - i0), eta, sizeof eta);
            printf("eval:   features of %s: %lld/%lld images on rank 0 (%.0f img/s), ETA %s\n", s->label,
                   (long long)(i0 - lo), (long long)(hi - lo), (double)(i0 - lo) / (now - t0), eta);
            fflush(stdout);
            last = now;
        }
    }
    free(buf);
    free(feat);
    free(pb);
    return hi - lo;
}

/* rows x (n, w) of every rank onto every rank, in rank order (malloc'd, *ntotal rows) */
static float *gather_rows(const float *x, int64_t n, int w, int64_t *ntotal)
{
    const int P = dist_size();
    long long mine = n;
    long long *all = xmalloc(sizeof(long long) * (size_t)P);
    MPICHECK(MPI_Allgather(&mine, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG, g_dist.comm));
    int *counts = xmalloc(sizeof(int) * (size_t)P), *displs = xmalloc(sizeof(int) * (size_t)P);
    long long tot = 0;
    for (int p = 0; p < P; p++) {
        if (all[p] > 2147483647LL || tot > 2147483647LL - all[p])
            ddm_die("gathering feature rows: %lld rows are more than one MPI call moves", tot + all[p]);
        counts[p] = (int)all[p];
        displs[p] = (int)tot;
        tot += all[p];
    }
    float *out = xalloc_floats((size_t)(tot > 0 ? tot : 1) * (size_t)w);
    if (P == 1) {
        memcpy(out, x, sizeof(float) * (size_t)n * (size_t)w);
    } else {
        MPI_Datatype row;
        MPICHECK(MPI_Type_contiguous(w, MPI_FLOAT, &row));
        MPICHECK(MPI_Type_commit(&row));
        MPICHECK(MPI_Allgatherv(x, (int)n, row, out, counts, displs, row, g_dist.comm));
        MPICHECK(MPI_Type_free(&row));
    }
    free(all);
    free(counts);
    free(displs);
    *ntotal = tot;
    return out;
}

/* M <= n indices spread evenly over [0, n): floor(j n / M) */
static int64_t *spread_rows(int64_t n, int64_t m)
{
    int64_t *sel = xmalloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
    for (int64_t j = 0; j < m; j++) sel[j] = (int64_t)((double)j * (double)n / (double)m);
    /* exact integer form when it fits: avoid any rounding doubt */
    if (n < ((int64_t)1 << 31) && m < ((int64_t)1 << 31))
        for (int64_t j = 0; j < m; j++) sel[j] = j * n / m;
    return sel;
}

/* ---------------------------------------------------------------- the reference */

typedef struct {
    StatsData st;      /* mu, sigma, n; features (n_feat rows) when loaded */
    char *path;        /* --ref */
    char *cache;       /* the cache file (NULL when --ref is a stats file or caching is off) */
    int from_cache;    /* statistics read from a cache */
    int is_stats;      /* --ref is a stats file */
    double seconds;
} Ref;

/* "dataset:<abs path> n=<N> size=<bytes> mtime=<s.ns>": changes when the file does */
static char *dataset_key(const char *path, size_t n)
{
    char *ap = abs_path(path);
    struct stat st;
    if (stat(ap, &st) != 0) ddm_die("%s: %s", path, strerror(errno));
    char *k = str_printf("dataset:%s n=%zu size=%lld mtime=%lld.%09ld", ap, n, (long long)st.st_size,
                         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    free(ap);
    return k;
}

static char *cache_path(const char *ref, const Extractor *e)
{
    char *base = strip_h5(ref);
    char *p = str_printf("%s.stats-%s.h5", base, e->tag);
    free(base);
    return p;
}

/* What --ref is: 1 for a stats file, 0 for a dataset; dies otherwise. */
static int ref_kind(const char *path)
{
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *k = h5_get_kind(f);
    h5_close(f);
    if (!k) ddm_die("%s: not a ddm file (no 'kind' attribute): --ref takes a dataset or a stats file", path);
    int r = !strcmp(k, "stats") ? 1 : !strcmp(k, "dataset") ? 0 : -1;
    if (r < 0) ddm_die("%s: is a ddm '%s' file: --ref takes a dataset or a stats file", path, k);
    free(k);
    return r;
}

/* Checks of a stats file given as --ref against this run (every rank; rank 0 first). */
static void check_stats_ref(const StatsData *h, const char *path, const Extractor *e, int need_rows)
{
    if (strcmp(h->features_key, e->key) != 0)
        ddm_die("%s: these statistics were made with other features:\n  file: %s\n  this run: %s\n"
                "give the reference dataset as --ref (its statistics are then computed and cached), or "
                "--features matching the file", path, h->features_key, e->key);
    if (e->d > 0 && h->d != e->d)
        ddm_die("%s: holds %d-wide features, this run's extractor gives %d", path, h->d, e->d);
    if (h->n < 2) ddm_die("%s: statistics of %lld images: FID needs at least 2", path, (long long)h->n);
    if (need_rows && h->n_feat < 4)
        ddm_die("%s: holds %lld feature rows; KID and precision/recall need reference feature rows: give the "
                "reference dataset as --ref, or --metrics fid%s", path, (long long)h->n_feat,
                e->k > 0 ? ",is" : "");
}

/* Compute the statistics of dataset ref (all ranks) and, on rank 0, write the cache. */
static void ref_compute(Ref *r, Extractor *e, const char *dskey, int64_t cap, int write_cache)
{
    ImageSet s;
    memset(&s, 0, sizeof s);
    s.path = r->path;
    s.label = xstrdup("the reference");
    s.is_dataset = 1;
    dataset_open(&s.ds, r->path);
    s.c = s.ds.c;
    s.h = s.ds.h;
    s.w = s.ds.w;
    s.n = (int64_t)s.ds.n;
    if (e->kind == FEAT_PIXELS) e->d = s.c * s.h * s.w;
    const int64_t m = cap < s.n ? cap : s.n;
    int64_t *sel = spread_rows(s.n, m);
    FeatStats fs;
    featstats_init(&fs, e->d);
    float *keep = NULL;
    int64_t nkeep = 0;
    extract_part(e, &s, &fs, sel, m, 0, &keep, &nkeep, NULL);
    fid_stats_allreduce(&fs, g_dist.comm);
    StatsData *st = &r->st;
    memset(st, 0, sizeof *st);
    st->d = e->d;
    st->n = fs.n;
    st->mu = xmalloc(sizeof(double) * (size_t)e->d);
    st->sigma = xmalloc(sizeof(double) * (size_t)e->d * (size_t)e->d);
    featstats_mean_cov(&fs, st->mu, st->sigma);
    featstats_free(&fs);
    int64_t ng = 0;
    st->features = gather_rows(keep, nkeep, e->d, &ng);
    free(keep);
    DDM_ASSERT(ng == m, "reference feature rows: gathered %lld, expected %lld", (long long)ng, (long long)m);
    st->n_feat = m;
    st->feature_rows = sel;
    st->features_cap = cap;
    st->features_key = xstrdup(e->key);
    st->source = xstrdup(dskey);
    st->c = s.c;
    st->h = s.h;
    st->w = s.w;
    dataset_close(&s.ds);
    free(s.label);
    if (write_cache && dist_is_root()) {
        char *dir = dir_of(r->cache);
        if (access(dir, W_OK) != 0) {
            ddm_warn("%s: folder not writable: the reference statistics are not cached (%s)", dir, r->cache);
        } else {
            char *tmp = h5_tmp_name(r->cache);
            track_tmp(0, tmp);
            stats_write(r->cache, st);
            track_tmp(0, NULL);
            free(tmp);
        }
        free(dir);
    }
    dist_barrier();
}

/* ---------------------------------------------------------------- samples groups */

typedef struct {
    char *name;
    SamplesGroupInfo info;
    /* results (NaN = not computed) */
    int64_t n, n_ref_rows;
    double fid, kid, kid_std, is, is_std, precision, recall, seconds;
    double class_match; /* share of samples the classifier puts in their requested class */
    int kid_subsets, kid_subset_size;
} GroupResult;

/* The share of the used rows (rows[0..n)) whose classifier argmax (probs, n x K) equals
 * the row's label in the samples file; NaN when a row has no class label (-1, an
 * unconditional sample) or a label the classifier does not know. Rank 0 calls it. */
static double class_match(hid_t f, DatasetFile *ds, const char *path, const char *group, const int64_t *rows,
                          int64_t n, const float *probs, int K)
{
    if (n <= 0) return NAN;
    if (ds && ds->labels < 0) return NAN;
    const int64_t last = rows[n - 1] + 1;
    int32_t *lab = xmalloc(sizeof(int32_t) * (size_t)last);
    if (ds) dataset_read_labels(ds, 0, (size_t)last, lab);
    else samples_read_rows(f, path, group, 0, last, NULL, NULL, lab, NULL);
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t l = lab[rows[i]];
        if (l < 0 || l >= K) {
            free(lab);
            return NAN;
        }
        const float *p = probs + (size_t)i * (size_t)K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[best]) best = k;
        hit += best == l;
    }
    free(lab);
    return (double)hit / (double)n;
}

/* Finished rows of a group, ascending (malloc'd); *n_done set. */
static int64_t *done_rows(hid_t f, const char *path, const char *group, int64_t n, int64_t *n_done)
{
    uint8_t *done = xmalloc((size_t)(n > 0 ? n : 1));
    if (n > 0) samples_read_rows(f, path, group, 0, n, NULL, NULL, NULL, done);
    int64_t *rows = xmalloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1)), k = 0;
    for (int64_t i = 0; i < n; i++)
        if (done[i]) rows[k++] = i;
    free(done);
    *n_done = k;
    return rows;
}

static void fmt_eta(char *buf, size_t n, double eta)
{
    if (eta >= 0) snprintf(buf, n, "%g", eta);
    else snprintf(buf, n, "-");
}

static void result_json(Buf *b, const GroupResult *g, const EvalArgs *a, const Extractor *e, const Ref *r)
{
    const SamplesGroupInfo *i = &g->info;
    buf_add(b, "{\"samples\": ");
    buf_json_str(b, a->samples);
    buf_add(b, ", \"group\": ");
    buf_json_str(b, g->name);
    buf_add(b, ", \"sampler\": ");
    buf_json_str(b, i->sampler);
    buf_add(b, ", \"steps\": %d, \"eta\": ", i->steps);
    buf_json_num(b, i->eta >= 0 ? i->eta : NAN);
    buf_add(b, ", \"guidance\": %.10g, \"nfe\": %d, \"features\": ", i->guidance, i->nfe);
    buf_json_str(b, e->key);
    buf_add(b, ", \"ref\": ");
    buf_json_str(b, r->path);
    buf_add(b, ", \"n\": %lld, \"n_ref\": %lld, \"fid\": ", (long long)g->n, (long long)r->st.n);
    buf_json_num(b, g->fid);
    buf_add(b, ", \"kid\": ");
    buf_json_num(b, g->kid);
    buf_add(b, ", \"kid_std\": ");
    buf_json_num(b, g->kid_std);
    buf_add(b, ", \"is\": ");
    buf_json_num(b, g->is);
    buf_add(b, ", \"is_std\": ");
    buf_json_num(b, g->is_std);
    buf_add(b, ", \"precision\": ");
    buf_json_num(b, g->precision);
    buf_add(b, ", \"recall\": ");
    buf_json_num(b, g->recall);
    buf_add(b, ", \"class_match\": ");
    buf_json_num(b, g->class_match);
    buf_add(b, ", \"seconds\": %.3f, \"ref_seconds\": %.3f, \"ref_cached\": %s, \"n_ref_features\": %lld, \"kid_subsets\": %d, \"kid_subset_size\": %d, "
               "\"pr_k\": %d, \"ranks\": %d, \"threads\": %d}",
            g->seconds, r->seconds, r->from_cache || r->is_stats ? "true" : "false", (long long)g->n_ref_rows, g->kid_subsets, g->kid_subset_size, PR_K, dist_size(),
            ddm_threads());
}

/* ---------------------------------------------------------------- table and plot */

static void fmt_val(char *buf, size_t n, double v, const char *fmt, const char *none)
{
    if (isfinite(v)) snprintf(buf, n, fmt, v);
    else snprintf(buf, n, "%s", none);
}

static void write_text_atomic(const char *path, const char *text, int slot)
{
    char *tmp = h5_tmp_name(path);
    track_tmp(slot, tmp);
    FILE *f = fopen(tmp, "w");
    if (!f) ddm_die("%s: cannot create: %s", path, strerror(errno));
    if (fputs(text, f) == EOF || fflush(f) != 0 || ferror(f)) ddm_die("%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0) ddm_die("%s: write failed: %s", path, strerror(errno));
    if (rename(tmp, path) != 0) ddm_die("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    track_tmp(slot, NULL);
    free(tmp);
}

static void write_tables(const char *prefix, const GroupResult *g, int ng, const EvalArgs *a, const Extractor *e)
{
    Buf md = {0}, csv = {0};
    buf_add(&md, "Samples `%s` against `%s`; features: %s.\n\n", a->samples, a->ref, e->desc);
    buf_add(&md, "| group | sampler | steps | eta | w | NFE | n | FID | KID | IS | P | R | class match |\n");
    buf_add(&md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    buf_add(&csv, "group,sampler,steps,eta,guidance,NFE,n,FID,KID,IS,P,R,class_match\n");
    for (int i = 0; i < ng; i++) {
        char eta[32], fid[32], kid[32], is[32], p[32], r[32], cm[32];
        const SamplesGroupInfo *in = &g[i].info;
        fmt_eta(eta, sizeof eta, in->eta);
        fmt_val(fid, sizeof fid, g[i].fid, "%.4f", "-");
        fmt_val(kid, sizeof kid, g[i].kid, "%.6f", "-");
        fmt_val(is, sizeof is, g[i].is, "%.4f", "-");
        fmt_val(p, sizeof p, g[i].precision, "%.4f", "-");
        fmt_val(r, sizeof r, g[i].recall, "%.4f", "-");
        fmt_val(cm, sizeof cm, g[i].class_match, "%.4f", "-");
        buf_add(&md, "| %s | %s | %d | %s | %g | %d | %lld | %s | %s | %s | %s | %s | %s |\n", g[i].name, in->sampler,
                in->steps, eta, in->guidance, in->nfe, (long long)g[i].n, fid, kid, is, p, r, cm);
        fmt_eta(eta, sizeof eta, in->eta);
        if (in->eta < 0) eta[0] = '\0';
        fmt_val(fid, sizeof fid, g[i].fid, "%.6g", "");
        fmt_val(kid, sizeof kid, g[i].kid, "%.6g", "");
        fmt_val(is, sizeof is, g[i].is, "%.6g", "");
        fmt_val(p, sizeof p, g[i].precision, "%.6g", "");
        fmt_val(r, sizeof r, g[i].recall, "%.6g", "");
        fmt_val(cm, sizeof cm, g[i].class_match, "%.6g", "");
        buf_add(&csv, "%s,%s,%d,%s,%.10g,%d,%lld,%s,%s,%s,%s,%s,%s\n", g[i].name, in->sampler, in->steps, eta,
                in->guidance, in->nfe, (long long)g[i].n, fid, kid, is, p, r, cm);
    }
    char *mdp = str_printf("%s.md", prefix), *csvp = str_printf("%s.csv", prefix);
    write_text_atomic(mdp, md.s, 1);
    write_text_atomic(csvp, csv.s, 1);
    printf("eval: table: %s, %s\n", mdp, csvp);
    free(mdp);
    free(csvp);
    free(md.s);
    free(csv.s);
}

/* gnuplot: $DDM_GNUPLOT, else the first 'gnuplot' on PATH (malloc'd), or NULL */
static char *find_gnuplot(void)
{
    const char *env = getenv("DDM_GNUPLOT");
    if (env && *env) return access(env, X_OK) == 0 ? xstrdup(env) : NULL;
    const char *path = getenv("PATH");
    if (!path) return NULL;
    char *p = xstrdup(path), *save = NULL, *found = NULL;
    for (char *d = strtok_r(p, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *c = str_printf("%s/gnuplot", *d ? d : ".");
        if (access(c, X_OK) == 0) found = c;
        else free(c);
    }
    free(p);
    return found;
}

/* a gnuplot single-quoted string ('' stands for ') */
static void buf_gp_str(Buf *b, const char *s)
{
    buf_add(b, "'");
    for (; *s; s++) buf_add(b, *s == '\'' ? "''" : "%c", *s);
    buf_add(b, "'");
}

static int cmp_nfe(const void *x, const void *y)
{
    const GroupResult *a = *(const GroupResult *const *)x, *b = *(const GroupResult *const *)y;
    return (a->info.nfe > b->info.nfe) - (a->info.nfe < b->info.nfe);
}

/* FID against NFE, one line per sampler setting family (sampler, eta, guidance) */
static void write_plot(const char *png, const GroupResult *g, int ng, const EvalArgs *a, const Extractor *e)
{
    char *gp = find_gnuplot();
    if (!gp) {
        const char *env = getenv("DDM_GNUPLOT");
        ddm_warn("gnuplot not found (%s%s; Debian: apt-get install gnuplot-nox): no plot written (%s)",
                 env && *env ? "DDM_GNUPLOT=" : "looked on PATH", env && *env ? env : "", png);
        return;
    }
    /* families, in order of first appearance */
    char **fam = xcalloc((size_t)ng, sizeof(char *));
    int nf = 0, *of = xmalloc(sizeof(int) * (size_t)ng);
    for (int i = 0; i < ng; i++) {
        const SamplesGroupInfo *in = &g[i].info;
        char name[256];
        int n = snprintf(name, sizeof name, "%s", in->sampler);
        if (in->eta >= 0) n += snprintf(name + n, sizeof name - (size_t)n, " eta=%g", in->eta);
        if (in->guidance != 0) snprintf(name + n, sizeof name - (size_t)n, " w=%g", in->guidance);
        int f = 0;
        while (f < nf && strcmp(fam[f], name)) f++;
        if (f == nf) fam[nf++] = xstrdup(name);
        of[i] = f;
    }
    Buf dat = {0}, sc = {0};
    const GroupResult **pts = xmalloc(sizeof(GroupResult *) * (size_t)ng);
    int minnfe = 0, maxnfe = 0;
    for (int f = 0; f < nf; f++) {
        int np = 0;
        for (int i = 0; i < ng; i++)
            if (of[i] == f && isfinite(g[i].fid)) pts[np++] = &g[i];
        qsort(pts, (size_t)np, sizeof *pts, cmp_nfe);
        buf_add(&dat, "# %s\n", fam[f]);
        for (int j = 0; j < np; j++) {
            buf_add(&dat, "%d %.10g\n", pts[j]->info.nfe, pts[j]->fid);
            if (minnfe == 0 || pts[j]->info.nfe < minnfe) minnfe = pts[j]->info.nfe;
            if (pts[j]->info.nfe > maxnfe) maxnfe = pts[j]->info.nfe;
        }
        buf_add(&dat, "\n\n");
    }
    char *datp = h5_tmp_name(png), *scp = str_printf("%s.gp", datp), *pngtmp = str_printf("%s.png", datp);
    track_tmp(1, datp);
    track_tmp(2, scp);
    track_tmp(3, pngtmp);
    buf_add(&sc, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 900,560 noenhanced } "
                 "else { set terminal png size 900,560 noenhanced }\n");
    buf_add(&sc, "set output ");
    buf_gp_str(&sc, pngtmp);
    char *base = xstrdup(a->samples);
    buf_add(&sc, "\nset title ");
    char *title = str_printf("FID vs NFE: %s (features: %s)", basename(base),
                             e->kind == FEAT_PIXELS ? "pixels" : "classifier");
    buf_gp_str(&sc, title);
    free(title);
    free(base);
    buf_add(&sc, "\nset xlabel 'NFE (network evaluations per image)'\nset ylabel 'FID'\nset grid\n"
                 "set key top right\nset yrange [0:*]\nset offsets graph 0.04, graph 0.04, graph 0.05, 0\n");
    if (minnfe > 0 && maxnfe >= 8 * minnfe) buf_add(&sc, "set logscale x 2\n");
    buf_add(&sc, "plot ");
    for (int f = 0; f < nf; f++) {
        buf_add(&sc, "%s", f ? ", " : "");
        buf_gp_str(&sc, datp);
        buf_add(&sc, " index %d using 1:2 with linespoints lw 2 pt 7 title ", f);
        buf_gp_str(&sc, fam[f]);
    }
    buf_add(&sc, "\n");
    write_text_atomic(datp, dat.s, 1);
    track_tmp(1, datp);
    write_text_atomic(scp, sc.s, 2);
    track_tmp(2, scp);
    char *argv[] = {gp, scp, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, gp, NULL, NULL, argv, environ), status = 0;
    if (rc != 0) {
        ddm_warn("%s: cannot run: %s: no plot written", gp, strerror(rc));
    } else if (waitpid(pid, &status, 0) < 0) {
        ddm_warn("waiting for gnuplot: %s: no plot written", strerror(errno));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || access(pngtmp, F_OK) != 0) {
        ddm_warn("gnuplot failed (status %d): no plot written (%s)", WIFEXITED(status) ? WEXITSTATUS(status) : -1, png);
    } else if (rename(pngtmp, png) != 0) {
        ddm_die("%s: cannot rename to %s: %s", pngtmp, png, strerror(errno));
    } else {
        printf("eval: plot: %s (FID vs NFE, %d line%s, gnuplot)\n", png, nf, nf == 1 ? "" : "s");
    }
    unlink(datp);
    unlink(scp);
    unlink(pngtmp);
    for (int i = 1; i < 4; i++) track_tmp(i, NULL);
    free(datp);
    free(scp);
    free(pngtmp);
    free(dat.s);
    free(sc.s);
    free(pts);
    for (int f = 0; f < nf; f++) free(fam[f]);
    free(fam);
    free(of);
    free(gp);
}

/* ---------------------------------------------------------------- --task accuracy */

static int run_accuracy(const EvalArgs *a, Extractor *e)
{
    if (e->kind != FEAT_CLASSIFIER)
        ddm_die("--task accuracy needs --features classifier:CKPT.h5|RUN_DIR");
    ImageSet s;
    memset(&s, 0, sizeof s);
    s.path = a->ref;
    s.label = xstrdup("the test set");
    s.is_dataset = 1;
    if (dist_is_root()) { /* checks first, then the other ranks start */
        ref_kind(a->ref);
        DatasetFile ds;
        dataset_open(&ds, a->ref);
        if (ds.labels < 0) ddm_die("%s: has no /labels: the accuracy needs labeled images", a->ref);
        if (ds.classes > e->k)
            ddm_die("%s: has %d classes, the classifier %s knows %d", a->ref, ds.classes, e->ckpt, e->k);
        extractor_check_images(e, a->ref, ds.c, ds.h, ds.w);
        dataset_close(&ds);
        int go = 1;
        dist_bcast(&go, sizeof go, 0);
    }
    extractor_load(e);
    dataset_open(&s.ds, a->ref);
    s.c = s.ds.c;
    s.h = s.ds.h;
    s.w = s.ds.w;
    s.n = a->max_n > 0 && a->max_n < (long)s.ds.n ? a->max_n : (int64_t)s.ds.n;
    double t0 = ddm_now();
    int64_t lo, hi;
    my_part(s.n, &lo, &hi);
    const int K = e->k;
    const size_t img = (size_t)s.c * s.h * s.w;
    uint8_t *buf = xmalloc(img * BLOCK);
    float *feat = xalloc_floats((size_t)BLOCK * e->d), *probs = xalloc_floats((size_t)BLOCK * K);
    int32_t *lab = xmalloc(sizeof(int32_t) * BLOCK);
    /* per class: [0,K) correct, [K,2K) count */
    long long *cnt = xcalloc((size_t)2 * K, sizeof(long long));
    for (int64_t i0 = lo; i0 < hi; i0 += BLOCK) {
        const int B = (int)(hi - i0 < BLOCK ? hi - i0 : BLOCK);
        set_read(&s, i0, i0 + B, buf);
        dataset_read_labels(&s.ds, (size_t)i0, (size_t)B, lab);
        extractor_run(e, buf, B, s.c, s.h, s.w, feat, probs);
        for (int b = 0; b < B; b++) {
            const float *p = probs + (size_t)b * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (p[k] > p[best]) best = k;
            if (lab[b] < 0 || lab[b] >= K) ddm_die("%s: row %lld has label %d, outside [0,%d)", a->ref,
                                                   (long long)(i0 + b), lab[b], K);
            cnt[K + lab[b]]++;
            cnt[lab[b]] += best == lab[b];
        }
    }
    if (dist_size() > 1) MPICHECK(MPI_Allreduce(MPI_IN_PLACE, cnt, 2 * K, MPI_LONG_LONG, MPI_SUM, g_dist.comm));
    if (dist_is_root()) {
        long long right = 0, all = 0;
        for (int k = 0; k < K; k++) {
            right += cnt[k];
            all += cnt[K + k];
        }
        double acc = all ? (double)right / (double)all : 0;
        char **names = dataset_class_names(&s.ds);
        printf("eval: accuracy %.4f (%lld of %lld) on %s with %s, %.1f s\n", acc, right, all, a->ref, e->desc,
               ddm_now() - t0);
        printf("eval: per class:");
        for (int k = 0; k < K; k++)
            if (cnt[K + k]) printf(" %d%s%s%s %.3f", k, names ? " (" : "", names && k < s.ds.classes ? names[k] : "",
                                   names ? ")" : "", (double)cnt[k] / (double)cnt[K + k]);
        printf("\n");
        if (names) dataset_free_names(names, s.ds.classes);
        Buf b = {0};
        buf_add(&b, "{\"task\": \"accuracy\", \"ref\": ");
        buf_json_str(&b, a->ref);
        buf_add(&b, ", \"features\": ");
        buf_json_str(&b, e->key);
        buf_add(&b, ", \"n\": %lld, \"correct\": %lld, \"accuracy\": %.10g, \"seconds\": %.3f}", all, right, acc,
                ddm_now() - t0);
        printf("%s\n", b.s);
        if (a->out) jsonl_append(a->out, b.s);
        free(b.s);
        fflush(stdout);
    }
    free(cnt);
    free(lab);
    free(buf);
    free(feat);
    free(probs);
    dataset_close(&s.ds);
    free(s.label);
    return 0;
}

/* ---------------------------------------------------------------- the job */

/* Rank 0's checks of the samples side: the groups to evaluate, each finished enough. */
static char **pick_groups(hid_t f, const EvalArgs *a, int *ng)
{
    char **all = NULL;
    int n = samples_list_groups(f, &all);
    if (n == 0) ddm_die("%s: holds no sampler groups (groups with an 'images' dataset)", a->samples);
    if (!a->group) {
        *ng = n;
        return all;
    }
    char **out = xcalloc((size_t)n + 1, sizeof(char *));
    int k = 0;
    char *s = xstrdup(a->group), *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == '/') t++;
        int j = 0;
        while (j < n && strcmp(all[j], t)) j++;
        if (j == n) {
            Buf b = {0};
            for (int i = 0; i < n; i++) buf_add(&b, "%s%s", i ? ", " : "", all[i]);
            ddm_die("%s: has no sampler group '%s' (groups: %s)", a->samples, t, b.s);
        }
        if (k < n) out[k++] = xstrdup(t);
    }
    free(s);
    samples_free_names(all, n);
    *ng = k;
    return out;
}

int job_eval(int argc, char **argv)
{
    dist_init(&argc, &argv);
    cli_quiet = !dist_is_root();
    EvalArgs a;
    memset(&a, 0, sizeof a);
    a.ref_features = REF_FEATURES_CAP;
    a.ema = -1;
    a.kid_subsets = KID_SUBSETS;
    a.kid_subset_size = KID_SUBSET_SIZE;
    const CliOpt opts[] = {
        {"samples", CLI_STR, &a.samples, "FILE.h5", "samples file made by 'ddm sample' (every group, or --group), or a dataset file (one group 'data')", 0},
        {"ref", CLI_STR, &a.ref, "REF.h5", "reference: a dataset file, or a stats file written by ddm eval", 1},
        {"features", CLI_STR, &a.features, "SPEC", "classifier:CKPT.h5|RUN_DIR, pixels or inception:WEIGHTS.h5 (default pixels)", 0},
        {"metrics", CLI_STR, &a.metrics, "LIST", "comma list of fid,kid,is,pr (default: all the extractor allows; is needs the classifier)", 0},
        {"group", CLI_STR, &a.group, "NAME[,NAME]", "evaluate only these sampler groups (default: every group)", 0},
        {"out", CLI_STR, &a.out, "FILE.jsonl", "append one JSON line per group (default: results.jsonl beside the samples file)", 0},
        {"table", CLI_STR, &a.table, "PREFIX", "sweep table PREFIX.md and PREFIX.csv (default: SAMPLES-eval beside the samples file; written for several groups)", 0},
        {"plot", CLI_STR, &a.plot, "FILE.png", "plot of FID against NFE (default: PREFIX.png; written for several groups; needs gnuplot)", 0},
        {"npz", CLI_STR, &a.npz, "FILE.npz", "also write the samples' mu/sigma as pytorch-fid's .npz (several groups: FILE-GROUP.npz)", 0},
        {"max-n", CLI_LONG, &a.max_n, "N", "use at most the first N finished samples, and at most N reference feature rows for KID and P/R (default 0 = all)", 0},
        {"ref-features", CLI_LONG, &a.ref_features, "N", "reference feature rows kept in the cache for KID and P/R, evenly spread (default 10000)", 0},
        {"kid-subsets", CLI_INT, &a.kid_subsets, "N", "KID: number of subsets (default 100)", 0},
        {"kid-subset-size", CLI_INT, &a.kid_subset_size, "M", "KID: rows per subset, capped at the set sizes (default 1000)", 0},
        {"seed", CLI_LONG, &a.seed, "S", "KID: seed of the subset draws (default 0)", 0},
        {"ema", CLI_DOUBLE, &a.ema, "RATE", "classifier: use the EMA weights of this rate (default: the trained weights /model, or the EMA copy of a slim checkpoint)", 0},
        {"allow-partial", CLI_FLAG, &a.allow_partial, NULL, "score the finished rows of an unfinished samples file", 0},
        {"no-cache", CLI_FLAG, &a.no_cache, NULL, "neither read nor write the reference statistics cache", 0},
        {"threads", CLI_INT, &a.threads, "T", "threads per rank (default 0 = OMP_NUM_THREADS, else all the rank has)", 0},
        {"task", CLI_STR, &a.task, "NAME", "score (default) or accuracy (classifier accuracy on the labeled --ref)", 0},
        {"verbose", CLI_FLAG, &a.verbose, NULL, "more detail (FID terms, timings)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    /* rank 0 parses and checks first; the others follow once it has not died */
    int go = 1;
    if (!dist_is_root()) dist_bcast(&go, sizeof go, 0);
    if (cli_parse("eval", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        go = 0;
        if (dist_is_root()) dist_bcast(&go, sizeof go, 0);
        dist_finalize();
        return 0;
    }
    if (!go) { /* rank 0 printed the help */
        dist_finalize();
        return 0;
    }
    ddm_set_threads(a.threads);
    ddm_set_cleanup_hook(remove_tmp_files);
    const int root = dist_is_root();
    const int accuracy = a.task && !strcmp(a.task, "accuracy");
    if (a.task && !accuracy && strcmp(a.task, "score"))
        ddm_die("--task %s: unknown task (score or accuracy)", a.task);
    if (a.max_n < 0) ddm_die("--max-n must be >= 0, not %ld", a.max_n);
    if (a.ref_features < 0) ddm_die("--ref-features must be >= 0, not %ld", a.ref_features);
    if (a.kid_subsets < 1) ddm_die("--kid-subsets must be >= 1, not %d", a.kid_subsets);
    if (a.kid_subset_size < 2) ddm_die("--kid-subset-size must be >= 2, not %d", a.kid_subset_size);
    if (a.max_n > 0 && a.max_n <= PR_K) ddm_die("--max-n %ld: too few rows for the metrics (at least %d)", a.max_n, PR_K + 1);
    int mask = 0;
    if (a.metrics) parse_metrics(a.metrics, &mask);
    if (accuracy && !a.features) ddm_die("--task accuracy needs --features classifier:CKPT.h5|RUN_DIR");
    Extractor e;
    extractor_parse(&e, a.features ? a.features : "pixels", a.ema);
    if (!a.metrics) mask = M_FID | M_KID | M_PR | (e.k > 0 ? M_IS : 0);
    if ((mask & M_IS) && e.k == 0)
        ddm_die("--metrics %s: the Inception Score needs class probabilities: use --features classifier:CKPT "
                "(the '%s' extractor has none)", a.metrics, e.key);

    if (accuracy) {
        int rc = run_accuracy(&a, &e);
        extractor_free(&e);
        dist_finalize();
        return rc;
    }
    if (!a.samples) ddm_die("--samples FILE.h5 is required (see 'ddm eval --help')");
    const int need_rows = (mask & (M_KID | M_PR)) != 0;
    if (need_rows && a.ref_features <= PR_K)
        ddm_die("--ref-features %ld: KID and precision/recall need more than %d reference feature rows", a.ref_features, PR_K);

    /* ---- the samples file: groups, finished rows, shapes. A dataset file (ddm prep) is
     * one group "data" of finished rows: the floor (a held-out split) or the ceiling
     * (noise) of a metric. ---- */
    hid_t sf = h5_open(a.samples, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *skind = h5_get_kind(sf);
    const int sds_open = skind && !strcmp(skind, "dataset");
    free(skind);
    DatasetFile sds;
    memset(&sds, 0, sizeof sds);
    int ng = 0;
    char **groups = NULL;
    if (sds_open) {
        h5_close(sf);
        sf = H5I_INVALID_HID;
        dataset_open(&sds, a.samples);
        if (a.group && strcmp(a.group, "data"))
            ddm_die("%s: a dataset file has one group, 'data', not '%s'", a.samples, a.group);
        ng = 1;
        groups = xmalloc(sizeof(char *));
        groups[0] = xstrdup("data");
    } else {
        h5_require_kind(sf, a.samples, "samples");
        groups = pick_groups(sf, &a, &ng);
    }
    GroupResult *res = xcalloc((size_t)ng, sizeof *res);
    int64_t **rows = xcalloc((size_t)ng, sizeof *rows);
    for (int i = 0; i < ng; i++) {
        GroupResult *g = &res[i];
        g->name = groups[i];
        int64_t nd = 0;
        if (sds_open) {
            SamplesGroupInfo *in = &g->info;
            in->sampler = xstrdup("data");
            in->eta = -1;
            in->class_label = -1;
            in->n = in->n_done = (int64_t)sds.n;
            in->c = sds.c;
            in->h = sds.h;
            in->w = sds.w;
            nd = in->n;
            rows[i] = xmalloc(sizeof(int64_t) * (size_t)(nd > 0 ? nd : 1));
            for (int64_t r = 0; r < nd; r++) rows[i][r] = r;
        } else {
            samples_group_info(sf, a.samples, g->name, &g->info);
            rows[i] = done_rows(sf, a.samples, g->name, g->info.n, &nd);
        }
        if (nd == 0)
            ddm_die("%s: group %s: 0 of %lld rows done: nothing to evaluate", a.samples, g->name,
                    (long long)g->info.n);
        if (nd < g->info.n && !a.allow_partial)
            ddm_die("%s: group %s: %lld of %lld rows done; finish it with 'ddm sample' (it resumes), or pass "
                    "--allow-partial to score the finished rows", a.samples, g->name, (long long)nd,
                    (long long)g->info.n);
        if (nd < g->info.n && root)
            ddm_warn("%s: group %s: %lld of %lld rows done; scoring the finished ones (--allow-partial)",
                     a.samples, g->name, (long long)nd, (long long)g->info.n);
        g->n = a.max_n > 0 && a.max_n < nd ? a.max_n : nd;
        if (g->n < 2) ddm_die("%s: group %s: %lld finished sample: FID needs at least 2", a.samples, g->name,
                              (long long)g->n);
        if ((mask & M_PR) && g->n <= PR_K)
            ddm_die("%s: group %s: %lld samples: precision/recall needs more than %d", a.samples, g->name,
                    (long long)g->n, PR_K);
        if ((mask & M_IS) && g->n < IS_SPLITS)
            ddm_die("%s: group %s: %lld samples: the Inception Score needs at least %d (one per split)", a.samples,
                    g->name, (long long)g->n, IS_SPLITS);
        if (g->info.nfe <= 0 && !sds_open) g->info.nfe = g->info.steps;
        if (e.kind == FEAT_PIXELS) {
            const int d = g->info.c * g->info.h * g->info.w;
            if (i > 0 && d != e.d)
                ddm_die("%s: group %s has %dx%dx%d images, group %s %d values per image: --features pixels needs "
                        "equal sizes", a.samples, g->name, g->info.c, g->info.h, g->info.w, res[0].name, e.d);
            e.d = d;
        }
        char what[1200];
        snprintf(what, sizeof what, "%s (group %s)", a.samples, g->name);
        extractor_check_images(&e, what, g->info.c, g->info.h, g->info.w);
    }

    /* ---- the reference: a stats file, or a dataset (with its cache) ---- */
    Ref ref;
    memset(&ref, 0, sizeof ref);
    ref.path = a.ref;
    int64_t ref_n = 0;
    char *dskey = NULL;
    int cache_ok = 0;
    if (root) {
        ref.is_stats = ref_kind(a.ref);
        int rc = 0, rh = 0, rw = 0;
        if (ref.is_stats) {
            StatsData h;
            const char *why;
            if (!stats_peek(a.ref, &h, &why)) ddm_die("%s: %s", a.ref, why);
            check_stats_ref(&h, a.ref, &e, need_rows);
            rc = h.c;
            rh = h.h;
            rw = h.w;
            stats_free(&h);
        } else {
            DatasetFile ds;
            dataset_open(&ds, a.ref);
            rc = ds.c;
            rh = ds.h;
            rw = ds.w;
            ref_n = (int64_t)ds.n;
            dataset_close(&ds);
            if (ref_n < 2) ddm_die("%s: %lld images: FID needs at least 2", a.ref, (long long)ref_n);
            if (need_rows && ref_n <= PR_K)
                ddm_die("%s: %lld images: KID and precision/recall need more than %d", a.ref, (long long)ref_n, PR_K);
        }
        for (int i = 0; i < ng; i++) {
            char what[1200];
            snprintf(what, sizeof what, "%s (group %s)", a.samples, res[i].name);
            check_pair(&e, what, res[i].info.c, res[i].info.h, res[i].info.w, a.ref, rc, rh, rw);
        }
        if (!ref.is_stats && !a.no_cache) {
            ref.cache = cache_path(a.ref, &e);
            dskey = dataset_key(a.ref, (size_t)ref_n);
            StatsData h;
            const char *why = NULL;
            if (stats_peek(ref.cache, &h, &why)) {
                const int64_t want_rows = a.ref_features < ref_n ? a.ref_features : ref_n;
                if (strcmp(h.features_key, e.key) || strcmp(h.source, dskey))
                    printf("eval: reference cache %s is stale (made from other %s): recomputing\n", ref.cache,
                           strcmp(h.features_key, e.key) ? "features" : "data");
                else if (h.n_feat != want_rows || h.features_cap != a.ref_features)
                    printf("eval: reference cache %s holds %lld feature rows, this run keeps %lld: recomputing\n",
                           ref.cache, (long long)h.n_feat, (long long)want_rows);
                else
                    cache_ok = 1;
                stats_free(&h);
            } else if (access(ref.cache, F_OK) == 0) {
                printf("eval: reference cache %s is unusable (%s): recomputing\n", ref.cache, why);
            }
        }
        fflush(stdout);
        dist_bcast(&go, sizeof go, 0); /* the checks passed: the other ranks start */
    } else {
        ref.is_stats = ref_kind(a.ref);
        if (!ref.is_stats) {
            DatasetFile ds;
            dataset_open(&ds, a.ref);
            ref_n = (int64_t)ds.n;
            dataset_close(&ds);
            if (!a.no_cache) {
                ref.cache = cache_path(a.ref, &e);
                dskey = dataset_key(a.ref, (size_t)ref_n);
            }
        }
    }
    dist_bcast(&cache_ok, sizeof cache_ok, 0);
    extractor_load(&e);

    if (root) {
        printf("eval: %s: %d group%s; reference %s; features: %s; metrics:%s%s%s%s; %d rank%s x %d thread%s\n",
               a.samples, ng, ng == 1 ? "" : "s", a.ref, e.desc, mask & M_FID ? " fid" : "", mask & M_KID ? " kid" : "",
               mask & M_IS ? " is" : "", mask & M_PR ? " pr" : "", dist_size(), dist_size() == 1 ? "" : "s",
               ddm_threads(), ddm_threads() == 1 ? "" : "s");
        fflush(stdout);
    }
    double t_ref = ddm_now();
    if (ref.is_stats) {
        stats_read(a.ref, &ref.st, need_rows);
        check_stats_ref(&ref.st, a.ref, &e, need_rows);
        if (root)
            printf("eval: reference statistics from %s (%lld images, %lld feature rows; %s)\n", a.ref,
                   (long long)ref.st.n, (long long)ref.st.n_feat, ref.st.source);
    } else if (cache_ok) {
        stats_read(ref.cache, &ref.st, need_rows);
        ref.from_cache = 1;
        if (root)
            printf("eval: reference statistics reused from the cache %s (%lld images, %lld feature rows), %.2f s\n",
                   ref.cache, (long long)ref.st.n, (long long)ref.st.n_feat, ddm_now() - t_ref);
    } else {
        if (root) {
            printf("eval: computing the reference statistics of %s (%lld images)%s%s\n", a.ref, (long long)ref_n,
                   ref.cache ? "; caching them in " : " (not cached: --no-cache)", ref.cache ? ref.cache : "");
            fflush(stdout);
        }
        ref_compute(&ref, &e, dskey ? dskey : "", a.ref_features, ref.cache != NULL);
        if (root)
            printf("eval: reference statistics computed: %lld images, %lld feature rows kept, %.2f s%s%s\n",
                   (long long)ref.st.n, (long long)ref.st.n_feat, ddm_now() - t_ref,
                   ref.cache ? "; cached in " : "", ref.cache ? ref.cache : "");
    }
    ref.seconds = ddm_now() - t_ref;
    if (root) fflush(stdout);
    const int D = e.d;

    /* reference rows for KID and P/R: at most --max-n of the stored ones, evenly spread */
    float *ref_rows = NULL;
    int64_t n_ref_rows = 0;
    if (need_rows) {
        n_ref_rows = ref.st.n_feat;
        if (a.max_n > 0 && a.max_n < n_ref_rows) {
            n_ref_rows = a.max_n;
            int64_t *sel = spread_rows(ref.st.n_feat, n_ref_rows);
            ref_rows = xalloc_floats((size_t)n_ref_rows * D);
            for (int64_t j = 0; j < n_ref_rows; j++)
                memcpy(ref_rows + (size_t)j * D, ref.st.features + (size_t)sel[j] * D, sizeof(float) * (size_t)D);
            free(sel);
        } else {
            ref_rows = ref.st.features;
        }
        if (n_ref_rows <= PR_K) ddm_die("%s: %lld reference feature rows: too few for KID and P/R", a.ref,
                                        (long long)n_ref_rows);
    }

    /* ---- each group ---- */
    char *out_path = a.out ? xstrdup(a.out) : NULL;
    if (!out_path) {
        char *d = dir_of(a.samples);
        out_path = str_printf("%s/results.jsonl", d);
        free(d);
    }
    double *mu = xmalloc(sizeof(double) * (size_t)D), *sigma = xmalloc(sizeof(double) * (size_t)D * D);
    float *ref_radii = NULL; /* k-NN radii of the reference rows, for P/R */
    for (int gi = 0; gi < ng; gi++) {
        GroupResult *g = &res[gi];
        g->fid = g->kid = g->kid_std = g->is = g->is_std = g->precision = g->recall = g->class_match = NAN;
        double t0 = ddm_now();
        ImageSet s;
        memset(&s, 0, sizeof s);
        s.path = a.samples;
        s.label = str_printf("group %s", g->name);
        s.file = sf;
        if (sds_open) {
            s.is_dataset = 1;
            s.ds = sds;
        }
        s.group = g->name;
        s.c = g->info.c;
        s.h = g->info.h;
        s.w = g->info.w;
        s.n = g->n;
        s.rows = rows[gi];
        FeatStats fs;
        featstats_init(&fs, D);
        float *keep = NULL, *probs = NULL;
        int64_t nkeep = 0;
        const int64_t nloc = extract_part(&e, &s, &fs, NULL, 0, 1, need_rows ? &keep : NULL, &nkeep,
                                          e.k > 0 ? &probs : NULL);
        fid_stats_allreduce(&fs, g_dist.comm);
        featstats_mean_cov(&fs, mu, sigma);
        featstats_free(&fs);
        double t_feat = ddm_now() - t0;
        FidInfo fi;
        memset(&fi, 0, sizeof fi);
        if (mask & M_FID)
            g->fid = fid_frechet(mu, sigma, g->n, ref.st.mu, ref.st.sigma, ref.st.n, D, g_dist.comm, !root, &fi);
        if (need_rows) {
            int64_t nall = 0;
            float *all = gather_rows(keep, nkeep, D, &nall);
            DDM_ASSERT(nall == g->n, "gathered %lld sample rows, expected %lld", (long long)nall, (long long)g->n);
            if (mask & M_KID) {
                KidResult kr;
                pairwise_kid(&kr, all, (size_t)nall, ref_rows, (size_t)n_ref_rows, D, a.kid_subset_size,
                             a.kid_subsets, (uint64_t)a.seed, g_dist.comm);
                g->kid = kr.mean;
                g->kid_std = kr.std;
                g->kid_subsets = kr.subsets;
                g->kid_subset_size = kr.subset_size;
            }
            if (mask & M_PR) {
                PrResult pr;
                if (!ref_radii) /* once for every group */
                    ref_radii = pairwise_knn_radii(ref_rows, (size_t)n_ref_rows, D, PR_K, g_dist.comm);
                pairwise_precision_recall(&pr, ref_rows, (size_t)n_ref_rows, ref_radii, all, (size_t)nall, D, PR_K,
                                          g_dist.comm);
                g->precision = pr.precision;
                g->recall = pr.recall;
            }
            g->n_ref_rows = n_ref_rows;
            free(all);
        }
        if (e.k > 0) { /* a classifier: IS and the share of the requested class */
            int64_t np = 0;
            float *allp = gather_rows(probs, nloc, e.k, &np);
            DDM_ASSERT(np == g->n, "gathered %lld probability rows, expected %lld", (long long)np, (long long)g->n);
            if (root && (mask & M_IS)) metrics_inception_score(&g->is, &g->is_std, allp, (size_t)np, e.k, IS_SPLITS);
            if (root) /* only rank 0 reports: the labels are read there alone */
                g->class_match = class_match(sf, sds_open ? &sds : NULL, a.samples, g->name, rows[gi], g->n, allp, e.k);
            free(allp);
        }
        free(keep);
        free(probs);
        g->seconds = ddm_now() - t0;
        free(s.label);
        if (!root) continue;

        const SamplesGroupInfo *in = &g->info;
        char eta[32], line[1024];
        fmt_eta(eta, sizeof eta, in->eta);
        int off = sds_open
                      ? snprintf(line, sizeof line, "eval: %s (the dataset file's images): %lld images vs %lld:",
                                 g->name, (long long)g->n, (long long)ref.st.n)
                      : snprintf(line, sizeof line, "eval: %s (%s, %d steps, eta %s%s, NFE %d): %lld samples vs %lld:",
                                 g->name, in->sampler, in->steps, eta, in->guidance != 0 ? ", guided" : "", in->nfe,
                                 (long long)g->n, (long long)ref.st.n);
        if (mask & M_FID) off += snprintf(line + off, sizeof line - (size_t)off, "  FID %.4f", g->fid);
        if (mask & M_KID)
            off += snprintf(line + off, sizeof line - (size_t)off, "  KID %.6f +- %.6f", g->kid, g->kid_std);
        if (mask & M_IS) off += snprintf(line + off, sizeof line - (size_t)off, "  IS %.3f +- %.3f", g->is, g->is_std);
        if (mask & M_PR)
            off += snprintf(line + off, sizeof line - (size_t)off, "  precision %.4f recall %.4f", g->precision,
                            g->recall);
        if (isfinite(g->class_match))
            off += snprintf(line + off, sizeof line - (size_t)off, "  class match %.4f", g->class_match);
        snprintf(line + off, sizeof line - (size_t)off, "  (%.1f s, features %.1f s)", g->seconds, t_feat);
        printf("%s\n", line);
        if (a.verbose && (mask & M_FID))
            printf("eval:   FID terms: |mu1-mu2|^2 %.6g, tr S1 + tr S2 %.6g, tr sqrt %.6g; grid %dx%d, %.3f s\n",
                   fi.mean_term, fi.trace_term, fi.trsqrt, fi.nprow, fi.npcol, fi.seconds);
        Buf b = {0};
        result_json(&b, g, &a, &e, &ref);
        printf("%s\n", b.s);
        jsonl_append(out_path, b.s);
        free(b.s);
        if (a.npz) {
            char *p = xstrdup(a.npz);
            if (ng > 1) {
                char *base = xstrdup(a.npz);
                size_t l = strlen(base);
                if (l > 4 && !strcmp(base + l - 4, ".npz")) base[l - 4] = '\0';
                free(p);
                p = str_printf("%s-%s.npz", base, g->name);
                free(base);
            }
            char *tmp = h5_tmp_name(p);
            track_tmp(0, tmp);
            stats_write_npz(p, mu, sigma, D);
            track_tmp(0, NULL);
            free(tmp);
            printf("eval: wrote %s (mu [%d], sigma [%d,%d] float64, pytorch-fid's format)\n", p, D, D, D);
            free(p);
        }
        fflush(stdout);
    }
    if (root) {
        printf("eval: results appended to %s\n", out_path);
        if (ng > 1 || a.table || a.plot) {
            char *prefix = a.table ? xstrdup(a.table) : NULL;
            if (!prefix) {
                char *b = strip_h5(a.samples);
                prefix = str_printf("%s-eval", b);
                free(b);
            }
            write_tables(prefix, res, ng, &a, &e);
            char *png = a.plot ? xstrdup(a.plot) : str_printf("%s.png", prefix);
            if (mask & M_FID) write_plot(png, res, ng, &a, &e);
            else printf("eval: no plot: FID was not computed (--metrics)\n");
            free(png);
            free(prefix);
        }
        fflush(stdout);
    }

    for (int i = 0; i < ng; i++) {
        samples_group_info_free(&res[i].info);
        free(res[i].name);
        free(rows[i]);
    }
    free(groups);
    free(res);
    free(rows);
    free(ref_radii);
    if (ref_rows != ref.st.features) free(ref_rows);
    stats_free(&ref.st);
    free(ref.cache);
    free(dskey);
    free(out_path);
    free(mu);
    free(sigma);
    if (sds_open) dataset_close(&sds);
    h5_close(sf);
    extractor_free(&e);
    dist_finalize();
    return 0;
}
