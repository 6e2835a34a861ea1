/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/runtime.c: the Lua state of one run, its limits, the files it loads,
 * the failures it records, and the top-level run (chunk, then the world).
 *
 * The allocator bounds the state's memory (SIMLUA_MEMORY_BYTES_MAX) and a count
 * hook bounds each step's instructions (SIMLUA_INSTRUCTIONS_PER_STEP_MAX), so a
 * runaway scenario ends with an error naming the limit. Both are deterministic:
 * the hook fires at fixed instruction counts.
 *
 * Every block carries a 16-byte header: the creation number of tables, functions,
 * userdata and threads (the order pairs() and tostring use) and the size of Lua
 * objects other than small strings, which paces the collector. The collector never runs by
 * itself: full collections happen at step starts and hook points once enough object
 * bytes were created (or enough instructions ran, or enough short strings were made), so
 * what a weak table or collectgarbage("count") shows depends only on the program.
 * memory_bytes counts headers too. Blocks of up to SIMLUA_POOL_BLOCK_BYTES_MAX come from a pool (pool.c;
 * malloc under ASan) that the runtime frees in one go; the limit counts what the pool holds
 * idle as used, so a block handed out of that idle memory is never refused by it.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lualib.h>

#include "lua_int.h"
#include "sim/engine/duration.h"
#include "sim/engine/error.h"

/* Every block the Lua state allocates starts with this header (16 bytes, so the
 * block Lua sees keeps malloc's 16-byte alignment; realloc moves it along). */
struct block_header {
    uint64_t creation;          /* creation number of a table, function, userdata or thread */
    uint64_t object_bytes;      /* the block's size when it is a paced object, else 0 */
};
_Static_assert(sizeof(struct block_header) == 16, "the header keeps 16-byte alignment");

/* Lua calls the allocator with pointer == NULL and old_bytes == the object's type tag when
 * it creates a collectable object (0 for arrays, stacks and other buffers). Small strings
 * are left out of the collector's pace: lua_pushstring (and lua_getfield/setfield) reuse
 * a long string from a cache indexed by the C string's address, so how many of them get
 * created can differ between two runs. Those are names and messages; strings of
 * SIMLUA_GC_STRING_BYTES_MIN or more (payloads, patterns) are counted, or a loop making
 * large strings would fill SIMLUA_MEMORY_BYTES_MAX before any collection. Every other
 * object is created exactly when the program says. */
static bool block_is_paced(size_t tag, size_t bytes)
{
    if (tag == LUA_TSTRING)
        return bytes >= SIMLUA_GC_STRING_BYTES_MIN;
    return tag != 0;
}

static bool tag_is_numbered(size_t tag)
{
    return tag == LUA_TTABLE || tag == LUA_TFUNCTION || tag == LUA_TUSERDATA ||
           tag == LUA_TTHREAD;
}

bool simlua__block_is_paced(size_t tag, size_t bytes)
{
    return block_is_paced(tag, bytes);
}

bool simlua__tag_is_numbered(size_t tag)
{
    return tag_is_numbered(tag);
}

/* A short string's block (one Lua interns: "which strings are short", below): a string
 * block the object pace leaves out, no larger than the measured short-string block. */
static inline bool block_is_short_string(size_t tag, size_t bytes,
                                         size_t short_string_block_bytes_max)
{
    return tag == LUA_TSTRING && !block_is_paced(tag, bytes) &&
           bytes <= short_string_block_bytes_max;
}

bool simlua__block_is_short_string(size_t tag, size_t bytes, size_t short_string_block_bytes_max)
{
    return block_is_short_string(tag, bytes, short_string_block_bytes_max);
}

static inline __attribute__((always_inline)) void block_created(struct simlua_runtime *runtime,
                                                              struct block_header *header,
                                                              size_t tag, size_t bytes)
{
    header->creation = 0;
    header->object_bytes = 0;
    if (tag == 0)
        return;
    runtime->object_block_last = header + 1;
    if (!block_is_paced(tag, bytes)) {
        if (block_is_short_string(tag, bytes, runtime->short_string_block_bytes_max))
            runtime->gc_short_string_bytes_since += bytes;
        return;
    }
    header->object_bytes = bytes;
    runtime->object_live_bytes += bytes;
    runtime->gc_object_bytes_since += bytes;
    if (tag_is_numbered(tag))
        header->creation = ++runtime->object_id_next;
}

static void gc_pace_restart(struct simlua_runtime *runtime)
{
    runtime->gc_object_bytes_since = 0;
    runtime->gc_instructions_since = 0;
    runtime->gc_threshold_bytes = runtime->object_live_bytes > SIMLUA_GC_OBJECT_BYTES_MIN
                                      ? runtime->object_live_bytes
                                      : SIMLUA_GC_OBJECT_BYTES_MIN;
    runtime->gc_short_string_bytes_since = 0;
    uint64_t by_live_bytes = SIMLUA_GC_SHORT_STRING_LIVE_FACTOR * runtime->object_live_bytes;
    runtime->gc_short_string_threshold_bytes = by_live_bytes > SIMLUA_GC_SHORT_STRING_BYTES_MIN
                                                   ? by_live_bytes
                                                   : SIMLUA_GC_SHORT_STRING_BYTES_MIN;
    runtime->gc_collections++;
}

/* The backstop for code that makes objects faster than the hook checks (a few
 * instructions making large strings): at twice the pace, a new paced object is refused
 * once; Lua then runs a full collection itself and asks again, and that second request
 * restarts the pace. Both points depend only on the program. */
static bool gc_refuse_for_collection(struct simlua_runtime *runtime, size_t tag, size_t bytes)
{
    if (runtime->gc_refused) {
        runtime->gc_refused = false;
        gc_pace_restart(runtime);
        return false;
    }
    if (!block_is_paced(tag, bytes) ||
        runtime->gc_object_bytes_since < 2 * runtime->gc_threshold_bytes)
        return false;
    runtime->gc_refused = true;
    return true;
}

/* The state's memory as the limit sees it: the blocks Lua holds and what the pool holds
 * idle for later blocks. */
static uint64_t memory_footprint_bytes(const struct simlua_runtime *runtime)
{
    return runtime->memory_bytes + simlua__pool_idle_bytes(&runtime->pool);
}

static bool string_block_keep(struct simlua_runtime *runtime, void *block, size_t block_bytes);

