/* SPDX-License-Identifier: MIT */
/*
 * vmci/device.c: the VMCI virtual PCI device of one VM (reference section 3;
 * semantics and every simulator choice in docs/device.md).
 *
 * The guest drives the register file (vmci_device_read/write) and two byte
 * streams: DATA_OUT, where datagrams are assembled and handed to the hypervisor
 * synchronously (R36), and DATA_IN, where pending datagrams are read out in FIFO
 * order, each padded to 8 bytes (R40). The hypervisor appends datagrams (R58),
 * sets notification bitmap bytes (R45) and raises cause bits. The interrupt line
 * is asserted iff STATUS.INT_ON and (ICR & IMR) != 0 (R32); delivery is one engine
 * event after interrupt_ns (vmci_cost_draw).
 *
 * The guest is hostile: any offset, value, order or length is an operating input
 * and never trips an assertion. Assertions guard the hypervisor side (the ops and
 * the hypervisor-side functions) and the invariants below.
 *
 * Invariants (vmci_device_check):
 *   DV1  icr, imr are within VMCI_ICR_ALL; caps_in_use is within caps_offered.
 *   DV2  DATA_OUT is in exactly one state: HEADER (out_total == 0, out_filled < 24,
 *        no discard), BODY (24 <= out_filled < out_total <= VMCI_MAX_DG_SIZE) or
 *        DISCARD (out_discard_bytes > 0, out_filled == out_total == 0).
 *   DV3  pending_bytes == the sum of the sizes of the pending datagrams (a datagram
 *        leaves the queue when its whole aligned slot has been read), and
 *        pending_count == their number <= VMCI_DEVICE_PENDING_DATAGRAMS_MAX.
 *   DV4  in_offset < the aligned size of the head datagram, or 0 with no head.
 *   DV5  At most one interrupt delivery event is pending (irq_event).
 *   DV6  A registered bitmap has its 4096 bytes allocated.
 *
 * Implementation notes: ops->datagram_out and ops->reset run with in_callback set;
 * they may call the hypervisor-side functions (enqueue, raise, bitmap_*) but never
 * the guest-side ones, which assert it. The DATA_OUT state is reset to HEADER
 * before datagram_out runs, so a re-entrant enqueue sees a consistent device.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "device.h"
#include "faults.h"
#include "sim/engine/process.h"
#include "spares.h"

/* The cause bits defined by R31 (and the IMR bits, same positions). */
#define VMCI_ICR_ALL (VMCI_ICR_DATAGRAM | VMCI_ICR_NOTIFICATION | VMCI_ICR_DMA_DATAGRAM)
#define VMCI_CAPS_ALL                                                                  \
    (VMCI_CAPS_HYPERCALL | VMCI_CAPS_GUESTCALL | VMCI_CAPS_DATAGRAM |                  \
     VMCI_CAPS_NOTIFICATIONS | VMCI_CAPS_PPN64 | VMCI_CAPS_DMA_DATAGRAM)
/* Registers in the map of 3.2 (one per 4 bytes of VMCI_REGISTER_WINDOW_BYTES). */
#define REGISTER_COUNT (VMCI_REGISTER_WINDOW_BYTES / 4u)
/* "0x" + 8 hex digits + NUL: the trace name of an unknown offset. */
#define UNKNOWN_REGISTER_NAME_BYTES 12u

/* R58's byte limits stop the queue at (188416 - 1) / 24 = 7850 datagrams of the minimum
 * size, so VMCI_DEVICE_PENDING_DATAGRAMS_MAX is a defensive bound that is never reached. */
_Static_assert((VMCI_MAX_DATAGRAM_AND_EVENT_QUEUE_SIZE - 1u) / VMCI_DG_HEADERSIZE <
                   VMCI_DEVICE_PENDING_DATAGRAMS_MAX,
               "R58's byte limits are reached before the datagram-count limit");
_Static_assert(VMCI_DEVICE_TRANSFER_BYTES_MAX <= SIM_TRACE_BYTES_MAX,
               "one transfer fits in one trace bytes field");

/* One datagram waiting in DATA_IN; the device owns it (a copy of the hypervisor's). */
struct pending_datagram {
    struct pending_datagram *next;
    uint32_t size_bytes;            /* 24 + payload_size, <= VMCI_MAX_DG_SIZE */
    uint8_t bytes[];
};

struct vmci_device {
    uint32_t cid;
    uint32_t caps_offered;
    struct sim_engine *engine;              /* borrowed: owned by the world */
    const struct vmci_cost *cost;           /* borrowed: owned by the world */
    const struct vmci_device_ops *ops;      /* borrowed: static in the hypervisor */
    void *ops_state;                        /* borrowed */
    uint32_t engine_domain;                 /* the guest's (device.h) */
    bool in_callback;                       /* inside ops->datagram_out or ops->reset */

    /* Registers (R28-R32). */
    bool int_on;
    uint32_t icr;
    uint32_t imr;
    uint32_t caps_in_use;
    int32_t result;                         /* last DATA_OUT result (R36) */
    uint32_t dma_registers[4];              /* DATA_OUT_LOW .. DATA_IN_HIGH, write-only */
    uint32_t guest_page_shift;

