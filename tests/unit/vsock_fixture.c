/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vsock_fixture.c: the stream-socket test world shared by the vSockets
 * rule suites (vsock_stream_test.c and the *_rules_test.c files): two restricted VMs
 * (CIDs 100 and 200) and the host on esxi-6.5 (or both VMs unrestricted on esxi-4.1),
 * one process context in each, a log of the control packets the transports send, and
 * hand-made control packets written by a guest kernel straight to its device (for rules
 * about malformed or out-of-place packets, which the simulator's own stacks never send).
 */
#include "vsock_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/rng.h"
#include "vmci/defs.h"
#include "vmci/device.h"
#include "vmci/hypervisor.h"

/* ---- Control packets seen at the transport layer --------------------------------------- */

/* A send that failed is traced right after its pkt_send as pkt_send_failed: the result
 * goes to the packet just logged. */
static void packet_log_failure(struct packet_log *log, const struct sim_trace_event *event)
{
    if (log->count == 0)
        return;
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (strcmp(event->fields[index].name, "result") == 0)
            log->packets[log->count - 1].result = event->fields[index].value.i64;
    }
}

int packet_log_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct packet_log *log = state;
    if (event->layer == SIM_LAYER_TRANSPORT && strcmp(event->kind, "pkt_send_failed") == 0)
        packet_log_failure(log, event);
    if (event->layer != SIM_LAYER_TRANSPORT || strcmp(event->kind, "pkt_send") != 0)
        return 0;
    if (log->count >= PACKETS_MAX) {
        log->dropped++;
        return 0;
    }
    struct packet *packet = &log->packets[log->count++];
    memset(packet, 0, sizeof(*packet));
    packet->time_ns = event->time_ns;
    packet->ctx = event->ctx;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, "type") == 0) {
            uint32_t size = field->value.blob.size_bytes < sizeof(packet->type) - 1
                                ? field->value.blob.size_bytes : sizeof(packet->type) - 1;
            memcpy(packet->type, field->value.blob.data, size);
        } else if (strcmp(field->name, "src") == 0) {
            packet->src = field->value.u64;
        } else if (strcmp(field->name, "dst") == 0) {
            packet->dst = field->value.u64;
        } else if (strcmp(field->name, "u0") == 0) {
            packet->u0 = field->value.u64;
        } else if (strcmp(field->name, "u1") == 0) {
            packet->u1 = field->value.u64;

        }
    }
    return 0;
}

struct sim_trace_sink packet_log_sink(struct packet_log *log)
{
    struct sim_trace_sink sink = { .name = "packets", .level = SIM_LAYER_TRANSPORT,
                                   .emit = packet_log_emit, .state = log };
    return sink;
}

/* Packets of `type` sent from CID `cid` since index `from` of the log. */
uint32_t packets_count(const struct packet_log *log, uint32_t from, uint32_t cid,
                              const char *type)
{
    uint32_t count = 0;
    for (uint32_t index = from; index < log->count; index++) {
        const struct packet *packet = &log->packets[index];
        if ((uint32_t)(packet->src >> 32) == cid && strcmp(packet->type, type) == 0)
            count++;
    }
    return count;
}

uint32_t packets_from(const struct packet_log *log, uint32_t from, uint32_t cid)
{
    uint32_t count = 0;
    for (uint32_t index = from; index < log->count; index++)
        count += (uint32_t)(log->packets[index].src >> 32) == cid;
    return count;
}

/* ---- The world ------------------------------------------------------------------------- */


/* The world of `product` (NULL: esxi-6.5) whose two VMs ask for `unrestricted`. */
static struct fixture *fixture_create_in(const char *product, bool unrestricted, uint64_t seed,
                                         const struct sim_trace_sink *sinks, uint32_t sink_count)
{
    struct fixture *f = calloc(1, sizeof(*f));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    struct vmci_vm_config vms[2] = {
        { .name = "a", .requested_cid = CID_A, .hw_version = 13, .domain = "", .owner = "user",
          .unrestricted = unrestricted },
        { .name = "b", .requested_cid = CID_B, .hw_version = 13, .domain = "", .owner = "user",
          .unrestricted = unrestricted },
    };
    struct vs_world_config config = { .product = product, .seed = seed, .vm_count = 2,
                                      .vms = vms, .sinks = sinks, .sink_count = sink_count };
    char message[VS_WORLD_MESSAGE_BYTES_MAX] = "";
    f->world = vs_world_create(&config, message, sizeof(message));
    if (f->world == NULL)
        fprintf(stderr, "vs_world_create: %s\n", message);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->world);
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(f->world, &f->host, CID_HOST), 0);
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(f->world, &f->guest_a, CID_A), 0);
    CU_ASSERT_EQUAL_FATAL(vs_world_context_init(f->world, &f->guest_b, CID_B), 0);
    return f;
}

