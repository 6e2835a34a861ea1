/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_inet.c: name resolution for the TCP control channel (docs/programs.md):
 * getaddrinfo, freeaddrinfo, gai_strerror and gethostbyname, answered inside the
 * simulation and never by a real DNS lookup (the sandbox has no resolv.conf and no
 * network anyway).
 *
 * Served names: numeric IPv4 and IPv6 addresses; "localhost" (127.0.0.1 and ::1, also
 * "localhost.localdomain"; "localhost6" and "ip6-localhost" are ::1 only); no name at all
 * (the wildcards 0.0.0.0 and :: with AI_PASSIVE, else the loopback addresses); and the name
 * of any endpoint of the world, which the supervisor maps to its simulated addresses
 * (EXEC_OP_RESOLVE: IPv4 and IPv6). AF_INET gives the IPv4 answers, AF_INET6 the IPv6 ones
 * (AI_V4MAPPED: v4-mapped IPv4 ones when there are none), AF_UNSPEC both, IPv4 first (as
 * glibc with gai.conf's "precedence ::ffff:0:0/96 100": a program that takes the first
 * answer meets the same address as before IPv6 was served). Per address, one entry per
 * socket type asked for (stream, then datagram, when none is given). Services are numeric
 * ports only (there is no /etc/services).
 *
 * Invariant: every list getaddrinfo returns is made of blocks this file allocated (one
 * malloc per entry, the address and the canonical name inside it), so freeaddrinfo,
 * replaced too, frees exactly those.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shim_int.h"

#define SHIM_HOST_NAME_BYTES_MAX 255u

struct shim_addrinfo_block {
    struct addrinfo info;
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } address;
    char name[SHIM_HOST_NAME_BYTES_MAX + 1];
};

/* What a name resolves to: an IPv4 address, an IPv6 one, or both (network order). */
struct shim_resolved {
    bool has4, has6;
    struct in_addr address4;
    struct in6_addr address6;
};

static bool local_name(const char *node, struct shim_resolved *out)
{
    bool both = strcmp(node, "localhost") == 0 || strcmp(node, "localhost.localdomain") == 0;
    bool six = strcmp(node, "localhost6") == 0 || strcmp(node, "ip6-localhost") == 0;
    if (!both && !six)
        return false;
    out->has4 = both;
    out->address4.s_addr = htonl(INADDR_LOOPBACK);
    out->has6 = true;
    out->address6 = in6addr_loopback;
    return true;
}

/* The addresses of `node`: 0, or an EAI_* code. */
static int resolve(const char *node, int flags, struct shim_resolved *out)
{
    memset(out, 0, sizeof(*out));
    if (node == NULL) {
        bool passive = (flags & AI_PASSIVE) != 0;
        out->has4 = out->has6 = true;
        out->address4.s_addr = htonl(passive ? INADDR_ANY : INADDR_LOOPBACK);
        out->address6 = passive ? in6addr_any : in6addr_loopback;
        return 0;
    }
    if (inet_pton(AF_INET, node, &out->address4) == 1) {
        out->has4 = true;
        return 0;
    }
    if (inet_pton(AF_INET6, node, &out->address6) == 1) {
        out->has6 = true;
        return 0;
    }
    if ((flags & AI_NUMERICHOST) != 0)
        return EAI_NONAME;
    if (local_name(node, out))
        return 0;
    size_t length = strlen(node);
    if (length == 0 || length > SHIM_HOST_NAME_BYTES_MAX)
        return EAI_NONAME;
    struct exec_request request = { .op = EXEC_OP_RESOLVE };
    struct exec_reply reply;
    struct iovec out_part = { (void *)node, length };
    struct iovec in_part = { &out->address6, sizeof(out->address6) };
    if (shim_call(&request, &out_part, 1, &reply, &in_part, 1) < 0)
        return EAI_NONAME;
    out->has4 = true;
    out->address4.s_addr = htonl((uint32_t)reply.values[0]);
    out->has6 = reply.payload_bytes == sizeof(out->address6);
    return 0;
}

/* A numeric service (port), or -1. */
static int service_port(const char *service)
{
    if (service == NULL)
        return 0;
    char *end = NULL;
    long port = strtol(service, &end, 10);
    if (end == service || *end != '\0' || port < 0 || port > 65535)
        return -1;
    return (int)port;
}

/* One entry: `address` is a struct in_addr (AF_INET) or in6_addr (AF_INET6). */
static struct addrinfo *entry_new(int family, const void *address, int port, int type,
                                  const char *name)
{
    struct shim_addrinfo_block *block = calloc(1, sizeof(*block));
    if (block == NULL)
        return NULL;
    if (family == AF_INET) {
        block->address.in.sin_family = AF_INET;
        block->address.in.sin_port = htons((uint16_t)port);
        memcpy(&block->address.in.sin_addr, address, sizeof(struct in_addr));
        block->info.ai_addrlen = sizeof(block->address.in);
    } else {
        block->address.in6.sin6_family = AF_INET6;
        block->address.in6.sin6_port = htons((uint16_t)port);
        memcpy(&block->address.in6.sin6_addr, address, sizeof(struct in6_addr));
        block->info.ai_addrlen = sizeof(block->address.in6);
    }
    block->info.ai_family = family;
    block->info.ai_socktype = type;
    block->info.ai_protocol = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    block->info.ai_addr = (struct sockaddr *)&block->address;
    if (name != NULL) {
        strncpy(block->name, name, SHIM_HOST_NAME_BYTES_MAX);
        block->info.ai_canonname = block->name;
    }
    return &block->info;
}

