/* ddm export: hand finished samples to other tools, as one PNG per sample (named by its
 * seed) or as a NumPy .npz: arr_0 uint8 (N,H,W,C), the layout improved-diffusion's and
 * guided-diffusion's evaluators read, and arr_1 int32 (N) labels when the file has them.
 * Only rows with done=1 are exported. Runs on rank 0; under mpirun the other ranks wait.
 *
 * The .npz is written here (no libzip): a zip of stored (uncompressed) members, each an
 * .npy v1.0 file. Members over 4 GiB use ZIP64 records; DDM_NPZ_ZIP64=1 forces them for
 * tests. N = rows, C = channels, H, W = height, width. */
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/common.h"
#include "io/h5.h"
#include "io/png.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

#define ROWS 256 /* images per read */

/* ---- which set of samples ------------------------------------------------------------ */

static int holds_set(hid_t loc, const char *g)
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
} Names;

#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t LinkInfo;
#else
typedef H5L_info_t LinkInfo;
#endif

static herr_t collect_group(hid_t loc, const char *name, const LinkInfo *info, void *op)
{
    Names *g = op;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) return 0;
    int is_group = H5Iget_type(o) == H5I_GROUP;
    H5Oclose(o);
    if (is_group && holds_set(loc, name)) {
        g->v = xrealloc(g->v, sizeof(char *) * (size_t)(g->n + 1));
        g->v[g->n++] = xstrdup(name);
    }
    return 0;
}

static void names_str(const Names *g, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < g->n && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? ", " : "", g->v[i]);
}

/* The group holding the set to export ("" for the root), malloc'd. */
static char *pick_group(hid_t f, const char *path, const char *want)
{
    Names g = {NULL, 0};
    hsize_t idx = 0;
    if (H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_group, &g) < 0)
        ddm_die("%s: cannot list its groups (damaged?)", path);
    char list[2048];
    names_str(&g, list, sizeof list);
    char *out = NULL;
    if (want) {
        while (*want == '/') want++;
        for (int i = 0; i < g.n && !out; i++)
            if (strcmp(g.v[i], want) == 0) out = xstrdup(want);
        if (!out) {
            if (g.n) ddm_die("%s: has no samples group '%s' (groups: %s)", path, want, list);
            ddm_die("%s: has no samples group '%s' (it holds no sampler groups%s)", path, want,
                    holds_set(f, "") ? "; its samples are at the root: drop --group" : "");
        }
    } else if (holds_set(f, "")) {
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

/* ---- the samples ------------------------------------------------------------------- */

typedef struct {
    const char *path;
    char group[1024];
    hid_t images;
    size_t n;
    int c, h, w;
    int64_t *seeds;
    uint8_t *done;
    int32_t *labels; /* NULL when none */
} Samples;

static hid_t open_1d(hid_t f, const Samples *s, const char *name, size_t n, int need)
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

static void read_1d(const Samples *s, hid_t ds, hid_t memtype, void *buf, const char *name)
{
    if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        ddm_die("%s: cannot read '%s' (file damaged or truncated?)", s->path, name);
    H5OK(H5Dclose(ds));
}

static void samples_open(Samples *s, hid_t f, const char *path, const char *group)
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
    read_1d(s, open_1d(f, s, "seeds", s->n, 1), H5T_NATIVE_INT64, s->seeds, "seeds");
    read_1d(s, open_1d(f, s, "done", s->n, 1), H5T_NATIVE_UINT8, s->done, "done");
    hid_t lab = open_1d(f, s, "labels", s->n, 0);
    if (lab >= 0) {
        s->labels = xmalloc(sizeof(int32_t) * n);
        read_1d(s, lab, H5T_NATIVE_INT32, s->labels, "labels");
    }
}

static void samples_read(const Samples *s, size_t start, size_t count, uint8_t *out)
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

static void samples_close(Samples *s)
{
    if (s->images > 0) H5OK(H5Dclose(s->images));
    free(s->seeds);
    free(s->done);
    free(s->labels);
}

/* ---- PNG folder ---------------------------------------------------------------------- */

