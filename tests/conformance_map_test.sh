#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/conformance_map_test.sh: docs/conformance.md maps every rule of the reference's
# sections 2, 6, 7 and 8 (docs/reference/) to tests. Checked here: every test it names
# exists (a CUnit function test_* in tests/unit/*.c, a scenario file, or a check script);
# every rule of those sections has a row and a registered CUnit test named after it; the
# summary's totals (per section and in all) are recomputed from the rows' status cells; and
# every row marked covered names at least one existing test whose text asserts something
# (CU_ASSERT*/ASSERT_*/assert_* in a CUnit body, sim.expect/assert in a scenario, check in
# a script).
#
# What this cannot prove: that the named test asserts the rule's outcome rather than
# something else, that it asserts all of the rule, or that an assert_* helper asserts at
# all. Those are claims of the row's text, to be checked by reading the test; this script
# only stops a row from pointing at nothing, at a test without any assertion, or from
# disagreeing with the totals.
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

# The summary's totals must be the counts of the rows: per section and in all, the rules,
# and how many rows are marked covered, partly and not covered (the first word(s) of the
# status cell, the last cell of a row).
rule_rows() {      # the rows of the rule tables (up to the summary), an escaped \| as /
    sed -n '/^## Summary/q; /^| R[0-9]* |/p' "$map" | sed 's/\\|/\//g'
}
row_statuses() {   # row_statuses FIRST LAST: "R<n> <status>" for each row in that range
    rule_rows | awk -F'|' -v first="$1" -v last="$2" '
        /^\| R[0-9]+ \|/ {
            rule = $2; gsub(/[ R]/, "", rule); rule += 0
            if (rule < first || rule > last) next
            status = $(NF - 1); sub(/^ +/, "", status)
            if (status ~ /^not covered/) kind = "not"
            else if (status ~ /^covered/) kind = "covered"
            else if (status ~ /^partly/) kind = "partly"
            else kind = "unknown"
            print "R" rule, kind
        }'
}
summary_line() {   # summary_line LABEL-PREFIX: "rules covered partly not" as stated
    awk -F'|' -v label="$1" '
        index($2, label) == 2 { gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $5);
                                gsub(/ /, "", $6); print $3, $4, $5, $6; exit }' "$map"
}
mismatch=""
unknown=$(row_statuses 1 999 | awk '$2 == "unknown" { printf " %s", $1 }')
[ -z "$unknown" ]
check "every row's status starts with covered, partly or not covered" $? "unreadable:$unknown"
total_rules=0; total_covered=0; total_partly=0; total_not=0
for section in "2 1 23" "6 99 146" "7 147 184" "8 185 194"; do
    set -- $section
    counted=$(row_statuses "$2" "$3" | awk '{ n++; c[$2]++ }
              END { print n + 0, c["covered"] + 0, c["partly"] + 0, c["not"] + 0 }')
    stated=$(summary_line "$1 (R$2")
    [ "$counted" = "$stated" ] || mismatch="$mismatch section $1: rows say '$counted', summary says '$stated';"
    set -- $counted
    total_rules=$((total_rules + $1)); total_covered=$((total_covered + $2))
    total_partly=$((total_partly + $3)); total_not=$((total_not + $4))
done
stated=$(summary_line "total")
counted="$total_rules $total_covered $total_partly $total_not"
[ "$counted" = "$stated" ] || mismatch="$mismatch total: rows say '$counted', summary says '$stated'"
[ -z "$mismatch" ]
check "the summary's totals are the counts of the rows (rules covered partly not-covered)" $? \
    "$mismatch"

# Every row marked covered must name at least one test that exists and asserts something:
# a CUnit function whose body (up to its closing brace in column 0) uses CU_ASSERT* or one
# of the suites' ASSERT_* / assert_* helpers; a scenario that calls sim.expect or assert;
# a script that calls check. This proves that the row points at a real check; it cannot
# prove that the check asserts what the rule says (only reading the test can), nor that a
# helper named assert_* really asserts.
cunit_asserts() {   # cunit_asserts NAME: 0 if test function NAME's body asserts
    awk -v name="$1" '
        $0 ~ "^(static )?void " name "\\(" { inside = 1 }
        inside && /CU_ASSERT|ASSERT_[A-Z0-9_]+\(|assert_[a-z0-9_]+\(/ { found = 1 }
        inside && /^}/ { inside = 0 }
        END { exit found ? 0 : 1 }' tests/unit/*.c
}
test_asserts() {    # test_asserts NAME-OR-PATH
    case "$1" in
        test_*) cunit_asserts "$1" ;;
        *.lua) [ -f "$1" ] && grep -qE '\bsim\.expect\(|\bassert\(' "$1" ;;
        *.sh) [ -f "$1" ] && grep -qE '^[[:space:]]*check ' "$1" ;;
        *) return 1 ;;
    esac
}
unasserted=""
while IFS= read -r row; do
    rule=$(printf '%s\n' "$row" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
    tests_cell=$(printf '%s\n' "$row" | awk -F'|' '{ print $4 }')
    asserted=no
    for name in $(printf '%s\n' "$tests_cell" |
                  grep -oE '\btest_[A-Za-z0-9_]+|(scenarios|tests)/[A-Za-z0-9_./-]+\.(lua|sh)'); do
        if test_asserts "$name"; then asserted=yes; break; fi
    done
    [ "$asserted" = yes ] || unasserted="$unasserted $rule"
done < <(rule_rows | awk -F'|' '{ s = $(NF - 1); sub(/^ +/, "", s); if (s ~ /^covered/) print }')
[ -z "$unasserted" ]
check "every covered row names an existing test that asserts something" $? \
    "no asserting test for:$unasserted"
