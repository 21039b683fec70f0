/* Checkpoint files: see io/ckpt.h for the layout and the rules of choosing one. */
#include "io/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "io/fsio.h"
#include "io/h5.h"

#define CKPT_KIND "checkpoint"

void ckpt_meta_free(CkptMeta *m)
{
    if (!m) return;
    free(m->config_text);
    m->config_text = NULL;
}

void ckpt_meta_set_seed(CkptMeta *m, int64_t seed)
{
    memcpy(m->rng, &seed, sizeof seed);
    m->rng_bytes = sizeof seed;
}

int ckpt_meta_seed(const CkptMeta *m, int64_t *seed)
{
    if (m->rng_bytes != sizeof *seed) return 0;
    memcpy(seed, m->rng, sizeof *seed);
    return 1;
}

void ckpt_ema_name(char *buf, size_t n, double rate) { snprintf(buf, n, "%.10g", rate); }

char *ckpt_path(const char *run_dir, int64_t step)
{
    size_t n = strlen(run_dir) + 40;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/ckpt-%08lld.h5", run_dir, (long long)step);
    return p;
}

/* ---- listing a run folder ---- */

typedef struct {
    char *name; /* file name inside the folder */
    int64_t step;
} Entry;

static int entry_desc(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    return x->step < y->step ? 1 : x->step > y->step ? -1 : strcmp(x->name, y->name);
}

/* "ckpt-<digits>.h5" exactly (so ckpt-00000010.h5.tmp-123 is not one) -> step */
static int parse_ckpt_name(const char *name, int64_t *step)
{
    if (strncmp(name, "ckpt-", 5)) return 0;
    const char *p = name + 5, *q = p;
    while (*q >= '0' && *q <= '9') q++;
    if (q == p || q - p > 18 || strcmp(q, ".h5")) return 0;
    *step = strtoll(p, NULL, 10);
    return 1;
}

/* Checkpoints of dir, newest first; *n entries (0 when the folder does not exist). */
static Entry *list_ckpts(const char *dir, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int cap = 16;
    Entry *e = xmalloc((size_t)cap * sizeof *e);
    struct dirent *de;
    while ((de = readdir(d))) {
        int64_t step;
        if (!parse_ckpt_name(de->d_name, &step)) continue;
        if (*n == cap) e = xrealloc(e, (size_t)(cap *= 2) * sizeof *e);
        e[*n].name = xstrdup(de->d_name);
        e[*n].step = step;
        (*n)++;
    }
    closedir(d);
    qsort(e, (size_t)*n, sizeof *e, entry_desc);
    return e;
}

static void free_entries(Entry *e, int n)
{
    for (int i = 0; i < n; i++) free(e[i].name);
    free(e);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- writing ---- */

static void write_block(hid_t f, const char *group, const TensorInfo *t, int nt, const float *x)
{
    for (int i = 0; i < nt; i++) {
        hsize_t dims[4];
        for (int k = 0; k < t[i].ndim; k++) dims[k] = (hsize_t)t[i].shape[k];
        char name[256];
        snprintf(name, sizeof name, "%s/%s", group, t[i].name);
        h5_write_f32(f, name, x + t[i].offset, t[i].ndim, dims);
    }
}

/* Delete all but the newest `keep` checkpoints and stale temporaries of dir. */
static void prune(const char *dir, int keep)
{
    int n;
    Entry *e = list_ckpts(dir, &n);
    for (int i = keep > 0 ? keep : n; i < n; i++) {
        char *p = join(dir, e[i].name);
        if (unlink(p) != 0 && errno != ENOENT)
            ddm_warn("%s: cannot delete old checkpoint: %s", p, strerror(errno));
        free(p);
    }
    free_entries(e, n);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "ckpt-", 5) || !strstr(de->d_name, ".h5.tmp-")) continue;
        char *p = join(dir, de->d_name);
        ddm_warn("%s: deleting a temporary left by an interrupted checkpoint write", p);
        if (unlink(p) != 0 && errno != ENOENT)
            ddm_warn("%s: cannot delete: %s", p, strerror(errno));
        free(p);
    }
    closedir(d);
}

