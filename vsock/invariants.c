/* SPDX-License-Identifier: MIT */
/*
 * vsock/invariants.c: the socket core's world invariants (vsock/invariants.h,
 * docs/invariants.md). Read-only walks of one stack's socket list.
 *
 * Cost: port_socket is quadratic in a stack's bound sockets (each one's lookup walks the
 * list); blocked_dead_peer one pass. Neither allocates.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "invariants.h"

static bool is_bound(const struct vsock_sock *sock)
{
    return !sock->child && sock->local.port != VSOCK_PORT_ANY;
}

static void sock_text(const struct vsock_sock *sock, char *text, size_t text_bytes)
{
    snprintf(text, text_bytes, "%s socket %" PRIu32 " of CID %" PRIu32 " (%" PRIu32 ":%" PRIu32
             ")", sock->type == VSOCK_TYPE_STREAM ? "stream" : "datagram", sock->id,
             vsock_stack_local_cid(sock->stack), sock->local.cid, sock->local.port);
}

static uint32_t check_ports(struct vsock_stack *stack, vsock_invariant_report_fn report,
                            void *state)
{
    uint32_t violations = 0;
    char object[VSOCK_INVARIANT_TEXT_BYTES];
    char detail[VSOCK_INVARIANT_TEXT_BYTES];
    for (struct vsock_sock *sock = stack->sockets_head; sock != NULL; sock = sock->stack_next) {
        if (!is_bound(sock))
            continue;
        struct vsock_sock *found = vsock_find_bound(stack, sock->type, &sock->local);
        const char *problem = NULL;
        if (found == NULL)
            problem = "its bound address finds no socket";
        for (struct vsock_sock *other = sock->stack_next; other != NULL && problem == NULL;
             other = other->stack_next) {
            if (is_bound(other) && other->type == sock->type &&
                other->local.port == sock->local.port &&
                (other->local.cid == sock->local.cid || other->bound_any || sock->bound_any)) {
                snprintf(detail, sizeof(detail), "port also bound by socket %" PRIu32,
                         other->id);
                problem = detail;
            }
        }
        if (problem != NULL) {
            sock_text(sock, object, sizeof(object));
            report(state, "port_socket", object, problem);
            violations++;
        }
    }
    return violations;
}

static uint32_t check_blocked(struct vsock_stack *stack, vsock_invariant_report_fn report,
                              void *state)
{
    uint32_t violations = 0;
    for (struct vsock_sock *sock = stack->sockets_head; sock != NULL; sock = sock->stack_next) {
        bool peer_gone = sock->done || sock->peer_shutdown == VSOCK_SHUTDOWN_MASK;
        if (sock->type != VSOCK_TYPE_STREAM || sock->tcp == VSOCK_TCP_LISTEN || !peer_gone ||
            sock->waitq.head == NULL)
            continue;
        char object[VSOCK_INVARIANT_TEXT_BYTES];
        char detail[VSOCK_INVARIANT_TEXT_BYTES];
        sock_text(sock, object, sizeof(object));
        snprintf(detail, sizeof(detail), "process %s (pid %" PRIu32 ") and %" PRIu32
                 " waiter(s) in all wait for a peer that is gone",
                 sock->waitq.head->name, sock->waitq.head->pid, sock->waitq.count);
        report(state, "blocked_dead_peer", object, detail);
        violations++;
    }
    return violations;
}

uint32_t vsock_invariants_check(struct vsock_stack *stack, bool at_end,
                                vsock_invariant_report_fn report, void *state)
{
    assert(stack != NULL && report != NULL);
    uint32_t violations = check_ports(stack, report, state);
    if (at_end)
        violations += check_blocked(stack, report, state);
    return violations;
}

int vsock_invariants_break_for_test(struct vsock_stack *stack, enum vsock_invariant_break which)
{
    assert(stack != NULL);
    for (struct vsock_sock *sock = stack->sockets_head; sock != NULL; sock = sock->stack_next) {
        if (which == VSOCK_BREAK_BLOCKED_DEAD_PEER && sock->type == VSOCK_TYPE_STREAM &&
            sock->waitq.head != NULL) {
            sock->done = true;          /* what a reset sets, without the wake-up it owes */
            return 0;
        }
        for (struct vsock_sock *other = sock->stack_next;
             which == VSOCK_BREAK_PORT_SOCKET && is_bound(sock) && other != NULL;
             other = other->stack_next) {
            if (is_bound(other) && other->type == sock->type) {
                other->local = sock->local;     /* two sockets on one port */
                vsock_sock_reindex(other);
                return 0;
            }
        }
    }
    return -1;
}
