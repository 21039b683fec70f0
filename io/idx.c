/* IDX reader: zlib's gz* functions read gzipped and raw files alike; the gzip magic is
 * looked at only to say which one a file is and to check raw sizes before reading. */
#include "io/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/common.h"

#define IDX_MAX_DIM (1u << 20) /* a sanity bound on H and W */

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* 1 for gzip, 0 for anything else; dies when the file cannot be opened. */
static int is_gzip(const char *path, off_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0) ddm_die("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) ddm_die("%s: not a regular file", path);
    *size = st.st_size;
    FILE *f = fopen(path, "rb");
    if (!f) ddm_die("%s: cannot open: %s", path, strerror(errno));
    unsigned char m[2] = {0, 0};
    size_t got = fread(m, 1, 2, f);
    fclose(f);
    return got == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* zlib's message without the "PATH: " it puts in front */
static const char *gz_msg(gzFile g, const char *path, int *code)
{
    const char *m = gzerror(g, code);
    if (!m) return "unknown zlib error";
    size_t l = strlen(path);
    if (strncmp(m, path, l) == 0 && m[l] == ':' && m[l + 1] == ' ') m += l + 2;
    return m;
}

/* Read up to n bytes; returns the count read. A gzip data error dies; a short count
 * means the data ended (truncated file or stream). */
static size_t gz_read_all(gzFile g, const char *path, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (want > (1u << 24)) want = 1u << 24;
        int r = gzread(g, (char *)buf + got, (unsigned)want);
        if (r < 0) {
            int code = 0;
            ddm_die("%s: corrupt gzip data: %s", path, gz_msg(g, path, &code));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return got;
}

static const char *what_of(uint32_t magic)
{
    return magic == IDX_MAGIC_IMAGES ? "image" : "label";
}

/* Reads one IDX file of the given magic. dims gets the ndim dims from the header;
 * *data gets the first `rows` rows (rows <= dims[0]) of the payload. */
static void read_idx(const char *path, uint32_t magic, size_t rows_limit, uint32_t *dims,
                     uint8_t **data, size_t *rows_read, const char *images_path, size_t n_images)
{
    off_t fsize = 0;
    int gz = is_gzip(path, &fsize);
    int ndim = (int)(magic & 0xff);
    gzFile g = gzopen(path, "rb");
    if (!g) ddm_die("%s: cannot open: %s", path, errno ? strerror(errno) : "zlib error");
    gzbuffer(g, 1u << 17);

    unsigned char hdr[4 + 4 * 3];
    size_t hbytes = 4 + 4 * (size_t)ndim;
    size_t got = gz_read_all(g, path, hdr, 4);
    if (got < 4)
        ddm_die("%s: not an IDX file: only %zu bytes%s", path, got, gz ? " after gunzip" : "");
    uint32_t m = be32(hdr);
    if (m != magic) {
        if (m == IDX_MAGIC_IMAGES || m == IDX_MAGIC_LABELS)
            ddm_die("%s: is an IDX %s file (magic 0x%08x), expected %s (magic 0x%08x)", path,
                    what_of(m), m, magic == IDX_MAGIC_IMAGES ? "images" : "labels", magic);
        ddm_die("%s: not an IDX %s file: magic 0x%08x, expected 0x%08x%s", path,
                magic == IDX_MAGIC_IMAGES ? "images" : "labels", m, magic,
                gz ? "" : (fsize >= 2 ? " (not gzipped either)" : ""));
    }
    got = gz_read_all(g, path, hdr + 4, hbytes - 4);
    if (got < hbytes - 4)
        ddm_die("%s: truncated: the IDX header ends after %zu of %zu bytes", path, 4 + got,
                hbytes);
    size_t row = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (i > 0) {
            if (dims[i] == 0 || dims[i] > IDX_MAX_DIM)
                ddm_die("%s: implausible IDX dimension %d: %u", path, i, dims[i]);
            row *= dims[i];
        }
    }
    size_t n = dims[0];
    if (images_path && n != n_images)
        ddm_die("%s: holds %zu labels but %s holds %zu images", path, n, images_path, n_images);
    if (n > SIZE_MAX / row) ddm_die("%s: implausible IDX size %zu x %zu", path, n, row);
    size_t total = n * row;
    size_t rows = rows_limit && rows_limit < n ? rows_limit : n;
    size_t need = rows * row;

    /* the data is held in memory: a header (or a gzip bomb, whose data is all there)
     * claiming more than half of this machine's memory is refused before reading it */
    {
        const long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        const double avail = pages > 0 && psize > 0 ? (double)pages * (double)psize : 0;
        if (avail > 0 && (double)need > 0.5 * avail)
            ddm_die("%s: the IDX header claims %zu %s of %zu bytes (%.1f GB unpacked), more "
                    "than half this machine's memory (%.1f GB): refused (--limit N reads the "
                    "first N)", path, n, magic == IDX_MAGIC_IMAGES ? "images" : "labels", row,
                    (double)need / 1e9, avail / 1e9);
    }

    /* a raw file's size says at once whether the payload is all there */
    if (!gz && (size_t)fsize - hbytes < total)
        ddm_die("%s: truncated: expected %zu bytes of %s data, got %zu", path, total,
                what_of(magic), (size_t)fsize - hbytes);

    /* grow the buffer as data arrives: a corrupt header cannot make us allocate much */
    size_t cap = need < (1u << 24) ? need : (1u << 24), have = 0;
    uint8_t *buf = xmalloc(cap);
    while (have < need) {
        if (have == cap) {
            cap = cap * 2 < need ? cap * 2 : need;
            buf = xrealloc(buf, cap);
        }
        size_t r = gz_read_all(g, path, buf + have, cap - have);
        have += r;
        if (have < cap) break;
    }
    if (have < need)
        ddm_die("%s: truncated: expected %zu bytes of %s data, got %zu", path, total,
                what_of(magic), have);
    if (rows == n) {
        /* read on to the end: a gzip stream checks its CRC and length there */
        unsigned char extra[256];
        size_t more = 0, r;
        while ((r = gz_read_all(g, path, extra, sizeof extra)) > 0) more += r;
        int code = Z_OK;
        const char *msg = gz_msg(g, path, &code);
        if (code == Z_BUF_ERROR)
            ddm_die("%s: truncated: the gzip stream ends early (%s)", path, msg);
        if (code != Z_OK) ddm_die("%s: corrupt gzip data: %s", path, msg);
        if (more)
            ddm_warn("%s: %zu bytes after the %s data ignored", path, more, what_of(magic));
    }
    gzclose_r(g);
    *data = buf;
    *rows_read = rows;
}

void idx_read_images(const char *path, size_t limit, IdxData *out)
{
    memset(out, 0, sizeof *out);
    uint32_t dims[3];
    read_idx(path, IDX_MAGIC_IMAGES, limit, dims, &out->images, &out->n, NULL, 0);
    out->n_file = dims[0];
    out->h = (int)dims[1];
    out->w = (int)dims[2];
    if (out->n == 0) ddm_die("%s: holds no images", path);
}

void idx_read(const char *images_path, const char *labels_path, size_t limit, IdxData *out)
{
    idx_read_images(images_path, limit, out);
    if (!labels_path) return;
    uint32_t dims[1];
    uint8_t *lab = NULL;
    size_t nl = 0;
    /* the label count is checked against the images right after the header */
    read_idx(labels_path, IDX_MAGIC_LABELS, limit, dims, &lab, &nl, images_path, out->n_file);
    out->labels = xmalloc(out->n * sizeof(int32_t));
    for (size_t i = 0; i < out->n; i++) out->labels[i] = lab[i];
    free(lab);
}

void idx_free(IdxData *d)
{
    free(d->images);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

void idx_write(const char *path, uint32_t magic, const uint32_t *dims, const uint8_t *data,
               int gz)
{
    int ndim = (int)(magic & 0xff);
    unsigned char hdr[4 + 4 * 3];
    size_t n = 1;
    uint32_t v[4] = {magic, 0, 0, 0};
    for (int i = 0; i < ndim; i++) {
        v[i + 1] = dims[i];
        n *= dims[i];
    }
    for (int i = 0; i <= ndim; i++) {
        hdr[4 * i] = (unsigned char)(v[i] >> 24);
        hdr[4 * i + 1] = (unsigned char)(v[i] >> 16);
        hdr[4 * i + 2] = (unsigned char)(v[i] >> 8);
        hdr[4 * i + 3] = (unsigned char)v[i];
    }
    size_t hbytes = 4 + 4 * (size_t)ndim;
    if (gz) {
        gzFile g = gzopen(path, "wb6");
        if (!g) ddm_die("%s: cannot create: %s", path, strerror(errno));
        if (gzwrite(g, hdr, (unsigned)hbytes) != (int)hbytes) ddm_die("%s: write failed", path);
        for (size_t off = 0; off < n;) {
            unsigned c = n - off > (1u << 24) ? (1u << 24) : (unsigned)(n - off);
            if (gzwrite(g, data + off, c) != (int)c) ddm_die("%s: write failed", path);
            off += c;
        }
        if (gzclose_w(g) != Z_OK) ddm_die("%s: write failed", path);
    } else {
        FILE *f = fopen(path, "wb");
        if (!f) ddm_die("%s: cannot create: %s", path, strerror(errno));
        if (fwrite(hdr, 1, hbytes, f) != hbytes || fwrite(data, 1, n, f) != n || fclose(f) != 0)
            ddm_die("%s: write failed: %s", path, strerror(errno));
    }
}
