/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_fleet.c: the cost of one socket operation as the world grows (issue 10),
 * on scenarios/fleet.lua: N guests x 16 stream connections to one host echo service,
 * all open at once, then ROUNDS 64-byte request/response rounds each (path relative to
 * the working directory: run from the project root, as `make bench` does).
 *
 * Figures:
 *   fleet_ops_per_s_N{10,100,1000}  socket operations (socket, setsockopt, bind, listen,
 *                         connect, accept, send, recv, close: 5 + streams x (8 + 4 x
 *                         ROUNDS), as the scenario counts them) per wall second, world
 *                         set-up included, over as many runs as make about as many
 *                         operations as one run at N = 1000 (100 runs at N = 10, 10 at
 *                         N = 100, 1 at N = 1000), after one warm-up run that is not
 *                         counted (none at N = 1000); no reference.
 *   fleet_op_cost_ratio_1000_10  CPU time (user + system) per operation at N = 1000 over
 *                         the same at N = 10, both from those runs (getrusage of this
 *                         process, so that other load on the machine does not enter it);
 *                         target 1.3 (flat cost per operation).
 *   fleet_op_user_cost_ratio_1000_10  the same with user time only: without the kernel's
 *                         first-touch page faults (below); no target, shown beside it.
 *   fleet_minor_faults_per_op_N{10,1000}  page faults per operation in those runs: most
 *                         of the system time that separates the two ratios.
 *   fleet_gc_collections_N{10,1000}  full collections of the Lua state in one run at that
 *                         size (the last): 0 at N = 10 (its objects stay under
 *                         SIMLUA_GC_OBJECT_BYTES_MIN), 7 at N = 1 000, about 9 % of its CPU
 *                         time; the runtime's pace (sim/lua/runtime.c), shown so that a
 *                         change of it is seen beside the ratio.
 *   fleet_65536_streams_s wall seconds of `vmcisim run scenarios/fleet.lua -q -- 64 1024 0`
 *                         (64 guests x 1 024 streams with 4 KiB queues, about 512 MiB of
 *                         rings, every stream open at once, then closed) in a child
 *                         process, the command users run; reference: the target, 10 s.
 *   fleet_65536_streams_cpu_s  the CPU seconds (user + system) of that child: the same
 *                         figure without the waits of a machine busy with other work.
 *   fleet_rss_per_stream_bytes  the child's peak RSS over the 65 536 streams, minus that of
 *                         the same run with 64 streams, per stream: everything one open
 *                         stream costs, its 8 KiB of rings included; reference: the
 *                         target, 16 KiB beyond the rings (24 KiB).
 * How the ratio compares like with like (issue 10 item 3): both sides are the mean over
 * about 1.15 M operations (it was the best of 5 runs of 11 525 operations at N = 10
 * against one run at N = 1000: a minimum on one side only, the luckiest of five draws on
 * a loaded machine). The target line counts the kernel's time too, although it is mostly
 * first-touch page faults of a world that grows once: the warm-up leaves none at N = 10
 * (the freed memory is reused), while one run at N = 1000 faults in its 400 MB (about 0.09
 * faults, 7 % of its CPU time, per operation; a warm-up run would not remove them, since
 * the second run in a process still grew by 100 MB, and it would double the time of this
 * benchmark). That is arguably a cost per byte of world (fleet_rss_per_stream_bytes), not
 * per operation, so the user-time ratio is printed beside it; the target is judged on the
 * larger, user + system, figure. Other load on the machine lowers this ratio (it evicts the
 * small world's state, which otherwise stays cached; the large world's misses anyway), so
 * quote it from a quiet machine.
 * Any failed run prints "bench ERROR <figure>: <why>" and reports 0. Never opens an
 * AF_VSOCK socket; wall time and rusage are read here only (never by the simulation).
 */
#include <assert.h>
#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"

#define FLEET_SCENARIO "scenarios/fleet.lua"
#define FLEET_VMCISIM "./vmcisim"
#define FLEET_CONNECTIONS 16u
#define FLEET_ROUNDS 16u
#define FLEET_GUESTS_MAX 1000u
#define FLEET_BIG_GUESTS 64u
#define FLEET_BIG_CONNECTIONS 1024u
#define FLEET_STREAMS_TARGET_S 10.0
#define FLEET_RING_BYTES_PER_STREAM 8192.0
#define FLEET_RSS_BEYOND_RINGS_TARGET_BYTES 16384.0

