/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/pipe_echo.c: a vSockets stream echo server whose bytes go round
 * through a pipe, as `socat VSOCK-LISTEN:PORT PIPE` does: what the connection brings is
 * written into the pipe, what the pipe gives is written back, and the client's end of
 * file closes the pipe's write end, whose end of file ends the connection. Before it
 * listens it checks what a pipe and a socket pair answer (printed as "pipe: NAME VALUE"
 * lines for the scenario): fstat, capacity, FIONREAD, end of file, EPIPE, socketpair.
 *
 *   pipe_echo PORT
 */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "vsock_common.h"

#define CHUNK_BYTES 16384

static const char *errno_name(ssize_t rc)
{
    return rc >= 0 ? "ok" : strerrorname_np(errno);
}

/* The answers of a pipe and a socket pair, one line each. */
static void checks(void)
{
    int ends[2];
    if (pipe2(ends, O_NONBLOCK) < 0)
        fail("pipe", "pipe2");
    struct stat info;
    printf("pipe: fifo %d\n", fstat(ends[0], &info) == 0 && S_ISFIFO(info.st_mode));
    static char block[1 << 17];
    memset(block, 'b', sizeof(block));
    ssize_t taken = write(ends[1], block, sizeof(block));
    printf("pipe: capacity %zd then %s\n", taken, errno_name(write(ends[1], block, 1)));
    int ready = 0;
    ioctl(ends[0], FIONREAD, &ready);
    printf("pipe: fionread %d\n", ready);
    size_t drained = 0;
    ssize_t got;
    while ((got = read(ends[0], block, sizeof(block))) > 0)
        drained += (size_t)got;
    printf("pipe: drained %zu then %s\n", drained, errno_name(got));
    close(ends[1]);
    printf("pipe: eof %zd\n", read(ends[0], block, 1));
    close(ends[0]);
    if (pipe(ends) < 0)
        fail("pipe", "pipe");
    close(ends[0]);
    /* As on Linux, that write also raises SIGPIPE, whose default action ends the program:
     * ignored for this one check, so the errno can be seen. */
    signal(SIGPIPE, SIG_IGN);
    printf("pipe: no reader %s\n", errno_name(write(ends[1], "x", 1)));
    signal(SIGPIPE, SIG_DFL);
    close(ends[1]);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
        fail("pipe", "socketpair");
    send(pair[0], "pair", 4, 0);
    char text[8] = "";
    ssize_t length = recv(pair[1], text, sizeof(text) - 1, 0);
    printf("pipe: socketpair %zd %s\n", length, text);
    close(pair[0]);
    close(pair[1]);
    fflush(stdout);
}

/* Moves what `from` has into `to` (both may be the connection or a pipe end). Returns the
 * bytes moved, 0 at end of file. */
static ssize_t relay(int from, int to, char *buffer)
{
    ssize_t got = read(from, buffer, CHUNK_BYTES);
    if (got < 0 && errno == EAGAIN)
        return -1;
    if (got < 0)
        fail("pipe_echo", "read");
    for (ssize_t done = 0; done < got;) {
        ssize_t written = write(to, buffer + done, (size_t)(got - done));
        if (written < 0)
            fail("pipe_echo", "write");
        done += written;
    }
    return got;
}

static void echo(int conn)
{
    int ends[2];
    if (pipe(ends) < 0)
        fail("pipe_echo", "pipe");
    static char buffer[CHUNK_BYTES];
    size_t total = 0;
    bool connection_open = true;
    for (;;) {
        struct pollfd set[2] = { { .fd = connection_open ? conn : -1, .events = POLLIN },
                                 { .fd = ends[0], .events = POLLIN } };
        if (poll(set, 2, -1) < 0)
            fail("pipe_echo", "poll");
        if (set[0].revents & (POLLIN | POLLHUP)) {
            ssize_t got = relay(conn, ends[1], buffer);     /* at most 16 KiB: fits the pipe */
            if (got == 0) {
                connection_open = false;
                close(ends[1]);                 /* the pipe's reader sees end of file */
            }
        }
        if (set[1].revents & (POLLIN | POLLHUP)) {
            ssize_t got = relay(ends[0], conn, buffer);
            if (got == 0)
                break;
            total += got > 0 ? (size_t)got : 0;
        }
    }
    close(ends[0]);
    printf("pipe_echo: echoed %zu bytes through a pipe\n", total);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pipe_echo PORT\n");
        return 2;
    }
    checks();
    int listener = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (listener < 0)
        fail("pipe_echo", "socket");
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                   .svm_port = parse_number(argv[1]) };
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0)
        fail("pipe_echo", "bind");
    if (listen(listener, 1) < 0)
        fail("pipe_echo", "listen");
    printf("pipe_echo: listening\n");
    fflush(stdout);
    int conn = accept(listener, NULL, NULL);
    if (conn < 0)
        fail("pipe_echo", "accept");
    echo(conn);
    close(conn);
    close(listener);
    return 0;
}
