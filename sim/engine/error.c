/* SPDX-License-Identifier: MIT */
/*
 * sim/engine/error.c: names of the engine's error codes.
 */
#include "error.h"

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
