/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_inet.c: name resolution for the TCP control channel (docs/programs.md):
 * getaddrinfo, freeaddrinfo, gai_strerror and gethostbyname, answered inside the
 * simulation and never by a real DNS lookup (the sandbox has no resolv.conf and no
 * network anyway).
 *
 * Served names: numeric IPv4 addresses; "localhost" (127.0.0.1); no name at all (the
 * wildcard 0.0.0.0 with AI_PASSIVE, else 127.0.0.1); and the name of any endpoint of
 * the world, which the supervisor maps to its simulated address (EXEC_OP_RESOLVE). Only
 * IPv4 results are given (the control channel has no IPv6): AF_INET6 alone is
 * EAI_FAMILY. Services are numeric ports only (there is no /etc/services).
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
    struct sockaddr_in address;
    char name[SHIM_HOST_NAME_BYTES_MAX + 1];
};

/* The IPv4 address (network order) of `node`: 0, or an EAI_* code. */
static int resolve(const char *node, int flags, uint32_t *address_out)
{
    struct in_addr numeric;
    if (node == NULL) {
        *address_out = htonl((flags & AI_PASSIVE) != 0 ? INADDR_ANY : INADDR_LOOPBACK);
        return 0;
    }
    if (inet_pton(AF_INET, node, &numeric) == 1) {
        *address_out = numeric.s_addr;
        return 0;
    }
    if ((flags & AI_NUMERICHOST) != 0)
        return EAI_NONAME;
    if (strcmp(node, "localhost") == 0 || strcmp(node, "localhost.localdomain") == 0) {
        *address_out = htonl(INADDR_LOOPBACK);
        return 0;
    }
    size_t length = strlen(node);
    if (length == 0 || length > SHIM_HOST_NAME_BYTES_MAX)
        return EAI_NONAME;
    struct exec_request request = { .op = EXEC_OP_RESOLVE };
    struct exec_reply reply;
    struct iovec out = { (void *)node, length };
    if (shim_call(&request, &out, 1, &reply, NULL, 0) < 0)
        return EAI_NONAME;
    *address_out = htonl((uint32_t)reply.values[0]);
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

/* One entry per socket type asked for (stream and datagram when none is given). */
static struct addrinfo *entry_new(uint32_t address, int port, int type, const char *name)
{
    struct shim_addrinfo_block *block = calloc(1, sizeof(*block));
    if (block == NULL)
        return NULL;
    block->address.sin_family = AF_INET;
    block->address.sin_port = htons((uint16_t)port);
    block->address.sin_addr.s_addr = address;
    block->info.ai_family = AF_INET;
    block->info.ai_socktype = type;
    block->info.ai_protocol = type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    block->info.ai_addrlen = sizeof(block->address);
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

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **result)
{
    int flags = hints != NULL ? hints->ai_flags : 0;
    int family = hints != NULL ? hints->ai_family : AF_UNSPEC;
    int type = hints != NULL ? hints->ai_socktype : 0;
    if (result == NULL || (node == NULL && service == NULL))
        return EAI_NONAME;
    *result = NULL;
    if (family != AF_UNSPEC && family != AF_INET)
        return EAI_FAMILY;
    if (type != 0 && type != SOCK_STREAM && type != SOCK_DGRAM)
        return EAI_SOCKTYPE;
    int port = service_port(service);
    if (port < 0)
        return EAI_SERVICE;
    uint32_t address = 0;
    int rc = resolve(node, flags, &address);
    if (rc != 0)
        return rc;
    const char *canonical = (flags & AI_CANONNAME) != 0 ? (node != NULL ? node : "localhost")
                                                          : NULL;
    struct addrinfo *first = entry_new(address, port, type != 0 ? type : SOCK_STREAM, canonical);
    if (first == NULL)
        return EAI_MEMORY;
    if (type == 0) {
        first->ai_next = entry_new(address, port, SOCK_DGRAM, NULL);
        if (first->ai_next == NULL) {
            freeaddrinfo(first);
            return EAI_MEMORY;
        }
    }
    *result = first;
    return 0;
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
    static uint32_t address;
    static char *addresses[2];
    static char *aliases[1];
    if (name == NULL || resolve(name, 0, &address) != 0) {
        h_errno = HOST_NOT_FOUND;
        return NULL;
    }
    strncpy(entry_name, name, SHIM_HOST_NAME_BYTES_MAX);
    addresses[0] = (char *)&address;
    addresses[1] = NULL;
    aliases[0] = NULL;
    entry = (struct hostent){ .h_name = entry_name, .h_aliases = aliases,
                              .h_addrtype = AF_INET, .h_length = 4,
                              .h_addr_list = addresses };
    return &entry;
}
