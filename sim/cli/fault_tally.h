/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/fault_tally.h: the fault sites of a run, read from its trace (the `fault_site`
 * events at its end, docs/faults.md), for `run`'s summary and `sweep`'s coverage.
 * Invariants: fired[site] <= reached[site]; `on` once any fault_site event was seen.
 */
#ifndef SIM_CLI_FAULT_TALLY_H
#define SIM_CLI_FAULT_TALLY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/engine/trace.h"
#include "vmci/faults.h"

struct fault_tally {
    bool on;
    uint8_t enabled[VMCI_FAULT_SITE_COUNT];
    uint64_t reached[VMCI_FAULT_SITE_COUNT];
    uint64_t fired[VMCI_FAULT_SITE_COUNT];
};

/* A sink that fills `tally` (zero it first). */
struct sim_trace_sink fault_tally_sink(struct fault_tally *tally);
/* One line per enabled site and one for the rest; nothing when faults were off. */
void fault_tally_print(const struct fault_tally *tally, FILE *out);

#endif /* SIM_CLI_FAULT_TALLY_H */
