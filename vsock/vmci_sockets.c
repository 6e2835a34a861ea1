/* SPDX-License-Identifier: MIT */
/*
 * vsock/vmci_sockets.c: the Guide's C API (vmci_sockets.h) over the socket core.
 *
 * Every call turns a descriptor into its socket, a struct sockaddr_vm into a
 * struct vsock_addr (R3-R5) and libc flag and option numbers into the core's,
 * calls the core, and turns a negative errno into -1 with errno set: the outer
 * edge of style.md's error rule. Calls that may wait (connect, accept, send,
 * recv, poll) run the retry loop of op_run(): call the core; on "-EAGAIN, wait
 * here" first sleep the costs added up so far (then ask again), else sleep on that
 * queue (fibers only) and call again with the same progress counter; at the end
 * sleep the remaining costs. sim/lua/socket.c runs the same protocol for Lua.
 *
 * Invariants:
 *   VS1  context->fd_count is the number of fds[] slots with a socket.
 *   VS2  A slot's generation changes whenever its socket is closed, so a call that
 *        slept while another fiber closed (and maybe reused) the slot sees EBADF.
 *   VS3  A context is on the registry from vs_context_init to vs_context_destroy.
 *
 * Global state: the registry of live contexts, because the Guide's
 * VMCISock_GetLocalCID() takes no argument and must find the running process's
 * kernel. It is only read by that function; the simulation never depends on it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/time.h>

#include "options.h"
#include "sim/engine/fiber.h"
#include "vmci_sockets.h"

_Static_assert(POLLIN == VSOCK_POLLIN && POLLOUT == VSOCK_POLLOUT && POLLERR == VSOCK_POLLERR,
               "the core's poll bits are Linux's");
_Static_assert(POLLHUP == VSOCK_POLLHUP && POLLRDNORM == VSOCK_POLLRDNORM &&
               POLLWRNORM == VSOCK_POLLWRNORM && POLLWRBAND == VSOCK_POLLWRBAND &&
               POLLRDHUP == VSOCK_POLLRDHUP, "the core's poll bits are Linux's");
_Static_assert((int)SOCK_STREAM == (int)VSOCK_TYPE_STREAM && (int)SOCK_DGRAM == (int)VSOCK_TYPE_DGRAM,
               "the core's socket types are Linux's");

#define NS_PER_SEC 1000000000ull
#define NS_PER_USEC 1000ull
#define NS_PER_MS 1000000ull

static struct vs_context *registry_head;        /* VS3; see the file comment */

/* The outer edge: errno is set here and nowhere else in vsock/. */
static int fail(int error)
{
    assert(error > 0);
    errno = error;
    return -1;
}

static ssize_t fail_ssize(int error)
{
    return (ssize_t)fail(error);
}

/* ---- The Guide's functions ------------------------------------------------------------ */

int VMCISock_GetAFValue(void)
{
    return VMCI_SOCKETS_AF_VALUE;                                               /* R2 */
}

int VMCISock_GetAFValueFd(int *out_fd)
{
    if (out_fd != NULL)
        *out_fd = -1;
    return VMCI_SOCKETS_AF_VALUE;
}

void VMCISock_ReleaseAFValueFd(int fd)
{
    (void)fd;
}

static uint32_t stack_local_cid(const struct vsock_stack *stack)
{
    if (stack == NULL)
        return VMADDR_CID_ANY;
    const struct vsock_transport_ops *ops =
        stack->stream_ops != NULL ? stack->stream_ops : stack->dgram_ops;
    return ops != NULL && ops->local_cid != NULL ? ops->local_cid(stack) : VMADDR_CID_ANY;
}

uint32_t vs_local_cid(const struct vs_context *context)
{
    assert(context != NULL);
    return stack_local_cid(context->stack);
}

uint32_t VMCISock_GetLocalCID(void)
{
    for (const struct vs_context *context = registry_head; context != NULL;
         context = context->registry_next) {
        if (!context->process_live)
            continue;
        const struct sim_process *current = sim_engine_current(context->engine);
        if (current != NULL && current == context->process && current->pid == context->process_pid)
            return vs_local_cid(context);                                       /* R2 */
    }
    return VMADDR_CID_ANY;
}

/* ---- Contexts and descriptors ------------------------------------------------------------ */

void vs_context_init(struct vs_context *context, struct sim_engine *engine,
                     struct vsock_stack *stack, const struct vsock_credentials *credentials)
{
    assert(context != NULL && engine != NULL && credentials != NULL);
    memset(context, 0, sizeof(*context));
    context->engine = engine;
    context->stack = stack;
    context->credentials = *credentials;
    context->fd_generation_next = 1;
    context->registry_next = registry_head;                                     /* VS3 */
    if (registry_head != NULL)
        registry_head->registry_prev = context;
    registry_head = context;
}

static void fd_release(struct vs_context *context, struct vs_fd *entry)
{
    assert(entry->sock != NULL);
    assert(context->fd_count > 0);
    entry->sock = NULL;
    entry->generation = context->fd_generation_next++;                         /* VS2 */
    entry->connect_pending = false;
    context->fd_count--;                                                        /* VS1 */
}

