# SPDX-License-Identifier: MIT
# tests/determinism_lib.sh: sourced by scenarios_test.sh and determinism_test.sh (it is not
# a test itself: the runner only runs tests/*_test.sh). Runs vmcisim under two different
# process conditions, so that anything address- or environment-dependent that reaches the
# simulation (table order by address, tostring of a pointer, an uninitialised byte) shows
# as two different digests:
#   A: address-space randomisation as the kernel has it (normally on), an environment of
#      PATH alone (plus ASAN_OPTIONS/UBSAN_OPTIONS when set), a short argv[0];
#   B: randomisation off for the process (`setarch -R`, personality ADDR_NO_RANDOMIZE), the
#      caller's environment plus a 64 KiB variable, a 4 KiB argv[0]: the stack, the heap
#      and every library sit elsewhere.
# Where `setarch -R` is refused (a container without the personality call), B keeps
# randomisation and differs by environment and argv sizes only; detcheck_describe says so.
# Needs: $vmcisim.

detcheck_pad=$(printf '%65536s' '' | tr ' ' x)
detcheck_argv0="vmcisim-$(printf '%4096s' '' | tr ' ' y)"
if setarch -R true >/dev/null 2>&1; then
    detcheck_aslr_off=(setarch -R)
    detcheck_b_aslr="off (setarch -R)"
else
    detcheck_aslr_off=()
    detcheck_b_aslr="as in A: setarch -R is refused here, so B differs by environment"
    detcheck_b_aslr="$detcheck_b_aslr and argv sizes only"
fi

# Prints the two conditions as comment lines (the runner counts only ok / not ok lines).
detcheck_describe() {
    local randomize
    randomize=$(cat /proc/sys/kernel/randomize_va_space 2>/dev/null || echo '?')
    echo "# condition A: randomize_va_space=$randomize (2: full randomisation); environment: PATH" \
         "and the sanitizer options only; argv[0] ${#1} bytes"
    echo "# condition B: randomisation $detcheck_b_aslr; environment + ${#detcheck_pad} bytes," \
         "argv[0] ${#detcheck_argv0} bytes"
}

# detcheck_run_a ARGS...: vmcisim ARGS in condition A (the sanitizers' options kept).
detcheck_run_a() {
    env -i PATH="$PATH" ${ASAN_OPTIONS+"ASAN_OPTIONS=$ASAN_OPTIONS"} \
        ${UBSAN_OPTIONS+"UBSAN_OPTIONS=$UBSAN_OPTIONS"} "$vmcisim" "$@"
}

# detcheck_run_b ARGS...: vmcisim ARGS in condition B.
detcheck_run_b() {
    DETCHECK_PAD=$detcheck_pad "${detcheck_aslr_off[@]}" \
        bash -c 'exec -a "$0" "$@"' "$detcheck_argv0" "$vmcisim" "$@"
}
