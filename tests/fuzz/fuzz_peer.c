/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_peer.c: fuzz target (b), a hostile peer (docs/fuzzing.md).
 *
 * World: esxi-6.5, the host and a VM A (CID 100) with these sockets, made by plain
 * (never-blocking) calls before the input is read:
 *   host: a listener on 5000, the accepted end of A's connection to it, and a client
 *         connected to A's listener on 6000;
 *   A:    a listener on 6000, the accepted end of the host's connection, and a client
 *         connected to the host's listener.
 * The input is a sequence of operations: a control packet with input-chosen type, version,
 * ports, union words and length, written to A's device as a guest kernel would (so it
 * reaches the host's sockets with A's true CID) or sent by the host kernel with the host's
 * control handle as source (reaching A's sockets); ports are mostly those of the sockets
 * above, so packets hit listening and connected sockets; ordinary traffic on the two
 * connections; a new connect to either listener; shutdown and close; runs of the engine.
 *
 * Invariants (a failure aborts): the hypervisor's consistency check holds after every
 * operation; once every descriptor is closed and the engine has run out of events within
 * SETTLE_NS, no socket is left (world->socket_count is 0) and the check still holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmci/defs.h"
#include "vmci/device.h"
#include "vmci/hypervisor.h"
#include "vsock/vs_world.h"

#define TARGET "peer"
#define CID_A 100u
#define HOST_PORT 5000u
#define GUEST_PORT 6000u
#define OPS_MAX 256u
#define TRAFFIC_BYTES_MAX 8192u
#define SETTLE_NS (3600ull * 1000000000ull)
#define PORTS 8u
#define BUFFER_BYTES 4096u               /* each socket's queue size (small_buffers) */

enum { FD_LISTEN, FD_ACCEPTED, FD_CLIENT, FD_EXTRA, FDS };

struct side {
    struct vs_context context;
    int fds[FDS];                        /* -1: none */
};

struct peer {
    struct vs_world *world;
    struct sim_digest *digest;           /* VMCISIM_FUZZ_PRINT only: the run's trace digest */
    struct side host;
    struct side guest;
    uint32_t ports[PORTS];               /* ports worth aiming at */
    uint8_t traffic[TRAFFIC_BYTES_MAX];
};

/* Every socket of the target asks for queues of BUFFER_BYTES (the accepted ends inherit
 * their listener's): a queue pair is allocated and zeroed per connection, and at the
 * default size that was a third of an input's cost. Small queues also fill sooner, so
 * more inputs reach the flow-control paths. */
static void small_buffers(struct vs_context *context, int fd)
{
    uint64_t size = BUFFER_BYTES;
    if (fd >= 0)
        (void)vs_setsockopt(context, fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &size,
                            sizeof(size));
}

static void run_events(struct peer *p, uint64_t events)
{
    struct sim_run_result result;
    sim_engine_run(p->world->engine, SIM_TIME_NEVER, events, &result);
}

static int listening(struct vs_context *context, uint32_t port)
{
    int fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm any = fuzz_address(VMADDR_CID_ANY, port);
    small_buffers(context, fd);
    if (fd < 0 || vs_bind(context, fd, (struct sockaddr *)&any, sizeof(any)) != 0 ||
        vs_listen(context, fd, 8) != 0)
        fuzz_fail(TARGET, "listener set-up failed");
    return fd;
}

/* A plain connect: the request goes out (EAGAIN); the outcome shows on the next call. */
static int connect_start(struct vs_context *context, uint32_t cid, uint32_t port)
{
    int fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm target = fuzz_address(cid, port);
    small_buffers(context, fd);
    if (fd >= 0)
        (void)vs_connect(context, fd, (struct sockaddr *)&target, sizeof(target));
    return fd;
}

static uint32_t local_port(struct vs_context *context, int fd)
{
    struct sockaddr_vm addr;
    socklen_t length = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    if (fd < 0 || vs_getsockname(context, fd, (struct sockaddr *)&addr, &length) != 0)
        return 0;
    return addr.svm_port;
}

static void set_up(struct peer *p)
{
    struct vmci_vm_config vm = { .name = "a", .requested_cid = CID_A, .hw_version = 13,
                                 .domain = "", .owner = "user" };
    struct vs_world_config config = { .seed = 11, .vm_count = 1, .vms = &vm };
    struct sim_trace_sink sink;
    p->digest = getenv("VMCISIM_FUZZ_PRINT") != NULL ? sim_digest_create() : NULL;
    if (p->digest != NULL) {
        sink = sim_digest_sink(p->digest);
        config.sinks = &sink;
        config.sink_count = 1;
    }
    char message[VS_WORLD_MESSAGE_BYTES_MAX] = "";
    p->world = vs_world_create(&config, message, sizeof(message));
    if (p->world == NULL)
        fuzz_fail(TARGET, message);
    if (vs_world_context_init(p->world, &p->host.context, VMCI_HOST_CONTEXT_ID) != 0 ||
        vs_world_context_init(p->world, &p->guest.context, CID_A) != 0)
        fuzz_fail(TARGET, "context set-up failed");
    for (int index = 0; index < FDS; index++)
        p->host.fds[index] = p->guest.fds[index] = -1;
    p->host.fds[FD_LISTEN] = listening(&p->host.context, HOST_PORT);
    p->guest.fds[FD_LISTEN] = listening(&p->guest.context, GUEST_PORT);
    p->guest.fds[FD_CLIENT] = connect_start(&p->guest.context, VMCI_HOST_CONTEXT_ID, HOST_PORT);
    p->host.fds[FD_CLIENT] = connect_start(&p->host.context, CID_A, GUEST_PORT);
    vs_world_run(p->world, SIM_TIME_NEVER);
    p->host.fds[FD_ACCEPTED] = vs_accept(&p->host.context, p->host.fds[FD_LISTEN], NULL, NULL);
    p->guest.fds[FD_ACCEPTED] = vs_accept(&p->guest.context, p->guest.fds[FD_LISTEN], NULL, NULL);
    if (p->host.fds[FD_ACCEPTED] < 0 || p->guest.fds[FD_ACCEPTED] < 0)
        fuzz_fail(TARGET, "the two connections were not established");
    uint32_t ports[PORTS] = { HOST_PORT, GUEST_PORT,
                              local_port(&p->guest.context, p->guest.fds[FD_CLIENT]),
                              local_port(&p->host.context, p->host.fds[FD_CLIENT]),
                              1, 0, VMADDR_PORT_ANY, 1024 };
    memcpy(p->ports, ports, sizeof(ports));
}

static void tear_down(struct peer *p)
{
    vs_context_destroy(&p->guest.context);
    vs_context_destroy(&p->host.context);
    vs_world_destroy(p->world);
    sim_digest_destroy(p->digest);
}

/* ---- Operations ------------------------------------------------------------------------ */

static uint32_t pick_port(struct peer *p, struct fuzz_input *input)
{
    uint8_t kind = fuzz_u8(input);
    return kind < 224 ? p->ports[kind % PORTS] : fuzz_u32(input);
}

/* One control packet (R147) with input-chosen fields, from A's device or the host kernel. */
static void inject_packet(struct peer *p, struct fuzz_input *input)
{
    bool from_guest = fuzz_u8(input) % 2 == 0;
    uint8_t bytes[VSOCK_PACKET_BYTES];
    memset(bytes, 0, sizeof(bytes));
    uint8_t shape = fuzz_u8(input);
    uint8_t *payload = bytes + VMCI_DG_HEADERSIZE;
    payload[0] = shape < 230 ? VSOCK_PACKET_VERSION : fuzz_u8(input);
    uint8_t type = fuzz_u8(input);
    payload[1] = type < 240 ? type % VSOCK_PACKET_MAX : type;
    uint16_t proto = shape % 16 == 15 ? fuzz_u16(input) : 0;
    payload[2] = (uint8_t)proto;
    payload[3] = (uint8_t)(proto >> 8);
    vmci_write_u32(payload + 4, pick_port(p, input));
    vmci_write_u32(payload + 8, pick_port(p, input));
    uint8_t words = fuzz_u8(input);
    vmci_write_u64(payload + 16, words % 4 == 0 ? fuzz_u64(input) : fuzz_u16(input));
    vmci_write_u64(payload + 24, words % 8 == 0 ? fuzz_u64(input) : fuzz_u8(input));
    uint32_t payload_bytes = shape % 32 == 31 ? fuzz_u8(input) % (VSOCK_PACKET_PAYLOAD_BYTES + 1)
                                              : VSOCK_PACKET_PAYLOAD_BYTES;
    uint32_t rids = fuzz_u8(input) < 240 ? 1 : fuzz_u32(input);
    struct vmci_datagram_header header = {
        .dst = { from_guest ? VMCI_HOST_CONTEXT_ID : CID_A, rids },
        .src = { from_guest ? CID_A : VMCI_HOST_CONTEXT_ID, 1 },
        .payload_size = payload_bytes,
    };
    if (from_guest) {
        struct vmci_device *device = vmci_hypervisor_device(p->world->hypervisor, CID_A);
        if (device == NULL)
            return;
        vmci_header_encode(bytes, &header);
        vmci_device_write_data_out(device, bytes, VMCI_DG_HEADERSIZE + payload_bytes);
    } else {
        (void)vmci_dg_send(p->world->host.kernel, &header, payload, NULL);
    }
}

static struct side *pick_side(struct peer *p, struct fuzz_input *input)
{
    return fuzz_u8(input) % 2 == 0 ? &p->host : &p->guest;
}

static void traffic(struct peer *p, struct fuzz_input *input)
{
    struct side *side = pick_side(p, input);
    int fd = side->fds[fuzz_u8(input) % FDS];
    size_t size = fuzz_u16(input) % TRAFFIC_BYTES_MAX;
    if (fd < 0)
        return;
    if (fuzz_u8(input) % 2 == 0) {
        memset(p->traffic, 0x5A, size);
        (void)vs_send(&side->context, fd, p->traffic, size, MSG_DONTWAIT);
    } else {
        (void)vs_recv(&side->context, fd, p->traffic, size, MSG_DONTWAIT);
    }
}

static void socket_op(struct peer *p, struct fuzz_input *input)
{
    struct side *side = pick_side(p, input);
    uint8_t what = fuzz_u8(input);
    int *fd = &side->fds[what / 4 % FDS];
    switch (what % 4) {
    case 0:
        if (*fd >= 0)
            (void)vs_shutdown(&side->context, *fd, 1 + fuzz_u8(input) % 3);
        break;
    case 1:
        if (*fd >= 0)
            (void)vs_close(&side->context, *fd);
        *fd = -1;
        break;
    case 2:
        if (side->fds[FD_EXTRA] < 0)
            side->fds[FD_EXTRA] = side == &p->host
                                      ? connect_start(&side->context, CID_A, GUEST_PORT)
                                      : connect_start(&side->context, VMCI_HOST_CONTEXT_ID,
                                                      HOST_PORT);
        break;
    default:
        if (side->fds[FD_LISTEN] >= 0 && side->fds[FD_EXTRA] < 0)
            side->fds[FD_EXTRA] = vs_accept(&side->context, side->fds[FD_LISTEN], NULL, NULL);
        break;
    }
}

/* With the environment variable VMCISIM_FUZZ_SELF_TEST set, the host's listener is left
 * open: tests/fuzz_replay_test.sh sees the "no socket left" check fail. */
static bool leave_listener_open;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    leave_listener_open = getenv("VMCISIM_FUZZ_SELF_TEST") != NULL;
    return 0;
}

