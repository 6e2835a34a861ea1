/* SPDX-License-Identifier: MIT */
/*
 * shim/shim_socket.c: the socket calls of libc, replaced. On a simulated descriptor
 * each becomes one request to the supervisor, served on the endpoint's simulated
 * vSockets stack; on a real descriptor it is passed to the kernel unchanged (through
 * the shim's syscall site); on the channel it fails with EBADF, as if the number
 * were not open, so that a program cannot disturb its own link to the simulator.
 *
 * AF_VSOCK sockets are always simulated, and so are AF_INET and AF_INET6 ones (the TCP
 * control channel); AF_UNIX sockets are real (the sandbox lets the kernel make only those);
 * any other family is refused with EAFNOSUPPORT and reported to the supervisor (the trace
 * shows it).
 *
 * Ancillary data, as Linux's AF_VSOCK treats it: control data sent on a simulated socket is
 * checked as the socket layer checks it and then ignored; a receive returns none
 * (msg_controllen 0). SCM_RIGHTS on a real socket naming a simulated descriptor is refused
 * (EOPNOTSUPP, traced): it would carry a placeholder out of the simulation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim_int.h"

#define SHIM_AF_VSOCK 40
/* Control bytes one sendmsg may carry: Linux 6.1's default net.core.optmem_max (the socket
 * layer's limit; ENOBUFS beyond). */
#define EXEC_CONTROL_BYTES_MAX 20480u
/* Messages one sendmmsg sends: Linux's UIO_MAXIOV, its own bound. */
#define EXEC_SENDMMSG_MESSAGES_MAX 1024u

static long native6(long number, long a1, long a2, long a3, long a4, long a5, long a6)
{
    return shim_result(shim_syscall(number, a1, a2, a3, a4, a5, a6));
}

static long bad_descriptor(void)
{
    errno = EBADF;
    return -1;
}

/* read, write, readv and writev serve pipes as well as sockets (shim_pipe.c). */
static bool served_stream(int fd)
{
    return shim_fd_kind(fd) == SHIM_FD_SOCKET || shim_fd_kind(fd) == SHIM_FD_PIPE;
}

