/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/device_test.c: the VMCI virtual device of one VM (vmci/device.h,
 * reference section 3, R58; docs/device.md).
 *
 * A fake hypervisor (the device's ops) records every datagram_out, interrupt and
 * reset call and returns a result the test chooses; a real engine delivers the
 * interrupts, so delivery times are checked against the cost model. A collecting
 * trace sink checks the device-layer events. The fuzz test drives one device with
 * 200 000 random guest and hypervisor operations, compares every DATA_IN byte and
 * every R58 decision with a plain model, and runs vmci_device_check after each one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "sim/engine/engine.h"
#include "sim/engine/process.h"
#include "sim/engine/rng.h"
#include "suites.h"
#include "test_support.h"
#include "vmci/device.h"
#include "vmci/spares.h"

#define TEST_CID 42u
#define TEST_INTERRUPT_NS 1234u
#define OUT_RESULT_SIZE INT64_MIN       /* the fake returns the datagram's size (R39) */
#define HV_RECORDS_MAX 16u
#define ISR_DATA_BYTES_MAX 256u

struct fuzz;

/* The fake hypervisor: what the device called, and what it should answer. */
struct fake_hv {
    uint32_t out_calls;
    uint32_t out_cids[HV_RECORDS_MAX];
    uint64_t out_sizes[HV_RECORDS_MAX];
    uint64_t last_out_size;
    uint8_t last_out[VMCI_MAX_DG_SIZE];
    int64_t out_result;             /* returned by datagram_out, or OUT_RESULT_SIZE */
    bool out_loopback;              /* datagram_out enqueues the datagram back */
    int loopback_rc;
    uint32_t irq_calls;
    uint32_t irq_cids[HV_RECORDS_MAX];
    uint64_t irq_times_ns[HV_RECORDS_MAX];
    uint32_t irq_icr[HV_RECORDS_MAX];
    bool isr_reads_icr;             /* the ISR reads ICR, as the guest driver does */
    uint32_t isr_read_bytes;        /* ... and then this many DATA_IN bytes */
    uint8_t isr_data[ISR_DATA_BYTES_MAX];
    uint32_t isr_data_bytes;
    uint32_t reset_calls;
    uint32_t reset_cid;
    uint64_t pending_bytes_at_reset;
    uint32_t events_pending_at_reset;
};

struct fixture {
    struct sim_engine *engine;
    struct vmci_cost cost;
    struct vmci_device *device;
    struct fake_hv hv;
    struct fuzz *fuzz;              /* non-NULL: the ops run the fuzz model instead */
};

static int64_t fuzz_datagram_out(struct fixture *fx, const uint8_t *datagram, uint64_t size);
static void fuzz_interrupt(struct fixture *fx);
static void fuzz_reset(struct fixture *fx);

/* ---- The fake hypervisor ------------------------------------------------------------ */

static int64_t fake_datagram_out(void *state, uint32_t cid, const uint8_t *datagram,
                                 uint64_t size_bytes)
{
    struct fixture *fx = state;
    if (fx->fuzz != NULL)
        return fuzz_datagram_out(fx, datagram, size_bytes);
    struct fake_hv *hv = &fx->hv;
    if (hv->out_calls < HV_RECORDS_MAX) {
        hv->out_cids[hv->out_calls] = cid;
        hv->out_sizes[hv->out_calls] = size_bytes;
    }
    hv->out_calls++;
    CU_ASSERT_FATAL(size_bytes <= VMCI_MAX_DG_SIZE);
    memcpy(hv->last_out, datagram, size_bytes);
    hv->last_out_size = size_bytes;
    if (hv->out_loopback)
        hv->loopback_rc = vmci_device_enqueue(fx->device, datagram, size_bytes, false);
    return hv->out_result == OUT_RESULT_SIZE ? (int64_t)size_bytes : hv->out_result;
}

static void fake_interrupt(void *state, uint32_t cid)
{
    struct fixture *fx = state;
    if (fx->fuzz != NULL) {
        fuzz_interrupt(fx);
        return;
    }
    struct fake_hv *hv = &fx->hv;
    uint32_t icr = hv->isr_reads_icr ? vmci_device_read(fx->device, VMCI_ICR_ADDR) : 0;
    if (hv->irq_calls < HV_RECORDS_MAX) {
        hv->irq_cids[hv->irq_calls] = cid;
        hv->irq_times_ns[hv->irq_calls] = sim_engine_now(fx->engine);
        hv->irq_icr[hv->irq_calls] = icr;
    }
    hv->irq_calls++;
    uint32_t room = ISR_DATA_BYTES_MAX - hv->isr_data_bytes;
    uint32_t read_bytes = hv->isr_read_bytes < room ? hv->isr_read_bytes : room;
    if (read_bytes > 0) {
        vmci_device_read_data_in(fx->device, hv->isr_data + hv->isr_data_bytes, read_bytes);
        hv->isr_data_bytes += read_bytes;
    }
}

static void fake_reset(void *state, uint32_t cid)
{
    struct fixture *fx = state;
    if (fx->fuzz != NULL) {
        fuzz_reset(fx);
        return;
    }
    fx->hv.reset_calls++;
    fx->hv.reset_cid = cid;
    fx->hv.pending_bytes_at_reset = vmci_device_pending_bytes(fx->device);
    fx->hv.events_pending_at_reset = sim_engine_events_pending(fx->engine);
}

static const struct vmci_device_ops fake_ops = {
    .datagram_out = fake_datagram_out,
    .interrupt = fake_interrupt,
    .reset = fake_reset,
};

/* ---- Fixture and helpers -------------------------------------------------------------- */

static struct fixture *fixture_create(uint32_t caps_offered)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
    struct sim_limits limits = sim_limits_default();
    fx->engine = sim_engine_create(&limits, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->engine);
    fx->cost = vmci_cost_default();
    fx->cost.interrupt_ns = TEST_INTERRUPT_NS;
    fx->hv.out_result = OUT_RESULT_SIZE;
    struct vmci_device_config config = {
        .cid = TEST_CID,
        .caps_offered = caps_offered,
        .engine = fx->engine,
        .cost = &fx->cost,
        .ops = &fake_ops,
        .ops_state = fx,
    };
    fx->device = vmci_device_create(&config);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->device);
    CU_ASSERT(vmci_device_check(fx->device));
    return fx;
}

static void fixture_destroy(struct fixture *fx)
{
    CU_ASSERT(vmci_device_check(fx->device));
    vmci_device_destroy(fx->device);
    sim_engine_destroy(fx->engine);
    free(fx);
}

/* Writes a datagram {HOST, 1} <- {TEST_CID, 7} whose payload byte i is tag + i into
 * `out`; returns its size. */
static uint32_t dg_build(uint8_t *out, uint32_t payload_bytes, uint8_t tag)
{
    struct vmci_datagram_header header = {
        .dst = { VMCI_HOST_CONTEXT_ID, 1 },
        .src = { TEST_CID, 7 },
        .payload_size = payload_bytes,
    };
    vmci_header_encode(out, &header);
    for (uint32_t index = 0; index < payload_bytes; index++)
        out[VMCI_DG_HEADERSIZE + index] = (uint8_t)(tag + index);
    return VMCI_DG_HEADERSIZE + payload_bytes;
}

/* A header alone, declaring `payload_bytes` (may exceed any limit). */
static void header_build(uint8_t out[VMCI_DG_HEADERSIZE], uint64_t payload_bytes)
{
    struct vmci_datagram_header header = {
        .dst = { VMCI_HYPERVISOR_CONTEXT_ID, VMCI_GET_CONTEXT_ID },
        .src = { TEST_CID, 7 },
        .payload_size = payload_bytes,
    };
    vmci_header_encode(out, &header);
}

static void noop_event(void *context, void *arg, uint64_t data)
{
    (void)context;
    (void)arg;
    (void)data;
}

/* Runs every event up to time_ns and leaves the clock there. */
static void advance_to(struct fixture *fx, uint64_t time_ns)
{
    CU_ASSERT_EQUAL_FATAL(sim_engine_schedule_at(fx->engine, time_ns, noop_event, NULL, 0, NULL),
                          SIM_OK);
    struct sim_run_result result;
    sim_engine_run(fx->engine, time_ns, 0, &result);
    ASSERT_U64_EQ(sim_engine_now(fx->engine), time_ns);
}

static void run_idle(struct fixture *fx)
{
    struct sim_run_result result;
    sim_engine_run(fx->engine, SIM_TIME_NEVER, 0, &result);
    CU_ASSERT_EQUAL(result.stopped, SIM_STOP_IDLE);
}

static uint32_t reg_read(struct fixture *fx, uint32_t offset)
{
    return vmci_device_read(fx->device, offset);
}

static void reg_write(struct fixture *fx, uint32_t offset, uint32_t value)
{
    vmci_device_write(fx->device, offset, value);
}

static uint32_t count_bytes_equal(const uint8_t *bytes, size_t size_bytes, uint8_t value)
{
    uint32_t count = 0;
    for (size_t index = 0; index < size_bytes; index++)
        count += bytes[index] == value;
    return count;
}

/* ---- R28-R31: the register file -------------------------------------------------------- */

/* R28: unknown offsets (unaligned ones inside a register, past the window, wild ones)
 * read 0 and ignore writes; the state set up before is intact afterwards, and the
 * DATA_OUT stream did not see the writes aimed at 0x11 (else the next datagram would
 * be swallowed as the tail of an oversize one). */
