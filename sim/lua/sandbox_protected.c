/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/sandbox_protected.c: the sandbox's pcall and xpcall.
 *
 * They are Lua 5.4's (lbaselib.c: the same results, yieldable through lua_pcallk, so a
 * blocking call inside a pcall still waits), with one addition: a memory error they catch
 * (status LUA_ERRMEM) is told to
 * simlua__memory_error_caught. SIMLUA_MEMORY_BYTES_MAX is a limit the run itself meets:
 * it stops the run and fails it even when the scenario catches the error
 * (docs/limits.md), where Lua's pcall would hand back "not enough memory" and let the run
 * pass. Lua raises LUA_ERRMEM for `error("not enough memory")` too, so the status alone
 * does not decide: simlua__memory_error_caught acts only when the allocator refused a
 * block at the limit in the same step.
 */
#include <lauxlib.h>
#include <lua.h>

#include "lua_int.h"

/* The end of both, directly or as the continuation after a yield inside the call:
 * `extra` values below the results belong to the call itself (xpcall's handler). */
static int finish_protected(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        if (status == LUA_ERRMEM)
            simlua__memory_error_caught(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

static int sandbox_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);              /* the first result when nothing fails */
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_protected);
    return finish_protected(L, status, 0);
}

static int sandbox_xpcall(lua_State *L)
{
    int count = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);              /* the first result */
    lua_pushvalue(L, 1);                /* the function */
    lua_rotate(L, 3, 2);                /* both below the function's arguments */
    int status = lua_pcallk(L, count - 2, LUA_MULTRET, 2, 2, finish_protected);
    return finish_protected(L, status, 2);
}

void simlua__sandbox_protected_open(lua_State *L)
{
    lua_pushcfunction(L, sandbox_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, sandbox_xpcall);
    lua_setglobal(L, "xpcall");
}
