/* Option tables (core/opt.h): parsing, validation, canonical text and help of every
 * named value, from rows that say where the value lives in a struct (base + offset).
 * Pure C: callers (config, command line, samplers, sweep files) add their context to the
 * one-line errors. */
#include "core/opt.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

#define HELP_COLUMN 26 /* width of "--name META" in help lines (what jobs/cli.c printed) */

void opt_multi_free(OptMulti *m)
{
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

int opt_count(const OptSpec *t)
{
    int n = 0;
    while (t[n].name) n++;
    return n;
}

/* names compare with '-' and '_' the same (--class-per-seed, class_per_seed) */
static int name_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y) return 0;
        if (!x) return 1;
    }
}

const OptSpec *opt_find(const OptSpec *t, int n, const char *section, const char *name)
{
    if (n < 0) n = opt_count(t);
    for (int i = 0; i < n; i++) {
        if (section && (!t[i].section || strcmp(t[i].section, section))) continue;
        if (name_eq(t[i].name, name)) return &t[i];
    }
    return NULL;
}

/* ---- scalars ---- */

/* a whole decimal number in [lo, hi]: all of s, no blanks after it */
static int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    if (!*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_ull(const char *s, unsigned long long *out)
{
    /* strtoull takes "-1" as 2^64-1: a leading digit is required */
    if (!isdigit((unsigned char)s[0])) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

/* a finite number: "nan", "inf" and overflow are refused (no value of ddm wants them) */
static int parse_f64(const char *s, double *out)
{
    if (!*s) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno == ERANGE || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Shortest decimal text that reads back as exactly x: whole numbers below 1e15 as
 * "%.0f" ("50", not "5e+01"), else the shortest "%.*g". This is the canonical text of
 * the config stored in every output file: changing it changes those files. */
static void fmt_double(char *buf, size_t n, double x)
{
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, n, "%.0f", x);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

/* Index of value among choices "a|b|c", -1 when absent. */
static int choice_index(const char *choices, const char *value)
{
    size_t vl = strlen(value);
    const char *c = choices;
    for (int idx = 0; c && *c; idx++) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == vl && !strncmp(c, value, n)) return idx;
        c = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* Choice idx as text into buf ("?" when out of range). */
static void choice_name(const char *choices, int idx, char *buf, size_t n)
{
    const char *c = choices;
    for (int i = 0; i < idx && c; i++) {
        c = strchr(c, '|');
        if (c) c++;
    }
    if (!c || idx < 0) c = "?";
    snprintf(buf, n, "%.*s", (int)strcspn(c, "|"), c);
}

static int has_range(const OptSpec *o) { return o->min < o->max; }

/* The range check of one number; what names it ("eta = -1", "ema entry 2 = 5"). */
static int check_range(const OptSpec *o, double v, const char *what, char *err, size_t errlen)
{
    if (!has_range(o)) return 0;
    char lim[40];
    if (v < o->min) {
        fmt_double(lim, sizeof lim, o->min);
        ddm_set_err(err, errlen, "%s: must be >= %s", what, lim);
        return -1;
    }
    if (v > o->max) {
        fmt_double(lim, sizeof lim, o->max);
        ddm_set_err(err, errlen, "%s: must be <= %s", what, lim);
        return -1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static int bad_value(const OptSpec *o, const char *text, char *err, size_t errlen)
{
    char wb[160];
    ddm_set_err(err, errlen, "bad value '%s' for %s: want %s", text, o->name, opt_want(o, wb, sizeof wb));
    return -1;
}

/* "a, b, c" (blanks allowed, empty = no entries) into dst; the count at count_offset.
 * Nothing is stored unless the whole list is good. */
static int set_list(const OptSpec *o, void *base, const char *text, char *err, size_t errlen)
{
    int is_int = o->type == OPT_INT_LIST, cap = o->list_max > 0 ? o->list_max : 0;
    char *buf = xstrdup(text), *s = trim(buf);
    int n = 0, rc = 0;
    long long *iv = xcalloc((size_t)cap + 1, sizeof *iv);
    double *dv = xcalloc((size_t)cap + 1, sizeof *dv);
    /* walked by hand, not strtok: strtok would merge an empty item ("1,,2") away */
    for (char *p = s; *s && p;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        char *item = trim(p);
        p = comma ? comma + 1 : NULL;
        if (n >= cap) {
            ddm_set_err(err, errlen, "bad value '%s' for %s: at most %d entries", text, o->name, cap);
            rc = -1;
            break;
        }
        if (is_int ? parse_ll(item, INT_MIN, INT_MAX, &iv[n]) : parse_f64(item, &dv[n])) {
            rc = bad_value(o, text, err, errlen);
            break;
        }
        char what[256];
        snprintf(what, sizeof what, "%s entry %d = %s", o->name, n + 1, item);
        if (check_range(o, is_int ? (double)iv[n] : dv[n], what, err, errlen)) {
            rc = -1;
            break;
        }
        n++;
    }
    if (!rc) {
        char *dst = (char *)base + o->offset;
        for (int i = 0; i < n; i++) {
            if (is_int) ((int *)dst)[i] = (int)iv[i];
            else ((double *)dst)[i] = dv[i];
        }
        *(int *)((char *)base + o->count_offset) = n;
    }
    free(iv);
    free(dv);
    free(buf);
    return rc;
}

int opt_set(const OptSpec *o, void *base, const char *text, char *err, size_t errlen)
{
    void *dst = (char *)base + o->offset;
    if (!text) text = "";
    char what[256];
    snprintf(what, sizeof what, "%s = %s", o->name, text);
    switch (o->type) {
    case OPT_INT: {
        long long v;
        if (parse_ll(text, INT_MIN, INT_MAX, &v)) return bad_value(o, text, err, errlen);
        if (check_range(o, (double)v, what, err, errlen)) return -1;
        *(int *)dst = (int)v;
        return 0;
    }
    case OPT_I64: {
        long long v;
        if (parse_ll(text, INT64_MIN, INT64_MAX, &v)) return bad_value(o, text, err, errlen);
        if (check_range(o, (double)v, what, err, errlen)) return -1;
        *(int64_t *)dst = (int64_t)v;
        return 0;
    }
    case OPT_U64: {
        unsigned long long v;
        if (parse_ull(text, &v)) return bad_value(o, text, err, errlen);
        if (check_range(o, (double)v, what, err, errlen)) return -1;
        *(uint64_t *)dst = (uint64_t)v;
        return 0;
    }
    case OPT_F64: {
        double v;
        if (parse_f64(text, &v)) return bad_value(o, text, err, errlen);
        if (check_range(o, v, what, err, errlen)) return -1;
        *(double *)dst = v;
        return 0;
    }
    case OPT_FLAG:
        /* a bare --name sets it; "0"/"1" as for a bool (sweep files, defaults) */
        if (!*text) {
            *(int *)dst = 1;
            return 0;
        }
        /* fall through */
    case OPT_BOOL:
        if (strcmp(text, "0") && strcmp(text, "1")) return bad_value(o, text, err, errlen);
        *(int *)dst = text[0] == '1';
        return 0;
    case OPT_CHOICE: {
        int idx = choice_index(o->choices, text);
        if (idx < 0) return bad_value(o, text, err, errlen);
        *(int *)dst = idx;
        return 0;
    }
    case OPT_STR:
        /* not copied: the text outlives the struct (argv, a parsed INI file) */
        *(char **)dst = (char *)text;
        return 0;
    case OPT_INT_LIST:
    case OPT_F64_LIST:
        return set_list(o, base, text, err, errlen);
    case OPT_MULTI: {
        OptMulti *m = dst;
        m->v = xrealloc(m->v, sizeof(char *) * (size_t)(m->n + 1));
        m->v[m->n++] = (char *)text; /* not copied, as OPT_STR */
        return 0;
    }
    }
    ddm_set_err(err, errlen, "%s: option type %d unknown", o->name, (int)o->type);
    return -1;
}

void opt_defaults(const OptSpec *t, int n, void *base)
{
    if (n < 0) n = opt_count(t);
    for (int i = 0; i < n; i++) {
        if (!t[i].def || t[i].type == OPT_MULTI) continue;
        char err[256] = "";
        int rc = opt_set(&t[i], base, t[i].def, err, sizeof err);
        DDM_ASSERT(rc == 0, "option table: bad default of %s%s%s: %s",
                   t[i].section ? t[i].section : "", t[i].section ? "." : "", t[i].name, err);
    }
}

void opt_format(const OptSpec *o, const void *base, char *buf, size_t n)
{
    const char *src = (const char *)base + o->offset;
    if (!n) return;
    buf[0] = '\0';
    switch (o->type) {
    case OPT_INT:
        snprintf(buf, n, "%d", *(const int *)src);
        return;
    case OPT_I64:
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)src);
        return;
    case OPT_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)src);
        return;
    case OPT_F64:
        fmt_double(buf, n, *(const double *)src);
        return;
    case OPT_BOOL:
    case OPT_FLAG:
        snprintf(buf, n, "%d", *(const int *)src != 0);
        return;
    case OPT_CHOICE:
        choice_name(o->choices, *(const int *)src, buf, n);
        return;
    case OPT_STR: {
        const char *s = *(char *const *)src;
        snprintf(buf, n, "%s", s ? s : "");
        return;
    }
    case OPT_INT_LIST:
    case OPT_F64_LIST: {
        int cnt = *(const int *)((const char *)base + o->count_offset);
        size_t off = 0;
        for (int i = 0; i < cnt && off < n; i++) {
            char item[40];
            if (o->type == OPT_INT_LIST) snprintf(item, sizeof item, "%d", ((const int *)src)[i]);
            else fmt_double(item, sizeof item, ((const double *)src)[i]);
            off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? "," : "", item);
        }
        return;
    }
    case OPT_MULTI: {
        /* the values comma-joined: for display only (opt_set appends one value) */
        const OptMulti *m = (const OptMulti *)src;
        size_t off = 0;
        for (int i = 0; i < m->n && off < n; i++)
            off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? "," : "", m->v[i]);
        return;
    }
    }
}

