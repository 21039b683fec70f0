#define _GNU_SOURCE
#include "io/npz.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/common.h"
#include "io/fsio.h"

#define NPZ_MAX_MEMBERS 8

struct NpzWriter {
    FILE *f;
    char *tmp;
    const char *path; /* for messages: the final name */
    int force64;
    /* members written so far, for the central directory */
    struct {
        char name[32];
        uint64_t size, offset;
        uint32_t crc;
    } m[NPZ_MAX_MEMBERS];
    int nm;
    uint16_t dos_time, dos_date;
    uint32_t crc;
    uint64_t member_start;
};
typedef struct NpzWriter Zip;

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

NpzWriter *npz_open(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ddm_die("%s: is a folder", path);
    Zip *z = xcalloc(1, sizeof *z);
    z->path = xstrdup(path);
    const char *f64 = getenv("DDM_NPZ_ZIP64");
    z->force64 = f64 && *f64 && strcmp(f64, "0") != 0;
    z->tmp = fsio_tmp_name(path);
    z->f = fopen(z->tmp, "wb");
    if (!z->f) ddm_die("%s: cannot create: %s", path, strerror(errno));
    fsio_track_created(z->tmp); /* removed if the process dies before npz_close */
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    z->dos_time = (uint16_t)(tmv.tm_hour << 11 | tmv.tm_min << 5 | tmv.tm_sec / 2);
    z->dos_date = (uint16_t)((tmv.tm_year - 80) << 9 | (tmv.tm_mon + 1) << 5 | tmv.tm_mday);
    return z;
}

void npz_begin_array(NpzWriter *z, const char *name, const char *descr, int nd,
                     const size_t *shape, size_t itemsize)
{
    DDM_ASSERT(z->nm < NPZ_MAX_MEMBERS, "npz: more than %d members", NPZ_MAX_MEMBERS);
    char hdr[256], member[32];
    size_t hl = npy_header(hdr, sizeof hdr, descr, nd, shape);
    uint64_t n = itemsize;
    for (int i = 0; i < nd; i++) n *= shape[i];
    snprintf(member, sizeof member, "%s.npy", name);
    zip_begin_member(z, member, hl + n);
    put_data(z, hdr, hl);
}

void npz_write(NpzWriter *z, const void *data, size_t bytes) { put_data(z, data, bytes); }
void npz_end_array(NpzWriter *z) { zip_end_member(z); }

void npz_close(NpzWriter *z)
{
    zip_finish(z);
    if (fflush(z->f) != 0 || ferror(z->f)) ddm_die("%s: write failed: %s", z->path, strerror(errno));
    if (fclose(z->f) != 0) ddm_die("%s: write failed: %s", z->path, strerror(errno));
    fsio_commit(z->tmp, z->path);
    free(z->tmp);
    free((char *)z->path);
    free(z);
}
