#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/scenarios_test.sh: every scenario under scenarios/ (recursively) must pass (exit 0),
# and give the same digest and output when run again under different process conditions
# (tests/determinism_lib.sh: address-space randomisation on and off, different environment
# and argv sizes). Extra argument sets for a scenario are listed below.
set -u
vmcisim=${VMCISIM:-./vmcisim}
. tests/determinism_lib.sh

check() {
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

run_scenario() {   # run_scenario FILE [ARGS...]
    local file=$1
    shift
    local name="$file${1:+ -- $*}"
    local first second
    first=$(detcheck_run_a run "$file" -q --digest -- "$@" 2>&1)
    local status=$?
    check "$name passes" "$status" "$(printf '%s' "$first" | head -c 400)"
    second=$(detcheck_run_b run "$file" -q --digest -- "$@" 2>&1)
    [ "$first" = "$second" ] && case "$first" in *"digest "*) true ;; *) false ;; esac
    check "$name gives the same digest and output in both conditions" $? \
        "$(printf 'A: %s / B: %s' "$(printf '%s' "$first" | tail -n 1)" \
                                  "$(printf '%s' "$second" | tail -n 1)")"
}

detcheck_describe "$vmcisim"
while IFS= read -r file; do
    run_scenario "$file"
done < <(find scenarios -name '*.lua' -type f | LC_ALL=C sort)
run_scenario scenarios/vmci/guest_to_guest.lua esxi-5.0
