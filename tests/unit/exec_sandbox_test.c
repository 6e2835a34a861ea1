/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/exec_sandbox_test.c: the sandbox real programs run in (sim/exec/sandbox.h).
 *
 * (tests/unit/sandbox_test.c is the Lua sandbox; this is the one for real programs.) Most
 * tests start tests/programs/sandbox_probe inside the sandbox and assert each line it
 * prints: no vsock device (stat and readdir only), only AF_UNIX sockets, each refused call's
 * errno, no address randomisation, no capabilities, only scratch writable, exactly the
 * descriptors asked for. A control run of the probe outside the sandbox shows that those
 * answers come from the sandbox, not from this machine. Others check what is refused before
 * anything starts (static and malformed binaries, bad configurations) and what available()
 * says when bwrap is missing or cannot create namespaces (a PATH without bwrap, a fake bwrap
 * that fails as a refused user namespace does). No test opens AF_VSOCK or /dev/vsock.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "sim/exec/sandbox.h"
#include "sim/exec/sandbox_int.h"
#include "suites.h"
#include "test_support.h"

/* Bytes of a probe's output kept (its report is about 1.5 KiB). */
#define PROBE_OUTPUT_BYTES_MAX 16384u
/* How long a test waits for a probe to end or die (wall time; never asserted). */
#define PROBE_WAIT_MS_MAX 20000

struct probe_run {
    char output[PROBE_OUTPUT_BYTES_MAX];   /* starts with '\n', so every line is "\n...\n" */
    int spawn_result;
    int status;                            /* waitpid's, when spawn_result is 0 */
    char message[SIM_ERROR_MESSAGE_BYTES_MAX];
    char scratch[64];
};

/* build/tests/programs/<name> beside this build's unit_tests (also under build/asan). */
static void probe_path(const char *name, char path[PATH_MAX])
{
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    CU_ASSERT_FATAL(length > 0);
    self[length] = '\0';
    char *slash = strrchr(self, '/');
    CU_ASSERT_FATAL(slash != NULL);
    *slash = '\0';
    snprintf(path, PATH_MAX, "%.3000s/tests/programs/%s", self, name);
}

/* Reads until end of file (every writer closed) or the wait runs out; 0 at end of file. */
static int read_all(int fd, char *buffer, size_t capacity)
{
    size_t used = strlen(buffer);
    for (int waited_ms = 0; waited_ms < PROBE_WAIT_MS_MAX; waited_ms += 100) {
        struct pollfd watch = { fd, POLLIN, 0 };
        if (poll(&watch, 1, 100) <= 0)
            continue;
        ssize_t got = read(fd, buffer + used, capacity - 1 - used);
        if (got == 0)
            return 0;
        if (got < 0 && errno != EINTR)
            return -1;
        if (got > 0)
            used += (size_t)got;
        buffer[used] = '\0';
        if (used + 1 == capacity)
            return -1;
    }
    return -1;
}

