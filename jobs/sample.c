/* PLACEHOLDER until the job is written: replace this whole file. */
#include <stdio.h>
#include "jobs/jobs.h"
int job_sample(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "ddm: error: 'sample' is not built yet\n");
    return 2;
}
