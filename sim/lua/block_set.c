/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/block_set.c: the set of blocks a runtime's allocator took from malloc rather than
 * from its pool (runtime.c), so that a sweep worker can free a Lua state whole at the end
 * of a seed (simlua_destroy with teardown_wholesale) instead of through lua_close, which
 * frees every object one by one and runs the buffer boxes' finalizers.
 *
 * An open-addressing set of addresses with linear probing and backward-shift removal (no
 * tombstones). Addresses decide only where an entry sits, never what a run does: the set
 * is read only to free its blocks, in any order. Invariants kept here:
 *   - while the set is not `lost`, it holds exactly the malloc'd blocks the runtime has not
 *     freed, each once;
 *   - capacity is 0 or a power of two of at most SIMLUA_BLOCK_SET_SLOTS_MAX, and count is
 *     below half of it;
 *   - once a block cannot be recorded (that bound, or no memory for a larger table) the
 *     set is `lost` for good: it frees its table and records nothing more, and the runtime
 *     closes the state with lua_close as before (the set is an optimisation, never needed
 *     for a correct teardown).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "lua_int.h"

#define BLOCK_SET_SLOTS_MIN 64u

static uint32_t slot_of(const struct simlua_block_set *set, const void *block)
{
    /* Fibonacci hashing of the address; blocks are 16-byte aligned. */
    uint64_t key = ((uint64_t)(uintptr_t)block >> 4) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(key >> 32) & (set->capacity - 1);
}

static void give_up(struct simlua_block_set *set)
{
    free(set->slots);
    set->slots = NULL;
    set->capacity = 0;
    set->count = 0;
    set->lost = true;
}

static void insert(struct simlua_block_set *set, void *block)
{
    uint32_t slot = slot_of(set, block);
    while (set->slots[slot] != NULL) {
        assert(set->slots[slot] != block);
        slot = (slot + 1) & (set->capacity - 1);
    }
    set->slots[slot] = block;
    set->count++;
}

/* Doubles the table (or makes the first one); false when it may not or cannot. */
static bool grow(struct simlua_block_set *set)
{
    uint32_t capacity = set->capacity == 0 ? BLOCK_SET_SLOTS_MIN : set->capacity * 2;
    if (capacity > SIMLUA_BLOCK_SET_SLOTS_MAX || capacity <= set->capacity)
        return false;
    void **slots = calloc(capacity, sizeof(*slots));
    if (slots == NULL)
        return false;
    void **old_slots = set->slots;
    uint32_t old_capacity = set->capacity;
    set->slots = slots;
    set->capacity = capacity;
    set->count = 0;
    for (uint32_t slot = 0; slot < old_capacity; slot++) {
        if (old_slots[slot] != NULL)
            insert(set, old_slots[slot]);
    }
    free(old_slots);
    return true;
}

void simlua__block_set_add(struct simlua_block_set *set, void *block)
{
    assert(set != NULL && block != NULL);
    if (set->lost)
        return;
    if ((set->count + 1) * 2 > set->capacity && !grow(set)) {
        give_up(set);
        return;
    }
    insert(set, block);
    assert(set->count * 2 <= set->capacity);
}

bool simlua__block_set_has(const struct simlua_block_set *set, const void *block)
{
    assert(set != NULL && block != NULL);
    if (set->capacity == 0)
        return false;
    for (uint32_t slot = slot_of(set, block); set->slots[slot] != NULL;
         slot = (slot + 1) & (set->capacity - 1)) {
        if (set->slots[slot] == block)
            return true;
    }
    return false;
}

void simlua__block_set_remove(struct simlua_block_set *set, void *block)
{
    assert(set != NULL && block != NULL);
    if (set->lost)
        return;
    assert(set->capacity > 0);
    uint32_t mask = set->capacity - 1;
    uint32_t slot = slot_of(set, block);
    while (set->slots[slot] != block) {
        assert(set->slots[slot] != NULL);       /* every block freed was recorded */
        slot = (slot + 1) & mask;
    }
    /* Backward shift: move later entries of the run into the hole when their home slot
     * allows it, so that no lookup stops early at an emptied slot. */
    uint32_t hole = slot;
    for (uint32_t next = (hole + 1) & mask; set->slots[next] != NULL; next = (next + 1) & mask) {
        uint32_t home = slot_of(set, set->slots[next]);
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            set->slots[hole] = set->slots[next];
            hole = next;
        }
    }
    set->slots[hole] = NULL;
    set->count--;
}

void simlua__block_set_free_all(struct simlua_block_set *set)
{
    assert(set != NULL && !set->lost);
    for (uint32_t slot = 0; slot < set->capacity; slot++)
        free(set->slots[slot]);
    simlua__block_set_destroy(set);
}

void simlua__block_set_destroy(struct simlua_block_set *set)
{
    assert(set != NULL);
    free(set->slots);
    set->slots = NULL;
    set->capacity = 0;
    set->count = 0;
}