char *ckpt_write(const char *run_dir, const CkptBlocks *b, const CkptMeta *meta, int keep)
{
    DDM_ASSERT(b && b->tensors && b->n_tensors > 0, "ckpt_write: no tensor table");
    DDM_ASSERT(b->n_ema >= 0 && b->n_ema <= CKPT_MAX_EMA, "ckpt_write: %d EMA rates", b->n_ema);
    DDM_ASSERT(meta->rng_bytes <= CKPT_RNG_MAX, "ckpt_write: %zu RNG bytes", meta->rng_bytes);
    struct stat st;
    if (stat(run_dir, &st) != 0 && mkdir(run_dir, 0777) != 0 && errno != EEXIST)
        ddm_die("%s: cannot create the run folder: %s", run_dir, strerror(errno));
    char *path = ckpt_path(run_dir, meta->step);
    char *tmp = fsio_tmp_name(path);
    fsio_track_created(tmp); /* removed if the process dies before the commit */
    hid_t f = h5_create(tmp, H5P_DEFAULT);
    h5_set_kind(f, CKPT_KIND);
    h5_attr_set_i64(f, "step", meta->step);
    h5_attr_set_i64(f, "images_seen", meta->images_seen);
    h5_attr_set_i64(f, "epoch", meta->epoch);
    h5_attr_set_i64(f, "data_pos", meta->data_pos);
    h5_attr_set_bytes(f, "rng", meta->rng, meta->rng_bytes);
    h5_attr_set_str(f, "config", meta->config_text ? meta->config_text : "");
    h5_attr_set_f64(f, "wall_time", meta->wall_time);
    h5_attr_set_str(f, "ddm_version", DDM_VERSION);
    size_t np = 0;
    for (int i = 0; i < b->n_tensors; i++) np += b->tensors[i].size;
    h5_attr_set_i64(f, "n_params", (int64_t)np);
    if (b->model) write_block(f, "model", b->tensors, b->n_tensors, b->model);
    for (int e = 0; e < b->n_ema; e++) {
        if (!b->ema[e]) continue;
        char g[64], r[32];
        ckpt_ema_name(r, sizeof r, b->ema_rate[e]);
        snprintf(g, sizeof g, "ema/%s", r);
        write_block(f, g, b->tensors, b->n_tensors, b->ema[e]);
    }
    if (b->m) write_block(f, "optim/m", b->tensors, b->n_tensors, b->m);
    if (b->v) write_block(f, "optim/v", b->tensors, b->n_tensors, b->v);
    H5OK(H5Fflush(f, H5F_SCOPE_GLOBAL));
    h5_close(f);
    fsio_commit(tmp, path);
    free(tmp);
    prune(run_dir, keep);
    return path;
}

/* ---- reading ---- */

/* Opens path read-only if it is a checkpoint: the file id, or -1 with a reason in why. */
static hid_t try_open_ckpt(const char *path, const char **why)
{
    h5_quiet();
    if (H5Fis_hdf5(path) <= 0) {
        *why = "not an HDF5 file (or truncated)";
        return -1;
    }
    hid_t f = h5_try_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        *why = "HDF5 cannot open it (damaged or truncated)";
        return -1;
    }
    char *k = h5_get_kind(f);
    int ok = k && !strcmp(k, CKPT_KIND);
    free(k);
    if (!ok) {
        h5_close(f);
        *why = "no kind=checkpoint attribute";
        return -1;
    }
    return f;
}

int ckpt_find_latest(const char *run_dir, char **path, int64_t *step)
{
    int n, found = 0;
    Entry *e = list_ckpts(run_dir, &n);
    for (int i = 0; i < n && !found; i++) {
        char *p = join(run_dir, e[i].name);
        const char *why = NULL;
        hid_t f = try_open_ckpt(p, &why);
        if (f < 0) {
            ddm_warn("%s: skipped (%s); trying an older checkpoint", p, why);
            free(p);
            continue;
        }
        h5_close(f);
        *path = p;
        *step = e[i].step;
        found = 1;
    }
    free_entries(e, n);
    return found;
}

char *ckpt_resolve(const char *path_or_dir)
{
    struct stat st;
    if (stat(path_or_dir, &st) != 0) ddm_die("%s: %s", path_or_dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return xstrdup(path_or_dir);
    char *p = NULL;
    int64_t step;
    if (!ckpt_find_latest(path_or_dir, &p, &step))
        ddm_die("%s: the folder holds no usable checkpoint (ckpt-*.h5)", path_or_dir);
    return p;
}

static void shape_text(char *buf, size_t n, int nd, const hsize_t *d)
{
    size_t off = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && off < n; i++)
        off +=
            (size_t)snprintf(buf + off, n - off, "%s%llu", i ? "," : "", (unsigned long long)d[i]);
    if (off < n) snprintf(buf + off, n - off, "]");
}

