#define _GNU_SOURCE
#include "io/h5.h"
#include "io/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

hid_t h5_try_open(const char *path, unsigned flags, hid_t fapl)
{
    h5_quiet();
    return H5Fopen(path, flags, fapl);
}

hid_t h5_open(const char *path, unsigned flags, hid_t fapl)
{
    struct stat st;
    if (stat(path, &st) != 0) ddm_die("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) ddm_die("%s: not a regular file", path);
    h5_quiet();
    if (H5Fis_hdf5(path) <= 0)
        ddm_die("%s: not an HDF5 file (or truncated)", path);
    hid_t f = H5Fopen(path, flags, fapl);
    if (f < 0) ddm_die("%s: cannot open as HDF5%s", path, flags == H5F_ACC_RDWR ? " for writing" : "");
    return f;
}

static hid_t untimed(hid_t *cache, hid_t cls)
{
    if (*cache <= 0) {
        *cache = H5Pcreate(cls);
        H5OK(*cache);
        H5OK(H5Pset_obj_track_times(*cache, 0));
    }
    return *cache;
}

hid_t h5_untimed_gcpl(void)
{
    static hid_t p = 0;
    return untimed(&p, H5P_GROUP_CREATE);
}

hid_t h5_untimed_dcpl(void)
{
    static hid_t p = 0;
    return untimed(&p, H5P_DATASET_CREATE);
}

hid_t h5_create(const char *path, hid_t fapl)
{
    static hid_t fcpl = 0;
    h5_quiet();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, untimed(&fcpl, H5P_FILE_CREATE), fapl);
    if (f < 0) {
        /* find the reason HDF5 does not say */
        char *d = xstrdup(path);
        const char *dir = dirname(d);
        const char *why = access(dir, F_OK) != 0 ? "its folder does not exist"
                          : access(dir, W_OK) != 0 ? "its folder is not writable"
                                                   : "HDF5 could not create it";
        ddm_die("%s: cannot create: %s", path, why);
    }
    return f;
}

void h5_close(hid_t file)
{
    if (file >= 0) H5OK(H5Fclose(file));
}

void h5_set_kind(hid_t file, const char *kind)
{
    h5_attr_set_str(file, "kind", kind);
    h5_attr_set_i64(file, "format_version", DDM_FORMAT_VERSION);
}

char *h5_get_kind(hid_t file)
{
    char *k = NULL;
    if (!h5_attr_exists(file, "kind")) return NULL;
    h5_attr_get_str(file, "kind", &k);
    return k;
}

void h5_require_kind(hid_t file, const char *path, const char *want)
{
    char *k = h5_get_kind(file);
    if (!k) ddm_die("%s: not a ddm file (no 'kind' attribute), expected a '%s' file", path, want);
    if (strcmp(k, want) != 0) ddm_die("%s: is a ddm '%s' file, expected a '%s' file", path, k, want);
    free(k);
    int64_t v = -1;
    if (!h5_attr_get_i64(file, "format_version", &v))
        ddm_die("%s: has no format_version attribute", path);
    if (v != DDM_FORMAT_VERSION)
        ddm_die("%s: format_version %lld, this ddm reads version %d", path, (long long)v,
                DDM_FORMAT_VERSION);
}

int h5_attr_exists(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0; }

static void attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf)
{
    if (H5Aexists(obj, name) > 0) H5OK(H5Adelete(obj, name));
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5OK(a);
    H5OK(H5Awrite(a, type, buf));
    H5OK(H5Aclose(a));
}

void h5_attr_set_str(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5OK(H5Tset_size(t, strlen(value) + 1 > 0 ? strlen(value) + 1 : 1));
    H5OK(H5Tset_strpad(t, H5T_STR_NULLTERM));
    hid_t s = H5Screate(H5S_SCALAR);
    attr_write(obj, name, t, s, value);
    H5OK(H5Sclose(s));
    H5OK(H5Tclose(t));
}

void h5_attr_set_i64(hid_t obj, const char *name, int64_t value)
{
    hid_t s = H5Screate(H5S_SCALAR);
    attr_write(obj, name, H5T_NATIVE_INT64, s, &value);
    H5OK(H5Sclose(s));
}

void h5_attr_set_f64(hid_t obj, const char *name, double value)
{
    hid_t s = H5Screate(H5S_SCALAR);
    attr_write(obj, name, H5T_NATIVE_DOUBLE, s, &value);
    H5OK(H5Sclose(s));
}

void h5_attr_set_bytes(hid_t obj, const char *name, const void *data, size_t n)
{
    hsize_t d = n;
    hid_t s = H5Screate_simple(1, &d, NULL);
    attr_write(obj, name, H5T_NATIVE_UINT8, s, data);
    H5OK(H5Sclose(s));
}