static void make_scratch(struct probe_run *run)
{
    snprintf(run->scratch, sizeof run->scratch, "/tmp/vmcisim-exec-sandbox-XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(run->scratch) != NULL);
}

static void remove_scratch(struct probe_run *run)
{
    char file[128];
    snprintf(file, sizeof file, "%s/probe-file", run->scratch);
    unlink(file);
    CU_ASSERT_EQUAL(rmdir(run->scratch), 0);
}

/* Starts `config` with stdout and stderr into a pipe (config's fds are filled in), reads
 * everything it writes, waits for it. */
static void run_config(struct exec_sandbox_config *config, struct probe_run *run)
{
    int output[2];
    CU_ASSERT_FATAL(pipe2(output, O_CLOEXEC) == 0);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(null_fd >= 0);
    config->stdin_fd = null_fd;
    config->stdout_fd = output[1];
    config->stderr_fd = output[1];
    pid_t pid = -1;
    strcpy(run->output, "\n");
    run->spawn_result = exec_sandbox_spawn(config, &pid, run->message);
    close(output[1]);
    close(null_fd);
    if (run->spawn_result == 0) {
        CU_ASSERT(pid > 0);
        CU_ASSERT_EQUAL(read_all(output[0], run->output, sizeof run->output), 0);
        CU_ASSERT_EQUAL(waitpid(pid, &run->status, 0), pid);
    } else {
        CU_ASSERT_EQUAL(pid, -1);
    }
    close(output[0]);
}

/* Runs the probe (dynamic build) in a fresh scratch directory with `arguments` after argv[0]. */
static void run_probe(const char *argv0, const char *const *arguments, const int *keep_fds,
                      uint32_t keep_fd_count, struct probe_run *run)
{
    char binary[PATH_MAX];
    probe_path("sandbox_probe", binary);
    const char *argv[8] = { argv0 != NULL ? argv0 : binary };
    for (int index = 0; arguments != NULL && arguments[index] != NULL && index < 6; index++)
        argv[index + 1] = arguments[index];
    const char *const envp[] = { "PATH=/usr/bin:/bin", "PROBE_MARKER=seen", "TZ=UTC", NULL };
    make_scratch(run);
    struct exec_sandbox_config config = {
        .binary_path = binary, .argv = argv, .envp = envp, .scratch_dir = run->scratch,
        .keep_fds = keep_fds, .keep_fd_count = keep_fd_count,
    };
    run_config(&config, run);
}

#define ASSERT_LINE(run, line) ASSERT_STR_CONTAINS((run)->output, "\n" line "\n")

static void test_available_here(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    int result = exec_sandbox_available(message);
    if (result != 0)
        fprintf(stderr, "exec sandbox unavailable: %s\n", message);
    CU_ASSERT_EQUAL(result, 0);
}

/* Isolation, identity and descriptors, as the program sees them. The simulator ignores
 * SIGPIPE, blocks SIGTERM and holds a descriptor it did not pass: none of that may leak. */
static void test_probe_sees_its_process(void)
{
    struct sigaction ignore = { .sa_handler = SIG_IGN }, previous;
    sigaction(SIGPIPE, &ignore, &previous);
    sigset_t block, previous_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &previous_mask);
    int leaked_fd = open("/dev/null", O_RDONLY);            /* not close-on-exec, not kept */
    CU_ASSERT_FATAL(leaked_fd >= 0);
    int kept_fd = fcntl(leaked_fd, F_DUPFD_CLOEXEC, 20);   /* the sandbox clears the flag */
    CU_ASSERT_FATAL(kept_fd >= 20);
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    run_probe(NULL, NULL, &kept_fd, 1, run);
    sigaction(SIGPIPE, &previous, NULL);
    sigprocmask(SIG_SETMASK, &previous_mask, NULL);
    close(kept_fd);
    close(leaked_fd);
    CU_ASSERT_EQUAL_FATAL(run->spawn_result, 0);
    CU_ASSERT(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0);
    ASSERT_LINE(run, "addr_no_randomize yes");
    ASSERT_LINE(run, "no_new_privs yes");
    ASSERT_LINE(run, "capabilities none");
    ASSERT_LINE(run, "hostname vmcisim");
    ASSERT_LINE(run, "environment seen no-preload");
    ASSERT_LINE(run, "sigpipe default");
    ASSERT_LINE(run, "sigmask empty");
    char fds_line[64];
    snprintf(fds_line, sizeof fds_line, "\nfds 0,1,2,%d\n", kept_fd);
    ASSERT_STR_CONTAINS(run->output, fds_line);
    char cwd_line[128];
    snprintf(cwd_line, sizeof cwd_line, "\ncwd %s\n", run->scratch);
    ASSERT_STR_CONTAINS(run->output, cwd_line);
    ASSERT_LINE(run, "end");
    remove_scratch(run);
    free(run);
}

/* The fresh /dev has exactly null, tty, urandom and zero; no vsock device; only the scratch
 * directory is writable (the probe's file lands in it on the host). */