    /* Interrupt delivery (R32, DV5). */
    bool reraise;                           /* an ICR read saw 0 (interrupt_spurious) */
    sim_event_id irq_event;                 /* SIM_EVENT_NONE when no delivery is pending */
    uint32_t irq_events_pending;            /* 0 or 1; counted separately for DV5 */

    /* DATA_IN (R40, R58, DV3, DV4). */
    struct pending_datagram *pending_head;  /* owned, FIFO */
    struct pending_datagram *pending_tail;
    struct vmci_spares pending_spares;      /* freed entries kept for the next datagrams */
    uint32_t pending_count;
    uint64_t pending_bytes;
    uint32_t in_offset;                     /* bytes of the head's aligned slot already read */
    /* The dgram_once invariant's account (vmci_device_dg_account): every datagram queued
     * was read out of DATA_IN whole, discarded with a reason, or is still queued. */
    uint64_t queued_total;
    uint64_t read_total;
    uint64_t discarded_total;

    /* Notification bitmap (R43, R45, DV6). */
    uint8_t *bitmap;                        /* owned, VMCI_NOTIFY_BITMAP_BYTES, lazily */
    bool bitmap_registered;
    uint64_t bitmap_ppn;

    /* DATA_OUT (R36, DV2). */
    uint64_t out_discard_bytes;             /* declared bytes of an oversize datagram left */
    uint32_t out_total;                     /* declared total once the header is in, else 0 */
    uint32_t out_filled;                    /* bytes of the current datagram in out_buf */
    uint8_t out_buf[VMCI_MAX_DG_SIZE];     /* last: vmci_device_create zeroes what precedes it */
};
_Static_assert(sizeof(struct vmci_device) - offsetof(struct vmci_device, out_buf) -
                   VMCI_MAX_DG_SIZE < sizeof(uint64_t),
               "out_buf is the last member (only padding follows it)");

/* The register names with their lengths, measured by the compiler: every register access
 * is one traced event naming its register, and strlen() there was a tenth of building it. */
#define REGISTER_NAME(text) { text, sizeof(text) - 1u }
static const struct {
    const char *text;       /* NULL: no register at this offset */
    uint32_t bytes;
} register_names[REGISTER_COUNT] = {
    [VMCI_STATUS_ADDR / 4u] = REGISTER_NAME("STATUS"),
    [VMCI_CONTROL_ADDR / 4u] = REGISTER_NAME("CONTROL"),
    [VMCI_ICR_ADDR / 4u] = REGISTER_NAME("ICR"),
    [VMCI_IMR_ADDR / 4u] = REGISTER_NAME("IMR"),
    [VMCI_DATA_OUT_ADDR / 4u] = REGISTER_NAME("DATA_OUT"),
    [VMCI_DATA_IN_ADDR / 4u] = REGISTER_NAME("DATA_IN"),
    [VMCI_CAPS_ADDR / 4u] = REGISTER_NAME("CAPS"),
    [VMCI_RESULT_LOW_ADDR / 4u] = REGISTER_NAME("RESULT_LOW"),
    [VMCI_RESULT_HIGH_ADDR / 4u] = REGISTER_NAME("RESULT_HIGH"),
    [VMCI_DATA_OUT_LOW_ADDR / 4u] = REGISTER_NAME("DATA_OUT_LOW"),
    [VMCI_DATA_OUT_HIGH_ADDR / 4u] = REGISTER_NAME("DATA_OUT_HIGH"),
    [VMCI_DATA_IN_LOW_ADDR / 4u] = REGISTER_NAME("DATA_IN_LOW"),
    [VMCI_DATA_IN_HIGH_ADDR / 4u] = REGISTER_NAME("DATA_IN_HIGH"),
    [VMCI_GUEST_PAGE_SHIFT / 4u] = REGISTER_NAME("GUEST_PAGE_SHIFT"),
};
#undef REGISTER_NAME

const char *vmci_register_name(uint32_t offset)
{
    if (offset % 4u != 0 || offset >= VMCI_REGISTER_WINDOW_BYTES)
        return NULL;
    return register_names[offset / 4u].text;
}

int vmci_register_offset(const char *name)
{
    assert(name != NULL);
    for (uint32_t index = 0; index < REGISTER_COUNT; index++) {
        if (register_names[index].text != NULL && strcmp(register_names[index].text, name) == 0)
            return (int)(index * 4u);
    }
    return -1;
}

/* ---- Trace ---------------------------------------------------------------------- */

static inline void trace_begin(const struct vmci_device *device, struct sim_trace_event *event,
                               const char *kind)
{
    const struct sim_process *process = sim_engine_current(device->engine);
    sim_trace_event_init(event, SIM_LAYER_DEVICE, kind, device->cid,
                         process != NULL ? process->pid : 0);
}

/* A failed emit (trace limit, sink error) has already aborted the run in the engine;
 * the device carries on so its state stays consistent. */
static void trace_end(struct vmci_device *device, struct sim_trace_event *event)
{
    (void)sim_engine_emit(device->engine, event);
}

