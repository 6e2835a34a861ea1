/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/fdmap.h: a program's simulated descriptors: which real descriptor number
 * in the child stands for which simulated socket (a descriptor of the program's
 * vs_context) or for /dev/vsock.
 *
 * Several numbers may share one open description (dup, dup2, F_DUPFD), as in Linux:
 * the socket is closed when the last number referring to it is closed.
 *
 * Invariants (exec_fdmap_check):
 *   FM1  slot_of[fd] != 0  <=>  fd is a simulated descriptor of the program.
 *   FM2  a description's refs == the number of fds whose slot_of names it; a
 *        description with refs == 0 is free.
 *   FM3  fd_count == the number of fds with slot_of != 0.
 *   FM4  a description naming an in-world object (io, sim/exec/pipe.h) has vs_fd -1; it
 *        holds one reference to the io (exec_io_hold/exec_io_release), so a fork that
 *        copies a description calls exec_io_hold on its io once.
 */
#ifndef SIM_EXEC_FDMAP_H
#define SIM_EXEC_FDMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/exec/protocol.h"

struct exec_io;

/* Open simulated descriptions of one program (sockets and /dev/vsock opens). */
#define EXEC_DESCRIPTIONS_MAX 256u

struct exec_description {
    int vs_fd;              /* the vs_context descriptor; -1 for /dev/vsock or an io */
    uint32_t refs;          /* child descriptors naming it; 0: free */
    struct exec_io *io;     /* a pipe, socket pair end or control channel socket; or NULL */
};

struct exec_fdmap {
    uint16_t slot_of[EXEC_FDS_MAX];     /* description index + 1, or 0 */
    struct exec_description descriptions[EXEC_DESCRIPTIONS_MAX];
    uint32_t fd_count;
};

void exec_fdmap_init(struct exec_fdmap *map);
/* Maps child descriptor `fd` to a new description (vs_fd, or -1 for the device).
 * Returns 0, -EBADF (fd out of range or already simulated), -EMFILE (no free
 * description). */
int exec_fdmap_add(struct exec_fdmap *map, int fd, int vs_fd);
/* Maps `fd` to a new description of an in-world object (the description takes over one
 * reference the caller holds). Returns as exec_fdmap_add. */
int exec_fdmap_add_io(struct exec_fdmap *map, int fd, struct exec_io *io);
/* new_fd now names old_fd's description. 0, or -EBADF (old_fd not simulated, new_fd
 * out of range or already simulated). */
int exec_fdmap_dup(struct exec_fdmap *map, int old_fd, int new_fd);
/* Forgets `fd`. Returns 1 and stores the description's vs_fd when that was its last
 * reference (the caller closes it, or releases the io it looked up before), 0 when
 * others still refer to it, -EBADF when fd is not simulated. */
int exec_fdmap_remove(struct exec_fdmap *map, int fd, int *vs_fd_out);
/* The description of `fd`, or NULL (not simulated). */
const struct exec_description *exec_fdmap_lookup(const struct exec_fdmap *map, int fd);
bool exec_fdmap_check(const struct exec_fdmap *map);

#endif /* SIM_EXEC_FDMAP_H */
