/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/chunk_cache.c: a sweep worker's compiled chunks, so that seed after seed loads the
 * same scenario text without parsing it again (runtime option reuse_chunks).
 *
 * Parsing a chunk makes objects a scenario can see: the main function (a numbered object),
 * the parser's table of constants (numbered too, garbage once the parse ends), the function
 * prototypes and an upvalue (paced by their bytes: runtime.c), and the strings of the text
 * (paced only from SIMLUA_GC_STRING_BYTES_MIN bytes). Loading the parser's own output
 * (lua_dump, then lua_load in binary mode) makes the same function, prototypes, upvalue and
 * strings, all but the parser's table; so a cached load makes an empty table right after,
 * where the parser made its own (the next creation number, the same bytes, garbage at once
 * and freed by the next collection, as the parser's was). What stays different is memory no
 * scenario sees: the parser's working buffers and the table's hash part (counted only
 * against SIMLUA_MEMORY_BYTES_MAX, as the numbering walk's replay leaves its buffers out).
 *
 * Invariants kept here:
 *   - a chunk is loaded from the cache only when a trial in a private Lua state showed that
 *     the parse and the cached load make the same numbered objects in the same order (type
 *     and size), the same paced bytes and the same bytes of short strings (which pace the
 *     collector too: runtime.c), and leave the same paced bytes alive after a full
 *     collection; otherwise (a long string literal the parser makes twice and keeps once,
 *     say) the entry is kept as not usable and every seed parses;
 *   - a cached load happens only when no collection can fall inside the load either way:
 *     the runtime's pace is below the point where its allocator refuses a block (runtime.c)
 *     even after the chunk's paced bytes, and its memory far from SIMLUA_MEMORY_BYTES_MAX;
 *   - the cache holds at most SIMLUA_CHUNK_CACHE_ENTRIES_MAX chunks of at most
 *     SIMLUA_CHUNK_CACHE_BYTES_MAX bytes of text and code in all; beyond that a chunk is
 *     parsed as without the cache. An entry is found by its exact name and text, never a
 *     hash.
 */
#include <assert.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "lua_int.h"

/* Numbered objects one load may make for its trial to compare them (a load makes two). */
#define CHUNK_TRIAL_OBJECTS_MAX 16u

struct cached_chunk {
    char *name;
    char *text;
    size_t text_bytes;
    char *code;                 /* lua_dump of the parsed function (debug information kept) */
    size_t code_bytes;
    uint64_t paced_bytes;       /* what a load adds to the collector's pace */
    bool usable;                /* the trial found both loads alike */
};

/* The chunks of this process (a sweep worker runs one scenario, seed after seed). */
static struct cached_chunk chunks[SIMLUA_CHUNK_CACHE_ENTRIES_MAX];
static uint32_t chunk_count;
static size_t chunk_bytes_total;
static uint64_t cached_loads;           /* loads served from the cache (tests read it) */

/* What a trial load made, as the runtime's allocator would count it: the numbered objects
 * in order, the paced bytes made, and the paced bytes alive (every block carries a header
 * with its paced bytes, so that a free can take them back). */
struct trial_count {
    size_t short_string_block_bytes_max;    /* the runtime's (runtime.c) */
    uint64_t short_string_bytes;        /* of the short strings made (the pace counts them) */
    uint64_t paced_bytes;
    uint64_t live_bytes;
    uint64_t load_live_bytes;           /* of the last trial load, after its collection */
    uint32_t numbered_count;
    bool overflow;
    struct { size_t tag, bytes; } numbered[CHUNK_TRIAL_OBJECTS_MAX];
};
struct trial_header {
    alignas(max_align_t) uint64_t paced_bytes;
};

static void *trial_alloc(void *state, void *block, size_t old_bytes, size_t new_bytes)
{
    struct trial_count *count = state;
    struct trial_header *header = block != NULL ? (struct trial_header *)block - 1 : NULL;
    if (new_bytes == 0) {
        if (header != NULL)
            count->live_bytes -= header->paced_bytes;
        free(header);
        return NULL;
    }
    struct trial_header *moved = realloc(header, sizeof(*header) + new_bytes);
    if (moved == NULL)
        return NULL;
    if (header == NULL) {
        moved->paced_bytes = 0;
        if (simlua__block_is_short_string(old_bytes, new_bytes,
                                          count->short_string_block_bytes_max))
            count->short_string_bytes += new_bytes;
        if (old_bytes != 0 && simlua__block_is_paced(old_bytes, new_bytes)) {
            moved->paced_bytes = new_bytes;
            count->paced_bytes += new_bytes;
            count->live_bytes += new_bytes;
        }
        if (moved->paced_bytes != 0 && simlua__tag_is_numbered(old_bytes)) {
            if (count->numbered_count == CHUNK_TRIAL_OBJECTS_MAX)
                count->overflow = true;
            else {
                count->numbered[count->numbered_count].tag = old_bytes;
                count->numbered[count->numbered_count].bytes = new_bytes;
                count->numbered_count++;
            }
        }
    }
    return moved + 1;
}

/* A cached load as the runtime does it: the code, then the table in the parser's place. */
static int load_code(lua_State *L, const struct cached_chunk *chunk)
{
    int rc = luaL_loadbufferx(L, chunk->code, chunk->code_bytes, chunk->name, "b");
    if (rc != LUA_OK)
        return rc;
    lua_createtable(L, 0, 0);
    lua_pop(L, 1);
    return LUA_OK;
}

/* One trial load (cached: from the code, else parsed) in the trial state, counted into
 * `count`: what it made, and what of it a full collection leaves alive while the loaded
 * function is held (the parser's garbage, such as a literal it made twice, is gone then). */
static bool trial_load(lua_State *L, struct cached_chunk *chunk, bool cached,
                       struct trial_count *count)
{
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    uint64_t live_before = count->live_bytes;
    count->paced_bytes = 0;
    count->short_string_bytes = 0;
    count->numbered_count = 0;
    int rc = cached ? load_code(L, chunk)
                    : luaL_loadbufferx(L, chunk->text, chunk->text_bytes, chunk->name, "t");
    lua_gc(L, LUA_GCCOLLECT);
    count->load_live_bytes = count->live_bytes - live_before;
    return rc == LUA_OK;
}

/* Whether parsing the text and loading the code make the same objects a scenario sees;
 * sets the chunk's paced bytes. In a private state: nothing of the runtime's changes.
 * The short strings too, which pace the collector after a load (runtime.c): the code's
 * strings are some of the text's, so the same bytes of them mean the same strings, and
 * the same strings interned for what the scenario makes next. */
static bool trial_alike(struct cached_chunk *chunk, size_t short_string_block_bytes_max)
{
    struct trial_count count = { .short_string_block_bytes_max = short_string_block_bytes_max };
    lua_State *L = lua_newstate(trial_alloc, &count);
    if (L == NULL)
        return false;
    lua_gc(L, LUA_GCSTOP);
    bool alike = trial_load(L, chunk, false, &count);
    struct trial_count parsed = count;
    alike = alike && trial_load(L, chunk, true, &count);
    struct trial_count cached = count;
    lua_close(L);
    alike = alike && !parsed.overflow && !cached.overflow &&
            parsed.paced_bytes == cached.paced_bytes &&
            parsed.short_string_bytes == cached.short_string_bytes &&
            parsed.load_live_bytes == cached.load_live_bytes &&
            parsed.numbered_count == cached.numbered_count &&
            memcmp(parsed.numbered, cached.numbered,
                   sizeof(parsed.numbered[0]) * parsed.numbered_count) == 0;
    chunk->paced_bytes = parsed.paced_bytes;
    return alike;
}

static int dump_writer(lua_State *L, const void *bytes, size_t size, void *state)
{
    (void)L;
    struct cached_chunk *chunk = state;
    if (size == 0)
        return 0;
    if (chunk->code_bytes + size > SIMLUA_CHUNK_CACHE_BYTES_MAX)
        return 1;
    char *grown = realloc(chunk->code, chunk->code_bytes + size);
    if (grown == NULL)
        return 1;
    chunk->code = grown;
    memcpy(chunk->code + chunk->code_bytes, bytes, size);
    chunk->code_bytes += size;
    return 0;
}

/* Records the function just parsed (on top of L) from `text`; nothing when the cache is
 * full or memory is short (the chunk is then parsed every time). */
static void chunk_record(lua_State *L, const char *text, size_t text_bytes, const char *name)
{
    if (chunk_count == SIMLUA_CHUNK_CACHE_ENTRIES_MAX ||
        text_bytes > SIMLUA_CHUNK_CACHE_BYTES_MAX - chunk_bytes_total)
        return;
    struct cached_chunk chunk = { 0 };
    chunk.name = strdup(name);
    chunk.text = malloc(text_bytes > 0 ? text_bytes : 1);
    bool kept = chunk.name != NULL && chunk.text != NULL &&
                lua_dump(L, dump_writer, &chunk, 0) == 0 &&
                chunk.code_bytes <= SIMLUA_CHUNK_CACHE_BYTES_MAX - chunk_bytes_total - text_bytes;
    if (kept) {
        memcpy(chunk.text, text, text_bytes);
        chunk.text_bytes = text_bytes;
        chunk.usable = trial_alike(&chunk, simlua__runtime(L)->short_string_block_bytes_max);
        chunk_bytes_total += chunk.text_bytes + chunk.code_bytes;
        chunks[chunk_count++] = chunk;
        return;
    }
    free(chunk.name);
    free(chunk.text);
    free(chunk.code);
}

static struct cached_chunk *chunk_find(const char *text, size_t text_bytes, const char *name)
{
    for (uint32_t index = 0; index < chunk_count; index++) {
        struct cached_chunk *chunk = &chunks[index];
        if (chunk->text_bytes == text_bytes && strcmp(chunk->name, name) == 0 &&
            memcmp(chunk->text, text, text_bytes) == 0)
            return chunk;
    }
    return NULL;
}

/* Whether no collection can start inside this load, parsed or cached (see the header). */
static bool load_quiet(const struct simlua_runtime *runtime, const struct cached_chunk *chunk)
{
    uint64_t footprint_bytes = runtime->memory_bytes + simlua__pool_idle_bytes(&runtime->pool);
    return !runtime->gc_refused &&
           runtime->gc_object_bytes_since + chunk->paced_bytes < 2 * runtime->gc_threshold_bytes &&
           footprint_bytes < SIMLUA_MEMORY_BYTES_MAX / 2 &&
           64 * (chunk->text_bytes + chunk->code_bytes) < SIMLUA_MEMORY_BYTES_MAX / 2;
}

/* The load itself (parsed or cached). */
static int chunk_load_either(lua_State *L, struct simlua_runtime *runtime, const char *text,
                             size_t text_bytes, const char *name)
{
    if (!runtime->options.reuse_chunks || strlen(name) > SIMLUA_CHUNK_CACHE_NAME_BYTES_MAX)
        return luaL_loadbufferx(L, text, text_bytes, name, "t");
    struct cached_chunk *chunk = chunk_find(text, text_bytes, name);
    if (chunk != NULL && chunk->usable && load_quiet(runtime, chunk)) {
        int rc = load_code(L, chunk);
        assert(rc == LUA_OK);       /* the trial loaded the same code */
        if (rc == LUA_OK) {
            cached_loads++;
            return rc;
        }
        lua_pop(L, 1);              /* the message: parse as without the cache */
        return luaL_loadbufferx(L, text, text_bytes, name, "t");
    }
    int rc = luaL_loadbufferx(L, text, text_bytes, name, "t");
    if (rc == LUA_OK && chunk == NULL)
        chunk_record(L, text, text_bytes, name);
    return rc;
}

/* The short strings a load makes are left out of the collector's pace (runtime.c): the
 * parser makes some that the cached code does not (a label's name, say), and the two ways
 * must pace alike. A load that a collection fell into was a parse either way (a cached
 * load is quiet), so what it counted after that collection stays. */
int simlua__chunk_load(lua_State *L, const char *text, size_t text_bytes, const char *name)
{
    assert(text != NULL && name != NULL);
    struct simlua_runtime *runtime = simlua__runtime(L);
    uint64_t short_string_bytes = runtime->gc_short_string_bytes_since;
    uint64_t collections = runtime->gc_collections;
    int rc = chunk_load_either(L, runtime, text, text_bytes, name);
    if (runtime->gc_collections == collections)
        runtime->gc_short_string_bytes_since = short_string_bytes;
    return rc;
}

uint64_t simlua__chunk_cache_loads(void)
{
    return cached_loads;
}
