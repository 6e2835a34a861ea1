/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/pipe.h: in-world byte objects of programs (docs/programs.md, "Pipes, local
 * socket pairs and the TCP control channel"): pipes, AF_UNIX socket pairs and the TCP
 * control channel's sockets. None of them reaches the kernel: their bytes live in
 * bounded buffers of the world, and a reader that waits is woken in simulated time by
 * the writer's call.
 *
 * Objects:
 *   - an exec_io is one open description (what a descriptor, or several dup'ed or
 *     inherited ones, refer to). It is reference counted by its holders: the program
 *     descriptions (sim/exec/fdmap.h) that name it. A fork shares it by calling
 *     exec_io_hold once per copied description; the last exec_io_release closes it.
 *   - an exec_link joins two ends: bytes[s] is written by end s and read by end 1 - s.
 *     A pipe is a link whose end 0 only reads and end 1 only writes. A link lives as
 *     long as one of its ends does.
 *   - the exec_net is the world's registry: object count (bound), the shared poll
 *     queue, the TCP control channel's sockets and ports (inet.h).
 *
 * Invariants (exec_net_check):
 *   PI1  a link's end[s], when set, is an io whose link is this one and side is s.
 *   PI2  a buffer's visible + in-flight bytes == its length <= its capacity.
 *   PI3  net->io_count, the ios alive (held, or queued on a listener), is at most
 *        EXEC_IO_OBJECTS_MAX; a bound socket is on the net's list exactly once.
 *
 * Errors are negative errno values, as the call that meets them returns them.
 */
#ifndef SIM_EXEC_PIPE_H
#define SIM_EXEC_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "sim/engine/engine.h"
#include "sim/engine/process.h"

/* A pipe's capacity, as Linux's default (then a writer waits, or EAGAIN). */
#define EXEC_PIPE_BYTES_MAX 65536u
/* Bytes one direction of an AF_UNIX socket pair holds. */
#define EXEC_SOCKETPAIR_BYTES_MAX 65536u
/* Bytes one direction of a TCP control channel connection holds. */
#define EXEC_INET_BYTES_MAX 262144u
/* Writes in flight (not yet visible after the channel's latency) per direction. */
#define EXEC_INET_CHUNKS_MAX 256u
/* Pipes, socket pair ends and control channel sockets alive in one world (ENFILE). */
#define EXEC_IO_OBJECTS_MAX 4096u
/* POSIX's PIPE_BUF: a pipe write up to this size is atomic; POLLOUT needs this much room. */
#define EXEC_PIPE_ATOMIC_BYTES 4096u

enum exec_io_kind {
    EXEC_IO_PIPE_READ = 1,
    EXEC_IO_PIPE_WRITE,
    EXEC_IO_UNIX_STREAM,
    EXEC_IO_UNIX_DGRAM,
    EXEC_IO_INET_STREAM,
    EXEC_IO_INET_DGRAM,                 /* its link has end 0 only: its receive queue */
};

enum exec_inet_state {
    EXEC_INET_NEW = 0,
    EXEC_INET_BOUND,
    EXEC_INET_LISTENING,
    EXEC_INET_CONNECTED,
};

/* A bounded byte ring; with latency, written bytes become visible at their chunk's time. */
struct exec_bytes {
    uint8_t *data;                      /* owned, `capacity` bytes */
    uint32_t capacity;
    uint32_t head;                      /* first byte */
    uint32_t length;                    /* bytes held, visible or not */
    uint32_t visible;                   /* readable now (the first `visible` of them) */
    bool messages;                      /* datagrams: each one a u32 length, then bytes */
    bool writer_closed;                 /* no more bytes will come: end of file after these */
    bool reader_closed;                 /* nobody reads: a write is EPIPE */
    bool reset;                         /* the writer vanished unaccepted: ECONNRESET */
    struct exec_chunk {
        uint32_t bytes;
        uint64_t visible_ns;
    } *chunks;                          /* owned when the link has latency; a FIFO */
    uint32_t chunk_head, chunk_count;
};

struct exec_net;
struct exec_io;
struct exec_program;

struct exec_link {
    struct exec_net *net;               /* borrowed */
    struct exec_bytes bytes[2];         /* bytes[s]: written by end s, read by end 1 - s */
    struct exec_io *end[2];             /* borrowed; NULL once that end is closed */
    uint64_t latency_ns;                /* 0 for pipes and socket pairs */
    struct sim_waitq waitq;             /* readers and writers of both ends */
};

struct exec_io {
    enum exec_io_kind kind;
    struct exec_net *net;               /* borrowed */
    uint64_t serial;                    /* 1, 2, ... per world: names it in the trace */
    uint32_t holders;                   /* descriptions naming it; 0 while queued unaccepted */
    bool nonblock;                      /* O_NONBLOCK of this open description */
    struct exec_link *link;             /* owned jointly with the other end; NULL: none */
    uint8_t side;
    bool shut_read;                     /* shutdown(SHUT_RD): reads return 0 */
    uint64_t receive_timeout_ns, send_timeout_ns;  /* SO_RCVTIMEO, SO_SNDTIMEO; 0: none */
    /* The TCP control channel (inet.c). */
    enum exec_inet_state state;
    uint32_t endpoint;                  /* the endpoint's index in the world */
    int family;                         /* AF_INET or AF_INET6 */
    /* IPv6, an IPv4 address as ::ffff:a.b.c.d whatever the socket's family (inet.c) */
    struct in6_addr local_address, peer_address;
    uint16_t local_port, peer_port;
    bool reuse_address, no_delay;
    bool v6only;                        /* IPV6_V6ONLY: an AF_INET6 socket without IPv4 */
    uint32_t backlog;
    struct exec_io *queue_head, *queue_tail, *queue_next;   /* unaccepted connections */
    uint32_t queued;
    struct sim_waitq accept_waitq;
    struct exec_io *inet_next, *inet_prev;  /* the net's list of bound sockets */
};

/* What the world tells the net: the endpoints' names, for getaddrinfo (inet.c). */
typedef int (*exec_net_lookup_fn)(void *owner, const char *name, uint32_t *endpoint_out);

struct exec_net {
    struct sim_engine *engine;          /* borrowed */
    struct sim_waitq *poll_waitq;       /* borrowed: woken on every change (mixed polls) */
    exec_net_lookup_fn lookup;
    void *lookup_owner;
    uint32_t endpoint_count;            /* endpoints with an address (inet.c) */
    uint32_t io_count;
    uint64_t serial_next;
    uint64_t latency_ns;                /* the control channel's one-way latency */
    struct exec_io *inet_head, *inet_tail;  /* bound sockets, in bind order */
    uint16_t port_next[256];            /* per endpoint: the next ephemeral port to try */
    /* The programs ep:exec started in this world, in start order (each the root of its
     * forked family, process.c): kill() between programs of one endpoint looks here. */
    struct exec_program *programs_head, *programs_tail;
};

/* The world's net; poll_waitq is the world's queue that every socket change wakes. */
struct exec_net *exec_net_create(struct sim_engine *engine, struct sim_waitq *poll_waitq);
/* Frees what is left (at world teardown: memory only, nothing woken or traced). */
void exec_net_destroy(struct exec_net *net);
bool exec_net_check(const struct exec_net *net);

/* A pipe: ends[0] reads, ends[1] writes; each held once. 0, -ENFILE, -ENOMEM. */
int exec_pipe_create(struct exec_net *net, bool nonblock, struct exec_io *ends[2]);
/* A connected AF_UNIX pair, stream or datagram (messages); each end held once. */
int exec_socketpair_create(struct exec_net *net, bool datagram, bool nonblock,
                           struct exec_io *ends[2]);
/* One more holder (a dup'ed description of another program: fork). */
void exec_io_hold(struct exec_io *io);
/* One holder fewer; the last closes it: the peer sees end of file (or EPIPE). */
void exec_io_release(struct exec_io *io);
/* As exec_io_release at world teardown: memory only, nothing woken. */
void exec_io_forget(struct exec_io *io);

/* Non-blocking I/O at simulated time now_ns. Write: bytes taken, -EAGAIN (no room),
 * -EPIPE (no reader), -EBADF (a pipe's read end), -EMSGSIZE, -ENOTCONN. Read: bytes,
 * 0 at end of file, -EAGAIN (nothing yet), -EBADF, -ECONNRESET. flags: MSG_PEEK. */
ssize_t exec_io_write(struct exec_io *io, const void *data, size_t length, uint64_t now_ns);
ssize_t exec_io_read(struct exec_io *io, void *data, size_t length, int flags,
                     uint64_t now_ns);
/* shutdown(2): SHUT_RD, SHUT_WR, SHUT_RDWR. 0, -EINVAL, -ENOTCONN, -ENOTSOCK. */
int exec_io_shutdown(struct exec_io *io, int how);
/* poll(2) events of the io now. */
short exec_io_poll(struct exec_io *io, short events, uint64_t now_ns);
/* Bytes readable now (FIONREAD; a datagram pair: the next message's size). */
uint32_t exec_io_readable(struct exec_io *io, uint64_t now_ns);
/* The earliest time after now_ns at which bytes in flight on io's link become visible
 * (readable, or freeing a writer's chunk slot); SIM_TIME_NEVER when none are. */
uint64_t exec_io_next_ns(struct exec_io *io, uint64_t now_ns);
/* The queue a blocked call on this io waits on. */
struct sim_waitq *exec_io_waitq(struct exec_io *io);
bool exec_io_is_socket(const struct exec_io *io);

/* pipe.c, for inet.c: a new io (holders 0) and a link between two. */
struct exec_io *exec__io_new(struct exec_net *net, enum exec_io_kind kind, bool nonblock);
int exec__link_new(struct exec_net *net, struct exec_io *a, struct exec_io *b,
                   uint32_t capacity, bool messages, uint64_t latency_ns);
void exec__net_wake(struct exec_net *net, struct sim_waitq *queue);
/* One message (head, then data) into `bytes`, readable at visible_ns. 0, -EAGAIN (no room
 * or no chunk slot yet), -EMSGSIZE (larger than the queue). Wakes the link's readers. */
int exec__message_put(struct exec_link *link, int side, const void *head, uint32_t head_bytes,
                      const void *data, uint32_t length, uint64_t visible_ns);
/* The next readable message of `bytes`: its first head_bytes into head, then at most
 * `length` bytes of the rest (a longer one is cut, the rest lost). Returns the bytes of
 * data copied, -EAGAIN when none is readable. */
ssize_t exec__message_take(struct exec_link *link, int side, void *head, uint32_t head_bytes,
                           void *data, size_t length, bool peek, uint64_t now_ns);

#endif /* SIM_EXEC_PIPE_H */
