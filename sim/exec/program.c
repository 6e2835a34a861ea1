/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/program.c: one real program as a simulated process (exec.h): its fiber,
 * the child behind it, its output and its end.
 *
 * The fiber's life: wait for the endpoint's kernel (D4), start the child in the
 * sandbox, then serve call after call: read a request (waiting in wall time, bounded
 * by EXEC_CALL_WAIT_MS_MAX), trace the output the child wrote before it, sleep the
 * call cost in simulated time, serve it (serve.c), answer. The channel's end of file
 * means the program ended: its exit status is read with waitpid and its simulated
 * descriptors are closed at that simulated time.
 *
 * Output is read from the child's stdout and stderr pipes whenever the fiber waits,
 * so the child never stalls on a full pipe, but it is traced only at call
 * boundaries: everything the child wrote before a call is in the pipe when the call
 * arrives, so what each exec_output event holds does not depend on wall timing.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "exec_int.h"
#include "sim/exec/sandbox.h"
#include "sim/engine/fiber.h"

static void trace_output(struct exec_program *program);

void exec__failure(struct exec_program *program, const char *format, ...)
{
    char text[SIM_ERROR_MESSAGE_BYTES_MAX];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof(text), format, arguments);
    va_end(arguments);
    program->callbacks->failure(program->owner, text);
}

static void trace_event(struct exec_program *program, struct sim_trace_event *event)
{
    (void)sim_engine_emit(program->engine, event);
}

void exec__trace_refused(struct exec_program *program, const char *what, int64_t value)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "exec_refused",
                         program->callbacks->local_cid(program->owner), program->pid);
    sim_trace_field_str(&event, "what", what);
    sim_trace_field_i64(&event, "value", value);
    trace_event(program, &event);
}

/* ---- Output ------------------------------------------------------------------------------ */

/* Keeps `got` bytes of `stream` until the next call boundary (growing its buffer up to
 * EXEC_OUTPUT_BYTES_MAX; bytes beyond it are counted). */
static void pending_add(struct exec_pending *pending, const char *chunk, size_t got)
{
    if (pending->length + got > pending->capacity && pending->capacity < EXEC_OUTPUT_BYTES_MAX) {
        size_t capacity = pending->capacity == 0 ? 4096 : pending->capacity;
        while (capacity < pending->length + got && capacity < EXEC_OUTPUT_BYTES_MAX)
            capacity *= 2;
        if (capacity > EXEC_OUTPUT_BYTES_MAX)
            capacity = EXEC_OUTPUT_BYTES_MAX;
        char *grown = realloc(pending->bytes, capacity);
        if (grown != NULL) {
            pending->bytes = grown;
            pending->capacity = capacity;
        }
    }
    size_t room = pending->capacity - pending->length;
    size_t keep = got < room ? got : room;
    if (keep > 0)
        memcpy(pending->bytes + pending->length, chunk, keep);
    pending->length += keep;
    pending->dropped += got - keep;
}

/* Reads what the child wrote so far (never waits). Returns false at end of file on both. One
 * poll first: at most call boundaries nothing was written, and a poll of both pipes costs one
 * system call where two empty reads cost two. */
static bool output_drain(struct exec_program *program)
{
    struct pollfd set[2] = { { .fd = program->output_fd[0], .events = POLLIN },
                             { .fd = program->output_fd[1], .events = POLLIN } };
    bool checked = poll(set, 2, 0) >= 0;
    bool open = false;
    for (int stream = 0; stream < 2; stream++) {
        int fd = checked && set[stream].revents == 0 ? -1 : program->output_fd[stream];
        while (fd >= 0) {
            char chunk[4096];
            ssize_t got = read(fd, chunk, sizeof(chunk));
            if (got < 0 && errno == EINTR)
                continue;
            if (got == 0 || (got < 0 && errno != EAGAIN)) {
                close(fd);
                program->output_fd[stream] = fd = -1;
            }
            if (got <= 0)
                break;
            pending_add(&program->pending[stream], chunk, (size_t)got);
        }
        open |= program->output_fd[stream] >= 0;
    }
    return open;
}

/* A call boundary: what each stream wrote since the last one joins the captured output,
 * stdout's bytes first, and goes to the trace as one exec_output event. */
