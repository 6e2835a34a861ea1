/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/protocol.h: the messages between the preloaded shim (shim/) and the
 * supervisor (sim/exec/) over their channel, a stream socketpair.
 *
 * One call is one request (a fixed header, then `payload_bytes` bytes) answered by
 * one reply (a fixed header, then `payload_bytes` bytes). The child sends nothing
 * else and never sends a second request before reading the reply, so the channel
 * holds at most one message in each direction: the supervisor serves one call of one
 * program at a time, and what a program sees depends only on the seed.
 *
 * Both sides include this header: it uses only fixed-width types, and the layout is
 * the same on both sides of the channel (same machine, same ABI). Every length a
 * message carries is checked against the bounds below by the side that reads it.
 */
#ifndef SIM_EXEC_PROTOCOL_H
#define SIM_EXEC_PROTOCOL_H

#include <stdint.h>
#include <string.h>

/* The child finds its end of the channel in this environment variable (a decimal fd). */
#define EXEC_CHANNEL_ENV "VMCISIM_CHANNEL_FD"
#define EXEC_MAGIC 0x564d4349u              /* "VMCI": the first word of every header */
/* Bytes one call may carry (a send's data, a recv's buffer, a poll set): a larger send
 * or recv moves at most this many bytes, as a stream socket may (docs/programs.md). */
#define EXEC_PAYLOAD_BYTES_MAX (1u << 20)
/* Descriptors a program may have: simulated ones are real numbers below this. */
#define EXEC_FDS_MAX 1024u
/* Entries of one poll/select the shim forwards (larger sets fail with EINVAL). */
#define EXEC_POLL_ENTRIES_MAX 1024u
#define EXEC_ARGS_MAX 6
/* Threads one process of a program may have at once besides its first (pthread_create
 * beyond fails with EAGAIN); the shim's table of threads has as many entries. */
#define EXEC_THREADS_MAX 64u

