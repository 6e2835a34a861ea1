/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/sandbox.c: starts a real program inside bubblewrap (docs/programs.md, "The sandbox").
 *
 * The parent (the simulator) does everything that allocates or may fail slowly: it finds bwrap
 * on PATH, checks the binary (sandbox_elf.c), builds the seccomp filter (sandbox_filter.c) and
 * bwrap's whole command line. The forked child then calls only async-signal-safe functions
 * (the simulator may have threads): it resets signals and umask, moves descriptors into place,
 * closes every other descriptor, turns off address randomisation (the personality survives
 * exec, through bwrap, into the program), sets no_new_privs and executes bwrap. A failure in
 * the child comes back to the parent through a close-on-exec pipe as an errno.
 *
 * Invariant: the program inherits exactly 0, 1, 2 and the keep_fds; bwrap additionally gets
 * the filter's descriptor, which it reads and closes before it executes the program.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/exec/sandbox_int.h"

/* Descriptor numbers a keep_fd may have: the shim keeps simulated ones below FD_SETSIZE. */
#define EXEC_SANDBOX_KEEP_FD_NUMBER_MAX 1024
/* bwrap arguments besides the environment (3 each) and the program's arguments. */
#define EXEC_SANDBOX_FIXED_ARGUMENTS_MAX 96u
/* Bytes of the text bwrap's arguments need besides the environment's own. */
#define EXEC_SANDBOX_FIXED_TEXT_BYTES (8u * EXEC_SANDBOX_PATH_BYTES_MAX)
/* stdin, stdout, stderr, the keep_fds, the filter and the error pipe. */
#define EXEC_SANDBOX_MOVES_MAX (EXEC_SANDBOX_KEEP_FDS_MAX + 5u)
/* How long available() waits for its trial sandbox before it gives up (wall time). */
#define EXEC_SANDBOX_TRIAL_WAIT_MS_MAX 10000
/* Bytes of bwrap's complaint that available() quotes. */
#define EXEC_SANDBOX_TRIAL_ERROR_BYTES_MAX 200u

/* Top-level system directories: bound read-only, or re-created as the same symlink
 * (merged-/usr systems make /bin, /lib... links into /usr). */
static const char *const system_directories[] = {
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
};
/* The files of /etc the loader and common programs need (docs/programs.md says why). */
static const char *const etc_paths[] = { "/etc/ld.so.cache", "/etc/alternatives" };
/* The devices of the fresh /dev; no vsock device ever appears there. */
static const char *const device_paths[] = { "/dev/null", "/dev/zero", "/dev/urandom" };

struct fd_move {
    int source;
    int target;
    int close_on_exec;
};

struct spawn_plan {
    char bwrap_path[EXEC_SANDBOX_PATH_BYTES_MAX];
    char interpreter[EXEC_SANDBOX_PATH_BYTES_MAX];
    const char **arguments;       /* bwrap's argv, NULL-terminated */
    uint32_t argument_count, argument_capacity;
    char *text;                   /* the arguments' own text (environment names, numbers) */
    size_t text_used, text_capacity;
    struct fd_move moves[EXEC_SANDBOX_MOVES_MAX];
    uint32_t move_count;
    int first_free_fd;            /* above every target: where descriptors wait to move */
    int filter_fd;
    int error_pipe[2];
};

static int push_argument(struct spawn_plan *plan, const char *argument)
{
    if (plan->argument_count + 1 >= plan->argument_capacity)
        return SIM_ELIMIT;
    plan->arguments[plan->argument_count++] = argument;
    plan->arguments[plan->argument_count] = NULL;
    return 0;
}

/* Copies `bytes` of `text` (plus a NUL) into the plan's own text. */
static const char *keep_text(struct spawn_plan *plan, const char *text, size_t bytes)
{
    if (plan->text_capacity - plan->text_used < bytes + 1)
        return NULL;
    char *copy = plan->text + plan->text_used;
    memcpy(copy, text, bytes);
    copy[bytes] = '\0';
    plan->text_used += bytes + 1;
    return copy;
}

