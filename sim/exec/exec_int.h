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
    /* The world's pipes and control channel (pipe.h; NULL: none), and the index
     * of the program's endpoint (its control channel address, inet.h). */
    struct exec_net *net;
    uint32_t endpoint;
    /* fork and wait (process.c). The program ep:exec started is the root of a family; each
     * fork adds a member with its own channel, descriptor table and vs_context, and the
     * sockets they share are counted in the root's family. Members live on the root's
     * list until their parent has waited for them (or they are orphaned). */
    struct exec_program *root;          /* the family's root; itself for the root */
    struct exec_program *parent;        /* the simulated parent; NULL: root or orphaned */
    struct exec_family *family;         /* root only (process.c); NULL until the first fork */
    struct exec_program *member_next;   /* the root's list, in creation order */
    /* A root on its world's list of programs (net->programs_head, start order). */
    struct exec_program *net_next, *net_prev;
    bool net_listed;
    struct sim_waitq children_waitq;    /* wait() sleeps here until a child ends */
    int channel_pending;                /* a fork's channel end, sent after the reply; -1 */
    int pidfd;                          /* a member's real process (kills); -1 */
    bool member;                        /* made by fork (not by ep:exec) */
    bool zombie;                        /* a member that ended and was not waited for yet */
    int wait_status;                    /* its Linux wait status once ended */
    /* execve (process_exec.c): announced, not yet seen to succeed or fail. */
    bool exec_pending;
    char *exec_path;                    /* owned: the announced binary */
    char exec_hash[17];
    uint8_t exec_cloexec[EXEC_FDS_MAX / 8];
    uint32_t execs;                     /* images after the first */
    /* Threads (thread.c). A thread is a member of the family that shares its process's
     * descriptor table and vSockets context: every call serves descriptors through
     * `leader` (the process: itself for every process, the creating process for a thread),
     * never through a thread's own `context` and `fdmap`, which stay empty. */
    struct exec_program *leader;
    bool thread;                        /* made by pthread_create (not by fork or ep:exec) */
    bool group_exit;                    /* leader: a thread ended the whole process */
    bool first_thread_gone;             /* leader: its first thread left, threads run on */
    struct exec_threads *threads;       /* leader only: NULL until its first thread */
    /* A thread being made: its channel handed over, its real thread not yet reported (owned;
     * its fiber starts once pthread_create reports the real thread runs). */
    struct exec_program *thread_pending;
    /* A futex wait (thread.c): the word waited on, the bitset, whether a wake chose it. */
    uint64_t futex_address;
    uint32_t futex_bitset;
    bool futex_woken;
    struct sim_waitq futex_waitq;
    /* Emulated signals (signal.c): bit N-1 of each set is signal N. */
    struct exec_signal_state {
        uint64_t pending, blocked, ignored, handled;
        uint64_t restart, reset, nodefer;   /* SA_RESTART, SA_RESETHAND, SA_NODEFER */
        uint64_t handler_masks[EXEC_SIGNALS_MAX];
        uint64_t alarm_deadline_ns, alarm_interval_ns;
        sim_event_id alarm_event;
        bool alarm_armed;
        bool waiting;                   /* in one of this layer's interruptible waits */
        bool interrupted;               /* woken from it by a deliverable signal */
        int killed_by;                  /* ended by this signal's default action (0: not) */
        uint64_t wait_set;              /* sigwait's set while it waits (0: not waiting) */
        struct exec_signal_info info[EXEC_SIGNALS_MAX];     /* of each pending signal */
    } signals;
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
/* Closes child descriptor `fd` when it names a pipe, socket pair or control channel
 * socket (as the program's close would; execve's close-on-exec): true, else false. */
bool exec__io_close(struct exec_program *program, int fd);
/* serve.c: a poll request's entries (in the program's buffer) and their count, after the
 * checks both poll paths make (count within EXEC_POLL_ENTRIES_MAX and VS_FDS_MAX, payload
 * exactly that many entries); NULL when they fail (EINVAL). */
struct exec_poll_entry *exec__poll_entries(struct exec_program *program,
                                           const struct exec_request *request,
                                           uint64_t *count);
/* process.c: fork and wait. */
int64_t exec__process_fork(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply);
int64_t exec__process_wait(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply, bool *fatal);
/* After a reply was written: a fork's channel end goes to the program. */
void exec__process_after_reply(struct exec_program *program);
/* A simulated socket descriptor's last reference in this process is closed: the socket
 * is closed when no other process of the family holds it, else only forgotten here. */
int exec__process_close(struct exec_program *program, int vs_fd);
/* Before the process's vs_context is destroyed: sockets other processes of the family
 * still hold are forgotten here (the context then closes only its own). */
void exec__process_release_shared(struct exec_program *program);
/* Whether a forked process of the family still runs. */
bool exec__family_running(const struct exec_program *root);
/* A process ended (its fiber ends next): zombie for its parent, its children orphaned. */
void exec__process_ended(struct exec_program *program);
/* A started program (a root) joins its world's list, and leaves it when destroyed. */
void exec__program_list(struct exec_program *root);
void exec__program_unlist(struct exec_program *root);
/* The process with simulated pid `pid` among the programs of `program`'s endpoint (its own
 * family first, then the other programs in start order); NULL when none runs. */
