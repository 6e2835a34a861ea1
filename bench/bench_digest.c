/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_digest.c: what the run digest costs on an idle-heavy world (issue 10, item 6).
 *
 * Workload (scenario text below, written to a temporary directory): KEEPALIVE_GUESTS
 * guests, each with one vSockets stream to its own host service, send a 64-byte
 * keep-alive every 100 ms of simulated time and wait for its echo, for KEEPALIVE_SECONDS
 * simulated seconds. No trace file: the world runs untraced, with the queue pairs' data
 * hashing on (as always). Best of RUNS for each figure. A receiver returns the first recv()
 * when it holds the whole message (it always does here) and gathers pieces otherwise, as a
 * careful application would: the figure is the simulator's, not a table per message.
 *
 * Figures:
 *   keepalive_10vm_time_compression   simulated seconds per wall second with the digest as
 *                                     the only sink (what `vmcisim run` without --trace
 *                                     does); reference: the target of 5 000.
 *   keepalive_10vm_digest_cost        the same figure, against the same world with no sink
 *                                     at all (events are built, nobody reads them): the
 *                                     ratio is the share of speed the digest leaves;
 *                                     target 0.90.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"

#define RUNS 3
#define KEEPALIVE_GUESTS 10
#define KEEPALIVE_SECONDS 600

static const char keepalive_lua[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local GUESTS, SECONDS = tonumber(arg[1]), tonumber(arg[2])\n"
    "local ROUNDS = SECONDS * 10\n"
    "local function recv_exact(s, size)\n"
    "  local first = assert(s:recv(size))\n"
    "  if #first == size then return first end\n"
    "  assert(#first > 0, 'the peer closed early')\n"
    "  local parts, got = { first }, #first\n"
    "  while got < size do\n"
    "    local data = assert(s:recv(size - got))\n"
    "    assert(#data > 0, 'the peer closed early')\n"
    "    parts[#parts + 1] = data\n"
    "    got = got + #data\n"
    "  end\n"
    "  return table.concat(parts)\n"
    "end\n"
    "for i = 1, GUESTS do\n"
    "  w:host():spawn('service' .. i, function(p)\n"
    "    local listener = assert(p:socket('stream'))\n"
    "    assert(listener:bind(sim.CID_ANY, 7000 + i))\n"
    "    assert(listener:listen(1))\n"
    "    local conn = assert(listener:accept())\n"
    "    for _ = 1, ROUNDS do assert(conn:send(recv_exact(conn, 64))) end\n"
    "    conn:close()\n"
    "    listener:close()\n"
    "  end)\n"
    "  w:vm{ name = 'guest' .. i }:spawn('agent', function(p)\n"
    "    local s = assert(p:socket('stream'))\n"
    "    assert(s:connect(sim.CID_HOST, 7000 + i))\n"
    "    local ping = string.rep('k', 64)\n"
    "    for _ = 1, ROUNDS do\n"
    "      p:sleep(sim.ms(100))\n"
    "      assert(s:send(ping))\n"
    "      assert(recv_exact(s, 64) == ping)\n"
    "    end\n"
    "    s:close()\n"
    "  end)\n"
    "end\n"
    "w:run()\n";

/* One run of the keep-alive world, with the digest as its sink or with no sink. Returns
 * simulated seconds per wall second (create + run + destroy), 0 on failure. */
static double keepalive_run(const char *path, bool digested, const char *figure)
{
    char guests[16], seconds[16];
    snprintf(guests, sizeof(guests), "%d", KEEPALIVE_GUESTS);
    snprintf(seconds, sizeof(seconds), "%d", KEEPALIVE_SECONDS);
    char *args[2] = { guests, seconds };
    struct sim_digest *digest = digested ? sim_digest_create() : NULL;
    if (digested && digest == NULL) {
        bench_error(figure, "out of memory");
        return 0.0;
    }
    struct sim_trace_sink sink;
    if (digested)
        sink = sim_digest_sink(digest);
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .arg_count = 2, .args = args, .sinks = digested ? &sink : NULL,
        .sink_count = digested ? 1 : 0,
    };
    struct simlua_outcome outcome;
    memset(&outcome, 0, sizeof(outcome));
    outcome.exit_code = SIMLUA_EXIT_FAIL;
    double start_s = bench_now_seconds();
    struct simlua_runtime *runtime = simlua_create(&options);
    if (runtime != NULL) {
        simlua_run(runtime, &outcome);
        simlua_destroy(runtime);
    }
    double wall_s = bench_now_seconds() - start_s;
    char hex[33] = "";
    if (digest != NULL)
        sim_digest_hex(digest, hex);
    bench_sink_u64((uint64_t)(unsigned char)hex[0]);
    sim_digest_destroy(digest);
    if (outcome.exit_code != SIMLUA_EXIT_PASS || outcome.failure_count != 0 ||
        outcome.now_ns < (uint64_t)KEEPALIVE_SECONDS * 1000000000ull) {
        bench_error(figure, "scenario exit %d, %u failures, simulated %llu ns",
                    (int)outcome.exit_code, outcome.failure_count,
                    (unsigned long long)outcome.now_ns);
        return 0.0;
    }
    return wall_s > 0.0 ? ((double)outcome.now_ns * 1e-9) / wall_s : 0.0;
}

/* Best of RUNS, the two kinds of run interleaved so that a change in the machine's load
 * touches both alike. */
static void keepalive_best(const char *path, double *digested_best, double *bare_best)
{
    *digested_best = 0.0;
    *bare_best = 0.0;
    for (unsigned run = 0; run < RUNS; run++) {
        double digested = keepalive_run(path, true, "keepalive_10vm_time_compression");
        double bare = keepalive_run(path, false, "keepalive_10vm_digest_cost");
        if (digested == 0.0 || bare == 0.0) {
            *digested_best = *bare_best = 0.0;
            return;
        }
        if (digested > *digested_best)
            *digested_best = digested;
        if (bare > *bare_best)
            *bare_best = bare;
    }
}

void bench_digest(void)
{
    char dir[] = "/tmp/bench_digest.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        bench_error("digest", "mkdtemp: %s", strerror(errno));
        return;
    }
    char path[sizeof(dir) + 32];
    snprintf(path, sizeof(path), "%s/keepalive.lua", dir);
    if (bench_write_file(path, keepalive_lua) < 0) {
        bench_error("digest", "cannot write %s", path);
    } else {
        double digested = 0.0, bare = 0.0;
        keepalive_best(path, &digested, &bare);
        if (digested > 0.0) {
            bench_report("keepalive_10vm_time_compression", digested, "x", 5000.0, 1.0);
            bench_report("keepalive_10vm_digest_cost", digested, "x", bare, 0.9);
        }
    }
    unlink(path);
    rmdir(dir);
}
