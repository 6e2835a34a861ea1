/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_process.c: fork and wait inside a program (docs/programs.md, "fork, exec and
 * wait"). glibc's fork, vfork and the wait family make their system calls from libc's
 * own code, so the bypass trap (shim_trap.c) brings them here:
 *
 * - fork (clone without CLONE_VM or CLONE_THREAD, fork, vfork served as fork): the
 *   supervisor makes the child's simulated process and answers with its simulated pid,
 *   then hands over the child's channel (one byte carrying the descriptor); the shim
 *   makes the real process with clone from its own syscall site, the child moves the new
 *   channel onto the channel's descriptor number and introduces itself (HELLO), the
 *   parent gets the simulated pid. Both then wait for the supervisor at each call, so the
 *   order they run in is the simulation's.
 * - wait4, waitid: answered by the supervisor from the simulated children only.
 * - execve: announced to the supervisor (which checks and hashes the binary and learns the
 *   close-on-exec simulated descriptors), then made with the preload and the channel put
 *   back into the environment; the new image's shim learns its simulated descriptors from
 *   the HELLO's answer. For the new image's loader and shim to run under the filter the
 *   old image installed, the shim's syscall site is a trampoline at a fixed address (the
 *   same in every image) and the image is started as the first one was (directly, or
 *   through the loader when the sandbox started it so), so the loader's code sits where
 *   the filter expects it.
 *
 * The real SIGCHLD is ignored in every program (so real children are reaped by the
 * kernel at once and no real SIGCHLD ever arrives at a wall time).
 *
 * Invariant: a process has exactly one channel, at the number EXEC_CHANNEL_ENV names; a
 * forked child never writes on its parent's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_int.h"
#include "sim/exec/channel_shared.h"

/* clone flags a fork may carry (glibc's fork: CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID and
 * the exit signal); CLONE_VFORK is dropped (the child gets its own memory). */
#define SHIM_FORK_FLAGS (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID | \
                         CLONE_VFORK | 0xff)

/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct shim_kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

/* The fixed address of the syscall trampoline (`syscall; ret`): far below where the
 * kernel maps anything without address randomisation, the same in every image. */
#define SHIM_TRAMPOLINE_ADDRESS 0x7e0000000000ul
#define SHIM_TRAMPOLINE_BYTES 4096ul
/* Command-line words and environment entries an execve may pass (more: E2BIG). */
#define SHIM_EXEC_STRINGS_MAX 4096u
/* Bytes of the LD_PRELOAD entry an execve passes (the shim's, then the program's). */
#define SHIM_EXEC_PRELOAD_BYTES_MAX 8192u

/* Where the channel lives in every program: the highest descriptor the shim knows, so the
 * program's own descriptors are numbered from 3 whatever number the supervisor's end of the
 * channel happened to have (it depends on the supervisor's open files, --trace for one). */
#define SHIM_CHANNEL_FD_FIXED ((int)EXEC_FDS_MAX - 1)

#define SHIM_PRELOAD_NAME "LD_PRELOAD="
#define SHIM_CHANNEL_NAME EXEC_CHANNEL_ENV "="

/* What an execve puts back: the entries as the supervisor set them at the first image. */
static char preload_entry[SHIM_EXEC_PRELOAD_BYTES_MAX];
static char channel_entry[64];

uintptr_t shim_syscall_site(void)
{
    return (uintptr_t)shim_syscall_target + 2;          /* after the 2-byte syscall */
}

/* The trampoline, then the SIGSYS handler. In a new image the old filter traps every other
 * site, so both use calls it lets through (mmap and mprotect from anywhere, rt_sigaction
 * from the trampoline), and no libc function (libc may not be ready). Runs twice: a second
 * time finds the trampoline mapped and changes nothing. */
