/* What a ddm HDF5 file holds, for people (io/describe.h). */
#include "io/describe.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "io/dataset.h"
#include "io/h5.h"

#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t LinkInfo;
#else
typedef H5L_info_t LinkInfo;
#endif

#define LIST_ALL_MAX 24  /* up to this many datasets are listed one by one */
#define GROUP_SHOW 3     /* in a per-group summary, the first few by name */
#define ROW_BLOCK 4096   /* images per read for the pixel statistics */

static void human_bytes(char *buf, size_t n, double b)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static void dtype_name(hid_t t, char *buf, size_t n)
{
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (c == H5T_INTEGER)
        snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", sz * 8);
    else if (c == H5T_FLOAT)
        snprintf(buf, n, "float%zu", sz * 8);
    else if (c == H5T_STRING)
        snprintf(buf, n, "string");
    else if (c == H5T_COMPOUND)
        snprintf(buf, n, "compound");
    else if (c == H5T_ENUM)
        snprintf(buf, n, "enum");
    else
        snprintf(buf, n, "class%d/%zuB", (int)c, sz);
}

static void shape_str(char *buf, size_t n, int nd, const hsize_t *d)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%llu", i ? "," : "", (unsigned long long)d[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

/* ---- attributes --------------------------------------------------------------------- */

/* A string value: short ones quoted; long or multi-line ones (a config text) as a
 * length, a line count and the first lines. */
static void print_str_value(const char *s, const char *indent)
{
    size_t len = strlen(s);
    int lines = 1;
    for (const char *p = s; *p; p++)
        if (*p == '\n' && p[1]) lines++;
    if (len <= 160 && lines == 1) {
        printf("\"%s\"\n", s);
        return;
    }
    printf("<text: %zu chars, %d line%s>\n", len, lines, lines == 1 ? "" : "s");
    const char *p = s;
    for (int i = 0; i < 4 && *p; i++) {
        const char *e = strchr(p, '\n');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        printf("%s  | %.*s%s\n", indent, (int)(l > 100 ? 100 : l), p, l > 100 ? " ..." : "");
        p = e ? e + 1 : p + l;
    }
    if (*p) printf("%s  | ...\n", indent);
}

static herr_t print_attr(hid_t obj, const char *name, const H5A_info_t *ainfo, void *op)
{
    (void)ainfo;
    const char *indent = op;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) {
        printf("%s%-16s <unreadable>\n", indent, name);
        return 0;
    }
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    H5OK(t);
    H5OK(s);
    hssize_t np = H5Sget_simple_extent_npoints(s);
    int scalar = H5Sget_simple_extent_type(s) == H5S_SCALAR;
    H5T_class_t cls = H5Tget_class(t);
    char tn[32];
    dtype_name(t, tn, sizeof tn);
    printf("%s%-16s ", indent, name);
    size_t n = np > 0 ? (size_t)np : 0;
    if (cls == H5T_STRING) {
        char **v = xcalloc(n ? n : 1, sizeof(char *));
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5OK(H5Tset_cset(mt, H5Tget_cset(t))); /* h5py writes UTF-8; HDF5 will not convert */
        int vlen = H5Tis_variable_str(t) > 0;
        char *fixed = NULL;
        size_t flen = H5Tget_size(t) + 1;
        if (vlen) {
            H5OK(H5Tset_size(mt, H5T_VARIABLE));
            H5OK(H5Aread(a, mt, v));
        } else {
            fixed = xcalloc(n ? n : 1, flen);
            H5OK(H5Tset_size(mt, flen));
            H5OK(H5Aread(a, mt, fixed));
            for (size_t i = 0; i < n; i++) v[i] = fixed + i * flen;
        }
        if (scalar) {
            print_str_value(v[0] ? v[0] : "", indent);
        } else {
            printf("string[%zu]: ", n);
            for (size_t i = 0; i < n && i < 12; i++)
                printf("%s\"%.40s\"", i ? ", " : "", v[i] ? v[i] : "");
            printf("%s\n", n > 12 ? ", ..." : "");
        }
        if (vlen)
            for (size_t i = 0; i < n; i++) H5free_memory(v[i]);
        free(fixed);
        free(v);
        H5Tclose(mt);
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        size_t show = n < 8 ? n : 8;
        int bytes = cls == H5T_INTEGER && H5Tget_size(t) == 1 && n > 8;
        if (bytes) show = n < 16 ? n : 16;
        if (!scalar) printf("%s[%zu]: ", tn, n);
        if (cls == H5T_FLOAT) {
            double *x = xmalloc(sizeof(double) * (n ? n : 1));
            H5OK(H5Aread(a, H5T_NATIVE_DOUBLE, x));
            for (size_t i = 0; i < show; i++) printf("%s%.8g", i ? ", " : "", x[i]);
            free(x);
        } else {
            int uns = H5Tget_sign(t) == H5T_SGN_NONE;
            int64_t *x = xmalloc(sizeof(int64_t) * (n ? n : 1));
            H5OK(H5Aread(a, uns ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, x));
            for (size_t i = 0; i < show; i++) {
                if (bytes) printf("%02x", (unsigned)(x[i] & 0xff));
                else if (uns) printf("%s%llu", i ? ", " : "", (unsigned long long)x[i]);
                else printf("%s%lld", i ? ", " : "", (long long)x[i]);
            }
            free(x);
        }
        printf("%s\n", show < n ? " ..." : "");
    } else {
        printf("<%s, %zu value%s>\n", tn, n, n == 1 ? "" : "s");
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);
    return 0;
}

