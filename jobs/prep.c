/* PLACEHOLDER until the job is written: replace this whole file. */
#include <stdio.h>
#include "jobs/jobs.h"
int job_prep(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "ddm: error: 'prep' is not built yet\n");
    return 2;
}