struct fixture *fixture_create_with(uint64_t seed, const struct sim_trace_sink *sinks,
                                    uint32_t sink_count)
{
    return fixture_create_in(NULL, false, seed, sinks, sink_count);
}

struct fixture *fixture_create_guest_to_guest(const struct sim_trace_sink *sinks,
                                              uint32_t sink_count)
{
    return fixture_create_in("esxi-4.1", true, SEED, sinks, sink_count);
}

struct fixture *fixture_create(void)
{
    return fixture_create_with(SEED, NULL, 0);
}

void fixture_destroy(struct fixture *f)
{
    vs_context_destroy(&f->guest_b);
    vs_context_destroy(&f->guest_a);
    vs_context_destroy(&f->host);
    vs_world_destroy(f->world);
    free(f);
}

enum sim_stop run_idle(struct fixture *f)
{
    enum sim_stop stopped = vs_world_run(f->world, SIM_TIME_NEVER);
    CU_ASSERT_EQUAL(stopped, SIM_STOP_IDLE);
    return stopped;
}

struct sockaddr_vm vm_addr(uint32_t cid, uint32_t port)
{
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof(addr));
    addr.svm_family = AF_VSOCK;
    addr.svm_cid = cid;
    addr.svm_port = port;
    return addr;
}

int stream_socket(struct vs_context *context)
{
    int fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(fd >= VS_FD_FIRST);
    return fd;
}

int dgram_socket(struct vs_context *context)
{
    int fd = vs_socket(context, AF_VSOCK, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(fd >= VS_FD_FIRST);
    return fd;
}

int dgram_bound(struct vs_context *context, uint32_t port)
{
    int fd = dgram_socket(context);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, port);
    ASSERT_RETURNS(vs_bind(context, fd, SA(addr), sizeof(addr)), 0);
    return fd;
}

/* A stream socket bound to {ANY, port} and listening. */
int listener(struct vs_context *context, uint32_t port, int backlog)
{
    int fd = stream_socket(context);
    struct sockaddr_vm addr = vm_addr(VMADDR_CID_ANY, port);
    ASSERT_RETURNS(vs_bind(context, fd, SA(addr), sizeof(addr)), 0);
    ASSERT_RETURNS(vs_listen(context, fd, backlog), 0);
    return fd;
}

/* A plain-code connect: the request goes out (EAGAIN), the engine runs, and the second
 * call reports the outcome. Returns 0 or the errno of the second call. */
int plain_connect(struct fixture *f, struct vs_context *context, int fd, uint32_t cid,
                         uint32_t port)
{
    struct sockaddr_vm addr = vm_addr(cid, port);
    ASSERT_FAILS(vs_connect(context, fd, SA(addr), sizeof(addr)), EAGAIN);
    run_idle(f);
    errno = 0;
    return vs_connect(context, fd, SA(addr), sizeof(addr)) == 0 ? 0 : errno;
}

/* Connects a new socket of `client` to `server`'s listener on `port` (made here) and
 * accepts it: *client_fd and *server_fd are the two ends. Returns the listener. */
int connected_pair(struct fixture *f, struct vs_context *client, struct vs_context *server,
                          uint32_t port, int *client_fd, int *server_fd)
{
    int listen_fd = listener(server, port, 16);
    *client_fd = stream_socket(client);
    CU_ASSERT_EQUAL_FATAL(plain_connect(f, client, *client_fd, vs_local_cid(server), port), 0);
    *server_fd = vs_accept(server, listen_fd, NULL, NULL);
    CU_ASSERT_FATAL(*server_fd >= VS_FD_FIRST);
    return listen_fd;
}

struct sockaddr_vm name_of(struct vs_context *context, int fd, bool peer)
{
    struct sockaddr_vm addr;
    memset(&addr, 0xAA, sizeof(addr));
    socklen_t length = sizeof(addr);
    int rc = peer ? vs_getpeername(context, fd, SA(addr), &length)
                  : vs_getsockname(context, fd, SA(addr), &length);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(length, sizeof(addr));
    return addr;
}

