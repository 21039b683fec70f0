#include "mpi/h5par.h"

#include <unistd.h>

#include "core/common.h"
#include "io/h5.h"
#include "mpi/dist.h"

/* dist_init may not have run (a test of io/ alone under MPI): fall back to the world. */
static MPI_Comm comm(void) { return g_dist.comm != MPI_COMM_NULL ? g_dist.comm : MPI_COMM_WORLD; }

hid_t h5par_fapl(void)
{
    hid_t p = H5Pcreate(H5P_FILE_ACCESS);
    H5OK(p);
    H5OK(H5Pset_fapl_mpio(p, comm(), MPI_INFO_NULL));
    /* metadata writes by all ranks collectively (fewer, larger writes); collective
     * metadata READS are not switched on: they would require every rank to make every
     * metadata read, which attribute helpers called on one rank would break */
    H5OK(H5Pset_coll_metadata_write(p, 1));
    return p;
}

static hid_t dxpl(H5FD_mpio_xfer_t mode)
{
    hid_t p = H5Pcreate(H5P_DATASET_XFER);
    H5OK(p);
    H5OK(H5Pset_dxpl_mpio(p, mode));
    return p;
}

hid_t h5par_dxpl_collective(void) { return dxpl(H5FD_MPIO_COLLECTIVE); }
hid_t h5par_dxpl_independent(void) { return dxpl(H5FD_MPIO_INDEPENDENT); }

void h5par_close(hid_t plist)
{
    if (plist >= 0 && plist != H5P_DEFAULT) H5OK(H5Pclose(plist));
}

int h5par_exists(const char *path)
{
    int e = 0, rank = 0, size = 1;
    MPICHECK(MPI_Comm_rank(comm(), &rank));
    MPICHECK(MPI_Comm_size(comm(), &size));
    if (rank == 0) e = access(path, F_OK) == 0;
    if (size > 1) MPICHECK(MPI_Bcast(&e, 1, MPI_INT, 0, comm()));
    return e;
}
