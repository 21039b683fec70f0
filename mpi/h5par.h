/* Parallel HDF5 property lists: the MPI-IO file driver on the ranks' communicator and
 * collective / independent transfers. io/ takes these as fapl/dxpl arguments, so io/
 * itself never calls MPI; the same io/ code runs serially with H5P_DEFAULT.
 *
 * Rules of parallel HDF5 the callers must follow (all met by io/samples and mpi/shard):
 *  - file create/open/close, dataset/group/attribute create and every attribute write
 *    are collective: every rank calls them, with the same arguments and values;
 *  - with a collective dxpl every rank calls H5Dread/H5Dwrite, a rank with nothing to
 *    move joins with H5Sselect_none;
 *  - an MPI-IO file closes only when all its objects are closed (fclose degree "semi"). */
#ifndef DDM_H5PAR_H
#define DDM_H5PAR_H

#include <hdf5.h>

/* File access: H5Pset_fapl_mpio(g_dist.comm, MPI_INFO_NULL). Close with h5par_close. */
hid_t h5par_fapl(void);
/* Transfer: H5FD_MPIO_COLLECTIVE, or H5FD_MPIO_INDEPENDENT. Close with h5par_close. */
hid_t h5par_dxpl_collective(void);
hid_t h5par_dxpl_independent(void);
void h5par_close(hid_t plist);

/* Whether path exists, decided on rank 0 and broadcast: every rank takes the same branch
 * (create vs open) even while rank 0 is already creating the file. */
int h5par_exists(const char *path);

#endif