struct exec_program *exec__endpoint_process(const struct exec_program *program, uint32_t pid);
/* The family's members: power-off (close and kill), CID change, teardown. */
void exec__family_close_all(struct exec_program *root);
void exec__family_set_ctx(struct exec_program *root, uint32_t ctx);
void exec__family_destroy(struct exec_program *root);
/* The family's member with simulated pid `pid`, or NULL (tests and tools). */
struct exec_program *exec__family_member(const struct exec_program *root, uint32_t pid);

/* process_exec.c: execve. */
int64_t exec__process_execve(struct exec_program *program, const struct exec_request *request);
int64_t exec__process_execve_failed(struct exec_program *program);
/* Every HELLO: completes an announced exec, answers the simulated descriptor table. */
int64_t exec__process_hello(struct exec_program *program, struct exec_reply *reply);

/* signal.c: emulated signals (D21). exec__signal_send: one the process raises on itself
 * (SIGPIPE: SI_USER from its own pid); exec__signal_send_info: with what siginfo_t says. */
void exec__signal_send(struct exec_program *program, int signo);
void exec__signal_send_info(struct exec_program *program, int signo,
                            const struct exec_signal_info *info);
/* Pending and not blocked: what a reply offers the shim. */
uint64_t exec__signal_deliverable(const struct exec_program *program);
/* A wait a deliverable signal interrupts: the wake reason, -EINTR, or SIM_EKILLED. */
int exec__signal_wait(struct exec_program *program, struct sim_waitq *queue,
                      uint64_t deadline_ns);
int64_t exec__signal_serve(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply, bool *fatal);
/* Every reply: the deliverable set; EINTR becomes EXEC_ERESTART where Linux restarts. */
void exec__signal_after_call(struct exec_program *program, const struct exec_request *request,
                             struct exec_reply *reply);
void exec__signal_fork(struct exec_program *child, const struct exec_program *parent);
void exec__signal_exec(struct exec_program *program);
void exec__signal_end(struct exec_program *program);
/* The family's members in creation order: the first (after NULL), then the next. */
struct exec_program *exec__family_next(const struct exec_program *root,
                                       const struct exec_program *member);

/* process.c, for threads (thread.c): a member with the parent's configuration (not yet
 * spawned; NULL when out of memory), its place on the family's list (false: out of memory),
 * the fiber body every member runs, and a kill (one that never ran ends here). */
struct exec_program *exec__member_new(struct exec_program *parent, int channel);
bool exec__family_append(struct exec_program *root, struct exec_program *member);
/* Makes the family's list if it has none yet: false when out of memory. */
bool exec__family_ready(struct exec_program *root);
void exec__member_main(struct sim_engine *engine, void *arg);
void exec__member_kill(struct exec_program *member);

/* thread.c: threads of a real program (docs/programs.md "Threads"). */
int64_t exec__thread_serve(struct exec_program *program, const struct exec_request *request,
                           struct exec_reply *reply, bool *fatal);
/* Threads of `program`'s process that have not ended (0 without threads). */
uint32_t exec__thread_count(const struct exec_program *program);
/* The process ends (an exit call from any of its threads, or the leader's end): every other
 * thread of it is killed; from a thread, the leader learns the exit code. */
void exec__thread_group_exit(struct exec_program *program);
/* A thread ended (its fiber ends next): joins waiting for it wake. */
void exec__thread_ended(struct exec_program *thread);
/* After the reply to a leader whose first thread left (pthread_exit in main): its fiber
 * waits until the process ends (a thread's exit_group kills it). Returns false. */
bool exec__thread_leader_park(struct exec_program *leader);
/* After a sigaction: the dispositions are the process's, so every thread gets them. */
void exec__thread_share_actions(struct exec_program *program);

/* program.c */
/* Serves calls until the program ends (true: by itself; false: it must be killed). */
bool exec__serve_loop(struct exec_program *program);
/* The end of a process: output, descriptors, exec_exit, the `ended` callback (root). */
void exec__program_finish(struct exec_program *program);
/* Waits (wall time, bounded) until the channel is readable, draining output: 1 or -1. */
int exec__channel_wait(struct exec_program *program, int64_t deadline_ms, bool *hung);
int64_t exec__wall_ms(void);
/* The output pipes: closed; or first read to their end (bounded), then closed. */
void exec__output_close(struct exec_program *root);
void exec__output_finish(struct exec_program *root);
/* Copies what a process keeps of `start` (program.c's program_copy). */
bool exec__program_copy(struct exec_program *program, const struct exec_start *start);
/* Frees what exec__program_copy allocated, and the program. */
void exec__program_free(struct exec_program *program);
/* Reports a scenario error about the program through the callbacks. */
void exec__failure(struct exec_program *program, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* An api-layer trace event of the program (kind), for serve.c's refusals. */
void exec__trace_refused(struct exec_program *program, const char *what, int64_t value);

#endif /* SIM_EXEC_EXEC_INT_H */