void vs_context_destroy(struct vs_context *context)
{
    assert(context != NULL);
    for (uint32_t index = 0; index < VS_FDS_MAX; index++) {
        struct vs_fd *entry = &context->fds[index];
        if (entry->sock == NULL)
            continue;
        struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
        struct vsock_sock *sock = entry->sock;
        fd_release(context, entry);
        vsock_close(sock, &call);               /* a process exit: costs are nobody's */
    }
    assert(context->fd_count == 0);
    context->waiting_head = NULL;               /* a torn-down fiber's marks are gone too */
    if (context->registry_prev != NULL)
        context->registry_prev->registry_next = context->registry_next;
    else
        registry_head = context->registry_next;
    if (context->registry_next != NULL)
        context->registry_next->registry_prev = context->registry_prev;
    context->registry_next = NULL;
    context->registry_prev = NULL;
}

static struct vs_fd *fd_entry(struct vs_context *context, int fd)
{
    assert(context != NULL);
    if (fd < VS_FD_FIRST || fd - VS_FD_FIRST >= (int)VS_FDS_MAX)
        return NULL;
    struct vs_fd *entry = &context->fds[fd - VS_FD_FIRST];
    return entry->sock != NULL ? entry : NULL;
}

struct vsock_sock *vs_socket_of(const struct vs_context *context, int fd)
{
    struct vs_fd *entry = fd_entry((struct vs_context *)context, fd);
    return entry != NULL ? entry->sock : NULL;
}

/* The lowest free descriptor slot, or -1 (VS_FDS_MAX open: EMFILE). */
static int fd_free_slot(const struct vs_context *context)
{
    if (context->fd_count >= VS_FDS_MAX)
        return -1;
    for (uint32_t index = 0; index < VS_FDS_MAX; index++) {
        if (context->fds[index].sock == NULL)
            return (int)index;
    }
    assert(!"fd_count says a slot is free");
    return -1;
}

static int fd_install(struct vs_context *context, int slot, struct vsock_sock *sock)
{
    assert(slot >= 0 && (uint32_t)slot < VS_FDS_MAX);
    struct vs_fd *entry = &context->fds[slot];
    assert(entry->sock == NULL);
    entry->sock = sock;
    entry->generation = context->fd_generation_next++;
    entry->connect_pending = false;
    context->fd_count++;                                                        /* VS1 */
    return VS_FD_FIRST + slot;
}

static void context_main(struct sim_engine *engine, void *arg)
{
    (void)engine;
    struct vs_context *context = arg;
    context->body(context, context->body_arg);
    context->process_live = false;
    context->process = NULL;
}

/* Whether the process vs_spawn recorded still exists (it may have been killed before it
 * ever ran, so context_main never cleared the record). */
static bool spawned_process_alive(const struct vs_context *context)
{
    if (!context->process_live)
        return false;
    for (const struct sim_process *process = sim_engine_processes_first(context->engine);
         process != NULL; process = process->live_next) {
        if (process == context->process && process->pid == context->process_pid)
            return true;
    }
    return false;
}

int vs_spawn(struct vs_context *context, const char *name, vs_body_fn body, void *arg,
             bool daemon)
{
    return vs_spawn_stack(context, name, body, arg, daemon, 0);
}

int vs_spawn_stack(struct vs_context *context, const char *name, vs_body_fn body, void *arg,
                   bool daemon, uint32_t stack_bytes)
{
    assert(context != NULL && body != NULL);
    if (spawned_process_alive(context))
        return fail(EBUSY);
    context->body = body;
    context->body_arg = arg;
    struct sim_process *process = NULL;
    int rc = sim_fiber_spawn(context->engine, vs_local_cid(context), name, context_main, context,
                             stack_bytes, daemon, &process);
    if (rc < 0)
        return fail(rc == SIM_ENOMEM ? ENOMEM : rc == SIM_ELIMIT ? ENOBUFS : EINVAL);
    context->process = process;
    context->process_pid = process->pid;
    context->process_live = true;
    context->credentials.pid = process->pid;
    return 0;
}

/* ---- Addresses (R3-R6) ---------------------------------------------------------------------- */

/* A caller's address: 0, -EINVAL (too short, R3; flags, R5) or -EAFNOSUPPORT (R4). */
static int addr_from_user(const struct sockaddr *addr, socklen_t addrlen, struct vsock_addr *out)
{
    if (addr == NULL || addrlen < sizeof(struct sockaddr_vm))
        return -EINVAL;
    struct sockaddr_vm svm;
    memcpy(&svm, addr, sizeof(svm));
    if (svm.svm_family != AF_VSOCK)
        return -EAFNOSUPPORT;
    if ((svm.svm_zero[0] & ~VMADDR_FLAG_TO_HOST) != 0)
        return -EINVAL;
    out->cid = svm.svm_cid;
    out->port = svm.svm_port;
    return 0;
}

/* R6: family 40, reserved bytes 0, length 16; copies at most *addrlen bytes. */
static void addr_to_user(const struct vsock_addr *source, struct sockaddr *addr,
                         socklen_t *addrlen)
{
    if (addr == NULL || addrlen == NULL)
        return;
    struct sockaddr_vm svm;
    memset(&svm, 0, sizeof(svm));
    svm.svm_family = AF_VSOCK;
    svm.svm_port = source->port;
    svm.svm_cid = source->cid;
    size_t copy_bytes = *addrlen < sizeof(svm) ? *addrlen : sizeof(svm);
    memcpy(addr, &svm, copy_bytes);
    *addrlen = sizeof(svm);
}

/* ---- Calls that may wait ------------------------------------------------------------------------ */