/* Small blocks come from the pool, large ones from malloc; the size Lua gives with every
 * free and resize says which. */
static void block_free(struct simlua_runtime *runtime, void *block, size_t block_bytes)
{
    if (simlua__pool_serves(block_bytes))
        simlua__pool_free(&runtime->pool, block, block_bytes);
    else {
        simlua__block_set_remove(&runtime->malloc_blocks, block);
        if (!string_block_keep(runtime, block, block_bytes))
            free(block);
    }
}

/* A block the pool does not serve (kept out of line: the allocator's common path is the
 * pool's). */
static __attribute__((noinline)) void *block_malloc(struct simlua_runtime *runtime,
                                                    size_t block_bytes)
{
    void *block = malloc(block_bytes);
    if (block != NULL)
        simlua__block_set_add(&runtime->malloc_blocks, block);
    return block;
}

static inline __attribute__((always_inline)) void *block_alloc(struct simlua_runtime *runtime,
                                                                size_t block_bytes)
{
    if (simlua__pool_serves(block_bytes))
        return simlua__pool_alloc(&runtime->pool, block_bytes);
    return block_malloc(runtime, block_bytes);
}

/* realloc for a block the pool does not serve before or after; on failure the block stays
 * where it was, and in the set. */
static void *block_realloc(struct simlua_runtime *runtime, void *block, size_t block_bytes)
{
    simlua__block_set_remove(&runtime->malloc_blocks, block);
    void *moved = realloc(block, block_bytes);
    simlua__block_set_add(&runtime->malloc_blocks, moved != NULL ? moved : block);
    return moved;
}

/* Resizes (or, when block is NULL, allocates) a block; on failure the old one is intact.
 * The header moves with the block. */
static void *block_resize(struct simlua_runtime *runtime, void *block, size_t old_bytes,
                          size_t new_bytes)
{
    if (block == NULL)
        return block_alloc(runtime, new_bytes);
    bool old_pooled = simlua__pool_serves(old_bytes);
    bool new_pooled = simlua__pool_serves(new_bytes);
    if (!old_pooled && !new_pooled)
        return block_realloc(runtime, block, new_bytes);
    if (old_pooled && new_pooled &&
        simlua__pool_resize_in_place(&runtime->pool, block, old_bytes, new_bytes))
        return block;
    void *moved = block_alloc(runtime, new_bytes);
    if (moved == NULL)
        return NULL;
    memcpy(moved, block, old_bytes < new_bytes ? old_bytes : new_bytes);
    block_free(runtime, block, old_bytes);
    return moved;
}

/* Lua frees a block (pointer may be NULL: nothing to free). */
static void runtime_free(struct simlua_runtime *runtime, void *pointer, size_t old_bytes)
{
    if (pointer == NULL)
        return;
    struct block_header *header = (struct block_header *)pointer - 1;
    uint64_t old_total = old_bytes + sizeof(*header);
    assert(runtime->object_live_bytes >= header->object_bytes);
    assert(runtime->memory_bytes >= old_total);
    runtime->object_live_bytes -= header->object_bytes;
    runtime->memory_bytes -= old_total;
    block_free(runtime, header, old_total);
}

/* ---- a large string's block, filled before the string is made ---------------------- *
 *
 * lua_pushlstring() copies its bytes into the new string, and the Lua 5.4 API has no way to
 * make a string for C code to fill. A recv that copies a ring's bytes out while hashing
 * them for the stream_bytes tally (one pass) would then need a second copy into the
 * string, into memory that is usually out of every cache. So the recv copies into a block
 * prepared here, at the place a string's bytes would have in it, and lua_pushlstring() is
 * given that place: its allocation request (a string, the block's size) is answered with
 * that very block, and its copy is of the bytes onto themselves, which glibc's memcpy
 * returns from at once. Nothing depends on this for correctness: a request that does not
 * fit (another size) gets a block as usual and the string is copied from the prepared one.
 * The place of the bytes in a string's block (the header before them) is measured on the
 * first such string, never assumed; a string whose bytes were not where measured would be
 * a broken assumption (asserted). The block becomes a Lua block only when Lua takes it,
 * through the same accounting as any other (the pace, the limit), so runs, traces and
 * digests are the same as with the plain copy. */

/* The block's size for a string of `size_bytes` at the measured offset. */
static size_t string_block_bytes_for(const struct simlua_runtime *runtime, size_t size_bytes)
{
    return sizeof(struct block_header) + runtime->string_contents_offset + size_bytes + 1;
}

/* A block Lua frees that has the prepared strings' size is kept for a later reserve
 * (SIMLUA_STRING_BLOCKS_KEPT_BYTES_MAX, lua_int.h): the collector frees a lap of received
 * strings at once, newest first, and reusing them in that order writes the next strings
 * over lines the second-level cache may still hold (each string's block is otherwise one
 * malloc freed a lap ago, in no cache: a sixth of a 64 KiB stream's time). Any block of
 * that size will do, whatever it held: a kept block is only ever written over. Keeping one
 * changes nothing Lua sees (it left the accounting when Lua freed it). */
static bool string_block_keep(struct simlua_runtime *runtime, void *block, size_t block_bytes)
{
    if (block_bytes != runtime->string_kept_block_bytes ||
        (runtime->string_blocks_kept_count + 1u) * block_bytes >
            SIMLUA_STRING_BLOCKS_KEPT_BYTES_MAX)
        return false;
    assert(runtime->string_blocks_kept_count < SIMLUA_STRING_BLOCKS_KEPT_MAX);
    uint32_t slot = (runtime->string_blocks_kept_first + runtime->string_blocks_kept_count) %
                    SIMLUA_STRING_BLOCKS_KEPT_MAX;
    runtime->string_blocks_kept[slot] = block;
    runtime->string_blocks_kept_count++;
    return true;
}

/* Gives back every kept block (another size is prepared now, or the runtime ends). */
static void string_blocks_kept_free(struct simlua_runtime *runtime)
{
    for (uint32_t index = 0; index < runtime->string_blocks_kept_count; index++)
        free(runtime->string_blocks_kept[(runtime->string_blocks_kept_first + index) %
                                         SIMLUA_STRING_BLOCKS_KEPT_MAX]);
    runtime->string_blocks_kept_first = 0;
    runtime->string_blocks_kept_count = 0;
}

