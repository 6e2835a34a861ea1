/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/sandbox_lib.c: the sandbox's replacements inside standard libraries:
 * math.random (world stream "lua"), os (simulated time), string.format (no
 * addresses), io (write only) and package (scenario-relative require, no C
 * modules). sandbox.c explains why each exists.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lua_int.h"
#include "sim/engine/rng.h"

static struct sim_engine *engine_or_null(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    return runtime->world != NULL ? runtime->world->engine : NULL;
}

/* The world's "lua" stream, looked up by name once per world (the engine's lookup walks
 * its streams comparing names: most of a draw's cost when done every time). */
static struct sim_rng *lua_stream(lua_State *L)
{
    struct simlua_world *world = simlua__runtime(L)->world;
    if (world == NULL)
        luaL_error(L, "math.random needs a world: call sim.world{} first");
    if (world->lua_rng == NULL)
        world->lua_rng = sim_engine_rng(world->engine, "lua");
    assert(world->lua_rng != NULL);
    return world->lua_rng;
}

static int sandbox_random(lua_State *L)
{
    struct sim_rng *rng = lua_stream(L);
    lua_Integer low;
    lua_Integer high;
    switch (lua_gettop(L)) {
    case 0:
        lua_pushnumber(L, (lua_Number)sim_rng_unit(rng));
        return 1;
    case 1:
        low = 1;
        high = luaL_checkinteger(L, 1);
        break;
    case 2:
        low = luaL_checkinteger(L, 1);
        high = luaL_checkinteger(L, 2);
        break;
    default:
        return luaL_error(L, "wrong number of arguments to 'random'");
    }
    luaL_argcheck(L, low <= high, lua_gettop(L), "interval is empty");
    uint64_t span = (uint64_t)high - (uint64_t)low;
    uint64_t draw = span == UINT64_MAX ? sim_rng_next(rng) : sim_rng_below(rng, span + 1);
    lua_pushinteger(L, (lua_Integer)((uint64_t)low + draw));
    return 1;
}

static int sandbox_randomseed(lua_State *L)
{
    return luaL_error(L, "math.randomseed is not available: the world's seed decides "
                         "(sim.world{ seed = N } or --seed N)");
}

void simlua__sandbox_random_open(lua_State *L)
{
    lua_getglobal(L, "math");
    lua_pushcfunction(L, sandbox_random);
    lua_setfield(L, -2, "random");
    lua_pushcfunction(L, sandbox_randomseed);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
}

static uint64_t now_ns(lua_State *L)
{
    struct sim_engine *engine = engine_or_null(L);
    return engine != NULL ? sim_engine_now(engine) : 0;
}

static int sandbox_time(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        return luaL_error(L, "os.time(table) is not available (it depends on the host's time "
                             "zone); os.time() gives simulated seconds");
    lua_pushinteger(L, (lua_Integer)(now_ns(L) / 1000000000u));
    return 1;
}

static int sandbox_clock(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)now_ns(L) / 1e9);
    return 1;
}

/* Originals the sandbox wraps, in static storage (never in an upvalue a scenario could
 * reach). The same for every state. */
static lua_CFunction original_date;
static lua_CFunction original_format;

static void original_keep(lua_State *L, lua_CFunction *slot)
{
    lua_CFunction function = lua_tocfunction(L, -1);
    assert(function != NULL);
    assert(*slot == NULL || *slot == function);
    *slot = function;
    lua_pop(L, 1);
}

/* os.date in UTC, at simulated time by default. */
static int sandbox_date(lua_State *L)
{
    const char *format = luaL_optstring(L, 1, "%c");
    if (format[0] == '!')
        format++;
    lua_Integer seconds = luaL_opt(L, luaL_checkinteger, 2, (lua_Integer)(now_ns(L) / 1000000000u));
    lua_pushcfunction(L, original_date);
    lua_pushfstring(L, "!%s", format);
    lua_pushinteger(L, seconds);
    lua_call(L, 2, 1);
    return 1;
}

