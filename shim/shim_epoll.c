/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_epoll.c: epoll_create, epoll_create1, epoll_ctl, epoll_wait and epoll_pwait,
 * level-triggered, over descriptors that may mix simulated and real ones.
 *
 * An epoll descriptor is a simulated descriptor of kind SHIM_FD_EPOLL: a placeholder
 * (an AF_UNIX socket, like every simulated descriptor) whose interest list the shim
 * keeps in `instances`. A wait turns the interest list into one poll set and hands it
 * to the shim's poll (shim_poll.c): the simulated entries wait in simulated time at
 * the supervisor, the real ones are checked without waiting, exactly as for poll.
 * Level-triggered only: EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE and EPOLLWAKEUP are
 * refused with EINVAL (an edge needs a memory of past readiness the poll model does
 * not have); so is an epoll descriptor inside an interest list.
 *
 * Invariants: an instance is in use exactly while its placeholder's number is of kind
 * SHIM_FD_EPOLL; its entries are in the order they were added (what a wait reports
 * first), none twice, at most EXEC_EPOLL_ENTRIES_MAX. Closing a descriptor removes it
 * from every interest list (Linux does so when the last reference goes; a dup'ed
 * descriptor that stays open is not tracked: docs/programs.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "shim_int.h"

struct epoll_entry {
    int fd;
    uint32_t events;
    epoll_data_t data;
};

struct epoll_instance {
    int fd;                             /* the placeholder; -1: free */
    uint32_t count;
    struct epoll_entry entries[EXEC_EPOLL_ENTRIES_MAX];
};

static struct epoll_instance instances[EXEC_EPOLL_INSTANCES_MAX];
static struct pollfd wait_set[EXEC_EPOLL_ENTRIES_MAX];
static int instances_ready;

static void instances_init(void)
{
    if (instances_ready)
        return;
    for (unsigned index = 0; index < EXEC_EPOLL_INSTANCES_MAX; index++)
        instances[index].fd = -1;
    instances_ready = 1;
}

static struct epoll_instance *instance_of(int fd)
{
    instances_init();
    if (shim_fd_kind(fd) != SHIM_FD_EPOLL)
        return NULL;
    for (unsigned index = 0; index < EXEC_EPOLL_INSTANCES_MAX; index++) {
        if (instances[index].fd == fd)
            return &instances[index];
    }
    return NULL;
}

static int fail(int error)
{
    errno = error;
    return -1;
}

/* The errno for `fd` that is no epoll descriptor: EBADF when it is not open at all. */
static int not_epoll(int fd)
{
    if (shim_fd_kind(fd) != SHIM_FD_REAL)
        return fail(EINVAL);
    return fail(SHIM_SYSCALL3(SYS_fcntl, fd, F_GETFD, 0) < 0 ? EBADF : EINVAL);
}

int epoll_create1(int flags)
{
    if (flags & ~EPOLL_CLOEXEC)
        return fail(EINVAL);
    instances_init();
    struct epoll_instance *free_instance = NULL;
    for (unsigned index = 0; index < EXEC_EPOLL_INSTANCES_MAX && !free_instance; index++) {
        if (instances[index].fd < 0)
            free_instance = &instances[index];
    }
    if (free_instance == NULL)
        return fail(EMFILE);
    int fd = shim_placeholder();
    if (fd < 0)
        return fail(-fd);
    if ((unsigned)fd >= EXEC_FDS_MAX) {
        (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
        return fail(EMFILE);
    }
    if (flags & EPOLL_CLOEXEC)
        (void)SHIM_SYSCALL3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
    free_instance->fd = fd;
    free_instance->count = 0;
    shim_fd_set_kind(fd, SHIM_FD_EPOLL);
    return fd;
}

int epoll_create(int size)
{
    return size <= 0 ? fail(EINVAL) : epoll_create1(0);
}

/* Is `fd` a descriptor epoll may watch? 0, or the errno Linux gives. */
static int watchable(struct epoll_instance *instance, int fd)
{
    enum shim_fd_kind kind = shim_fd_kind(fd);
    if (fd == instance->fd || kind == SHIM_FD_EPOLL)
        return EINVAL;
    if (kind == SHIM_FD_CHANNEL)
        return EBADF;
    if (kind != SHIM_FD_REAL)
        return 0;
    struct stat info;
    long rc = SHIM_SYSCALL3(SYS_fstat, fd, &info, 0);
    if (rc < 0)
        return (int)-rc;
    return S_ISREG(info.st_mode) || S_ISDIR(info.st_mode) ? EPERM : 0;
}

int epoll_ctl(int epoll_fd, int operation, int fd, struct epoll_event *event)
{
    struct epoll_instance *instance = instance_of(epoll_fd);
    if (instance == NULL)
        return not_epoll(epoll_fd);
    int error = watchable(instance, fd);
    if (error != 0)
        return fail(error);
    uint32_t found = instance->count;
    for (uint32_t index = 0; index < instance->count; index++) {
        if (instance->entries[index].fd == fd)
            found = index;
    }
    if (operation == EPOLL_CTL_DEL) {
        if (found == instance->count)
            return fail(ENOENT);
        memmove(&instance->entries[found], &instance->entries[found + 1],
                (instance->count - found - 1) * sizeof(instance->entries[0]));
        instance->count--;
        return 0;
    }
    if (operation != EPOLL_CTL_ADD && operation != EPOLL_CTL_MOD)
        return fail(EINVAL);
    if (event == NULL)
        return fail(EFAULT);
    if (event->events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP))
        return fail(EINVAL);
    if (operation == EPOLL_CTL_ADD && found < instance->count)
        return fail(EEXIST);
    if (operation == EPOLL_CTL_MOD && found == instance->count)
        return fail(ENOENT);
    if (operation == EPOLL_CTL_ADD && instance->count == EXEC_EPOLL_ENTRIES_MAX)
        return fail(ENOSPC);
    if (operation == EPOLL_CTL_ADD)
        instance->count++;
    instance->entries[found] = (struct epoll_entry){ fd, event->events, event->data };
    return 0;
}

/* What a pollfd's revents say as epoll events (the low bits have the same values). */
static uint32_t epoll_events_of(short revents, uint32_t wanted)
{
    uint32_t events = (uint32_t)(unsigned short)revents;
    return events & (wanted | EPOLLERR | EPOLLHUP);
}

int epoll_wait(int epoll_fd, struct epoll_event *events, int events_max, int timeout_ms)
{
    struct epoll_instance *instance = instance_of(epoll_fd);
    if (instance == NULL)
        return not_epoll(epoll_fd);
    if (events_max <= 0)
        return fail(EINVAL);
    if (events == NULL)
        return fail(EFAULT);
    uint32_t count = instance->count;
    for (uint32_t index = 0; index < count; index++) {
        uint32_t wanted = instance->entries[index].events;
        wait_set[index] = (struct pollfd){
            .fd = instance->entries[index].fd,
            .events = (short)(wanted & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP)),
        };
    }
    int rc = poll(wait_set, count, timeout_ms);
    if (rc < 0)
        return -1;
    int reported = 0;
    for (uint32_t index = 0; index < count && reported < events_max; index++) {
        uint32_t ready = epoll_events_of(wait_set[index].revents,
                                         instance->entries[index].events);
        if (ready == 0)
            continue;
        events[reported].events = ready;
        events[reported].data = instance->entries[index].data;
        reported++;
    }
    return reported;
}

