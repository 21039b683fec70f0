/* The one INI reader (io/ini.h): syntax only, with a location on everything. */
#include "io/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

typedef struct {
    const char *name; /* FILE in messages */
    int flags, line;
    IniFile *ini;
    char *err;
    size_t errlen;
} Parser;

static char *where_of(const char *name, int line)
{
    int len = snprintf(NULL, 0, "%s:%d", name, line);
    char *w = xmalloc((size_t)len + 1);
    snprintf(w, (size_t)len + 1, "%s:%d", name, line);
    return w;
}

/* Record an error of kind at the current line: "FILE:LINE: <message>". */
static int fail(Parser *p, IniErrKind kind, const char *text, const char *key, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static int fail(Parser *p, IniErrKind kind, const char *text, const char *key, const char *fmt,
                ...)
{
    IniFile *ini = p->ini;
    ini->err_kind = kind;
    ini->err_line = p->line;
    snprintf(ini->err_text, sizeof ini->err_text, "%s", text ? text : "");
    snprintf(ini->err_key, sizeof ini->err_key, "%s", key ? key : "");
    if (p->err && p->errlen) {
        int off = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);
        if (off >= 0 && (size_t)off < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + off, p->errlen - (size_t)off, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* keys compare as option names do (core/opt.c): '-' and '_' are the same */
static int key_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y) return 0;
        if (!x) return 1;
    }
}

/* "[name]" (text trimmed, starting with '['): a new section. */
static int add_section(Parser *p, const char *text)
{
    size_t len = strlen(text);
    if (len < 3 || text[len - 1] != ']')
        return fail(p, INI_ERR_HEADER, text, NULL, "bad section header '%s' (want [NAME], no '/')",
                    text);
    char *buf = xstrdup(text + 1);
    buf[len - 2] = '\0';
    char *name = trim(buf);
    int rc = 0;
    if (!*name || strpbrk(name, "/[]"))
        rc = fail(p, INI_ERR_HEADER, text, NULL, "bad section header '%s' (want [NAME], no '/')",
                  text);
    else if (name[0] == '.')
        rc = fail(p, INI_ERR_HEADER, text, NULL, "section name '%s' may not start with '.'", name);
    IniFile *ini = p->ini;
    for (int i = 0; !rc && i < ini->n; i++)
        if (!strcmp(ini->sec[i].name, name))
            rc = fail(p, INI_ERR_DUP_SECTION, text, NULL, "section [%s] appears twice (%s)", name,
                      ini->sec[i].where);
    if (!rc) {
        ini->sec = xrealloc(ini->sec, sizeof *ini->sec * (size_t)(ini->n + 1));
        IniSection *s = &ini->sec[ini->n++];
        memset(s, 0, sizeof *s);
        s->name = xstrdup(name);
        s->where = where_of(p->name, p->line);
    }
    free(buf);
    return rc;
}

/* key = value in the current section; shown is the text as the user sees it. */
static int add_entry(Parser *p, const char *key, const char *value, const char *shown)
{
    IniFile *ini = p->ini;
    if (!ini->n)
        return fail(p, INI_ERR_ORPHAN, shown, key, "'%s' before the first [section]", shown);
    IniSection *s = &ini->sec[ini->n - 1];
    if (p->flags & INI_UNIQUE_KEYS)
        for (int i = 0; i < s->n; i++)
            if (key_eq(s->e[i].key, key))
                return fail(p, INI_ERR_DUP_KEY, shown, key, "key '%s' appears twice in [%s] (%s)",
                            key, s->name, s->e[i].where);
    s->e = xrealloc(s->e, sizeof *s->e * (size_t)(s->n + 1));
    IniEntry *e = &s->e[s->n++];
    e->key = xstrdup(key);
    e->value = xstrdup(value);
    e->where = where_of(p->name, p->line);
    return 0;
}

/* One line (comment removed, trimmed, not empty): "[name]" or "key = value". */
static int parse_line(Parser *p, char *s)
{
    if (*s == '[') return add_section(p, s);
    char *eq = strchr(s, '=');
    char *shown = xstrdup(s);
    int rc;
    if (!eq) {
        rc = fail(p, INI_ERR_SYNTAX, s, NULL, "expected key = value, got '%s'", s);
    } else {
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (!*key) rc = fail(p, INI_ERR_SYNTAX, shown, NULL, "expected key = value, got '%s'", shown);
        else rc = add_entry(p, key, value, shown);
    }
    free(shown);
    return rc;
}