static void test_R28_unknown_offsets_read_zero(void)
{
    static const uint32_t offsets[] = {
        0x01, 0x02, 0x03, 0x05, 0x09, 0x0A, 0x0D, 0x11, 0x12, 0x15, 0x19, 0x1D, 0x35,
        0x37, 0x38, 0x3C, 0x40, 0x1000, 0x20018, 0x7FFFFFFC, 0xFFFFFFFC, 0xFFFFFFFF,
    };
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    reg_write(fx, VMCI_CAPS_ADDR, VMCI_CAPS_DATAGRAM);
    reg_write(fx, VMCI_IMR_ADDR, VMCI_IMR_NOTIFICATION);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    uint32_t nonzero_reads = 0;
    for (size_t index = 0; index < sizeof(offsets) / sizeof(offsets[0]); index++) {
        CU_ASSERT_PTR_NULL(vmci_register_name(offsets[index]));
        nonzero_reads += reg_read(fx, offsets[index]) != 0;
        for (int repeat = 0; repeat < 6; repeat++)
            reg_write(fx, offsets[index], UINT32_MAX);
    }
    ASSERT_U64_EQ(nonzero_reads, 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_DATAGRAM);  /* not cleared by 0x09 */
    ASSERT_U64_EQ(reg_read(fx, VMCI_IMR_ADDR), VMCI_IMR_NOTIFICATION);
    ASSERT_U64_EQ(reg_read(fx, VMCI_STATUS_ADDR), 0);
    ASSERT_U64_EQ(vmci_device_caps_in_use(fx->device), VMCI_CAPS_DATAGRAM);
    ASSERT_U64_EQ(fx->hv.reset_calls, 0);
    ASSERT_U64_EQ(fx->hv.out_calls, 0);
    uint8_t datagram[32];
    uint32_t size = dg_build(datagram, 8, 0x40);
    vmci_device_write_data_out(fx->device, datagram, size);
    ASSERT_U64_EQ(fx->hv.out_calls, 1);
    ASSERT_U64_EQ(fx->hv.last_out_size, size);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, datagram, size), 0);
    fixture_destroy(fx);
}

/* R28: write-only registers read 0 (CONTROL, DATA_OUT, the DMA addresses, stored but
 * not offered by default); read-only ones ignore writes (STATUS, ICR, DATA_IN,
 * RESULT_*, and the offered half of CAPS); GUEST_PAGE_SHIFT reads back. */
static void test_R28_write_only_read_zero_read_only_ignore_writes(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    ASSERT_U64_EQ(reg_read(fx, VMCI_CONTROL_ADDR), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_STATUS_ADDR), VMCI_STATUS_INT_ON);
    static const uint32_t dma[] = { VMCI_DATA_OUT_LOW_ADDR, VMCI_DATA_OUT_HIGH_ADDR,
                                    VMCI_DATA_IN_LOW_ADDR, VMCI_DATA_IN_HIGH_ADDR };
    for (int index = 0; index < 4; index++) {
        reg_write(fx, dma[index], 0x12345678u);
        ASSERT_U64_EQ(reg_read(fx, dma[index]), 0);
    }
    ASSERT_U64_EQ(reg_read(fx, VMCI_DATA_OUT_ADDR), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_CAPS_ADDR) & VMCI_CAPS_DMA_DATAGRAM, 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_GUEST_PAGE_SHIFT), 0);
    reg_write(fx, VMCI_GUEST_PAGE_SHIFT, 12);
    ASSERT_U64_EQ(reg_read(fx, VMCI_GUEST_PAGE_SHIFT), 12);

    reg_write(fx, VMCI_STATUS_ADDR, 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_STATUS_ADDR), VMCI_STATUS_INT_ON);
    reg_write(fx, VMCI_CAPS_ADDR, 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_CAPS_ADDR), VMCI_CAPS_OFFERED_DEFAULT);
    vmci_device_raise(fx->device, VMCI_ICR_NOTIFICATION);
    reg_write(fx, VMCI_ICR_ADDR, 0);
    reg_write(fx, VMCI_ICR_ADDR, UINT32_MAX);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_NOTIFICATION);
    uint8_t datagram[32];
    uint32_t size = dg_build(datagram, 8, 1);
    vmci_device_write_data_out(fx->device, datagram, size);
    reg_write(fx, VMCI_RESULT_LOW_ADDR, 7);
    reg_write(fx, VMCI_RESULT_HIGH_ADDR, 7);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), size);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_HIGH_ADDR), 0);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    reg_write(fx, VMCI_DATA_IN_ADDR, 0xAAAAAAAAu);
    ASSERT_U64_EQ(reg_read(fx, VMCI_DATA_IN_ADDR), vmci_read_u32(datagram));
    fixture_destroy(fx);
}

/* R30: caps in use = written & offered; NOTIFICATIONS in use is needed to register the
 * bitmap (UNAVAILABLE before); a DMA-capable device offers and accepts DMA_DATAGRAM. */
static void test_R30_caps_in_use_and_bitmap_needs_notifications(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    ASSERT_U64_EQ(reg_read(fx, VMCI_CAPS_ADDR), 0x1C);
    ASSERT_U64_EQ(vmci_device_caps_in_use(fx->device), 0);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 0x77), VMCI_ERROR_UNAVAILABLE);
    CU_ASSERT_EQUAL(vmci_device_bitmap_set(fx->device, 1), VMCI_ERROR_UNAVAILABLE);
    reg_write(fx, VMCI_CAPS_ADDR, UINT32_MAX);
    ASSERT_U64_EQ(vmci_device_caps_in_use(fx->device), VMCI_CAPS_OFFERED_DEFAULT);
    reg_write(fx, VMCI_CAPS_ADDR, VMCI_CAPS_DATAGRAM | VMCI_CAPS_DMA_DATAGRAM);
    ASSERT_U64_EQ(vmci_device_caps_in_use(fx->device), VMCI_CAPS_DATAGRAM);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 0x77), VMCI_ERROR_UNAVAILABLE);
    CU_ASSERT_PTR_NULL(vmci_device_bitmap(fx->device));
    reg_write(fx, VMCI_CAPS_ADDR, VMCI_CAPS_DATAGRAM | VMCI_CAPS_NOTIFICATIONS);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 0x77), VMCI_SUCCESS);
    uint8_t *bitmap = vmci_device_bitmap(fx->device);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bitmap);
    ASSERT_U64_EQ(count_bytes_equal(bitmap, VMCI_NOTIFY_BITMAP_BYTES, 0),
                  VMCI_NOTIFY_BITMAP_BYTES);
    fixture_destroy(fx);

    fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT | VMCI_CAPS_DMA_DATAGRAM);
    ASSERT_U64_EQ(reg_read(fx, VMCI_CAPS_ADDR), 0x3C);
    reg_write(fx, VMCI_CAPS_ADDR, VMCI_CAPS_DMA_DATAGRAM | VMCI_CAPS_HYPERCALL);
    ASSERT_U64_EQ(vmci_device_caps_in_use(fx->device), VMCI_CAPS_DMA_DATAGRAM);
    fixture_destroy(fx);
}

/* R31: reading ICR returns every pending cause and clears them all. */
static void test_R31_icr_read_clears(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    vmci_device_raise(fx->device, VMCI_ICR_NOTIFICATION | VMCI_ICR_DMA_DATAGRAM);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0x7);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0);
    vmci_device_raise(fx->device, VMCI_ICR_NOTIFICATION);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_NOTIFICATION);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0);
    fixture_destroy(fx);
}

/* R31/R32: IMR reads back what was written, masked to the three defined bits. */
static void test_R32_imr_reads_back_what_was_written(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    static const uint32_t written[] = { 0x5, 0x2, 0x7, 0x0, 0xFFFFFFFF, 0x10, 0x80000001 };
    static const uint32_t expected[] = { 0x5, 0x2, 0x7, 0x0, 0x7, 0x0, 0x1 };
    for (int index = 0; index < 7; index++) {
        reg_write(fx, VMCI_IMR_ADDR, written[index]);
        ASSERT_U64_EQ(reg_read(fx, VMCI_IMR_ADDR), expected[index]);
    }
    fixture_destroy(fx);
}

/* ---- R32: interrupt delivery ---------------------------------------------------------------- */

/* R32: a masked cause stays in ICR and raises nothing (no delivery is even scheduled);
 * unmasking it delivers exactly one interrupt interrupt_ns later. A second, still
 * masked cause does not fire. */
static void test_R32_masked_cause_fires_after_unmask(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    fx->hv.isr_reads_icr = true;
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 0);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 0);
    advance_to(fx, 5000);
    reg_write(fx, VMCI_IMR_ADDR, VMCI_IMR_DATAGRAM);
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 1);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 1);
    ASSERT_U64_EQ(fx->hv.irq_times_ns[0], 5000 + TEST_INTERRUPT_NS);
    ASSERT_U64_EQ(fx->hv.irq_cids[0], TEST_CID);
    ASSERT_U64_EQ(fx->hv.irq_icr[0], VMCI_ICR_DATAGRAM);
    vmci_device_raise(fx->device, VMCI_ICR_NOTIFICATION);   /* masked by IMR = DATAGRAM */
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 1);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_NOTIFICATION);
    fixture_destroy(fx);
}

/* R32: INT_DISABLE before the delivery event drops it; the cause stays pending and is
 * delivered after INT_ENABLE. ENABLE|DISABLE in one write leaves INT_ON 0 (RESET, then
 * ENABLE, then DISABLE). A delivery whose cause was read away is dropped, and the next
 * assertion schedules a new one. */
static void test_R32_int_disable_stops_delivery(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    fx->hv.isr_reads_icr = true;
    reg_write(fx, VMCI_IMR_ADDR, VMCI_IMR_DATAGRAM);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 0);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    ASSERT_U64_EQ(reg_read(fx, VMCI_STATUS_ADDR), VMCI_STATUS_INT_ON);
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 1);
    advance_to(fx, 100);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_DISABLE);
    ASSERT_U64_EQ(reg_read(fx, VMCI_STATUS_ADDR), 0);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 0);
    advance_to(fx, 10000);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 1);
    ASSERT_U64_EQ(fx->hv.irq_times_ns[0], 10000 + TEST_INTERRUPT_NS);
    ASSERT_U64_EQ(fx->hv.irq_icr[0], VMCI_ICR_DATAGRAM);

    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE | VMCI_CONTROL_INT_DISABLE);
    ASSERT_U64_EQ(reg_read(fx, VMCI_STATUS_ADDR), 0);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_DATAGRAM);  /* read away */
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 1);
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 0);
    uint64_t now_ns = sim_engine_now(fx->engine);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 2);
    ASSERT_U64_EQ(fx->hv.irq_times_ns[1], now_ns + TEST_INTERRUPT_NS);
    fixture_destroy(fx);
}

