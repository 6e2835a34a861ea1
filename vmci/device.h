/* SPDX-License-Identifier: MIT */
/*
 * vmci/device.h: the VMCI virtual PCI device of one VM (reference section 3).
 * For vmci/, and for the raw-register binding (vm:device()) with which a
 * scenario plays a hostile or buggy guest kernel; sockets never use it.
 *
 * The guest side sees a register file (vmci_device_read/write, and byte-stream
 * transfers for DATA_OUT and DATA_IN); the hypervisor side appends datagrams
 * to the device's pending queue, sets notification bitmap bytes and raises
 * cause bits. Interrupt delivery is an engine event scheduled after the cost
 * model's interrupt latency; nothing the guest writes can make the device call
 * the hypervisor re-entrantly or touch another VM's device.
 *
 * Every register access and every DATA_OUT/DATA_IN transfer is one trace event
 * at the device layer (architecture.md, "Traces").
 */
#ifndef VMCI_DEVICE_H
#define VMCI_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cost.h"
#include "defs.h"
#include "sim/engine/engine.h"

/* Bytes of one DATA_OUT or DATA_IN transfer (a `rep outsb`/`insb` of at most one
 * maximum datagram plus a page, like the Linux driver's buffer). */
#define VMCI_DEVICE_TRANSFER_BYTES_MAX (VMCI_MAX_DG_SIZE + VMCI_PAGE_SIZE)
/* Datagrams pending in one device, whatever their size (the byte limits of R58 apply
 * first; this bounds the queue of tiny datagrams). */
#define VMCI_DEVICE_PENDING_DATAGRAMS_MAX 8192u
#define VMCI_NOTIFY_BITMAP_BYTES VMCI_MAX_GUEST_DOORBELL_COUNT

/* What the device needs from the hypervisor. */
struct vmci_device_ops {
    /* A complete datagram arrived on DATA_OUT (R36). Returns the result stored in
     * RESULT_LOW/HIGH (R39). Called synchronously; must not call back into the device
     * except through vmci_device_enqueue / _raise / _bitmap_set. */
    int64_t (*datagram_out)(void *state, uint32_t cid, const uint8_t *datagram,
                            uint64_t size_bytes);
    /* The interrupt line fired (INT_ON and ICR & IMR != 0 at delivery time). */
    void (*interrupt)(void *state, uint32_t cid);
    /* CONTROL_RESET was written (R34): the hypervisor detaches the VM's queue pairs etc. */
    void (*reset)(void *state, uint32_t cid);
};

struct vmci_device_config {
    uint32_t cid;
    uint32_t caps_offered;          /* VMCI_CAPS_OFFERED_DEFAULT unless the profile says */
    struct sim_engine *engine;      /* borrowed */
    const struct vmci_cost *cost;   /* borrowed, may change between calls (w:timing) */
    const struct vmci_device_ops *ops;
    void *ops_state;
    uint32_t engine_domain;         /* the guest's: interrupts run its handler there */
};

struct vmci_device;

/* Ownership: returns a new device owned by the caller; free with vmci_device_destroy().
 * NULL when out of memory. The device starts in power-on state (R34). */
struct vmci_device *vmci_device_create(const struct vmci_device_config *config);
void vmci_device_destroy(struct vmci_device *device);

/* Guest side. Offsets outside the register map read 0 / are ignored (R28). A 32-bit
 * write to DATA_OUT sends its 4 bytes little-endian into the stream; a read of DATA_IN
 * returns the next 4 stream bytes. */
uint32_t vmci_device_read(struct vmci_device *device, uint32_t offset);
void vmci_device_write(struct vmci_device *device, uint32_t offset, uint32_t value);
/* One DATA_OUT transfer of `size_bytes` (any length, any content; R36). */
void vmci_device_write_data_out(struct vmci_device *device, const uint8_t *bytes,
                                size_t size_bytes);
/* One DATA_IN transfer (R40): fills `size_bytes` of `target` from the pending stream,
 * 0xFF where no datagram is pending at a datagram boundary. */
