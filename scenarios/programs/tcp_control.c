/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/tcp_control.c: a TCP echo server and client, the way programs that
 * coordinate over TCP (vsock_test's control channel) use it: getaddrinfo, socket,
 * SO_REUSEADDR, bind, listen, accept, connect, TCP_NODELAY, poll, send, recv, shutdown.
 * Inside vmcisim this is the TCP control channel (docs/programs.md), not a network.
 *
 *   tcp_control server PORT              echo one connection until its end of file
 *   tcp_control client HOST PORT BYTES   send BYTES (a pattern), check the echo byte for byte
 *   tcp_control udp-server PORT          answer one datagram (upper-cased) to its sender
 *   tcp_control udp-client HOST PORT     send one datagram, print the answer and its sender
 *   tcp_control server6 PORT             the server on an AF_INET6 socket bound to [::] (dual
 *                                        stack: IPv4 clients come as ::ffff:a.b.c.d)
 *   tcp_control client6 HOST PORT BYTES  the client, resolving HOST for AF_INET6
 *   tcp_control resolve HOST             print getaddrinfo's AF_UNSPEC answers in order
 *   tcp_control v6only PORT              an IPV6_V6ONLY socket and an AF_INET one share PORT
 *
 * It prints "<who>: <call>: <ERRNO NAME>" (or the getaddrinfo message) when a call fails.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "vsock_common.h"

#define CHUNK_BYTES 8192

static int family = AF_INET;               /* server6, client6: AF_INET6 */

static struct addrinfo *resolve_type(const char *who, const char *host, const char *port,
                                    int type)
{
    struct addrinfo hints = { .ai_family = family, .ai_socktype = type,
                              .ai_flags = host == NULL ? AI_PASSIVE : 0 };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc != 0) {
        printf("%s: getaddrinfo %s: %s\n", who, host != NULL ? host : "(passive)",
               gai_strerror(rc));
        exit(1);
    }
    return found;
}

static struct addrinfo *resolve(const char *who, const char *host, const char *port)
{
    return resolve_type(who, host, port, SOCK_STREAM);
}

/* "a.b.c.d:port" or "[v6]:port". */
static const char *address_text(const void *address, char text[64])
{
    char numeric[INET6_ADDRSTRLEN];
    const struct sockaddr_in *in = address;
    const struct sockaddr_in6 *in6 = address;
    if (in->sin_family == AF_INET6) {
        inet_ntop(AF_INET6, &in6->sin6_addr, numeric, sizeof(numeric));
        snprintf(text, 64, "[%s]:%u", numeric, ntohs(in6->sin6_port));
    } else {
        inet_ntop(AF_INET, &in->sin_addr, numeric, sizeof(numeric));
        snprintf(text, 64, "%s:%u", numeric, ntohs(in->sin_port));
    }
    return text;
}

static void print_address(const char *who, const char *what, const void *address)
{
    char text[64];
    printf("%s: %s %s\n", who, what, address_text(address, text));
}

static int serve(const char *port)
{
    struct addrinfo *found = resolve("server", NULL, port);
    int listener = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    int one = 1;
    if (listener < 0)
        fail("server", "socket");
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        fail("server", "setsockopt");
    if (bind(listener, found->ai_addr, found->ai_addrlen) < 0)
        fail("server", "bind");
    freeaddrinfo(found);
    if (listen(listener, 4) < 0)
        fail("server", "listen");
    printf("server: listening\n");
    fflush(stdout);
    struct sockaddr_storage peer;
    socklen_t length = sizeof(peer);
    int conn = accept(listener, (struct sockaddr *)&peer, &length);
    if (conn < 0)
        fail("server", "accept");
    print_address("server", "accepted", &peer);
    static char buffer[CHUNK_BYTES];
    size_t total = 0;
    ssize_t got;
    while ((got = recv(conn, buffer, sizeof(buffer), 0)) > 0) {
        for (ssize_t done = 0; done < got;) {
            ssize_t sent = send(conn, buffer + done, (size_t)(got - done), MSG_NOSIGNAL);
            if (sent < 0)
                fail("server", "send");
            done += sent;
        }
        total += (size_t)got;
    }
    if (got < 0)
        fail("server", "recv");
    printf("server: echoed %zu bytes\n", total);
    close(conn);
    close(listener);
    return 0;
}

