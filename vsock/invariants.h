/* SPDX-License-Identifier: MIT */
/*
 * vsock/invariants.h: the socket core's world invariants (docs/invariants.md), checked
 * per stack at the end of every run and, with `vmcisim run --paranoid`, after every event.
 * Read-only; every violation goes to the caller's report callback.
 *
 *   port_socket        every bound port leads to exactly one socket: no two bound
 *                      (non-child) sockets of one type share an address, and the lookup of
 *                      each bound socket's address finds it
 *   blocked_dead_peer  (end of run only) no process waits on a stream socket whose peer is
 *                      gone (reset, or shut down both ways): such a socket must have woken
 *                      it with EOF or an error
 */
#ifndef VSOCK_INVARIANTS_H
#define VSOCK_INVARIANTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"

#define VSOCK_INVARIANT_TEXT_BYTES 160u

/* One violation: `name` is the invariant, `object` what breaks it, `detail` how. */
typedef void (*vsock_invariant_report_fn)(void *state, const char *name, const char *object,
                                          const char *detail);

/* Checks one stack; `at_end` adds the checks that only hold once the run is over.
 * Returns the number of violations reported. */
uint32_t vsock_invariants_check(struct vsock_stack *stack, bool at_end,
                                vsock_invariant_report_fn report, void *state);

/* TEST ONLY (tests/unit/invariants_test.c): corrupts the stack so that one invariant is
 * broken. Never called by the simulator. Returns 0, or -1 when there is nothing to break. */
enum vsock_invariant_break {
    VSOCK_BREAK_PORT_SOCKET = 1,    /* gives the first socket with a port another's port */
    VSOCK_BREAK_BLOCKED_DEAD_PEER,  /* marks a stream socket with a waiter as reset, unwoken */
};
int vsock_invariants_break_for_test(struct vsock_stack *stack, enum vsock_invariant_break which);

#endif /* VSOCK_INVARIANTS_H */
