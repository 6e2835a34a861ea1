/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/exec_int.h: the state of one program, shared by the files of sim/exec.
 *
 * Invariants: `child` > 0 exactly while a real child exists that has not been
 * reaped; `process` is non-NULL exactly while the fiber lives; one request is
 * served at a time, its payload in `buffer`.
 */
#ifndef SIM_EXEC_EXEC_INT_H
#define SIM_EXEC_EXEC_INT_H

#include <sys/types.h>

#include "channel.h"
#include "exec.h"
#include "fdmap.h"
#include "protocol.h"
#include "sim/engine/rng.h"
#include "vsock/vmci_sockets.h"

struct exec_program {
    struct sim_engine *engine;          /* borrowed */
    const struct exec_callbacks *callbacks;
    void *owner;
    /* The start configuration, copied (every string owned by `strings`). */
    char *binary_path, *cwd, *scratch_dir, *shim_path, *name, *nodename;
    char **argv, **envp;
    char *stdin_bytes;
    size_t stdin_length;
    uint32_t domain, parent_pid;
    uint64_t call_cost_ns;
    struct vsock_credentials credentials;
    /* The simulated process. */
    struct sim_process *process;        /* borrowed; NULL once the fiber ended */
    uint32_t pid;
    bool started;                       /* the fiber ran (the child was started) */
    bool ended;
    struct vs_context context;
    bool context_live;
    struct exec_fdmap fdmap;
    struct sim_rng rng;                 /* getrandom: the stream "exec:<pid>" */
    /* The child. */
    pid_t child;
    enum exec_channel_kind channel_kind;
    struct exec_channel channel;        /* socket -1 when closed */
    int output_fd[2];                   /* stdout, stderr pipes (ours: read ends) */
    uint8_t *buffer;                    /* EXEC_PAYLOAD_BYTES_MAX + EXEC_ADDRESS_BYTES */
    /* What each stream wrote since the last call boundary, in the order it wrote it
     * (pending[0] stdout, [1] stderr; EXEC_OUTPUT_BYTES_MAX each at most). Pipes are read
     * whenever the fiber waits, but bytes join `output` only at a boundary, stdout's
     * first, so the captured text never depends on when the reads happened. */
    struct exec_pending {
        char *bytes;
        size_t length, capacity;
        uint64_t dropped;
    } pending[2];
    char *output;                       /* captured, EXEC_OUTPUT_BYTES_MAX at most */
    size_t output_length;
    uint64_t output_dropped;
    /* The end. */
    const char *status;
    int exit_code;
    /* The program reported its exit as a call (EXEC_OP_EXIT: exit, _exit, exit_group or
     * main's return, seen by the shim's trap): the code is that call's, a simulated fact,
     * not what waitpid infers after the channel closes. */
    bool exit_called;
    int exit_code_called;
    uint64_t calls;
    /* execio: the world's pipes and control channel (pipe.h; NULL: none), and the index
     * of the program's endpoint (its control channel address, inet.h). */
    struct exec_net *net;
    uint32_t endpoint;
};

/* serve.c: one request, answered into reply (+ payload in program->buffer). Returns
 * false when the program must end now (killed, or a fatal refusal reported). */
bool exec__serve(struct exec_program *program, const struct exec_request *request,
                 struct exec_reply *reply);
/* Validates a request header read from a child: magic, op, payload bound. */
bool exec__request_valid(const struct exec_request *request);

/* pipe_serve.c: serves `request` when it concerns a pipe, a socket pair or a control
 * channel socket (or is one of their ops); returns false to leave it to exec__serve. */
bool exec__io_serve(struct exec_program *program, const struct exec_request *request,
                    struct exec_reply *reply, int64_t *result, bool *fatal);
/* Releases every in-world object the program's descriptions hold (its end). `quiet`:
 * at world teardown, memory only. */
void exec__io_release_all(struct exec_program *program, bool quiet);

/* program.c */
/* Reports a scenario error about the program through the callbacks. */
void exec__failure(struct exec_program *program, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* An api-layer trace event of the program (kind), for serve.c's refusals. */
void exec__trace_refused(struct exec_program *program, const char *what, int64_t value);

#endif /* SIM_EXEC_EXEC_INT_H */
