/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/vsock_dgram_server.c: the Programming Guide's datagram server.
 * Usage: vsock_dgram_server PORT [COUNT]
 *
 * Creates an AF_VSOCK datagram socket, binds it to VMADDR_CID_ANY and PORT, prints the
 * address getsockname() reports, then answers COUNT (default 1) datagrams: each one is
 * sent back to its sender, upper-cased, with sendto().
 */
#include <ctype.h>

#include "vsock_common.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [COUNT]\n", argv[0]);
        return 2;
    }
    unsigned int count = argc > 2 ? parse_number(argv[2]) : 1;
    int fd = socket(AF_VSOCK, SOCK_DGRAM, 0);
    if (fd < 0)
        fail("server", "socket");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = parse_number(argv[1]) };
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
        fail("server", "bind");
    socklen_t length = sizeof(address);
    if (getsockname(fd, (struct sockaddr *)&address, &length) < 0)
        fail("server", "getsockname");
    printf("server: bound to %u:%u\n", address.svm_cid, address.svm_port);
    fflush(stdout);
    for (unsigned int answered = 0; answered < count; answered++) {
        char buffer[4096];
        struct sockaddr_vm peer;
        length = sizeof(peer);
        ssize_t got = recvfrom(fd, buffer, sizeof(buffer), 0, (struct sockaddr *)&peer, &length);
        if (got < 0)
            fail("server", "recvfrom");
        printf("server: %zd bytes from %u:%u\n", got, peer.svm_cid, peer.svm_port);
        for (ssize_t index = 0; index < got; index++)
            buffer[index] = (char)toupper((unsigned char)buffer[index]);
        if (sendto(fd, buffer, (size_t)got, 0, (struct sockaddr *)&peer, length) < 0)
            fail("server", "sendto");
    }
    close(fd);
    return 0;
}
