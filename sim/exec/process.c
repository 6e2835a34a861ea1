/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/process.c: fork and wait for real programs (docs/programs.md, "fork, exec
 * and wait").
 *
 * The program ep:exec started is the root of a family. A fork makes a member: a new
 * simulated process of the same endpoint (its own fiber, pid, channel, descriptor table
 * and vs_context), whose real process the program's shim makes with clone once the
 * supervisor has answered the fork call and handed over the member's channel (one byte
 * carrying the descriptor, after the reply). The member's first call is its HELLO; its
 * real pid is read from the kernel's credentials on that message (SO_PASSCRED), never
 * from what the program says, and held as a pidfd for kills.
 *
 * Shared sockets: after a fork both processes name the same simulated sockets. Each
 * process keeps them in its own vs_context (the same socket pointer at the same slot);
 * the family counts the sockets held by more than one process. Closing a process's last
 * descriptor of a shared socket only forgets it in that process's context; the socket is
 * closed (sock_close traced) by the last holder, as in Linux.
 *
 * Invariants: a socket is in `shared` exactly while two or more live contexts of the
 * family hold it, with `holders` their number; a member is on the root's list from its
 * fork until it is reaped (waited for, or ended while orphaned); the list is in creation
 * order, so every walk over it is a function of the scenario and the seed.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_int.h"
#include "pipe.h"
#include "sim/engine/fiber.h"

/* Members one family may have at once (running or waiting to be reaped): fork beyond
 * fails with EAGAIN, as it does at RLIMIT_NPROC. */
#define EXEC_PROCESSES_MAX 64u
/* Sockets held by more than one process of a family (fork beyond it fails, EAGAIN). */
#define EXEC_SHARED_SOCKETS_MAX 1024u

struct exec_family {
    struct exec_program *members;       /* creation order */
    uint32_t member_count;
    struct exec_shared {
        struct vsock_sock *sock;        /* borrowed: the contexts hold it */
        uint32_t holders;               /* >= 2 */
    } shared[EXEC_SHARED_SOCKETS_MAX];
    uint32_t shared_count;
};

static struct exec_family *family_of(struct exec_program *program)
{
    struct exec_program *root = program->root;
    if (root->family == NULL)
        root->family = calloc(1, sizeof(*root->family));
    return root->family;
}

static struct exec_shared *shared_find(struct exec_family *family, const struct vsock_sock *sock)
{
    for (uint32_t index = 0; family != NULL && index < family->shared_count; index++) {
        if (family->shared[index].sock == sock)
            return &family->shared[index];
    }
    return NULL;
}

static void shared_drop(struct exec_family *family, struct exec_shared *entry)
{
    assert(entry->holders >= 2);
    if (--entry->holders >= 2)
        return;
    /* Keep creation order: shift the rest down (bounded by EXEC_SHARED_SOCKETS_MAX). */
    size_t index = (size_t)(entry - family->shared);
    memmove(entry, entry + 1, (family->shared_count - index - 1) * sizeof(*entry));
    family->shared_count--;
}

/* Forgets the socket at `slot` of the program's context without closing it (another
 * process of the family holds it): what the C API's own release does, minus the close. */
static void context_forget(struct vs_context *context, uint32_t slot)
{
    struct vs_fd *entry = &context->fds[slot];
    assert(entry->sock != NULL && context->fd_count > 0);
    entry->sock = NULL;
    entry->generation = context->fd_generation_next++;     /* a blocked call sees EBADF */
    entry->connect_pending = false;
    context->fd_count--;
}

int exec__process_close(struct exec_program *program, int vs_fd)
{
    struct vsock_sock *sock = vs_socket_of(&program->leader->context, vs_fd);
    struct exec_family *family = program->root->family;
    struct exec_shared *entry = sock != NULL ? shared_find(family, sock) : NULL;
    if (entry == NULL)
        return vs_close(&program->leader->context, vs_fd) < 0 ? -errno : 0;
    context_forget(&program->leader->context, (uint32_t)(vs_fd - VS_FD_FIRST));
    shared_drop(family, entry);
    return 0;
}

void exec__process_release_shared(struct exec_program *program)
{
    struct exec_family *family = program->root->family;
    if (family == NULL || !program->context_live)
        return;
    for (uint32_t slot = 0; slot < VS_FDS_MAX; slot++) {
        struct vsock_sock *sock = program->context.fds[slot].sock;
        struct exec_shared *entry = sock != NULL ? shared_find(family, sock) : NULL;
        if (entry == NULL)
            continue;
        context_forget(&program->context, slot);
        shared_drop(family, entry);
    }
}

