/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_epoll.c: epoll_create, epoll_create1, epoll_ctl, epoll_wait and epoll_pwait over
 * descriptors that may mix simulated and real ones; level-triggered, edge-triggered
 * (EPOLLET) and one-shot (EPOLLONESHOT) entries; dup of an epoll descriptor.
 *
 * An epoll descriptor is a simulated descriptor of kind SHIM_FD_EPOLL: a placeholder
 * (an AF_UNIX socket, like every simulated descriptor) whose interest list the shim
 * keeps in `instances`; `instance_of_fd` says which instance each epoll descriptor
 * names (a dup names the same one). A wait turns the interest list into one poll set and
 * hands it to the shim's poll (shim_poll.c): the simulated entries wait in simulated time
 * at the supervisor, the real ones are checked without waiting, exactly as for poll.
 *
 * Edges: an EPOLLET entry remembers the readiness last seen for it (`level`); a wait
 * reports only readiness that is new since then: a bit that was not ready at the last
 * look. A wait first looks at such entries without waiting (readiness that went away since
 * the last report, say the program read until EAGAIN, is forgotten there), then waits only
 * for bits not already seen, so a descriptor still readable from before cannot end a wait
 * (docs/programs.md: new data on a socket that stayed readable is no new edge here, as
 * Linux would report it). EPOLLONESHOT: an entry that reported is disarmed until
 * EPOLL_CTL_MOD arms it again. EPOLLEXCLUSIVE and EPOLLWAKEUP are refused (EINVAL), as is
 * an epoll descriptor inside an interest list.
 *
 * Invariants: an instance is in use exactly while references > 0, and its references are
 * the descriptors of kind SHIM_FD_EPOLL that name it; its entries are in the order they
 * were added (what a wait reports first), none twice, at most EXEC_EPOLL_ENTRIES_MAX.
 * Closing a descriptor removes it from every interest list (Linux does so when the last
 * reference goes; a dup'ed descriptor that stays open is not tracked: docs/programs.md).
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
    uint32_t level;                     /* EPOLLET: readiness seen at the last look */
    bool disarmed;                      /* EPOLLONESHOT: reported; waits for a MOD */
};

struct epoll_instance {
    uint32_t references;                /* epoll descriptors naming it; 0: free */
    uint32_t count;
    struct epoll_entry entries[EXEC_EPOLL_ENTRIES_MAX];
};

static struct epoll_instance instances[EXEC_EPOLL_INSTANCES_MAX];
static unsigned char instance_of_fd[EXEC_FDS_MAX];     /* index + 1; 0: none */
static struct pollfd wait_set[EXEC_EPOLL_ENTRIES_MAX];

static struct epoll_instance *instance_of(int fd)
{
    if (shim_fd_kind(fd) != SHIM_FD_EPOLL || instance_of_fd[fd] == 0)
        return NULL;
    return &instances[instance_of_fd[fd] - 1];
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
    unsigned free_index = 0;
    while (free_index < EXEC_EPOLL_INSTANCES_MAX && instances[free_index].references != 0)
        free_index++;
    if (free_index >= EXEC_EPOLL_INSTANCES_MAX)
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
    instances[free_index].references = 1;
    instances[free_index].count = 0;
    instance_of_fd[fd] = (unsigned char)(free_index + 1);
    shim_fd_set_kind(fd, SHIM_FD_EPOLL);
    return fd;
}

int epoll_create(int size)
{
    return size <= 0 ? fail(EINVAL) : epoll_create1(0);
}

/* Is `fd` a descriptor epoll may watch? 0, or the errno Linux gives. */
static int watchable(int fd)
{
    enum shim_fd_kind kind = shim_fd_kind(fd);
    if (kind == SHIM_FD_EPOLL)
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
    int error = watchable(fd);
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
    if (event->events & (EPOLLEXCLUSIVE | EPOLLWAKEUP))
        return fail(EINVAL);
    if (operation == EPOLL_CTL_ADD && found < instance->count)
        return fail(EEXIST);
    if (operation == EPOLL_CTL_MOD && found == instance->count)
        return fail(ENOENT);
    if (operation == EPOLL_CTL_ADD && instance->count == EXEC_EPOLL_ENTRIES_MAX)
        return fail(ENOSPC);
    if (operation == EPOLL_CTL_ADD)
        instance->count++;
    /* ADD, and MOD (which re-arms a one-shot entry and forgets what an edge saw, as Linux
     * looks at the descriptor afresh then). */
    instance->entries[found] = (struct epoll_entry){ .fd = fd, .events = event->events,
                                                     .data = event->data };
    return 0;
}

