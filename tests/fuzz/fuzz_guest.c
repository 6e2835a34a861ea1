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
 * between. Meanwhile a client in A streams TRANSFER_BYTES of a known pattern to a server
 * on the host over vSockets, and the server checks every byte.
 *
 * Invariants (a failure aborts): the hypervisor's own consistency check holds after
 * every operation; the run ends idle within RUN_AFTER_NS of simulated time; A's transfer
 * is complete and intact (H cannot disturb another VM); A's client saw no error.
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
#include "vsock/vs_world.h"

#define TARGET "guest"
#define CID_A 100u
#define CID_H 300u
#define PORT 5000u
/* A's transfer is small because its cost is paid by every input, and still long enough (64
 * sends, about 400 engine events) to run through most of the input's hostile operations.
 * (An earlier version sent 200 000 bytes in 1 000-byte chunks, which cost a fuzzing run
 * about 15 ms an input for about the same interleaving.) */
#define TRANSFER_BYTES 4096u
#define CHUNK_BYTES 64u                /* small: many events, interleaved with H's */
#define OPS_MAX 512u                    /* hostile operations per input */
#define EVENTS_PER_OP 2u                /* engine events between two operations */
#define RAW_BYTES_MAX 1024u             /* one DATA_OUT / DATA_IN transfer */
#define RUN_AFTER_NS (120ull * 1000000000ull)

struct transfer {
    uint64_t sent_bytes;
    uint64_t received_bytes;
    uint64_t wrong_bytes;
    int client_error;                   /* errno of the client's first failed call, or 0 */
    int server_error;
    bool client_done;
    bool server_done;
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
    struct sockaddr_vm host = fuzz_address(VMADDR_CID_HOST, PORT);
    if (fd < 0 || vs_connect(context, fd, (struct sockaddr *)&host, sizeof(host)) != 0) {
        transfer->client_error = errno;
        return;
    }
    while (transfer->sent_bytes < TRANSFER_BYTES) {
        uint64_t size = TRANSFER_BYTES - transfer->sent_bytes;
        size = size < CHUNK_BYTES ? size : CHUNK_BYTES;
        ssize_t sent = vs_send(context, fd, pattern + transfer->sent_bytes, size, 0);
        if (sent <= 0) {
            transfer->client_error = sent < 0 ? errno : EPIPE;
            break;
        }
        transfer->sent_bytes += (uint64_t)sent;
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
    int fd = vs_accept(context, listen_fd, NULL, NULL);
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

/* ---- The target ------------------------------------------------------------------------ */

/* esxi-6.5: every VM restricted, H reaches only the host and the hypervisor; esxi-4.1 with
 * both VMs unrestricted in the same domain: H's datagrams and control packets reach A's
 * own vSockets stack too. */
static struct vs_world *world_create(bool guest_to_guest)
{
    struct vmci_vm_config vms[2] = {
        { .name = "a", .requested_cid = CID_A, .hw_version = 13, .domain = "", .owner = "user",
          .unrestricted = guest_to_guest },
        { .name = "h", .requested_cid = CID_H, .hw_version = 13, .domain = "", .owner = "user",
          .unrestricted = guest_to_guest },
    };
    struct vs_world_config config = { .product = guest_to_guest ? "esxi-4.1" : "esxi-6.5",
                                      .seed = 9, .vm_count = 2, .vms = vms };
    char message[VS_WORLD_MESSAGE_BYTES_MAX] = "";
    struct vs_world *world = vs_world_create(&config, message, sizeof(message));
    if (world == NULL)
        fuzz_fail(TARGET, message);
    return world;
}

static void check_transfer(const struct transfer *transfer, enum sim_stop stopped)
{
    char what[256];
    if (stopped != SIM_STOP_IDLE || !transfer->client_done || !transfer->server_done ||
        transfer->client_error != 0 || transfer->server_error != 0 ||
        transfer->received_bytes != TRANSFER_BYTES || transfer->wrong_bytes != 0) {
        snprintf(what, sizeof(what),
                 "A's transfer disturbed: stopped %d, client done %d error %d sent %llu, "
                 "server done %d error %d received %llu wrong %llu",
                 (int)stopped, transfer->client_done, transfer->client_error,
                 (unsigned long long)transfer->sent_bytes, transfer->server_done,
                 transfer->server_error, (unsigned long long)transfer->received_bytes,
                 (unsigned long long)transfer->wrong_bytes);
        fuzz_fail(TARGET, what);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input input = fuzz_input_make(data, size);
    static uint8_t bytes[RAW_BYTES_MAX];
    struct vs_world *world = world_create(fuzz_u8(&input) % 2 == 1);
    struct vs_context *host = calloc(2, sizeof(*host));
    if (host == NULL)
        fuzz_fail(TARGET, "out of memory");
    struct vs_context *client = host + 1;
    struct transfer transfer = { 0 };
    if (vs_world_context_init(world, host, VMCI_HOST_CONTEXT_ID) != 0 ||
        vs_world_context_init(world, client, CID_A) != 0 ||
        vs_spawn(host, "server", server_body, &transfer, false) != 0 ||
        vs_spawn(client, "client", client_body, &transfer, false) != 0)
        fuzz_fail(TARGET, "world set-up failed");
    for (uint32_t op = 0; op < OPS_MAX && !fuzz_input_done(&input); op++) {
        hostile_op(world, &input, bytes);
        if (!vmci_hypervisor_check(world->hypervisor))
            fuzz_fail(TARGET, "vmci_hypervisor_check failed");
        struct sim_run_result result;
        sim_engine_run(world->engine, SIM_TIME_NEVER, EVENTS_PER_OP, &result);
    }
    enum sim_stop stopped = vs_world_run(world, sim_engine_now(world->engine) + RUN_AFTER_NS);
    if (!vmci_hypervisor_check(world->hypervisor))
        fuzz_fail(TARGET, "vmci_hypervisor_check failed at the end");
    check_transfer(&transfer, stopped);
    vs_context_destroy(client);
    vs_context_destroy(host);
    free(host);
    vs_world_destroy(world);
    return 0;
}
