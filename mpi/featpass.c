/* Feature passes over ranks and the reference statistics (mpi/featpass.h). */
#define _GNU_SOURCE /* st_mtim */
#include "mpi/featpass.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/progress.h"
#include "core/strbuf.h"
#include "io/fsio.h"
#include "io/h5.h"
#include "io/samples.h"
#include "mpi/dist.h"
#include "mpi/fid.h"

#define PROGRESS_EVERY 10.0 /* seconds between progress lines */

int64_t featset_row(const FeatSet *s, int64_t i) { return s->rows ? s->rows[i] : i; }

/* used rows [i0, i1) into out (i1-i0, C,H,W): one read per run of consecutive file rows
 * (one read per block for a finished file) */
void featset_read(FeatSet *s, int64_t i0, int64_t i1, uint8_t *out)
{
    const size_t img = (size_t)s->c * s->h * s->w;
    for (int64_t i = i0; i < i1;) {
        int64_t j = i + 1;
        while (j < i1 && featset_row(s, j) == featset_row(s, j - 1) + 1) j++;
        const int64_t f0 = featset_row(s, i), cnt = j - i;
        uint8_t *dst = out + (size_t)(i - i0) * img;
        if (s->is_dataset)
            dataset_read_images(&s->ds, (size_t)f0, (size_t)cnt, dst);
        else
            samples_read_rows(s->file, s->path, s->group, f0, cnt, dst, NULL, NULL, NULL);
        i = j;
    }
}

/* This rank's used rows [lo, hi) of n: whole blocks of FEATURES_BLOCK rows, split over the ranks.
 * Every image then goes through the extractor in the same batch (rows [k FEATURES_BLOCK,
 * (k+1) FEATURES_BLOCK)) whatever the rank count, so its features are the same bits at any P. */