static int push_arguments(struct spawn_plan *plan, const char *first, const char *second,
                          const char *third)
{
    int result = push_argument(plan, first);
    if (result == 0 && second != NULL)
        result = push_argument(plan, second);
    if (result == 0 && third != NULL)
        result = push_argument(plan, third);
    return result;
}

/* Finds bwrap on the simulator's PATH as execvp would. */
static int find_bwrap(char path_out[EXEC_SANDBOX_PATH_BYTES_MAX],
                      char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    const char *search = getenv("PATH");
    if (search == NULL || search[0] == '\0')
        search = "/usr/local/bin:/usr/bin:/bin";
    for (const char *start = search; ; ) {
        const char *end = strchr(start, ':');
        size_t length = end != NULL ? (size_t)(end - start) : strlen(start);
        if (length > 0 && length + sizeof "/bwrap" <= EXEC_SANDBOX_PATH_BYTES_MAX) {
            memcpy(path_out, start, length);
            memcpy(path_out + length, "/bwrap", sizeof "/bwrap");
            struct stat status;
            if (stat(path_out, &status) == 0 && S_ISREG(status.st_mode) &&
                access(path_out, X_OK) == 0)
                return 0;
        }
        if (end == NULL)
            break;
        start = end + 1;
    }
    snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
             "programs cannot run here: bwrap (bubblewrap, Debian package \"bubblewrap\") is "
             "not installed (not found on PATH %.300s)", search);
    return SIM_ENOSYS;
}

static int path_is_system(const char *path)
{
    if (strncmp(path, "/usr/", 5) == 0)
        return 1;
    for (size_t index = 0; index < sizeof system_directories / sizeof system_directories[0];
         index++) {
        size_t length = strlen(system_directories[index]);
        if (strncmp(path, system_directories[index], length) == 0 && path[length] == '/')
            return 1;
    }
    return 0;
}

/* Namespaces, privileges and the environment. */
static int push_isolation(struct spawn_plan *plan, const char *const *envp)
{
    static const char *const fixed[] = {
        "--unshare-user", "--unshare-ipc", "--unshare-net", "--unshare-uts",
        "--hostname", "vmcisim", "--disable-userns", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--clearenv",
    };
    int result = 0;
    for (size_t index = 0; result == 0 && index < sizeof fixed / sizeof fixed[0]; index++)
        result = push_argument(plan, fixed[index]);
    for (uint32_t index = 0; result == 0 && envp[index] != NULL; index++) {
        const char *equals = strchr(envp[index], '=');
        if (equals == NULL || equals == envp[index])
            return SIM_EINVAL;
        const char *name = keep_text(plan, envp[index], (size_t)(equals - envp[index]));
        if (name == NULL)
            return SIM_ELIMIT;
        result = push_arguments(plan, "--setenv", name, equals + 1);
    }
    return result;
}

/* The read-only system view and the fresh /dev. */
static int push_filesystem(struct spawn_plan *plan)
{
    int result = push_arguments(plan, "--ro-bind", "/usr", "/usr");
    for (size_t index = 0; result == 0 &&
         index < sizeof system_directories / sizeof system_directories[0]; index++) {
        const char *path = system_directories[index];
        struct stat status;
        if (lstat(path, &status) != 0)
            continue;
        if (S_ISLNK(status.st_mode)) {
            char target[EXEC_SANDBOX_PATH_BYTES_MAX];
            ssize_t length = readlink(path, target, sizeof target);
            if (length <= 0 || (size_t)length >= sizeof target)
                continue;
            const char *kept = keep_text(plan, target, (size_t)length);
            result = kept != NULL ? push_arguments(plan, "--symlink", kept, path) : SIM_ELIMIT;
        } else if (S_ISDIR(status.st_mode)) {
            result = push_arguments(plan, "--ro-bind", path, path);
        }
    }
    for (size_t index = 0; result == 0 && index < sizeof etc_paths / sizeof etc_paths[0];
         index++)
        result = push_arguments(plan, "--ro-bind-try", etc_paths[index], etc_paths[index]);
    if (result == 0)
        result = push_arguments(plan, "--tmpfs", "/dev", NULL);
    for (size_t index = 0; result == 0 && index < sizeof device_paths / sizeof device_paths[0];
         index++)
        result = push_arguments(plan, "--dev-bind", device_paths[index], device_paths[index]);
    if (result == 0)
        result = push_arguments(plan, "--dev-bind-try", "/dev/tty", "/dev/tty");
    if (result == 0)
        result = push_arguments(plan, "--remount-ro", "/dev", NULL);
    return result;
}

