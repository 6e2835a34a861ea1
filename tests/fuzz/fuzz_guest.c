/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_guest.c: fuzz target (a), a hostile guest (docs/fuzzing.md).
 *
 * World: the host and two VMs: A (CID 100), well behaved, and H (CID 300), on esxi-6.5
 * (every VM restricted) or, when the input's first byte is odd, on esxi-4.1 with both VMs
 * unrestricted, so that H reaches A's vSockets stack directly. The rest of the input
 * drives H's device like a hostile guest kernel: register writes at any offset with any
 * value (CONTROL resets included), register reads, DATA_OUT transfers of raw bytes or of
 * datagrams with input-chosen headers (aimed at the host's control handle, the
 * hypervisor's hypercalls, A's, or anywhere), DATA_IN reads, and runs of the engine in
 * between. Meanwhile a client in A streams a known pattern to a server on the host over
 * vSockets, from before H's first operation until a little after its last (at most
 * TRANSFER_BYTES), and the server checks every byte.
 *
 * Invariants (a failure aborts): the hypervisor's own consistency check holds after
 * every operation; the run ends within RUN_AFTER_NS of simulated time; A's transfer ends
 * in one of the outcomes the rules allow (check_transfer): complete and intact with no
 * error, or, in the guest-to-guest world only, cut short by a control packet of H's that
 * reached A's client socket and that ends a connection by the rules. H is a legitimate
 * vSockets peer of A there: a packet from a stranger reaches a connecting or connected
 * socket through its binding (R149, as in Linux's bound table), and an RST or a SHUTDOWN
 * from it ends the connection (R157, R160, R169, R170). What H can never do is change
 * the bytes A's transfer delivers, reach A in the restricted world, or end A's connection
 * without such a packet in the trace (a trace sink sees every packet A's stack receives).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sim/engine/rng.h"
#include "vmci/defs.h"
#include "vmci/device.h"
#include "vmci/hypervisor.h"
#include "vsock/core.h"
#include "vsock/vs_world.h"

#define TARGET "guest"
#define CID_A 100u
#define CID_H 300u
#define PORT 5000u
/* A's transfer is paid by every input, so it lasts only as long as it can meet H: A sends
 * until H's operations are over and TAIL_CHUNKS more (what H left in flight, a late
 * interrupt or packet, still meets a live connection), at most TRANSFER_BYTES (64 sends,
 * about 400 engine events). Sending on after that only repeated, in every input, a transfer
 * that nothing disturbs any more: it was about half of an average input's cost. (An earlier
 * version sent 200 000 bytes in 1 000-byte chunks, about 15 ms an input in a fuzzing run.) */
#define TRANSFER_BYTES 4096u
#define CHUNK_BYTES 64u                /* small: many events, interleaved with H's */
#define TAIL_CHUNKS 8u                 /* sent after H's last operation */
#define OPS_MAX 512u                    /* hostile operations per input */
#define EVENTS_PER_OP 2u                /* engine events between two operations */
#define RAW_BYTES_MAX 1024u             /* one DATA_OUT / DATA_IN transfer */
#define RUN_AFTER_NS (120ull * 1000000000ull)
#define ACCEPTS_MAX 8u                  /* connections the server takes until A's arrives */
/* The fibers of A's client and the host's server: the engine's smallest stack, not its
 * 256 KiB default. Under ASan swapcontext clears the shadow of the whole stack at every
 * switch into a fiber, and a 256 KiB block is above the allocator's largest size class;
 * in perf of the corpus replay the switches fell from 6.0 % to 3.6 % of the samples. The
 * bodies used at most 9 KiB under ASan (the corpus and 3 000 fuzzed inputs, a painted
 * stack). */
#define FIBER_STACK_BYTES SIM_FIBER_STACK_BYTES_MIN
/* The queue size A's client asks for: 4 times the transfer, so the queue never fills and
 * the transfer goes as with the default size; but the queue pair (both queues and their
 * headers) stays within one of ASan's size classes instead of being mapped and unmapped for
 * every input, as the default's 131 344 bytes were. */
#define BUFFER_BYTES (4u * TRANSFER_BYTES)

/* Control packets from H that reached A's client socket (R149: through its binding) and
 * that, by the rules, may end its connection; counted by the trace sink when A's stack
 * receives them, with the socket in the state the packet meets. Evidence only: a packet
 * counted here allows the outcome, it does not require it (an RST after an INVALID is
 * ignored, R156/R157; a SHUTDOWN without the receive bit does not stop a sender). */
struct h_packets {
    /* TCP_SYN_SENT, RST: connect fails with ECONNRESET (R157); or INVALID: the client
     * sends a second, protocol-v1 request (R156), which the server's half-open child
     * answers with RST (R167), and the RST that follows is not ignored (ECONNRESET). */
    uint32_t connecting_reset;
    /* TCP_SYN_SENT, a known type other than INVALID and RST: connect fails with EPROTO
     * (R158: a negotiation from a stranger; R159: an ATTACH of another queue pair; R160). */
    uint32_t connecting_broken;
    /* Established, RST (R170) or SHUTDOWN with the receive bit (R169): the peer no longer
     * receives, so the client's next send fails with EPIPE. */
    uint32_t established_end;
};

struct transfer {
    uint64_t sent_bytes;
    uint64_t received_bytes;
    uint64_t wrong_bytes;
    int client_error;                   /* errno of the client's first failed call, or 0 */
    int server_error;
    bool client_done;
    bool server_done;
    bool connected;                     /* the client's connect() returned 0 */
    bool h_done;                        /* H's operations are over (the input is read) */
    uint32_t tail_chunks;               /* chunks A sent since h_done */
    /* For the trace sink: A's client socket (fd -1 until it exists) and what reached it. */
    struct vs_context *client_context;
    int client_fd;
    struct h_packets from_h;
};

/* The transfer's bytes: SplitMix64 words (shifts and repeats show), computed once. */
static uint8_t pattern[TRANSFER_BYTES];
/* Whose device the input drives: H, or A itself when the environment variable
 * VMCISIM_FUZZ_SELF_TEST is set, which tests/fuzz_replay_test.sh uses to see the transfer
 * check fail (a guest may break its own connections). */
static uint32_t hostile_cid = CID_H;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (uint64_t offset = 0; offset < TRANSFER_BYTES; offset++)
        pattern[offset] = (uint8_t)(sim_splitmix64_mix(offset / 8 + 1) >> (8 * (offset % 8)));
    if (getenv("VMCISIM_FUZZ_SELF_TEST") != NULL)
        hostile_cid = CID_A;
    return 0;
}

static void client_body(struct vs_context *context, void *arg)
{
    struct transfer *transfer = arg;
    int fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) {
        transfer->client_error = errno;
        transfer->client_done = true;
        return;
    }
    transfer->client_fd = fd;
    uint64_t buffer_bytes = BUFFER_BYTES;
    (void)vs_setsockopt(context, fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &buffer_bytes,
                        sizeof(buffer_bytes));
    struct sockaddr_vm host = fuzz_address(VMADDR_CID_HOST, PORT);
    if (vs_connect(context, fd, (struct sockaddr *)&host, sizeof(host)) != 0) {
        transfer->client_error = errno;
        vs_close(context, fd);
        transfer->client_done = true;
        return;
    }
    transfer->connected = true;
    while (transfer->sent_bytes < TRANSFER_BYTES && transfer->tail_chunks < TAIL_CHUNKS) {
        uint64_t size = TRANSFER_BYTES - transfer->sent_bytes;
        size = size < CHUNK_BYTES ? size : CHUNK_BYTES;
        ssize_t sent = vs_send(context, fd, pattern + transfer->sent_bytes, size, 0);
        if (sent <= 0) {
            transfer->client_error = sent < 0 ? errno : EPIPE;
            break;
        }
        transfer->sent_bytes += (uint64_t)sent;
        transfer->tail_chunks += transfer->h_done;
    }
    vs_close(context, fd);
    transfer->client_done = true;
}

