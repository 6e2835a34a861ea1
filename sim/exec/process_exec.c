/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/process_exec.c: execve in a real program (docs/programs.md, "fork, exec and
 * wait"). The new image is the same simulated process: same pid, channel, descriptors.
 *
 * The shim announces an execve before making it (EXEC_OP_EXECVE: the binary's absolute
 * path and which simulated descriptors are close-on-exec). The supervisor checks the binary
 * as the sandbox checks the first one (dynamically linked x86-64, or a script whose
 * interpreter is one: a static binary would run without the shim) and hashes it; the shim
 * then makes the real call. When it fails the shim says so (EXEC_OP_EXECVE_FAILED) and
 * nothing changed. When it succeeds the new image's shim starts with a HELLO on the same
 * channel: the supervisor closes the close-on-exec descriptors, traces `exec_start` (as for
 * the first image: its name, the binary, its XXH3-64) and answers every HELLO with the
 * table of simulated descriptors, so the new image knows which numbers are simulated.
 *
 * Invariant: `exec_pending` is set exactly between an accepted EXEC_OP_EXECVE and the
 * HELLO or EXEC_OP_EXECVE_FAILED that ends it.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_int.h"
#include "pipe.h"
#include "sandbox_int.h"

/* Bytes of the close-on-exec bitmap an EXEC_OP_EXECVE carries before the path. */
#define EXEC_CLOEXEC_BITMAP_BYTES (EXEC_FDS_MAX / 8u)

_Static_assert(EXEC_CLOEXEC_BITMAP_BYTES == sizeof(((struct exec_program *)0)->exec_cloexec),
               "the close-on-exec bitmap covers every descriptor number");

int64_t exec__process_execve(struct exec_program *program, const struct exec_request *request)
{
    uint32_t bytes = request->payload_bytes;
    const char *path = (const char *)program->buffer + EXEC_CLOEXEC_BITMAP_BYTES;
    if (bytes <= EXEC_CLOEXEC_BITMAP_BYTES + 1 ||
        bytes - EXEC_CLOEXEC_BITMAP_BYTES > EXEC_SANDBOX_PATH_BYTES_MAX ||
        program->buffer[bytes - 1] != '\0' || path[0] != '/' ||
        strlen(path) != bytes - EXEC_CLOEXEC_BITMAP_BYTES - 1)
        return -EINVAL;
    char interpreter[EXEC_SANDBOX_PATH_BYTES_MAX];
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (access(path, F_OK) != 0)
        return -ENOENT;                 /* not visible at the same path outside the sandbox */
    bool loader_mode = request->args[0] != 0;
    if (exec_sandbox_check_binary(path, interpreter, message) != SIM_OK ||
        (loader_mode && interpreter[0] == '\0')) {
        exec__trace_refused(program, "exec", ENOEXEC);
        return -ENOEXEC;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    if (exec_file_hash(path, program->exec_hash) < 0)
        snprintf(program->exec_hash, sizeof(program->exec_hash), "unreadable");
    free(program->exec_path);
    program->exec_path = copy;
    memcpy(program->exec_cloexec, program->buffer, EXEC_CLOEXEC_BITMAP_BYTES);
    program->exec_pending = true;
    return 0;
}

int64_t exec__process_execve_failed(struct exec_program *program)
{
    program->exec_pending = false;
    return 0;
}

/* The exec happened: close-on-exec descriptors go (through the family: a forked process
 * may still hold their sockets), the new image is traced like the first one. */
static void exec_complete(struct exec_program *program)
{
    for (uint32_t fd = 0; fd < EXEC_FDS_MAX; fd++) {
        if ((program->exec_cloexec[fd / 8] & (1u << (fd % 8))) == 0)
            continue;
        if (exec__io_close(program, (int)fd))
            continue;                   /* a pipe, socket pair or control channel socket */
        int vs_fd = -1;
        if (exec_fdmap_remove(&program->leader->fdmap, (int)fd, &vs_fd) == 1 && vs_fd >= 0)
            (void)exec__process_close(program, vs_fd);
    }
    program->exec_pending = false;
    exec__signal_exec(program);
    struct sim_trace_event event;
    sim_trace_event_init(&event, SIM_LAYER_API, "exec_start",
                         program->callbacks->local_cid(program->owner), program->pid);
    sim_trace_field_str(&event, "name", program->name);
    sim_trace_field_str(&event, "binary", program->exec_path);
    sim_trace_field_str(&event, "hash", program->exec_hash);
    (void)sim_engine_emit(program->engine, &event);
    program->execs++;
}

int64_t exec__process_hello(struct exec_program *program, struct exec_reply *reply)
{
    if (program->exec_pending)
        exec_complete(program);
    /* The simulated descriptors, as (fd, kind) pairs: a new image learns them here. */
    struct exec_hello_entry *entries = (struct exec_hello_entry *)program->buffer;
    uint32_t count = 0;
    for (uint32_t fd = 0; fd < EXEC_FDS_MAX; fd++) {
        const struct exec_description *description =
            exec_fdmap_lookup(&program->leader->fdmap, (int)fd);
        if (description == NULL)
            continue;
        entries[count].fd = (int32_t)fd;
        if (description->io != NULL)    /* pipe ends, socket pairs, control channel sockets */
            entries[count].kind = exec_io_is_socket(description->io) ? EXEC_HELLO_SOCKET
                                                                      : EXEC_HELLO_PIPE;
        else
            entries[count].kind = description->vs_fd >= 0 ? EXEC_HELLO_SOCKET
                                                           : EXEC_HELLO_DEVICE;
        count++;
    }
    reply->payload_bytes = count * (uint32_t)sizeof(*entries);
    return 0;
}
