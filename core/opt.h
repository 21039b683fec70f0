/* Option tables: ONE mechanism for every named value a user sets -- config keys
 * ([model] ch = 32), sampler options (eta = 0), sample-task options (t0 = 0.5) and
 * command-line options (--steps 10). A table row says the value's name, type, where it
 * lives in the struct the table describes, its default, unit and help; parsing,
 * validation, defaults, canonical text ("key=value") and --help all come from the rows.
 *
 * Errors are returned (0 / -1 with a one-line message in err), never fatal: the caller
 * knows the context (file:line, --set, setting [name]) and prefixes it.
 */
#ifndef DDM_OPT_H
#define DDM_OPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    OPT_INT,      /* int */
    OPT_I64,      /* int64_t */
    OPT_U64,      /* uint64_t */
    OPT_F64,      /* double (finite) */
    OPT_BOOL,     /* int 0|1, written "0"/"1" */
    OPT_CHOICE,   /* int: index of the value in choices "a|b|c" */
    OPT_STR,      /* char * pointing into the parsed text (not copied) */
    OPT_INT_LIST, /* int[], comma separated, entry count at count_offset */
    OPT_F64_LIST, /* double[], likewise */
    OPT_FLAG,     /* int set to 1 by a bare --name (command line only) */
    OPT_MULTI     /* OptMulti: a repeatable option collecting its values (--set) */
} OptType;

typedef struct {
    const char *section;  /* config keys: "model", "diffusion", "train"; NULL elsewhere */
    const char *name;     /* key or option name; in matching '-' and '_' are the same */
    OptType type;
    size_t offset;        /* of the value in the struct the table describes */
    size_t count_offset;  /* lists: of the int entry count; else 0 */
    const char *choices;  /* OPT_CHOICE: "vp|ve" (index = stored value); else NULL */
    const char *def;      /* default as it would be written; NULL = none (left as is) */
    const char *meta;     /* value placeholder in help ("N", "FILE.h5"); NULL = from type */
    const char *unit;     /* "" or NULL when unitless */
    const char *help;     /* one line */
    double min, max;      /* numeric types: checked range [min, max] when min < max */
    int list_max;         /* lists: capacity of the array */
    int required;         /* command line: must be given */
} OptSpec;

/* A repeatable option's values (OPT_MULTI); free with opt_multi_free. */
typedef struct {
    int n;
    char **v;
} OptMulti;
void opt_multi_free(OptMulti *m);

/* Row count of a table ended by a row with name == NULL. */
int opt_count(const OptSpec *t);
/* The row named name ('-' == '_') in the first n rows (n < 0: up to the NULL row);
 * section NULL matches any section. NULL when absent. */
const OptSpec *opt_find(const OptSpec *t, int n, const char *section, const char *name);

/* Parse text into the value of row o inside base (base + o->offset). Checks the type,
 * finiteness, the range [min,max], the choices. Errors: "bad value 'abc' for eta: want a
 * number", "bad value '7' for skip: want uniform or quadratic", "eta = -1: must be >= 0". */
int opt_set(const OptSpec *o, void *base, const char *text, char *err, size_t errlen);
/* Every row with a def (first n rows, n < 0: to the NULL row) set to it. */
void opt_defaults(const OptSpec *t, int n, void *base);
/* The value as text (what opt_set parses back to the same value): doubles "%.17g"
 * shortened to the shortest that reads back equal ("0.0001", "1e-08"). */
void opt_format(const OptSpec *o, const void *base, char *buf, size_t n);
/* Do two structs hold the same value for this row? */
int opt_equal(const OptSpec *o, const void *a, const void *b);
/* What a value must look like: "a number", "a whole number", "0 or 1", "vp or ve",
 * "a comma-separated list of whole numbers". */
const char *opt_want(const OptSpec *o, char *buf, size_t n);
/* Help lines, one per row: "  --name META   help (default D, unit U)" when prefix is
 * "--", "  name = META ..." when prefix is "" (sweep files, config keys). */
void opt_print_help(FILE *f, const OptSpec *t, int n, const char *prefix);

#endif
