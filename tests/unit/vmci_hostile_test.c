/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/vmci_hostile_test.c: one hostile guest cannot harm the hypervisor or
 * the other VMs (reference 3.2-3.6, R28, R32, R34, R36, R37, R45, R51, R197;
 * docs/device.md).
 *
 * World: esxi-6.5 (default), three VMs: H, played by the test through its raw
 * device, and A and B, whose drivers are well behaved. The host has an echo
 * datagram handle with the default trusted identity of a host process (D1). A and
 * B each send DATAGRAMS_PER_VM datagrams of deterministic content to the echo
 * handle, a few in flight at a time, and check that every reply comes back intact
 * and in order.
 *
 * Meanwhile the test drives H's device with HOSTILE_OPS random operations from the
 * world's "hostile" stream: register reads and writes at any offset (wild ones too)
 * with any value, CONTROL writes including RESET, DATA_OUT transfers of random
 * length and content (garbage, well-formed datagrams with spoofed sources, oversize
 * headers, hypercalls with plausible and implausible payloads), and DATA_IN reads of
 * any length; every OPS_PER_STEP operations the engine runs up to EVENTS_PER_STEP
 * events. A model of H's DATA_OUT stream (docs/device.md: HEADER, BODY, DISCARD) tells
 * the test when a new datagram starts, so it can check H's own results exactly:
 *   - IMR reads back what was written, masked to bits 0..2 (device.md);
 *   - STATUS.INT_ON follows CONTROL (RESET, then INT_ENABLE, then INT_DISABLE), and a
 *     RESET leaves IMR 0 (R32, R34);
 *   - RESULT_LOW is -2 right after a complete header declaring more than 69632 bytes
 *     (R36), and -7 right after a well-formed datagram whose source is A's CID (R37);
 *   - H ringing A's doorbell is -10 (R45).
 * vmci_hypervisor_check runs after every operation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/rng.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/device.h"
#include "vmci/hypervisor.h"
#include "vmci/vmci.h"

#define CID_H 100u
#define CID_A 200u
#define CID_B 300u
#define HW_VERSION 13u
#define HOSTILE_OPS 200000u
#define DETERMINISM_OPS 20000u
#define DATAGRAMS_PER_VM 500u
#define OPS_PER_STEP 100u
#define EVENTS_PER_STEP 50u
#define IN_FLIGHT_MAX 4u                /* datagrams of one sender not yet echoed */
#define DRAIN_STEPS_MAX 100000u
#define PAYLOAD_BYTES_MAX 20000u        /* of A's and B's datagrams */
#define HOSTILE_BYTES_MAX 80000u        /* > VMCI_DEVICE_TRANSFER_BYTES_MAX: split transfers */
#define HOSTILE_RIDS 16u                /* H's hypercalls aim at RIDs 1024..1039 */

/* A well-behaved VM that sends to the echo handle and checks what comes back. */
struct sender {
    struct hostile *world;
    struct vmci_kernel *kernel;
    uint32_t cid;
    struct vmci_handle handle;
    uint32_t sent;
    uint32_t received;
    uint64_t bytes_sent;
    uint64_t bytes_received;
    uint32_t corrupt;               /* replies with a wrong header, size or content */
    uint32_t send_failures;
};

enum out_state { OUT_HEADER, OUT_BODY, OUT_DISCARD };

struct hostile {
    struct sim_engine *engine;
    struct vmci_hypervisor *hv;
    struct vmci_kernel *host;
    struct vmci_device *device;     /* H's */
    struct sim_rng *rng;            /* borrowed: the engine's "hostile" stream */
    struct vmci_handle echo;
    struct vmci_handle a_doorbell;
    uint32_t a_doorbell_rings;
    uint32_t echo_failures;         /* echoes to A or B that were not accepted */
    struct sender senders[2];
    /* H's DATA_OUT stream as the device must see it (docs/device.md). */
    enum out_state out;
    uint32_t out_header_bytes;
    uint8_t out_header[VMCI_DG_HEADERSIZE];
    uint64_t out_remaining_bytes;
    /* Checks and their failures. */
    uint64_t check_failures;
    uint64_t imr_checks, imr_failures;
    uint64_t status_checks, status_failures;
    uint64_t oversize_checks, oversize_failures;
    uint64_t spoof_checks, spoof_failures;
    uint64_t doorbell_checks, doorbell_failures;
    uint64_t resets;
    uint64_t engine_errors;
    /* What H achieved, from the trace (proof that the run reached the hypervisor). */
    uint64_t h_interrupts;          /* device "interrupt" events of H */
    uint64_t h_routed;              /* "dg_route" from H with a result >= 0 */
    uint64_t h_routed_to_host;      /* ... of which to the host */
    uint64_t h_qp_created;          /* "qp_create" by H with a result >= 0 */
    uint8_t *scratch;               /* HOSTILE_BYTES_MAX */
    uint8_t *expected;              /* PAYLOAD_BYTES_MAX */
};

