/* JSON lines (io/json.h). */
#include "io/json.h"

#include <math.h>

void json_begin(JsonLine *j)
{
    strbuf_init(&j->b);
    strbuf_add(&j->b, "{");
    j->n = 0;
}

static void json_key(JsonLine *j, const char *key)
{
    strbuf_add(&j->b, "%s\"%s\": ", j->n++ ? ", " : "", key);
}

void json_str(JsonLine *j, const char *key, const char *v)
{
    json_key(j, key);
    StrBuf *b = &j->b;
    strbuf_add(b, "\"");
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        if (*p == '"' || *p == '\\') strbuf_add(b, "\\%c", *p);
        else if (*p == '\n') strbuf_add(b, "\\n");
        else if (*p == '\t') strbuf_add(b, "\\t");
        else if (*p < 0x20) strbuf_add(b, "\\u%04x", *p);
        else strbuf_add(b, "%c", *p);
    }
    strbuf_add(b, "\"");
}

void json_num(JsonLine *j, const char *key, const char *fmt, double v)
{
    json_key(j, key);
    if (isfinite(v)) strbuf_add(&j->b, fmt, v);
    else strbuf_add(&j->b, "null");
}

void json_int(JsonLine *j, const char *key, long long v)
{
    json_key(j, key);
    strbuf_add(&j->b, "%lld", v);
}

void json_bool(JsonLine *j, const char *key, int v)
{
    json_key(j, key);
    strbuf_add(&j->b, "%s", v ? "true" : "false");
}

void json_null(JsonLine *j, const char *key)
{
    json_key(j, key);
    strbuf_add(&j->b, "null");
}

const char *json_end(JsonLine *j)
{
    strbuf_add(&j->b, "}");
    return j->b.s;
}

void json_free(JsonLine *j) { strbuf_free(&j->b); }
