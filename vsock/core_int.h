/* SPDX-License-Identifier: MIT */
/* vsock/core_int.h: shared by core.c and core_io.c only. */
#ifndef VSOCK_CORE_INT_H
#define VSOCK_CORE_INT_H

#include "core.h"

/* Sets call->wait to the socket's queue (deadline after timeout_ns, 0 = none); -EAGAIN. */
int vsock__wait(struct vsock_sock *sock, struct vsock_call *call, uint64_t timeout_ns);

#endif /* VSOCK_CORE_INT_H */
