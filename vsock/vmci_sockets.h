/* SPDX-License-Identifier: MIT */
/*
 * vsock/vmci_sockets.h: the vSockets Programming Guide's C API over the socket
 * core, for C code that runs on simulated processes (C fibers, sim/engine/fiber.h).
 *
 * The names of the Guide's header (VMCISock_GetAFValue, VMCISock_GetLocalCID,
 * struct sockaddr_vm, VMADDR_*, SO_VMCI_*) keep their spelling; the socket calls
 * carry a vs_ prefix (vs_socket, vs_bind, ...) so that they never collide with
 * libc, and take the calling process's context first: a struct vs_context says
 * which kernel's vSockets stack the process runs in, with which credentials, and
 * holds its descriptor table. Descriptors are small integers (VS_FD_FIRST ...).
 *
 * Results: like libc, each call returns -1 and sets errno on failure (Linux errno
 * names, decisions D3 and D11: no signals, so never EINTR and never SIGPIPE). This
 * file and vmci_sockets.c are the only place in vsock/ that sets errno (style.md).
 *
 * Blocking: the core never blocks; it answers "not yet, sleep on this wait queue
 * until this deadline" (vsock/core.h). When the caller runs on a fiber, a blocking
 * call sleeps there (sim_fiber_wait) and calls the core again, so one wake-up is one
 * retry; timeouts (SO_RCVTIMEO, SO_SNDTIMEO) end the wait as R107/R117/R121 say. The
 * costs the call incurred (hypercalls, copies) are slept before it starts waiting and
 * before it returns, so the call returns that much simulated time later
 * (architecture.md, "The engine"); after a cost sleep the core is asked again, exactly
 * as sim/lua/socket.c does for Lua processes. Each call is one api-layer trace event
 * (sock_connect, sock_send, ...: the Lua binding's kinds and fields). A
 * call made with no fiber running (plain test code) never waits: what would block
 * fails with EAGAIN, or returns the bytes already moved (send/recv); a blocking
 * connect() that failed with EAGAIN has sent its request, and the next vs_connect()
 * on that descriptor reports the handshake's outcome once the engine has run.
 * Costs of plain calls are counted (vs_context.cost_ns_charged) but not slept.
 *
 * A process killed while it waits (sim_process_kill) sees its call fail with
 * ECANCELED (or return the bytes already moved); its code should then return.
 *
 * Do not include this header together with <linux/vm_sockets.h>: both define
 * struct sockaddr_vm.
 */
#ifndef VSOCK_VMCI_SOCKETS_H
#define VSOCK_VMCI_SOCKETS_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "core.h"
#include "sim/engine/engine.h"
#include "sim/engine/process.h"

/* ---- The Guide's names ---------------------------------------------------------------- */

#define VMCI_SOCKETS_AF_VALUE 40        /* R2: AF_VSOCK on every profile */
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef PF_VSOCK
#define PF_VSOCK AF_VSOCK
#endif

/* Well-known CIDs and ports (reference 2.2, 2.3). */
#define VMADDR_CID_ANY ((uint32_t)-1)
#define VMADDR_PORT_ANY ((uint32_t)-1)
#define VMADDR_CID_HYPERVISOR 0u
#define VMADDR_CID_LOCAL 1u
#define VMADDR_CID_RESERVED VMADDR_CID_LOCAL   /* the older name */
#define VMADDR_CID_HOST 2u
#define VMADDR_FLAG_TO_HOST 0x01u               /* R1, R5: the only defined svm_flags bit */

/* Socket options at level AF_VSOCK (the value VMCISock_GetAFValue() returns), 6.9.
 * The Guide's names and Linux's map to the same numbers (R214). */
#define SO_VMCI_BUFFER_SIZE 0
#define SO_VMCI_BUFFER_MIN_SIZE 1
#define SO_VMCI_BUFFER_MAX_SIZE 2
#define SO_VM_SOCKETS_BUFFER_SIZE SO_VMCI_BUFFER_SIZE
#define SO_VM_SOCKETS_BUFFER_MIN_SIZE SO_VMCI_BUFFER_MIN_SIZE
#define SO_VM_SOCKETS_BUFFER_MAX_SIZE SO_VMCI_BUFFER_MAX_SIZE
#define SO_VM_SOCKETS_PEER_HOST_VM_ID 3
#define SO_VM_SOCKETS_TRUSTED 5
#define SO_VM_SOCKETS_CONNECT_TIMEOUT 6         /* struct timeval */
#define SO_VM_SOCKETS_NONBLOCK_TXRX 7           /* kernel only: ENOPROTOOPT (R143) */
#define SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW 8     /* struct vs_timeval64 */

/* poll bit Linux has and glibc shows only with _GNU_SOURCE (R131). */
#ifndef POLLRDHUP
#define POLLRDHUP 0x2000
#endif

/* R1: 16 bytes, the size of struct sockaddr. svm_zero[0] is Linux's svm_flags (R5);
 * svm_reserved1 and svm_zero[1..3] are ignored on input and 0 on output (R6). */