/* Inline, so that each caller's literal kind is measured by the compiler. */
SIM_TRACE_INLINE void trace_register(struct vmci_device *device, const char *kind,
                                     uint32_t offset, uint32_t value)
{
    char unknown[UNKNOWN_REGISTER_NAME_BYTES];
    const char *name = vmci_register_name(offset);
    uint32_t name_bytes;
    if (name != NULL) {
        name_bytes = register_names[offset / 4u].bytes;
    } else {
        int written = snprintf(unknown, sizeof(unknown), "0x%" PRIx32, offset);
        assert(written > 0 && (size_t)written < sizeof(unknown));
        name = unknown;
        name_bytes = (uint32_t)written;
    }
    struct sim_trace_event event;
    trace_begin(device, &event, kind);
    sim_trace_field_strn(&event, "reg", name, name_bytes);
    sim_trace_field_u64(&event, "offset", offset);
    sim_trace_field_u64(&event, "value", value);
    trace_end(device, &event);
}

static void trace_transfer(struct vmci_device *device, const char *kind, const uint8_t *bytes,
                           size_t size_bytes)
{
    assert(size_bytes <= VMCI_DEVICE_TRANSFER_BYTES_MAX);
    struct sim_trace_event event;
    trace_begin(device, &event, kind);
    sim_trace_field_u64(&event, "size", size_bytes);
    sim_trace_field_bytes(&event, "bytes", bytes, (uint32_t)size_bytes);
    trace_end(device, &event);
}

static void trace_result(struct vmci_device *device, int32_t result, uint64_t size_bytes)
{
    struct sim_trace_event event;
    trace_begin(device, &event, "dg_result");
    sim_trace_field_i64(&event, "result", result);
    sim_trace_field_u64(&event, "size", size_bytes);
    trace_end(device, &event);
}

/* ---- Interrupts (R32) ------------------------------------------------------------- */

static bool line_asserted(const struct vmci_device *device)
{
    return device->int_on && (device->icr & device->imr) != 0;
}

static void irq_update(struct vmci_device *device);

static void irq_deliver(void *context, void *arg, uint64_t data)
{
    struct vmci_device *device = arg;
    (void)context;
    (void)data;
    assert(device->irq_events_pending == 1);
    device->irq_event = SIM_EVENT_NONE;
    device->irq_events_pending = 0;
    if (!line_asserted(device))
        return;         /* dropped: scheduled again when the line is re-asserted */
    /* The protocol site interrupt_lost: the delivery vanishes and the cause stays in ICR,
     * so only a later stimulus (IMR written, another cause) brings an interrupt again. */
    if (vmci_fault(device->cost->faults, VMCI_FAULT_INTERRUPT_LOST, device->cid))
        return;
    struct sim_trace_event event;
    trace_begin(device, &event, "interrupt");
    sim_trace_field_u64(&event, "icr", device->icr);
    sim_trace_field_u64(&event, "imr", device->imr);
    trace_end(device, &event);
    device->ops->interrupt(device->ops_state, device->cid);
    /* interrupt_spurious: the handler read ICR as 0 and left; the causes are still there
     * and the line still asserted (R32), so the interrupt comes again. */
    if (device->reraise) {
        device->reraise = false;
        irq_update(device);
    }
}

/* Called after every stimulus that may assert the line (a cause set, IMR written,
 * INT_ON set). One pending delivery at most (DV5). A full event queue is a world
 * limit: the engine has named it, and the run is aborted with that error. */
static void irq_update(struct vmci_device *device)
{
    if (!line_asserted(device) || device->irq_events_pending != 0)
        return;
    sim_event_id id = SIM_EVENT_NONE;
    /* The delivery runs the guest's handler: the guest's domain, whoever raised it. */
    int rc = sim_engine_schedule_after_in(device->engine, device->engine_domain,
                                          vmci_cost_draw(device->cost, VMCI_COST_INTERRUPT),
                                          irq_deliver, device, 0, &id);
    if (rc < 0) {
        sim_engine_abort(device->engine, rc);
        return;
    }
    assert(id != SIM_EVENT_NONE);
    device->irq_event = id;
    device->irq_events_pending = 1;
}

static void irq_cancel(struct vmci_device *device)
{
    if (device->irq_events_pending == 0)
        return;
    int rc = sim_engine_cancel(device->engine, device->irq_event);
    assert(rc == SIM_OK);
    (void)rc;
    device->irq_event = SIM_EVENT_NONE;
    device->irq_events_pending = 0;
}

static void icr_set(struct vmci_device *device, uint32_t icr_bits)
{
    assert((icr_bits & ~VMCI_ICR_ALL) == 0);
    device->icr |= icr_bits;
    irq_update(device);
}

/* ---- DATA_IN queue (R40, R58) ------------------------------------------------------ */

static void pending_pop(struct vmci_device *device)
{
    struct pending_datagram *head = device->pending_head;
    assert(head != NULL);
    assert(device->pending_bytes >= head->size_bytes);
    device->pending_head = head->next;
    if (device->pending_head == NULL)
        device->pending_tail = NULL;
    device->pending_count--;
    device->pending_bytes -= head->size_bytes;
    device->in_offset = 0;
    vmci_spares_give(&device->pending_spares, head, head->size_bytes);
}

