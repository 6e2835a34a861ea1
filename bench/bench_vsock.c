/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_vsock.c: vSockets stream throughput and connection rate, run as Lua
 * scenarios through the runtime (sim/lua/runtime.h), the way users run them.
 *
 * Workloads (scenario texts below, written to a temporary directory):
 *   stream: one esxi-6.5 world, a host process listens, a guest process connects; both
 *           set buffer_size 256 KiB. The host sends STREAM_BYTES (64 MiB; STREAM_GOAL_BYTES,
 *           256 MiB, for the untraced figure) in 64 KiB send() calls of
 *           one prepared chunk (sim.pattern(seed, 0, 64 KiB)); the guest recv()s 64 KiB at
 *           a time until the end of stream and counts the bytes, and checks sim.checksum of
 *           the chunk against the XXH3-64 this file computes from the pattern's published
 *           definition (scenario-api.md). The bytes themselves are checked as the
 *           socketpair reference checks its own, by a hash, not by comparing each piece:
 *           every checked run has a sink on the "qp_data" events that requires the
 *           sender's endpoint to have enqueued the whole stream with a final running hash
 *           equal to the XXH3-64 of the expected stream, and the run to pass, which
 *           includes the stream_bytes invariant (what the reader dequeued hashes to what
 *           the writer enqueued). So a run that moved one wrong byte fails instead of
 *           counting (stream_check, below, says what exactly it covers).
 *   conn:   a host listener accepts and closes CONNECTIONS connections; one guest process
 *           opens, connect()s and closes them one after another, reading w.now around each
 *           connect() and sim.log()ging "connect_ns COUNT TOTAL MIN MAX" at the end, which a
 *           sink at the api level catches (the only sink of that run).
 *
 * Figures:
 *   stream_h2g_64k         simulated bytes per wall second, trace off (only the check's
 *                          sink, which sees "qp_data" events alone; the queue pairs hash
 *                          their bytes as always), STREAM_GOAL_BYTES (256 MiB),
 *                          best of RUNS; reference: an AF_UNIX socketpair moving the same bytes in
 *                          64 KiB writes of the same prepared chunk (writer thread; reader
 *                          hashing what it reads with the digest's own data hash,
 *                          sim_data_stream, the hash checked),
 *                          best of RUNS, in the same process; target 2 (issue 10, item 6).
 *   stream_h2g_64k_cpu     the same two runs timed by the CPU time of the whole process
 *                          (CLOCK_PROCESS_CPUTIME_ID: every thread, user and kernel) instead
 *                          of the wall clock: simulated bytes per CPU second against the
 *                          socketpair's bytes per CPU second of its two threads; target 2.
 *                          Unloaded, the wall figure is about 0.6 of this one (the
 *                          socketpair's writer and reader overlap on two cores, the
 *                          simulator is one thread); on a busy machine the wall figure
 *                          favours the reference even more, whose two threads get two
 *                          shares of the CPUs against the simulator's one, and this one
 *                          does not move with the load.
 *   stream_h2g_64k_traced  the same with the SQLite writer at "device" plus the digest, the
 *                          timing including the writer's metadata, files and close; reference
 *                          = the trace-off figure, target 0.75.
 *   stream_h2g_64k_hashing the stream with the digest as its only sink (as `vmcisim run`),
 *                          best of RUNS; reference: the same with the queue pairs' data
 *                          hashing and its "qp_data" events switched off
 *                          (vmci_data_hashing_set), so the ratio is the price of a digest that
 *                          covers the bytes; target 0.95. The reference run cannot check its
 *                          bytes (nothing hashes them): it is the checked scenario with the
 *                          hashing off.
 *   stream_integrity_64m_s wall seconds of scenarios/stream_integrity.lua -- 67108864 (the
 *                          path is relative to the working directory: run from the project
 *                          root, as `make bench` does); no reference, no ratio.
 *   connections_per_s      connect+accept+close per wall second (whole run, world set-up
 *                          included), best of RUNS; reference: loopback TCP on 127.0.0.1,
 *                          connect+accept+close in one thread, best of RUNS; target 0.1.
 *   connect_sim_ns         mean simulated time from connect() call to its return (a property
 *                          of the cost model); no reference, no ratio.
 *
 * Any failed check prints "bench ERROR <figure>: <why>" on stdout; a figure whose bytes or
 * outcome could not be verified is reported as 0 (stream_integrity_64m_s keeps its time).
 * After any error the runner exits 1 (an atexit handler, since bench_main ignores outcomes).
 * Never opens an AF_VSOCK socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "bench/bench.h"
#include "sim/engine/engine.h"
#include "sim/lua/runtime.h"
#include "sim/trace/writer.h"
#include "vmci/hypervisor.h"