/* How many of the `size` bytes received at `offset` of the stream differ from the pattern
 * (bytes past its end count as wrong). memcmp first: a byte-by-byte loop is what the
 * fuzzer's comparison tracing made slow, and a mismatch is rare. */
static uint64_t wrong_bytes(const uint8_t *received, uint64_t size, uint64_t offset)
{
    uint64_t fits = offset < TRANSFER_BYTES ? TRANSFER_BYTES - offset : 0;
    fits = size < fits ? size : fits;
    uint64_t wrong = size - fits;
    if (fits > 0 && memcmp(received, pattern + offset, fits) != 0) {
        for (uint64_t index = 0; index < fits; index++)
            wrong += received[index] != pattern[offset + index];
    }
    return wrong;
}

/* A's connection: H may connect to the host's service too (a legitimate peer of the
 * host in both worlds), so connections from anyone else are closed, up to ACCEPTS_MAX.
 * Returns the descriptor, or -1 with errno set (EMFILE: ACCEPTS_MAX strangers). */
static int accept_from_a(struct vs_context *context, int listen_fd)
{
    for (uint32_t accepted = 0; accepted < ACCEPTS_MAX; accepted++) {
        struct sockaddr_vm peer;
        socklen_t peer_bytes = sizeof(peer);
        int fd = vs_accept(context, listen_fd, (struct sockaddr *)&peer, &peer_bytes);
        if (fd < 0 || peer.svm_cid == CID_A)
            return fd;
        vs_close(context, fd);
    }
    errno = EMFILE;
    return -1;
}

