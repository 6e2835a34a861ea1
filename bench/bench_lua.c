/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_lua.c: what the deterministic sandbox costs (docs/determinism.md).
 *
 * Workloads, each timed as the difference between a run with N iterations and a run
 * with none (so state set-up is left out), best of RUNS:
 *   alloc: `for i = 1, N do local t = {} end`, one table created and dropped per
 *          iteration (allocator header and creation number, collector policy, hook);
 *   pairs: 1000 tables as keys of one table, then N full pairs() walks over it.
 *
 * Figures:
 *   lua_alloc_header_objects_per_s   the alloc loop in a bare Lua state whose allocator
 *                                    adds the 16-byte header and creation number the way
 *                                    sim/lua/runtime.c does; reference: the same state with
 *                                    a plain realloc allocator; target 0.9.
 *   lua_alloc_sandbox_objects_per_s  the alloc loop as a scenario through the runtime
 *                                    (everything the sandbox does); reference: the bare
 *                                    state with the plain allocator; target 0.8.
 *   lua_pairs_1k_objects_keys_per_s  keys visited per second by pairs() over 1000 table
 *                                    keys in the sandbox (sorted by creation number on
 *                                    every walk); reference: stock pairs (hash order) in
 *                                    the bare state; target 0.25.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bench.h"
#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"

#define RUNS 3
#define ALLOC_OBJECTS 4000000
#define PAIRS_WALKS 2000
#define PAIRS_KEYS 1000

static const char alloc_source[] =
    "local n = tonumber(arg[1])\n"
    "for i = 1, n do local t = {} end\n";

static const char pairs_source[] =
    "local n = tonumber(arg[1])\n"
    "local t = {}\n"
    "for i = 1, 1000 do t[{}] = i end\n"
    "local sum = 0\n"
    "for r = 1, n do for k, v in pairs(t) do sum = sum + v end end\n"
    "assert(sum == n * 500500)\n";

struct header_state {
    uint64_t creation_next;
};

static void *plain_alloc(void *state, void *pointer, size_t old_bytes, size_t new_bytes)
{
    (void)state;
    (void)old_bytes;
    if (new_bytes == 0) {
        free(pointer);
        return NULL;
    }
    return realloc(pointer, new_bytes);
}

/* The header scheme of sim/lua/runtime.c, alone: 16 bytes in front, a creation number
 * for new tables, functions, userdata and threads. */
static void *header_alloc(void *state, void *pointer, size_t old_bytes, size_t new_bytes)
{
    struct header_state *header_state = state;
    uint64_t *header = pointer == NULL ? NULL : (uint64_t *)pointer - 2;
    if (new_bytes == 0) {
        free(header);
        return NULL;
    }
    uint64_t *resized = realloc(header, new_bytes + 16);
    if (resized == NULL)
        return NULL;
    if (pointer == NULL) {
        bool numbered = old_bytes == LUA_TTABLE || old_bytes == LUA_TFUNCTION ||
                        old_bytes == LUA_TUSERDATA || old_bytes == LUA_TTHREAD;
        resized[0] = numbered ? ++header_state->creation_next : 0;
        resized[1] = 0;
    }
    return resized + 2;
}

/* Wall seconds to run `source` with arg[1] = count in a bare state. */
static double bare_seconds(lua_Alloc allocator, const char *source, long count)
{
    struct header_state header_state = { 0 };
    lua_State *L = lua_newstate(allocator, &header_state);
    assert(L != NULL);
    luaL_openlibs(L);
    lua_createtable(L, 1, 0);
    lua_pushinteger(L, count);
    lua_rawseti(L, -2, 1);
    lua_setglobal(L, "arg");
    int rc = luaL_loadstring(L, source);
    assert(rc == LUA_OK);
    double start = bench_now_seconds();
    rc = lua_pcall(L, 0, 0, 0);
    double seconds = bench_now_seconds() - start;
    if (rc != LUA_OK)
        fprintf(stderr, "bench lua: %s\n", lua_tostring(L, -1));
    bench_sink_u64(header_state.creation_next);
    lua_close(L);
    return seconds;
}

/* Wall seconds of a whole vmcisim run of `source` with one scenario argument. */
static double sandbox_seconds(const char *source, long count)
{
    char path[] = "/tmp/vmcisim-bench-lua-XXXXXX.lua";
    int descriptor = mkstemps(path, 4);
    assert(descriptor >= 0);
    size_t length = strlen(source);
    ssize_t written = write(descriptor, source, length);
    assert(written == (ssize_t)length);
    (void)written;
    close(descriptor);
    char count_text[32];
    snprintf(count_text, sizeof(count_text), "%ld", count);
    char *args[] = { count_text };
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .arg_count = 1, .args = args,
    };
    double start = bench_now_seconds();
    struct simlua_runtime *runtime = simlua_create(&options);
    assert(runtime != NULL);
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    simlua_destroy(runtime);
    double seconds = bench_now_seconds() - start;
    unlink(path);
    if (outcome.exit_code != SIMLUA_EXIT_PASS)
        fprintf(stderr, "bench lua: the scenario failed (exit %d)\n", (int)outcome.exit_code);
    return seconds;
}

enum runner { RUN_PLAIN, RUN_HEADER, RUN_SANDBOX };

static double run_seconds(enum runner runner, const char *source, long count)
{
    switch (runner) {
    case RUN_PLAIN:
        return bare_seconds(plain_alloc, source, count);
    case RUN_HEADER:
        return bare_seconds(header_alloc, source, count);
    case RUN_SANDBOX:
        return sandbox_seconds(source, count);
    }
    return 0;
}

/* Units per wall second: the best of RUNS (N-iteration run minus empty run). */
static double best_rate(enum runner runner, const char *source, long count, double units)
{
    double best = 0;
    for (int run = 0; run < RUNS; run++) {
        double seconds = run_seconds(runner, source, count) - run_seconds(runner, source, 0);
        double rate = seconds > 0 ? units / seconds : 0;
        if (rate > best)
            best = rate;
    }
    return best;
}

void bench_lua(void)
{
    double plain = best_rate(RUN_PLAIN, alloc_source, ALLOC_OBJECTS, ALLOC_OBJECTS);
    double header = best_rate(RUN_HEADER, alloc_source, ALLOC_OBJECTS, ALLOC_OBJECTS);
    double sandbox = best_rate(RUN_SANDBOX, alloc_source, ALLOC_OBJECTS, ALLOC_OBJECTS);
    bench_report("lua_alloc_header_objects_per_s", header, "objects/s", plain, 0.9);
    bench_report("lua_alloc_sandbox_objects_per_s", sandbox, "objects/s", plain, 0.8);
    double keys = (double)PAIRS_WALKS * PAIRS_KEYS;
    double stock_pairs = best_rate(RUN_PLAIN, pairs_source, PAIRS_WALKS, keys);
    double sandbox_pairs = best_rate(RUN_SANDBOX, pairs_source, PAIRS_WALKS, keys);
    bench_report("lua_pairs_1k_objects_keys_per_s", sandbox_pairs, "keys/s", stock_pairs, 0.25);
}