/* Sends `bytes` and reads them back at the same time (poll), as a busy client does. */
static int client(const char *host, const char *port, size_t bytes)
{
    struct addrinfo *found = resolve("client", host, port);
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK, found->ai_protocol);
    if (fd < 0)
        fail("client", "socket");
    if (connect(fd, found->ai_addr, found->ai_addrlen) < 0 && errno != EINPROGRESS)
        fail("client", "connect");
    freeaddrinfo(found);
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        fail("client", "setsockopt");
    struct sockaddr_storage local;
    socklen_t length = sizeof(local);
    if (getsockname(fd, (struct sockaddr *)&local, &length) < 0)
        fail("client", "getsockname");
    print_address("client", "from", &local);
    unsigned char *sent_bytes = malloc(bytes), *echo = malloc(bytes);
    for (size_t index = 0; index < bytes; index++)
        sent_bytes[index] = (unsigned char)(index * 7 + index / 251);
    size_t sent = 0, got = 0;
    while (got < bytes) {
        struct pollfd set = { .fd = fd, .events = POLLIN | (sent < bytes ? POLLOUT : 0) };
        if (poll(&set, 1, 5000) <= 0)
            fail("client", "poll");
        if ((set.revents & POLLOUT) && sent < bytes) {
            size_t chunk = bytes - sent < CHUNK_BYTES ? bytes - sent : CHUNK_BYTES;
            ssize_t rc = send(fd, sent_bytes + sent, chunk, MSG_NOSIGNAL);
            if (rc < 0 && errno != EAGAIN)
                fail("client", "send");
            sent += rc > 0 ? (size_t)rc : 0;
            if (sent == bytes && shutdown(fd, SHUT_WR) < 0)
                fail("client", "shutdown");
        }
        if (set.revents & POLLIN) {
            ssize_t rc = recv(fd, echo + got, bytes - got, 0);
            if (rc < 0 && errno != EAGAIN)
                fail("client", "recv");
            if (rc == 0)
                break;
            got += rc > 0 ? (size_t)rc : 0;
        }
    }
    char byte;
    ssize_t end = recv(fd, &byte, 1, 0);
    if (got == bytes && memcmp(sent_bytes, echo, bytes) == 0 && end == 0)
        printf("client: echo ok %zu bytes\n", got);
    else
        printf("client: echo broken: %zu of %zu bytes, end %zd\n", got, bytes, end);
    close(fd);
    return got == bytes ? 0 : 1;
}

/* One datagram answered, upper-cased, to whoever sent it. */
static int udp_serve(const char *port)
{
    struct addrinfo *found = resolve_type("udp-server", NULL, port, SOCK_DGRAM);
    int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd < 0 || bind(fd, found->ai_addr, found->ai_addrlen) < 0)
        fail("udp-server", "bind");
    freeaddrinfo(found);
    printf("udp-server: bound\n");
    fflush(stdout);
    char text[256];
    struct sockaddr_in peer;
    socklen_t length = sizeof(peer);
    ssize_t got = recvfrom(fd, text, sizeof(text), 0, (struct sockaddr *)&peer, &length);
    if (got < 0)
        fail("udp-server", "recvfrom");
    for (ssize_t index = 0; index < got; index++)
        text[index] = (char)(text[index] >= 'a' && text[index] <= 'z' ? text[index] - 32
                                                                      : text[index]);
    if (sendto(fd, text, (size_t)got, 0, (struct sockaddr *)&peer, length) != got)
        fail("udp-server", "sendto");
    print_address("udp-server", "answered", &peer);
    close(fd);
    return 0;
}

