#include "rng.h"

#include <math.h>

/* Philox4x32 round constants (Salmon et al. 2011, section 5) */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void rng_init(Rng *r, uint64_t seed, uint64_t stream)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = 0;
    r->ctr[2] = (uint32_t)stream;
    r->ctr[3] = (uint32_t)(stream >> 32);
    r->have = 0;
    r->has_spare = 0;
    r->spare = 0.0f;
}

uint32_t rng_u32(Rng *r)
{
    if (r->have == 0) {
        philox4x32_10(r->buf, r->ctr, r->key);
        if (++r->ctr[0] == 0) r->ctr[1]++;
        r->have = 4;
    }
    return r->buf[4 - r->have--];
}

static float u32_to_open01(uint32_t x)
{
    /* top 24 bits, shifted by half an ulp so that neither 0 nor 1 is produced */
    return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

float rng_uniform(Rng *r) { return u32_to_open01(rng_u32(r)); }

double rng_uniform_double(Rng *r)
{
    uint64_t a = rng_u32(r) >> 5, b = rng_u32(r) >> 6; /* 53 bits */
    return ((double)(a * 67108864.0 + b) + 0.5) * (1.0 / 9007199254740992.0);
}

float rng_normal(Rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = rng_uniform_double(r), u2 = rng_uniform_double(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    r->spare = (float)(rad * sin(th));
    r->has_spare = 1;
    return (float)(rad * cos(th));
}

void rng_fill_normal(Rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(r);
}

uint32_t rng_below(Rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection */
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (lo < t) {
            m = (uint64_t)rng_u32(r) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t pos)
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)(pos >> 2), (uint32_t)(pos >> 34), (uint32_t)stream,
                       (uint32_t)(stream >> 32)};
    uint32_t out[4];
    philox4x32_10(out, ctr, key);
    return u32_to_open01(out[pos & 3]);
}

uint64_t rng_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_permutation(int64_t *perm, int64_t n, uint64_t seed, uint64_t stream)
{
    Rng r;
    rng_init(&r, seed, stream);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint32_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
