/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/error.c: names of the engine's error codes, paths as messages name them, and
 * why writing a stream failed.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "error.h"
#include "limits.h"

const char *sim_error_name(int code)
{
    switch (code) {
    case SIM_OK: return "SIM_OK";
    case SIM_ELIMIT: return "SIM_ELIMIT";
    case SIM_EINVAL: return "SIM_EINVAL";
    case SIM_ENOMEM: return "SIM_ENOMEM";
    case SIM_ENOENT: return "SIM_ENOENT";
    case SIM_ESTATE: return "SIM_ESTATE";
    case SIM_EKILLED: return "SIM_EKILLED";
    case SIM_ENOPROC: return "SIM_ENOPROC";
    case SIM_ESINK: return "SIM_ESINK";
    case SIM_ENOSYS: return "SIM_ENOSYS";
    default: return "SIM_E?";
    }
}

/* True for a byte that continues a UTF-8 character (10xxxxxx): no cut goes before one. */
static int continues_character(char byte)
{
    return ((unsigned char)byte & 0xC0u) == 0x80u;
}

char *sim_message_path(const char *path, char *shown)
{
    assert(path != NULL);
    assert(shown != NULL);
    size_t length = strlen(path);
    if (length < SIM_MESSAGE_PATH_BYTES_MAX) {
        memcpy(shown, path, length + 1);
        return shown;
    }
    static const char ellipsis[] = "...";
    /* Room for head + ellipsis + tail + NUL; the tail (the file's name) gets the larger half. */
    size_t room = SIM_MESSAGE_PATH_BYTES_MAX - sizeof(ellipsis);
    size_t head = room / 3;
    size_t tail = room - head;
    while (head > 0 && continues_character(path[head]))
        head--;
    const char *tail_start = path + length - tail;
    while (*tail_start != '\0' && continues_character(*tail_start))
        tail_start++;
    memcpy(shown, path, head);
    memcpy(shown + head, ellipsis, sizeof(ellipsis) - 1);
    size_t tail_bytes = strlen(tail_start);
    memcpy(shown + head + sizeof(ellipsis) - 1, tail_start, tail_bytes + 1);
    assert(strlen(shown) < SIM_MESSAGE_PATH_BYTES_MAX);
    return shown;
}

int sim_stream_close(FILE *stream)
{
    assert(stream != NULL);
    /* A write that failed earlier left only the stream's error flag: flushing what is
     * still buffered fails again with the cause, which a message can name. */
    errno = 0;
    int write_error = 0;
    if (fflush(stream) != 0 || ferror(stream))
        write_error = errno != 0 ? errno : EIO;
    errno = 0;
    if (fclose(stream) != 0 && write_error == 0)
        write_error = errno != 0 ? errno : EIO;
    return write_error;
}