enum op_kind { OP_CONNECT = 0, OP_ACCEPT, OP_SEND, OP_RECV };

struct op {
    enum op_kind kind;
    struct vs_fd *entry;
    uint64_t generation;                /* VS2: the slot's generation when the call began */
    struct vsock_addr addr;             /* connect target / sendto destination */
    bool has_addr;
    const void *source;
    void *target;
    uint64_t size_bytes;
    uint32_t flags;
    uint64_t progress;                  /* bytes moved so far (R117, R121) */
    bool retry;                         /* connect: the request is already out */
    bool timed_out;                     /* the last wait ended at its deadline */
    uint64_t deadline_ns;               /* of the call's first wait, kept for the next */
    bool pending;                       /* connect ended before its outcome was known */
    struct vsock_sock *child;
    struct vsock_addr from;
    bool truncated;
};

static int64_t op_step(struct op *op, struct vsock_call *call)
{
    struct vsock_sock *sock = op->entry->sock;
    switch (op->kind) {
    case OP_CONNECT: {
        int rc = vsock_connect(sock, &op->addr, op->retry, call);
        op->retry = true;
        return rc;
    }
    case OP_ACCEPT:
        if (op->timed_out)
            return -EAGAIN;                                                     /* R107 */
        return vsock_accept(sock, &op->child, call);
    case OP_SEND:
        if (op->timed_out)                                                      /* R117 */
            return op->progress > 0 ? (int64_t)op->progress : -EAGAIN;
        return vsock_send(sock, op->source, op->size_bytes, op->flags,
                          op->has_addr ? &op->addr : NULL, &op->progress, call);
    case OP_RECV:
        if (op->timed_out)                                                      /* R121 */
            return op->progress > 0 ? (int64_t)op->progress : -EAGAIN;
        return vsock_recv(sock, op->target, op->size_bytes, op->flags, &op->from,
                          &op->truncated, &op->progress, call);
    }
    assert(!"unknown operation");
    return -EINVAL;
}

/* The result of a call that cannot wait any longer: the bytes already moved, if any. */
static int64_t op_stopped(struct op *op, int error)
{
    assert(error < 0);
    if ((op->kind == OP_SEND || op->kind == OP_RECV) && op->progress > 0)
        return (int64_t)op->progress;
    op->pending = op->kind == OP_CONNECT;
    return error;
}

/* Waits in simulated time with the current process's mark on the context's list, so that
 * vs_context_interrupt reaches this call and no other thread's. Returns the wake (as
 * sim_fiber_wait); *interrupted tells whether a signal marked it meanwhile. */
static int wait_marked(struct vs_context *context, struct sim_waitq *queue,
                       uint64_t deadline_ns, bool *interrupted)
{
    struct vs_wait_mark mark = {
        .process = sim_engine_current(context->engine), .next = context->waiting_head,
    };
    assert(mark.process != NULL);
    context->waiting_head = &mark;
    int wake = sim_fiber_wait(context->engine, queue, deadline_ns);
    /* Others may have come since; a context torn down meanwhile (a power-off kills the
     * waiting process after closing its descriptors) has dropped every mark already. */
    struct vs_wait_mark **link = &context->waiting_head;
    for (uint32_t walked = 0; *link != NULL && *link != &mark; walked++) {
        assert(walked < VS_CONTEXT_WAITERS_MAX);
        link = &(*link)->next;
    }
    if (*link == &mark)
        *link = mark.next;
    *interrupted = mark.interrupted;
    return wake;
}

bool vs_context_interrupt(struct vs_context *context, const struct sim_process *process)
{
    assert(context != NULL && process != NULL);
    uint32_t walked = 0;
    for (struct vs_wait_mark *mark = context->waiting_head; mark != NULL; mark = mark->next) {
        assert(++walked <= VS_CONTEXT_WAITERS_MAX);
        if (mark->process == process) {
            mark->interrupted = true;
            return true;
        }
    }
    return false;
}

/* Sleeps where the core asked. Returns 0 to call the core again, or the call's result. */
static int64_t op_wait(struct vs_context *context, struct op *op, const struct vsock_call *call)
{
    if (!sim_fiber_is_current(context->engine))
        return op_stopped(op, -EAGAIN);         /* plain code never waits (architecture.md) */
    bool interrupted = false;
    int wake = wait_marked(context, call->wait, call->deadline_ns, &interrupted);
    op->deadline_ns = call->deadline_ns;        /* the call's timeout keeps running */
    if (wake < 0)
        return op_stopped(op, wake == SIM_EKILLED ? -ECANCELED : -ENOBUFS);
    if (interrupted)                            /* an emulated signal (sim/exec only) */
        return op_stopped(op, -EINTR);
    if (op->entry->sock == NULL || op->entry->generation != op->generation)
        return op_stopped(op, -EBADF);          /* VS2: closed while we slept */
    op->timed_out = wake == SIM_WAKE_TIMED_OUT;
    return 0;
}

/* Charges a call's costs to the running process (architecture.md, "Time costs"):
 * a fiber sleeps them; plain code only counts them. Returns the sleep's result. */
static int charge(struct vs_context *context, uint64_t cost_ns)
{
    context->cost_ns_charged += cost_ns;
    if (cost_ns == 0 || !sim_fiber_is_current(context->engine))
        return SIM_OK;
    return sim_fiber_sleep(context->engine, cost_ns);
}