int socket(int domain, int type, int protocol)
{
    if (domain == AF_UNIX)
        return (int)native6(SYS_socket, domain, type, protocol, 0, 0, 0);
    if (domain != SHIM_AF_VSOCK && domain != AF_INET && domain != AF_INET6) {
        /* AF_INET, AF_INET6: the TCP control channel */
        (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_FAMILY, domain, 0, 0);
        errno = EAFNOSUPPORT;
        return -1;
    }
    int fd = shim_placeholder();
    if (fd < 0)
        return (int)shim_result(fd);
    long rc = shim_call_simple(EXEC_OP_SOCKET, fd, domain, type, protocol);
    if (rc < 0) {
        int saved = errno;
        (void)SHIM_SYSCALL3(SYS_close, fd, 0, 0);
        errno = saved;
        return -1;
    }
    shim_fd_set_kind(fd, SHIM_FD_SOCKET);
    if (type & SOCK_CLOEXEC)            /* execve closes it (shim_process.c asks) */
        (void)SHIM_SYSCALL3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

/* A call that carries an address to the supervisor (bind, connect). */
static int address_call(enum exec_op op, int fd, const struct sockaddr *addr, socklen_t len)
{
    if (addr == NULL && len > 0) {
        errno = EFAULT;
        return -1;
    }
    struct exec_request request = { .op = op, .args = { fd, len } };
    struct exec_reply reply;
    struct iovec out = { (void *)addr, len > 128 ? 128 : len };
    return (int)shim_result(shim_call(&request, &out, addr != NULL ? 1 : 0, &reply, NULL, 0));
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (shim_fd_kind(fd) == SHIM_FD_SOCKET)
        return address_call(EXEC_OP_BIND, fd, addr, len);
    if (shim_fd_kind(fd) != SHIM_FD_REAL)
        return (int)bad_descriptor();
    return (int)native6(SYS_bind, fd, (long)addr, len, 0, 0, 0);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (shim_fd_kind(fd) == SHIM_FD_SOCKET)
        return address_call(EXEC_OP_CONNECT, fd, addr, len);
    if (shim_fd_kind(fd) != SHIM_FD_REAL)
        return (int)bad_descriptor();
    return (int)native6(SYS_connect, fd, (long)addr, len, 0, 0, 0);
}

int listen(int fd, int backlog)
{
    if (shim_fd_kind(fd) == SHIM_FD_SOCKET)
        return (int)shim_call_simple(EXEC_OP_LISTEN, fd, backlog, 0, 0);
    if (shim_fd_kind(fd) != SHIM_FD_REAL)
        return (int)bad_descriptor();
    return (int)native6(SYS_listen, fd, backlog, 0, 0, 0, 0);
}

/* Copies a simulated address out as Linux does: at most *len bytes, *len = its length (the
 * reply's address area, protocol.h: 16 for AF_VSOCK and AF_INET, 28 for AF_INET6). */
static void address_out(const unsigned char *address, struct sockaddr *addr, socklen_t *len)
{
    if (addr == NULL || len == NULL)
        return;
    uint32_t length = exec_address_length_get(address);
    size_t copy = *len < length ? *len : length;
    memcpy(addr, address, copy);
    *len = length;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return (int)native6(SYS_accept4, fd, (long)addr, (long)len, flags, 0, 0);
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return (int)bad_descriptor();
    int new_fd = shim_placeholder();
    if (new_fd < 0)
        return (int)shim_result(new_fd);
    unsigned char address[EXEC_ADDRESS_BYTES];
    struct exec_request request = { .op = EXEC_OP_ACCEPT, .args = { fd, new_fd, flags } };
    struct exec_reply reply;
    struct iovec in = { address, sizeof(address) };
    long rc = shim_result(shim_call(&request, NULL, 0, &reply, &in, 1));
    if (rc < 0) {
        int saved = errno;
        (void)SHIM_SYSCALL3(SYS_close, new_fd, 0, 0);
        errno = saved;
        return -1;
    }
    shim_fd_set_kind(new_fd, SHIM_FD_SOCKET);
    if (flags & SOCK_CLOEXEC)
        (void)SHIM_SYSCALL3(SYS_fcntl, new_fd, F_SETFD, FD_CLOEXEC);
    address_out(address, addr, len);
    return new_fd;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

/* A send of the iovecs (and optional address) on a simulated socket. */
static ssize_t send_vector(int fd, const struct iovec *parts, int count, int flags,
                           const void *to, socklen_t to_len)
{
    struct iovec out[9];
    int used = 0;
    size_t total = 0;
    if (to != NULL && to_len > 0)
        out[used++] = (struct iovec){ (void *)to, to_len > 128 ? 128 : to_len };
    for (int index = 0; index < count && used < 9; index++) {
        size_t room = EXEC_PAYLOAD_BYTES_MAX - 128 - total;
        size_t take = parts[index].iov_len < room ? parts[index].iov_len : room;
        if (take == 0)
            continue;
        if (parts[index].iov_base == NULL) {
            errno = EFAULT;
            return -1;
        }
        out[used++] = (struct iovec){ parts[index].iov_base, take };
        total += take;
    }
    struct exec_request request = {
        .op = EXEC_OP_SEND,
        .args = { fd, flags, to != NULL ? (int64_t)(to_len > 128 ? 128 : to_len) : 0 },
    };
    struct exec_reply reply;
    return (ssize_t)shim_result(shim_call(&request, out, used, &reply, NULL, 0));
}

/* A recv into the iovecs (and optional address) on a simulated socket. */
static ssize_t recv_vector(int fd, const struct iovec *parts, int count, int flags,
                           struct sockaddr *from, socklen_t *from_len)
{
    unsigned char address[EXEC_ADDRESS_BYTES];
    struct iovec in[9];
    int used = 0;
    size_t total = 0;
    in[used++] = (struct iovec){ address, sizeof(address) };
    for (int index = 0; index < count && used < 9; index++) {
        size_t room = EXEC_PAYLOAD_BYTES_MAX - EXEC_ADDRESS_BYTES - total;
        size_t take = parts[index].iov_len < room ? parts[index].iov_len : room;
        if (take == 0)
            continue;
        in[used++] = (struct iovec){ parts[index].iov_base, take };
        total += take;
    }
    struct exec_request request = { .op = EXEC_OP_RECV, .args = { fd, (int64_t)total, flags } };
    struct exec_reply reply;
    long rc = shim_result(shim_call(&request, NULL, 0, &reply, in, used));
    if (rc >= 0)
        address_out(address, from, from_len);
    return rc;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
               socklen_t to_len)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return native6(SYS_sendto, fd, (long)buf, (long)len, flags, (long)to, to_len);
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return bad_descriptor();
    struct iovec part = { (void *)buf, len };
    return send_vector(fd, &part, 1, flags, to, to != NULL ? to_len : 0);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
                 socklen_t *from_len)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return native6(SYS_recvfrom, fd, (long)buf, (long)len, flags, (long)from,
                       (long)from_len);
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return bad_descriptor();
    struct iovec part = { buf, len };
    return recv_vector(fd, &part, 1, flags, from, from_len);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* Walks `message`'s SCM_RIGHTS control messages: returns the first descriptor they pass that
 * is not real (a simulated socket's or device's placeholder, an epoll descriptor, the
 * channel), or -1; `*any` (when not NULL) says whether there was an SCM_RIGHTS message at
 * all. Only the part of each control message inside msg_controllen is looked at; a control
 * message the kernel would find malformed is left to the kernel (EINVAL), which then passes
 * nothing. */
static int rights_scan(const struct msghdr *message, bool *any)
{
    if (any != NULL)
        *any = false;
    if (message->msg_control == NULL || message->msg_controllen < sizeof(struct cmsghdr))
        return -1;
    const unsigned char *end = (const unsigned char *)message->msg_control +
                               message->msg_controllen;
    for (struct cmsghdr *control = CMSG_FIRSTHDR((struct msghdr *)message); control != NULL;
         control = CMSG_NXTHDR((struct msghdr *)message, control)) {
        if (control->cmsg_level != SOL_SOCKET || control->cmsg_type != SCM_RIGHTS)
            continue;
        if (any != NULL)
            *any = true;
        if (control->cmsg_len < CMSG_LEN(0))
            continue;
        const unsigned char *data = CMSG_DATA(control);
        size_t bytes = control->cmsg_len - CMSG_LEN(0);
        if (bytes > (size_t)(end - data))
            bytes = (size_t)(end - data);
        for (size_t offset = 0; offset + sizeof(int) <= bytes; offset += sizeof(int)) {
            int fd;
            memcpy(&fd, data + offset, sizeof(fd));
            if (shim_fd_kind(fd) != SHIM_FD_REAL)
                return fd;
        }
    }
    return -1;
}

/* SCM_RIGHTS naming a simulated descriptor on a real socket would hand its placeholder to
 * another process outside the simulation: refused loudly (EOPNOTSUPP, exec_refused
 * `rights` with the descriptor). Returns 0 when the message may go to the kernel. */
static int refuse_simulated_rights(const struct msghdr *message)
{
    int fd = message != NULL ? rights_scan(message, NULL) : -1;
    if (fd < 0)
        return 0;
    (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_RIGHTS, fd, 0, 0);
    errno = EOPNOTSUPP;
    return -1;
}

/* The family of simulated socket `fd` as the supervisor reports it (SO_DOMAIN); AF_VSOCK
 * when it reports none. errno is kept. */
static int simulated_family(int fd)
{
    int saved = errno;
    int domain = 0;
    socklen_t length = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) < 0 ||
        length != sizeof(domain))
        domain = AF_VSOCK;
    errno = saved;
    return domain;
}

