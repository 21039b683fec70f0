/* Stats files and the pytorch-fid .npz: see io/stats.h.
 * D = feature width, N = images, M = feature rows kept. */
#include "io/stats.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"
#include "io/fsio.h"
#include "io/h5.h"
#include "io/npz.h"

/* ---------------------------------------------------------------- HDF5 */

static void write_i64_rows(hid_t f, const char *name, const int64_t *x, hsize_t n)
{
    hid_t s = H5Screate_simple(1, &n, NULL);
    H5OK(s);
    hid_t d = H5Dcreate2(f, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5OK(d);
    H5OK(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, x));
    H5OK(H5Dclose(d));
    H5OK(H5Sclose(s));
}

static void read_i64_rows(hid_t f, const char *path, const char *name, int64_t *x, hsize_t n)
{
    hsize_t dims[8];
    if (h5_shape(f, name, dims) != 1 || dims[0] != n)
        ddm_die("%s: /%s must be int64 [%llu]", path, name, (unsigned long long)n);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) ddm_die("%s: cannot open /%s", path, name);
    if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0)
        ddm_die("%s: cannot read /%s (file damaged?)", path, name);
    H5OK(H5Dclose(d));
}

void stats_write(const char *path, const StatsData *s)
{
    DDM_ASSERT(s->d > 0 && s->mu && s->sigma, "stats_write: empty statistics");
    char *tmp = fsio_tmp_name(path);
    fsio_track_created(tmp); /* removed if the process dies before the commit */
    hid_t f = h5_create(tmp, H5P_DEFAULT);
    h5_set_kind(f, "stats");
    h5_attr_set_i64(f, "n", s->n);
    h5_attr_set_i64(f, "d", s->d);
    h5_attr_set_str(f, "features", s->features_key ? s->features_key : "");
    h5_attr_set_str(f, "source", s->source ? s->source : "");
    h5_attr_set_i64(f, "image_c", s->c);
    h5_attr_set_i64(f, "image_h", s->h);
    h5_attr_set_i64(f, "image_w", s->w);
    h5_attr_set_i64(f, "features_cap", s->features_cap);
    h5_attr_set_str(f, "ddm_version", DDM_VERSION);
    hsize_t dmu[1] = {(hsize_t)s->d}, dsig[2] = {(hsize_t)s->d, (hsize_t)s->d};
    h5_write_f64(f, "mu", s->mu, 1, dmu);
    h5_write_f64(f, "sigma", s->sigma, 2, dsig);
    if (s->n_feat > 0 && s->features) {
        hsize_t df[2] = {(hsize_t)s->n_feat, (hsize_t)s->d};
        h5_write_f32(f, "features", s->features, 2, df);
        if (s->feature_rows) write_i64_rows(f, "feature_rows", s->feature_rows, (hsize_t)s->n_feat);
    }
    h5_close(f);
    fsio_commit(tmp, path);
    free(tmp);
}

int stats_peek(const char *path, StatsData *s, const char **why)
{
    memset(s, 0, sizeof *s);
    *why = NULL;
    if (access(path, R_OK) != 0) {
        *why = "no such file (or not readable)";
        return 0;
    }
    h5_quiet();
    if (H5Fis_hdf5(path) <= 0) {
        *why = "not an HDF5 file (or truncated)";
        return 0;
    }
    hid_t f = h5_try_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        *why = "cannot be opened as HDF5";
        return 0;
    }
    char *kind = h5_get_kind(f);
    int64_t v = -1;
    int ok = 0;
    if (!kind || strcmp(kind, "stats") != 0) {
        *why = "not a ddm stats file";
    } else if (!h5_attr_get_i64(f, "format_version", &v) || v != DDM_FORMAT_VERSION) {
        *why = "another format_version";
    } else if (!h5_exists(f, "mu") || !h5_exists(f, "sigma")) {
        *why = "no /mu or /sigma";
    } else {
        hsize_t dims[8];
        int64_t x = 0;
        h5_attr_get_i64(f, "n", &s->n);
        if (h5_attr_get_i64(f, "d", &x)) s->d = (int)x;
        if (h5_shape(f, "mu", dims) == 1) s->d = (int)dims[0];
        if (h5_shape(f, "features", dims) == 2 && (int)dims[1] == s->d) s->n_feat = (int64_t)dims[0];
        h5_attr_get_i64(f, "features_cap", &s->features_cap);
        if (!h5_attr_get_str(f, "features", &s->features_key)) s->features_key = xstrdup("");
        if (!h5_attr_get_str(f, "source", &s->source)) s->source = xstrdup("");
        x = 0; h5_attr_get_i64(f, "image_c", &x); s->c = (int)x;
        x = 0; h5_attr_get_i64(f, "image_h", &x); s->h = (int)x;
        x = 0; h5_attr_get_i64(f, "image_w", &x); s->w = (int)x;
        ok = 1;
    }
    free(kind);
    if (H5Fclose(f) < 0) {
        *why = "cannot be closed (damaged?)";
        ok = 0;
    }
    if (!ok) stats_free(s);
    return ok;
}