/* R32: causes raised before the delivery coalesce into one interrupt (one pending
 * event per device), which sees all of them. */
static void test_R32_causes_coalesce_into_one_delivery(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    fx->hv.isr_reads_icr = true;
    reg_write(fx, VMCI_IMR_ADDR, VMCI_IMR_DATAGRAM | VMCI_IMR_NOTIFICATION);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    vmci_device_raise(fx->device, VMCI_ICR_NOTIFICATION);
    vmci_device_raise(fx->device, VMCI_ICR_DATAGRAM);
    reg_write(fx, VMCI_IMR_ADDR, VMCI_IMR_DATAGRAM | VMCI_IMR_NOTIFICATION);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 1);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 1);
    ASSERT_U64_EQ(fx->hv.irq_icr[0], VMCI_ICR_DATAGRAM | VMCI_ICR_NOTIFICATION);
    ASSERT_U64_EQ(fx->hv.irq_times_ns[0], TEST_INTERRUPT_NS);
    fixture_destroy(fx);
}

/* ---- R34: reset ---------------------------------------------------------------------------- */

/* Puts every piece of device state away from power-on. */
static void dirty_every_register(struct fixture *fx, uint8_t *scratch)
{
    fx->hv.out_result = VMCI_ERROR_NO_ACCESS;
    reg_write(fx, VMCI_CAPS_ADDR, VMCI_CAPS_OFFERED_DEFAULT);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 0x1234), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_device_bitmap_set(fx->device, 5), VMCI_SUCCESS);
    reg_write(fx, VMCI_IMR_ADDR, 0x7);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    reg_write(fx, VMCI_GUEST_PAGE_SHIFT, 12);
    reg_write(fx, VMCI_DATA_OUT_LOW_ADDR, 0xDEAD);
    uint32_t size = dg_build(scratch, 5, 9);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, scratch, size, false), VMCI_SUCCESS);
    size = dg_build(scratch, 8, 10);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, scratch, size, true), VMCI_SUCCESS);
    uint8_t partial[10];
    vmci_device_read_data_in(fx->device, partial, sizeof(partial));
    vmci_device_write_data_out(fx->device, scratch, size);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_HIGH_ADDR), UINT32_MAX);
    vmci_device_write_data_out(fx->device, scratch, 10);       /* half a header */
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 1);  /* the delivery */
}

/* R34: CONTROL_RESET returns the device to power-on state (INT_ON, IMR, ICR, caps in
 * use, bitmap, queue, both streams, RESULT, the pending delivery), then calls the
 * hypervisor's reset with the same CID. */
static void test_R34_reset_returns_power_on_state(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    uint8_t scratch[64];
    dirty_every_register(fx, scratch);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_RESET);
    ASSERT_U64_EQ(fx->hv.reset_calls, 1);
    ASSERT_U64_EQ(fx->hv.reset_cid, TEST_CID);
    ASSERT_U64_EQ(fx->hv.pending_bytes_at_reset, 0);    /* discarded before the call */
    ASSERT_U64_EQ(fx->hv.events_pending_at_reset, 0);   /* delivery cancelled */
    ASSERT_U64_EQ(reg_read(fx, VMCI_STATUS_ADDR), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_IMR_ADDR), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_HIGH_ADDR), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_GUEST_PAGE_SHIFT), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_CAPS_ADDR), VMCI_CAPS_OFFERED_DEFAULT);
    ASSERT_U64_EQ(vmci_device_caps_in_use(fx->device), 0);
    CU_ASSERT_PTR_NULL(vmci_device_bitmap(fx->device));
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 0);
    uint8_t filler[8];
    vmci_device_read_data_in(fx->device, filler, sizeof(filler));
    ASSERT_U64_EQ(count_bytes_equal(filler, sizeof(filler), 0xFF), sizeof(filler));
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 0);

    uint32_t out_calls = fx->hv.out_calls;      /* DATA_OUT starts at a header again */
    fx->hv.out_result = OUT_RESULT_SIZE;
    uint8_t datagram[32];
    uint32_t size = dg_build(datagram, 3, 0x60);
    vmci_device_write_data_out(fx->device, datagram, size);
    ASSERT_U64_EQ(fx->hv.out_calls, out_calls + 1);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, datagram, size), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), size);

    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 0x1234), VMCI_ERROR_UNAVAILABLE);
    reg_write(fx, VMCI_CAPS_ADDR, VMCI_CAPS_NOTIFICATIONS);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 0x1234), VMCI_SUCCESS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vmci_device_bitmap(fx->device));
    ASSERT_U64_EQ(vmci_device_bitmap(fx->device)[5], 0);
    fixture_destroy(fx);
}

/* ---- R36: DATA_OUT -------------------------------------------------------------------------- */

/* R36: a complete datagram goes to the hypervisor with the device's CID and exactly the
 * bytes written; RESULT_LOW/HIGH hold its signed result. Total 69632 is accepted; 69633
 * gives -2 as soon as the header is in, its declared bytes are discarded to the byte,
 * and the next datagram (in the same transfer as the last discarded byte) is processed.
 * A payload_size of 2^64-1 discards until CONTROL_RESET. */
static void test_R36_datagram_out_result_and_oversize(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    uint8_t *buffer = malloc(VMCI_MAX_DG_SIZE + 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buffer);
    fx->hv.out_result = VMCI_ERROR_DST_UNREACHABLE;
    uint32_t size = dg_build(buffer, 16, 0x11);
    vmci_device_write_data_out(fx->device, buffer, size);
    ASSERT_U64_EQ(fx->hv.out_calls, 1);
    ASSERT_U64_EQ(fx->hv.out_cids[0], TEST_CID);
    ASSERT_U64_EQ(fx->hv.last_out_size, 40);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, buffer, size), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), 0xFFFFFFF6u);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_HIGH_ADDR), 0xFFFFFFFFu);
    fx->hv.out_result = OUT_RESULT_SIZE;
    size = dg_build(buffer, VMCI_MAX_DG_PAYLOAD_SIZE, 0x22);
    vmci_device_write_data_out(fx->device, buffer, size);
    ASSERT_U64_EQ(fx->hv.out_calls, 2);
    ASSERT_U64_EQ(fx->hv.last_out_size, VMCI_MAX_DG_SIZE);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, buffer, size), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), VMCI_MAX_DG_SIZE);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_HIGH_ADDR), 0);

    header_build(buffer, VMCI_MAX_DG_PAYLOAD_SIZE + 1);        /* total 69633 */
    vmci_device_write_data_out(fx->device, buffer, VMCI_DG_HEADERSIZE - 1);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), VMCI_MAX_DG_SIZE);
    vmci_device_write_data_out(fx->device, buffer + VMCI_DG_HEADERSIZE - 1, 1);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), (uint32_t)VMCI_ERROR_INVALID_ARGS);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_HIGH_ADDR), 0xFFFFFFFFu);
    /* The discarded payload starts with what looks like a small datagram. */
    memset(buffer, 0xAB, VMCI_MAX_DG_SIZE);
    dg_build(buffer, 8, 0x33);
    vmci_device_write_data_out(fx->device, buffer, VMCI_MAX_DG_PAYLOAD_SIZE);
    ASSERT_U64_EQ(fx->hv.out_calls, 2);
    size = dg_build(buffer + 1, 5, 0x44);
    buffer[0] = 0xAB;                                            /* the last discarded byte */
    vmci_device_write_data_out(fx->device, buffer, 1 + size);
    ASSERT_U64_EQ(fx->hv.out_calls, 3);
    ASSERT_U64_EQ(fx->hv.last_out_size, size);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, buffer + 1, size), 0);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), size);

    header_build(buffer, UINT64_MAX);
    vmci_device_write_data_out(fx->device, buffer, VMCI_DG_HEADERSIZE);
    ASSERT_U64_EQ(reg_read(fx, VMCI_RESULT_LOW_ADDR), (uint32_t)VMCI_ERROR_INVALID_ARGS);
    size = dg_build(buffer, 5, 0x55);
    for (int repeat = 0; repeat < 20; repeat++)
        vmci_device_write_data_out(fx->device, buffer, VMCI_MAX_DG_SIZE);
    ASSERT_U64_EQ(fx->hv.out_calls, 3);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_RESET);
    vmci_device_write_data_out(fx->device, buffer, size);
    ASSERT_U64_EQ(fx->hv.out_calls, 4);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, buffer, size), 0);
    free(buffer);
    fixture_destroy(fx);
}

/* R36: the stream does not care how it is cut: byte by byte (no call before the last
 * byte), several datagrams in one transfer (a zero-payload one dispatched as soon as
 * its header is in), odd splits, and 32-bit register writes that straddle datagrams. */
