/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/process.c: Lua processes (ep:spawn, p:sleep, p:kill, ...).
 *
 * A process is a Lua coroutine driven by the engine: the engine's resume event
 * calls lua_resume; a blocking call parks the engine process on a wait queue
 * (sim_process_block) and yields; the one event that wakes it resumes the
 * coroutine. Only the process's own coroutine may block: a blocking call from
 * the main chunk, a w:at callback or a coroutine the scenario created is an
 * error naming the method (the engine could not resume it correctly).
 *
 * Lifetime: while the process is live its userdata, coroutine and function are
 * anchored in the registry (so the engine's owner pointer stays valid); when it
 * ends they are released and `process` is set to NULL.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "lua_int.h"

/* Lua instructions the text of a process's failure may take (the error object's
 * __tostring is scenario code): a loop there ends with the instruction limit. */
#define SIMLUA_FAILURE_TEXT_INSTRUCTIONS (16ull * SIMLUA_HOOK_INSTRUCTIONS)
/* How much of a coroutine's lua_State (about 200 bytes with Lua 5.4) a resume's prefetch
 * loads: every line the block can span. */
#define SIMLUA_THREAD_PREFETCH_BYTES 256u

static void process_resume(struct sim_process *process, enum sim_wake_reason reason);
static void process_release(struct sim_process *process);

static void process_prefetch(const struct sim_process *process);
static const struct sim_process_ops lua_process_ops = {
    .resume = process_resume,
    .release = process_release,
    .prefetch = process_prefetch,
};

struct simlua_process *simlua__process_of(struct sim_process *process)
{
    return process != NULL && process->ops == &lua_process_ops ? process->owner : NULL;
}

struct simlua_process *simlua__current_process(struct simlua_runtime *runtime)
{
    if (runtime->world == NULL)
        return NULL;
    struct sim_process *process = sim_engine_current(runtime->world->engine);
    if (process == NULL || process->ops != &lua_process_ops)
        return NULL;
    return process->owner;
}

const char *simlua__current_endpoint_name(struct simlua_runtime *runtime)
{
    struct simlua_process *current = simlua__current_process(runtime);
    if (current == NULL)
        return "world";
    return runtime->world->endpoints[current->endpoint_index].name;
}

static struct simlua_process *check_process(lua_State *L, int index)
{
    return simlua__object_check(L, index, SIMLUA_TYPE_PROCESS);
}

/* Ends the process: the engine forgets it, the coroutine is closed, anchors dropped. */
static void process_end(struct simlua_process *self, bool failed)
{
    lua_State *L = self->world->runtime->L;
    struct sim_process *process = self->process;
    assert(process != NULL);
    self->exit_status = failed ? "failed" : process->kill_requested ? "killed" : "done";
    /* First the coroutine's pending to-be-closed values: their __close is scenario code,
     * run while the engine process still exists (it is the engine's current one), with
     * every blocking call refused (`ending`). A failed process's own error comes back
     * from lua_resetthread; otherwise an error there is the handler's: recorded. */
    self->ending = true;
    if (lua_resetthread(self->thread) != LUA_OK && !failed) {
        const char *why = lua_type(self->thread, -1) == LUA_TSTRING
                              ? lua_tostring(self->thread, -1) : "(not a string)";
        char text[SIM_ERROR_MESSAGE_BYTES_MAX];
        snprintf(text, sizeof(text), "error in a __close handler as the process ended: %s",
                 why);
        simlua__report_failure(L, "proc_error", text, strlen(text));
    }
    simlua__sockets_close(L, self);     /* in creation order, before the process is gone */
    sim_process_finish(process, failed);
    sim_process_destroy(process);
    self->process = NULL;
    sim_waitq_wake_all(&self->joiners);
    luaL_unref(L, LUA_REGISTRYINDEX, self->fn_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, self->thread_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, self->self_ref);   /* last: may let GC take self */
}

/* Builds "error: <message>\n<traceback>" on L. Runs under lua_pcall on the main thread:
 * the error object's __tostring is scenario code, and may raise, yield or loop. */
static int failure_text(lua_State *L)
{
    lua_State *thread = lua_tothread(L, 1);
    assert(thread != NULL);
    size_t length = 0;
    const char *message = simlua__tostring(L, 2, &length);
    simlua__traceback(L, thread, message, 0);  /* no name lookup in hash order */
    lua_pushfstring(L, "error: %s", lua_tostring(L, -1));
    return 1;
}

/* The fixed text that stands in when the failure text cannot be built. */
/* `why` is the error of the attempt to build the text, or NULL. */
static const char *failure_fallback(int status, const char *why, char *text, size_t text_bytes)
{
    if (status == LUA_ERRMEM)
        snprintf(text, text_bytes, "error: limit SIMLUA_MEMORY_BYTES_MAX (%llu bytes of Lua "
                 "memory) exceeded", (unsigned long long)SIMLUA_MEMORY_BYTES_MAX);
    else
        snprintf(text, text_bytes, "error: (the error object could not be turned into text: "
                 "%s)", why != NULL ? why : "?");
    return text;
}

/* Records the failure of a process whose coroutine ended with `status` and the error
 * object on its stack, then ends it. Never raises: the text is built in a protected
 * call with a bounded instruction budget, and a fixed text stands in when that fails. */
static void process_failed(struct simlua_process *self, lua_State *thread, int status)
{
    struct simlua_runtime *runtime = self->world->runtime;
    lua_State *L = runtime->L;
    char fallback[SIM_ERROR_MESSAGE_BYTES_MAX];
    const char *text = NULL;
    size_t length = 0;
    int top = lua_gettop(L);
    const char *why = NULL;
    if (status != LUA_ERRMEM && lua_checkstack(L, 4) && lua_checkstack(thread, 2) &&
        lua_gettop(thread) > 0) {
        lua_pushcfunction(L, failure_text);
        lua_pushthread(thread);
        lua_xmove(thread, L, 1);                        /* the thread, as a value */
        lua_pushvalue(thread, -1);
        lua_xmove(thread, L, 1);                        /* the error object */
        uint64_t budget_start = SIMLUA_INSTRUCTIONS_PER_STEP_MAX - SIMLUA_FAILURE_TEXT_INSTRUCTIONS;
        if (runtime->instructions < budget_start)
            runtime->instructions = budget_start;
        status = lua_pcall(L, 2, 1, 0);
        if (status == LUA_OK)
            text = lua_tolstring(L, -1, &length);
        else if (lua_type(L, -1) == LUA_TSTRING)
            why = lua_tostring(L, -1);
    }
    if (text == NULL) {
        text = failure_fallback(status, why, fallback, sizeof(fallback));
        length = strlen(text);
    }
    simlua__report_failure(L, "proc_error", text, length);
    lua_settop(L, top);
    if (status == LUA_ERRMEM) {     /* the whole Lua state is short of memory: stop the run */
        struct sim_engine *engine = self->world->engine;
        sim_engine_abort(engine, sim_engine_fail(engine, SIM_ELIMIT, "process %s ran out of "
                                                 "Lua memory (limit SIMLUA_MEMORY_BYTES_MAX)",
                                                 self->name));
    }
    process_end(self, true);
}

/* Whether a process of the endpoint must wait for its VMCI driver before it starts. */
static bool driver_missing(const struct simlua_endpoint *endpoint)
{
    return endpoint->kernel == NULL ||                      /* powered off: wait for on */
           (!vmci_kernel_ready(endpoint->kernel) && vmci_kernel_has_device(endpoint->kernel));
}

static void process_resume(struct sim_process *process, enum sim_wake_reason reason)
{
    struct simlua_process *self = process->owner;
    assert(self->process == process);
    lua_State *L = self->world->runtime->L;
    lua_State *thread = self->thread;
    if (reason == SIM_WAKE_KILLED) {
        process_end(self, false);
        return;
    }
    int argument_count = 0;
    const struct simlua_endpoint *endpoint = &self->world->endpoints[self->endpoint_index];
    /* Asked only before the first start: a started process is resumed without it. */
    if (!self->started && driver_missing(endpoint) && endpoint->driver_waitq != NULL) {
        /* D4: a guest process starts once the VMCI driver has loaded. */
        if (sim_process_block(process, endpoint->driver_waitq, SIM_TIME_NEVER) == SIM_OK)
            return;
        process_end(self, false);
        return;
    }
    if (self->started && lua_status(thread) != LUA_YIELD) {
        /* Only the engine resumes a process (coroutine_guard.c); should anything else
         * have run or closed it, fail the process rather than resume a stranger. */
        lua_pushliteral(thread, "the process's coroutine was resumed or closed outside "
                                "the simulator");
        process_failed(self, thread, LUA_ERRRUN);
        return;
    }
    if (!self->started) {
        self->started = true;
        lua_rawgeti(thread, LUA_REGISTRYINDEX, self->fn_ref);
        lua_rawgeti(thread, LUA_REGISTRYINDEX, self->self_ref);
        argument_count = 1;
    }
    simlua__step_begin(self->world->runtime);
    int result_count = 0;
    int status = lua_resume(thread, L, argument_count, &result_count);
    if (status == LUA_YIELD) {
        if (result_count > 0)
            lua_pop(thread, result_count);
        if (process->kill_requested)
            process_end(self, false);           /* p:kill() on itself */
        else if (process->state != SIM_PROCESS_BLOCKED) {
            lua_pushliteral(thread, "coroutine.yield() in a process body: a process waits "
                                    "only through blocking calls such as p:sleep");
            process_failed(self, thread, LUA_ERRRUN);
        }
        return;
    }
    if (status == LUA_OK) {
        lua_pop(thread, result_count);
        process_end(self, false);
        return;
    }
    process_failed(self, thread, status);
}

/* An event before this process's resume (sim/engine, prefetch_upcoming): the coroutine's
 * state, which lua_resume reads first (its status, call frame, stack and hook fields span
 * the block's lines), and the line before each hint (a userdata's payload: its Lua header
 * and type tag, which the continuation's checks read). The userdata is anchored while the
 * process is live; a hint is only prefetched. */
static void process_prefetch(const struct sim_process *process)
{
    const struct simlua_process *self = process->owner;
    const char *thread = (const char *)self->thread;
    for (size_t offset = 0; offset < SIMLUA_THREAD_PREFETCH_BYTES; offset += 64)
        __builtin_prefetch(thread + offset);
    for (uint32_t index = 0; index < SIM_PROCESS_PREFETCH_HINTS; index++)
        if (process->prefetch_hints[index] != NULL)
            __builtin_prefetch((const char *)process->prefetch_hints[index] - 64);
}

static void process_release(struct sim_process *process)
{
    /* The Lua state is closed after the engine; the userdata owns no C memory. */
    struct simlua_process *self = process->owner;
    self->process = NULL;
}

static uint32_t parse_caps(lua_State *L, int options)
{
    uint32_t caps = 0;
    if (lua_getfield(L, options, "caps") == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "spawn: caps must be a list such as { \"net_bind_service\" }");
    lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer position = 1; position <= count; position++) {
        lua_rawgeti(L, -1, position);
        const char *cap = lua_tostring(L, -1);
        if (cap != NULL && strcmp(cap, "net_bind_service") == 0)
            caps |= SIMLUA_CAP_NET_BIND_SERVICE;
        else if (cap != NULL && strcmp(cap, "net_admin") == 0)
            caps |= SIMLUA_CAP_NET_ADMIN;
        else
            luaL_error(L, "spawn: unknown capability '%s' (known: net_bind_service, net_admin)",
                       cap != NULL ? cap : luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return caps;
}

static bool optional_boolean(lua_State *L, int options, const char *field, bool absent)
{
    int type = lua_getfield(L, options, field);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN)
        luaL_error(L, "spawn: %s must be a boolean", field);
    bool value = type == LUA_TNIL ? absent : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return value;
}

/* Reads and checks spawn's options into `self` (raises before anything is acquired). */
static void parse_spawn_options(lua_State *L, int options, const struct simlua_endpoint *endpoint,
                                struct simlua_process *self)
{
    static const char *const allowed[] = { "caps", "trusted", "user", "daemon", NULL };
    simlua__check_options(L, options, allowed, "spawn");
    snprintf(self->user, sizeof(self->user), "user");
    self->trusted = endpoint->is_host;      /* D1; the profile refines it (VMCI layer) */
    if (lua_isnoneornil(L, options))
        return;
    self->caps = parse_caps(L, options);
    self->daemon = optional_boolean(L, options, "daemon", false);
    if (lua_getfield(L, options, "trusted") != LUA_TNIL && !endpoint->is_host)
        luaL_error(L, "spawn: trusted applies to host processes only (D1)");
    lua_pop(L, 1);
    self->trusted = optional_boolean(L, options, "trusted", self->trusted);
    int type = lua_getfield(L, options, "user");
    if (type != LUA_TNIL) {
        size_t length = 0;
        const char *user = lua_tolstring(L, -1, &length);
        if (type != LUA_TSTRING || length == 0 || length >= sizeof(self->user) ||
            memchr(user, 0, length) != NULL)
            luaL_error(L, "spawn: user must be a string of 1..%d bytes without a NUL byte",
                       (int)sizeof(self->user) - 1);
        memcpy(self->user, user, length + 1);
        self->user_given = true;
    }
    lua_pop(L, 1);
}

/* D1, R50: what the process's endpoints carry into the hypervisor's trust checks. */
static void identity_compute(struct simlua_world *world, const struct simlua_endpoint *endpoint,
                             struct simlua_process *self)
{
    memset(&self->identity, 0, sizeof(self->identity));
    snprintf(self->identity.user, sizeof(self->identity.user), "%s", self->user);
    if (!endpoint->is_host)
        return;
    vmci_profile_host_identity(vmci_hypervisor_profile(world->hypervisor), self->trusted,
                               self->user_given, (self->caps & SIMLUA_CAP_NET_ADMIN) != 0,
                               &self->identity.trusted, &self->identity.owner_rule);
    self->trusted = self->identity.trusted || self->identity.owner_rule;
}

int simlua__process_spawn(lua_State *L, struct simlua_world *world, uint32_t endpoint_index,
                          int name_index, int fn_index, int options_index)
{
    assert(options_index > fn_index && fn_index > name_index);
    lua_settop(L, options_index);       /* the options slot exists (nil when absent) */
    size_t name_bytes = 0;
    const char *name = luaL_checklstring(L, name_index, &name_bytes);
    luaL_argcheck(L, name_bytes > 0 && name_bytes < SIM_PROCESS_NAME_BYTES_MAX, name_index,
                  "process name must be 1..63 bytes");
    luaL_argcheck(L, memchr(name, 0, name_bytes) == NULL, name_index,
                  "process name must not hold a NUL byte");     /* C would cut it there */
    luaL_checktype(L, fn_index, LUA_TFUNCTION);
    struct simlua_process *self = simlua__object_new(L, sizeof(*self), SIMLUA_TYPE_PROCESS);
    self->thread_ref = self->self_ref = self->fn_ref = self->sockets_ref = LUA_NOREF;
    int userdata = lua_gettop(L);
    const struct simlua_endpoint *endpoint = &world->endpoints[endpoint_index];
    parse_spawn_options(L, options_index, endpoint, self);
    self->world = world;
    self->endpoint_index = endpoint_index;
    identity_compute(world, endpoint, self);
    self->exit_status = "running";
    memcpy(self->name, name, name_bytes + 1);
    char joiners_name[SIM_WAITQ_NAME_BYTES_MAX];
    snprintf(joiners_name, sizeof(joiners_name), "join:%s", self->name);
    sim_waitq_init(&self->joiners, joiners_name);
    self->thread = lua_newthread(L);
    self->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, fn_index);
    self->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, userdata);
    self->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* A VM's processes run in its engine domain (its endpoint index; the host's is 0), so
     * suspend and freeze stop them with the rest of the guest. */
    uint32_t domain = (uint32_t)(endpoint - world->endpoints);
    int rc = sim_process_create_in(world->engine, domain, endpoint->cid, self->name,
                                   &lua_process_ops, self, self->daemon,
                                   sim_engine_now(world->engine), &self->process);
    if (rc < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, self->thread_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, self->fn_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, self->self_ref);
        self->exit_status = "failed";
        return luaL_error(L, "spawn %s: %s", self->name, sim_engine_error_message(world->engine));
    }
    self->pid = self->process->pid;
    simlua__coroutine_mark_fiber(self->thread, self->pid);
    lua_settop(L, userdata);
    return 1;
}

