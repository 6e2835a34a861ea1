/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_poll.c: poll, ppoll, select and pselect over sets that may mix
 * simulated and real descriptors.
 *
 * Real descriptors are checked by the kernel without waiting; simulated ones are
 * forwarded to the supervisor, which waits in simulated time. When a real
 * descriptor is already ready, the simulated ones are only checked (timeout 0), so
 * no wait happens at all; otherwise the wait is the supervisor's, and the real
 * descriptors are checked once more when it ends. Nothing real can wake a
 * simulated wait: a set of real descriptors only with no timeout, none ready, would
 * wait forever in simulated time, and the supervisor reports it as a deadlock.
 * Signal masks of ppoll/pselect are ignored (a program sees no signals here).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#include "shim_int.h"

static struct exec_poll_entry forwarded[EXEC_POLL_ENTRIES_MAX];
static struct pollfd real_set[EXEC_POLL_ENTRIES_MAX];

/* Real entries checked without waiting; their revents written back. Returns how many
 * are ready. */
static int poll_real(struct pollfd *fds, nfds_t count)
{
    nfds_t used = 0;
    for (nfds_t index = 0; index < count; index++) {
        if (fds[index].fd >= 0 && shim_fd_kind(fds[index].fd) == SHIM_FD_REAL)
            real_set[used++] = fds[index];
    }
    if (used == 0)
        return 0;
    struct timespec zero = { 0, 0 };
    long rc = shim_syscall(SYS_ppoll, (long)real_set, (long)used, (long)&zero, 0, 8, 0);
    if (rc < 0)
        return 0;
    used = 0;
    for (nfds_t index = 0; index < count; index++) {
        if (fds[index].fd >= 0 && shim_fd_kind(fds[index].fd) == SHIM_FD_REAL)
            fds[index].revents = real_set[used++].revents;
    }
    return (int)rc;
}

/* Simulated entries forwarded with `timeout_ms`; their revents written back. */
static int poll_simulated(struct pollfd *fds, nfds_t count, int timeout_ms)
{
    uint32_t used = 0;
    for (nfds_t index = 0; index < count; index++) {
        enum shim_fd_kind kind = fds[index].fd >= 0 ? shim_fd_kind(fds[index].fd) : SHIM_FD_REAL;
        bool unserved = kind == SHIM_FD_CHANNEL || kind == SHIM_FD_EPOLL;   /* POLLNVAL */
        if (kind != SHIM_FD_REAL)
            forwarded[used++] = (struct exec_poll_entry){
                .fd = unserved ? -2 : fds[index].fd, .events = fds[index].events,
            };
    }
    struct exec_request request = { .op = EXEC_OP_POLL, .args = { used, timeout_ms } };
    struct exec_reply reply;
    struct iovec out = { forwarded, used * sizeof(forwarded[0]) };
    struct iovec in = { forwarded, used * sizeof(forwarded[0]) };
    long rc = shim_result(shim_call(&request, &out, used > 0 ? 1 : 0, &reply, &in, 1));
    if (rc < 0)
        return -1;
    used = 0;
    for (nfds_t index = 0; index < count; index++) {
        enum shim_fd_kind kind = fds[index].fd >= 0 ? shim_fd_kind(fds[index].fd) : SHIM_FD_REAL;
        if (kind != SHIM_FD_REAL)
            fds[index].revents = forwarded[used++].revents;
    }
    return (int)rc;
}