void featpass_part(int64_t n, int64_t *lo, int64_t *hi)
{
    const int64_t r = dist_rank(), p = dist_size(), nb = (n + FEATURES_BLOCK - 1) / FEATURES_BLOCK;
    *lo = nb * r / p * FEATURES_BLOCK;
    *hi = nb * (r + 1) / p * FEATURES_BLOCK;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* Features of this rank's part of s. Adds every row to st; keeps the rows whose used index
 * is in sel[0..nsel) (sorted; sel == NULL && keep_all: every row) in *keep (malloc'd,
 * *nkeep rows) and the class probabilities of every row in *probs (when probs != NULL). */
int64_t featpass_extract(FeatExtractor *e, FeatSet *s, FeatStats *st, const int64_t *sel, int64_t nsel,
                            int keep_all, float **keep, int64_t *nkeep, float **probs)
{
    int64_t lo, hi;
    featpass_part(s->n, &lo, &hi);
    const int D = e->d;
    const size_t img = (size_t)s->c * s->h * s->w;
    uint8_t *buf = xmalloc(img * FEATURES_BLOCK);
    float *feat = xalloc_floats((size_t)FEATURES_BLOCK * D);
    float *pb = probs && e->k > 0 ? xalloc_floats((size_t)FEATURES_BLOCK * e->k) : NULL;
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
        const int64_t i1 = i0 + FEATURES_BLOCK < hi ? i0 + FEATURES_BLOCK : hi;
        const int B = (int)(i1 - i0);
        featset_read(s, i0, i1, buf);
        features_run(e, buf, B, s->c, s->h, s->w, feat, pb);
        featstats_add(st, feat, (size_t)B);
        if (keep) {
            for (; ks < b && (keep_all ? ks : sel[ks]) < i1; ks++) {
                const int64_t u = keep_all ? ks : sel[ks];
                memcpy(*keep + (size_t)(ks - a) * D, feat + (size_t)(u - i0) * D, sizeof(float) * (size_t)D);
            }
        }
        if (pb) memcpy(*probs + (size_t)(i0 - lo) * e->k, pb, sizeof(float) * (size_t)B * e->k);
        i0 = i1;
        dist_heartbeat();
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

/* M <= n indices spread evenly over [0, n): floor(j n / M) */
int64_t *featpass_spread_rows(int64_t n, int64_t m)
{
    int64_t *sel = xmalloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
    for (int64_t j = 0; j < m; j++) sel[j] = (int64_t)((double)j * (double)n / (double)m);
    /* exact integer form when it fits: avoid any rounding doubt */
    if (n < ((int64_t)1 << 31) && m < ((int64_t)1 << 31))
        for (int64_t j = 0; j < m; j++) sel[j] = j * n / m;
    return sel;
}

/* "dataset:<abs path> n=<N> size=<bytes> mtime=<s.ns>": changes when the file does */
char *featref_dataset_key(const char *path, size_t n)
{
    char *ap = fsio_abs_path(path);
    struct stat st;
    if (stat(ap, &st) != 0) ddm_die("%s: %s", path, strerror(errno));
    char *k = strbuf_printf("dataset:%s n=%zu size=%lld mtime=%lld.%09ld", ap, n, (long long)st.st_size,
                         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    free(ap);
    return k;
}

char *featref_cache_path(const char *ref, const FeatExtractor *e)
{
    char *base = fsio_strip_suffix(ref, ".h5");
    char *p = strbuf_printf("%s.stats-%s.h5", base, e->tag);
    free(base);
    return p;
}

/* What --ref is: 1 for a stats file, 0 for a dataset; dies otherwise. */
int featref_kind(const char *path)
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
void featref_check_stats(const StatsData *h, const char *path, const FeatExtractor *e, int need_rows)
{
    if (strcmp(h->features_key, e->key) != 0)
        ddm_die("%s: statistics of other features (the file's: %s; this run's: %s): give the "
                "reference dataset as --ref (its statistics are then computed and cached), or "
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
void featref_compute(FeatRef *r, FeatExtractor *e, const char *dskey, int64_t cap, int write_cache)
{
    FeatSet s;
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
    int64_t *sel = featpass_spread_rows(s.n, m);
    FeatStats fs;
    featstats_init(&fs, e->d);
    float *keep = NULL;
    int64_t nkeep = 0;
    featpass_extract(e, &s, &fs, sel, m, 0, &keep, &nkeep, NULL);
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
    st->features = dist_allgather_rows(keep, nkeep, e->d, &ng);
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
        char *dir = fsio_dir_of(r->cache);
        if (access(dir, W_OK) != 0) {
            ddm_warn("%s: folder not writable: the reference statistics are not cached (%s)", dir, r->cache);
        } else {
            stats_write(r->cache, st); /* atomic; its temporary is removed on death */
        }
        free(dir);
    }
    dist_barrier();
}


int featref_cache_usable(const char *cache, const FeatExtractor *e, const char *dskey, int64_t ref_features,
                         int64_t ref_n)
{
    StatsData h;
    const char *why = NULL;
    int ok = 0;
    if (stats_peek(cache, &h, &why)) {
        const int64_t want_rows = ref_features < ref_n ? ref_features : ref_n;
        if (strcmp(h.features_key, e->key) || strcmp(h.source, dskey))
            printf("eval: reference cache %s is stale (made from other %s): recomputing\n", cache,
                   strcmp(h.features_key, e->key) ? "features" : "data");
        else if (h.n_feat != want_rows || h.features_cap != ref_features)
            printf("eval: reference cache %s holds %lld feature rows, this run keeps %lld: recomputing\n", cache,
                   (long long)h.n_feat, (long long)want_rows);
        else
            ok = 1;
        stats_free(&h);
    } else if (access(cache, F_OK) == 0) {
        printf("eval: reference cache %s is unusable (%s): recomputing\n", cache, why);
    }
    return ok;
}

void featref_load(FeatRef *ref, FeatExtractor *e, const char *dskey, int cache_ok, int need_rows,
                  int64_t ref_features, int64_t ref_n)
{
    const int root = dist_is_root();
    double t_ref = ddm_now();
    if (ref->is_stats) {
        stats_read(ref->path, &ref->st, need_rows);
        featref_check_stats(&ref->st, ref->path, e, need_rows);
        if (root)
            printf("eval: reference statistics from %s (%lld images, %lld feature rows; %s)\n", ref->path,
                   (long long)ref->st.n, (long long)ref->st.n_feat, ref->st.source);
    } else if (cache_ok) {
        stats_read(ref->cache, &ref->st, need_rows);
        ref->from_cache = 1;
        if (root)
            printf("eval: reference statistics reused from the cache %s (%lld images, %lld feature rows), %.2f s\n",
                   ref->cache, (long long)ref->st.n, (long long)ref->st.n_feat, ddm_now() - t_ref);
    } else {
        if (root) {
            printf("eval: computing the reference statistics of %s (%lld images)%s%s\n", ref->path, (long long)ref_n,
                   ref->cache ? "; caching them in " : " (not cached: --no-cache)", ref->cache ? ref->cache : "");
            fflush(stdout);
        }
        featref_compute(ref, e, dskey ? dskey : "", ref_features, ref->cache != NULL);
        if (root)
            printf("eval: reference statistics computed: %lld images, %lld feature rows kept, %.2f s%s%s\n",
                   (long long)ref->st.n, (long long)ref->st.n_feat, ddm_now() - t_ref,
                   ref->cache ? "; cached in " : "", ref->cache ? ref->cache : "");
    }
    ref->seconds = ddm_now() - t_ref;
    if (root) fflush(stdout);
}