static void shim_process_early(void)
{
    long page = shim_syscall(SYS_mmap, (long)SHIM_TRAMPOLINE_ADDRESS, SHIM_TRAMPOLINE_BYTES,
                             PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (page == (long)SHIM_TRAMPOLINE_ADDRESS) {
        volatile unsigned char *code = (volatile unsigned char *)page;
        code[0] = 0x0f;                 /* syscall */
        code[1] = 0x05;
        code[2] = 0xc3;                 /* ret */
        if (shim_syscall(SYS_mprotect, page, SHIM_TRAMPOLINE_BYTES, PROT_READ | PROT_EXEC, 0,
                         0, 0) == 0)
            shim_syscall_target = (const void *)page;
    }
    (void)shim_trap_handler_install();
}

/* The earliest moment the shim can act: the loader resolves this indirect function while it
 * relocates the shim, before it runs any library's constructor. A library of a new image
 * whose constructor makes a system call (SELinux's statfs, malloc's getrandom) would
 * otherwise meet the old filter with no handler and be killed. Calls served through the
 * supervisor fail with ENOSYS until the shim's constructor has found the channel. */
static void shim_early_marker(void) {}
static void (*shim_early_resolver(void))(void)
{
    shim_process_early();
    return shim_early_marker;
}
void shim_early_hook(void) __attribute__((ifunc("shim_early_resolver"), visibility("hidden")));
/* A reference the linker turns into the relocation that makes the loader call it. */
void (*volatile shim_early_reference)(void) __attribute__((used, visibility("hidden"))) =
    shim_early_hook;

__attribute__((constructor(101))) static void shim_process_constructor(void)
{
    shim_process_early();               /* when the loader did not resolve the hook first */
}

struct loader_search {
    uintptr_t inside, start, end;
};

static int loader_visit(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct loader_search *search = data;
    for (int index = 0; index < info->dlpi_phnum; index++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[index];
        uintptr_t start = info->dlpi_addr + header->p_vaddr;
        if (header->p_type != PT_LOAD || (header->p_flags & PF_X) == 0 ||
            search->inside < start || search->inside >= start + header->p_memsz)
            continue;
        search->start = start;
        search->end = start + header->p_memsz;
        return 1;
    }
    return 0;
}

extern void *__tls_get_addr(void *);

void shim_loader_range(uintptr_t *start, uintptr_t *end)
{
    struct loader_search search = { .inside = (uintptr_t)__tls_get_addr };    /* ld.so's */
    (void)dl_iterate_phdr(loader_visit, &search);
    *start = search.start;
    *end = search.end;
}

/* Started through the loader (`ld.so --argv0 NAME BINARY`, as the sandbox does when a
 * program's argv[0] is not its path): the loader is then the main program (no AT_BASE). */
static bool loader_mode(void)
{
    return getauxval(AT_BASE) == 0;
}

static int interpreter_visit(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char **interpreter = data;
    for (int index = 0; index < info->dlpi_phnum; index++) {
        if (info->dlpi_phdr[index].p_type == PT_INTERP)
            *interpreter = (const char *)(info->dlpi_addr + info->dlpi_phdr[index].p_vaddr);
    }
    return 1;                           /* the first object is the program: enough */
}

/* The program's loader (its PT_INTERP), as the first image was started with: NULL if none. */
static const char *interpreter_path(void)
{
    const char *interpreter = NULL;
    (void)dl_iterate_phdr(interpreter_visit, &interpreter);
    return interpreter;
}

static void entry_save(char *target, size_t target_bytes, const char *name)
{
    size_t name_bytes = strlen(name);
    const char *value = getenv(name);
    target[0] = '\0';
    if (value == NULL || name_bytes + 1 + strlen(value) + 1 > target_bytes)
        return;
    memcpy(target, name, name_bytes);
    target[name_bytes] = '=';
    memcpy(target + name_bytes + 1, value, strlen(value) + 1);
}

void shim_process_hello(void)
{
    static struct exec_hello_entry entries[EXEC_FDS_MAX];
    struct exec_request request = { .op = EXEC_OP_HELLO,
                                    .args = { SHIM_SYSCALL3(SYS_getpid, 0, 0, 0) } };
    struct exec_reply reply;
    struct iovec in = { entries, sizeof(entries) };
    int64_t rc = shim_call(&request, NULL, 0, &reply, &in, 1);
    uint32_t count = rc == 0 ? reply.payload_bytes / (uint32_t)sizeof(entries[0]) : 0;
    for (uint32_t index = 0; index < count && index < EXEC_FDS_MAX; index++) {
        int fd = entries[index].fd;
        if (fd != shim_channel_fd())
            shim_fd_set_kind(fd, entries[index].kind == EXEC_HELLO_DEVICE ? SHIM_FD_DEVICE
                                 : entries[index].kind == EXEC_HELLO_PIPE ? SHIM_FD_PIPE
                                                                          : SHIM_FD_SOCKET);
    }
    entry_save(preload_entry, sizeof(preload_entry), "LD_PRELOAD");
    int channel = shim_channel_fd();
    if (channel != SHIM_CHANNEL_FD_FIXED &&
        SHIM_SYSCALL3(SYS_dup3, channel, SHIM_CHANNEL_FD_FIXED, 0) == SHIM_CHANNEL_FD_FIXED) {
        (void)SHIM_SYSCALL3(SYS_close, channel, 0, 0);
        shim_channel_move(SHIM_CHANNEL_FD_FIXED);
    }
    char number[16];
    int length = 0;
    for (int value = shim_channel_fd(); length == 0 || value > 0; value /= 10)
        number[length++] = (char)('0' + value % 10);
    size_t name_bytes = strlen(SHIM_CHANNEL_NAME);
    memcpy(channel_entry, SHIM_CHANNEL_NAME, name_bytes);
    for (int index = 0; index < length; index++)
        channel_entry[name_bytes + (size_t)index] = number[length - 1 - index];
    channel_entry[name_bytes + (size_t)length] = '\0';
    (void)setenv(EXEC_CHANNEL_ENV, channel_entry + name_bytes, 1);   /* what the program sees */
    struct shim_kernel_sigaction ignore = { .handler = SIG_IGN };
    (void)shim_syscall(SYS_rt_sigaction, SIGCHLD, (long)&ignore, 0, sizeof(uint64_t), 0, 0);
    shim_signal_start();
}

int shim_channel_receive(void)
{
    char byte = 0;
    struct iovec part = { &byte, 1 };
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1, .msg_control = control.space,
                              .msg_controllen = sizeof(control.space) };
    long got;
    do
        got = SHIM_SYSCALL3(SYS_recvmsg, shim_channel_fd(), &message, MSG_CMSG_CLOEXEC);
    while (got == -EINTR);
    if (got <= 0)
        return got < 0 ? (int)got : -EPIPE;
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    if (header == NULL || header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS ||
        header->cmsg_len != CMSG_LEN(sizeof(int)))
        return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(header), sizeof(fd));
    return fd;
}

