/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/pipe.c: pipes, AF_UNIX socket pairs and the links under the TCP control
 * channel (pipe.h states the objects and invariants PI1-PI3).
 *
 * Every call here is non-blocking and works at a simulated time the caller gives; the
 * serving side (pipe_serve.c) waits in simulated time on exec_io_waitq when a call
 * would block, and is woken by the change that unblocks it. Each change wakes the
 * link's queue and the world's poll queue only when someone waits there, so a transfer
 * nobody polls costs no events. Nothing here depends on addresses or wall time.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "inet.h"

#ifndef POLLRDHUP
#define POLLRDHUP 0x2000
#endif

#define MESSAGE_HEADER_BYTES 4u

struct exec_net *exec_net_create(struct sim_engine *engine, struct sim_waitq *poll_waitq)
{
    assert(engine != NULL);
    struct exec_net *net = calloc(1, sizeof(*net));
    if (net == NULL)
        return NULL;
    net->engine = engine;
    net->poll_waitq = poll_waitq;
    net->serial_next = 1;
    net->latency_ns = EXEC_INET_LATENCY_NS;
    return net;
}

void exec__net_wake(struct exec_net *net, struct sim_waitq *queue)
{
    if (queue != NULL && queue->count > 0)
        (void)sim_waitq_wake_all(queue);
    if (net->poll_waitq != NULL && net->poll_waitq->count > 0)
        (void)sim_waitq_wake_all(net->poll_waitq);
}

struct exec_io *exec__io_new(struct exec_net *net, enum exec_io_kind kind, bool nonblock)
{
    assert(net != NULL);
    if (net->io_count >= EXEC_IO_OBJECTS_MAX)
        return NULL;
    struct exec_io *io = calloc(1, sizeof(*io));
    if (io == NULL)
        return NULL;
    io->kind = kind;
    io->net = net;
    io->serial = net->serial_next++;
    io->nonblock = nonblock;
    char name[SIM_WAITQ_NAME_BYTES_MAX];
    snprintf(name, sizeof(name), "accept:%llu", (unsigned long long)io->serial);
    sim_waitq_init(&io->accept_waitq, name);
    net->io_count++;
    return io;
}

static bool bytes_init(struct exec_bytes *bytes, uint32_t capacity, bool messages,
                       bool latency)
{
    memset(bytes, 0, sizeof(*bytes));
    bytes->capacity = capacity;
    bytes->messages = messages;
    if (capacity == 0)
        return true;
    bytes->data = malloc(capacity);
    if (latency)
        bytes->chunks = calloc(EXEC_INET_CHUNKS_MAX, sizeof(*bytes->chunks));
    return bytes->data != NULL && (!latency || bytes->chunks != NULL);
}

static void link_free(struct exec_link *link)
{
    for (int side = 0; side < 2; side++) {
        free(link->bytes[side].data);
        free(link->bytes[side].chunks);
    }
    free(link);
}

/* A link from a (side 0) to b (side 1). A pipe's a only reads: its direction is empty. */
int exec__link_new(struct exec_net *net, struct exec_io *a, struct exec_io *b,
                   uint32_t capacity, bool messages, uint64_t latency_ns)
{
    struct exec_link *link = calloc(1, sizeof(*link));
    if (link == NULL)
        return -ENOMEM;
    link->net = net;
    link->latency_ns = latency_ns;
    bool pipe = a->kind == EXEC_IO_PIPE_READ || b == NULL;   /* b NULL: a datagram queue */
    bool ok = bytes_init(&link->bytes[0], pipe ? 0 : capacity, messages, latency_ns > 0) &&
              bytes_init(&link->bytes[1], capacity, messages, latency_ns > 0);
    if (!ok) {
        link_free(link);
        return -ENOMEM;
    }
    char name[SIM_WAITQ_NAME_BYTES_MAX];
    snprintf(name, sizeof(name), "%s:%llu", pipe ? "pipe" : "link",
             (unsigned long long)a->serial);
    sim_waitq_init(&link->waitq, name);
    link->end[0] = a;
    link->end[1] = b;
    a->link = link;
    a->side = 0;
    if (b != NULL) {
        b->link = link;
        b->side = 1;
    }
    return 0;
}

static void io_free(struct exec_io *io)
{
    assert(io->net->io_count > 0);
    io->net->io_count--;
    free(io);
}

