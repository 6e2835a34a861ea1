/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/channel_shared.h: the page a program and the supervisor share when the program's
 * channel is "shm" (docs/programs.md, "The channel"). Included by both sides (shim/ and
 * sim/exec/channel.c); fixed-width types only, same machine and ABI on both sides.
 *
 * The messages are those of protocol.h; only their transport differs. The program writes a
 * request (header and payload) into `request`/`request_payload`, then publishes it by storing
 * the next sequence number into `request_bell.sequence`; the supervisor answers into `reply`/
 * `reply_payload` and stores the same number into `reply_bell.sequence`. Each side waits for
 * the other's bell by spinning briefly and then sleeping on it with a futex; `sleeping` says
 * that the waiting side may be asleep, so the other side issues FUTEX_WAKE only then.
 *
 * Trust: the program can write anything anywhere in this page at any time. The supervisor
 * therefore copies the request header into its own memory, validates it (magic, op range,
 * payload bound, the expected sequence number) and then copies at most the validated number of
 * payload bytes; it never follows an index or length it did not check, and never reads the
 * page again for that call. The program trusts the supervisor's writes as before.
 */
#ifndef SIM_EXEC_CHANNEL_SHARED_H
#define SIM_EXEC_CHANNEL_SHARED_H

#include <stdint.h>

#include "protocol.h"

/* The child finds the shared memory (a memfd it maps and closes) in this variable. */
#define EXEC_CHANNEL_SHM_ENV "VMCISIM_CHANNEL_SHM_FD"
/* Bytes a reply's payload may have: a receive's address before at most the protocol's
 * payload bound of data. */
#define EXEC_REPLY_PAYLOAD_BYTES_MAX (EXEC_PAYLOAD_BYTES_MAX + EXEC_ADDRESS_BYTES)
/* Spin iterations (a `pause` each, some tens of ns) a side waits before it sleeps on the
 * futex; the budget adapts between the two bounds: it doubles after a wait the spinning
 * ended, halves after one that needed the futex (a loaded machine spins less). Every
 * EXEC_CHANNEL_PROBE_EVERY-th wait spins the whole EXEC_CHANNEL_SPIN_MAX (a probe): when
 * the machine has processors free again, the probe ends in time and the budget is back at
 * its maximum; while it is loaded, one long spin in that many waits costs little. */
#define EXEC_CHANNEL_SPIN_MAX 8192u
#define EXEC_CHANNEL_SPIN_MIN 64u
#define EXEC_CHANNEL_PROBE_EVERY 256u
/* How long one futex sleep lasts before the sleeper checks whether the other side is gone
 * (the socketpair's hangup) and, in the supervisor, drains the program's output pipes. */
#define EXEC_CHANNEL_TICK_MS 5

/* One side's doorbell, alone on its cache line. */
struct exec_channel_bell {
    uint32_t sequence;          /* the last message published by the writing side */
    uint32_t sleeping;          /* 1: the reading side may sleep on `sequence` */
    uint8_t padding[56];
};

struct exec_channel_shared {
    struct exec_channel_bell request_bell;      /* written by the program */
    struct exec_channel_bell reply_bell;        /* written by the supervisor */
    struct exec_request request;
    struct exec_reply reply;
    uint8_t padding[4096 - 2 * sizeof(struct exec_channel_bell) - sizeof(struct exec_request) -
                    sizeof(struct exec_reply)];
    uint8_t request_payload[EXEC_PAYLOAD_BYTES_MAX];
    uint8_t reply_payload[EXEC_REPLY_PAYLOAD_BYTES_MAX];
};

_Static_assert(sizeof(struct exec_channel_bell) == 64, "a bell is one cache line");
_Static_assert(sizeof(struct exec_channel_shared) ==
                   4096 + EXEC_PAYLOAD_BYTES_MAX + EXEC_REPLY_PAYLOAD_BYTES_MAX,
               "shared channel layout");

/* A spin-wait hint to the processor (nothing where there is none). */
static inline void exec_channel_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The spins of the next wait: the budget, or the maximum on every probe (`*waits` counts). */
static inline uint32_t exec_channel_spins(uint32_t budget, uint32_t *waits)
{
    return ++*waits % EXEC_CHANNEL_PROBE_EVERY == 0 ? EXEC_CHANNEL_SPIN_MAX : budget;
}

/* The adaptive spin budget: after a wait that spinning ended (`spun`), or that slept. */
static inline uint32_t exec_channel_spin_next(uint32_t budget, int spun)
{
    if (spun)
        return budget >= EXEC_CHANNEL_SPIN_MAX / 2 ? EXEC_CHANNEL_SPIN_MAX : budget * 2;
    return budget <= EXEC_CHANNEL_SPIN_MIN * 2 ? EXEC_CHANNEL_SPIN_MIN : budget / 2;
}

#endif /* SIM_EXEC_CHANNEL_SHARED_H */
