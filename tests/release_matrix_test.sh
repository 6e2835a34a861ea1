#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/release_matrix_test.sh: runs scenarios/release_matrix.lua under every product profile
# and host OS the simulator accepts, prints the table of what each release allows, and
# compares it with the product table of docs/reference/profiles.md (R195-R202), parsed from
# its Markdown. Every (product, host OS) the simulator accepts must sit in exactly one row of
# the table, and every column the scenario measures must say what that row says:
#   host_streams    column 3 starts with "yes" / "no"
#   guest_to_guest  column 4 starts with "yes" / "no"
#   unrestricted    column 5 starts with "honoured" / "ignored"
#   domain          column 6: "honoured" -> honoured; "no" or "ignored" -> off (not observable
#                   apart: both leave the domain without effect)
#   host_trusted    column 7, the part for the host OS ("Linux: ...; Windows: none"), or the
#                   whole cell: "none" -> no, anything else -> yes
#   host_dgram      always yes (R200: host<->guest datagrams are never affected)
# A copy of the table with one cell changed must make the comparison fail, so the comparison
# itself is tested. Prints "ok - NAME" / "not ok - NAME".
set -u
vmcisim=${VMCISIM:-./vmcisim}
scenario=scenarios/release_matrix.lua
table_md=docs/reference/profiles.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi; }

# The product ids of decision D2 (docs/scenario-api.md, sim.world's `product`).
ids="esxi-4.0 esxi-4.1 esxi-5.0 esxi-5.1 esxi-5.5 esxi-6.0 esxi-6.5 workstation-6.5
workstation-7 workstation-8 workstation-9 server-2.0 player-2.5 player-3 player-4 player-5
fusion-3 fusion-4 fusion-5"