void stats_read(const char *path, StatsData *s, int load_features)
{
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(f, path, "stats");
    memset(s, 0, sizeof *s);
    hsize_t dims[8];
    if (h5_shape(f, "mu", dims) != 1 || dims[0] < 1) ddm_die("%s: has no /mu float64 [D]", path);
    s->d = (int)dims[0];
    if (!h5_attr_get_i64(f, "n", &s->n)) ddm_die("%s: has no attribute n (images behind the statistics)", path);
    if (!h5_attr_get_str(f, "features", &s->features_key)) s->features_key = xstrdup("");
    if (!h5_attr_get_str(f, "source", &s->source)) s->source = xstrdup("");
    int64_t x = 0;
    h5_attr_get_i64(f, "image_c", &x); s->c = (int)x;
    x = 0; h5_attr_get_i64(f, "image_h", &x); s->h = (int)x;
    x = 0; h5_attr_get_i64(f, "image_w", &x); s->w = (int)x;
    h5_attr_get_i64(f, "features_cap", &s->features_cap);
    const size_t d = (size_t)s->d;
    s->mu = xmalloc(sizeof(double) * d);
    s->sigma = xmalloc(sizeof(double) * d * d);
    hsize_t dmu[1] = {d}, dsig[2] = {d, d};
    h5_read_f64(f, path, "mu", s->mu, 1, dmu);
    h5_read_f64(f, path, "sigma", s->sigma, 2, dsig);
    if (h5_shape(f, "features", dims) == 2) {
        if (dims[1] != d)
            ddm_die("%s: /features has rows of %llu values, /mu has %zu", path,
                    (unsigned long long)dims[1], d);
        s->n_feat = (int64_t)dims[0];
        if (load_features && s->n_feat > 0) {
            s->features = xalloc_floats((size_t)s->n_feat * d);
            hsize_t df[2] = {dims[0], d};
            h5_read_f32(f, path, "features", s->features, 2, df);
            if (h5_exists(f, "feature_rows")) {
                s->feature_rows = xmalloc(sizeof(int64_t) * (size_t)s->n_feat);
                read_i64_rows(f, path, "feature_rows", s->feature_rows, dims[0]);
            }
        }
    }
    h5_close(f);
}

void stats_free(StatsData *s)
{
    free(s->mu);
    free(s->sigma);
    free(s->features);
    free(s->feature_rows);
    free(s->features_key);
    free(s->source);
    memset(s, 0, sizeof *s);
}

/* little-endian float64 bytes of x into the open member, a block at a time */
static void npz_put_doubles(NpzWriter *z, const double *x, size_t n)
{
    unsigned char buf[8 * 512];
    for (size_t i0 = 0; i0 < n; i0 += 512) {
        size_t m = n - i0 < 512 ? n - i0 : 512;
        for (size_t i = 0; i < m; i++) {
            uint64_t u;
            memcpy(&u, &x[i0 + i], 8);
            for (int b = 0; b < 8; b++) buf[8 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
        npz_write(z, buf, 8 * m);
    }
}

void stats_write_npz(const char *path, const double *mu, const double *sigma, int d)
{
    NpzWriter *z = npz_open(path);
    size_t s1[1] = {(size_t)d}, s2[2] = {(size_t)d, (size_t)d};
    npz_begin_array(z, "mu", "<f8", 1, s1, 8);
    npz_put_doubles(z, mu, (size_t)d);
    npz_end_array(z);
    npz_begin_array(z, "sigma", "<f8", 2, s2, 8);
    npz_put_doubles(z, sigma, (size_t)d * (size_t)d);
    npz_end_array(z);
    npz_close(z);
}
