/* SPDX-License-Identifier: MIT */
/* vsock/core_int.h: shared by core.c and core_io.c only. */
#ifndef VSOCK_CORE_INT_H
#define VSOCK_CORE_INT_H

#include "core.h"

/* Sets call->wait to the socket's queue (deadline after timeout_ns, 0 = none); -EAGAIN. */
int vsock__wait(struct vsock_sock *sock, struct vsock_call *call, uint64_t timeout_ns);

/* Starts loading, without waiting, the lines a send or recv of `sock` reads: its hot
 * lines, its transport's state, and through the transport what lies beyond (queue pairs),
 * so that their cache misses overlap instead of following one another: in a fleet none
 * of them is in a cache (issue 10). Changes nothing but how long the call takes. */
static inline void vsock__prefetch(const struct vsock_sock *sock)
{
    const uint8_t *block = (const uint8_t *)sock;
    __builtin_prefetch(block + VSOCK_SOCK_HOT_START_BYTES);
    __builtin_prefetch(block + VSOCK_SOCK_HOT_START_BYTES + VSOCK_CACHE_LINE_BYTES);
    __builtin_prefetch(block + VSOCK_SOCK_STATE_OFFSET_BYTES, 1);   /* sock_alloc's layout */
    if (sock->ops->prefetch != NULL)
        sock->ops->prefetch(sock);
}

#endif /* VSOCK_CORE_INT_H */
