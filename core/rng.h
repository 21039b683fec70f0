/* Counter-based RNG: Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as
 * easy as 1, 2, 3"). A stream is keyed by (seed, stream id); draw i of a stream is a pure
 * function of (seed, stream, i), so any rank can reproduce any draw without state. */
#ifndef DDM_RNG_H
#define DDM_RNG_H

#include <stddef.h>
#include <stdint.h>

void philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);

/* Stream state: key = seed, counter = (position lo, position hi, stream lo, stream hi).
 * Plain data: copying it saves the stream, copying it back restores it. */
typedef struct {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int have;          /* unused words left in buf (taken from the back) */
    int has_spare;     /* a second Box-Muller normal is waiting */
    float spare;
} Rng;

void rng_init(Rng *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(Rng *r);
/* uniform in the open interval (0,1), 24 bits */
float rng_uniform(Rng *r);
double rng_uniform_double(Rng *r);
/* standard normal (Box-Muller on two uniforms) */
float rng_normal(Rng *r);
void rng_fill_normal(Rng *r, float *x, size_t n);
/* integer in [0, n) without modulo bias */
uint32_t rng_below(Rng *r, uint32_t n);

/* Stateless helpers for one value at a counter position of a stream. */
float rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t pos);

/* splitmix64's finaliser: a fixed bijective mix of a seed (with a user's tag xor-ed in), so
 * that each user of one seed gets its own Philox key. */
uint64_t rng_mix64(uint64_t z);

/* Deterministic permutation of [0,n) from (seed, stream): Fisher-Yates driven by rng. */
void rng_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream);

#endif
