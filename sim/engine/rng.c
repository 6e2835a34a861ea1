/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/rng.c: xoshiro256** streams seeded through SplitMix64 (see rng.h).
 */
#include <assert.h>
#include <stddef.h>

#include "rng.h"

uint64_t sim_splitmix64_next(uint64_t *state)
{
    assert(state != NULL);
    *state += 0x9E3779B97F4A7C15ull;
    return sim_splitmix64_mix(*state);
}

uint64_t sim_fnv1a64(const char *name)
{
    assert(name != NULL);
    uint64_t hash = 0xCBF29CE484222325ull;
    for (const unsigned char *cursor = (const unsigned char *)name; *cursor != 0; cursor++) {
        hash ^= *cursor;
        hash *= 0x100000001B3ull;
    }
    return hash;
}

void sim_rng_init_state(struct sim_rng *rng, const uint64_t state[4])
{
    assert(rng != NULL);
    assert((state[0] | state[1] | state[2] | state[3]) != 0);
    for (int index = 0; index < 4; index++)
        rng->state[index] = state[index];
}

void sim_rng_init_stream(struct sim_rng *rng, uint64_t seed, const char *name)
{
    assert(rng != NULL);
    assert(name != NULL);
    uint64_t key = seed ^ sim_fnv1a64(name);
    uint64_t state[4];
    for (int index = 0; index < 4; index++)
        state[index] = sim_splitmix64_next(&key);
    sim_rng_init_state(rng, state);
}

uint64_t sim_rng_below_limit(uint64_t bound)
{
    assert(bound > 0);
    return UINT64_MAX - (UINT64_MAX % bound);
}

uint64_t sim_rng_below(struct sim_rng *rng, uint64_t bound)
{
    return sim_rng_below_limited(rng, bound, sim_rng_below_limit(bound));
}

double sim_rng_unit(struct sim_rng *rng)
{
    return (double)(sim_rng_next(rng) >> 11) * 0x1.0p-53;
}