/* ---- Deterministic payloads (sim.pattern's formula) ------------------------------------- */

static void pattern_fill(uint8_t *out, uint64_t seed, uint64_t size_bytes)
{
    for (uint64_t position = 0; position < size_bytes; position++) {
        uint64_t word = sim_splitmix64_mix(seed + (position / 8) * 0x9E3779B97F4A7C15ull);
        out[position] = (uint8_t)(word >> (8 * (position % 8)));
    }
}

/* Datagram `seq` of VM `cid`: sizes from 0 to PAYLOAD_BYTES_MAX, mostly small. */
static uint64_t payload_size(uint32_t cid, uint32_t seq)
{
    if (seq % 97 == 0)
        return 0;
    if (seq % 50 == 7)
        return PAYLOAD_BYTES_MAX - (seq + cid) % 64;
    return 1 + ((uint64_t)seq * 2654435761u + cid) % 2048;
}

static uint64_t payload_seed(uint32_t cid, uint32_t seq)
{
    return (uint64_t)cid << 32 | seq;
}

/* ---- A, B and the echo --------------------------------------------------------------------- */

static void echo_recv(void *state, const struct vmci_datagram_header *header,
                      const uint8_t *payload)
{
    struct hostile *h = state;
    struct vmci_datagram_header reply = {
        .dst = header->src, .src = h->echo, .payload_size = header->payload_size,
    };
    int64_t result = vmci_dg_send(h->host, &reply, payload, NULL);
    bool to_sender = header->src.context == CID_A || header->src.context == CID_B;
    if (to_sender && result != (int64_t)(VMCI_DG_HEADERSIZE + header->payload_size))
        h->echo_failures++;
}

static void sender_recv(void *state, const struct vmci_datagram_header *header,
                        const uint8_t *payload)
{
    struct sender *s = state;
    uint64_t size = payload_size(s->cid, s->received);
    pattern_fill(s->world->expected, payload_seed(s->cid, s->received), size);
    bool intact = vmci_handle_equal(header->src, s->world->echo) &&
                  vmci_handle_equal(header->dst, s->handle) && header->payload_size == size &&
                  (size == 0 || memcmp(payload, s->world->expected, size) == 0);
    if (!intact && s->corrupt++ == 0)
        fprintf(stderr, "vmci_hostile: VM %u reply %u is not what it sent\n", s->cid,
                s->received);
    s->received++;
    s->bytes_received += header->payload_size;
}

static void sender_send(struct sender *s)
{
    uint64_t size = payload_size(s->cid, s->sent);
    pattern_fill(s->world->expected, payload_seed(s->cid, s->sent), size);
    struct vmci_datagram_header header = {
        .dst = s->world->echo, .src = s->handle, .payload_size = size,
    };
    int64_t result = vmci_dg_send(s->kernel, &header, s->world->expected, NULL);
    if (result != (int64_t)(VMCI_DG_HEADERSIZE + size)) {
        if (s->send_failures++ == 0)
            fprintf(stderr, "vmci_hostile: VM %u send %u: %lld\n", s->cid, s->sent,
                    (long long)result);
        return;
    }
    s->sent++;
    s->bytes_sent += size;
}

/* Sends until `target` datagrams are out (at most IN_FLIGHT_MAX unanswered). */
static void senders_step(struct hostile *h, uint32_t target)
{
    for (int index = 0; index < 2; index++) {
        struct sender *s = &h->senders[index];
        while (s->sent < target && s->sent - s->received < IN_FLIGHT_MAX &&
               s->send_failures == 0)
            sender_send(s);
    }
}

static bool senders_done(const struct hostile *h)
{
    return h->senders[0].received >= DATAGRAMS_PER_VM &&
           h->senders[1].received >= DATAGRAMS_PER_VM;
}

static void count_ring(void *state)
{
    (*(uint32_t *)state)++;
}

static const struct sim_trace_field *field(const struct sim_trace_event *event, const char *name)
{
    for (uint32_t index = 0; index < event->field_count; index++) {
        if (strcmp(event->fields[index].name, name) == 0)
            return &event->fields[index];
    }
    return NULL;
}

