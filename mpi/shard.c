/* Sharded reading of the training data: see mpi/shard.h. */
#include "mpi/shard.h"

#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/pixels.h"
#include "core/rng.h"
#include "io/h5.h"
#include "mpi/dist.h"
#include "mpi/h5par.h"

typedef struct {
    int64_t row;
    int64_t idx; /* row of the local batch */
} RowIdx;

static int rowidx_cmp(const void *a, const void *b)
{
    const RowIdx *x = a, *y = b;
    return (x->row > y->row) - (x->row < y->row);
}

int shard_validate(int64_t batch_global, int nranks, char *err, size_t errlen)
{
    if (batch_global < 1) {
        snprintf(err, errlen, "train.batch = %lld: must be >= 1", (long long)batch_global);
        return -1;
    }
    if (batch_global % nranks == 0) return 0;
    int64_t lo = batch_global / nranks * nranks, hi = lo + nranks;
    if (lo < nranks)
        snprintf(err, errlen,
                 "train.batch = %lld does not split over %d ranks: the global batch must be a "
                 "multiple of the rank count (e.g. %lld)",
                 (long long)batch_global, nranks, (long long)hi);
    else
        snprintf(err, errlen,
                 "train.batch = %lld does not split over %d ranks: the global batch must be a "
                 "multiple of the rank count (e.g. %lld or %lld)",
                 (long long)batch_global, nranks, (long long)lo, (long long)hi);
    return -1;
}

int64_t shard_epoch(const Shard *s, int64_t step) { return step / s->steps_per_epoch; }

int64_t shard_epoch_pos(const Shard *s, int64_t step)
{
    return step % s->steps_per_epoch * s->batch_global;
}

int shard_flipped(const Shard *s, int64_t pos)
{
    return s->opt.flip && rng_uniform_at(s->seed, SHARD_FLIP_STREAM, (uint64_t)pos) < 0.5f;
}

static void read_all(Shard *s, hid_t dset, hid_t memtype, void *out, const char *what)
{
    if (H5Dread(dset, memtype, H5S_ALL, H5S_ALL, s->dxpl, out) < 0)
        ddm_die("%s: cannot read %s (file damaged or truncated?)", s->path, what);
}

static void open_labels(Shard *s)
{
    hsize_t d[8];
    int nd = h5_shape(s->file, "labels", d);
    if (nd < 0) return;
    if (nd != 1 || (int64_t)d[0] != s->n)
        ddm_die("%s: /labels must be int32 [%lld] (one per image)", s->path, (long long)s->n);
    hid_t ds = H5Dopen2(s->file, "labels", H5P_DEFAULT);
    H5OK(ds);
    hid_t t = H5Dget_type(ds);
    H5OK(t);
    if (H5Tget_class(t) != H5T_INTEGER) ddm_die("%s: /labels is not an integer dataset", s->path);
    H5OK(H5Tclose(t));
    s->labels = xmalloc((size_t)s->n * sizeof *s->labels);
    read_all(s, ds, H5T_NATIVE_INT32, s->labels, "/labels");
    H5OK(H5Dclose(ds));
    s->has_labels = 1;
    int64_t classes = 0;
    h5_attr_get_i64(s->file, "classes", &classes);
    s->classes = (int)classes;
    for (int64_t i = 0; i < s->n; i++)
        if (s->labels[i] < 0 || (classes > 0 && s->labels[i] >= classes))
            ddm_die("%s: /labels[%lld] = %d is outside [0, %lld) (classes attribute)", s->path,
                    (long long)i, s->labels[i], (long long)(classes > 0 ? classes : INT32_MAX));
}

void shard_open(Shard *s, const char *path, int channels, int image_size, int64_t batch_global,
                uint64_t seed, const ShardOptions *opt)
{
    memset(s, 0, sizeof *s);
    s->path = xstrdup(path);
    s->rank = g_dist.rank;
    s->nranks = g_dist.size;
    s->seed = seed;
    if (opt) s->opt = *opt;
    s->batch_global = batch_global;
    char err[256];
    if (shard_validate(batch_global, s->nranks, err, sizeof err)) ddm_die("%s", err);
    s->batch_local = (int)(batch_global / s->nranks);

    hid_t fapl = h5par_fapl();
    s->file = h5_open(path, H5F_ACC_RDONLY, fapl);
    h5par_close(fapl);
    h5_require_kind(s->file, path, "dataset");
    s->dxpl = s->opt.collective ? h5par_dxpl_collective() : h5par_dxpl_independent();

    hsize_t d[8];
    int nd = h5_shape(s->file, "images", d);
    if (nd < 0) ddm_die("%s: has no /images dataset", path);
    if (nd != 4) ddm_die("%s: /images has %d dimensions, expected 4 [N,C,H,W]", path, nd);
    s->n = (int64_t)d[0];
    s->c = (int)d[1];
    s->h = (int)d[2];
    s->w = (int)d[3];
    if (s->c != channels || s->h != image_size || s->w != image_size)
        ddm_die("%s: images are [%lld,%d,%d,%d], the model wants [N,%d,%d,%d] "
                "(model.channels = %d, model.image_size = %d)",
                path, (long long)s->n, s->c, s->h, s->w, channels, image_size, image_size, channels,
                image_size);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5OK(dapl);
    /* chunk cache: 4 MiB, many hash slots, and w0 = 1 (evict fully-read chunks first:
     * a random row never reads a whole chunk, so chunks stay until space is needed).
     * Measured (8192 x 1x32x32, deflate chunks of 256 rows, Bg 64, one rank): HDF5's
     * default (1 MiB, 521 slots, w0 0.75) 23 ms/step; this 3.5-5 ms/step. */
    H5OK(H5Pset_chunk_cache(dapl, 12421, (size_t)4 << 20, 1.0));
    s->images = H5Dopen2(s->file, "images", dapl);
    H5OK(s->images);
    H5OK(H5Pclose(dapl));
    hid_t t = H5Dget_type(s->images);
    H5OK(t);
    if (H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 1 || H5Tget_sign(t) != H5T_SGN_NONE)
        ddm_die("%s: /images is not uint8", path);
    H5OK(H5Tclose(t));
    s->steps_per_epoch = s->n / batch_global;
    if (s->steps_per_epoch < 1)
        ddm_die("%s: holds %lld images, fewer than one global batch (train.batch = %lld)", path,
                (long long)s->n, (long long)batch_global);
    open_labels(s);

    const size_t img = (size_t)s->c * (size_t)s->h * (size_t)s->w;
    if (s->opt.cache) {
        s->cache = xmalloc((size_t)s->n * img);
        read_all(s, s->images, H5T_NATIVE_UINT8, s->cache, "/images");
    }
    s->perm = xmalloc((size_t)s->n * sizeof *s->perm);
    s->perm_epoch = -1;
    s->buf = xmalloc((size_t)s->batch_local * img);
    s->order = xmalloc((size_t)s->batch_local * sizeof(RowIdx));
}