/* doubles are equal when their canonical texts are: same value and same sign of zero */
static int f64_same(double a, double b) { return a == b && !signbit(a) == !signbit(b); }

int opt_equal(const OptSpec *o, const void *a, const void *b)
{
    const char *x = (const char *)a + o->offset, *y = (const char *)b + o->offset;
    switch (o->type) {
    case OPT_INT:
    case OPT_CHOICE:
        return *(const int *)x == *(const int *)y;
    case OPT_BOOL:
    case OPT_FLAG:
        return !*(const int *)x == !*(const int *)y;
    case OPT_I64:
        return *(const int64_t *)x == *(const int64_t *)y;
    case OPT_U64:
        return *(const uint64_t *)x == *(const uint64_t *)y;
    case OPT_F64:
        return f64_same(*(const double *)x, *(const double *)y);
    case OPT_STR: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return (!s && !t) || (s && t && !strcmp(s, t));
    }
    case OPT_INT_LIST:
    case OPT_F64_LIST: {
        int na = *(const int *)((const char *)a + o->count_offset);
        int nb = *(const int *)((const char *)b + o->count_offset);
        if (na != nb) return 0;
        for (int i = 0; i < na; i++)
            if (o->type == OPT_INT_LIST ? ((const int *)x)[i] != ((const int *)y)[i]
                                        : !f64_same(((const double *)x)[i], ((const double *)y)[i]))
                return 0;
        return 1;
    }
    case OPT_MULTI: {
        const OptMulti *m = (const OptMulti *)x, *k = (const OptMulti *)y;
        if (m->n != k->n) return 0;
        for (int i = 0; i < m->n; i++)
            if (strcmp(m->v[i], k->v[i])) return 0;
        return 1;
    }
    }
    return 0;
}

