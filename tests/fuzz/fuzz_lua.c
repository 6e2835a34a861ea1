/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_lua.c: fuzz target (d), the Lua API called with arbitrary types and
 * values (docs/fuzzing.md).
 *
 * The input is decoded into a scenario text: a world made with input-chosen options
 * (falling back to a plain one) and a VM, a process on the host and one in the VM whose
 * bodies are sequences of calls, then a sequence of calls in the main chunk. Each call
 * picks an object from a pool (slot number modulo the pool's size): the world, the host,
 * and every table or userdata an earlier call returned (VMs, processes, sockets, devices,
 * VMCI handles, run results); a method name from the API's vocabulary; and up to four
 * arguments of any type: nil, booleans, edge integers and floats (NaN, infinities,
 * 2^63-1), API words and raw byte strings, tables of option keys with arbitrary values,
 * other pool objects, and functions whose bodies are more such calls (so `spawn` gets
 * process bodies that make blocking calls). Module functions (sim.pattern, sim.log, ...)
 * and field reads are steps too. Every call runs under pcall, so an argument error ends
 * that call only and the sequence goes on.
 *
 * The text is run in-process through the runtime (sim/lua/runtime.h) as a preloaded file
 * that a fixed scenario requires, quiet, with small world limits set unless the input set
 * them, and at most UNTIL_NS of simulated time. Any outcome (pass, fail, load error) is
 * fine; the invariant is that the runtime returns one, without a crash, a sanitizer report
 * or an assertion. Like a sweep worker's, each input's runtime replays the numbering walks
 * the first one recorded (reuse_walks): an input's run is the same alone or after others
 * (tests/fuzz_replay_test.sh compares trace digests). The state is closed with lua_close,
 * as `vmcisim run` closes it (finalizers after the world is gone, the check that every
 * block came back), not freed whole as a sweep worker's may be.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sim/lua/runtime.h"

#define TARGET "lua"
#define SCRIPT_BYTES_MAX (64u * 1024)
#define STEPS_MAX 64u                   /* calls at the top level */
#define BODY_STEPS_MAX 8u               /* calls in one generated function */
#define DEPTH_MAX 2u                    /* functions and tables nested in arguments */
#define POOL_SLOTS 24u
#define RAW_STRING_BYTES_MAX 48u
#define UNTIL_NS 10000000000ull         /* 10 s of simulated time */
#define SCENARIO_PATH "fuzz_scenario.lua"
/* The calls the input makes, in a file the scenario requires once it has the module (the
 * scenario searcher's path for "fuzz_calls" beside SCENARIO_PATH). */
#define CALLS_PATH "./fuzz_calls.lua"

struct script {
    char text[SCRIPT_BYTES_MAX];
    size_t length;
    bool full;
};

static void emit(struct script *script, const char *format, ...)
{
    if (script->full)
        return;
    va_list arguments;
    va_start(arguments, format);
    size_t room = sizeof(script->text) - script->length;
    int written = vsnprintf(script->text + script->length, room, format, arguments);
    va_end(arguments);
    if (written < 0 || (size_t)written >= room - 1024) {     /* keep room for the end */
        script->full = true;
        script->text[script->length] = '\0';
        return;
    }
    script->length += (size_t)written;
}

static const char *const methods[] = {
    "vm", "host", "vms", "at", "after", "run", "timing", "spawn", "vmx", "vsock", "device",
    "suspend", "resume", "vmotion", "ft", "freeze", "thaw", "reset_device", "power_off",
    "power_on", "state", "local_cid", "sleep", "join", "kill", "socket", "poll", "vmci",
    "bind", "listen", "accept", "connect", "send", "recv", "sendto", "recvfrom", "shutdown",
    "disconnect", "close", "getsockname", "getpeername", "setblocking", "setsockopt",
    "getsockopt", "read", "write", "write_datagram_raw", "read_data_in", "datagram",
    "queue_pair_alloc", "queue_pair_attach", "enqueue", "peek", "dequeue", "detach",
    "free_space", "ready", "handle", "recv", "send", "socket", "spawn", "sleep",
};
static const char *const module_functions[] = {
    "log", "expect", "pattern", "checksum", "ns", "us", "ms", "s", "world",
};
static const char *const fields[] = {
    "now", "seed", "events", "product", "host_os", "name", "cid", "is_host", "os", "user",
    "hw_version", "state", "fault_tolerant", "pid", "endpoint", "trusted", "stopped",
    "failures", "blocked", "now_ns",
};
static const char *const words[] = {
    "", "stream", "dgram", "datagram", "r", "w", "rw", "esxi-6.5", "esxi-4.0",
    "workstation-9", "workstation-6.5", "server-2.0", "fusion-5", "linux", "windows", "mac",
    "buffer_size", "buffer_min_size", "buffer_max_size", "connect_timeout", "rcvtimeo",
    "sndtimeo", "error", "trusted", "rcvlowat", "rcvbuf", "sndbuf", "keepalive",
    "peer_host_vm_id", "host", "a", "b", "vmci0.id", "vmci0.present", "net_bind_service",
    "net_admin", "IMR", "CONTROL", "DATA_OUT", "STATUS", "%s%s%s%n", "\\0", "1ms", "-1",
};
static const char *const keys[] = {
    "seed", "product", "host_os", "timing", "limits", "name", "os", "hw_version", "vmx",
    "user", "until_ns", "max_events", "caps", "trusted", "daemon", "protocol", "flavour",
    "vms", "processes", "sockets", "events_pending", "trace_events", "qp_memory_bytes",
    "register_access_ns", "hypercall_ns", "route_ns", "interrupt_ns", "copy_ps_per_byte",
    "jitter", "faults", "socket", "events",
};
static const char *const numbers[] = {
    "0", "1", "-1", "2", "3", "7", "13", "100", "200", "1023", "1024", "5000", "65535",
    "65536", "262144", "2147483647", "2147483648", "4294967295", "4294967296",
    "9007199254740993", "math.maxinteger", "math.mininteger", "0.5", "-0.0", "1e300",
    "-1e300", "(0/0)", "(1/0)", "(-1/0)", "1000000000", "67108864", "67108865",
};

#define COUNT(array) (sizeof(array) / sizeof(array[0]))

static void emit_steps(struct script *script, struct fuzz_input *input, uint32_t steps,
                       uint32_t depth);

static void emit_raw_string(struct script *script, struct fuzz_input *input)
{
    uint8_t bytes[RAW_STRING_BYTES_MAX];
    size_t size = fuzz_bytes(input, bytes, fuzz_u8(input) % RAW_STRING_BYTES_MAX);
    emit(script, "\"");
    for (size_t index = 0; index < size; index++)
        emit(script, "\\%u", bytes[index]);
    emit(script, "\"");
}

static void emit_value(struct script *script, struct fuzz_input *input, uint32_t depth)
{
    uint8_t kind = fuzz_u8(input);
    switch (kind % 12) {
    case 0: emit(script, "nil"); break;
    case 1: emit(script, kind & 16 ? "true" : "false"); break;
    case 2: emit(script, "%u", fuzz_u8(input)); break;
    case 3: emit(script, "%s", numbers[fuzz_u8(input) % COUNT(numbers)]); break;
    case 4: emit(script, "\"%s\"", words[fuzz_u8(input) % COUNT(words)]); break;
    case 5: emit_raw_string(script, input); break;
    case 6: emit(script, "Q(%u)", 1 + fuzz_u8(input) % POOL_SLOTS); break;
    case 7: emit(script, "sim.%s", kind & 16 ? "CID_ANY" : kind & 32 ? "CID_HOST" : "PORT_ANY");
        break;
    case 8: emit(script, "%lld", (long long)(int64_t)fuzz_u64(input)); break;
    case 9:
    case 10:
        if (depth >= DEPTH_MAX) {
            emit(script, "{}");
            break;
        }
        emit(script, "{");
        for (uint8_t entries = fuzz_u8(input) % 4; entries > 0; entries--) {
            emit(script, "[\"%s\"] = ", keys[fuzz_u8(input) % COUNT(keys)]);
            emit_value(script, input, depth + 1);
            emit(script, ", ");
        }
        emit(script, "}");
        break;
    default:
        if (depth >= DEPTH_MAX) {
            emit(script, "function() end");
            break;
        }
        emit(script, "function(p, ...) add(p) ");
        emit_steps(script, input, 1 + fuzz_u8(input) % BODY_STEPS_MAX, depth + 1);
        emit(script, " end");
        break;
    }
}

static void emit_arguments(struct script *script, struct fuzz_input *input, uint32_t depth)
{
    for (uint8_t count = fuzz_u8(input) % 5; count > 0; count--) {
        emit(script, ", ");
        emit_value(script, input, depth);
    }
}

static void emit_steps(struct script *script, struct fuzz_input *input, uint32_t steps,
                       uint32_t depth)
{
    for (uint32_t step = 0; step < steps && !fuzz_input_done(input) && !script->full; step++) {
        uint8_t kind = fuzz_u8(input);
        uint32_t slot = 1 + fuzz_u8(input) % POOL_SLOTS;
        if (kind < 160) {
            emit(script, "C(%u, \"%s\"", slot, methods[fuzz_u8(input) % COUNT(methods)]);
            emit_arguments(script, input, depth);
        } else if (kind < 200) {
            emit(script, "C(%u, \"spawn\", \"p%u\", ", slot, step);
            emit_value(script, input, depth < DEPTH_MAX ? DEPTH_MAX - 1 : depth);
            emit_arguments(script, input, depth);
        } else if (kind < 230) {
            emit(script, "G(\"%s\"", module_functions[fuzz_u8(input) % COUNT(module_functions)]);
            emit_arguments(script, input, depth);
        } else {
            emit(script, "F(%u, \"%s\"", slot, fields[fuzz_u8(input) % COUNT(fields)]);
        }
        emit(script, ")\n");
    }
}

static const char prelude[] =
    "local sim = require(\"vmcisim\")\n"
    "P = {}\n"
    "function add(v)\n"
    "  local t = type(v)\n"
    "  if (t == \"table\" or t == \"userdata\") and #P < " "24" " then P[#P + 1] = v end\n"
    "end\n"
    "local function collect(ok, ...)\n"
    "  if ok then for i = 1, select(\"#\", ...) do add((select(i, ...))) end end\n"
    "end\n"
    "function Q(slot) return P[(slot - 1) % #P + 1] end\n"
    "function C(slot, name, ...)\n"
    "  local o = Q(slot)\n"
    "  if o == nil then return end\n"
    "  local ok, f = pcall(function() return o[name] end)\n"
    "  if ok and type(f) == \"function\" then collect(pcall(f, o, ...)) end\n"
    "end\n"
    "function G(name, ...)\n"
    "  local f = sim[name]\n"
    "  if type(f) == \"function\" then collect(pcall(f, ...)) end\n"
    "end\n"
    "function F(slot, name)\n"
    "  local o = Q(slot)\n"
    "  if o ~= nil then collect(pcall(function() return o[name] end)) end\n"
    "end\n"
    "local small = { vms = 8, processes = 32, sockets = 64, events_pending = 65536,\n"
    "                trace_events = 1000000 }\n";

static void build_script(struct script *script, struct fuzz_input *input)
{
    script->length = 0;
    script->full = false;
    emit(script, "%s", prelude);
    emit(script, "local options = ");
    emit_value(script, input, DEPTH_MAX - 1);
    emit(script, "\nif type(options) ~= \"table\" then options = {} end\n"
                 "if options.limits == nil then options.limits = small end\n"
                 "local ok, w = pcall(sim.world, options)\n"
                 "if not ok then w = sim.world{ limits = small } end\n"
                 "add(w) add(w:host())\n"
                 "local vm_ok, vm = pcall(w.vm, w, { name = \"g\" })\n"
                 "if vm_ok then add(vm) end\n");
    /* A process on the host and one in the VM run input-chosen calls: most of the API
     * only works in a process. They start connected (a stream from the VM to the host's
     * listener on 5000) and with a bound datagram socket each, so the calls meet sockets
     * in every state. */
    static const char *const openings[] = {
        "w:host():spawn(\"p0\", function(p) add(p)\n"
        "  pcall(function() local l = p:socket(\"stream\") add(l)\n"
        "    l:bind(sim.CID_ANY, 5000) l:listen(4) add(l:accept()) end)\n",
        "vm:spawn(\"p1\", function(p) add(p)\n"
        "  pcall(function() local s = p:socket(\"stream\") add(s)\n"
        "    s:connect(sim.CID_HOST, 5000) end)\n",
    };
    for (int index = 0; index < 2; index++) {
        emit(script, "pcall(function() %s"
                     "  pcall(function() local d = p:socket(\"dgram\") add(d)\n"
                     "    d:bind(sim.CID_ANY, 6000) end)\n", openings[index]);
        emit_steps(script, input, fuzz_u8(input) % (BODY_STEPS_MAX * 3), 1);
        emit(script, "end) end)\n");
    }
    emit_steps(script, input, STEPS_MAX, 0);
    script->full = false;                    /* the room kept for the end */
    emit(script, "\npcall(w.run, w, { until_ns = %llu })\n", (unsigned long long)UNTIL_NS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_stdout();
    fuzz_keep_heap();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct script script;
    struct fuzz_input input = fuzz_input_make(data, size);
    build_script(&script, &input);
    bool print = getenv("VMCISIM_FUZZ_PRINT") != NULL;
    if (print)
        fprintf(stderr, "%s\n", script.text);
    /* The scenario has the module before the calls are parsed: what the runtime holds
     * when require "vmcisim" numbers the module's functions is then the same for every
     * input, so the walk recorded by the first input is replayed by all the next
     * (reuse_walks, as in a sweep worker; sim/lua/sandbox.c). Parsing the calls first
     * made that state depend on their length: the walk ran again for 67 of the corpus's 241. */
    static const char scenario[] = "require(\"vmcisim\")\nrequire(\"fuzz_calls\")\n";
    struct simlua_file files[] = {
        { .path = SCENARIO_PATH, .text = (char *)scenario, .text_bytes = sizeof(scenario) - 1 },
        { .path = CALLS_PATH, .text = script.text, .text_bytes = script.length },
    };
    /* With VMCISIM_FUZZ_PRINT, a digest of the run's trace, printed with its outcome:
     * tests/fuzz_replay_test.sh checks that an input's run is the same after others. */
    struct sim_digest *digest = print ? sim_digest_create() : NULL;
    struct sim_trace_sink sink;
    if (digest != NULL)
        sink = sim_digest_sink(digest);
    struct simlua_options options = {
        .scenario_path = SCENARIO_PATH, .seed = 1, .until_ns = UNTIL_NS, .quiet = true,
        .preloaded = files, .preloaded_count = 2, .reuse_walks = true,
        .sinks = digest != NULL ? &sink : NULL, .sink_count = digest != NULL ? 1 : 0,
    };
    struct simlua_runtime *runtime = simlua_create(&options);
    if (runtime == NULL)
        fuzz_fail(TARGET, "simlua_create failed");
    struct simlua_outcome outcome;
    simlua_run(runtime, &outcome);
    if (print) {
        char hex[33] = "none";
        if (digest != NULL && outcome.world_created)
            sim_digest_hex(digest, hex);
        fprintf(stderr, "lua: outcome: exit %d, %llu events, %u failures, stopped '%s', "
                "digest %s\n", (int)outcome.exit_code, (unsigned long long)outcome.events_run,
                outcome.failure_count, outcome.stopped, hex);
    }
    simlua_destroy(runtime);
    sim_digest_destroy(digest);
    return 0;
}