static int stats_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct hostile *h = state;
    if (event->ctx != CID_H)
        return 0;
    const struct sim_trace_field *result = field(event, "result");
    bool ok = result != NULL && result->value.i64 >= 0;
    if (strcmp(event->kind, "interrupt") == 0)
        h->h_interrupts++;
    else if (strcmp(event->kind, "qp_create") == 0 && ok)
        h->h_qp_created++;
    else if (strcmp(event->kind, "dg_route") == 0 && ok) {
        h->h_routed++;
        const struct sim_trace_field *dst = field(event, "dst_cid");
        h->h_routed_to_host += dst != NULL && dst->value.u64 == VMCI_HOST_CONTEXT_ID;
    }
    return 0;
}

/* ---- World ----------------------------------------------------------------------------------- */

static struct vmci_kernel *vm_on(struct hostile *h, uint32_t cid, const char *name)
{
    struct vmci_vm_config config = {
        .name = name, .requested_cid = cid, .hw_version = HW_VERSION, .unrestricted = false,
        .domain = "", .owner = "user",
    };
    struct vmci_kernel *kernel = NULL;
    CU_ASSERT_FATAL(vmci_hypervisor_vm_power_on(h->hv, &config, &kernel) == VMCI_SUCCESS);
    return kernel;
}

static void run_idle(struct hostile *h)
{
    struct sim_run_result result;
    sim_engine_run(h->engine, SIM_TIME_NEVER, 0, &result);
    ASSERT_U64_EQ(result.stopped, SIM_STOP_IDLE);
}

static struct hostile *hostile_create(struct sim_digest *digest)
{
    struct hostile *h = calloc(1, sizeof(*h));
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    h->scratch = malloc(HOSTILE_BYTES_MAX);
    h->expected = malloc(PAYLOAD_BYTES_MAX);
    CU_ASSERT_FATAL(h->scratch != NULL && h->expected != NULL);
    struct sim_limits limits = sim_limits_default();
    h->engine = sim_engine_create(&limits, 0x5EED);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->engine);
    if (digest != NULL)
        CU_ASSERT_FATAL(sim_engine_sink_attach(h->engine, sim_digest_sink(digest)) == SIM_OK);
    struct sim_trace_sink stats = {
        .name = "hostile_stats", .level = SIM_LAYER_DEVICE, .emit = stats_emit, .state = h,
    };
    CU_ASSERT_FATAL(sim_engine_sink_attach(h->engine, stats) == SIM_OK);
    struct vmci_profile profile;
    char message[128];
    CU_ASSERT_FATAL(vmci_profile_lookup("esxi-6.5", NULL, &profile, message,
                                        sizeof(message)) == 0);
    struct vmci_cost cost = vmci_cost_default();
    h->hv = vmci_hypervisor_create(h->engine, &profile, &cost);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->hv);
    h->host = vmci_hypervisor_host(h->hv);
    h->rng = sim_engine_rng(h->engine, "hostile");
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->rng);
    struct vmci_identity identity = { .user = "user" };
    vmci_profile_host_identity(&profile, true, false, false, &identity.trusted,
                               &identity.owner_rule);
    CU_ASSERT_FATAL(vmci_dg_create(h->host, VMCI_INVALID_ID, 0, &identity, echo_recv, h,
                                   &h->echo) == VMCI_SUCCESS);
    (void)vm_on(h, CID_H, "hostile");
    h->senders[0].kernel = vm_on(h, CID_A, "a");
    h->senders[1].kernel = vm_on(h, CID_B, "b");
    run_idle(h);                                                        /* D4 */
    h->device = vmci_hypervisor_device(h->hv, CID_H);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h->device);
    for (int index = 0; index < 2; index++) {
        struct sender *s = &h->senders[index];
        s->world = h;
        s->cid = index == 0 ? CID_A : CID_B;
        CU_ASSERT_FATAL(vmci_kernel_ready(s->kernel));
        CU_ASSERT_FATAL(vmci_dg_create(s->kernel, VMCI_INVALID_ID, 0, NULL, sender_recv, s,
                                       &s->handle) == VMCI_SUCCESS);
    }
    CU_ASSERT_FATAL(vmci_doorbell_create(h->senders[0].kernel, count_ring, &h->a_doorbell_rings,
                                         &h->a_doorbell, NULL) == VMCI_SUCCESS);
    return h;
}

static void hostile_destroy(struct hostile *h)
{
    vmci_hypervisor_destroy(h->hv);
    sim_engine_destroy(h->engine);
    free(h->scratch);
    free(h->expected);
    free(h);
}

/* ---- H's DATA_OUT stream model (docs/device.md, "DATA_OUT") ------------------------------------ */

static void out_model_reset(struct hostile *h)
{
    h->out = OUT_HEADER;
    h->out_header_bytes = 0;
    h->out_remaining_bytes = 0;
}

static bool out_at_datagram_start(const struct hostile *h)
{
    return h->out == OUT_HEADER && h->out_header_bytes == 0;
}