/* ---- fork ---------------------------------------------------------------------------------- */

/* The sockets of `program` that are not shared yet: each takes one entry when forked. */
static uint32_t unshared_count(struct exec_family *family, const struct vs_context *context)
{
    uint32_t count = 0;
    for (uint32_t slot = 0; slot < VS_FDS_MAX; slot++) {
        const struct vsock_sock *sock = context->fds[slot].sock;
        count += sock != NULL && shared_find(family, sock) == NULL;
    }
    return count;
}

/* The child holds every socket the parent holds, at the same slots. */
static void context_copy(struct exec_family *family, struct exec_program *member,
                         struct exec_program *parent)
{
    vs_context_init(&member->context, parent->engine, parent->leader->context.stack,
                    &parent->leader->context.credentials);
    member->context_live = true;
    member->context.fd_generation_next = parent->leader->context.fd_generation_next;
    for (uint32_t slot = 0; slot < VS_FDS_MAX; slot++) {
        struct vsock_sock *sock = parent->leader->context.fds[slot].sock;
        if (sock == NULL)
            continue;
        member->context.fds[slot] = parent->leader->context.fds[slot];
        member->context.fd_count++;
        struct exec_shared *entry = shared_find(family, sock);
        if (entry != NULL) {
            entry->holders++;
        } else {
            assert(family->shared_count < EXEC_SHARED_SOCKETS_MAX);
            family->shared[family->shared_count++] = (struct exec_shared){ sock, 2 };
        }
    }
    member->fdmap = parent->leader->fdmap;      /* the same numbers, the same descriptions */
    /* FM4: each copied description of a pipe, socket pair or control channel socket is one
     * more holder of its object, so a reader sees end of file only once every process
     * that had the write end closed it. */
    for (uint32_t index = 0; index < EXEC_DESCRIPTIONS_MAX; index++) {
        const struct exec_description *description = &member->fdmap.descriptions[index];
        if (description->refs > 0 && description->io != NULL)
            exec_io_hold(description->io);
    }
}

/* A member with the parent's configuration (not yet spawned). NULL when out of memory. */
struct exec_program *exec__member_new(struct exec_program *parent, int channel)
{
    struct exec_program *member = calloc(1, sizeof(*member));
    struct exec_start start = {
        .binary_path = parent->binary_path, .argv = (const char *const *)parent->argv,
        .envp = (const char *const *)parent->envp, .cwd = parent->cwd,
        .scratch_dir = parent->scratch_dir, .shim_path = parent->shim_path,
        .name = parent->name, .nodename = parent->nodename,
    };
    if (member == NULL || !exec__program_copy(member, &start)) {
        if (member != NULL)
            exec__program_free(member);
        return NULL;
    }
    member->engine = parent->engine;
    member->callbacks = parent->callbacks;
    member->owner = parent->owner;
    member->domain = parent->domain;
    member->parent_pid = parent->pid;
    member->call_cost_ns = parent->call_cost_ns;
    member->credentials = parent->credentials;
    /* A forked process makes its own pipes, socket pairs and control channel sockets (socat's
     * `fork` option: each child opens a pipe); the world owns the service, both borrow it. */
    member->net = parent->net;
    member->endpoint = parent->endpoint;
    member->child = -1;
    exec_channel_init(&member->channel);     /* a member's channel is a socketpair */
    member->channel.kind = EXEC_CHANNEL_SOCKET;
    member->channel.socket = channel;
    member->output_fd[0] = member->output_fd[1] = -1;
    member->status = "running";
    member->exit_code = -1;
    member->root = parent->root;
    member->leader = member;
    member->parent = parent;
    member->member = true;
    member->channel_pending = member->pidfd = -1;
    sim_waitq_init(&member->children_waitq, "wait");
    sim_waitq_init(&member->futex_waitq, "futex");
    return member;
}

static void trace_fork(struct exec_program *program, uint32_t child_pid)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "exec_fork",
                         program->callbacks->local_cid(program->owner), program->pid);
    sim_trace_field_u64(&event, "child_pid", child_pid);
    (void)sim_engine_emit(program->engine, &event);
}

bool exec__family_ready(struct exec_program *root)
{
    return family_of(root) != NULL;
}

