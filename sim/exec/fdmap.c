/* SPDX-License-Identifier: MIT */
/*
 * sim/exec/fdmap.c: a program's simulated descriptors (fdmap.h states the invariants
 * FM1-FM4). Descriptions are taken lowest index first, so the order never depends on
 * addresses or wall time.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "fdmap.h"

void exec_fdmap_init(struct exec_fdmap *map)
{
    assert(map != NULL);
    memset(map, 0, sizeof(*map));
}

static bool fd_in_range(int fd)
{
    return fd >= 0 && (uint32_t)fd < EXEC_FDS_MAX;
}

static int description_add(struct exec_fdmap *map, int fd, int vs_fd, struct exec_io *io)
{
    assert(map != NULL);
    if (!fd_in_range(fd) || map->slot_of[fd] != 0)
        return -EBADF;
    for (uint32_t index = 0; index < EXEC_DESCRIPTIONS_MAX; index++) {
        struct exec_description *description = &map->descriptions[index];
        if (description->refs != 0)
            continue;
        description->vs_fd = vs_fd;
        description->io = io;
        description->refs = 1;
        map->slot_of[fd] = (uint16_t)(index + 1);
        map->fd_count++;
        assert(exec_fdmap_check(map));
        return 0;
    }
    return -EMFILE;
}

int exec_fdmap_add(struct exec_fdmap *map, int fd, int vs_fd)
{
    return description_add(map, fd, vs_fd, NULL);
}

int exec_fdmap_add_io(struct exec_fdmap *map, int fd, struct exec_io *io)
{
    assert(io != NULL);
    return description_add(map, fd, -1, io);
}

int exec_fdmap_dup(struct exec_fdmap *map, int old_fd, int new_fd)
{
    assert(map != NULL);
    if (!fd_in_range(old_fd) || map->slot_of[old_fd] == 0 || !fd_in_range(new_fd) ||
        map->slot_of[new_fd] != 0)
        return -EBADF;
    uint16_t slot = map->slot_of[old_fd];
    map->descriptions[slot - 1].refs++;
    map->slot_of[new_fd] = slot;
    map->fd_count++;
    return 0;
}

int exec_fdmap_remove(struct exec_fdmap *map, int fd, int *vs_fd_out)
{
    assert(map != NULL && vs_fd_out != NULL);
    if (!fd_in_range(fd) || map->slot_of[fd] == 0)
        return -EBADF;
    struct exec_description *description = &map->descriptions[map->slot_of[fd] - 1];
    assert(description->refs > 0);
    map->slot_of[fd] = 0;
    map->fd_count--;
    description->refs--;
    if (description->refs > 0)
        return 0;
    *vs_fd_out = description->vs_fd;
    description->vs_fd = -1;
    description->io = NULL;
    return 1;
}

const struct exec_description *exec_fdmap_lookup(const struct exec_fdmap *map, int fd)
{
    assert(map != NULL);
    if (!fd_in_range(fd) || map->slot_of[fd] == 0)
        return NULL;
    return &map->descriptions[map->slot_of[fd] - 1];
}

bool exec_fdmap_check(const struct exec_fdmap *map)
{
    uint32_t refs[EXEC_DESCRIPTIONS_MAX] = { 0 };
    uint32_t count = 0;
    for (uint32_t fd = 0; fd < EXEC_FDS_MAX; fd++) {
        uint16_t slot = map->slot_of[fd];
        if (slot == 0)
            continue;
        if (slot > EXEC_DESCRIPTIONS_MAX)
            return false;
        refs[slot - 1]++;
        count++;
    }
    if (count != map->fd_count)                                                 /* FM3 */
        return false;
    for (uint32_t index = 0; index < EXEC_DESCRIPTIONS_MAX; index++) {
        const struct exec_description *description = &map->descriptions[index];
        if (refs[index] != description->refs)                                   /* FM2 */
            return false;
        if (description->io != NULL && description->vs_fd != -1)               /* FM4 */
            return false;
    }
    return true;
}