void simlua__sandbox_os_open(lua_State *L)
{
    lua_getglobal(L, "os");
    lua_pushcfunction(L, sandbox_time);
    lua_setfield(L, -2, "time");
    lua_pushcfunction(L, sandbox_clock);
    lua_setfield(L, -2, "clock");
    lua_getfield(L, -1, "date");
    original_keep(L, &original_date);
    lua_pushcfunction(L, sandbox_date);
    lua_setfield(L, -2, "date");
    static const char *const absent[] = { "getenv", "execute", "exit", "remove", "rename",
                                          "tmpname", "setlocale" };
    for (size_t index = 0; index < sizeof(absent) / sizeof(absent[0]); index++) {
        char shown[32];
        snprintf(shown, sizeof(shown), "os.%s", absent[index]);
        simlua__sandbox_set_absent(L, -1, absent[index], shown);
    }
    lua_pop(L, 1);
}

/* Refuses %p; replaces reference-typed arguments by the sandbox's tostring so that
 * "%s" never prints an address. */
static int sandbox_format(lua_State *L)
{
    size_t length = 0;
    const char *format = luaL_checklstring(L, 1, &length);
    for (size_t index = 0; index < length; index++) {
        if (format[index] != '%')
            continue;
        index++;
        while (index < length && strchr("-+ #0123456789.", format[index]) != NULL)
            index++;
        if (index < length && format[index] == 'p')
            return luaL_error(L, "string.format: '%%p' prints an address and is not available "
                                 "in the vmcisim sandbox");
    }
    int count = lua_gettop(L);
    for (int index = 2; index <= count; index++) {
        int type = lua_type(L, index);
        if (type == LUA_TTABLE || type == LUA_TFUNCTION || type == LUA_TUSERDATA ||
            type == LUA_TTHREAD || type == LUA_TLIGHTUSERDATA) {
            simlua__tostring(L, index, NULL);
            lua_replace(L, index);
        }
    }
    lua_pushcfunction(L, original_format);
    lua_insert(L, 1);
    lua_call(L, count, 1);
    return 1;
}

static int sandbox_io_write(lua_State *L)
{
    int count = lua_gettop(L);
    for (int index = 1; index <= count; index++) {
        size_t length = 0;
        const char *text = luaL_checklstring(L, index, &length);
        fwrite(text, 1, length, stdout);
    }
    return 0;
}

void simlua__sandbox_string_open(lua_State *L)
{
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    original_keep(L, &original_format);
    lua_pushcfunction(L, sandbox_format);
    lua_setfield(L, -2, "format");
    /* Bytecode is never loadable (load takes text only) and it shows how functions are
     * compiled, which a scenario has no use for. */
    simlua__sandbox_set_absent(L, -1, "dump", "string.dump");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, sandbox_io_write);
    lua_setfield(L, -2, "write");
    lua_setglobal(L, "io");
}

/* Entries table.sort sorts at most; its merge buffer is as large again. */
#define SANDBOX_SORT_ELEMENTS_MAX (1u << 26)

/* Whether element `right` must come before element `left` (strictly less): the
 * comparator at stack index 2, or the < operator when there is none. Positions are
 * 0-based; the buffers hold them at position + 1 (their array parts). */
static bool sort_less(lua_State *L, int buffer, lua_Integer right, lua_Integer left)
{
    if (lua_isnil(L, 2)) {
        lua_rawgeti(L, buffer, right + 1);
        lua_rawgeti(L, buffer, left + 1);
        bool less = lua_compare(L, -2, -1, LUA_OPLT);
        lua_pop(L, 2);
        return less;
    }
    lua_pushvalue(L, 2);
    lua_rawgeti(L, buffer, right + 1);
    lua_rawgeti(L, buffer, left + 1);
    lua_call(L, 2, 1);
    bool less = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return less;
}

/* Merges the runs [low, middle) and [middle, high) of `from` into `to`; on ties the left
 * run goes first, so the sort is stable. */