/* A block of `block_bytes` for the next string: the oldest kept one when there is one of
 * that size, else a new one (NULL when out of memory). */
static void *string_block_get(struct simlua_runtime *runtime, size_t block_bytes)
{
    if (runtime->string_kept_block_bytes != block_bytes) {
        string_blocks_kept_free(runtime);
        runtime->string_kept_block_bytes = block_bytes;
    }
    if (runtime->string_blocks_kept_count == 0)
        return malloc(block_bytes);
    void *block = runtime->string_blocks_kept[runtime->string_blocks_kept_first];
    runtime->string_blocks_kept_first =
        (runtime->string_blocks_kept_first + 1u) % SIMLUA_STRING_BLOCKS_KEPT_MAX;
    runtime->string_blocks_kept_count--;
    runtime->string_blocks_reused++;
    return block;
}

uint8_t *simlua__string_reserve(lua_State *L, size_t size_bytes)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    runtime->string_block_mode = SIMLUA_STRING_BLOCK_IDLE;  /* a push that raised left it */
    if (size_bytes < SIMLUA_STRING_RESERVE_BYTES_MIN ||
        size_bytes > SIMLUA_STRING_RESERVE_BYTES_MAX || runtime->string_contents_unknowable)
        return NULL;
    /* Not measured yet: a block with room for any header; the first push measures. */
    size_t offset_bytes = runtime->string_contents_offset != 0 ? runtime->string_contents_offset
                                                               : SIMLUA_STRING_HEADER_BYTES_MAX;
    size_t block_bytes = sizeof(struct block_header) + offset_bytes + size_bytes + 1;
    if (runtime->string_block_bytes != block_bytes) {
        free(runtime->string_block);
        runtime->string_block = string_block_get(runtime, block_bytes);
        runtime->string_block_bytes = runtime->string_block != NULL ? block_bytes : 0;
        if (runtime->string_block == NULL)
            return NULL;
    }
    return (uint8_t *)runtime->string_block + sizeof(struct block_header) + offset_bytes;
}

/* The allocator's side: the block for a request of `block_bytes` (header included) with
 * `tag`, when one is offered and the size is exactly its own; else NULL. */
static inline void *string_block_answer(struct simlua_runtime *runtime, size_t tag,
                                        size_t block_bytes)
{
    if (__builtin_expect(runtime->string_block_mode != SIMLUA_STRING_BLOCK_OFFER, 1))
        return NULL;
    if (tag != LUA_TSTRING || block_bytes != runtime->string_block_bytes)
        return NULL;
    void *block = runtime->string_block;
    runtime->string_block = NULL;
    runtime->string_block_bytes = 0;
    runtime->string_block_taken = true;
    runtime->string_blocks_taken++;
    runtime->string_block_mode = SIMLUA_STRING_BLOCK_IDLE;
    simlua__block_set_add(&runtime->malloc_blocks, block);
    return block;
}

/* The allocator's side while a push measures: the block the string's request got. */
static inline void string_block_note(struct simlua_runtime *runtime, size_t tag, void *block)
{
    if (__builtin_expect(runtime->string_block_mode == SIMLUA_STRING_BLOCK_MEASURE, 0) &&
        tag == LUA_TSTRING && runtime->string_block_seen == NULL)
        runtime->string_block_seen = block;
}

/* runtime_new's path while a push offers or measures a string's block (rare: only large
 * receives take it, so the common allocation tests one mode and nothing else). */
static __attribute__((noinline)) struct block_header *
string_block_new(struct simlua_runtime *runtime, size_t tag, size_t block_bytes)
{
    struct block_header *header = string_block_answer(runtime, tag, block_bytes);
    if (header != NULL)
        return header;
    header = block_alloc(runtime, block_bytes);
    if (header != NULL)
        string_block_note(runtime, tag, header + 1);
    return header;
}

void simlua__push_reserved(lua_State *L, const uint8_t *contents, size_t size_bytes)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    assert(runtime->string_block != NULL && contents != NULL);
    assert(contents + size_bytes < (const uint8_t *)runtime->string_block +
                                       runtime->string_block_bytes);
    if (size_bytes < SIMLUA_STRING_RESERVE_BYTES_MIN) {
        lua_pushlstring(L, (const char *)contents, size_bytes);     /* a short string */
        return;
    }
    bool measuring = runtime->string_contents_offset == 0;
    runtime->string_block_seen = NULL;
    runtime->string_block_taken = false;
    runtime->string_block_mode = measuring ? SIMLUA_STRING_BLOCK_MEASURE
                                           : SIMLUA_STRING_BLOCK_OFFER;
    if (!measuring && string_block_bytes_for(runtime, size_bytes) != runtime->string_block_bytes)
        runtime->string_block_mode = SIMLUA_STRING_BLOCK_IDLE;     /* fewer bytes came */
    lua_pushlstring(L, (const char *)contents, size_bytes);
    runtime->string_block_mode = SIMLUA_STRING_BLOCK_IDLE;
    const char *made = lua_tostring(L, -1);
    if (measuring) {
        /* The offset from the block Lua was given to the string's bytes. */
        uintptr_t given = (uintptr_t)runtime->string_block_seen;
        size_t offset_bytes = given != 0 && (uintptr_t)made > given
                                  ? (size_t)((uintptr_t)made - given) : 0;
        if (offset_bytes == 0 || offset_bytes > SIMLUA_STRING_HEADER_BYTES_MAX)
            runtime->string_contents_unknowable = true;
        else
            runtime->string_contents_offset = offset_bytes;
        return;
    }
    assert(!runtime->string_block_taken || (const uint8_t *)made == contents);
    (void)made;
}

/* A request refused: Lua collects in full (an emergency cycle) and asks again, and that
 * cycle sets the collector's debt anew, so it is lowered again at the next point that can
 * (gc_maybe). */
static void *refuse(struct simlua_runtime *runtime)
{
    runtime->gc_debt_stale = true;
    return NULL;
}

/* A request refused because the state would pass SIMLUA_MEMORY_BYTES_MAX: counted, so that a
 * memory error the scenario catches is known to be the limit's (limit_refusals). */
static void *refuse_at_limit(struct simlua_runtime *runtime)
{
    runtime->limit_refusals++;
    return refuse(runtime);     /* Lua collects everything (a full cycle) and tries again */
}

