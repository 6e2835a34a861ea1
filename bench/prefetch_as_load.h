/* SPDX-License-Identifier: MIT */
/*
 * bench/prefetch_as_load.h: a profiling aid, never part of a normal build. Forced into
 * every file of a separate build (`-include`), it turns each __builtin_prefetch into a
 * one-byte load in a function of its own, prefetch_as_load(). Valgrind's cache simulator
 * ignores prefetches, so in a normal build it counts a miss where the line is used even
 * when a prefetch started it events earlier; in this build that miss lands in
 * prefetch_as_load() instead, and what stays where it was is what no prefetch reaches.
 * (In a profile the load comes as early as the prefetch would, so it shows which lines are
 * named, not whether their loads arrive in time.) Usage, from the project root:
 *   make BUILD=build/prefetch-as-load \
 *        EXTRA_CFLAGS="-include bench/prefetch_as_load.h -Wno-error" build/prefetch-as-load/vmcisim
 *   valgrind --tool=callgrind --cache-sim=yes --D1=49152,12,64 --LL=2097152,16,64 \
 *        build/prefetch-as-load/vmcisim run scenarios/fleet.lua -q -- 1000 16 4
 * A prefetch may name memory freed since (the engine's spans, docs/architecture.md); this
 * build reads it, which is harmless for memory still mapped (the Lua pool's slabs, small
 * malloc blocks) but would fault on a large block returned to the system: profile worlds
 * whose queues and buffers stay small, as fleet.lua's do. Redefining a name the compiler
 * reserves is tolerated by GCC and Clang, and is why this stays out of every real build
 * (-Wno-error: the compiler warns about what it now sees in xxhash.h's inline code).
 */
#ifndef BENCH_PREFETCH_AS_LOAD_H
#define BENCH_PREFETCH_AS_LOAD_H

/* Weak and not static: one definition for the program, callable from the inline functions
 * of system headers (immintrin.h's _mm_prefetch) as well. */
__attribute__((weak, noinline, unused)) void prefetch_as_load(const void *address)
{
    if (address != 0) {
        volatile char byte = *(const volatile char *)address;
        (void)byte;
    }
}

#define PREFETCH_AS_LOAD_FIRST(address, ...) address
#define __builtin_prefetch(...) prefetch_as_load(PREFETCH_AS_LOAD_FIRST(__VA_ARGS__, 0))

#endif
