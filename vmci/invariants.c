/* SPDX-License-Identifier: MIT */
/*
 * vmci/invariants.c: the VMCI platform's world invariants (vmci/invariants.h,
 * docs/invariants.md). Read-only walks of the hypervisor's tables; each violation goes to
 * the caller's report callback, which decides what a violation does to the run (sim/lua
 * fails it and traces `invariant_violation`).
 *
 * Cost: one pass over the contexts (with their devices' datagram accounts), their kernels'
 * handles and doorbells, and the queue pairs; stream_bytes hashes the bytes still queued
 * (at most the queue sizes) once per non-empty queue. Nothing here allocates except that
 * hash's copy of a running state.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invariants.h"
#include "vmci_int.h"

struct checker {
    const struct vmci_hypervisor *hypervisor;
    vmci_invariant_report_fn report;
    void *state;
    uint32_t violations;
};

static void violation(struct checker *checker, const char *name, const char *object,
                      const char *detail)
{
    checker->violations++;
    checker->report(checker->state, name, object, detail);
}

static void handle_text(struct vmci_handle handle, char *text, size_t text_bytes)
{
    snprintf(text, text_bytes, "queue pair {%" PRIu32 ":%" PRIu32 "}", handle.context,
             handle.resource);
}

/* The bytes of `queue` not yet read; its consumer head lives in `other`'s header (R80). */
static bool queue_ready(const struct vmci_queue *queue, const struct vmci_queue *other,
                        uint64_t *head_out, uint64_t *ready_out)
{
    uint64_t tail = vmci_queue_producer_tail(queue);
    uint64_t head = vmci_queue_consumer_head(other);
    if (queue->size_bytes == 0 || tail >= queue->size_bytes || head >= queue->size_bytes)
        return queue->size_bytes == 0 && tail == 0 && head == 0 && (*ready_out = 0, true);
    *head_out = head;
    *ready_out = tail >= head ? tail - head : queue->size_bytes - head + tail;
    return true;
}

/* Read bytes + queued bytes == written bytes, and the read hash extended with the queued
 * bytes is the writer's hash. */
static void check_queue(struct checker *checker, struct vmci_handle handle,
                        struct vmci_queue *queue, const struct vmci_queue *other,
                        const char *direction)
{
    const struct vmci_queue_tally *tally = &queue->tally;
    if (tally->unavailable || tally->written == NULL)
        return;
    char object[VMCI_INVARIANT_TEXT_BYTES];
    char detail[VMCI_INVARIANT_TEXT_BYTES];
    handle_text(handle, object, sizeof(object));
    snprintf(object + strlen(object), sizeof(object) - strlen(object), " %s", direction);
    uint64_t head = 0;
    uint64_t ready = 0;
    if (!queue_ready(queue, other, &head, &ready)) {
        violation(checker, "stream_bytes", object, "queue pointers outside the ring");
        return;
    }
    if (tally->read_bytes + ready != tally->written_bytes) {
        snprintf(detail, sizeof(detail),
                 "written %" PRIu64 " bytes, read %" PRIu64 ", queued %" PRIu64,
                 tally->written_bytes, tally->read_bytes, ready);
        violation(checker, "stream_bytes", object, detail);
        return;
    }
    struct sim_data_stream *whole = sim_data_stream_clone(tally->read);
    if (whole == NULL)
        return;                                 /* out of memory: not checked, not failed */
    uint64_t first = ready < queue->size_bytes - head ? ready : queue->size_bytes - head;
    if (ready > 0) {
        sim_data_stream_update(whole, vmci_queue_ring_span(queue, head, first), first);
        sim_data_stream_update(whole, vmci_queue_ring_span(queue, 0, ready - first),
                               ready - first);
    }
    bool same = sim_data_stream_value(whole) == sim_data_stream_value(tally->written);
    sim_data_stream_destroy(whole);
    if (!same) {
        snprintf(detail, sizeof(detail),
                 "bytes read (%" PRIu64 ") and queued (%" PRIu64 ") differ from those written",
                 tally->read_bytes, ready);
        violation(checker, "stream_bytes", object, detail);
    }
}

static void check_streams(struct checker *checker)
{
    const struct vmci_hypervisor *hypervisor = checker->hypervisor;
    if (hypervisor->stream_violation_count > 0) {
        char object[VMCI_INVARIANT_TEXT_BYTES];
        char detail[VMCI_INVARIANT_TEXT_BYTES];
        handle_text(hypervisor->stream_violation_handle, object, sizeof(object));
        snprintf(detail, sizeof(detail),
                 "a reader caught up at byte %" PRIu64 " with other bytes than its writer's "
                 "(at %" PRIu64 " ns; %" PRIu32 " such queue(s))",
                 hypervisor->stream_violation_offset_bytes,
                 hypervisor->stream_violation_time_ns, hypervisor->stream_violation_count);
        violation(checker, "stream_bytes", object, detail);
    }
    for (const struct vmci_qp_entry *entry = hypervisor->queue_pairs_head; entry != NULL;
         entry = entry->next) {
        struct vmci_qp_memory *memory = entry->memory;     /* the ring's unstored zeroes */
        if (memory == NULL)
            continue;
        check_queue(checker, entry->handle, &memory->queues[0], &memory->queues[1],
                    "creator->attacher");
        check_queue(checker, entry->handle, &memory->queues[1], &memory->queues[0],
                    "attacher->creator");
    }
}

