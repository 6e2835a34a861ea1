#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/install_test.sh: `make install PREFIX=...` (and DESTDIR) puts every file where the
# docs say, the installed binary runs the default scenario from anywhere with the digest of
# the source tree's run, `man` finds the page, and `make uninstall` removes exactly what was
# installed. Works in a temporary folder; the source tree is only read. What it installs is
# the ./vmcisim that `make` builds (also under `make asan`, whose VMCISIM it does not use).
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
top=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

# A make of its own: the one running `make test` must not lend it its jobserver or flags.
sub_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -C "$top" "$@" \
        >"$work/make.out" 2>&1
}

# A stand-in Wireshark dissector, so that the dissector's install and uninstall are tested
# whether or not scripts/wireshark/ holds one yet.
printf -- '-- a stand-in dissector for tests/install_test.sh\n' >"$work/stand_in.lua"
dissectors="$(ls scripts/wireshark/*.lua 2>/dev/null | tr '\n' ' ')$work/stand_in.lua"

sub_make install PREFIX="$prefix" INSTALL_DISSECTORS="$dissectors"
check "make install PREFIX=... succeeds" $? "$(tail -c 400 "$work/make.out")"

missing=""
expect_file() {  # expect_file PATH-UNDER-PREFIX
    [ -f "$prefix/$1" ] || missing="$missing $1"
}
expect_file bin/vmcisim
expect_file share/man/man1/vmcisim.1
expect_file share/vmcisim/lua/vmcisim.lua
expect_file share/doc/vmcisim/README.md
expect_file share/doc/vmcisim/LICENSE
while IFS= read -r file; do
    expect_file "share/doc/vmcisim/${file#docs/}"
done < <(find docs -type f)
while IFS= read -r file; do
    expect_file "share/vmcisim/$file"
done < <(find scenarios -name '*.lua' -type f)
for file in $dissectors; do
    expect_file "lib/wireshark/plugins/$(basename "$file")"
done
check "every file is installed (binary, page, stubs, docs, scenarios, dissectors)" \
    "$([ -z "$missing" ]; echo $?)" "missing:$missing"
[ -x "$prefix/bin/vmcisim" ] && cmp -s vmcisim "$prefix/bin/vmcisim"
check "the installed binary is ./vmcisim, executable" $?
cmp -s man/vmcisim.1 "$prefix/share/man/man1/vmcisim.1" &&
    cmp -s lua/vmcisim.lua "$prefix/share/vmcisim/lua/vmcisim.lua" &&
    cmp -s docs/cli.md "$prefix/share/doc/vmcisim/cli.md"
check "the installed page, stubs and docs are the source's" $?

# The installed binary runs the installed default scenario from another folder, passing,
# with the digest the source tree's binary gets.
expected=$(./vmcisim run scenarios/hello.lua -q --digest | tail -n 1)
(cd "$work" && "$prefix/bin/vmcisim" run "$prefix/share/vmcisim/scenarios/hello.lua" --digest) \
    >"$work/run.out" 2>&1
status=$?
check "the installed binary runs the default scenario" "$status" "exit $status"
grep -q -- '-> pass$' "$work/run.out"
check "the installed default scenario passes" $? "$(head -c 300 "$work/run.out")"
[ -n "$expected" ] && [ "$(tail -n 1 "$work/run.out")" = "$expected" ]
check "the installed run has the source tree's digest" $? \
    "got '$(tail -n 1 "$work/run.out")', expected '$expected'"
"$prefix/bin/vmcisim" --version | grep -q '^vmcisim '
check "the installed binary prints its version" $?

if command -v man >/dev/null 2>&1; then
    MANPATH="$prefix/share/man" man -w vmcisim >"$work/man.out" 2>&1 &&
        [ "$(cat "$work/man.out")" = "$prefix/share/man/man1/vmcisim.1" ]
    check "man finds the installed page under PREFIX/share/man" $? "$(cat "$work/man.out")"
else
    echo "# skip: man is not installed (man-db); the page's place is checked above"
fi

# DESTDIR stages the same tree under another root.
sub_make install DESTDIR="$work/stage" PREFIX=/opt/vmcisim INSTALL_DISSECTORS="$dissectors"
status=$?
[ "$status" -eq 0 ] && [ -x "$work/stage/opt/vmcisim/bin/vmcisim" ] &&
    [ -f "$work/stage/opt/vmcisim/share/man/man1/vmcisim.1" ] &&
    [ -f "$work/stage/opt/vmcisim/lib/wireshark/plugins/stand_in.lua" ] &&
    [ "$(ls "$work/stage")" = "opt" ]
check "make install DESTDIR=... PREFIX=... stages under DESTDIR/PREFIX" $? \
    "exit $status: $(tail -c 300 "$work/make.out")"

# uninstall removes every installed file and vmcisim's own folders, and nothing else.
printf 'not ours\n' >"$prefix/bin/another-program"
sub_make uninstall PREFIX="$prefix" INSTALL_DISSECTORS="$dissectors"
check "make uninstall succeeds" $? "$(tail -c 400 "$work/make.out")"
left=$(cd "$prefix" && find . -type f ! -path ./bin/another-program | LC_ALL=C sort | head -5)
check "make uninstall removes every installed file" "$([ -z "$left" ]; echo $?)" "left: $left"
[ -f "$prefix/bin/another-program" ] && [ ! -e "$prefix/share/vmcisim" ] &&
    [ ! -e "$prefix/share/doc/vmcisim" ]
check "make uninstall keeps other programs' files and removes vmcisim's folders" $?