void simlua__check_yieldable(lua_State *L, const char *method)
{
    /* Checked before the process is parked: a park whose yield then failed would leave the
     * engine's process blocked while its Lua code ran on (the next block asserted). */
    if (!lua_isyieldable(L))
        luaL_error(L, "%s: cannot block here: a C function lies between the process body and "
                      "this call (a table.sort comparator, a string.gsub or load callback, a "
                      "metamethod called from C)", method);
}

void simlua__check_may_block(lua_State *L, const struct simlua_process *current,
                             const char *method)
{
    assert(current != NULL);
    if (L != current->thread)
        luaL_error(L, "%s: blocking call inside a coroutine the scenario created (only the "
                      "process's own coroutine may block)", method);
    if (current->ending)
        luaL_error(L, "%s: process '%s' is ending (a __close handler cannot block)", method,
                   current->name);
    simlua__check_yieldable(L, method);
}

struct simlua_process *simlua__check_blocking(lua_State *L, int index, const char *method)
{
    struct simlua_runtime *runtime = simlua__runtime(L);       /* once for both checks */
    struct simlua_process *self = simlua__object_check_in(L, runtime, index, SIMLUA_TYPE_PROCESS);
    struct simlua_process *current = simlua__current_process(runtime);
    if (current == NULL)
        luaL_error(L, "%s: blocking call outside a process (from the main chunk or a w:at "
                      "callback)", method);
    if (current != self)
        luaL_error(L, "%s: called on process '%s' from process '%s' (a process may only "
                      "block itself)", method, self->name, current->name);
    simlua__check_may_block(L, self, method);
    assert(self->process != NULL);
    return self;
}