short poll_one(struct vs_context *context, int fd)
{
    struct pollfd entry = { .fd = fd, .events = POLL_ALL };
    int ready = vs_poll(context, &entry, 1, 0);
    CU_ASSERT(ready == 0 || ready == 1);
    CU_ASSERT_EQUAL(ready, entry.revents != 0 ? 1 : 0);
    return entry.revents;
}


/* The byte at `offset` of a test stream: SplitMix64 words, so shifts and repeats show. */
uint8_t stream_byte(uint64_t offset)
{
    return (uint8_t)(sim_splitmix64_mix(offset / 8 + 1) >> (8 * (offset % 8)));
}

void stream_fill(uint8_t *out, uint64_t offset, uint64_t size_bytes)
{
    for (uint64_t index = 0; index < size_bytes; index++)
        out[index] = stream_byte(offset + index);
}


void blocking_connect_body(struct vs_context *context, void *arg)
{
    struct connect_result *result = arg;
    struct sim_engine *engine = context->engine;
    result->fd = vs_socket(context, AF_VSOCK, SOCK_STREAM, 0);
    result->started_ns = sim_engine_now(engine);
    result->events = sim_engine_events_run(engine);
    uint64_t cost_ns = context->cost_ns_charged;
    errno = 0;
    result->rc = vs_connect(context, result->fd, SA(result->target), sizeof(result->target));
    result->error = errno;
    result->ended_ns = sim_engine_now(engine);
    result->events = sim_engine_events_run(engine) - result->events;
    result->cost_ns = context->cost_ns_charged - cost_ns;
}

/* A blocking connect on `context`'s fiber; returns 0 or its errno. */
int fiber_connect(struct fixture *f, struct vs_context *context, uint32_t cid,
                         uint32_t port, struct connect_result *result)
{
    memset(result, 0, sizeof(*result));
    result->target = vm_addr(cid, port);
    result->rc = 1;
    CU_ASSERT_EQUAL_FATAL(vs_spawn(context, "client", blocking_connect_body, result, false), 0);
    run_idle(f);
    CU_ASSERT(result->rc == 0 || result->rc == -1);
    return result->rc == 0 ? 0 : result->error;
}

void mask_guest_interrupts(struct fixture *f, uint32_t cid)
{
    struct vmci_device *device = vmci_hypervisor_device(f->world->hypervisor, cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(device);
    vmci_device_write(device, VMCI_IMR_ADDR, 0);
    ASSERT_U64_EQ(vmci_device_read(device, VMCI_IMR_ADDR), 0);
}

int fixture_inject_packet(struct fixture *f, uint32_t from_cid, const struct injected_packet *packet)
{
    struct vmci_device *device = vmci_hypervisor_device(f->world->hypervisor, from_cid);
    CU_ASSERT_PTR_NOT_NULL_FATAL(device);
    CU_ASSERT_FATAL(packet->payload_bytes <= VSOCK_PACKET_PAYLOAD_BYTES);
    uint8_t bytes[VSOCK_PACKET_BYTES];
    memset(bytes, 0, sizeof(bytes));
    struct vmci_datagram_header header = {
        .dst = { packet->dst_cid, packet->dst_rid != 0 ? packet->dst_rid : 1u },
        .src = { from_cid, packet->src_rid != 0 ? packet->src_rid : 1u },
        .payload_size = packet->payload_bytes,
    };
    vmci_header_encode(bytes, &header);
    uint8_t *payload = bytes + VMCI_DG_HEADERSIZE;
    payload[0] = packet->version;
    payload[1] = packet->type;
    payload[2] = (uint8_t)packet->proto;
    payload[3] = (uint8_t)(packet->proto >> 8);
    vmci_write_u32(payload + 4, packet->src_port);
    vmci_write_u32(payload + 8, packet->dst_port);
    vmci_write_u64(payload + 16, packet->u0);
    vmci_write_u64(payload + 24, packet->u1);
    vmci_device_write_data_out(device, bytes, VMCI_DG_HEADERSIZE + packet->payload_bytes);
    return (int32_t)vmci_device_read(device, VMCI_RESULT_LOW_ADDR);
}

struct injected_packet injected_packet_make(uint32_t dst_cid, uint8_t type, uint32_t src_port,
                                            uint32_t dst_port)
{
    struct injected_packet packet = {
        .dst_cid = dst_cid, .dst_rid = 1, .src_rid = 1, .version = VSOCK_PACKET_VERSION,
        .type = type, .src_port = src_port, .dst_port = dst_port,
        .payload_bytes = VSOCK_PACKET_PAYLOAD_BYTES,
    };
    return packet;
}
