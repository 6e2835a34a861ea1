/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/sandbox_int.h: what the files of the sandbox share (not for other layers).
 *
 * sandbox.c builds bwrap's command line and starts it; sandbox_elf.c decides whether a binary
 * can run (dynamically linked x86-64 ELF, or a script whose interpreter is one);
 * sandbox_filter.c builds the seccomp filter and hands it over as a descriptor.
 */
#ifndef SIM_EXEC_SANDBOX_INT_H
#define SIM_EXEC_SANDBOX_INT_H

#include "sim/exec/sandbox.h"

/* Program headers read from one ELF file; a real program has about a dozen. */
#define EXEC_SANDBOX_ELF_HEADERS_MAX 512u
/* Bytes of a script's first line the kernel reads for "#!" (its BINPRM_BUF_SIZE). */
#define EXEC_SANDBOX_SCRIPT_LINE_BYTES_MAX 256u

/* 0 when `path` can run in the sandbox. For an ELF program, `interpreter` receives its
 * PT_INTERP (the dynamic loader); for a "#!" script it receives "" (the script's own
 * interpreter, checked to be a dynamically linked ELF, is the kernel's business). */
int exec_sandbox_check_binary(const char *path, char interpreter[EXEC_SANDBOX_PATH_BYTES_MAX],
                              char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

/* Builds the seccomp filter and writes its BPF program into a new memory file; *fd_out is
 * that file (close-on-exec, positioned at 0), for bwrap's --seccomp. */
int exec_sandbox_filter_fd(int *fd_out, char message[SIM_ERROR_MESSAGE_BYTES_MAX]);

#endif /* SIM_EXEC_SANDBOX_INT_H */