int h5_attr_get_str(hid_t obj, const char *name, char **value)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    H5OK(a);
    hid_t t = H5Aget_type(a);
    if (H5Tget_class(t) != H5T_STRING) {
        char file[4096] = "?";
        if (H5Fget_name(obj, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
        ddm_die("%s: attribute '%s' is not a string (not a file ddm wrote, or damaged)", file,
                name);
    }
    if (H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5OK(H5Tset_size(mt, H5T_VARIABLE));
        H5Tset_cset(mt, H5Tget_cset(t)); /* h5py writes UTF-8; HDF5 won't convert */
        H5OK(H5Aread(a, mt, &v));
        *value = xstrdup(v ? v : "");
        H5free_memory(v);
        H5OK(H5Tclose(mt));
    } else {
        size_t n = H5Tget_size(t);
        char *v = xcalloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5OK(H5Tset_size(mt, n + 1));
        H5OK(H5Tset_cset(mt, H5Tget_cset(t)));
        H5OK(H5Aread(a, mt, v));
        H5OK(H5Tclose(mt));
        *value = v;
    }
    H5OK(H5Tclose(t));
    H5OK(H5Aclose(a));
    return 1;
}

static int attr_read_num(hid_t obj, const char *name, hid_t memtype, void *out)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    H5OK(a);
    hid_t t = H5Aget_type(a);
    H5T_class_t c = H5Tget_class(t);
    if (c != H5T_INTEGER && c != H5T_FLOAT) ddm_die("attribute '%s' is not a number", name);
    H5OK(H5Aread(a, memtype, out));
    H5OK(H5Tclose(t));
    H5OK(H5Aclose(a));
    return 1;
}

int h5_attr_get_i64(hid_t obj, const char *name, int64_t *value)
{
    return attr_read_num(obj, name, H5T_NATIVE_INT64, value);
}

int h5_attr_get_f64(hid_t obj, const char *name, double *value)
{
    return attr_read_num(obj, name, H5T_NATIVE_DOUBLE, value);
}

int h5_attr_get_bytes(hid_t obj, const char *name, void *data, size_t n)
{
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    H5OK(a);
    hid_t s = H5Aget_space(a);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (np != (hssize_t)n) ddm_die("attribute '%s' has %lld bytes, expected %zu", name, (long long)np, n);
    H5OK(H5Aread(a, H5T_NATIVE_UINT8, data));
    H5OK(H5Sclose(s));
    H5OK(H5Aclose(a));
    return 1;
}

void h5_make_parents(hid_t loc, const char *name)
{
    char *p = xstrdup(name);
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (H5Lexists(loc, p, H5P_DEFAULT) <= 0) {
            hid_t g = H5Gcreate2(loc, p, H5P_DEFAULT, h5_untimed_gcpl(), H5P_DEFAULT);
            H5OK(g);
            H5OK(H5Gclose(g));
        }
        *s = '/';
    }
    free(p);
}

int h5_exists(hid_t loc, const char *path)
{
    char *p = xstrdup(path);
    int ok = 1;
    for (char *s = strchr(p + 1, '/'); ok && s; s = strchr(s + 1, '/')) {
        *s = '\0';
        ok = H5Lexists(loc, p, H5P_DEFAULT) > 0;
        *s = '/';
    }
    if (ok) ok = H5Lexists(loc, p, H5P_DEFAULT) > 0;
    free(p);
    return ok;
}

static void write_dense(hid_t loc, const char *name, hid_t type, const void *x, int ndim,
                        const hsize_t *dims)
{
    h5_make_parents(loc, name);
    if (H5Lexists(loc, name, H5P_DEFAULT) > 0) H5OK(H5Ldelete(loc, name, H5P_DEFAULT));
    hid_t s = H5Screate_simple(ndim, dims, NULL);
    H5OK(s);
    /* one chunk holding it all, with HDF5's Fletcher32 checksum: a flipped byte is an
     * error on reading (h5_read_*), not silently different weights */
    hid_t dcpl = H5Pcopy(h5_untimed_dcpl());
    H5OK(dcpl);
    size_t bytes = H5Tget_size(type);
    int chunkable = ndim > 0;
    for (int i = 0; i < ndim; i++) {
        chunkable &= dims[i] > 0;
        bytes *= dims[i] > 0 ? (size_t)dims[i] : 1;
    }
    if (chunkable && bytes < ((size_t)1 << 31)) {
        H5OK(H5Pset_chunk(dcpl, ndim, dims));
        H5OK(H5Pset_fletcher32(dcpl));
    }
    errno = 0;
    hid_t d = H5Dcreate2(loc, name, type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) h5_die_write(loc, name, "create");
    if (H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0) h5_die_write(loc, name, "write");
    if (H5Dclose(d) < 0) h5_die_write(loc, name, "write");
    H5OK(H5Sclose(s));
    H5OK(H5Pclose(dcpl));
}