static void test_probe_sees_its_files(void)
{
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    run_probe(NULL, NULL, NULL, 0, run);
    CU_ASSERT_EQUAL_FATAL(run->spawn_result, 0);
    ASSERT_LINE(run, "stat_dev_vsock ENOENT");
    ASSERT_LINE(run, "dev_entries null,tty,urandom,zero");
    ASSERT_LINE(run, "write_root EROFS");
    ASSERT_LINE(run, "write_usr EROFS");
    ASSERT_LINE(run, "write_etc EROFS");
    ASSERT_LINE(run, "write_dev EROFS");
    ASSERT_LINE(run, "write_scratch ok");
    ASSERT_LINE(run, "stat_proc ENOENT");
    ASSERT_LINE(run, "stat_home ENOENT");
    char file[128];
    struct stat status;
    snprintf(file, sizeof file, "%s/probe-file", run->scratch);
    CU_ASSERT_EQUAL(stat(file, &status), 0);
    remove_scratch(run);
    free(run);
}

/* The filter: only AF_UNIX sockets; each refused call with its errno; clone3 ENOSYS. */
static void test_probe_meets_the_filter(void)
{
    static const char *const refused_lines[] = {
        "ptrace EPERM", "process_vm_readv EPERM", "process_vm_writev EPERM",
        "pidfd_getfd EPERM", "mount EPERM", "umount2 EPERM", "mknod EPERM", "mknodat EPERM",
        "bpf EPERM", "io_uring_setup EPERM", "io_uring_enter EPERM", "io_uring_register EPERM",
        "init_module EPERM", "finit_module EPERM", "delete_module EPERM", "kexec_load EPERM",
        "kexec_file_load EPERM", "unshare EPERM", "setns EPERM", "clone3 ENOSYS",
        "personality_set EPERM",
        "socket_inet EAFNOSUPPORT", "socket_inet6 EAFNOSUPPORT", "socket_netlink EAFNOSUPPORT",
        "socket_inet_upper_bits EAFNOSUPPORT", "socketpair_inet EAFNOSUPPORT",
        "socket_unix ok", "socketpair_unix ok",
    };
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    const char *const arguments[] = { "calls", NULL };
    run_probe(NULL, arguments, NULL, 0, run);
    CU_ASSERT_EQUAL_FATAL(run->spawn_result, 0);
    for (size_t index = 0; index < sizeof refused_lines / sizeof refused_lines[0]; index++) {
        char line[96];
        snprintf(line, sizeof line, "\n%s\n", refused_lines[index]);
        ASSERT_STR_CONTAINS(run->output, line);
    }
    ASSERT_LINE(run, "end");
    remove_scratch(run);
    free(run);
}

/* The same calls outside the sandbox answer differently: the answers above are the filter's. */
static void test_probe_outside_answers_otherwise(void)
{
    char binary[PATH_MAX];
    probe_path("sandbox_probe", binary);
    int output[2];
    CU_ASSERT_FATAL(pipe2(output, O_CLOEXEC) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        dup2(output[1], 1);
        execl(binary, binary, "calls", (char *)NULL);
        _exit(127);
    }
    close(output[1]);
    char text[PROBE_OUTPUT_BYTES_MAX] = "\n";
    CU_ASSERT_EQUAL(read_all(output[0], text, sizeof text), 0);
    close(output[0]);
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    ASSERT_STR_CONTAINS(text, "\nsocket_inet ok\n");
    ASSERT_STR_CONTAINS(text, "\nsocket_inet_upper_bits ok\n");
    ASSERT_STR_CONTAINS(text, "\nclone3 EINVAL\n");
    ASSERT_STR_CONTAINS(text, "\npersonality_set ok\n");
    ASSERT_STR_CONTAINS(text, "\nsetns EBADF\n");
    ASSERT_STR_CONTAINS(text, "\npidfd_getfd EBADF\n");
    ASSERT_STR_CONTAINS(text, "\nmknod ENOENT\n");
    ASSERT_STR_CONTAINS(text, "\nend\n");
}

/* argv[0] other than the binary's path reaches the program (through its loader). */
static void test_argv0_is_the_programs(void)
{
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    const char *const arguments[] = { "report", NULL };
    run_probe("renamed-probe", arguments, NULL, 0, run);
    CU_ASSERT_EQUAL_FATAL(run->spawn_result, 0);
    ASSERT_LINE(run, "argv0 renamed-probe");
    ASSERT_LINE(run, "argc 2");
    ASSERT_LINE(run, "addr_no_randomize yes");
    ASSERT_LINE(run, "end");
    remove_scratch(run);
    char binary[PATH_MAX], line[PATH_MAX + 16];
    probe_path("sandbox_probe", binary);
    run_probe(NULL, NULL, NULL, 0, run);
    snprintf(line, sizeof line, "\nargv0 %s\n", binary);
    ASSERT_STR_CONTAINS(run->output, line);
    ASSERT_LINE(run, "argc 1");
    remove_scratch(run);
    free(run);
}

