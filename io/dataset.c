#include "io/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "core/common.h"
#include "core/resize.h"
#include "io/h5.h"

/* Chunks hold whole images: up to 256 of them, and no more than about 1 MiB, so that a
 * random row read decompresses little and a chunk fits HDF5's default 1 MiB cache. */
static hsize_t chunk_rows(size_t n, size_t img_bytes)
{
    size_t r = (1u << 20) / (img_bytes ? img_bytes : 1);
    if (r < 1) r = 1;
    if (r > 256) r = 256;
    if (r > n) r = n;
    return (hsize_t)r;
}

static hid_t make_dset(const char *path, hid_t file, const char *name, hid_t type, int nd,
                       const hsize_t *dims, const hsize_t *chunk)
{
    hid_t space = H5Screate_simple(nd, dims, NULL);
    H5OK(space);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5OK(dcpl);
    H5OK(H5Pset_chunk(dcpl, nd, chunk));
    H5OK(H5Pset_deflate(dcpl, 4));
    H5OK(H5Pset_fletcher32(dcpl)); /* a damaged byte is an error, not a different image */
    H5OK(H5Pset_obj_track_times(dcpl, 0));
    errno = 0;
    hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) h5_die_write(file, name, "create");
    (void)path;
    H5OK(H5Pclose(dcpl));
    H5OK(H5Sclose(space));
    return d;
}

void dataset_create(DatasetFile *ds, const char *path, size_t n, int c, int h, int w,
                    int with_labels)
{
    memset(ds, 0, sizeof *ds);
    if (n == 0 || c <= 0 || h <= 0 || w <= 0)
        ddm_die("%s: cannot make a dataset of %zu x %d x %d x %d images", path, n, c, h, w);
    if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        ddm_die("%s: this HDF5 library has no deflate filter", path);
    ds->path = xstrdup(path);
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->labels = -1;
    ds->file = h5_create(path, H5P_DEFAULT);
    h5_set_kind(ds->file, "dataset");
    hsize_t dims[4] = {n, (hsize_t)c, (hsize_t)h, (hsize_t)w};
    hsize_t chunk[4] = {chunk_rows(n, (size_t)c * h * w), (hsize_t)c, (hsize_t)h, (hsize_t)w};
    ds->images = make_dset(path, ds->file, "images", H5T_STD_U8LE, 4, dims, chunk);
    if (with_labels) {
        hsize_t lc = n < 65536 ? n : 65536;
        ds->labels = make_dset(path, ds->file, "labels", H5T_STD_I32LE, 1, dims, &lc);
    }
}

static void rows_io(const DatasetFile *ds, hid_t dset, hid_t memtype, size_t start,
                    size_t count, void *buf, int write, const char *what)
{
    if (start > ds->n || count > ds->n - start)
        ddm_die("%s: rows [%zu, %zu) are outside the %zu rows of %s", ds->path, start,
                start + count, ds->n, what);
    if (count == 0) return;
    int nd = dset == ds->images ? 4 : 1;
    hsize_t off[4] = {start, 0, 0, 0};
    hsize_t cnt[4] = {count, (hsize_t)ds->c, (hsize_t)ds->h, (hsize_t)ds->w};
    hid_t fs = H5Dget_space(dset);
    H5OK(fs);
    H5OK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL));
    hid_t ms = H5Screate_simple(nd, cnt, NULL);
    H5OK(ms);
    herr_t rc = write ? H5Dwrite(dset, memtype, ms, fs, H5P_DEFAULT, buf)
                      : H5Dread(dset, memtype, ms, fs, H5P_DEFAULT, buf);
    if (rc < 0 && !write && h5_has_checksum(dset))
        ddm_die("%s: cannot read rows [%zu, %zu) of %s: damaged (a Fletcher32 checksum does not "
                "match) or truncated", ds->path, start, start + count, what);
    if (rc < 0)
        ddm_die("%s: cannot %s rows [%zu, %zu) of %s%s", ds->path, write ? "write" : "read",
                start, start + count, what,
                write ? " (disk full?)" : " (file damaged or truncated?)");
    H5OK(H5Sclose(ms));
    H5OK(H5Sclose(fs));
}

void dataset_write_rows(DatasetFile *ds, size_t start, size_t count, const uint8_t *images,
                        const int32_t *labels)
{
    rows_io(ds, ds->images, H5T_NATIVE_UINT8, start, count, (void *)images, 1, "/images");
    if (ds->labels >= 0) {
        if (!labels) ddm_die("%s: rows written without their labels", ds->path);
        rows_io(ds, ds->labels, H5T_NATIVE_INT32, start, count, (void *)labels, 1, "/labels");
    }
}

void dataset_set_meta(DatasetFile *ds, int classes, const char *source,
                      const char *const *class_names)
{
    ds->classes = classes;
    h5_attr_set_i64(ds->file, "classes", classes);
    h5_attr_set_str(ds->file, "source", source ? source : "");
    if (!class_names || classes <= 0) return;
    /* a 1-D array of variable-length UTF-8 strings: h5py reads it as a list of str */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5OK(t);
    H5OK(H5Tset_size(t, H5T_VARIABLE));
    H5OK(H5Tset_cset(t, H5T_CSET_UTF8));
    hsize_t n = (hsize_t)classes;
    hid_t s = H5Screate_simple(1, &n, NULL);
    H5OK(s);
    if (H5Aexists(ds->file, "class_names") > 0) H5OK(H5Adelete(ds->file, "class_names"));
    hid_t a = H5Acreate2(ds->file, "class_names", t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) ddm_die("%s: cannot write attribute class_names", ds->path);
    H5OK(H5Awrite(a, t, class_names));
    H5OK(H5Aclose(a));
    H5OK(H5Sclose(s));
    H5OK(H5Tclose(t));
}