static void trace_output(struct exec_program *program)
{
    /* A forked process writes to its root's pipes (it inherited them): the bytes join the
     * root's output, traced as this process's. */
    struct exec_program *owner = program->root;
    (void)output_drain(owner);
    size_t first = owner->output_length;
    for (int stream = 0; stream < 2; stream++) {
        struct exec_pending *pending = &owner->pending[stream];
        size_t room = EXEC_OUTPUT_BYTES_MAX - owner->output_length;
        size_t keep = pending->length < room ? pending->length : room;
        if (keep > 0)                   /* bytes is NULL until a stream wrote something */
            memcpy(owner->output + owner->output_length, pending->bytes, keep);
        owner->output_length += keep;
        owner->output_dropped += pending->dropped + (pending->length - keep);
        pending->length = 0;
        pending->dropped = 0;
    }
    size_t fresh = owner->output_length - first;
    if (fresh == 0)
        return;
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "exec_output",
                         program->callbacks->local_cid(program->owner), program->pid);
    size_t shown = fresh < EXEC_OUTPUT_EVENT_BYTES_MAX ? fresh : EXEC_OUTPUT_EVENT_BYTES_MAX;
    if (shown > SIM_TRACE_STRING_BYTES_MAX)
        shown = SIM_TRACE_STRING_BYTES_MAX;
    sim_trace_field_u64(&event, "bytes", fresh);
    sim_trace_field_strn(&event, "text", owner->output + first, (uint32_t)shown);
    trace_event(program, &event);
}

/* ---- The channel ------------------------------------------------------------------------- */

int64_t exec__wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);      /* hang detection only (exec.h) */
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits until the channel is readable, draining output meanwhile. Returns 1, or -1 on an
 * error or when `deadline` (wall ms) passed (*hung). */
int exec__channel_wait(struct exec_program *program, int64_t deadline, bool *hung)
{
    for (;;) {
        struct pollfd set[3] = {
            { .fd = program->channel.socket, .events = POLLIN },
            { .fd = program->root->output_fd[0], .events = POLLIN },
            { .fd = program->root->output_fd[1], .events = POLLIN },
        };
        int64_t left = deadline - exec__wall_ms();
        if (left <= 0) {
            *hung = true;
            return -1;
        }
        int ready = poll(set, 3, (int)left);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready > 0 && (set[1].revents || set[2].revents))
            (void)output_drain(program->root);
        if (ready > 0 && set[0].revents != 0)
            return 1;
    }
}

static void output_drain_callback(void *arg)
{
    (void)output_drain(arg);
}

/* ---- The child ----------------------------------------------------------------------------- */

/* stdin: a sealed in-memory file holding the scenario's bytes, or /dev/null. */
static int stdin_open(const struct exec_program *program)
{
    if (program->stdin_bytes == NULL)
        return open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fd = memfd_create("vmcisim-stdin", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < program->stdin_length) {
        ssize_t written = write(fd, program->stdin_bytes + done, program->stdin_length - done);
        if (written <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)written;
    }
    (void)lseek(fd, 0, SEEK_SET);
    return fd;
}

/* The environment the child gets: the scenario's, then the shim's entries (the preload and
 * where its channel is). */
static const char **child_environment(const struct exec_program *program, char *preload,
                                      size_t preload_bytes,
                                      char channel_entries[EXEC_CHANNEL_CHILD_FDS_MAX]
                                                          [EXEC_CHANNEL_ENV_BYTES_MAX])
{
    size_t count = 0;
    while (program->envp[count] != NULL)
        count++;
    const char **envp = calloc(count + 2 + EXEC_CHANNEL_CHILD_FDS_MAX, sizeof(*envp));
    if (envp == NULL)
        return NULL;
    for (size_t index = 0; index < count; index++)
        envp[index] = program->envp[index];
    snprintf(preload, preload_bytes, "LD_PRELOAD=%s", program->shim_path);
    envp[count++] = preload;
    uint32_t entries = exec_channel_child_environment(&program->channel, channel_entries);
    for (uint32_t index = 0; index < entries; index++)
        envp[count++] = channel_entries[index];
    return envp;
}

static void close_pair(int fds[2])
{
    for (int index = 0; index < 2; index++) {
        if (fds[index] >= 0)
            close(fds[index]);
        fds[index] = -1;
    }
}