static void mkdir_p(const char *dir)
{
    char *p = xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char keep = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) ddm_die("%s: cannot create folder %s: %s", dir, p, strerror(errno));
        *s = keep;
        if (!keep) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) ddm_die("%s: is not a folder", dir);
    if (access(dir, W_OK) != 0) ddm_die("%s: folder is not writable: %s", dir, strerror(errno));
    free(p);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void export_pngs(const Samples *s, const char *dir, size_t ndone)
{
    if (s->c != 1 && s->c != 3)
        ddm_die("%s: images have %d channels; PNG export takes 1 or 3 (use --npz)", s->path, s->c);
    mkdir_p(dir);
    /* a seed twice would silently overwrite its PNG: say so */
    int64_t *sd = xmalloc(sizeof(int64_t) * (ndone ? ndone : 1));
    size_t k = 0, dup = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->done[i]) sd[k++] = s->seeds[i];
    qsort(sd, k, sizeof(int64_t), cmp_i64);
    for (size_t i = 1; i < k; i++) dup += sd[i] == sd[i - 1];
    free(sd);
    if (dup) ddm_warn("%s: %zu finished rows repeat a seed; the last of each wins", s->path, dup);

    size_t img = (size_t)s->c * s->h * s->w;
    uint8_t *buf = xmalloc(img * ROWS);
    size_t plen = strlen(dir) + 40;
    char *p = xmalloc(plen);
    double last = ddm_now();
    size_t written = 0;
    for (size_t r0 = 0; r0 < s->n; r0 += ROWS) {
        size_t nb = s->n - r0 < ROWS ? s->n - r0 : ROWS;
        size_t any = 0;
        for (size_t j = 0; j < nb; j++) any += s->done[r0 + j] != 0;
        if (!any) continue;
        samples_read(s, r0, nb, buf);
        for (size_t j = 0; j < nb; j++) {
            if (!s->done[r0 + j]) continue;
            snprintf(p, plen, "%s/%06lld.png", dir, (long long)s->seeds[r0 + j]);
            pngio_write(p, buf + j * img, s->c, s->h, s->w);
            written++;
        }
        if (ddm_now() - last > 2.0) {
            printf("export: %zu/%zu PNGs\n", written, ndone);
            fflush(stdout);
            last = ddm_now();
        }
    }
    free(p);
    free(buf);
}

/* ---- .npz ---------------------------------------------------------------------------- */

static char *g_tmp = NULL;
static void remove_tmp(void)
{
    if (g_tmp) unlink(g_tmp);
}

typedef struct {
    FILE *f;
    const char *path; /* for messages: the final name */
    int force64;
    /* members written so far, for the central directory */
    struct {
        char name[16];
        uint64_t size, offset;
        uint32_t crc;
    } m[2];
    int nm;
    uint16_t dos_time, dos_date;
    uint32_t crc;
    uint64_t member_start;
} Zip;

static void put(Zip *z, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, z->f) != n)
        ddm_die("%s: write failed: %s", z->path, strerror(errno));
}

static void put16(Zip *z, uint16_t v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(z, b, 2);
}

static void put32(Zip *z, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(z, b, 4);
}

static void put64(Zip *z, uint64_t v)
{
    put32(z, (uint32_t)v);
    put32(z, (uint32_t)(v >> 32));
}

static uint64_t tell(Zip *z)
{
    off_t o = ftello(z->f);
    if (o < 0) ddm_die("%s: ftello failed: %s", z->path, strerror(errno));
    return (uint64_t)o;
}

/* member data goes through here: written and added to the CRC */
static void put_data(Zip *z, const void *p, size_t n)
{
    put(z, p, n);
    for (size_t off = 0; off < n;) {
        uInt c = n - off > (1u << 30) ? (1u << 30) : (uInt)(n - off);
        z->crc = (uint32_t)crc32(z->crc, (const Bytef *)p + off, c);
        off += c;
    }
}

#define ZIP64_MAX 0xffffffffu

