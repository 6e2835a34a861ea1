/* SPDX-License-Identifier: MIT */
/*
 * vsock/options.c: setsockopt/getsockopt (reference 6.9). The buffer options
 * follow current Linux's clamp rule (R138, R213): clamp to the maximum first,
 * then to the minimum; no error for out-of-range values.
 */
#include <assert.h>
#include <errno.h>

#include "options.h"

static void clamp_buffer_size(struct vsock_sock *sock)
{
    if (sock->buffer_size > sock->buffer_max_size)
        sock->buffer_size = sock->buffer_max_size;
    if (sock->buffer_size < sock->buffer_min_size)
        sock->buffer_size = sock->buffer_min_size;
}

static bool vsock_level(enum vsock_option option)
{
    return option < VSOCK_OPTION_RCVLOWAT;
}

static int set_vsock_level(struct vsock_sock *sock, enum vsock_option option, uint64_t value)
{
    switch (option) {
    case VSOCK_OPTION_BUFFER_SIZE:
        sock->buffer_size = value;
        clamp_buffer_size(sock);                                                /* R138 */
        return 0;
    case VSOCK_OPTION_BUFFER_MIN_SIZE:
        sock->buffer_min_size = value;
        clamp_buffer_size(sock);
        return 0;
    case VSOCK_OPTION_BUFFER_MAX_SIZE:
        sock->buffer_max_size = value;
        clamp_buffer_size(sock);
        return 0;
    case VSOCK_OPTION_CONNECT_TIMEOUT: {
        if (value > VSOCK_CONNECT_TIMEOUT_NS_MAX)
            return -ERANGE;                                                     /* R140 */
        if (value == 0) {
            sock->connect_timeout_ns = VSOCK_CONNECT_TIMEOUT_NS_DEFAULT;
            return 0;
        }
        sock->connect_timeout_ns = (value + VSOCK_TICK_NS - 1) / VSOCK_TICK_NS * VSOCK_TICK_NS;
        return 0;
    }
    default:
        return -ENOPROTOOPT;                            /* R141-R144: read-only, unknown */
    }
}

int vsock_setsockopt(struct vsock_sock *sock, enum vsock_option option, uint64_t value)
{
    assert(sock != NULL);
    if (vsock_level(option))
        return sock->type == VSOCK_TYPE_DGRAM ? -EOPNOTSUPP : set_vsock_level(sock, option, value);
    switch (option) {                                                           /* R146 */
    case VSOCK_OPTION_RCVLOWAT:
        if (sock->type == VSOCK_TYPE_STREAM && value > sock->buffer_size)
            return -EINVAL;                                                     /* R145 */
        sock->rcvlowat = value == 0 ? 1 : value;
        return 0;
    case VSOCK_OPTION_RCVTIMEO:
        sock->rcvtimeo_ns = value;
        return 0;
    case VSOCK_OPTION_SNDTIMEO:
        sock->sndtimeo_ns = value;
        return 0;
    case VSOCK_OPTION_RCVBUF:
        sock->rcvbuf = value;
        return 0;
    case VSOCK_OPTION_SNDBUF:
    case VSOCK_OPTION_KEEPALIVE:
    case VSOCK_OPTION_LINGER:           /* close() never lingers (R126, R222) */
    case VSOCK_OPTION_REUSEADDR:
        return 0;                                                               /* R146 */
    default:
        return -ENOPROTOOPT;
    }
}

static int peer_host_vm_id(const struct vsock_sock *sock, uint64_t *value)
{
    if (sock->state != VSOCK_SS_CONNECTED)
        return -ENOTCONN;                                                       /* R142 */
    if (!sock->stack->is_host || sock->remote.cid <= VSOCK_CID_HOST ||
        sock->remote.cid == VSOCK_CID_ANY)
        return -ENOPROTOOPT;
    *value = sock->remote.cid & 0x7FFFFFFFu;
    return 0;
}

int vsock_getsockopt(struct vsock_sock *sock, enum vsock_option option, uint64_t *value)
{
    assert(sock != NULL && value != NULL);
    if (vsock_level(option) && sock->type == VSOCK_TYPE_DGRAM)
        return -EOPNOTSUPP;                                                     /* R136 */
    switch (option) {
    case VSOCK_OPTION_BUFFER_SIZE: *value = sock->buffer_size; return 0;
    case VSOCK_OPTION_BUFFER_MIN_SIZE: *value = sock->buffer_min_size; return 0;
    case VSOCK_OPTION_BUFFER_MAX_SIZE: *value = sock->buffer_max_size; return 0;
    case VSOCK_OPTION_CONNECT_TIMEOUT: *value = sock->connect_timeout_ns; return 0;
    case VSOCK_OPTION_TRUSTED:                                                  /* R141 */
        *value = sock->credentials.trusted || sock->credentials.owner_rule;
        return 0;
    case VSOCK_OPTION_PEER_HOST_VM_ID: return peer_host_vm_id(sock, value);
    case VSOCK_OPTION_RCVLOWAT: *value = sock->rcvlowat; return 0;
    case VSOCK_OPTION_RCVTIMEO: *value = sock->rcvtimeo_ns; return 0;
    case VSOCK_OPTION_SNDTIMEO: *value = sock->sndtimeo_ns; return 0;
    case VSOCK_OPTION_RCVBUF: *value = sock->rcvbuf; return 0;
    case VSOCK_OPTION_ERROR:
        *value = (uint64_t)sock->error;
        sock->error = 0;
        return 0;
    default:
        return -ENOPROTOOPT;                                                    /* R143, R144 */
    }
}
