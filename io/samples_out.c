/* The output side of the sampling farm (see samples_out.h). */
#define _GNU_SOURCE
#include "io/samples_out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "io/fsio.h"
#include "io/h5.h"

void samples_check_out(const char *out)
{
    char *dir = fsio_dir_of(out);
    struct stat st;
    if (stat(dir, &st) != 0) ddm_die("--out %s: folder %s does not exist", out, dir);
    if (!S_ISDIR(st.st_mode)) ddm_die("--out %s: %s is not a folder", out, dir);
    /* try it (access() says yes to root on folders nobody can write to) */
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/.ddm-sample-probe-%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) ddm_die("--out %s: folder %s is not writable: %s", out, dir, strerror(errno));
    close(fd);
    unlink(probe);
    free(dir);
    if (stat(out, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) ddm_die("--out %s: is a folder, want a file name", out);
    /* an existing file must be a samples file: io/samples checks the rest */
    hid_t f = h5_try_open(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) ddm_die("%s: exists and is not an HDF5 file (or is truncated); use another --out", out);
    char *kind = h5_get_kind(f);
    h5_close(f);
    if (!kind || strcmp(kind, "samples"))
        ddm_die("%s: exists and is %s%s%s, not a samples file; use another --out", out,
                kind ? "a ddm '" : "not a ddm file", kind ? kind : "", kind ? "' file" : "");
    free(kind);
    if (access(out, W_OK) != 0) ddm_die("%s: exists and is not writable", out);
}

void samples_pending_add(SamplesPending *p, const int64_t *rows, const uint8_t *img,
                         const int32_t *lab, size_t n, size_t D)
{
    p->D = D;
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 64;
        while (cap < p->n + n) cap *= 2;
        p->rows = xrealloc(p->rows, cap * sizeof *p->rows);
        p->img = xrealloc(p->img, cap * D);
        p->lab = xrealloc(p->lab, cap * sizeof *p->lab);
        p->cap = cap;
    }
    memcpy(p->rows + p->n, rows, n * sizeof *rows);
    memcpy(p->img + p->n * D, img, n * D);
    memcpy(p->lab + p->n, lab, n * sizeof *lab);
    p->n += n;
}

void samples_pending_flush(SamplesPending *p, SamplesGroup *g)
{
    samples_write_rows(g, p->rows, p->n, p->img, p->lab);
    p->n = 0;
}

void samples_pending_free(SamplesPending *p)
{
    free(p->rows);
    free(p->img);
    free(p->lab);
    memset(p, 0, sizeof *p);
}
