/* A growing, always NUL-terminated string (JSON lines, tables, scripts) and a malloc'ing
 * printf. */
#ifndef DDM_STRBUF_H
#define DDM_STRBUF_H

#include <stddef.h>

typedef struct {
    char *s;       /* "" after strbuf_init; NULL only for a zeroed StrBuf never added to */
    size_t n, cap; /* length, allocated bytes */
} StrBuf;

void strbuf_init(StrBuf *b);
void strbuf_free(StrBuf *b);
/* append printf-formatted text */
void strbuf_add(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* append the strings v[0..k) separated by sep */
void strbuf_join(StrBuf *b, char *const *v, int k, const char *sep);

/* printf into a new string (malloc'd) */
char *strbuf_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
