/* SPDX-License-Identifier: MIT */
/*
 * tests/programs/sandbox_preload.c: a stand-in for the exec shim, for the sandbox tests.
 *
 * A shared library that announces itself on stderr when the loader maps it: a program started
 * with shim_path and LD_PRELOAD naming it prints "preloaded" first, which shows that the
 * sandbox binds the shim where LD_PRELOAD says and that the loader honours it.
 */
#include <unistd.h>

__attribute__((constructor)) static void announce(void)
{
    static const char text[] = "preloaded\n";
    ssize_t ignored = write(2, text, sizeof text - 1);
    (void)ignored;
}
