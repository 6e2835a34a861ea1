/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_pipe.c: pipe, pipe2 and socketpair, simulated (docs/programs.md, "Pipes and
 * socket pairs"). Both ends are placeholders (shim_placeholder) that the supervisor maps
 * to an in-world pipe or socket pair (sim/exec/pipe.h), so a reader that waits on one
 * wakes in simulated time when the writer writes, and the kernel never holds the bytes.
 * A pipe's ends are of kind SHIM_FD_PIPE (read, write, poll, fcntl, close, dup, fstat);
 * a socket pair's are sockets (every socket call goes to the supervisor).
 *
 * Invariant: both numbers are marked simulated only once the supervisor mapped both; on
 * any failure both placeholders are closed and nothing is left behind.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_int.h"

/* Two placeholders mapped by `op`; returns 0 or -1 with errno. */
static int pair_make(enum exec_op op, int flags, int cloexec, int fds[2], enum shim_fd_kind kind)
{
    if (fds == NULL) {
        errno = EFAULT;
        return -1;
    }
    int first = shim_placeholder();
    if (first < 0)
        return (int)shim_result(first);
    int second = shim_placeholder();
    if (second < 0) {
        (void)SHIM_SYSCALL3(SYS_close, first, 0, 0);
        return (int)shim_result(second);
    }
    if (shim_call_simple(op, first, second, flags, 0) < 0) {
        int saved = errno;
        (void)SHIM_SYSCALL3(SYS_close, first, 0, 0);
        (void)SHIM_SYSCALL3(SYS_close, second, 0, 0);
        errno = saved;
        return -1;
    }
    if (cloexec) {
        (void)SHIM_SYSCALL3(SYS_fcntl, first, F_SETFD, FD_CLOEXEC);
        (void)SHIM_SYSCALL3(SYS_fcntl, second, F_SETFD, FD_CLOEXEC);
    }
    shim_fd_set_kind(first, kind);
    shim_fd_set_kind(second, kind);
    fds[0] = first;
    fds[1] = second;
    return 0;
}

int pipe2(int fds[2], int flags)
{
    if ((flags & ~(O_NONBLOCK | O_CLOEXEC | O_DIRECT)) != 0) {
        errno = EINVAL;
        return -1;
    }
    return pair_make(EXEC_OP_PIPE, flags & ~O_CLOEXEC, flags & O_CLOEXEC, fds, SHIM_FD_PIPE);
}

int pipe(int fds[2])
{
    return pipe2(fds, 0);
}

int socketpair(int domain, int type, int protocol, int fds[2])
{
    if (domain != AF_UNIX) {
        errno = domain == AF_INET || domain == AF_INET6 ? EOPNOTSUPP : EAFNOSUPPORT;
        return -1;
    }
    if (protocol != 0) {
        errno = EPROTONOSUPPORT;
        return -1;
    }
    return pair_make(EXEC_OP_SOCKETPAIR, type & ~SOCK_CLOEXEC, type & SOCK_CLOEXEC, fds,
                     SHIM_FD_SOCKET);
}