bool exec__family_append(struct exec_program *root, struct exec_program *member)
{
    struct exec_family *family = family_of(root);
    if (family == NULL)
        return false;
    struct exec_program **link = &family->members;
    while (*link != NULL)
        link = &(*link)->member_next;
    *link = member;
    family->member_count++;
    return true;
}

int64_t exec__process_fork(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply)
{
    (void)request;
    (void)reply;
    struct exec_family *family = family_of(program);
    if (family == NULL || !program->leader->context_live)
        return -ENOMEM;
    if (family->member_count >= EXEC_PROCESSES_MAX ||
        family->shared_count + unshared_count(family, &program->leader->context) >
            EXEC_SHARED_SOCKETS_MAX)
        return -EAGAIN;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -EAGAIN;
    int on = 1;
    (void)setsockopt(pair[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
    struct exec_program *member = exec__member_new(program, pair[0]);
    uint32_t cid = program->callbacks->local_cid(program->owner);
    bool daemon = program->process != NULL && program->process->daemon;
    if (member == NULL ||
        sim_fiber_spawn_in(program->engine, program->domain, cid, program->name,
                           exec__member_main, member, 0, daemon, &member->process) < 0) {
        if (member != NULL)
            exec__program_free(member);
        close(pair[0]);
        close(pair[1]);
        return -EAGAIN;
    }
    member->pid = member->process->pid;
    context_copy(family, member, program);
    exec__signal_fork(member, program);
    member->context.credentials.pid = member->pid;
    char stream[32];
    snprintf(stream, sizeof(stream), "exec:%u", member->pid);
    sim_rng_init_stream(&member->rng, sim_engine_seed(program->engine), stream);
    (void)exec__family_append(program->root, member);     /* the family exists (above) */
    program->channel_pending = pair[1];
    trace_fork(program, member->pid);
    return member->pid;
}

void exec__process_after_reply(struct exec_program *program)
{
    if (program->channel_pending < 0)
        return;
    char byte = 'F';
    struct iovec part = { &byte, 1 };
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1, .msg_control = control.space,
                              .msg_controllen = sizeof(control.space) };
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &program->channel_pending, sizeof(int));
    ssize_t sent;
    do
        sent = sendmsg(program->channel.socket, &message, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    /* Not sent: the program is gone; the member sees its channel end and ends. */
    close(program->channel_pending);
    program->channel_pending = -1;
}

/* ---- The member's life ----------------------------------------------------------------- */

/* Reads the real pid of the process that sent the first message on the member's channel
 * from the kernel's credentials (peeked: the HELLO itself is served as a call). Returns
 * false when nothing came (the fork failed in the program, or it is gone). */
static bool member_identify(struct exec_program *member)
{
    bool hung = false;
    if (exec__channel_wait(member, exec__wall_ms() + EXEC_CALL_WAIT_MS_MAX, &hung) < 0)
        return false;
    char byte;
    struct iovec part = { &byte, 1 };
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1, .msg_control = control.space,
                              .msg_controllen = sizeof(control.space) };
    ssize_t got;
    do
        got = recvmsg(member->channel.socket, &message, MSG_PEEK | MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return false;
    int off = 0;
    (void)setsockopt(member->channel.socket, SOL_SOCKET, SO_PASSCRED, &off, sizeof(off));
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_CREDENTIALS)
            continue;
        struct ucred credentials;
        memcpy(&credentials, CMSG_DATA(header), sizeof(credentials));
        if (credentials.pid > 0 && !member->thread)     /* a thread's pid is its process's */
            member->pidfd = (int)syscall(SYS_pidfd_open, credentials.pid, 0);
    }
    return true;
}

/* The member's real process is over (end of file) or must be (killed): status and code. */
static void member_reap(struct exec_program *member, bool killed)
{
    exec_channel_close(&member->channel);
    /* The last process of a family whose root has ended: nobody writes to the output pipes
     * any more, so read them to their end (its exec_output event follows). */
    struct exec_program *root = member->root;
    bool others = false;
    for (struct exec_program *other = root->family->members; other != NULL;
         other = other->member_next)
        others |= other != member && !other->ended;
    if (root->ended && !others)
        exec__output_finish(root);
    if (member->pidfd >= 0) {
        if (killed)
            (void)syscall(SYS_pidfd_send_signal, member->pidfd, SIGKILL, NULL, 0);
        close(member->pidfd);
        member->pidfd = -1;
    }
    if (killed) {
        member->status = "killed";
        member->exit_code = -1;
        member->wait_status = SIGKILL;
    } else if (member->signals.killed_by != 0) {
        member->status = "signalled";   /* an emulated signal's default action */
        member->exit_code = 128 + member->signals.killed_by;
        member->wait_status = member->signals.killed_by;
    } else if (member->exit_called) {
        member->status = "exited";
        member->exit_code = member->exit_code_called;
        member->wait_status = (member->exit_code & 0xff) << 8;
    } else {
        /* Ended without its exit call (a real signal, say): the supervisor cannot wait
         * for a process it did not start, so the code is unknown. */
        member->status = "signalled";
        member->exit_code = 128 + SIGKILL;
        member->wait_status = SIGKILL;
    }
}

