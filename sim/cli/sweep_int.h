/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/sweep_int.h: the parts of `vmcisim sweep` (private to sim/cli/sweep*.c).
 *
 * sweep.c parses the arguments, forks the workers and hands them seeds; sweep_worker.c is
 * a worker: a long-lived child process that runs one seed after another in-process, each
 * with a fresh Lua runtime and world, and writes one fixed-size result per seed on a pipe;
 * sweep_report.c judges results, prints the progress bar, the summary and the reproduction
 * lines, and writes JUnit XML. It reuses `vmcisim test`'s seed lists, scenario header
 * directives, JUnit writer and reproduction command (test_int.h). Wall time is used only
 * for limits and reports, never inside a simulation. Every table has a named bound.
 */
#ifndef SIM_CLI_SWEEP_INT_H
#define SIM_CLI_SWEEP_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "vmci/faults.h"
#include "sim/cli/test_int.h"
#include "sim/lua/runtime.h"

#define SWEEP_SEEDS_MAX          100000000ull /* seeds one sweep runs (before sharding) */
#define SWEEP_JOBS_MAX           256u        /* worker processes (-j) */
#define SWEEP_SHARDS_MAX         1000000u    /* N of --shard K/N */
#define SWEEP_OUTPUT_BYTES_MAX   2048u       /* head of a seed's output kept in its result */
#define SWEEP_FAILURES_SHOWN_MAX 100u        /* failures detailed in the summary (lowest seeds) */
#define SWEEP_SLOWEST_SHOWN      5u          /* slowest seeds named in the summary */
#define SWEEP_SCAN_CHUNK_BYTES   4096u       /* a seed's output is searched in chunks */

/* One seed's outcome, written by a worker in one write() (<= PIPE_BUF, so never torn). */
struct sweep_result {
    uint64_t seed;
    int32_t exit_code;                       /* simlua_exit of the run */
    uint32_t errors_found;                   /* bit i: expect_errors[i] is in the output */
    uint64_t events_run;
    uint64_t elapsed_ns;                     /* wall time of the seed, in the worker */
    uint64_t output_bytes;                   /* stdout + stderr of the seed, in all */
    uint32_t output_kept_bytes;              /* of output[] */
    char digest[33];
    /* The seed's fault sites (docs/faults.md), from its `fault_site` events. */
    bool faults_on;
    uint8_t fault_enabled[VMCI_FAULT_SITE_COUNT];
    uint64_t fault_reached[VMCI_FAULT_SITE_COUNT];
    uint64_t fault_fired[VMCI_FAULT_SITE_COUNT];
    /* Its fault rates, from its `fault_rate` events. */
    uint8_t rate_on[SIMLUA_FAULT_RATE_COUNT];
    uint64_t rate_arrivals[SIMLUA_FAULT_RATE_COUNT];
    uint64_t rate_applied[SIMLUA_FAULT_RATE_COUNT];
    char output[SWEEP_OUTPUT_BYTES_MAX];
};
_Static_assert(sizeof(struct sweep_result) <= PIPE_BUF, "a result is one atomic pipe write");
_Static_assert(TEST_EXPECT_ERRORS_MAX <= 32, "errors_found has a bit per expected text");

struct sweep_options {
    const char *program;                     /* argv[0], for reproduction lines */
    const char *scenario_path;
    struct test_seeds seeds;
    bool has_seeds;
    uint32_t jobs;
    uint32_t shard_index, shard_count;       /* --shard K/N: index K-1, count N */
    bool fail_fast, verbose;
    bool paranoid;                           /* --paranoid: invariants after every event */
    const char *payload_text;                /* --payload: passed on to reproduce lines */
    int progress;                            /* -1 auto (stderr a terminal), 0 off, 1 on */
    const char *junit_path;
    const char *until_text;                  /* --until, or the header's `-- until:` */
    uint64_t until_ns;                       /* SIM_TIME_NEVER without one */
    uint64_t timeout_ns;                     /* wall time per seed */
    struct test_scenario scenario;           /* the header's directives */
};

/* sweep_worker.c: the body of a worker process; never returns. Reads seeds (uint64_t) from
 * seed_fd until EOF, writes one struct sweep_result per seed to result_fd. */
_Noreturn void sweep_worker_main(const struct sweep_options *options, int seed_fd,
                                 int result_fd);

/* sweep_report.c */
struct sweep_report;
struct sweep_report *sweep_report_open(const struct sweep_options *options, uint64_t total);
/* Judges a finished seed and records it; returns true when it passed. */
bool sweep_report_result(struct sweep_report *report, const struct sweep_result *result);
/* A seed whose worker died or was killed (why says how), with no result. */
void sweep_report_lost(struct sweep_report *report, uint64_t seed, double elapsed_seconds,
                       const char *why);
void sweep_report_progress(struct sweep_report *report, bool force);
/* Prints the summary, the failures with their reproduction lines and the final line, writes
 * the JUnit file; not_run counts seeds --fail-fast left out. Returns the exit status. */
int sweep_report_close(struct sweep_report *report, uint64_t not_run);

#endif /* SIM_CLI_SWEEP_INT_H */