static void check_owners(struct checker *checker)
{
    const struct vmci_hypervisor *hypervisor = checker->hypervisor;
    char object[VMCI_INVARIANT_TEXT_BYTES];
    char detail[VMCI_INVARIANT_TEXT_BYTES];
    for (const struct vmci_qp_entry *entry = hypervisor->queue_pairs_head; entry != NULL;
         entry = entry->next) {
        handle_text(entry->handle, object, sizeof(object));
        if (!entry->creator_attached && !entry->attacher_attached) {
            violation(checker, "qp_owner", object, "no side attached, entry still held");
            continue;
        }
        uint32_t cid = VMCI_INVALID_ID;
        if (entry->creator_attached &&
            vmci__context_find(hypervisor, entry->creator_cid) == NULL)
            cid = entry->creator_cid;
        if (entry->attacher_attached &&
            vmci__context_find(hypervisor, entry->attacher_cid) == NULL)
            cid = entry->attacher_cid;
        if (cid != VMCI_INVALID_ID) {
            snprintf(detail, sizeof(detail), "attached side's context %" PRIu32 " is gone",
                     cid);
            violation(checker, "qp_owner", object, detail);
        }
    }
}

static void check_quota(struct checker *checker)
{
    const struct vmci_hypervisor *hypervisor = checker->hypervisor;
    for (uint32_t index = 0; index < hypervisor->context_count; index++) {
        const struct vmci_context *context = hypervisor->contexts[index];
        uint64_t charged_bytes = 0;
        uint32_t charged_count = 0;
        for (const struct vmci_qp_entry *qp = hypervisor->queue_pairs_head; qp != NULL;
             qp = qp->next) {
            if (qp->charged_cid == context->cid) {
                charged_bytes += qp->produce_size_bytes + qp->consume_size_bytes;
                charged_count++;
            }
        }
        if (charged_bytes == context->qp_memory_bytes &&
            charged_bytes <= VMCI_MAX_GUEST_QP_MEMORY)
            continue;
        char object[VMCI_INVARIANT_TEXT_BYTES];
        char detail[VMCI_INVARIANT_TEXT_BYTES];
        snprintf(object, sizeof(object), "context %" PRIu32, context->cid);
        snprintf(detail, sizeof(detail),
                 "account %" PRIu64 " bytes, %" PRIu32 " live queue pair(s) of %" PRIu64
                 " bytes (limit %" PRIu64 ")", context->qp_memory_bytes, charged_count,
                 charged_bytes, (uint64_t)VMCI_MAX_GUEST_QP_MEMORY);
        violation(checker, "qp_quota", object, detail);
    }
}

static void check_kernel_resources(struct checker *checker, const struct vmci_kernel *kernel)
{
    char object[VMCI_INVARIANT_TEXT_BYTES];
    for (uint32_t index = 0; index < kernel->handle_count; index++) {
        const struct vmci_dg_entry *entry = &kernel->handles[index];
        if (!entry->live)
            continue;
        snprintf(object, sizeof(object), "datagram handle {%" PRIu32 ":%" PRIu32 "} of %" PRIu32,
                 entry->handle.context, entry->handle.resource, kernel->head.cid);
        if (entry->fn == NULL)
            violation(checker, "resource_owner", object, "live without a receiver");
        for (uint32_t other = index + 1; other < kernel->handle_count; other++) {
            if (kernel->handles[other].live &&
                vmci_handle_equal(kernel->handles[other].handle, entry->handle))
                violation(checker, "resource_owner", object, "live twice in one kernel");
        }
    }
    for (uint32_t index = 0; index < kernel->doorbell_count; index++) {
        const struct vmci_doorbell_entry *entry = &kernel->doorbells[index];
        if (!entry->live || entry->fn != NULL)
            continue;
        snprintf(object, sizeof(object), "doorbell {%" PRIu32 ":%" PRIu32 "} of %" PRIu32,
                 entry->handle.context, entry->handle.resource, kernel->head.cid);
        violation(checker, "resource_owner", object, "live without a receiver");
    }
}

static void check_resources(struct checker *checker)
{
    const struct vmci_hypervisor *hypervisor = checker->hypervisor;
    for (uint32_t index = 0; index < hypervisor->context_count; index++) {
        const struct vmci_context *context = hypervisor->contexts[index];
        if (context->kernel == NULL)
            continue;
        if (context->kernel->context != context) {
            char object[VMCI_INVARIANT_TEXT_BYTES];
            snprintf(object, sizeof(object), "kernel of context %" PRIu32, context->cid);
            violation(checker, "resource_owner", object, "names another context");
            continue;
        }
        check_kernel_resources(checker, context->kernel);
    }
}