static void sort_merge(lua_State *L, int from, int to, lua_Integer low, lua_Integer middle,
                       lua_Integer high)
{
    lua_Integer left = low;
    lua_Integer right = middle;
    for (lua_Integer out = low; out < high; out++) {
        bool take_right = left >= middle ||
                          (right < high && sort_less(L, from, right, left));
        lua_rawgeti(L, from, (take_right ? right++ : left++) + 1);
        lua_rawseti(L, to, out + 1);
    }
}

/* table.sort(t [, less]): a stable bottom-up merge sort. The standard one picks pivots
 * from the clock for large arrays, so equal elements and inconsistent comparators came
 * out in a different order from run to run; here the order depends only on the input. */
static int sandbox_sort(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_Integer count = luaL_len(L, 1);
    if (count > (lua_Integer)SANDBOX_SORT_ELEMENTS_MAX)
        return luaL_error(L, "table.sort: limit SANDBOX_SORT_ELEMENTS_MAX (%d elements) "
                             "exceeded (%I elements)", (int)SANDBOX_SORT_ELEMENTS_MAX, count);
    if (count < 2)
        return 0;                                       /* as the stock sort: nothing to do */
    lua_createtable(L, (int)count, 0);                  /* 3: copy of the elements */
    lua_createtable(L, (int)count, 0);                  /* 4: merge buffer */
    for (lua_Integer index = 1; index <= count; index++) {
        lua_geti(L, 1, index);
        lua_rawseti(L, 3, index);
    }
    int from = 3;
    int to = 4;
    for (lua_Integer width = 1; width < count; width *= 2) {
        for (lua_Integer low = 0; low < count; low += 2 * width) {
            lua_Integer middle = low + width < count ? low + width : count;
            lua_Integer high = low + 2 * width < count ? low + 2 * width : count;
            sort_merge(L, from, to, low, middle, high);
        }
        int swap = from;
        from = to;
        to = swap;
    }
    for (lua_Integer index = 1; index <= count; index++) {
        lua_rawgeti(L, from, index);
        lua_seti(L, 1, index);
    }
    return 0;
}

void simlua__sandbox_table_open(lua_State *L)
{
    lua_getglobal(L, "table");
    lua_pushcfunction(L, sandbox_sort);
    lua_setfield(L, -2, "sort");
    lua_pop(L, 1);
}

/* Levels a traceback shows; the rest are counted. */
#define SANDBOX_TRACEBACK_LEVELS_MAX 22

static void traceback_add_level(luaL_Buffer *buffer, lua_State *L1, lua_Debug *record)
{
    char line[LUA_IDSIZE + 160];
    lua_getinfo(L1, "Slnt", record);
    int used = record->currentline > 0
                   ? snprintf(line, sizeof(line), "\n\t%s:%d: in ", record->short_src,
                              record->currentline)
                   : snprintf(line, sizeof(line), "\n\t%s: in ", record->short_src);
    size_t rest = used > 0 && (size_t)used < sizeof(line) ? sizeof(line) - (size_t)used : 0;
    char *tail = line + (sizeof(line) - rest);
    if (record->namewhat != NULL && record->namewhat[0] != '\0')
        snprintf(tail, rest, "%s '%.64s'", record->namewhat,
                 record->name != NULL ? record->name : "?");
    else if (record->what[0] == 'm')
        snprintf(tail, rest, "main chunk");
    else if (record->what[0] != 'C')
        snprintf(tail, rest, "function <%s:%d>", record->short_src, record->linedefined);
    else
        snprintf(tail, rest, "?");
    luaL_addstring(buffer, line);
    if (record->istailcall)
        luaL_addstring(buffer, "\n\t(...tail calls...)");
}

void simlua__traceback(lua_State *L, lua_State *L1, const char *message, int level)
{
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    if (message != NULL) {
        luaL_addstring(&buffer, message);
        luaL_addchar(&buffer, '\n');
    }
    luaL_addstring(&buffer, "stack traceback:");
    lua_Debug record;
    int shown = 0;
    while (lua_getstack(L1, level++, &record)) {
        if (shown == SANDBOX_TRACEBACK_LEVELS_MAX) {
            int skipped = 1;
            while (lua_getstack(L1, level++, &record))
                skipped++;
            char line[64];
            snprintf(line, sizeof(line), "\n\t...\t(%d more levels)", skipped);
            luaL_addstring(&buffer, line);
            break;
        }
        traceback_add_level(&buffer, L1, &record);
        shown++;
    }
    luaL_pushresult(&buffer);
}

