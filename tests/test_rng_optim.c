/* Philox4x32-10 known answers (Random123's kat_vectors), stream properties, AdamW against
 * a hand-computed step, clipping and EMA. (AdamW against torch.optim.AdamW over several
 * steps is in test_unet_ref.) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/optim.h"
#include "core/rng.h"
#include "tests/testlib.h"

static void kat(const uint32_t ctr[4], const uint32_t key[2], const uint32_t want[4])
{
    uint32_t out[4];
    philox4x32_10(out, ctr, key);
    check(memcmp(out, want, sizeof out) == 0,
          "philox4x32_10 ctr=%08x.. key=%08x..: got %08x %08x %08x %08x want %08x %08x %08x %08x",
          ctr[0], key[0], out[0], out[1], out[2], out[3], want[0], want[1], want[2], want[3]);
}

int main(void)
{
    {
        const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
        const uint32_t w0[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
        const uint32_t c1[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
        const uint32_t k1[2] = {0xffffffff, 0xffffffff};
        const uint32_t w1[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
        const uint32_t c2[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344};
        const uint32_t k2[2] = {0xa4093822, 0x299f31d0};
        const uint32_t w2[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
        kat(c0, k0, w0);
        kat(c1, k1, w1);
        kat(c2, k2, w2);
    }
    /* a stream is reproducible, and streams differ */
    {
        Rng a, b, c;
        rng_init(&a, 42, 7);
        rng_init(&b, 42, 7);
        rng_init(&c, 42, 8);
        int same = 1, differ = 0;
        for (int i = 0; i < 1000; i++) {
            float x = rng_normal(&a), y = rng_normal(&b), z = rng_normal(&c);
            same &= x == y;
            differ += x != z;
        }
        check(same, "the same (seed, stream) gives the same 1000 normals");
        check(differ > 990, "another stream gives other normals (%d/1000 differ)", differ);
        /* uniform_at agrees with the sequential stream */
        Rng d;
        rng_init(&d, 99, 3);
        int agree = 1;
        for (uint64_t i = 0; i < 64; i++) agree &= rng_uniform(&d) == rng_uniform_at(99, 3, i);
        check(agree, "rng_uniform_at(seed, stream, i) equals draw i of the stream");
    }
    /* moments of the normal draws */
    {
        Rng r;
        rng_init(&r, 1, 1);
        double s = 0, s2 = 0, s4 = 0;
        const int n = 1000000;
        for (int i = 0; i < n; i++) {
            double x = rng_normal(&r);
            s += x; s2 += x * x; s4 += x * x * x * x;
        }
        double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
        check(fabs(mean) < 0.005 && fabs(var - 1) < 0.005 && fabs(kurt - 3) < 0.05,
              "normal draws: mean %.4f var %.4f E[x^4] %.3f (want 0, 1, 3)", mean, var, kurt);
    }
    /* permutation is a permutation */
    {
        int64_t perm[1000];
        int seen[1000] = {0};
        rng_permutation(perm, 1000, 5, 0);
        int ok = 1, moved = 0;
        for (int i = 0; i < 1000; i++) {
            ok &= perm[i] >= 0 && perm[i] < 1000 && !seen[perm[i]];
            if (perm[i] >= 0 && perm[i] < 1000) seen[perm[i]] = 1;
            moved += perm[i] != i;
        }
        check(ok && moved > 900, "rng_permutation gives a permutation (%d of 1000 moved)", moved);
    }
    /* AdamW: one step by hand (torch.optim.AdamW formulas) */
    {
        float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.25f}, m[2] = {0}, v[2] = {0};
        AdamW c = {.lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
        adamw_step(p, g, m, v, 2, 1, &c);
        /* step 1: mhat = g, vhat = g^2, update = lr * g/(|g| + eps) = lr * sign(g) */
        double want0 = 1.0 * (1 - 0.1 * 0.01) - 0.1 * 0.5 / (0.5 + 1e-8);
        double want1 = -2.0 * (1 - 0.1 * 0.01) + 0.1 * 0.25 / (0.25 + 1e-8);
        check(fabs(p[0] - want0) < 1e-6 && fabs(p[1] - want1) < 1e-6,
              "adamw step 1: p = (%.7f, %.7f) want (%.7f, %.7f)", p[0], p[1], want0, want1);
    }
    {
        float g[3] = {3, 4, 0};
        double n0 = grad_clip(g, 3, 1.0);
        check(fabs(n0 - 5) < 1e-9 && fabs(grad_norm(g, 3) - 1.0) < 1e-5,
              "grad_clip: norm 5 clipped to %.6f", grad_norm(g, 3));
        float e[2] = {0, 10}, q[2] = {1, 0};
        ema_update(e, q, 2, 0.9f);
        check(fabs(e[0] - 0.1f) < 1e-7 && fabs(e[1] - 9.0f) < 1e-6, "ema_update: (%.7f, %.7f)",
              e[0], e[1]);
    }
    return test_summary();
}