static void server_body(struct vs_context *context, void *arg)
{
    struct transfer *transfer = arg;
    int listen_fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm any = fuzz_address(VMADDR_CID_ANY, PORT);
    if (listen_fd < 0 || vs_bind(context, listen_fd, (struct sockaddr *)&any, sizeof(any)) != 0 ||
        vs_listen(context, listen_fd, 4) != 0) {
        transfer->server_error = errno;
        return;
    }
    int fd = accept_from_a(context, listen_fd);
    if (fd < 0) {
        transfer->server_error = errno;
        return;
    }
    uint8_t chunk[CHUNK_BYTES];
    for (;;) {
        ssize_t received = vs_recv(context, fd, chunk, sizeof(chunk), 0);
        if (received <= 0) {
            transfer->server_error = received < 0 ? errno : 0;
            break;
        }
        transfer->wrong_bytes += wrong_bytes(chunk, (uint64_t)received,
                                             transfer->received_bytes);
        transfer->received_bytes += (uint64_t)received;
    }
    vs_close(context, fd);
    vs_close(context, listen_fd);
    transfer->server_done = true;
}

/* ---- H's operations ------------------------------------------------------------------ */

static uint32_t register_offset(struct fuzz_input *input)
{
    uint8_t kind = fuzz_u8(input);
    if (kind < 200)
        return (uint32_t)(kind % (VMCI_REGISTER_WINDOW_BYTES / 4)) * 4;
    if (kind < 240)
        return kind % 0x44;
    return fuzz_u32(input);
}

static struct vmci_handle datagram_destination(struct fuzz_input *input)
{
    uint8_t kind = fuzz_u8(input);
    switch (kind % 6) {
    case 0: return (struct vmci_handle){ VMCI_HOST_CONTEXT_ID, 1 };          /* vSockets */
    case 1: return (struct vmci_handle){ VMCI_HYPERVISOR_CONTEXT_ID, fuzz_u8(input) };
    case 2: return (struct vmci_handle){ CID_A, 1 };
    case 3: return (struct vmci_handle){ VMCI_HOST_CONTEXT_ID, fuzz_u32(input) };
    case 4: return (struct vmci_handle){ CID_H, fuzz_u32(input) };
    default: return (struct vmci_handle){ fuzz_u32(input), fuzz_u32(input) };
    }
}

/* A datagram with an input-chosen header; the source is H's own unless the input asks for
 * a spoofed one. payload_size is usually the real payload length, sometimes anything. */
