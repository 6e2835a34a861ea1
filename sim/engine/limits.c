/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/limits.c: default values of the world's named limits.
 */
#include "limits.h"

struct sim_limits sim_limits_default(void)
{
    struct sim_limits limits = {
        .vms_max = SIM_VMS_MAX_DEFAULT,
        .processes_max = SIM_PROCESSES_MAX_DEFAULT,
        .events_pending_max = SIM_EVENTS_PENDING_MAX_DEFAULT,
        .sockets_max = SIM_SOCKETS_MAX_DEFAULT,
        .trace_events_max = SIM_TRACE_EVENTS_MAX_DEFAULT,
        .qp_memory_bytes_max = SIM_QP_MEMORY_BYTES_MAX_DEFAULT,
        .event_subscriptions_max = SIM_EVENT_SUBSCRIPTIONS_MAX_DEFAULT,
        .queue_pairs_max = SIM_QUEUE_PAIRS_MAX_DEFAULT,
        .handles_max = SIM_HANDLES_MAX_DEFAULT,
        .backlog_max = SIM_BACKLOG_MAX_DEFAULT,
        .host_deliveries_max = SIM_HOST_DELIVERIES_MAX_DEFAULT,
        .vmci_datagram_queue_max = SIM_VMCI_DATAGRAM_QUEUE_MAX_DEFAULT,
        .world_qp_memory_bytes_max = SIM_WORLD_QP_MEMORY_BYTES_MAX_DEFAULT,
    };
    return limits;
}