static void close_all(struct side *side)
{
    for (int index = 0; index < FDS; index++) {
        if (side->fds[index] >= 0 && !(leave_listener_open && index == FD_LISTEN))
            (void)vs_close(&side->context, side->fds[index]);
        side->fds[index] = -1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct peer p;
    struct fuzz_input input = fuzz_input_make(data, size);
    set_up(&p);
    for (uint32_t op = 0; op < OPS_MAX && !fuzz_input_done(&input); op++) {
        uint8_t kind = fuzz_u8(&input);
        if (kind < 128)
            inject_packet(&p, &input);
        else if (kind < 176)
            traffic(&p, &input);
        else if (kind < 208)
            socket_op(&p, &input);
        else
            run_events(&p, 1 + fuzz_u8(&input));
        if (!vmci_hypervisor_check(p.world->hypervisor))
            fuzz_fail(TARGET, "vmci_hypervisor_check failed");
    }
    vs_world_run(p.world, sim_engine_now(p.world->engine) + SETTLE_NS);
    close_all(&p.host);
    close_all(&p.guest);
    enum sim_stop stopped = vs_world_run(p.world, sim_engine_now(p.world->engine) + SETTLE_NS);
    char what[160];
    if (stopped != SIM_STOP_IDLE || p.world->socket_count != 0) {
        snprintf(what, sizeof(what), "after closing everything: stopped %d, %u sockets left",
                 (int)stopped, p.world->socket_count);
        fuzz_fail(TARGET, what);
    }
    if (!vmci_hypervisor_check(p.world->hypervisor))
        fuzz_fail(TARGET, "vmci_hypervisor_check failed at the end");
    if (p.digest != NULL) {                 /* tests/fuzz_replay_test.sh compares these */
        char hex[33];
        sim_digest_hex(p.digest, hex);
        fprintf(stderr, "peer: outcome: stopped %d, %llu events, digest %s\n", (int)stopped,
                (unsigned long long)sim_engine_events_run(p.world->engine), hex);
    }
    tear_down(&p);
    return 0;
}