/* The work done so far takes its time before the process starts waiting (as in
 * sim/lua/socket.c); the caller then asks the core again, since the socket may have
 * changed during the sleep. Returns 0, or the call's result when it must end. */
static int64_t op_pay(struct vs_context *context, struct op *op, uint64_t *cost_ns)
{
    int rc = charge(context, *cost_ns);
    *cost_ns = 0;
    if (rc < 0)
        return op_stopped(op, rc == SIM_EKILLED ? -ECANCELED : -ENOBUFS);
    if (op->entry->sock == NULL || op->entry->generation != op->generation)
        return op_stopped(op, -EBADF);          /* VS2: closed while we slept */
    return 0;
}

static const char *const op_kinds[] = { "sock_connect", "sock_accept", "sock_send", "sock_recv" };

/* One api-layer event per call, as the Lua binding writes them (kind, socket, result:
 * 0, a byte count or -errno). */
static void trace_call(struct vs_context *context, const char *kind,
                       const struct vsock_sock *sock, int64_t result)
{
    const struct sim_process *current = sim_engine_current(context->engine);
    struct sim_trace_event event;
    uint32_t cid = sock != NULL ? stack_local_cid(sock->stack) : vs_local_cid(context);
    sim_trace_event_init(&event, SIM_LAYER_API, kind, cid, current != NULL ? current->pid : 0);
    if (sock != NULL)
        sim_trace_field_u64(&event, "socket", sock->id);
    sim_trace_field_i64(&event, "result", result);
    (void)sim_engine_emit(context->engine, &event);
}

static int64_t op_run(struct vs_context *context, struct op *op)
{
    uint64_t cost_ns = 0;
    int64_t rc = -EIO;
    op->generation = op->entry->generation;
    op->deadline_ns = SIM_TIME_NEVER;
    for (uint64_t wakeups = 0; wakeups < VS_CALL_WAKEUPS_MAX; wakeups++) {
        struct vsock_call call = { .deadline_ns = op->deadline_ns };
        rc = op_step(op, &call);
        cost_ns += call.cost_ns;
        if (rc != -EAGAIN || call.wait == NULL)
            break;
        if (cost_ns > 0 && sim_fiber_is_current(context->engine))
            rc = op_pay(context, op, &cost_ns);
        else
            rc = op_wait(context, op, &call);
        if (rc != 0)
            break;
        rc = -EIO;                              /* VS_CALL_WAKEUPS_MAX reached */
    }
    bool slot_valid = op->entry->generation == op->generation;
    if (op->kind == OP_CONNECT && slot_valid)
        op->entry->connect_pending = op->pending;
    trace_call(context, op_kinds[op->kind], slot_valid ? op->entry->sock : NULL, rc);
    (void)charge(context, cost_ns);             /* killed: the result stands */
    return rc;
}

/* ---- Socket calls ------------------------------------------------------------------------- */

int vs_socket(struct vs_context *context, int domain, int type, int protocol)
{
    assert(context != NULL);
    if (domain != AF_VSOCK || context->stack == NULL)
        return fail(EAFNOSUPPORT);              /* R26, R203: no vSockets in this kernel */
    bool nonblocking = (type & SOCK_NONBLOCK) != 0;
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    int slot = fd_free_slot(context);
    if (slot < 0)
        return fail(EMFILE);                                                    /* VS_FDS_MAX */
    struct vsock_sock *sock = NULL;
    int rc = vsock_socket(context->stack, type, protocol, &context->credentials, &sock);
    trace_call(context, "sock_socket", sock, rc);
    if (rc < 0)
        return fail(-rc);                                                       /* R99, R100 */
    sock->nonblocking = nonblocking;
    return fd_install(context, slot, sock);
}

int vs_bind(struct vs_context *context, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    struct vsock_addr local;
    if (addr_from_user(addr, addrlen, &local) < 0)
        return fail(EINVAL);                                                    /* R3-R5, R103 */
    int rc = vsock_bind(entry->sock, &local);
    trace_call(context, "sock_bind", entry->sock, rc);
    return rc < 0 ? fail(-rc) : 0;
}

int vs_listen(struct vs_context *context, int fd, int backlog)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    int rc = vsock_listen(entry->sock, backlog);                                /* R105 */
    trace_call(context, "sock_listen", entry->sock, rc);
    return rc < 0 ? fail(-rc) : 0;
}

int vs_accept(struct vs_context *context, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    if (fd_free_slot(context) < 0)
        return fail(EMFILE);                    /* before a child is taken off the queue */
    struct op op = { .kind = OP_ACCEPT, .entry = entry };
    int64_t rc = op_run(context, &op);
    if (rc < 0)
        return fail((int)-rc);
    int slot = fd_free_slot(context);           /* another fiber may have taken ours */
    if (slot < 0) {
        struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
        vsock_close(op.child, &call);
        (void)charge(context, call.cost_ns);
        return fail(EMFILE);
    }
    addr_to_user(&op.child->remote, addr, addrlen);                             /* R108 */
    return fd_install(context, slot, op.child);
}

