/* Samples files: see io/samples.h. Collective HDF5 throughout: every rank makes the same
 * metadata calls in the same order, and every rank joins every H5Dwrite/H5Dread. */
#include "io/samples.h"

#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "core/common.h"
#include "io/h5.h"

#define SAMPLES_KIND "samples"

void samples_group_name(char *buf, size_t n, const SamplesSetting *set)
{
    size_t off = (size_t)snprintf(buf, n, "%s-%d", set->sampler, set->steps);
    if (off < n && set->eta >= 0) off += (size_t)snprintf(buf + off, n - off, "-eta%g", set->eta);
    if (off < n && set->guidance != 0)
        off += (size_t)snprintf(buf + off, n - off, "-w%g", set->guidance);
    if (off < n && set->class_label >= 0) snprintf(buf + off, n - off, "-c%d", set->class_label);
}

/* ---- file ---- */

void samples_open(SamplesFile *sf, const char *path, int exists, const SamplesSource *src,
                  hid_t fapl, hid_t dxpl, int is_root)
{
    memset(sf, 0, sizeof *sf);
    sf->path = xstrdup(path);
    sf->dxpl = dxpl;
    sf->is_root = is_root;
    const char *cfg = src->config_text ? src->config_text : "";
    if (!exists) {
        sf->file = h5_create(path, fapl);
        h5_set_kind(sf->file, SAMPLES_KIND);
        h5_attr_set_str(sf->file, "checkpoint", src->ckpt_path ? src->ckpt_path : "");
        h5_attr_set_i64(sf->file, "checkpoint_step", src->ckpt_step);
        h5_attr_set_str(sf->file, "config", cfg);
        return;
    }
    sf->file = h5_open(path, H5F_ACC_RDWR, fapl);
    h5_require_kind(sf->file, path, SAMPLES_KIND);
    int64_t step = -1;
    char *was = NULL, *was_cfg = NULL;
    h5_attr_get_i64(sf->file, "checkpoint_step", &step);
    if (!h5_attr_get_str(sf->file, "checkpoint", &was)) was = xstrdup("?");
    if (!h5_attr_get_str(sf->file, "config", &was_cfg)) was_cfg = xstrdup("");
    if (step != src->ckpt_step)
        ddm_die("%s: was made from checkpoint step %lld (%s), this run uses step %lld (%s); "
                "use another --out",
                path, (long long)step, was, (long long)src->ckpt_step,
                src->ckpt_path ? src->ckpt_path : "?");
    if (strcmp(was_cfg, cfg))
        ddm_die("%s: was made from a checkpoint (%s) trained with another config than this "
                "run's (%s); use another --out",
                path, was, src->ckpt_path ? src->ckpt_path : "?");
    free(was);
    free(was_cfg);
}

void samples_close(SamplesFile *sf)
{
    if (sf->file >= 0) h5_close(sf->file);
    sf->file = -1;
    free(sf->path);
    sf->path = NULL;
}

/* ---- group ---- */

static hid_t make_dset(hid_t loc, const char *path, const char *name, hid_t type, int nd,
                       const hsize_t *dims, const hsize_t *chunk, const void *fill)
{
    hid_t space = H5Screate_simple(nd, dims, NULL);
    H5OK(space);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5OK(dcpl);
    H5OK(H5Pset_chunk(dcpl, nd, chunk));
    H5OK(H5Pset_fill_value(dcpl, type, fill));
    /* space and fill values at creation: required for parallel writes, and what the
     * reader of a half-done file sees in unfinished rows */
    H5OK(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
    H5OK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC));
    H5OK(H5Pset_obj_track_times(dcpl, 0)); /* no timestamps: equal runs, equal bytes */
    /* the images carry a Fletcher32 checksum per chunk: a damaged byte is an error on
     * reading (parallel HDF5 writes filtered chunks collectively, as every write here is) */
    if (nd == 4) H5OK(H5Pset_fletcher32(dcpl));
    errno = 0;
    hid_t d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) h5_die_write(loc, name, "create");
    (void)path;
    H5OK(H5Pclose(dcpl));
    H5OK(H5Sclose(space));
    return d;
}

