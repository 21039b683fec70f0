# Spack package recipe for ddm. Copy this folder into a Spack repository
# (spack repo create ...; cp -r contrib/spack/ddm <repo>/packages/) and 'spack install ddm'.
# The build is the project's Makefile: CC=mpicc, dependencies found through pkg-config.
from spack.package import *


class Ddm(MakefilePackage):
    """Denoising diffusion models as MPI batch jobs: data-parallel training, a sampling farm
    over seeds and samplers, and evaluation (FID on ScaLAPACK), with Slurm scripts."""

    homepage = "https://example.invalid/ddm"
    git = "https://example.invalid/ddm.git"

    maintainers("ddm-developers")
    license("UNKNOWN")

    version("main", branch="main")

    depends_on("c", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("mpi")
    depends_on("hdf5+mpi")
    depends_on("openblas")
    depends_on("netlib-scalapack")
    depends_on("libpng")
    depends_on("zlib-api")
    depends_on("gnuplot", type="run")  # plots of ddm eval and training curves (optional)

    def edit(self, spec, prefix):
        pass

    @property
    def build_targets(self):
        spec = self.spec
        return [
            "bin/ddm",
            f"CC={spec['mpi'].mpicc}",
            f"HDF5_CFLAGS=-I{spec['hdf5'].prefix.include}",
            f"HDF5_LIBS={spec['hdf5'].libs.ld_flags}",
            f"BLAS_LIBS={spec['openblas'].libs.ld_flags}",
            f"SCALAPACK_LIBS={spec['netlib-scalapack'].libs.ld_flags}",
            f"PNG_CFLAGS=-I{spec['libpng'].prefix.include}",
            f"PNG_LIBS={spec['libpng'].libs.ld_flags}",
        ]

    @property
    def install_targets(self):
        return ["install", f"PREFIX={self.prefix}"]
