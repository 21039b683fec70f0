/* Seed lists (see seedlist.h). */
#include "core/seedlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

typedef struct {
    int64_t a, b;
} SeedRange;

static int range_cmp(const void *x, const void *y)
{
    const SeedRange *p = x, *q = y;
    return (p->a > q->a) - (p->a < q->a);
}

/* digits only; 1 = not a number, 2 = beyond INT64_MAX */
static int parse_seed(const char *s, size_t n, int64_t *out)
{
    if (n == 0) return 1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10) return 2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int seedlist_parse(const char *spec, int64_t max, int64_t **seeds, int64_t *n, char *err,
                   size_t errlen)
{
    SeedRange *r = NULL;
    int nr = 0, rc = -1;
    const char *p = spec;
    while (1) {
        size_t len = strcspn(p, ",");
        const char *dash = memchr(p, '-', len);
        SeedRange x;
        int bad = dash ? parse_seed(p, (size_t)(dash - p), &x.a) : parse_seed(p, len, &x.a);
        if (!bad && dash) bad = parse_seed(dash + 1, len - (size_t)(dash - p) - 1, &x.b);
        if (!dash) x.b = x.a;
        if (bad == 2) {
            snprintf(err, errlen, "--seeds %s: '%.*s' is out of range (seeds are 0..%lld)", spec,
                     (int)len, p, (long long)INT64_MAX);
            goto out;
        }
        if (bad) {
            snprintf(err, errlen,
                     "--seeds %s: bad range '%.*s' (want A-B or N: whole numbers >= 0, "
                     "ranges separated by commas)", spec, (int)len, p);
            goto out;
        }
        if (x.b < x.a) {
            if (len == strlen(spec)) snprintf(err, errlen, "--seeds %s: end before start", spec);
            else snprintf(err, errlen, "--seeds %s: %.*s: end before start", spec, (int)len, p);
            goto out;
        }
        r = xrealloc(r, sizeof *r * (size_t)(nr + 1));
        r[nr++] = x;
        if (!p[len]) break;
        p += len + 1;
    }
    qsort(r, (size_t)nr, sizeof *r, range_cmp);
    int64_t total = 0;
    for (int i = 0; i < nr; i++) {
        if (i > 0 && r[i].a <= r[i - 1].b) {
            snprintf(err, errlen, "--seeds %s: seed %lld is in two ranges", spec,
                     (long long)r[i].a);
            goto out;
        }
        /* count without overflow: b - a < 2^63 as both are in 0..2^63-1 and b >= a */
        uint64_t cnt = (uint64_t)(r[i].b - r[i].a) + 1;
        if (cnt > (uint64_t)(max - total)) {
            snprintf(err, errlen, "--seeds %s: more than %lld seeds", spec, (long long)max);
            goto out;
        }
        total += (int64_t)cnt;
    }
    *seeds = xmalloc(sizeof **seeds * (size_t)(total ? total : 1));
    int64_t k = 0;
    for (int i = 0; i < nr; i++)
        for (int64_t s = r[i].a;; s++) {
            (*seeds)[k++] = s;
            if (s == r[i].b) break; /* b may be INT64_MAX: no s++ past it */
        }
    *n = total;
    rc = 0;
out:
    free(r);
    return rc;
}