/* A scalar string attribute of any flavour (fixed or variable length, ASCII or UTF-8:
 * h5py writes variable-length UTF-8), malloc'd; NULL when absent or not a string. */
static char *attr_str(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    H5OK(a);
    hid_t t = H5Aget_type(a);
    H5OK(t);
    char *out = NULL;
    if (H5Tget_class(t) == H5T_STRING) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5OK(H5Tset_cset(mt, H5Tget_cset(t)));
        if (H5Tis_variable_str(t) > 0) {
            char *v = NULL;
            H5OK(H5Tset_size(mt, H5T_VARIABLE));
            H5OK(H5Aread(a, mt, &v));
            out = xstrdup(v ? v : "");
            H5free_memory(v);
        } else {
            size_t n = H5Tget_size(t) + 1;
            out = xcalloc(n, 1);
            H5OK(H5Tset_size(mt, n));
            H5OK(H5Aread(a, mt, out));
        }
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

static void print_attrs(hid_t obj, const char *indent)
{
    hsize_t idx = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, print_attr, (void *)indent);
}

/* ---- datasets ----------------------------------------------------------------------- */

typedef struct {
    char *path; /* "/model/conv_in.weight" */
    char dtype[32];
    int nd;
    hsize_t dims[8];
    double elems;
    double stored;
    char layout[96]; /* "chunks [256,1,32,32], deflate" or "" */
} Entry;

typedef struct {
    Entry *e;
    size_t n, cap;
} Walk;

static void describe_layout(hid_t d, char *buf, size_t n)
{
    buf[0] = '\0';
    hid_t p = H5Dget_create_plist(d);
    if (p < 0) return;
    if (H5Pget_layout(p) == H5D_CHUNKED) {
        hsize_t c[8];
        int nd = H5Pget_chunk(p, 8, c);
        char cs[64];
        shape_str(cs, sizeof cs, nd, c);
        size_t off = (size_t)snprintf(buf, n, "chunks %s", cs);
        int nf = H5Pget_nfilters(p);
        for (int i = 0; i < nf && off < n; i++) {
            unsigned flags, cd[8];
            size_t ncd = 8;
            char fname[32] = "";
            H5Z_filter_t f = H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, sizeof fname, fname, NULL);
            const char *nm = f == H5Z_FILTER_DEFLATE ? "deflate" : f == H5Z_FILTER_SHUFFLE ? "shuffle"
                             : f == H5Z_FILTER_FLETCHER32 ? "fletcher32" : fname[0] ? fname : "filter";
            off += (size_t)snprintf(buf + off, n - off, ", %s", nm);
        }
    }
    H5Pclose(p);
}

static herr_t visit(hid_t root, const char *name, const LinkInfo *info, void *op)
{
    Walk *w = op;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    if (o < 0) return 0;
    if (H5Iget_type(o) == H5I_DATASET) {
        if (w->n == w->cap) {
            w->cap = w->cap * 2 + 64;
            w->e = xrealloc(w->e, sizeof(Entry) * w->cap);
        }
        Entry *e = &w->e[w->n++];
        memset(e, 0, sizeof *e);
        size_t l = strlen(name) + 2;
        e->path = xmalloc(l);
        snprintf(e->path, l, "/%s", name);
        hid_t t = H5Dget_type(o), s = H5Dget_space(o);
        if (t >= 0) {
            dtype_name(t, e->dtype, sizeof e->dtype);
            H5Tclose(t);
        }
        e->nd = 0;
        e->elems = 1;
        if (s >= 0) {
            int nd = H5Sget_simple_extent_ndims(s);
            if (nd > 8) nd = 8;
            if (nd > 0) H5Sget_simple_extent_dims(s, e->dims, NULL);
            e->nd = nd > 0 ? nd : 0;
            e->elems = (double)H5Sget_simple_extent_npoints(s);
            H5Sclose(s);
        }
        e->stored = (double)H5Dget_storage_size(o);
        describe_layout(o, e->layout, sizeof e->layout);
    }
    H5Oclose(o);
    return 0;
}