const char *opt_want(const OptSpec *o, char *buf, size_t n)
{
    switch (o->type) {
    case OPT_INT:
    case OPT_I64:
        return "a whole number";
    case OPT_U64:
        return "a whole number >= 0";
    case OPT_F64:
        return "a number";
    case OPT_BOOL:
    case OPT_FLAG:
        return "0 or 1";
    case OPT_CHOICE: {
        /* "a|b|c" -> "a, b or c" */
        size_t off = 0;
        const char *c = o->choices ? o->choices : "";
        int total = 1;
        for (const char *q = c; *q; q++) total += *q == '|';
        for (int i = 0; i < total && off < n; i++) {
            size_t len = strcspn(c, "|");
            const char *sep = i == 0 ? "" : i == total - 1 ? " or " : ", ";
            off += (size_t)snprintf(buf + off, n - off, "%s%.*s", sep, (int)len, c);
            c += len + (c[len] == '|');
        }
        return buf;
    }
    case OPT_STR:
        return "text";
    case OPT_INT_LIST:
        return "a comma-separated list of whole numbers";
    case OPT_F64_LIST:
        return "a comma-separated list of numbers";
    case OPT_MULTI:
        return "a value";
    }
    return "?";
}

/* the value placeholder of help lines when the row has no meta */
static const char *type_meta(const OptSpec *o)
{
    switch (o->type) {
    case OPT_INT:
    case OPT_I64:
    case OPT_U64:
        return "N";
    case OPT_F64:
        return "X";
    case OPT_BOOL:
    case OPT_FLAG:
        return "0|1";
    case OPT_CHOICE:
        return o->choices;
    case OPT_STR:
        return "TEXT";
    case OPT_INT_LIST:
        return "N,N,...";
    case OPT_F64_LIST:
        return "X,X,...";
    case OPT_MULTI:
        return "VALUE";
    }
    return "VALUE";
}

void opt_print_help(FILE *f, const OptSpec *t, int n, const char *prefix)
{
    if (n < 0) n = opt_count(t);
    if (!prefix) prefix = "";
    int cli = !strcmp(prefix, "--");
    for (int i = 0; i < n; i++) {
        const OptSpec *o = &t[i];
        const char *meta = o->meta ? o->meta : type_meta(o);
        char left[160];
        if (cli && o->type == OPT_FLAG) snprintf(left, sizeof left, "--%s", o->name);
        else if (cli) snprintf(left, sizeof left, "--%s %s", o->name, meta);
        else snprintf(left, sizeof left, "%s%s = %s", prefix, o->name, meta);
        fprintf(f, "  %-*s %s", HELP_COLUMN, left, o->help ? o->help : "");
        int has_def = o->def && o->type != OPT_FLAG && o->type != OPT_MULTI;
        int has_unit = o->unit && *o->unit;
        if (has_def || has_unit) {
            fputs(" (", f);
            if (has_def) fprintf(f, "default %s", *o->def ? o->def : "empty");
            if (has_unit) fprintf(f, "%sunit %s", has_def ? ", " : "", o->unit);
            fputc(')', f);
        }
        if (o->required) fputs(" (required)", f);
        fputc('\n', f);
    }
}
