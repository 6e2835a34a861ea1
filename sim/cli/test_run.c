/* SPDX-License-Identifier: MIT */
/*
 * sim/cli/test_run.c: one run of a scenario as a child process, for `vmcisim test`.
 *
 * The child is this very binary (/proc/self/exe) running `run PATH --seed N -q --digest
 * [--paranoid] [--until D]`, with stdin from /dev/null and stdout and stderr on two non-blocking pipes.
 * Two process conditions, so that anything address- or environment-dependent that reaches
 * a simulation shows as two different outputs:
 *   A: the environment reduced to PATH and the sanitizers' options, argv[0] "vmcisim",
 *      address-space randomisation as the kernel has it;
 *   B: the caller's environment plus a TEST_PAD_BYTES variable, an argv[0] of
 *      TEST_ARGV0_BYTES, and randomisation off (personality ADDR_NO_RANDOMIZE, what
 *      `setarch -R` does) when the kernel permits it (test_run_can_disable_aslr).
 * Output is hashed whole (XXH64) for the comparison of A and B, but only the first
 * TEST_CAPTURE_BYTES_MAX of each stream are kept to show; the last stdout line (the
 * digest) and the expected error texts are followed through the whole stream.
 */
#define _GNU_SOURCE              /* pipe2, memmem */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/cli/test_int.h"

extern char **environ;

double test_wall_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static void disable_aslr(void)
{
    int persona = personality(0xffffffff);
    if (persona != -1)
        personality((unsigned long)persona | ADDR_NO_RANDOMIZE);
}

bool test_run_can_disable_aslr(void)
{
    static int answer = -1;
    if (answer >= 0)
        return answer == 1;
    pid_t pid = fork();
    if (pid == 0) {
        disable_aslr();
        int persona = personality(0xffffffff);
        _exit(persona != -1 && (persona & ADDR_NO_RANDOMIZE) != 0 ? 0 : 1);
    }
    int status = 0;
    answer = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
             WEXITSTATUS(status) == 0;
    return answer == 1;
}

/* The environment of condition A or B, built before fork (nothing allocates after it). */
static char **build_environment(int which)
{
    size_t count = 0;
    while (environ != NULL && environ[count] != NULL)
        count++;
    char **result = calloc(count + 2, sizeof(*result));
    if (result == NULL)
        return NULL;
    size_t used = 0;
    if (which == 1) {
        static char *pad;
        if (pad == NULL && (pad = malloc(TEST_PAD_BYTES + 32)) != NULL) {
            strcpy(pad, "VMCISIM_TEST_PAD=");
            size_t prefix = strlen(pad);
            memset(pad + prefix, 'x', TEST_PAD_BYTES);
            pad[prefix + TEST_PAD_BYTES] = '\0';
        }
        for (size_t index = 0; index < count; index++)
            result[used++] = environ[index];
        if (pad != NULL)
            result[used++] = pad;
        return result;
    }
    static const char *const kept[] = { "PATH=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=",
                                        "LSAN_OPTIONS=" };
    for (size_t index = 0; index < count; index++)
        for (size_t key = 0; key < sizeof(kept) / sizeof(kept[0]); key++)
            if (strncmp(environ[index], kept[key], strlen(kept[key])) == 0)
                result[used++] = environ[index];
    return result;
}

static const char *argv0_of(int which)
{
    static char long_name[TEST_ARGV0_BYTES + 1];
    if (which == 0)
        return "vmcisim";
    if (long_name[0] == '\0') {
        memset(long_name, 'y', TEST_ARGV0_BYTES);
        memcpy(long_name, "vmcisim-", 8);
    }
    return long_name;
}

static void stream_init(struct test_stream *stream, int fd, XXH64_state_t *hash)
{
    memset(stream, 0, sizeof(*stream));
    stream->fd = fd;
    stream->hash = hash;
    XXH64_reset(stream->hash, 0);
}