void vmci_device_read_data_in(struct vmci_device *device, uint8_t *target, size_t size_bytes);
/* The same transfer (the same trace), but the 0xFF filler is not stored: returns how many
 * bytes at the end of `target` are filler and were left untouched. For a reader that looks
 * at a few bytes of the filler at most (the guest driver reads one header of it), which
 * spares storing a page of 0xFF per interrupt. */
size_t vmci_device_read_data_in_unfilled(struct vmci_device *device, uint8_t *target,
                                         size_t size_bytes);
/* The notification bitmap page as the guest sees it (R43, R46), or NULL if none is
 * registered. The guest driver clears bytes through it. */
uint8_t *vmci_device_bitmap(struct vmci_device *device);

/* Hypervisor side. Appends a datagram to the pending queue (R58 limits; from_hypervisor
 * selects the larger event limit). Returns 0, VMCI_ERROR_NO_RESOURCES or VMCI_ERROR_NO_MEM. Sets ICR
 * DATAGRAM when the queue was empty (R33). */
int vmci_device_enqueue(struct vmci_device *device, const uint8_t *datagram,
                        uint64_t size_bytes, bool from_hypervisor);
/* Sets cause bits in ICR and delivers the interrupt if enabled and unmasked (R32). */
void vmci_device_raise(struct vmci_device *device, uint32_t icr_bits);
/* Registers / replaces the notification bitmap (R43); requires caps NOTIFICATIONS in use
 * (R30: else VMCI_ERROR_UNAVAILABLE). */
int vmci_device_bitmap_register(struct vmci_device *device, uint64_t ppn);
/* Sets bitmap byte `index` to 1 and raises NOTIFICATION (R45); VMCI_ERROR_UNAVAILABLE when
 * no bitmap is registered, VMCI_ERROR_INVALID_ARGS for an index >= 4096. */
int vmci_device_bitmap_set(struct vmci_device *device, uint32_t index);
/* Suspend (R205), power-off (R204): the datagrams queued for the VM are lost (traced as
 * `data_discarded` with `reason` and `rule`) and no interrupt is pending; the register
 * state stays (the guest resumes where it was). */
void vmci_device_discard_pending(struct vmci_device *device, const char *reason,
                                 const char *rule);
/* The VM came back with another CID (R206, R207). */
void vmci_device_set_cid(struct vmci_device *device, uint32_t cid);
/* The engine event of the interrupt delivery now pending (DV5: one at most), or
 * SIM_EVENT_NONE. A resumed guest runs nothing before it (docs/lifecycle.md). */
sim_event_id vmci_device_interrupt_event(const struct vmci_device *device);
/* Caps the guest wrote as "in use" (R30). */
uint32_t vmci_device_caps_in_use(const struct vmci_device *device);
/* Bytes of datagrams pending (queued and not yet fully read). */
uint64_t vmci_device_pending_bytes(const struct vmci_device *device);
/* What became of the datagrams queued for DATA_IN (the dgram_once invariant,
 * vmci/invariants.c): queued_total == read_total + discarded_total + pending_count when
 * every datagram is read out once or dropped with a reason (reset, power-off). */
struct vmci_device_dg_account {
    uint64_t queued_total;
    uint64_t read_total;            /* read out of DATA_IN whole */
    uint64_t discarded_total;       /* dropped by a traced data_discarded */
    uint32_t pending_count;
};
struct vmci_device_dg_account vmci_device_dg_account(const struct vmci_device *device);
/* TEST ONLY: counts one queued datagram that does not exist, breaking the account. */
void vmci_device_dg_account_break_for_test(struct vmci_device *device);
/* Whole-device invariant check (for tests and the hostile-guest test). */
bool vmci_device_check(const struct vmci_device *device);
/* Register name for traces and Lua ("STATUS", "ICR", ...); NULL for an unknown offset. */
const char *vmci_register_name(uint32_t offset);
/* Offset for a register name; -1 when unknown. */
int vmci_register_offset(const char *name);

#endif /* VMCI_DEVICE_H */