/* Whether `added_bytes` more would take the state past SIMLUA_MEMORY_BYTES_MAX. */
static inline bool memory_limit_passed(const struct simlua_runtime *runtime,
                                       uint64_t added_bytes)
{
    return memory_footprint_bytes(runtime) + added_bytes > SIMLUA_MEMORY_BYTES_MAX;
}

/* Whether a new block of `new_total` bytes (header included) is refused by the limit. The
 * footprint counts what the pool holds idle as used, so a block the pool serves from that
 * idle memory (a block a collection freed, or the newest slab's unused end) does not add
 * to it and is never refused: otherwise a state whose garbage once filled the pool to the
 * limit could allocate nothing ever again, even after a collection freed all of it. */
static inline bool new_block_refused(const struct simlua_runtime *runtime, uint64_t new_total)
{
    if (__builtin_expect(!memory_limit_passed(runtime, new_total), 1))
        return false;
    return !(simlua__pool_serves(new_total) && simlua__pool_has_room(&runtime->pool, new_total));
}

/* The end of every new block's request: a NULL header refuses it, else it is counted and
 * its header filled, and Lua gets the bytes after the header. */
static inline __attribute__((always_inline)) void *
block_new_taken(struct simlua_runtime *runtime, struct block_header *header, size_t tag,
                size_t new_bytes)
{
    if (header == NULL)
        return refuse(runtime);
    runtime->memory_bytes += new_bytes + sizeof(struct block_header);
    block_created(runtime, header, tag, new_bytes);
    return header + 1;
}

/* runtime_new in every case but the common one (no refusal pending or due, no string
 * block offered or measured): the same steps, in their order. */
static __attribute__((noinline)) void *runtime_new_other(struct simlua_runtime *runtime,
                                                         size_t tag, size_t new_bytes)
{
    if (gc_refuse_for_collection(runtime, tag, new_bytes))
        return refuse(runtime);
    uint64_t new_total = new_bytes + sizeof(struct block_header);
    if (new_block_refused(runtime, new_total))
        return refuse_at_limit(runtime);
    struct block_header *header = runtime->string_block_mode != SIMLUA_STRING_BLOCK_IDLE
                                      ? string_block_new(runtime, tag, new_total)
                                      : block_alloc(runtime, new_total);
    return block_new_taken(runtime, header, tag, new_bytes);
}

/* Lua asks for a new block (tag: the object type, 0 for other blocks); NULL refuses it.
 * Nearly every request of a run is a small block while no refusal is pending or due and
 * no string block is offered: that case is decided by one test and served by the pool's
 * inline path (a free list's head, or the next block carved from the newest slab);
 * everything else goes the full way (runtime_new_other). The accounting is the same. */
static inline void *runtime_new(struct simlua_runtime *runtime, size_t tag, size_t new_bytes)
{
    bool paced = block_is_paced(tag, new_bytes);
    bool refusal = runtime->gc_refused ||
                   (paced && runtime->gc_object_bytes_since >= 2 * runtime->gc_threshold_bytes);
    if (__builtin_expect(refusal || runtime->string_block_mode != SIMLUA_STRING_BLOCK_IDLE, 0))
        return runtime_new_other(runtime, tag, new_bytes);
    uint64_t new_total = new_bytes + sizeof(struct block_header);
    if (new_block_refused(runtime, new_total))
        return refuse_at_limit(runtime);
    return block_new_taken(runtime, block_alloc(runtime, new_total), tag, new_bytes);
}

/* Whether growing a block from `old_total` to `new_total` bytes (headers included) is
 * refused by the limit: when it would take the footprint past it. A pooled block that
 * stays in its class, or moves to a class the pool has room in (its old block becoming
 * idle), changes the footprint only by the difference of the two blocks' unused ends,
 * as new_block_refused's reasoning gives; any other growth by what it adds. */
static bool resize_growth_refused(const struct simlua_runtime *runtime, uint64_t old_total,
                                  uint64_t new_total)
{
    assert(new_total > old_total);
    if (!memory_limit_passed(runtime, new_total - old_total))
        return false;
    if (!simlua__pool_serves(old_total) || !simlua__pool_serves(new_total))
        return true;
    struct simlua_pool_class old_class = simlua__pool_class(old_total);
    struct simlua_pool_class new_class = simlua__pool_class(new_total);
    if (old_class.index != new_class.index && !simlua__pool_has_room(&runtime->pool, new_total))
        return true;                    /* a new slab */
    uint64_t old_unused = old_class.bytes - old_total, new_unused = new_class.bytes - new_total;
    return old_unused > new_unused && memory_limit_passed(runtime, old_unused - new_unused);
}

/* Lua resizes a block it holds (the rarer request: kept out of the two above). */
static __attribute__((noinline)) void *runtime_resize(struct simlua_runtime *runtime,
                                                      void *pointer, size_t old_bytes,
                                                      size_t new_bytes)
{
    struct block_header *header = (struct block_header *)pointer - 1;
    uint64_t old_total = old_bytes + sizeof(*header);
    uint64_t new_total = new_bytes + sizeof(*header);
    if (new_total > old_total && resize_growth_refused(runtime, old_total, new_total))
        return refuse_at_limit(runtime);
    struct block_header *resized = block_resize(runtime, header, old_total, new_total);
    if (resized == NULL)
        return refuse(runtime);
    runtime->memory_bytes = runtime->memory_bytes - old_total + new_total;
    return resized + 1;
}

/* Lua's allocator function: free (new_bytes 0), new block (pointer NULL; old_bytes is then
 * the type tag) or resize. */
static void *runtime_alloc(void *state, void *pointer, size_t old_bytes, size_t new_bytes)
{
    struct simlua_runtime *runtime = state;
    if (__builtin_expect(pointer == NULL && new_bytes != 0, 1))    /* the usual request */
        return runtime_new(runtime, old_bytes, new_bytes);
    if (new_bytes == 0) {
        runtime_free(runtime, pointer, old_bytes);
        return NULL;
    }
    return runtime_resize(runtime, pointer, old_bytes, new_bytes);
}

uint64_t simlua__block_creation(const void *block)
{
    assert(block != NULL);
    return ((const struct block_header *)block - 1)->creation;
}