/* Starts the child in the sandbox. Returns 0, or a SIM_E* code with `message` set. */
static int child_start(struct exec_program *program, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    int out[2] = { -1, -1 }, err[2] = { -1, -1 };
    int rc = exec_channel_create(&program->channel, program->channel_kind, message);
    if (rc != SIM_OK)
        return rc;
    int input = stdin_open(program);
    rc = SIM_ENOMEM;
    const char **envp = NULL;
    char preload[EXEC_SANDBOX_PATH_BYTES_MAX + 16];
    char channel_entries[EXEC_CHANNEL_CHILD_FDS_MAX][EXEC_CHANNEL_ENV_BYTES_MAX];
    snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "cannot make the program's pipes: %s",
             strerror(errno));
    if (input < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        goto done;
    envp = child_environment(program, preload, sizeof(preload), channel_entries);
    if (envp == NULL)
        goto done;
    int keep[EXEC_CHANNEL_CHILD_FDS_MAX];
    uint32_t keep_count = exec_channel_child_fds(&program->channel, keep);
    struct exec_sandbox_config config = {
        .binary_path = program->binary_path, .argv = (const char *const *)program->argv,
        .envp = envp, .scratch_dir = program->scratch_dir, .cwd = program->cwd,
        .shim_path = program->shim_path, .stdin_fd = input, .stdout_fd = out[1],
        .stderr_fd = err[1], .keep_fds = keep, .keep_fd_count = keep_count,
    };
    pid_t pid = -1;
    rc = exec_sandbox_spawn(&config, &pid, message);
    if (rc == SIM_OK) {
        program->child = pid;
        program->output_fd[0] = out[0];
        program->output_fd[1] = err[0];
        out[0] = err[0] = -1;
        for (int stream = 0; stream < 2; stream++)
            (void)fcntl(program->output_fd[stream], F_SETFL, O_NONBLOCK);
    }
done:
    free(envp);
    if (input >= 0)
        close(input);
    close_pair(out);
    close_pair(err);
    exec_channel_started(&program->channel);
    if (rc != SIM_OK)
        exec_channel_close(&program->channel);
    return rc;
}

/* After the channel's end of file: the rest of the output, until both pipes end (the
 * child has exited) or the wall-time bound runs out. */
static void output_finish(struct exec_program *program)
{
    int64_t deadline = exec__wall_ms() + EXEC_CALL_WAIT_MS_MAX;
    while (output_drain(program)) {
        int64_t left = deadline - exec__wall_ms();
        if (left <= 0)
            break;
        struct pollfd set[2] = { { .fd = program->output_fd[0], .events = POLLIN },
                                 { .fd = program->output_fd[1], .events = POLLIN } };
        (void)poll(set, 2, (int)left);
    }
}

void exec__output_close(struct exec_program *root)
{
    for (int stream = 0; stream < 2; stream++) {
        if (root->output_fd[stream] >= 0)
            close(root->output_fd[stream]);
        root->output_fd[stream] = -1;
    }
}

/* The output's end once the last process of the family ended: the rest of it, until both
 * pipes end or the wall-time bound runs out, then the pipes are closed. */
void exec__output_finish(struct exec_program *root)
{
    output_finish(root);
    exec__output_close(root);
}

/* Reaps the child (after a kill or its end of file); sets status and exit code. */
static void child_reap(struct exec_program *program, bool killed)
{
    if (program->child <= 0)
        return;
    exec_channel_close(&program->channel);
    bool family_running = exec__family_running(program);
    if (killed)
        (void)kill(program->child, SIGKILL);
    else if (!family_running)
        output_finish(program);
    else
        (void)output_drain(program);    /* forked processes still write to the pipes */
    int status = 0;
    pid_t rc;
    do
        rc = waitpid(program->child, &status, 0);
    while (rc < 0 && errno == EINTR);
    program->child = -1;
    if (!family_running)
        exec__output_close(program);
    if (killed) {
        program->status = "killed";
        program->exit_code = -1;
    } else if (program->signals.killed_by != 0) {
        program->status = "signalled";  /* an emulated signal's default action (D21) */
        program->exit_code = 128 + program->signals.killed_by;
    } else if (rc > 0 && WIFEXITED(status)) {
        program->status = "exited";
        /* The code of the exit call when there was one: the simulated fact. A program
         * that called exit and then kept running (hostile) ends with 125 when its next
         * call finds the channel closed; that is no reason to stop the simulator. */
        program->exit_code = program->exit_called ? program->exit_code_called
                                                  : WEXITSTATUS(status);
    } else {
        program->status = "signalled";
        program->exit_code = rc > 0 && WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
    }
}

