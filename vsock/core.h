/* SPDX-License-Identifier: MIT */
/*
 * vsock/core.h: the vSockets socket core (reference section 6), knowing nothing of
 * VMCI. Transports sit behind struct vsock_transport_ops (the seam of Linux's
 * net/vmw_vsock: af_vsock.c vs vmci_transport.c).
 *
 * Calls never block here. A call that must wait returns -EAGAIN after telling
 * the caller which wait queue to sleep on (struct vsock_call.wait); the caller
 * (the Lua binding, or the C API on a fiber) sleeps there with an optional
 * deadline and calls again. Every state change of a socket wakes its queue, so
 * a retried call re-evaluates from scratch and one wake-up means one retry.
 *
 * Errors are negative errno values (Linux names, D3). Costs the transport
 * incurs (hypercalls, copies) add up in call->cost_ns; the caller's process
 * sleeps that long before the call returns to it.
 */
#ifndef VSOCK_CORE_H
#define VSOCK_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/engine/engine.h"
#include "sim/engine/index.h"
#include "sim/engine/limits.h"
#include "sim/engine/process.h"

#define VSOCK_CID_ANY 0xFFFFFFFFu
#define VSOCK_PORT_ANY 0xFFFFFFFFu
#define VSOCK_CID_HYPERVISOR 0u
#define VSOCK_CID_LOCAL 1u
#define VSOCK_CID_HOST 2u
#define VSOCK_LAST_RESERVED_PORT 1023u          /* R12 */
#define VSOCK_MAX_PORT_RETRIES 24u              /* R14 */
/* R105: somaxconn, the default of the world's `backlog` limit (SIM_BACKLOG_MAX_DEFAULT),
 * which clamps a listen() backlog. */
#define VSOCK_BACKLOG_MAX 4096u
_Static_assert(VSOCK_BACKLOG_MAX == SIM_BACKLOG_MAX_DEFAULT, "the backlog limit's default");
#define VSOCK_BUFFER_MIN_DEFAULT 128u           /* R101 */
#define VSOCK_BUFFER_MAX_DEFAULT 262144u
#define VSOCK_BUFFER_SIZE_VMWARE 65536u         /* R211: product flavour */
#define VSOCK_BUFFER_SIZE_LINUX 262144u
#define VSOCK_CONNECT_TIMEOUT_NS_DEFAULT 2000000000ull    /* R114 */
#define VSOCK_HALF_OPEN_TIMEOUT_NS 1000000000ull          /* R110 */
#define VSOCK_TICK_NS 1000000ull                /* R140: HZ = 1000 */
#define VSOCK_DGRAM_RCVBUF_DEFAULT 212992u      /* R189 */
#define VSOCK_USER_BYTES_MAX 64u

enum vsock_type { VSOCK_TYPE_STREAM = 1, VSOCK_TYPE_DGRAM = 2 };

enum vsock_socket_state {               /* sock_state */
    VSOCK_SS_UNCONNECTED = 1,
    VSOCK_SS_CONNECTING,
    VSOCK_SS_CONNECTED,
    VSOCK_SS_DISCONNECTING,
};

enum vsock_tcp_state {                  /* sk_state, Linux numbering */
    VSOCK_TCP_ESTABLISHED = 1,
    VSOCK_TCP_SYN_SENT = 2,
    VSOCK_TCP_CLOSE = 7,
    VSOCK_TCP_LISTEN = 10,
    VSOCK_TCP_CLOSING = 11,
};

#define VSOCK_RCV_SHUTDOWN 1u
#define VSOCK_SEND_SHUTDOWN 2u
#define VSOCK_SHUTDOWN_MASK 3u

/* poll bits (the Linux values). */
#define VSOCK_POLLIN 0x001u
#define VSOCK_POLLOUT 0x004u
#define VSOCK_POLLERR 0x008u
#define VSOCK_POLLHUP 0x010u
#define VSOCK_POLLRDNORM 0x040u
#define VSOCK_POLLWRNORM 0x100u
#define VSOCK_POLLWRBAND 0x200u
#define VSOCK_POLLRDHUP 0x2000u

/* recv/send flags. */
#define VSOCK_MSG_OOB 0x1u
#define VSOCK_MSG_PEEK 0x2u
#define VSOCK_MSG_TRUNC 0x20u
#define VSOCK_MSG_DONTWAIT 0x40u
#define VSOCK_MSG_WAITALL 0x100u
#define VSOCK_MSG_ERRQUEUE 0x2000u

