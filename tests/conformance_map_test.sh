#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/conformance_map_test.sh: docs/conformance.md maps every rule of the reference's
# sections 2, 6, 7 and 8 to tests. Every test it names must exist: a CUnit function
# test_* in tests/unit/*.c, a scenario file, or a check script; and every rule of those
# sections must have a row.
set -u
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
map=docs/conformance.md
[ -f "$map" ]
check "docs/conformance.md exists" $?
[ -f "$map" ] || exit 0
missing=""
for name in $(grep -oE '\btest_[A-Za-z0-9_]+' "$map" | sort -u); do
    grep -qE "\b$name\(" tests/unit/*.c || missing="$missing $name"
done
[ -z "$missing" ]
check "every CUnit test named in the map exists" $? "missing:$missing"
missing=""
for path in $(grep -oE '(scenarios|tests)/[A-Za-z0-9_./-]+\.(lua|sh)' "$map" | sort -u); do
    [ -f "$path" ] || missing="$missing $path"
done
[ -z "$missing" ]
check "every scenario and script named in the map exists" $? "missing:$missing"
absent=""
for rule in $(seq 1 23) $(seq 99 194); do
    grep -qE "^\| R$rule \|" "$map" || absent="$absent R$rule"
done
[ -z "$absent" ]
check "every rule of sections 2, 6, 7 and 8 has a row" $? "no row:$absent"
# The issue asks for a CUnit test named after every rule (test_R<n>_... or a name that
# lists several rules, test_R1_R2_...): one must be registered (TEST_ENTRY) for each.
unnamed=""
for rule in $(seq 1 23) $(seq 99 194); do
    grep -qE "TEST_ENTRY\(test_(R[0-9]+_)*R${rule}_[A-Za-z0-9_]*\)" tests/unit/*.c ||
        unnamed="$unnamed R$rule"
done
[ -z "$unnamed" ]
check "every rule of sections 2, 6, 7 and 8 has a CUnit test named after it" $? "none for:$unnamed"
