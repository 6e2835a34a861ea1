/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/test_judge.c: whether a case of `vmcisim test` passed, and if not, why and the
 * one command that reproduces it.
 *
 * A run passes when it ended by itself within its wall time, with the expected exit status,
 * and its output contains every expected error text. A case passes when run A passes and,
 * unless --once, run B (other process conditions) printed the same stdout and stderr and
 * ended with the same status: a difference means something outside the seed reached the
 * simulation.
 */
#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "sim/cli/cli.h"
#include "sim/cli/test_int.h"

/* Appends a stream's captured head, each line prefixed, within the room left. */
static void append_capture(char *detail, size_t detail_bytes, const char *name,
                           const struct test_stream *stream, size_t limit_bytes)
{
    if (stream->total_bytes == 0)
        return;
    size_t used = strlen(detail);
    size_t shown = stream->captured_bytes < limit_bytes ? stream->captured_bytes : limit_bytes;
    int written = snprintf(detail + used, detail_bytes - used, "%s:\n", name);
    if (written < 0 || (size_t)written >= detail_bytes - used)
        return;
    used += (size_t)written;
    for (size_t index = 0; index < shown && used + 8 < detail_bytes; index++) {
        if (index == 0 || stream->capture[index - 1] == '\n') {
            memcpy(detail + used, "  | ", 4);
            used += 4;
        }
        detail[used++] = stream->capture[index];
    }
    if (shown > 0 && detail[used - 1] != '\n' && used + 1 < detail_bytes)
        detail[used++] = '\n';
    detail[used] = '\0';
    if (stream->total_bytes > shown)
        snprintf(detail + used, detail_bytes - used, "  (%" PRIu64 " more bytes not shown)\n",
                 stream->total_bytes - shown);
}

static void run_detail(const struct test_run *run, char *detail, size_t detail_bytes)
{
    detail[0] = '\0';
    append_capture(detail, detail_bytes, "stderr", &run->err, detail_bytes / 2);
    append_capture(detail, detail_bytes, "stdout", &run->out, detail_bytes / 4);
}

/* Returns true when the run passed; else writes why into reason. */
static bool judge_run(const struct test_run *run, const struct test_scenario *scenario,
                      const struct test_options *options, const char *label, char *reason,
                      size_t reason_bytes)
{
    assert(run->state == TEST_RUN_DONE);
    uint64_t timeout_ns = scenario->timeout_ns != 0 ? scenario->timeout_ns : options->timeout_ns;
    if (run->timed_out) {
        snprintf(reason, reason_bytes, "%stimed out after %.3g s of wall time (killed)", label,
                 (double)timeout_ns * 1e-9);
        return false;
    }
    if (WIFSIGNALED(run->wait_status)) {
        int signal_number = WTERMSIG(run->wait_status);
        snprintf(reason, reason_bytes, "%skilled by signal %d (%s)", label, signal_number,
                 strsignal(signal_number));
        return false;
    }
    int status = WIFEXITED(run->wait_status) ? WEXITSTATUS(run->wait_status) : -1;
    if (status != scenario->expected_exit) {
        snprintf(reason, reason_bytes, "%sexit %d, expected %d", label, status,
                 scenario->expected_exit);
        return false;
    }
    for (uint32_t index = 0; index < scenario->expect_error_count; index++) {
        if (!run->error_found[index]) {
            snprintf(reason, reason_bytes, "%sthe expected error text '%s' is not in the output",
                     label, scenario->expect_errors[index]);
            return false;
        }
    }
    return true;
}

static bool judge_same(const struct test_run *a, const struct test_run *b, char *reason,
                       size_t reason_bytes, char *detail, size_t detail_bytes)
{
    const char *digest_a = test_run_digest(a), *digest_b = test_run_digest(b);
    bool same_out = a->out.hash_value == b->out.hash_value &&
                    a->out.total_bytes == b->out.total_bytes;
    bool same_err = a->err.hash_value == b->err.hash_value &&
                    a->err.total_bytes == b->err.total_bytes;
    if (same_out && same_err && a->wait_status == b->wait_status)
        return true;
    snprintf(reason, reason_bytes, "not reproducible: run B (other process conditions) "
             "differs from run A in %s%s%s", same_out ? "" : "stdout",
             !same_out && !same_err ? " and " : "", same_err ? "" : "stderr");
    if (same_out && same_err)
        snprintf(reason, reason_bytes, "not reproducible: run B (other process conditions) "
                 "ended with another status than run A");
    snprintf(detail, detail_bytes, "run A: %s, %" PRIu64 " + %" PRIu64 " bytes of output\n"
             "run B: %s, %" PRIu64 " + %" PRIu64 " bytes of output\n",
             digest_a != NULL ? digest_a : "no digest line", a->out.total_bytes,
             a->err.total_bytes, digest_b != NULL ? digest_b : "no digest line",
             b->out.total_bytes, b->err.total_bytes);
    return false;
}