struct vsock_addr {
    uint32_t cid;
    uint32_t port;
};

/* Who created a socket (R101: trusted, owner). */
struct vsock_credentials {
    bool trusted;               /* trusted toward every peer (D1) */
    bool owner_rule;            /* trusted toward VMs owned by `user` (R50, D10) */
    bool net_bind_service;      /* may bind ports <= 1023 (R12) */
    uint32_t pid;               /* for traces (before `user`: every operation reads it) */
    char user[VSOCK_USER_BYTES_MAX];
};

struct vsock_stack;
struct vsock_sock;

/* A call's side results: the cost to charge and, with -EAGAIN, where to wait. */
struct vsock_call {
    uint64_t cost_ns;
    struct sim_waitq *wait;     /* set with -EAGAIN: sleep here, then call again */
    /* In: SIM_TIME_NEVER, or the deadline an earlier wait of the same call returned (the
     * caller carries it over, so a timeout bounds the whole call). Out, with wait: when
     * the wait should end. */
    uint64_t deadline_ns;
};

/* Where the bytes of a stream recv that copies nothing lie (vsock_recv_in_place): one
 * piece, or two when they wrap around the end of the transport's ring. */
struct vsock_bytes {
    const uint8_t *first;
    uint64_t first_bytes;
    const uint8_t *second;      /* NULL when second_bytes is 0 */
    uint64_t second_bytes;
};

/* The transport operations table: the core calls transports only through it. A
 * transport reports asynchronous progress (handshake, data, peer gone) by changing
 * socket fields through the vsock_sock_* helpers below and waking the socket. */
struct vsock_transport_ops {
    const char *name;
    /* Bytes of per-socket state (at most VSOCK_TRANSPORT_STATE_BYTES_MAX) that the core
     * allocates with every socket of this transport, zeroed, after the socket in the same
     * allocation; sock->transport points at it before init runs. 0: none. */
    size_t state_bytes;
    /* Life cycle. init runs for every new socket (parent: the listener of a child). */
    int (*init)(struct vsock_sock *sock, struct vsock_sock *parent);
    void (*release)(struct vsock_sock *sock, struct vsock_call *call);   /* close() */
    void (*destruct)(struct vsock_sock *sock);                           /* free memory */
    /* Addresses. */
    int (*bind)(struct vsock_sock *sock, struct vsock_addr *addr);  /* dgram: handle creation */
    bool (*allow_cid)(const struct vsock_sock *sock, uint32_t cid); /* R153 and friends */
    /* May be NULL. True when the transport's fault site makes an implicit bind find no
     * free ephemeral port (docs/faults.md, port_space_exhausted). */
    bool (*fault_ports_exhausted)(const struct vsock_sock *sock);
    /* May be NULL. Fault sites of the core's paths (docs/faults.md), each reached only
     * where the rules allow what it does: true when a non-blocking send is to stop after
     * half its bytes, as when the produce queue fills (send_short, R117); true when a recv
     * is to take half of the ready bytes (recv_short, R121); the extra time an accept()
     * takes to hand out a connection, 0 when none (accept_slow). */
    bool (*fault_send_short)(const struct vsock_sock *sock);
    bool (*fault_recv_short)(const struct vsock_sock *sock);
    uint64_t (*fault_accept_delay_ns)(const struct vsock_sock *listener);
    /* Stream. */
    int (*connect)(struct vsock_sock *sock, struct vsock_call *call);
    int64_t (*stream_enqueue)(struct vsock_sock *sock, const void *source, uint64_t size_bytes,
                              struct vsock_call *call);
    /* Copies into `target`; with `in_place` (a vsock_recv_in_place) fills *in_place with
     * where the bytes lie in the ring too, or instead when `target` is NULL. */
    int64_t (*stream_dequeue)(struct vsock_sock *sock, void *target, uint64_t size_bytes,
                              bool peek, struct vsock_bytes *in_place, struct vsock_call *call);
    int64_t (*stream_has_data)(const struct vsock_sock *sock);
    int64_t (*stream_has_space)(const struct vsock_sock *sock);
    uint64_t (*stream_rcvhiwat)(const struct vsock_sock *sock);
    bool (*stream_is_active)(const struct vsock_sock *sock);
    /* May be NULL. Starts loading, without waiting, what the transport's next send or recv
     * of this socket reads (vsock__prefetch); changes nothing but the time it takes. */
    void (*prefetch)(const struct vsock_sock *sock);
    /* May be NULL. Adds the spans of memory the transport's next send or recv of this
     * socket reads (vsock_prefetch_spans); reads them, writes only `spans`. */
    void (*prefetch_spans)(const struct vsock_sock *sock, struct sim_prefetch_spans *spans);
    int (*shutdown)(struct vsock_sock *sock, uint32_t mode, struct vsock_call *call);
    /* Notification hooks (R176-R183); may be NULL. recv_init runs at the start of every
     * stream recv with its target (it may run again when the recv resumes after a wait,
     * so it must be idempotent within one recv). */
    void (*notify_recv_init)(struct vsock_sock *sock, uint64_t target);
    void (*notify_recv_pre_block)(struct vsock_sock *sock, uint64_t target,
                                  struct vsock_call *call);
    void (*notify_recv_post_dequeue)(struct vsock_sock *sock, uint64_t copied, bool peek,
                                     struct vsock_call *call);
    void (*notify_send_post_enqueue)(struct vsock_sock *sock, uint64_t written,
                                     struct vsock_call *call);
    void (*notify_send_pre_block)(struct vsock_sock *sock, struct vsock_call *call);
    void (*notify_poll_in)(struct vsock_sock *sock);
    /* Datagram. */
    int64_t (*dgram_enqueue)(struct vsock_sock *sock, const struct vsock_addr *to,
                             const void *source, uint64_t size_bytes, struct vsock_call *call);
    int64_t (*dgram_dequeue)(struct vsock_sock *sock, void *target, uint64_t size_bytes,
                             uint32_t flags, struct vsock_addr *from, bool *truncated);
    bool (*dgram_has_data)(const struct vsock_sock *sock);
    /* The kernel's local CID (changes on CTX_ID_UPDATE, R210). */
    uint32_t (*local_cid)(const struct vsock_stack *stack);
};