static int process_sleep(lua_State *L)
{
    struct simlua_process *self = simlua__check_blocking(L, 1, "p:sleep");
    lua_Integer delay_ns = luaL_checkinteger(L, 2);
    luaL_argcheck(L, delay_ns >= 0, 2, "delay must be >= 0 ns");
    struct sim_engine *engine = self->world->engine;
    uint64_t now_ns = sim_engine_now(engine);
    if ((uint64_t)delay_ns > SIM_TIME_END_NS - now_ns)
        return luaL_error(L, "p:sleep: delay of %I ns goes past the end of simulated time "
                          "(2^63-1 ns)", delay_ns);
    int rc = sim_process_block(self->process, NULL, now_ns + (uint64_t)delay_ns);
    if (rc == SIM_EKILLED)
        return lua_yield(L, 0);         /* the runtime ends a killed process */
    if (rc < 0)
        return luaL_error(L, "p:sleep: %s", sim_engine_error_message(engine));
    return lua_yield(L, 0);
}

static int process_kill(lua_State *L)
{
    struct simlua_process *self = check_process(L, 1);
    if (self->process == NULL || self->ending) {
        lua_pushboolean(L, 0);          /* already ended, or ending */
        return 1;
    }
    struct simlua_runtime *runtime = simlua__runtime(L);
    struct simlua_process *current = simlua__current_process(runtime);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "proc_kill",
                         self->world->endpoints[self->endpoint_index].cid,
                         current != NULL ? current->pid : 0);
    sim_trace_field_u64(&event, "target_pid", self->pid);
    (void)sim_engine_emit(self->world->engine, &event);
    if (current == self) {
        if (L != self->thread)
            return luaL_error(L, "p:kill: a process kills itself only from its own coroutine");
        sim_process_kill(self->process);
        return lua_yield(L, 0);
    }
    sim_process_kill(self->process);
    lua_pushboolean(L, 1);
    return 1;
}