/* The scratch directory, the binary and the shim, the working directory, the filter. */
static int push_program_paths(struct spawn_plan *plan, const struct exec_sandbox_config *config)
{
    int result = 0;
    if (config->scratch_dir != NULL)
        result = push_arguments(plan, "--bind", config->scratch_dir, config->scratch_dir);
    if (result == 0 && !path_is_system(config->binary_path))
        result = push_arguments(plan, "--ro-bind", config->binary_path, config->binary_path);
    if (result == 0 && config->shim_path != NULL && !path_is_system(config->shim_path))
        result = push_arguments(plan, "--ro-bind", config->shim_path, config->shim_path);
    if (result == 0)
        result = push_arguments(plan, "--remount-ro", "/", NULL);
    const char *cwd = config->cwd != NULL ? config->cwd
                      : config->scratch_dir != NULL ? config->scratch_dir : "/";
    if (result == 0)
        result = push_arguments(plan, "--chdir", cwd, NULL);
    char number[16];
    snprintf(number, sizeof number, "%d", plan->first_free_fd - 2);
    const char *kept = keep_text(plan, number, strlen(number));
    if (result == 0)
        result = kept != NULL ? push_arguments(plan, "--seccomp", kept, NULL) : SIM_ELIMIT;
    return result;
}

/* "--" then the program: directly when argv[0] is its path, otherwise through its loader,
 * which can give the program another argv[0] (bwrap cannot). */
static int push_command(struct spawn_plan *plan, const struct exec_sandbox_config *config)
{
    int result = push_argument(plan, "--");
    if (result == 0 && strcmp(config->argv[0], config->binary_path) != 0 &&
        plan->interpreter[0] != '\0')
        result = push_arguments(plan, plan->interpreter, "--argv0", config->argv[0]);
    if (result == 0)
        result = push_argument(plan, config->binary_path);
    for (uint32_t index = 1; result == 0 && config->argv[index] != NULL; index++)
        result = push_argument(plan, config->argv[index]);
    return result;
}

static int path_fits(const char *path)
{
    return path == NULL || strnlen(path, EXEC_SANDBOX_PATH_BYTES_MAX) < EXEC_SANDBOX_PATH_BYTES_MAX;
}

/* Whether the resolved `path` is `root` (resolved too, when it resolves) or lies below it. */
static bool resolved_within(const char *path, const char *root)
{
    char resolved_root[PATH_MAX];
    if (realpath(root, resolved_root) == NULL)
        return false;
    size_t length = strlen(resolved_root);
    if (strcmp(resolved_root, "/") == 0)
        return strcmp(path, "/") == 0;
    return strncmp(path, resolved_root, length) == 0 &&
           (path[length] == '\0' || path[length] == '/');
}

