/* SPDX-License-Identifier: MIT */
/*
 * tests/programs/sandbox_probe.c: looks around from inside the program sandbox and reports.
 *
 * Run by tests/unit/exec_sandbox_test.c through exec_sandbox_spawn, never by hand. Each line
 * of output is "<check> <result>", the result "ok" or an errno name, so that the test can
 * assert every line. It never opens an AF_VSOCK socket and never opens /dev/vsock: the
 * device's absence is checked with stat and readdir only, the socket filter with AF_INET,
 * AF_INET6 and AF_NETLINK. The refused calls get harmless arguments, so that even outside a
 * sandbox they would change nothing. Modes (argv[1]): "report" (default), "calls" (only the
 * socket and refused-call checks, safe outside the sandbox), "exit N", "pause"
 * (prints its pid, waits for a signal), "x32" and "i386" (one call through that ABI, which
 * the filter answers by killing the process).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

/* Descriptors the probe looks at for "fds". */
#define PROBE_FDS_MAX 1024
/* Entries of /dev it lists. */
#define PROBE_DEVICES_MAX 32

static const char *errno_name(int error)
{
    static char other[32];
    switch (error) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EROFS: return "EROFS";
    case ENOSYS: return "ENOSYS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EBADF: return "EBADF";
    default:
        snprintf(other, sizeof other, "errno%d", error);
        return other;
    }
}

static void report_call(const char *check, long result)
{
    printf("%s %s\n", check, errno_name(result < 0 ? errno : 0));
}

static void probe_devices(void)
{
    struct stat status;
    report_call("stat_dev_vsock", stat("/dev/vsock", &status));
    DIR *directory = opendir("/dev");
    if (directory == NULL) {
        printf("dev_entries %s\n", errno_name(errno));
        return;
    }
    char names[PROBE_DEVICES_MAX][256];
    int count = 0;
    for (struct dirent *entry; (entry = readdir(directory)) != NULL && count < PROBE_DEVICES_MAX;)
        if (entry->d_name[0] != '.')
            snprintf(names[count++], sizeof names[0], "%.255s", entry->d_name);
    closedir(directory);
    qsort(names, (size_t)count, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    printf("dev_entries");
    for (int index = 0; index < count; index++)
        printf("%s%s", index == 0 ? " " : ",", names[index]);
    printf("\n");
}

static void probe_sockets(void)
{
    report_call("socket_inet", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    report_call("socket_inet6", syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0));
    report_call("socket_netlink", syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0));
    report_call("socket_inet_upper_bits", syscall(SYS_socket, 0x100000000L | AF_UNIX,
                                                  SOCK_STREAM, 0));
    int pair[2];
    report_call("socketpair_inet", syscall(SYS_socketpair, AF_INET, SOCK_STREAM, 0, pair));
    report_call("socket_unix", syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
    report_call("socketpair_unix", syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, pair));
}

/* Each refused call, with arguments that would do nothing even if it were allowed; where the
 * kernel checks something before privileges, the arguments make it answer another errno than
 * the filter's (the test runs this part outside the sandbox too, to see the difference). */
