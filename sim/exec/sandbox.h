/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/sandbox.h: the sandbox a real program runs in (docs/programs.md, "The sandbox").
 *
 * A program started by a scenario's `exec` runs under bubblewrap (bwrap) in new user, mount,
 * network, IPC and UTS namespaces (no PID namespace), with no capabilities, no_new_privs,
 * no address randomisation, a read-only view of the system directories the binary and its
 * libraries need, its endpoint's scratch directory read-write, a fresh minimal /dev without
 * any vsock device, and a seccomp filter (built with libseccomp) that lets socket/socketpair
 * create only AF_UNIX sockets in the kernel and refuses the calls listed in sandbox.c.
 *
 * Invariants: nothing here opens an AF_VSOCK socket or touches /dev/vsock; the child gets
 * exactly descriptors 0, 1, 2 and the keep_fds (at their own numbers), nothing else of the
 * simulator; static binaries are refused before anything is started. Between fork and exec
 * the child calls only async-signal-safe functions (the simulator may have threads).
 */
#ifndef SIM_EXEC_SANDBOX_H
#define SIM_EXEC_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "sim/engine/error.h"
#include "sim/engine/limits.h"

/* Extra descriptors a program may inherit (the channel and the simulated-socket placeholders
 * are the exec supervisor's business; it passes them here). */
#define EXEC_SANDBOX_KEEP_FDS_MAX 8u
/* Arguments and environment entries of one program (each); more is refused, not cut. */
#define EXEC_SANDBOX_ARGUMENTS_MAX 256u
#define EXEC_SANDBOX_ENVIRONMENT_MAX 256u
/* Bytes of one path the sandbox binds or checks (binary, shim, scratch, cwd), incl. NUL. */
#define EXEC_SANDBOX_PATH_BYTES_MAX 4096u

struct exec_sandbox_config {
    const char *binary_path;          /* absolute path, already resolved (execvp rules) */
    const char *const *argv;          /* NULL-terminated, argv[0] as the program sees it */
    const char *const *envp;          /* NULL-terminated, the complete environment */
    const char *scratch_dir;          /* host directory bound read-write (the endpoint's scratch) */
    const char *cwd;                  /* working directory inside the sandbox (NULL: scratch_dir) */
    const char *shim_path;            /* absolute path of the preload library, bound read-only */
    int stdin_fd, stdout_fd, stderr_fd;   /* become 0, 1, 2 in the child */
    const int *keep_fds;              /* extra descriptors kept open at the same numbers */
    uint32_t keep_fd_count;           /* <= EXEC_SANDBOX_KEEP_FDS_MAX */
};

/* 0 when programs can run here; otherwise SIM_ENOSYS (or another SIM_E*) and why, naming what
 * is missing (bwrap not installed, user namespaces refused, ...). Starts one trivial sandbox
 * to find out (a few milliseconds): call it once, not per program. */
int exec_sandbox_available(char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* 0 when `cwd` can be the program's working directory: an absolute path of an existing
 * directory that the sandbox's view shows with its content, that is (symbolic links and '..'
 * resolved) /, /dev, /usr or below, a system directory (/bin, /sbin, /lib...) or below, or
 * `scratch_dir` (may be NULL) or below. Otherwise SIM_EINVAL and a message
 * "working directory 'CWD' ..." saying which of these it is not. A directory that merely
 * exists on the machine (/tmp, /home) is not in the view: bwrap would fail to enter it. */
int exec_sandbox_check_cwd(const char *cwd, const char *scratch_dir,
                           char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* Starts the program; *pid_out is the real pid of the process the supervisor waits for
 * (bwrap's: waitpid on it gives the program's exit code, or 128 + N when signal N ended it;
 * killing it with SIGKILL kills the program too). Errors: SIM_EINVAL (bad config, a static or
 * non-x86-64 binary, a path too long), SIM_ELIMIT (too many arguments, keep_fds),
 * SIM_ENOSYS (bwrap missing), SIM_ENOMEM; the message says which. */
int exec_sandbox_spawn(const struct exec_sandbox_config *config, pid_t *pid_out,
                       char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

#endif /* SIM_EXEC_SANDBOX_H */
