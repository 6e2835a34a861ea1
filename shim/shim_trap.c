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
 * errno. A program's sigaction or sigprocmask for SIGSYS reaches only its emulated signal
 * (shim_signal.c): the real SIGSYS stays this handler's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
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
TRAP(sendmmsg, sendmmsg((int)a1, (struct mmsghdr *)a2, (unsigned int)a3, (int)a4))
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

TRAP(pipe, pipe2((int *)a1, 0))
TRAP(pipe2, pipe2((int *)a1, (int)a2))
TRAP(socketpair, socketpair((int)a1, (int)a2, (int)a3, (int *)a4))

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
    { SYS_sendmmsg, trap_sendmmsg },
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
    { SYS_pipe, trap_pipe }, { SYS_pipe2, trap_pipe2 }, { SYS_socketpair, trap_socketpair },
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
        found = shim_thread_trap(number, arguments, &result) ||    /* futex, a thread's exit */
                shim_process_trap(number, arguments, &result) ||   /* fork, exec, wait */
                shim_signal_trap(number, arguments, &result);       /* signals */
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

/* The restorer the kernel returns through after a handler (what glibc's __restore_rt
 * does): rt_sigreturn, which the filter lets through from anywhere. */
__asm__(".text\n"
        ".type shim_trap_restorer, @function\n"
        "shim_trap_restorer:\n"
        "    movq $15, %rax\n"
        "    syscall\n"
        ".size shim_trap_restorer, . - shim_trap_restorer\n");
extern void shim_trap_restorer(void);

/* The kernel's struct sigaction (rt_sigaction), not glibc's. */
struct trap_kernel_sigaction {
    void *handler;
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

#define TRAP_SA_RESTORER 0x04000000ul

/* Installs the SIGSYS handler with raw system calls only (libc's sigaction would itself be
 * trapped in a new image after execve, before any handler exists). 0, or -errno. */
int shim_trap_handler_install(void)
{
    struct trap_kernel_sigaction action = {
        .handler = (void *)on_sigsys, .restorer = shim_trap_restorer,
        .flags = SA_SIGINFO | SA_NODEFER | TRAP_SA_RESTORER,
    };
    long rc = shim_syscall(SYS_rt_sigaction, SIGSYS, (long)&action, 0, sizeof(uint64_t), 0, 0);
    if (rc < 0)
        return (int)rc;
    uint64_t unblock = 1ull << (SIGSYS - 1);
    return (int)shim_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&unblock, 0,
                             sizeof(uint64_t), 0, 0);
}

/* Calls passed through from anywhere: memory and thread setup, which the loader of a new
 * image makes before any shim exists and which never touch anything simulated (before,
 * the handler passed them on natively anyway). futex is trapped: once a program has
 * threads, its waits are simulated (shim_thread.c). */
static const long trap_anywhere[] = {
    SYS_rt_sigreturn, SYS_mmap, SYS_mprotect, SYS_munmap, SYS_mremap, SYS_madvise, SYS_brk,
    SYS_arch_prctl, SYS_set_tid_address, SYS_set_robust_list, SYS_rseq, SYS_prlimit64,
    SYS_sched_yield,
};
/* Calls passed through from the dynamic loader's own code: what it needs to load a new
 * image's libraries (files, never a simulated descriptor) before the shim is loaded. */
static const long trap_loader[] = {
    SYS_openat, SYS_open, SYS_read, SYS_pread64, SYS_close, SYS_fstat, SYS_newfstatat,
    SYS_stat, SYS_lstat, SYS_access, SYS_faccessat, SYS_faccessat2, SYS_statx, SYS_lseek,
    SYS_readlink, SYS_getcwd, SYS_uname, SYS_write, SYS_writev, SYS_exit_group, SYS_getuid,
    SYS_geteuid, SYS_getgid, SYS_getegid,
};

/* Jump targets in a filter under construction, patched when the program is complete. */
#define TRAP_TO_ALLOW 0xff
#define TRAP_TO_TRAP 0xfe
#define TRAP_FILTER_LENGTH_MAX 96u

struct trap_filter {
    struct sock_filter code[TRAP_FILTER_LENGTH_MAX];
    unsigned length;
};