void exec__member_main(struct sim_engine *engine, void *arg)
{
    struct exec_program *member = arg;
    assert(member->engine == engine);
    member->started = true;
    if (!member_identify(member)) {
        member_reap(member, false);
        member->status = "failed";
        exec__program_finish(member);
        return;
    }
    bool by_itself = exec__serve_loop(member);
    member_reap(member, !by_itself && !member->group_exit);    /* see program_main */
    exec__program_finish(member);
}

/* Unlinks a member from its family and frees it (its fiber has ended or is ending). */
static void member_free(struct exec_program *member)
{
    struct exec_family *family = member->root->family;
    for (struct exec_program **link = &family->members; *link != NULL;
         link = &(*link)->member_next) {
        if (*link == member) {
            *link = member->member_next;
            family->member_count--;
            break;
        }
    }
    exec_channel_close(&member->channel);
    if (member->pidfd >= 0)
        close(member->pidfd);
    exec__program_free(member);
}

void exec__process_ended(struct exec_program *program)
{
    struct exec_family *family = program->root->family;
    if (program->thread) {              /* no zombie: joins learn of it from thread.c */
        exec__thread_ended(program);
        member_free(program);
        return;
    }
    /* Its children are orphaned: reaped at once when ended, else when they end. */
    for (struct exec_program *member = family != NULL ? family->members : NULL;
         member != NULL;) {
        struct exec_program *next = member->member_next;
        if (member->parent == program) {
            member->parent = NULL;
            member->parent_pid = 1;
            if (member->zombie)
                member_free(member);
        }
        member = next;
    }
    if (!program->member)
        return;
    if (program->parent != NULL) {
        program->zombie = true;
        sim_waitq_wake_all(&program->parent->children_waitq);
        int status = program->wait_status;
        struct exec_signal_info info = {
            .code = WIFEXITED(status) ? CLD_EXITED : CLD_KILLED, .pid = program->pid,
            .status = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status) };
        exec__signal_send_info(program->parent, SIGCHLD, &info);   /* discarded unless
                                                                     * handled or blocked */
    } else {
        member_free(program);
    }
}

bool exec__family_running(const struct exec_program *root)
{
    const struct exec_family *family = root->family;
    for (const struct exec_program *member = family != NULL ? family->members : NULL;
         member != NULL; member = member->member_next) {
        if (!member->ended)
            return true;
    }
    return false;
}

/* ---- wait ------------------------------------------------------------------------------- */

/* The first child (creation order) that `selector` names: *ended says whether it ended. */
static struct exec_program *child_find(struct exec_program *program, int64_t selector,
                                       bool *any)
{
    struct exec_family *family = program->root->family;
    *any = false;
    for (struct exec_program *member = family != NULL ? family->members : NULL;
         member != NULL; member = member->member_next) {
        if (member->parent != program || (selector > 0 && member->pid != selector))
            continue;
        *any = true;
        if (member->zombie)
            return member;
    }
    return NULL;
}

int64_t exec__process_wait(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply, bool *fatal)
{
    int64_t selector = request->args[0];
    int64_t options = request->args[1];
    for (;;) {
        bool any = false;
        struct exec_program *child = child_find(program, selector, &any);
        if (child != NULL) {
            int64_t pid = child->pid;
            reply->values[0] = child->wait_status;
            if ((options & WNOWAIT) == 0)
                member_free(child);
            return pid;
        }
        if (!any)
            return -ECHILD;
        if ((options & WNOHANG) != 0)
            return 0;
        int rc = exec__signal_wait(program, &program->children_waitq, SIM_TIME_NEVER);
        if (rc == -EINTR)
            return -EINTR;
        if (rc < 0) {
            *fatal = true;
            return -EINTR;
        }
    }
}

/* ---- The family as a whole ------------------------------------------------------------- */