#define STREAM_BYTES (64u * 1024 * 1024)
/* The untraced figure and its socketpair reference move more: the size of the goal. */
#define STREAM_GOAL_BYTES (256u * 1024 * 1024)
#define STREAM_CHUNK_BYTES 65536u
_Static_assert(STREAM_GOAL_BYTES % STREAM_CHUNK_BYTES == 0, "the stream is whole chunks");
_Static_assert(STREAM_BYTES % STREAM_CHUNK_BYTES == 0, "the stream is whole chunks");
#define STREAM_BUFFER_BYTES 262144u
#define STREAM_SEED 4242u
#define CONNECTIONS 20000u
#define TCP_CONNECTIONS 4000u
#define RUNS 3u
#define INTEGRITY_SCENARIO "scenarios/stream_integrity.lua"
#define INTEGRITY_ARG "67108864"

static const char stream_lua[] =
    "-- bench_vsock stream: host -> guest, args TOTAL CHUNK BUFFER SEED EXPECTED_CHECKSUM\n"
    "local sim = require(\"vmcisim\")\n"
    "local w = sim.world{}\n"
    "local host, guest = w:host(), w:vm{ name = \"guest1\" }\n"
    "local total, chunk, buffer = tonumber(arg[1]), tonumber(arg[2]), tonumber(arg[3])\n"
    "local seed, expected, PORT = tonumber(arg[4]), arg[5], 5000\n"
    "local ready, got, sum = false, 0, nil\n"
    "local data = sim.pattern(seed, 0, chunk)    -- the stream is this chunk, repeated\n"
    "host:spawn(\"sender\", function(p)\n"
    "  local l = assert(p:socket(\"stream\"))\n"
    "  assert(l:setsockopt(\"buffer_size\", buffer))\n"
    "  assert(l:bind(sim.CID_ANY, PORT)); assert(l:listen(1))\n"
    "  ready = true\n"
    "  local c = assert(l:accept())\n"
    "  local sent = 0\n"
    "  while sent < total do\n"
    "    sent = sent + assert(c:send(sent + chunk <= total and data or data:sub(1, total - sent)))\n"
    "  end\n"
    "  c:close(); l:close()\n"
    "end)\n"
    "guest:spawn(\"receiver\", function(p)\n"
    "  while not ready do p:sleep(sim.us(10)) end\n"
    "  local s = assert(p:socket(\"stream\"))\n"
    "  assert(s:setsockopt(\"buffer_size\", buffer))\n"
    "  assert(s:connect(sim.CID_HOST, PORT))\n"
    "  while true do\n"
    "    local piece = assert(s:recv(chunk))\n"
    "    if #piece == 0 then break end\n"
    "    got = got + #piece      -- its bytes are checked by their hashes (stream_check)\n"
    "  end\n"
    "  sum = sim.checksum(data)\n"
    "  s:close()\n"
    "end)\n"
    "local r = w:run()\n"
    "sim.expect(r.stopped == \"idle\", \"finished: \" .. r.stopped)\n"
    "sim.expect(got == total, \"received \" .. got .. \" of \" .. total .. \" bytes\")\n"
    "sim.expect(sum == expected, \"checksum \" .. tostring(sum) .. \", expected \" .. expected)\n";

static const char conn_lua[] =
    "-- bench_vsock conn: COUNT sequential guest -> host connections, arg COUNT\n"
    "local sim = require(\"vmcisim\")\n"
    "local w = sim.world{}\n"
    "local host, guest = w:host(), w:vm{ name = \"guest1\" }\n"
    "local count, PORT = tonumber(arg[1]), 5000\n"
    "local ready, accepted, connected = false, 0, 0\n"
    "host:spawn(\"server\", function(p)\n"
    "  local l = assert(p:socket(\"stream\"))\n"
    "  assert(l:bind(sim.CID_ANY, PORT)); assert(l:listen(16))\n"
    "  ready = true\n"
    "  for _ = 1, count do\n"
    "    local c = assert(l:accept())\n"
    "    accepted = accepted + 1\n"
    "    c:close()\n"
    "  end\n"
    "  l:close()\n"
    "end)\n"
    "local total_ns, min_ns, max_ns = 0, math.maxinteger, 0\n"
    "guest:spawn(\"client\", function(p)\n"
    "  while not ready do p:sleep(sim.us(10)) end\n"
    "  for _ = 1, count do\n"
    "    local s = assert(p:socket(\"stream\"))\n"
    "    local t0 = w.now\n"
    "    assert(s:connect(sim.CID_HOST, PORT))\n"
    "    local dt = w.now - t0\n"
    "    connected = connected + 1\n"
    "    total_ns = total_ns + dt\n"
    "    if dt < min_ns then min_ns = dt end\n"
    "    if dt > max_ns then max_ns = dt end\n"
    "    s:close()\n"
    "  end\n"
    "end)\n"
    "local r = w:run()\n"
    "sim.expect(r.stopped == \"idle\", \"finished: \" .. r.stopped)\n"
    "sim.expect(accepted == count and connected == count,\n"
    "           \"accepted \" .. accepted .. \", connected \" .. connected .. \" of \" .. count)\n"
    "sim.log(\"connect_ns %d %d %d %d\", connected, total_ns, min_ns, max_ns)\n";