static void child(int which, const char *program, char **argv, char **envp, int out_fd,
                  int err_fd)
{
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    if (which == 1 && test_run_can_disable_aslr())
        disable_aslr();
    execve(program, argv, envp);
    static const char message[] = "vmcisim test: cannot execute the scenario runner\n";
    ssize_t ignored = write(2, message, sizeof(message) - 1);
    (void)ignored;
    _exit(127);
}

int test_run_start(struct test_run *run, int which, const struct test_scenario *scenario,
                   uint64_t seed, const struct test_options *options, uint64_t timeout_ns,
                   char *error, size_t error_bytes)
{
    assert(run != NULL && scenario != NULL && options != NULL && (which == 0 || which == 1));
    memset(run, 0, sizeof(*run));
    run->out.fd = run->err.fd = -1;
    (void)test_run_can_disable_aslr();          /* probed before the first fork */
    char seed_text[32];
    snprintf(seed_text, sizeof(seed_text), "%" PRIu64, seed);
    const char *until = scenario->until_text[0] != '\0' ? scenario->until_text
                                                        : options->until_text;
    const char *argv[12] = { argv0_of(which), "run", scenario->path, "--seed", seed_text, "-q",
                             "--digest" };
    size_t argc = 7;
    if (options->paranoid)
        argv[argc++] = "--paranoid";
    if (options->allow_exec)
        argv[argc++] = "--allow-exec";
    if (until != NULL) {
        argv[argc++] = "--until";
        argv[argc++] = until;
    }
    assert(argc < sizeof(argv) / sizeof(argv[0]));
    argv[argc] = NULL;
    const char *program = options->exec_override != NULL ? options->exec_override
                                                         : "/proc/self/exe";
    char **envp = build_environment(which);
    XXH64_state_t *hashes[2] = { XXH64_createState(), XXH64_createState() };
    int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
    if (envp == NULL || hashes[0] == NULL || hashes[1] == NULL ||
        pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        snprintf(error, error_bytes, "cannot start a run: %s", strerror(errno));
        for (int index = 0; index < 2; index++) {
            if (out_pipe[index] >= 0)
                close(out_pipe[index]);
            if (hashes[index] != NULL)
                XXH64_freeState(hashes[index]);
        }
        free(envp);
        return -1;
    }
    run->started_seconds = test_wall_seconds();
    run->deadline_seconds = run->started_seconds + (double)timeout_ns * 1e-9;
    pid_t pid = fork();
    if (pid == 0)
        child(which, program, (char **)argv, envp, out_pipe[1], err_pipe[1]);
    int fork_errno = errno;
    free(envp);
    close(out_pipe[1]), close(err_pipe[1]);
    if (pid < 0) {
        snprintf(error, error_bytes, "cannot start a run: fork: %s", strerror(fork_errno));
        close(out_pipe[0]), close(err_pipe[0]);
        XXH64_freeState(hashes[0]), XXH64_freeState(hashes[1]);
        return -1;
    }
    fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
    stream_init(&run->out, out_pipe[0], hashes[0]);
    stream_init(&run->err, err_pipe[0], hashes[1]);
    run->pid = pid;
    run->state = TEST_RUN_RUNNING;
    return 0;
}

/* Looks for the expected texts in carry + chunk, then keeps the window's tail as carry. */
static void match_errors(struct test_run *run, struct test_stream *stream,
                         const struct test_scenario *scenario, const char *chunk, size_t bytes)
{
    if (scenario->expect_error_count == 0)
        return;
    char window[TEST_EXPECT_ERROR_BYTES_MAX + 4096];
    assert(bytes <= 4096);
    memcpy(window, stream->carry, stream->carry_bytes);
    memcpy(window + stream->carry_bytes, chunk, bytes);
    size_t window_bytes = stream->carry_bytes + bytes;
    for (uint32_t index = 0; index < scenario->expect_error_count; index++) {
        const char *text = scenario->expect_errors[index];
        if (!run->error_found[index] && memmem(window, window_bytes, text, strlen(text)))
            run->error_found[index] = true;
    }
    size_t keep = window_bytes < sizeof(stream->carry) - 1 ? window_bytes
                                                           : sizeof(stream->carry) - 1;
    memmove(stream->carry, window + window_bytes - keep, keep);
    stream->carry_bytes = (uint32_t)keep;
}

