#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/man_test.sh: the manual page man/vmcisim.1 and the binary's `--help` never drift apart.
#
# For every command the usage names (`vmcisim --help`), and for the global options, the set of
# options printed by `vmcisim COMMAND --help` equals the set of option tags in the command's
# section of the page; likewise inspect's views and each command's exit statuses. Every long
# option of the getopt tables in sim/cli/*.c is on the page too, the page's version is the
# binary's, and groff (and man, when present) render the page without a warning. Two
# deliberate drifts (an option removed from the page, one added to --help) must be caught.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
page=man/vmcisim.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# man_check PAGE VMCISIM: prints one ok / not ok line per comparison.
man_check() {
    python3 - "$1" "$2" <<'PYTHON'
import re, subprocess, sys

page_path, binary = sys.argv[1], sys.argv[2]
OPTION = re.compile(r"(?<![\w-])(--[A-Za-z][\w-]*|-[A-Za-z](?![\w-]))")
results = []

def check(name, good, detail=""):
    results.append(("ok - " if good else "not ok - ") + name + ("" if good else ": " + detail))

def help_of(*args):
    done = subprocess.run([binary, *args], capture_output=True, text=True)
    check("vmcisim %s exits 0" % " ".join(args), done.returncode == 0,
          "status %d" % done.returncode)
    return done.stdout

def option_lead(line):
    """The option part of a help line ('  -j N, --jobs N      text' -> '-j N, --jobs N')."""
    return re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]

def exit_codes(text, command, own):
    """The exit statuses a help text states for COMMAND, or None when it states none."""
    segment = None
    match = re.search(r"Exit status of %s:(.*?)(?=Exit status|\n\s*\n|\Z)" % command, text, re.S)
    if match is None and own:
        match = re.search(r"Exit status:(.*?)(?=\n\s*\n|\Z)", text, re.S)
    if match is not None:
        segment = match.group(1)
    else:
        for paragraph in re.split(r"\n\s*\n", text):
            if paragraph.startswith(command + " ") and "exit " in paragraph:
                segment = paragraph[paragraph.index("exit "):]
    if segment is None:
        return None
    segment = " ".join(segment.split())
    return set(re.findall(r"(?:^|[:,]|exit)\s*(\d{1,3})\s+(?=[a-z(])", segment))

def parse_help(text, command):
    """Options, views and exit statuses that COMMAND's --help text documents for it."""
    options, views = set(), set()
    lines = text.splitlines()
    headers = [re.match(r"(\w+) (options|views)\b[^:]*:", line) for line in lines]
    has_headers = any(headers)
    in_block = False
    view_text = None
    for line, header in zip(lines, headers):
        usage = re.match(r"(?:usage:)?\s*vmcisim (\S+)(.*)", line)
        if usage and usage.group(1) == command and line in usage_lines(text):
            options.update(OPTION.findall(usage.group(2)))
        if header:
            in_block = header.group(1) == command
            if in_block and header.group(2) == "views":
                view_text = line.split(":", 1)[1]
            continue
        if not line.startswith(" ") or not line.strip():
            in_block = False
            continue
        if has_headers and not in_block:
            continue
        if re.match(r"\s+-", line):
            options.update(OPTION.findall(option_lead(line)))
            if in_block and view_text is not None:
                views.update(words_of_views(view_text))
                view_text = ""
        elif in_block and view_text:
            view_text += " " + line
    if view_text:
        views.update(words_of_views(view_text))
    return options, views, exit_codes(text, command, not has_headers)

def usage_lines(text):
    """The lines of the usage block: the first paragraph of a help text."""
    return [line for line in re.split(r"\n\s*\n", text, maxsplit=1)[0].splitlines()
            if re.match(r"(?:usage:)?\s*vmcisim ", line)]

def words_of_views(text):
    text = re.sub(r"\([^)]*\)", "", text)
    return {piece.split()[0] for piece in text.split("|") if piece.split()
            and re.fullmatch(r"[a-z]+", piece.split()[0])}

def clean_roff(text):
    text = re.sub(r"\\f[BIRP]|\\f\[[A-Z]*\]", "", text)
    text = text.replace("\\-", "-").replace('"', " ")
    return re.sub(r"^\.[A-Z]+\s*", "", text)

def parse_page(path):
    """{section: {subsection: {"options", "views", "codes"}}} from the page's .TP tags."""
    sections, section, subsection = {}, None, None
    lines = open(path, encoding="utf-8").read().splitlines()
    for index, line in enumerate(lines):
        if line.startswith(".SH "):
            section, subsection = clean_roff(line).strip(), ""
            sections.setdefault(section, {}).setdefault("", new_entry())
        elif line.startswith(".SS "):
            subsection = clean_roff(line).split()[0]
            sections[section].setdefault(subsection, new_entry())
        elif line.startswith(".TP") and section and index + 1 < len(lines):
            tag = clean_roff(lines[index + 1]).strip()
            entry = sections[section][subsection]
            entry["options"].update(OPTION.findall(tag))
            if re.fullmatch(r"\d+", tag):
                entry["codes"].add(tag)
            elif tag.split() and re.fullmatch(r"[a-z]+", tag.split()[0]):
                entry["views"].add(tag.split()[0])
    return sections

