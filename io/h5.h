/* HDF5 helpers shared by every ddm file kind. Serial API: parallel access is the
 * caller's choice of file-access and transfer property lists (made in mpi/), so io/
 * itself never calls MPI. Every call is checked; a failure dies naming the file. */
#ifndef DDM_H5_H
#define DDM_H5_H

#include <hdf5.h>
#include <stdint.h>

#include "core/common.h"

#define DDM_FORMAT_VERSION 1

/* H5OK(call) (HDF5 itself owns the name H5CHECK): an HDF5 call returning herr_t/hid_t that must not be negative */
#define H5OK(call) \
    do { if ((call) < 0) ddm_die_at(__FILE__, __LINE__, "HDF5 call failed: %s", #call); } while (0)

/* Turn off HDF5's own error-stack printing: ddm prints one clear line instead. */
void h5_quiet(void);

/* Open an existing file (H5F_ACC_RDONLY or H5F_ACC_RDWR) with fapl (H5P_DEFAULT for
 * serial). Dies with "PATH: no such file" / "PATH: not an HDF5 file (or truncated)". */
hid_t h5_open(const char *path, unsigned flags, hid_t fapl);
/* Same, but returns a negative id instead of dying. */
hid_t h5_try_open(const char *path, unsigned flags, hid_t fapl);
/* Property lists (shared, never closed) that leave out HDF5's modification times, so that
 * two runs writing the same data write the same bytes. h5_create uses them. */
hid_t h5_untimed_gcpl(void);
hid_t h5_untimed_dcpl(void);

/* Create (truncate) a file; dies with "PATH: cannot create: <reason>". */
hid_t h5_create(const char *path, hid_t fapl);
void h5_close(hid_t file);

/* Mark a file: attributes kind (string) and format_version (int). */
void h5_set_kind(hid_t file, const char *kind);
/* Dies unless the file has attribute kind == want and format_version == DDM_FORMAT_VERSION:
 * "PATH: is a ddm 'checkpoint' file, expected a 'dataset' file". */
void h5_require_kind(hid_t file, const char *path, const char *want);
/* The file's kind attribute (malloc'd), or NULL when there is none. */
char *h5_get_kind(hid_t file);

/* Attributes on any object (file, group or dataset). */
void h5_attr_set_str(hid_t obj, const char *name, const char *value);
void h5_attr_set_i64(hid_t obj, const char *name, int64_t value);
void h5_attr_set_f64(hid_t obj, const char *name, double value);
void h5_attr_set_bytes(hid_t obj, const char *name, const void *data, size_t n); /* uint8 [n] */
int h5_attr_exists(hid_t obj, const char *name);
/* Readers return 1 when found (value stored), 0 when absent; wrong type dies. */
int h5_attr_get_str(hid_t obj, const char *name, char **value); /* malloc'd */
int h5_attr_get_i64(hid_t obj, const char *name, int64_t *value);
int h5_attr_get_f64(hid_t obj, const char *name, double *value);
int h5_attr_get_bytes(hid_t obj, const char *name, void *data, size_t n); /* size must match */

/* Whole-dataset float32 I/O (small tensors: weights, statistics). Groups in name are
 * created as needed ("model/conv_in.weight" makes group "model"). Written as one chunk
 * with a Fletcher32 checksum (below 2 GB); a read whose checksum fails names the dataset. */
void h5_write_f32(hid_t loc, const char *name, const float *x, int ndim, const hsize_t *dims);
void h5_write_f64(hid_t loc, const char *name, const double *x, int ndim, const hsize_t *dims);
/* Reads a float dataset into x; its shape must have ndim dims equal to dims (dies naming
 * path, dataset, and both shapes otherwise). path is only for messages. */
void h5_read_f32(hid_t loc, const char *path, const char *name, float *x, int ndim,
                 const hsize_t *dims);
void h5_read_f64(hid_t loc, const char *path, const char *name, double *x, int ndim,
                 const hsize_t *dims);
/* Dies naming the file of loc, the dataset and the reason (no space left, quota, errno):
 * what = "create" or "write". */
void h5_die_write(hid_t loc, const char *name, const char *what) __attribute__((noreturn));
/* Does dataset d carry HDF5's Fletcher32 checksum filter? (h5_write_f32/f64 add it, as do
 * dataset and samples images: a damaged byte is then an error on reading.) */
int h5_has_checksum(hid_t d);
/* Shape of a dataset: returns its rank (<= 8) and fills dims; -1 when absent. */
int h5_shape(hid_t loc, const char *name, hsize_t dims[8]);
int h5_exists(hid_t loc, const char *path); /* link exists (intermediate groups checked) */

/* Sort the objects names[0..n) of loc by the address of their object headers, which the
 * HDF5 allocator hands out in creation order (ties and unreadable ones: by name). A
 * fallback for files that do not record their creation order. */
void h5_order_by_address(hid_t loc, char **names, int n);
/* Sort names[0..n) by key[i] ascending, ties by name (keys move with their names). */
void h5_sort_names(char **names, int64_t *key, int n);

/* Create intermediate groups of a "a/b/c" path (not the last component). */
void h5_make_parents(hid_t loc, const char *name);

/* Write to PATH.tmp-PID, fsync, rename over PATH: io/fsio.h's fsio_tmp_name and
 * fsio_commit under the names HDF5 writers know. */
char *h5_tmp_name(const char *path);           /* malloc'd */
void h5_commit_tmp(const char *tmp, const char *path); /* fsync + rename + fsync dir */

#endif