/* The status bwrap's pid ends with: the program's exit code, 128 + N for signal N. */
static void test_exit_status_is_the_programs(void)
{
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    const char *const exit_seven[] = { "exit", "7", NULL };
    run_probe(NULL, exit_seven, NULL, 0, run);
    CU_ASSERT_EQUAL_FATAL(run->spawn_result, 0);
    CU_ASSERT(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 7);
    remove_scratch(run);
    static const char *const abis[] = { "x32", "i386" };
    for (size_t index = 0; index < 2; index++) {
        const char *const arguments[] = { abis[index], NULL };
        run_probe(NULL, arguments, NULL, 0, run);
        CU_ASSERT_EQUAL_FATAL(run->spawn_result, 0);
        CU_ASSERT(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 128 + SIGSYS);
        CU_ASSERT(strstr(run->output, "survived") == NULL);
        remove_scratch(run);
    }
    free(run);
}

/* Killing the pid spawn gave (bwrap) kills the program: its end of the pipe closes. */
static void test_kill_reaches_the_program(void)
{
    char binary[PATH_MAX];
    probe_path("sandbox_probe", binary);
    const char *const argv[] = { binary, "pause", NULL };
    const char *const envp[] = { NULL };
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    make_scratch(run);
    int output[2];
    CU_ASSERT_FATAL(pipe2(output, O_CLOEXEC) == 0);
    struct exec_sandbox_config config = {
        .binary_path = binary, .argv = argv, .envp = envp, .scratch_dir = run->scratch,
        .stdin_fd = output[1], .stdout_fd = output[1], .stderr_fd = output[1],
    };
    pid_t pid = -1;
    CU_ASSERT_EQUAL_FATAL(exec_sandbox_spawn(&config, &pid, run->message), 0);
    close(output[1]);
    char line[64] = "";
    size_t used = 0;
    while (used + 1 < sizeof line && strchr(line, '\n') == NULL &&
           read(output[0], line + used, 1) == 1)
        line[++used] = '\0';
    ASSERT_STR_CONTAINS(line, "pid ");
    CU_ASSERT_EQUAL(kill(pid, SIGKILL), 0);
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    strcpy(run->output, "\n");
    CU_ASSERT_EQUAL(read_all(output[0], run->output, sizeof run->output), 0);
    close(output[0]);
    remove_scratch(run);
    free(run);
}

/* Expects spawn to refuse `binary` before starting anything, with `words` in the message. */
static void expect_refused_binary(const char *binary, int expected, const char *words)
{
    const char *const argv[] = { binary, NULL };
    const char *const envp[] = { NULL };
    struct exec_sandbox_config config = {
        .binary_path = binary, .argv = argv, .envp = envp, .scratch_dir = "/tmp",
        .stdin_fd = 0, .stdout_fd = 1, .stderr_fd = 2,
    };
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    pid_t pid = 12345;
    CU_ASSERT_EQUAL(exec_sandbox_spawn(&config, &pid, message), expected);
    CU_ASSERT_EQUAL(pid, -1);
    ASSERT_STR_CONTAINS(message, words);
}

static void test_static_binary_refused(void)
{
    char binary[PATH_MAX];
    probe_path("sandbox_probe_static", binary);
    expect_refused_binary(binary, SIM_EINVAL, "is statically linked");
    expect_refused_binary("relative/probe", SIM_EINVAL, "is not absolute");
    expect_refused_binary("/nonexistent-vmcisim/probe", SIM_EINVAL, "not an executable file");
    expect_refused_binary("/usr", SIM_EINVAL, "not an executable file");
}

/* One crafted ELF file: its header fields, then one program header of type `header_type`
 * whose content is `content` (bytes) with p_filesz `content_size`. */
