/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_int.h: what the files of the preloaded shim share (never installed).
 *
 * The shim runs inside an unmodified program (LD_PRELOAD) and must never recurse
 * into itself: every system call it makes goes through shim_syscall(), its one
 * syscall instruction (the seccomp trap lets exactly that site through), and it
 * calls no libc function that one of its own wrappers replaces.
 *
 * Descriptor kinds: a simulated descriptor is a real, low descriptor of the child
 * held by an AF_UNIX placeholder socket, so a call that bypasses the shim on it
 * fails (ENOTCONN) instead of writing anywhere; `shim_fd_kind` says which numbers
 * are simulated. Invariant: a number is marked simulated exactly while the
 * supervisor maps it to a simulated socket or device.
 */
#ifndef SHIM_SHIM_INT_H
#define SHIM_SHIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "sim/exec/protocol.h"

#pragma GCC visibility push(hidden)

enum shim_fd_kind {
    SHIM_FD_REAL = 0, SHIM_FD_SOCKET, SHIM_FD_DEVICE, SHIM_FD_CHANNEL,
    SHIM_FD_EPOLL,              /* an epoll instance the shim keeps (shim_epoll.c) */
    SHIM_FD_PIPE,               /* a simulated pipe end (shim_pipe.c) */
};

/* epoll instances one program may hold, and descriptors one interest list may name
 * (then EMFILE and ENOSPC): a wait is one poll set, so at most EXEC_POLL_ENTRIES_MAX. */
#define EXEC_EPOLL_INSTANCES_MAX 8u
#define EXEC_EPOLL_ENTRIES_MAX EXEC_POLL_ENTRIES_MAX

/* The one system-call site (shim_syscall.c). Returns the kernel's result (-errno). */
long shim_syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);
#define SHIM_SYSCALL3(n, a, b, c) shim_syscall((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

/* Installs the bypass trap (shim_trap.c): 0, or -errno. */
int shim_trap_install(void);
/* Installs only its SIGSYS handler, with raw system calls (early in a new image). */
int shim_trap_handler_install(void);

/* The kind of descriptor `fd` (SHIM_FD_REAL outside the table). */
enum shim_fd_kind shim_fd_kind(int fd);
void shim_fd_set_kind(int fd, enum shim_fd_kind kind);

/* One call to the supervisor: the request with `out` as its payload, then the reply
 * whose payload is scattered over `in` (bytes beyond them are read and dropped).
 * Returns the reply's result; never returns when the channel is gone (the program
 * ends with status 125: the simulator stopped serving it). */
int64_t shim_call(struct exec_request *request, const struct iovec *out, int out_count,
                  struct exec_reply *reply, const struct iovec *in, int in_count);
/* shim_call without payloads; the result as a libc call returns it (-1 and errno). */
long shim_call_simple(enum exec_op op, int64_t a0, int64_t a1, int64_t a2, int64_t a3);
/* -1 with errno = -result for a negative result, else the result. */
long shim_result(int64_t result);
/* The simulator stopped serving: the program ends at once with status 125. */
__attribute__((noreturn)) void shim_channel_lost(void);
/* shim_channel.c: maps the shared-memory channel from `fd` (closed either way): 0 or -errno;
 * whether calls use it; one call through it (as shim_call, after its checks). */
int shim_channel_shm_map(int fd);
bool shim_channel_shm_active(void);
void shim_channel_shm_forget(void);
int64_t shim_channel_shm_call(int socket_fd, struct exec_request *request,
                              const struct iovec *out, int out_count, struct exec_reply *reply,
                              const struct iovec *in, int in_count);
/* A placeholder descriptor for a simulated object: an AF_UNIX socket (or -errno). */
int shim_placeholder(void);
/* Forgets `fd` (being closed): an epoll instance it was, or its entries in every
 * interest list (shim_epoll.c). */
void shim_epoll_forget(int fd);
/* `new_fd` (a placeholder copy of epoll descriptor `old_fd`) names the same instance. */
void shim_epoll_dup(int old_fd, int new_fd);
/* Writes a line to the program's stderr without stdio. */
void shim_complain(const char *text);

/* fork, exec, wait (shim_process.c). The channel's descriptor number. */
int shim_channel_fd(void);
/* The channel now lives at descriptor `fd` (shim_process.c moved it there). */
void shim_channel_move(int fd);
/* At start, once the channel is known: the HELLO call (the supervisor answers the simulated
 * descriptors, which a new image after execve marks), then the process's own setup. */
void shim_process_hello(void);
/* The call site shim_syscall uses (shim_core.c): the seccomp filter lets exactly calls made
 * there through. The address just after its syscall instruction. */
extern const void *shim_syscall_target;
uintptr_t shim_syscall_site(void);
/* The dynamic loader's code (for the filter: a new image's loader runs before any shim). */
void shim_loader_range(uintptr_t *start, uintptr_t *end);

/* Emulated signals (shim_signal.c). After a reply that offers signals: takes and
 * acts on them; returns `restart` when they ran (false when already inside a handler). */
bool shim_signal_deliver(bool restart);
/* A trapped signal system call (rt_sigaction, rt_sigprocmask, kill, tgkill, alarm, ...). */
bool shim_signal_trap(long number, const long arguments[6], long *result);
/* At start: real signals blocked but SIGSYS and the synchronous faults. */
void shim_signal_start(void);
/* A trapped system call shim_process.c serves (clone, fork, vfork, wait4, waitid): true
 * and *result (the kernel's convention, -errno), or false when it is not one of them. */
bool shim_process_trap(long number, const long arguments[6], long *result);

/* Threads (shim_thread.c). shim_core.c: the first pthread_create turns per-thread channels
 * on; whether it happened; the calling thread's own channel from now on. */
void shim_threads_start(void);
bool shim_threads_active(void);
void shim_thread_channel_set(int fd);
/* A trapped system call threads change (futex, gettid, a thread's exit): true and *result,
 * or false when it is not one of them (or the program has no threads). */
bool shim_thread_trap(long number, const long arguments[6], long *result);
/* shim_process.c: the descriptor the supervisor sends after a fork's (or a thread's) reply,
 * or -errno. */
int shim_channel_receive(void);

#pragma GCC visibility pop

#endif /* SHIM_SHIM_INT_H */
