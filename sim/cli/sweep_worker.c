/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/sweep_worker.c: a worker process of `vmcisim sweep`.
 *
 * A worker is forked once and runs many seeds: for each seed read from its seed pipe it
 * creates a fresh Lua runtime (and so a fresh world, engine and digest), runs the scenario
 * exactly as `vmcisim run PATH --seed N -q` does, destroys everything, and writes one
 * struct sweep_result. Nothing of one seed outlives it, so a seed's digest does not depend
 * on the seeds the worker ran before (tests/sweep_test.sh checks a seed after 100 others
 * against `vmcisim run`); the one thing kept, outside the Lua state, is the record of the
 * walks that number the built-in functions, which the next seeds replay to the same
 * numbers and objects (reuse_walks, sim/lua/sandbox.c), and the code of the chunks the first
 * seed parsed, which the next seeds load to the same objects (reuse_chunks,
 * sim/lua/chunk_cache.c). Saving the exec, the dynamic linking
 * and the process start per seed is what makes a sweep several times faster than one process
 * per seed. A seed's Lua state is freed whole (teardown_wholesale, sim/lua/runtime.c) rather
 * than closed object by object: after the seed nothing of it runs any more.
 * The worker's stdout and stderr go to one unlinked temporary file, emptied before each
 * seed; after the seed it is searched for the scenario's `-- expect-error:` texts and its
 * head is kept in the result, so a failure can be shown.
 *
 * Test-only hook: VMCISIM_SWEEP_ABORT_SEED=N makes a worker abort() when it is handed seed N,
 * so tests/sweep_test.sh can show a worker dying mid-seed (the seed fails, naming the signal,
 * and a new worker takes the next seeds), which no scenario can cause in the sandbox. It is
 * documented in docs/cli.md as test-only.
 */
#define _GNU_SOURCE              /* memmem */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_tally.h"
#include "sim/cli/sweep_int.h"
#include "sim/lua/runtime.h"

