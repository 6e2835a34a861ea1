/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/object.c: the userdata behind every scenario-visible object (world,
 * endpoint, process, socket, device, VMCI handles), made and checked in one place.
 *
 * A scenario is hostile input. It may swap metatables (debug.setmetatable), replace
 * the registry's named metatables, call a metamethod directly with a foreign value,
 * or reach a binding from a __gc finalizer, possibly while the world is being torn
 * down. So the type of an object is never inferred from its metatable: each userdata
 * starts with a tag (a magic number, its type and its payload size) that every entry
 * point checks before it touches the payload. Invariants kept here:
 *   - a payload pointer handed to a binding always belongs to a userdata of the
 *     expected type and size (never a misread foreign object);
 *   - no binding runs inside a finalizer or once the world is gone (teardown): the
 *     check raises a Lua error instead, so freed C state is never reached;
 *   - every binding metatable carries __metatable, so getmetatable() from Lua returns
 *     a name, never the table, and setmetatable() on our objects fails.
 */
#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_int.h"

/* The tag before each payload is struct simlua_object_tag (lua_int.h, where the checks
 * every method call makes are inline). */
#define OBJECT_MAGIC SIMLUA_OBJECT_MAGIC
#define object_tag simlua_object_tag

static const char *const type_names[SIMLUA_TYPE_COUNT] = {
    [SIMLUA_TYPE_WORLD] = SIMLUA_WORLD_META,
    [SIMLUA_TYPE_ENDPOINT] = SIMLUA_ENDPOINT_META,
    [SIMLUA_TYPE_PROCESS] = SIMLUA_PROCESS_META,
    [SIMLUA_TYPE_SOCKET] = "vmcisim.socket",
    [SIMLUA_TYPE_SOCKET_OP] = "vmcisim.socket_op",
    [SIMLUA_TYPE_DEVICE] = "vmcisim.device",
    [SIMLUA_TYPE_VMCI] = "vmcisim.vmci",
    [SIMLUA_TYPE_DATAGRAM] = "vmcisim.datagram",
    [SIMLUA_TYPE_QUEUE_PAIR] = "vmcisim.queue_pair",
    [SIMLUA_TYPE_PROGRAM] = "vmcisim.program",
};

const char *simlua__type_name(enum simlua_type type)
{
    assert(type > 0 && type < SIMLUA_TYPE_COUNT);
    return type_names[type];
}

bool simlua__in_finalizer(lua_State *L)
{
    /* The finalizers a state can run are the bindings' own (simlua__finalizer_begin) and
     * the auxiliary library's buffer boxes, which call no binding: scenarios cannot have
     * any (the sandbox's setmetatable refuses __gc; debug.setmetatable is absent). So the
     * count says it without asking Lua (lua_gc(L, LUA_GCISRUNNING), below zero inside any
     * finalizer, costs a call into Lua on every method call). */
    return simlua__runtime(L)->finalizers_running > 0;
}

struct simlua_runtime *simlua__finalizer_begin(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    runtime->finalizers_running++;
    return runtime;
}

void simlua__finalizer_end(struct simlua_runtime *runtime)
{
    assert(runtime->finalizers_running > 0);
    runtime->finalizers_running--;
}

void simlua__check_usable(lua_State *L, const char *what)
{
    assert(what != NULL);
    struct simlua_runtime *runtime = simlua__runtime(L);
    if (runtime->finalizers_running == 0 && runtime->world != NULL)
        return;
    simlua__check_usable_failed(L, runtime, what);
}

void simlua__check_usable_failed(lua_State *L, struct simlua_runtime *runtime, const char *what)
{
    assert(what != NULL);
    bool finalizer = runtime->finalizers_running > 0;
    assert(finalizer || runtime->world == NULL);
    /* Lua drops errors raised in a finalizer without a word: say it here as well. */
    size_t length = 0;
    const char *text = lua_pushfstring(L, "%s used %s", what,
                                       finalizer ? "in a __gc finalizer (vmcisim objects "
                                                   "cannot be used there)"
                                                 : "after the world was torn down");
    (void)lua_tolstring(L, -1, &length);
    if (runtime->world != NULL)
        simlua__report_failure(L, "gc_error", text, length);
    else
        fprintf(stderr, "vmcisim: error at teardown: %s\n", text);
    lua_error(L);
    abort();                                /* not reached: lua_error raises */
}