static void test_R36_byte_by_byte_and_split_transfers(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    uint8_t stream[256];
    uint32_t size = dg_build(stream, 40, 0x10);
    uint32_t early_calls = 0;
    for (uint32_t index = 0; index < size; index++) {
        vmci_device_write_data_out(fx->device, stream + index, 1);
        early_calls += index + 1 < size && fx->hv.out_calls != 0;
    }
    ASSERT_U64_EQ(early_calls, 0);
    ASSERT_U64_EQ(fx->hv.out_calls, 1);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, stream, size), 0);

    uint32_t a = dg_build(stream, 3, 0x20);
    uint32_t b = dg_build(stream + a, 0, 0);
    uint32_t c = dg_build(stream + a + b, 50, 0x30);
    vmci_device_write_data_out(fx->device, stream, a + b + 5);
    ASSERT_U64_EQ(fx->hv.out_calls, 3);
    ASSERT_U64_EQ(fx->hv.out_sizes[1], 27);
    ASSERT_U64_EQ(fx->hv.out_sizes[2], 24);
    vmci_device_write_data_out(fx->device, stream + a + b + 5, 7);
    vmci_device_write_data_out(fx->device, stream + a + b + 12, 20);
    ASSERT_U64_EQ(fx->hv.out_calls, 3);
    vmci_device_write_data_out(fx->device, stream + a + b + 32, c - 32);
    ASSERT_U64_EQ(fx->hv.out_calls, 4);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, stream + a + b, c), 0);

    uint32_t e = dg_build(stream, 1, 0x50);                  /* 25 bytes */
    uint32_t f = dg_build(stream + e, 3, 0x60);              /* 27 bytes: 52 in all */
    for (uint32_t index = 0; index < e + f; index += 4)
        reg_write(fx, VMCI_DATA_OUT_ADDR, vmci_read_u32(stream + index));
    ASSERT_U64_EQ(fx->hv.out_calls, 6);
    ASSERT_U64_EQ(fx->hv.out_sizes[4], 25);
    ASSERT_U64_EQ(fx->hv.out_sizes[5], 27);
    CU_ASSERT_EQUAL(memcmp(fx->hv.last_out, stream + e, f), 0);
    fixture_destroy(fx);
}

/* R36/R56: datagram_out may enqueue the datagram into the same device (a guest sending
 * to its own CID); the copy reads back exactly. */
static void test_R36_datagram_out_may_enqueue_into_same_device(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    fx->hv.out_loopback = true;
    fx->hv.loopback_rc = 1;
    uint8_t datagram[64];
    uint32_t size = dg_build(datagram, 13, 0x70);
    vmci_device_write_data_out(fx->device, datagram, size);
    CU_ASSERT_EQUAL(fx->hv.loopback_rc, VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), size);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_DATAGRAM);
    uint8_t read_back[40];
    vmci_device_read_data_in(fx->device, read_back, sizeof(read_back));
    CU_ASSERT_EQUAL(memcmp(read_back, datagram, size), 0);
    ASSERT_U64_EQ(count_bytes_equal(read_back + size, sizeof(read_back) - size, 0), 3);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 0);
    fixture_destroy(fx);
}

/* ---- R33, R40: DATA_IN ----------------------------------------------------------------------- */

/* R33: ICR DATAGRAM is set when a datagram lands in an empty queue (not in a non-empty
 * one) and after every DATA_IN read that leaves datagrams pending. With interrupts on,
 * an ISR that reads one datagram per interrupt is re-interrupted until none is left. */
static void test_R33_reraise_when_pending_remain(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    uint8_t datagram[32];
    uint32_t size = dg_build(datagram, 8, 0x80);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_DATAGRAM);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0);
    uint8_t sink[32];
    vmci_device_read_data_in(fx->device, sink, 32);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_DATAGRAM);
    vmci_device_read_data_in(fx->device, sink, 16);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), VMCI_ICR_DATAGRAM);
    vmci_device_read_data_in(fx->device, sink, 16);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0);
    vmci_device_read_data_in(fx->device, sink, 8);
    ASSERT_U64_EQ(reg_read(fx, VMCI_ICR_ADDR), 0);
    fixture_destroy(fx);

    fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    fx->hv.isr_reads_icr = true;
    fx->hv.isr_read_bytes = 32;
    reg_write(fx, VMCI_IMR_ADDR, VMCI_IMR_DATAGRAM);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    uint8_t expected[96];
    for (uint32_t index = 0; index < 3; index++) {
        size = dg_build(expected + 32 * index, 8, (uint8_t)(0x90 + 0x10 * index));
        CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, expected + 32 * index, size, false),
                        VMCI_SUCCESS);
    }
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 3);
    for (uint32_t index = 0; index < 3; index++) {
        ASSERT_U64_EQ(fx->hv.irq_times_ns[index], (index + 1) * TEST_INTERRUPT_NS);
        ASSERT_U64_EQ(fx->hv.irq_icr[index], VMCI_ICR_DATAGRAM);
    }
    ASSERT_U64_EQ(fx->hv.isr_data_bytes, 96);
    CU_ASSERT_EQUAL(memcmp(fx->hv.isr_data, expected, 96), 0);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 0);
    fixture_destroy(fx);
}

/* R40: datagrams come out in FIFO order, each padded with zeroes to a multiple of 8;
 * reads may cut anywhere (inside a header, inside the padding); a datagram leaves the
 * queue (and R58's count) when its padded slot has been read; an empty queue at a
 * datagram boundary reads 0xFF for the rest of the read; a later datagram starts the
 * next read. Checked byte for byte. */
static void test_R40_data_in_alignment_split_reads_and_ff_filler(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    uint8_t a[29];
    uint8_t b[32];
    ASSERT_U64_EQ(dg_build(a, 5, 0xA0), 29);
    ASSERT_U64_EQ(dg_build(b, 8, 0xB0), 32);
    uint8_t expected[80];
    memcpy(expected, a, 29);
    memset(expected + 29, 0, 3);
    memcpy(expected + 32, b, 32);
    memset(expected + 64, 0xFF, 16);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, a, 29, false), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, b, 32, false), VMCI_SUCCESS);
    uint8_t got[80];
    memset(got, 0x5A, sizeof(got));
    vmci_device_read_data_in(fx->device, got, 10);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 61);
    vmci_device_read_data_in(fx->device, got + 10, 19);
    vmci_device_read_data_in(fx->device, got + 29, 2);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 61);  /* padding byte unread */
    vmci_device_read_data_in(fx->device, got + 31, 1);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 32);
    vmci_write_u32(got + 32, reg_read(fx, VMCI_DATA_IN_ADDR));
    vmci_device_read_data_in(fx->device, got + 36, 44);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 0);
    CU_ASSERT_EQUAL(memcmp(got, expected, sizeof(expected)), 0);

    ASSERT_U64_EQ(reg_read(fx, VMCI_DATA_IN_ADDR), 0xFFFFFFFFu);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, a, 29, false), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, b, 32, true), VMCI_SUCCESS);
    memset(got, 0x5A, sizeof(got));
    vmci_device_read_data_in(fx->device, got, sizeof(got));  /* both and the filler */
    CU_ASSERT_EQUAL(memcmp(got, expected, sizeof(expected)), 0);
    uint8_t c[24];
    dg_build(c, 0, 0);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, c, 24, false), VMCI_SUCCESS);
    vmci_device_read_data_in(fx->device, got, 30);
    CU_ASSERT_EQUAL(memcmp(got, c, 24), 0);
    ASSERT_U64_EQ(count_bytes_equal(got + 24, 6, 0xFF), 6);
    fixture_destroy(fx);
}

/* The device keeps its own copy: the hypervisor's buffer is borrowed for the call. */
static void test_R40_enqueue_copies_the_borrowed_datagram(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    uint8_t datagram[40];
    uint8_t original[40];
    uint32_t size = dg_build(datagram, 16, 0xC0);
    memcpy(original, datagram, size);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    memset(datagram, 0xEE, sizeof(datagram));
    uint8_t got[40];
    vmci_device_read_data_in(fx->device, got, size);
    CU_ASSERT_EQUAL(memcmp(got, original, size), 0);
    fixture_destroy(fx);
}

/* R58: a guest-sourced datagram is refused when queued + size >= 139264 (so exactly at
 * the limit is refused), a hypervisor-sourced one when >= 188416; a refusal changes
 * nothing; reading a datagram out makes room again. */
static void test_R58_queue_limits(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    uint8_t *datagram = malloc(VMCI_MAX_DG_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(datagram);
    uint32_t size = dg_build(datagram, VMCI_MAX_DG_PAYLOAD_SIZE, 1);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    size = dg_build(datagram, 69608 - VMCI_DG_HEADERSIZE, 2);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 139240);
    size = dg_build(datagram, 0, 3);                            /* 139240 + 24 = 139264 */
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false),
                    VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 139240);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, true), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 139264);
    size = dg_build(datagram, 188416 - 139264 - 1 - VMCI_DG_HEADERSIZE, 4);    /* 188415 */
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false),
                    VMCI_ERROR_NO_RESOURCES);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, true), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 188415);
    size = dg_build(datagram, 0, 5);                            /* 188439 */
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, true),
                    VMCI_ERROR_NO_RESOURCES);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 188415);

    uint8_t *sink = malloc(VMCI_MAX_DG_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sink);
    vmci_device_read_data_in(fx->device, sink, VMCI_MAX_DG_SIZE);
    ASSERT_U64_EQ(vmci_device_pending_bytes(fx->device), 188415 - VMCI_MAX_DG_SIZE);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    free(sink);
    free(datagram);
    fixture_destroy(fx);
}

/* ---- R43, R45: notification bitmap ------------------------------------------------------------ */

/* R45: sets of the same byte before the guest clears it coalesce (byte 1, one interrupt
 * with NOTIFICATION); an index >= 4096 is refused; a set after the guest cleared the
 * byte interrupts again. R43: re-registering the same page keeps it, another page is
 * a fresh, zeroed one. */