struct crafted_elf {
    unsigned char elf_class;
    uint16_t machine, type, program_header_count, program_header_size;
    uint32_t header_type;
    const char *content;
    uint64_t content_size;
    size_t file_bytes;                 /* 0: the whole image */
};

static void write_crafted(const char *path, const struct crafted_elf *craft)
{
    unsigned char image[1024];
    memset(image, 0, sizeof image);
    Elf64_Ehdr header = {
        .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, craft->elf_class, ELFDATA2LSB, 1 },
        .e_type = craft->type, .e_machine = craft->machine, .e_version = 1,
        .e_phoff = sizeof header, .e_ehsize = sizeof header,
        .e_phentsize = craft->program_header_size, .e_phnum = craft->program_header_count,
    };
    Elf64_Phdr program = {
        .p_type = craft->header_type, .p_offset = 512, .p_filesz = craft->content_size,
    };
    memcpy(image, &header, sizeof header);
    memcpy(image + sizeof header, &program, sizeof program);
    if (craft->content != NULL)
        memcpy(image + 512, craft->content, strlen(craft->content) + 1);
    FILE *file = fopen(path, "wb");
    CU_ASSERT_FATAL(file != NULL);
    size_t bytes = craft->file_bytes != 0 ? craft->file_bytes : sizeof image;
    CU_ASSERT(fwrite(image, 1, bytes, file) == bytes);
    fclose(file);
    chmod(path, 0755);
}

static void test_malformed_binaries_refused(void)
{
    static const char loader[] = "/lib64/ld-linux-x86-64.so.2";
    const struct { struct crafted_elf craft; const char *words; } cases[] = {
        { { ELFCLASS32, EM_X86_64, ET_EXEC, 1, sizeof(Elf64_Phdr), PT_INTERP, loader, 28, 0 },
          "is not an x86-64 program" },
        { { ELFCLASS64, EM_AARCH64, ET_EXEC, 1, sizeof(Elf64_Phdr), PT_INTERP, loader, 28, 0 },
          "is not an x86-64 program" },
        { { ELFCLASS64, EM_X86_64, ET_REL, 1, sizeof(Elf64_Phdr), PT_INTERP, loader, 28, 0 },
          "is an ELF file but not a program" },
        { { ELFCLASS64, EM_X86_64, ET_EXEC, 60000, sizeof(Elf64_Phdr), PT_INTERP, loader, 28, 0 },
          "malformed program headers" },
        { { ELFCLASS64, EM_X86_64, ET_EXEC, 1, 12, PT_INTERP, loader, 28, 0 },
          "malformed program headers" },
        { { ELFCLASS64, EM_X86_64, ET_EXEC, 1, sizeof(Elf64_Phdr), PT_LOAD, NULL, 0, 0 },
          "is statically linked" },
        { { ELFCLASS64, EM_X86_64, ET_DYN, 1, sizeof(Elf64_Phdr), PT_INTERP, loader, 1u << 20,
            0 }, "malformed PT_INTERP" },
        { { ELFCLASS64, EM_X86_64, ET_DYN, 1, sizeof(Elf64_Phdr), PT_INTERP, loader, 10, 0 },
          "malformed PT_INTERP" },                   /* no NUL within p_filesz */
        { { ELFCLASS64, EM_X86_64, ET_DYN, 1, sizeof(Elf64_Phdr), PT_INTERP, "lib/ld.so", 10,
            0 }, "malformed PT_INTERP" },            /* not absolute */
        { { ELFCLASS64, EM_X86_64, ET_DYN, 1, sizeof(Elf64_Phdr), PT_INTERP, loader, 28, 520 },
          "malformed PT_INTERP" },                   /* the string is past the end of file */
        { { ELFCLASS64, EM_X86_64, ET_DYN, 1, sizeof(Elf64_Phdr), PT_INTERP, loader, 28, 20 },
          "truncated ELF file" },
    };
    char path[] = "/tmp/vmcisim-exec-elf-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        write_crafted(path, &cases[index].craft);
        expect_refused_binary(path, SIM_EINVAL, cases[index].words);
    }
    /* The same image with a well-formed PT_INTERP passes the check. */
    const struct crafted_elf good = { ELFCLASS64, EM_X86_64, ET_DYN, 1, sizeof(Elf64_Phdr),
                                      PT_INTERP, loader, 28, 0 };
    write_crafted(path, &good);
    char interpreter[EXEC_SANDBOX_PATH_BYTES_MAX], message[SIM_ERROR_MESSAGE_BYTES_MAX];
    CU_ASSERT_EQUAL(exec_sandbox_check_binary(path, interpreter, message), 0);
    CU_ASSERT_STRING_EQUAL(interpreter, loader);
    chmod(path, 0644);
    expect_refused_binary(path, SIM_EINVAL, "not an executable file");
    unlink(path);
}

