/* Test helpers: one line per check, a closing line "N passed, M failed", exit status. */
#ifndef DDM_TESTLIB_H
#define DDM_TESTLIB_H

#include <stddef.h>

#include "core/sampler.h"
#include "core/sched.h"
#include "core/task.h"

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

/* The schedules of the sampler and task tests: vp, the default linear T = 1000 with the
 * given prediction; ve, geometric sigma 0.01..10 on 10 levels. */
void test_sched_vp(Schedule *s, SchedPred pred);
void test_sched_ve(Schedule *s);
/* "key=value,key=value" (opts may be NULL) into a sampler setting, with the image default
 * clip = 1 turned off first (the tests' mixtures reach beyond [-1,1]), or into a task
 * setting. Dies on a bad option. */
void test_sampler_config(SamplerConfig *sc, const char *name, const char *opts);
void test_task_config(TaskConfig *tc, const char *name, const char *opts);

#endif