/* Full collections at points that depend only on the program: the collector never
 * runs on its own (it is stopped in simlua_create), so weak tables, collectgarbage("count")
 * and C finalizers see the same collections in every run. The pace is measured in bytes
 * of new Lua objects, whose sizes depend only on the program (unlike table parts, whose
 * growth depends on hash collisions). */
/* The stopped collector's debt set far below zero. Lua adds every allocation to the debt and,
 * while it is above zero, calls the collector at each allocation and at each table,
 * closure and concatenation the program makes; stopped, the collector then does nothing.
 * A step of a negative size only lowers the debt (the step itself runs only above zero),
 * and the total Lua reports (collectgarbage("count")) does not move. A full collection
 * sets the debt from the live bytes again, so it is lowered after each. */
static void gc_debt_lower(lua_State *L)
{
    int stepped = lua_gc(L, LUA_GCSTEP, SIMLUA_GC_DEBT_LOWER_KIB);
    assert(stepped == 0);                       /* no step ran, no cycle ended */
    assert(lua_gc(L, LUA_GCISRUNNING) == 0);    /* and the collector is still stopped */
    (void)stepped;
}

void simlua__gc_collect(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    lua_gc(L, LUA_GCCOLLECT);
    gc_debt_lower(L);
    runtime->gc_refused = false;
    gc_pace_restart(runtime);
}

/* Due when the objects created since the last collection weigh as much as the live ones
 * (at least SIMLUA_GC_OBJECT_BYTES_MIN), or after SIMLUA_GC_INSTRUCTIONS_MAX instructions
 * (garbage made of strings only), or when the short strings made since reach their
 * threshold (the same garbage, made by processes too short for the hook: it counts each
 * coroutine's instructions apart, so a coroutine that runs less than
 * SIMLUA_HOOK_INSTRUCTIONS in all never adds to gc_instructions_since). */
static void gc_maybe(lua_State *L, struct simlua_runtime *runtime)
{
    if (__builtin_expect(runtime->gc_debt_stale, 0)) {
        runtime->gc_debt_stale = false;
        gc_debt_lower(L);
    }
    if (runtime->gc_object_bytes_since >= runtime->gc_threshold_bytes ||
        runtime->gc_instructions_since >= SIMLUA_GC_INSTRUCTIONS_MAX ||
        runtime->gc_short_string_bytes_since >= runtime->gc_short_string_threshold_bytes)
        simlua__gc_collect(L);
}

/* ---- which strings are short ----------------------------------------------------------- *
 *
 * Small strings are left out of the object pace (block_is_paced: how many long strings
 * lua_pushstring makes depends on a cache indexed by addresses). Short strings have no
 * such cache effect: Lua interns them, so a short string is made exactly when no string
 * with its bytes exists, which depends only on the program and the collection points; and
 * a cache hit finds a string the table holds, where a miss finds the same one. So their
 * bytes can pace the collector. Which string blocks are short is measured, never taken
 * from Lua's private headers: a string made twice makes one block when it is short, two
 * when it is long, and short strings are the shorter ones. */

/* Makes a string of `length` bytes twice (a 1, then 'S's: no other string's bytes);
 * returns the first one's block bytes (0: none was made: the probe cannot tell) and
 * whether the second made no block (interned). */
static size_t short_string_probe(lua_State *L, struct simlua_runtime *runtime, size_t length,
                                 bool *interned)
{
    char text[SIMLUA_SHORT_STRING_PROBE_BYTES_MAX];
    assert(length >= 1 && length <= sizeof(text));
    memset(text, 'S', length);
    text[0] = '\1';
    uint64_t before = runtime->gc_short_string_bytes_since;
    lua_pushlstring(L, text, length);
    uint64_t first_bytes = runtime->gc_short_string_bytes_since - before;
    lua_pushlstring(L, text, length);
    *interned = runtime->gc_short_string_bytes_since - before == first_bytes;
    lua_pop(L, 2);
    return (size_t)first_bytes;
}

/* Run protected while every string counts (short_string_block_bytes_max at its largest):
 * the largest short length by bisection, then its block bytes into *result (a light
 * userdata; stays 0 when the probe cannot tell). */
static int short_string_measure(lua_State *L)
{
    size_t *result = lua_touserdata(L, 1);
    struct simlua_runtime *runtime = simlua__runtime(L);
    bool interned = false;
    size_t short_bytes = short_string_probe(L, runtime, 1, &interned);
    if (short_bytes == 0 || !interned)
        return 0;
    size_t low = 1, high = SIMLUA_SHORT_STRING_PROBE_BYTES_MAX;     /* short, long */
    if (short_string_probe(L, runtime, high, &interned) == 0 || interned)
        return 0;
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        size_t block_bytes = short_string_probe(L, runtime, middle, &interned);
        if (block_bytes == 0)
            return 0;
        if (interned) {
            low = middle;
            short_bytes = block_bytes;
        } else {
            high = middle;
        }
    }
    size_t long_bytes = short_string_probe(L, runtime, high, &interned);
    if (!interned && long_bytes > short_bytes)      /* sizes tell the two apart */
        *result = short_bytes;
    return 0;
}

/* Sets short_string_block_bytes_max (0 when the probe cannot tell: short strings then do
 * not pace the collector, as before the probe). */
static void short_strings_measure(struct simlua_runtime *runtime)
{
    size_t measured_bytes = 0;
    runtime->short_string_block_bytes_max = SIZE_MAX;
    lua_pushcfunction(runtime->L, short_string_measure);
    lua_pushlightuserdata(runtime->L, &measured_bytes);
    if (lua_pcall(runtime->L, 1, 0, 0) != LUA_OK) {
        lua_pop(runtime->L, 1);
        measured_bytes = 0;
    }
    runtime->short_string_block_bytes_max = measured_bytes;
    runtime->gc_short_string_bytes_since = 0;
}

static void runtime_hook(lua_State *L, lua_Debug *debug)
{
    (void)debug;
    struct simlua_runtime *runtime = simlua__runtime(L);
    runtime->instructions += SIMLUA_HOOK_INSTRUCTIONS;
    runtime->gc_instructions_since += SIMLUA_HOOK_INSTRUCTIONS;
    if (runtime->instructions > runtime->instructions_per_step_max) {
        char value[32];
        snprintf(value, sizeof(value), "%llu",
                 (unsigned long long)runtime->instructions_per_step_max);
        luaL_error(L, "limit SIMLUA_INSTRUCTIONS_PER_STEP_MAX (%s Lua instructions without "
                      "blocking) exceeded: an endless loop? A process that must compute "
                      "longer can block now and then (p:sleep(0)); the limit itself is "
                      "raised in sim/lua/runtime.h",
                   value);
    }
    gc_maybe(L, runtime);
}

