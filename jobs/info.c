/* ddm info FILE.h5: say what any ddm HDF5 file holds (io/describe.h). Runs on rank 0;
 * under mpirun the other ranks wait. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/common.h"
#include "io/describe.h"
#include "io/runinfo.h"
#include "jobs/cli.h"
#include "jobs/jobs.h"
#include "mpi/dist.h"

static const char SYNOPSIS[] = "FILE.h5|RUN_DIR [--all] [--verify]";
static const char DESCRIPTION[] =
    "Say what a ddm HDF5 file holds: its kind and format_version, every root attribute, every\n"
    "dataset with dtype and shape (summarized per group when there are many), and for a\n"
    "dataset file the images per class and pixel mean/std, for a samples file how many rows\n"
    "are done. Works on any HDF5 file.\n"
    "A training run folder (ddm train --out RUN_DIR) is summed up instead: task, steps done of\n"
    "train.max_steps, the last and smoothed loss, speed and ETA, its checkpoints and EMA\n"
    "rates, resumes, and the Slurm jobs and requeues seen in metrics.jsonl; its curves.png\n"
    "(loss, learning rate, images/s against the step) is redrawn.";

int job_info(int argc, char **argv)
{
    if (!dist_root_only(&argc, &argv)) return 0;
    int all = 0, verify = 0, npos = 0;
    char **pos = NULL;
    const CliOpt opts[] = {
        {"all", CLI_FLAG, &all, NULL, "list every dataset, however many; default: summarize groups of many", 0},
        {"verify", CLI_FLAG, &verify, NULL, "read every dataset whole and check its Fletcher32 checksum (exit 1 when one is damaged)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    if (cli_parse("info", SYNOPSIS, DESCRIPTION, opts, argc, argv, &npos, &pos)) return dist_finish(0);
    if (npos != 1) ddm_die("ddm info: give one file (see 'ddm info --help')");
    struct stat st;
    if (stat(pos[0], &st) == 0 && S_ISDIR(st.st_mode)) {
        if (runinfo_describe(pos[0]))
            ddm_die("%s: a folder without config.ini: not a ddm train run folder", pos[0]);
        if (runinfo_curves(pos[0]) > 0) printf("  curves: %s/curves.png (redrawn now)\n", pos[0]);
    } else if (verify) {
        int bad = describe_verify(pos[0]);
        if (bad) {
            fflush(stdout);
            fprintf(stderr, "ddm: error: %s: %d damaged dataset%s\n", pos[0], bad, bad > 1 ? "s" : "");
        }
        free(pos);
        return dist_finish(bad ? 1 : 0);
    } else {
        describe_file(pos[0], all);
    }
    free(pos);
    return dist_finish(0);
}