static hid_t open_dset(hid_t g, const char *path, const char *group, const char *name)
{
    if (H5Lexists(g, name, H5P_DEFAULT) <= 0)
        ddm_die("%s: group %s has no '%s' dataset (not a samples group?)", path, group, name);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) ddm_die("%s: cannot open %s/%s", path, group, name);
    return d;
}

static void fmt_num(char *buf, size_t n, double x) { snprintf(buf, n, "%.10g", x); }

static void mismatch(const SamplesFile *sf, const char *group, const char *key, const char *was,
                     const char *now)
{
    ddm_die("%s: group %s was made with %s=%s, this run asks %s=%s; use another --out", sf->path,
            group, key, was, key, now);
}

/* Value of word "key=..." in a settings string ("(unset)" when absent), into out. */
static void setting_value(const char *words, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    snprintf(out, n, "(unset)");
    for (const char *p = words; *p;) {
        p += strspn(p, " \t");
        size_t wl = strcspn(p, " \t");
        if (wl > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            snprintf(out, n, "%.*s", (int)(wl - kl - 1), p + kl + 1);
            return;
        }
        p += wl;
    }
}

/* Compare two "key=value" word lists as sets of assignments: the first key (of the
 * stored words, then of the new ones) whose value differs is reported. */
static void compare_settings(const SamplesFile *sf, const char *group, const char *was,
                             const char *now)
{
    if (!strcmp(was, now)) return;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass ? now : was;
        while (*p) {
            p += strspn(p, " \t");
            size_t wl = strcspn(p, " \t");
            if (!wl) break;
            char key[128], a[256], b[256];
            size_t kl = strcspn(p, "=");
            if (kl > wl) kl = wl;
            snprintf(key, sizeof key, "%.*s", (int)kl, p);
            setting_value(was, key, a, sizeof a);
            setting_value(now, key, b, sizeof b);
            if (strcmp(a, b)) mismatch(sf, group, key, a, b);
            p += wl;
        }
    }
}

static void check_group(SamplesGroup *g, const SamplesSetting *set, const int64_t *seeds)
{
    SamplesFile *sf = g->sf;
    const char *G = g->name;
    char *s = NULL;
    int64_t i64 = 0;
    double f = 0;
    char was[64], now[64];
    if (!h5_attr_get_str(g->group, "sampler", &s)) s = xstrdup("?");
    if (strcmp(s, set->sampler)) mismatch(sf, G, "sampler", s, set->sampler);
    free(s);
    h5_attr_get_i64(g->group, "steps", &i64);
    if (i64 != set->steps) {
        snprintf(was, sizeof was, "%lld", (long long)i64);
        snprintf(now, sizeof now, "%d", set->steps);
        mismatch(sf, G, "steps", was, now);
    }
    h5_attr_get_f64(g->group, "eta", &f);
    if (f != set->eta) {
        fmt_num(was, sizeof was, f);
        fmt_num(now, sizeof now, set->eta);
        mismatch(sf, G, "eta", was, now);
    }
    h5_attr_get_f64(g->group, "guidance", &f);
    if (f != set->guidance) {
        fmt_num(was, sizeof was, f);
        fmt_num(now, sizeof now, set->guidance);
        mismatch(sf, G, "guidance", was, now);
    }
    h5_attr_get_i64(g->group, "class", &i64);
    if (i64 != set->class_label) {
        snprintf(was, sizeof was, "%lld", (long long)i64);
        snprintf(now, sizeof now, "%d", set->class_label);
        mismatch(sf, G, "class", was, now);
    }
    if (!h5_attr_get_str(g->group, "settings", &s)) s = xstrdup("");
    compare_settings(sf, G, s, set->settings ? set->settings : "");
    free(s);

    hsize_t d[8];
    int nd = h5_shape(g->group, "images", d);
    if (nd != 4) ddm_die("%s: %s/images is not a 4-d dataset", sf->path, G);
    if ((int)d[1] != g->c || (int)d[2] != g->h || (int)d[3] != g->w)
        ddm_die("%s: group %s holds images [%llu,%llu,%llu], this run makes [%d,%d,%d]; use "
                "another --out",
                sf->path, G, (unsigned long long)d[1], (unsigned long long)d[2],
                (unsigned long long)d[3], g->c, g->h, g->w);
    hsize_t ns[8];
    if (h5_shape(g->group, "seeds", ns) != 1 || ns[0] != d[0])
        ddm_die("%s: %s/seeds does not match %s/images", sf->path, G, G);
    int64_t n_was = (int64_t)d[0];
    int64_t *have = xmalloc((size_t)(n_was ? n_was : 1) * sizeof *have);
    if (n_was) H5OK(H5Dread(g->seeds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, sf->dxpl, have));
    if (n_was != g->n)
        ddm_die("%s: group %s holds %lld rows (seeds %lld..%lld), this run asks %lld (seeds "
                "%lld..%lld); use another --out",
                sf->path, G, (long long)n_was, (long long)(n_was ? have[0] : 0),
                (long long)(n_was ? have[n_was - 1] : 0), (long long)g->n, (long long)seeds[0],
                (long long)seeds[g->n - 1]);
    for (int64_t i = 0; i < g->n; i++)
        if (have[i] != seeds[i])
            ddm_die("%s: group %s row %lld has seed %lld, this run asks seed %lld there; use "
                    "another --out",
                    sf->path, G, (long long)i, (long long)have[i], (long long)seeds[i]);
    free(have);
}