/* Names of the links in group g (malloc'd array of malloc'd strings), by name order.
 * H5Gget_info + H5Lget_name_by_idx: the same API in HDF5 1.10 and 1.12+. */
static char **link_names(hid_t g, int *n)
{
    H5G_info_t gi;
    H5OK(H5Gget_info(g, &gi));
    *n = (int)gi.nlinks;
    char **names = xcalloc(gi.nlinks ? gi.nlinks : 1, sizeof *names);
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        ssize_t len =
            H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        H5OK(len);
        names[i] = xmalloc((size_t)len + 1);
        H5OK(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, names[i], (size_t)len + 1,
                                H5P_DEFAULT));
    }
    return names;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Check every tensor of group (e.g. "/model") against the table, then read them. */
static void read_block(hid_t f, const char *path, const char *group, const TensorInfo *t, int nt,
                       float *x)
{
    if (!h5_exists(f, group))
        ddm_die("%s: has no %s group (not saved in this checkpoint)", path, group);
    for (int i = 0; i < nt; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s/%s", group, t[i].name);
        hsize_t have[8], want[4];
        for (int k = 0; k < t[i].ndim; k++) want[k] = (hsize_t)t[i].shape[k];
        int nd = h5_shape(f, name, have);
        if (nd < 0) {
            char b[96];
            shape_text(b, sizeof b, t[i].ndim, want);
            ddm_die("%s: %s has no tensor '%s' (the model expects it, shape %s)", path, group,
                    t[i].name, b);
        }
        int same = nd == t[i].ndim;
        for (int k = 0; same && k < nd; k++) same = have[k] == want[k];
        if (!same) {
            char a[96], b[96];
            shape_text(a, sizeof a, nd, have);
            shape_text(b, sizeof b, t[i].ndim, want);
            ddm_die("%s: %s/%s has shape %s, the model expects %s", path, group, t[i].name, a, b);
        }
    }
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    H5OK(g);
    int nl;
    char **names = link_names(g, &nl);
    H5OK(H5Gclose(g));
    for (int l = 0; l < nl; l++) {
        int known = 0;
        for (int i = 0; i < nt && !known; i++) known = !strcmp(t[i].name, names[l]);
        if (!known)
            ddm_die(
                "%s: %s has a tensor '%s' the model does not have (%d stored, the model has %d)",
                path, group, names[l], nl, nt);
    }
    free_names(names, nl);
    for (int i = 0; i < nt; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s/%s", group, t[i].name);
        hsize_t dims[4];
        for (int k = 0; k < t[i].ndim; k++) dims[k] = (hsize_t)t[i].shape[k];
        h5_read_f32(f, path, name, x + t[i].offset, t[i].ndim, dims);
    }
}

static void read_meta(hid_t f, const char *path, CkptMeta *m)
{
    memset(m, 0, sizeof *m);
    if (!h5_attr_get_i64(f, "step", &m->step))
        ddm_die("%s: checkpoint has no 'step' attribute", path);
    h5_attr_get_i64(f, "images_seen", &m->images_seen);
    h5_attr_get_i64(f, "epoch", &m->epoch);
    h5_attr_get_i64(f, "data_pos", &m->data_pos);
    if (m->step < 0 || m->images_seen < 0 || m->epoch < 0 || m->data_pos < 0) /* issue 16 */
        ddm_die("%s: checkpoint attributes out of range (step %lld, images_seen %lld, epoch %lld, "
                "data_pos %lld; each must be >= 0): a damaged or hand-edited file", path,
                (long long)m->step, (long long)m->images_seen, (long long)m->epoch,
                (long long)m->data_pos);
    if (h5_attr_exists(f, "rng")) {
        hid_t a = H5Aopen(f, "rng", H5P_DEFAULT);
        H5OK(a);
        hid_t s = H5Aget_space(a);
        H5OK(s);
        hssize_t n = H5Sget_simple_extent_npoints(s);
        H5OK(H5Sclose(s));
        H5OK(H5Aclose(a));
        if (n < 0 || n > CKPT_RNG_MAX)
            ddm_die("%s: rng attribute has %lld bytes", path, (long long)n);
        m->rng_bytes = (size_t)n;
        if (n > 0) h5_attr_get_bytes(f, "rng", m->rng, m->rng_bytes);
    }
    if (!h5_attr_get_str(f, "config", &m->config_text)) m->config_text = xstrdup("");
    h5_attr_get_f64(f, "wall_time", &m->wall_time);
    char *v = NULL;
    if (h5_attr_get_str(f, "ddm_version", &v)) snprintf(m->version, sizeof m->version, "%s", v);
    free(v);
}

