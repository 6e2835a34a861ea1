/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/coroutine_guard.c: coroutine.create, resume, wrap and close for scenarios,
 * refusing to cross simulated processes.
 *
 * A simulated process is a Lua coroutine that only the engine may resume: resuming it
 * from Lua (after `th = coroutine.running()` in the process) would run its code while
 * the engine believes it is blocked, and a coroutine a process created would run that
 * process's code inside another one. So every coroutine carries its owner in the
 * thread's extra space (raw memory Lua code cannot reach): the pid of the process that
 * created it (0: the main chunk or a w:at callback) and whether it is a process's own
 * body. Invariants kept here:
 *   - a process's body is never resumed or closed from Lua;
 *   - a coroutine created in a process is resumed or closed only from that process;
 *   - the owner is a number, never a pointer, so it cannot dangle once the process ends.
 * The functions follow Lua 5.4's own coroutine library; only the check is added.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include <lualib.h>

#include "lua_int.h"

_Static_assert(LUA_EXTRASPACE >= sizeof(uintptr_t), "the owner tag needs the extra space");

#define OWNER_FIBER_BIT ((uintptr_t)1)

static uintptr_t *owner_tag(lua_State *thread)
{
    return (uintptr_t *)lua_getextraspace(thread);
}

void simlua__coroutine_mark_fiber(lua_State *thread, uint32_t pid)
{
    assert(thread != NULL && pid != 0);
    *owner_tag(thread) = ((uintptr_t)pid << 1) | OWNER_FIBER_BIT;
}

static uint32_t current_pid(lua_State *L)
{
    const struct simlua_process *current = simlua__current_process(simlua__runtime(L));
    return current != NULL ? current->pid : 0;
}

/* Raises unless the running code may resume (or close) `co`. */
static void check_owner(lua_State *L, lua_State *co, const char *what)
{
    uintptr_t tag = *owner_tag(co);
    uint32_t owner = (uint32_t)(tag >> 1);
    if (tag & OWNER_FIBER_BIT)
        luaL_error(L, "%s: this coroutine is the body of process pid %d; only the simulator "
                      "resumes a process (it waits through blocking calls)", what, (int)owner);
    uint32_t current = current_pid(L);
    if (owner != 0 && owner != current)
        luaL_error(L, "%s: this coroutine was created in process pid %d and may only be "
                      "resumed there (called from %s)", what, (int)owner,
                   current != 0 ? "another process" : "outside any process");
}

static lua_State *check_coroutine(lua_State *L, int index)
{
    lua_State *co = lua_tothread(L, index);
    luaL_argexpected(L, co != NULL, index, "coroutine");
    return co;
}

/* As Lua's auxresume: moves `argument_count` values to `co`, resumes it and moves its
 * results back. Returns the result count, or -1 with the error object on top. */
static int resume_values(lua_State *L, lua_State *co, int argument_count)
{
    if (!lua_checkstack(co, argument_count)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, argument_count);
    int result_count = 0;
    int status = lua_resume(co, L, argument_count, &result_count);
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, result_count + 1)) {
            lua_pop(co, result_count);
            lua_pushliteral(L, "too many results to resume");
            return -1;
        }
        lua_xmove(co, L, result_count);
        return result_count;
    }
    if (status == LUA_ERRMEM)
        simlua__memory_error_caught(L);     /* the limit stops the run even when caught */
    lua_xmove(co, L, 1);
    return -1;
}

static int guarded_create(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    *owner_tag(co) = (uintptr_t)current_pid(L) << 1;
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    return 1;
}

static int guarded_resume(lua_State *L)
{
    lua_State *co = check_coroutine(L, 1);
    check_owner(L, co, "coroutine.resume");
    int result_count = resume_values(L, co, lua_gettop(L) - 1);
    if (result_count < 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -(result_count + 1));
    return result_count + 1;
}

static int guarded_wrap_call(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    assert(co != NULL);
    check_owner(L, co, "coroutine.wrap");
    int result_count = resume_values(L, co, lua_gettop(L));
    if (result_count >= 0)
        return result_count;
    int status = lua_status(co);
    if (status != LUA_OK && status != LUA_YIELD) {      /* an error inside the coroutine */
        status = lua_resetthread(co);                   /* closes its to-be-closed values */
        lua_xmove(co, L, 1);
    }
    if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int guarded_wrap(lua_State *L)
{
    guarded_create(L);
    lua_pushcclosure(L, guarded_wrap_call, 1);
    return 1;
}

/* As Lua's auxstatus: "running", "normal" (it resumed another), or NULL when `co` is
 * dead or suspended (the states coroutine.close accepts). */
static const char *unclosable_state(lua_State *L, lua_State *co)
{
    if (L == co)
        return "running";
    lua_Debug frame;
    if (lua_status(co) == LUA_OK && lua_getstack(co, 0, &frame) != 0)
        return "normal";
    return NULL;
}

static int guarded_close(lua_State *L)
{
    lua_State *co = check_coroutine(L, 1);
    check_owner(L, co, "coroutine.close");
    const char *state = unclosable_state(L, co);
    if (state != NULL)
        return luaL_error(L, "cannot close a %s coroutine", state);
    int status = lua_resetthread(co);
    if (status == LUA_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_xmove(co, L, 1);
    return 2;
}

void simlua__coroutine_guard_open(lua_State *L)
{
    *owner_tag(L) = 0;      /* new threads copy the main thread's extra space */
    static const luaL_Reg functions[] = {
        { "create", guarded_create }, { "resume", guarded_resume }, { "wrap", guarded_wrap },
        { "close", guarded_close }, { NULL, NULL },
    };
    if (lua_getglobal(L, LUA_COLIBNAME) == LUA_TTABLE)
        luaL_setfuncs(L, functions, 0);
    lua_pop(L, 1);
}
