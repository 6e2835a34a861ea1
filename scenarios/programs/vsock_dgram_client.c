/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/vsock_dgram_client.c: the Programming Guide's datagram client.
 * Usage: vsock_dgram_client CID PORT MESSAGE
 *
 * Sends MESSAGE in one datagram to CID:PORT with sendto(), then waits up to one second
 * (poll) for the answer and prints it: "client: answer HELLO". A datagram may be lost,
 * so no answer is "client: no answer" (status 1); a refused send names its errno.
 */
#include <poll.h>

#include "vsock_common.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s CID PORT MESSAGE\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_VSOCK, SOCK_DGRAM, 0);
    if (fd < 0)
        fail("client", "socket");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = parse_number(argv[1]),
                                   .svm_port = parse_number(argv[2]) };
    if (sendto(fd, argv[3], strlen(argv[3]), 0, (struct sockaddr *)&address,
               sizeof(address)) < 0)
        fail("client", "sendto");
    struct pollfd wait = { .fd = fd, .events = POLLIN };
    int ready = poll(&wait, 1, 1000);
    if (ready < 0)
        fail("client", "poll");
    if (ready == 0) {
        printf("client: no answer\n");
        return 1;
    }
    char buffer[4096];
    struct sockaddr_vm peer;
    socklen_t length = sizeof(peer);
    ssize_t got = recvfrom(fd, buffer, sizeof(buffer) - 1, 0, (struct sockaddr *)&peer, &length);
    if (got < 0)
        fail("client", "recvfrom");
    buffer[got] = '\0';
    printf("client: answer %s from %u:%u\n", buffer, peer.svm_cid, peer.svm_port);
    close(fd);
    return 0;
}