struct sockaddr_vm {
    uint16_t svm_family;        /* AF_VSOCK */
    uint16_t svm_reserved1;
    uint32_t svm_port;
    uint32_t svm_cid;
    uint8_t svm_zero[4];
};

_Static_assert(sizeof(struct sockaddr_vm) == 16, "R1: sockaddr_vm is 16 bytes");
_Static_assert(sizeof(struct sockaddr_vm) == sizeof(struct sockaddr), "R1: as struct sockaddr");
_Static_assert(offsetof(struct sockaddr_vm, svm_family) == 0, "R1: svm_family at 0");
_Static_assert(offsetof(struct sockaddr_vm, svm_reserved1) == 2, "R1: svm_reserved1 at 2");
_Static_assert(offsetof(struct sockaddr_vm, svm_port) == 4, "R1: svm_port at 4");
_Static_assert(offsetof(struct sockaddr_vm, svm_cid) == 8, "R1: svm_cid at 8");
_Static_assert(offsetof(struct sockaddr_vm, svm_zero) == 12, "R1: svm_zero at 12");

/* SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW's value: a 64-bit timeval on every ABI. */
struct vs_timeval64 {
    int64_t tv_sec;
    int64_t tv_usec;
};

/* R2: 40 on every profile. */
int VMCISock_GetAFValue(void);
/* The Guide's variant that keeps a descriptor open on some products; here it returns 40
 * and stores -1 in *out_fd (nothing to keep open). VMCISock_ReleaseAFValueFd(-1) is a no-op. */
int VMCISock_GetAFValueFd(int *out_fd);
void VMCISock_ReleaseAFValueFd(int fd);
/* R2: the context ID of the calling process's kernel: 2 on the host, the VM's CID in a
 * guest. The caller is the fiber started by vs_spawn() that is running now; with no
 * such fiber (plain code) the result is VMADDR_CID_ANY. vs_local_cid() takes the
 * context explicitly. */
uint32_t VMCISock_GetLocalCID(void);

/* ---- Process contexts ------------------------------------------------------------------ */

#define VS_FD_FIRST 3                   /* 0-2 are stdin, stdout, stderr in a real process */
#define VS_FDS_MAX 256u                 /* open descriptors per context (EMFILE beyond) */
/* Calls of one context waiting at once: one per process sharing it (a program's threads,
 * bounded by sim/exec's thread limit); the list walk asserts this bound. */
#define VS_CONTEXT_WAITERS_MAX 1024u
#define VS_CALL_WAKEUPS_MAX (1ull << 32) /* wake-ups of one call: bounds the retry loop */

struct vs_context;
typedef void (*vs_body_fn)(struct vs_context *context, void *arg);

/* One descriptor: the socket and what the API keeps between calls. */
struct vs_fd {
    struct vsock_sock *sock;            /* owned: closed by vs_close / vs_context_destroy */
    uint64_t generation;                /* changes when the slot is reused (stale waits) */
    bool connect_pending;               /* a plain-code connect() returned EAGAIN */
};

/* A call waiting in simulated time (vs_context.waiting_head). */
struct vs_wait_mark {
    const struct sim_process *process;
    bool interrupted;
    struct vs_wait_mark *next;
};

/* A simulated process as the C API sees it. Ownership: the caller allocates it and
 * calls vs_context_init / vs_context_destroy (before the stack is destroyed). */
struct vs_context {
    struct sim_engine *engine;          /* borrowed */
    struct vsock_stack *stack;          /* borrowed; NULL: the kernel has no vSockets (R26) */
    struct vsock_credentials credentials;
    struct vs_fd fds[VS_FDS_MAX];
    uint32_t fd_count;
    uint64_t fd_generation_next;
    uint64_t cost_ns_charged;           /* sum of the costs of this context's calls */
    /* The fiber started by vs_spawn (one per context), for VMCISock_GetLocalCID. */
    struct sim_process *process;        /* borrowed; valid while process_live */
    uint32_t process_pid;
    bool process_live;
    vs_body_fn body;
    void *body_arg;
    /* Emulated signals (sim/exec, docs/programs.md "Signals"; D11 keeps Lua and C processes
     * without): each call of this context that waits in simulated time keeps a mark on this
     * list, on its own stack, for the time of the wait: one per waiting process, so threads
     * sharing the context are told apart. vs_context_interrupt sets one process's mark; its
     * call then fails with EINTR (or returns the bytes already moved). */
    struct vs_wait_mark *waiting_head;
    /* Registry of live contexts (VMCISock_GetLocalCID takes no argument). */
    struct vs_context *registry_next;
    struct vs_context *registry_prev;
};

/* Makes an empty context for a process of the kernel whose stack is `stack` (NULL for a
 * kernel without vSockets: every vs_socket fails with EAFNOSUPPORT). */
void vs_context_init(struct vs_context *context, struct sim_engine *engine,
                     struct vsock_stack *stack, const struct vsock_credentials *credentials);
