/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/pool.c: the pool that serves the Lua state's small blocks (runtime.c's
 * allocator), so that the many short-lived strings, tables, closures and userdata of a
 * run cost a list push and pop instead of a malloc and a free each, and the whole pool
 * goes back to the system in one go when the runtime ends.
 *
 * Blocks of at most SIMLUA_POOL_BLOCK_BYTES_MAX bytes are carved from slabs of
 * SIMLUA_POOL_SLAB_BYTES (small enough for malloc to recycle them from its heap between
 * runs instead of mapping fresh pages), in classes (16 bytes apart for small blocks,
 * four a power of two above SIMLUA_POOL_SMALL_BYTES_MAX); a freed block goes on
 * its class's free list and is handed out again, most recently freed first. Lua gives
 * the size of a block when it frees or resizes it, so the class of a block is always
 * known from its size: the pool keeps no per-block bookkeeping. Invariants kept here:
 *   - a block is on at most one free list, and never while Lua holds it (under ASan a
 *     free block and the unused end of a class are poisoned);
 *   - slab_bytes only grows until simlua__pool_destroy, which frees every slab;
 *   - live_bytes is the sum of the class sizes of the blocks Lua holds, so
 *     slab_bytes - live_bytes is what the pool holds idle (runtime.c counts it against
 *     SIMLUA_MEMORY_BYTES_MAX, so the pool cannot grow the state past its limit).
 * Addresses never affect behaviour: what a scenario sees is ordered by creation numbers
 * (runtime.c), not by where a block lies. Under AddressSanitizer the runtime leaves the
 * pool aside (SIMLUA_POOL_IN_RUNTIME): ASan's red zones and quarantine see more than a
 * pool can show; tests/unit/lua_pool_test.c still runs the pool itself there.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lua_int.h"

#if SIMLUA_ASAN
#include <sanitizer/asan_interface.h>
#define POOL_POISON(address, bytes) ASAN_POISON_MEMORY_REGION((address), (bytes))
#define POOL_UNPOISON(address, bytes) ASAN_UNPOISON_MEMORY_REGION((address), (bytes))
#else
#define POOL_POISON(address, bytes) ((void)(address), (void)(bytes))
#define POOL_UNPOISON(address, bytes) ((void)(address), (void)(bytes))
#endif

/* The head of a slab; its size keeps the blocks after it 16-byte aligned. */
struct pool_slab {
    struct pool_slab *next;
    uint64_t padding;
};
_Static_assert(sizeof(struct pool_slab) % SIMLUA_POOL_CLASS_BYTES == 0,
               "blocks after a slab's head stay aligned");

/* A free block: the link to the next free block of its class. */
struct pool_free_block {
    struct pool_free_block *next;
};

/* Classes: SIMLUA_POOL_CLASS_BYTES apart up to SIMLUA_POOL_SMALL_BYTES_MAX, then four
 * a power of two (a block wastes at most a fifth of its bytes). */
#define POOL_SMALL_CLASSES (SIMLUA_POOL_SMALL_BYTES_MAX / SIMLUA_POOL_CLASS_BYTES)
#define POOL_SMALL_LOG2 9
_Static_assert(SIMLUA_POOL_SMALL_BYTES_MAX == 1u << POOL_SMALL_LOG2, "the first power");

static uint32_t log2_floor(size_t value)
{
    assert(value > 0);
    return (uint32_t)(sizeof(unsigned long long) * 8 - 1) -
           (uint32_t)__builtin_clzll((unsigned long long)value);
}

static uint32_t class_of(size_t block_bytes)
{
    assert(block_bytes > 0 && block_bytes <= SIMLUA_POOL_BLOCK_BYTES_MAX);
    if (block_bytes <= SIMLUA_POOL_SMALL_BYTES_MAX)
        return (uint32_t)((block_bytes - 1) / SIMLUA_POOL_CLASS_BYTES);
    uint32_t power = log2_floor(block_bytes - 1);      /* 2^power < block_bytes */
    uint32_t quarter = (uint32_t)((block_bytes - 1 - ((size_t)1 << power)) >> (power - 2));
    uint32_t class_index = POOL_SMALL_CLASSES + (power - POOL_SMALL_LOG2) * 4 + quarter;
    assert(class_index < SIMLUA_POOL_CLASS_COUNT);
    return class_index;
}

