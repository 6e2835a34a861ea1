/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_spawn.c: posix_spawn, posix_spawnp, system, popen and pclose inside a program
 * (docs/programs.md, "posix_spawn, system and popen").
 *
 * glibc's posix_spawn makes the child with clone(CLONE_VM | CLONE_VFORK) on a stack of its
 * own, which the simulation does not serve (a process sharing its parent's memory would
 * run outside the one-call-at-a-time order). So the shim replaces posix_spawn and
 * posix_spawnp with fork and exec, both served (shim_process.c): the child applies the
 * attributes (signal mask, signals back to their default action) and the file actions
 * (open, close, dup2, chdir, fchdir, closefrom) in order, then executes the program. An
 * error in the child (a file action's, or the exec's) reaches the parent as glibc reports
 * it, as posix_spawn's result: through a simulated pipe, close-on-exec, on which the child
 * writes its errno before it exits with 127; a successful exec closes it, so the parent
 * reads end of file. glibc's system and popen call its internal posix_spawn, which an
 * interposed one cannot replace, so they are replaced too, on top of the shim's; pclose
 * goes with popen.
 *
 * glibc keeps a posix_spawn_file_actions_t's actions in an array whose layout is its own
 * (spawn_int.h, the same since 2.29); struct glibc_spawn_action mirrors it. Programs fill
 * it through glibc's public posix_spawn_file_actions_add* functions, not replaced.
 *
 * Bounds: SHIM_SPAWN_ACTIONS_MAX file actions per spawn (more: EINVAL); SHIM_POPEN_MAX
 * popen streams open at once per process (more: EMFILE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_int.h"

#define SHIM_SPAWN_ACTIONS_MAX 1024
#define SHIM_POPEN_MAX 64
/* Where the child keeps its error pipe while it applies the file actions: high, so that
 * a program's dup2 or open onto a low number does not meet it. */
#define SHIM_SPAWN_REPORT_FD_MIN 1000
#define SHIM_SPAWN_EXIT_FAILED 127
#define SHIM_SIGNALS_MAX 64

/* glibc's struct __spawn_action (spawn_int.h). */
struct glibc_spawn_action {
    enum {
        GLIBC_SPAWN_CLOSE, GLIBC_SPAWN_DUP2, GLIBC_SPAWN_OPEN, GLIBC_SPAWN_CHDIR,
        GLIBC_SPAWN_FCHDIR, GLIBC_SPAWN_CLOSEFROM, GLIBC_SPAWN_TCSETPGRP,
    } tag;
    union {
        struct { int fd; } close_action;
        struct { int fd; int newfd; } dup2_action;
        struct { int fd; char *path; int oflag; mode_t mode; } open_action;
        struct { char *path; } chdir_action;
        struct { int fd; } fchdir_action;
        struct { int from; } closefrom_action;
        struct { int fd; } setpgrp_action;
    } action;
};

/* One file action in the child: 0 or an errno. */
static int action_apply(const struct glibc_spawn_action *action, int report_fd)
{
    switch (action->tag) {
    case GLIBC_SPAWN_CLOSE:
        if (action->action.close_action.fd != report_fd)
            (void)close(action->action.close_action.fd);    /* as glibc: errors ignored */
        return 0;
    case GLIBC_SPAWN_DUP2: {
        int fd = action->action.dup2_action.fd, target = action->action.dup2_action.newfd;
        if (fd == target)                   /* glibc 2.36: clears close-on-exec */
            return fcntl(fd, F_SETFD, 0) < 0 ? errno : 0;
        return dup2(fd, target) < 0 ? errno : 0;
    }
    case GLIBC_SPAWN_OPEN: {
        int target = action->action.open_action.fd;
        int fd = open(action->action.open_action.path, action->action.open_action.oflag,
                      action->action.open_action.mode);
        if (fd < 0)
            return errno;
        if (fd != target) {
            int rc = dup2(fd, target) < 0 ? errno : 0;
            (void)close(fd);
            return rc;
        }
        return 0;
    }
    case GLIBC_SPAWN_CHDIR:
        return chdir(action->action.chdir_action.path) < 0 ? errno : 0;
    case GLIBC_SPAWN_FCHDIR:
        return fchdir(action->action.fchdir_action.fd) < 0 ? errno : 0;
    case GLIBC_SPAWN_CLOSEFROM:
        for (int fd = action->action.closefrom_action.from; fd < (int)EXEC_FDS_MAX; fd++) {
            if (fd != report_fd && fd != shim_channel_fd())
                (void)close(fd);
        }
        return 0;
    case GLIBC_SPAWN_TCSETPGRP:
        return 0;                           /* no terminal, no process groups */
    default:
        return EINVAL;
    }
}

/* The attributes the simulation has: the signal mask and signals set back to default.
 * Process groups, sessions, user ids and scheduling have no simulated meaning. */
static int attributes_apply(const posix_spawnattr_t *attributes)
{
    short flags = 0;
    if (attributes == NULL || posix_spawnattr_getflags(attributes, &flags) != 0)
        return 0;
    if ((flags & POSIX_SPAWN_SETSIGDEF) != 0) {
        sigset_t defaults;
        (void)posix_spawnattr_getsigdefault(attributes, &defaults);
        for (int signo = 1; signo <= SHIM_SIGNALS_MAX; signo++) {
            if (signo != SIGKILL && signo != SIGSTOP && sigismember(&defaults, signo) == 1 &&
                signal(signo, SIG_DFL) == SIG_ERR)
                return errno;
        }
    }
    if ((flags & POSIX_SPAWN_SETSIGMASK) != 0) {
        sigset_t mask;
        (void)posix_spawnattr_getsigmask(attributes, &mask);
        if (sigprocmask(SIG_SETMASK, &mask, NULL) < 0)
            return errno;
    }
    return 0;
}

/* The child's side: never returns. */
static void __attribute__((noreturn)) child_run(int report_fd, const char *path,
                                                const posix_spawn_file_actions_t *actions,
                                                const posix_spawnattr_t *attributes,
                                                char *const argv[], char *const envp[],
                                                bool search)
{
    int rc = attributes_apply(attributes);
    if (rc == 0 && actions != NULL) {
        const struct glibc_spawn_action *list =
            (const struct glibc_spawn_action *)actions->__actions;
        for (int index = 0; rc == 0 && index < actions->__used; index++)
            rc = action_apply(&list[index], report_fd);
    }
    if (rc == 0) {
        if (search)
            (void)execvpe(path, argv, envp);
        else
            (void)execve(path, argv, envp);
        rc = errno;
    }
    (void)write(report_fd, &rc, sizeof(rc));
    _exit(SHIM_SPAWN_EXIT_FAILED);
}

/* posix_spawn and posix_spawnp (search: as execvp). Returns 0 or an errno. */
static int spawn(pid_t *pid_out, const char *path, const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attributes, char *const argv[], char *const envp[],
                 bool search)
{
    if (path == NULL || argv == NULL)
        return EINVAL;
    if (actions != NULL && (actions->__used < 0 || actions->__used > SHIM_SPAWN_ACTIONS_MAX))
        return EINVAL;
    int saved_errno = errno;
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return errno;
    pid_t child = fork();
    if (child < 0) {
        int rc = errno;
        (void)close(report[0]);
        (void)close(report[1]);
        return rc;
    }
    if (child == 0) {
        (void)close(report[0]);
        int report_fd = fcntl(report[1], F_DUPFD_CLOEXEC, SHIM_SPAWN_REPORT_FD_MIN);
        if (report_fd >= 0)
            (void)close(report[1]);
        child_run(report_fd >= 0 ? report_fd : report[1], path, actions, attributes, argv,
                  envp != NULL ? envp : environ, search);
    }
    (void)close(report[1]);
    int child_error = 0;
    ssize_t got;
    do {
        got = read(report[0], &child_error, sizeof(child_error));
    } while (got < 0 && errno == EINTR);
    (void)close(report[0]);
    if (got == (ssize_t)sizeof(child_error) && child_error != 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            continue;                       /* reaped here: posix_spawn failed */
        errno = saved_errno;
        return child_error;
    }
    if (pid_out != NULL)
        *pid_out = child;
    errno = saved_errno;
    return 0;
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
{
    return spawn(pid, path, actions, attributes, argv, envp, false);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
{
    return spawn(pid, file, actions, attributes, argv, envp, true);
}

/* ---- system ------------------------------------------------------------------------------ */

/* As glibc's: SIGINT and SIGQUIT ignored and SIGCHLD blocked in the caller while the shell
 * runs; the shell gets the caller's mask and those two back at their default action. */
int system(const char *command)
{
    if (command == NULL)
        return 1;                           /* a shell is there: /bin/sh */
    struct sigaction ignore = { .sa_handler = SIG_IGN }, old_interrupt, old_quit;
    sigemptyset(&ignore.sa_mask);
    (void)sigaction(SIGINT, &ignore, &old_interrupt);
    (void)sigaction(SIGQUIT, &ignore, &old_quit);
    sigset_t block, old_mask, defaults;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    (void)sigprocmask(SIG_BLOCK, &block, &old_mask);
    sigemptyset(&defaults);
    if (old_interrupt.sa_handler != SIG_IGN)
        sigaddset(&defaults, SIGINT);
    if (old_quit.sa_handler != SIG_IGN)
        sigaddset(&defaults, SIGQUIT);
    posix_spawnattr_t attributes;
    (void)posix_spawnattr_init(&attributes);
    (void)posix_spawnattr_setsigmask(&attributes, &old_mask);
    (void)posix_spawnattr_setsigdefault(&attributes, &defaults);
    (void)posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char *argv[] = { "sh", "-c", (char *)command, NULL };
    pid_t child = -1;
    int status = -1;
    int rc = spawn(&child, "/bin/sh", NULL, &attributes, argv, environ, false);
    if (rc == 0) {
        while (waitpid(child, &status, 0) < 0) {
            if (errno != EINTR) {
                status = -1;
                break;
            }
        }
    } else {
        status = W_EXITCODE(SHIM_SPAWN_EXIT_FAILED, 0);
    }
    (void)posix_spawnattr_destroy(&attributes);
    int saved_errno = errno;
    (void)sigaction(SIGINT, &old_interrupt, NULL);
    (void)sigaction(SIGQUIT, &old_quit, NULL);
    (void)sigprocmask(SIG_SETMASK, &old_mask, NULL);
    errno = rc != 0 ? rc : saved_errno;
    return status;
}

/* ---- popen, pclose ----------------------------------------------------------------------- */

/* The open popen streams of this process and their shells (a fork copies the table, as
 * glibc's list; POSIX asks each new child to close the others' descriptors). */
static struct shim_popen {
    FILE *stream;
    pid_t pid;
    int fd;
} popens[SHIM_POPEN_MAX];

static struct shim_popen *popen_slot(const FILE *stream)
{
    for (int index = 0; index < SHIM_POPEN_MAX; index++) {
        if (popens[index].stream == stream)
            return &popens[index];
    }
    return NULL;
}

/* The shell's side of the pipe as its stdin or stdout; the other streams' ends closed. */
static int popen_actions(posix_spawn_file_actions_t *actions, int child_end, int target)
{
    int rc = posix_spawn_file_actions_init(actions);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(actions, child_end, target);
    for (int index = 0; rc == 0 && index < SHIM_POPEN_MAX; index++) {
        if (popens[index].stream != NULL && popens[index].fd != target)
            rc = posix_spawn_file_actions_addclose(actions, popens[index].fd);
    }
    return rc;
}

FILE *popen(const char *command, const char *type)
{
    bool reading = type != NULL && type[0] == 'r', writing = type != NULL && type[0] == 'w';
    struct shim_popen *slot = popen_slot(NULL);
    if (command == NULL || (!reading && !writing)) {
        errno = EINVAL;
        return NULL;
    }
    if (slot == NULL) {
        errno = EMFILE;
        return NULL;
    }
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0)
        return NULL;
    int parent_end = reading ? ends[0] : ends[1], child_end = reading ? ends[1] : ends[0];
    posix_spawn_file_actions_t actions;
    int rc = popen_actions(&actions, child_end, reading ? STDOUT_FILENO : STDIN_FILENO);
    char *argv[] = { "sh", "-c", (char *)command, NULL };
    pid_t child = -1;
    if (rc == 0)
        rc = spawn(&child, "/bin/sh", &actions, NULL, argv, environ, false);
    (void)posix_spawn_file_actions_destroy(&actions);
    (void)close(child_end);
    FILE *stream = NULL;
    if (rc == 0 && strchr(type + 1, 'e') == NULL)
        (void)fcntl(parent_end, F_SETFD, 0);    /* close-on-exec only with "e" */
    if (rc == 0)
        stream = fdopen(parent_end, reading ? "r" : "w");
    if (stream == NULL) {
        int saved = rc != 0 ? rc : errno;
        (void)close(parent_end);
        if (rc == 0)
            while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                continue;
        errno = saved;
        return NULL;
    }
    *slot = (struct shim_popen){ .stream = stream, .pid = child, .fd = parent_end };
    return stream;
}

int pclose(FILE *stream)
{
    struct shim_popen *slot = stream != NULL ? popen_slot(stream) : NULL;
    if (slot == NULL) {
        errno = ECHILD;
        return -1;
    }
    pid_t child = slot->pid;
    *slot = (struct shim_popen){ 0 };
    (void)fclose(stream);
    int status = -1;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}