/* Closes every descriptor still open (as a process exit does) and unregisters. */
void vs_context_destroy(struct vs_context *context);
/* Marks the call in which `process` waits on this context (if it waits in one) as
 * interrupted by an emulated signal; the caller then wakes the process, and that call alone
 * fails with EINTR. Returns whether `process` waits in a call of this context. */
bool vs_context_interrupt(struct vs_context *context, const struct sim_process *process);
/* Spawns the context's process: a fiber running body(context, arg), first resumed at
 * the current time; the fiber's pid goes into the context's credentials (traces).
 * Returns 0, or -1 with errno EBUSY (the context has a live process), ENOMEM, ENOBUFS
 * (an engine limit; sim_engine_error_message names it), EINVAL. */
int vs_spawn(struct vs_context *context, const char *name, vs_body_fn body, void *arg,
             bool daemon);
/* vs_spawn with a fiber stack of stack_bytes (0: the engine's default; less than
 * SIM_FIBER_STACK_BYTES_MIN fails with EINVAL): a body known to need little stack can ask
 * for less (the fuzz targets: a smaller stack is cheaper to create and to switch to under
 * AddressSanitizer). */
int vs_spawn_stack(struct vs_context *context, const char *name, vs_body_fn body, void *arg,
                   bool daemon, uint32_t stack_bytes);
/* R2 with the context given. */
uint32_t vs_local_cid(const struct vs_context *context);
/* The socket behind a descriptor, or NULL: for tests and tools that look at core state. */
struct vsock_sock *vs_socket_of(const struct vs_context *context, int fd);

/* ---- Socket calls (reference section 6); -1 and errno on failure ----------------------- */

/* domain must be AF_VSOCK (else EAFNOSUPPORT); type SOCK_STREAM or SOCK_DGRAM, optionally
 * | SOCK_NONBLOCK (| SOCK_CLOEXEC is accepted and ignored); protocol 0 or PF_VSOCK (R99,
 * R100). EMFILE when VS_FDS_MAX descriptors are open. */
int vs_socket(struct vs_context *context, int domain, int type, int protocol);
int vs_bind(struct vs_context *context, int fd, const struct sockaddr *addr, socklen_t addrlen);
int vs_listen(struct vs_context *context, int fd, int backlog);
int vs_accept(struct vs_context *context, int fd, struct sockaddr *addr, socklen_t *addrlen);
int vs_connect(struct vs_context *context, int fd, const struct sockaddr *addr,
               socklen_t addrlen);
/* flags: MSG_OOB, MSG_DONTWAIT, MSG_NOSIGNAL (no effect, D11); recv also MSG_PEEK,
 * MSG_WAITALL, MSG_ERRQUEUE. Other bits are ignored. */
ssize_t vs_send(struct vs_context *context, int fd, const void *buf, size_t len, int flags);
ssize_t vs_recv(struct vs_context *context, int fd, void *buf, size_t len, int flags);
ssize_t vs_sendto(struct vs_context *context, int fd, const void *buf, size_t len, int flags,
                  const struct sockaddr *to, socklen_t tolen);
ssize_t vs_recvfrom(struct vs_context *context, int fd, void *buf, size_t len, int flags,
                    struct sockaddr *from, socklen_t *fromlen);
ssize_t vs_write(struct vs_context *context, int fd, const void *buf, size_t len);
ssize_t vs_read(struct vs_context *context, int fd, void *buf, size_t len);
int vs_shutdown(struct vs_context *context, int fd, int how);
int vs_close(struct vs_context *context, int fd);
int vs_getsockname(struct vs_context *context, int fd, struct sockaddr *addr,
                   socklen_t *addrlen);
int vs_getpeername(struct vs_context *context, int fd, struct sockaddr *addr,
                   socklen_t *addrlen);
/* poll(2) over vsock_poll. timeout_ms < 0 waits without bound, 0 never waits. Entries
 * with fd < 0 are skipped; an fd that is not open reports POLLNVAL. A wait on more than
 * one socket sleeps on the stack's poll_waitq (the world fixture sets it; without one
 * it fails with EINVAL). */
int vs_poll(struct vs_context *context, struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* Levels AF_VSOCK (options above; u64 values, timevals for the connect timeout) and
 * SOL_SOCKET (SO_RCVLOWAT, SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVBUF, SO_ERROR (get), SO_TYPE
 * (get); SO_SNDBUF, SO_KEEPALIVE, SO_LINGER, SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST,
 * SO_OOBINLINE, SO_PRIORITY are accepted and ignored, R146). */
int vs_setsockopt(struct vs_context *context, int fd, int level, int optname,
                  const void *optval, socklen_t optlen);
int vs_getsockopt(struct vs_context *context, int fd, int level, int optname, void *optval,
                  socklen_t *optlen);
/* F_GETFL and F_SETFL with O_NONBLOCK. */
int vs_fcntl(struct vs_context *context, int fd, int cmd, int arg);

#endif /* VSOCK_VMCI_SOCKETS_H */