static size_t class_bytes(uint32_t class_index)
{
    assert(class_index < SIMLUA_POOL_CLASS_COUNT);
    if (class_index < POOL_SMALL_CLASSES)
        return ((size_t)class_index + 1) * SIMLUA_POOL_CLASS_BYTES;
    uint32_t power = POOL_SMALL_LOG2 + (class_index - POOL_SMALL_CLASSES) / 4;
    uint32_t quarter = (class_index - POOL_SMALL_CLASSES) % 4;
    return ((size_t)1 << power) + ((size_t)quarter + 1) * ((size_t)1 << (power - 2));
}

size_t simlua__pool_block_bytes(size_t block_bytes)
{
    return class_bytes(class_of(block_bytes));
}

/* A new slab becomes the one blocks are carved from; what was left of the previous one
 * stays unused (less than one block of the largest class). */
static bool slab_add(struct simlua_pool *pool)
{
    struct pool_slab *slab = malloc(SIMLUA_POOL_SLAB_BYTES);
    if (slab == NULL)
        return false;
    slab->next = pool->slabs;
    pool->slabs = slab;
    pool->slab_bytes += SIMLUA_POOL_SLAB_BYTES;
    pool->carve_next = (char *)(slab + 1);
    pool->carve_end = (char *)slab + SIMLUA_POOL_SLAB_BYTES;
    POOL_POISON(pool->carve_next, (size_t)(pool->carve_end - pool->carve_next));
    return true;
}

void *simlua__pool_alloc(struct simlua_pool *pool, size_t block_bytes)
{
    assert(pool != NULL);
    uint32_t class_index = class_of(block_bytes);
    size_t bytes = class_bytes(class_index);
    struct pool_free_block *block = pool->free_lists[class_index];
    if (block != NULL) {
        POOL_UNPOISON(block, sizeof(*block));   /* the link, whatever block_bytes is */
        pool->free_lists[class_index] = block->next;
        POOL_POISON(block, bytes);
    } else {
        if ((size_t)(pool->carve_end - pool->carve_next) < bytes && !slab_add(pool))
            return NULL;
        block = (struct pool_free_block *)pool->carve_next;     /* poisoned with its slab */
        pool->carve_next += bytes;
    }
    POOL_UNPOISON(block, block_bytes);
    pool->live_bytes += bytes;
    assert(pool->live_bytes <= pool->slab_bytes);
    return block;
}

void simlua__pool_free(struct simlua_pool *pool, void *block, size_t block_bytes)
{
    assert(pool != NULL && block != NULL);
    uint32_t class_index = class_of(block_bytes);
    size_t bytes = class_bytes(class_index);
    assert(pool->live_bytes >= bytes);
    pool->live_bytes -= bytes;
    struct pool_free_block *free_block = block;
    POOL_UNPOISON(free_block, sizeof(*free_block));
    free_block->next = pool->free_lists[class_index];
    pool->free_lists[class_index] = free_block;
    POOL_POISON(free_block, bytes);      /* the link too: alloc unpoisons it to read it */
}

bool simlua__pool_resize_in_place(struct simlua_pool *pool, void *block, size_t old_bytes,
                                  size_t new_bytes)
{
    assert(pool != NULL && block != NULL);
    if (class_of(old_bytes) != class_of(new_bytes))
        return false;
    POOL_POISON(block, class_bytes(class_of(old_bytes)));
    POOL_UNPOISON(block, new_bytes);
    return true;
}

uint64_t simlua__pool_idle_bytes(const struct simlua_pool *pool)
{
    assert(pool->live_bytes <= pool->slab_bytes);
    return pool->slab_bytes - pool->live_bytes;
}

void simlua__pool_destroy(struct simlua_pool *pool)
{
    assert(pool != NULL);
    struct pool_slab *slab = pool->slabs;
    while (slab != NULL) {
        struct pool_slab *next = slab->next;
        POOL_UNPOISON(slab, SIMLUA_POOL_SLAB_BYTES);
        free(slab);
        slab = next;
    }
    memset(pool, 0, sizeof(*pool));
}