/* Rows [a, b) as hyperslabs of a [N, ...] dataspace: one per run of consecutive rows. */
static void select_rows(hid_t space, const int64_t *sorted, size_t n)
{
    int nd = H5Sget_simple_extent_ndims(space);
    H5OK(nd);
    hsize_t dims[8];
    H5OK(H5Sget_simple_extent_dims(space, dims, NULL));
    H5OK(H5Sselect_none(space));
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && sorted[j] == sorted[j - 1] + 1) j++;
        hsize_t start[8] = {0}, count[8];
        start[0] = (hsize_t)sorted[i];
        count[0] = (hsize_t)(j - i);
        for (int k = 1; k < nd; k++) count[k] = dims[k];
        H5OK(H5Sselect_hyperslab(space, H5S_SELECT_OR, start, NULL, count, NULL));
        i = j;
    }
}

/* Collective write of rows (sorted) of one dataset from buf (rows in the same order). */
static void write_rows(hid_t dset, hid_t type, hid_t dxpl, const int64_t *sorted, size_t n,
                       const void *buf, size_t row_elems)
{
    hid_t fs = H5Dget_space(dset);
    H5OK(fs);
    hid_t ms;
    static const uint8_t dummy[16];
    if (n) {
        select_rows(fs, sorted, n);
        hsize_t m = (hsize_t)(n * row_elems);
        ms = H5Screate_simple(1, &m, NULL);
    } else {
        H5OK(H5Sselect_none(fs));
        hsize_t one = 1;
        ms = H5Screate_simple(1, &one, NULL);
        H5OK(ms);
        H5OK(H5Sselect_none(ms));
        buf = dummy; /* some HDF5 versions refuse a NULL buffer even for no data */
    }
    H5OK(ms);
    H5OK(H5Dwrite(dset, type, ms, fs, dxpl, buf));
    H5OK(H5Sclose(ms));
    H5OK(H5Sclose(fs));
}