static void write_script(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    CU_ASSERT_FATAL(file != NULL);
    fputs(text, file);
    fclose(file);
    chmod(path, 0755);
}

/* A "#!" script whose interpreter is a dynamic program runs; other scripts are refused. */
static void test_scripts(void)
{
    char path[] = "/tmp/vmcisim-exec-script-XXXXXX", inner[] = "/tmp/vmcisim-exec-inner-XXXXXX";
    int fd = mkstemp(path), inner_fd = mkstemp(inner);
    CU_ASSERT_FATAL(fd >= 0 && inner_fd >= 0);
    close(fd);
    close(inner_fd);
    write_script(path, "#!/bin/sh\necho script ran in $PWD\n");
    const char *const argv[] = { path, NULL };
    const char *const envp[] = { "PATH=/usr/bin:/bin", NULL };
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    make_scratch(run);
    struct exec_sandbox_config config = {
        .binary_path = path, .argv = argv, .envp = envp, .scratch_dir = run->scratch,
        .cwd = "/usr",
    };
    run_config(&config, run);
    CU_ASSERT_EQUAL(run->spawn_result, 0);
    ASSERT_LINE(run, "script ran in /usr");
    CU_ASSERT(WIFEXITED(run->status) && WEXITSTATUS(run->status) == 0);
    remove_scratch(run);
    free(run);
    write_script(path, "#!sh\n");
    expect_refused_binary(path, SIM_EINVAL, "does not name an absolute interpreter");
    char long_line[EXEC_SANDBOX_SCRIPT_LINE_BYTES_MAX + 8] = "#!/bin/";
    memset(long_line + 7, 'x', EXEC_SANDBOX_SCRIPT_LINE_BYTES_MAX);
    long_line[EXEC_SANDBOX_SCRIPT_LINE_BYTES_MAX + 7] = '\0';
    write_script(path, long_line);
    expect_refused_binary(path, SIM_EINVAL, "does not name an absolute interpreter");
    write_script(inner, "#!/bin/sh\n");
    char outer[128];
    snprintf(outer, sizeof outer, "#!%s\n", inner);
    write_script(path, outer);
    expect_refused_binary(path, SIM_EINVAL, "is a script run by a script");
    write_script(path, "just text\n");
    expect_refused_binary(path, SIM_EINVAL, "neither an ELF program nor");
    unlink(path);
    unlink(inner);
}

static void expect_config_refused(const struct exec_sandbox_config *config, int expected,
                                  const char *words)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "";
    pid_t pid = 12345;
    CU_ASSERT_EQUAL(exec_sandbox_spawn(config, &pid, message), expected);
    CU_ASSERT_EQUAL(pid, -1);
    ASSERT_STR_CONTAINS(message, words);
}

