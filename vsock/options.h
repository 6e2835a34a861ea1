/* SPDX-License-Identifier: MIT */
/*
 * vsock/options.h: socket options (reference 6.9, R136-R146, R213/R214).
 *
 * Options are named by one enum covering the vSockets level (AF_VSOCK = 40: the
 * buffer sizes, connect timeout, trusted, peer host VM id) and the socket level
 * (SO_RCVLOWAT, SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVBUF, SO_ERROR). Times are ns.
 */
#ifndef VSOCK_OPTIONS_H
#define VSOCK_OPTIONS_H

#include <stdint.h>

#include "core.h"

enum vsock_option {
    /* Level AF_VSOCK; the numbers are the uapi's (R214). */
    VSOCK_OPTION_BUFFER_SIZE = 0,
    VSOCK_OPTION_BUFFER_MIN_SIZE = 1,
    VSOCK_OPTION_BUFFER_MAX_SIZE = 2,
    VSOCK_OPTION_PEER_HOST_VM_ID = 3,
    VSOCK_OPTION_TRUSTED = 5,
    VSOCK_OPTION_CONNECT_TIMEOUT = 6,
    VSOCK_OPTION_NONBLOCK_TXRX = 7,
    /* Socket level. */
    VSOCK_OPTION_RCVLOWAT = 100,
    VSOCK_OPTION_RCVTIMEO,
    VSOCK_OPTION_SNDTIMEO,
    VSOCK_OPTION_RCVBUF,
    VSOCK_OPTION_ERROR,
    /* Accepted and without effect on vSockets (R146). */
    VSOCK_OPTION_SNDBUF,
    VSOCK_OPTION_KEEPALIVE,
    VSOCK_OPTION_LINGER,
    VSOCK_OPTION_REUSEADDR,
};

/* Returns 0 or a negative errno (EOPNOTSUPP for vSockets options on datagram sockets,
 * ENOPROTOOPT for read-only or unknown ones, ERANGE, EINVAL). */
int vsock_setsockopt(struct vsock_sock *sock, enum vsock_option option, uint64_t value);
/* Returns 0 and *value, or a negative errno. VSOCK_OPTION_ERROR clears the error. */
int vsock_getsockopt(struct vsock_sock *sock, enum vsock_option option, uint64_t *value);
/* R140: the longest connect timeout the simulator's timer allows: whole ticks within
 * simulated time (SIM_TIME_END_NS, 2^63-1 ns), so the value read back is a signed 64-bit
 * number as Lua holds it. (Linux's own bound, LONG_MAX / HZ - 1 s, is far larger.) */
#define VSOCK_CONNECT_TIMEOUT_NS_MAX ((uint64_t)INT64_MAX / VSOCK_TICK_NS * VSOCK_TICK_NS)

#endif /* VSOCK_OPTIONS_H */