int poll(struct pollfd *fds, nfds_t count, int timeout_ms)
{
    if (count > EXEC_POLL_ENTRIES_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (fds == NULL && count > 0) {
        errno = EFAULT;
        return -1;
    }
    for (nfds_t index = 0; index < count; index++)
        fds[index].revents = 0;
    int real_ready = poll_real(fds, count);
    int simulated_ready = poll_simulated(fds, count, real_ready > 0 ? 0 : timeout_ms);
    if (simulated_ready < 0)
        return -1;
    if (real_ready == 0)
        real_ready = poll_real(fds, count);
    return real_ready + simulated_ready;
}

static int timeout_ms_of(const struct timespec *timeout)
{
    if (timeout == NULL)
        return -1;
    int64_t ms = (int64_t)timeout->tv_sec * 1000 + (timeout->tv_nsec + 999999) / 1000000;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

int ppoll(struct pollfd *fds, nfds_t count, const struct timespec *timeout,
          const sigset_t *mask)
{
    (void)mask;
    return poll(fds, count, timeout_ms_of(timeout));
}

int __poll_chk(struct pollfd *fds, nfds_t count, int timeout_ms, size_t fds_length)
{
    (void)fds_length;
    return poll(fds, count, timeout_ms);
}

int __ppoll_chk(struct pollfd *fds, nfds_t count, const struct timespec *timeout,
                const sigset_t *mask, size_t fds_length)
{
    (void)fds_length;
    return ppoll(fds, count, timeout, mask);
}

static struct pollfd select_set[FD_SETSIZE];

/* select over poll: one entry per descriptor named in any of the three sets. */
static int select_common(int count, fd_set *readers, fd_set *writers, fd_set *errors,
                         int timeout_ms)
{
    if (count < 0 || count > FD_SETSIZE) {
        errno = EINVAL;
        return -1;
    }
    nfds_t used = 0;
    for (int fd = 0; fd < count; fd++) {
        short events = 0;
        if (readers != NULL && FD_ISSET(fd, readers))
            events |= POLLIN;
        if (writers != NULL && FD_ISSET(fd, writers))
            events |= POLLOUT;
        if (errors != NULL && FD_ISSET(fd, errors))
            events |= POLLPRI;
        if (events != 0)
            select_set[used++] = (struct pollfd){ .fd = fd, .events = events };
    }
    int rc = poll(select_set, used, timeout_ms);
    if (rc < 0)
        return -1;
    for (nfds_t index = 0; index < used; index++) {
        if (select_set[index].revents & POLLNVAL) {
            errno = EBADF;
            return -1;
        }
    }
    int ready = 0;
    for (nfds_t index = 0; index < used; index++) {
        int fd = select_set[index].fd;
        short revents = select_set[index].revents;
        if (readers != NULL && FD_ISSET(fd, readers) && !(revents & (POLLIN | POLLHUP | POLLERR)))
            FD_CLR(fd, readers);
        else if (readers != NULL && FD_ISSET(fd, readers))
            ready++;
        if (writers != NULL && FD_ISSET(fd, writers) && !(revents & (POLLOUT | POLLERR)))
            FD_CLR(fd, writers);
        else if (writers != NULL && FD_ISSET(fd, writers))
            ready++;
        if (errors != NULL && FD_ISSET(fd, errors) && !(revents & POLLPRI))
            FD_CLR(fd, errors);
        else if (errors != NULL && FD_ISSET(fd, errors))
            ready++;
    }
    return ready;
}

int select(int count, fd_set *readers, fd_set *writers, fd_set *errors, struct timeval *timeout)
{
    int timeout_ms = -1;
    if (timeout != NULL) {
        int64_t ms = (int64_t)timeout->tv_sec * 1000 + (timeout->tv_usec + 999) / 1000;
        timeout_ms = ms > 0x7fffffff ? 0x7fffffff : (int)ms;
    }
    int rc = select_common(count, readers, writers, errors, timeout_ms);
    if (timeout != NULL && rc == 0)
        memset(timeout, 0, sizeof(*timeout));   /* Linux: the time left, all of it used */
    return rc;
}

int pselect(int count, fd_set *readers, fd_set *writers, fd_set *errors,
            const struct timespec *timeout, const sigset_t *mask)
{
    (void)mask;
    return select_common(count, readers, writers, errors, timeout_ms_of(timeout));
}
