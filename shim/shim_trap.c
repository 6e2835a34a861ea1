/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_trap.c: the bypass trap. A program (or libc itself: stdio's writes, raise's
 * getpid) may make a system call without going through one of the shim's replaced entry
 * points. A seccomp filter installed before main lets through exactly the system calls made
 * from the shim's own syscall instruction (shim_syscall's site, checked on the instruction
 * pointer, as Shadow does) and rt_sigreturn; every other one raises SIGSYS, whose handler
 * serves it as the replaced entry point would: a call that names a simulated descriptor
 * goes to the supervisor, one that touches only real descriptors is made natively from the
 * shim's site, time and identity calls come from the simulation.
 *
 * Invariants: the filter is installed once, after the channel works; the handler makes
 * system calls only through shim_syscall (so it never traps itself) and keeps the program's
 * errno. A program that blocks or takes over SIGSYS loses the trap (the kernel then ends it):
 * docs/programs.md says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "shim_int.h"

/* The address just after shim_syscall's syscall instruction (shim_core.c): what seccomp
 * reports as the instruction pointer of a call made there. */
extern const char shim_syscall_return[];

typedef long (*trap_fn)(long a1, long a2, long a3, long a4, long a5, long a6);

/* Each served system call as the replaced entry point answers it (-1 and errno). */
#define TRAP(name, call) \
    static long trap_##name(long a1, long a2, long a3, long a4, long a5, long a6) \
    { (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)a6; return (long)(call); }

TRAP(read, read((int)a1, (void *)a2, (size_t)a3))
TRAP(write, write((int)a1, (const void *)a2, (size_t)a3))
TRAP(readv, readv((int)a1, (const struct iovec *)a2, (int)a3))
TRAP(writev, writev((int)a1, (const struct iovec *)a2, (int)a3))
TRAP(close, close((int)a1))
TRAP(socket, socket((int)a1, (int)a2, (int)a3))
TRAP(connect, connect((int)a1, (const struct sockaddr *)a2, (socklen_t)a3))
TRAP(bind, bind((int)a1, (const struct sockaddr *)a2, (socklen_t)a3))
TRAP(listen, listen((int)a1, (int)a2))
TRAP(accept, accept4((int)a1, (struct sockaddr *)a2, (socklen_t *)a3, 0))
TRAP(accept4, accept4((int)a1, (struct sockaddr *)a2, (socklen_t *)a3, (int)a4))
TRAP(sendto, sendto((int)a1, (const void *)a2, (size_t)a3, (int)a4,
                    (const struct sockaddr *)a5, (socklen_t)a6))
TRAP(recvfrom, recvfrom((int)a1, (void *)a2, (size_t)a3, (int)a4, (struct sockaddr *)a5,
                        (socklen_t *)a6))
TRAP(sendmsg, sendmsg((int)a1, (const struct msghdr *)a2, (int)a3))
TRAP(recvmsg, recvmsg((int)a1, (struct msghdr *)a2, (int)a3))
TRAP(shutdown, shutdown((int)a1, (int)a2))
TRAP(getsockname, getsockname((int)a1, (struct sockaddr *)a2, (socklen_t *)a3))
TRAP(getpeername, getpeername((int)a1, (struct sockaddr *)a2, (socklen_t *)a3))
TRAP(setsockopt, setsockopt((int)a1, (int)a2, (int)a3, (const void *)a4, (socklen_t)a5))
TRAP(getsockopt, getsockopt((int)a1, (int)a2, (int)a3, (void *)a4, (socklen_t *)a5))
TRAP(fcntl, fcntl((int)a1, (int)a2, a3))
TRAP(ioctl, ioctl((int)a1, (unsigned long)a2, (void *)a3))
TRAP(poll, poll((struct pollfd *)a1, (nfds_t)a2, (int)a3))
TRAP(ppoll, ppoll((struct pollfd *)a1, (nfds_t)a2, (const struct timespec *)a3,
                  (const sigset_t *)a4))
TRAP(nanosleep, nanosleep((const struct timespec *)a1, (struct timespec *)a2))
TRAP(clock_gettime, clock_gettime((clockid_t)a1, (struct timespec *)a2))
TRAP(gettimeofday, gettimeofday((struct timeval *)a1, (void *)a2))
TRAP(time, time((time_t *)a1))
TRAP(getrandom, getrandom((void *)a1, (size_t)a2, (unsigned int)a3))
TRAP(getpid, getpid())
TRAP(getppid, getppid())
TRAP(uname, uname((struct utsname *)a1))
TRAP(dup, dup((int)a1))
TRAP(dup2, dup2((int)a1, (int)a2))
TRAP(dup3, dup3((int)a1, (int)a2, (int)a3))
TRAP(fstat, fstat((int)a1, (struct stat *)a2))
TRAP(openat, openat((int)a1, (const char *)a2, (int)a3, (mode_t)a4))
TRAP(open, open((const char *)a1, (int)a2, (mode_t)a3))
TRAP(epoll_create, epoll_create((int)a1))
TRAP(epoll_create1, epoll_create1((int)a1))
TRAP(epoll_ctl, epoll_ctl((int)a1, (int)a2, (int)a3, (struct epoll_event *)a4))
TRAP(epoll_wait, epoll_wait((int)a1, (struct epoll_event *)a2, (int)a3, (int)a4))
TRAP(epoll_pwait, epoll_pwait((int)a1, (struct epoll_event *)a2, (int)a3, (int)a4,
                              (const sigset_t *)a5))