int64_t samples_group_open(SamplesGroup *g, SamplesFile *sf, const char *name,
                           const SamplesSetting *set, const int64_t *seeds, int64_t n, int c, int h,
                           int w, int64_t **todo)
{
    DDM_ASSERT(n >= 1 && c >= 1 && h >= 1 && w >= 1, "samples_group_open: %lld x %d x %d x %d",
               (long long)n, c, h, w);
    DDM_ASSERT(name && *name && !strchr(name, '/'), "samples_group_open: bad group name '%s'",
               name ? name : "");
    memset(g, 0, sizeof *g);
    g->sf = sf;
    g->name = xstrdup(name);
    g->n = n;
    g->c = c;
    g->h = h;
    g->w = w;
    int64_t ntodo = 0;
    int64_t *rows = NULL;
    if (H5Lexists(sf->file, name, H5P_DEFAULT) > 0) {
        g->group = H5Gopen2(sf->file, name, H5P_DEFAULT);
        if (g->group < 0) ddm_die("%s: '%s' is not a group", sf->path, name);
        g->images = open_dset(g->group, sf->path, name, "images");
        g->seeds = open_dset(g->group, sf->path, name, "seeds");
        g->labels = open_dset(g->group, sf->path, name, "labels");
        g->done = open_dset(g->group, sf->path, name, "done");
        check_group(g, set, seeds);
        int64_t nfe_was = -1; /* informational: the current estimate (a fixed one replaces it) */
        if (!h5_attr_get_i64(g->group, "nfe", &nfe_was) || nfe_was != set->nfe)
            h5_attr_set_i64(g->group, "nfe", set->nfe);
        if (set->input_file) { /* a task's rows: the same input file */
            char *was = NULL;
            if (H5Aexists(g->group, "input") > 0) h5_attr_get_str(g->group, "input", &was);
            if (!was || strcmp(was, set->input_file))
                ddm_die("%s: group %s was made from inputs %s, this run uses %s; use another --out",
                        sf->path, name, was ? was : "(none)", set->input_file);
            free(was);
        }
        uint8_t *done = xmalloc((size_t)n);
        H5OK(H5Dread(g->done, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, sf->dxpl, done));
        rows = xmalloc((size_t)n * sizeof *rows);
        for (int64_t i = 0; i < n; i++)
            if (!done[i]) rows[ntodo++] = i;
        free(done);
    } else {
        H5G_info_t gi; /* the groups made before this one: its place in creation order */
        H5OK(H5Gget_info(sf->file, &gi));
        g->group = H5Gcreate2(sf->file, name, H5P_DEFAULT, h5_untimed_gcpl(), H5P_DEFAULT);
        if (g->group < 0) ddm_die("%s: cannot create group '%s'", sf->path, name);
        h5_attr_set_i64(g->group, "order", (int64_t)gi.nlinks);
        h5_attr_set_str(g->group, "sampler", set->sampler);
        h5_attr_set_i64(g->group, "steps", set->steps);
        h5_attr_set_f64(g->group, "eta", set->eta);
        h5_attr_set_f64(g->group, "guidance", set->guidance);
        h5_attr_set_i64(g->group, "class", set->class_label);
        h5_attr_set_i64(g->group, "nfe", set->nfe);
        h5_attr_set_str(g->group, "settings", set->settings ? set->settings : "");
        hsize_t dims[4] = {(hsize_t)n, (hsize_t)c, (hsize_t)h, (hsize_t)w};
        hsize_t chunk[4] = {(hsize_t)(n < 64 ? n : 64), (hsize_t)c, (hsize_t)h, (hsize_t)w};
        hsize_t chunk1 = (hsize_t)(n < 4096 ? n : 4096);
        const uint8_t zero8 = 0;
        const int32_t minus1 = -1;
        const int64_t zero64 = 0;
        g->images = make_dset(g->group, sf->path, "images", H5T_STD_U8LE, 4, dims, chunk, &zero8);
        g->seeds = make_dset(g->group, sf->path, "seeds", H5T_STD_I64LE, 1, dims, &chunk1, &zero64);
        g->labels =
            make_dset(g->group, sf->path, "labels", H5T_STD_I32LE, 1, dims, &chunk1, &minus1);
        g->done = make_dset(g->group, sf->path, "done", H5T_STD_U8LE, 1, dims, &chunk1, &zero8);
        /* the seeds: one rank writes them all, the others join with nothing */
        rows = xmalloc((size_t)n * sizeof *rows);
        for (int64_t i = 0; i < n; i++) rows[i] = i;
        write_rows(g->seeds, H5T_NATIVE_INT64, sf->dxpl, rows, sf->is_root ? (size_t)n : 0, seeds,
                   1);
        if (set->inputs) { /* which input row each sample is made from */
            h5_attr_set_str(g->group, "input", set->input_file ? set->input_file : "");
            const int64_t minus1 = -1;
            hid_t in = make_dset(g->group, sf->path, "inputs", H5T_STD_I64LE, 1, dims, &chunk1, &minus1);
            write_rows(in, H5T_NATIVE_INT64, sf->dxpl, rows, sf->is_root ? (size_t)n : 0,
                       set->inputs, 1);
            H5OK(H5Dclose(in));
        }
        H5OK(H5Fflush(sf->file, H5F_SCOPE_GLOBAL));
        ntodo = n;
    }
    if (todo)
        *todo = rows;
    else
        free(rows);
    return ntodo;
}

