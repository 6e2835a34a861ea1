/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/channel.h: the supervisor's end of a program's channel, the transport of the
 * calls of protocol.h between the shim in the program and the program's simulated process.
 *
 * Two kinds (docs/programs.md, "The channel"):
 *   socket  a stream socketpair carries each request and each reply;
 *   shm     a shared memory file (memfd, mapped by both sides; channel_shared.h) carries
 *           them, with a sequence word per direction, a brief spin and then a futex; the
 *           socketpair stays, silent, so that either side sees the other one go away.
 * Both kinds give the same calls in the same order with the same answers: the kind never
 * changes what the simulation does, only how fast a call crosses.
 *
 * One channel per real process: exec_channel_create makes everything a new process needs
 * (a program, or a future forked child of one), so that creating a channel is one call.
 *
 * Invariants: `socket` >= 0 from create until close; `child_socket` and `memfd` are open
 * only between create and exec_channel_started; `shared` is mapped from create until close
 * (shm only); `sequence` is the number of the last request read. Every request read from a
 * program is copied out of the program's reach and validated (exec__request_valid, the
 * sequence number, the payload bound) before anyone uses it.
 */
#ifndef SIM_EXEC_CHANNEL_H
#define SIM_EXEC_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "channel_shared.h"
#include "protocol.h"
#include "sim/engine/error.h"
#include "sim/engine/limits.h"

enum exec_channel_kind {
    EXEC_CHANNEL_SOCKET = 0,
    EXEC_CHANNEL_SHM,
};
/* The kind `ep:exec` uses unless the scenario names one (the faster: docs/programs.md). */
#define EXEC_CHANNEL_DEFAULT EXEC_CHANNEL_SHM
/* Descriptors the program keeps for its channel, and environment entries it gets. */
#define EXEC_CHANNEL_CHILD_FDS_MAX 2u
#define EXEC_CHANNEL_ENV_BYTES_MAX 64u

struct exec_channel {
    enum exec_channel_kind kind;
    int socket;                         /* our end of the socketpair */
    int child_socket;                   /* the program's end, until it started */
    int memfd;                          /* shm: the shared file, until the program started */
    struct exec_channel_shared *shared; /* shm: our mapping, else NULL */
    uint32_t sequence;                  /* the last request read (shm) */
    uint32_t spin_budget;               /* shm: pauses before the next futex sleep */
    uint32_t waits;                     /* shm: waits so far (every so many probes) */
};

/* What the supervisor does while it waits for a request: drain the program's output pipes
 * (`fds`: two descriptors, read at each wait since `drain` may close one and set it to -1;
 * -1 entries are ignored) with `drain` whenever one is readable. */
struct exec_channel_watch {
    const int *fds;
    void (*drain)(void *arg);
    void *arg;
};

/* "socket" or "shm"; NULL for anything else. */
const char *exec_channel_kind_name(enum exec_channel_kind kind);
/* Parses a kind's name: 0 and *kind set, or SIM_EINVAL. */
int exec_channel_kind_parse(const char *name, enum exec_channel_kind *kind);

/* Makes a channel of `kind`: the socketpair and, for shm, the shared memory. Returns 0, or a
 * SIM_E* code with `message` set (nothing is left open then). */
int exec_channel_create(struct exec_channel *channel, enum exec_channel_kind kind,
                        char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* The descriptors the program must keep at their numbers (its ends); returns how many. */
uint32_t exec_channel_child_fds(const struct exec_channel *channel,
                                int fds[EXEC_CHANNEL_CHILD_FDS_MAX]);
/* The environment entries that tell the shim where its channel is; returns how many. */
uint32_t exec_channel_child_environment(const struct exec_channel *channel,
                                        char entries[EXEC_CHANNEL_CHILD_FDS_MAX]
                                                    [EXEC_CHANNEL_ENV_BYTES_MAX]);
/* The program started (or failed to): closes our copies of its ends. */
void exec_channel_started(struct exec_channel *channel);

/* Reads the next request: its header into `request` and its payload into `payload`
 * (EXEC_PAYLOAD_BYTES_MAX bytes), waiting at most EXEC_CALL_WAIT_MS_MAX of wall time.
 * Returns 1; 0 when the program went away before starting another request; -1 on a broken
 * protocol (a malformed header, a wrong sequence number, more than one request) or when
 * the wall-time bound ran out (*hung). */
int exec_channel_request_read(struct exec_channel *channel, struct exec_request *request,
                              uint8_t *payload, const struct exec_channel_watch *watch,
                              bool *hung);
/* Sends the answer to the request read last (payload: reply->payload_bytes bytes, at most
 * EXEC_REPLY_PAYLOAD_BYTES_MAX). Returns false when the program is gone. */
bool exec_channel_reply_write(struct exec_channel *channel, const struct exec_reply *reply,
                              const uint8_t *payload);
/* Closes everything that is still open (idempotent; a closed channel has socket -1). */
/* From the shared page to the socketpair (after an execve's answer; channel.c). */
void exec_channel_demote(struct exec_channel *channel);
void exec_channel_close(struct exec_channel *channel);
/* A channel with nothing open (for state before create). */
void exec_channel_init(struct exec_channel *channel);

#endif /* SIM_EXEC_CHANNEL_H */
