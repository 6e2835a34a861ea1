/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/rng.h: the world's seeded generators.
 *
 * Generator: xoshiro256** 1.0 (Blackman & Vigna), seeded through SplitMix64.
 * Each component draws from its own named stream, so drawing more from "vmci"
 * never changes a number drawn from "lua". A stream's state is derived from
 * (world seed, stream name) alone (docs/rng.md gives the vectors):
 *   key  = world_seed XOR FNV-1a-64(name bytes)
 *   s[i] = the i-th output (i = 0..3) of SplitMix64 started at key
 * (an all-zero state, which SplitMix64 cannot produce for 4 consecutive outputs,
 * is nevertheless asserted against).
 */
#ifndef SIM_ENGINE_RNG_H
#define SIM_ENGINE_RNG_H

#include <assert.h>
#include <stdint.h>

struct sim_rng {
    uint64_t state[4];
};

/* SplitMix64: advances *state and returns the next output. */
uint64_t sim_splitmix64_next(uint64_t *state);
/* The SplitMix64 finaliser alone (also used by sim.pattern). Inline: sim.pattern calls it
 * once per 8 bytes it makes. */
static inline uint64_t sim_splitmix64_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* FNV-1a 64-bit of a NUL-terminated name. */
uint64_t sim_fnv1a64(const char *name);

/* Seeds `rng` with the raw xoshiro256** state (for the published test vectors). */
void sim_rng_init_state(struct sim_rng *rng, const uint64_t state[4]);
/* Derives the stream `name` of world `seed` as documented above. */
void sim_rng_init_stream(struct sim_rng *rng, uint64_t seed, const char *name);

/* value rotated left by `bits` (1..63). */
static inline uint64_t sim_rotate_left64(uint64_t value, int bits)
{
    return (value << bits) | (value >> (64 - bits));
}

/* The next output of xoshiro256** 1.0. Inline: a jittered world draws at every hop
 * (vmci/cost.c), and the call cost as much as the generator. */
static inline uint64_t sim_rng_next(struct sim_rng *rng)
{
    assert(rng != NULL);
    uint64_t *s = rng->state;
    uint64_t result = sim_rotate_left64(s[1] * 5, 7) * 9;
    uint64_t shifted = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= shifted;
    s[3] = sim_rotate_left64(s[3], 45);
    return result;
}
/* Uniform in [0, bound) without modulo bias; bound > 0. */
uint64_t sim_rng_below(struct sim_rng *rng, uint64_t bound);
/* The rejection limit sim_rng_below computes for `bound` (> 0) at every call, for a caller
 * that draws below the same bound many times and computes it once. */
uint64_t sim_rng_below_limit(uint64_t bound);
/* sim_rng_below(rng, bound) given limit == sim_rng_below_limit(bound): the same values
 * (sim_rng_below is this with the limit computed). Rejection sampling: draws at or above
 * the limit, the largest multiple of bound, are redrawn; each is rejected with probability
 * < 1/2, so 128 rounds fail with p < 2^-128. Inline, for the callers that draw at every
 * hop of a jittered world (vmci/cost.c). */
static inline uint64_t sim_rng_below_limited(struct sim_rng *rng, uint64_t bound,
                                             uint64_t limit)
{
    /* The cheap half of limit == sim_rng_below_limit(bound) (the other half is the
     * division the caller saves): no multiple of bound fits above it. */
    assert(bound > 0 && UINT64_MAX - limit < bound);
    for (int round = 0; round < 128; round++) {
        uint64_t draw = sim_rng_next(rng);
        if (draw < limit)
            return draw % bound;
    }
    assert(!"sim_rng_below: 128 rejections");
    return 0;
}
/* Uniform double in [0, 1) with 53 random bits. */
double sim_rng_unit(struct sim_rng *rng);

#endif /* SIM_ENGINE_RNG_H */