void samples_group_close(SamplesGroup *g)
{
    hid_t *ids[] = {&g->images, &g->seeds, &g->labels, &g->done};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (*ids[i] > 0) {
            H5OK(H5Dclose(*ids[i]));
            *ids[i] = -1;
        }
    if (g->group > 0) H5OK(H5Gclose(g->group));
    g->group = -1;
    free(g->name);
    g->name = NULL;
}

typedef struct {
    int64_t row;
    size_t idx;
} RowIdx;

static int rowidx_cmp(const void *a, const void *b)
{
    const RowIdx *x = a, *y = b;
    return (x->row > y->row) - (x->row < y->row);
}

void samples_write_rows(SamplesGroup *g, const int64_t *rows, size_t nrows, const uint8_t *images,
                        const int32_t *labels)
{
    const size_t img = (size_t)g->c * (size_t)g->h * (size_t)g->w;
    RowIdx *ri = xmalloc((nrows ? nrows : 1) * sizeof *ri);
    for (size_t i = 0; i < nrows; i++) {
        DDM_ASSERT(rows[i] >= 0 && rows[i] < g->n, "%s: row %lld outside [0,%lld) of group %s",
                   g->sf->path, (long long)rows[i], (long long)g->n, g->name);
        ri[i].row = rows[i];
        ri[i].idx = i;
    }
    qsort(ri, nrows, sizeof *ri, rowidx_cmp);
    /* HDF5 moves a hyperslab union in file order: gather the rows into that order */
    int64_t *sorted = xmalloc((nrows ? nrows : 1) * sizeof *sorted);
    uint8_t *simg = xmalloc((nrows ? nrows : 1) * img);
    int32_t *slab = xmalloc((nrows ? nrows : 1) * sizeof *slab);
    uint8_t *ones = xmalloc(nrows ? nrows : 1);
    for (size_t i = 0; i < nrows; i++) {
        DDM_ASSERT(i == 0 || ri[i].row != ri[i - 1].row, "%s: row %lld written twice in one call",
                   g->sf->path, (long long)ri[i].row);
        sorted[i] = ri[i].row;
        memcpy(simg + i * img, images + ri[i].idx * img, img);
        slab[i] = labels ? labels[ri[i].idx] : -1;
        ones[i] = 1;
    }
    hid_t dxpl = g->sf->dxpl;
    write_rows(g->images, H5T_NATIVE_UINT8, dxpl, sorted, nrows, simg, img);
    write_rows(g->labels, H5T_NATIVE_INT32, dxpl, sorted, nrows, slab, 1);
    /* done last: a row is marked only after its image went out */
    write_rows(g->done, H5T_NATIVE_UINT8, dxpl, sorted, nrows, ones, 1);
    H5OK(H5Fflush(g->sf->file, H5F_SCOPE_GLOBAL));
    free(ri);
    free(sorted);
    free(simg);
    free(slab);
    free(ones);
}

/* ---- readers ---- */