/* ---- the pattern and its checksum, from scenario-api.md (independent of sim/lua) ---- */

static uint64_t splitmix_mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z;
}

static void pattern_fill(uint8_t *out, uint64_t seed, size_t length)
{
    for (size_t index = 0; index < length; index++) {
        uint64_t word = splitmix_mix(seed + (uint64_t)(index / 8) * 0x9E3779B97F4A7C15ull);
        out[index] = (uint8_t)(word >> (8 * (index % 8)));
    }
}

/* XXH3-64 of `total_bytes` made of `chunk` (STREAM_CHUNK_BYTES) repeated, through the
 * library's own streaming API (independent of sim_data_stream, which the reference and the
 * simulator use). */
static uint64_t repeated_hash(const uint8_t *chunk, uint64_t total_bytes)
{
    XXH3_state_t *state = XXH3_createState();
    if (state == NULL)
        return 0;
    XXH3_64bits_reset(state);
    for (uint64_t done = 0; done < total_bytes; done += STREAM_CHUNK_BYTES)
        XXH3_64bits_update(state, chunk, STREAM_CHUNK_BYTES);
    uint64_t hash = XXH3_64bits_digest(state);
    XXH3_freeState(state);
    return hash;
}

/* CPU seconds of the whole process, every thread, user and kernel (benchmarks only). */
static double process_cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* A throughput by both clocks: bytes per wall second and per CPU second, each the best of
 * its runs (0 when it could not be measured). */
struct stream_rates {
    double wall;
    double cpu;
};

/* ---- running one scenario ---- */

/* Runs `path` with the given arguments and sinks; when `writer` is given (one of the
 * sinks), finishes the trace as `vmcisim run --trace` does: metadata, loaded files, close.
 * Returns the wall seconds of create + run (+ trace finish) + destroy; fills *outcome. */
static double run_scenario(const char *path, int arg_count, char **args,
                           const struct sim_trace_sink *sinks, uint32_t sink_count,
                           struct sim_trace_writer *writer, struct sim_digest *digest,
                           struct simlua_outcome *outcome, bool *trace_ok)
{
    struct simlua_options options = {
        .scenario_path = path, .seed = 1, .until_ns = SIM_TIME_NEVER, .quiet = true,
        .arg_count = arg_count, .args = args, .sinks = sinks, .sink_count = sink_count,
    };
    memset(outcome, 0, sizeof(*outcome));
    outcome->exit_code = SIMLUA_EXIT_FAIL;
    double start_s = bench_now_seconds();
    struct simlua_runtime *runtime = simlua_create(&options);
    if (runtime == NULL)
        return bench_now_seconds() - start_s;
    simlua_run(runtime, outcome);
    if (writer != NULL) {
        char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
        char digest_hex[33] = "", seed_text[32];
        if (digest != NULL)
            sim_digest_hex(digest, digest_hex);
        snprintf(seed_text, sizeof(seed_text), "%llu", (unsigned long long)outcome->seed);
        int rc = sim_trace_writer_meta(writer, "scenario", path, message);
        if (rc == 0)
            rc = sim_trace_writer_meta(writer, "seed", seed_text, message);
        if (rc == 0)
            rc = sim_trace_writer_meta(writer, "trace_level", "device", message);
        if (rc == 0)
            rc = sim_trace_writer_meta(writer, "digest", digest_hex, message);
        for (uint32_t index = 0; rc == 0 && index < simlua_file_count(runtime); index++) {
            const struct simlua_file *file = simlua_file(runtime, index);
            rc = sim_trace_writer_file(writer, file->path, file->text, file->text_bytes, message);
        }
        bench_sink_u64(sim_trace_writer_event_count(writer));
        char close_message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
        int close_rc = sim_trace_writer_close(writer, close_message);
        if (rc < 0 || close_rc < 0) {
            fprintf(stderr, "bench vsock: trace: %s\n", rc < 0 ? message : close_message);
            *trace_ok = false;
        }
    }
    simlua_destroy(runtime);
    return bench_now_seconds() - start_s;
}

static bool outcome_passed(const struct simlua_outcome *outcome)
{
    return outcome->exit_code == SIMLUA_EXIT_PASS && outcome->failure_count == 0;
}

static void remove_database(const char *path)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char name[512];
    for (size_t index = 0; index < sizeof(suffixes) / sizeof(suffixes[0]); index++) {
        snprintf(name, sizeof(name), "%s%s", path, suffixes[index]);
        unlink(name);
    }
}

/* ---- the stream's bytes, checked through the hashes the model keeps ---- */