static double wall_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* Reads exactly bytes, or returns false (EOF or an error). */
static bool read_exact(int fd, void *buffer, size_t bytes)
{
    size_t done = 0;
    while (done < bytes) {
        ssize_t got = read(fd, (char *)buffer + done, bytes - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        done += (size_t)got;
    }
    return true;
}

static bool write_exact(int fd, const void *buffer, size_t bytes)
{
    size_t done = 0;
    while (done < bytes) {
        ssize_t put = write(fd, (const char *)buffer + done, bytes - done);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return false;
        done += (size_t)put;
    }
    return true;
}

/* Searches the seed's output for the expected texts (a window of the previous chunk's tail
 * and the next chunk, so a text across two chunks is found) and keeps its head. */
static void scan_output(const struct test_scenario *scenario, int output_fd,
                        struct sweep_result *result)
{
    off_t size = lseek(output_fd, 0, SEEK_END);
    result->output_bytes = size > 0 ? (uint64_t)size : 0;
    char window[TEST_EXPECT_ERROR_BYTES_MAX + SWEEP_SCAN_CHUNK_BYTES];
    size_t carry = 0;
    for (uint64_t offset = 0; offset < result->output_bytes;) {
        ssize_t got = pread(output_fd, window + carry, SWEEP_SCAN_CHUNK_BYTES, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (offset < SWEEP_OUTPUT_BYTES_MAX - 1) {
            size_t room = SWEEP_OUTPUT_BYTES_MAX - 1 - (size_t)offset;
            size_t kept = (size_t)got < room ? (size_t)got : room;
            memcpy(result->output + offset, window + carry, kept);
            result->output_kept_bytes = (uint32_t)(offset + kept);
        }
        offset += (uint64_t)got;
        size_t window_bytes = carry + (size_t)got;
        for (uint32_t index = 0; index < scenario->expect_error_count; index++) {
            const char *text = scenario->expect_errors[index];
            if (memmem(window, window_bytes, text, strlen(text)) != NULL)
                result->errors_found |= 1u << index;
        }
        carry = window_bytes < TEST_EXPECT_ERROR_BYTES_MAX ? window_bytes
                                                           : TEST_EXPECT_ERROR_BYTES_MAX;
        memmove(window, window + window_bytes - carry, carry);
    }
    result->output[result->output_kept_bytes] = '\0';
}

/* Runs one seed as `vmcisim run PATH --seed N -q [--until D]` would: same sinks for the
 * digest, so the digest is the one `run --digest` prints. */
static void run_seed(const struct sweep_options *options, uint64_t seed, int output_fd,
                     struct sweep_result *result)
{
    memset(result, 0, sizeof(*result));
    result->seed = seed;
    fflush(stdout);
    fflush(stderr);
    if (ftruncate(output_fd, 0) != 0 || lseek(output_fd, 0, SEEK_SET) != 0)
        fprintf(stderr, "vmcisim sweep: cannot empty the output file: %s\n", strerror(errno));
    double started = wall_seconds();
    struct sim_digest *digest = sim_digest_create();
    struct sim_trace_sink sinks[1 + FAULT_TALLY_SINKS];
    struct fault_tally tally = { .on = false };
    struct simlua_options lua_options = {
        .scenario_path = options->scenario_path, .seed = seed, .until_ns = options->until_ns,
        .quiet = true, .sinks = sinks, .sink_count = 1 + FAULT_TALLY_SINKS,
        .reuse_walks = true, .reuse_chunks = true, .teardown_wholesale = true,
        .paranoid = options->paranoid,
    };
    fault_tally_sinks(&tally, &sinks[1]);
    struct simlua_runtime *runtime = NULL;
    if (digest != NULL) {
        sinks[0] = sim_digest_sink(digest);
        runtime = simlua_create(&lua_options);
    }
    if (runtime == NULL) {
        fprintf(stderr, "vmcisim sweep: out of memory\n");
        result->exit_code = SIMLUA_EXIT_FAIL;
    } else {
        struct simlua_outcome outcome;
        simlua_run(runtime, &outcome);
        result->exit_code = (int32_t)outcome.exit_code;
        result->events_run = outcome.events_run;
        simlua_destroy(runtime);
        sim_digest_hex(digest, result->digest);
    }
    result->faults_on = tally.on;
    memcpy(result->fault_enabled, tally.enabled, sizeof(tally.enabled));
    memcpy(result->fault_reached, tally.reached, sizeof(tally.reached));
    memcpy(result->fault_fired, tally.fired, sizeof(tally.fired));
    memcpy(result->rate_on, tally.rate_on, sizeof(tally.rate_on));
    memcpy(result->rate_arrivals, tally.arrivals, sizeof(tally.arrivals));
    memcpy(result->rate_applied, tally.applied, sizeof(tally.applied));
    sim_digest_destroy(digest);
    fflush(stdout);
    fflush(stderr);
    result->elapsed_ns = (uint64_t)((wall_seconds() - started) * 1e9);
    scan_output(&options->scenario, output_fd, result);
}

_Noreturn void sweep_worker_main(const struct sweep_options *options, int seed_fd,
                                 int result_fd)
{
    assert(options != NULL && seed_fd >= 0 && result_fd >= 0);
    FILE *output = tmpfile();
    int output_fd = output != NULL ? fileno(output) : -1;
    if (output_fd < 0 || dup2(output_fd, STDOUT_FILENO) < 0 ||
        dup2(output_fd, STDERR_FILENO) < 0) {
        fprintf(stderr, "vmcisim sweep: a worker cannot create its output file\n");
        exit(127);
    }
    const char *abort_text = getenv("VMCISIM_SWEEP_ABORT_SEED");
    bool abort_armed = abort_text != NULL && abort_text[0] != '\0';
    uint64_t abort_seed = abort_armed ? strtoull(abort_text, NULL, 10) : 0;
    struct sweep_result *result = malloc(sizeof(*result));
    int status = result != NULL ? 0 : 127;
    uint64_t seed;
    while (result != NULL && read_exact(seed_fd, &seed, sizeof(seed))) {
        if (abort_armed && seed == abort_seed)
            abort();
        run_seed(options, seed, output_fd, result);
        if (!write_exact(result_fd, result, sizeof(*result)))
            break;
    }
    free(result);
    fclose(output);
    exit(status);
}
