/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_support.c: fuzz_fail, fuzz_quiet_stdout and fuzz_keep_heap
 * (tests/fuzz/fuzz.h), linked into every fuzz target and every replay driver.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "vsock/vmci_sockets.h"

void fuzz_fail(const char *target, const char *what)
{
    fprintf(stderr, "fuzz: %s: %s\n", target, what);
    fflush(stderr);
    abort();
}

void fuzz_quiet_stdout(void)
{
    static bool done = false;
    if (done)
        return;
    done = true;
    fflush(stdout);
    int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd < 0)
        return;                 /* only cosmetic: the output stays visible */
    (void)dup2(null_fd, STDOUT_FILENO);
    close(null_fd);
}

/* Blocks up to this size come from the heap, not a mapping of their own; the heap keeps up
 * to FUZZ_HEAP_KEPT_BYTES_MAX of free memory at its top for the next input. */
#define FUZZ_HEAP_BLOCK_BYTES_MAX (256 * 1024 * 1024)
#define FUZZ_HEAP_KEPT_BYTES_MAX (512 * 1024 * 1024)

void fuzz_keep_heap(void)
{
    /* glibc maps every block from M_MMAP_THRESHOLD up (at most 32 MiB once it has adapted)
     * on its own and unmaps it when freed, and gives the top of the heap back from
     * M_TRIM_THRESHOLD: an input's large blocks (a Lua state's, up to a 64 MiB pattern and
     * its string) were mapped and faulted in afresh by every input. Kept in the heap, the
     * next input reuses the pages; the same blocks are allocated and freed. Nothing under
     * ASan, whose allocator is its own. */
    (void)mallopt(M_MMAP_THRESHOLD, FUZZ_HEAP_BLOCK_BYTES_MAX);
    (void)mallopt(M_TRIM_THRESHOLD, FUZZ_HEAP_KEPT_BYTES_MAX);
}

struct sockaddr_vm fuzz_address(uint32_t cid, uint32_t port)
{
    struct sockaddr_vm address;
    memset(&address, 0, sizeof(address));
    address.svm_family = AF_VSOCK;
    address.svm_cid = cid;
    address.svm_port = port;
    return address;
}