static void print_entry(const Entry *e, const char *indent)
{
    char sh[128], st[32];
    shape_str(sh, sizeof sh, e->nd, e->dims);
    human_bytes(st, sizeof st, e->stored);
    printf("%s%-28s %-8s %s", indent, e->path, e->dtype, sh);
    if (e->layout[0]) printf("  (%s; %s stored)", e->layout, st);
    printf("\n");
}

static void parent_of(const char *path, char *buf, size_t n)
{
    const char *s = strrchr(path, '/');
    size_t l = s ? (size_t)(s - path) + 1 : 1;
    if (l >= n) l = n - 1;
    memcpy(buf, path, l);
    buf[l] = '\0';
}

static void print_datasets(const Walk *w, int all)
{
    printf("datasets: %zu\n", w->n);
    if (all || w->n <= LIST_ALL_MAX) {
        for (size_t i = 0; i < w->n; i++) print_entry(&w->e[i], "  ");
        return;
    }
    /* many tensors (a checkpoint): per group, a count, the elements and the first few */
    char *done = xcalloc(w->n, 1);
    for (size_t i = 0; i < w->n; i++) {
        if (done[i]) continue;
        char g[1024], g2[1024];
        parent_of(w->e[i].path, g, sizeof g);
        size_t cnt = 0;
        double el = 0, stored = 0;
        int mixed = 0;
        for (size_t j = i; j < w->n; j++) {
            parent_of(w->e[j].path, g2, sizeof g2);
            if (strcmp(g, g2) != 0) continue;
            cnt++;
            el += w->e[j].elems;
            stored += w->e[j].stored;
            if (strcmp(w->e[j].dtype, w->e[i].dtype) != 0) mixed = 1;
        }
        char st[32];
        human_bytes(st, sizeof st, stored);
        printf("  %s  %zu dataset%s, %.0f elements (%s), %s stored\n", g, cnt, cnt == 1 ? "" : "s",
               el, mixed ? "mixed types" : w->e[i].dtype, st);
        size_t shown = 0;
        for (size_t j = i; j < w->n; j++) {
            parent_of(w->e[j].path, g2, sizeof g2);
            if (strcmp(g, g2) != 0) continue;
            done[j] = 1;
            if (shown < GROUP_SHOW || cnt <= GROUP_SHOW + 1) print_entry(&w->e[j], "    ");
            shown++;
        }
        if (cnt > GROUP_SHOW + 1) printf("    ... %zu more (--all lists every one)\n", cnt - GROUP_SHOW);
    }
    free(done);
}

/* ---- what a kind adds ----------------------------------------------------------------- */

static const Entry *find(const Walk *w, const char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->e[i].path, path) == 0) return &w->e[i];
    return NULL;
}