/* Two ends joined by a link, each held once; -ENFILE / -ENOMEM leave nothing behind. */
static int pair_create(struct exec_net *net, enum exec_io_kind kind0, enum exec_io_kind kind1,
                       uint32_t capacity, bool messages, bool nonblock, struct exec_io *ends[2])
{
    assert(net != NULL && ends != NULL);
    if (net->io_count + 2 > EXEC_IO_OBJECTS_MAX)
        return -ENFILE;
    ends[0] = exec__io_new(net, kind0, nonblock);
    ends[1] = ends[0] != NULL ? exec__io_new(net, kind1, nonblock) : NULL;
    int rc = ends[1] != NULL ? exec__link_new(net, ends[0], ends[1], capacity, messages, 0)
                             : -ENOMEM;
    if (rc < 0) {
        for (int side = 0; side < 2; side++) {
            if (ends[side] != NULL)
                io_free(ends[side]);
            ends[side] = NULL;
        }
        return rc;
    }
    ends[0]->holders = ends[1]->holders = 1;
    assert(exec_net_check(net));
    return 0;
}

int exec_pipe_create(struct exec_net *net, bool nonblock, struct exec_io *ends[2])
{
    return pair_create(net, EXEC_IO_PIPE_READ, EXEC_IO_PIPE_WRITE, EXEC_PIPE_BYTES_MAX, false,
                       nonblock, ends);
}

int exec_socketpair_create(struct exec_net *net, bool datagram, bool nonblock,
                           struct exec_io *ends[2])
{
    enum exec_io_kind kind = datagram ? EXEC_IO_UNIX_DGRAM : EXEC_IO_UNIX_STREAM;
    return pair_create(net, kind, kind, EXEC_SOCKETPAIR_BYTES_MAX, datagram, nonblock, ends);
}

void exec_io_hold(struct exec_io *io)
{
    assert(io != NULL && io->holders > 0);
    io->holders++;
}

static void inet_unlink(struct exec_io *io)
{
    struct exec_net *net = io->net;
    if (io->inet_prev == NULL && net->inet_head != io)
        return;                             /* never bound */
    if (io->inet_prev != NULL)
        io->inet_prev->inet_next = io->inet_next;
    else
        net->inet_head = io->inet_next;
    if (io->inet_next != NULL)
        io->inet_next->inet_prev = io->inet_prev;
    else
        net->inet_tail = io->inet_prev;
    io->inet_next = io->inet_prev = NULL;
}

/* Closes io (no holder is left): its direction ends (end of file for the peer), the other
 * one has no reader (EPIPE for the peer); `reset` makes the peer's reads ECONNRESET. */
static void io_close(struct exec_io *io, bool quiet, bool reset)
{
    struct exec_net *net = io->net;
    while (io->queue_head != NULL) {        /* a listener: unaccepted connections reset */
        struct exec_io *queued = io->queue_head;
        io->queue_head = queued->queue_next;
        io->queued--;
        io_close(queued, quiet, true);
    }
    io->queue_tail = NULL;
    inet_unlink(io);
    struct exec_link *link = io->link;
    if (link != NULL) {
        int side = io->side;
        link->bytes[side].writer_closed = true;
        link->bytes[side].reset = reset;
        link->bytes[1 - side].reader_closed = true;
        link->end[side] = NULL;
        if (!quiet)
            exec__net_wake(net, &link->waitq);
        if (link->end[1 - side] == NULL)
            link_free(link);
    } else if (!quiet) {
        exec__net_wake(net, &io->accept_waitq);
    }
    io_free(io);
}

void exec_io_release(struct exec_io *io)
{
    assert(io != NULL && io->holders > 0);
    if (--io->holders == 0)
        io_close(io, false, false);
}

void exec_io_forget(struct exec_io *io)
{
    assert(io != NULL && io->holders > 0);
    if (--io->holders == 0)
        io_close(io, true, false);
}

void exec_net_destroy(struct exec_net *net)
{
    if (net == NULL)
        return;
    /* Bound sockets nobody holds any more cannot exist (the last release unlinks them);
     * what is left here is held by programs not destroyed, which must not happen. */
    assert(net->inet_head == NULL);
    free(net);
}

bool exec_io_is_socket(const struct exec_io *io)
{
    return io->kind != EXEC_IO_PIPE_READ && io->kind != EXEC_IO_PIPE_WRITE;
}

/* ---- The byte ring -------------------------------------------------------------------- */

/* Chunks whose time has come become readable. */
static void bytes_advance(struct exec_bytes *bytes, uint64_t now_ns)
{
    while (bytes->chunk_count > 0 && bytes->chunks[bytes->chunk_head].visible_ns <= now_ns) {
        bytes->visible += bytes->chunks[bytes->chunk_head].bytes;
        bytes->chunk_head = (bytes->chunk_head + 1) % EXEC_INET_CHUNKS_MAX;
        bytes->chunk_count--;
    }
    assert(bytes->visible <= bytes->length);                                    /* PI2 */
}