static void out_model_feed(struct hostile *h, const uint8_t *bytes, size_t size_bytes)
{
    size_t index = 0;
    while (index < size_bytes) {
        if (h->out == OUT_HEADER) {
            uint32_t take = VMCI_DG_HEADERSIZE - h->out_header_bytes;
            if (take > size_bytes - index)
                take = (uint32_t)(size_bytes - index);
            memcpy(h->out_header + h->out_header_bytes, bytes + index, take);
            h->out_header_bytes += take;
            index += take;
            if (h->out_header_bytes < VMCI_DG_HEADERSIZE)
                break;
            uint64_t payload_bytes = vmci_read_u64(h->out_header + 16);
            h->out_header_bytes = 0;
            h->out_remaining_bytes = payload_bytes;
            h->out = payload_bytes > VMCI_MAX_DG_PAYLOAD_SIZE ? OUT_DISCARD
                     : payload_bytes > 0                      ? OUT_BODY
                                                              : OUT_HEADER;
            continue;
        }
        uint64_t take = h->out_remaining_bytes;
        if (take > size_bytes - index)
            take = size_bytes - index;
        h->out_remaining_bytes -= take;
        index += take;
        if (h->out_remaining_bytes == 0)
            h->out = OUT_HEADER;
    }
}

static void out_write(struct hostile *h, const uint8_t *bytes, size_t size_bytes)
{
    vmci_device_write_data_out(h->device, bytes, size_bytes);
    out_model_feed(h, bytes, size_bytes);
}

/* ---- Random choices ----------------------------------------------------------------------------- */

static uint64_t below(struct hostile *h, uint64_t bound)
{
    return sim_rng_below(h->rng, bound);
}

static uint32_t random_u32(struct hostile *h)
{
    return (uint32_t)sim_rng_next(h->rng);
}

static void random_bytes(struct hostile *h, uint8_t *out, size_t size_bytes)
{
    for (size_t index = 0; index < size_bytes; index++)
        out[index] = (uint8_t)sim_rng_next(h->rng);
}

/* Register offsets: mostly the defined ones, some unaligned, some anywhere (R28). */
static uint32_t random_offset(struct hostile *h)
{
    uint64_t kind = below(h, 100);
    if (kind < 70)
        return (uint32_t)below(h, VMCI_REGISTER_WINDOW_BYTES / 4) * 4;
    if (kind < 85)
        return (uint32_t)below(h, 0x44);
    return random_u32(h);
}

static uint32_t random_value(struct hostile *h)
{
    uint64_t kind = below(h, 4);
    return kind == 0 ? (uint32_t)below(h, 8) : kind == 1 ? (uint32_t)below(h, 256)
                                                         : random_u32(h);
}

static struct vmci_handle random_handle(struct hostile *h)
{
    static const uint32_t contexts[] = { CID_H, CID_A, CID_B, VMCI_HOST_CONTEXT_ID,
                                         VMCI_HYPERVISOR_CONTEXT_ID, VMCI_INVALID_ID, 1, 7 };
    uint64_t kind = below(h, 10);
    if (kind == 0)
        return h->echo;
    if (kind == 1)
        return h->a_doorbell;
    if (kind == 2)
        return h->senders[below(h, 2)].handle;
    if (kind == 3)
        return (struct vmci_handle){ random_u32(h), random_u32(h) };
    uint32_t context = contexts[below(h, sizeof(contexts) / sizeof(contexts[0]))];
    uint32_t resource = below(h, 4) == 0 ? random_u32(h) : 1024u + (uint32_t)below(h, HOSTILE_RIDS);
    return (struct vmci_handle){ context, resource };
}

/* ---- Checks --------------------------------------------------------------------------------- */

static void check_imr(struct hostile *h, uint32_t value)
{
    uint32_t read = vmci_device_read(h->device, VMCI_IMR_ADDR);
    h->imr_checks++;
    if (read != (value & (VMCI_IMR_DATAGRAM | VMCI_IMR_NOTIFICATION | VMCI_IMR_DMA_DATAGRAM)) &&
        h->imr_failures++ == 0)
        fprintf(stderr, "vmci_hostile: IMR wrote 0x%x, read 0x%x\n", value, read);
}