void freeaddrinfo(struct addrinfo *list)
{
    while (list != NULL) {
        struct addrinfo *next = list->ai_next;
        free(list);                     /* the block starts with its addrinfo */
        list = next;
    }
}

/* Appends the entries of one address (one per socket type) at *tail; false: no memory. */
static bool entries_add(struct addrinfo ***tail, int family, const void *address, int port,
                        int type, const char **canonical)
{
    int types[2] = { type != 0 ? type : SOCK_STREAM, SOCK_DGRAM };
    for (int index = 0; index < (type != 0 ? 1 : 2); index++) {
        struct addrinfo *entry = entry_new(family, address, port, types[index], *canonical);
        if (entry == NULL)
            return false;
        *canonical = NULL;              /* only the first entry carries it */
        **tail = entry;
        *tail = &entry->ai_next;
    }
    return true;
}

/* The answers for `family` in order (IPv4 first), or EAI_NONAME when it has none. */
static int answers_add(struct addrinfo **first, const struct shim_resolved *resolved,
                       int family, int flags, int port, int type, const char *canonical)
{
    struct addrinfo **tail = first;
    bool ok = true;
    bool want4 = family != AF_INET6 && resolved->has4;
    bool want6 = family != AF_INET && resolved->has6;
    if (want4)
        ok = entries_add(&tail, AF_INET, &resolved->address4, port, type, &canonical);
    if (ok && want6)
        ok = entries_add(&tail, AF_INET6, &resolved->address6, port, type, &canonical);
    if (ok && family == AF_INET6 && !want6 && resolved->has4 && (flags & AI_V4MAPPED) != 0) {
        struct in6_addr v4mapped = { .s6_addr = { [10] = 0xff, [11] = 0xff } };
        memcpy(&v4mapped.s6_addr[12], &resolved->address4, 4);
        ok = entries_add(&tail, AF_INET6, &v4mapped, port, type, &canonical);
    }
    if (!ok) {
        freeaddrinfo(*first);
        *first = NULL;
        return EAI_MEMORY;
    }
    return *first != NULL ? 0 : EAI_NONAME;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **result)
{
    int flags = hints != NULL ? hints->ai_flags : 0;
    int family = hints != NULL ? hints->ai_family : AF_UNSPEC;
    int type = hints != NULL ? hints->ai_socktype : 0;
    if (result == NULL || (node == NULL && service == NULL))
        return EAI_NONAME;
    *result = NULL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return EAI_FAMILY;
    if (type != 0 && type != SOCK_STREAM && type != SOCK_DGRAM)
        return EAI_SOCKTYPE;
    int port = service_port(service);
    if (port < 0)
        return EAI_SERVICE;
    struct shim_resolved resolved;
    int rc = resolve(node, flags, &resolved);
    if (rc != 0)
        return rc;
    const char *canonical = (flags & AI_CANONNAME) != 0 ? (node != NULL ? node : "localhost")
                                                          : NULL;
    return answers_add(result, &resolved, family, flags, port, type, canonical);
}

const char *gai_strerror(int code)
{
    switch (code) {
    case 0: return "Success";
    case EAI_NONAME: return "Name or service not known";
    case EAI_FAMILY: return "ai_family not supported";
    case EAI_SOCKTYPE: return "ai_socktype not supported";
    case EAI_SERVICE: return "Servname not supported for ai_socktype";
    case EAI_MEMORY: return "Memory allocation failure";
    default: return "Unknown error";
    }
}

struct hostent *gethostbyname(const char *name)
{
    static struct hostent entry;
    static char entry_name[SHIM_HOST_NAME_BYTES_MAX + 1];
    static struct in_addr address;
    static char *addresses[2];
    static char *aliases[1];
    struct shim_resolved resolved;
    if (name == NULL || resolve(name, 0, &resolved) != 0 || !resolved.has4) {
        h_errno = HOST_NOT_FOUND;
        return NULL;
    }
    address = resolved.address4;
    strncpy(entry_name, name, SHIM_HOST_NAME_BYTES_MAX);
    addresses[0] = (char *)&address;
    addresses[1] = NULL;
    aliases[0] = NULL;
    entry = (struct hostent){ .h_name = entry_name, .h_aliases = aliases,
                              .h_addrtype = AF_INET, .h_length = 4,
                              .h_addr_list = addresses };
    return &entry;
}