static void require_int_type(const char *path, hid_t d, const char *name, size_t size, int sign)
{
    hid_t t = H5Dget_type(d);
    H5OK(t);
    int ok = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == size &&
             (sign < 0 || (H5Tget_sign(t) == H5T_SGN_2) == sign);
    H5OK(H5Tclose(t));
    if (!ok)
        ddm_die("%s: dataset '%s' is not %s%zu", path, name, sign ? "int" : "uint", size * 8);
}

void dataset_open(DatasetFile *ds, const char *path)
{
    memset(ds, 0, sizeof *ds);
    ds->labels = -1;
    ds->file = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ds->path = xstrdup(path);
    h5_require_kind(ds->file, path, "dataset");
    hsize_t dims[8];
    int nd = h5_shape(ds->file, "images", dims);
    if (nd < 0) ddm_die("%s: has no /images dataset", path);
    if (nd != 4) ddm_die("%s: /images has %d dimensions, expected 4 (N,C,H,W)", path, nd);
    ds->images = H5Dopen2(ds->file, "images", H5P_DEFAULT);
    H5OK(ds->images);
    require_int_type(path, ds->images, "images", 1, 0);
    ds->n = dims[0];
    ds->c = (int)dims[1];
    ds->h = (int)dims[2];
    ds->w = (int)dims[3];
    if (ds->n == 0 || ds->c <= 0 || ds->h <= 0 || ds->w <= 0)
        ddm_die("%s: /images is empty", path);
    hsize_t ld[8];
    int lnd = h5_shape(ds->file, "labels", ld);
    if (lnd >= 0) {
        if (lnd != 1 || ld[0] != ds->n)
            ddm_die("%s: /labels must be int32 [%zu] to match /images", path, ds->n);
        ds->labels = H5Dopen2(ds->file, "labels", H5P_DEFAULT);
        H5OK(ds->labels);
        require_int_type(path, ds->labels, "labels", 4, 1);
        int64_t k = 0;
        if (!h5_attr_get_i64(ds->file, "classes", &k) || k <= 0)
            ddm_die("%s: has /labels but no positive 'classes' attribute", path);
        ds->classes = (int)k;
    }
}

void dataset_read_images(DatasetFile *ds, size_t start, size_t count, uint8_t *out)
{
    rows_io(ds, ds->images, H5T_NATIVE_UINT8, start, count, out, 0, "/images");
}

void dataset_read_labels(DatasetFile *ds, size_t start, size_t count, int32_t *out)
{
    if (ds->labels < 0) ddm_die("%s: has no /labels", ds->path);
    rows_io(ds, ds->labels, H5T_NATIVE_INT32, start, count, out, 0, "/labels");
}

char **dataset_class_names(DatasetFile *ds)
{
    if (ds->classes <= 0 || H5Aexists(ds->file, "class_names") <= 0) return NULL;
    hid_t a = H5Aopen(ds->file, "class_names", H5P_DEFAULT);
    H5OK(a);
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    H5OK(t);
    H5OK(s);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    if (H5Tget_class(t) != H5T_STRING || np != ds->classes)
        ddm_die("%s: attribute class_names must hold %d strings", ds->path, ds->classes);
    size_t n = (size_t)np;
    char **names = xcalloc(n, sizeof(char *));
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5OK(mt);
    H5OK(H5Tset_cset(mt, H5Tget_cset(t))); /* HDF5 will not convert UTF-8 <-> ASCII */
    if (H5Tis_variable_str(t) > 0) {
        char **v = xcalloc(n, sizeof(char *));
        H5OK(H5Tset_size(mt, H5T_VARIABLE));
        H5OK(H5Aread(a, mt, v));
        for (size_t i = 0; i < n; i++) {
            names[i] = xstrdup(v[i] ? v[i] : "");
            H5free_memory(v[i]);
        }
        free(v);
    } else {
        size_t len = H5Tget_size(t) + 1;
        char *buf = xcalloc(n, len);
        H5OK(H5Tset_size(mt, len));
        H5OK(H5Aread(a, mt, buf));
        for (size_t i = 0; i < n; i++) names[i] = xstrdup(buf + i * len);
        free(buf);
    }
    H5OK(H5Tclose(mt));
    H5OK(H5Sclose(s));
    H5OK(H5Tclose(t));
    H5OK(H5Aclose(a));
    return names;
}

void dataset_free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

void dataset_close(DatasetFile *ds)
{
    if (ds->labels >= 0) H5OK(H5Dclose(ds->labels));
    if (ds->images > 0) H5OK(H5Dclose(ds->images));
    if (ds->file > 0) {
        if (H5Fclose(ds->file) < 0) ddm_die("%s: cannot close (disk full?)", ds->path);
    }
    free(ds->path);
    memset(ds, 0, sizeof *ds);
    ds->labels = -1;
}

void dataset_pad(uint8_t *out, const uint8_t *in, int c, int h, int w, int p)
{
    int oh = h + 2 * p, ow = w + 2 * p;
    memset(out, 0, (size_t)c * oh * ow);
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            memcpy(out + ((size_t)k * oh + (size_t)(y + p)) * ow + p,
                   in + ((size_t)k * h + y) * w, (size_t)w);
}

void dataset_resize(uint8_t *out, int oh, int ow, const uint8_t *in, int c, int h, int w)
{
    resize_bilinear_u8(out, in, c, h, w, oh, ow);
}
