#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/objects_test.sh: what a scenario sees of the Lua objects the bindings make (the
# creation numbers tostring shows, collectgarbage("count"), when a weak table empties)
# around socket calls and sim.pattern, with automatic, emergency and explicit collections,
# is what tests/fixtures/objects/binding_objects.expected recorded. Speed work on the
# bindings must leave it unchanged (docs/sweeps.md). Prints "ok - NAME" / "not ok - NAME".
set -u
vmcisim=${VMCISIM:-./vmcisim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

fixture=tests/fixtures/objects/binding_objects.lua
"$vmcisim" run "$fixture" -q > "$work/out" 2>&1
check "$fixture runs" $? "$(tail -n 3 "$work/out")"
diff tests/fixtures/objects/binding_objects.expected "$work/out" > "$work/diff"
check "$fixture: the objects seen are those expected" $? "$(head -n 6 "$work/diff")"
# The probe can fail: the collections it reports do happen (an emergency one included).
grep -q '^garbage made .* alive=1$' "$work/out"
check "$fixture: the 40 MiB of strings made Lua collect within the step" $?
grep -q '^collected .* alive=1$' "$work/out"
check "$fixture: collectgarbage() emptied the weak table" $?