static void test_R45_bitmap_set_coalesces(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    fx->hv.isr_reads_icr = true;
    reg_write(fx, VMCI_CAPS_ADDR, VMCI_CAPS_DATAGRAM | VMCI_CAPS_NOTIFICATIONS);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 7), VMCI_SUCCESS);
    reg_write(fx, VMCI_IMR_ADDR, VMCI_IMR_NOTIFICATION);
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);
    for (int repeat = 0; repeat < 3; repeat++)
        CU_ASSERT_EQUAL(vmci_device_bitmap_set(fx->device, 7), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_device_bitmap_set(fx->device, 4095), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_device_bitmap_set(fx->device, 4096), VMCI_ERROR_INVALID_ARGS);
    ASSERT_U64_EQ(sim_engine_events_pending(fx->engine), 1);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 1);
    ASSERT_U64_EQ(fx->hv.irq_icr[0], VMCI_ICR_NOTIFICATION);
    uint8_t *bitmap = vmci_device_bitmap(fx->device);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bitmap);
    ASSERT_U64_EQ(bitmap[7], 1);
    ASSERT_U64_EQ(bitmap[4095], 1);
    ASSERT_U64_EQ(count_bytes_equal(bitmap, VMCI_NOTIFY_BITMAP_BYTES, 1), 2);
    bitmap[7] = 0;                                  /* the guest's scan (R46) */
    CU_ASSERT_EQUAL(vmci_device_bitmap_set(fx->device, 7), VMCI_SUCCESS);
    run_idle(fx);
    ASSERT_U64_EQ(fx->hv.irq_calls, 2);
    ASSERT_U64_EQ(bitmap[7], 1);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 7), VMCI_SUCCESS);
    ASSERT_U64_EQ(count_bytes_equal(vmci_device_bitmap(fx->device), VMCI_NOTIFY_BITMAP_BYTES,
                                    1), 2);
    CU_ASSERT_EQUAL(vmci_device_bitmap_register(fx->device, 8), VMCI_SUCCESS);
    ASSERT_U64_EQ(count_bytes_equal(vmci_device_bitmap(fx->device), VMCI_NOTIFY_BITMAP_BYTES,
                                    0), VMCI_NOTIFY_BITMAP_BYTES);
    fixture_destroy(fx);
}

/* ---- Trace ------------------------------------------------------------------------------------ */

#define COLLECT_EVENTS_MAX 32u
#define COLLECT_TEXT_BYTES 16u
#define COLLECT_BLOB_BYTES 8u

struct collected_field {
    const char *name;
    enum sim_field_type type;
    uint64_t u64;
    int64_t i64;
    char text[COLLECT_TEXT_BYTES];
    uint32_t size_bytes;
    uint8_t blob[COLLECT_BLOB_BYTES];       /* the first bytes of a BYTES field */
};

struct collected_event {
    const char *kind;
    uint32_t ctx;
    uint32_t pid;
    uint64_t time_ns;
    uint32_t field_count;
    struct collected_field fields[SIM_TRACE_FIELDS_MAX];
};

struct collector {
    uint32_t count;                         /* device-layer events seen (may exceed MAX) */
    struct collected_event events[COLLECT_EVENTS_MAX];
};

static int collect_emit(void *state, const struct sim_trace_event *event, char *message)
{
    struct collector *collector = state;
    (void)message;
    if (event->layer != SIM_LAYER_DEVICE)
        return 0;
    if (collector->count < COLLECT_EVENTS_MAX) {
        struct collected_event *out = &collector->events[collector->count];
        out->kind = event->kind;
        out->ctx = event->ctx;
        out->pid = event->pid;
        out->time_ns = event->time_ns;
        out->field_count = event->field_count;
        for (uint32_t index = 0; index < event->field_count; index++) {
            const struct sim_trace_field *in = &event->fields[index];
            struct collected_field *field = &out->fields[index];
            field->name = in->name;
            field->type = in->type;
            field->u64 = in->type == SIM_FIELD_U64 ? in->value.u64 : 0;
            field->i64 = in->type == SIM_FIELD_I64 ? in->value.i64 : 0;
            if (in->type == SIM_FIELD_STR || in->type == SIM_FIELD_BYTES) {
                uint32_t size = in->value.blob.size_bytes;
                field->size_bytes = size;
                uint32_t copy = size < COLLECT_BLOB_BYTES ? size : COLLECT_BLOB_BYTES;
                if (copy > 0)
                    memcpy(field->blob, in->value.blob.data, copy);
                if (in->type == SIM_FIELD_STR && size < COLLECT_TEXT_BYTES)
                    memcpy(field->text, in->value.blob.data, size);
            }
        }
    }
    collector->count++;
    return 0;
}

static void collector_attach(struct fixture *fx, struct collector *collector)
{
    memset(collector, 0, sizeof(*collector));
    struct sim_trace_sink sink = {
        .name = "device_test",
        .level = SIM_LAYER_DEVICE,
        .emit = collect_emit,
        .state = collector,
    };
    CU_ASSERT_EQUAL_FATAL(sim_engine_sink_attach(fx->engine, sink), SIM_OK);
}

/* The field `name` of event `index`, or a fatal assertion when it is missing. */
static const struct collected_field *field_of(const struct collector *collector,
                                              uint32_t index, const char *name,
                                              enum sim_field_type type)
{
    CU_ASSERT_FATAL(index < collector->count && index < COLLECT_EVENTS_MAX);
    const struct collected_event *event = &collector->events[index];
    for (uint32_t field = 0; field < event->field_count; field++) {
        if (strcmp(event->fields[field].name, name) == 0) {
            CU_ASSERT_EQUAL(event->fields[field].type, type);
            return &event->fields[field];
        }
    }
    CU_FAIL_FATAL("trace field missing");
    return NULL;
}

static void expect_register_event(const struct collector *collector, uint32_t index,
                                  const char *kind, const char *reg, uint32_t offset,
                                  uint32_t value)
{
    CU_ASSERT_FATAL(index < collector->count && index < COLLECT_EVENTS_MAX);
    CU_ASSERT_STRING_EQUAL(collector->events[index].kind, kind);
    ASSERT_U64_EQ(collector->events[index].field_count, 3);
    CU_ASSERT_STRING_EQUAL(field_of(collector, index, "reg", SIM_FIELD_STR)->text, reg);
    ASSERT_U64_EQ(field_of(collector, index, "offset", SIM_FIELD_U64)->u64, offset);
    ASSERT_U64_EQ(field_of(collector, index, "value", SIM_FIELD_U64)->u64, value);
}

static void expect_transfer_event(const struct collector *collector, uint32_t index,
                                  const char *kind, uint32_t size_bytes, const uint8_t *first4)
{
    CU_ASSERT_FATAL(index < collector->count && index < COLLECT_EVENTS_MAX);
    CU_ASSERT_STRING_EQUAL(collector->events[index].kind, kind);
    ASSERT_U64_EQ(collector->events[index].field_count, 2);
    ASSERT_U64_EQ(field_of(collector, index, "size", SIM_FIELD_U64)->u64, size_bytes);
    const struct collected_field *bytes = field_of(collector, index, "bytes", SIM_FIELD_BYTES);
    ASSERT_U64_EQ(bytes->size_bytes, size_bytes);
    if (first4 != NULL)
        CU_ASSERT_EQUAL(memcmp(bytes->blob, first4, 4), 0);
}

/* A data_in event: `size` is the whole transfer, `fill` its trailing 0xFF filler (an
 * empty queue), and `bytes` what came before the filler. */
static void expect_data_in_event(const struct collector *collector, uint32_t index,
                                 uint32_t size_bytes, uint32_t filler_bytes,
                                 const uint8_t *first4)
{
    CU_ASSERT_FATAL(index < collector->count && index < COLLECT_EVENTS_MAX);
    CU_ASSERT_STRING_EQUAL(collector->events[index].kind, "data_in");
    ASSERT_U64_EQ(collector->events[index].field_count, 3);
    ASSERT_U64_EQ(field_of(collector, index, "size", SIM_FIELD_U64)->u64, size_bytes);
    ASSERT_U64_EQ(field_of(collector, index, "fill", SIM_FIELD_U64)->u64, filler_bytes);
    const struct collected_field *bytes = field_of(collector, index, "bytes", SIM_FIELD_BYTES);
    ASSERT_U64_EQ(bytes->size_bytes, size_bytes - filler_bytes);
    if (first4 != NULL)
        CU_ASSERT_EQUAL(memcmp(bytes->blob, first4, 4), 0);
}

/* Traces: one event per register access (reg_read/reg_write with reg, offset, value;
 * "0x3c" for an unknown offset), one per DATA_OUT/DATA_IN transfer (a DATA_OUT write
 * and a DATA_IN read count as 4-byte transfers, a zero-length call as one empty one),
 * dg_result, interrupt (icr, imr) and reset; ctx is the CID, pid 0 outside processes. */
