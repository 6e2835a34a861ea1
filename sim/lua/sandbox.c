/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/sandbox.c: the deterministic sandbox a scenario runs in.
 *
 * Lua 5.4 seeds its string hash from the clock and from addresses, so table
 * traversal order, and anything that prints an address, differs between two
 * runs of the same scenario. The sandbox replaces every such door:
 *   - pairs/next walk keys in a fixed order: integers ascending, strings in byte
 *     order, booleans (false, true), other numbers ascending, then tables,
 *     functions, userdata and threads by a per-run id given at first sight;
 *   - tostring/print/string.format("%s") show "table: #7", never an address;
 *     string.format("%p") is refused;
 *   - math.random draws from the world's "lua" stream; os.time/clock/date read
 *     simulated time (os.date in UTC);
 *   - no os.getenv/execute/exit/remove/rename/tmpname, no io but io.write, no
 *     dofile/loadfile, load() of text only, require loads files relative to the
 *     scenario (and records them for the trace), no C modules.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "lua_int.h"

#define SANDBOX_IDS_KEY "vmcisim.ids"
/* Keys a single pairs() may sort: bounded by Lua memory, stated for the reader. */
#define SANDBOX_KEYS_MAX (1u << 26)

/* The per-run id of a reference value (table, function, userdata, thread). */
static lua_Integer object_id(lua_State *L, int index)
{
    index = lua_absindex(L, index);
    lua_getfield(L, LUA_REGISTRYINDEX, SANDBOX_IDS_KEY);
    lua_pushvalue(L, index);
    if (lua_rawget(L, -2) == LUA_TNUMBER) {
        lua_Integer id = lua_tointeger(L, -1);
        lua_pop(L, 2);
        return id;
    }
    lua_pop(L, 1);
    struct simlua_runtime *runtime = simlua__runtime(L);
    lua_Integer id = (lua_Integer)++runtime->object_id_next;
    lua_pushvalue(L, index);
    lua_pushinteger(L, id);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    return id;
}

const char *simlua__tostring(lua_State *L, int index, size_t *length_out)
{
    index = lua_absindex(L, index);
    if (luaL_callmeta(L, index, "__tostring")) {
        if (!lua_isstring(L, -1))
            luaL_error(L, "'__tostring' must return a string");
        return lua_tolstring(L, -1, length_out);
    }
    switch (lua_type(L, index)) {
    case LUA_TNIL:
    case LUA_TBOOLEAN:
    case LUA_TNUMBER:
    case LUA_TSTRING:
        return luaL_tolstring(L, index, length_out);
    default: {
        int name_type = luaL_getmetafield(L, index, "__name");
        const char *kind = name_type == LUA_TSTRING ? lua_tostring(L, -1)
                                                    : luaL_typename(L, index);
        lua_Integer id = object_id(L, index);
        lua_pushfstring(L, "%s: #%I", kind, id);
        if (name_type != LUA_TNIL)
            lua_remove(L, -2);
        return lua_tolstring(L, -1, length_out);
    }
    }
}

static int sandbox_tostring(lua_State *L)
{
    luaL_checkany(L, 1);
    simlua__tostring(L, 1, NULL);
    return 1;
}