/* ---- The simulated process ---------------------------------------------------------------- */

static void trace_start(struct exec_program *program, const char *hash)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "exec_start",
                         program->callbacks->local_cid(program->owner), program->pid);
    sim_trace_field_str(&event, "name", program->name);
    sim_trace_field_str(&event, "binary", program->argv[0]);
    sim_trace_field_str(&event, "hash", hash);
    trace_event(program, &event);
}

static void trace_end(struct exec_program *program)
{
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, program->thread ? "exec_thread_exit" : "exec_exit",
                         program->callbacks->local_cid(program->owner), program->pid);
    sim_trace_field_str(&event, "status", program->status);
    sim_trace_field_i64(&event, "code", program->exit_code);
    sim_trace_field_u64(&event, "calls", program->calls);
    sim_trace_field_u64(&event, "output_dropped", program->output_dropped);
    trace_event(program, &event);
}

/* Serves calls until the program ends. Returns true when it ended by itself (end of
 * file), false when it must be killed (killed, hung, a protocol error). */
bool exec__serve_loop(struct exec_program *program)
{
    struct exec_request request;
    struct exec_reply reply;
    struct exec_channel_watch watch = {
        .fds = program->root->output_fd,          /* the family shares its output */
        .drain = output_drain_callback, .arg = program->root,
    };
    for (;;) {
        bool hung = false;
        int rc = exec_channel_request_read(&program->channel, &request, program->buffer,
                                           &watch, &hung);
        if (rc == 0)
            return true;
        if (rc < 0) {
            exec__failure(program, hung ? "program %s made no call for %d ms of wall time "
                          "(a loop without calls, or a hang outside the shim): killed"
                          : "program %s broke the call protocol: killed", program->name,
                          EXEC_CALL_WAIT_MS_MAX);
            return false;
        }
        trace_output(program);
        program->calls++;
        if (program->call_cost_ns > 0 &&
            sim_fiber_sleep(program->engine, program->call_cost_ns) == SIM_EKILLED)
            return false;
        if (!exec__serve(program, &request, &reply))
            return false;
        if (!exec_channel_reply_write(&program->channel, &reply, program->buffer))
            return true;                    /* it is gone: its end of file says how */
        if (request.op == EXEC_OP_EXECVE)  /* the new image finds no shared page: both */
            exec_channel_demote(&program->channel);     /* sides go on over the socket */
        exec__process_after_reply(program);
        if (program->exit_called)
            return true;                    /* it ends now: nothing follows its exit */
        if (program->first_thread_gone)     /* its real thread is gone: no more calls */
            return exec__thread_leader_park(program);
    }
}

void exec__program_finish(struct exec_program *program)
{
    trace_output(program);
    exec__signal_end(program);
    if (program->thread) {              /* the descriptors are its process's: they stay */
        trace_end(program);
        program->ended = true;
        program->process = NULL;
        exec__process_ended(program);   /* last: the thread is freed here */
        return;
    }
    exec__thread_group_exit(program);               /* the process's threads end with it */
    exec__io_release_all(program, false);           /* pipes: the peers see it now */
    exec__process_release_shared(program);
    if (program->context_live) {
        vs_context_destroy(&program->context);      /* its sockets close now, in order */
        program->context_live = false;
    }
    exec_fdmap_init(&program->fdmap);
    trace_end(program);
    program->ended = true;
    program->process = NULL;
    if (!program->member)
        program->callbacks->ended(program->owner);
    exec__process_ended(program);       /* last: a member may be freed here */
}