int exec_sandbox_check_cwd(const char *cwd, const char *scratch_dir,
                           char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(cwd != NULL && message != NULL);
    if (cwd[0] != '/' || !path_fits(cwd)) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "working directory '%.300s' is not an absolute path within %u bytes", cwd,
                 EXEC_SANDBOX_PATH_BYTES_MAX - 1);
        return SIM_EINVAL;
    }
    char resolved[PATH_MAX];
    struct stat status;
    int error = 0;
    if (realpath(cwd, resolved) == NULL || stat(resolved, &status) != 0)
        error = errno;
    else if (!S_ISDIR(status.st_mode))
        error = ENOTDIR;
    if (error != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "working directory '%.300s' is not an existing directory (%s)", cwd,
                 strerror(error));
        return SIM_EINVAL;
    }
    bool shown = strcmp(resolved, "/") == 0 || strcmp(resolved, "/dev") == 0 ||
                 resolved_within(resolved, "/usr") ||
                 (scratch_dir != NULL && resolved_within(resolved, scratch_dir));
    for (size_t index = 0; !shown &&
         index < sizeof system_directories / sizeof system_directories[0]; index++)
        shown = resolved_within(resolved, system_directories[index]);
    if (!shown) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "working directory '%.300s' is outside what the program sees (/, /dev, /usr, "
                 "/bin, /sbin, /lib... and its endpoint's scratch directory; docs/programs.md, "
                 "\"The sandbox\")", cwd);
        return SIM_EINVAL;
    }
    return SIM_OK;
}

static uint32_t count_strings(const char *const *strings, uint32_t limit)
{
    uint32_t count = 0;
    while (count <= limit && strings[count] != NULL)
        count++;
    return count;
}

/* The keep_fds: each open, in 3..1023, listed once; they become moves to their own numbers. */
static int check_keep_fds(const struct exec_sandbox_config *config, struct spawn_plan *plan,
                          int *highest_fd, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    for (uint32_t index = 0; index < config->keep_fd_count; index++) {
        int fd = config->keep_fds[index];
        int repeated = 0;
        for (uint32_t other = 0; other < index; other++)
            repeated |= config->keep_fds[other] == fd;
        if (fd < 3 || fd >= EXEC_SANDBOX_KEEP_FD_NUMBER_MAX || repeated ||
            fcntl(fd, F_GETFD) < 0) {
            snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                     "sandbox: kept descriptor %d is not an open descriptor in 3..%d listed once",
                     fd, EXEC_SANDBOX_KEEP_FD_NUMBER_MAX - 1);
            return SIM_EINVAL;
        }
        plan->moves[plan->move_count++] = (struct fd_move){ fd, fd, 0 };
        *highest_fd = fd > *highest_fd ? fd : *highest_fd;
    }
    return 0;
}

/* The paths bwrap binds, checked here so that a mistake is a message before anything starts
 * rather than bwrap's complaint on the program's stderr. */
static int check_paths(const struct exec_sandbox_config *config,
                       char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    struct stat status;
    if (config->scratch_dir != NULL &&
        (config->scratch_dir[0] != '/' || stat(config->scratch_dir, &status) != 0 ||
         !S_ISDIR(status.st_mode))) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "sandbox: scratch directory %.300s is not an existing directory given by its "
                 "absolute path", config->scratch_dir);
        return SIM_EINVAL;
    }
    if (config->shim_path != NULL &&
        (config->shim_path[0] != '/' || stat(config->shim_path, &status) != 0 ||
         !S_ISREG(status.st_mode))) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "sandbox: shim %.300s is not an existing file given by its absolute path",
                 config->shim_path);
        return SIM_EINVAL;
    }
    char why[SIM_ERROR_MESSAGE_BYTES_MAX];
    if (config->cwd != NULL &&
        exec_sandbox_check_cwd(config->cwd, config->scratch_dir, why) != SIM_OK) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: %.400s", why);
        return SIM_EINVAL;
    }
    return 0;
}

