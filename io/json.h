/* One JSON object on one line (metrics.jsonl, results.jsonl, printed results), built key
 * by key: {"a": 1, "b": "x"} with ", " between members and ": " after keys. Strings are
 * escaped; a non-finite number is written null. Append a line to a file with io/fsio.h
 * fsio_append_line (fsynced). */
#ifndef DDM_JSON_H
#define DDM_JSON_H

#include "core/strbuf.h"

typedef struct {
    StrBuf b;
    int n; /* members so far */
} JsonLine;

void json_begin(JsonLine *j);                                 /* "{" */
void json_str(JsonLine *j, const char *key, const char *v);   /* NULL -> "" */
/* a number in printf format fmt ("%.10g", "%.3f", ...); NaN/Inf -> null */
void json_num(JsonLine *j, const char *key, const char *fmt, double v);
void json_int(JsonLine *j, const char *key, long long v);
void json_bool(JsonLine *j, const char *key, int v);
void json_null(JsonLine *j, const char *key);
/* closes the object ("}"); the text stays in j->b.s until json_free */
const char *json_end(JsonLine *j);
void json_free(JsonLine *j);

#endif
