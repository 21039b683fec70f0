/* OpenBLAS's kernels for this CPU. Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its
 * kernels by CPU model; a model newer than the library (e.g. Sapphire Rapids) falls back to
 * the generic "Prescott" kernels (SSE3): sgemm measured 27.6 GFLOP/s there against 145.8
 * with the SkylakeX kernels on the same core (`OPENBLAS_VERBOSE=2 bin/bench/bench_unet
 * sgemm --threads 1`, with and without OPENBLAS_CORETYPE=SkylakeX). The choice is made when
 * the library loads, from OPENBLAS_CORETYPE, so it can only be changed by starting again. */
#ifndef DDM_BLASCORE_H
#define DDM_BLASCORE_H

/* When OpenBLAS fell back to Prescott and OPENBLAS_CORETYPE is unset: set it from the CPU's
 * features (AVX-512 F/BW/DQ/VL: SkylakeX; AVX2 + FMA: Haswell) and exec this program again
 * with the same arguments (before MPI is initialised; on failure it goes on as it is). A
 * user's OPENBLAS_CORETYPE is never overridden. Call first thing in main. */
void blascore_pin(char **argv);
/* the kernels in use ("SkylakeX", "Haswell", "Prescott", ...) */
const char *blascore_name(void);

#endif
