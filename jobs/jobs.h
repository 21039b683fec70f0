/* One function per subcommand; argv[0] is the subcommand name. Each returns the process
 * exit status. jobs/ wires modules together and holds no math. */
#ifndef DDM_JOBS_H
#define DDM_JOBS_H

int job_prep(int argc, char **argv);
int job_train(int argc, char **argv);
int job_sample(int argc, char **argv);
int job_encode(int argc, char **argv);
int job_eval(int argc, char **argv);
int job_info(int argc, char **argv);
int job_export(int argc, char **argv);
int job_merge(int argc, char **argv);

#endif