/* What a pollfd's revents say as epoll events (the low bits have the same values). */
static uint32_t epoll_events_of(short revents, uint32_t wanted)
{
    uint32_t events = (uint32_t)(unsigned short)revents;
    return events & (wanted | EPOLLERR | EPOLLHUP);
}

/* The poll set of a wait: disarmed one-shot entries and (when `skip_seen`) an edge entry's
 * bits already seen are left out; an edge entry that saw a hang-up or error waits for
 * nothing more. Returns whether any edge entry has seen bits (a look first is worth it). */
static bool wait_set_fill(const struct epoll_instance *instance, bool skip_seen)
{
    bool seen = false;
    for (uint32_t index = 0; index < instance->count; index++) {
        const struct epoll_entry *entry = &instance->entries[index];
        uint32_t wanted = entry->events & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP);
        bool edge = (entry->events & EPOLLET) != 0;
        seen |= edge && entry->level != 0;
        if (edge && skip_seen)
            wanted &= ~entry->level;
        bool silent = entry->disarmed ||
                      (edge && skip_seen && (entry->level & (EPOLLHUP | EPOLLERR)) != 0);
        wait_set[index] = (struct pollfd){ .fd = silent ? -1 : entry->fd,
                                           .events = (short)wanted };
    }
    return seen;
}

/* Reports what the poll set says into `events` (at most events_max): level-triggered
 * entries as ready, edge entries only their new bits (all they saw is remembered); a
 * one-shot entry that reported is disarmed. Returns how many were reported. */
static int wait_report(struct epoll_instance *instance, struct epoll_event *events,
                       int events_max, bool looking)
{
    int reported = 0;
    for (uint32_t index = 0; index < instance->count; index++) {
        struct epoll_entry *entry = &instance->entries[index];
        if (wait_set[index].fd < 0)
            continue;
        uint32_t ready = epoll_events_of(wait_set[index].revents, entry->events);
        if (entry->events & EPOLLET) {
            uint32_t fresh = ready & ~entry->level;
            if (fresh != 0 && reported >= events_max)
                continue;               /* no room: this edge is reported by the next wait */
            /* A look sees the whole level (what went away is forgotten); a wait saw only
             * bits it waited for, so what it saw joins what was seen before. */
            entry->level = looking ? ready : entry->level | ready;
            ready = fresh;
        }
        if (ready == 0 || reported >= events_max)
            continue;
        events[reported].events = ready;
        events[reported].data = entry->data;
        reported++;
        if (entry->events & EPOLLONESHOT)
            entry->disarmed = true;
    }
    return reported;
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
    if (wait_set_fill(instance, false)) {
        /* Edge entries saw readiness before: look without waiting, so that readiness gone
         * since then is forgotten and comes back as new. */
        if (poll(wait_set, count, 0) < 0)
            return -1;
        int reported = wait_report(instance, events, events_max, true);
        if (reported > 0 || timeout_ms == 0)
            return reported;
        (void)wait_set_fill(instance, true);
    }
    if (poll(wait_set, count, timeout_ms) < 0)
        return -1;
    return wait_report(instance, events, events_max, false);
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

void shim_epoll_dup(int old_fd, int new_fd)
{
    struct epoll_instance *instance = instance_of(old_fd);
    if (instance == NULL || new_fd < 0 || (unsigned)new_fd >= EXEC_FDS_MAX)
        return;
    instance_of_fd[new_fd] = instance_of_fd[old_fd];
    instance->references++;
    shim_fd_set_kind(new_fd, SHIM_FD_EPOLL);
}

void shim_epoll_forget(int fd)
{
    if (fd < 0 || (unsigned)fd >= EXEC_FDS_MAX)
        return;
    if (instance_of_fd[fd] != 0) {      /* an epoll descriptor: one reference less */
        struct epoll_instance *instance = &instances[instance_of_fd[fd] - 1];
        instance_of_fd[fd] = 0;
        if (--instance->references == 0)
            instance->count = 0;
        return;
    }
    for (unsigned index = 0; index < EXEC_EPOLL_INSTANCES_MAX; index++) {
        struct epoll_instance *instance = &instances[index];
        if (instance->references == 0)
            continue;
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