void shard_close(Shard *s)
{
    if (s->images > 0) H5OK(H5Dclose(s->images));
    h5par_close(s->dxpl);
    if (s->file > 0) h5_close(s->file);
    free(s->path);
    free(s->labels);
    free(s->cache);
    free(s->perm);
    free(s->buf);
    free(s->order);
    memset(s, 0, sizeof *s);
}

/* Read the sorted rows ri[0..n) into s->buf (file order), one hyperslab per run. */
static void read_rows(Shard *s, const RowIdx *ri, int n)
{
    const hsize_t img = (hsize_t)s->c * (hsize_t)s->h * (hsize_t)s->w;
    hid_t fs = H5Dget_space(s->images);
    H5OK(fs);
    H5OK(H5Sselect_none(fs));
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && ri[j].row == ri[j - 1].row + 1) j++;
        hsize_t start[4] = {(hsize_t)ri[i].row, 0, 0, 0};
        hsize_t count[4] = {(hsize_t)(j - i), (hsize_t)s->c, (hsize_t)s->h, (hsize_t)s->w};
        H5OK(H5Sselect_hyperslab(fs, H5S_SELECT_OR, start, NULL, count, NULL));
        i = j;
    }
    hsize_t m = n ? (hsize_t)n * img : 1;
    hid_t ms = H5Screate_simple(1, &m, NULL);
    H5OK(ms);
    if (!n) H5OK(H5Sselect_none(ms));
    if (H5Dread(s->images, H5T_NATIVE_UINT8, ms, fs, s->dxpl, s->buf) < 0)
        ddm_die("%s: cannot read /images rows (file damaged or truncated?)", s->path);
    H5OK(H5Sclose(ms));
    H5OK(H5Sclose(fs));
}

/* one image u8 (C,H,W) -> floats in [-1,1], mirrored left-right when flip */
static void to_float(float *x, const uint8_t *u, int c, int h, int w, int flip)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++) {
            const uint8_t *src = u + ((size_t)ch * h + y) * w;
            float *dst = x + ((size_t)ch * h + y) * w;
            if (flip)
                for (int k = 0; k < w; k++) pixels_from_uint8_f32(dst + k, src + (w - 1 - k), 1);
            else
                pixels_from_uint8_f32(dst, src, (size_t)w);
        }
}

void shard_read(Shard *s, int64_t step, float *x, int32_t *labels, int64_t *pos, int64_t *rows)
{
    DDM_ASSERT(step >= 0, "shard_read: step %lld", (long long)step);
    double t0 = ddm_now();
    const int B = s->batch_local;
    const size_t img = (size_t)s->c * (size_t)s->h * (size_t)s->w;
    const int64_t epoch = shard_epoch(s, step);
    if (epoch != s->perm_epoch) {
        rng_permutation(s->perm, s->n, s->seed, (uint64_t)epoch);
        s->perm_epoch = epoch;
    }
    const int64_t first = shard_epoch_pos(s, step) + (int64_t)s->rank * B; /* into the epoch */
    const int64_t pos0 = step * s->batch_global + (int64_t)s->rank * B;    /* global */
    RowIdx *ri = s->order;
    for (int i = 0; i < B; i++) {
        ri[i].row = s->perm[first + i];
        ri[i].idx = i;
        if (labels) labels[i] = s->has_labels ? s->labels[ri[i].row] : -1;
        if (pos) pos[i] = pos0 + i;
        if (rows) rows[i] = ri[i].row;
    }
    if (s->cache) {
        for (int i = 0; i < B; i++)
            to_float(x + (size_t)i * img, s->cache + (size_t)ri[i].row * img, s->c, s->h, s->w,
                     shard_flipped(s, pos0 + i));
    } else {
        /* a hyperslab union comes back in file order: sort, read, scatter back */
        qsort(ri, (size_t)B, sizeof *ri, rowidx_cmp);
        read_rows(s, ri, B);
        for (int j = 0; j < B; j++) {
            int64_t i = ri[j].idx;
            to_float(x + (size_t)i * img, s->buf + (size_t)j * img, s->c, s->h, s->w,
                     shard_flipped(s, pos0 + i));
        }
    }
    s->read_s += ddm_now() - t0;
}