static void emit(struct trap_filter *filter, struct sock_filter instruction)
{
    if (filter->length < TRAP_FILTER_LENGTH_MAX)
        filter->code[filter->length++] = instruction;
}

/* ip (64-bit) inside [start, end): allow when `numbers` holds the call (NULL: any). */
static void emit_range(struct trap_filter *filter, uint64_t start, uint64_t end,
                       const long *numbers, size_t count)
{
    unsigned ip_low = offsetof(struct seccomp_data, instruction_pointer);
    if (start >= end || (start >> 32) != ((end - 1) >> 32))
        return;                         /* empty, or across 4 GiB: not allowed at all */
    /* The rule's length: the next rule starts `length` instructions after its first. */
    unsigned length = (unsigned)(numbers != NULL ? 6 + count : 5);
    emit(filter, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_low + 4));
    emit(filter, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(start >> 32),
                                              0, (uint8_t)(length - 2)));
    emit(filter, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip_low));
    emit(filter, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)start, 0,
                                              (uint8_t)(length - 4)));
    emit(filter, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)end,
                                              (uint8_t)(length - 5),
                                              numbers == NULL ? TRAP_TO_ALLOW : 0));
    if (numbers == NULL)
        return;
    emit(filter, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, nr)));
    for (size_t index = 0; index < count; index++)
        emit(filter, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                  (uint32_t)numbers[index], TRAP_TO_ALLOW, 0));
}

/* Resolves the TRAP_TO_* markers: the program ends with RET TRAP, RET ALLOW. */
static void filter_finish(struct trap_filter *filter)
{
    emit(filter, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP));
    emit(filter, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    unsigned allow = filter->length - 1, trap = filter->length - 2;
    for (unsigned index = 0; index + 2 < filter->length; index++) {
        struct sock_filter *instruction = &filter->code[index];
        if (BPF_CLASS(instruction->code) != BPF_JMP)
            continue;
        if (instruction->jt == TRAP_TO_ALLOW)
            instruction->jt = (uint8_t)(allow - index - 1);
        if (instruction->jf == TRAP_TO_ALLOW)
            instruction->jf = (uint8_t)(allow - index - 1);
        if (instruction->jt == TRAP_TO_TRAP)
            instruction->jt = (uint8_t)(trap - index - 1);
    }
}

/* Installs the SIGSYS handler and the filter. Returns 0, or -errno (the program then runs
 * without the trap, which the supervisor is told as a refusal of kind `syscall` -1). */
int shim_trap_install(void)
{
    int rc = shim_trap_handler_install();
    if (rc < 0)
        return rc;
    struct trap_filter filter = { .length = 0 };
    emit(&filter, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                               offsetof(struct seccomp_data, nr)));
    for (size_t index = 0; index < sizeof(trap_anywhere) / sizeof(trap_anywhere[0]); index++)
        emit(&filter, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                   (uint32_t)trap_anywhere[index],
                                                   TRAP_TO_ALLOW, 0));
    /* clone with CLONE_THREAD from anywhere: glibc's pthread_create makes the real thread
     * once the shim's pthread_create has its channel (shim_thread.c); the new thread starts
     * on a new stack, which a clone made from the trap's handler could not give it. */
    emit(&filter, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3));
    emit(&filter, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                               offsetof(struct seccomp_data, args[0])));
    emit(&filter, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD,
                                               TRAP_TO_ALLOW, 0));
    emit(&filter, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                               offsetof(struct seccomp_data, nr)));
    uint64_t site = shim_syscall_site();
    emit_range(&filter, site, site + 1, NULL, 0);
    uintptr_t loader_start = 0, loader_end = 0;
    shim_loader_range(&loader_start, &loader_end);
    emit_range(&filter, loader_start, loader_end, trap_loader,
               sizeof(trap_loader) / sizeof(trap_loader[0]));
    filter_finish(&filter);
    if (filter.length >= TRAP_FILTER_LENGTH_MAX)
        return -E2BIG;
    struct sock_fprog program = { .len = (unsigned short)filter.length, .filter = filter.code };
    long result = shim_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    if (result == 0)
        result = shim_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&program, 0, 0, 0);
    return (int)result;
}