/* A CONTROL write: RESET, then INT_ENABLE, then INT_DISABLE (device.md); STATUS follows. */
static void control_write(struct hostile *h, uint32_t value)
{
    uint32_t int_on = vmci_device_read(h->device, VMCI_STATUS_ADDR) & VMCI_STATUS_INT_ON;
    vmci_device_write(h->device, VMCI_CONTROL_ADDR, value);
    if (value & VMCI_CONTROL_RESET) {
        h->resets++;
        int_on = 0;
        out_model_reset(h);
        h->imr_checks++;
        if (vmci_device_read(h->device, VMCI_IMR_ADDR) != 0 && h->imr_failures++ == 0)
            fprintf(stderr, "vmci_hostile: IMR not 0 after RESET\n");
    }
    if (value & VMCI_CONTROL_INT_ENABLE)
        int_on = VMCI_STATUS_INT_ON;
    if (value & VMCI_CONTROL_INT_DISABLE)
        int_on = 0;
    uint32_t status = vmci_device_read(h->device, VMCI_STATUS_ADDR);
    h->status_checks++;
    if (status != int_on && h->status_failures++ == 0)
        fprintf(stderr, "vmci_hostile: CONTROL 0x%x left STATUS 0x%x, expected 0x%x\n", value,
                status, int_on);
}

/* Brings H's DATA_OUT stream to the start of a datagram: completes what is pending when
 * that is short, else resets the device. */
static void out_align(struct hostile *h)
{
    for (int tries = 0; tries < 3 && !out_at_datagram_start(h); tries++) {
        if (h->out == OUT_HEADER) {
            uint32_t missing = VMCI_DG_HEADERSIZE - h->out_header_bytes;
            memset(h->scratch, 0, missing);         /* a small payload_size, if any is left */
            out_write(h, h->scratch, missing);
        } else if (h->out_remaining_bytes <= HOSTILE_BYTES_MAX) {
            random_bytes(h, h->scratch, h->out_remaining_bytes);
            out_write(h, h->scratch, h->out_remaining_bytes);
        } else {
            break;
        }
    }
    if (!out_at_datagram_start(h))
        control_write(h, VMCI_CONTROL_RESET | VMCI_CONTROL_INT_ENABLE);
}

static int32_t result_low(struct hostile *h)
{
    return (int32_t)vmci_device_read(h->device, VMCI_RESULT_LOW_ADDR);
}

/* R36: a complete header declaring more than 69632 bytes is -2 at once. */
static void check_oversize(struct hostile *h)
{
    out_align(h);
    static const uint64_t sizes[] = { VMCI_MAX_DG_PAYLOAD_SIZE + 1, VMCI_MAX_DG_SIZE,
                                      UINT32_MAX, UINT64_MAX, UINT64_MAX - VMCI_DG_HEADERSIZE };
    uint64_t kind = below(h, 8);
    uint64_t payload_bytes = kind < 5 ? sizes[kind]
                                      : VMCI_MAX_DG_PAYLOAD_SIZE + 1 + below(h, 3 * VMCI_MAX_DG_SIZE);
    struct vmci_datagram_header header = {
        .dst = random_handle(h), .src = { CID_H, 1024 }, .payload_size = payload_bytes,
    };
    uint8_t bytes[VMCI_DG_HEADERSIZE];
    vmci_header_encode(bytes, &header);
    out_write(h, bytes, sizeof(bytes));
    h->oversize_checks++;
    uint32_t high = vmci_device_read(h->device, VMCI_RESULT_HIGH_ADDR);
    int32_t low = result_low(h);
    if ((low != VMCI_ERROR_INVALID_ARGS || high != 0xFFFFFFFFu) && h->oversize_failures++ == 0)
        fprintf(stderr, "vmci_hostile: oversize header (%llu) gave RESULT 0x%08x%08x\n",
                (unsigned long long)payload_bytes, high, (uint32_t)low);
}

/* R37: a well-formed datagram from H with A's CID as source is -7, wherever it goes. */
static void check_spoof(struct hostile *h)
{
    out_align(h);
    struct vmci_handle targets[] = { h->echo, h->senders[0].handle, h->senders[1].handle,
                                     { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_GET_CONTEXT_ID },
                                     { CID_H, 1024 } };
    uint64_t payload_bytes = below(h, 4) == 0 ? below(h, 4096) : below(h, 64);
    struct vmci_datagram_header header = {
        .dst = targets[below(h, sizeof(targets) / sizeof(targets[0]))],
        .src = { CID_A, below(h, 2) == 0 ? h->senders[0].handle.resource : random_u32(h) },
        .payload_size = payload_bytes,
    };
    vmci_header_encode(h->scratch, &header);
    random_bytes(h, h->scratch + VMCI_DG_HEADERSIZE, payload_bytes);
    out_write(h, h->scratch, VMCI_DG_HEADERSIZE + payload_bytes);
    h->spoof_checks++;
    int32_t low = result_low(h);
    if (low != VMCI_ERROR_NO_ACCESS && h->spoof_failures++ == 0)
        fprintf(stderr, "vmci_hostile: datagram spoofing CID %u to {%u, %u} gave %d\n", CID_A,
                header.dst.context, header.dst.resource, low);
}