enum exec_op {
    EXEC_OP_HELLO = 1,      /* first call: args[0] = the child's real pid (reports only) */
    EXEC_OP_SOCKET,         /* fd (placeholder), domain, type, protocol */
    EXEC_OP_BIND,           /* fd; payload: the address */
    EXEC_OP_LISTEN,         /* fd, backlog */
    EXEC_OP_ACCEPT,         /* fd, new fd (placeholder), flags (SOCK_NONBLOCK); reply: addr */
    EXEC_OP_CONNECT,        /* fd; payload: the address */
    EXEC_OP_SEND,           /* fd, flags, address bytes (0: none); payload: address, data */
    EXEC_OP_RECV,           /* fd, length, flags, want address; reply: address, data */
    EXEC_OP_CLOSE,          /* fd */
    EXEC_OP_SHUTDOWN,       /* fd, how */
    EXEC_OP_GETSOCKNAME,    /* fd; reply: the address */
    EXEC_OP_GETPEERNAME,    /* fd; reply: the address */
    EXEC_OP_GETSOCKOPT,     /* fd, level, name, length; reply: the value */
    EXEC_OP_SETSOCKOPT,     /* fd, level, name; payload: the value */
    EXEC_OP_FCNTL,          /* fd, command, argument */
    EXEC_OP_IOCTL,          /* fd, request; reply values[0]: the integer result */
    EXEC_OP_OPEN_DEVICE,    /* fd (placeholder): open("/dev/vsock") */
    EXEC_OP_POLL,           /* entry count, timeout ms; payload: struct exec_poll_entry[] */
    EXEC_OP_SLEEP,          /* ns */
    EXEC_OP_CLOCK,          /* clock id; reply values[0]: ns */
    EXEC_OP_RANDOM,         /* length; reply: the bytes */
    EXEC_OP_GETPID,         /* reply values[0]: pid, values[1]: parent pid */
    EXEC_OP_UNAME,          /* reply: struct utsname */
    EXEC_OP_DUP,            /* old fd, new fd (already a placeholder in the child) */
    EXEC_OP_EXIT,           /* status: the program is leaving (exit, _exit, main returned) */
    EXEC_OP_REFUSED,        /* a call the shim refuses: args[0] = which (exec_refusal) */
    /* Pipes, socket pairs, the TCP control channel (sim/exec/pipe.h, inet.h) */
    EXEC_OP_PIPE,           /* read fd, write fd (placeholders), flags (O_NONBLOCK) */
    EXEC_OP_SOCKETPAIR,     /* fd, fd (placeholders), type (| SOCK_NONBLOCK) */
    EXEC_OP_RESOLVE,        /* payload: a host name; reply values[0]: its IPv4 address */
    /* fork, exec, wait, signals (sim/exec/process.c, docs/programs.md). */
    EXEC_OP_FORK,           /* reply: the child's simulated pid; its channel follows the
                             * reply as one byte carrying the descriptor (SCM_RIGHTS) */
    EXEC_OP_WAIT,           /* pid selector (-1 any, > 0 one), options (WNOHANG, WNOWAIT);
                             * reply: the pid (0: none yet), values[0]: the wait status */
    EXEC_OP_EXECVE,         /* loader mode (0/1); payload: close-on-exec bitmap of
                             * EXEC_FDS_MAX bits, then the binary's absolute path and NUL */
    EXEC_OP_EXECVE_FAILED,  /* the announced execve failed: nothing changes */
    EXEC_OP_SIGACTION,      /* signal, action (exec_signal_action), flags (SA_*), mask;
                             * reply values[0]: old action, values[1]: old flags */
    EXEC_OP_SIGMASK,        /* how (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK; -1: query), mask;
                             * reply values[0]: the old mask, values[1]: pending */
    EXEC_OP_SIGTAKE,        /* reply: the signal to act on now (0: none), values[0]: what to
                             * do (exec_signal_action), values[1]: the mask to restore;
                             * payload: its struct exec_signal_info (SA_SIGINFO) */
    EXEC_OP_SIGSUSPEND,     /* mask to wait with: waits for a signal; EINTR, values[0]: the
                             * mask to restore once the handlers ran */
    EXEC_OP_KILL,           /* simulated pid (> 0: a process of the endpoint's programs; 0:
                             * the caller's program; -1: all but the caller; -pgid: that
                             * program), signal */
    EXEC_OP_ALARM,          /* ns until SIGALRM (0: cancel), interval ns (setitimer), query
                             * only; reply values[0]: ns that were left, values[1]: interval */
    /* Threads (sim/exec/thread.c, docs/programs.md "Threads"). */
    EXEC_OP_THREAD_CREATE,  /* a thread is about to be made: its channel follows the reply
                             * as one byte carrying the descriptor (as EXEC_OP_FORK) */
    EXEC_OP_THREAD_STARTED, /* 0, or the error pthread_create met: the real thread runs (or
                             * never will); reply: its simulated id (0 when it never will) */
    EXEC_OP_THREAD_EXIT,    /* the calling thread ends (not its process) */
    EXEC_OP_THREAD_JOIN,    /* thread id, exec_futex_deadline, ns: waits until that thread
                             * of the process ended (0) or the deadline (-ETIMEDOUT) */
    EXEC_OP_FUTEX,          /* exec_futex_op, address, then per op (exec_futex_op says) */
    /* sigwait, sigwaitinfo, sigtimedwait (sim/exec/signal.c, docs/programs.md). */
    EXEC_OP_SIGWAIT,        /* set (mask), timeout ns (-1: none); reply: the signal taken
                             * from what is pending, payload: its struct exec_signal_info;
                             * -EAGAIN when the timeout passed, -EINTR */
    EXEC_OP_COUNT,
};

/* EXEC_OP_FUTEX: what a trapped futex(2) asks once the process has threads. */
enum exec_futex_op {
    /* address, bitset, exec_futex_deadline, ns: waits until woken (0), the deadline
     * (-ETIMEDOUT) or a signal (-EINTR). The shim compared the word itself. */
    EXEC_FUTEX_WAIT = 1,
    EXEC_FUTEX_WAKE,        /* address, bitset, count: the number woken */
    EXEC_FUTEX_REQUEUE,     /* address, wake count, requeue count, second address */
};
enum exec_futex_deadline {
    EXEC_FUTEX_NONE = 0, EXEC_FUTEX_RELATIVE, EXEC_FUTEX_MONOTONIC, EXEC_FUTEX_REALTIME,
};

/* What a siginfo_t says of a signal besides its number (SA_SIGINFO handlers,
 * sigwaitinfo): si_code (SI_USER, SI_KERNEL, CLD_EXITED, ...), si_pid (the sending or
 * ended process, simulated; 0: the kernel), si_status (SIGCHLD: the exit code or signal). */
struct exec_signal_info {
    int32_t code;
    uint32_t pid;
    int32_t status;
    int32_t reserved;
};