void h5_die_write(hid_t loc, const char *name, const char *what)
{
    const int e = errno;
    char file[4096] = "?";
    if (H5Fget_name(loc, file, sizeof file) < 0) snprintf(file, sizeof file, "?");
    struct statvfs vs;
    char *slash = strrchr(file, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - file) : 1, slash ? file : ".");
    const int full = statvfs(dir, &vs) == 0 && vs.f_bavail * (double)vs.f_frsize < (1 << 20);
    ddm_die("%s: cannot %s dataset '%s': %s", file, what, name,
            full || e == ENOSPC ? "no space left on the device"
            : e == EDQUOT        ? "disk quota exceeded"
            : e                  ? strerror(e)
                                 : "the HDF5 library failed (disk full or the file system failing?)");
}

int h5_has_checksum(hid_t d)
{
    hid_t p = H5Dget_create_plist(d);
    if (p < 0) return 0;
    int n = H5Pget_nfilters(p), has = 0;
    for (int i = 0; i < n; i++) {
        unsigned flags, conf;
        size_t nel = 0;
        char nm[64];
        if (H5Pget_filter2(p, (unsigned)i, &flags, &nel, NULL, sizeof nm, nm, &conf) ==
            H5Z_FILTER_FLETCHER32)
            has = 1;
    }
    H5Pclose(p);
    return has;
}

void h5_write_f32(hid_t loc, const char *name, const float *x, int ndim, const hsize_t *dims)
{
    write_dense(loc, name, H5T_NATIVE_FLOAT, x, ndim, dims);
}

void h5_write_f64(hid_t loc, const char *name, const double *x, int ndim, const hsize_t *dims)
{
    write_dense(loc, name, H5T_NATIVE_DOUBLE, x, ndim, dims);
}

int h5_shape(hid_t loc, const char *name, hsize_t dims[8])
{
    if (!h5_exists(loc, name)) return -1;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd > 8) nd = 8;
    if (nd > 0) H5Sget_simple_extent_dims(s, dims, NULL);
    H5OK(H5Sclose(s));
    H5OK(H5Dclose(d));
    return nd;
}

static void shape_str(char *buf, size_t n, int nd, const hsize_t *dims)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "[");
    for (int i = 0; i < nd && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

static void read_dense(hid_t loc, const char *path, const char *name, hid_t type, void *x,
                       int ndim, const hsize_t *dims)
{
    hsize_t have[8];
    int nd = h5_shape(loc, name, have);
    if (nd < 0) ddm_die("%s: has no dataset '%s'", path, name);
    int same = nd == ndim;
    for (int i = 0; same && i < nd; i++) same = have[i] == dims[i];
    if (!same) {
        char a[128], b[128];
        shape_str(a, sizeof a, nd, have);
        shape_str(b, sizeof b, ndim, dims);
        ddm_die("%s: dataset '%s' has shape %s, expected %s", path, name, a, b);
    }
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    H5OK(d);
    if (H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0) {
        if (h5_has_checksum(d))
            ddm_die("%s: dataset '%s' is damaged: its Fletcher32 checksum does not match its "
                    "bytes (or the file is truncated)", path, name);
        ddm_die("%s: cannot read dataset '%s' (file damaged or truncated?)", path, name);
    }
    H5OK(H5Dclose(d));
}

void h5_read_f32(hid_t loc, const char *path, const char *name, float *x, int ndim,
                 const hsize_t *dims)
{
    read_dense(loc, path, name, H5T_NATIVE_FLOAT, x, ndim, dims);
}

void h5_read_f64(hid_t loc, const char *path, const char *name, double *x, int ndim,
                 const hsize_t *dims)
{
    read_dense(loc, path, name, H5T_NATIVE_DOUBLE, x, ndim, dims);
}

char *h5_tmp_name(const char *path) { return fsio_tmp_name(path); }

void h5_commit_tmp(const char *tmp, const char *path) { fsio_commit(tmp, path); }

typedef struct {
    char *name;
    int64_t key;
} NamedKey;

static int namedkey_cmp(const void *a, const void *b)
{
    const NamedKey *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return strcmp(x->name, y->name);
}

void h5_sort_names(char **names, int64_t *key, int n)
{
    NamedKey *nk = xmalloc(sizeof *nk * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) nk[i] = (NamedKey){names[i], key[i]};
    qsort(nk, (size_t)n, sizeof *nk, namedkey_cmp);
    for (int i = 0; i < n; i++) {
        names[i] = nk[i].name;
        key[i] = nk[i].key;
    }
    free(nk);
}

void h5_order_by_address(hid_t loc, char **names, int n)
{
    int64_t *addr = xcalloc((size_t)(n ? n : 1), sizeof *addr);
    for (int g = 0; g < n; g++) {
#if H5_VERSION_GE(1, 12, 0)
        H5O_info2_t oi;
        if (H5Oget_info_by_name3(loc, names[g], &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0) {
            haddr_t a = 0; /* the native VOL's token is the address */
            memcpy(&a, &oi.token, sizeof a < sizeof oi.token ? sizeof a : sizeof oi.token);
            addr[g] = (int64_t)a;
        }
#else
        H5O_info_t oi;
        if (H5Oget_info_by_name2(loc, names[g], &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0) addr[g] = (int64_t)oi.addr;
#endif
    }
    h5_sort_names(names, addr, n);
    free(addr);
}