TRAP(epoll_pwait2, epoll_pwait2((int)a1, (struct epoll_event *)a2, (int)a3,
                                (const struct timespec *)a4, (const sigset_t *)a5))

/* clock_nanosleep answers with the error number itself, not -1 and errno. */
static long trap_clock_nanosleep(long a1, long a2, long a3, long a4, long a5, long a6)
{
    (void)a5;
    (void)a6;
    int rc = clock_nanosleep((clockid_t)a1, (int)a2, (const struct timespec *)a3,
                             (struct timespec *)a4);
    if (rc == 0)
        return 0;
    errno = rc;
    return -1;
}

static const struct {
    long number;
    trap_fn fn;
} served[] = {
    { SYS_read, trap_read }, { SYS_write, trap_write }, { SYS_readv, trap_readv },
    { SYS_writev, trap_writev }, { SYS_close, trap_close }, { SYS_socket, trap_socket },
    { SYS_connect, trap_connect }, { SYS_bind, trap_bind }, { SYS_listen, trap_listen },
    { SYS_accept, trap_accept }, { SYS_accept4, trap_accept4 }, { SYS_sendto, trap_sendto },
    { SYS_recvfrom, trap_recvfrom }, { SYS_sendmsg, trap_sendmsg },
    { SYS_recvmsg, trap_recvmsg }, { SYS_shutdown, trap_shutdown },
    { SYS_getsockname, trap_getsockname }, { SYS_getpeername, trap_getpeername },
    { SYS_setsockopt, trap_setsockopt }, { SYS_getsockopt, trap_getsockopt },
    { SYS_fcntl, trap_fcntl }, { SYS_ioctl, trap_ioctl }, { SYS_poll, trap_poll },
    { SYS_ppoll, trap_ppoll }, { SYS_nanosleep, trap_nanosleep },
    { SYS_clock_nanosleep, trap_clock_nanosleep }, { SYS_clock_gettime, trap_clock_gettime },
    { SYS_gettimeofday, trap_gettimeofday }, { SYS_time, trap_time },
    { SYS_getrandom, trap_getrandom }, { SYS_getpid, trap_getpid },
    { SYS_getppid, trap_getppid }, { SYS_uname, trap_uname }, { SYS_dup, trap_dup },
    { SYS_dup2, trap_dup2 }, { SYS_dup3, trap_dup3 }, { SYS_fstat, trap_fstat },
    { SYS_openat, trap_openat }, { SYS_open, trap_open },
    { SYS_epoll_create, trap_epoll_create }, { SYS_epoll_create1, trap_epoll_create1 },
    { SYS_epoll_ctl, trap_epoll_ctl }, { SYS_epoll_wait, trap_epoll_wait },
    { SYS_epoll_pwait, trap_epoll_pwait }, { SYS_epoll_pwait2, trap_epoll_pwait2 },
};

/* A trapped call: served as its entry point, or made natively from the shim's site. */
static void on_sigsys(int signal_number, siginfo_t *info, void *context)
{
    (void)signal_number;
    ucontext_t *user = context;
    greg_t *registers = user->uc_mcontext.gregs;
    long number = info->si_syscall;
    long a1 = registers[REG_RDI], a2 = registers[REG_RSI], a3 = registers[REG_RDX];
    long a4 = registers[REG_R10], a5 = registers[REG_R8], a6 = registers[REG_R9];
    int saved = errno;
    long result = 0;
    bool found = false;
    for (size_t index = 0; index < sizeof(served) / sizeof(served[0]) && !found; index++) {
        if (served[index].number != number)
            continue;
        found = true;
        errno = 0;
        result = served[index].fn(a1, a2, a3, a4, a5, a6);
        if (result == -1 && errno != 0)
            result = -errno;
    }
    if (!found) {
        const long arguments[6] = { a1, a2, a3, a4, a5, a6 };
        found = shim_process_trap(number, arguments, &result);     /* fork, wait */
    }
    if (!found && (number == SYS_exit_group || number == SYS_exit)) {
        /* exit, _exit, main's return (glibc's exit ends in exit_group from its own site)
         * or a raw call: the supervisor learns the code and time as a call, then the
         * program ends natively from the shim's site. */
        (void)shim_call_simple(EXEC_OP_EXIT, a1 & 0xff, 0, 0, 0);
        for (;;)
            (void)shim_syscall(SYS_exit_group, a1, 0, 0, 0, 0, 0);
    }
    if (!found)
        result = shim_syscall(number, a1, a2, a3, a4, a5, a6);
    registers[REG_RAX] = result;
    errno = saved;
}

/* Installs the SIGSYS handler and the filter. Returns 0, or -errno (the program then runs
 * without the trap, which the supervisor is told as a refusal of kind `syscall` -1). */
int shim_trap_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = on_sigsys;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    if (sigaction(SIGSYS, &action, NULL) < 0)
        return -errno;
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGSYS);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    uint64_t site = (uint64_t)(uintptr_t)shim_syscall_return;
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 5, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)site, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, instruction_pointer) + 4),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(site >> 32), 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
    long rc = shim_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    if (rc == 0)
        rc = shim_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&program, 0, 0, 0);
    return (int)rc;
}