/* Control data sent on a simulated socket: as Linux, the socket layer copies it in (EFAULT
 * when it cannot, ENOBUFS beyond INT_MAX or the socket's option memory) and AF_VSOCK then
 * ignores it: nothing of it reaches the peer, not even SCM_RIGHTS. The other simulated
 * families would act on SCM_RIGHTS, which the simulation does not serve, so it is never
 * dropped silently there: on a simulated AF_UNIX socket pair it is refused loudly
 * (EOPNOTSUPP, exec_refused `rights`), on the control channel's AF_INET sockets it is
 * EINVAL, as Linux's TCP and UDP answer it. */
static int control_checked(int fd, const struct msghdr *message)
{
    if (message->msg_controllen == 0)
        return 0;
    if (message->msg_controllen > EXEC_CONTROL_BYTES_MAX) {
        errno = ENOBUFS;
        return -1;
    }
    if (message->msg_control == NULL) {
        errno = EFAULT;
        return -1;
    }
    bool rights = false;
    (void)rights_scan(message, &rights);
    if (!rights)
        return 0;
    int family = simulated_family(fd);
    if (family == AF_UNIX) {
        (void)shim_call_simple(EXEC_OP_REFUSED, EXEC_REFUSED_RIGHTS, fd, 0, 0);
        errno = EOPNOTSUPP;
        return -1;
    }
    if (family == AF_INET || family == AF_INET6) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

ssize_t sendmsg(int fd, const struct msghdr *message, int flags)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL) {
        if (refuse_simulated_rights(message) < 0)
            return -1;
        return native6(SYS_sendmsg, fd, (long)message, flags, 0, 0, 0);
    }
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return bad_descriptor();
    if (message == NULL || message->msg_iovlen > 8) {
        errno = message == NULL ? EFAULT : EMSGSIZE;
        return -1;
    }
    if (control_checked(fd, message) < 0)
        return -1;
    return send_vector(fd, message->msg_iov, (int)message->msg_iovlen, flags,
                       message->msg_name, message->msg_name != NULL ? message->msg_namelen : 0);
}