/* Local header of a stored member of `size` bytes; the CRC is patched in by zip_end_member. */
static void zip_begin_member(Zip *z, const char *name, uint64_t size)
{
    int i = z->nm++;
    snprintf(z->m[i].name, sizeof z->m[i].name, "%s", name);
    z->m[i].size = size;
    z->m[i].offset = tell(z);
    int big = z->force64 || size >= ZIP64_MAX;
    uint16_t nl = (uint16_t)strlen(name);
    put32(z, 0x04034b50);
    put16(z, big ? 45 : 20); /* version needed: 4.5 for ZIP64 */
    put16(z, 0);             /* flags */
    put16(z, 0);             /* method: stored */
    put16(z, z->dos_time);
    put16(z, z->dos_date);
    put32(z, 0); /* CRC, patched later */
    put32(z, big ? ZIP64_MAX : (uint32_t)size);
    put32(z, big ? ZIP64_MAX : (uint32_t)size);
    put16(z, nl);
    put16(z, big ? 20 : 0);
    put(z, name, nl);
    if (big) { /* ZIP64 extra: original then compressed size */
        put16(z, 0x0001);
        put16(z, 16);
        put64(z, size);
        put64(z, size);
    }
    z->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    z->member_start = tell(z);
}

static void zip_end_member(Zip *z)
{
    int i = z->nm - 1;
    uint64_t end = tell(z);
    if (end - z->member_start != z->m[i].size)
        ddm_die("%s: internal error: member %s has %llu bytes, announced %llu", z->path,
                z->m[i].name, (unsigned long long)(end - z->member_start),
                (unsigned long long)z->m[i].size);
    z->m[i].crc = z->crc;
    if (fseeko(z->f, (off_t)(z->m[i].offset + 14), SEEK_SET) != 0)
        ddm_die("%s: seek failed: %s", z->path, strerror(errno));
    put32(z, z->crc);
    if (fseeko(z->f, (off_t)end, SEEK_SET) != 0)
        ddm_die("%s: seek failed: %s", z->path, strerror(errno));
}

static void zip_finish(Zip *z)
{
    uint64_t cd_start = tell(z);
    for (int i = 0; i < z->nm; i++) {
        int big_size = z->force64 || z->m[i].size >= ZIP64_MAX;
        int big_off = z->force64 || z->m[i].offset >= ZIP64_MAX;
        uint16_t nl = (uint16_t)strlen(z->m[i].name);
        uint16_t extra = (uint16_t)((big_size ? 16 : 0) + (big_off ? 8 : 0));
        put32(z, 0x02014b50);
        put16(z, (uint16_t)(3 << 8 | (extra ? 45 : 20))); /* made by: Unix, version */
        put16(z, extra ? 45 : 20);
        put16(z, 0);
        put16(z, 0);
        put16(z, z->dos_time);
        put16(z, z->dos_date);
        put32(z, z->m[i].crc);
        put32(z, big_size ? ZIP64_MAX : (uint32_t)z->m[i].size);
        put32(z, big_size ? ZIP64_MAX : (uint32_t)z->m[i].size);
        put16(z, nl);
        put16(z, extra ? (uint16_t)(extra + 4) : 0);
        put16(z, 0);                 /* comment */
        put16(z, 0);                 /* disk */
        put16(z, 0);                 /* internal attributes */
        put32(z, (uint32_t)0100644 << 16); /* external: a regular file, rw-r--r-- */
        put32(z, big_off ? ZIP64_MAX : (uint32_t)z->m[i].offset);
        put(z, z->m[i].name, nl);
        if (extra) {
            put16(z, 0x0001);
            put16(z, extra);
            if (big_size) {
                put64(z, z->m[i].size);
                put64(z, z->m[i].size);
            }
            if (big_off) put64(z, z->m[i].offset);
        }
    }
    uint64_t cd_end = tell(z), cd_size = cd_end - cd_start;
    int big = z->force64 || cd_start >= ZIP64_MAX || cd_size >= ZIP64_MAX;
    if (big) {
        put32(z, 0x06064b50); /* ZIP64 end of central directory record */
        put64(z, 44);
        put16(z, 3 << 8 | 45);
        put16(z, 45);
        put32(z, 0);
        put32(z, 0);
        put64(z, (uint64_t)z->nm);
        put64(z, (uint64_t)z->nm);
        put64(z, cd_size);
        put64(z, cd_start);
        put32(z, 0x07064b50); /* its locator */
        put32(z, 0);
        put64(z, cd_end);
        put32(z, 1);
    }
    put32(z, 0x06054b50);
    put16(z, 0);
    put16(z, 0);
    put16(z, (uint16_t)z->nm);
    put16(z, (uint16_t)z->nm);
    put32(z, big ? ZIP64_MAX : (uint32_t)cd_size);
    put32(z, big ? ZIP64_MAX : (uint32_t)cd_start);
    put16(z, 0);
}