/* fork as clone(flags, 0, parent_tid, child_tid, tls): the simulated pid, 0 in the child,
 * or -errno. */
static long process_fork(long flags, long parent_tid, long child_tid, long tls)
{
    struct exec_request request = { .op = EXEC_OP_FORK };
    struct exec_reply reply;
    int64_t pid = shim_call(&request, NULL, 0, &reply, NULL, 0);
    if (pid < 0)
        return (long)pid;
    int fd = shim_channel_receive();
    if (fd < 0)
        return -EAGAIN;             /* the child's simulated process sees its channel end */
    flags = (flags & ~(long)(CLONE_VFORK | 0xff)) | SIGCHLD;
    long rc = shim_syscall(SYS_clone, flags, 0, parent_tid, child_tid, tls, 0);
    if (rc != 0) {                  /* the parent (or a failed clone): the child's end goes */
        (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
        return rc < 0 ? rc : (long)pid;
    }
    shim_channel_shm_forget();      /* the parent's page is the parent's: ours is a socket */
    int channel = shim_channel_fd();
    (void)SHIM_SYSCALL3(SYS_dup3, fd, channel, 0);     /* kept across exec, as the first */
    (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
    (void)shim_call_simple(EXEC_OP_HELLO, (int64_t)SHIM_SYSCALL3(SYS_getpid, 0, 0, 0), 0, 0, 0);
    return 0;
}

static long process_clone(long flags, long stack, long parent_tid, long child_tid, long tls)
{
    if ((flags & ~(long)SHIM_FORK_FLAGS) != 0 || stack != 0) {
        /* Threads (CLONE_VM, CLONE_THREAD), shared tables, new namespaces, a new stack
         * (posix_spawn's CLONE_VM | CLONE_VFORK): not a fork the simulation can serve. */
        shim_complain("vmcisim shim: clone with flags other than a fork's refused "
                      "(docs/programs.md)\n");
        (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_SYSCALL, SYS_clone, 0, 0);
        return -ENOSYS;
    }
    return process_fork(flags, parent_tid, child_tid, tls);
}

/* One wait: the child's pid (0: none yet with WNOHANG) and its status, or -errno. */
static long process_wait(int64_t selector, int64_t options, int *status)
{
    struct exec_request request = { .op = EXEC_OP_WAIT, .args = { selector, options } };
    struct exec_reply reply;
    int64_t rc = shim_call(&request, NULL, 0, &reply, NULL, 0);
    if (rc > 0 && status != NULL)
        *status = (int)reply.values[0];
    return (long)rc;
}

static long process_wait4(long pid, long status_address, long options, long usage)
{
    if ((options & ~(long)(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE |
                           __WNOTHREAD)) != 0)
        return -EINVAL;
    /* No process groups are simulated: 0 and -pgid wait for any child. The arguments are
     * C ints: only their low 32 bits count (as in the kernel). */
    pid = (int)pid;
    options = (int)options;
    int64_t selector = pid > 0 ? pid : -1;
    int status = 0;
    long rc = process_wait(selector, options & WNOHANG, &status);
    if (rc > 0 && status_address != 0)
        memcpy((void *)status_address, &status, sizeof(status));
    if (rc >= 0 && usage != 0)
        memset((void *)usage, 0, sizeof(struct rusage));
    return rc;
}

static long process_waitid(long type, long id, long info_address, long options, long usage)
{
    type = (int)type;
    id = (int)id;
    options = (int)options;
    if ((options & (WEXITED | WSTOPPED | WCONTINUED)) == 0 ||
        (options & ~(long)(WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT | __WALL |
                           __WCLONE | __WNOTHREAD)) != 0 ||
        (type != P_ALL && type != P_PID && type != P_PGID))
        return -EINVAL;
    int64_t selector = type == P_PID ? (id > 0 ? id : 0) : -1;
    if (type == P_PID && selector == 0)
        return -EINVAL;
    int status = 0;
    long rc = process_wait(selector, options & (WNOHANG | WNOWAIT), &status);
    if (rc < 0)
        return rc;
    if (usage != 0)
        memset((void *)usage, 0, sizeof(struct rusage));
    if (info_address != 0) {
        siginfo_t info;
        memset(&info, 0, sizeof(info));
        if (rc > 0) {
            info.si_signo = SIGCHLD;
            info.si_code = WIFEXITED(status) ? CLD_EXITED : CLD_KILLED;
            info.si_pid = (pid_t)rc;
            info.si_status = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
        }
        memcpy((void *)info_address, &info, sizeof(info));
    }
    return 0;
}

/* ---- execve ------------------------------------------------------------------------------ */

static bool starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* The environment of the new image: the program's, with the shim's preload first in
 * LD_PRELOAD and the channel entry put back. NULL (E2BIG) when it does not fit. */
static char **exec_environment(char *const envp[])
{
    static char *entries[SHIM_EXEC_STRINGS_MAX + 3];
    static char preload[SHIM_EXEC_PRELOAD_BYTES_MAX * 2];
    size_t count = 0;
    const char *theirs = NULL;
    for (size_t index = 0; envp != NULL && envp[index] != NULL; index++) {
        if (starts_with(envp[index], SHIM_PRELOAD_NAME)) {
            theirs = envp[index] + strlen(SHIM_PRELOAD_NAME);
            continue;
        }
        if (starts_with(envp[index], SHIM_CHANNEL_NAME) ||
            starts_with(envp[index], EXEC_CHANNEL_SHM_ENV "="))
            continue;                   /* the new image's channel is the socket alone */
        if (count >= SHIM_EXEC_STRINGS_MAX)
            return NULL;
        entries[count++] = envp[index];
    }
    size_t ours = strlen(preload_entry);
    memcpy(preload, preload_entry, ours + 1);
    const char *own_value = preload_entry + strlen(SHIM_PRELOAD_NAME);
    if (theirs != NULL && theirs[0] != '\0' && strcmp(theirs, own_value) != 0) {
        if (ours + 1 + strlen(theirs) + 1 > sizeof(preload))
            return NULL;
        preload[ours] = ':';
        memcpy(preload + ours + 1, theirs, strlen(theirs) + 1);
    }
    entries[count++] = preload;
    entries[count++] = channel_entry;
    entries[count] = NULL;
    return entries;
}

/* The command line of the new image: as given, or through the loader as the first image
 * was started (`ld.so --argv0 ARGV0 PATH ARGS...`). NULL (E2BIG) when it does not fit. */
static char **exec_arguments(char *const argv[], const char *path, const char **target)
{
    static char *words[SHIM_EXEC_STRINGS_MAX + 5];
    static char argv0_option[] = "--argv0";
    size_t count = 0;
    *target = path;
    if (loader_mode()) {
        *target = interpreter_path();       /* ld.so rewrites AT_EXECFN: not the loader's */
        if (*target == NULL)
            return NULL;
        words[count++] = (char *)*target;
        words[count++] = argv0_option;
        words[count++] = argv != NULL && argv[0] != NULL ? argv[0] : (char *)path;
        words[count++] = (char *)path;
    } else if (argv != NULL && argv[0] != NULL) {
        words[count++] = argv[0];
    }
    for (size_t index = 1; argv != NULL && argv[0] != NULL && argv[index] != NULL; index++) {
        if (count >= SHIM_EXEC_STRINGS_MAX)
            return NULL;
        words[count++] = argv[index];
    }
    words[count] = NULL;
    return words;
}

/* Announces the exec (the absolute path and the close-on-exec simulated descriptors). */
static long exec_announce(const char *path)
{
    static char absolute[4096];
    size_t length = 0;
    if (path[0] != '/') {
        long got = shim_syscall(SYS_getcwd, (long)absolute, sizeof(absolute), 0, 0, 0, 0);
        if (got < 0)
            return got;
        length = strlen(absolute);
        if (length + 1 < sizeof(absolute) && (length == 0 || absolute[length - 1] != '/'))
            absolute[length++] = '/';
    }
    if (length + strlen(path) + 1 > sizeof(absolute))
        return -ENAMETOOLONG;
    memcpy(absolute + length, path, strlen(path) + 1);
    uint8_t cloexec[EXEC_FDS_MAX / 8];
    memset(cloexec, 0, sizeof(cloexec));
    for (int fd = 0; fd < (int)EXEC_FDS_MAX; fd++) {
        enum shim_fd_kind kind = shim_fd_kind(fd);
        if ((kind == SHIM_FD_SOCKET || kind == SHIM_FD_DEVICE || kind == SHIM_FD_PIPE) &&
            (SHIM_SYSCALL3(SYS_fcntl, fd, F_GETFD, 0) & FD_CLOEXEC) != 0)
            cloexec[fd / 8] |= (uint8_t)(1u << (fd % 8));
    }
    struct exec_request request = { .op = EXEC_OP_EXECVE, .args = { loader_mode() } };
    struct exec_reply reply;
    struct iovec out[2] = { { cloexec, sizeof(cloexec) }, { absolute, strlen(absolute) + 1 } };
    long rc = (long)shim_call(&request, out, 2, &reply, NULL, 0);
    shim_channel_shm_forget();      /* the supervisor left the shared page at this answer */
    if (rc == -ENOEXEC)
        shim_complain("vmcisim shim: execve refused: only dynamically linked x86-64 programs "
                      "(or scripts run by one) run in the sandbox (docs/programs.md)\n");
    return rc;
}

static long process_execve(const char *path, char *const argv[], char *const envp[])
{
    if (path == NULL)
        return -EFAULT;
    if (preload_entry[0] == '\0' || channel_entry[0] == '\0')
        return -ENOSYS;                 /* the shim's own entries were not found at start */
    long rc = exec_announce(path);
    if (rc < 0)
        return rc;
    const char *target = path;
    char **words = exec_arguments(argv, path, &target);
    char **environment = exec_environment(envp);
    rc = words == NULL || environment == NULL
             ? -E2BIG
             : shim_syscall(SYS_execve, (long)target, (long)words, (long)environment, 0, 0, 0);
    (void)shim_call_simple(EXEC_OP_EXECVE_FAILED, rc, 0, 0, 0);     /* still here: failed */
    return rc;
}

static long process_execveat(long dir_fd, const char *path, char *const argv[],
                             char *const envp[], long flags)
{
    /* fexecve (a descriptor, AT_EMPTY_PATH) and paths relative to a directory descriptor
     * are not served: there is no /proc to name them by. */
    if ((int)flags != 0 || path == NULL || (path[0] != '/' && (int)dir_fd != AT_FDCWD))
        return -ENOSYS;
    return process_execve(path, argv, envp);
}

bool shim_process_trap(long number, const long arguments[6], long *result)
{
    const long *a = arguments;
    switch (number) {
    case SYS_clone:
        *result = process_clone(a[0], a[1], a[2], a[3], a[4]);
        return true;
    case SYS_fork:
    case SYS_vfork:
        *result = process_fork(SIGCHLD, 0, 0, 0);
        return true;
    case SYS_wait4:
        *result = process_wait4(a[0], a[1], a[2], a[3]);
        return true;
    case SYS_waitid:
        *result = process_waitid(a[0], a[1], a[2], a[3], a[4]);
        return true;
    case SYS_execve:
        *result = process_execve((const char *)a[0], (char *const *)a[1], (char *const *)a[2]);
        return true;
    case SYS_execveat:
        *result = process_execveat(a[0], (const char *)a[1], (char *const *)a[2],
                                   (char *const *)a[3], a[4]);
        return true;
    default:
        return false;
    }
}