/* sendmmsg: on a real socket after the SCM_RIGHTS check of every message; on a simulated
 * one as one sendmsg per message (as Linux's loop does), its count, or its error when the
 * first fails. */
int sendmmsg(int fd, struct mmsghdr *messages, unsigned int count, int flags)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL) {
        for (unsigned int index = 0; messages != NULL && index < count; index++) {
            if (refuse_simulated_rights(&messages[index].msg_hdr) < 0)
                return -1;
        }
        return (int)native6(SYS_sendmmsg, fd, (long)messages, count, flags, 0, 0);
    }
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return (int)bad_descriptor();
    if (messages == NULL && count > 0) {
        errno = EFAULT;
        return -1;
    }
    unsigned int sent = 0;
    for (; sent < count && sent < EXEC_SENDMMSG_MESSAGES_MAX; sent++) {
        ssize_t rc = sendmsg(fd, &messages[sent].msg_hdr, flags);
        if (rc < 0)
            return sent > 0 ? (int)sent : -1;
        messages[sent].msg_len = (unsigned int)rc;
    }
    return (int)sent;
}

ssize_t recvmsg(int fd, struct msghdr *message, int flags)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return native6(SYS_recvmsg, fd, (long)message, flags, 0, 0, 0);
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return bad_descriptor();
    if (message == NULL || message->msg_iovlen > 8) {
        errno = message == NULL ? EFAULT : EMSGSIZE;
        return -1;
    }
    ssize_t rc = recv_vector(fd, message->msg_iov, (int)message->msg_iovlen, flags,
                             message->msg_name, &message->msg_namelen);
    if (rc >= 0) {
        message->msg_controllen = 0;
        message->msg_flags = 0;
    }
    return rc;
}

ssize_t read(int fd, void *buf, size_t len)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return native6(SYS_read, fd, (long)buf, (long)len, 0, 0, 0);
    if (!served_stream(fd))
        return bad_descriptor();
    struct iovec part = { buf, len };
    return recv_vector(fd, &part, 1, 0, NULL, NULL);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return native6(SYS_write, fd, (long)buf, (long)len, 0, 0, 0);
    if (!served_stream(fd))
        return bad_descriptor();
    struct iovec part = { (void *)buf, len };
    return send_vector(fd, &part, 1, 0, NULL, 0);
}

ssize_t readv(int fd, const struct iovec *parts, int count)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return native6(SYS_readv, fd, (long)parts, count, 0, 0, 0);
    if (!served_stream(fd))
        return bad_descriptor();
    if (count < 0 || count > 8) {
        errno = EINVAL;
        return -1;
    }
    return recv_vector(fd, parts, count, 0, NULL, NULL);
}

ssize_t writev(int fd, const struct iovec *parts, int count)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return native6(SYS_writev, fd, (long)parts, count, 0, 0, 0);
    if (!served_stream(fd))
        return bad_descriptor();
    if (count < 0 || count > 8) {
        errno = EINVAL;
        return -1;
    }
    return send_vector(fd, parts, count, 0, NULL, 0);
}