/* Pushes a zeroed tagged userdata without a metatable; returns its tag. */
static struct object_tag *tagged_new(lua_State *L, size_t payload_bytes, enum simlua_type type)
{
    assert(payload_bytes > 0 && payload_bytes <= UINT32_MAX);
    assert(type > 0 && type < SIMLUA_TYPE_COUNT);
    /* Their finalizers free memory outside the Lua state, so the state must be closed with
     * lua_close, not freed whole (runtime.c, state_free_whole). */
    if (type == SIMLUA_TYPE_DATAGRAM || type == SIMLUA_TYPE_QUEUE_PAIR)
        simlua__runtime(L)->close_needed = true;
    struct object_tag *tag = lua_newuserdatauv(L, sizeof(*tag) + payload_bytes, 0);
    memset(tag, 0, sizeof(*tag) + payload_bytes);
    tag->magic = OBJECT_MAGIC;
    tag->type = (uint32_t)type;
    tag->payload_bytes = (uint32_t)payload_bytes;
    return tag;
}

void *simlua__object_new_hidden(lua_State *L, size_t payload_bytes, enum simlua_type type)
{
    return tagged_new(L, payload_bytes, type) + 1;
}

void *simlua__object_new(lua_State *L, size_t payload_bytes, enum simlua_type type)
{
    const char *name = simlua__type_name(type);
    struct object_tag *tag = tagged_new(L, payload_bytes, type);
    /* The registry entry may have been replaced by the scenario: use it only if it is
     * still a table named for this type. */
    int userdata = lua_gettop(L);          /* raw reads: no scenario code runs here */
    bool ours = luaL_getmetatable(L, name) == LUA_TTABLE &&
                (lua_pushliteral(L, "__name"), lua_rawget(L, -2)) == LUA_TSTRING &&
                strcmp(lua_tostring(L, -1), name) == 0;
    lua_settop(L, userdata + 1);            /* the metatable (or what replaced it) */
    if (!ours)
        luaL_error(L, "%s: its metatable in the registry was replaced", name);
    lua_setmetatable(L, userdata);
    return tag + 1;
}

/* What the value at index really is: one of our types by its tag (never by its
 * metatable, which the scenario may have swapped), else its basic Lua type. */
static const char *actual_type_name(lua_State *L, int index)
{
    for (int type = 1; type < SIMLUA_TYPE_COUNT; type++) {
        if (simlua__object_test(L, index, (enum simlua_type)type) != NULL)
            return type_names[type];
    }
    return luaL_typename(L, index);
}

void simlua__object_check_failed(lua_State *L, int index, enum simlua_type type)
{
    const char *name = simlua__type_name(type);
    luaL_argerror(L, index, lua_pushfstring(L, "%s expected, got %s", name,
                                            actual_type_name(L, index)));
    abort();                                /* not reached: luaL_argerror raises */
}

void simlua__metatable_new(lua_State *L, enum simlua_type type)
{
    const char *name = simlua__type_name(type);
    luaL_newmetatable(L, name);             /* sets __name */
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__metatable");     /* getmetatable() answers the name */
}

bool simlua__registry_table(lua_State *L, int reference)
{
    if (lua_rawgeti(L, LUA_REGISTRYINDEX, reference) == LUA_TTABLE)
        return true;
    lua_pop(L, 1);
    lua_newtable(L);        /* replaced or dropped by the scenario: start an empty one */
    lua_pushvalue(L, -1);
    lua_rawseti(L, LUA_REGISTRYINDEX, reference);
    return false;
}
