#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/scenarios_test.sh: every scenario under scenarios/ (recursively) must pass (exit 0, or
# what its header directives expect) and give the same digest and output when run again under
# other process conditions: `vmcisim test scenarios --tap` does both (run A and run B,
# docs/cli.md). Its TAP lines `ok N - ...` become `ok - ...` for scripts/run-tests' totals;
# skipped slow scenarios become comments. Extra argument sets for a scenario, which
# `vmcisim test` does not take, still go through tests/determinism_lib.sh below.
set -u
vmcisim=${VMCISIM:-./vmcisim}
. tests/determinism_lib.sh

check() {
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

"$vmcisim" test scenarios --tap 2>&1 |
    sed -E -e 's/^ok [0-9]+ - (.*) # SKIP (.*)$/# skipped: \1 (\2)/' \
           -e 's/^(not )?ok [0-9]+ - /\1ok - /' -e 's/^tests: /# vmcisim test: /'
status=${PIPESTATUS[0]}
case "$status" in
    0|1) ;;
    *) check "vmcisim test scenarios ran" 1 "exit status $status" ;;
esac

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
run_scenario scenarios/vmci/guest_to_guest.lua esxi-5.0
