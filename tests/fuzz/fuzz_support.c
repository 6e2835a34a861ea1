/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_support.c: fuzz_fail and fuzz_quiet_stdout (tests/fuzz/fuzz.h), linked
 * into every fuzz target and every replay driver.
 */
#include <fcntl.h>
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

struct sockaddr_vm fuzz_address(uint32_t cid, uint32_t port)
{
    struct sockaddr_vm address;
    memset(&address, 0, sizeof(address));
    address.svm_family = AF_VSOCK;
    address.svm_cid = cid;
    address.svm_port = port;
    return address;
}