static void write_datagram(struct vmci_device *device, struct fuzz_input *input, uint8_t *bytes)
{
    struct vmci_datagram_header header = {
        .dst = datagram_destination(input),
        .src = { CID_H, fuzz_u8(input) < 240 ? 1u : fuzz_u32(input) },
    };
    if (fuzz_u8(input) >= 250)
        header.src.context = fuzz_u32(input);
    size_t payload_bytes = fuzz_u16(input) % (RAW_BYTES_MAX - VMCI_DG_HEADERSIZE);
    payload_bytes = fuzz_bytes(input, bytes + VMCI_DG_HEADERSIZE, payload_bytes);
    header.payload_size = fuzz_u8(input) < 240 ? payload_bytes : fuzz_u64(input);
    vmci_header_encode(bytes, &header);
    vmci_device_write_data_out(device, bytes, VMCI_DG_HEADERSIZE + payload_bytes);
}

static void hostile_op(struct vs_world *world, struct fuzz_input *input, uint8_t *bytes)
{
    struct vmci_device *device = vmci_hypervisor_device(world->hypervisor, hostile_cid);
    uint8_t op = fuzz_u8(input);
    if (device == NULL)
        op = 5;                         /* a device reset may be reloading: just run */
    switch (op % 6) {
    case 0: {
        uint32_t offset = register_offset(input);
        vmci_device_write(device, offset, fuzz_u32(input));
        break;
    }
    case 1:
        (void)vmci_device_read(device, register_offset(input));
        break;
    case 2: {
        size_t size = fuzz_bytes(input, bytes, fuzz_u16(input) % RAW_BYTES_MAX);
        vmci_device_write_data_out(device, bytes, size);
        break;
    }
    case 3:
        write_datagram(device, input, bytes);
        break;
    case 4:
        vmci_device_read_data_in(device, bytes, fuzz_u16(input) % RAW_BYTES_MAX);
        break;
    default: {
        struct sim_run_result result;
        sim_engine_run(world->engine, SIM_TIME_NEVER, 1 + fuzz_u8(input), &result);
        break;
    }
    }
}

/* ---- What reaches A, and what A's transfer may end with --------------------------------- */

static bool field_is(const struct sim_trace_field *field, const char *name)
{
    return strcmp(field->name, name) == 0;
}

/* The trace sink (pkt_recv events only, traced just before A's stack hands the packet to
 * a socket): counts in transfer->from_h the packets from H that reach A's client socket,
 * by the state of the socket they meet (struct h_packets). Only a binding can take them
 * there: A's connection is with the host, and H cannot send with another CID (R37). */
static int count_packets_from_h(void *state, const struct sim_trace_event *event,
                                char *message)
{
    (void)message;
    struct transfer *transfer = state;
    const char *type = "";
    uint32_t type_bytes = 0;
    uint64_t source = 0, destination = 0, mode = 0;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (field_is(field, "type")) {
            type = field->value.blob.data;
            type_bytes = field->value.blob.size_bytes;
        } else if (field_is(field, "src")) {
            source = field->value.u64;
        } else if (field_is(field, "dst")) {
            destination = field->value.u64;
        } else if (field_is(field, "u0")) {
            mode = field->value.u64;
        }
    }
    if (event->ctx != CID_A || (uint32_t)(source >> 32) != CID_H || transfer->client_fd < 0)
        return 0;
    const struct vsock_sock *sock = vs_socket_of(transfer->client_context, transfer->client_fd);
    if (sock == NULL || sock->local.port != (uint32_t)destination)
        return 0;                       /* another port: R150's RST goes back to H */
    bool rst = type_bytes == 3 && memcmp(type, "RST", 3) == 0;
    bool invalid = type_bytes == 7 && memcmp(type, "INVALID", 7) == 0;
    bool unknown = type_bytes == 7 && memcmp(type, "UNKNOWN", 7) == 0;   /* R151: INVALID back */
    bool shutdown = type_bytes == 8 && memcmp(type, "SHUTDOWN", 8) == 0;
    if (sock->tcp == VSOCK_TCP_SYN_SENT && (rst || invalid))
        transfer->from_h.connecting_reset++;                            /* R156, R157 */
    else if (sock->tcp == VSOCK_TCP_SYN_SENT && !unknown)
        transfer->from_h.connecting_broken++;                           /* R158-R160 */
    else if (sock->tcp == VSOCK_TCP_ESTABLISHED &&
             (rst || (shutdown && (mode & VSOCK_RCV_SHUTDOWN) != 0)))
        transfer->from_h.established_end++;                             /* R169, R170 */
    return 0;
}