static void ring_put(struct exec_bytes *bytes, const uint8_t *data, uint32_t length)
{
    if (length == 0)
        return;                             /* an empty datagram: its header only */
    uint32_t tail = (bytes->head + bytes->length) % bytes->capacity;
    uint32_t first = bytes->capacity - tail < length ? bytes->capacity - tail : length;
    memcpy(bytes->data + tail, data, first);
    memcpy(bytes->data, data + first, length - first);
    bytes->length += length;
}

static void ring_get(const struct exec_bytes *bytes, uint32_t offset, uint8_t *out,
                     uint32_t length)
{
    uint32_t start = (bytes->head + offset) % bytes->capacity;
    uint32_t first = bytes->capacity - start < length ? bytes->capacity - start : length;
    memcpy(out, bytes->data + start, first);
    memcpy(out + first, bytes->data, length - first);
}

static void ring_drop(struct exec_bytes *bytes, uint32_t length)
{
    assert(length <= bytes->visible);
    bytes->head = (bytes->head + length) % bytes->capacity;
    bytes->length -= length;
    bytes->visible -= length;
}

/* Records that `length` bytes just put become visible after the latency. False when
 * every chunk slot is taken (the writer waits for the oldest to arrive). */
static bool chunk_add(struct exec_bytes *bytes, uint32_t length, uint64_t visible_ns)
{
    if (bytes->chunks == NULL) {
        bytes->visible += length;
        return true;
    }
    if (bytes->chunk_count > 0) {
        struct exec_chunk *last = &bytes->chunks[(bytes->chunk_head + bytes->chunk_count - 1) %
                                                 EXEC_INET_CHUNKS_MAX];
        if (last->visible_ns == visible_ns) {
            last->bytes += length;
            return true;
        }
    }
    if (bytes->chunk_count == EXEC_INET_CHUNKS_MAX)
        return false;
    bytes->chunks[(bytes->chunk_head + bytes->chunk_count) % EXEC_INET_CHUNKS_MAX] =
        (struct exec_chunk){ .bytes = length, .visible_ns = visible_ns };
    bytes->chunk_count++;
    return true;
}

int exec__message_put(struct exec_link *link, int side, const void *head, uint32_t head_bytes,
                      const void *data, uint32_t length, uint64_t visible_ns)
{
    assert(link != NULL && (side == 0 || side == 1));
    struct exec_bytes *bytes = &link->bytes[side];
    uint64_t total = (uint64_t)MESSAGE_HEADER_BYTES + head_bytes + length;
    if (total > bytes->capacity)
        return -EMSGSIZE;
    if (total > bytes->capacity - bytes->length)
        return -EAGAIN;
    if (!chunk_add(bytes, (uint32_t)total, visible_ns))
        return -EAGAIN;
    uint32_t header = head_bytes + length;
    ring_put(bytes, (const uint8_t *)&header, MESSAGE_HEADER_BYTES);
    ring_put(bytes, head, head_bytes);
    ring_put(bytes, data, length);
    exec__net_wake(link->net, &link->waitq);
    return 0;
}

ssize_t exec__message_take(struct exec_link *link, int side, void *head, uint32_t head_bytes,
                           void *data, size_t length, bool peek, uint64_t now_ns)
{
    assert(link != NULL && (side == 0 || side == 1));
    struct exec_bytes *bytes = &link->bytes[side];
    bytes_advance(bytes, now_ns);
    if (bytes->visible < MESSAGE_HEADER_BYTES)
        return -EAGAIN;
    uint32_t header = 0;
    ring_get(bytes, 0, (uint8_t *)&header, MESSAGE_HEADER_BYTES);
    assert(header >= head_bytes && header + MESSAGE_HEADER_BYTES <= bytes->visible);
    ring_get(bytes, MESSAGE_HEADER_BYTES, head, head_bytes);
    uint32_t rest = header - head_bytes;
    uint32_t take = rest < length ? rest : (uint32_t)length;
    if (take > 0)
        ring_get(bytes, MESSAGE_HEADER_BYTES + head_bytes, data, take);
    if (!peek) {
        ring_drop(bytes, MESSAGE_HEADER_BYTES + header);
        exec__net_wake(link->net, &link->waitq);
    }
    return (ssize_t)take;
}

/* ---- I/O ------------------------------------------------------------------------------ */

