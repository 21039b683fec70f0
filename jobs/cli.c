#include "jobs/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

int cli_quiet = 0;

static const CliOpt *find_opt(const CliOpt *opts, const char *name, size_t len)
{
    for (const CliOpt *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

void cli_print_help(const char *cmd, const char *synopsis, const char *description,
                    const CliOpt *opts)
{
    if (cli_quiet) return;
    printf("usage: ddm %s %s\n\n%s\n\noptions:\n", cmd, synopsis, description);
    for (const CliOpt *o = opts; o->name; o++) {
        char left[64];
        if (o->kind == CLI_FLAG)
            snprintf(left, sizeof left, "--%s", o->name);
        else
            snprintf(left, sizeof left, "--%s %s", o->name, o->meta ? o->meta : "VALUE");
        printf("  %-26s %s%s\n", left, o->help, o->required ? " (required)" : "");
    }
    printf("  %-26s %s\n", "--help", "print this help and exit");
}

static void parse_value(const char *cmd, const CliOpt *o, const char *val)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CLI_STR:
        *(char **)o->dst = (char *)val;
        return;
    case CLI_INT: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < -2147483647L || v > 2147483647L)
            ddm_die("ddm %s: --%s wants a whole number, not '%s'", cmd, o->name, val);
        *(int *)o->dst = (int)v;
        return;
    }
    case CLI_LONG: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end)
            ddm_die("ddm %s: --%s wants a whole number, not '%s'", cmd, o->name, val);
        *(long *)o->dst = v;
        return;
    }
    case CLI_FLOAT:
    case CLI_DOUBLE: {
        double v = strtod(val, &end);
        if (errno || end == val || *end)
            ddm_die("ddm %s: --%s wants a number, not '%s'", cmd, o->name, val);
        if (o->kind == CLI_FLOAT) *(float *)o->dst = (float)v;
        else *(double *)o->dst = v;
        return;
    }
    case CLI_MULTI: {
        CliMulti *m = o->dst;
        m->v = xrealloc(m->v, sizeof(char *) * (size_t)(m->n + 1));
        m->v[m->n++] = (char *)val;
        return;
    }
    case CLI_FLAG:
        break;
    }
}

int cli_parse(const char *cmd, const char *synopsis, const char *description,
              const CliOpt *opts, int argc, char **argv, int *npos, char ***pos)
{
    char **p = xcalloc((size_t)argc + 1, sizeof(char *));
    int np = 0;
    int *seen = xcalloc(64, sizeof(int));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd, synopsis, description, opts);
            free(p);
            free(seen);
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
        const CliOpt *o = find_opt(opts, name, len);
        if (!o)
            ddm_die("ddm %s: unknown option '%.*s' (see 'ddm %s --help')", cmd, (int)len + 2, a,
                    cmd);
        int idx = (int)(o - opts);
        if (idx < 64) seen[idx] = 1;
        if (o->kind == CLI_FLAG) {
            if (eq) ddm_die("ddm %s: --%s takes no value", cmd, o->name);
            *(int *)o->dst = 1;
            continue;
        }
        const char *val;
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else ddm_die("ddm %s: --%s needs a value (%s)", cmd, o->name, o->meta ? o->meta : "VALUE");
        parse_value(cmd, o, val);
    }
    for (const CliOpt *o = opts; o->name; o++) {
        int idx = (int)(o - opts);
        if (o->required && idx < 64 && !seen[idx])
            ddm_die("ddm %s: --%s %s is required (see 'ddm %s --help')", cmd, o->name,
                    o->meta ? o->meta : "VALUE", cmd);
    }
    free(seen);
    if (npos) *npos = np;
    if (pos) *pos = p; else free(p);
    return 0;
}

void cli_multi_free(CliMulti *m)
{
    free(m->v);
    m->v = NULL;
    m->n = 0;
}