/* esxi-6.5: every VM restricted, H reaches only the host and the hypervisor; esxi-4.1 with
 * both VMs unrestricted in the same domain: H's datagrams and control packets reach A's
 * own vSockets stack too. The sink watches what of it reaches A's client. */
static struct vs_world *world_create(bool guest_to_guest, struct transfer *transfer,
                                     struct sim_digest *digest)
{
    struct vmci_vm_config vms[2] = {
        { .name = "a", .requested_cid = CID_A, .hw_version = 13, .domain = "", .owner = "user",
          .unrestricted = guest_to_guest },
        { .name = "h", .requested_cid = CID_H, .hw_version = 13, .domain = "", .owner = "user",
          .unrestricted = guest_to_guest },
    };
    struct sim_trace_sink sinks[2] = {
        { .name = "packets from H", .level = SIM_LAYER_TRANSPORT, .emit = count_packets_from_h,
          .state = transfer, .kind_only = "pkt_recv" },
    };
    if (digest != NULL)
        sinks[1] = sim_digest_sink(digest);
    struct vs_world_config config = { .product = guest_to_guest ? "esxi-4.1" : "esxi-6.5",
                                      .seed = 9, .vm_count = 2, .vms = vms,
                                      .sinks = sinks, .sink_count = digest != NULL ? 2 : 1 };
    char message[VS_WORLD_MESSAGE_BYTES_MAX] = "";
    struct vs_world *world = vs_world_create(&config, message, sizeof(message));
    if (world == NULL)
        fuzz_fail(TARGET, message);
    return world;
}

/* Complete and intact, no error: the only outcome without a packet of H's as its cause.
 * Complete: A sent what it meant to (TRANSFER_BYTES, or TAIL_CHUNKS after H's last
 * operation) and the server received all of it. */
static bool transfer_intact(const struct transfer *transfer, enum sim_stop stopped)
{
    bool sent_all = transfer->sent_bytes == TRANSFER_BYTES ||
                    (transfer->h_done && transfer->tail_chunks == TAIL_CHUNKS);
    return stopped == SIM_STOP_IDLE && transfer->client_done && transfer->server_done &&
           transfer->client_error == 0 && transfer->server_error == 0 && sent_all &&
           transfer->received_bytes == transfer->sent_bytes && transfer->wrong_bytes == 0;
}

/* Ended by H once established (R169, R170): the client's next send fails with EPIPE and it
 * closes; the server reads an intact prefix of what was sent (no more: on the host, bytes
 * not yet read when the client detaches are dropped, R171) and then the end of stream. */
static bool transfer_ended_by_h(const struct transfer *transfer, enum sim_stop stopped)
{
    return transfer->from_h.established_end > 0 && stopped == SIM_STOP_IDLE &&
           transfer->connected && transfer->client_done && transfer->client_error == EPIPE &&
           transfer->sent_bytes < TRANSFER_BYTES && transfer->server_done &&
           transfer->server_error == 0 && transfer->received_bytes <= transfer->sent_bytes &&
           transfer->wrong_bytes == 0;
}

/* Refused by H during the handshake (connecting_reset: ECONNRESET; connecting_broken:
 * EPROTO): nothing is sent. The server either waits in accept() for good (A's half-open
 * child is reset, R167, or expires, R110: the run ends deadlocked), or has accepted the
 * connection already and then reads the end of stream (A's RST, R170, or the detach of
 * A's queue pair, R171). */
static bool transfer_refused_by_h(const struct transfer *transfer, enum sim_stop stopped)
{
    bool reset = transfer->client_error == ECONNRESET && transfer->from_h.connecting_reset > 0;
    bool broken = transfer->client_error == EPROTO && transfer->from_h.connecting_broken > 0;
    bool server_waits = stopped == SIM_STOP_DEADLOCK && !transfer->server_done;
    bool server_ended = stopped == SIM_STOP_IDLE && transfer->server_done;
    return (reset || broken) && (server_waits || server_ended) && !transfer->connected &&
           transfer->client_done && transfer->sent_bytes == 0 &&
           transfer->server_error == 0 && transfer->received_bytes == 0;
}