void simlua__step_begin(struct simlua_runtime *runtime)
{
    runtime->instructions = 0;
    runtime->limit_refusals = 0;
    gc_maybe(runtime->L, runtime);
}

struct simlua_runtime *simlua_create(const struct simlua_options *options)
{
    assert(options != NULL);
    assert(options->scenario_path != NULL);
    struct simlua_runtime *runtime = calloc(1, sizeof(*runtime));
    if (runtime == NULL)
        return NULL;
    runtime->options = *options;
    runtime->gc_threshold_bytes = SIMLUA_GC_OBJECT_BYTES_MIN;
    runtime->L = lua_newstate(runtime_alloc, runtime);
    if (runtime->L == NULL) {
        simlua__pool_destroy(&runtime->pool);
        simlua__block_set_destroy(&runtime->malloc_blocks);
        free(runtime);
        return NULL;
    }
    runtime->instructions_per_step_max = options->instructions_per_step_max != 0
                                             ? options->instructions_per_step_max
                                             : SIMLUA_INSTRUCTIONS_PER_STEP_MAX;
    lua_gc(runtime->L, LUA_GCSTOP);
    gc_debt_lower(runtime->L);
    runtime->gc_short_string_threshold_bytes = SIMLUA_GC_SHORT_STRING_BYTES_MIN;
    short_strings_measure(runtime);
    lua_sethook(runtime->L, runtime_hook, LUA_MASKCOUNT, (int)SIMLUA_HOOK_INSTRUCTIONS);
    const char *slash = strrchr(options->scenario_path, '/');
    if (slash == NULL)
        snprintf(runtime->scenario_dir, sizeof(runtime->scenario_dir), ".");
    else
        snprintf(runtime->scenario_dir, sizeof(runtime->scenario_dir), "%.*s",
                 (int)(slash - options->scenario_path), options->scenario_path);
    return runtime;
}

/* teardown_wholesale: frees the Lua state's malloc'd blocks without lua_close (the pool's
 * slabs go next, as always). Once the world is gone, what lua_close would still do is free
 * Lua's own memory object by object and run the finalizers left, none of them scenario
 * code: scenarios cannot set __gc (sandbox.c); the chunk has returned, so the main thread
 * has no pending to-be-closed variable (lua_close closes no coroutine's); and the
 * finalizers other than the bindings' (the auxiliary library's buffer boxes, package's
 * list of C libraries, which holds none) free Lua memory only. Of the bindings', those of
 * datagrams and queue pairs free memory outside the state (close_needed): with one of
 * them made, or a block the set could not record, the state is closed as usual. */
static bool state_free_whole(struct simlua_runtime *runtime)
{
    assert(runtime->world == NULL);
    if (!runtime->options.teardown_wholesale || runtime->close_needed ||
        runtime->malloc_blocks.lost)
        return false;
    simlua__block_set_free_all(&runtime->malloc_blocks);
    return true;
}

void simlua_destroy(struct simlua_runtime *runtime)
{
    if (runtime == NULL)
        return;
    /* The engine first: live processes are released without touching Lua. */
    if (runtime->world != NULL)
        simlua__world_destroy(runtime->world);
    runtime->world = NULL;
    if (!state_free_whole(runtime)) {
        lua_close(runtime->L);
        /* Every block came back: the accounting the limit and the collector rely on is
         * exact. */
        assert(runtime->memory_bytes == 0);
        assert(runtime->object_live_bytes == 0);
        assert(runtime->pool.live_bytes == 0);
        assert(runtime->malloc_blocks.lost || runtime->malloc_blocks.count == 0);
        simlua__block_set_destroy(&runtime->malloc_blocks);
    }
    runtime->L = NULL;
    free(runtime->string_block);    /* prepared and never taken: not a Lua block */
    string_blocks_kept_free(runtime);   /* after lua_close, whose frees may keep some */
    simlua__pool_destroy(&runtime->pool);
    for (uint32_t index = 0; index < runtime->file_count; index++) {
        free(runtime->files[index].path);
        free(runtime->files[index].text);
    }
    for (uint32_t index = 0; index < runtime->failure_count; index++)
        free(runtime->failures[index].message);
    free(runtime->failures);
    free(runtime);
}

uint64_t simlua_gc_collections(const struct simlua_runtime *runtime)
{
    assert(runtime != NULL);
    return runtime->gc_collections;
}

uint32_t simlua_file_count(const struct simlua_runtime *runtime)
{
    return runtime->file_count;
}

const struct simlua_file *simlua_file(const struct simlua_runtime *runtime, uint32_t index)
{
    assert(index < runtime->file_count);
    return &runtime->files[index];
}

int simlua__file_record(struct simlua_runtime *runtime, const char *path, const char *text,
                        size_t text_bytes)
{
    if (runtime->file_count >= SIMLUA_FILES_MAX)
        return SIM_ELIMIT;
    struct simlua_file *file = &runtime->files[runtime->file_count];
    file->path = strdup(path);
    file->text = malloc(text_bytes + 1);
    if (file->path == NULL || file->text == NULL) {
        free(file->path);
        free(file->text);
        return SIM_ENOMEM;
    }
    memcpy(file->text, text, text_bytes);
    file->text[text_bytes] = '\0';
    file->text_bytes = text_bytes;
    runtime->file_count++;
    return SIM_OK;
}

/* Reads a whole file into a malloc'd buffer. Returns NULL and a message on failure (the
 * path in it as sim_message_path shows it, so that the cause is never cut off). */