/* debug.traceback([thread,] [message [, level]]) without the global-name search. */
static int sandbox_traceback(lua_State *L)
{
    lua_State *L1 = L;
    int first = 1;
    if (lua_type(L, 1) == LUA_TTHREAD) {
        L1 = lua_tothread(L, 1);
        first = 2;
    }
    if (!lua_isnoneornil(L, first) && lua_type(L, first) != LUA_TSTRING &&
        lua_type(L, first) != LUA_TNUMBER) {
        lua_pushvalue(L, first);                        /* a non-string message: as is */
        return 1;
    }
    const char *message = lua_tostring(L, first);
    int level = (int)luaL_optinteger(L, first + 1, L == L1 ? 1 : 0);
    simlua__traceback(L, L1, message, level);
    return 1;
}

/* collectgarbage: "collect" (a full collection now) and "count" (kilobytes of Lua
 * objects not yet freed, strings under SIMLUA_GC_STRING_BYTES_MIN left out: a figure
 * that depends only on the program);
 * the rest would let a scenario change when the collector runs. */
static int sandbox_collectgarbage(lua_State *L)
{
    const char *option = luaL_optstring(L, 1, "collect");
    if (strcmp(option, "collect") == 0) {
        simlua__gc_collect(L);
        lua_pushinteger(L, 0);
        return 1;
    }
    if (strcmp(option, "count") == 0) {
        lua_pushnumber(L, (lua_Number)simlua__runtime(L)->object_live_bytes / 1024.0);
        return 1;
    }
    return luaL_error(L, "collectgarbage('%s') is not available in the vmcisim sandbox: "
                         "the runtime decides when the collector runs (only 'collect' and "
                         "'count' are)", option);
}

void simlua__sandbox_debug_open(lua_State *L)
{
    /* The debug library reaches upvalues, locals, the registry and any metatable: an
     * escape from every other rule. Only an address-free traceback stays. */
    lua_newtable(L);
    lua_pushcfunction(L, sandbox_traceback);
    lua_setfield(L, -2, "traceback");
    lua_pushvalue(L, -1);
    lua_setglobal(L, "debug");
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_insert(L, -2);
    lua_setfield(L, -2, "debug");
    lua_pop(L, 1);
    lua_pushcfunction(L, sandbox_collectgarbage);
    lua_setglobal(L, "collectgarbage");
}

/* package.searchers[2]: "<scenario dir>/<name with . as />.lua". */
static int scenario_searcher(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    const char *name = luaL_checkstring(L, 1);
    luaL_Buffer buffer;
    luaL_buffinit(L, &buffer);
    luaL_addstring(&buffer, runtime->scenario_dir);
    luaL_addchar(&buffer, '/');
    for (const char *cursor = name; *cursor != '\0'; cursor++)
        luaL_addchar(&buffer, *cursor == '.' ? '/' : *cursor);
    luaL_addstring(&buffer, ".lua");
    luaL_pushresult(&buffer);
    const char *path = lua_tostring(L, -1);
    if (!simlua__file_exists(runtime, path)) {
        runtime->load_failed = true;
        lua_pushfstring(L, "no file '%s'", path);
        return 1;
    }
    if (simlua__load_file(L, path) != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, path,
                          lua_tostring(L, -1));
    lua_pushstring(L, path);
    return 2;
}

void simlua__sandbox_package_open(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    lua_createtable(L, 2, 0);
    lua_rawgeti(L, -2, 1);                      /* the preload searcher */
    lua_rawseti(L, -2, 1);
    lua_pushcfunction(L, scenario_searcher);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -3, "searchers");
    lua_pop(L, 1);
    simlua__sandbox_set_absent(L, -1, "loadlib", "package.loadlib");
    simlua__sandbox_set_absent(L, -1, "searchpath", "package.searchpath");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
}
