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
 * known from its size: the pool keeps no per-block bookkeeping. Taking a block from a
 * free list starts the load of the next one (lua_int.h): in a fleet that block is cold,
 * and its link is on the path of the allocation after. Invariants kept here:
 *   - a block is on at most one free list, and never while Lua holds it (under ASan a
 *     free block and the unused end of a class are poisoned);
 *   - slab_bytes only grows until simlua__pool_destroy, which frees every slab;
 *   - live_bytes is the sum of the class sizes of the blocks Lua holds, so
 *     slab_bytes - live_bytes is what the pool holds idle (runtime.c counts it against
 *     SIMLUA_MEMORY_BYTES_MAX, so the pool cannot grow the state past its limit).
 * The hot paths (a block from or to a free list, the next block of the newest slab, the
 * class of a size) are inline in lua_int.h; this file adds slabs (carving the block that
 * needed one) and frees them.
 * Addresses never affect behaviour: what a scenario sees is ordered by creation numbers
 * (runtime.c), not by where a block lies. Under AddressSanitizer the runtime leaves the
 * pool aside (SIMLUA_POOL_IN_RUNTIME): ASan's red zones and quarantine see more than a
 * pool can show; tests/unit/lua_pool_test.c still runs the pool itself there.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lua_int.h"


/* The head of a slab; its size keeps the blocks after it 16-byte aligned. */
struct pool_slab {
    struct pool_slab *next;
    uint64_t padding;
};
_Static_assert(sizeof(struct pool_slab) % SIMLUA_POOL_CLASS_BYTES == 0,
               "blocks after a slab's head stay aligned");

size_t simlua__pool_block_bytes(size_t block_bytes)
{
    assert(block_bytes > 0 && block_bytes <= SIMLUA_POOL_BLOCK_BYTES_MAX);
    return simlua__pool_class(block_bytes).bytes;
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
    SIMLUA_POOL_POISON(pool->carve_next, (size_t)(pool->carve_end - pool->carve_next));
    return true;
}

void *simlua__pool_carve(struct simlua_pool *pool, struct simlua_pool_class class_info,
                         size_t block_bytes)
{
    assert(pool != NULL);
    assert(pool->free_lists[class_info.index] == NULL);
    if ((size_t)(pool->carve_end - pool->carve_next) < class_info.bytes && !slab_add(pool))
        return NULL;
    return simlua__pool_carve_next(pool, class_info, block_bytes);
}

bool simlua__pool_resize_in_place(struct simlua_pool *pool, void *block, size_t old_bytes,
                                  size_t new_bytes)
{
    assert(pool != NULL && block != NULL);
    struct simlua_pool_class old_class = simlua__pool_class(old_bytes);
    if (old_class.index != simlua__pool_class(new_bytes).index)
        return false;
    SIMLUA_POOL_POISON(block, old_class.bytes);
    SIMLUA_POOL_UNPOISON(block, new_bytes);
    return true;
}

void simlua__pool_destroy(struct simlua_pool *pool)
{
    assert(pool != NULL);
    struct pool_slab *slab = pool->slabs;
    while (slab != NULL) {
        struct pool_slab *next = slab->next;
        SIMLUA_POOL_UNPOISON(slab, SIMLUA_POOL_SLAB_BYTES);
        free(slab);
        slab = next;
    }
    memset(pool, 0, sizeof(*pool));
}