/* Checks the configuration and the binary; fills the descriptor moves. */
static int check_config(const struct exec_sandbox_config *config, struct spawn_plan *plan,
                        char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    if (config->binary_path == NULL || config->argv == NULL || config->argv[0] == NULL ||
        config->envp == NULL || !path_fits(config->binary_path) ||
        !path_fits(config->scratch_dir) || !path_fits(config->cwd) ||
        !path_fits(config->shim_path) || fcntl(config->stdin_fd, F_GETFD) < 0 ||
        fcntl(config->stdout_fd, F_GETFD) < 0 || fcntl(config->stderr_fd, F_GETFD) < 0 ||
        (config->keep_fd_count > 0 && config->keep_fds == NULL)) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "sandbox: incomplete program configuration (paths within %u bytes, argv with "
                 "argv[0], envp and three open standard descriptors are required)",
                 EXEC_SANDBOX_PATH_BYTES_MAX);
        return SIM_EINVAL;
    }
    if (count_strings(config->argv, EXEC_SANDBOX_ARGUMENTS_MAX) > EXEC_SANDBOX_ARGUMENTS_MAX ||
        count_strings(config->envp, EXEC_SANDBOX_ENVIRONMENT_MAX) > EXEC_SANDBOX_ENVIRONMENT_MAX ||
        config->keep_fd_count > EXEC_SANDBOX_KEEP_FDS_MAX) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "sandbox: a program may have at most %u arguments, %u environment entries and %u "
                 "kept descriptors", EXEC_SANDBOX_ARGUMENTS_MAX, EXEC_SANDBOX_ENVIRONMENT_MAX,
                 EXEC_SANDBOX_KEEP_FDS_MAX);
        return SIM_ELIMIT;
    }
    int highest_fd = 2;
    int result = check_keep_fds(config, plan, &highest_fd, message);
    if (result == 0)
        result = check_paths(config, message);
    if (result != 0)
        return result;
    const int standard[3] = { config->stdin_fd, config->stdout_fd, config->stderr_fd };
    for (int target = 0; target < 3; target++)
        plan->moves[plan->move_count++] = (struct fd_move){ standard[target], target, 0 };
    plan->first_free_fd = highest_fd + 3;   /* the filter, the error pipe, then free */
    return exec_sandbox_check_binary(config->binary_path, plan->interpreter, message);
}

static int prepare_plan(const struct exec_sandbox_config *config, struct spawn_plan *plan,
                        char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    int result = check_config(config, plan, message);
    if (result == 0)
        result = find_bwrap(plan->bwrap_path, message);
    if (result != 0)
        return result;
    uint32_t environment_count = count_strings(config->envp, EXEC_SANDBOX_ENVIRONMENT_MAX);
    size_t environment_bytes = 0;
    for (uint32_t index = 0; index < environment_count; index++)
        environment_bytes += strlen(config->envp[index]) + 1;
    plan->argument_capacity = EXEC_SANDBOX_FIXED_ARGUMENTS_MAX + 3 * environment_count +
                              count_strings(config->argv, EXEC_SANDBOX_ARGUMENTS_MAX) + 1;
    plan->text_capacity = EXEC_SANDBOX_FIXED_TEXT_BYTES + environment_bytes;
    plan->arguments = calloc(plan->argument_capacity, sizeof plan->arguments[0]);
    plan->text = malloc(plan->text_capacity);
    if (plan->arguments == NULL || plan->text == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: out of memory");
        return SIM_ENOMEM;
    }
    result = push_argument(plan, plan->bwrap_path);
    if (result == 0)
        result = push_isolation(plan, config->envp);
    if (result == 0)
        result = push_filesystem(plan);
    if (result == 0)
        result = push_program_paths(plan, config);
    if (result == 0)
        result = push_command(plan, config);
    if (result == SIM_EINVAL)
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "sandbox: an environment entry is not NAME=VALUE");
    else if (result != 0)
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: bwrap's command line is full");
    return result;
}

static void release_plan(struct spawn_plan *plan)
{
    free(plan->arguments);
    free(plan->text);
    if (plan->filter_fd >= 0)
        close(plan->filter_fd);
    for (int end = 0; end < 2; end++)
        if (plan->error_pipe[end] >= 0)
            close(plan->error_pipe[end]);
}

/* In the child: sends errno to the parent and ends. */
static _Noreturn void child_fail(int report_fd, int error)
{
    ssize_t ignored = write(report_fd, &error, sizeof error);
    (void)ignored;
    _exit(127);
}

/* In the child: the program starts with default signals, an empty mask and umask 022, whatever
 * the simulator set for itself (an ignored SIGPIPE would otherwise survive exec). */
static void child_reset_signals(void)
{
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    for (int signal_number = 1; signal_number < NSIG; signal_number++)
        sigaction(signal_number, &action, NULL);   /* SIGKILL, SIGSTOP: refused, harmless */
    umask(022);
}