/* A socket and its transport's per-socket state (ops->state_bytes) are one allocation,
 * the state after the socket (sock->transport). The fields are ordered by use, because in
 * a fleet every operation finds its socket out of every cache (issue 10): the wait queue
 * comes first, its name (read only by deadlock reports) before its list (every wait and
 * wake-up), and the fields that every send, recv and incoming control packet read follow
 * the list: two lines' worth of bytes in all (VSOCK_SOCK_HOT_BYTES, checked below), a
 * connection lookup's in the first. The allocation is a plain calloc (aligning it made the
 * fleet slower, sock_alloc), so those bytes lie on two or three lines. What comes after
 * them is read at set-up, by options, by listen/accept, by walks of the stack, or when a
 * send waits. */
#define VSOCK_CACHE_LINE_BYTES 64u
#define VSOCK_SOCK_HOT_BYTES (2u * VSOCK_CACHE_LINE_BYTES)
/* The largest per-socket transport state the core allocates (ops->state_bytes). */
#define VSOCK_TRANSPORT_STATE_BYTES_MAX 1024u
/* Where the transport's state starts in a socket's allocation: the socket's size rounded up
 * to a multiple of a line. */
#define VSOCK_SOCK_STATE_OFFSET_BYTES                                                      \
    ((sizeof(struct vsock_sock) + VSOCK_CACHE_LINE_BYTES - 1) / VSOCK_CACHE_LINE_BYTES *   \
     VSOCK_CACHE_LINE_BYTES)

