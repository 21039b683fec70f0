/* Growing strings (core/strbuf.h). */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/common.h"

void strbuf_init(StrBuf *b)
{
    b->cap = 256;
    b->n = 0;
    b->s = xmalloc(b->cap);
    b->s[0] = '\0';
}

void strbuf_free(StrBuf *b)
{
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}

static void strbuf_vadd(StrBuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    DDM_ASSERT(n >= 0, "strbuf_add: bad format '%s'", fmt);
    if (b->n + (size_t)n + 1 > b->cap) {
        b->cap = (b->n + (size_t)n + 1) * 2 + 256;
        b->s = xrealloc(b->s, b->cap);
    }
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->n += (size_t)n;
}

void strbuf_add(StrBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vadd(b, fmt, ap);
    va_end(ap);
}

void strbuf_join(StrBuf *b, char *const *v, int k, const char *sep)
{
    for (int i = 0; i < k; i++) strbuf_add(b, "%s%s", i ? sep : "", v[i]);
}

char *strbuf_printf(const char *fmt, ...)
{
    StrBuf b = {NULL, 0, 0};
    va_list ap;
    va_start(ap, fmt);
    strbuf_vadd(&b, fmt, ap);
    va_end(ap);
    return b.s;
}