/* R191, R192: a datagram socket's default destination. */
static int dgram_connect(struct vs_context *context, struct vs_fd *entry,
                         const struct sockaddr *addr, int cast, const struct vsock_addr *target)
{
    struct vsock_sock *sock = entry->sock;
    if (cast == -EAFNOSUPPORT && ((const struct sockaddr_vm *)(const void *)addr)->svm_family ==
                                     AF_UNSPEC) {
        int rc = vsock_dgram_disconnect(sock);                                  /* R192 */
        trace_call(context, "sock_disconnect", sock, rc);
        return rc < 0 ? fail(-rc) : 0;
    }
    if (cast < 0)
        return fail(EINVAL);                                                    /* R191 */
    struct op op = { .kind = OP_CONNECT, .entry = entry, .addr = *target };
    int64_t rc = op_run(context, &op);
    return rc < 0 ? fail((int)-rc) : 0;
}

int vs_connect(struct vs_context *context, int fd, const struct sockaddr *addr,
               socklen_t addrlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    struct vsock_addr target = { VSOCK_CID_ANY, VSOCK_PORT_ANY };
    int cast = addr_from_user(addr, addrlen, &target);
    if (entry->sock->type == VSOCK_TYPE_DGRAM)
        return dgram_connect(context, entry, addr, cast, &target);
    if (cast < 0) {
        /* R111 checks the socket's state before the address: the core answers a
         * connected, disconnecting or connecting socket without looking at it. */
        if (entry->sock->state == VSOCK_SS_UNCONNECTED)
            return fail(EINVAL);
        target = entry->sock->remote;
    }
    struct op op = { .kind = OP_CONNECT, .entry = entry, .addr = target,
                     .retry = entry->connect_pending };
    int64_t rc = op_run(context, &op);
    return rc < 0 ? fail((int)-rc) : 0;
}

/* libc MSG_* to the core's; unknown bits are ignored, MSG_NOSIGNAL too (D11). */
static uint32_t msg_flags(int flags)
{
    uint32_t out = 0;
    if (flags & MSG_OOB)
        out |= VSOCK_MSG_OOB;
    if (flags & MSG_PEEK)
        out |= VSOCK_MSG_PEEK;
    if (flags & MSG_DONTWAIT)
        out |= VSOCK_MSG_DONTWAIT;
    if (flags & MSG_WAITALL)
        out |= VSOCK_MSG_WAITALL;
    if (flags & MSG_ERRQUEUE)
        out |= VSOCK_MSG_ERRQUEUE;
    return out;
}

ssize_t vs_sendto(struct vs_context *context, int fd, const void *buf, size_t len, int flags,
                  const struct sockaddr *to, socklen_t tolen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail_ssize(EBADF);
    if (buf == NULL && len > 0)
        return fail_ssize(EFAULT);
    struct op op = { .kind = OP_SEND, .entry = entry, .source = buf, .size_bytes = len,
                     .flags = msg_flags(flags) };
    if (entry->sock->type == VSOCK_TYPE_STREAM)
        op.has_addr = tolen != 0;               /* R116: any address at all is refused */
    else
        op.has_addr = addr_from_user(to, tolen, &op.addr) == 0;    /* R3: else ignored */
    int64_t rc = op_run(context, &op);
    return rc < 0 ? fail_ssize((int)-rc) : (ssize_t)rc;
}

ssize_t vs_send(struct vs_context *context, int fd, const void *buf, size_t len, int flags)
{
    return vs_sendto(context, fd, buf, len, flags, NULL, 0);
}

ssize_t vs_write(struct vs_context *context, int fd, const void *buf, size_t len)
{
    return vs_sendto(context, fd, buf, len, 0, NULL, 0);
}

ssize_t vs_recvfrom(struct vs_context *context, int fd, void *buf, size_t len, int flags,
                    struct sockaddr *from, socklen_t *fromlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail_ssize(EBADF);
    if (buf == NULL && len > 0)
        return fail_ssize(EFAULT);
    struct op op = { .kind = OP_RECV, .entry = entry, .target = buf, .size_bytes = len,
                     .flags = msg_flags(flags),
                     .from = { VSOCK_CID_ANY, VSOCK_PORT_ANY } };
    int64_t rc = op_run(context, &op);
    if (rc < 0)
        return fail_ssize((int)-rc);
    if (entry->sock != NULL && entry->generation == op.generation &&
        entry->sock->type == VSOCK_TYPE_STREAM)
        op.from = entry->sock->remote;
    addr_to_user(&op.from, from, fromlen);                                      /* R6 */
    return (ssize_t)rc;
}

ssize_t vs_recv(struct vs_context *context, int fd, void *buf, size_t len, int flags)
{
    return vs_recvfrom(context, fd, buf, len, flags, NULL, NULL);
}

ssize_t vs_read(struct vs_context *context, int fd, void *buf, size_t len)
{
    return vs_recvfrom(context, fd, buf, len, 0, NULL, NULL);
}

int vs_shutdown(struct vs_context *context, int fd, int how)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
    int rc = vsock_shutdown(entry->sock, how, &call);                           /* R124 */
    trace_call(context, "sock_shutdown", entry->sock, rc);
    (void)charge(context, call.cost_ns);
    return rc < 0 ? fail(-rc) : 0;
}

int vs_close(struct vs_context *context, int fd)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    struct vsock_sock *sock = entry->sock;
    trace_call(context, "sock_close", sock, 0);
    fd_release(context, entry);                 /* VS2: before the cost sleep */
    struct vsock_call call = { .deadline_ns = SIM_TIME_NEVER };
    vsock_close(sock, &call);                                                   /* R126 */
    (void)charge(context, call.cost_ns);
    return 0;
}