/* R45: H rings A's doorbell: both VMs, different: -10. */
static void check_doorbell(struct hostile *h)
{
    out_align(h);
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_DOORBELL_NOTIFY },
        .src = { CID_H, VMCI_CONTEXT_RESOURCE_ID }, .payload_size = 8,
    };
    uint8_t bytes[VMCI_DG_HEADERSIZE + 8];
    vmci_header_encode(bytes, &header);
    vmci_write_u32(bytes + VMCI_DG_HEADERSIZE, h->a_doorbell.context);
    vmci_write_u32(bytes + VMCI_DG_HEADERSIZE + 4, h->a_doorbell.resource);
    out_write(h, bytes, sizeof(bytes));
    h->doorbell_checks++;
    int32_t low = result_low(h);
    if (low != VMCI_ERROR_DST_UNREACHABLE && h->doorbell_failures++ == 0)
        fprintf(stderr, "vmci_hostile: H ringing A's doorbell gave %d\n", low);
}

/* ---- Hostile operations ------------------------------------------------------------------------ */

static void op_register_read(struct hostile *h)
{
    (void)vmci_device_read(h->device, random_offset(h));
}

static void op_register_write(struct hostile *h)
{
    uint32_t offset = random_offset(h);
    uint32_t value = random_value(h);
    if (offset == VMCI_CONTROL_ADDR) {
        control_write(h, value);
        return;
    }
    vmci_device_write(h->device, offset, value);
    if (offset == VMCI_IMR_ADDR)
        check_imr(h, value);
    if (offset == VMCI_DATA_OUT_ADDR) {
        uint8_t bytes[4];
        vmci_write_u32(bytes, value);               /* little-endian into the stream */
        out_model_feed(h, bytes, sizeof(bytes));
    }
}

/* A hypercall payload: QP alloc (5.3), QP detach, doorbells, bitmap, resources query. */
static uint64_t hypercall_payload(struct hostile *h, uint32_t rid, uint8_t *payload)
{
    struct vmci_handle handle = below(h, 10) < 7
                                    ? (struct vmci_handle){ CID_H, 1024u + (uint32_t)below(h, HOSTILE_RIDS) }
                                    : random_handle(h);
    vmci_write_u32(payload, handle.context);
    vmci_write_u32(payload + 4, handle.resource);
    if (rid == VMCI_QUEUEPAIR_ALLOC) {
        static const uint32_t peers[] = { VMCI_HOST_CONTEXT_ID, VMCI_HOST_CONTEXT_ID,
                                          VMCI_INVALID_ID, CID_A, CID_H, 0 };
        uint64_t produce = below(h, 3) == 0 ? 0 : below(h, 16385);
        uint64_t consume = below(h, 8) == 0 ? sim_rng_next(h->rng) : below(h, 16385);
        uint64_t pages = (produce + 4095) / 4096 + 1 + (consume + 4095) / 4096 + 1;
        if (pages > 12 || below(h, 6) == 0)
            pages = below(h, 12);
        vmci_write_u32(payload + 8, peers[below(h, sizeof(peers) / sizeof(peers[0]))]);
        uint64_t flags_kind = below(h, 8);
        vmci_write_u32(payload + 12, flags_kind < 5 ? 0 : flags_kind < 7 ? (uint32_t)below(h, 16)
                                                                         : random_u32(h));
        vmci_write_u64(payload + 16, produce);
        vmci_write_u64(payload + 24, consume);
        vmci_write_u64(payload + 32, pages);
        random_bytes(h, payload + 40, pages * 8);
        return 40 + pages * 8 - (below(h, 8) == 0 ? below(h, 41) : 0);
    }
    if (rid == VMCI_DOORBELL_LINK || rid == VMCI_SET_NOTIFY_BITMAP || rid == VMCI_RESOURCES_QUERY) {
        vmci_write_u64(payload + 8, below(h, 2) == 0 ? below(h, 5000) : sim_rng_next(h->rng));
        if (rid == VMCI_RESOURCES_QUERY)
            vmci_write_u32(payload, (uint32_t)below(h, 40));
        random_bytes(h, payload + 16, 128);
        return below(h, 150);
    }
    return below(h, 4) == 0 ? below(h, 12) : 8;
}

