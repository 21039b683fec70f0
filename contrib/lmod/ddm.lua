-- Lmod modulefile for ddm (installed by 'make install', which fills in the prefix and
-- version). Put PREFIX/share/modulefiles on MODULEPATH, then 'module load ddm'.
-- ddm links against Open MPI, parallel HDF5, OpenBLAS, ScaLAPACK and libpng: load the
-- site's modules for them first if they are not system packages.
whatis("Name: ddm")
whatis("Version: @VERSION@")
whatis("Description: denoising diffusion models as MPI batch jobs (train, sample, evaluate) with Slurm scripts")
help([[
ddm @VERSION@: train and sample denoising diffusion models on MPI ranks.
  ddm --help                          the commands
  $DDM_ROOT/share/ddm/slurm/pipeline.sh   train -> sample -> eval as Slurm jobs
  $DDM_ROOT/share/ddm/configs         configurations; $DDM_ROOT/share/ddm/models the shipped models
  $DDM_ROOT/share/ddm/README.md       the manual
]])
local root = "@PREFIX@"
setenv("DDM_ROOT", root)
setenv("DDM", pathJoin(root, "bin", "ddm"))
prepend_path("PATH", pathJoin(root, "bin"))
prepend_path("PATH", pathJoin(root, "share", "ddm", "slurm"))
