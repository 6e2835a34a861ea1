/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_exec.c: real programs through the shim (docs/programs.md).
 *
 * Figures (each the best of RUNS, wall time of whole `vmcisim run --allow-exec` runs through
 * the runtime, a run with no work subtracted so that starting the sandbox is left out):
 *   exec_shim_calls_per_s    calls a program makes through the shim and the channel per
 *                            wall second (bench/programs/exec_calls: getppid in a loop,
 *                            EXEC_CALLS calls) over the default channel, shared memory and
 *                            a futex; reference: the target, 200 000 (issue 12), so target
 *                            ratio 1.
 *   exec_shim_calls_socket_per_s  the same over the socketpair channel, beside it.
 *   exec_stream_64mib_per_s  MiB per wall second a program client sends to a program echo
 *                            server over a host-guest stream and reads back (64 MiB each way,
 *                            default channel; the Guide's echo server, and as client
 *                            bench/programs/exec_stream_client, which does what the Lua
 *                            client does: one chunk sent again and again, the echo counted);
 *                            reference: the same transfer between two Lua processes; target
 *                            0.25 of it.
 *   exec_stream_64mib_socket_per_s  the same over the socketpair channel.
 * Skipped with a `bench ERROR` line (which fails make bench) when the machine cannot
 * sandbox programs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"

#define RUNS 3
#define EXEC_CALLS 200000
#define STREAM_BYTES (64l * 1024 * 1024)

static const char calls_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local p = w:host():exec{ arg[1], arg[2], channel = arg[3] }\n"
    "w:run()\n"
    "sim.expect(p.exit_code == 0, 'exec_calls exited ' .. tostring(p.exit_code))\n";

static const char programs_stream_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local guest = w:vm{ name = 'g' }\n"
    "local n = tonumber(arg[2])\n"
    "if n == 0 then return end\n"
    "local server = w:host():exec{ arg[1] .. '/vsock_stream_server', '5000',\n"
    "                              channel = arg[3] }\n"
    "local client = guest:exec{ arg[1] .. '/exec_stream_client', '2', '5000', arg[2],\n"
    "                           channel = arg[3] }\n"
    "w:run()\n"
    "sim.expect(client.exit_code == 0, client:output())\n";

static const char lua_stream_source[] =
    "local sim = require('vmcisim')\n"
    "local w = sim.world{}\n"
    "local guest = w:vm{ name = 'g' }\n"
    "local n = tonumber(arg[2])\n"
    "if n == 0 then return end\n"
    "w:host():spawn('server', function(p)\n"
    "  local l = assert(p:socket('stream')); assert(l:bind(sim.CID_ANY, 5000))\n"
    "  assert(l:listen(8)); local c = assert(l:accept())\n"
    "  while true do local d = assert(c:recv(65536)); if d == '' then break end\n"
    "    assert(c:send(d)) end\n"
    "  c:close()\n"
    "end)\n"
    "guest:spawn('client', function(p)\n"
    "  local s = assert(p:socket('stream')); assert(s:connect(sim.CID_HOST, 5000))\n"
    "  local chunk = sim.pattern(1, 0, 65536); local sent, got = 0, 0\n"
    "  while sent < n do assert(s:send(chunk)); sent = sent + #chunk\n"
    "    while got < sent do local d = s:recv(65536, 'dontwait')\n"
    "      if d == nil then break end; got = got + #d end end\n"
    "  assert(s:shutdown('w'))\n"
    "  while true do local d = assert(s:recv(65536)); if d == '' then break end\n"
    "    got = got + #d end\n"
    "  sim.expect(got == n, 'echoed ' .. got)\n"
    "end)\n"
    "w:run()\n";

/* Wall seconds of one run of `source` with arguments (a, b, channel); -1 when it failed. */
static double run_seconds(const char *source, const char *a, const char *b, const char *channel,
                          bool allow_exec)
{
    char path[] = "/tmp/vmcisim-bench-exec-XXXXXX.lua";
    int descriptor = mkstemps(path, 4);
    if (descriptor < 0)
        return -1;
    close(descriptor);
    if (bench_write_file(path, source) < 0)
        return -1;
    char *args[] = { (char *)a, (char *)b, (char *)channel };
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .arg_count = 3, .args = args, .allow_exec = allow_exec,
    };
    double start = bench_now_seconds();
    struct simlua_runtime *runtime = simlua_create(&options);
    struct simlua_outcome outcome = { .exit_code = SIMLUA_EXIT_FAIL };
    if (runtime != NULL) {
        simlua_run(runtime, &outcome);
        simlua_destroy(runtime);
    }
    double seconds = bench_now_seconds() - start;
    unlink(path);
    return outcome.exit_code == SIMLUA_EXIT_PASS ? seconds : -1;
}

/* Best of RUNS of (run with `count`) - (run with 0); -1 when a run failed. */
static double best_seconds(const char *source, const char *a, long count, const char *channel,
                           bool allow_exec)
{
    char count_text[32];
    snprintf(count_text, sizeof(count_text), "%ld", count);
    double best = -1;
    for (int run = 0; run < RUNS; run++) {
        double empty = run_seconds(source, a, "0", channel, allow_exec);
        double full = run_seconds(source, a, count_text, channel, allow_exec);
        if (empty < 0 || full < 0)
            return -1;
        double seconds = full - empty > 1e-9 ? full - empty : 1e-9;
        if (best < 0 || seconds < best)
            best = seconds;
    }
    return best;
}

void bench_exec(void)
{
    char programs[4096];
    if (getcwd(programs, sizeof(programs) - 32) == NULL) {
        bench_error("exec_shim_calls_per_s", "no working directory");
        return;
    }
    strcat(programs, "/build/programs");
    char calls_binary[4200];
    snprintf(calls_binary, sizeof(calls_binary), "%s/exec_calls", programs);
    static const struct {
        const char *channel, *calls_figure, *stream_figure;
    } channels[] = {
        { "shm", "exec_shim_calls_per_s", "exec_stream_64mib_per_s" },
        { "socket", "exec_shim_calls_socket_per_s", "exec_stream_64mib_socket_per_s" },
    };
    for (size_t index = 0; index < sizeof(channels) / sizeof(channels[0]); index++) {
        double seconds = best_seconds(calls_source, calls_binary, EXEC_CALLS,
                                      channels[index].channel, true);
        if (seconds < 0)
            bench_error(channels[index].calls_figure, "the run failed (is "
                        "build/programs/exec_calls built, and can this machine sandbox "
                        "programs?)");
        else    /* No honest reference: the target (200 000/s) is the reference. */
            bench_report(channels[index].calls_figure, EXEC_CALLS / seconds, "calls/s", 200000,
                         1.0);
    }
    double lua_seconds = best_seconds(lua_stream_source, programs, STREAM_BYTES, "shm", false);
    for (size_t index = 0; index < sizeof(channels) / sizeof(channels[0]); index++) {
        double program_seconds = best_seconds(programs_stream_source, programs, STREAM_BYTES,
                                              channels[index].channel, true);
        if (program_seconds < 0 || lua_seconds < 0)
            bench_error(channels[index].stream_figure, "a run failed (programs %.3f s, Lua "
                        "%.3f s)", program_seconds, lua_seconds);
        else
            bench_report(channels[index].stream_figure, 64.0 / program_seconds, "MiB/s",
                         64.0 / lua_seconds, 0.25);
    }
}
