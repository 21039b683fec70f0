/* Writing NumPy .npz files: a zip archive of stored (uncompressed) members, as
 * numpy.savez writes it, each an .npy v1.0 file (magic, version, header length, a Python
 * dict literal padded to a multiple of 64 bytes, then the raw data). Members are streamed
 * (any size: ZIP64 records past 4 GiB; DDM_NPZ_ZIP64=1 forces them, for tests). The file
 * is written to PATH.tmp-PID and renamed when closed; a fatal error on the way removes
 * the temporary (cleanup hook), so no half-written .npz is ever left under PATH. */
#ifndef DDM_NPZ_H
#define DDM_NPZ_H

#include <stddef.h>

typedef struct NpzWriter NpzWriter;

/* Dies with "PATH: is a folder" / "PATH: cannot create: reason". */
NpzWriter *npz_open(const char *path);
/* Start member NAME.npy holding a C-order array: descr is NumPy's ("|u1", "<i4", "<f8"),
 * shape has nd entries, itemsize the bytes per element. Exactly prod(shape)*itemsize
 * bytes must follow through npz_write before npz_end_array. */
void npz_begin_array(NpzWriter *w, const char *name, const char *descr, int nd,
                     const size_t *shape, size_t itemsize);
void npz_write(NpzWriter *w, const void *data, size_t bytes);
void npz_end_array(NpzWriter *w);
/* Central directory, fsync, rename to PATH; frees w. */
void npz_close(NpzWriter *w);

#endif
