/* bin/ddm: one binary, one subcommand per job (../shared/DESIGN.md). */
#include <stdio.h>
#include <string.h>

#include "core/blascore.h"
#include "core/common.h"
#include "jobs/jobs.h"

typedef struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} Job;

static const Job JOBS[] = {
    {"prep", job_prep, "import a dataset (fashion-mnist, idx:, png-dir:) into dataset HDF5"},
    {"train", job_train, "train a diffusion model (or the eval classifier) on P ranks"},
    {"sample", job_sample, "the sampling farm: seeds x samplers into one samples HDF5"},
    {"encode", job_encode, "images to the latents of a deterministic sampler (DDIM / ODE inversion)"},
    {"eval", job_eval, "score samples against a reference (FID, KID, IS, precision/recall)"},
    {"info", job_info, "say what a ddm HDF5 file holds"},
    {"export", job_export, "write samples as PNGs or an .npz for other tools"},
    {"merge", job_merge, "merge samples files of a job array into one"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ddm COMMAND [options]   (ddm COMMAND --help for its options)\n\n"
               "Trains and samples denoising diffusion models as batch jobs; every command\n"
               "runs the same under mpirun -n P, srun, or plainly with one rank.\n\ncommands:\n");
    for (const Job *j = JOBS; j->name; j++) fprintf(f, "  %-8s %s\n", j->name, j->what);
    fprintf(f, "\nddm %s\n", DDM_VERSION);
}

int main(int argc, char **argv)
{
    blascore_pin(argv); /* may start this program again with OPENBLAS_CORETYPE set */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ddm %s (OpenBLAS kernels: %s)\n", DDM_VERSION, blascore_name());
        return 0;
    }
    for (const Job *j = JOBS; j->name; j++)
        if (!strcmp(argv[1], j->name)) return j->run(argc - 1, argv + 1);
    fprintf(stderr, "ddm: error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