/* The scenario does not compare what it receives with the pattern (a pass over every byte
 * that the socketpair reference does not make either: it checks a hash): the model hashes
 * every byte already, and this reads those hashes. A run's bytes are right when
 *   - the "qp_data" enqueue events of the sender's endpoint (the host's) add up to the
 *     stream, and the last one's `hash` (the running XXH3-64 of every byte that endpoint
 *     copied into its ring, taken in the same pass as the copy) is the XXH3-64 of the
 *     expected stream, computed from the pattern's definition by libxxhash (repeated_hash);
 *   - and the run passes, which includes the stream_bytes invariant (docs/invariants.md):
 *     the reader's running hash of the ring pieces each recv() makes its string of must
 *     equal the writer's whenever it catches up, at the end of the stream at the latest.
 * One wrong, missing, extra or reordered byte between the sender's string and those pieces
 * fails one of the two. Not hashed again: lua_pushlstring's copy of the pieces into the Lua
 * string (sim/lua/socket.c), which the unit tests check byte for byte; a recv whose string
 * takes its prepared block (sim/lua/runtime.c, simlua__string_reserve: every 64 KiB one
 * here that does not wrap around the ring's end) has no such copy, since the pass that
 * hashed the bytes wrote them into the string. */
struct stream_check {
    uint64_t total_bytes;                       /* what the sender sends */
    char expected_hash[SIM_DATA_HASH_TEXT_BYTES];
    uint64_t enqueued_bytes;                    /* seen: the host's enqueues */
    char last_hash[SIM_DATA_HASH_TEXT_BYTES];
    uint32_t unexpected_events;                 /* enqueues by anyone else, or malformed */
};

static void stream_check_init(struct stream_check *check, uint64_t total_bytes,
                              uint64_t expected_hash)
{
    memset(check, 0, sizeof(*check));
    check->total_bytes = total_bytes;
    snprintf(check->expected_hash, sizeof(check->expected_hash), "%016llx",
             (unsigned long long)expected_hash);
}

static bool field_is_text(const struct sim_trace_field *field, const char *text)
{
    size_t size_bytes = strlen(text);
    return field != NULL && field->type == SIM_FIELD_STR &&
           field->value.blob.size_bytes == size_bytes &&
           memcmp(field->value.blob.data, text, size_bytes) == 0;
}

static int stream_check_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct stream_check *check = state;
    const struct sim_trace_field *op = NULL, *bytes = NULL, *hash = NULL;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (strcmp(field->name, "op") == 0)
            op = field;
        else if (strcmp(field->name, "bytes") == 0)
            bytes = field;
        else if (strcmp(field->name, "hash") == 0)
            hash = field;
    }
    if (!field_is_text(op, "enqueue"))
        return 0;
    if (event->ctx != VMCI_HOST_CONTEXT_ID || bytes == NULL || bytes->type != SIM_FIELD_U64 ||
        hash == NULL || hash->type != SIM_FIELD_STR ||
        hash->value.blob.size_bytes != SIM_DATA_HASH_TEXT_BYTES - 1u) {
        check->unexpected_events++;
        return 0;
    }
    check->enqueued_bytes += bytes->value.u64;
    memcpy(check->last_hash, hash->value.blob.data, SIM_DATA_HASH_TEXT_BYTES - 1u);
    return 0;
}

/* Only "qp_data" events reach it (kind_only): it costs the other events nothing. */
static struct sim_trace_sink stream_check_sink(struct stream_check *check)
{
    return (struct sim_trace_sink){ .name = "bench_stream_check", .level = SIM_LAYER_VMCI,
                                    .emit = stream_check_emit, .state = check,
                                    .kind_only = "qp_data" };
}

/* True when the hashes say the run moved the expected bytes; else a bench error. */
static bool stream_check_passed(const struct stream_check *check, const char *figure,
                                unsigned run)
{
    if (check->unexpected_events == 0 && check->enqueued_bytes == check->total_bytes &&
        strcmp(check->last_hash, check->expected_hash) == 0)
        return true;
    bench_error(figure, "run %u: the sender's endpoint enqueued %llu of %llu bytes, hash %s "
                "(expected %s), %u unexpected qp_data enqueue events", run,
                (unsigned long long)check->enqueued_bytes,
                (unsigned long long)check->total_bytes,
                check->last_hash[0] != '\0' ? check->last_hash : "none", check->expected_hash,
                check->unexpected_events);
    return false;
}

/* What a stream run must give: the chunk's sim.checksum (the scenario checks it) and the
 * XXH3-64 of each stream length the benchmark sends. */
struct stream_expected {
    char checksum_hex[24];
    uint64_t goal_hash;         /* STREAM_GOAL_BYTES */
    uint64_t short_hash;        /* STREAM_BYTES */
};

/* ---- stream through the simulator ---- */

