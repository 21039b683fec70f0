/* Test helpers: one line per check, a closing line "N passed, M failed", exit status. */
#ifndef DDM_TESTLIB_H
#define DDM_TESTLIB_H

#include <stddef.h>

/* record one check; prints "ok   <what>" or "FAIL <what>" with the formatted detail */
int check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* |a - ref| <= atol + rtol*|ref| elementwise; prints the worst element and its index */
int check_close(const char *what, const float *a, const float *ref, size_t n,
                double atol, double rtol);
int check_close_d(const char *what, const double *a, const double *ref, size_t n,
                  double atol, double rtol);
/* prints "N passed, M failed" and returns the exit status (0 when nothing failed) */
int test_summary(void);

/* deterministic test data: uniform in [lo,hi) from a Philox stream */
void test_fill_uniform(float *x, size_t n, float lo, float hi, unsigned long seed);

#endif
