/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/error.h: the engine's error codes.
 *
 * Engine functions return 0 or a negative SIM_E* code; the engine keeps a
 * message for the last error (sim_engine_error_message) that names the limit
 * or the object involved, so the CLI can print something a user can act on.
 */
#ifndef SIM_ENGINE_ERROR_H
#define SIM_ENGINE_ERROR_H

#include <stdio.h>

enum sim_error {
    SIM_OK = 0,
    SIM_ELIMIT = -1,     /* a named limit was exceeded; the message names it */
    SIM_EINVAL = -2,     /* bad argument from a caller (e.g. a name too long) */
    SIM_ENOMEM = -3,     /* the host ran out of memory */
    SIM_ENOENT = -4,     /* no such event / process */
    SIM_ESTATE = -5,     /* the object is in the wrong state for this call */
    SIM_EKILLED = -6,    /* the calling process was killed while blocked */
    SIM_ENOPROC = -7,    /* a blocking call made with no process context */
    SIM_ESINK = -8,      /* a trace sink failed (e.g. disk full); the message says why */
    SIM_ENOSYS = -9,     /* this machine cannot do it (e.g. no sandbox for programs) */
};

const char *sim_error_name(int code);

/* Writes `path` into `shown` (SIM_MESSAGE_PATH_BYTES_MAX bytes, limits.h) as a message
 * names it: whole when it fits, else its head, "...", and its tail (the file's name), cut
 * between UTF-8 characters. A message cut to SIM_ERROR_MESSAGE_BYTES_MAX so keeps room for
 * its cause (e.g. "File name too long") whatever the path's length. Returns `shown`. */
char *sim_message_path(const char *path, char *shown);

/* Flushes and closes `stream`, which was written to. Returns 0, or the errno of a write
 * that failed on it (ENOSPC, EFBIG, ...), EIO when nothing says more. */
int sim_stream_close(FILE *stream);

#endif /* SIM_ENGINE_ERROR_H */