int epoll_pwait(int epoll_fd, struct epoll_event *events, int events_max, int timeout_ms,
                const sigset_t *mask)
{
    (void)mask;                         /* a program sees no signals here (as ppoll) */
    return epoll_wait(epoll_fd, events, events_max, timeout_ms);
}

int epoll_pwait2(int epoll_fd, struct epoll_event *events, int events_max,
                 const struct timespec *timeout, const sigset_t *mask)
{
    int timeout_ms = -1;
    if (timeout != NULL) {
        int64_t ms = (int64_t)timeout->tv_sec * 1000 + (timeout->tv_nsec + 999999) / 1000000;
        timeout_ms = ms > 0x7fffffff ? 0x7fffffff : (int)ms;
    }
    return epoll_pwait(epoll_fd, events, events_max, timeout_ms, mask);
}

void shim_epoll_forget(int fd)
{
    instances_init();
    for (unsigned index = 0; index < EXEC_EPOLL_INSTANCES_MAX; index++) {
        struct epoll_instance *instance = &instances[index];
        if (instance->fd < 0)
            continue;
        if (instance->fd == fd) {
            instance->fd = -1;
            instance->count = 0;
            continue;
        }
        for (uint32_t entry = 0; entry < instance->count; entry++) {
            if (instance->entries[entry].fd != fd)
                continue;
            memmove(&instance->entries[entry], &instance->entries[entry + 1],
                    (instance->count - entry - 1) * sizeof(instance->entries[0]));
            instance->count--;
            break;
        }
    }
}