/* A signal's action as the supervisor keeps it (the handler's address stays in the shim). */
enum exec_signal_action {
    EXEC_SIGNAL_DEFAULT = 0, EXEC_SIGNAL_IGNORE, EXEC_SIGNAL_HANDLER,
    EXEC_SIGNAL_QUERY,          /* EXEC_OP_SIGACTION: only read the current action */
    EXEC_SIGNAL_TERMINATE,      /* EXEC_OP_SIGTAKE: the default action ends the process */
};
#define EXEC_SIGNALS_MAX 64     /* signals 1..64 (bit N-1 of a mask) */

/* What EXEC_OP_REFUSED reports (the shim then fails the call itself). */
enum exec_refusal {
    EXEC_REFUSED_THREAD = 1,    /* a thread made without pthread_create, or beyond a limit */
    EXEC_REFUSED_SYSCALL,       /* a trapped system call (args[1]: its number) */
    EXEC_REFUSED_FAMILY,        /* socket() of a family other than AF_VSOCK or AF_UNIX */
    /* SCM_RIGHTS on a real socket naming a simulated descriptor (args[1]: it) */
    EXEC_REFUSED_RIGHTS,
    EXEC_REFUSED_FUTEX,         /* a futex operation threads do not serve (args[1]: it) */
};

struct exec_request {
    uint32_t magic;
    uint32_t op;                        /* enum exec_op */
    uint32_t payload_bytes;             /* <= EXEC_PAYLOAD_BYTES_MAX */
    uint32_t reserved;
    int64_t args[EXEC_ARGS_MAX];
};

struct exec_reply {
    uint32_t magic;
    uint32_t payload_bytes;             /* <= EXEC_PAYLOAD_BYTES_MAX */
    int64_t result;                     /* >= 0, or a negative errno (or EXEC_ERESTART) */
    int64_t values[2];
    uint64_t signals;                   /* emulated signals deliverable now (bit N-1
                                         * for signal N); the shim takes them after the call */
};

/* A blocked call interrupted by a handled signal whose action has SA_RESTART, for a call
 * Linux restarts: the shim runs the handler, then makes the same call again. */
#define EXEC_ERESTART 512

/* One poll entry as forwarded (simulated descriptors only; the shim checks real ones). */
struct exec_poll_entry {
    int32_t fd;
    int16_t events;
    int16_t revents;
};

/* The HELLO reply's payload: the process's simulated descriptors (a new image after execve
 * learns which numbers are simulated from it). */
struct exec_hello_entry {
    int32_t fd;
    int32_t kind;                       /* EXEC_HELLO_SOCKET, _DEVICE or _PIPE */
};
#define EXEC_HELLO_SOCKET 1
#define EXEC_HELLO_DEVICE 2
#define EXEC_HELLO_PIPE 3                   /* a simulated pipe end (sim/exec/pipe.h) */

/* The address a reply carries (accept, recv, getsockname, getpeername) fills a fixed area
 * of EXEC_ADDRESS_BYTES before any data: the socket address in the Linux ABI (a struct
 * sockaddr_vm or sockaddr_in: 16 bytes; a sockaddr_in6: 28; an unnamed AF_UNIX one: 2),
 * zero-padded to EXEC_SOCKADDR_BYTES_MAX, then its length as a uint32_t. The reader takes
 * at most EXEC_SOCKADDR_BYTES_MAX whatever the length says. */
#define EXEC_SOCKADDR_BYTES_MAX 28u
#define EXEC_ADDRESS_BYTES 32u

static inline void exec_address_length_set(uint8_t *area, uint32_t length)
{
    memcpy(area + EXEC_SOCKADDR_BYTES_MAX, &length, sizeof(length));
}

static inline uint32_t exec_address_length_get(const uint8_t *area)
{
    uint32_t length;
    memcpy(&length, area + EXEC_SOCKADDR_BYTES_MAX, sizeof(length));
    return length < EXEC_SOCKADDR_BYTES_MAX ? length : EXEC_SOCKADDR_BYTES_MAX;
}

_Static_assert(sizeof(struct exec_request) == 64, "request header layout");
_Static_assert(sizeof(struct exec_reply) == 40, "reply header layout");
_Static_assert(sizeof(struct exec_poll_entry) == 8, "poll entry layout");
_Static_assert(sizeof(struct exec_signal_info) == 16, "signal info layout");

#endif /* SIM_EXEC_PROTOCOL_H */
