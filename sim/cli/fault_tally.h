/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/fault_tally.h: the fault sites and fault rates of a run, read from its trace (the
 * `fault_site` and `fault_rate` events at its end, docs/faults.md), for `run`'s summary and
 * `sweep`'s coverage.
 * Invariants: fired[site] <= reached[site]; applied[rate] <= arrivals[rate]; `on` once any
 * fault_site event was seen, rate_on[rate] once that rate's fault_rate event was.
 */
#ifndef SIM_CLI_FAULT_TALLY_H
#define SIM_CLI_FAULT_TALLY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/engine/trace.h"
#include "sim/lua/runtime.h"
#include "vmci/faults.h"

struct fault_tally {
    bool on;
    uint8_t enabled[VMCI_FAULT_SITE_COUNT];
    uint64_t reached[VMCI_FAULT_SITE_COUNT];
    uint64_t fired[VMCI_FAULT_SITE_COUNT];
    uint8_t rate_on[SIMLUA_FAULT_RATE_COUNT];
    uint64_t rate_micro_per_s[SIMLUA_FAULT_RATE_COUNT];
    uint64_t arrivals[SIMLUA_FAULT_RATE_COUNT];
    uint64_t applied[SIMLUA_FAULT_RATE_COUNT];
};

/* The sinks that fill `tally` (zero it first): one, naming the two kinds it reads, so that
 * the engine passes every other event by without calling it. */
#define FAULT_TALLY_SINKS 1u
void fault_tally_sinks(struct fault_tally *tally, struct sim_trace_sink sinks[FAULT_TALLY_SINKS]);
/* One line for the sites (nothing when faults were off), then one for the rates that were
 * on (nothing when none was). */
void fault_tally_print(const struct fault_tally *tally, FILE *out);

#endif /* SIM_CLI_FAULT_TALLY_H */