/* Nothing the model drops is silent: datagrams still queued for the guest when the queue
 * is emptied on purpose are recorded as one vmci-layer `data_discarded` (reason, rule,
 * count, bytes); an empty queue records nothing. */
static void trace_discarded(struct vmci_device *device, const char *reason, const char *rule)
{
    if (device->pending_count == 0)
        return;
    const struct sim_process *process = sim_engine_current(device->engine);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_VMCI, "data_discarded", device->cid,
                         process != NULL ? process->pid : 0);
    sim_trace_field_str(&event, "reason", reason);
    sim_trace_field_str(&event, "rule", rule);
    sim_trace_field_u64(&event, "count", device->pending_count);
    sim_trace_field_u64(&event, "bytes", device->pending_bytes);
    trace_end(device, &event);
}

/* Memory only (teardown); pending_clear is the traced drop. */
static void pending_free(struct vmci_device *device)
{
    for (uint32_t step = 0; step <= VMCI_DEVICE_PENDING_DATAGRAMS_MAX; step++) {
        if (device->pending_head == NULL)
            break;
        pending_pop(device);
    }
    assert(device->pending_head == NULL);
    assert(device->pending_bytes == 0);
}

static void pending_clear(struct vmci_device *device, const char *reason, const char *rule)
{
    assert(reason != NULL && rule != NULL);
    trace_discarded(device, reason, rule);
    device->discarded_total += device->pending_count;
    pending_free(device);
}

int vmci_device_enqueue(struct vmci_device *device, const uint8_t *datagram,
                        uint64_t size_bytes, bool from_hypervisor)
{
    assert(device != NULL);
    assert(datagram != NULL);
    assert(size_bytes >= VMCI_DG_HEADERSIZE);
    assert(size_bytes <= VMCI_MAX_DG_SIZE);     /* R41: the hypervisor checked R52 */
    assert(vmci_read_u64(datagram + 16) == size_bytes - VMCI_DG_HEADERSIZE);
    uint64_t limit_bytes = from_hypervisor ? VMCI_MAX_DATAGRAM_AND_EVENT_QUEUE_SIZE
                                           : VMCI_MAX_DATAGRAM_QUEUE_SIZE;
    if (device->pending_bytes + size_bytes >= limit_bytes)      /* R58 */
        return VMCI_ERROR_NO_RESOURCES;
    if (device->pending_count >= VMCI_DEVICE_PENDING_DATAGRAMS_MAX)
        return VMCI_ERROR_NO_RESOURCES;
    struct pending_datagram *entry = vmci_spares_take(&device->pending_spares, sizeof(*entry),
                                                      (size_t)size_bytes);
    if (entry == NULL)
        return VMCI_ERROR_NO_MEM;
    entry->next = NULL;
    entry->size_bytes = (uint32_t)size_bytes;
    memcpy(entry->bytes, datagram, size_bytes);
    bool was_empty = device->pending_head == NULL;
    if (was_empty)
        device->pending_head = entry;
    else
        device->pending_tail->next = entry;
    device->pending_tail = entry;
    device->pending_count++;
    device->queued_total++;
    device->pending_bytes += size_bytes;
    if (was_empty)
        icr_set(device, VMCI_ICR_DATAGRAM);     /* R33 */
    assert(device->pending_bytes < limit_bytes);
    return VMCI_SUCCESS;
}

/* Copies up to `size_bytes` of the head datagram's slot (data, then zero padding).
 * Returns the bytes copied (> 0); pops the head when its slot has been read. */
static size_t data_in_step(struct vmci_device *device, uint8_t *target, size_t size_bytes)
{
    const struct pending_datagram *head = device->pending_head;
    uint64_t slot_bytes = vmci_dg_size_aligned(head->size_bytes);
    assert(device->in_offset < slot_bytes);     /* DV4 */
    uint64_t take = slot_bytes - device->in_offset;
    if (take > size_bytes)
        take = size_bytes;
    uint64_t data_bytes = 0;
    if (device->in_offset < head->size_bytes) {
        data_bytes = head->size_bytes - device->in_offset;
        if (data_bytes > take)
            data_bytes = take;
        memcpy(target, head->bytes + device->in_offset, data_bytes);
    }
    memset(target + data_bytes, 0, take - data_bytes);     /* padding (R40: 0) */
    device->in_offset += (uint32_t)take;
    if (device->in_offset == slot_bytes) {
        device->read_total++;
        pending_pop(device);
    }
    assert(take > 0);
    return take;
}

/* Fills `target` from the pending slots; returns how many bytes at its end are the 0xFF
 * filler of an empty queue (the filler is only ever a suffix: R40). With `write_filler`
 * false those bytes are left as they were: the caller knows they are 0xFF. */