/* With VMCISIM_FUZZ_PRINT set, each input's outcome and its run's trace digest on stderr
 * (docs/fuzzing.md; tests/fuzz_replay_test.sh compares them). */
static void print_outcome(const struct transfer *transfer, enum sim_stop stopped,
                          const struct sim_digest *digest)
{
    char hex[33];
    sim_digest_hex(digest, hex);
    const char *outcome = transfer_intact(transfer, stopped)         ? "intact"
                          : transfer_ended_by_h(transfer, stopped)   ? "ended by H"
                          : transfer_refused_by_h(transfer, stopped) ? "refused by H"
                                                                     : "disturbed";
    fprintf(stderr, "guest: %s: stopped %d, sent %llu, received %llu, client error %d, "
            "digest %s\n", outcome, (int)stopped, (unsigned long long)transfer->sent_bytes,
            (unsigned long long)transfer->received_bytes, transfer->client_error, hex);
}

static void check_transfer(const struct transfer *transfer, enum sim_stop stopped,
                           const struct sim_digest *digest)
{
    if (digest != NULL)
        print_outcome(transfer, stopped, digest);
    if (transfer_intact(transfer, stopped) || transfer_ended_by_h(transfer, stopped) ||
        transfer_refused_by_h(transfer, stopped))
        return;
    char what[320];
    snprintf(what, sizeof(what),
             "A's transfer disturbed: stopped %d, client done %d error %d sent %llu, "
             "server done %d error %d received %llu wrong %llu; packets from H at A's "
             "client: connecting reset %u, connecting broken %u, ending %u",
             (int)stopped, transfer->client_done, transfer->client_error,
             (unsigned long long)transfer->sent_bytes, transfer->server_done,
             transfer->server_error, (unsigned long long)transfer->received_bytes,
             (unsigned long long)transfer->wrong_bytes, transfer->from_h.connecting_reset,
             transfer->from_h.connecting_broken, transfer->from_h.established_end);
    fuzz_fail(TARGET, what);
}

/* ---- The target ------------------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input input = fuzz_input_make(data, size);
    static uint8_t bytes[RAW_BYTES_MAX];
    struct transfer transfer = { .client_fd = -1 };
    bool print = getenv("VMCISIM_FUZZ_PRINT") != NULL;
    struct sim_digest *digest = print ? sim_digest_create() : NULL;
    struct vs_world *world = world_create(fuzz_u8(&input) % 2 == 1, &transfer, digest);
    /* malloc: vs_world_context_init zeroes each context whole (6 KiB of descriptors) */
    struct vs_context *host = malloc(2 * sizeof(*host));
    if (host == NULL)
        fuzz_fail(TARGET, "out of memory");
    struct vs_context *client = host + 1;
    transfer.client_context = client;
    if (vs_world_context_init(world, host, VMCI_HOST_CONTEXT_ID) != 0 ||
        vs_world_context_init(world, client, CID_A) != 0 ||
        vs_spawn_stack(host, "server", server_body, &transfer, false, FIBER_STACK_BYTES) != 0 ||
        vs_spawn_stack(client, "client", client_body, &transfer, false, FIBER_STACK_BYTES) != 0)
        fuzz_fail(TARGET, "world set-up failed");
    for (uint32_t op = 0; op < OPS_MAX && !fuzz_input_done(&input); op++) {
        hostile_op(world, &input, bytes);
        if (!vmci_hypervisor_check(world->hypervisor))
            fuzz_fail(TARGET, "vmci_hypervisor_check failed");
        struct sim_run_result result;
        sim_engine_run(world->engine, SIM_TIME_NEVER, EVENTS_PER_OP, &result);
    }
    transfer.h_done = true;
    enum sim_stop stopped = vs_world_run(world, sim_engine_now(world->engine) + RUN_AFTER_NS);
    if (!vmci_hypervisor_check(world->hypervisor))
        fuzz_fail(TARGET, "vmci_hypervisor_check failed at the end");
    check_transfer(&transfer, stopped, digest);
    vs_context_destroy(client);
    vs_context_destroy(host);
    free(host);
    vs_world_destroy(world);
    sim_digest_destroy(digest);
    return 0;
}
