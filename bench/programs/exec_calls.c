/* SPDX-License-Identifier: MIT */
/*
 * bench/programs/exec_calls.c: makes N calls the shim forwards (getppid, one call each) and
 * exits; bench/bench_exec.c times it to measure simulated calls per wall second through
 * the shim. Usage: exec_calls N. Run it only inside vmcisim.
 */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long count = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    long sum = 0;
    for (long index = 0; index < count; index++)
        sum += getppid();
    return sum == count * getppid() ? 0 : 1;
}