int samples_list_groups(hid_t file, char ***names)
{
    H5G_info_t gi;
    H5OK(H5Gget_info(file, &gi));
    char **out = xcalloc(gi.nlinks ? gi.nlinks : 1, sizeof *out);
    int n = 0;
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        ssize_t len =
            H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        H5OK(len);
        char *nm = xmalloc((size_t)len + 1 + 8);
        H5OK(H5Lget_name_by_idx(file, ".", H5_INDEX_NAME, H5_ITER_INC, i, nm, (size_t)len + 1,
                                H5P_DEFAULT));
        char probe[512];
        snprintf(probe, sizeof probe, "%s/images", nm);
        int is_group = 0;
        hid_t o = H5Oopen(file, nm, H5P_DEFAULT);
        if (o >= 0) {
            is_group = H5Iget_type(o) == H5I_GROUP;
            H5OK(H5Oclose(o));
        }
        if (is_group && h5_exists(file, probe))
            out[n++] = nm;
        else
            free(nm);
    }
    *names = out;
    return n;
}

int samples_creation_order(hid_t file, char **names, int n)
{
    int64_t *order = xmalloc(sizeof *order * (size_t)(n ? n : 1));
    int all = 1;
    for (int i = 0; i < n && all; i++) {
        hid_t g = H5Gopen2(file, names[i], H5P_DEFAULT);
        H5OK(g);
        all = h5_attr_get_i64(g, "order", &order[i]);
        H5OK(H5Gclose(g));
    }
    if (all) h5_sort_names(names, order, n);
    free(order);
    return all;
}

void samples_free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

void samples_group_info(hid_t file, const char *path, const char *group, SamplesGroupInfo *info)
{
    memset(info, 0, sizeof *info);
    if (H5Lexists(file, group, H5P_DEFAULT) <= 0) ddm_die("%s: has no group '%s'", path, group);
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) ddm_die("%s: '%s' is not a group", path, group);
    int64_t v = 0;
    if (!h5_attr_get_str(g, "sampler", &info->sampler)) info->sampler = xstrdup("?");
    if (!h5_attr_get_str(g, "settings", &info->settings)) info->settings = xstrdup("");
    h5_attr_get_i64(g, "steps", &v);
    info->steps = (int)v;
    v = -1;
    h5_attr_get_i64(g, "class", &v);
    info->class_label = (int)v;
    v = 0;
    h5_attr_get_i64(g, "nfe", &v);
    info->nfe = (int)v;
    h5_attr_get_f64(g, "eta", &info->eta);
    h5_attr_get_f64(g, "guidance", &info->guidance);
    hsize_t d[8];
    if (h5_shape(g, "images", d) != 4) ddm_die("%s: %s/images is not a 4-d dataset", path, group);
    info->n = (int64_t)d[0];
    info->c = (int)d[1];
    info->h = (int)d[2];
    info->w = (int)d[3];
    if (info->n > 0 && h5_exists(g, "done")) {
        uint8_t *done = xmalloc((size_t)info->n);
        hid_t dd = H5Dopen2(g, "done", H5P_DEFAULT);
        H5OK(dd);
        if (H5Dread(dd, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) < 0)
            ddm_die("%s: cannot read %s/done (file damaged?)", path, group);
        H5OK(H5Dclose(dd));
        for (int64_t i = 0; i < info->n; i++) info->n_done += done[i] != 0;
        free(done);
    }
    H5OK(H5Gclose(g));
}

void samples_group_info_free(SamplesGroupInfo *info)
{
    free(info->sampler);
    free(info->settings);
    info->sampler = info->settings = NULL;
}