static char *read_file(const char *path, size_t *size_out, char *message, size_t message_bytes)
{
    char shown[SIM_MESSAGE_PATH_BYTES_MAX];
    sim_message_path(path, shown);
    FILE *stream = fopen(path, "rb");
    if (stream == NULL) {
        snprintf(message, message_bytes, "cannot open %s: %s", shown, strerror(errno));
        return NULL;
    }
    char *text = malloc(SIMLUA_FILE_BYTES_MAX + 1);
    size_t size = text == NULL ? 0 : fread(text, 1, SIMLUA_FILE_BYTES_MAX + 1, stream);
    bool failed = text == NULL || ferror(stream);
    int read_errno = text == NULL ? ENOMEM : errno;   /* why (a folder: EISDIR), before fclose */
    fclose(stream);
    if (failed) {
        snprintf(message, message_bytes, "cannot read %s: %s", shown, strerror(read_errno));
        free(text);
        return NULL;
    }
    if (size > SIMLUA_FILE_BYTES_MAX) {
        snprintf(message, message_bytes, "%s is larger than SIMLUA_FILE_BYTES_MAX (%u bytes)",
                 shown, SIMLUA_FILE_BYTES_MAX);
        free(text);
        return NULL;
    }
    *size_out = size;
    return text;
}

/* The preloaded text of `path` (replay), or NULL. */
static const struct simlua_file *preloaded_find(const struct simlua_runtime *runtime,
                                                const char *path)
{
    for (uint32_t index = 0; index < runtime->options.preloaded_count; index++) {
        if (strcmp(runtime->options.preloaded[index].path, path) == 0)
            return &runtime->options.preloaded[index];
    }
    return NULL;
}

bool simlua__file_exists(const struct simlua_runtime *runtime, const char *path)
{
    if (runtime->options.preloaded != NULL)
        return preloaded_find(runtime, path) != NULL;
    struct stat status;
    return stat(path, &status) == 0;
}

/* A copy of the preloaded text of `path`, or NULL and a message. */
static char *read_preloaded(const struct simlua_runtime *runtime, const char *path,
                            size_t *size_out, char *message, size_t message_bytes)
{
    char shown[SIM_MESSAGE_PATH_BYTES_MAX];
    sim_message_path(path, shown);
    const struct simlua_file *file = preloaded_find(runtime, path);
    if (file == NULL) {
        snprintf(message, message_bytes, "%s is not among the trace's files", shown);
        return NULL;
    }
    char *text = malloc(file->text_bytes + 1);
    if (text == NULL) {
        snprintf(message, message_bytes, "cannot read %s: out of memory", shown);
        return NULL;
    }
    memcpy(text, file->text, file->text_bytes);
    *size_out = file->text_bytes;
    return text;
}

/* What `lua` skips of a file before the chunk (luaL_loadfilex): a UTF-8 byte-order mark,
 * then a first line that starts with '#' (a "#!" line), up to but not including its
 * newline, so that line numbers stay those of the file. The file's text is recorded
 * whole; replay skips the same. */
static size_t chunk_start(const char *text, size_t size)
{
    size_t start = 0;
    if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    if (start < size && text[start] == '#') {
        const char *newline = memchr(text + start, '\n', size - start);
        start = newline != NULL ? (size_t)(newline - text) : size;
    }
    assert(start <= size);
    return start;
}

int simlua__load_file(lua_State *L, const char *path)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    size_t size = 0;
    char *text = runtime->options.preloaded != NULL
                     ? read_preloaded(runtime, path, &size, message, sizeof(message))
                     : read_file(path, &size, message, sizeof(message));
    if (text == NULL) {
        runtime->load_failed = true;
        lua_pushstring(L, message);
        return LUA_ERRFILE;
    }
    int rc = simlua__file_record(runtime, path, text, size);
    if (rc < 0) {
        free(text);
        runtime->load_failed = true;
        lua_pushfstring(L, "cannot load %s: limit SIMLUA_FILES_MAX (%d files) exceeded", path,
                        (int)SIMLUA_FILES_MAX);
        return LUA_ERRFILE;
    }
    lua_pushfstring(L, "@%s", path);
    size_t start = chunk_start(text, size);
    rc = simlua__chunk_load(L, text + start, size - start, lua_tostring(L, -1));
    free(text);
    lua_remove(L, -2);  /* drop the chunk name below the chunk or the message */
    if (rc != LUA_OK)
        runtime->load_failed = true;
    return rc;
}

void simlua__memory_error_caught(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    if (runtime->memory_error_caught || runtime->limit_refusals == 0)
        return;
    runtime->memory_error_caught = true;
    runtime->run_failed = true;
    char text[SIM_ERROR_MESSAGE_BYTES_MAX];
    snprintf(text, sizeof(text), "error: limit SIMLUA_MEMORY_BYTES_MAX (%llu bytes of Lua "
             "memory) exceeded; the scenario caught the memory error, the run stops and fails",
             (unsigned long long)SIMLUA_MEMORY_BYTES_MAX);
    simlua__failure(runtime, "", "", text);
    if (runtime->world != NULL) {       /* the run stops after the running event (EN3) */
        struct sim_engine *engine = runtime->world->engine;
        sim_engine_abort(engine, sim_engine_fail(engine, SIM_ELIMIT, "limit "
                                                 "SIMLUA_MEMORY_BYTES_MAX exceeded (Lua memory)"));
    }
}

void simlua__failure(struct simlua_runtime *runtime, const char *vm, const char *process,
                     const char *message)
{
    uint64_t now_ns = runtime->world != NULL ? sim_engine_now(runtime->world->engine) : 0;
    char time_text[32];
    sim_time_format(now_ns, time_text, sizeof(time_text));
    fprintf(stderr, "[%s] %s%s%s: %s\n", time_text, vm[0] ? vm : "world", process[0] ? "/" : "",
            process, message);
    if (runtime->failure_count >= SIMLUA_FAILURES_MAX) {
        runtime->failures_dropped++;
        return;
    }
    if (runtime->failure_count == runtime->failure_capacity) {
        uint32_t capacity = runtime->failure_capacity == 0 ? 16 : runtime->failure_capacity * 2;
        struct simlua_failure *grown = realloc(runtime->failures, capacity * sizeof(*grown));
        if (grown == NULL) {
            runtime->failures_dropped++;
            return;
        }
        runtime->failures = grown;
        runtime->failure_capacity = capacity;
    }
    struct simlua_failure *failure = &runtime->failures[runtime->failure_count];
    failure->time_ns = now_ns;
    snprintf(failure->vm, sizeof(failure->vm), "%s", vm);
    snprintf(failure->process, sizeof(failure->process), "%s", process);
    failure->message = strdup(message);
    if (failure->message == NULL) {
        runtime->failures_dropped++;
        return;
    }
    runtime->failure_count++;
}