static void test_trace_one_event_per_access_and_transfer(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    struct collector *trace = calloc(1, sizeof(*trace));
    CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
    collector_attach(fx, trace);
    fx->hv.out_result = 77;
    uint8_t header[VMCI_DG_HEADERSIZE];
    header_build(header, 0);
    reg_read(fx, VMCI_STATUS_ADDR);                                 /* 0 */
    reg_write(fx, VMCI_IMR_ADDR, 0xFF);                             /* 1 */
    reg_read(fx, 0x3C);                                             /* 2 */
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_INT_ENABLE);      /* 3 */
    reg_write(fx, VMCI_DATA_OUT_ADDR, vmci_read_u32(header));       /* 4 */
    reg_read(fx, VMCI_DATA_IN_ADDR);                                /* 5 */
    vmci_device_write_data_out(fx->device, header + 4, 20);         /* 6, 7 dg_result */
    uint8_t datagram[32];
    uint32_t size = dg_build(datagram, 8, 0xD0);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, datagram, size, false), VMCI_SUCCESS);
    run_idle(fx);                                                   /* 8 interrupt */
    uint8_t got[40];
    vmci_device_read_data_in(fx->device, got, sizeof(got));         /* 9 */
    reg_write(fx, VMCI_CONTROL_ADDR, VMCI_CONTROL_RESET);           /* 10, 11 reset */
    vmci_device_read_data_in(fx->device, NULL, 0);                  /* 12 */
    ASSERT_U64_EQ(trace->count, 13);
    expect_register_event(trace, 0, "reg_read", "STATUS", VMCI_STATUS_ADDR, 0);
    expect_register_event(trace, 1, "reg_write", "IMR", VMCI_IMR_ADDR, 0xFF);
    expect_register_event(trace, 2, "reg_read", "0x3c", 0x3C, 0);
    expect_register_event(trace, 3, "reg_write", "CONTROL", VMCI_CONTROL_ADDR, 2);
    expect_transfer_event(trace, 4, "data_out", 4, header);
    expect_data_in_event(trace, 5, 4, 4, NULL);                     /* all filler */
    expect_transfer_event(trace, 6, "data_out", 20, header + 4);
    CU_ASSERT_STRING_EQUAL(trace->events[7].kind, "dg_result");
    ASSERT_U64_EQ(field_of(trace, 7, "result", SIM_FIELD_I64)->i64, 77);
    ASSERT_U64_EQ(field_of(trace, 7, "size", SIM_FIELD_U64)->u64, 24);
    CU_ASSERT_STRING_EQUAL(trace->events[8].kind, "interrupt");
    ASSERT_U64_EQ(trace->events[8].time_ns, TEST_INTERRUPT_NS);
    ASSERT_U64_EQ(field_of(trace, 8, "icr", SIM_FIELD_U64)->u64, VMCI_ICR_DATAGRAM);
    ASSERT_U64_EQ(field_of(trace, 8, "imr", SIM_FIELD_U64)->u64, 0x7);
    expect_data_in_event(trace, 9, 40, 40 - size, datagram);        /* then filler */
    expect_register_event(trace, 10, "reg_write", "CONTROL", VMCI_CONTROL_ADDR, 1);
    CU_ASSERT_STRING_EQUAL(trace->events[11].kind, "reset");
    expect_data_in_event(trace, 12, 0, 0, NULL);
    uint32_t wrong_ids = 0;
    for (uint32_t index = 0; index < 13; index++)
        wrong_ids += trace->events[index].ctx != TEST_CID || trace->events[index].pid != 0;
    ASSERT_U64_EQ(wrong_ids, 0);
    sim_engine_sinks_detach(fx->engine);
    free(trace);
    fixture_destroy(fx);
}

/* A transfer longer than VMCI_DEVICE_TRANSFER_BYTES_MAX is traced as several transfers,
 * each followed by the results of the datagrams it completed; an oversize header's
 * dg_result has result -2 and the declared size, saturated at 2^64-1. */
static void test_trace_long_transfer_is_split(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    struct collector *trace = calloc(1, sizeof(*trace));
    uint8_t *stream = malloc(3u * VMCI_MAX_DG_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stream);
    for (uint32_t index = 0; index < 3; index++)
        dg_build(stream + index * VMCI_MAX_DG_SIZE, VMCI_MAX_DG_PAYLOAD_SIZE, (uint8_t)index);
    collector_attach(fx, trace);
    vmci_device_write_data_out(fx->device, stream, 3u * VMCI_MAX_DG_SIZE);
    ASSERT_U64_EQ(fx->hv.out_calls, 3);
    ASSERT_U64_EQ(trace->count, 6);
    static const uint32_t sizes[] = { VMCI_DEVICE_TRANSFER_BYTES_MAX,
                                      VMCI_DEVICE_TRANSFER_BYTES_MAX,
                                      3u * VMCI_MAX_DG_SIZE - 2u * VMCI_DEVICE_TRANSFER_BYTES_MAX };
    for (uint32_t index = 0; index < 3; index++) {
        const uint8_t *first = stream + index * VMCI_DEVICE_TRANSFER_BYTES_MAX;
        expect_transfer_event(trace, 2 * index, "data_out", sizes[index], first);
        CU_ASSERT_STRING_EQUAL(trace->events[2 * index + 1].kind, "dg_result");
        ASSERT_U64_EQ(field_of(trace, 2 * index + 1, "size", SIM_FIELD_U64)->u64,
                      VMCI_MAX_DG_SIZE);
    }
    header_build(stream, UINT64_MAX - 1);
    vmci_device_write_data_out(fx->device, stream, VMCI_DG_HEADERSIZE);
    ASSERT_U64_EQ(trace->count, 8);
    CU_ASSERT_STRING_EQUAL(trace->events[7].kind, "dg_result");
    ASSERT_U64_EQ(field_of(trace, 7, "result", SIM_FIELD_I64)->i64, VMCI_ERROR_INVALID_ARGS);
    ASSERT_U64_EQ(field_of(trace, 7, "size", SIM_FIELD_U64)->u64, UINT64_MAX);
    sim_engine_sinks_detach(fx->engine);
    free(stream);
    free(trace);
    fixture_destroy(fx);
}

/* vmci_device_read_data_in_unfilled: the same stream and the same trace as a filled read,
 * but the trailing 0xFF filler is counted, not stored (the bytes there stay as they were),
 * also when it spans several transfers; a read without filler returns 0. */
static void test_R40_data_in_unfilled_counts_the_filler(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    struct collector *trace = calloc(1, sizeof(*trace));
    size_t size = VMCI_DEVICE_TRANSFER_BYTES_MAX + 100;
    uint8_t *got = malloc(size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    uint8_t a[29];
    dg_build(a, 5, 0xA0);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, a, 29, false), VMCI_SUCCESS);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, a, 29, false), VMCI_SUCCESS);
    collector_attach(fx, trace);
    memset(got, 0x5A, size);
    ASSERT_U64_EQ(vmci_device_read_data_in_unfilled(fx->device, got, 16), 0);  /* no filler */
    ASSERT_U64_EQ(vmci_device_read_data_in_unfilled(fx->device, got + 16, 100), 100 - 48);
    CU_ASSERT_EQUAL(memcmp(got, a, 29), 0);
    ASSERT_U64_EQ(count_bytes_equal(got + 29, 3, 0), 3);                   /* padding */
    CU_ASSERT_EQUAL(memcmp(got + 32, a, 29), 0);
    ASSERT_U64_EQ(count_bytes_equal(got + 64, 52, 0x5A), 52);              /* not stored */
    expect_data_in_event(trace, 0, 16, 0, a);
    expect_data_in_event(trace, 1, 100, 52, NULL);
    memset(got, 0x5A, size);
    ASSERT_U64_EQ(vmci_device_read_data_in_unfilled(fx->device, got, size), size);
    ASSERT_U64_EQ(count_bytes_equal(got, size, 0x5A), size);
    ASSERT_U64_EQ(trace->count, 4);                     /* two transfers, all filler */
    expect_data_in_event(trace, 2, VMCI_DEVICE_TRANSFER_BYTES_MAX,
                         VMCI_DEVICE_TRANSFER_BYTES_MAX, NULL);
    expect_data_in_event(trace, 3, 100, 100, NULL);
    CU_ASSERT_EQUAL(vmci_device_enqueue(fx->device, a, 29, false), VMCI_SUCCESS);
    ASSERT_U64_EQ(vmci_device_read_data_in_unfilled(fx->device, got, 32), 0);
    CU_ASSERT_EQUAL(memcmp(got, a, 29), 0);
    sim_engine_sinks_detach(fx->engine);
    free(got);
    free(trace);
    fixture_destroy(fx);
}

struct guest_process {
    struct vmci_device *device;
    uint32_t caps;
};

static void guest_resume(struct sim_process *process, enum sim_wake_reason reason)
{
    struct guest_process *guest = process->owner;
    (void)reason;
    guest->caps = vmci_device_read(guest->device, VMCI_CAPS_ADDR);
    sim_process_finish(process, false);
    sim_process_destroy(process);
}

static const struct sim_process_ops guest_ops = { .resume = guest_resume };

/* An access made by a running process carries that process's pid. */
static void test_trace_access_from_a_process_carries_its_pid(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT);
    struct collector *trace = calloc(1, sizeof(*trace));
    CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
    collector_attach(fx, trace);
    struct guest_process guest = { .device = fx->device };
    struct sim_process *process = NULL;
    CU_ASSERT_EQUAL_FATAL(sim_process_create(fx->engine, TEST_CID, "guest", &guest_ops, &guest,
                                             false, 0, &process), SIM_OK);
    uint32_t pid = process->pid;
    CU_ASSERT_NOT_EQUAL(pid, 0);
    run_idle(fx);
    ASSERT_U64_EQ(guest.caps, VMCI_CAPS_OFFERED_DEFAULT);
    ASSERT_U64_EQ(trace->count, 1);
    ASSERT_U64_EQ(trace->events[0].pid, pid);
    ASSERT_U64_EQ(trace->events[0].ctx, TEST_CID);
    sim_engine_sinks_detach(fx->engine);
    free(trace);
    fixture_destroy(fx);
}

/* ---- Fuzz: a hostile guest ------------------------------------------------------------------ */

#define FUZZ_OPERATIONS 200000u
#define FUZZ_PHASE_OPERATIONS 10000u    /* every fourth phase floods the queue */
#define FUZZ_BUFFER_BYTES (2u * VMCI_DEVICE_TRANSFER_BYTES_MAX + 256u)

struct model_datagram {
    uint8_t *bytes;                     /* owned */
    uint32_t size_bytes;
};

/* The DATA_IN model: FIFO of copies, read one byte at a time (a different algorithm
 * from the device's), plus counters of what the fuzz reached. */
struct fuzz {
    struct sim_rng *rng;
    bool flood;                         /* no DATA_IN reads: let R58 refuse */
    struct model_datagram queue[VMCI_DEVICE_PENDING_DATAGRAMS_MAX];
    uint32_t head;
    uint32_t count;
    uint32_t offset;
    uint64_t pending_bytes;
    uint64_t mismatches;                /* device and model disagree */
    uint64_t bad_datagrams_out;         /* datagram_out with a size its header denies */
    uint64_t bad_interrupts;            /* delivered while the line was not asserted */
    uint64_t check_failures;
    uint64_t datagrams_out;
    uint64_t interrupts;
    uint64_t resets;
    uint64_t enqueued;
    uint64_t refused;
    uint64_t datagrams_read;
    uint8_t device_bytes[FUZZ_BUFFER_BYTES];
    uint8_t model_bytes[FUZZ_BUFFER_BYTES];
    uint8_t scratch[FUZZ_BUFFER_BYTES];
};