struct stream_args {
    char total[24], chunk[24], buffer[24], seed[24], checksum[24];
    char *argv[5];
};

static void stream_args_init(struct stream_args *a, const char *checksum_hex, uint32_t total)
{
    snprintf(a->total, sizeof(a->total), "%u", total);
    snprintf(a->chunk, sizeof(a->chunk), "%u", STREAM_CHUNK_BYTES);
    snprintf(a->buffer, sizeof(a->buffer), "%u", STREAM_BUFFER_BYTES);
    snprintf(a->seed, sizeof(a->seed), "%u", STREAM_SEED);
    snprintf(a->checksum, sizeof(a->checksum), "%s", checksum_hex);
    a->argv[0] = a->total;
    a->argv[1] = a->chunk;
    a->argv[2] = a->buffer;
    a->argv[3] = a->seed;
    a->argv[4] = a->checksum;
}

/* Trace off, STREAM_GOAL_BYTES: best of RUNS by each clock. Returns simulated bytes per
 * wall second and per CPU second, 0 on failure. */
static struct stream_rates stream_untraced(const char *path,
                                           const struct stream_expected *expected)
{
    struct stream_args a;
    stream_args_init(&a, expected->checksum_hex, STREAM_GOAL_BYTES);
    double best_s = 0.0, best_cpu_s = 0.0;
    for (unsigned run = 0; run < RUNS; run++) {
        struct stream_check check;
        stream_check_init(&check, STREAM_GOAL_BYTES, expected->goal_hash);
        struct sim_trace_sink sink = stream_check_sink(&check);
        struct simlua_outcome outcome;
        bool trace_ok = true;
        double cpu_start_s = process_cpu_seconds();
        double wall_s = run_scenario(path, 5, a.argv, &sink, 1, NULL, NULL, &outcome,
                                     &trace_ok);
        double cpu_s = process_cpu_seconds() - cpu_start_s;
        if (!outcome_passed(&outcome)) {
            bench_error("stream_h2g_64k", "run %u: scenario exit %d, %u failures (stopped %s)",
                        run, (int)outcome.exit_code, outcome.failure_count,
                        outcome.stopped != NULL ? outcome.stopped : "?");
            return (struct stream_rates){ 0.0, 0.0 };
        }
        if (!stream_check_passed(&check, "stream_h2g_64k", run))
            return (struct stream_rates){ 0.0, 0.0 };
        if (best_s == 0.0 || wall_s < best_s)
            best_s = wall_s;
        if (best_cpu_s == 0.0 || cpu_s < best_cpu_s)
            best_cpu_s = cpu_s;
    }
    return (struct stream_rates){ (double)STREAM_GOAL_BYTES / best_s,
                                  best_cpu_s > 0.0 ? (double)STREAM_GOAL_BYTES / best_cpu_s
                                                   : 0.0 };
}

/* The digest as the only sink, as `vmcisim run` without --trace; with `hashing` off the
 * queue pairs neither hash their bytes nor emit "qp_data" (vmci_data_hashing_set). Best of
 * RUNS; returns simulated bytes per wall second, 0 on failure. */
static double stream_digested(const char *path, const struct stream_expected *expected,
                              bool hashing)
{
    struct stream_args a;
    stream_args_init(&a, expected->checksum_hex, STREAM_BYTES);
    double best_s = 0.0;
    vmci_data_hashing_set(hashing);
    for (unsigned run = 0; run < RUNS && best_s >= 0.0; run++) {
        struct sim_digest *digest = sim_digest_create();
        if (digest == NULL) {
            bench_error("stream_h2g_64k_hashing", "out of memory");
            best_s = -1.0;
            break;
        }
        /* With hashing off nothing hashes the bytes (no qp_data events, no tallies): that
         * run, the ratio's reference, is the same scenario as the checked one. */
        struct stream_check check;
        stream_check_init(&check, STREAM_BYTES, expected->short_hash);
        struct sim_trace_sink sinks[2] = { sim_digest_sink(digest), stream_check_sink(&check) };
        struct simlua_outcome outcome;
        bool trace_ok = true;
        double wall_s = run_scenario(path, 5, a.argv, sinks, hashing ? 2 : 1, NULL, NULL,
                                     &outcome, &trace_ok);
        sim_digest_destroy(digest);
        if (!outcome_passed(&outcome)) {
            bench_error("stream_h2g_64k_hashing", "run %u (hashing %s): scenario exit %d",
                        run, hashing ? "on" : "off", (int)outcome.exit_code);
            best_s = -1.0;
        } else if (hashing && !stream_check_passed(&check, "stream_h2g_64k_hashing", run)) {
            best_s = -1.0;
        } else if (best_s == 0.0 || wall_s < best_s) {
            best_s = wall_s;
        }
    }
    vmci_data_hashing_set(true);
    return best_s > 0.0 ? (double)STREAM_BYTES / best_s : 0.0;
}