struct vsock_sock {
    struct sim_waitq waitq;                 /* woken on every state change */
    /* Hot bytes 0-63: what every call checks first and all a connection lookup compares. */
    enum vsock_type type;
    enum vsock_socket_state state;          /* sock_state */
    enum vsock_tcp_state tcp;               /* sk_state */
    int error;                              /* sk_err, a positive errno or 0 */
    uint8_t shutdown;                       /* sk_shutdown: VSOCK_*_SHUTDOWN bits */
    uint8_t peer_shutdown;
    bool done;                              /* the connection ended (peer gone / reset) */
    bool nonblocking;
    struct vsock_addr local;
    struct vsock_addr remote;
    uint32_t id;                            /* per stack, creation order (traces) */
    /* Hot bytes 64-127: the lookup's node, the ways out, what traces and waits read. */
    /* The stack's indexes (vsock_sock_reindex): by connection (stream sockets with a
     * remote address) and by bound port (sockets other than children, with a port). */
    struct sim_index_node by_connection;
    struct vsock_stack *stack;              /* borrowed */
    const struct vsock_transport_ops *ops;
    void *transport;                        /* the transport's state, in this allocation */
    uint64_t rcvtimeo_ns;                   /* 0: none */
    struct vsock_credentials credentials;   /* its trust and pid end the line: traces */
    /* Colder: set-up, options, listen/accept, the stack's list. */
    uint64_t rcvlowat;
    uint64_t sndtimeo_ns;
    bool closed;                            /* close() was called: no user reference */
    bool child;                             /* made by a listener: never in the bound table */
    bool bound_any;                         /* bound to CID ANY (R207: keeps matching) */
    bool in_connections;
    bool in_ports;
    uint64_t buffer_size;
    uint64_t buffer_min_size;
    uint64_t buffer_max_size;
    uint64_t connect_timeout_ns;
    uint64_t rcvbuf;
    /* Listener and children. */
    struct vsock_sock *listener;            /* a child's listener (borrowed) */
    struct vsock_sock *pending_head;        /* half-open children (R165) */
    struct vsock_sock *accept_head;         /* established, not yet accepted (R108) */
    struct vsock_sock *accept_tail;
    struct vsock_sock *queue_next;          /* link in the listener's pending/accept list */
    struct vsock_sock *queue_prev;          /* the pending list's back link (O(1) removal) */
    uint32_t pending_count;
    uint32_t accept_count;
    uint32_t backlog_max;
    sim_event_id connect_timer;             /* R113 */
    sim_event_id expiry_timer;              /* R110 */
    struct vsock_sock *stack_next;          /* links in the stack's socket list */
    struct vsock_sock *stack_prev;
    struct sim_index_node by_port;
};

#define VSOCK_SOCK_HOT_START_BYTES offsetof(struct vsock_sock, waitq.head)
_Static_assert(VSOCK_SOCK_HOT_START_BYTES % VSOCK_CACHE_LINE_BYTES == 0,
               "the wait queue's list starts a line's worth of bytes");
_Static_assert(offsetof(struct vsock_sock, id) + sizeof(uint32_t) <=
                   VSOCK_SOCK_HOT_START_BYTES + VSOCK_CACHE_LINE_BYTES,
               "what a connection lookup compares is on the first hot line");
_Static_assert(offsetof(struct vsock_sock, credentials.pid) + sizeof(uint32_t) <=
                   VSOCK_SOCK_HOT_START_BYTES + VSOCK_SOCK_HOT_BYTES,
               "the fields every operation reads are in the hot lines");

struct vsock_stack {
    struct sim_engine *engine;              /* borrowed */
    const struct vsock_transport_ops *stream_ops;
    const struct vsock_transport_ops *dgram_ops;
    void *transport;                        /* the transport's per-kernel state (borrowed) */
    bool is_host;
    uint32_t next_port;                     /* R14, D13: 0 until first use */
    uint32_t socket_id_next;
    struct vsock_sock *sockets_head;        /* live sockets, creation order */
    struct vsock_sock *sockets_tail;
    uint32_t socket_count;
    /* The same sockets indexed by value, in creation order within a key, so that a lookup
     * finds the socket a walk of the list would have found first (vsock_find_*). */
    struct sim_index connections;           /* (remote CID, remote port, local port) */
    struct sim_index ports;                 /* (type, local port) */
    uint32_t *world_socket_count;           /* shared by every stack of the world */
    uint32_t sockets_max;                   /* the world's sockets limit */
    uint64_t buffer_size_default;           /* R211 flavour */
    struct sim_waitq *poll_waitq;           /* borrowed, may be NULL: woken on any change */
};

/* Adds the spans of memory the next send or recv of `sock` reads (its hot lines, its
 * transport's state and what lies beyond), for a process that blocks in such a call to
 * name to the engine (sim_process.prefetch_spans). Changes nothing but `spans`. */
void vsock_prefetch_spans(const struct vsock_sock *sock, struct sim_prefetch_spans *spans);

/* Stack. Ownership: the caller owns the stack; vsock_stack_destroy frees its sockets. */
void vsock_stack_init(struct vsock_stack *stack, struct sim_engine *engine,
                      const struct vsock_transport_ops *stream_ops,
                      const struct vsock_transport_ops *dgram_ops, void *transport,
                      bool is_host, uint32_t *world_socket_count, uint32_t sockets_max);
void vsock_stack_destroy(struct vsock_stack *stack);
uint32_t vsock_stack_local_cid(const struct vsock_stack *stack);

/* The socket API (section 6). Each returns 0 / a count, or a negative errno. */
int vsock_socket(struct vsock_stack *stack, int type, int protocol,
                 const struct vsock_credentials *credentials, struct vsock_sock **out);
