/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/socket.c: Lua sockets (scenario-api.md, "Process p" and "Socket s").
 *
 * A socket userdata wraps a struct vsock_sock of its endpoint's stack. Blocking
 * methods run a step of the core call; when the core answers -EAGAIN with a
 * wait queue, the process parks on it (with the call's deadline) and the method
 * resumes as a continuation that runs the step again. The progress of a send or
 * recv lives in a state userdata on the Lua stack, which survives the yield. A stream
 * recv that ends at its first dequeue (the usual one) builds its string straight from
 * the queue pair's ring (vsock_recv_in_place): one copy of each byte, no buffer; only a
 * recv that may gather bytes over several dequeues (MSG_WAITALL, SO_RCVLOWAT) and a
 * datagram recv fill a buffer userdata first.
 * The cost the transport reports is slept before the method returns.
 *
 * Failures return nil, "ENAME", errno; a closed socket fails every method with
 * EBADF plus a fourth value, a hint naming who closed it and when (also traced as
 * sock_ebadf). Sockets are closed when their process ends, in creation order: a
 * socket belongs to the process that created (or accepted) it, until s:give hands it
 * to another live process of the same endpoint (each socket is in one owner's list).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "lua_int.h"
#include "sim/engine/duration.h"
#include "vsock/options.h"

/* Bytes one recv may ask for (a Lua string is built of them). */
#define SIMLUA_RECV_BYTES_MAX (64u * 1024 * 1024)

struct lua_socket {
    struct vsock_sock *sock;            /* borrowed from the stack; NULL once closed */
    struct simlua_world *world;         /* borrowed */
    uint32_t endpoint_index;
    uint64_t id;                        /* the core's socket id, kept after the close */
    uint32_t owner_pid;                 /* the process whose end closes it (0: none) */
    /* Who closed it, for the hint an EBADF carries (valid once sock is NULL). */
    uint64_t closed_at_ns;
    uint32_t closed_by_pid;             /* 0: closed outside any process */
    bool closed_at_process_end;         /* false: by s:close() */
    char closed_by[SIMLUA_NAME_BYTES_MAX + SIM_PROCESS_NAME_BYTES_MAX];    /* "vm/process" */
};

enum op_kind { OP_CONNECT = 1, OP_ACCEPT, OP_SEND, OP_RECV };

/* What a blocking operation keeps across yields (a userdata at stack index OP_STATE). In a
 * fleet it is in no cache when its process resumes: what op_continue reads first (kind,
 * result_count, charged, the socket and the process) is in the first 32 bytes. The size
 * stays what it was (72 bytes): collectgarbage("count") shows it (tests/objects_test.sh).
 * Every yield of the call hands the continuation this state's address (its context), so a
 * resume needs no call into Lua to find it; `socket` and `process` are the checked socket
 * of slot 1 and the process making the call, which stay the same for the whole call. */
struct op_state {
    uint8_t kind;                       /* enum op_kind */
    uint8_t result_count;               /* of a finished call whose cost is being slept */
    bool charged;                       /* the final cost sleep is in progress */
    bool paying;                        /* sleeping the cost before waiting */
    bool timed_out;
    bool has_to;                        /* sendto: addr is the destination */
    bool want_from;                     /* recvfrom: also cid, port, truncated */
    struct lua_socket *socket;          /* slot 1's payload, anchored there */
    struct simlua_process *process;     /* the caller, alive while it is blocked */
    uint64_t progress;                  /* bytes sent or received so far */
    uint64_t cost_ns;                   /* accumulated, slept before returning */
    uint64_t deadline_ns;               /* of the call's first wait, kept for the next */
    struct vsock_addr addr;
    uint32_t flags;
    uint64_t size_bytes;                /* recv: the most it may return (maxlen) */
};
_Static_assert(offsetof(struct op_state, process) < 32, "a resume's fields come first");
_Static_assert(sizeof(struct op_state) == 72, "the state's size is what scenarios measure");

#define ARG_TOP 4           /* methods take at most 3 arguments after the socket */
#define OP_STATE 5
#define OP_BUFFER 6

static int push_errno(lua_State *L, int error)
{
    lua_pushnil(L);
    lua_pushstring(L, vsock_errno_name(error));
    lua_pushinteger(L, error < 0 ? -error : error);
    return 3;
}

/* api layer: one event per socket call as the scenario sees it, with its result (the count,
 * 0, or a negative errno); pid 0 outside any process. Inline, so that a literal kind's
 * length and name id are constants (emit_op_call). */
static inline __attribute__((always_inline)) void
emit_call(struct sim_engine *engine, uint32_t pid, const char *kind,
          const struct vsock_sock *sock, int64_t result)
{
    struct sim_trace_event event;
    uint32_t cid = sock != NULL ? vsock_stack_local_cid(sock->stack) : VSOCK_CID_HOST;
    sim_trace_event_init(&event, SIM_LAYER_API, kind, cid, pid);
    if (sock != NULL)
        sim_trace_field_u64(&event, "socket", sock->id);
    sim_trace_field_i64(&event, "result", result);
    (void)sim_engine_emit(engine, &event);
}

/* emit_call for a kind known only at run time (the non-blocking methods'). */
static __attribute__((noinline)) void emit_call_named(struct sim_engine *engine, uint32_t pid,
                                                      const char *kind,
                                                      const struct vsock_sock *sock,
                                                      int64_t result)
{
    emit_call(engine, pid, kind, sock, result);
}

static void trace_call(lua_State *L, const char *kind, const struct vsock_sock *sock,
                       int64_t result)
{
    struct simlua_runtime *runtime = simlua__runtime(L);
    struct simlua_process *process = simlua__current_process(runtime);
    if (runtime->world == NULL)
        return;
    emit_call_named(runtime->world->engine, process != NULL ? process->pid : 0, kind, sock,
                    result);
}

/* The api event of a finished blocking call, its kind a literal for each operation. */
static void emit_op_call(struct sim_engine *engine, uint32_t pid, enum op_kind kind,
                         const struct vsock_sock *sock, int64_t result)
{
    switch (kind) {
    case OP_CONNECT: emit_call(engine, pid, "sock_connect", sock, result); return;
    case OP_ACCEPT: emit_call(engine, pid, "sock_accept", sock, result); return;
    case OP_SEND: emit_call(engine, pid, "sock_send", sock, result); return;
    case OP_RECV: emit_call(engine, pid, "sock_recv", sock, result); return;
    }
    assert(!"unknown socket operation");
}

static struct lua_socket *check_socket(lua_State *L)
{
    return simlua__object_check(L, 1, SIMLUA_TYPE_SOCKET);
}

static struct vsock_credentials credentials_of(const struct simlua_process *process)
{
    struct vsock_credentials credentials = {
        .trusted = process->identity.trusted, .owner_rule = process->identity.owner_rule,
        .net_bind_service = (process->caps & SIMLUA_CAP_NET_BIND_SERVICE) != 0,
        .pid = process->pid,
    };
    memcpy(credentials.user, process->user, sizeof(credentials.user));
    return credentials;
}

/* Registers the socket at the top of the stack with the process (closed at its end). */
static void remember(lua_State *L, struct simlua_process *process)
{
    if (process->sockets_ref == LUA_NOREF || process->sockets_ref == 0) {
        lua_newtable(L);
        process->sockets_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    simlua__registry_table(L, process->sockets_ref);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
}

static void push_socket(lua_State *L, struct vsock_sock *sock, struct simlua_world *world,
                        uint32_t endpoint_index, struct simlua_process *process)
{
    struct lua_socket *ls = simlua__object_new(L, sizeof(*ls), SIMLUA_TYPE_SOCKET);
    ls->sock = sock;
    ls->world = world;
    ls->endpoint_index = endpoint_index;
    ls->id = sock->id;
    if (process != NULL) {
        ls->owner_pid = process->pid;
        remember(L, process);
    }
}

/* Removes the socket at the top of the stack from the process's list (s:give). */
static void forget(lua_State *L, struct simlua_process *process)
{
    if (process->sockets_ref == LUA_NOREF || process->sockets_ref == 0)
        return;
    simlua__registry_table(L, process->sockets_ref);
    lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
    lua_Integer found = 0;
    for (lua_Integer position = 1; position <= count && found == 0; position++) {
        lua_rawgeti(L, -1, position);
        if (lua_rawequal(L, -1, -3))
            found = position;
        lua_pop(L, 1);
    }
    for (lua_Integer position = found; found != 0 && position < count; position++) {
        lua_rawgeti(L, -1, position + 1);       /* keep creation order: shift down */
        lua_rawseti(L, -2, position);
    }
    if (found != 0) {
        lua_pushnil(L);
        lua_rawseti(L, -2, count);
    }
    lua_pop(L, 1);
}

/* p:socket("stream" | "dgram") */
int simlua__process_socket(lua_State *L)
{
    struct simlua_process *process = simlua__object_check(L, 1, SIMLUA_TYPE_PROCESS);
    static const char *const types[] = { "stream", "dgram", "seqpacket", NULL };
    int type = luaL_checkoption(L, 2, NULL, types);
    if (process->process == NULL)
        return luaL_error(L, "p:socket: process %s has ended", process->name);
    struct simlua_world *world = process->world;
    struct simlua_endpoint *endpoint = &world->endpoints[process->endpoint_index];
    if (endpoint->net == NULL || !endpoint->net->ready)
        return push_errno(L, -EAFNOSUPPORT);                        /* R26, R203 */
    struct vsock_credentials credentials = credentials_of(process);
    struct vsock_sock *sock = NULL;
    int linux_type = type == 0 ? VSOCK_TYPE_STREAM : type == 1 ? VSOCK_TYPE_DGRAM : 5;
    int rc = vsock_socket(&endpoint->net->stack, linux_type, 0, &credentials, &sock);
    trace_call(L, "sock_socket", sock, rc);
    if (rc < 0)
        return push_errno(L, rc);
    push_socket(L, sock, world, process->endpoint_index, process);
    return 1;
}

/* A method on a closed socket: nil, "EBADF", 9 and a hint saying who closed it and when
 * (the same facts go to the trace as api event sock_ebadf). */
static int push_closed(lua_State *L, const struct lua_socket *ls)
{
    assert(ls->sock == NULL);
    struct simlua_runtime *runtime = simlua__runtime(L);
    struct simlua_process *current = simlua__current_process(runtime);
    if (runtime->world != NULL) {
        struct sim_trace_event event;
        sim_trace_event_init(&event, SIM_LAYER_API, "sock_ebadf",
                             ls->world->endpoints[ls->endpoint_index].cid,
                             current != NULL ? current->pid : 0);
        sim_trace_field_u64(&event, "socket", ls->id);
        sim_trace_field_u64(&event, "closed_at_ns", ls->closed_at_ns);
        sim_trace_field_u64(&event, "closed_by_pid", ls->closed_by_pid);
        sim_trace_field_str(&event, "closed_by", ls->closed_at_process_end ? "process_end"
                                                                           : "close");
        (void)sim_engine_emit(runtime->world->engine, &event);
    }
    char time_text[32];
    sim_time_format(ls->closed_at_ns, time_text, sizeof(time_text));
    push_errno(L, -EBADF);
    if (ls->closed_at_process_end)
        lua_pushfstring(L, "socket %I was closed at %s s when its process %s (pid %d) ended: a "
                           "socket belongs to the process that created or accepted it "
                           "(docs/sockets.md, \"Socket ownership\")", (lua_Integer)ls->id,
                        time_text, ls->closed_by, (int)ls->closed_by_pid);
    else
        lua_pushfstring(L, "socket %I was closed at %s s by s:close() in %s", (lua_Integer)ls->id,
                        time_text, ls->closed_by_pid != 0 ? ls->closed_by : "the world");
    return 4;
}

static struct vsock_addr check_addr(lua_State *L, int cid_index, int port_index)
{
    lua_Integer cid = luaL_checkinteger(L, cid_index);
    lua_Integer port = luaL_checkinteger(L, port_index);
    luaL_argcheck(L, cid >= 0 && cid <= 0xFFFFFFFF, cid_index, "CID must fit 32 bits");
    luaL_argcheck(L, port >= 0 && port <= 0xFFFFFFFF, port_index, "port must fit 32 bits");
    struct vsock_addr addr = { (uint32_t)cid, (uint32_t)port };
    return addr;
}

static int socket_bind(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    struct vsock_addr addr = check_addr(L, 2, 3);
    struct vsock_sock *sock = ls->sock;
    if (sock == NULL)
        return push_closed(L, ls);
    int rc = vsock_bind(sock, &addr);
    trace_call(L, "sock_bind", sock, rc);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int socket_listen(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    lua_Integer backlog = luaL_optinteger(L, 2, 16);
    struct vsock_sock *sock = ls->sock;
    if (sock == NULL)
        return push_closed(L, ls);
    int rc = vsock_listen(sock, backlog < INT32_MIN ? INT32_MIN
                                : backlog > INT32_MAX ? INT32_MAX : (int)backlog);
    trace_call(L, "sock_listen", sock, rc);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* The running process that may block for a socket method, or a raised error. */
static struct simlua_process *blocking_process(lua_State *L, struct simlua_runtime *runtime,
                                               const char *method)
{
    assert(runtime != NULL);   /* simlua__runtime(L), which costs a call into Lua */
    struct simlua_process *current = simlua__current_process(runtime);
    if (current == NULL)
        luaL_error(L, "%s: blocking call outside a process (from the main chunk or a w:at "
                      "callback)", method);
    simlua__check_may_block(L, current, method);
    return current;
}

static int op_step(lua_State *L, struct lua_socket *ls, struct op_state *state,
                   struct simlua_process *process, struct vsock_call *call, int64_t *result);
static int op_continue(lua_State *L, int status, lua_KContext context);

/* Parks the call: the continuation gets the state's address as its context. First names to
 * the engine what op_continue reads first when the process resumes (the operation's state,
 * the socket's payload) and, in a world large enough for the engine to prefetch, the
 * socket's own memory beyond them (vsock_prefetch_spans), so that their loads start a few
 * events ahead (sim_process.prefetch_hints and prefetch_spans: prefetched only, never read
 * through). */
static int op_yield(lua_State *L, struct op_state *state)
{
    assert(state != NULL && state->socket != NULL && state->process != NULL);
    struct sim_process *process = state->process->process;
    assert(process != NULL);
    process->prefetch_hints[0] = state;
    process->prefetch_hints[1] = state->socket;
    process->prefetch_spans.count = 0;
    if (state->socket->sock != NULL && sim_engine_prefetching(process->engine))
        vsock_prefetch_spans(state->socket->sock, &process->prefetch_spans);
    return lua_yieldk(L, 0, (lua_KContext)(intptr_t)state, op_continue);
}

/* Runs the operation until it finishes (then sleeps its cost) or must wait. The state
 * holds the checked payload of stack slot 1 (the socket) and the process making the call
 * (found once by the method: blocking_process), so no step asks Lua, the runtime or the
 * engine for them again; within the call no scenario code can replace a slot of this
 * frame. */
static int op_run(lua_State *L, struct op_state *state)
{
    assert(state != NULL && state->socket != NULL);
    assert(state->kind >= OP_CONNECT && state->kind <= OP_RECV);
    struct simlua_process *process = state->process;
    struct lua_socket *ls = state->socket;
    assert(process != NULL && process->thread == L);
    struct vsock_call call = { .deadline_ns = state->deadline_ns };
    int64_t result = 0;         /* the count, 0, or a negative errno (emit_call) */
    int count = op_step(L, ls, state, process, &call, &result);
    state->cost_ns += call.cost_ns;
    struct sim_engine *engine = process->world->engine;
    if (count >= 0) {
        emit_op_call(engine, process->pid, state->kind, ls->sock, result);
        if (state->cost_ns == 0)
            return count;
        assert(count <= UINT8_MAX);
        state->charged = true;
        state->result_count = (uint8_t)count;
        uint64_t deadline_ns = sim_engine_now(engine) + state->cost_ns;
        int rc = sim_process_block(process->process, NULL, deadline_ns);
        if (rc < 0 && rc != SIM_EKILLED)
            return luaL_error(L, "%s", sim_engine_error_message(engine));
        return op_yield(L, state);
    }
    assert(call.wait != NULL);
    if (state->cost_ns > 0) {
        /* The work done so far takes its time before the process starts waiting. */
        state->paying = true;
        uint64_t deadline_ns = sim_engine_now(engine) + state->cost_ns;
        state->cost_ns = 0;
        int rc = sim_process_block(process->process, NULL, deadline_ns);
        if (rc < 0 && rc != SIM_EKILLED)
            return luaL_error(L, "%s", sim_engine_error_message(engine));
        return op_yield(L, state);
    }
    state->deadline_ns = call.deadline_ns;      /* the call's timeout keeps running */
    int rc = sim_process_block(process->process, call.wait, call.deadline_ns);
    if (rc < 0 && rc != SIM_EKILLED)
        return luaL_error(L, "%s", sim_engine_error_message(engine));
    return op_yield(L, state);
}

/* After a yield of op_run. `context` is the state's address: the userdata in slot OP_STATE
 * of this frame, which nothing but this call can reach (it never leaves the frame, and the
 * sandbox has no debug.setlocal), so it is still there and alive. The engine resumes a
 * process only while the world runs and never in a finalizer, and a killed process is
 * ended without resuming it, so no check of Lua's is needed here. */
static int op_continue(lua_State *L, int status, lua_KContext context)
{
    (void)status;
    struct op_state *state = (struct op_state *)(intptr_t)context;
    assert(simlua__payload_has_type(state, SIMLUA_TYPE_SOCKET_OP));
    if (state->charged)
        return state->result_count;             /* the results sit on top of the stack */
    if (state->paying)
        state->paying = false;          /* the cost sleep ended: not a timeout */
    else
        state->timed_out = state->process->process->wake_reason == SIM_WAKE_TIMED_OUT;
    return op_run(L, state);
}

/* The state of a blocking call on socket `ls` (slot 1's payload), in slot OP_STATE. */
static struct op_state *op_begin(lua_State *L, struct simlua_runtime *runtime,
                                 struct lua_socket *ls, enum op_kind kind, const char *method)
{
    struct simlua_process *process = blocking_process(L, runtime, method);
    /* lua_settop(L, ARG_TOP), in the cheaper calls of the usual case (fewer arguments). */
    int top = lua_gettop(L);
    if (top > ARG_TOP)
        lua_settop(L, ARG_TOP);
    for (; top < ARG_TOP; top++)
        lua_pushnil(L);
    /* Hidden: it never leaves this C frame's slots (its type's metatable is still made
     * when the module opens, as before, so the objects Lua makes stay the same). */
    struct op_state *state = simlua__object_new_hidden(L, sizeof(*state), SIMLUA_TYPE_SOCKET_OP);
    state->kind = (uint8_t)kind;
    state->socket = ls;
    state->process = process;
    state->deadline_ns = SIM_TIME_NEVER;
    assert(lua_gettop(L) == OP_STATE);
    return state;
}

static uint32_t check_flags(lua_State *L, int index)
{
    uint32_t flags = 0;
    if (lua_isnoneornil(L, index))
        return 0;
    static const struct { const char *name; uint32_t bit; } known[] = {
        { "peek", VSOCK_MSG_PEEK }, { "dontwait", VSOCK_MSG_DONTWAIT },
        { "waitall", VSOCK_MSG_WAITALL },
    };
    int count = lua_istable(L, index) ? (int)lua_rawlen(L, index) : 1;
    for (int position = 1; position <= count; position++) {
        if (lua_istable(L, index))
            lua_rawgeti(L, index, position);
        else
            lua_pushvalue(L, index);
        const char *name = luaL_checkstring(L, -1);
        bool found = false;
        for (size_t entry = 0; entry < sizeof(known) / sizeof(known[0]) && !found; entry++) {
            if (strcmp(name, known[entry].name) == 0) {
                flags |= known[entry].bit;
                found = true;
            }
        }
        if (!found)
            luaL_error(L, "unknown flag '%s' (peek, dontwait, waitall)", name);
        lua_pop(L, 1);
    }
    return flags;
}

/* A step's failure: what push_errno pushes, and the negative errno the api event gets. */
static int errno_result(lua_State *L, int error, int64_t *result)
{
    *result = error < 0 ? error : -error;
    return push_errno(L, error);
}

/* A step on a closed socket: push_closed's four values, and -EBADF for the api event. */
static int closed_result(lua_State *L, const struct lua_socket *ls, int64_t *result)
{
    *result = -EBADF;
    return push_closed(L, ls);
}

static int step_connect(lua_State *L, struct lua_socket *ls, struct op_state *state,
                        struct vsock_call *call, int64_t *result)
{
    if (ls->sock == NULL)
        return closed_result(L, ls, result);
    int rc = vsock_connect(ls->sock, &state->addr, state->progress > 0, call);
    state->progress = 1;
    if (rc == -EAGAIN && call->wait != NULL)
        return -1;
    if (rc < 0)
        return errno_result(L, rc, result);
    lua_pushboolean(L, 1);
    *result = 0;
    return 1;
}

static int step_accept(lua_State *L, struct lua_socket *ls, struct op_state *state,
                       struct simlua_process *process, struct vsock_call *call, int64_t *result)
{
    if (ls->sock == NULL)
        return closed_result(L, ls, result);
    if (state->timed_out)
        return errno_result(L, -EAGAIN, result);                                /* R107 */
    struct vsock_sock *child = NULL;
    int rc = vsock_accept(ls->sock, &child, call);
    if (rc == -EAGAIN && call->wait != NULL)
        return -1;
    if (rc < 0)
        return errno_result(L, rc, result);
    push_socket(L, child, ls->world, ls->endpoint_index, process);
    lua_pushinteger(L, child->remote.cid);                                      /* R108 */
    lua_pushinteger(L, child->remote.port);
    *result = 0;
    return 3;
}

static int step_send(lua_State *L, struct lua_socket *ls, struct op_state *state,
                     struct vsock_call *call, int64_t *result)
{
    size_t size_bytes = 0;
    const char *bytes = lua_tolstring(L, 2, &size_bytes);
    if (ls->sock == NULL)
        return closed_result(L, ls, result);
    if (state->timed_out) {                                                     /* R117 */
        if (state->progress > 0) {
            lua_pushinteger(L, (lua_Integer)state->progress);
            *result = (int64_t)state->progress;
            return 1;
        }
        return errno_result(L, -EAGAIN, result);
    }
    const struct vsock_addr *to = state->has_to ? &state->addr : NULL;
    int64_t rc = vsock_send(ls->sock, bytes, size_bytes, state->flags, to, &state->progress, call);
    if (rc == -EAGAIN && call->wait != NULL)
        return -1;
    if (rc < 0)
        return errno_result(L, (int)rc, result);
    lua_pushinteger(L, rc);
    *result = rc;
    return 1;
}

/* The receive buffer of a recv that may gather bytes over several dequeues (slot
 * OP_BUFFER): made at the first such step, then kept across yields and re-checked. */
static uint8_t *recv_buffer(lua_State *L, const struct op_state *state)
{
    if (lua_isnil(L, OP_BUFFER)) {
        lua_newuserdatauv(L, (size_t)state->size_bytes, 0);
        lua_replace(L, OP_BUFFER);
    }
    if (lua_type(L, OP_BUFFER) != LUA_TUSERDATA || lua_rawlen(L, OP_BUFFER) != state->size_bytes)
        luaL_error(L, "s:recv: its buffer was replaced");
    return lua_touserdata(L, OP_BUFFER);
}

void simlua__push_pieces(lua_State *L, const uint8_t *first, uint64_t first_bytes,
                         const uint8_t *second, uint64_t second_bytes)
{
    assert(first != NULL || first_bytes == 0);
    assert(second != NULL || second_bytes == 0);
    if (second_bytes == 0) {
        if (first_bytes == 0)
            lua_pushliteral(L, "");
        else
            lua_pushlstring(L, (const char *)first, (size_t)first_bytes);
        return;
    }
    size_t total_bytes = (size_t)(first_bytes + second_bytes);
    luaL_Buffer gathered;
    char *target = luaL_buffinitsize(L, &gathered, total_bytes);
    memcpy(target, first, (size_t)first_bytes);
    memcpy(target + first_bytes, second, (size_t)second_bytes);
    luaL_pushresultsize(&gathered, total_bytes);
}

/* A recv that ends at its first dequeue (unless MSG_WAITALL or SO_RCVLOWAT make it gather
 * more: vsock_recv_in_place_fits) copies the bytes from the ring into its string directly
 * (vsock_recv_in_place), with no buffer between. A large one also has them copied into the
 * block its string will take (simlua__string_reserve) in the pass that hashes them for
 * the stream_bytes tally, so the string's own copy is of the bytes onto themselves; but
 * when they wrapped around the ring's end the string is made from the two pieces (through
 * a luaL_Buffer, whose box is an object a scenario can see), exactly as without it. */
static int step_recv(lua_State *L, struct lua_socket *ls, struct op_state *state,
                     struct vsock_call *call, int64_t *result)
{
    if (!lua_isnil(L, OP_BUFFER) && lua_type(L, OP_BUFFER) != LUA_TUSERDATA)
        return luaL_error(L, "s:recv: its buffer was replaced");
    if (ls->sock == NULL)
        return closed_result(L, ls, result);
    struct vsock_addr from = { VSOCK_CID_ANY, VSOCK_PORT_ANY };
    bool truncated = false;
    struct vsock_bytes received = { .first = NULL };
    uint8_t *prepared = NULL;
    int64_t rc;
    if (state->timed_out) {
        rc = state->progress > 0 ? (int64_t)state->progress : -EAGAIN;          /* R121 */
        if (rc > 0)
            received.first = recv_buffer(L, state);
    } else if (vsock_recv_in_place_fits(ls->sock, state->size_bytes, state->flags,
                                        state->progress)) {
        if (state->size_bytes >= SIMLUA_STRING_RESERVE_BYTES_MIN)   /* else not worth it */
            prepared = simlua__string_reserve(L, (size_t)state->size_bytes);
        rc = vsock_recv_in_place_copy(ls->sock, prepared, state->size_bytes, state->flags,
                                      &received, &state->progress, call);
        if (received.second != NULL)
            prepared = NULL;    /* it wrapped: made from the ring's pieces, as without it */
    } else {
        uint8_t *buffer = recv_buffer(L, state);
        received.first = buffer;
        rc = vsock_recv(ls->sock, buffer, state->size_bytes, state->flags, &from, &truncated,
                        &state->progress, call);
    }
    if (rc == -EAGAIN && call->wait != NULL)
        return -1;
    if (rc < 0)
        return errno_result(L, (int)rc, result);
    if (received.second == NULL)
        received.first_bytes = (uint64_t)rc;    /* a buffer's, or an in-place single piece */
    if (prepared != NULL && rc > 0)
        simlua__push_reserved(L, prepared, (size_t)rc);
    else
        simlua__push_pieces(L, received.first, received.first_bytes, received.second,
                            received.second_bytes);
    *result = (int64_t)(received.first_bytes + received.second_bytes);
    if (!state->want_from)
        return 1;
    if (ls->sock->type == VSOCK_TYPE_STREAM)
        from = ls->sock->remote;
    lua_pushinteger(L, from.cid);
    lua_pushinteger(L, from.port);
    lua_pushboolean(L, truncated);
    return 4;
}

static int op_step(lua_State *L, struct lua_socket *ls, struct op_state *state,
                   struct simlua_process *process, struct vsock_call *call, int64_t *result)
{
    switch (state->kind) {
    case OP_CONNECT: return step_connect(L, ls, state, call, result);
    case OP_ACCEPT: return step_accept(L, ls, state, process, call, result);
    case OP_SEND: return step_send(L, ls, state, call, result);
    case OP_RECV: return step_recv(L, ls, state, call, result);
    }
    return luaL_error(L, "unknown socket operation");
}

static int socket_connect(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);   /* once: the state needs it too */
    struct lua_socket *ls = simlua__object_check_in(L, runtime, 1, SIMLUA_TYPE_SOCKET);
    struct vsock_addr addr = check_addr(L, 2, 3);
    struct op_state *state = op_begin(L, runtime, ls, OP_CONNECT, "s:connect");
    state->addr = addr;
    return op_run(L, state);
}

static int socket_accept(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);   /* once: the state needs it too */
    struct lua_socket *ls = simlua__object_check_in(L, runtime, 1, SIMLUA_TYPE_SOCKET);
    struct op_state *state = op_begin(L, runtime, ls, OP_ACCEPT, "s:accept");
    return op_run(L, state);
}

static int socket_send(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);   /* once: the state needs it too */
    struct lua_socket *ls = simlua__object_check_in(L, runtime, 1, SIMLUA_TYPE_SOCKET);
    luaL_checkstring(L, 2);
    uint32_t flags = check_flags(L, 3);
    struct op_state *state = op_begin(L, runtime, ls, OP_SEND, "s:send");
    state->flags = flags;
    return op_run(L, state);
}

static int socket_sendto(lua_State *L)
{
    struct simlua_runtime *runtime = simlua__runtime(L);   /* once: the state needs it too */
    struct lua_socket *ls = simlua__object_check_in(L, runtime, 1, SIMLUA_TYPE_SOCKET);
    luaL_checkstring(L, 2);
    struct vsock_addr addr = check_addr(L, 3, 4);
    struct op_state *state = op_begin(L, runtime, ls, OP_SEND, "s:sendto");
    state->addr = addr;
    state->has_to = true;
    return op_run(L, state);
}

static int socket_recv_common(lua_State *L, const char *method, int results)
{
    struct simlua_runtime *runtime = simlua__runtime(L);   /* once: the state needs it too */
    struct lua_socket *ls = simlua__object_check_in(L, runtime, 1, SIMLUA_TYPE_SOCKET);
    lua_Integer size_bytes = simlua__check_integer(L, 2);
    luaL_argcheck(L, size_bytes >= 0 && size_bytes <= SIMLUA_RECV_BYTES_MAX, 2,
                  "maxlen must be 0..SIMLUA_RECV_BYTES_MAX");
    uint32_t flags = check_flags(L, 3);
    struct op_state *state = op_begin(L, runtime, ls, OP_RECV, method);
    state->flags = flags;
    state->size_bytes = (uint64_t)size_bytes;
    state->want_from = results > 1;
    lua_pushnil(L);                 /* OP_BUFFER: made only if needed (recv_buffer) */
    assert(lua_gettop(L) == OP_BUFFER);
    return op_run(L, state);
}

static int socket_recv(lua_State *L) { return socket_recv_common(L, "s:recv", 1); }
static int socket_recvfrom(lua_State *L) { return socket_recv_common(L, "s:recvfrom", 4); }

static int socket_shutdown(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    static const char *const modes[] = { "r", "w", "rw", NULL };
    int how = luaL_checkoption(L, 2, NULL, modes);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
    int rc = vsock_shutdown(ls->sock, how, &call);
    trace_call(L, "sock_shutdown", ls->sock, rc);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* Closes the socket; `closer` (NULL: outside any process) and `at_process_end` are kept
 * for the hint of a later EBADF. */
static void close_socket(struct lua_socket *ls, const struct simlua_process *closer,
                         bool at_process_end)
{
    if (ls->sock == NULL)
        return;
    struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
    struct vsock_sock *sock = ls->sock;
    ls->sock = NULL;
    ls->closed_at_ns = sim_engine_now(ls->world->engine);
    ls->closed_at_process_end = at_process_end;
    ls->closed_by_pid = closer != NULL ? closer->pid : 0;
    if (closer != NULL)
        snprintf(ls->closed_by, sizeof(ls->closed_by), "%s/%s",
                 closer->world->endpoints[closer->endpoint_index].name, closer->name);
    vsock_close(sock, &call);       /* R126: never blocks; the cost is the kernel's */
}

/* s:disconnect(): a datagram socket's connect() with AF_UNSPEC (R192). */
static int socket_disconnect(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    int rc = vsock_dgram_disconnect(ls->sock);
    trace_call(L, "sock_disconnect", ls->sock, rc);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

/* s:give(process): the socket now closes when `process` ends instead of the caller (its
 * owner, which must be running). The target must be live and on the same VM. */
static int socket_give(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    struct simlua_process *target = simlua__object_check(L, 2, SIMLUA_TYPE_PROCESS);
    lua_settop(L, 2);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    struct simlua_process *current = simlua__current_process(simlua__runtime(L));
    if (current == NULL || current->pid != ls->owner_pid)
        return luaL_error(L, "s:give: only the socket's owner (pid %d) may give it away",
                          (int)ls->owner_pid);
    if (target->process == NULL)
        return luaL_error(L, "s:give: process %s has ended", target->name);
    if (target->endpoint_index != ls->endpoint_index)
        return luaL_error(L, "s:give: process %s runs on %s; the socket belongs to %s",
                          target->name, ls->world->endpoints[target->endpoint_index].name,
                          ls->world->endpoints[ls->endpoint_index].name);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "sock_give", vsock_stack_local_cid(ls->sock->stack),
                         current->pid);
    sim_trace_field_u64(&event, "socket", ls->id);
    sim_trace_field_u64(&event, "to_pid", target->pid);
    (void)sim_engine_emit(ls->world->engine, &event);
    lua_pushvalue(L, 1);
    forget(L, current);
    remember(L, target);
    lua_pop(L, 1);
    ls->owner_pid = target->pid;
    lua_pushboolean(L, 1);
    return 1;
}

static int socket_close(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    trace_call(L, "sock_close", ls->sock, 0);
    close_socket(ls, simlua__current_process(simlua__runtime(L)), false);
    lua_pushboolean(L, 1);
    return 1;
}

/* Called when a process ends: its sockets close in creation order. */
void simlua__sockets_close(lua_State *L, struct simlua_process *process)
{
    if (process->sockets_ref == LUA_NOREF || process->sockets_ref == 0)
        return;
    simlua__registry_table(L, process->sockets_ref);
    lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer position = 1; position <= count; position++) {
        lua_rawgeti(L, -1, position);
        struct lua_socket *ls = simlua__object_test(L, -1, SIMLUA_TYPE_SOCKET);
        if (ls != NULL)     /* the table is ours, but the registry is reachable */
            close_socket(ls, process, true);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, process->sockets_ref);
    process->sockets_ref = LUA_NOREF;
}

static int push_address(lua_State *L, const struct vsock_addr *addr)
{
    lua_pushinteger(L, addr->cid);
    lua_pushinteger(L, addr->port);
    return 2;
}

static int socket_getsockname(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    struct vsock_addr addr;
    vsock_getsockname(ls->sock, &addr);
    return push_address(L, &addr);
}

static int socket_getpeername(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    struct vsock_addr addr;
    int rc = vsock_getpeername(ls->sock, &addr);
    return rc < 0 ? push_errno(L, rc) : push_address(L, &addr);
}

static int socket_setblocking(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    luaL_checktype(L, 2, LUA_TBOOLEAN);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    ls->sock->nonblocking = !lua_toboolean(L, 2);
    lua_pushboolean(L, 1);
    return 1;
}

/* scenario-api.md's simplified view of the state table (6.1). */
static int socket_state(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    const struct vsock_sock *sock = ls->sock;
    const char *name;
    if (sock == NULL)
        name = "closed";
    else if (sock->tcp == VSOCK_TCP_LISTEN)
        name = "listening";
    else if (sock->type == VSOCK_TYPE_DGRAM)
        name = sock->state == VSOCK_SS_CONNECTED && sock->shutdown == 0 ? "connected"
               : sock->state == VSOCK_SS_UNCONNECTED ? "unconnected" : "disconnecting";
    else if (sock->state == VSOCK_SS_CONNECTING && sock->tcp == VSOCK_TCP_SYN_SENT)
        name = "connecting";
    else if (sock->state == VSOCK_SS_CONNECTED && sock->tcp == VSOCK_TCP_ESTABLISHED &&
             sock->shutdown == 0 && sock->peer_shutdown == 0 && !sock->done)
        name = "connected";
    else if (sock->state == VSOCK_SS_CONNECTED || sock->state == VSOCK_SS_DISCONNECTING)
        name = "disconnecting";
    else
        name = "unconnected";
    lua_pushstring(L, name);
    return 1;
}

static int socket_tostring(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    if (ls->sock == NULL) {
        lua_pushliteral(L, "socket (closed)");
        return 1;
    }
    lua_pushfstring(L, "socket %s %I:%I", ls->sock->type == VSOCK_TYPE_STREAM ? "stream" : "dgram",
                    (lua_Integer)ls->sock->local.cid, (lua_Integer)ls->sock->local.port);
    return 1;
}

static const struct {
    const char *name;
    enum vsock_option option;
} option_names[] = {
    { "buffer_size", VSOCK_OPTION_BUFFER_SIZE }, { "buffer_min_size", VSOCK_OPTION_BUFFER_MIN_SIZE },
    { "buffer_max_size", VSOCK_OPTION_BUFFER_MAX_SIZE },
    { "connect_timeout", VSOCK_OPTION_CONNECT_TIMEOUT },
    { "peer_host_vm_id", VSOCK_OPTION_PEER_HOST_VM_ID }, { "trusted", VSOCK_OPTION_TRUSTED },
    { "rcvlowat", VSOCK_OPTION_RCVLOWAT }, { "rcvtimeo", VSOCK_OPTION_RCVTIMEO },
    { "sndtimeo", VSOCK_OPTION_SNDTIMEO }, { "rcvbuf", VSOCK_OPTION_RCVBUF },
    { "error", VSOCK_OPTION_ERROR }, { "sndbuf", VSOCK_OPTION_SNDBUF },
    { "keepalive", VSOCK_OPTION_KEEPALIVE }, { "linger", VSOCK_OPTION_LINGER },
    { "reuseaddr", VSOCK_OPTION_REUSEADDR },
};

static enum vsock_option check_option(lua_State *L, int index)
{
    const char *name = luaL_checkstring(L, index);
    for (size_t entry = 0; entry < sizeof(option_names) / sizeof(option_names[0]); entry++) {
        if (strcmp(name, option_names[entry].name) == 0)
            return option_names[entry].option;
    }
    luaL_error(L, "unknown socket option '%s' (buffer_size, buffer_min_size, buffer_max_size, "
                  "connect_timeout, peer_host_vm_id, trusted, rcvlowat, rcvtimeo, sndtimeo, "
                  "rcvbuf, error, sndbuf, keepalive, linger, reuseaddr)", name);
    return VSOCK_OPTION_ERROR;
}

static int socket_setsockopt(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    enum vsock_option option = check_option(L, 2);
    bool flag_option = option == VSOCK_OPTION_TRUSTED || option == VSOCK_OPTION_KEEPALIVE ||
                       option == VSOCK_OPTION_REUSEADDR ||
                       (option == VSOCK_OPTION_LINGER && lua_isboolean(L, 3));
    lua_Integer value = flag_option ? lua_toboolean(L, 3) : luaL_checkinteger(L, 3);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    if (value < 0)
        return push_errno(L, option == VSOCK_OPTION_CONNECT_TIMEOUT ? -ERANGE : -EINVAL);
    int rc = option == VSOCK_OPTION_ERROR ? -ENOPROTOOPT
                                          : vsock_setsockopt(ls->sock, option, (uint64_t)value);
    if (rc < 0)
        return push_errno(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int socket_getsockopt(lua_State *L)
{
    struct lua_socket *ls = check_socket(L);
    enum vsock_option option = check_option(L, 2);
    if (ls->sock == NULL)
        return push_closed(L, ls);
    uint64_t value = 0;
    int rc = vsock_getsockopt(ls->sock, option, &value);
    if (rc < 0)
        return push_errno(L, rc);
    if (option == VSOCK_OPTION_ERROR) {
        if (value == 0)
            lua_pushnil(L);
        else
            lua_pushstring(L, vsock_errno_name((int)value));
    } else if (option == VSOCK_OPTION_TRUSTED) {
        lua_pushboolean(L, value != 0);
    } else {
        lua_pushinteger(L, (lua_Integer)value);
    }
    return 1;
}

/* p:poll({ {s, "r"|"w"|"rw"}, ... }, timeout_ns): pushes the ready list; returns false
 * when nothing is ready. Letters in the order r, w, h, e (scenario-api.md). */
static bool poll_collect(lua_State *L, int list_index)
{
    lua_newtable(L);
    lua_Integer ready = 0;
    lua_Integer count = (lua_Integer)lua_rawlen(L, list_index);
    for (lua_Integer position = 1; position <= count; position++) {
        if (lua_rawgeti(L, list_index, position) != LUA_TTABLE)
            luaL_error(L, "p:poll: entry %d must be a table { socket, \"r\" | \"w\" | \"rw\" }",
                       (int)position);
        lua_rawgeti(L, -1, 1);
        struct lua_socket *ls = simlua__object_check(L, -1, SIMLUA_TYPE_SOCKET);
        lua_rawgeti(L, -2, 2);
        const char *wanted = luaL_optstring(L, -1, "r");
        if (strcmp(wanted, "r") != 0 && strcmp(wanted, "w") != 0 && strcmp(wanted, "rw") != 0)
            luaL_error(L, "p:poll: entry %d: mode must be \"r\", \"w\" or \"rw\", not '%s'",
                       (int)position, wanted);       /* a typo never waits silently */
        uint32_t mask = ls->sock != NULL ? vsock_poll(ls->sock) : VSOCK_POLLERR;
        char letters[5];
        int used = 0;
        if (strchr(wanted, 'r') != NULL && (mask & VSOCK_POLLIN))
            letters[used++] = 'r';
        if (strchr(wanted, 'w') != NULL && (mask & VSOCK_POLLOUT))
            letters[used++] = 'w';
        if (mask & VSOCK_POLLHUP)
            letters[used++] = 'h';
        if (mask & VSOCK_POLLERR)
            letters[used++] = 'e';
        if (used > 0) {
            lua_createtable(L, 2, 0);
            lua_pushvalue(L, -3);                       /* the socket */
            lua_rawseti(L, -2, 1);
            lua_pushlstring(L, letters, (size_t)used);
            lua_rawseti(L, -2, 2);
            lua_rawseti(L, -5, ++ready);
        }
        lua_pop(L, 3);
    }
    return ready > 0;
}

static int poll_continue(lua_State *L, int status, lua_KContext deadline)
{
    (void)status;
    struct simlua_process *process = simlua__current_process(simlua__runtime(L));
    struct sim_engine *engine = process->world->engine;
    lua_settop(L, 3);
    luaL_checktype(L, 2, LUA_TTABLE);   /* again after a wake-up: debug.setlocal can reach it */
    if (poll_collect(L, 2) || sim_engine_now(engine) >= (uint64_t)deadline)
        return 1;
    lua_pop(L, 1);
    int rc = sim_process_block(process->process, &process->world->poll_waitq, (uint64_t)deadline);
    if (rc < 0 && rc != SIM_EKILLED)
        return luaL_error(L, "p:poll: %s", sim_engine_error_message(engine));
    return lua_yieldk(L, 0, deadline, poll_continue);
}

int simlua__process_poll(lua_State *L)
{
    simlua__object_check(L, 1, SIMLUA_TYPE_PROCESS);
    luaL_checktype(L, 2, LUA_TTABLE);
    struct simlua_process *process = blocking_process(L, simlua__runtime(L), "p:poll");
    uint64_t deadline_ns = SIM_TIME_NEVER;
    if (!lua_isnoneornil(L, 3)) {
        lua_Integer timeout_ns = luaL_checkinteger(L, 3);
        luaL_argcheck(L, timeout_ns >= 0, 3, "timeout must be >= 0 ns");
        uint64_t now_ns = sim_engine_now(process->world->engine);
        deadline_ns = (uint64_t)timeout_ns > SIM_TIME_NEVER - 1 - now_ns
                          ? SIM_TIME_NEVER : now_ns + (uint64_t)timeout_ns;
    }
    return poll_continue(L, LUA_OK, (lua_KContext)deadline_ns);
}

void simlua__socket_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        { "bind", socket_bind }, { "listen", socket_listen }, { "accept", socket_accept },
        { "connect", socket_connect }, { "send", socket_send }, { "recv", socket_recv },
        { "sendto", socket_sendto }, { "recvfrom", socket_recvfrom },
        { "shutdown", socket_shutdown }, { "close", socket_close },
        { "getsockname", socket_getsockname }, { "getpeername", socket_getpeername },
        { "setblocking", socket_setblocking }, { "state", socket_state },
        { "setsockopt", socket_setsockopt }, { "getsockopt", socket_getsockopt },
        { "disconnect", socket_disconnect }, { "give", socket_give }, { NULL, NULL },
    };
    simlua__metatable_new(L, SIMLUA_TYPE_SOCKET);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, socket_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    simlua__metatable_new(L, SIMLUA_TYPE_SOCKET_OP);
    lua_pop(L, 1);
}