/* One well-formed datagram (or hypercall) from H to anywhere, with any source. */
static void op_datagram(struct hostile *h)
{
    static const uint32_t rids[] = { VMCI_QUEUEPAIR_ALLOC, VMCI_QUEUEPAIR_DETACH,
                                     VMCI_DOORBELL_LINK, VMCI_DOORBELL_UNLINK,
                                     VMCI_DOORBELL_NOTIFY, VMCI_SET_NOTIFY_BITMAP,
                                     VMCI_RESOURCES_QUERY };
    if (below(h, 4) != 0)
        out_align(h);                   /* usually a datagram the device will dispatch */
    struct vmci_datagram_header header = { .dst = random_handle(h) };
    uint64_t kind = below(h, 10);
    uint64_t payload_bytes;
    if (kind < 4) {
        header.dst = (struct vmci_handle){ VMCI_HYPERVISOR_CONTEXT_ID,
                                           below(h, 4) == 0 ? (uint32_t)below(h, 20)
                                                            : rids[below(h, 7)] };
        payload_bytes = hypercall_payload(h, header.dst.resource, h->scratch + VMCI_DG_HEADERSIZE);
    } else {
        payload_bytes = below(h, 16) == 0 ? below(h, VMCI_MAX_DG_PAYLOAD_SIZE + 1) : below(h, 300);
        random_bytes(h, h->scratch + VMCI_DG_HEADERSIZE, payload_bytes);
    }
    /* Mostly sources the device accepts (R37), some it must refuse. */
    static const struct vmci_handle sources[] = {
        { CID_H, 1024 }, { CID_H, 1024 }, { CID_H, VMCI_CONTEXT_RESOURCE_ID },
        { CID_H, 0xFFFFFFFEu }, { VMCI_INVALID_ID, 1025 }, { VMCI_INVALID_ID, VMCI_INVALID_ID },
        { CID_B, 1024 }, { VMCI_HYPERVISOR_CONTEXT_ID, 0 }, { VMCI_HOST_CONTEXT_ID, 1024 },
    };
    header.src = below(h, 8) == 0 ? random_handle(h)
                                  : sources[below(h, sizeof(sources) / sizeof(sources[0]))];
    header.payload_size = payload_bytes;
    vmci_header_encode(h->scratch, &header);
    out_write(h, h->scratch, VMCI_DG_HEADERSIZE + payload_bytes);
}

/* Garbage DATA_OUT bytes, usually short, sometimes past one transfer (split, R36). */
static void op_data_out_garbage(struct hostile *h)
{
    uint64_t kind = below(h, 10);
    uint64_t size_bytes = kind < 5 ? below(h, 65) : kind < 9 ? below(h, 4097)
                                                             : below(h, HOSTILE_BYTES_MAX + 1);
    random_bytes(h, h->scratch, size_bytes);
    if (below(h, 2) == 0 && size_bytes >= VMCI_DG_HEADERSIZE)
        vmci_write_u64(h->scratch + 16, below(h, 512));   /* a header that will complete */
    out_write(h, h->scratch, size_bytes);
}

static void op_data_in(struct hostile *h)
{
    uint64_t kind = below(h, 10);
    uint64_t size_bytes = kind < 6 ? below(h, 65) : kind < 9 ? below(h, 8193)
                                                             : below(h, HOSTILE_BYTES_MAX + 1);
    vmci_device_read_data_in(h->device, h->scratch, size_bytes);
}

static void hostile_op(struct hostile *h)
{
    uint64_t kind = below(h, 100);
    if (kind < 18)
        op_register_read(h);
    else if (kind < 38)
        op_register_write(h);
    else if (kind < 43) {
        uint32_t value = random_value(h);
        vmci_device_write(h->device, VMCI_IMR_ADDR, value);
        check_imr(h, value);
    } else if (kind < 46)
        control_write(h, below(h, 2) == 0 ? VMCI_CONTROL_INT_ENABLE : random_value(h));
    else if (kind < 48) {
        vmci_device_write(h->device, VMCI_IMR_ADDR, VMCI_IMR_DATAGRAM | VMCI_IMR_NOTIFICATION);
        check_imr(h, VMCI_IMR_DATAGRAM | VMCI_IMR_NOTIFICATION);
        control_write(h, VMCI_CONTROL_INT_ENABLE);      /* H's own driver sees interrupts */
    }
    else if (kind < 60)
        op_datagram(h);
    else if (kind < 68)
        op_data_out_garbage(h);
    else if (kind < 90)
        op_data_in(h);
    else if (kind < 94)
        check_oversize(h);
    else if (kind < 98)
        check_spoof(h);
    else
        check_doorbell(h);
}

/* ---- The run ----------------------------------------------------------------------------------- */

static void engine_step(struct hostile *h, uint64_t max_events)
{
    struct sim_run_result result;
    sim_engine_run(h->engine, SIM_TIME_NEVER, max_events, &result);
    if (result.stopped == SIM_STOP_ERROR && h->engine_errors++ == 0)
        fprintf(stderr, "vmci_hostile: engine stopped: %s\n",
                sim_engine_error_message(h->engine));
}