/* The direction io writes into, or NULL with *error set. */
static struct exec_bytes *outgoing(struct exec_io *io, int *error)
{
    if (io->kind == EXEC_IO_PIPE_READ || io->kind == EXEC_IO_INET_DGRAM) {
        *error = -EBADF;
        return NULL;
    }
    if (io->link == NULL) {
        *error = io->kind == EXEC_IO_INET_STREAM ? -ENOTCONN : -EBADF;
        return NULL;
    }
    return &io->link->bytes[io->side];
}

static struct exec_bytes *incoming(struct exec_io *io, int *error)
{
    if (io->kind == EXEC_IO_PIPE_WRITE || io->kind == EXEC_IO_INET_DGRAM) {
        *error = -EBADF;
        return NULL;
    }
    if (io->link == NULL) {
        *error = io->kind == EXEC_IO_INET_STREAM ? -ENOTCONN : -EBADF;
        return NULL;
    }
    return &io->link->bytes[1 - io->side];
}

ssize_t exec_io_write(struct exec_io *io, const void *data, size_t length, uint64_t now_ns)
{
    assert(io != NULL && (data != NULL || length == 0));
    int error = 0;
    struct exec_bytes *bytes = outgoing(io, &error);
    if (bytes == NULL)
        return error;
    if (bytes->writer_closed)
        return -EPIPE;                      /* shutdown(SHUT_WR) before */
    if (bytes->reader_closed)
        return -EPIPE;                      /* nobody reads (the caller may signal) */
    uint64_t visible_ns = now_ns + io->link->latency_ns;
    uint32_t room = bytes->capacity - bytes->length;
    if (bytes->messages) {
        if (length + MESSAGE_HEADER_BYTES > bytes->capacity)
            return -EMSGSIZE;
        if (length + MESSAGE_HEADER_BYTES > room)
            return -EAGAIN;
        uint32_t header = (uint32_t)length;
        ring_put(bytes, (const uint8_t *)&header, MESSAGE_HEADER_BYTES);
        ring_put(bytes, data, (uint32_t)length);
        bytes->visible += MESSAGE_HEADER_BYTES + (uint32_t)length;
    } else {
        if (length == 0)
            return 0;
        /* A pipe write of at most PIPE_BUF bytes is atomic: all of it or nothing. */
        if (room == 0 || (io->kind == EXEC_IO_PIPE_WRITE && length <= EXEC_PIPE_ATOMIC_BYTES &&
                          room < length))
            return -EAGAIN;
        uint32_t take = length < room ? (uint32_t)length : room;
        if (!chunk_add(bytes, take, visible_ns))
            return -EAGAIN;
        ring_put(bytes, data, take);
        length = take;
    }
    exec__net_wake(io->net, &io->link->waitq);
    return (ssize_t)length;
}

ssize_t exec_io_read(struct exec_io *io, void *data, size_t length, int flags, uint64_t now_ns)
{
    assert(io != NULL && (data != NULL || length == 0));
    int error = 0;
    struct exec_bytes *bytes = incoming(io, &error);
    if (bytes == NULL)
        return error;
    if (io->shut_read)
        return 0;
    bytes_advance(bytes, now_ns);
    if (bytes->visible == 0) {
        if (bytes->reset)
            return -ECONNRESET;
        return bytes->writer_closed && bytes->length == 0 ? 0 : -EAGAIN;
    }
    uint32_t take, consumed;
    if (bytes->messages) {
        uint32_t header = 0;
        ring_get(bytes, 0, (uint8_t *)&header, MESSAGE_HEADER_BYTES);
        take = header < length ? header : (uint32_t)length;
        if (take > 0)
            ring_get(bytes, MESSAGE_HEADER_BYTES, data, take);
        consumed = MESSAGE_HEADER_BYTES + header;   /* the rest of a longer one is lost */
    } else {
        take = bytes->visible < length ? bytes->visible : (uint32_t)length;
        if (take > 0)
            ring_get(bytes, 0, data, take);
        consumed = take;
    }
    if ((flags & MSG_PEEK) == 0 && consumed > 0) {
        ring_drop(bytes, consumed);
        exec__net_wake(io->net, &io->link->waitq);
    }
    return (ssize_t)take;
}

int exec_io_shutdown(struct exec_io *io, int how)
{
    assert(io != NULL);
    if (!exec_io_is_socket(io))
        return -ENOTSOCK;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    if (io->link == NULL)
        return -ENOTCONN;
    if (how != SHUT_WR)
        io->shut_read = true;
    if (how != SHUT_RD)
        io->link->bytes[io->side].writer_closed = true;
    exec__net_wake(io->net, &io->link->waitq);
    return 0;
}

