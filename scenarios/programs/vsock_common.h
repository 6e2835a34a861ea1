/* SPDX-License-Identifier: MIT */
/*
 * scenarios/programs/vsock_common.h: what the example programs share: reporting a failed
 * call as "<who>: <call>: <ERRNO NAME>" (the scenario reads these lines), the local CID as
 * the Guide obtains it (the /dev/vsock ioctl), and the stream servers' echo loop.
 *
 * These are ordinary Linux programs written against <linux/vm_sockets.h>; they know
 * nothing of vmcisim. Run them only inside vmcisim (`ep:exec`, docs/programs.md).
 */
#ifndef VSOCK_COMMON_H
#define VSOCK_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

/* Prints the failed call with its errno name and ends the program with status 1. */
static inline void fail(const char *who, const char *call)
{
    const char *name = strerrorname_np(errno);
    printf("%s: %s: %s\n", who, call, name != NULL ? name : "unknown errno");
    fflush(stdout);
    exit(1);
}

/* The CID of this machine, as the Guide's VMCISock_GetLocalCID() finds it. */
static inline unsigned int local_cid(void)
{
    int fd = open("/dev/vsock", O_RDONLY);
    unsigned int cid = VMADDR_CID_ANY;
    if (fd >= 0) {
        if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
            cid = VMADDR_CID_ANY;
        close(fd);
    }
    return cid;
}

static inline unsigned int parse_number(const char *text)
{
    return (unsigned int)strtoul(text, NULL, 0);
}

/* Echoes what `connection` brings until its end of stream; returns the bytes echoed. A
 * failed recv or send ends the program as `fail(who, …)`. The buffer is the caller's own
 * (on its stack): the threaded server runs one loop per thread. */
static inline unsigned long long echo_until_end(int connection, const char *who)
{
    char buffer[65536];
    unsigned long long echoed = 0;
    for (;;) {
        ssize_t got = recv(connection, buffer, sizeof(buffer), 0);
        if (got < 0)
            fail(who, "recv");
        if (got == 0)
            return echoed;
        for (ssize_t sent = 0; sent < got;) {
            ssize_t rc = send(connection, buffer + sent, (size_t)(got - sent), 0);
            if (rc < 0)
                fail(who, "send");
            sent += rc;
        }
        echoed += (unsigned long long)got;
    }
}

#endif /* VSOCK_COMMON_H */