/* Full trace (writer at device + digest): best of RUNS, the trace file removed after each. */
static double stream_traced(const char *path, const char *dir,
                            const struct stream_expected *expected)
{
    struct stream_args a;
    stream_args_init(&a, expected->checksum_hex, STREAM_BYTES);
    char db_path[512];
    snprintf(db_path, sizeof(db_path), "%s/stream_trace.db", dir);
    double best_s = 0.0;
    for (unsigned run = 0; run < RUNS; run++) {
        char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
        struct sim_trace_writer *writer = NULL;
        struct sim_digest *digest = sim_digest_create();
        double open_start_s = bench_now_seconds();
        if (digest == NULL || sim_trace_writer_open(db_path, &writer, message) < 0) {
            bench_error("stream_h2g_64k_traced", "cannot open the trace: %s", message);
            sim_digest_destroy(digest);
            remove_database(db_path);
            return 0.0;
        }
        double open_s = bench_now_seconds() - open_start_s;
        struct stream_check check;
        stream_check_init(&check, STREAM_BYTES, expected->short_hash);
        struct sim_trace_sink sinks[3] = {
            sim_trace_writer_sink(writer, SIM_LAYER_DEVICE),
            sim_digest_sink(digest),
            stream_check_sink(&check),
        };
        struct simlua_outcome outcome;
        bool trace_ok = true;
        double wall_s = open_s + run_scenario(path, 5, a.argv, sinks, 3, writer, digest,
                                              &outcome, &trace_ok);
        sim_digest_destroy(digest);
        remove_database(db_path);
        if (!outcome_passed(&outcome) || !trace_ok) {
            bench_error("stream_h2g_64k_traced",
                        "run %u: scenario exit %d, %u failures (stopped %s)%s", run,
                        (int)outcome.exit_code, outcome.failure_count,
                        outcome.stopped != NULL ? outcome.stopped : "?",
                        trace_ok ? "" : ", the trace could not be written");
            return 0.0;
        }
        if (outcome.trace_events == 0) {
            bench_error("stream_h2g_64k_traced", "run %u: no trace events", run);
            return 0.0;
        }
        if (!stream_check_passed(&check, "stream_h2g_64k_traced", run))
            return 0.0;
        if (best_s == 0.0 || wall_s < best_s)
            best_s = wall_s;
    }
    return (double)STREAM_BYTES / best_s;
}

/* ---- stream through an AF_UNIX socketpair ---- */

struct pair_writer {
    int fd;
    const uint8_t *data;
    size_t length;
    int error;
};

/* Writes the stream from its first chunk over and over, as the simulated sender sends one
 * prepared chunk (the stream is that chunk repeated): both writers read bytes that are in
 * cache, and neither pays for reading 256 MiB of memory the other does not read. */
static void *pair_writer_main(void *state)
{
    struct pair_writer *w = state;
    size_t sent = 0;
    while (sent < w->length) {
        size_t at = sent % STREAM_CHUNK_BYTES;      /* a short write resumes mid-chunk */
        size_t chunk = STREAM_CHUNK_BYTES - at;
        if (chunk > w->length - sent)
            chunk = w->length - sent;
        ssize_t n = write(w->fd, w->data + at, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            w->error = errno != 0 ? errno : EIO;
            break;
        }
        sent += (size_t)n;
    }
    close(w->fd);
    return NULL;
}

/* Best of RUNS by each clock; returns bytes per wall second and per CPU second of both
 * threads, 0 on failure. */