static void test_bad_configurations_refused(void)
{
    char binary[PATH_MAX];
    probe_path("sandbox_probe", binary);
    const char *const argv[] = { binary, NULL };
    const char *const no_argv[] = { NULL };
    const char *const envp[] = { NULL };
    const char *const bad_envp[] = { "NOEQUALS", NULL };
    static const char *many[EXEC_SANDBOX_ARGUMENTS_MAX + 2];
    for (uint32_t index = 0; index <= EXEC_SANDBOX_ARGUMENTS_MAX; index++)
        many[index] = "x";
    int open_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fds[EXEC_SANDBOX_KEEP_FDS_MAX + 1];
    for (uint32_t index = 0; index <= EXEC_SANDBOX_KEEP_FDS_MAX; index++)
        fds[index] = open_fd;
    const int low_fd = 2, closed_fd = 1000;
    const struct exec_sandbox_config good = {
        .binary_path = binary, .argv = argv, .envp = envp, .scratch_dir = "/tmp",
    };
    struct exec_sandbox_config config = good;
    config.argv = no_argv;
    expect_config_refused(&config, SIM_EINVAL, "incomplete program configuration");
    config = good;
    config.stdout_fd = -1;
    expect_config_refused(&config, SIM_EINVAL, "incomplete program configuration");
    config.stdout_fd = closed_fd;
    expect_config_refused(&config, SIM_EINVAL, "three open standard descriptors");
    config = good;
    config.argv = many;
    expect_config_refused(&config, SIM_ELIMIT, "at most 256 arguments");
    config = good;
    config.envp = bad_envp;
    expect_config_refused(&config, SIM_EINVAL, "not NAME=VALUE");
    config = good;
    config.keep_fds = fds;
    config.keep_fd_count = EXEC_SANDBOX_KEEP_FDS_MAX + 1;
    expect_config_refused(&config, SIM_ELIMIT, "kept descriptors");
    config.keep_fd_count = 2;                      /* the same descriptor twice */
    expect_config_refused(&config, SIM_EINVAL, "listed once");
    config.keep_fds = &low_fd;
    config.keep_fd_count = 1;
    expect_config_refused(&config, SIM_EINVAL, "kept descriptor 2");
    config.keep_fds = &closed_fd;
    expect_config_refused(&config, SIM_EINVAL, "kept descriptor 1000");
    config = good;
    config.scratch_dir = "/nonexistent-vmcisim-scratch";
    expect_config_refused(&config, SIM_EINVAL, "scratch directory /nonexistent-vmcisim-scratch");
    config.scratch_dir = "tmp";
    expect_config_refused(&config, SIM_EINVAL, "scratch directory tmp is not");
    config = good;
    config.shim_path = "/tmp";
    expect_config_refused(&config, SIM_EINVAL, "shim /tmp is not an existing file");
    config = good;
    config.cwd = "relative";
    expect_config_refused(&config, SIM_EINVAL, "working directory 'relative' is not an absolute");
    /* A directory bwrap could not enter is refused before it starts, naming it. */
    config.cwd = "/nonexistent-vmcisim-cwd";
    expect_config_refused(&config, SIM_EINVAL,
                          "working directory '/nonexistent-vmcisim-cwd' is not an existing");
    config.cwd = "/dev/null";
    expect_config_refused(&config, SIM_EINVAL, "working directory '/dev/null' is not an existing");
    config.cwd = "/proc";
    expect_config_refused(&config, SIM_EINVAL, "working directory '/proc' is outside");
    close(open_fd);
}

/* Runs available() and a spawn of the probe with PATH set to `search`; restores PATH. */
static void with_path(const char *search, int *available_result, int *spawn_result,
                      char message[SIM_ERROR_MESSAGE_BYTES_MAX],
                      char spawn_message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    const char *saved = getenv("PATH");
    char *copy = saved != NULL ? strdup(saved) : NULL;
    CU_ASSERT_FATAL(saved == NULL || copy != NULL);
    CU_ASSERT_FATAL(setenv("PATH", search, 1) == 0);
    *available_result = exec_sandbox_available(message);
    char binary[PATH_MAX];
    probe_path("sandbox_probe", binary);
    const char *const argv[] = { binary, NULL };
    const char *const envp[] = { NULL };
    const struct exec_sandbox_config config = {
        .binary_path = binary, .argv = argv, .envp = envp, .scratch_dir = "/tmp",
    };
    pid_t pid = 12345;
    *spawn_result = exec_sandbox_spawn(&config, &pid, spawn_message);
    if (*spawn_result == 0) {
        int status;
        waitpid(pid, &status, 0);
    }
    if (copy != NULL)
        setenv("PATH", copy, 1);
    else
        unsetenv("PATH");
    free(copy);
}