static int is_target(const struct spawn_plan *plan, int fd)
{
    for (uint32_t index = 0; index < plan->move_count; index++)
        if (plan->moves[index].target == fd)
            return 1;
    return 0;
}

/* In the child: each source goes first above every target (so that no move overwrites a
 * source still to move), then to its target; everything else is closed. */
static int child_move_fds(const struct spawn_plan *plan, int *report_fd)
{
    int temporary[EXEC_SANDBOX_MOVES_MAX];
    for (uint32_t index = 0; index < plan->move_count; index++) {
        temporary[index] = fcntl(plan->moves[index].source, F_DUPFD_CLOEXEC,
                                 plan->first_free_fd);
        if (temporary[index] < 0)
            return errno;
    }
    for (uint32_t index = 0; index < plan->move_count; index++) {
        const struct fd_move *move = &plan->moves[index];
        int moved = move->close_on_exec ? dup3(temporary[index], move->target, O_CLOEXEC)
                                        : dup2(temporary[index], move->target);
        if (moved < 0)
            return errno;
        if (move->source == plan->error_pipe[1])
            *report_fd = move->target;
    }
    for (int fd = 3; fd < plan->first_free_fd; fd++)
        if (!is_target(plan, fd))
            close(fd);
    if (syscall(SYS_close_range, (unsigned)plan->first_free_fd, ~0u, 0u) != 0)
        for (int fd = plan->first_free_fd; fd < 65536; fd++)
            close(fd);
    return 0;
}

static _Noreturn void child_exec(const struct spawn_plan *plan)
{
    int report_fd = plan->error_pipe[1];
    child_reset_signals();
    int error = child_move_fds(plan, &report_fd);
    if (error != 0)
        child_fail(report_fd, error);
    int persona = personality(0xffffffff);
    if (persona == -1 || personality((unsigned long)persona | ADDR_NO_RANDOMIZE) == -1)
        child_fail(report_fd, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail(report_fd, errno);
    char *const no_environment[] = { NULL };
    execve(plan->bwrap_path, (char *const *)plan->arguments, no_environment);
    child_fail(report_fd, errno);
}

/* Forks the child and learns from the error pipe whether bwrap started. */
static int start(struct spawn_plan *plan, pid_t *pid_out, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: fork failed: %s",
                 strerror(errno));
        return SIM_ENOMEM;
    }
    if (pid == 0)
        child_exec(plan);
    close(plan->error_pipe[1]);
    plan->error_pipe[1] = -1;
    int error = 0;
    ssize_t got;
    do
        got = read(plan->error_pipe[0], &error, sizeof error);
    while (got < 0 && errno == EINTR);
    if (got == 0) {
        *pid_out = pid;
        return 0;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: cannot start %.300s: %s",
             plan->bwrap_path, got == (ssize_t)sizeof error ? strerror(error) : "no reason given");
    return SIM_ENOSYS;
}

int exec_sandbox_spawn(const struct exec_sandbox_config *config, pid_t *pid_out,
                       char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(config != NULL && pid_out != NULL && message != NULL);
    *pid_out = -1;
    struct spawn_plan *plan = calloc(1, sizeof *plan);
    if (plan == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: out of memory");
        return SIM_ENOMEM;
    }
    plan->filter_fd = -1;
    plan->error_pipe[0] = plan->error_pipe[1] = -1;
    int result = prepare_plan(config, plan, message);
    if (result == 0)
        result = exec_sandbox_filter_fd(&plan->filter_fd, message);
    if (result == 0 && pipe2(plan->error_pipe, O_CLOEXEC) != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: pipe failed: %s",
                 strerror(errno));
        result = SIM_ENOMEM;
    }
    if (result == 0) {
        plan->moves[plan->move_count++] =
            (struct fd_move){ plan->filter_fd, plan->first_free_fd - 2, 0 };
        plan->moves[plan->move_count++] =
            (struct fd_move){ plan->error_pipe[1], plan->first_free_fd - 1, 1 };
        result = start(plan, pid_out, message);
    }
    assert(result != 0 || *pid_out > 0);
    release_plan(plan);
    free(plan);
    return result;
}