static struct stream_rates stream_socketpair(const uint8_t *data, uint64_t expected_hash)
{
    uint8_t *buffer = malloc(STREAM_CHUNK_BYTES);
    double best_s = 0.0, best_cpu_s = 0.0;
    for (unsigned run = 0; buffer != NULL && run < RUNS; run++) {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) {
            bench_error("stream_h2g_64k", "socketpair: %s", strerror(errno));
            best_s = 0.0;
            break;
        }
        struct sim_data_stream *hash = sim_data_stream_create();
        if (hash == NULL) {
            bench_error("stream_h2g_64k", "out of memory");
            close(fds[0]);
            close(fds[1]);
            best_s = 0.0;
            break;
        }
        struct pair_writer w = { .fd = fds[0], .data = data, .length = STREAM_GOAL_BYTES };
        pthread_t thread;
        double start_s = bench_now_seconds();
        double cpu_start_s = process_cpu_seconds();
        if (pthread_create(&thread, NULL, pair_writer_main, &w) != 0) {
            bench_error("stream_h2g_64k", "pthread_create failed");
            sim_data_stream_destroy(hash);
            close(fds[0]);
            close(fds[1]);
            best_s = 0.0;
            break;
        }
        uint64_t got = 0;
        int read_error = 0;
        for (;;) {
            ssize_t n = read(fds[1], buffer, STREAM_CHUNK_BYTES);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                read_error = errno;
            if (n <= 0)
                break;
            sim_data_stream_update(hash, buffer, (size_t)n);
            got += (uint64_t)n;
        }
        uint64_t digest = sim_data_stream_value(hash);
        sim_data_stream_destroy(hash);
        pthread_join(thread, NULL);
        double wall_s = bench_now_seconds() - start_s;
        double cpu_s = process_cpu_seconds() - cpu_start_s;
        close(fds[1]);
        if (w.error != 0 || read_error != 0 || got != STREAM_GOAL_BYTES ||
            digest != expected_hash) {
            bench_error("stream_h2g_64k", "socketpair reference run %u: %llu of %u bytes, "
                        "hash %016llx (expected %016llx), write %s, read %s", run,
                        (unsigned long long)got, STREAM_GOAL_BYTES, (unsigned long long)digest,
                        (unsigned long long)expected_hash, strerror(w.error),
                        strerror(read_error));
            best_s = 0.0;
            break;
        }
        if (best_s == 0.0 || wall_s < best_s)
            best_s = wall_s;
        if (best_cpu_s == 0.0 || cpu_s < best_cpu_s)
            best_cpu_s = cpu_s;
    }
    free(buffer);
    if (best_s <= 0.0 || best_cpu_s <= 0.0)
        return (struct stream_rates){ 0.0, 0.0 };
    return (struct stream_rates){ (double)STREAM_GOAL_BYTES / best_s,
                                  (double)STREAM_GOAL_BYTES / best_cpu_s };
}

/* ---- connections ---- */

struct connect_capture {
    bool found;
    unsigned long long count, total_ns, min_ns, max_ns;
};

static int capture_emit(void *state, const struct sim_trace_event *event, char *message)
{
    (void)message;
    struct connect_capture *capture = state;
    if (strcmp(event->kind, "log") != 0)
        return 0;
    for (uint32_t index = 0; index < event->field_count; index++) {
        const struct sim_trace_field *field = &event->fields[index];
        if (field->type != SIM_FIELD_STR || strcmp(field->name, "text") != 0)
            continue;
        char text[128];
        uint32_t size = field->value.blob.size_bytes < sizeof(text) - 1
                            ? field->value.blob.size_bytes : (uint32_t)sizeof(text) - 1;
        memcpy(text, field->value.blob.data, size);
        text[size] = '\0';
        struct connect_capture parsed;
        if (sscanf(text, "connect_ns %llu %llu %llu %llu", &parsed.count, &parsed.total_ns,
                   &parsed.min_ns, &parsed.max_ns) == 4) {
            parsed.found = true;
            *capture = parsed;
        }
    }
    return 0;
}

/* Best of RUNS; returns connections per wall second (0 on failure), *sim_ns_out the mean
 * simulated connect() time. */
static double connections_sim(const char *path, double *sim_ns_out)
{
    char count_text[24];
    snprintf(count_text, sizeof(count_text), "%u", CONNECTIONS);
    char *argv[1] = { count_text };
    double best_s = 0.0;
    *sim_ns_out = 0.0;
    for (unsigned run = 0; run < RUNS; run++) {
        struct connect_capture capture = { .found = false };
        struct sim_trace_sink sink = {
            .name = "bench_connect_ns", .level = SIM_LAYER_API, .emit = capture_emit,
            .state = &capture,
        };
        struct simlua_outcome outcome;
        bool trace_ok = true;
        double wall_s = run_scenario(path, 1, argv, &sink, 1, NULL, NULL, &outcome, &trace_ok);
        if (!outcome_passed(&outcome) || !capture.found || capture.count != CONNECTIONS) {
            bench_error("connections_per_s", "run %u: scenario exit %d, %u failures (stopped "
                        "%s), %llu connections logged of %u", run, (int)outcome.exit_code,
                        outcome.failure_count, outcome.stopped != NULL ? outcome.stopped : "?",
                        capture.found ? capture.count : 0ull, CONNECTIONS);
            return 0.0;
        }
        *sim_ns_out = (double)capture.total_ns / (double)capture.count;
        if (best_s == 0.0 || wall_s < best_s)
            best_s = wall_s;
    }
    return (double)CONNECTIONS / best_s;
}

/* Loopback TCP: connect + accept + close of both ends, one thread, best of RUNS. The
 * accepted end closes first so TIME_WAIT stays on the listener's port (no ephemeral
 * port pile-up). Returns connections per wall second, 0 on failure. */