static void model_pop(struct fuzz *fz)
{
    struct model_datagram *entry = &fz->queue[fz->head];
    fz->pending_bytes -= entry->size_bytes;
    free(entry->bytes);
    entry->bytes = NULL;
    fz->head = (fz->head + 1) % VMCI_DEVICE_PENDING_DATAGRAMS_MAX;
    fz->count--;
    fz->offset = 0;
    fz->datagrams_read++;
}

static void model_clear(struct fuzz *fz)
{
    for (uint32_t step = 0; step <= VMCI_DEVICE_PENDING_DATAGRAMS_MAX && fz->count > 0; step++)
        model_pop(fz);
}

static void model_read(struct fuzz *fz, uint8_t *out, size_t size_bytes)
{
    for (size_t index = 0; index < size_bytes; index++) {
        if (fz->count == 0) {
            out[index] = 0xFF;
            continue;
        }
        struct model_datagram *entry = &fz->queue[fz->head];
        out[index] = fz->offset < entry->size_bytes ? entry->bytes[fz->offset] : 0;
        fz->offset++;
        if (fz->offset == vmci_dg_size_aligned(entry->size_bytes))
            model_pop(fz);
    }
}

static void fuzz_enqueue(struct fixture *fx, const uint8_t *datagram, uint32_t size_bytes,
                         bool from_hypervisor)
{
    struct fuzz *fz = fx->fuzz;
    uint64_t limit = from_hypervisor ? VMCI_MAX_DATAGRAM_AND_EVENT_QUEUE_SIZE
                                     : VMCI_MAX_DATAGRAM_QUEUE_SIZE;
    bool expect_ok = fz->pending_bytes + size_bytes < limit &&
                     fz->count < VMCI_DEVICE_PENDING_DATAGRAMS_MAX;
    int rc = vmci_device_enqueue(fx->device, datagram, size_bytes, from_hypervisor);
    fz->mismatches += (rc == VMCI_SUCCESS) != expect_ok;
    if (rc != VMCI_SUCCESS) {
        fz->mismatches += rc != VMCI_ERROR_NO_RESOURCES;
        fz->refused++;
        return;
    }
    if (!expect_ok)
        return;
    struct model_datagram *entry =
        &fz->queue[(fz->head + fz->count) % VMCI_DEVICE_PENDING_DATAGRAMS_MAX];
    entry->bytes = malloc(size_bytes);
    CU_ASSERT_PTR_NOT_NULL_FATAL(entry->bytes);
    memcpy(entry->bytes, datagram, size_bytes);
    entry->size_bytes = size_bytes;
    fz->count++;
    fz->pending_bytes += size_bytes;
    fz->enqueued++;
}

/* Reads size_bytes from DATA_IN (a register read when `as_register`) and compares. */
static void fuzz_read(struct fixture *fx, size_t size_bytes, bool as_register)
{
    struct fuzz *fz = fx->fuzz;
    if (as_register) {
        size_bytes = 4;
        vmci_write_u32(fz->device_bytes, vmci_device_read(fx->device, VMCI_DATA_IN_ADDR));
    } else {
        vmci_device_read_data_in(fx->device, fz->device_bytes, size_bytes);
    }
    model_read(fz, fz->model_bytes, size_bytes);
    fz->mismatches += memcmp(fz->device_bytes, fz->model_bytes, size_bytes) != 0;
    fz->mismatches += vmci_device_pending_bytes(fx->device) != fz->pending_bytes;
}

static uint32_t fuzz_below(struct fuzz *fz, uint64_t bound)
{
    return (uint32_t)sim_rng_below(fz->rng, bound);
}

/* Builds a well-formed datagram of payload_bytes random bytes in `out`. */
static uint32_t fuzz_datagram(struct fuzz *fz, uint8_t *out, uint32_t payload_bytes)
{
    struct vmci_datagram_header header = {
        .dst = { (uint32_t)sim_rng_next(fz->rng), (uint32_t)sim_rng_next(fz->rng) },
        .src = { (uint32_t)sim_rng_next(fz->rng), (uint32_t)sim_rng_next(fz->rng) },
        .payload_size = payload_bytes,
    };
    vmci_header_encode(out, &header);
    for (uint32_t index = 0; index < payload_bytes; index += 8)
        vmci_write_u64(out + VMCI_DG_HEADERSIZE + index, sim_rng_next(fz->rng));
    return VMCI_DG_HEADERSIZE + payload_bytes;
}

static uint32_t fuzz_payload_bytes(struct fuzz *fz)
{
    if (fuzz_below(fz, 32) == 0)
        return fuzz_below(fz, VMCI_MAX_DG_PAYLOAD_SIZE + 1);
    return fuzz_below(fz, 300);
}

static int64_t fuzz_datagram_out(struct fixture *fx, const uint8_t *datagram, uint64_t size)
{
    struct fuzz *fz = fx->fuzz;
    fz->datagrams_out++;
    fz->bad_datagrams_out += size < VMCI_DG_HEADERSIZE || size > VMCI_MAX_DG_SIZE ||
                             vmci_read_u64(datagram + 16) != size - VMCI_DG_HEADERSIZE;
    switch (fuzz_below(fz, 8)) {
    case 0:
    case 1:
        fuzz_enqueue(fx, datagram, (uint32_t)size, false);     /* to its own CID */
        break;
    case 2:
        (void)vmci_device_bitmap_register(fx->device, sim_rng_next(fz->rng));
        break;
    case 3:
        (void)vmci_device_bitmap_set(fx->device, fuzz_below(fz, VMCI_NOTIFY_BITMAP_BYTES + 8));
        break;
    case 4:
        vmci_device_raise(fx->device, 1 + fuzz_below(fz, 7));
        break;
    default:
        break;
    }
    return fuzz_below(fz, 2) ? (int64_t)size : -(int64_t)fuzz_below(fz, 42);
}

/* The guest driver's ISR, hostile variant: checks the line was asserted, then reads a
 * random amount of DATA_IN and scans the bitmap. */
static void fuzz_interrupt(struct fixture *fx)
{
    struct fuzz *fz = fx->fuzz;
    fz->interrupts++;
    uint32_t status = vmci_device_read(fx->device, VMCI_STATUS_ADDR);
    uint32_t imr = vmci_device_read(fx->device, VMCI_IMR_ADDR);
    uint32_t icr = vmci_device_read(fx->device, VMCI_ICR_ADDR);
    fz->bad_interrupts += (status & VMCI_STATUS_INT_ON) == 0 || (icr & imr) == 0;
    if ((icr & VMCI_ICR_DATAGRAM) != 0 && !fz->flood)
        fuzz_read(fx, fuzz_below(fz, 2) ? VMCI_PAGE_SIZE : fuzz_below(fz, 200), false);
    uint8_t *bitmap = vmci_device_bitmap(fx->device);
    if ((icr & VMCI_ICR_NOTIFICATION) != 0 && bitmap != NULL) {
        for (uint32_t index = 0; index < VMCI_NOTIFY_BITMAP_BYTES; index++)
            bitmap[index] = bitmap[index] == 1 ? 0 : bitmap[index];
    }
}

static void fuzz_reset(struct fixture *fx)
{
    struct fuzz *fz = fx->fuzz;
    fz->resets++;
    fz->mismatches += vmci_device_pending_bytes(fx->device) != 0;
    model_clear(fz);
    if (fuzz_below(fz, 4) == 0) {
        uint32_t size = fuzz_datagram(fz, fz->scratch, 24);    /* a detach event */
        fuzz_enqueue(fx, fz->scratch, size, true);
    }
}

static uint32_t fuzz_offset(struct fuzz *fz)
{
    static const uint32_t wild[] = { 0xFFFFFFFF, 0xFFFFFFFC, 0x1000, 0x80000000, 0x20014 };
    uint32_t choice = fuzz_below(fz, 10);
    if (choice < 7)
        return 4 * fuzz_below(fz, 17);                          /* 0x00 .. 0x40, aligned */
    if (choice < 9)
        return fuzz_below(fz, 0x41);
    return fuzz_below(fz, 2) ? wild[fuzz_below(fz, 5)] : (uint32_t)sim_rng_next(fz->rng);
}

/* CONTROL values rarely carry RESET, so the queue and the streams get somewhere. */
static uint32_t fuzz_value(struct fuzz *fz, uint32_t offset)
{
    if (offset != VMCI_CONTROL_ADDR)
        return fuzz_below(fz, 2) ? fuzz_below(fz, 8) : (uint32_t)sim_rng_next(fz->rng);
    uint32_t value = fuzz_below(fz, 64) == 0 ? (uint32_t)sim_rng_next(fz->rng)
                                             : fuzz_below(fz, 8);
    if (fuzz_below(fz, 16) != 0)
        value &= ~VMCI_CONTROL_RESET;
    return value;
}

/* A DATA_OUT operation: mostly well-formed datagrams cut into up to three transfers;
 * sometimes garbage (a random header, usually with a plausible payload_size), rarely
 * longer than one transfer. */
