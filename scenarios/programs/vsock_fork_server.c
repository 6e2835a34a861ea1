/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/vsock_fork_server.c: the Programming Guide's stream server in its
 * accept-and-fork form. Usage: vsock_fork_server PORT CLIENTS
 *
 * Listens on PORT; for each of CLIENTS connections it accepts, it forks: the child closes
 * the listener, echoes what the client sends until it shuts down its side, and exits with
 * status 10 + its number; the parent closes its copy of the connection at once (the
 * child's keeps it open) and accepts the next. Then the parent waits for every child and
 * prints how each ended.
 */
#include <sys/wait.h>

#include "vsock_common.h"

static void serve(int connection, unsigned int number)
{
    printf("child %u: pid %d parent %d\n", number, (int)getpid(), (int)getppid());
    unsigned long long echoed = echo_until_end(connection, "child");
    printf("child %u: echoed %llu bytes\n", number, echoed);
    fflush(stdout);
    close(connection);
    exit(10 + (int)number);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT CLIENTS\n", argv[0]);
        return 2;
    }
    unsigned int clients = parse_number(argv[2]);
    int listener = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (listener < 0)
        fail("server", "socket");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = parse_number(argv[1]) };
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0)
        fail("server", "bind");
    if (listen(listener, 8) < 0)
        fail("server", "listen");
    printf("server: pid %d listening on port %u\n", (int)getpid(), address.svm_port);
    fflush(stdout);
    for (unsigned int number = 0; number < clients; number++) {
        int connection = accept(listener, NULL, NULL);
        if (connection < 0)
            fail("server", "accept");
        pid_t child = fork();
        if (child < 0)
            fail("server", "fork");
        if (child == 0) {
            close(listener);
            serve(connection, number);
        }
        printf("server: forked %d for client %u\n", (int)child, number);
        fflush(stdout);
        close(connection);
    }
    close(listener);
    for (;;) {
        int status = 0;
        pid_t child = waitpid(-1, &status, 0);
        if (child < 0) {
            printf("server: waitpid: %s\n", strerrorname_np(errno));
            break;
        }
        printf("server: child %d exited %d\n", (int)child,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    fflush(stdout);
    return 0;
}