int vs_getsockname(struct vs_context *context, int fd, struct sockaddr *addr,
                   socklen_t *addrlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    if (addr == NULL || addrlen == NULL)
        return fail(EFAULT);
    struct vsock_addr local;
    int rc = vsock_getsockname(entry->sock, &local);                            /* R128 */
    if (rc < 0)
        return fail(-rc);
    addr_to_user(&local, addr, addrlen);
    return 0;
}

int vs_getpeername(struct vs_context *context, int fd, struct sockaddr *addr,
                   socklen_t *addrlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    if (addr == NULL || addrlen == NULL)
        return fail(EFAULT);
    struct vsock_addr remote;
    int rc = vsock_getpeername(entry->sock, &remote);                           /* R129 */
    if (rc < 0)
        return fail(-rc);
    addr_to_user(&remote, addr, addrlen);
    return 0;
}

/* ---- poll ---------------------------------------------------------------------------------- */

struct poll_scan {
    int ready;                          /* entries with revents != 0 */
    struct vsock_sock *first;           /* the first socket polled */
    bool several;                       /* more than one distinct socket */
};

static struct poll_scan poll_scan(struct vs_context *context, struct pollfd *fds, nfds_t nfds)
{
    struct poll_scan scan = { 0 };
    for (nfds_t index = 0; index < nfds; index++) {
        struct pollfd *entry = &fds[index];
        entry->revents = 0;
        if (entry->fd < 0)
            continue;
        struct vs_fd *slot = fd_entry(context, entry->fd);
        if (slot == NULL) {
            entry->revents = POLLNVAL;
            scan.ready++;
            continue;
        }
        if (scan.first == NULL)
            scan.first = slot->sock;
        else if (scan.first != slot->sock)
            scan.several = true;
        uint32_t mask = vsock_poll(slot->sock);                                 /* R130-R135 */
        entry->revents = (short)(mask & ((uint32_t)(uint16_t)entry->events | POLLERR | POLLHUP));
        if (entry->revents != 0)
            scan.ready++;
    }
    return scan;
}

static uint64_t poll_deadline(const struct vs_context *context, int timeout_ms)
{
    if (timeout_ms < 0)
        return SIM_TIME_NEVER;
    uint64_t now_ns = sim_engine_now(context->engine);
    uint64_t timeout_ns = (uint64_t)timeout_ms * NS_PER_MS;
    return timeout_ns > SIM_TIME_NEVER - 1 - now_ns ? SIM_TIME_NEVER : now_ns + timeout_ns;
}

int vs_poll(struct vs_context *context, struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
    assert(context != NULL);
    if (nfds > VS_FDS_MAX)
        return fail(EINVAL);
    if (fds == NULL && nfds > 0)
        return fail(EFAULT);
    uint64_t deadline_ns = poll_deadline(context, timeout_ms);
    for (uint64_t wakeups = 0; wakeups < VS_CALL_WAKEUPS_MAX; wakeups++) {
        struct poll_scan scan = poll_scan(context, fds, nfds);
        if (scan.ready > 0 || timeout_ms == 0 || sim_engine_now(context->engine) >= deadline_ns)
            return scan.ready;
        struct sim_waitq *queue = scan.first == NULL ? NULL
                                  : !scan.several ? &scan.first->waitq : context->stack->poll_waitq;
        if ((scan.several && queue == NULL) || (queue == NULL && deadline_ns == SIM_TIME_NEVER))
            return fail(EINVAL);                /* nothing could ever wake this poll */
        if (!sim_fiber_is_current(context->engine))
            return fail(EAGAIN);                /* plain code never waits */
        bool interrupted = false;
        int wake = wait_marked(context, queue, deadline_ns, &interrupted);
        if (wake < 0)
            return fail(wake == SIM_EKILLED ? ECANCELED : ENOBUFS);
        if (interrupted)                        /* an emulated signal (sim/exec only) */
            return fail(EINTR);
    }
    return fail(EIO);                           /* VS_CALL_WAKEUPS_MAX reached */
}

/* ---- Options (6.9) ---------------------------------------------------------------------------- */

/* R140: a connect timeout as ns; -ERANGE for negative or too large values. */
static int timeval_to_ns(int64_t seconds, int64_t microseconds, uint64_t *ns)
{
    if (seconds < 0 || microseconds < 0 || microseconds >= 1000000)
        return -ERANGE;
    uint64_t usec_ns = (uint64_t)microseconds * NS_PER_USEC;
    if ((uint64_t)seconds > (UINT64_MAX - usec_ns) / NS_PER_SEC)
        return -ERANGE;
    *ns = (uint64_t)seconds * NS_PER_SEC + usec_ns;
    return 0;
}

/* SO_RCVTIMEO/SO_SNDTIMEO as Linux reads them: EDOM for bad microseconds; a negative
 * time means "do not wait" (1 ns here: the core's 0 means no timeout). */
static int socket_timeout_to_ns(const struct timeval *tv, uint64_t *ns)
{
    if (tv->tv_usec < 0 || tv->tv_usec >= 1000000)
        return -EDOM;
    if (tv->tv_sec < 0) {
        *ns = 1;
        return 0;
    }
    if (timeval_to_ns(tv->tv_sec, tv->tv_usec, ns) < 0)
        *ns = 0;                                /* too large to matter: no timeout */
    return 0;
}

enum value_kind { VALUE_U64, VALUE_INT, VALUE_TIMEVAL, VALUE_TIMEVAL64, VALUE_IGNORED };