static void fuzz_data_out(struct fixture *fx)
{
    struct fuzz *fz = fx->fuzz;
    uint32_t choice = fuzz_below(fz, 64);
    size_t size_bytes;
    if (choice == 0) {
        size_bytes = fuzz_below(fz, 64);
        for (size_t index = 0; index < size_bytes; index++)
            fz->scratch[index] = (uint8_t)sim_rng_next(fz->rng);
        if (size_bytes >= VMCI_DG_HEADERSIZE && fuzz_below(fz, 8) != 0)
            vmci_write_u64(fz->scratch + 16, fuzz_below(fz, 100000));
    } else if (choice == 1) {
        /* Room for the up to 7 bytes fuzz_datagram writes past a payload. */
        size_bytes = VMCI_DEVICE_TRANSFER_BYTES_MAX +
                     fuzz_below(fz, FUZZ_BUFFER_BYTES - VMCI_DEVICE_TRANSFER_BYTES_MAX - 8);
        size_t done = 0;
        for (uint32_t step = 0; step < 4 && done + VMCI_MAX_DG_SIZE <= size_bytes; step++)
            done += fuzz_datagram(fz, fz->scratch + done, fuzz_payload_bytes(fz));
        memset(fz->scratch + done, 0, size_bytes - done);
    } else {
        size_bytes = fuzz_datagram(fz, fz->scratch, fuzz_payload_bytes(fz));
    }
    size_t done = 0;
    for (uint32_t piece = 0; piece < 3 && done < size_bytes; piece++) {
        size_t length = piece == 2 ? size_bytes - done : fuzz_below(fz, size_bytes - done + 1);
        vmci_device_write_data_out(fx->device, fz->scratch + done, length);
        done += length;
    }
    if (done < size_bytes)
        vmci_device_write_data_out(fx->device, fz->scratch + done, size_bytes - done);
}

static void fuzz_hypervisor(struct fixture *fx)
{
    struct fuzz *fz = fx->fuzz;
    uint32_t choice = fuzz_below(fz, 8);
    if (choice < 5) {
        uint32_t payload = fuzz_below(fz, 16) == 0 ? fuzz_below(fz, VMCI_MAX_DG_PAYLOAD_SIZE + 1)
                                                   : fuzz_below(fz, 512);
        uint32_t size = fuzz_datagram(fz, fz->scratch, payload);
        fuzz_enqueue(fx, fz->scratch, size, fuzz_below(fz, 2) != 0);
    } else if (choice == 5) {
        (void)vmci_device_bitmap_set(fx->device, fuzz_below(fz, VMCI_NOTIFY_BITMAP_BYTES + 8));
    } else if (choice == 6) {
        (void)vmci_device_bitmap_register(fx->device, fuzz_below(fz, 4));
    } else {
        vmci_device_raise(fx->device, 1 + fuzz_below(fz, 7));
    }
}

static void fuzz_operation(struct fixture *fx)
{
    struct fuzz *fz = fx->fuzz;
    uint32_t choice = fuzz_below(fz, 100);
    if (fz->flood && choice >= 40 && choice < 75)
        choice = 80;                                /* no guest reads: enqueue instead */
    if (choice < 25) {
        uint32_t offset = fuzz_offset(fz);
        vmci_device_write(fx->device, offset, fuzz_value(fz, offset));
    } else if (choice < 45) {
        uint32_t offset = fuzz_offset(fz);
        if (offset == VMCI_DATA_IN_ADDR)
            fuzz_read(fx, 4, true);
        else
            (void)vmci_device_read(fx->device, offset);
    } else if (choice < 60) {
        fuzz_data_out(fx);
    } else if (choice < 75) {
        size_t size = fuzz_below(fz, 50) == 0 ? fuzz_below(fz, FUZZ_BUFFER_BYTES)
                                              : fuzz_below(fz, 300);
        fuzz_read(fx, size, false);
    } else if (choice < 90) {
        fuzz_hypervisor(fx);
    } else if (choice < 92) {
        uint8_t *bitmap = vmci_device_bitmap(fx->device);
        if (bitmap != NULL)
            bitmap[fuzz_below(fz, VMCI_NOTIFY_BITMAP_BYTES)] = (uint8_t)sim_rng_next(fz->rng);
    } else {
        uint64_t until_ns = sim_engine_now(fx->engine) + fuzz_below(fz, 3 * TEST_INTERRUPT_NS);
        advance_to(fx, until_ns);
    }
}

/* 200 000 random operations on one device from the "device_fuzz" stream: nothing a
 * guest does (any offset, value, order, length) crashes, asserts or leaks (ASan), the
 * invariants hold after every operation, DATA_IN and R58 agree with the model, and the
 * run reached datagrams, interrupts, resets and R58 refusals. */
static void test_fuzz_hostile_guest_keeps_invariants(void)
{
    struct fixture *fx = fixture_create(VMCI_CAPS_OFFERED_DEFAULT | VMCI_CAPS_DMA_DATAGRAM);
    struct fuzz *fz = calloc(1, sizeof(*fz));
    CU_ASSERT_PTR_NOT_NULL_FATAL(fz);
    fz->rng = sim_engine_rng(fx->engine, "device_fuzz");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fz->rng);
    fx->fuzz = fz;
    for (uint32_t op = 0; op < FUZZ_OPERATIONS; op++) {
        fz->flood = (op / FUZZ_PHASE_OPERATIONS) % 4 == 3;
        fuzz_operation(fx);
        fz->check_failures += !vmci_device_check(fx->device);
    }
    run_idle(fx);
    ASSERT_U64_EQ(fz->check_failures, 0);
    ASSERT_U64_EQ(fz->mismatches, 0);
    ASSERT_U64_EQ(fz->bad_datagrams_out, 0);
    ASSERT_U64_EQ(fz->bad_interrupts, 0);
    CU_ASSERT(fz->datagrams_out > 10000);
    CU_ASSERT(fz->interrupts > 1000);
    CU_ASSERT(fz->resets > 10);
    CU_ASSERT(fz->enqueued > 10000);
    CU_ASSERT(fz->datagrams_read > 10000);
    CU_ASSERT(fz->refused > 100);
    fx->fuzz = NULL;
    model_clear(fz);
    free(fz);
    fixture_destroy(fx);
}

/* vmci/spares.h, the kept copies of small datagrams: a small block given back is the next
 * one taken (unless nothing is kept, under ASan); a large one and one beyond
 * VMCI_SPARES_MAX are freed; every kept block is big enough for any small datagram; the
 * list frees what it holds. */
static void test_spare_blocks_are_reused_within_their_bound(void)
{
    struct vmci_spares spares = { .head = NULL, .count = 0 };
    enum { HEADER = 16, BLOCKS = VMCI_SPARES_MAX + 4u };
    void *blocks[BLOCKS];
    for (uint32_t index = 0; index < BLOCKS; index++) {
        blocks[index] = vmci_spares_take(&spares, HEADER, 56);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[index]);
        memset(blocks[index], 0xA5, HEADER + VMCI_SPARE_DATA_BYTES);   /* room for any */
    }
    CU_ASSERT_EQUAL(spares.count, 0);
    for (uint32_t index = 0; index < BLOCKS; index++)
        vmci_spares_give(&spares, blocks[index], 56);
    CU_ASSERT_EQUAL(spares.count, VMCI_SPARES_MAX);                  /* the rest freed */
    void *large = vmci_spares_take(&spares, HEADER, VMCI_SPARE_DATA_BYTES + 1u);
    CU_ASSERT_PTR_NOT_NULL_FATAL(large);
    CU_ASSERT_EQUAL(spares.count, VMCI_SPARES_MAX);                  /* not from the list */
    vmci_spares_give(&spares, large, VMCI_SPARE_DATA_BYTES + 1u);      /* freed, not kept */
    CU_ASSERT_EQUAL(spares.count, VMCI_SPARES_MAX);
    if (VMCI_SPARES_MAX > 0) {
        void *first = vmci_spares_take(&spares, HEADER, VMCI_SPARE_DATA_BYTES);
        CU_ASSERT_EQUAL(spares.count, VMCI_SPARES_MAX - 1u);
        uintptr_t first_address = (uintptr_t)first;
        vmci_spares_give(&spares, first, 1);
        void *again = vmci_spares_take(&spares, HEADER, 24);
        CU_ASSERT_EQUAL((uintptr_t)again, first_address);                   /* reused */
        vmci_spares_give(&spares, again, 24);
    }
    vmci_spares_free(&spares);
    CU_ASSERT_PTR_NULL(spares.head);
    CU_ASSERT_EQUAL(spares.count, 0);
}

CU_ErrorCode device_suite_add(void)
{
    static const struct test_entry tests[] = {
        TEST_ENTRY(test_R28_unknown_offsets_read_zero),
        TEST_ENTRY(test_R28_write_only_read_zero_read_only_ignore_writes),
        TEST_ENTRY(test_R30_caps_in_use_and_bitmap_needs_notifications),
        TEST_ENTRY(test_R31_icr_read_clears),
        TEST_ENTRY(test_R32_imr_reads_back_what_was_written),
        TEST_ENTRY(test_R32_masked_cause_fires_after_unmask),
        TEST_ENTRY(test_R32_int_disable_stops_delivery),
        TEST_ENTRY(test_R32_causes_coalesce_into_one_delivery),
        TEST_ENTRY(test_R34_reset_returns_power_on_state),
        TEST_ENTRY(test_R36_datagram_out_result_and_oversize),
        TEST_ENTRY(test_R36_byte_by_byte_and_split_transfers),
        TEST_ENTRY(test_R36_datagram_out_may_enqueue_into_same_device),
        TEST_ENTRY(test_R33_reraise_when_pending_remain),
        TEST_ENTRY(test_R40_data_in_alignment_split_reads_and_ff_filler),
        TEST_ENTRY(test_R40_data_in_unfilled_counts_the_filler),
        TEST_ENTRY(test_R40_enqueue_copies_the_borrowed_datagram),
        TEST_ENTRY(test_R58_queue_limits),
        TEST_ENTRY(test_R45_bitmap_set_coalesces),
        TEST_ENTRY(test_trace_one_event_per_access_and_transfer),
        TEST_ENTRY(test_trace_long_transfer_is_split),
        TEST_ENTRY(test_trace_access_from_a_process_carries_its_pid),
        TEST_ENTRY(test_fuzz_hostile_guest_keeps_invariants),
        TEST_ENTRY(test_spare_blocks_are_reused_within_their_bound),
    };
    return test_suite_register("device", tests, sizeof(tests) / sizeof(tests[0]));
}