def new_entry():
    return {"options": set(), "views": set(), "codes": set()}

def compare(name, in_help, in_page):
    check(name, in_help == in_page,
          "only in --help: %s; only in the page: %s" %
          (sorted(in_help - in_page) or "-", sorted(in_page - in_help) or "-"))

page = parse_page(page_path)
commands_page = page.get("COMMANDS", {})
exits_page = page.get("EXIT STATUS", {})
top = help_of("--help")
commands = []
for line in usage_lines(top):
    usage = re.match(r"(?:usage:)?\s*vmcisim (\S+)", line)
    if usage and not usage.group(1).startswith("-") and usage.group(1) not in commands:
        commands.append(usage.group(1))
global_help = set()
for line in usage_lines(top):
    if re.match(r"(?:usage:)?\s*vmcisim -", line):
        global_help.update(OPTION.findall(line))
compare("the commands of --help are the page's", set(commands),
        set(commands_page) - {""})
compare("global options", global_help, page.get("OPTIONS", {}).get("", new_entry())["options"])
for command in commands:
    text = help_of(command, "--help")
    options, views, codes = parse_help(text, command)
    entry = commands_page.get(command, new_entry())
    check("%s --help documents options" % command, bool(options), "none found in --help")
    compare("%s: options of --help and of the page" % command, options, entry["options"])
    if views or entry["views"]:
        compare("%s: views of --help and of the page" % command, views, entry["views"])
    check("%s --help states its exit statuses" % command, bool(codes), "none found")
    compare("%s: exit statuses of --help and of the page" % command, codes or set(),
            exits_page.get(command, new_entry())["codes"])

# Every long option the parsers accept (help aside: every command takes it) is on the page.
for command in commands:
    try:
        source = open("sim/cli/%s.c" % command, encoding="utf-8").read()
    except OSError:
        continue
    accepted = {"--" + name for name in
                re.findall(r'\{\s*"([a-z][a-z-]*)",\s*\w+_argument', source)} - {"--help"}
    missing = accepted - commands_page.get(command, new_entry())["options"]
    check("%s: every long option of sim/cli/%s.c is on the page" % (command, command),
          not missing, "missing: %s" % sorted(missing))

version = help_of("--version").split()
title = [line for line in open(page_path, encoding="utf-8") if line.startswith(".TH ")]
check("the page's version is the binary's", bool(title) and " ".join(version) in title[0],
      "binary: %s; page: %s" % (" ".join(version), title[0].strip() if title else "no .TH"))
print("\n".join(results))
PYTHON
}

man_check "$page" "$vmcisim" | tee "$work/check.out"
if grep -q '^ok - ' "$work/check.out"; then
    echo "ok - the page checker ran"
else
    echo "not ok - the page checker ran"
fi

# The checker must catch a drift either way: an option gone from the page...
grep -v '^\.BI \\-\\-seed " N"$' "$page" >"$work/no_seed.1"
if cmp -s "$page" "$work/no_seed.1"; then
    echo "not ok - drift test: the page has no '.BI \\-\\-seed' tag line to remove"
elif man_check "$work/no_seed.1" "$vmcisim" >"$work/no_seed.out" &&
        grep -q '^not ok - run: options.*--seed' "$work/no_seed.out"; then
    echo "ok - an option missing from the page is caught"
else
    echo "not ok - an option missing from the page is not caught"
fi
# ...and an option that --help prints but the page does not have.
cat >"$work/fake_vmcisim" <<EOF
#!/bin/sh
"$(cd "$(dirname "$vmcisim")" && pwd)/$(basename "$vmcisim")" "\$@" |
    sed 's/^  --shard K\/N /  --frobnicate N     x\n&/'
EOF
chmod +x "$work/fake_vmcisim"
man_check "$page" "$work/fake_vmcisim" >"$work/fake.out"
if grep -q '^not ok - sweep: options.*--frobnicate' "$work/fake.out"; then
    echo "ok - an option added to --help only is caught"
else
    echo "not ok - an option added to --help only is not caught"
fi

# groff renders the page without a warning; man, when installed, too.
if command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 -ww -z "$page" >"$work/groff.err" 2>&1
    status=$?
    if [ "$status" -eq 0 ] && [ ! -s "$work/groff.err" ]; then
        echo "ok - groff renders the page without warnings"
    else
        echo "not ok - groff renders the page without warnings: $(head -c 400 "$work/groff.err")"
    fi
else
    echo "# skip: groff is not installed (scripts/install-deps installs groff-base)"
fi
if command -v man >/dev/null 2>&1; then
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" \
        >/dev/null 2>"$work/man.err"
    status=$?
    if [ "$status" -eq 0 ] && [ ! -s "$work/man.err" ]; then
        echo "ok - man -l renders the page without warnings"
    else
        echo "not ok - man -l renders the page without warnings: $(head -c 400 "$work/man.err")"
    fi
else
    echo "# skip: man is not installed (man-db)"
fi
