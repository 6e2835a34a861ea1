#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/sandbox_test.sh: every scenario in tests/fixtures/determinism/ passes (each one
# asserts the documented order itself) and gives the same digest whatever the process
# conditions: address randomisation on and off, a padded environment, another working
# directory. Then the issue's sandbox escapes end as Lua errors
# (exit 1), never as a crash. Prints "ok - NAME" / "not ok - NAME".
set -u
vmcisim=${VMCISIM:-./vmcisim}
vmcisim_path=$(cd "$(dirname "$vmcisim")" && pwd)/$(basename "$vmcisim")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

digest_of() {   # digest_of COMMAND...: the digest line's value, or "exit N"
    local output status
    output=$("$@" -q --digest 2>/dev/null)
    status=$?
    [ "$status" -eq 0 ] || { echo "exit $status"; return; }
    printf '%s\n' "$output" | tail -n 1 | cut -d' ' -f2
}

# setarch -R turns address randomisation off; some containers refuse it.
no_aslr=()
if setarch "$(uname -m)" -R true 2>/dev/null; then
    no_aslr=(setarch "$(uname -m)" -R)
fi
padding=$(head -c 20000 /dev/zero | tr '\0' x)

for fixture in tests/fixtures/determinism/*.lua; do
    plain=$(digest_of "$vmcisim" run "$fixture")
    [ "${plain#exit}" = "$plain" ]
    check "$fixture passes" $? "$plain"
    again=$(digest_of "$vmcisim" run "$fixture")
    [ "$again" = "$plain" ]
    check "$fixture: same digest in a second process" $? "$plain vs $again"
    if [ ${#no_aslr[@]} -gt 0 ]; then
        fixed=$(digest_of "${no_aslr[@]}" "$vmcisim" run "$fixture")
        [ "$fixed" = "$plain" ]
        check "$fixture: same digest without address randomisation" $? "$plain vs $fixed"
    fi
    padded=$(digest_of env "VMCISIM_TEST_PADDING=$padding" "$vmcisim" run "$fixture")
    [ "$padded" = "$plain" ]
    check "$fixture: same digest with a 20 kB larger environment" $? "$plain vs $padded"
    # Messages name the scenario's path, so the copy keeps the same relative path.
    mkdir -p "$work/copy/$(dirname "$fixture")"
    cp "$fixture" "$work/copy/$fixture"
    elsewhere=$(cd "$work/copy" && digest_of "$vmcisim_path" run "$fixture")
    [ "$elsewhere" = "$plain" ]
    check "$fixture: same digest from a copy in another directory" $? "$plain vs $elsewhere"
done

escape() {  # escape NAME LUA-SOURCE PATTERN: exit 1 and PATTERN on stderr, no signal
    printf '%s\n' "$2" >"$work/escape.lua"
    "$vmcisim" run "$work/escape.lua" >"$work/out" 2>"$work/err"
    local status=$?
    [ "$status" -eq 1 ] && grep -qE -- "$3" "$work/err"
    check "$1 is refused with a Lua error" $? "exit $status: $(head -c 300 "$work/err")"
}
escape "debug.getupvalue(load, 1)" 'local f = debug.getupvalue(load, 1)' \
    "attempt to call a nil value \(field 'getupvalue'\)"
escape "debug.getupvalue(string.format, 1)" 'local f = debug.getupvalue(string.format, 1)' \
    "attempt to call a nil value \(field 'getupvalue'\)"
escape "debug.setmetatable on a userdata" \
    'local sim = require("vmcisim"); local w = sim.world{}; debug.setmetatable(w, {})' \
    "attempt to call a nil value \(field 'setmetatable'\)"
escape "debug.getregistry()" 'debug.getregistry()["vmcisim.socket"] = {}' \
    "attempt to call a nil value \(field 'getregistry'\)"
escape "string.dump" 'load(string.dump(function() end))' "string.dump is not available"
escape "binary chunk" 'assert(load("\27Lua"))' "attempt to load a binary chunk"