/* Sweep syntax: blanks around '=' dropped, tabs and CRs as blanks, then every
 * blank-separated token is "[name]" or "key=value". */
static int parse_tokens(Parser *p, const char *line)
{
    size_t len = strlen(line), m = 0;
    char *norm = xmalloc(len + 1);
    for (const char *c = line; *c; c++) {
        char ch = (*c == '\t' || *c == '\r') ? ' ' : *c;
        if (ch == ' ') {
            const char *d = c;
            while (*d == ' ' || *d == '\t' || *d == '\r') d++;
            if (*d == '=' || (m > 0 && norm[m - 1] == '=')) continue;
        }
        norm[m++] = ch;
    }
    norm[m] = '\0';
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(norm, " ", &save); tok && !rc; tok = strtok_r(NULL, " ", &save)) {
        if (tok[0] == '[') {
            rc = add_section(p, tok);
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) {
            rc = fail(p, INI_ERR_SYNTAX, tok, NULL, "expected key = value, got '%s'", tok);
            break;
        }
        char *shown = xstrdup(tok);
        *eq = '\0';
        rc = add_entry(p, tok, eq + 1, shown);
        free(shown);
    }
    free(norm);
    return rc;
}

int ini_parse_text(const char *text, const char *name, int flags, IniFile *ini, char *err,
                   size_t errlen)
{
    memset(ini, 0, sizeof *ini);
    Parser p = {name, flags, 0, ini, err, errlen};
    int rc = 0;
    for (const char *q = text; *q && !rc;) {
        size_t len = strcspn(q, "\n");
        char *line = xmalloc(len + 1);
        memcpy(line, q, len);
        line[len] = '\0';
        q += len + (q[len] == '\n');
        p.line++;
        /* a comment starts at '#' or ';' at the line's start or after a blank, so a
         * value may hold either character ("a#1") */
        for (char *c = line; *c; c++)
            if ((*c == '#' || *c == ';') && (c == line || c[-1] == ' ' || c[-1] == '\t')) {
                *c = '\0';
                break;
            }
        if (flags & INI_TOKENS) {
            rc = parse_tokens(&p, line);
        } else {
            char *s = trim(line);
            if (*s) rc = parse_line(&p, s);
        }
        free(line);
    }
    if (rc) {
        /* keep what the error said, drop the sections */
        IniFile keep = *ini;
        keep.sec = NULL;
        keep.n = 0;
        ini_free(ini);
        *ini = keep;
        return -1;
    }
    return 0;
}

char *ini_read_text(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, got;
    char *text = xmalloc(cap);
    while ((got = fread(text + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) text = xrealloc(text, cap *= 2);
    }
    int bad = ferror(f);
    fclose(f);
    text[n] = '\0';
    const char *why = bad ? "read error" : strlen(text) != n ? "not a text file (contains NUL bytes)"
                                                            : NULL;
    if (why) {
        if (err && errlen) snprintf(err, errlen, "%s: %s", path, why);
        free(text);
        return NULL;
    }
    return text;
}

int ini_load(const char *path, int flags, IniFile *ini, char *err, size_t errlen)
{
    memset(ini, 0, sizeof *ini);
    char *text = ini_read_text(path, err, errlen);
    if (!text) {
        ini->err_kind = INI_ERR_IO;
        return -1;
    }
    int rc = ini_parse_text(text, path, flags, ini, err, errlen);
    free(text);
    return rc;
}

void ini_free(IniFile *ini)
{
    for (int i = 0; i < ini->n; i++) {
        IniSection *s = &ini->sec[i];
        for (int j = 0; j < s->n; j++) {
            free(s->e[j].key);
            free(s->e[j].value);
            free(s->e[j].where);
        }
        free(s->e);
        free(s->name);
        free(s->where);
    }
    free(ini->sec);
    ini->sec = NULL;
    ini->n = 0;
}

const IniSection *ini_section(const IniFile *ini, const char *name)
{
    for (int i = 0; i < ini->n; i++)
        if (!strcmp(ini->sec[i].name, name)) return &ini->sec[i];
    return NULL;
}