static void read_range(hid_t g, const char *path, const char *group, const char *name, hid_t type,
                       int64_t start, int64_t count, void *out)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) ddm_die("%s: has no %s/%s", path, group, name);
    hid_t fs = H5Dget_space(d);
    H5OK(fs);
    int nd = H5Sget_simple_extent_ndims(fs);
    H5OK(nd);
    hsize_t dims[8], st[8] = {0}, cnt[8];
    H5OK(H5Sget_simple_extent_dims(fs, dims, NULL));
    if (start < 0 || count < 0 || (hsize_t)(start + count) > dims[0])
        ddm_die("%s: rows [%lld,%lld) outside the %llu rows of %s/%s", path, (long long)start,
                (long long)(start + count), (unsigned long long)dims[0], group, name);
    st[0] = (hsize_t)start;
    cnt[0] = (hsize_t)count;
    hsize_t m = (hsize_t)count;
    for (int k = 1; k < nd; k++) {
        cnt[k] = dims[k];
        m *= dims[k];
    }
    if (count > 0) {
        H5OK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, cnt, NULL));
        hid_t ms = H5Screate_simple(1, &m, NULL);
        H5OK(ms);
        if (H5Dread(d, type, ms, fs, H5P_DEFAULT, out) < 0)
            ddm_die("%s: cannot read %s/%s (file damaged?)", path, group, name);
        H5OK(H5Sclose(ms));
    }
    H5OK(H5Sclose(fs));
    H5OK(H5Dclose(d));
}

void samples_read_rows(hid_t file, const char *path, const char *group, int64_t start,
                       int64_t count, uint8_t *images, int64_t *seeds, int32_t *labels,
                       uint8_t *done)
{
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) ddm_die("%s: has no group '%s'", path, group);
    if (images) read_range(g, path, group, "images", H5T_NATIVE_UINT8, start, count, images);
    if (seeds) read_range(g, path, group, "seeds", H5T_NATIVE_INT64, start, count, seeds);
    if (labels) read_range(g, path, group, "labels", H5T_NATIVE_INT32, start, count, labels);
    if (done) read_range(g, path, group, "done", H5T_NATIVE_UINT8, start, count, done);
    H5OK(H5Gclose(g));
}

int64_t *samples_done_rows(hid_t f, const char *path, const char *group, int64_t n, int64_t *n_done)
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

/* ---- a set of samples at the root or in a group (export, info) ---- */

int samples_is_set(hid_t loc, const char *g)
{
    char p[1100];
    const char *need[] = {"images", "seeds", "done"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s%s", g, g[0] ? "/" : "", need[i]);
        if (!h5_exists(loc, p)) return 0;
    }
    return 1;
}

typedef struct {
    char **v;
    int n;
} SetNames;

#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t LinkInfo;
#else
typedef H5L_info_t LinkInfo;
#endif

static herr_t collect_set(hid_t loc, const char *name, const LinkInfo *info, void *op)
{
    SetNames *g = op;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) return 0;
    int is_group = H5Iget_type(o) == H5I_GROUP;
    H5Oclose(o);
    if (is_group && samples_is_set(loc, name)) {
        g->v = xrealloc(g->v, sizeof(char *) * (size_t)(g->n + 1));
        g->v[g->n++] = xstrdup(name);
    }
    return 0;
}

static void setnames_str(const SetNames *g, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < g->n && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", g->v[i]);
}

char *samples_find_set(hid_t f, const char *path, const char *want)
{
    SetNames g = {NULL, 0};
    hsize_t idx = 0;
    if (H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_set, &g) < 0)
        ddm_die("%s: cannot list its groups (damaged?)", path);
    char list[2048];
    setnames_str(&g, list, sizeof list);
    char *out = NULL;
    if (want) {
        while (*want == '/') want++;
        for (int i = 0; i < g.n && !out; i++)
            if (strcmp(g.v[i], want) == 0) out = xstrdup(want);
        if (!out) {
            if (g.n) ddm_die("%s: has no samples group '%s' (groups: %s)", path, want, list);
            ddm_die("%s: has no samples group '%s' (it holds no sampler groups%s)", path, want,
                    samples_is_set(f, "") ? "; its samples are at the root: drop --group" : "");
        }
    } else if (samples_is_set(f, "")) {
        out = xstrdup("");
    } else if (g.n == 1) {
        out = xstrdup(g.v[0]);
    } else if (g.n == 0) {
        ddm_die("%s: holds no samples (datasets images, seeds and done, at the root or in a "
                "group)", path);
    } else {
        ddm_die("%s: holds %d sampler groups (%s): pick one with --group NAME", path, g.n, list);
    }
    for (int i = 0; i < g.n; i++) free(g.v[i]);
    free(g.v);
    return out;
}