/* p:join(other [, timeout_ns]) -> true once `other` has ended, or nil, "ETIMEDOUT", 110.
 * Re-checks after every wake-up, so it is a continuation (lua_yieldk). */
static int join_continue(lua_State *L, int status, lua_KContext context)
{
    (void)status;
    (void)context;
    struct simlua_process *self = check_process(L, 1);
    struct simlua_process *other = check_process(L, 2);
    if (other->process == NULL) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (self->process->wake_reason == SIM_WAKE_TIMED_OUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "ETIMEDOUT");
        lua_pushinteger(L, 110);
        return 3;
    }
    lua_pushboolean(L, 0);      /* not reached: joiners are woken only when other ends */
    return 1;
}

static int process_join(lua_State *L)
{
    struct simlua_process *self = simlua__check_blocking(L, 1, "p:join");
    if (simlua__object_test(L, 2, SIMLUA_TYPE_PROGRAM) != NULL)
        return simlua__program_join(L, self, 2, 3);         /* an ep:exec program */
    struct simlua_process *other = check_process(L, 2);
    luaL_argcheck(L, other != self, 2, "a process cannot join itself");
    uint64_t deadline_ns = SIM_TIME_NEVER;
    struct sim_engine *engine = self->world->engine;
    if (!lua_isnoneornil(L, 3)) {
        lua_Integer timeout_ns = luaL_checkinteger(L, 3);
        luaL_argcheck(L, timeout_ns >= 0, 3, "timeout must be >= 0 ns");
        uint64_t now_ns = sim_engine_now(engine);
        deadline_ns = (uint64_t)timeout_ns > UINT64_MAX - 1 - now_ns ? SIM_TIME_NEVER
                                                                      : now_ns + (uint64_t)timeout_ns;
    }
    lua_settop(L, 2);
    if (other->process == NULL) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int rc = sim_process_block(self->process, &other->joiners, deadline_ns);
    if (rc == SIM_EKILLED)
        return lua_yield(L, 0);
    if (rc < 0)
        return luaL_error(L, "p:join: %s", sim_engine_error_message(engine));
    return lua_yieldk(L, 0, 0, join_continue);
}