static int traceback_handler(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    size_t length = 0;
    const char *message = simlua__tostring(L, 1, &length);
    if (memory_limit_passed(runtime, 4096))
        message = "limit SIMLUA_MEMORY_BYTES_MAX exceeded (Lua memory)";
    simlua__traceback(L, L, message, 1);
    return 1;
}

int simlua__pcall_traceback(lua_State *L, int argument_count, int result_count)
{
    int base = lua_gettop(L) - argument_count;
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    int rc = lua_pcall(L, argument_count, result_count, base);
    lua_remove(L, base);
    return rc;
}

static void push_arg_table(struct simlua_runtime *runtime)
{
    lua_State *L = runtime->L;
    lua_createtable(L, runtime->options.arg_count, 1);
    lua_pushstring(L, runtime->options.scenario_path);
    lua_rawseti(L, -2, 0);
    for (int index = 0; index < runtime->options.arg_count; index++) {
        lua_pushstring(L, runtime->options.args[index]);
        lua_rawseti(L, -2, index + 1);
    }
    lua_setglobal(L, "arg");
}

/* require "vmcisim": the module, then numbers for the C functions it brought. */
static int open_module_numbered(lua_State *L)
{
    lua_pushcfunction(L, simlua__open_module);
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    /* What require will store anyway, now, so that the walk reaches the module. */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "vmcisim");
    lua_pop(L, 1);
    simlua__sandbox_number_builtins(L);
    return 1;
}

/* The chunk's error (the string on top of the stack: the traceback handler made it one)
 * as a failure, "error: " before it. Composed in C memory, not as a Lua string: this runs
 * outside any protected call, and when the error was the memory limit the state may have
 * no byte left to give, where a memory error would be Lua's panic (an abort). */
static void chunk_error_report(struct simlua_runtime *runtime)
{
    static const char prefix[] = "error: ";
    static const char fallback[] = "error: (the error could not be shown: out of memory)";
    lua_State *L = runtime->L;
    /* Up to its first zero byte, as the "%s" of lua_pushfstring took it. */
    const char *error = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                       : "(null)";   /* as %s shows NULL */
    size_t error_bytes = strlen(error);
    size_t message_bytes = sizeof(prefix) - 1 + error_bytes;
    char *message = malloc(message_bytes + 1);
    if (message == NULL) {
        simlua__report_failure(L, "scenario_error", fallback, sizeof(fallback) - 1);
        return;
    }
    memcpy(message, prefix, sizeof(prefix) - 1);
    memcpy(message + sizeof(prefix) - 1, error, error_bytes);
    message[message_bytes] = '\0';
    simlua__report_failure(L, "scenario_error", message, message_bytes);
    free(message);
}

static void run_chunk(struct simlua_runtime *runtime)
{
    lua_State *L = runtime->L;
    simlua__sandbox_open(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, open_module_numbered);
    lua_setfield(L, -2, "vmcisim");
    lua_pop(L, 1);
    push_arg_table(runtime);
    if (simlua__load_file(L, runtime->options.scenario_path) != LUA_OK) {
        fprintf(stderr, "vmcisim: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        runtime->run_failed = true;
        return;
    }
    simlua__step_begin(runtime);
    for (int index = 0; index < runtime->options.arg_count; index++)
        lua_pushstring(L, runtime->options.args[index]);
    if (simlua__pcall_traceback(L, runtime->options.arg_count, 0) != LUA_OK) {
        /* Traced (scenario_error, in the digest) when a world exists, and counted as a
         * failure either way: an error after w:run() must not pass unseen. */
        chunk_error_report(runtime);
        lua_pop(L, 1);
        runtime->run_failed = true;
        return;
    }
    struct simlua_world *world = runtime->world;
    if (world != NULL && !world->run_called) {
        /* The run vmcisim makes for the scenario: a limit or trace failure that stops it is
         * said on stderr as the scenario's own w:run() would raise it (docs/cli.md, `error`).
         * Not traced (the engine has stopped taking events) and not one more failure: the
         * stop counts as the run's one failure when nothing else failed, and a process that
         * ran out of memory has been counted already. */
        if (simlua__world_run(world, SIM_TIME_NEVER, 0, L) < 0) {
            char time_text[32];
            sim_time_format(sim_engine_now(world->engine), time_text, sizeof(time_text));
            fprintf(stderr, "[%s] world: error: run stopped: %s\n", time_text,
                    sim_engine_error_message(world->engine));
            runtime->run_failed = true;
        }
    }
}

void simlua_run(struct simlua_runtime *runtime, struct simlua_outcome *outcome)
{
    assert(runtime != NULL);
    assert(outcome != NULL);
    memset(outcome, 0, sizeof(*outcome));
    run_chunk(runtime);
    struct simlua_world *world = runtime->world;
    if (world != NULL && world->has_run)
        (void)simlua__invariants_check(world, true);    /* docs/invariants.md */
    if (world != NULL) {    /* which fault sites were on and how often each fired */
        vmci_faults_trace_summary(vmci_hypervisor_faults(world->hypervisor));
        simlua__fault_rates_trace_summary(world);
    }
    outcome->world_created = world != NULL;
    outcome->seed = world != NULL ? sim_engine_seed(world->engine) : runtime->options.seed;
    outcome->stopped = "";
    if (world != NULL) {
        snprintf(outcome->product, sizeof(outcome->product), "%s", world->product);
        outcome->now_ns = sim_engine_now(world->engine);
        outcome->events_run = sim_engine_events_run(world->engine);
        outcome->trace_events = sim_engine_trace_events(world->engine);
        outcome->stopped = world->has_run ? sim_stop_name(world->last_stop) : "";
    }
    outcome->failure_count = runtime->failure_count + runtime->failures_dropped;
    /* A load failure that the scenario caught (pcall(require, ...)) and survived is not
     * a failure of the run; one that made the run fail is reported as exit 3. */
    bool failed = runtime->run_failed || outcome->failure_count > 0;
    if (runtime->load_failed && failed)
        outcome->exit_code = SIMLUA_EXIT_LOAD;
    else if (failed)
        outcome->exit_code = SIMLUA_EXIT_FAIL;
    else
        outcome->exit_code = SIMLUA_EXIT_PASS;
}