static void dataset_summary(const char *path, const Walk *w)
{
    const Entry *im = find(w, "/images");
    if (!im || im->nd != 4 || strcmp(im->dtype, "uint8") != 0) {
        printf("note: no /images uint8 [N,C,H,W]: not a usable dataset file\n");
        return;
    }
    DatasetFile ds;
    dataset_open(&ds, path); /* the checks above make this succeed on a sound file */
    printf("dataset: %zu images, %d x %d x %d (C x H x W)\n", ds.n, ds.c, ds.h, ds.w);
    if (ds.labels >= 0) {
        int32_t *lab = xmalloc(sizeof(int32_t) * ds.n);
        dataset_read_labels(&ds, 0, ds.n, lab);
        size_t *cnt = xcalloc((size_t)ds.classes, sizeof(size_t)), bad = 0;
        for (size_t i = 0; i < ds.n; i++) {
            if (lab[i] >= 0 && lab[i] < ds.classes) cnt[lab[i]]++;
            else bad++;
        }
        char **names = dataset_class_names(&ds);
        printf("labels: %d classes\n", ds.classes);
        for (int k = 0; k < ds.classes; k++)
            printf("  %3d %-20s %zu\n", k, names ? names[k] : "", cnt[k]);
        if (bad) printf("  %zu labels outside 0..%d\n", bad, ds.classes - 1);
        dataset_free_names(names, ds.classes);
        free(cnt);
        free(lab);
    } else {
        printf("labels: none\n");
    }
    /* pixel mean and std over the whole set, per channel */
    size_t plane = (size_t)ds.h * ds.w, img = (size_t)ds.c * plane;
    size_t rows = ROW_BLOCK;
    uint8_t *buf = xmalloc(img * rows);
    double *sum = xcalloc((size_t)ds.c, sizeof(double)), *sq = xcalloc((size_t)ds.c, sizeof(double));
    for (size_t r0 = 0; r0 < ds.n; r0 += rows) {
        size_t nb = ds.n - r0 < rows ? ds.n - r0 : rows;
        dataset_read_images(&ds, r0, nb, buf);
        for (size_t i = 0; i < nb; i++)
            for (int k = 0; k < ds.c; k++) {
                const uint8_t *p = buf + i * img + (size_t)k * plane;
                uint64_t s = 0, q = 0;
                for (size_t j = 0; j < plane; j++) {
                    s += p[j];
                    q += (uint64_t)p[j] * p[j];
                }
                sum[k] += (double)s;
                sq[k] += (double)q;
            }
    }
    double cnt = (double)ds.n * (double)plane, ts = 0, tq = 0;
    for (int k = 0; k < ds.c; k++) {
        ts += sum[k];
        tq += sq[k];
    }
    double m = ts / (cnt * ds.c), sd = sqrt(fmax(tq / (cnt * ds.c) - m * m, 0));
    printf("pixels: mean %.2f std %.2f (of 0..255)", m, sd);
    if (ds.c > 1) {
        printf("; per channel");
        for (int k = 0; k < ds.c; k++) {
            double mk = sum[k] / cnt;
            printf(" %.2f/%.2f", mk, sqrt(fmax(sq[k] / cnt - mk * mk, 0)));
        }
    }
    printf("\n");
    free(sum);
    free(sq);
    free(buf);
    dataset_close(&ds);
}

/* A samples set: images, seeds and done side by side in group g ("" is the root). */
static int is_sample_set(const Walk *w, const char *g)
{
    char p[1100];
    const char *need[] = {"images", "seeds", "done"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g, need[i]);
        if (!find(w, p)) return 0;
    }
    return 1;
}

static void sample_set_summary(hid_t file, const Walk *w, const char *g)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/done", g);
    const Entry *d = find(w, p);
    snprintf(p, sizeof p, "%s/images", g);
    const Entry *im = find(w, p);
    size_t n = d->nd == 1 ? (size_t)d->dims[0] : 0, ndone = 0;
    snprintf(p, sizeof p, "%s/done", g);
    hid_t ds = H5Dopen2(file, p, H5P_DEFAULT);
    if (ds >= 0 && n) {
        uint8_t *x = xmalloc(n);
        if (H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0) {
            for (size_t i = 0; i < n; i++) ndone += x[i] != 0;
        } else {
            printf("  %s: /done unreadable\n", g[0] ? g : "/");
        }
        free(x);
    }
    if (ds >= 0) H5Dclose(ds);
    char sh[128];
    shape_str(sh, sizeof sh, im->nd, im->dims);
    printf("  %-24s %zu of %zu rows done%s (images %s)\n", g[0] ? g : "/", ndone, n,
           ndone == n ? "" : ", unfinished", sh);
    if (g[0]) {
        hid_t grp = H5Gopen2(file, g, H5P_DEFAULT);
        if (grp >= 0) {
            print_attrs(grp, "      ");
            H5Gclose(grp);
        }
    }
}

static void samples_summary(hid_t file, const Walk *w)
{
    int found = 0;
    if (is_sample_set(w, "")) {
        printf("samples:\n");
        sample_set_summary(file, w, "");
        found = 1;
    }
    /* the groups of a sweep: the parent group of every ".../images" dataset */
    for (size_t i = 0; i < w->n; i++) {
        const char *p = w->e[i].path;
        size_t l = strlen(p);
        if (l <= 8 || strcmp(p + l - 7, "/images") != 0) continue;
        char g[1024];
        snprintf(g, sizeof g, "%.*s", (int)(l - 7), p);
        if (!is_sample_set(w, g)) continue;
        if (!found) printf("samples:\n");
        found = 1;
        sample_set_summary(file, w, g);
    }
}