static void hostile_run(struct hostile *h, uint32_t ops)
{
    for (uint32_t op = 0; op < ops; op++) {
        hostile_op(h);
        if (!vmci_hypervisor_check(h->hv) && h->check_failures++ == 0)
            fprintf(stderr, "vmci_hostile: vmci_hypervisor_check failed after op %u\n", op);
        if (op % OPS_PER_STEP != OPS_PER_STEP - 1)
            continue;
        senders_step(h, (uint32_t)((uint64_t)(op + 1) * DATAGRAMS_PER_VM / ops));  /* spread */
        engine_step(h, EVENTS_PER_STEP);
        if (!vmci_hypervisor_check(h->hv) && h->check_failures++ == 0)
            fprintf(stderr, "vmci_hostile: vmci_hypervisor_check failed after step %u\n", op);
    }
    for (uint32_t step = 0; step < DRAIN_STEPS_MAX && !senders_done(h); step++) {
        senders_step(h, DATAGRAMS_PER_VM);
        engine_step(h, 1000);
    }
    run_idle(h);
    if (!vmci_hypervisor_check(h->hv))
        h->check_failures++;
}

static void assert_clean(const struct hostile *h)
{
    ASSERT_U64_EQ(h->check_failures, 0);
    ASSERT_U64_EQ(h->engine_errors, 0);
    ASSERT_U64_EQ(h->imr_failures, 0);
    ASSERT_U64_EQ(h->status_failures, 0);
    ASSERT_U64_EQ(h->oversize_failures, 0);
    ASSERT_U64_EQ(h->spoof_failures, 0);
    ASSERT_U64_EQ(h->doorbell_failures, 0);
    ASSERT_U64_EQ(h->echo_failures, 0);
    ASSERT_U64_EQ(h->a_doorbell_rings, 0);
    for (int index = 0; index < 2; index++) {
        const struct sender *s = &h->senders[index];
        ASSERT_U64_EQ(s->send_failures, 0);
        ASSERT_U64_EQ(s->corrupt, 0);
        ASSERT_U64_EQ(s->sent, DATAGRAMS_PER_VM);
        ASSERT_U64_EQ(s->received, DATAGRAMS_PER_VM);
        ASSERT_U64_EQ(s->bytes_received, s->bytes_sent);
    }
}

/* The whole test: HOSTILE_OPS operations, every check, and A's and B's traffic intact. */
static void test_hostile_device_cannot_harm_hypervisor_or_other_vms(void)
{
    struct hostile *h = hostile_create(NULL);
    hostile_run(h, HOSTILE_OPS);
    assert_clean(h);
    uint64_t expected_bytes = 0;
    for (uint32_t seq = 0; seq < DATAGRAMS_PER_VM; seq++)
        expected_bytes += payload_size(CID_A, seq);
    ASSERT_U64_EQ(h->senders[0].bytes_sent, expected_bytes);
    /* The run exercised what it claims to. */
    CU_ASSERT(h->imr_checks > 10000);
    CU_ASSERT(h->status_checks > 5000);
    CU_ASSERT(h->oversize_checks > 5000);
    CU_ASSERT(h->spoof_checks > 5000);
    CU_ASSERT(h->doorbell_checks > 2000);
    CU_ASSERT(h->resets > 1000);
    CU_ASSERT(h->h_routed > 1000);              /* H's datagrams and hypercalls got through */
    CU_ASSERT(h->h_routed_to_host > 300);       /* ... to the echo, whose replies H received */
    CU_ASSERT(h->h_qp_created > 50);
    CU_ASSERT(h->h_interrupts > 50);            /* H's own driver ran between hostile accesses */
    hostile_destroy(h);
}

/* The same world and seed twice (fewer operations): identical run digests. */
static void test_hostile_run_is_deterministic(void)
{
    char hex[2][33];
    for (int run = 0; run < 2; run++) {
        struct sim_digest *digest = sim_digest_create();
        CU_ASSERT_PTR_NOT_NULL_FATAL(digest);
        struct hostile *h = hostile_create(digest);
        hostile_run(h, DETERMINISM_OPS);
        assert_clean(h);
        hostile_destroy(h);
        sim_digest_hex(digest, hex[run]);
        sim_digest_destroy(digest);
    }
    CU_ASSERT_STRING_EQUAL(hex[0], hex[1]);
}

CU_ErrorCode vmci_hostile_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_hostile_device_cannot_harm_hypervisor_or_other_vms),
        TEST_ENTRY(test_hostile_run_is_deterministic),
    };
    return test_suite_register("vmci_hostile", tests, sizeof(tests) / sizeof(tests[0]));
}