static void test_missing_bwrap_named(void)
{
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "", spawn_message[SIM_ERROR_MESSAGE_BYTES_MAX];
    int available_result, spawn_result;
    with_path("/nonexistent-vmcisim-a:/nonexistent-vmcisim-b", &available_result, &spawn_result,
              message, spawn_message);
    CU_ASSERT_EQUAL(available_result, SIM_ENOSYS);
    ASSERT_STR_CONTAINS(message, "bwrap (bubblewrap, Debian package \"bubblewrap\") is not "
                                 "installed");
    ASSERT_STR_CONTAINS(message, "/nonexistent-vmcisim-b");
    CU_ASSERT_EQUAL(spawn_result, SIM_ENOSYS);
    ASSERT_STR_CONTAINS(spawn_message, "is not installed");
}

/* A bwrap that fails the way a refused user namespace makes the real one fail. */
static void test_refused_namespaces_named(void)
{
    char directory[] = "/tmp/vmcisim-exec-path-XXXXXX";
    CU_ASSERT_FATAL(mkdtemp(directory) != NULL);
    char fake[64];
    snprintf(fake, sizeof fake, "%s/bwrap", directory);
    write_script(fake, "#!/bin/sh\n"
                       "echo 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n");
    char message[SIM_ERROR_MESSAGE_BYTES_MAX] = "", spawn_message[SIM_ERROR_MESSAGE_BYTES_MAX];
    int available_result, spawn_result;
    with_path(directory, &available_result, &spawn_result, message, spawn_message);
    CU_ASSERT_EQUAL(available_result, SIM_ENOSYS);
    ASSERT_STR_CONTAINS(message, "bwrap could not create the sandbox (exit status 1)");
    ASSERT_STR_CONTAINS(message, "\"bwrap: setting up uid map: Permission denied\"");
    CU_ASSERT_EQUAL(spawn_result, 0);     /* spawn leaves that verdict to available() */
    unlink(fake);
    CU_ASSERT_EQUAL(rmdir(directory), 0);
}

/* The shim is bound where shim_path says and LD_PRELOAD loads it in the program. */
static void test_shim_is_preloaded(void)
{
    char binary[PATH_MAX], shim[PATH_MAX], preload[PATH_MAX + 16];
    probe_path("sandbox_probe", binary);
    probe_path("sandbox_preload.so", shim);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", shim);
    const char *const argv[] = { binary, NULL };
    const char *const envp[] = { preload, "PROBE_MARKER=shimmed", NULL };
    struct probe_run *run = calloc(1, sizeof *run);
    CU_ASSERT_FATAL(run != NULL);
    make_scratch(run);
    struct exec_sandbox_config config = {
        .binary_path = binary, .argv = argv, .envp = envp, .scratch_dir = run->scratch,
        .shim_path = shim,
    };
    run_config(&config, run);
    CU_ASSERT_EQUAL_FATAL(run->spawn_result, 0);
    CU_ASSERT(strncmp(run->output, "\npreloaded\n", 11) == 0);
    ASSERT_LINE(run, "environment shimmed preload");
    ASSERT_LINE(run, "end");
    remove_scratch(run);
    free(run);
}

static const struct test_entry exec_sandbox_tests[] = {
    TEST_ENTRY(test_available_here),
    TEST_ENTRY(test_probe_sees_its_process),
    TEST_ENTRY(test_probe_sees_its_files),
    TEST_ENTRY(test_probe_meets_the_filter),
    TEST_ENTRY(test_probe_outside_answers_otherwise),
    TEST_ENTRY(test_argv0_is_the_programs),
    TEST_ENTRY(test_exit_status_is_the_programs),
    TEST_ENTRY(test_kill_reaches_the_program),
    TEST_ENTRY(test_static_binary_refused),
    TEST_ENTRY(test_malformed_binaries_refused),
    TEST_ENTRY(test_scripts),
    TEST_ENTRY(test_shim_is_preloaded),
    TEST_ENTRY(test_bad_configurations_refused),
    TEST_ENTRY(test_missing_bwrap_named),
    TEST_ENTRY(test_refused_namespaces_named),
};

CU_ErrorCode exec_sandbox_suite_add(void)
{
    return test_suite_register("exec_sandbox", exec_sandbox_tests,
                               sizeof exec_sandbox_tests / sizeof exec_sandbox_tests[0]);
}