static void program_main(struct sim_engine *engine, void *arg)
{
    struct exec_program *program = arg;
    assert(program->engine == engine);
    program->started = true;
    bool killed = false;
    struct vsock_stack *stack = program->callbacks->stack_wait(program->owner, &killed);
    if (killed) {
        program->status = "killed";
        exec__program_finish(program);
        return;
    }
    vs_context_init(&program->context, engine, stack, &program->credentials);
    program->context_live = true;
    program->context.credentials.pid = program->pid;
    char hash[17] = "";
    if (exec_file_hash(program->binary_path, hash) < 0)
        snprintf(hash, sizeof(hash), "unreadable");
    trace_start(program, hash);
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (child_start(program, message) != SIM_OK) {
        exec__failure(program, "program %s could not start: %s", program->name, message);
        program->status = "failed";
        exec__program_finish(program);
        return;
    }
    bool by_itself = exec__serve_loop(program);
    /* A thread's exit call ended the whole process: the child exits by itself. */
    child_reap(program, !by_itself && !program->group_exit);
    exec__program_finish(program);
}

/* ---- Start, kill, destroy ------------------------------------------------------------------- */

static char **strings_copy(const char *const *source)
{
    size_t count = 0;
    while (source[count] != NULL)
        count++;
    char **copy = calloc(count + 1, sizeof(*copy));
    for (size_t index = 0; copy != NULL && index < count; index++) {
        copy[index] = strdup(source[index]);
        if (copy[index] == NULL) {
            while (index > 0)
                free(copy[--index]);
            free(copy);
            return NULL;
        }
    }
    return copy;
}

static void strings_free(char **strings)
{
    for (size_t index = 0; strings != NULL && strings[index] != NULL; index++)
        free(strings[index]);
    free(strings);
}

static char *optional_copy(const char *text, bool *failed)
{
    if (text == NULL)
        return NULL;
    char *copy = strdup(text);
    *failed |= copy == NULL;
    return copy;
}

/* Copies what the program keeps of `start`. Returns false when out of memory. */
bool exec__program_copy(struct exec_program *program, const struct exec_start *start)
{
    bool failed = false;
    program->binary_path = optional_copy(start->binary_path, &failed);
    program->cwd = optional_copy(start->cwd, &failed);
    program->scratch_dir = optional_copy(start->scratch_dir, &failed);
    program->shim_path = optional_copy(start->shim_path, &failed);
    program->name = optional_copy(start->name, &failed);
    program->nodename = optional_copy(start->nodename, &failed);
    program->argv = strings_copy(start->argv);
    program->envp = strings_copy(start->envp);
    if (start->stdin_bytes != NULL) {
        program->stdin_bytes = malloc(start->stdin_length + 1);
        failed |= program->stdin_bytes == NULL;
        if (program->stdin_bytes != NULL)
            memcpy(program->stdin_bytes, start->stdin_bytes, start->stdin_length);
        program->stdin_length = start->stdin_length;
    }
    program->buffer = malloc(EXEC_PAYLOAD_BYTES_MAX + EXEC_ADDRESS_BYTES);
    program->output = malloc(EXEC_OUTPUT_BYTES_MAX);
    return !failed && program->argv != NULL && program->envp != NULL &&
           program->buffer != NULL && program->output != NULL && program->binary_path != NULL &&
           program->name != NULL && program->nodename != NULL && program->shim_path != NULL &&
           program->scratch_dir != NULL;
}

int exec_program_start(struct sim_engine *engine, const struct exec_start *start,
                       const struct exec_callbacks *callbacks, void *owner,
                       struct exec_program **out, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(engine != NULL && start != NULL && callbacks != NULL && out != NULL);
    assert(start->argv != NULL && start->argv[0] != NULL && start->envp != NULL);
    struct exec_program *program = calloc(1, sizeof(*program));
    if (program == NULL || !exec__program_copy(program, start)) {
        exec_program_destroy(program);
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "out of memory starting a program");
        return SIM_ENOMEM;
    }
    program->engine = engine;
    program->callbacks = callbacks;
    program->owner = owner;
    program->domain = start->domain;
    program->parent_pid = start->parent_pid;
    program->call_cost_ns = start->call_cost_ns;
    program->credentials = start->credentials;
    program->net = start->net;
    program->endpoint = start->endpoint;
    program->child = -1;
    program->output_fd[0] = program->output_fd[1] = -1;
    exec_channel_init(&program->channel);
    program->channel_kind = start->channel_kind;
    program->status = "running";
    program->exit_code = -1;
    program->root = program;
    program->leader = program;
    sim_waitq_init(&program->futex_waitq, "futex");
    program->channel_pending = program->pidfd = -1;
    sim_waitq_init(&program->children_waitq, "wait");
    exec_fdmap_init(&program->fdmap);
    int rc = sim_fiber_spawn_in(engine, start->domain, start->ctx, start->name, program_main,
                                program, 0, start->daemon, &program->process);
    if (rc < 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "%s", sim_engine_error_message(engine));
        exec_program_destroy(program);
        return rc;
    }
    program->pid = program->process->pid;
    exec__program_list(program);
    char stream[32];
    snprintf(stream, sizeof(stream), "exec:%u", program->pid);
    sim_rng_init_stream(&program->rng, sim_engine_seed(engine), stream);
    *out = program;
    return SIM_OK;
}