static size_t data_in_fill(struct vmci_device *device, uint8_t *target, size_t size_bytes,
                           bool write_filler)
{
    size_t done = 0;
    size_t filler_bytes = 0;
    for (size_t step = 0; step < size_bytes && done < size_bytes; step++) {
        if (device->pending_head == NULL) {
            filler_bytes = size_bytes - done;
            if (write_filler)
                memset(target + done, 0xFF, filler_bytes);    /* R40: nothing pending */
            done = size_bytes;
            break;
        }
        done += data_in_step(device, target + done, size_bytes - done);
    }
    assert(done == size_bytes);
    assert(filler_bytes <= size_bytes);
    return filler_bytes;
}

/* One traced DATA_IN transfer; R33: a read that leaves datagrams pending re-raises.
 * The trace keeps the bytes before the filler and counts the filler (`fill`): a driver
 * reads a page per interrupt for a 56-byte packet, and storing 4 KiB of 0xFF per
 * packet was most of a device-level trace's bytes. The transfer is still exact:
 * `bytes` followed by `fill` times 0xFF is what the guest got. */
static size_t data_in_transfer(struct vmci_device *device, uint8_t *target, size_t size_bytes,
                               bool write_filler)
{
    assert(size_bytes <= VMCI_DEVICE_TRANSFER_BYTES_MAX);
    size_t filler_bytes = data_in_fill(device, target, size_bytes, write_filler);
    struct sim_trace_event event;
    trace_begin(device, &event, "data_in");
    sim_trace_field_u64(&event, "size", size_bytes);
    sim_trace_field_u64(&event, "fill", filler_bytes);
    sim_trace_field_bytes(&event, "bytes", target, (uint32_t)(size_bytes - filler_bytes));
    trace_end(device, &event);
    if (device->pending_head != NULL)
        icr_set(device, VMCI_ICR_DATAGRAM);
    return filler_bytes;
}

/* The transfers of one DATA_IN read; returns the filler bytes at its end. Once a transfer
 * ends in filler nothing is pending, so every later one is filler only: a suffix. */
static size_t data_in_read(struct vmci_device *device, uint8_t *target, size_t size_bytes,
                           bool write_filler)
{
    assert(device != NULL);
    assert(!device->in_callback);
    assert(target != NULL || size_bytes == 0);
    size_t filler_bytes = 0;
    size_t done = 0;
    /* A zero-length call is still one (empty) transfer; each further step moves
     * VMCI_DEVICE_TRANSFER_BYTES_MAX bytes at most. */
    for (size_t step = 0; step <= size_bytes / VMCI_DEVICE_TRANSFER_BYTES_MAX; step++) {
        size_t chunk = size_bytes - done;
        if (chunk > VMCI_DEVICE_TRANSFER_BYTES_MAX)
            chunk = VMCI_DEVICE_TRANSFER_BYTES_MAX;
        if (step > 0 && chunk == 0)
            break;
        size_t chunk_filler_bytes = data_in_transfer(device, target == NULL ? NULL : target + done,
                                                     chunk, write_filler);
        assert(filler_bytes == 0 || chunk_filler_bytes == chunk);     /* a suffix */
        filler_bytes += chunk_filler_bytes;
        done += chunk;
    }
    assert(done == size_bytes);
    assert(filler_bytes <= size_bytes);
    return filler_bytes;
}

void vmci_device_read_data_in(struct vmci_device *device, uint8_t *target, size_t size_bytes)
{
    (void)data_in_read(device, target, size_bytes, true);
}

size_t vmci_device_read_data_in_unfilled(struct vmci_device *device, uint8_t *target,
                                         size_t size_bytes)
{
    return data_in_read(device, target, size_bytes, false);
}

/* ---- DATA_OUT stream (R36) ------------------------------------------------------- */

static void result_store(struct vmci_device *device, int64_t result, uint64_t size_bytes)
{
    assert(result >= INT32_MIN);                /* R36: a signed 32-bit result */
    assert(result <= INT32_MAX);
    device->result = (int32_t)result;
    trace_result(device, device->result, size_bytes);
}

static void out_dispatch(struct vmci_device *device)
{
    assert(device->out_total >= VMCI_DG_HEADERSIZE);
    assert(device->out_filled == device->out_total);
    uint32_t size_bytes = device->out_total;
    device->out_total = 0;                      /* DV2: HEADER again before the callback */
    device->out_filled = 0;
    device->in_callback = true;
    int64_t result = device->ops->datagram_out(device->ops_state, device->cid,
                                               device->out_buf, size_bytes);
    device->in_callback = false;
    result_store(device, result, size_bytes);
}

/* The header is complete: the declared size decides between BODY and DISCARD. */
static void out_header_complete(struct vmci_device *device)
{
    assert(device->out_filled == VMCI_DG_HEADERSIZE);
    uint64_t payload_bytes = vmci_read_u64(device->out_buf + 16);
    if (payload_bytes > VMCI_MAX_DG_PAYLOAD_SIZE) {
        /* R36: rejected at once; the declared rest is consumed (payload_bytes > 0). */
        device->out_filled = 0;
        device->out_discard_bytes = payload_bytes;
        uint64_t declared_bytes = payload_bytes > UINT64_MAX - VMCI_DG_HEADERSIZE
                                      ? UINT64_MAX
                                      : payload_bytes + VMCI_DG_HEADERSIZE;
        result_store(device, VMCI_ERROR_INVALID_ARGS, declared_bytes);
        return;
    }
    device->out_total = VMCI_DG_HEADERSIZE + (uint32_t)payload_bytes;
    if (payload_bytes == 0)
        out_dispatch(device);
}