static double connections_tcp(void)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0 ||
        listen(listener, 128) < 0 ||
        getsockname(listener, (struct sockaddr *)&address, &length) < 0) {
        bench_error("connections_per_s", "loopback TCP listener: %s", strerror(errno));
        if (listener >= 0)
            close(listener);
        return 0.0;
    }
    double best_s = 0.0;
    for (unsigned run = 0; run < RUNS; run++) {
        double start_s = bench_now_seconds();
        unsigned done = 0;
        for (; done < TCP_CONNECTIONS; done++) {
            int client = socket(AF_INET, SOCK_STREAM, 0);
            if (client < 0)
                break;
            if (connect(client, (struct sockaddr *)&address, sizeof(address)) < 0) {
                close(client);
                break;
            }
            int server = accept(listener, NULL, NULL);
            if (server < 0) {
                close(client);
                break;
            }
            close(server);
            close(client);
        }
        double wall_s = bench_now_seconds() - start_s;
        if (done != TCP_CONNECTIONS) {
            bench_error("connections_per_s", "loopback TCP run %u: %u of %u connections (%s)",
                        run, done, TCP_CONNECTIONS, strerror(errno));
            best_s = 0.0;
            break;
        }
        if (best_s == 0.0 || wall_s < best_s)
            best_s = wall_s;
    }
    close(listener);
    return best_s > 0.0 ? (double)TCP_CONNECTIONS / best_s : 0.0;
}

/* ---- stream_integrity.lua ---- */

static void integrity(void)
{
    char arg_text[] = INTEGRITY_ARG;
    char *argv[1] = { arg_text };
    if (access(INTEGRITY_SCENARIO, R_OK) != 0) {
        bench_error("stream_integrity_64m_s", "%s not readable (run from the project root): %s",
                    INTEGRITY_SCENARIO, strerror(errno));
        return;
    }
    struct simlua_outcome outcome;
    bool trace_ok = true;
    double wall_s = run_scenario(INTEGRITY_SCENARIO, 1, argv, NULL, 0, NULL, NULL, &outcome,
                                 &trace_ok);
    bench_report_value("stream_integrity_64m_s", wall_s, "s");
    if (!outcome_passed(&outcome))
        bench_error("stream_integrity_64m_s", "%s -- %s did not pass: exit %d, %u failures "
                    "(stopped %s)", INTEGRITY_SCENARIO, INTEGRITY_ARG, (int)outcome.exit_code,
                    outcome.failure_count, outcome.stopped != NULL ? outcome.stopped : "?");
}

void bench_vsock(void)
{
    char dir[] = "/tmp/bench_vsock.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        bench_error("vsock", "mkdtemp: %s", strerror(errno));
        return;
    }
    char stream_path[sizeof(dir) + 32], conn_path[sizeof(dir) + 32];
    snprintf(stream_path, sizeof(stream_path), "%s/stream.lua", dir);
    snprintf(conn_path, sizeof(conn_path), "%s/conn.lua", dir);
    uint8_t *data = malloc(STREAM_CHUNK_BYTES);
    if (data == NULL || bench_write_file(stream_path, stream_lua) < 0 ||
        bench_write_file(conn_path, conn_lua) < 0) {
        bench_error("vsock", "cannot set up %s", dir);
    } else {
        /* Expected bytes from the published definition, before any clock starts: the
         * stream is one 64 KiB chunk of the pattern, repeated (both sides send prepared
         * bytes, so neither timing includes generating them). */
        pattern_fill(data, STREAM_SEED, STREAM_CHUNK_BYTES);
        struct stream_expected expected = {
            .goal_hash = repeated_hash(data, STREAM_GOAL_BYTES),
            .short_hash = repeated_hash(data, STREAM_BYTES),
        };
        snprintf(expected.checksum_hex, sizeof(expected.checksum_hex), "%016llx",
                 (unsigned long long)XXH3_64bits(data, STREAM_CHUNK_BYTES));

        struct stream_rates socketpair = stream_socketpair(data, expected.goal_hash);
        struct stream_rates untraced_rates = stream_untraced(stream_path, &expected);
        double untraced = untraced_rates.wall;
        bench_report("stream_h2g_64k", untraced, "bytes/s", socketpair.wall, 2.0);
        bench_report("stream_h2g_64k_cpu", untraced_rates.cpu, "bytes/cpu_s", socketpair.cpu,
                     2.0);
        double traced = stream_traced(stream_path, dir, &expected);
        bench_report("stream_h2g_64k_traced", traced, "bytes/s", untraced, 0.75);
        double hashed = stream_digested(stream_path, &expected, true);
        double unhashed = stream_digested(stream_path, &expected, false);
        bench_report("stream_h2g_64k_hashing", hashed, "bytes/s", unhashed, 0.95);

        integrity();

        double tcp_rate = connections_tcp();
        double connect_ns = 0.0;
        double connection_rate = connections_sim(conn_path, &connect_ns);
        bench_report("connections_per_s", connection_rate, "connections/s", tcp_rate, 0.1);
        bench_report_value("connect_sim_ns", connect_ns, "ns");
    }
    free(data);
    unlink(stream_path);
    unlink(conn_path);
    rmdir(dir);
}