/* .npy v1.0 header: magic, version, header length, a Python dict literal padded with
 * spaces to a multiple of 64 bytes and ending in a newline. */
static size_t npy_header(char *buf, size_t cap, const char *descr, int nd, const size_t *shape)
{
    char dict[256], sh[160];
    size_t off = 0;
    for (int i = 0; i < nd; i++)
        off += (size_t)snprintf(sh + off, sizeof sh - off, "%zu%s", shape[i],
                                nd == 1 ? "," : i + 1 < nd ? ", " : "");
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      descr, sh);
    size_t total = 10 + (size_t)dl + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap) ddm_die("npy header too long");
    size_t hl = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hl & 0xff);
    buf[9] = (char)(hl >> 8);
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', hl - (size_t)dl - 1);
    buf[total - 1] = '\n';
    return total;
}

static void export_npz(const Samples *s, const char *out, size_t ndone)
{
    struct stat ost;
    if (stat(out, &ost) == 0 && S_ISDIR(ost.st_mode)) ddm_die("%s: is a folder", out);
    g_tmp = h5_tmp_name(out);
    Zip z;
    memset(&z, 0, sizeof z);
    z.path = out;
    const char *f64 = getenv("DDM_NPZ_ZIP64");
    z.force64 = f64 && *f64 && strcmp(f64, "0") != 0;
    z.f = fopen(g_tmp, "wb");
    if (!z.f) {
        ddm_die("%s: cannot create: %s", out, strerror(errno));
    }
    ddm_set_cleanup_hook(remove_tmp);
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    z.dos_time = (uint16_t)(tmv.tm_hour << 11 | tmv.tm_min << 5 | tmv.tm_sec / 2);
    z.dos_date = (uint16_t)((tmv.tm_year - 80) << 9 | (tmv.tm_mon + 1) << 5 | tmv.tm_mday);

    char hdr[256];
    size_t shape[4] = {ndone, (size_t)s->h, (size_t)s->w, (size_t)s->c};
    size_t hl = npy_header(hdr, sizeof hdr, "|u1", 4, shape);
    size_t img = (size_t)s->c * s->h * s->w, plane = (size_t)s->h * s->w;
    zip_begin_member(&z, "arr_0.npy", hl + ndone * img);
    put_data(&z, hdr, hl);
    uint8_t *buf = xmalloc(img * ROWS), *hwc = xmalloc(img);
    double last = ddm_now();
    size_t written = 0;
    for (size_t r0 = 0; r0 < s->n; r0 += ROWS) {
        size_t nb = s->n - r0 < ROWS ? s->n - r0 : ROWS, any = 0;
        for (size_t j = 0; j < nb; j++) any += s->done[r0 + j] != 0;
        if (!any) continue;
        samples_read(s, r0, nb, buf);
        for (size_t j = 0; j < nb; j++) {
            if (!s->done[r0 + j]) continue;
            const uint8_t *chw = buf + j * img;
            for (size_t i = 0; i < plane; i++) /* (C,H,W) -> (H,W,C) */
                for (int k = 0; k < s->c; k++) hwc[i * (size_t)s->c + (size_t)k] = chw[(size_t)k * plane + i];
            put_data(&z, hwc, img);
            written++;
        }
        if (ddm_now() - last > 2.0) {
            printf("export: %zu/%zu images\n", written, ndone);
            fflush(stdout);
            last = ddm_now();
        }
    }
    free(hwc);
    free(buf);
    zip_end_member(&z);
    if (s->labels) {
        size_t ls[1] = {ndone};
        hl = npy_header(hdr, sizeof hdr, "<i4", 1, ls);
        zip_begin_member(&z, "arr_1.npy", hl + 4 * ndone);
        put_data(&z, hdr, hl);
        for (size_t i = 0; i < s->n; i++) {
            if (!s->done[i]) continue;
            uint32_t v = (uint32_t)s->labels[i];
            unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                                  (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
            put_data(&z, b, 4);
        }
        zip_end_member(&z);
    }
    zip_finish(&z);
    if (fflush(z.f) != 0 || ferror(z.f)) ddm_die("%s: write failed: %s", out, strerror(errno));
    if (fclose(z.f) != 0) ddm_die("%s: write failed: %s", out, strerror(errno));
    h5_commit_tmp(g_tmp, out); /* fsync + rename: it names no HDF5 specifics */
    ddm_set_cleanup_hook(NULL);
    free(g_tmp);
    g_tmp = NULL;
}

/* ---- the job -------------------------------------------------------------------------- */

static const char SYNOPSIS[] = "--samples FILE.h5 (--png-dir DIR | --npz FILE.npz) [--group NAME]";
static const char DESCRIPTION[] =
    "Write the finished samples (done=1) of a samples file for other tools (pytorch-fid,\n"
    "clean-fid, torch-fidelity, improved-diffusion's evaluator):\n"
    "  --png-dir DIR   one PNG per sample, named by its seed: DIR/000123.png\n"
    "  --npz FILE.npz  arr_0 uint8 [N,H,W,C] (+ arr_1 int32 [N] labels when present)\n"
    "Both may be given. A sweep file holds one group per sampler setting: --group picks one.";

int job_export(int argc, char **argv)
{
    dist_init(&argc, &argv);
    if (!dist_is_root()) {
        dist_barrier();
        dist_finalize();
        return 0;
    }
    char *samples = NULL, *png_dir = NULL, *npz = NULL, *group = NULL;
    const CliOpt opts[] = {
        {"samples", CLI_STR, &samples, "FILE.h5", "the samples file to read", 1},
        {"png-dir", CLI_STR, &png_dir, "DIR", "write one PNG per finished sample here (created if missing)", 0},
        {"npz", CLI_STR, &npz, "FILE.npz", "write the finished samples as a NumPy .npz (replaced atomically)", 0},
        {"group", CLI_STR, &group, "NAME", "the sampler group of a sweep file; default: the only one", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("export", SYNOPSIS, DESCRIPTION, opts, argc, argv, NULL, NULL)) {
        dist_barrier();
        dist_finalize();
        return 0;
    }
    if (!png_dir && !npz) ddm_die("ddm export: give --png-dir DIR or --npz FILE.npz (or both)");
    if (npz) {
        size_t l = strlen(npz);
        if (l < 4 || strcmp(npz + l - 4, ".npz") != 0)
            ddm_die("ddm export: --npz %s: the name must end in .npz (numpy.load needs it)", npz);
    }
    hid_t f = h5_open(samples, H5F_ACC_RDONLY, H5P_DEFAULT);
    h5_require_kind(f, samples, "samples");
    char *g = pick_group(f, samples, group);
    Samples s;
    samples_open(&s, f, samples, g);
    size_t ndone = 0;
    for (size_t i = 0; i < s.n; i++) ndone += s.done[i] != 0;
    const char *where = g[0] ? g : "/";
    if (ndone == 0)
        ddm_die("%s: no finished samples in %s (0 of %zu rows done)", samples, where, s.n);
    if (png_dir) export_pngs(&s, png_dir, ndone);
    if (npz) export_npz(&s, npz, ndone);
    printf("export: %s%s%s: %zu images [%d,%d,%d] written", samples, g[0] ? " group " : "",
           g[0] ? g : "", ndone, s.c, s.h, s.w);
    if (png_dir) printf(" to %s/", png_dir);
    if (npz) printf("%s%s%s", png_dir ? " and " : " to ", npz, s.labels ? " (with labels)" : "");
    size_t skipped = s.n - ndone;
    printf("; %zu unfinished row%s skipped\n", skipped, skipped == 1 ? "" : "s");
    samples_close(&s);
    free(g);
    h5_close(f);
    dist_barrier();
    dist_finalize();
    return 0;
}