static void check_device_account(struct checker *checker, const struct vmci_context *context)
{
    if (context->device == NULL)
        return;
    struct vmci_device_dg_account account = vmci_device_dg_account(context->device);
    if (account.queued_total ==
        account.read_total + account.discarded_total + account.pending_count)
        return;
    char object[VMCI_INVARIANT_TEXT_BYTES];
    char detail[VMCI_INVARIANT_TEXT_BYTES];
    snprintf(object, sizeof(object), "DATA_IN queue of context %" PRIu32, context->cid);
    snprintf(detail, sizeof(detail),
             "%" PRIu64 " queued, %" PRIu64 " read, %" PRIu64 " discarded, %" PRIu32 " pending",
             account.queued_total, account.read_total, account.discarded_total,
             account.pending_count);
    violation(checker, "dgram_once", object, detail);
}

static void check_datagrams(struct checker *checker)
{
    const struct vmci_hypervisor *hypervisor = checker->hypervisor;
    for (uint32_t index = 0; index < hypervisor->context_count; index++)
        check_device_account(checker, hypervisor->contexts[index]);
    for (uint32_t index = 0; index < hypervisor->suspended_count; index++)
        check_device_account(checker, hypervisor->suspended[index]);
    if (hypervisor->deliveries_accepted == hypervisor->deliveries_dispatched +
                                               hypervisor->deliveries_discarded +
                                               hypervisor->delivery_count)
        return;
    char detail[VMCI_INVARIANT_TEXT_BYTES];
    snprintf(detail, sizeof(detail),
             "%" PRIu64 " accepted, %" PRIu64 " dispatched, %" PRIu64 " discarded, %" PRIu32
             " in flight", hypervisor->deliveries_accepted, hypervisor->deliveries_dispatched,
             hypervisor->deliveries_discarded, hypervisor->delivery_count);
    violation(checker, "dgram_once", "deliveries to kernels", detail);
}

uint32_t vmci_invariants_check(const struct vmci_hypervisor *hypervisor,
                               vmci_invariant_report_fn report, void *state)
{
    assert(hypervisor != NULL && report != NULL);
    struct checker checker = { .hypervisor = hypervisor, .report = report, .state = state };
    check_streams(&checker);
    check_owners(&checker);
    check_quota(&checker);
    check_resources(&checker);
    check_datagrams(&checker);
    return checker.violations;
}

/* ---- Test-only breakers ------------------------------------------------------------- */

static int break_stream(struct vmci_hypervisor *hypervisor)
{
    for (struct vmci_qp_entry *entry = hypervisor->queue_pairs_head; entry != NULL;
         entry = entry->next) {
        struct vmci_qp_memory *memory = entry->memory;
        for (uint32_t side = 0; memory != NULL && side < 2; side++) {
            uint64_t head = 0;
            uint64_t ready = 0;
            struct vmci_queue *queue = &memory->queues[side];
            if (queue->tally.written != NULL &&
                queue_ready(queue, &memory->queues[1 - side], &head, &ready) && ready > 0) {
                *vmci_queue_ring_span(queue, head, 1) ^= 0x5A;
                return 0;
            }
        }
    }
    return -1;
}

int vmci_invariants_break_for_test(struct vmci_hypervisor *hypervisor,
                                   enum vmci_invariant_break which)
{
    assert(hypervisor != NULL);
    struct vmci_qp_entry *first = hypervisor->queue_pairs_head;
    switch (which) {
    case VMCI_BREAK_STREAM_BYTES:
        return break_stream(hypervisor);
    case VMCI_BREAK_QP_OWNER:
        if (first == NULL)
            return -1;
        first->creator_attached = false;
        first->attacher_attached = false;
        return 0;
    case VMCI_BREAK_QP_QUOTA:
        for (uint32_t index = 0; index < hypervisor->context_count; index++) {
            if (vmci_context_is_vm(hypervisor->contexts[index]->cid)) {
                hypervisor->contexts[index]->qp_memory_bytes += VMCI_PAGE_SIZE;
                return 0;
            }
        }
        return -1;
    case VMCI_BREAK_DGRAM_ONCE:
        for (uint32_t index = 0; index < hypervisor->context_count; index++) {
            if (hypervisor->contexts[index]->device != NULL) {
                vmci_device_dg_account_break_for_test(hypervisor->contexts[index]->device);
                return 0;
            }
        }
        return -1;
    case VMCI_BREAK_DELIVERIES:
        hypervisor->deliveries_accepted++;
        return 0;
    case VMCI_BREAK_RESOURCE_OWNER: {
        struct vmci_context *host = vmci__context_find(hypervisor, VMCI_HOST_CONTEXT_ID);
        for (uint32_t index = 0; host != NULL && index < host->kernel->handle_count; index++) {
            if (host->kernel->handles[index].live) {
                host->kernel->handles[index].fn = NULL;
                return 0;
            }
        }
        return -1;
    }
    }
    return -1;
}
