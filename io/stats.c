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
#include "io/h5.h"

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
    char *tmp = h5_tmp_name(path);
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
    h5_commit_tmp(tmp, path);
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

/* ---------------------------------------------------------------- .npz
 * A zip archive of stored (uncompressed) members, as numpy.savez writes it; each member
 * an .npy v1.0 file: magic "\x93NUMPY", version 1.0, a little-endian uint16 header length,
 * a Python dict literal padded with spaces to a multiple of 64 bytes ending in '\n', then
 * the raw little-endian data. (jobs/export.c has its own writer for image arrays; it is
 * static there.) */

/* CRC-32 of zip (IEEE 802.3, reflected, polynomial 0xEDB88320) */
static uint32_t crc_table[256];
static int crc_ready = 0;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

typedef struct {
    FILE *f;
    const char *path;
    uint64_t pos;
    uint16_t dos_time, dos_date;
    int nm;
    struct {
        char name[16];
        uint32_t crc, size, offset;
    } m[2];
} NpzZip;

static void zput(NpzZip *z, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, z->f) != n) ddm_die("%s: write failed: %s", z->path, strerror(errno));
    z->pos += n;
}

static void zput16(NpzZip *z, uint32_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    zput(z, b, 2);
}

static void zput32(NpzZip *z, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    zput(z, b, 4);
}

/* .npy header for a float64 C-order array of nd (1 or 2) dims; returns its length */
static size_t npy_f64_header(char *buf, size_t cap, int nd, int d)
{
    char dict[160];
    int dl = nd == 1
                 ? snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }", d)
                 : snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", d, d);
    size_t total = (10 + (size_t)dl + 1 + 63) / 64 * 64;
    DDM_ASSERT(total <= cap, "npy header too long");
    size_t hl = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', hl - (size_t)dl - 1);
    buf[total - 1] = '\n';
    return total;
}

/* doubles as little-endian bytes, a block at a time, into crc (f == NULL) or the file */
static uint32_t npz_doubles(NpzZip *z, const double *x, size_t n, uint32_t crc, int write)
{
    unsigned char buf[8 * 512];
    for (size_t i0 = 0; i0 < n; i0 += 512) {
        size_t m = n - i0 < 512 ? n - i0 : 512;
        for (size_t i = 0; i < m; i++) {
            uint64_t u;
            memcpy(&u, &x[i0 + i], 8);
            for (int b = 0; b < 8; b++) buf[8 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
        if (write) zput(z, buf, 8 * m);
        else crc = crc_update(crc, buf, 8 * m);
    }
    return crc;
}

static void npz_member(NpzZip *z, const char *name, const double *x, int nd, int d)
{
    char hdr[256];
    size_t hl = npy_f64_header(hdr, sizeof hdr, nd, d);
    size_t count = nd == 1 ? (size_t)d : (size_t)d * (size_t)d;
    uint64_t size = hl + 8 * (uint64_t)count;
    if (size >= 0xffffffffu || z->pos + size >= 0xffffffffu)
        ddm_die("%s: %s would be %llu bytes: too large for a plain zip (D = %d)", z->path, name,
                (unsigned long long)size, d);
    uint32_t crc = crc_update(0, (const unsigned char *)hdr, hl);
    crc = npz_doubles(z, x, count, crc, 0);
    int i = z->nm++;
    snprintf(z->m[i].name, sizeof z->m[i].name, "%s", name);
    z->m[i].crc = crc;
    z->m[i].size = (uint32_t)size;
    z->m[i].offset = (uint32_t)z->pos;
    uint16_t nl = (uint16_t)strlen(name);
    zput32(z, 0x04034b50); /* local file header */
    zput16(z, 20);         /* version needed: 2.0 */
    zput16(z, 0);          /* flags */
    zput16(z, 0);          /* method: stored */
    zput16(z, z->dos_time);
    zput16(z, z->dos_date);
    zput32(z, crc);
    zput32(z, (uint32_t)size); /* compressed */
    zput32(z, (uint32_t)size); /* uncompressed */
    zput16(z, nl);
    zput16(z, 0); /* extra */
    zput(z, name, nl);
    zput(z, hdr, hl);
    npz_doubles(z, x, count, 0, 1);
}

static void npz_finish(NpzZip *z)
{
    uint32_t cd_start = (uint32_t)z->pos;
    for (int i = 0; i < z->nm; i++) {
        uint16_t nl = (uint16_t)strlen(z->m[i].name);
        zput32(z, 0x02014b50); /* central directory entry */
        zput16(z, 3 << 8 | 20); /* made by: Unix, 2.0 */
        zput16(z, 20);
        zput16(z, 0);
        zput16(z, 0);
        zput16(z, z->dos_time);
        zput16(z, z->dos_date);
        zput32(z, z->m[i].crc);
        zput32(z, z->m[i].size);
        zput32(z, z->m[i].size);
        zput16(z, nl);
        zput16(z, 0); /* extra */
        zput16(z, 0); /* comment */
        zput16(z, 0); /* disk */
        zput16(z, 0); /* internal attributes */
        zput32(z, (uint32_t)0100644 << 16); /* external: regular file rw-r--r-- */
        zput32(z, z->m[i].offset);
        zput(z, z->m[i].name, nl);
    }
    uint32_t cd_size = (uint32_t)z->pos - cd_start;
    zput32(z, 0x06054b50); /* end of central directory */
    zput16(z, 0);
    zput16(z, 0);
    zput16(z, (uint32_t)z->nm);
    zput16(z, (uint32_t)z->nm);
    zput32(z, cd_size);
    zput32(z, cd_start);
    zput16(z, 0);
}

void stats_write_npz(const char *path, const double *mu, const double *sigma, int d)
{
    if (!crc_ready) crc_init();
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ddm_die("%s: is a folder", path);
    char *tmp = h5_tmp_name(path);
    NpzZip z;
    memset(&z, 0, sizeof z);
    z.path = path;
    z.f = fopen(tmp, "wb");
    if (!z.f) ddm_die("%s: cannot create: %s", path, strerror(errno));
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    z.dos_time = (uint16_t)(tmv.tm_hour << 11 | tmv.tm_min << 5 | tmv.tm_sec / 2);
    z.dos_date = (uint16_t)((tmv.tm_year - 80) << 9 | (tmv.tm_mon + 1) << 5 | tmv.tm_mday);
    npz_member(&z, "mu.npy", mu, 1, d);
    npz_member(&z, "sigma.npy", sigma, 2, d);
    npz_finish(&z);
    if (fflush(z.f) != 0 || ferror(z.f)) {
        unlink(tmp);
        ddm_die("%s: write failed: %s", path, strerror(errno));
    }
    if (fclose(z.f) != 0) {
        unlink(tmp);
        ddm_die("%s: write failed: %s", path, strerror(errno));
    }
    h5_commit_tmp(tmp, path); /* fsync + rename: nothing HDF5-specific */
    free(tmp);
}