/* Kills a member: its blocked call ends and its fiber ends it; one that never ran (its real
 * process waits for the answer to its first call) ends here, its channel closed. */
void exec__member_kill(struct exec_program *member)
{
    if (member->process == NULL)
        return;
    sim_process_kill(member->process);
    if (!member->started) {
        member->process = NULL;
        member_reap(member, true);
        exec__program_finish(member);
    }
}

void exec__family_close_all(struct exec_program *root)
{
    struct exec_family *family = root->family;
    for (struct exec_program *member = family != NULL ? family->members : NULL;
         member != NULL;) {
        struct exec_program *next = member->member_next;  /* it may be freed below */
        if (!member->ended) {
            exec__process_release_shared(member);
            if (member->context_live) {
                vs_context_destroy(&member->context);
                member->context_live = false;
            }
            member->context.stack = NULL;
            exec_fdmap_init(&member->fdmap);
            exec__member_kill(member);
        }
        member = next;
    }
    exec__process_release_shared(root);
}

void exec__family_set_ctx(struct exec_program *root, uint32_t ctx)
{
    struct exec_family *family = root->family;
    for (struct exec_program *member = family != NULL ? family->members : NULL;
         member != NULL; member = member->member_next) {
        if (member->process != NULL)
            member->process->ctx = ctx;
    }
}

void exec__family_destroy(struct exec_program *root)
{
    struct exec_family *family = root->family;
    if (family == NULL)
        return;
    while (family->members != NULL) {
        struct exec_program *member = family->members;
        if (member->pidfd >= 0)
            (void)syscall(SYS_pidfd_send_signal, member->pidfd, SIGKILL, NULL, 0);
        if (member->context_live) {
            /* As exec_program_destroy: the stack frees the sockets, nothing is emitted. */
            for (uint32_t index = 0; index < VS_FDS_MAX; index++)
                member->context.fds[index].sock = NULL;
            member->context.fd_count = 0;
            vs_context_destroy(&member->context);
            member->context_live = false;
        }
        member_free(member);
    }
    free(family);
    root->family = NULL;
}

struct exec_program *exec__family_member(const struct exec_program *root, uint32_t pid)
{
    const struct exec_family *family = root->family;
    for (struct exec_program *member = family != NULL ? family->members : NULL;
         member != NULL; member = member->member_next) {
        if (member->pid == pid)
            return member;
    }
    return NULL;
}

struct exec_program *exec__family_next(const struct exec_program *root,
                                       const struct exec_program *member)
{
    if (member != NULL)
        return member->member_next;
    return root->family != NULL ? root->family->members : NULL;
}

/* ---- The world's programs (kill between programs of one endpoint, signal.c) ----------------- */

void exec__program_list(struct exec_program *root)
{
    assert(root != NULL && root->root == root && !root->net_listed);
    struct exec_net *net = root->net;
    if (net == NULL)
        return;
    root->net_prev = net->programs_tail;
    root->net_next = NULL;
    if (net->programs_tail != NULL)
        net->programs_tail->net_next = root;
    else
        net->programs_head = root;
    net->programs_tail = root;
    root->net_listed = true;
}

void exec__program_unlist(struct exec_program *root)
{
    assert(root != NULL);
    if (!root->net_listed)
        return;
    struct exec_net *net = root->net;
    if (root->net_prev != NULL)
        root->net_prev->net_next = root->net_next;
    else
        net->programs_head = root->net_next;
    if (root->net_next != NULL)
        root->net_next->net_prev = root->net_prev;
    else
        net->programs_tail = root->net_prev;
    root->net_next = root->net_prev = NULL;
    root->net_listed = false;
}

/* The running process with simulated pid `pid` in root's family (the root included). */
static struct exec_program *family_process(const struct exec_program *root, uint32_t pid)
{
    if (!root->ended && root->pid == pid)
        return (struct exec_program *)root;
    struct exec_program *member = exec__family_member(root, pid);
    return member != NULL && !member->ended ? member : NULL;
}

struct exec_program *exec__endpoint_process(const struct exec_program *program, uint32_t pid)
{
    assert(program != NULL);
    const struct exec_program *own = program->root;
    struct exec_program *found = family_process(own, pid);
    if (found != NULL || own->net == NULL)
        return found;
    for (const struct exec_program *root = own->net->programs_head; root != NULL;
         root = root->net_next) {
        if (root == own || root->endpoint != own->endpoint)
            continue;
        found = family_process(root, pid);
        if (found != NULL)
            return found;
    }
    return NULL;
}