/* Reads a one-number /proc/sys file; -1 when absent or unreadable. */
static long read_sysctl(const char *path)
{
    FILE *file = fopen(path, "re");
    long value = -1;
    if (file != NULL) {
        if (fscanf(file, "%ld", &value) != 1)
            value = -1;
        fclose(file);
    }
    return value;
}

/* The kernel settings that refuse user namespaces, named when they do. */
static int check_user_namespaces(char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    if (read_sysctl("/proc/sys/user/max_user_namespaces") == 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "programs cannot run here: user namespaces are disabled "
                 "(/proc/sys/user/max_user_namespaces is 0)");
        return SIM_ENOSYS;
    }
    if (geteuid() != 0 && read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "programs cannot run here: unprivileged user namespaces are refused "
                 "(/proc/sys/kernel/unprivileged_userns_clone is 0)");
        return SIM_ENOSYS;
    }
    return 0;
}

/* Waits (wall time, bounded) for the trial sandbox; its wait status, or -1 after killing it. */
static int wait_trial(pid_t pid)
{
    const struct timespec millisecond = { 0, 1000000 };
    for (int waited_ms = 0; waited_ms < EXEC_SANDBOX_TRIAL_WAIT_MS_MAX; waited_ms++) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return status;
        if (done < 0 && errno != EINTR)
            return -1;
        nanosleep(&millisecond, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return -1;
}

/* Quotes the first line of what the trial wrote to its stderr. */
static void describe_trial(int status, int error_fd, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    char complaint[EXEC_SANDBOX_TRIAL_ERROR_BYTES_MAX + 1];
    ssize_t got = read(error_fd, complaint, EXEC_SANDBOX_TRIAL_ERROR_BYTES_MAX);
    complaint[got > 0 ? got : 0] = '\0';
    complaint[strcspn(complaint, "\n")] = '\0';
    long restricted = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
             "programs cannot run here: bwrap could not create the sandbox (%s%d): \"%s\"%s",
             status < 0 ? "no answer within the wait, " : "exit status ",
             status < 0 ? EXEC_SANDBOX_TRIAL_WAIT_MS_MAX / 1000 : WEXITSTATUS(status), complaint,
             restricted == 1 ? " (AppArmor restricts unprivileged user namespaces: "
                               "kernel.apparmor_restrict_unprivileged_userns is 1)"
                             : " (are user namespaces allowed for this user?)");
}

/* Runs `true` in a complete sandbox (filter included) and reports how that went. */
static int run_trial(char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    const char *binary = access("/usr/bin/true", X_OK) == 0 ? "/usr/bin/true" : "/bin/true";
    const char *const argv[] = { binary, NULL };
    const char *const envp[] = { NULL };
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int error_pipe[2] = { -1, -1 };
    if (null_fd < 0 || pipe2(error_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "sandbox: cannot open /dev/null or a pipe");
        if (null_fd >= 0)
            close(null_fd);
        return SIM_ENOSYS;
    }
    struct exec_sandbox_config config = {
        .binary_path = binary, .argv = argv, .envp = envp,
        .stdin_fd = null_fd, .stdout_fd = null_fd, .stderr_fd = error_pipe[1],
    };
    pid_t pid;
    int result = exec_sandbox_spawn(&config, &pid, message);
    close(error_pipe[1]);
    close(null_fd);
    if (result == 0) {
        int status = wait_trial(pid);
        if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            describe_trial(status, error_pipe[0], message);
            result = SIM_ENOSYS;
        }
    }
    close(error_pipe[0]);
    return result;
}

int exec_sandbox_available(char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(message != NULL);
    message[0] = '\0';
    char bwrap_path[EXEC_SANDBOX_PATH_BYTES_MAX];
    int result = find_bwrap(bwrap_path, message);
    if (result == 0)
        result = check_user_namespaces(message);
    if (result == 0)
        result = run_trial(message);
    return result;
}