static short poll_connected(struct exec_io *io, uint64_t now_ns)
{
    struct exec_link *link = io->link;
    short revents = 0;
    if (io->kind != EXEC_IO_PIPE_WRITE) {
        struct exec_bytes *in = &link->bytes[1 - io->side];
        bytes_advance(in, now_ns);
        bool end = in->writer_closed && in->length == 0;
        if (in->visible > 0 || end || io->shut_read || in->reset)
            revents |= POLLIN;
        if (end && io->kind == EXEC_IO_PIPE_READ)
            revents |= POLLHUP;             /* no writer left */
        else if (end)
            revents |= POLLRDHUP;
        if (in->reset)
            revents |= POLLERR;
    }
    if (io->kind != EXEC_IO_PIPE_READ) {
        struct exec_bytes *out = &link->bytes[io->side];
        uint32_t room = out->capacity - out->length;
        uint32_t need = io->kind == EXEC_IO_PIPE_WRITE ? EXEC_PIPE_ATOMIC_BYTES
                        : out->messages ? MESSAGE_HEADER_BYTES + 1 : 1;
        if (room >= need && !out->writer_closed &&
            (out->chunks == NULL || out->chunk_count < EXEC_INET_CHUNKS_MAX))
            revents |= POLLOUT;
        if (out->reader_closed && io->kind == EXEC_IO_PIPE_WRITE)
            revents |= POLLERR;             /* no reader left */
        if (out->reader_closed && io->kind != EXEC_IO_PIPE_WRITE &&
            link->bytes[1 - io->side].writer_closed)
            revents |= POLLHUP;             /* the peer is gone both ways */
    }
    return revents;
}

short exec_io_poll(struct exec_io *io, short events, uint64_t now_ns)
{
    assert(io != NULL);
    short revents;
    if (io->kind == EXEC_IO_INET_DGRAM) {
        bytes_advance(&io->link->bytes[1], now_ns);
        revents = POLLOUT | (io->link->bytes[1].visible > 0 ? POLLIN : 0);
    } else if (io->link != NULL)
        revents = poll_connected(io, now_ns);
    else if (io->state == EXEC_INET_LISTENING)
        revents = io->queued > 0 ? POLLIN : 0;
    else
        revents = POLLHUP;                  /* an unconnected TCP socket, as Linux */
    return (short)(revents & (events | POLLHUP | POLLERR));
}

uint32_t exec_io_readable(struct exec_io *io, uint64_t now_ns)
{
    assert(io != NULL);
    int error = 0;
    bool datagram = io->kind == EXEC_IO_INET_DGRAM;
    struct exec_bytes *bytes = datagram ? &io->link->bytes[1] : incoming(io, &error);
    if (bytes == NULL)
        return 0;
    bytes_advance(bytes, now_ns);
    if (!bytes->messages || bytes->visible < MESSAGE_HEADER_BYTES)
        return bytes->messages ? 0 : bytes->visible;
    uint32_t header = 0;
    ring_get(bytes, 0, (uint8_t *)&header, MESSAGE_HEADER_BYTES);
    return datagram ? header - EXEC_INET_DGRAM_HEAD_BYTES : header;    /* the sender's address */
}

uint64_t exec_io_next_ns(struct exec_io *io, uint64_t now_ns)
{
    assert(io != NULL);
    uint64_t next_ns = SIM_TIME_NEVER;
    if (io->link == NULL)
        return next_ns;
    for (int side = 0; side < 2; side++) {
        struct exec_bytes *bytes = &io->link->bytes[side];
        bytes_advance(bytes, now_ns);
        if (bytes->chunk_count > 0 && bytes->chunks[bytes->chunk_head].visible_ns < next_ns)
            next_ns = bytes->chunks[bytes->chunk_head].visible_ns;
    }
    return next_ns;
}

struct sim_waitq *exec_io_waitq(struct exec_io *io)
{
    assert(io != NULL);
    return io->link != NULL ? &io->link->waitq : &io->accept_waitq;
}

bool exec_net_check(const struct exec_net *net)
{
    if (net == NULL || net->io_count > EXEC_IO_OBJECTS_MAX)
        return false;
    for (const struct exec_io *io = net->inet_head; io != NULL; io = io->inet_next) {
        if (io->net != net || (io->inet_next == NULL && net->inet_tail != io))
            return false;
        const struct exec_link *link = io->link;                                /* PI1 */
        if (link != NULL && link->end[io->side] != io)
            return false;
        for (int side = 0; link != NULL && side < 2; side++) {                  /* PI2 */
            const struct exec_bytes *bytes = &link->bytes[side];
            if (bytes->visible > bytes->length || bytes->length > bytes->capacity)
                return false;
        }
    }
    return true;
}