/* Consumes the next bytes of the stream in the current state. Returns the bytes
 * consumed (> 0, <= size_bytes). */
static size_t out_step(struct vmci_device *device, const uint8_t *bytes, size_t size_bytes)
{
    assert(size_bytes > 0);
    if (device->out_discard_bytes > 0) {
        uint64_t take = device->out_discard_bytes < size_bytes ? device->out_discard_bytes
                                                               : size_bytes;
        device->out_discard_bytes -= take;
        return (size_t)take;
    }
    uint32_t end_bytes = device->out_total == 0 ? VMCI_DG_HEADERSIZE : device->out_total;
    assert(device->out_filled < end_bytes);
    size_t take = end_bytes - device->out_filled;
    if (take > size_bytes)
        take = size_bytes;
    memcpy(device->out_buf + device->out_filled, bytes, take);
    device->out_filled += (uint32_t)take;
    if (device->out_filled == end_bytes) {
        if (device->out_total == 0)
            out_header_complete(device);
        else
            out_dispatch(device);
    }
    return take;
}

static void data_out_transfer(struct vmci_device *device, const uint8_t *bytes,
                              size_t size_bytes)
{
    assert(size_bytes <= VMCI_DEVICE_TRANSFER_BYTES_MAX);
    trace_transfer(device, "data_out", bytes, size_bytes);
    size_t done = 0;
    for (size_t step = 0; step < size_bytes && done < size_bytes; step++)
        done += out_step(device, bytes + done, size_bytes - done);
    assert(done == size_bytes);
}

void vmci_device_write_data_out(struct vmci_device *device, const uint8_t *bytes,
                                size_t size_bytes)
{
    assert(device != NULL);
    assert(!device->in_callback);
    assert(bytes != NULL || size_bytes == 0);
    size_t done = 0;
    for (size_t step = 0; step <= size_bytes / VMCI_DEVICE_TRANSFER_BYTES_MAX; step++) {
        size_t chunk = size_bytes - done;
        if (chunk > VMCI_DEVICE_TRANSFER_BYTES_MAX)
            chunk = VMCI_DEVICE_TRANSFER_BYTES_MAX;
        if (step > 0 && chunk == 0)
            break;
        data_out_transfer(device, bytes == NULL ? NULL : bytes + done, chunk);
        done += chunk;
    }
    assert(done == size_bytes);
}

/* ---- Lifecycle hooks (R205-R207) -------------------------------------------------- */

void vmci_device_discard_pending(struct vmci_device *device, const char *reason,
                                 const char *rule)
{
    assert(device != NULL);
    irq_cancel(device);
    pending_clear(device, reason, rule);
    device->in_offset = 0;
    device->icr &= ~(uint32_t)VMCI_ICR_DATAGRAM;
}

sim_event_id vmci_device_interrupt_event(const struct vmci_device *device)
{
    assert(device != NULL);
    assert((device->irq_events_pending == 0) == (device->irq_event == SIM_EVENT_NONE));
    return device->irq_event;
}

void vmci_device_set_cid(struct vmci_device *device, uint32_t cid)
{
    assert(device != NULL);
    device->cid = cid;
}

/* ---- Reset (R34) ------------------------------------------------------------------ */

static void device_reset(struct vmci_device *device)
{
    irq_cancel(device);
    device->reraise = false;
    device->int_on = false;
    device->icr = 0;
    device->imr = 0;
    device->caps_in_use = 0;
    device->result = 0;
    memset(device->dma_registers, 0, sizeof(device->dma_registers));
    device->guest_page_shift = 0;
    pending_clear(device, "device_reset", "R34");
    device->in_offset = 0;
    device->out_discard_bytes = 0;
    device->out_total = 0;
    device->out_filled = 0;
    device->bitmap_registered = false;
    device->bitmap_ppn = 0;
    if (device->bitmap != NULL)
        memset(device->bitmap, 0, VMCI_NOTIFY_BITMAP_BYTES);
    struct sim_trace_event event;
    trace_begin(device, &event, "reset");
    trace_end(device, &event);
    device->in_callback = true;
    device->ops->reset(device->ops_state, device->cid);
    device->in_callback = false;
}

/* ---- Registers (R28-R32) ---------------------------------------------------------- */

/* Returns the value of a register without side effects other than ICR's clear. */
static uint32_t register_read(struct vmci_device *device, uint32_t offset)
{
    switch (offset) {
    case VMCI_STATUS_ADDR:
        return device->int_on ? VMCI_STATUS_INT_ON : 0;
    case VMCI_ICR_ADDR: {
        if (device->icr != 0 &&
            vmci_fault(device->cost->faults, VMCI_FAULT_INTERRUPT_SPURIOUS, device->cid)) {
            device->reraise = true;     /* the site: a read that sees no cause, clears none */
            return 0;
        }
        uint32_t icr = device->icr;     /* R31: read-to-clear */
        device->icr = 0;
        return icr;
    }
    case VMCI_IMR_ADDR:
        return device->imr;
    case VMCI_CAPS_ADDR:
        return device->caps_offered;
    case VMCI_RESULT_LOW_ADDR:
        return (uint32_t)device->result;
    case VMCI_RESULT_HIGH_ADDR:
        return device->result < 0 ? UINT32_MAX : 0;
    case VMCI_GUEST_PAGE_SHIFT:
        return device->guest_page_shift;
    default:
        return 0;       /* R28: write-only (CONTROL, DATA_OUT, DMA) and unknown offsets */
    }
}

