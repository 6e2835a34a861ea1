/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/limits.h: the named limits of a world.
 *
 * Every table, queue and loop of the engine is bounded by one of these. A
 * scenario may override the world-level ones with sim.world{ limits = {...} };
 * exceeding one is an error whose message names the limit (SIM_ELIMIT).
 * Defaults are documented in docs/limits.md; each says how it was derived.
 */
#ifndef SIM_ENGINE_LIMITS_H
#define SIM_ENGINE_LIMITS_H

#include <stdint.h>

/* Guest contexts per world: the design's scale goal is 1 000 VMs. */
#define SIM_VMS_MAX_DEFAULT             1024u
/* Live simulated processes (Lua coroutines and C fibers) per world. */
#define SIM_PROCESSES_MAX_DEFAULT       4096u
/* Pending events; each VM needs a handful (device, driver, timers) plus one per process. */
#define SIM_EVENTS_PENDING_MAX_DEFAULT  (1u << 20)
/* Open sockets per world (enforced by vsock/). */
#define SIM_SOCKETS_MAX_DEFAULT         16384u
/* Trace events per run: 100 M events is about 10 GB of SQLite trace. */
#define SIM_TRACE_EVENTS_MAX_DEFAULT    100000000ull
/* Queue-pair memory per VM (reference section 11, VMCI_MAX_GUEST_QP_MEMORY). */
#define SIM_QP_MEMORY_BYTES_MAX_DEFAULT (128ull * 1024 * 1024)
/* Queue-pair memory of the whole world, the host's own queue pairs included (no VM is
 * charged for those, R79): the simulator allocates every ring, so without this bound a
 * scenario would meet the machine's memory instead, at a point that differs between
 * machines. 16 GiB of rings is 32 768 streams of 256 KiB buffers; rings are only touched
 * as they are written. */
#define SIM_WORLD_QP_MEMORY_BYTES_MAX_DEFAULT (16ull * 1024 * 1024 * 1024)

/* Event subscriptions per VMCI kernel: each stream socket holds one (its peer-detach
 * event), so this bounds the streams one endpoint may hold at once (VMCI's
 * VMCI_EVENT_SUBSCRIPTIONS_MAX, the default). */
#define SIM_EVENT_SUBSCRIPTIONS_MAX_DEFAULT 4096u
/* Queue pairs one VM may have charged to it (reference section 11, VMCI_MAX_GUEST_QP_COUNT). */
#define SIM_QUEUE_PAIRS_MAX_DEFAULT     16384u
/* Datagram handles per VMCI kernel (VMCI_HOST_HANDLES_MAX / VMCI_GUEST_HANDLES_MAX). */
#define SIM_HANDLES_MAX_DEFAULT         65536u
/* The clamp of a listen() backlog (R105, Linux's somaxconn; VSOCK_BACKLOG_MAX). */
#define SIM_BACKLOG_MAX_DEFAULT         4096u
/* Datagrams in flight to the host kernel at once (VMCI_HOST_DELIVERIES_MAX): a fleet whose
 * guests all send to the host in the same instant meets it. */
#define SIM_HOST_DELIVERIES_MAX_DEFAULT 65536u
/* Datagrams one Lua datagram handle (p:vmci():datagram()) keeps until dg:recv() takes them;
 * more are dropped and traced, like a full socket receive queue. */
#define SIM_VMCI_DATAGRAM_QUEUE_MAX_DEFAULT 256u

/* Hard ceilings a scenario cannot raise: they keep indexes within 32 bits. */
#define SIM_VMS_CEILING                 (1u << 20)
#define SIM_PROCESSES_CEILING           (1u << 22)
#define SIM_EVENTS_PENDING_CEILING      (1u << 28)
#define SIM_EVENT_SUBSCRIPTIONS_CEILING (1u << 22)
#define SIM_QUEUE_PAIRS_CEILING         (1u << 20)  /* the broker's VMCI_QUEUE_PAIRS_MAX */
#define SIM_HANDLES_CEILING             (1u << 22)
#define SIM_BACKLOG_CEILING             (1u << 22)
#define SIM_HOST_DELIVERIES_CEILING     (1u << 24)
#define SIM_VMCI_DATAGRAM_QUEUE_CEILING (1u << 20)
/* 64 TiB: within a 47-bit address space, so a raised limit still refuses before malloc. */
#define SIM_WORLD_QP_MEMORY_BYTES_CEILING (1ull << 46)

/* Fixed engine limits (not overridable). */
#define SIM_PROCESS_NAME_BYTES_MAX      64u     /* incl. NUL; longer names are refused */
#define SIM_WAITQ_NAME_BYTES_MAX        128u    /* "join:" + a process name, "accept:" + an address */
#define SIM_TRACE_FIELDS_MAX            10u     /* typed fields per trace event */
#define SIM_TRACE_SINKS_MAX             8u      /* run: digest, discarded, faults, files, SQLite, verbose */
#define SIM_TRACE_STRING_BYTES_MAX      4096u   /* a longer string field is an error, not cut */
#define SIM_TRACE_BYTES_MAX             (1u << 20) /* a bytes field (payload) */
#define SIM_FIBER_STACK_BYTES_DEFAULT   (256u * 1024)
#define SIM_FIBER_STACK_BYTES_MIN       (64u * 1024)
#define SIM_ERROR_MESSAGE_BYTES_MAX     512u
#define SIM_MESSAGE_PATH_BYTES_MAX      128u    /* a path as a message names it (incl. NUL) */

_Static_assert(3u * SIM_MESSAGE_PATH_BYTES_MAX + 64u <= SIM_ERROR_MESSAGE_BYTES_MAX,
               "a message that names three paths keeps room for its cause");
_Static_assert(SIM_EVENTS_PENDING_MAX_DEFAULT >= 16u * SIM_VMS_MAX_DEFAULT,
               "each VM needs room for device, driver and timer events");
_Static_assert(SIM_EVENTS_PENDING_MAX_DEFAULT >= SIM_PROCESSES_MAX_DEFAULT,
               "every blocked process may hold one deadline event");

/* World-level limits a scenario may override. Field names are the Lua names + _max. */
struct sim_limits {
    uint32_t vms_max;
    uint32_t processes_max;
    uint32_t events_pending_max;
    uint32_t sockets_max;
    uint64_t trace_events_max;
    uint64_t qp_memory_bytes_max;
    uint32_t event_subscriptions_max;
    uint32_t queue_pairs_max;
    uint32_t handles_max;
    uint32_t backlog_max;
    uint32_t host_deliveries_max;
    uint32_t vmci_datagram_queue_max;
    uint64_t world_qp_memory_bytes_max;
};

struct sim_limits sim_limits_default(void);

#endif /* SIM_ENGINE_LIMITS_H */