static int udp_client(const char *host, const char *port)
{
    struct addrinfo *found = resolve_type("udp-client", host, port, SOCK_DGRAM);
    int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd < 0)
        fail("udp-client", "socket");
    if (sendto(fd, "ping over udp", 13, 0, found->ai_addr, found->ai_addrlen) != 13)
        fail("udp-client", "sendto");
    freeaddrinfo(found);
    char text[256];
    struct sockaddr_in peer;
    socklen_t length = sizeof(peer);
    ssize_t got = recvfrom(fd, text, sizeof(text) - 1, 0, (struct sockaddr *)&peer, &length);
    if (got < 0)
        fail("udp-client", "recvfrom");
    text[got] = '\0';
    printf("udp-client: answer %s\n", text);
    print_address("udp-client", "from", &peer);
    close(fd);
    return 0;
}

/* getaddrinfo's AF_UNSPEC answers for `host`, one line each, in order. */
static int resolve_print(const char *host)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC };
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, "80", &hints, &found);
    if (rc != 0) {
        printf("resolve: %s: %s\n", host, gai_strerror(rc));
        return 1;
    }
    for (struct addrinfo *entry = found; entry != NULL; entry = entry->ai_next) {
        char text[64];
        printf("resolve: %s %s %s\n", entry->ai_family == AF_INET6 ? "inet6" : "inet",
               entry->ai_socktype == SOCK_STREAM ? "stream" : "dgram",
               address_text(entry->ai_addr, text));
    }
    freeaddrinfo(found);
    return 0;
}

/* An IPV6_V6ONLY socket on [::]:PORT leaves IPv4's PORT to an AF_INET socket. */
static int v6only(const char *port_text)
{
    int only6 = socket(AF_INET6, SOCK_STREAM, 0), v4 = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1, value = -1;
    socklen_t length = sizeof(value);
    uint16_t port = (uint16_t)parse_number(port_text);
    struct sockaddr_in6 any6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    struct sockaddr_in any4 = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (only6 < 0 || v4 < 0)
        fail("v6only", "socket");
    if (setsockopt(only6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        fail("v6only", "setsockopt");
    if (getsockopt(only6, IPPROTO_IPV6, IPV6_V6ONLY, &value, &length) < 0)
        fail("v6only", "getsockopt");
    if (bind(only6, (struct sockaddr *)&any6, sizeof(any6)) < 0)
        fail("v6only", "bind6");
    if (bind(v4, (struct sockaddr *)&any4, sizeof(any4)) < 0)
        fail("v6only", "bind4");
    int dual = socket(AF_INET6, SOCK_STREAM, 0);
    int taken = bind(dual, (struct sockaddr *)&any6, sizeof(any6));
    printf("v6only: option %d, both bound, a dual-stack one %s\n", value,
           taken < 0 ? strerrorname_np(errno) : "bound");
    close(dual);
    close(v4);
    close(only6);
    return 0;
}

int main(int argc, char **argv)
{
    if (strcmp(argc > 1 ? argv[1] : "", "server6") == 0 ||
        strcmp(argc > 1 ? argv[1] : "", "client6") == 0) {
        family = AF_INET6;
        argv[1][strlen(argv[1]) - 1] = '\0';          /* then as server, client */
    }
    if (argc == 3 && strcmp(argv[1], "resolve") == 0)
        return resolve_print(argv[2]);
    if (argc == 3 && strcmp(argv[1], "v6only") == 0)
        return v6only(argv[2]);
    if (argc == 3 && strcmp(argv[1], "server") == 0)
        return serve(argv[2]);
    if (argc == 5 && strcmp(argv[1], "client") == 0)
        return client(argv[2], argv[3], parse_number(argv[4]));
    if (argc == 3 && strcmp(argv[1], "udp-server") == 0)
        return udp_serve(argv[2]);
    if (argc == 4 && strcmp(argv[1], "udp-client") == 0)
        return udp_client(argv[2], argv[3]);
    fprintf(stderr, "usage: tcp_control server PORT | client HOST PORT BYTES | "
                    "udp-server PORT | udp-client HOST PORT | server6 PORT | "
                    "client6 HOST PORT BYTES | resolve HOST | v6only PORT\n");
    return 2;
}