uint32_t vmci_device_read(struct vmci_device *device, uint32_t offset)
{
    assert(device != NULL);
    assert(!device->in_callback);
    if (offset == VMCI_DATA_IN_ADDR) {
        uint8_t bytes[4];
        (void)data_in_transfer(device, bytes, sizeof(bytes), true);
        return vmci_read_u32(bytes);
    }
    uint32_t value = register_read(device, offset);
    trace_register(device, "reg_read", offset, value);
    return value;
}

/* CONTROL (R32, R34): several bits in one write apply RESET, then INT_ENABLE, then
 * INT_DISABLE, so ENABLE|DISABLE leaves interrupts off. Undefined bits are ignored. */
static void control_write(struct vmci_device *device, uint32_t value)
{
    if ((value & VMCI_CONTROL_RESET) != 0)
        device_reset(device);
    if ((value & VMCI_CONTROL_INT_ENABLE) != 0)
        device->int_on = true;
    if ((value & VMCI_CONTROL_INT_DISABLE) != 0)
        device->int_on = false;
    irq_update(device);
}

static void register_write(struct vmci_device *device, uint32_t offset, uint32_t value)
{
    switch (offset) {
    case VMCI_CONTROL_ADDR:
        control_write(device, value);
        break;
    case VMCI_IMR_ADDR:
        device->imr = value & VMCI_ICR_ALL;     /* undefined bits read back as 0 */
        irq_update(device);                     /* R32: masked causes fire when unmasked */
        break;
    case VMCI_CAPS_ADDR:
        device->caps_in_use = value & device->caps_offered;    /* R30 */
        break;
    case VMCI_DATA_OUT_LOW_ADDR:
    case VMCI_DATA_OUT_HIGH_ADDR:
    case VMCI_DATA_IN_LOW_ADDR:
    case VMCI_DATA_IN_HIGH_ADDR:
        /* Stored, never acted on: DMA datagrams (R38) are not simulated. */
        device->dma_registers[(offset - VMCI_DATA_OUT_LOW_ADDR) / 4u] = value;
        break;
    case VMCI_GUEST_PAGE_SHIFT:
        device->guest_page_shift = value;
        break;
    default:
        break;          /* R28: read-only registers and unknown offsets */
    }
}

void vmci_device_write(struct vmci_device *device, uint32_t offset, uint32_t value)
{
    assert(device != NULL);
    assert(!device->in_callback);
    if (offset == VMCI_DATA_OUT_ADDR) {
        uint8_t bytes[4];
        vmci_write_u32(bytes, value);
        data_out_transfer(device, bytes, sizeof(bytes));
        return;
    }
    trace_register(device, "reg_write", offset, value);
    register_write(device, offset, value);
}

/* ---- Hypervisor side ---------------------------------------------------------------- */

void vmci_device_raise(struct vmci_device *device, uint32_t icr_bits)
{
    assert(device != NULL);
    assert(icr_bits != 0);
    assert((icr_bits & ~VMCI_ICR_ALL) == 0);
    icr_set(device, icr_bits);
}

int vmci_device_bitmap_register(struct vmci_device *device, uint64_t ppn)
{
    assert(device != NULL);
    if ((device->caps_in_use & VMCI_CAPS_NOTIFICATIONS) == 0)
        return VMCI_ERROR_UNAVAILABLE;          /* R30 */
    if (device->bitmap == NULL) {
        device->bitmap = calloc(VMCI_NOTIFY_BITMAP_BYTES, 1);
        if (device->bitmap == NULL)
            return VMCI_ERROR_NO_MEM;
    } else if (!device->bitmap_registered || device->bitmap_ppn != ppn) {
        /* A different page is a fresh page: its bytes are the guest's new zeroes. */
        memset(device->bitmap, 0, VMCI_NOTIFY_BITMAP_BYTES);
    }
    device->bitmap_registered = true;           /* R43: replaces a previous one */
    device->bitmap_ppn = ppn;
    assert(device->bitmap != NULL);             /* DV6 */
    return VMCI_SUCCESS;
}

int vmci_device_bitmap_set(struct vmci_device *device, uint32_t index)
{
    assert(device != NULL);
    if (!device->bitmap_registered)
        return VMCI_ERROR_UNAVAILABLE;
    if (index >= VMCI_NOTIFY_BITMAP_BYTES)
        return VMCI_ERROR_INVALID_ARGS;
    device->bitmap[index] = 1;                  /* R45: repeated sets coalesce */
    icr_set(device, VMCI_ICR_NOTIFICATION);
    return VMCI_SUCCESS;
}

