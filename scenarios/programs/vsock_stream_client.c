/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/vsock_stream_client.c: the Programming Guide's stream client.
 * Usage: vsock_stream_client CID PORT [BYTES]
 *
 * Connects an AF_VSOCK stream socket to CID:PORT, sends BYTES bytes (default: one
 * greeting), shuts down its sending side, reads the echo to the end of the stream and
 * checks it byte for byte. Prints "client: echo ok N bytes" and exits 0, or names the
 * call that failed and its errno and exits 1.
 */
#include "vsock_common.h"

#define GREETING "Hello from a vSockets client"

static char pattern_byte(unsigned long long offset)
{
    return (char)('a' + (offset * 7 + offset / 251) % 26);
}

/* Whether the echoed bytes at `offset` are the ones sent there. */
static int echo_matches(const char *bytes, ssize_t count, unsigned long long offset, int patterned)
{
    for (ssize_t index = 0; index < count; index++) {
        unsigned long long at = offset + (unsigned long long)index;
        if (bytes[index] != (patterned ? pattern_byte(at) : GREETING[at])) {
            printf("client: byte %llu differs\n", at);
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CID PORT [BYTES]\n", argv[0]);
        return 2;
    }
    unsigned long long total = argc > 3 ? strtoull(argv[3], NULL, 0) : sizeof(GREETING) - 1;
    printf("client: my cid is %u\n", local_cid());
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0)
        fail("client", "socket");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = parse_number(argv[1]),
                                   .svm_port = parse_number(argv[2]) };
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
        fail("client", "connect");
    static char buffer[65536];
    unsigned long long sent = 0, received = 0;
    while (sent < total) {
        size_t chunk = total - sent < sizeof(buffer) ? (size_t)(total - sent) : sizeof(buffer);
        for (size_t index = 0; index < chunk; index++)
            buffer[index] = argc > 3 ? pattern_byte(sent + index) : GREETING[sent + index];
        ssize_t rc = send(fd, buffer, chunk, 0);
        if (rc < 0)
            fail("client", "send");
        sent += (unsigned long long)rc;
        /* Read what is echoed meanwhile, so neither side's buffer fills up. */
        while (received < sent) {
            ssize_t got = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
            if (got < 0 && errno == EAGAIN)
                break;
            if (got <= 0)
                fail("client", got == 0 ? "recv (early end)" : "recv");
            if (!echo_matches(buffer, got, received, argc > 3))
                return 1;
            received += (unsigned long long)got;
        }
    }
    if (shutdown(fd, SHUT_WR) < 0)
        fail("client", "shutdown");
    for (;;) {
        ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
        if (got < 0)
            fail("client", "recv");
        if (got == 0)
            break;
        if (received + (unsigned long long)got > total ||
            !echo_matches(buffer, got, received, argc > 3))
            return 1;
        received += (unsigned long long)got;
    }
    close(fd);
    if (received != total) {
        printf("client: echo short: %llu of %llu bytes\n", received, total);
        return 1;
    }
    printf("client: echo ok %llu bytes\n", received);
    return 0;
}