static hid_t open_checked(const char *path)
{
    hid_t f = h5_open(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(f, path, CKPT_KIND);
    return f;
}

void ckpt_load(const char *path, CkptBlocks *b, CkptMeta *meta)
{
    hid_t f = open_checked(path);
    if (meta) read_meta(f, path, meta);
    if (b->model) read_block(f, path, "/model", b->tensors, b->n_tensors, b->model);
    for (int e = 0; e < b->n_ema; e++) {
        if (!b->ema[e]) continue;
        char g[64], r[32];
        ckpt_ema_name(r, sizeof r, b->ema_rate[e]);
        snprintf(g, sizeof g, "/ema/%s", r);
        if (!h5_exists(f, g))
            ddm_die("%s: has no EMA copy at rate %s (train.ema changed since this checkpoint?)",
                    path, r);
        read_block(f, path, g, b->tensors, b->n_tensors, b->ema[e]);
    }
    if (b->m) read_block(f, path, "/optim/m", b->tensors, b->n_tensors, b->m);
    if (b->v) read_block(f, path, "/optim/v", b->tensors, b->n_tensors, b->v);
    h5_close(f);
}

int ckpt_load_latest(const char *run_dir, CkptBlocks *b, CkptMeta *meta, char **path)
{
    char *p = NULL;
    int64_t step;
    if (!ckpt_find_latest(run_dir, &p, &step)) return 0;
    ckpt_load(p, b, meta);
    if (path)
        *path = p;
    else
        free(p);
    return 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int rates_of(hid_t f, double *rates, int max)
{
    if (!h5_exists(f, "/ema")) return 0;
    hid_t g = H5Gopen2(f, "/ema", H5P_DEFAULT);
    H5OK(g);
    int nl, n = 0;
    char **names = link_names(g, &nl);
    H5OK(H5Gclose(g));
    for (int l = 0; l < nl && n < max; l++) {
        char *end;
        double r = strtod(names[l], &end);
        if (*end == '\0' && end != names[l]) rates[n++] = r;
    }
    free_names(names, nl);
    qsort(rates, (size_t)n, sizeof *rates, cmp_double);
    return n;
}

int ckpt_ema_rates(const char *path, double *rates, int max)
{
    hid_t f = open_checked(path);
    int n = rates_of(f, rates, max);
    h5_close(f);
    return n;
}

void ckpt_load_weights(const char *path, const TensorInfo *tensors, int n_tensors, float *block,
                       double ema_rate, CkptMeta *meta)
{
    hid_t f = open_checked(path);
    if (meta) read_meta(f, path, meta);
    char g[64];
    if (ema_rate < 0) {
        snprintf(g, sizeof g, "/model");
    } else {
        char r[32];
        ckpt_ema_name(r, sizeof r, ema_rate);
        snprintf(g, sizeof g, "/ema/%s", r);
        if (!h5_exists(f, g)) {
            double rates[CKPT_MAX_EMA * 2];
            int n = rates_of(f, rates, CKPT_MAX_EMA * 2);
            char list[256] = "";
            size_t off = 0;
            for (int i = 0; i < n && off < sizeof list; i++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%.10g", i ? ", " : "",
                                        rates[i]);
            ddm_die("%s: has no EMA weights at rate %s (it has: %s)", path, r, n ? list : "none");
        }
    }
    read_block(f, path, g, tensors, n_tensors, block);
    h5_close(f);
}

void ckpt_read_meta(const char *path, CkptMeta *meta)
{
    hid_t f = open_checked(path);
    read_meta(f, path, meta);
    h5_close(f);
}
