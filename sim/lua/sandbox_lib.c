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

static int sandbox_random(lua_State *L)
{
    struct sim_engine *engine = engine_or_null(L);
    if (engine == NULL)
        return luaL_error(L, "math.random needs a world: call sim.world{} first");
    struct sim_rng *rng = sim_engine_rng(engine, "lua");
    assert(rng != NULL);
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

/* os.date in UTC, at simulated time by default: upvalue 1 is the original os.date. */
static int sandbox_date(lua_State *L)
{
    const char *format = luaL_optstring(L, 1, "%c");
    if (format[0] == '!')
        format++;
    lua_Integer seconds = luaL_opt(L, luaL_checkinteger, 2, (lua_Integer)(now_ns(L) / 1000000000u));
    lua_pushvalue(L, lua_upvalueindex(1));
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
    lua_pushcclosure(L, sandbox_date, 1);
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
 * "%s" never prints an address. Upvalue 1 is the original string.format. */
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
    lua_pushvalue(L, lua_upvalueindex(1));
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
    lua_pushcclosure(L, sandbox_format, 1);
    lua_setfield(L, -2, "format");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, sandbox_io_write);
    lua_setfield(L, -2, "write");
    lua_setglobal(L, "io");
    lua_getglobal(L, "debug");                  /* keep what reads; drop hooks and stdin */
    simlua__sandbox_set_absent(L, -1, "sethook", "debug.sethook");
    simlua__sandbox_set_absent(L, -1, "debug", "debug.debug");
    lua_pop(L, 1);
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