uint8_t *vmci_device_bitmap(struct vmci_device *device)
{
    assert(device != NULL);
    return device->bitmap_registered ? device->bitmap : NULL;
}

uint32_t vmci_device_caps_in_use(const struct vmci_device *device)
{
    assert(device != NULL);
    return device->caps_in_use;
}

uint64_t vmci_device_pending_bytes(const struct vmci_device *device)
{
    assert(device != NULL);
    return device->pending_bytes;
}

/* ---- Life cycle and invariants ---------------------------------------------------------- */

struct vmci_device *vmci_device_create(const struct vmci_device_config *config)
{
    assert(config != NULL);
    assert(vmci_context_is_vm(config->cid));
    assert((config->caps_offered & ~VMCI_CAPS_ALL) == 0);
    assert(config->engine != NULL);
    assert(config->cost != NULL);
    assert(config->ops != NULL);
    assert(config->ops->datagram_out != NULL);
    assert(config->ops->interrupt != NULL);
    assert(config->ops->reset != NULL);
    /* Everything but out_buf starts zeroed; out_buf (the largest datagram, most of the
     * struct) is only ever read below out_filled, which is 0, so it is left as malloc gives
     * it: zeroing it cost more than the rest of a VM's start. */
    struct vmci_device *device = malloc(sizeof(*device));
    if (device == NULL)
        return NULL;
    memset(device, 0, offsetof(struct vmci_device, out_buf));
    device->cid = config->cid;
    device->caps_offered = config->caps_offered;
    device->engine = config->engine;
    device->cost = config->cost;
    device->ops = config->ops;
    device->ops_state = config->ops_state;
    device->engine_domain = config->engine_domain;
    device->irq_event = SIM_EVENT_NONE;
    assert(vmci_device_check(device));
    return device;
}

void vmci_device_destroy(struct vmci_device *device)
{
    if (device == NULL)
        return;
    assert(!device->in_callback);
    irq_cancel(device);
    pending_free(device);
    vmci_spares_free(&device->pending_spares);
    free(device->bitmap);
    free(device);
}

static bool check_out_stream(const struct vmci_device *device)
{
    if (device->out_discard_bytes > 0)
        return device->out_filled == 0 && device->out_total == 0;
    if (device->out_total == 0)
        return device->out_filled < VMCI_DG_HEADERSIZE;
    return device->out_filled >= VMCI_DG_HEADERSIZE && device->out_filled < device->out_total &&
           device->out_total <= VMCI_MAX_DG_SIZE &&
           vmci_read_u64(device->out_buf + 16) == device->out_total - VMCI_DG_HEADERSIZE;
}

static bool check_pending(const struct vmci_device *device)
{
    uint64_t sum_bytes = 0;
    uint32_t count = 0;
    const struct pending_datagram *last = NULL;
    const struct pending_datagram *entry = device->pending_head;
    for (; entry != NULL && count <= VMCI_DEVICE_PENDING_DATAGRAMS_MAX; entry = entry->next) {
        if (entry->size_bytes < VMCI_DG_HEADERSIZE || entry->size_bytes > VMCI_MAX_DG_SIZE)
            return false;
        if (vmci_read_u64(entry->bytes + 16) != entry->size_bytes - VMCI_DG_HEADERSIZE)
            return false;
        sum_bytes += entry->size_bytes;
        count++;
        last = entry;
    }
    if (entry != NULL || last != device->pending_tail)
        return false;                           /* too long (a cycle?) or a stale tail */
    if (count != device->pending_count || sum_bytes != device->pending_bytes)
        return false;                           /* DV3 */
    if (device->pending_bytes >= VMCI_MAX_DATAGRAM_AND_EVENT_QUEUE_SIZE)
        return false;
    if (device->pending_head == NULL)
        return device->in_offset == 0;          /* DV4 */
    return device->in_offset < vmci_dg_size_aligned(device->pending_head->size_bytes);
}

struct vmci_device_dg_account vmci_device_dg_account(const struct vmci_device *device)
{
    assert(device != NULL);
    return (struct vmci_device_dg_account){
        .queued_total = device->queued_total, .read_total = device->read_total,
        .discarded_total = device->discarded_total, .pending_count = device->pending_count,
    };
}

void vmci_device_dg_account_break_for_test(struct vmci_device *device)
{
    assert(device != NULL);
    device->queued_total++;                 /* one datagram that went nowhere */
}

bool vmci_device_check(const struct vmci_device *device)
{
    if (device == NULL || device->ops == NULL || device->engine == NULL || device->cost == NULL)
        return false;
    if ((device->icr & ~VMCI_ICR_ALL) != 0 || (device->imr & ~VMCI_ICR_ALL) != 0)
        return false;                           /* DV1 */
    if ((device->caps_in_use & ~device->caps_offered) != 0)
        return false;                           /* DV1 */
    if (device->irq_events_pending > 1)
        return false;                           /* DV5 */
    if ((device->irq_events_pending == 1) != (device->irq_event != SIM_EVENT_NONE))
        return false;
    if (device->bitmap_registered && device->bitmap == NULL)
        return false;                           /* DV6 */
    return check_out_stream(device) && check_pending(device);
}
