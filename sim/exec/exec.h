/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/exec.h: real programs as simulated processes (docs/programs.md).
 *
 * A program is a real Linux process started in the sandbox (sandbox.h) with the shim
 * preloaded (shim/). Its simulated side is a fiber process of its endpoint: the fiber
 * reads the program's next call from the channel (protocol.h), charges the call cost
 * in simulated time, serves the call on the endpoint's vSockets stack through the C API
 * (vsock/vmci_sockets.h: the same core, errno values and trace events as every other
 * simulated process), blocks in simulated time when the call blocks, and answers. The
 * program waits for each answer, so exactly one simulated process runs at a time and
 * what a program sees is a function of the scenario and the seed.
 *
 * Wall time: the fiber waits for the child's next call without bound in simulated time
 * but at most EXEC_CALL_WAIT_MS_MAX of wall time; a child that takes longer (a loop
 * without calls, a hang outside the shim) is killed and reported as a failure. That
 * bound never changes what the simulation does for a program that keeps calling.
 *
 * Ownership: exec_program_start returns a program the caller owns; it lives until
 * exec_program_destroy, which kills a child still running. The fiber ends when the
 * program ends (exit, death, kill); the `ended` callback runs then, in the fiber.
 */
#ifndef SIM_EXEC_EXEC_H
#define SIM_EXEC_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "sim/engine/engine.h"
#include "sim/engine/error.h"
#include "sim/engine/process.h"
#include "vsock/core.h"

/* The simulated time one call of a program costs before it is served: it stands for
 * the program's computing between two calls (docs/programs.md, "Time"). */
#define EXEC_CALL_COST_NS_DEFAULT 1000u
/* Wall time the supervisor waits for a program's next call before it is called hung. */
#define EXEC_CALL_WAIT_MS_MAX 60000
/* Output (stdout and stderr together) kept per program; beyond it bytes are counted. */
#define EXEC_OUTPUT_BYTES_MAX (1u << 20)
/* Output bytes one exec_output trace event carries (the rest are counted in it). */
#define EXEC_OUTPUT_EVENT_BYTES_MAX 4096u
/* Realtime clock of every program at simulated time 0: 2024-01-01T00:00:00Z. */
#define EXEC_REALTIME_EPOCH_NS 1704067200000000000ull

struct exec_program;

/* What the caller (sim/lua) does for a program; every callback runs in its fiber. */
struct exec_callbacks {
    /* Before the child starts: waits (sim_fiber_wait) until the endpoint's kernel is
     * ready (D4). Returns its vSockets stack (NULL: none, sockets fail EAFNOSUPPORT),
     * and sets *killed when the process was killed meanwhile. */
    struct vsock_stack *(*stack_wait)(void *owner, bool *killed);
    /* The endpoint's current CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID). */
    uint32_t (*local_cid)(void *owner);
    /* A scenario error about the program (spawn failed, hung, deadlocked). */
    void (*failure)(void *owner, const char *text);
    /* The program ended; exec_program_exit_code/status are final. */
    void (*ended)(void *owner);
};

struct exec_start {
    const char *binary_path;            /* absolute, resolved as execvp does */
    const char *const *argv;            /* NULL-terminated */
    const char *const *envp;            /* NULL-terminated, LD_PRELOAD added by exec */
    const char *cwd;                    /* NULL: the scratch directory */
    const char *scratch_dir;
    const char *shim_path;
    const char *stdin_bytes;            /* NULL: /dev/null */
    size_t stdin_length;
    const char *name;                   /* the simulated process's name */
    uint32_t domain;                    /* the endpoint's engine domain */
    uint32_t ctx;                       /* its CID when started (traces) */
    uint32_t parent_pid;                /* what getppid() answers */
    bool daemon;
    uint64_t call_cost_ns;
    struct vsock_credentials credentials;
    const char *nodename;               /* uname: the endpoint's name */
    enum exec_channel_kind channel_kind;    /* how its calls cross (channel.h) */
    /* The world's pipes and control channel (sim/exec/pipe.h; NULL: programs get
     * no pipes or AF_INET sockets) and the endpoint's index in the world (its address). */
    struct exec_net *net;
    uint32_t endpoint;
};

/* Starts the program's simulated process (the child itself starts when that process
 * first runs). Returns 0, or SIM_E* with `message` set. */
int exec_program_start(struct sim_engine *engine, const struct exec_start *start,
                       const struct exec_callbacks *callbacks, void *owner,
                       struct exec_program **out, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);
/* Kills the child if it still runs, frees everything. The fiber must have ended, or the
 * engine be about to be destroyed (then the program's sockets are left to the stack's own
 * teardown: nothing is emitted). */
void exec_program_destroy(struct exec_program *program);

/* The engine process while the program lives (NULL once ended). */
struct sim_process *exec_program_process(const struct exec_program *program);
uint32_t exec_program_pid(const struct exec_program *program);
bool exec_program_ended(const struct exec_program *program);
/* "running", "exited", "signalled", "killed", "failed" (could not start, or hung). */
const char *exec_program_status(const struct exec_program *program);
/* The exit code (128 + N when signal N ended it); -1 while running or when killed. */
int exec_program_exit_code(const struct exec_program *program);
/* Its stdout and stderr as captured, interleaved at call boundaries. */
const char *exec_program_output(const struct exec_program *program, size_t *length);
/* Kill: the simulated process is killed (its blocked call ends), then the child. A
 * program that never started ends at once (`ended` runs from here). */
void exec_program_kill(struct exec_program *program);
/* Closes every simulated descriptor now (power-off: before the stack goes away). */
void exec_program_close_all(struct exec_program *program);
/* Calls served so far. */
uint64_t exec_program_calls(const struct exec_program *program);

/* XXH3-64 of the file's bytes, as 16 hex digits. Returns 0 or SIM_EINVAL (unreadable). */
int exec_file_hash(const char *path, char hex[17]);

#endif /* SIM_EXEC_EXEC_H */
