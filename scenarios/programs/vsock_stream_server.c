/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/vsock_stream_server.c: the Programming Guide's stream server.
 * Usage: vsock_stream_server PORT [CLIENTS]
 *
 * Creates an AF_VSOCK stream socket, binds it to VMADDR_CID_ANY and PORT, listens,
 * then for each of CLIENTS (default 1) connections: accepts it, reads what the client
 * sends until it shuts down its side, sends every byte back, and closes it.
 */
#include "vsock_common.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [CLIENTS]\n", argv[0]);
        return 2;
    }
    unsigned int clients = argc > 2 ? parse_number(argv[2]) : 1;
    int listener = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (listener < 0)
        fail("server", "socket");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = parse_number(argv[1]) };
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0)
        fail("server", "bind");
    if (listen(listener, 8) < 0)
        fail("server", "listen");
    printf("server: cid %u listening on port %u\n", local_cid(), address.svm_port);
    fflush(stdout);
    for (unsigned int served = 0; served < clients; served++) {
        struct sockaddr_vm peer;
        socklen_t length = sizeof(peer);
        int connection = accept(listener, (struct sockaddr *)&peer, &length);
        if (connection < 0)
            fail("server", "accept");
        printf("server: accepted %u:%u\n", peer.svm_cid, peer.svm_port);
        unsigned long long echoed = echo_until_end(connection, "server");
        printf("server: echoed %llu bytes\n", echoed);
        close(connection);
    }
    close(listener);
    return 0;
}