# parse_table FILE: one line per (product id, host OS) the rows name, before filtering by
# what the simulator accepts: "ID OS host_streams guest_to_guest unrestricted domain
# host_trusted ROW". OS "esx" for ESX rows; "any" expands to linux, windows, mac.
parse_table() {
    awk -F'|' '
    function trim(s) { gsub(/^[ \t`]+|[ \t`]+$/, "", s); return s }
    function first_word(s) { s = trim(s); sub(/[ :,;(].*$/, "", s); return tolower(s) }
    function trusted(cell, os,    parts, n, i, part, name, found) {
        n = split(cell, parts, ";"); found = ""
        for (i = 1; i <= n; i++) {
            part = trim(parts[i])
            if (match(part, /^(Linux|Windows|Mac): /)) {
                name = tolower(substr(part, 1, index(part, ":") - 1))
                if (name == os) found = trim(substr(part, index(part, ":") + 1))
                else if (found == "") found = "-"
            }
        }
        if (found == "-") return "MISSING"
        if (found == "") found = trim(cell)
        return found == "none" ? "no" : "yes"
    }
    function id_of(prefix, version) {
        sub(/\/.*$/, "", version); sub(/\+$/, "", version); sub(/\.x$/, "", version)
        if (prefix == "WS") prefix = "workstation"
        else if (prefix == "ESX/ESXi" || prefix == "ESXi") prefix = "esxi"
        else prefix = tolower(prefix)
        if (prefix == "workstation" || prefix == "player" || prefix == "fusion")
            sub(/\.0$/, "", version)
        return prefix "-" version
    }
    /^## The table/ { in_table = 1; next }
    /^## / { in_table = 0 }
    in_table && /^\| / && !/^\| Profile/ && !/^\|---/ {
        row++
        streams = first_word($4); g2g = first_word($5); unres = first_word($6)
        domain = first_word($7); domain = domain == "honoured" ? "honoured" : "off"
        oses = tolower(trim($3)); gsub(/ /, "", oses)
        if (oses == "esx" || oses == "esxi") oses = "esx"
        if (oses == "any") oses = "linux/windows/mac"
        n_os = split(oses, os_list, "/")
        n_names = split(trim($2), names, ", ")
        prefix = ""
        for (i = 1; i <= n_names; i++) {
            item = trim(names[i])
            if (match(item, / [0-9][^ ]*$/)) {
                prefix = substr(item, 1, RSTART - 1); version = substr(item, RSTART + 1)
            } else version = item
            for (j = 1; j <= n_os; j++)
                print id_of(prefix, version), os_list[j], streams, g2g, unres, domain,
                      trusted($8, os_list[j]), row
        }
    }' "$1"
}

# measure ID OS: the scenario's row for that combination, or nothing when the simulator
# does not accept it (OS esx: run without host_os, kept when the product's own OS is esx).
measure() {
    local id=$1 os=$2 out status
    if [ "$os" = esx ]; then
        out=$("$vmcisim" run "$scenario" -q -- "$id" 2>"$work/err")
    else
        out=$("$vmcisim" run "$scenario" -q -- "$id" "$os" 2>"$work/err")
    fi
    status=$?
    if [ "$status" -eq 0 ]; then     # without host_os a hosted product takes its default:
        printf '%s\n' "$out" | grep '^row ' | awk -v os="$os" '$3 == os'   # kept there
    elif grep -q 'does not run on host_os\|applies to hosted products only' "$work/err"; then
        return 0
    else
        echo "ERROR $id $os status $status: $(head -c 300 "$work/err")"
    fi
}

for id in $ids; do
    for os in esx linux windows mac; do measure "$id" "$os"; done
done >"$work/measured"
! grep -q '^ERROR' "$work/measured"
check "release_matrix.lua passes under every product and host OS" $? \
    "$(grep '^ERROR' "$work/measured" | head -n 3)"
missing=$(for id in $ids; do awk -v id="$id" '$2 == id { found = 1 } END { exit !found }' \
    "$work/measured" || echo "$id"; done)
[ -z "$missing" ]
check "every product id runs under at least one host OS" $? "$missing"
"$vmcisim" run "$scenario" -q -- esxi-7.0 >/dev/null 2>&1
[ $? -eq 1 ]
check "a product the table does not name is refused" $?

echo "# what each release allows, measured by $scenario:"
awk '{ printf "#   %-16s %-8s %s %s %s %s %s %s\n", $2, $3, $4, $5, $6, $7, $8, $9 }' \
    "$work/measured"

# compare FILE: prints one line per difference between the measured rows and FILE's table.
compare() {
    parse_table "$1" >"$work/expected"
    awk '
    NR == FNR { key = $1 " " $2; rows[key] = rows[key] + 1
                expect[key] = "host_streams=" $3 " guest_to_guest=" $4 " unrestricted=" $5 \
                              " domain=" $6 " host_dgram=yes host_trusted=" $7; next }
    $1 == "row" {
        key = $2 " " $3; seen[key] = 1
        got = $4 " " $5 " " $6 " " $7 " " $8 " " $9
        if (!(key in rows)) print "not in the table: " key
        else if (rows[key] > 1) print "in " rows[key] " rows of the table: " key
        else if (got != expect[key]) print key ": measured " got "; the table says " expect[key]
    }' "$work/expected" "$work/measured"
}

differences=$(compare "$table_md")
[ -z "$differences" ]
check "the measured matrix equals the product table of $table_md" $? \
    "$(printf '%s' "$differences" | head -n 5 | tr '\n' ';')"

# Table rows that name a combination the simulator refuses: "Linux / Mac" with WS 7 and
# Fusion 3 is expected (WS has no Mac host, Fusion no Linux one); a name the parser turned
# into an unknown product id is not.
unknown=$(awk '{ print $1 }' "$work/expected" | sort -u | while read -r id; do
    case " $(echo $ids) " in *" $id "*) ;; *) echo "$id" ;; esac
done)
[ -z "$unknown" ]
check "every release the table names is a known product id" $? "$unknown"

# The comparison can fail: flip WS 8's guest-to-guest cell, and ESXi 6.5's host streams.
sed -e 's/^\(| WS 8\.x[^|]*|[^|]*|[^|]*| \)yes (deprecated)/\1no/' \
    -e 's/^\(| ESXi 5\.1, 5\.5, 6\.0, 6\.5 |[^|]*| \)yes/\1no/' "$table_md" >"$work/tampered.md"
tampered=$(compare "$work/tampered.md")
printf '%s\n' "$tampered" | grep -q '^workstation-8 windows: measured .*guest_to_guest=yes' &&
    printf '%s\n' "$tampered" | grep -q '^esxi-6.5 esx: measured host_streams=yes'
check "a changed cell in the table is reported as a difference" $? \
    "$(printf '%s' "$tampered" | head -n 3 | tr '\n' ';')"
