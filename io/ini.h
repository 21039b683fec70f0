/* The one INI reader of ddm (config files, sweep files): `[section]` headers,
 * `key = value` lines, `#` and `;` comments (at the start of a line or after a blank),
 * every section and entry with its "FILE:LINE". Sections come back in file order, their
 * entries in order; values are trimmed and may be empty (a config's empty list).
 *
 * What the keys mean is the caller's business (an OptSpec table, core/opt.h): this file
 * only knows the syntax. Errors are returned (0 / -1, a one-line message in err):
 *   "FILE:LINE: expected key = value, got 'x'"
 *   "FILE:LINE: bad section header '[x' (want [NAME], no '/')"
 *   "FILE:LINE: section name '.x' may not start with '.'"
 *   "FILE:LINE: section [x] appears twice (FILE:LINE)"
 *   "FILE:LINE: 'k = v' before the first [section]"
 *   "FILE:LINE: key 'k' appears twice in [s] (FILE:LINE)"   (with INI_UNIQUE_KEYS)
 *   "FILE: cannot open: <reason>", "FILE: not a text file (contains NUL bytes)"
 * Section names are HDF5-group safe (no '/', no leading '.'): a sweep section names a group.
 */
#ifndef DDM_INI_H
#define DDM_INI_H

#include <stddef.h>

typedef struct {
    char *key, *value;
    char *where;        /* "FILE:LINE" */
} IniEntry;

typedef struct {
    char *name;
    char *where;        /* "FILE:LINE" of the header */
    IniEntry *e;
    int n;
} IniSection;

/* What a failed parse tripped on, for a caller that words the message its own way
 * (io/config.c keeps the wording its users and tests know). */
typedef enum {
    INI_ERR_NONE = 0,
    INI_ERR_IO,          /* cannot open / read / NUL bytes */
    INI_ERR_SYNTAX,      /* neither [section] nor key = value */
    INI_ERR_HEADER,      /* a malformed [section] header */
    INI_ERR_ORPHAN,      /* key = value before the first [section] */
    INI_ERR_DUP_SECTION,
    INI_ERR_DUP_KEY
} IniErrKind;

typedef struct {
    IniSection *sec;
    int n;
    /* after a failed parse: the kind, the line (0 for INI_ERR_IO), the offending text
     * (trimmed line or token) and, for INI_ERR_ORPHAN / INI_ERR_DUP_KEY, the key */
    IniErrKind err_kind;
    int err_line;
    char err_text[256];
    char err_key[128];
} IniFile;

/* Flags of ini_parse_text / ini_load. */
enum {
    /* a key given twice in one section is an error (keys compare with '-' == '_') */
    INI_UNIQUE_KEYS = 1,
    /* sweep syntax: several blank-separated key=value (and [section]) tokens per line,
     * "[ddim-20]  sampler = ddim  steps = 20"; blanks around '=' are dropped, so values
     * hold no blanks and may not be empty */
    INI_TOKENS = 2
};

/* Parse text; name stands for FILE in locations and messages. On error ini holds no
 * sections (only the err_ fields) and needs no ini_free, though ini_free is harmless. */
int ini_parse_text(const char *text, const char *name, int flags, IniFile *ini, char *err,
                   size_t errlen);
/* Read the file at path and parse it. */
int ini_load(const char *path, int flags, IniFile *ini, char *err, size_t errlen);
/* The whole text file at path (malloc'd), NULL with a message when it cannot be read or
 * holds NUL bytes (e.g. rank 0 reads a sweep file and broadcasts the text). */
char *ini_read_text(const char *path, char *err, size_t errlen);
void ini_free(IniFile *ini);

/* The section named name, or NULL. */
const IniSection *ini_section(const IniFile *ini, const char *name);

#endif
