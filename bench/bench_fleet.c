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
 *                         ROUNDS), as the scenario counts them) per wall second of the
 *                         whole run, world set-up included, best of RUNS (one run at
 *                         N = 1000); no reference.
 *   fleet_op_cost_ratio_1000_10  CPU time per operation at N = 1000 over the same at
 *                         N = 10 (getrusage of this process, user + system, best of the
 *                         runs above), so that other load on the machine does not enter
 *                         it; target 1.3 (flat cost per operation).
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
 * Any failed run prints "bench ERROR <figure>: <why>" and reports 0. Never opens an
 * AF_VSOCK socket; wall time and rusage are read here only (never by the simulation).
 */
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
#define FLEET_RUNS 5u
#define FLEET_BIG_GUESTS 64u
#define FLEET_BIG_CONNECTIONS 1024u
#define FLEET_STREAMS_TARGET_S 10.0
#define FLEET_RING_BYTES_PER_STREAM 8192.0
#define FLEET_RSS_BEYOND_RINGS_TARGET_BYTES 16384.0

extern char **environ;


static double cpu_seconds(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec * 1e-6 +
           (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec * 1e-6;
}

struct fleet_timing {
    double wall_s;
    double cpu_s;
    bool passed;
};

/* One in-process run of the fleet scenario; its wall and CPU seconds. */
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
    double wall_start_s = bench_now_seconds(), cpu_start_s = cpu_seconds();
    struct simlua_runtime *runtime = simlua_create(&options);
    if (runtime != NULL) {
        simlua_run(runtime, &outcome);
        simlua_destroy(runtime);
    }
    struct fleet_timing timing = {
        .wall_s = bench_now_seconds() - wall_start_s, .cpu_s = cpu_seconds() - cpu_start_s,
        .passed = outcome.exit_code == SIMLUA_EXIT_PASS && outcome.failure_count == 0,
    };
    return timing;
}

/* The best of `runs` runs at N guests; reports ops/s; returns CPU seconds per op (0 on
 * failure). */
static double fleet_ops(uint32_t guests, uint32_t runs)
{
    char figure[64];
    snprintf(figure, sizeof(figure), "fleet_ops_per_s_N%u", guests);
    double streams = (double)guests * FLEET_CONNECTIONS;
    double ops = 5.0 + streams * (8.0 + 4.0 * FLEET_ROUNDS);
    struct fleet_timing best = { 0 };
    for (uint32_t run = 0; run < runs; run++) {
        struct fleet_timing timing = fleet_run(guests, FLEET_CONNECTIONS, FLEET_ROUNDS);
        if (!timing.passed) {
            bench_error(figure, "%s -- %u %u %u did not pass", FLEET_SCENARIO, guests,
                        FLEET_CONNECTIONS, FLEET_ROUNDS);
            bench_report_value(figure, 0, "ops/s");
            return 0;
        }
        if (run == 0 || timing.wall_s < best.wall_s)
            best.wall_s = timing.wall_s;
        if (run == 0 || timing.cpu_s < best.cpu_s)
            best.cpu_s = timing.cpu_s;
    }
    bench_report_value(figure, ops / best.wall_s, "ops/s");
    return best.cpu_s / ops;
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
    double small = fleet_ops(10, FLEET_RUNS);
    (void)fleet_ops(100, FLEET_RUNS);
    double large = fleet_ops(1000, 1);
    if (small > 0 && large > 0)
        bench_report("fleet_op_cost_ratio_1000_10", large, "s/op", small, 1.3);
    else
        bench_error("fleet_op_cost_ratio_1000_10", "a fleet run failed");
    fleet_streams();
}