static void probe_refused_calls(void)
{
    report_call("ptrace", syscall(SYS_ptrace, 0x4206 /* PTRACE_SEIZE */, 0x7fffffff, 0, 0));
    report_call("process_vm_readv", syscall(SYS_process_vm_readv, 1, NULL, 0, NULL, 0, 1));
    report_call("process_vm_writev", syscall(SYS_process_vm_writev, 1, NULL, 0, NULL, 0, 1));
    report_call("pidfd_getfd", syscall(SYS_pidfd_getfd, -1, 0, 0));
    report_call("mount", syscall(SYS_mount, NULL, "/nonexistent-probe", NULL, 0, NULL));
    report_call("umount2", syscall(SYS_umount2, "/nonexistent-probe", 0x80000000));
    report_call("mknod", syscall(SYS_mknod, "/nonexistent-probe/node", S_IFIFO | 0600, 0));
    report_call("mknodat", syscall(SYS_mknodat, AT_FDCWD, "/nonexistent-probe/node",
                                   S_IFIFO | 0600, 0));
    report_call("bpf", syscall(SYS_bpf, -1, NULL, 0));
    report_call("io_uring_setup", syscall(SYS_io_uring_setup, 0, NULL));
    report_call("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0));
    report_call("io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0));
    report_call("init_module", syscall(SYS_init_module, NULL, 0, ""));
    report_call("finit_module", syscall(SYS_finit_module, -1, "", 0));
    report_call("delete_module", syscall(SYS_delete_module, "nonexistent_probe", 0));
    report_call("kexec_load", syscall(SYS_kexec_load, 0, 1000000, NULL, 0xffffffffUL));
    report_call("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0xffffffffUL));
    report_call("unshare", syscall(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */));
    report_call("setns", syscall(SYS_setns, -1, 0));
    report_call("clone3", syscall(SYS_clone3, NULL, 0));
    report_call("personality_set", syscall(SYS_personality, 0));
}

static void probe_process(int argc, char **argv)
{
    int persona = personality(0xffffffff);
    printf("addr_no_randomize %s\n", persona >= 0 && (persona & ADDR_NO_RANDOMIZE) ? "yes" : "no");
    printf("no_new_privs %s\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? "yes" : "no");
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    int got = (int)syscall(SYS_capget, &header, data);
    printf("capabilities %s\n", got == 0 && (data[0].effective | data[1].effective |
                                              data[0].permitted | data[1].permitted) == 0
                                    ? "none" : "some");
    char host_name[64] = "";
    gethostname(host_name, sizeof host_name - 1);
    printf("hostname %s\n", host_name);
    char directory[512] = "";
    printf("cwd %s\n", getcwd(directory, sizeof directory) != NULL ? directory : "?");
    printf("argv0 %s\n", argv[0]);
    printf("argc %d\n", argc);
    const char *marker = getenv("PROBE_MARKER");
    printf("environment %s %s\n", marker != NULL ? marker : "-",
           getenv("LD_PRELOAD") != NULL ? "preload" : "no-preload");
    struct sigaction action;
    sigaction(SIGPIPE, NULL, &action);
    printf("sigpipe %s\n", action.sa_handler == SIG_DFL ? "default" : "changed");
    sigset_t mask;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    printf("sigmask %s\n", sigismember(&mask, SIGTERM) ? "blocked" : "empty");
    printf("fds");
    for (int fd = 0, count = 0; fd < PROBE_FDS_MAX; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            printf("%s%d", count++ == 0 ? " " : ",", fd);
    printf("\n");
}

/* Creating a file: only the scratch directory (the working directory) is writable. */
static void probe_writes(void)
{
    static const char *const places[][2] = {
        { "write_root", "/probe-file" }, { "write_usr", "/usr/probe-file" },
        { "write_etc", "/etc/probe-file" }, { "write_dev", "/dev/probe-file" },
        { "write_scratch", "probe-file" },
    };
    for (size_t index = 0; index < sizeof places / sizeof places[0]; index++) {
        int fd = open(places[index][1], O_WRONLY | O_CREAT | O_EXCL, 0644);
        report_call(places[index][0], fd);
        if (fd >= 0)
            close(fd);
    }
    struct stat status;
    report_call("stat_proc", stat("/proc/self", &status));
    report_call("stat_home", stat("/home", &status));
}

static int other_abi_call(const char *mode)
{
    if (strcmp(mode, "x32") == 0) {
        long result = syscall(39 | 0x40000000L);   /* x32's getpid */
        printf("x32 survived %ld\n", result);
    } else {
        long result;
        __asm__ volatile("int $0x80" : "=a"(result) : "a"(20L) : "memory"); /* i386 getpid */
        printf("i386 survived %ld\n", result);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "report";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "exit") == 0 && argc > 2)
        return atoi(argv[2]);
    if (strcmp(mode, "pause") == 0) {
        printf("pid %ld\n", (long)getpid());
        for (;;)
            pause();
    }
    if (strcmp(mode, "x32") == 0 || strcmp(mode, "i386") == 0)
        return other_abi_call(mode);
    if (strcmp(mode, "calls") == 0) {
        probe_sockets();
        probe_refused_calls();
        printf("end\n");
        return 0;
    }
    probe_process(argc, argv);
    probe_devices();
    probe_sockets();
    probe_refused_calls();
    probe_writes();
    printf("end\n");
    return 0;
}