struct option_spec {
    int level;
    int optname;
    enum vsock_option option;
    enum value_kind kind;
};

static const struct option_spec option_table[] = {
    { VMCI_SOCKETS_AF_VALUE, SO_VMCI_BUFFER_SIZE, VSOCK_OPTION_BUFFER_SIZE, VALUE_U64 },
    { VMCI_SOCKETS_AF_VALUE, SO_VMCI_BUFFER_MIN_SIZE, VSOCK_OPTION_BUFFER_MIN_SIZE, VALUE_U64 },
    { VMCI_SOCKETS_AF_VALUE, SO_VMCI_BUFFER_MAX_SIZE, VSOCK_OPTION_BUFFER_MAX_SIZE, VALUE_U64 },
    { VMCI_SOCKETS_AF_VALUE, SO_VM_SOCKETS_PEER_HOST_VM_ID, VSOCK_OPTION_PEER_HOST_VM_ID,
      VALUE_INT },
    { VMCI_SOCKETS_AF_VALUE, SO_VM_SOCKETS_TRUSTED, VSOCK_OPTION_TRUSTED, VALUE_INT },
    { VMCI_SOCKETS_AF_VALUE, SO_VM_SOCKETS_CONNECT_TIMEOUT, VSOCK_OPTION_CONNECT_TIMEOUT,
      VALUE_TIMEVAL },
    { VMCI_SOCKETS_AF_VALUE, SO_VM_SOCKETS_NONBLOCK_TXRX, VSOCK_OPTION_NONBLOCK_TXRX, VALUE_INT },
    { VMCI_SOCKETS_AF_VALUE, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, VSOCK_OPTION_CONNECT_TIMEOUT,
      VALUE_TIMEVAL64 },
    { SOL_SOCKET, SO_RCVLOWAT, VSOCK_OPTION_RCVLOWAT, VALUE_INT },
    { SOL_SOCKET, SO_RCVTIMEO, VSOCK_OPTION_RCVTIMEO, VALUE_TIMEVAL },
    { SOL_SOCKET, SO_SNDTIMEO, VSOCK_OPTION_SNDTIMEO, VALUE_TIMEVAL },
    { SOL_SOCKET, SO_RCVBUF, VSOCK_OPTION_RCVBUF, VALUE_INT },
    { SOL_SOCKET, SO_ERROR, VSOCK_OPTION_ERROR, VALUE_INT },
    { SOL_SOCKET, SO_SNDBUF, VSOCK_OPTION_ERROR, VALUE_IGNORED },                /* R146 */
    { SOL_SOCKET, SO_KEEPALIVE, VSOCK_OPTION_ERROR, VALUE_IGNORED },
    { SOL_SOCKET, SO_LINGER, VSOCK_OPTION_ERROR, VALUE_IGNORED },
    { SOL_SOCKET, SO_REUSEADDR, VSOCK_OPTION_ERROR, VALUE_IGNORED },
    /* R146's "other generic options": ones Linux's sock_setsockopt accepts from any
     * process (SO_PRIORITY 0-6 needs no capability); they mean nothing to vSockets. */
    { SOL_SOCKET, SO_DONTROUTE, VSOCK_OPTION_ERROR, VALUE_IGNORED },
    { SOL_SOCKET, SO_BROADCAST, VSOCK_OPTION_ERROR, VALUE_IGNORED },
    { SOL_SOCKET, SO_OOBINLINE, VSOCK_OPTION_ERROR, VALUE_IGNORED },
    { SOL_SOCKET, SO_PRIORITY, VSOCK_OPTION_ERROR, VALUE_IGNORED },
};

/* The option (level, optname), or NULL when unknown (ENOPROTOOPT, R144). */
static const struct option_spec *option_lookup(int level, int optname)
{
    for (size_t index = 0; index < sizeof(option_table) / sizeof(option_table[0]); index++) {
        if (option_table[index].level == level && option_table[index].optname == optname)
            return &option_table[index];
    }
    return NULL;
}

/* Options a process may only read (R141-R143) or that only the kernel writes. */
static bool option_read_only(const struct option_spec *spec)
{
    return spec->option == VSOCK_OPTION_ERROR || spec->option == VSOCK_OPTION_TRUSTED ||
           spec->option == VSOCK_OPTION_PEER_HOST_VM_ID ||
           spec->option == VSOCK_OPTION_NONBLOCK_TXRX;
}

static size_t value_bytes(enum value_kind kind)
{
    switch (kind) {
    case VALUE_U64: return sizeof(uint64_t);
    case VALUE_INT: return sizeof(int);
    case VALUE_TIMEVAL: return sizeof(struct timeval);
    case VALUE_TIMEVAL64: return sizeof(struct vs_timeval64);
    case VALUE_IGNORED: return 0;
    }
    return 0;
}