void exec_program_kill(struct exec_program *program)
{
    assert(program != NULL);
    if (program->ended || program->process == NULL)
        return;
    struct sim_process *process = program->process;
    sim_process_kill(process);
    if (!program->started) {        /* the fiber ends without running: end it here */
        program->status = "killed";
        program->process = NULL;
        exec__program_finish(program);
    }
}

void exec_program_close_all(struct exec_program *program)
{
    assert(program != NULL);
    exec__family_close_all(program);
    exec__io_release_all(program, false);
    if (program->context_live) {
        vs_context_destroy(&program->context);
        program->context_live = false;
    }
    /* The stack goes away with the power-off: a call still returning in the program's
     * fiber (it is killed next) must not look at it, not even for its trace event's CID. */
    program->context.stack = NULL;
    exec_fdmap_init(&program->fdmap);
}

void exec_program_destroy(struct exec_program *program)
{
    if (program == NULL)
        return;
    exec__program_unlist(program);
    exec__family_destroy(program);
    child_reap(program, true);
    exec__io_release_all(program, true);            /* teardown: memory only */
    if (program->context_live) {
        /* Teardown of a world whose run is over: the stack frees these sockets with its
         * memory (nothing may be emitted or scheduled now), so the context only forgets
         * them and leaves the C API's registry. */
        for (uint32_t index = 0; index < VS_FDS_MAX; index++)
            program->context.fds[index].sock = NULL;
        program->context.fd_count = 0;
        vs_context_destroy(&program->context);
    }
    exec__program_free(program);
}

void exec__program_free(struct exec_program *program)
{
    if (program->thread_pending != NULL) {      /* teardown while a thread was being made */
        exec_channel_close(&program->thread_pending->channel);
        exec__program_free(program->thread_pending);
    }
    free(program->threads);
    free(program->exec_path);
    free(program->binary_path);
    free(program->cwd);
    free(program->scratch_dir);
    free(program->shim_path);
    free(program->name);
    free(program->nodename);
    strings_free(program->argv);
    strings_free(program->envp);
    free(program->stdin_bytes);
    free(program->buffer);
    free(program->output);
    free(program->pending[0].bytes);
    free(program->pending[1].bytes);
    free(program);
}

struct sim_process *exec_program_process(const struct exec_program *program)
{
    return program->process;
}

uint32_t exec_program_pid(const struct exec_program *program) { return program->pid; }
bool exec_program_ended(const struct exec_program *program) { return program->ended; }
const char *exec_program_status(const struct exec_program *program) { return program->status; }
int exec_program_exit_code(const struct exec_program *program) { return program->exit_code; }
uint64_t exec_program_calls(const struct exec_program *program) { return program->calls; }

const char *exec_program_output(const struct exec_program *program, size_t *length)
{
    *length = program->output_length;
    return program->output;
}

int exec_file_hash(const char *path, char hex[17])
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return SIM_EINVAL;
    XXH3_state_t *state = XXH3_createState();
    if (state == NULL) {
        fclose(file);
        return SIM_ENOMEM;
    }
    XXH3_64bits_reset(state);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0)
        XXH3_64bits_update(state, chunk, got);
    bool failed = ferror(file) != 0;
    fclose(file);
    snprintf(hex, 17, "%016llx", (unsigned long long)XXH3_64bits_digest(state));
    XXH3_freeState(state);
    return failed ? SIM_EINVAL : SIM_OK;
}
