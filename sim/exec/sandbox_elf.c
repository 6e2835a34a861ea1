/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/sandbox_elf.c: may this binary run in the sandbox?
 *
 * The shim reaches a program through LD_PRELOAD, which only the dynamic loader honours: a
 * statically linked program would run with no shim at all and talk to the real kernel. So a
 * program must be a 64-bit little-endian x86-64 ELF with a PT_INTERP header (its loader), or
 * a "#!" script whose interpreter is such a program. Everything read from the file is
 * bounded (header count, string lengths) because the file may be anything.
 */
#include <assert.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/exec/sandbox_int.h"

/* Reads exactly `bytes` at `offset`; 0 or -1 (short file or read error). */
static int read_exact(int fd, void *buffer, size_t bytes, uint64_t offset)
{
    size_t done = 0;
    while (done < bytes) {
        ssize_t got = pread(fd, (char *)buffer + done, bytes - done, (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        done += (size_t)got;
    }
    return 0;
}

static int check_elf_header(const Elf64_Ehdr *header, const char *path,
                            char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    if (header->e_ident[EI_CLASS] != ELFCLASS64 || header->e_ident[EI_DATA] != ELFDATA2LSB ||
        header->e_machine != EM_X86_64) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "%s is not an x86-64 program (only 64-bit x86-64 ELF binaries run)", path);
        return SIM_EINVAL;
    }
    if (header->e_type != ET_EXEC && header->e_type != ET_DYN) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "%s is an ELF file but not a program",
                 path);
        return SIM_EINVAL;
    }
    if (header->e_phentsize != sizeof(Elf64_Phdr) ||
        header->e_phnum > EXEC_SANDBOX_ELF_HEADERS_MAX) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "%s has malformed program headers (%u of %u bytes; at most %u are read)",
                 path, (unsigned)header->e_phnum, (unsigned)header->e_phentsize,
                 EXEC_SANDBOX_ELF_HEADERS_MAX);
        return SIM_EINVAL;
    }
    return 0;
}

/* Finds PT_INTERP in an ELF file already opened as `fd`. */
static int check_elf(int fd, const char *path, char interpreter[EXEC_SANDBOX_PATH_BYTES_MAX],
                     char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    Elf64_Ehdr header;
    if (read_exact(fd, &header, sizeof header, 0) != 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "%s is a truncated ELF file", path);
        return SIM_EINVAL;
    }
    int result = check_elf_header(&header, path, message);
    if (result != 0)
        return result;
    for (uint32_t index = 0; index < header.e_phnum; index++) {
        Elf64_Phdr program_header;
        if (read_exact(fd, &program_header, sizeof program_header,
                       header.e_phoff + (uint64_t)index * sizeof program_header) != 0)
            break;
        if (program_header.p_type != PT_INTERP)
            continue;
        if (program_header.p_filesz < 2 || program_header.p_filesz > EXEC_SANDBOX_PATH_BYTES_MAX ||
            read_exact(fd, interpreter, program_header.p_filesz, program_header.p_offset) != 0 ||
            interpreter[program_header.p_filesz - 1] != '\0' || interpreter[0] != '/') {
            snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                     "%s has a malformed PT_INTERP header (its loader's path)", path);
            return SIM_EINVAL;
        }
        return 0;
    }
    snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
             "%s is statically linked: programs must be dynamically linked, because the shim "
             "that connects them to the simulation is loaded by the dynamic loader (LD_PRELOAD)",
             path);
    return SIM_EINVAL;
}

/* The interpreter named on a script's "#!" line, as the kernel reads it. */
static int script_interpreter(int fd, const char *path, char target[EXEC_SANDBOX_PATH_BYTES_MAX],
                              char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    char line[EXEC_SANDBOX_SCRIPT_LINE_BYTES_MAX + 1];
    ssize_t got = pread(fd, line, EXEC_SANDBOX_SCRIPT_LINE_BYTES_MAX, 0);
    if (got < 2) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "%s cannot be read", path);
        return SIM_EINVAL;
    }
    line[got] = '\0';
    size_t start = 2;
    while (line[start] == ' ' || line[start] == '\t')
        start++;
    size_t end = start;
    while (line[end] != '\0' && line[end] != ' ' && line[end] != '\t' && line[end] != '\n')
        end++;
    if (line[start] != '/' || line[end] == '\0') {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "%s is a script whose \"#!\" line does not name an absolute interpreter path "
                 "within %u bytes", path, EXEC_SANDBOX_SCRIPT_LINE_BYTES_MAX);
        return SIM_EINVAL;
    }
    memcpy(target, line + start, end - start);
    target[end - start] = '\0';
    return 0;
}

static int check_file(const char *path, int depth, char interpreter[EXEC_SANDBOX_PATH_BYTES_MAX],
                      char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat status;
    if (fd < 0 || fstat(fd, &status) != 0 || !S_ISREG(status.st_mode) ||
        (status.st_mode & 0111) == 0) {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "%s is not an executable file (%s)", path,
                 fd < 0 ? strerror(errno) : "not a regular file with an execute bit");
        if (fd >= 0)
            close(fd);
        return SIM_EINVAL;
    }
    unsigned char magic[SELFMAG] = { 0 };
    int result;
    if (read_exact(fd, magic, 2, 0) == 0 && magic[0] == '#' && magic[1] == '!') {
        char script_target[EXEC_SANDBOX_PATH_BYTES_MAX];
        result = script_interpreter(fd, path, script_target, message);
        if (result == 0 && depth > 0) {
            snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                     "%s is a script run by a script: its interpreter must be a program", path);
            result = SIM_EINVAL;
        }
        if (result == 0)
            result = check_file(script_target, depth + 1, interpreter, message);
        interpreter[0] = '\0';
    } else if (read_exact(fd, magic, SELFMAG, 0) == 0 && memcmp(magic, ELFMAG, SELFMAG) == 0) {
        result = check_elf(fd, path, interpreter, message);
    } else {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX,
                 "%s is neither an ELF program nor a \"#!\" script", path);
        result = SIM_EINVAL;
    }
    close(fd);
    return result;
}

int exec_sandbox_check_binary(const char *path, char interpreter[EXEC_SANDBOX_PATH_BYTES_MAX],
                              char message[SIM_ERROR_MESSAGE_BYTES_MAX])
{
    assert(path != NULL && interpreter != NULL && message != NULL);
    interpreter[0] = '\0';
    if (path[0] != '/') {
        snprintf(message, SIM_ERROR_MESSAGE_BYTES_MAX, "program path %s is not absolute", path);
        return SIM_EINVAL;
    }
    return check_file(path, 0, interpreter, message);
}