int vsock_bind(struct vsock_sock *sock, const struct vsock_addr *addr);
int vsock_listen(struct vsock_sock *sock, int backlog);
int vsock_accept(struct vsock_sock *sock, struct vsock_sock **child, struct vsock_call *call);
int vsock_connect(struct vsock_sock *sock, const struct vsock_addr *addr, bool retry,
                  struct vsock_call *call);
int64_t vsock_send(struct vsock_sock *sock, const void *source, uint64_t size_bytes,
                   uint32_t flags, const struct vsock_addr *to, uint64_t *progress_bytes,
                   struct vsock_call *call);
int64_t vsock_recv(struct vsock_sock *sock, void *target, uint64_t size_bytes, uint32_t flags,
                   struct vsock_addr *from, bool *truncated, uint64_t *progress_bytes,
                   struct vsock_call *call);
/* A stream recv whose bytes the caller copies itself, straight from where they lie (the
 * transport's ring) into what it returns (a Lua string), instead of from a buffer
 * vsock_recv filled: the same checks, waits, events, notifications and result, and
 * *in_place says where the bytes are (valid until the caller next lets anything run on
 * the socket: it copies them at once). Only for a recv that ends after one dequeue,
 * which vsock_recv_in_place_fits() tells (a MSG_WAITALL or SO_RCVLOWAT recv may gather
 * several, which must wait in a buffer); *progress_bytes stays 0 until it returns. */
bool vsock_recv_in_place_fits(const struct vsock_sock *sock, uint64_t size_bytes,
                              uint32_t flags, uint64_t progress_bytes);
int64_t vsock_recv_in_place(struct vsock_sock *sock, uint64_t size_bytes, uint32_t flags,
                            struct vsock_bytes *in_place, uint64_t *progress_bytes,
                            struct vsock_call *call);
/* vsock_recv_in_place that also copies the bytes to `target` (size_bytes of room), in the
 * pass that hashes them for the stream_bytes tally: for a caller that wants them in memory
 * of its own but still needs to know whether they wrapped around the ring's end. */
int64_t vsock_recv_in_place_copy(struct vsock_sock *sock, void *target, uint64_t size_bytes,
                                 uint32_t flags, struct vsock_bytes *in_place,
                                 uint64_t *progress_bytes, struct vsock_call *call);
int vsock_shutdown(struct vsock_sock *sock, int how, struct vsock_call *call);
/* R192: a datagram socket's connect() with AF_UNSPEC: no default destination any more.
 * Returns 0, or -EINVAL for a stream socket. */
int vsock_dgram_disconnect(struct vsock_sock *sock);
void vsock_close(struct vsock_sock *sock, struct vsock_call *call);
int vsock_getsockname(const struct vsock_sock *sock, struct vsock_addr *addr);
int vsock_getpeername(const struct vsock_sock *sock, struct vsock_addr *addr);
uint32_t vsock_poll(struct vsock_sock *sock);

/* For transports: a state change that readers, writers or pollers must see. */
void vsock_sock_wake(struct vsock_sock *sock);
/* Child sockets of a listener (R162-R166). vsock_child_create: 0, -ECONNREFUSED (the
 * backlog is full), -ENFILE (the world's sockets_max, already named by a limit_reached
 * event), -ENOMEM, or the transport's init errno. */
int vsock_child_create(struct vsock_sock *listener, const struct vsock_addr *local,
                       const struct vsock_addr *remote, struct vsock_sock **out);
void vsock_child_established(struct vsock_sock *child);
void vsock_child_drop(struct vsock_sock *child);
/* Lookup for incoming packets (R149). */
/* Brings the socket's entries in the stack's indexes up to date after its local port, its
 * remote address or its child flag changed (every such change calls it). */
void vsock_sock_reindex(struct vsock_sock *sock);
struct vsock_sock *vsock_find_connected(struct vsock_stack *stack, const struct vsock_addr *local,
                                        const struct vsock_addr *remote);
struct vsock_sock *vsock_find_bound(struct vsock_stack *stack, enum vsock_type type,
                                    const struct vsock_addr *local);
/* Connection failures seen by the transport: sets sk_err, closes the handshake state. */
void vsock_connect_failed(struct vsock_sock *sock, int error);
void vsock_connect_established(struct vsock_sock *sock);

const char *vsock_errno_name(int error);

#endif /* VSOCK_CORE_H */
