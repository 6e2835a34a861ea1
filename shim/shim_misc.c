/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_misc.c: everything the shim serves besides socket calls: time and
 * sleeping (simulated time), getrandom (from the seed), getpid/getppid (simulated
 * pids), uname (the endpoint's identity), /dev/vsock and its ioctls, fcntl, dup,
 * fstat on simulated descriptors.
 *
 * Invariant: none of these reads the machine's clock, random source or identity;
 * a value a program sees here comes from the supervisor, so it is a function of
 * the scenario and the seed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "shim_int.h"

#define SHIM_NS_PER_SEC 1000000000ll
#define SHIM_VSOCK_DEVICE "/dev/vsock"
#define SHIM_IOCTL_GET_AF_VALUE 0x7b8       /* the VMware header's get-AF request */
#define SHIM_IOCTL_GET_LOCAL_CID 0x7b9      /* IOCTL_VM_SOCKETS_GET_LOCAL_CID, _IO(7, 0xb9) */

static int64_t clock_ns(clockid_t clock)
{
    struct exec_request request = { .op = EXEC_OP_CLOCK, .args = { clock } };
    struct exec_reply reply;
    int64_t rc = shim_call(&request, NULL, 0, &reply, NULL, 0);
    return rc < 0 ? rc : reply.values[0];
}

int clock_gettime(clockid_t clock, struct timespec *time_out)
{
    int64_t ns = clock_ns(clock);
    if (ns < 0)
        return (int)shim_result(ns);
    if (time_out != NULL) {
        time_out->tv_sec = ns / SHIM_NS_PER_SEC;
        time_out->tv_nsec = ns % SHIM_NS_PER_SEC;
    }
    return 0;
}

int gettimeofday(struct timeval *restrict time_out, void *restrict zone)
{
    (void)zone;
    int64_t ns = clock_ns(CLOCK_REALTIME);
    if (ns < 0)
        return (int)shim_result(ns);
    if (time_out != NULL) {
        time_out->tv_sec = ns / SHIM_NS_PER_SEC;
        time_out->tv_usec = (ns % SHIM_NS_PER_SEC) / 1000;
    }
    return 0;
}

time_t time(time_t *out)
{
    int64_t ns = clock_ns(CLOCK_REALTIME);
    time_t seconds = ns < 0 ? (time_t)-1 : (time_t)(ns / SHIM_NS_PER_SEC);
    if (out != NULL)
        *out = seconds;
    return seconds;
}

/* Sleeps in simulated time; an emulated signal ends it early (EINTR, *left_ns set). */
static int sleep_left(int64_t ns, int64_t *left_ns)
{
    struct exec_request request = { .op = EXEC_OP_SLEEP, .args = { ns < 0 ? 0 : ns } };
    struct exec_reply reply;
    int64_t rc = shim_call(&request, NULL, 0, &reply, NULL, 0);
    *left_ns = rc == -EINTR ? reply.values[0] : 0;
    return (int)shim_result(rc);
}

static int sleep_ns(int64_t ns)
{
    int64_t left_ns = 0;
    return sleep_left(ns, &left_ns);
}

static int64_t timespec_ns(const struct timespec *value)
{
    if (value->tv_sec > INT64_MAX / SHIM_NS_PER_SEC - 1)
        return INT64_MAX / 2;
    return (int64_t)value->tv_sec * SHIM_NS_PER_SEC + value->tv_nsec;
}

int nanosleep(const struct timespec *request, struct timespec *remaining)
{
    if (request == NULL || request->tv_nsec < 0 || request->tv_nsec >= SHIM_NS_PER_SEC ||
        request->tv_sec < 0) {
        errno = request == NULL ? EFAULT : EINVAL;
        return -1;
    }
    int64_t left_ns = 0;
    int rc = sleep_left(timespec_ns(request), &left_ns);
    if (remaining != NULL) {
        remaining->tv_sec = left_ns / SHIM_NS_PER_SEC;
        remaining->tv_nsec = left_ns % SHIM_NS_PER_SEC;
    }
    return rc;
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remaining)
{
    if (request == NULL || request->tv_nsec < 0 || request->tv_nsec >= SHIM_NS_PER_SEC ||
        request->tv_sec < 0)
        return request == NULL ? EFAULT : EINVAL;
    int64_t ns = timespec_ns(request);
    if (flags & TIMER_ABSTIME) {
        int64_t now = clock_ns(clock);
        if (now < 0)
            return (int)-now;
        ns = ns > now ? ns - now : 0;
    }
    if (remaining != NULL)
        memset(remaining, 0, sizeof(*remaining));
    return sleep_ns(ns) < 0 ? errno : 0;
}

int usleep(useconds_t microseconds)
{
    return sleep_ns((int64_t)microseconds * 1000);
}

unsigned int sleep(unsigned int seconds)
{
    int64_t left_ns = 0;
    (void)sleep_left((int64_t)seconds * SHIM_NS_PER_SEC, &left_ns);
    return (unsigned int)((left_ns + SHIM_NS_PER_SEC - 1) / SHIM_NS_PER_SEC);
}

ssize_t getrandom(void *buffer, size_t length, unsigned int flags)
{
    if (length > EXEC_PAYLOAD_BYTES_MAX)
        length = EXEC_PAYLOAD_BYTES_MAX;
    struct exec_request request = { .op = EXEC_OP_RANDOM, .args = { (int64_t)length, flags } };
    struct exec_reply reply;
    struct iovec in = { buffer, length };
    return (ssize_t)shim_result(shim_call(&request, NULL, 0, &reply, &in, 1));
}

int getentropy(void *buffer, size_t length)
{
    if (length > 256) {
        errno = EIO;
        return -1;
    }
    return getrandom(buffer, length, 0) < 0 ? -1 : 0;
}

static int64_t pid_value(int which)
{
    struct exec_request request = { .op = EXEC_OP_GETPID };
    struct exec_reply reply;
    int64_t rc = shim_call(&request, NULL, 0, &reply, NULL, 0);
    return rc < 0 ? rc : reply.values[which];
}

pid_t getpid(void) { return (pid_t)pid_value(0); }
pid_t getppid(void) { return (pid_t)pid_value(1); }

int uname(struct utsname *name)
{
    if (name == NULL) {
        errno = EFAULT;
        return -1;
    }
    struct exec_request request = { .op = EXEC_OP_UNAME };
    struct exec_reply reply;
    struct iovec in = { name, sizeof(*name) };
    return (int)shim_result(shim_call(&request, NULL, 0, &reply, &in, 1));
}

/* open/openat: /dev/vsock is served (a simulated device descriptor), never opened. */
static int open_common(int dir_fd, const char *path, int flags, mode_t mode)
{
    if (path != NULL && strcmp(path, SHIM_VSOCK_DEVICE) == 0) {
        int fd = shim_placeholder();
        if (fd < 0)
            return (int)shim_result(fd);
        if (shim_call_simple(EXEC_OP_OPEN_DEVICE, fd, flags, 0, 0) < 0) {
            int saved = errno;
            (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
            errno = saved;
            return -1;
        }
        shim_fd_set_kind(fd, SHIM_FD_DEVICE);
        if (flags & O_CLOEXEC)
            (void)SHIM_SYSCALL3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
        return fd;
    }
    return (int)shim_result(shim_syscall(SYS_openat, dir_fd, (long)path, flags, mode, 0, 0));
}

static mode_t open_mode(int flags, va_list arguments)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(arguments, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = open_mode(flags, arguments);
    va_end(arguments);
    return open_common(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = open_mode(flags, arguments);
    va_end(arguments);
    return open_common(AT_FDCWD, path, flags, mode);
}

int openat(int dir_fd, const char *path, int flags, ...)
{
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = open_mode(flags, arguments);
    va_end(arguments);
    return open_common(dir_fd, path, flags, mode);
}

int openat64(int dir_fd, const char *path, int flags, ...)
{
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = open_mode(flags, arguments);
    va_end(arguments);
    return open_common(dir_fd, path, flags, mode);
}

int ioctl(int fd, unsigned long request_code, ...)
{
    va_list arguments;
    va_start(arguments, request_code);
    void *argument = va_arg(arguments, void *);
    va_end(arguments);
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return (int)shim_result(shim_syscall(SYS_ioctl, fd, (long)request_code, (long)argument,
                                             0, 0, 0));
    struct exec_request request = { .op = EXEC_OP_IOCTL, .args = { fd, (int64_t)request_code } };
    struct exec_reply reply;
    long rc = shim_result(shim_call(&request, NULL, 0, &reply, NULL, 0));
    if (rc < 0)
        return -1;
    if (argument == NULL) {
        errno = EFAULT;
        return -1;
    }
    if (request_code == SHIM_IOCTL_GET_LOCAL_CID || request_code == SHIM_IOCTL_GET_AF_VALUE) {
        unsigned int value = (unsigned int)reply.values[0];
        memcpy(argument, &value, sizeof(value));
    } else {
        int value = (int)reply.values[0];
        memcpy(argument, &value, sizeof(value));
    }
    return (int)rc;
}

/* dup onto `new_fd`, which is already a placeholder copy of old_fd's placeholder. An epoll
 * descriptor's copy names the same instance (shim_epoll.c); a socket's or the device's is
 * told to the supervisor. */
static int dup_served(int old_fd, int new_fd)
{
    if (new_fd < 0)
        return (int)shim_result(new_fd);
    if (shim_fd_kind(old_fd) == SHIM_FD_EPOLL) {
        if ((unsigned)new_fd >= EXEC_FDS_MAX) {
            (void)SHIM_SYSCALL3(SYS_close, new_fd, 0, 0);
            errno = EMFILE;
            return -1;
        }
        shim_epoll_dup(old_fd, new_fd);
        return new_fd;
    }
    if (shim_call_simple(EXEC_OP_DUP, old_fd, new_fd, 0, 0) < 0) {
        int saved = errno;
        (void)SHIM_SYSCALL3(SYS_close, new_fd, 0, 0);
        errno = saved;
        return -1;
    }
    shim_fd_set_kind(new_fd, shim_fd_kind(old_fd));
    return new_fd;
}

int dup(int fd)
{
    enum shim_fd_kind kind = shim_fd_kind(fd);
    if (kind == SHIM_FD_CHANNEL) {
        errno = EBADF;
        return -1;
    }
    int new_fd = (int)shim_syscall(SYS_dup, fd, 0, 0, 0, 0, 0);
    if (kind == SHIM_FD_REAL || new_fd < 0)
        return (int)shim_result(new_fd);
    return dup_served(fd, new_fd);
}

int dup3(int old_fd, int new_fd, int flags)
{
    enum shim_fd_kind kind = shim_fd_kind(old_fd);
    if (kind == SHIM_FD_CHANNEL || shim_fd_kind(new_fd) == SHIM_FD_CHANNEL ||
        new_fd < 0 || (unsigned)new_fd >= EXEC_FDS_MAX) {
        errno = EBADF;
        return -1;
    }
    if (old_fd == new_fd) {
        errno = EINVAL;
        return -1;
    }
    if (shim_fd_kind(new_fd) != SHIM_FD_REAL) {     /* dup2 closes what new_fd held */
        if (shim_fd_kind(new_fd) != SHIM_FD_EPOLL)
            (void)shim_call_simple(EXEC_OP_CLOSE, new_fd, 0, 0, 0);
        shim_fd_set_kind(new_fd, SHIM_FD_REAL);
    }
    shim_epoll_forget(new_fd);
    int rc = (int)shim_syscall(SYS_dup3, old_fd, new_fd, flags, 0, 0, 0);
    if (kind == SHIM_FD_REAL || rc < 0)
        return (int)shim_result(rc);
    return dup_served(old_fd, rc);
}

int dup2(int old_fd, int new_fd)
{
    if (old_fd == new_fd) {
        if (shim_fd_kind(old_fd) == SHIM_FD_CHANNEL) {
            errno = EBADF;
            return -1;
        }
        return (int)shim_result(shim_syscall(SYS_fcntl, old_fd, F_GETFD, 0, 0, 0, 0) < 0
                                ? -EBADF : new_fd);
    }
    return dup3(old_fd, new_fd, 0);
}

static int fcntl_common(int fd, int command, long argument)
{
    enum shim_fd_kind kind = shim_fd_kind(fd);
    if (kind == SHIM_FD_CHANNEL) {
        errno = EBADF;
        return -1;
    }
    if (kind == SHIM_FD_REAL || command == F_GETFD || command == F_SETFD)
        return (int)shim_result(shim_syscall(SYS_fcntl, fd, command, argument, 0, 0, 0));
    if (command == F_DUPFD || command == F_DUPFD_CLOEXEC) {
        int new_fd = (int)shim_syscall(SYS_fcntl, fd, command, argument, 0, 0, 0);
        return new_fd < 0 ? (int)shim_result(new_fd) : dup_served(fd, new_fd);
    }
    return (int)shim_call_simple(EXEC_OP_FCNTL, fd, command, argument, 0);
}

int fcntl(int fd, int command, ...)
{
    va_list arguments;
    va_start(arguments, command);
    long argument = va_arg(arguments, long);
    va_end(arguments);
    return fcntl_common(fd, command, argument);
}

int fcntl64(int fd, int command, ...)
{
    va_list arguments;
    va_start(arguments, command);
    long argument = va_arg(arguments, long);
    va_end(arguments);
    return fcntl_common(fd, command, argument);
}

/* fstat of a simulated descriptor: a socket (or the character device /dev/vsock). */
static int stat_simulated(int fd, struct stat *out)
{
    if (out == NULL) {
        errno = EFAULT;
        return -1;
    }
    memset(out, 0, sizeof(*out));
    enum shim_fd_kind kind = shim_fd_kind(fd);
    out->st_mode = kind == SHIM_FD_DEVICE ? (S_IFCHR | 0666)
                   : kind == SHIM_FD_PIPE ? (S_IFIFO | 0600) : (S_IFSOCK | 0777);
    out->st_nlink = 1;
    out->st_blksize = 4096;
    out->st_ino = (ino_t)fd + 1;
    return 0;
}

int fstat(int fd, struct stat *out)
{
    enum shim_fd_kind kind = shim_fd_kind(fd);
    if (kind == SHIM_FD_SOCKET || kind == SHIM_FD_DEVICE || kind == SHIM_FD_PIPE)
        return stat_simulated(fd, out);
    if (kind == SHIM_FD_CHANNEL) {
        errno = EBADF;
        return -1;
    }
    return (int)shim_result(shim_syscall(SYS_fstat, fd, (long)out, 0, 0, 0, 0));
}

int fstat64(int fd, struct stat64 *out)
{
    return fstat(fd, (struct stat *)out);
}
