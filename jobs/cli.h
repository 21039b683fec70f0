/* Table-driven option parsing for the subcommands: --name VALUE or --name=VALUE,
 * --help prints every option with its default and unit. Each CliOpt is read as an
 * option-table row (core/opt.h) over its dst: values, checks and help lines are those of
 * every other option of ddm. Names match with '-' and '_' the same. */
#ifndef DDM_CLI_H
#define DDM_CLI_H

#include "core/opt.h"

typedef enum { CLI_STR, CLI_INT, CLI_LONG, CLI_FLOAT, CLI_DOUBLE, CLI_FLAG, CLI_MULTI } CliKind;

typedef struct {
    const char *name;  /* without the leading dashes */
    CliKind kind;
    void *dst;         /* char** / int* / long* / float* / double* / int* (flag) / CliMulti* */
    const char *meta;  /* value placeholder for --help, e.g. "FILE.h5" */
    const char *help;  /* one line; say the default and the unit */
    int required;
} CliOpt;

/* A repeatable option (e.g. --set key=value) collects its values here (the strings
 * point into argv). */
typedef OptMulti CliMulti;

/* Parses argv[1..] (argv[0] is the subcommand). Positional arguments are returned in
 * pos (npos of them; caller frees pos). Returns 0 when the job should run, 1 when --help
 * was printed (exit 0). Bad options end the process with a clear error (ddm_die). */
int cli_parse(const char *cmd, const char *synopsis, const char *description,
              const CliOpt *opts, int argc, char **argv, int *npos, char ***pos);
void cli_print_help(const char *cmd, const char *synopsis, const char *description,
                    const CliOpt *opts);
void cli_multi_free(CliMulti *m);

/* Only rank 0 prints help text; others set this. */
extern int cli_quiet;

#endif
