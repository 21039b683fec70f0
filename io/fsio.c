/* Crash-safe file helpers (io/fsio.h). */
#define _DEFAULT_SOURCE
#include "io/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"

/* ---- the registry of created files ------------------------------------------------ */

static char **g_created;
static int g_ncreated, g_capcreated;

static void (*g_chained)(void); /* a job's own hook that was there before ours */

static void fsio_cleanup(void)
{
    /* files first, then folders (rmdir: only when empty, i.e. nothing else was put there) */
    for (int i = 0; i < g_ncreated; i++) unlink(g_created[i]);
    for (int i = 0; i < g_ncreated; i++) rmdir(g_created[i]);
    if (g_chained) g_chained();
}

void fsio_track_created(const char *path)
{
    for (int i = 0; i < g_ncreated; i++)
        if (!strcmp(g_created[i], path)) return;
    if (g_ncreated == g_capcreated) {
        g_capcreated = g_capcreated * 2 + 4;
        g_created = xrealloc(g_created, sizeof(char *) * (size_t)g_capcreated);
    }
    g_created[g_ncreated++] = xstrdup(path);
    void (*h)(void) = ddm_cleanup_hook();
    if (h != fsio_cleanup) {
        g_chained = h;
        ddm_set_cleanup_hook(fsio_cleanup);
    }
}

void fsio_untrack(const char *path)
{
    for (int i = 0; i < g_ncreated; i++)
        if (!strcmp(g_created[i], path)) {
            free(g_created[i]);
            g_created[i] = g_created[--g_ncreated];
            return;
        }
}

/* ---- atomic replacement ------------------------------------------------------------- */

char *fsio_tmp_name(const char *path)
{
    size_t n = strlen(path) + 32;
    char *t = xmalloc(n);
    snprintf(t, n, "%s.tmp-%ld", path, (long)getpid());
    return t;
}

static void fsync_dir_of(const char *path)
{
    char *d = xstrdup(path);
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { /* best effort: some file systems refuse to sync a folder */
        fsync(dfd);
        close(dfd);
    }
    free(d);
}

void fsio_commit(const char *tmp, const char *path)
{
    int fd = open(tmp, O_RDONLY);
    if (fd < 0) ddm_die("%s: cannot reopen to sync: %s", tmp, strerror(errno));
    if (fsync(fd) != 0) ddm_die("%s: fsync failed: %s", tmp, strerror(errno));
    close(fd);
    if (rename(tmp, path) != 0) ddm_die("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    fsio_untrack(tmp);
    fsync_dir_of(path);
}

char *fsio_claim_tmp(const char *path)
{
    struct stat ost;
    if (stat(path, &ost) == 0 && S_ISDIR(ost.st_mode)) ddm_die("%s: is a folder, expected a file name", path);
    char *tmp = fsio_tmp_name(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        char *d = xstrdup(path), *slash = strrchr(d, '/');
        if (slash) *slash = '\0';
        if (e == ENOENT && slash && slash != d && stat(d, &st) != 0)
            ddm_die("%s: cannot create: folder %s does not exist", path, d);
        ddm_die("%s: cannot create: %s", path, strerror(e));
    }
    close(fd);
    fsio_track_created(tmp);
    return tmp;
}

/* write all of data to fd; 0 on success, else errno */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

void fsio_write_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = fsio_tmp_name(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) ddm_die("%s: cannot create: %s", path, strerror(errno));
    fsio_track_created(tmp);
    int e = write_all(fd, data, len);
    if (e) ddm_die("%s: write failed: %s", path, strerror(e));
    if (fsync(fd) != 0) ddm_die("%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0) ddm_die("%s: write failed: %s", path, strerror(errno));
    if (rename(tmp, path) != 0) ddm_die("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    fsio_untrack(tmp);
    fsync_dir_of(path);
    free(tmp);
}

void fsio_append_line(const char *path, const char *line)
{
    size_t l = strlen(line);
    int nl = l == 0 || line[l - 1] != '\n';
    char *buf = xmalloc(l + 2);
    memcpy(buf, line, l);
    if (nl) buf[l++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) ddm_die("%s: cannot append: %s", path, strerror(errno));
    int e = write_all(fd, buf, l);
    if (e) ddm_die("%s: write failed: %s", path, strerror(e));
    if (fsync(fd) != 0) ddm_die("%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0) ddm_die("%s: write failed: %s", path, strerror(errno));
    free(buf);
}

/* ---- folders ---------------------------------------------------------------------------- */

void fsio_mkdir_p(const char *dir)
{
    if (!dir[0]) ddm_die("an empty folder name was given");
    char *p = xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char keep = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            ddm_die("%s: cannot create folder %s: %s", dir, p, strerror(errno));
        *s = keep;
        if (!keep) break;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) ddm_die("%s: is not a folder", dir);
    if (access(dir, W_OK) != 0) ddm_die("%s: folder is not writable: %s", dir, strerror(errno));
}

/* ---- names ------------------------------------------------------------------------------ */

char *fsio_abs_path(const char *p)
{
    char *r = realpath(p, NULL);
    if (!r) ddm_die("%s: %s", p, strerror(errno));
    return r;
}

char *fsio_dir_of(const char *path)
{
    char *d = xstrdup(path);
    char *r = xstrdup(dirname(d));
    free(d);
    return r;
}

char *fsio_strip_suffix(const char *path, const char *suffix)
{
    char *s = xstrdup(path);
    size_t l = strlen(s), k = strlen(suffix);
    if (l > k && strcmp(s + l - k, suffix) == 0) s[l - k] = '\0';
    return s;
}

int fsio_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void fsio_refuse_overwrite(const char *who, const char *out, const char *input, const char *what)
{
    if (input && fsio_same_file(out, input))
        ddm_die("%s: --out %s is also %s (%s): it would be overwritten; write elsewhere", who, out, what,
                input);
}