int close(int fd)
{
    enum shim_fd_kind kind = shim_fd_kind(fd);
    if (kind == SHIM_FD_CHANNEL)
        return 0;                       /* the channel stays: see the file's header */
    if (kind != SHIM_FD_REAL && kind != SHIM_FD_EPOLL)
        (void)shim_call_simple(EXEC_OP_CLOSE, fd, 0, 0, 0);
    shim_fd_set_kind(fd, SHIM_FD_REAL);
    shim_epoll_forget(fd);
    return (int)native6(SYS_close, fd, 0, 0, 0, 0, 0);
}

int shutdown(int fd, int how)
{
    if (shim_fd_kind(fd) == SHIM_FD_SOCKET)
        return (int)shim_call_simple(EXEC_OP_SHUTDOWN, fd, how, 0, 0);
    if (shim_fd_kind(fd) != SHIM_FD_REAL)
        return (int)bad_descriptor();
    return (int)native6(SYS_shutdown, fd, how, 0, 0, 0, 0);
}

static int name_call(enum exec_op op, int fd, struct sockaddr *addr, socklen_t *len)
{
    if (addr == NULL || len == NULL) {
        errno = EFAULT;
        return -1;
    }
    unsigned char address[EXEC_ADDRESS_BYTES];
    struct exec_request request = { .op = op, .args = { fd } };
    struct exec_reply reply;
    struct iovec in = { address, sizeof(address) };
    long rc = shim_result(shim_call(&request, NULL, 0, &reply, &in, 1));
    if (rc == 0)
        address_out(address, addr, len);
    return (int)rc;
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (shim_fd_kind(fd) == SHIM_FD_SOCKET)
        return name_call(EXEC_OP_GETSOCKNAME, fd, addr, len);
    if (shim_fd_kind(fd) != SHIM_FD_REAL)
        return (int)bad_descriptor();
    return (int)native6(SYS_getsockname, fd, (long)addr, (long)len, 0, 0, 0);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (shim_fd_kind(fd) == SHIM_FD_SOCKET)
        return name_call(EXEC_OP_GETPEERNAME, fd, addr, len);
    if (shim_fd_kind(fd) != SHIM_FD_REAL)
        return (int)bad_descriptor();
    return (int)native6(SYS_getpeername, fd, (long)addr, (long)len, 0, 0, 0);
}

int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return (int)native6(SYS_getsockopt, fd, level, name, (long)value, (long)len, 0);
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return (int)bad_descriptor();
    if (value == NULL || len == NULL) {
        errno = EFAULT;
        return -1;
    }
    unsigned char bytes[64];
    struct exec_request request = {
        .op = EXEC_OP_GETSOCKOPT, .args = { fd, level, name, *len > 64 ? 64 : *len },
    };
    struct exec_reply reply;
    struct iovec in = { bytes, sizeof(bytes) };
    long rc = shim_result(shim_call(&request, NULL, 0, &reply, &in, 1));
    if (rc == 0) {
        size_t copy = reply.payload_bytes < *len ? reply.payload_bytes : *len;
        memcpy(value, bytes, copy);
        *len = (socklen_t)copy;
    }
    return (int)rc;
}

int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
{
    if (shim_fd_kind(fd) == SHIM_FD_REAL)
        return (int)native6(SYS_setsockopt, fd, level, name, (long)value, len, 0);
    if (shim_fd_kind(fd) != SHIM_FD_SOCKET)
        return (int)bad_descriptor();
    if (value == NULL && len > 0) {
        errno = EFAULT;
        return -1;
    }
    struct exec_request request = { .op = EXEC_OP_SETSOCKOPT, .args = { fd, level, name, len } };
    struct exec_reply reply;
    struct iovec out = { (void *)value, len > 64 ? 64 : len };
    return (int)shim_result(shim_call(&request, &out, value != NULL ? 1 : 0, &reply, NULL, 0));
}

/* The fortified variants glibc's _FORTIFY_SOURCE calls; the size checks are glibc's. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buf_len)
{
    return read(fd, buf, len < buf_len ? len : buf_len);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buf_len, int flags)
{
    return recv(fd, buf, len < buf_len ? len : buf_len, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buf_len, int flags,
                       struct sockaddr *from, socklen_t *from_len)
{
    return recvfrom(fd, buf, len < buf_len ? len : buf_len, flags, from, from_len);
}
