#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/scenarios_test.sh: every scenario under scenarios/ must pass (exit 0), twice with
# the same digest. Extra argument sets for a scenario are listed below.
set -u
vmcisim=${VMCISIM:-./vmcisim}

check() {
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

run_scenario() {   # run_scenario FILE [ARGS...]
    local file=$1
    shift
    local name="$file${1:+ -- $*}"
    local first second
    first=$("$vmcisim" run "$file" -q --digest -- "$@" 2>&1)
    local status=$?
    check "$name passes" "$status" "$(printf '%s' "$first" | head -c 400)"
    second=$("$vmcisim" run "$file" -q --digest -- "$@" 2>&1)
    [ "$(printf '%s' "$first" | tail -n 1)" = "$(printf '%s' "$second" | tail -n 1)" ]
    check "$name gives the same digest twice" $?
}

for file in scenarios/*.lua scenarios/*/*.lua; do
    [ -e "$file" ] || continue
    run_scenario "$file"
done
run_scenario scenarios/vmci/guest_to_guest.lua esxi-5.0
