/* Files that must never be left half-written: one registry of files this process created
 * and must delete if it dies, atomic replacement (temporary + fsync + rename + fsync of
 * the folder), fsynced appends of whole lines, and folder creation.
 * Every function dies naming the file and the problem (ddm_die). */
#ifndef DDM_FSIO_H
#define DDM_FSIO_H

#include <stddef.h>

/* Remember a file this process created: if the process dies (ddm_die and friends) before
 * fsio_untrack(path), it is deleted (a folder: removed when empty). Any number of paths; the same path twice is kept once.
 * Installs the cleanup through ddm_set_cleanup_hook; a hook a job set before is chained
 * (run after ours), one set afterwards replaces ours: use this registry instead. */
void fsio_track_created(const char *path);
/* Forget path (it was committed or removed): a later death leaves it alone. */
void fsio_untrack(const char *path);

/* "PATH.tmp-PID" (malloc'd): the temporary name of an atomic replacement of PATH. */
char *fsio_tmp_name(const char *path);
/* fsync tmp, rename it over path (and untrack tmp), fsync path's folder. Dies on failure. */
void fsio_commit(const char *tmp, const char *path);

/* Create (empty) and track the temporary of an atomic replacement of path, before any
 * long work, so that an unwritable output fails first: dies "PATH: is a folder, expected a
 * file name", "PATH: cannot create: folder DIR does not exist" or "PATH: cannot create:
 * <reason>". Returns its name (malloc'd); fsio_commit it at the end. */
char *fsio_claim_tmp(const char *path);

/* Replace path by data[0..len) atomically: readers see the old file or the new one. */
void fsio_write_atomic(const char *path, const void *data, size_t len);
/* Append line (plus '\n' unless it ends in one) to path, created if missing, with one
 * write(2) and an fsync: a crash leaves whole lines (metrics.jsonl, results.jsonl). */
void fsio_append_line(const char *path, const char *line);

/* Create dir and its missing parents (mode 0777 less the umask); dies unless dir then is a writable
 * folder: "DIR: cannot create folder PART: <reason>". */
void fsio_mkdir_p(const char *dir);

/* File names. realpath of p (malloc'd); dies "P: <reason>" when it does not exist. */
char *fsio_abs_path(const char *p);
/* 1 when both paths name one existing file (the same device and inode: links, "./x",
 * other spellings), else 0. */
int fsio_same_file(const char *a, const char *b);
/* Dies "WHO: --out X is also INPUT_WHAT (Y): it would be overwritten" when out names the
 * same existing file as input (NULL inputs are skipped). */
void fsio_refuse_overwrite(const char *who, const char *out, const char *input, const char *what);
/* The folder part of path, as dirname(3) (malloc'd). */
char *fsio_dir_of(const char *path);
/* path without a trailing suffix (".h5"), malloc'd; unchanged when it does not end so. */
char *fsio_strip_suffix(const char *path, const char *suffix);

#endif