/* The option's value as the core stores it, from the caller's bytes. */
static int set_value(const struct option_spec *spec, const void *optval, uint64_t *value)
{
    switch (spec->kind) {
    case VALUE_U64:
        memcpy(value, optval, sizeof(*value));
        return 0;
    case VALUE_INT: {
        int number;
        memcpy(&number, optval, sizeof(number));
        *value = number < 0 ? (uint64_t)INT32_MAX : (uint64_t)number;    /* Linux: INT_MAX */
        return 0;
    }
    case VALUE_TIMEVAL: {
        struct timeval tv;
        memcpy(&tv, optval, sizeof(tv));
        if (spec->option == VSOCK_OPTION_CONNECT_TIMEOUT)
            return timeval_to_ns(tv.tv_sec, tv.tv_usec, value);                /* R140 */
        return socket_timeout_to_ns(&tv, value);
    }
    case VALUE_TIMEVAL64: {
        struct vs_timeval64 tv;
        memcpy(&tv, optval, sizeof(tv));
        return timeval_to_ns(tv.tv_sec, tv.tv_usec, value);                    /* R140 */
    }
    case VALUE_IGNORED:
        return 0;
    }
    return -EINVAL;
}

int vs_setsockopt(struct vs_context *context, int fd, int level, int optname,
                  const void *optval, socklen_t optlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    bool stream = entry->sock->type == VSOCK_TYPE_STREAM;
    if (level != SOL_SOCKET && (level != VMCI_SOCKETS_AF_VALUE || !stream))
        return fail(stream ? ENOPROTOOPT : EOPNOTSUPP);                         /* R136 */
    const struct option_spec *spec = option_lookup(level, optname);
    if (spec == NULL || (spec->kind != VALUE_IGNORED && option_read_only(spec)))
        return fail(ENOPROTOOPT);                                               /* R141-R144 */
    if (spec->kind == VALUE_IGNORED)
        return 0;                                                               /* R146 */
    if (optval == NULL || optlen < value_bytes(spec->kind))
        return fail(EINVAL);                                                    /* R137 */
    uint64_t value = 0;
    int rc = set_value(spec, optval, &value);
    if (rc == 0)
        rc = vsock_setsockopt(entry->sock, spec->option, value);
    return rc < 0 ? fail(-rc) : 0;
}

/* Writes the core's value in the option's form; returns the bytes of that form. */
static size_t get_value(const struct option_spec *spec, uint64_t value, uint8_t *out)
{
    switch (spec->kind) {
    case VALUE_U64:
        memcpy(out, &value, sizeof(value));
        return sizeof(value);
    case VALUE_INT: {
        int number = value > INT32_MAX ? INT32_MAX : (int)value;
        memcpy(out, &number, sizeof(number));
        return sizeof(number);
    }
    case VALUE_TIMEVAL: {
        struct timeval tv = { .tv_sec = (time_t)(value / NS_PER_SEC),
                              .tv_usec = (suseconds_t)(value % NS_PER_SEC / NS_PER_USEC) };
        memcpy(out, &tv, sizeof(tv));
        return sizeof(tv);
    }
    case VALUE_TIMEVAL64: {
        struct vs_timeval64 tv = { (int64_t)(value / NS_PER_SEC),
                                   (int64_t)(value % NS_PER_SEC / NS_PER_USEC) };
        memcpy(out, &tv, sizeof(tv));
        return sizeof(tv);
    }
    case VALUE_IGNORED:
        return 0;
    }
    return 0;
}

int vs_getsockopt(struct vs_context *context, int fd, int level, int optname, void *optval,
                  socklen_t *optlen)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    if (optval == NULL || optlen == NULL)
        return fail(EFAULT);
    struct vsock_sock *sock = entry->sock;
    bool stream = sock->type == VSOCK_TYPE_STREAM;
    if (level != SOL_SOCKET && (level != VMCI_SOCKETS_AF_VALUE || !stream))
        return fail(stream ? ENOPROTOOPT : EOPNOTSUPP);                         /* R136 */
    uint64_t value = 0;
    struct option_spec type_spec = { SOL_SOCKET, SO_TYPE, VSOCK_OPTION_ERROR, VALUE_INT };
    const struct option_spec *spec = option_lookup(level, optname);
    if (level == SOL_SOCKET && optname == SO_TYPE) {
        spec = &type_spec;
        value = (uint64_t)sock->type;
    } else if (spec == NULL || spec->kind == VALUE_IGNORED) {
        return fail(ENOPROTOOPT);                                               /* R144 */
    } else {
        /* The option's own errors (ENOPROTOOPT for NONBLOCK_TXRX, R143; ENOTCONN, R142)
         * come before the length check, as in Linux, whose option switch returns before
         * comparing lengths. Level-40 reads have no side effects, so reading first is safe. */
        int rc = vsock_getsockopt(sock, spec->option, &value);
        if (rc < 0)
            return fail(-rc);
        if (level == VMCI_SOCKETS_AF_VALUE && *optlen < value_bytes(spec->kind))
            return fail(EINVAL);                                                /* R137 */
    }
    uint8_t bytes[sizeof(struct vs_timeval64)];
    size_t size = get_value(spec, value, bytes);
    size_t copy_bytes = *optlen < size ? *optlen : size;    /* SOL_SOCKET: Linux truncates */
    memcpy(optval, bytes, copy_bytes);
    *optlen = (socklen_t)copy_bytes;
    return 0;
}

int vs_fcntl(struct vs_context *context, int fd, int cmd, int arg)
{
    struct vs_fd *entry = fd_entry(context, fd);
    if (entry == NULL)
        return fail(EBADF);
    switch (cmd) {
    case F_GETFL:
        return O_RDWR | (entry->sock->nonblocking ? O_NONBLOCK : 0);
    case F_SETFL:
        entry->sock->nonblocking = (arg & O_NONBLOCK) != 0;
        return 0;
    default:
        return fail(EINVAL);
    }
}
