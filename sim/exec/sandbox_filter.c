/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/sandbox_filter.c: the seccomp filter every program runs under.
 *
 * Built with libseccomp and exported as a BPF program into a memory file that bwrap loads
 * (--seccomp FD) just before it executes the program. Default: allow; the filter exists to
 * keep a program inside the simulation, not to replace the namespaces. What it refuses and
 * why is docs/programs.md, "The sandbox"; in short:
 *   - socket/socketpair: only AF_UNIX may be created in the kernel (the shim serves AF_VSOCK
 *     over AF_UNIX placeholders); any other family fails with EAFNOSUPPORT, as on a kernel
 *     built without that family, so programs that probe families fall back quietly.
 *   - calls that would reach outside the process or its view (ptrace, another process's
 *     memory or descriptors, mounts, device nodes, BPF, io_uring, modules, kexec, new
 *     namespaces, ...) fail with EPERM.
 *   - clone3 fails with ENOSYS: glibc then falls back to clone, whose flags the shim can see.
 *   - personality may only be queried, so a program cannot re-enable address randomisation
 *     for what it executes.
 *   - any syscall made through another ABI (i386's int 0x80, x32's numbers) kills the process.
 * Invariant: the filter is the same on every run (no address or time goes into it).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sim/exec/sandbox_int.h"

/* Refused with EPERM: each reaches beyond the program's own process and sandbox. */
static const char *const refused_syscalls[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "process_madvise",
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "open_tree", "move_mount", "mount_setattr",
    "mknod", "mknodat",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module",
    "kexec_load", "kexec_file_load",
    "unshare", "setns",
    "keyctl", "add_key", "request_key",
};

/* personality(0xffffffff) only reads the current persona. */
#define PERSONALITY_QUERY 0xffffffffu

static int add_rule(scmp_filter_ctx filter, uint32_t action, const char *name,
                    unsigned int comparison_count, const struct scmp_arg_cmp *comparison,
                    char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    int number = seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "libseccomp does not know the system call %s: the sandbox cannot be built", name);
        return SIM_ENOSYS;
    }
    int result = seccomp_rule_add_array(filter, action, number, comparison_count, comparison);
    if (result != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "libseccomp refused the rule for %s: %s", name, strerror(-result));
        return SIM_ENOSYS;
    }
    return 0;
}

static int add_rules(scmp_filter_ctx filter, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    int result = 0;
    for (size_t index = 0; result == 0 && index < sizeof refused_syscalls /
                                                  sizeof refused_syscalls[0]; index++)
        result = add_rule(filter, SCMP_ACT_ERRNO(EPERM), refused_syscalls[index], 0, NULL,
                          message);
    /* A full 64-bit comparison: a family with garbage in the upper half is refused too. */
    /* Every member named (datum_b unused by NE): clang's -Wmissing-field-initializers
     * rejects the two-value form of SCMP_A0. */
    struct scmp_arg_cmp not_unix = SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0);
    if (result == 0)
        result = add_rule(filter, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &not_unix,
                          message);
    if (result == 0)
        result = add_rule(filter, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socketpair", 1, &not_unix,
                          message);
    if (result == 0)
        result = add_rule(filter, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, message);
    struct scmp_arg_cmp not_query = SCMP_A0(SCMP_CMP_NE, PERSONALITY_QUERY, 0);
    if (result == 0)
        result = add_rule(filter, SCMP_ACT_ERRNO(EPERM), "personality", 1, &not_query, message);
    return result;
}

/* Writes the filter's BPF program into a memory file. */
static int export_filter(scmp_filter_ctx filter, int *fd_out,
                         char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    int fd = memfd_create("vmcisim-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "cannot create a memory file for the seccomp filter: %s", strerror(errno));
        return SIM_ENOSYS;
    }
    int result = seccomp_export_bpf(filter, fd);
    if (result != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "cannot export the seccomp filter: %s",
                 strerror(result != 0 ? -result : errno));
        close(fd);
        return SIM_ENOSYS;
    }
    *fd_out = fd;
    return 0;
}

int exec_sandbox_filter_fd(int *fd_out, char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(fd_out != NULL && message != NULL);
    *fd_out = -1;
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    if (filter == NULL) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "libseccomp cannot create a filter");
        return SIM_ENOMEM;
    }
    /* Only the native x86-64 ABI is in the filter; x32 and i386 calls meet this action. */
    int result = seccomp_attr_set(filter, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    /* bwrap sets no_new_privs itself before loading; the filter need not. */
    if (result == 0)
        result = seccomp_attr_set(filter, SCMP_FLTATR_CTL_NNP, 0);
    if (result != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "libseccomp refused a filter attribute: %s", strerror(-result));
        seccomp_release(filter);
        return SIM_ENOSYS;
    }
    result = add_rules(filter, message);
    if (result == 0)
        result = export_filter(filter, fd_out, message);
    seccomp_release(filter);
    return result;
}
