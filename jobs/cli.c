/* Command-line options: a CliOpt table read through the option tables of core/opt.c. */
#include "jobs/cli.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

int cli_quiet = 0;

/* The OptSpec row of o: the value lives at o->dst (offset 0). long and float values are
 * parsed as int64_t / double into a temporary and stored by cli_set. */
static OptSpec cli_row(const CliOpt *o)
{
    OptSpec r;
    memset(&r, 0, sizeof r);
    r.name = o->name;
    r.meta = o->meta ? o->meta : "VALUE";
    r.help = o->help;
    r.required = o->required;
    switch (o->kind) {
    case CLI_STR:
        r.type = OPT_STR;
        break;
    case CLI_INT:
        r.type = OPT_INT;
        break;
    case CLI_LONG:
        r.type = OPT_I64;
        r.min = (double)LONG_MIN;
        r.max = (double)LONG_MAX;
        break;
    case CLI_FLOAT:
    case CLI_DOUBLE:
        r.type = OPT_F64;
        break;
    case CLI_FLAG:
        r.type = OPT_FLAG;
        break;
    case CLI_MULTI:
        r.type = OPT_MULTI;
        break;
    }
    return r;
}

/* The rows of opts, ended by a NULL name (caller frees). */
static OptSpec *cli_rows(const CliOpt *opts, int *n)
{
    int k = 0;
    while (opts[k].name) k++;
    OptSpec *rows = xcalloc((size_t)k + 1, sizeof *rows);
    for (int i = 0; i < k; i++) rows[i] = cli_row(&opts[i]);
    *n = k;
    return rows;
}

void cli_print_help(const char *cmd, const char *synopsis, const char *description,
                    const CliOpt *opts)
{
    if (cli_quiet) return;
    printf("usage: ddm %s %s\n\n%s\n\noptions:\n", cmd, synopsis, description);
    int n;
    OptSpec *rows = cli_rows(opts, &n);
    opt_print_help(stdout, rows, n, "--");
    free(rows);
    printf("  %-26s %s\n", "--help", "print this help and exit");
}

/* Store val into o's destination; a bad value ends the process. */
static void cli_set(const char *cmd, const CliOpt *o, const OptSpec *row, const char *val)
{
    int64_t l = 0;
    double d = 0;
    void *base = o->kind == CLI_LONG ? (void *)&l : o->kind == CLI_FLOAT ? (void *)&d : o->dst;
    char err[256], wb[160];
    if (opt_set(row, base, val, err, sizeof err))
        ddm_die("ddm %s: --%s wants %s, not '%s'", cmd, o->name, opt_want(row, wb, sizeof wb),
                val);
    if (o->kind == CLI_LONG) *(long *)o->dst = (long)l;
    if (o->kind == CLI_FLOAT) {
        if (fabs(d) > FLT_MAX)
            ddm_die("ddm %s: --%s %s: beyond the range of a float (%g)", cmd, o->name, val,
                    (double)FLT_MAX);
        *(float *)o->dst = (float)d;
    }
}

int cli_parse(const char *cmd, const char *synopsis, const char *description,
              const CliOpt *opts, int argc, char **argv, int *npos, char ***pos)
{
    char **p = xcalloc((size_t)argc + 1, sizeof(char *));
    int np = 0, nrows;
    OptSpec *rows = cli_rows(opts, &nrows);
    int *seen = xcalloc((size_t)nrows + 1, sizeof(int));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd, synopsis, description, opts);
            free(p);
            free(seen);
            free(rows);
            if (npos) *npos = 0;
            if (pos) *pos = NULL;
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            p[np++] = argv[i];
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        char *key = xmalloc(len + 1);
        memcpy(key, name, len);
        key[len] = '\0';
        const OptSpec *row = opt_find(rows, nrows, NULL, key);
        free(key);
        if (!row)
            ddm_die("ddm %s: unknown option '%.*s' (see 'ddm %s --help')", cmd, (int)len + 2, a,
                    cmd);
        int idx = (int)(row - rows);
        const CliOpt *o = &opts[idx];
        seen[idx] = 1;
        if (o->kind == CLI_FLAG) {
            if (eq) ddm_die("ddm %s: --%s takes no value", cmd, o->name);
            cli_set(cmd, o, row, NULL);
            continue;
        }
        const char *val;
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else ddm_die("ddm %s: --%s needs a value (%s)", cmd, o->name, o->meta ? o->meta : "VALUE");
        cli_set(cmd, o, row, val);
    }
    for (int i = 0; i < nrows; i++)
        if (opts[i].required && !seen[i])
            ddm_die("ddm %s: --%s %s is required (see 'ddm %s --help')", cmd, opts[i].name,
                    opts[i].meta ? opts[i].meta : "VALUE", cmd);
    free(seen);
    free(rows);
    if (npos) *npos = np;
    if (pos) *pos = p;
    else free(p);
    return 0;
}

void cli_multi_free(CliMulti *m) { opt_multi_free(m); }
