/* SPDX-License-Identifier: MIT */
/*
 * bench/programs/exec_stream_client.c: the program side of bench/bench_exec.c's 64 MiB
 * stream figure, doing exactly what that figure's Lua client does, so the two compare the
 * paths and not the work: one 64 KiB chunk made once and sent again and again, the echo
 * read meanwhile without waiting (MSG_DONTWAIT) and only counted, then shutdown of the
 * sending side and the rest of the echo read to the end. Usage: exec_stream_client CID PORT
 * BYTES. Exits 0 when BYTES came back. Run it only inside vmcisim.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    long long total = strtoll(argv[3], NULL, 10);
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm address = { .svm_family = AF_VSOCK,
                                   .svm_cid = (unsigned)strtoul(argv[1], NULL, 10),
                                   .svm_port = (unsigned)strtoul(argv[2], NULL, 10) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
        return 3;
    static char chunk[65536], buffer[65536];
    for (size_t index = 0; index < sizeof(chunk); index++)
        chunk[index] = (char)('a' + index % 26);
    long long sent = 0, got = 0;
    while (sent < total) {
        ssize_t rc = send(fd, chunk, sizeof(chunk), 0);
        if (rc < 0)
            return 4;
        sent += rc;
        while (got < sent) {
            ssize_t echoed = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
            if (echoed <= 0)
                break;
            got += echoed;
        }
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t echoed = recv(fd, buffer, sizeof(buffer), 0);
        if (echoed < 0)
            return 5;
        if (echoed == 0)
            break;
        got += echoed;
    }
    printf("echoed %lld\n", got);
    return got == total ? 0 : 1;
}