static void take_chunk(struct test_run *run, struct test_stream *stream,
                       const struct test_scenario *scenario, const char *chunk, size_t bytes)
{
    XXH64_update(stream->hash, chunk, bytes);
    stream->total_bytes += bytes;
    size_t room = TEST_CAPTURE_BYTES_MAX - stream->captured_bytes;
    size_t kept = bytes < room ? bytes : room;
    memcpy(stream->capture + stream->captured_bytes, chunk, kept);
    stream->captured_bytes += (uint32_t)kept;
    for (size_t index = 0; index < bytes; index++) {
        if (chunk[index] == '\n') {
            memcpy(stream->last_line, stream->line, stream->line_bytes);
            stream->last_line[stream->line_bytes] = '\0';
            stream->line_bytes = 0;
        } else if (stream->line_bytes < TEST_LINE_BYTES_MAX - 1) {
            stream->line[stream->line_bytes++] = chunk[index];
        }
    }
    match_errors(run, stream, scenario, chunk, bytes);
}

static void stream_eof(struct test_stream *stream)
{
    close(stream->fd);
    stream->fd = -1;
    stream->hash_value = XXH64_digest(stream->hash);
    if (stream->line_bytes > 0) {            /* an unterminated last line */
        memcpy(stream->last_line, stream->line, stream->line_bytes);
        stream->last_line[stream->line_bytes] = '\0';
        stream->line_bytes = 0;
    }
}

void test_run_read(struct test_run *run, const struct test_scenario *scenario)
{
    assert(run != NULL && scenario != NULL);
    struct test_stream *streams[2] = { &run->out, &run->err };
    char chunk[4096];
    for (int index = 0; index < 2; index++) {
        struct test_stream *stream = streams[index];
        while (stream->fd >= 0) {
            ssize_t got = read(stream->fd, chunk, sizeof(chunk));
            if (got > 0) {
                take_chunk(run, stream, scenario, chunk, (size_t)got);
                continue;
            }
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            stream_eof(stream);
        }
    }
}

void test_run_check_deadline(struct test_run *run, double now_seconds)
{
    if (run->state != TEST_RUN_RUNNING || now_seconds < run->deadline_seconds)
        return;
    if (!run->reaped && !run->timed_out) {
        kill(run->pid, SIGKILL);
        run->timed_out = true;
    } else if (run->reaped) {
        /* Reaped, yet something else still holds its pipes: stop waiting for them. */
        if (run->out.fd >= 0)
            stream_eof(&run->out);
        if (run->err.fd >= 0)
            stream_eof(&run->err);
    }
}

void test_run_settle(struct test_run *run, double now_seconds)
{
    if (run->state == TEST_RUN_RUNNING && run->reaped && run->out.fd < 0 && run->err.fd < 0) {
        run->state = TEST_RUN_DONE;
        run->elapsed_seconds = now_seconds - run->started_seconds;
    }
}

void test_run_release(struct test_run *run)
{
    struct test_stream *streams[2] = { &run->out, &run->err };
    for (int index = 0; index < 2; index++) {
        if (streams[index]->fd >= 0)
            close(streams[index]->fd);
        streams[index]->fd = -1;
        if (streams[index]->hash != NULL)
            XXH64_freeState(streams[index]->hash);
        streams[index]->hash = NULL;
    }
}

const char *test_run_digest(const struct test_run *run)
{
    return strncmp(run->out.last_line, "digest ", 7) == 0 ? run->out.last_line : NULL;
}