static hid_t set_open_1d(hid_t f, const SamplesSet *s, const char *name, size_t n, int need)
{
    char p[1100];
    snprintf(p, sizeof p, "%s%s%s", s->group, s->group[0] ? "/" : "", name);
    if (!h5_exists(f, p)) {
        if (need) ddm_die("%s: has no dataset '/%s'", s->path, p);
        return -1;
    }
    hsize_t d[8];
    int nd = h5_shape(f, p, d);
    if (nd != 1 || d[0] != n)
        ddm_die("%s: dataset '/%s' must have shape [%zu] like the images", s->path, p, n);
    hid_t ds = H5Dopen2(f, p, H5P_DEFAULT);
    if (ds < 0) ddm_die("%s: cannot open dataset '/%s'", s->path, p);
    hid_t t = H5Dget_type(ds);
    H5OK(t);
    if (H5Tget_class(t) != H5T_INTEGER) ddm_die("%s: dataset '/%s' is not integer", s->path, p);
    H5OK(H5Tclose(t));
    return ds;
}

static void set_read_1d(const SamplesSet *s, hid_t ds, hid_t memtype, void *buf, const char *name)
{
    if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        ddm_die("%s: cannot read '%s' (file damaged or truncated?)", s->path, name);
    H5OK(H5Dclose(ds));
}

void samples_set_open(SamplesSet *s, hid_t f, const char *path, const char *group)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    snprintf(s->group, sizeof s->group, "%s", group);
    char p[1100];
    snprintf(p, sizeof p, "%s%simages", group, group[0] ? "/" : "");
    hsize_t d[8];
    int nd = h5_shape(f, p, d);
    if (nd != 4) ddm_die("%s: '/%s' must be uint8 [N,C,H,W], it has %d dimensions", path, p, nd);
    s->images = H5Dopen2(f, p, H5P_DEFAULT);
    if (s->images < 0) ddm_die("%s: cannot open '/%s'", path, p);
    hid_t t = H5Dget_type(s->images);
    H5OK(t);
    if (H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) != 1)
        ddm_die("%s: '/%s' must be uint8 [N,C,H,W]", path, p);
    H5OK(H5Tclose(t));
    s->n = d[0];
    s->c = (int)d[1];
    s->h = (int)d[2];
    s->w = (int)d[3];
    size_t n = s->n ? s->n : 1;
    s->seeds = xmalloc(sizeof(int64_t) * n);
    s->done = xmalloc(n);
    set_read_1d(s, set_open_1d(f, s, "seeds", s->n, 1), H5T_NATIVE_INT64, s->seeds, "seeds");
    set_read_1d(s, set_open_1d(f, s, "done", s->n, 1), H5T_NATIVE_UINT8, s->done, "done");
    hid_t lab = set_open_1d(f, s, "labels", s->n, 0);
    if (lab >= 0) {
        s->labels = xmalloc(sizeof(int32_t) * n);
        set_read_1d(s, lab, H5T_NATIVE_INT32, s->labels, "labels");
    }
}

void samples_set_read_images(const SamplesSet *s, size_t start, size_t count, uint8_t *out)
{
    hsize_t off[4] = {start, 0, 0, 0}, cnt[4] = {count, (hsize_t)s->c, (hsize_t)s->h, (hsize_t)s->w};
    hid_t fs = H5Dget_space(s->images);
    H5OK(fs);
    H5OK(H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL));
    hid_t ms = H5Screate_simple(4, cnt, NULL);
    H5OK(ms);
    if (H5Dread(s->images, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, out) < 0)
        ddm_die("%s: cannot read images [%zu, %zu) (file damaged or truncated?)", s->path,
                start, start + count);
    H5OK(H5Sclose(ms));
    H5OK(H5Sclose(fs));
}

void samples_set_close(SamplesSet *s)
{
    if (s->images > 0) H5OK(H5Dclose(s->images));
    free(s->seeds);
    free(s->done);
    free(s->labels);
}