/* VMCISock_GetLocalCID(): the kernel's current CID (R2, R70). */
static int process_local_cid(lua_State *L)
{
    struct simlua_process *self = check_process(L, 1);
    const struct simlua_endpoint *endpoint = &self->world->endpoints[self->endpoint_index];
    lua_pushinteger(L, endpoint->kernel != NULL ? vmci_kernel_cid(endpoint->kernel) : endpoint->cid);
    return 1;
}

static int process_vmci(lua_State *L)
{
    check_process(L, 1);
    return simlua__vmci_push(L, 1);
}

static int process_state(lua_State *L)
{
    struct simlua_process *self = check_process(L, 1);
    if (self->process == NULL)
        lua_pushstring(L, self->exit_status);
    else
        lua_pushstring(L, sim_process_state_name(self->process->state));
    return 1;
}

/* Methods first (p:sleep, p:socket: the usual keys), before the object check: a method
 * found touches nothing of the object, and checks it itself when called. This function is
 * reachable only as the __index of our process metatable (getmetatable answers its name),
 * so the object is one of ours; no method has a field's name. */
static int process_index(lua_State *L)
{
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)         /* the methods */
        return 1;
    lua_pop(L, 1);
    struct simlua_process *self = check_process(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "name") == 0)
        lua_pushstring(L, self->name);
    else if (strcmp(key, "pid") == 0)
        lua_pushinteger(L, self->pid);
    else if (strcmp(key, "endpoint") == 0)
        simlua__endpoint_push(L, self->world, self->endpoint_index);
    else if (strcmp(key, "user") == 0)
        lua_pushstring(L, self->user);
    else if (strcmp(key, "trusted") == 0)
        lua_pushboolean(L, self->trusted);
    else
        lua_pushnil(L);
    return 1;
}

static int process_tostring(lua_State *L)
{
    struct simlua_process *self = check_process(L, 1);
    lua_pushfstring(L, "process %s/%s (pid %d)", self->world->endpoints[self->endpoint_index].name,
                    self->name, (int)self->pid);
    return 1;
}

void simlua__process_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "sleep", process_sleep }, { "kill", process_kill }, { "join", process_join },
        { "local_cid", process_local_cid }, { "state", process_state },
        { "vmci", process_vmci }, { "socket", simlua__process_socket },
        { "poll", simlua__process_poll }, { NULL, NULL },
    };
    static const char *const fields[] = { "name", "pid", "endpoint", "user", "trusted" };
    for (size_t method = 0; methods[method].name != NULL; method++) {
        for (size_t field = 0; field < sizeof(fields) / sizeof(fields[0]); field++)
            assert(strcmp(methods[method].name, fields[field]) != 0);   /* process_index */
    }
    simlua__metatable_new(L, SIMLUA_TYPE_PROCESS);
    luaL_newlib(L, methods);
    lua_pushcclosure(L, process_index, 1);      /* methods as an upvalue: not in the metatable */
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, process_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
}