extern char **environ;


struct fleet_usage {
    double user_s;
    double system_s;
    long minor_faults;
};

static struct fleet_usage usage_now(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    struct fleet_usage now = {
        .user_s = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec * 1e-6,
        .system_s = (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec * 1e-6,
        .minor_faults = usage.ru_minflt,
    };
    return now;
}

struct fleet_timing {
    double wall_s;
    double user_s;
    double system_s;
    long minor_faults;
    uint64_t gc_collections;
    bool passed;
};

/* One in-process run of the fleet scenario; its wall, user and system seconds, page faults. */
static struct fleet_timing fleet_run(uint32_t guests, uint32_t connections, uint32_t rounds)
{
    char texts[3][24];
    snprintf(texts[0], sizeof(texts[0]), "%u", guests);
    snprintf(texts[1], sizeof(texts[1]), "%u", connections);
    snprintf(texts[2], sizeof(texts[2]), "%u", rounds);
    char *argv[3] = { texts[0], texts[1], texts[2] };
    struct simlua_options options = {
        .scenario_path = FLEET_SCENARIO, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .arg_count = 3, .args = argv,
    };
    struct simlua_outcome outcome;
    memset(&outcome, 0, sizeof(outcome));
    outcome.exit_code = SIMLUA_EXIT_FAIL;
    double wall_start_s = bench_now_seconds();
    struct fleet_usage start = usage_now();
    uint64_t gc_collections = 0;
    struct simlua_runtime *runtime = simlua_create(&options);
    if (runtime != NULL) {
        simlua_run(runtime, &outcome);
        gc_collections = simlua_gc_collections(runtime);
        simlua_destroy(runtime);
    }
    struct fleet_usage end = usage_now();
    struct fleet_timing timing = {
        .wall_s = bench_now_seconds() - wall_start_s, .user_s = end.user_s - start.user_s,
        .system_s = end.system_s - start.system_s,
        .minor_faults = end.minor_faults - start.minor_faults,
        .gc_collections = gc_collections,
        .passed = outcome.exit_code == SIMLUA_EXIT_PASS && outcome.failure_count == 0,
    };
    return timing;
}

static double fleet_ops_per_run(uint32_t guests)
{
    return 5.0 + (double)guests * FLEET_CONNECTIONS * (8.0 + 4.0 * FLEET_ROUNDS);
}

/* Runs at N guests until they have made about as many operations as one run at
 * FLEET_GUESTS_MAX (after a warm-up run below that size); reports ops/s; stores the CPU
 * (user + system) and user seconds and the page faults per op. False when a run failed. */
struct fleet_cost {
    double user_s_per_op;
    double cpu_s_per_op;                        /* user + system */
    double faults_per_op;
    uint64_t gc_collections;                    /* of the last run */
};

static bool fleet_ops(uint32_t guests, struct fleet_cost *cost)
{
    char figure[64];
    snprintf(figure, sizeof(figure), "fleet_ops_per_s_N%u", guests);
    double ops_per_run = fleet_ops_per_run(guests);
    uint32_t runs = (uint32_t)(fleet_ops_per_run(FLEET_GUESTS_MAX) / ops_per_run + 0.5);
    assert(runs >= 1);
    uint32_t warm_up_runs = guests < FLEET_GUESTS_MAX ? 1 : 0;
    struct fleet_timing total = { 0 };
    for (uint32_t run = 0; run < warm_up_runs + runs; run++) {
        struct fleet_timing timing = fleet_run(guests, FLEET_CONNECTIONS, FLEET_ROUNDS);
        if (!timing.passed) {
            bench_error(figure, "%s -- %u %u %u did not pass", FLEET_SCENARIO, guests,
                        FLEET_CONNECTIONS, FLEET_ROUNDS);
            bench_report_value(figure, 0, "ops/s");
            return false;
        }
        if (run < warm_up_runs)
            continue;
        total.wall_s += timing.wall_s;
        total.user_s += timing.user_s;
        total.system_s += timing.system_s;
        total.minor_faults += timing.minor_faults;
        cost->gc_collections = timing.gc_collections;
    }
    double ops = ops_per_run * runs;
    bench_report_value(figure, ops / total.wall_s, "ops/s");
    cost->user_s_per_op = total.user_s / ops;
    cost->cpu_s_per_op = (total.user_s + total.system_s) / ops;
    cost->faults_per_op = (double)total.minor_faults / ops;
    assert(cost->cpu_s_per_op >= cost->user_s_per_op && cost->faults_per_op >= 0);
    return true;
}

/* Runs `vmcisim run scenarios/fleet.lua -q -- GUESTS CONNECTIONS 0` as a child; its wall
 * seconds and peak RSS (KiB). False when it could not run or did not pass. */
static bool fleet_child(uint32_t guests, uint32_t connections, double *wall_s, double *cpu_s,
                        long *rss_kib)
{
    char texts[2][24];
    snprintf(texts[0], sizeof(texts[0]), "%u", guests);
    snprintf(texts[1], sizeof(texts[1]), "%u", connections);
    char *argv[] = { FLEET_VMCISIM, "run", FLEET_SCENARIO, "-q", "--", texts[0], texts[1],
                     "0", NULL };
    double start_s = bench_now_seconds();
    pid_t pid;
    if (posix_spawn(&pid, FLEET_VMCISIM, NULL, NULL, argv, environ) != 0)
        return false;
    int status = 0;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) != pid)
        return false;
    *wall_s = bench_now_seconds() - start_s;
    *cpu_s = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec * 1e-6 +
             (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec * 1e-6;
    *rss_kib = usage.ru_maxrss;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void fleet_streams(void)
{
    double big_s = 0, small_s = 0, big_cpu_s = 0, small_cpu_s = 0;
    long big_kib = 0, small_kib = 0;
    if (access(FLEET_VMCISIM, X_OK) != 0 ||
        !fleet_child(FLEET_BIG_GUESTS, FLEET_BIG_CONNECTIONS, &big_s, &big_cpu_s, &big_kib) ||
        !fleet_child(FLEET_BIG_GUESTS, 1, &small_s, &small_cpu_s, &small_kib)) {
        bench_error("fleet_65536_streams_s", "%s run %s -- %u %u 0 failed (run from the "
                    "project root, after make)", FLEET_VMCISIM, FLEET_SCENARIO,
                    FLEET_BIG_GUESTS, FLEET_BIG_CONNECTIONS);
        bench_report("fleet_65536_streams_s", 0, "s", FLEET_STREAMS_TARGET_S, 1.0);
        return;
    }
    double streams = (double)FLEET_BIG_GUESTS * FLEET_BIG_CONNECTIONS;
    double per_stream = (double)(big_kib - small_kib) * 1024.0 /
                        (streams - FLEET_BIG_GUESTS);
    bench_report("fleet_65536_streams_s", big_s, "s", FLEET_STREAMS_TARGET_S, 1.0);
    bench_report("fleet_65536_streams_cpu_s", big_cpu_s, "s", FLEET_STREAMS_TARGET_S, 1.0);
    bench_report("fleet_rss_per_stream_bytes", per_stream, "B",
                 FLEET_RING_BYTES_PER_STREAM + FLEET_RSS_BEYOND_RINGS_TARGET_BYTES, 1.0);
}

void bench_fleet(void)
{
    if (access(FLEET_SCENARIO, R_OK) != 0) {
        bench_error("fleet", "%s not readable (run from the project root): %s", FLEET_SCENARIO,
                    strerror(errno));
        return;
    }
    struct fleet_cost small = { 0 }, large = { 0 }, unused = { 0 };
    bool passed = fleet_ops(10, &small);
    passed = fleet_ops(100, &unused) && passed;
    passed = fleet_ops(FLEET_GUESTS_MAX, &large) && passed;
    if (passed && small.user_s_per_op > 0 && large.user_s_per_op > 0) {
        bench_report("fleet_op_cost_ratio_1000_10", large.cpu_s_per_op, "s/op",
                     small.cpu_s_per_op, 1.3);
        bench_report_value("fleet_op_user_cost_ratio_1000_10",
                           large.user_s_per_op / small.user_s_per_op, "x");
        bench_report_value("fleet_minor_faults_per_op_N10", small.faults_per_op,
                           "faults/op");
        bench_report_value("fleet_minor_faults_per_op_N1000", large.faults_per_op,
                           "faults/op");
        bench_report_value("fleet_gc_collections_N10", (double)small.gc_collections,
                           "collections");
        bench_report_value("fleet_gc_collections_N1000", (double)large.gc_collections,
                           "collections");
    } else {
        bench_error("fleet_op_cost_ratio_1000_10", "a fleet run failed");
    }
    fleet_streams();
}