static int sandbox_print(lua_State *L)
{
    int count = lua_gettop(L);
    for (int index = 1; index <= count; index++) {
        size_t length = 0;
        const char *text = simlua__tostring(L, index, &length);
        if (index > 1)
            fputc('\t', stdout);
        fwrite(text, 1, length, stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

struct key_entry {
    int category;           /* 0 integer, 1 string, 2 boolean, 3 float, 4 object */
    lua_Integer integer;    /* integer value, boolean value or object id */
    lua_Number number;
    const char *text;       /* borrowed: the key stays in the keys table */
    size_t length;
    int position;           /* index in the unsorted keys table */
};

static int key_compare(const void *left_pointer, const void *right_pointer)
{
    const struct key_entry *left = left_pointer;
    const struct key_entry *right = right_pointer;
    if (left->category != right->category)
        return left->category < right->category ? -1 : 1;
    if (left->category == 1) {
        size_t common = left->length < right->length ? left->length : right->length;
        int order = memcmp(left->text, right->text, common);
        if (order != 0)
            return order;
        return left->length < right->length ? -1 : left->length > right->length ? 1 : 0;
    }
    if (left->category == 3)
        return left->number < right->number ? -1 : left->number > right->number ? 1 : 0;
    return left->integer < right->integer ? -1 : left->integer > right->integer ? 1 : 0;
}

static void key_describe(lua_State *L, int index, struct key_entry *entry)
{
    switch (lua_type(L, index)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, index)) {
            entry->category = 0;
            entry->integer = lua_tointeger(L, index);
        } else {
            entry->category = 3;
            entry->number = lua_tonumber(L, index);
        }
        break;
    case LUA_TSTRING:
        entry->category = 1;
        entry->text = lua_tolstring(L, index, &entry->length);
        break;
    case LUA_TBOOLEAN:
        entry->category = 2;
        entry->integer = lua_toboolean(L, index);
        break;
    default:
        entry->category = 4;
        entry->integer = object_id(L, index);
        break;
    }
}

/* Pushes a sequence of the keys of the table at `index`, in the sandbox order. */
static void push_sorted_keys(lua_State *L, int index)
{
    index = lua_absindex(L, index);
    lua_newtable(L);                                    /* unsorted keys */
    int unsorted = lua_gettop(L);
    lua_Integer count = 0;
    lua_pushnil(L);
    while (lua_next(L, index) != 0) {
        lua_pop(L, 1);
        if ((lua_Unsigned)count >= SANDBOX_KEYS_MAX)
            luaL_error(L, "pairs: limit SANDBOX_KEYS_MAX (%d keys) exceeded", (int)SANDBOX_KEYS_MAX);
        lua_pushvalue(L, -1);
        lua_rawseti(L, unsorted, ++count);
    }
    struct key_entry *entries = lua_newuserdatauv(L, sizeof(*entries) * (size_t)(count + 1), 0);
    for (lua_Integer position = 1; position <= count; position++) {
        lua_rawgeti(L, unsorted, position);
        key_describe(L, -1, &entries[position - 1]);
        entries[position - 1].position = (int)position;
        lua_pop(L, 1);
    }
    qsort(entries, (size_t)count, sizeof(*entries), key_compare);
    lua_createtable(L, (int)count, 0);
    for (lua_Integer position = 1; position <= count; position++) {
        lua_rawgeti(L, unsorted, entries[position - 1].position);
        lua_rawseti(L, -2, position);
    }
    lua_replace(L, unsorted);                           /* sorted replaces unsorted */
    lua_pop(L, 1);                                      /* the entries buffer */
}

/* Iterator closure: upvalues (table, sorted keys, next position). */
static int ordered_iterate(lua_State *L)
{
    lua_Integer position = lua_tointeger(L, lua_upvalueindex(3));
    for (;;) {
        if (lua_rawgeti(L, lua_upvalueindex(2), position) == LUA_TNIL)
            return 0;
        position++;
        lua_pushvalue(L, -1);
        if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {   /* skip keys set to nil */
            lua_pushinteger(L, position);
            lua_replace(L, lua_upvalueindex(3));
            return 2;
        }
        lua_pop(L, 2);
    }
}

static int sandbox_pairs(lua_State *L)
{
    luaL_checkany(L, 1);
    if (luaL_getmetafield(L, 1, "__pairs") != LUA_TNIL) {
        lua_pushvalue(L, 1);
        lua_call(L, 1, 3);
        return 3;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushvalue(L, 1);
    push_sorted_keys(L, 1);
    lua_pushinteger(L, 1);
    lua_pushcclosure(L, ordered_iterate, 3);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int sandbox_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    push_sorted_keys(L, 1);
    lua_Integer position = 1;
    if (!lua_isnil(L, 2)) {
        for (;; position++) {
            if (lua_rawgeti(L, 3, position) == LUA_TNIL)
                return luaL_error(L, "invalid key to 'next'");
            bool found = lua_rawequal(L, -1, 2);
            lua_pop(L, 1);
            if (found)
                break;
        }
        position++;
    }
    if (lua_rawgeti(L, 3, position) == LUA_TNIL)
        return 1;
    lua_pushvalue(L, -1);
    lua_rawget(L, 1);
    return 2;
}

static int sandbox_load(lua_State *L)
{
    int count = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));              /* the original load */
    lua_pushvalue(L, 1);
    if (count >= 2)
        lua_pushvalue(L, 2);
    else
        lua_pushnil(L);
    lua_pushliteral(L, "t");                            /* never binary chunks */
    if (count >= 4)
        lua_pushvalue(L, 4);
    lua_call(L, count >= 4 ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - count;
}

static int sandbox_absent(lua_State *L)
{
    return luaL_error(L, "%s is not available in the vmcisim sandbox (determinism)",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static void set_absent(lua_State *L, int table_index, const char *field, const char *shown)
{
    table_index = lua_absindex(L, table_index);
    lua_pushstring(L, shown);
    lua_pushcclosure(L, sandbox_absent, 1);
    lua_setfield(L, table_index, field);
}

static void open_library(lua_State *L, const char *name, lua_CFunction opener)
{
    luaL_requiref(L, name, opener, 1);
    lua_pop(L, 1);
}

void simlua__sandbox_open(lua_State *L)
{
    lua_newtable(L);                                    /* object -> id, weak keys */
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, SANDBOX_IDS_KEY);
    open_library(L, LUA_GNAME, luaopen_base);
    open_library(L, LUA_COLIBNAME, luaopen_coroutine);
    simlua__coroutine_guard_open(L);    /* coroutines never cross processes */
    open_library(L, LUA_TABLIBNAME, luaopen_table);
    open_library(L, LUA_STRLIBNAME, luaopen_string);
    open_library(L, LUA_MATHLIBNAME, luaopen_math);
    open_library(L, LUA_UTF8LIBNAME, luaopen_utf8);
    open_library(L, LUA_OSLIBNAME, luaopen_os);
    open_library(L, LUA_DBLIBNAME, luaopen_debug);
    open_library(L, LUA_LOADLIBNAME, luaopen_package);
    lua_pushcfunction(L, sandbox_pairs);
    lua_setglobal(L, "pairs");
    lua_pushcfunction(L, sandbox_next);
    lua_setglobal(L, "next");
    lua_pushcfunction(L, sandbox_tostring);
    lua_setglobal(L, "tostring");
    lua_pushcfunction(L, sandbox_print);
    lua_setglobal(L, "print");
    lua_getglobal(L, "load");
    lua_pushcclosure(L, sandbox_load, 1);
    lua_setglobal(L, "load");
    lua_pushglobaltable(L);
    set_absent(L, -1, "dofile", "dofile");
    set_absent(L, -1, "loadfile", "loadfile");
    lua_pop(L, 1);
    simlua__sandbox_random_open(L);
    simlua__sandbox_os_open(L);
    simlua__sandbox_string_open(L);
    simlua__sandbox_package_open(L);
}

void simlua__sandbox_set_absent(lua_State *L, int table_index, const char *field,
                                const char *shown)
{
    set_absent(L, table_index, field, shown);
}

void simlua__sorted_keys(lua_State *L, int index)
{
    push_sorted_keys(L, index);
}

void simlua__check_options(lua_State *L, int index, const char *const allowed[], const char *what)
{
    if (lua_isnoneornil(L, index))
        return;
    luaL_checktype(L, index, LUA_TTABLE);
    index = lua_absindex(L, index);
    push_sorted_keys(L, index);
    for (lua_Integer position = 1; lua_rawgeti(L, -1, position) != LUA_TNIL; position++) {
        bool known = false;
        if (lua_type(L, -1) == LUA_TSTRING) {
            for (size_t option = 0; allowed[option] != NULL && !known; option++)
                known = strcmp(lua_tostring(L, -1), allowed[option]) == 0;
        }
        if (!known) {
            luaL_Buffer buffer;
            luaL_buffinit(L, &buffer);
            for (size_t option = 0; allowed[option] != NULL; option++) {
                luaL_addstring(&buffer, option == 0 ? "" : ", ");
                luaL_addstring(&buffer, allowed[option]);
            }
            luaL_pushresult(&buffer);
            const char *known_list = lua_tostring(L, -1);
            const char *key = simlua__tostring(L, -2, NULL);
            luaL_error(L, "%s: unknown option '%s' (known: %s)", what, key, known_list);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}