void describe_file(const char *path, int all)
{
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    struct stat st;
    char sz[32] = "?";
    if (stat(path, &st) == 0) human_bytes(sz, sizeof sz, (double)st.st_size);
    printf("file: %s (%s)\n", path, sz);
    char *kind = attr_str(f, "kind");
    int64_t ver = -1;
    int has_ver = h5_attr_get_i64(f, "format_version", &ver);
    if (kind)
        printf("kind: %s, format_version %s%lld%s\n", kind, has_ver ? "" : "(none)",
               has_ver ? (long long)ver : 0LL,
               has_ver && ver != DDM_FORMAT_VERSION ? " (this ddm reads version 1)" : "");
    else
        printf("kind: none (no 'kind' attribute: not a ddm file)\n");
    printf("attributes:\n");
    print_attrs(f, "  ");

    Walk w = {NULL, 0, 0};
    if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &w) < 0)
        ddm_die("%s: cannot walk the file's groups (damaged?)", path);
    print_datasets(&w, all);
    fflush(stdout);

    int current = has_ver && ver == DDM_FORMAT_VERSION;
    if (kind && strcmp(kind, "dataset") == 0 && current) dataset_summary(path, &w);
    samples_summary(f, &w);

    for (size_t i = 0; i < w.n; i++) free(w.e[i].path);
    free(w.e);
    free(kind);
    h5_close(f);
}

/* Read one dataset whole, in slabs of its first dimension of at most 64 MB; 0 when every
 * byte could be read (and every checksum matched). */
static int verify_dataset(hid_t f, const char *name, double *bytes)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    int rc = 0;
    const size_t esz = H5Tget_size(t);
    int nd = H5Sget_simple_extent_ndims(s);
    hsize_t dims[8] = {0};
    if (nd > 8) nd = 8;
    if (nd > 0) H5Sget_simple_extent_dims(s, dims, NULL);
    if (nd <= 0 || H5Tget_class(t) == H5T_STRING || H5Tis_variable_str(t) > 0) {
        /* scalars and strings: one read of the whole */
        size_t n = (size_t)H5Sget_simple_extent_npoints(s) * (esz ? esz : 1);
        void *buf = xmalloc(n ? n : 1);
        hid_t mt = H5Tget_native_type(t, H5T_DIR_DEFAULT);
        if (H5Tget_class(t) != H5T_STRING && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            rc = -1;
        H5Tclose(mt);
        free(buf);
        *bytes += (double)n;
    } else {
        size_t row = esz;
        for (int i = 1; i < nd; i++) row *= (size_t)dims[i];
        hsize_t per = row ? ((size_t)64 << 20) / row : dims[0];
        if (per < 1) per = 1;
        void *buf = xmalloc(per * row + 1);
        hid_t mt = H5Tget_native_type(t, H5T_DIR_DEFAULT);
        for (hsize_t r0 = 0; r0 < dims[0] && rc == 0; r0 += per) {
            hsize_t cnt[8], off[8] = {0};
            memcpy(cnt, dims, sizeof cnt);
            off[0] = r0;
            cnt[0] = dims[0] - r0 < per ? dims[0] - r0 : per;
            hid_t fs = H5Scopy(s), ms = H5Screate_simple(nd, cnt, NULL);
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
            if (H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf) < 0) rc = -1;
            H5Sclose(fs);
            H5Sclose(ms);
            *bytes += (double)cnt[0] * (double)row;
        }
        H5Tclose(mt);
        free(buf);
    }
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return rc;
}

int describe_verify(const char *path)
{
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    Walk w = {NULL, 0, 0};
    if (H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &w) < 0)
        ddm_die("%s: cannot walk the file's groups (damaged?)", path);
    int bad = 0, with = 0;
    double bytes = 0;
    for (size_t i = 0; i < w.n; i++) {
        hid_t d = H5Dopen2(f, w.e[i].path, H5P_DEFAULT);
        int ck = d >= 0 && h5_has_checksum(d);
        if (d >= 0) H5Dclose(d);
        with += ck;
        if (verify_dataset(f, w.e[i].path, &bytes)) {
            bad++;
            printf("verify: %s: %s\n", w.e[i].path,
                   ck ? "DAMAGED: its Fletcher32 checksum does not match its bytes"
                      : "cannot be read (damaged or truncated; it has no checksum)");
        }
    }
    char b[32];
    human_bytes(b, sizeof b, bytes);
    printf("verify: %s: %zu datasets (%d with a Fletcher32 checksum), %s read: %s\n", path, w.n,
           with, b, bad ? "damaged" : "every byte readable, every checksum matched");
    for (size_t i = 0; i < w.n; i++) free(w.e[i].path);
    free(w.e);
    H5Fclose(f);
    return bad;
}
