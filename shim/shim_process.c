/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_process.c: fork and wait inside a program (docs/programs.md, "fork, exec and
 * wait"). glibc's fork, vfork and the wait family make their system calls from libc's
 * own code, so the bypass trap (shim_trap.c) brings them here:
 *
 * - fork (clone without CLONE_VM or CLONE_THREAD, fork, vfork served as fork): the
 *   supervisor makes the child's simulated process and answers with its simulated pid,
 *   then hands over the child's channel (one byte carrying the descriptor); the shim
 *   makes the real process with clone from its own syscall site, the child moves the new
 *   channel onto the channel's descriptor number and introduces itself (HELLO), the
 *   parent gets the simulated pid. Both then wait for the supervisor at each call, so the
 *   order they run in is the simulation's.
 * - wait4, waitid: answered by the supervisor from the simulated children only.
 *
 * The real SIGCHLD is ignored in every program (so real children are reaped by the
 * kernel at once and no real SIGCHLD ever arrives at a wall time).
 *
 * Invariant: a process has exactly one channel, at the number EXEC_CHANNEL_ENV names; a
 * forked child never writes on its parent's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_int.h"

/* clone flags a fork may carry (glibc's fork: CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID and
 * the exit signal); CLONE_VFORK is dropped (the child gets its own memory). */
#define SHIM_FORK_FLAGS (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID | \
                         CLONE_VFORK | 0xff)

/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct shim_kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

void shim_process_start(void)
{
    struct shim_kernel_sigaction ignore = { .handler = SIG_IGN };
    (void)shim_syscall(SYS_rt_sigaction, SIGCHLD, (long)&ignore, 0, sizeof(uint64_t), 0, 0);
}

/* The descriptor the supervisor sent after a fork's reply, or -errno. */
static int channel_receive(void)
{
    char byte = 0;
    struct iovec part = { &byte, 1 };
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1, .msg_control = control.space,
                              .msg_controllen = sizeof(control.space) };
    long got;
    do
        got = SHIM_SYSCALL3(SYS_recvmsg, shim_channel_fd(), &message, MSG_CMSG_CLOEXEC);
    while (got == -EINTR);
    if (got <= 0)
        return got < 0 ? (int)got : -EPIPE;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (header == NULL || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS ||
        header->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(header), sizeof(fd));
    return fd;
}

/* fork as clone(flags, 0, parent_tid, child_tid, tls): the simulated pid, 0 in the child,
 * or -errno. */
static long process_fork(long flags, long parent_tid, long child_tid, long tls)
{
    struct exec_request request = { .op = EXEC_OP_FORK };
    struct exec_reply reply;
    int64_t pid = shim_call(&request, NULL, 0, &reply, NULL, 0);
    if (pid < 0)
        return (long)pid;
    int fd = channel_receive();
    if (fd < 0)
        return -EAGAIN;             /* the child's simulated process sees its channel end */
    flags = (flags & ~(long)(CLONE_VFORK | 0xff)) | SIGCHLD;
    long rc = shim_syscall(SYS_clone, flags, 0, parent_tid, child_tid, tls, 0);
    if (rc != 0) {                  /* the parent (or a failed clone): the child's end goes */
        (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
        return rc < 0 ? rc : (long)pid;
    }
    int channel = shim_channel_fd();
    (void)SHIM_SYSCALL3(SYS_dup3, fd, channel, 0);     /* kept across exec, as the first */
    (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
    (void)shim_call_simple(EXEC_OP_HELLO, (int64_t)SHIM_SYSCALL3(SYS_getpid, 0, 0, 0), 0, 0, 0);
    return 0;
}

static long process_clone(long flags, long stack, long parent_tid, long child_tid, long tls)
{
    if ((flags & ~(long)SHIM_FORK_FLAGS) != 0 || stack != 0) {
        /* Threads (CLONE_VM, CLONE_THREAD), shared tables, new namespaces, a new stack
         * (posix_spawn's CLONE_VM | CLONE_VFORK): not a fork the simulation can serve. */
        shim_complain("vmcisim shim: clone with flags other than a fork's refused "
                      "(docs/programs.md)\n");
        (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_SYSCALL, SYS_clone, 0, 0);
        return -ENOSYS;
    }
    return process_fork(flags, parent_tid, child_tid, tls);
}

/* One wait: the child's pid (0: none yet with WNOHANG) and its status, or -errno. */
static long process_wait(int64_t selector, int64_t options, int *status)
{
    struct exec_request request = { .op = EXEC_OP_WAIT, .args = { selector, options } };
    struct exec_reply reply;
    int64_t rc = shim_call(&request, NULL, 0, &reply, NULL, 0);
    if (rc > 0 && status != NULL)
        *status = (int)reply.values[0];
    return (long)rc;
}

static long process_wait4(long pid, long status_address, long options, long usage)
{
    if ((options & ~(long)(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE |
                           __WNOTHREAD)) != 0)
        return -EINVAL;
    /* No process groups are simulated: 0 and -pgid wait for any child. The arguments are
     * C ints: only their low 32 bits count (as in the kernel). */
    pid = (int)pid;
    options = (int)options;
    int64_t selector = pid > 0 ? pid : -1;
    int status = 0;
    long rc = process_wait(selector, options & WNOHANG, &status);
    if (rc > 0 && status_address != 0)
        memcpy((void *)status_address, &status, sizeof(status));
    if (rc >= 0 && usage != 0)
        memset((void *)usage, 0, sizeof(struct rusage));
    return rc;
}

static long process_waitid(long type, long id, long info_address, long options, long usage)
{
    type = (int)type;
    id = (int)id;
    options = (int)options;
    if ((options & (WEXITED | WSTOPPED | WCONTINUED)) == 0 ||
        (options & ~(long)(WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT | __WALL |
                           __WCLONE | __WNOTHREAD)) != 0 ||
        (type != P_ALL && type != P_PID && type != P_PGID))
        return -EINVAL;
    int64_t selector = type == P_PID ? (id > 0 ? id : 0) : -1;
    if (type == P_PID && selector == 0)
        return -EINVAL;
    int status = 0;
    long rc = process_wait(selector, options & (WNOHANG | WNOWAIT), &status);
    if (rc < 0)
        return rc;
    if (usage != 0)
        memset((void *)usage, 0, sizeof(struct rusage));
    if (info_address != 0) {
        siginfo_t info;
        memset(&info, 0, sizeof(info));
        if (rc > 0) {
            info.si_signo = SIGCHLD;
            info.si_code = WIFEXITED(status) ? CLD_EXITED : CLD_KILLED;
            info.si_pid = (pid_t)rc;
            info.si_status = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
        }
        memcpy((void *)info_address, &info, sizeof(info));
    }
    return 0;
}

bool shim_process_trap(long number, const long arguments[6], long *result)
{
    const long *a = arguments;
    switch (number) {
    case SYS_clone:
        *result = process_clone(a[0], a[1], a[2], a[3], a[4]);
        return true;
    case SYS_fork:
    case SYS_vfork:
        *result = process_fork(SIGCHLD, 0, 0, 0);
        return true;
    case SYS_wait4:
        *result = process_wait4(a[0], a[1], a[2], a[3]);
        return true;
    case SYS_waitid:
        *result = process_waitid(a[0], a[1], a[2], a[3], a[4]);
        return true;
    default:
        return false;
    }
}
