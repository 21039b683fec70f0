/* ddm info FILE.h5: say what any ddm HDF5 file holds (io/describe.h). Runs on rank 0;
 * under mpirun the other ranks wait. */
#include <stdio.h>
#include <stdlib.h>

#include "core/common.h"
#include "io/describe.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

static const char SYNOPSIS[] = "FILE.h5 [--all]";
static const char DESCRIPTION[] =
    "Say what a ddm HDF5 file holds: its kind and format_version, every root attribute, every\n"
    "dataset with dtype and shape (summarized per group when there are many), and for a\n"
    "dataset file the images per class and pixel mean/std, for a samples file how many rows\n"
    "are done. Works on any HDF5 file.";

int job_info(int argc, char **argv)
{
    if (!dist_root_only(&argc, &argv)) return 0;
    int all = 0, npos = 0;
    char **pos = NULL;
    const CliOpt opts[] = {
        {"all", CLI_FLAG, &all, NULL, "list every dataset, however many; default: summarize groups of many", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("info", SYNOPSIS, DESCRIPTION, opts, argc, argv, &npos, &pos)) return dist_finish(0);
    if (npos != 1) ddm_die("ddm info: give one file (see 'ddm info --help')");
    describe_file(pos[0], all);
    free(pos);
    return dist_finish(0);
}