static void reproduction(const struct test_case *test_case, const struct test_scenario *scenario,
                         const struct test_options *options, bool unstable, char *reproduce,
                         size_t reproduce_bytes)
{
    if (unstable) {
        char program[TEST_PATH_BYTES_MAX + 64], path[2 * TEST_PATH_BYTES_MAX + 64];
        test_shell_quote(options->program, program, sizeof(program));
        test_shell_quote(scenario->path, path, sizeof(path));
        snprintf(reproduce, reproduce_bytes, "%s test %s --seeds %" PRIu64, program, path,
                 test_case->seed);
        return;
    }
    const char *until = scenario->until_text[0] != '\0' ? scenario->until_text
                                                        : options->until_text;
    test_reproduce_command(options->program, scenario->path, test_case->seed, until,
                           options->paranoid, reproduce, reproduce_bytes);
    cli_payload_reproduce(reproduce, reproduce_bytes, options->payload_text);
}

void test_reproduce_command(const char *program, const char *path, uint64_t seed,
                            const char *until, bool paranoid, char *reproduce,
                            size_t reproduce_bytes)
{
    assert(program != NULL && path != NULL && reproduce != NULL);
    char program_quoted[TEST_PATH_BYTES_MAX + 64], path_quoted[2 * TEST_PATH_BYTES_MAX + 64];
    test_shell_quote(program, program_quoted, sizeof(program_quoted));
    test_shell_quote(path, path_quoted, sizeof(path_quoted));
    const char *slash = strrchr(path, '/');
    char stem[128];
    snprintf(stem, sizeof(stem), "%.100s", slash != NULL ? slash + 1 : path);
    char *dot = strrchr(stem, '.');
    if (dot != NULL)
        *dot = '\0';
    char trace[256], trace_quoted[600];
    snprintf(trace, sizeof(trace), "fail-%s-%" PRIu64 ".db", stem, seed);
    test_shell_quote(trace, trace_quoted, sizeof(trace_quoted));
    snprintf(reproduce, reproduce_bytes, "%s run %s --seed %" PRIu64 "%s%s%s --trace %s",
             program_quoted, path_quoted, seed, until != NULL ? " --until " : "",
             until != NULL ? until : "", paranoid ? " --paranoid" : "", trace_quoted);
}

bool test_judge(const struct test_case *test_case, const struct test_scenario *scenario,
                const struct test_options *options, char *reason, size_t reason_bytes,
                char *detail, size_t detail_bytes, char *reproduce, size_t reproduce_bytes)
{
    assert(test_case != NULL && scenario != NULL && options != NULL);
    detail[0] = '\0';
    reason[0] = '\0';
    reproduction(test_case, scenario, options, false, reproduce, reproduce_bytes);
    if (scenario->header_error[0] != '\0') {
        snprintf(reason, reason_bytes, "%s", scenario->header_error);
        return false;
    }
    const struct test_run *a = test_case->runs[0];
    if (!judge_run(a, scenario, options, "", reason, reason_bytes)) {
        run_detail(a, detail, detail_bytes);
        return false;
    }
    if (!test_case->needs_b)
        return true;
    const struct test_run *b = test_case->runs[1];
    if (!judge_run(b, scenario, options, "run B (other process conditions): ", reason,
                   reason_bytes)) {
        run_detail(b, detail, detail_bytes);
        reproduction(test_case, scenario, options, true, reproduce, reproduce_bytes);
        return false;
    }
    if (!judge_same(a, b, reason, reason_bytes, detail, detail_bytes)) {
        reproduction(test_case, scenario, options, true, reproduce, reproduce_bytes);
        return false;
    }
    return true;
}
