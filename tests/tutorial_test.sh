#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/tutorial_test.sh: docs/tutorial.md does what it says, so it cannot rot unseen.
#
# Reads the tutorial's fenced blocks in order and acts on each by its info string (the table
# "How this page is tested" at the end of the tutorial is the contract): runs every `sh`
# command in a temporary folder holding links to the repository's scenarios/ and scripts/,
# with the vmcisim under test ($VMCISIM) first on PATH as `vmcisim`, and checks its exit
# status (0, or N for `sh expect-exit=N`); writes every `lua file=NAME.lua` block there (and
# compares it with the repository's file for `shipped=PATH`); checks each `text output`
# block against what the command before it printed. `sh setup` blocks install things, so
# they are checked without running (`make -n`, an executable script). Any other info string
# is a failure, so no block escapes the test silently.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
top=$(pwd)
tutorial=docs/tutorial.md
vmcisim=${VMCISIM:-./vmcisim}
case "$vmcisim" in /*) ;; *) vmcisim=$top/$vmcisim ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {   # check NAME CONDITION-STATUS [DETAIL]
    if [ "$2" -eq 0 ]; then echo "ok - $1"; else echo "not ok - $1${3:+: $3}"; fi
}

[ -x "$vmcisim" ]
check "the vmcisim under test is executable ($vmcisim)" $? || exit 0
command -v python3 >/dev/null 2>&1
check "python3 is installed (scripts/install-deps installs it)" $? || exit 0
command -v tshark >/dev/null 2>&1
check "tshark is installed (scripts/install-deps installs it; the tutorial runs it)" $?

mkdir -p "$work/bin" "$work/run" "$work/home"
ln -s "$vmcisim" "$work/bin/vmcisim"
ln -s "$top/scenarios" "$work/run/scenarios"
ln -s "$top/scripts" "$work/run/scripts"

python3 - "$top" "$tutorial" "$work" <<'PYTHON'
import os
import re
import shlex
import subprocess
import sys

top, tutorial, work = sys.argv[1:4]
run_dir = os.path.join(work, "run")
env = dict(os.environ)
env["PATH"] = os.path.join(work, "bin") + os.pathsep + env.get("PATH", "")
COMMAND_TIMEOUT_S = 600          # a wall-time bound on one command, far above its need
DETAIL_BYTES_MAX = 600           # how much of a failing command's output a report shows


def report(ok, name, detail=""):
    if ok:
        print("ok - " + name)
    else:
        print("not ok - " + name + (": " + detail if detail else ""))
    sys.stdout.flush()
    return ok


def tail(text):
    text = text.strip()
    if len(text) > DETAIL_BYTES_MAX:
        text = "..." + text[-DETAIL_BYTES_MAX:]
    return text.replace("\n", " | ")


def parse(path):
    """Fenced blocks in order: dicts with line, section, kind, flags, attrs, body."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, problems, section, index = [], [], "", 0
    while index < len(lines):
        line = lines[index]
        if re.match(r"^\s+(```|~~~)", line) or line.startswith("~~~"):
            problems.append("line %d: a fence this test does not read (indented or ~~~)"
                            % (index + 1))
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        fence = re.match(r"^(`{3,})(.*)$", line)
        if not fence:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != fence.group(1):
            end += 1
        if end == len(lines):
            problems.append("line %d: a fence that is never closed" % (index + 1))
            break
        words = fence.group(2).split()
        blocks.append({
            "line": index + 1, "section": section,
            "kind": words[0] if words else "",
            "flags": [word for word in words[1:] if "=" not in word],
            "attrs": dict(word.split("=", 1) for word in words[1:] if "=" in word),
            "body": lines[index + 1:end], "info": fence.group(2).strip(),
        })
        index = end + 1
    return blocks, problems


def info_problem(block):
    kind, flags, attrs = block["kind"], block["flags"], block["attrs"]
    if kind == "sh":
        if not set(attrs) <= {"expect-exit"} or len(flags) > 1 or \
                not set(flags) <= {"setup"}:
            return "unknown sh attributes"
        if "expect-exit" in attrs and not attrs["expect-exit"].isdigit():
            return "expect-exit is not a number"
        if "expect-exit" in attrs and flags:
            return "expect-exit with setup"
        return None
    if kind == "lua":
        if flags or not set(attrs) <= {"file", "shipped"} or "file" not in attrs:
            return "a lua block needs file=NAME.lua (and optionally shipped=PATH)"
        if not re.match(r"^[A-Za-z0-9_-]+\.lua$", attrs["file"]):
            return "file= must be a plain NAME.lua"
        return None
    if kind == "text":
        if attrs or not set(flags) <= {"output"}:
            return "unknown text attributes"
        return None
    return "unknown info string"


def commands(body):
    """The commands of a sh block: lines, joined at a trailing backslash (kept for bash to
    read as it would in a terminal); blank and comment lines are not commands."""
    result, current = [], ""
    for line in body:
        if current == "" and (line.strip() == "" or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line + "\n"
            continue
        result.append(current + line)
        current = ""
    if current:
        result.append(current)
    return result


def run(command):
    try:
        done = subprocess.run(["bash", "-c", command], cwd=run_dir, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    return (done.returncode, done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"))


def check_setup(block):
    setup_env = dict(env)
    for variable in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        setup_env.pop(variable, None)
    setup_env["HOME"] = os.path.join(work, "home")
    for command in commands(block["body"]):
        for part in command.split("&&"):
            words = shlex.split(part, comments=True)
            name = "tutorial line %d: setup `%s`" % (block["line"], part.strip())
            if words and words[0] == "make":
                done = subprocess.run(["bash", "-c", "make -n -C \"$TOP\" " +
                                       part.strip()[len("make"):]],
                                      env=dict(setup_env, TOP=top), capture_output=True,
                                      stdin=subprocess.DEVNULL)
                report(done.returncode == 0, name + " is a make target (make -n)",
                       tail(done.stderr.decode("utf-8", "replace")))
            elif words and words[0].startswith("scripts/"):
                path = os.path.join(top, words[0])
                report(os.path.isfile(path) and os.access(path, os.X_OK),
                       name + " is an executable script")
            else:
                report(False, name, "a setup command this test cannot check")


def matches(expected, output_lines, start):
    pattern = "^" + ".*".join(re.escape(part) for part in expected.split("...")) + "$"
    for index in range(start, len(output_lines)):
        if re.match(pattern, output_lines[index]):
            return index
    return None


def check_output(block, last):
    name = "tutorial line %d: the output shown is what the command printed" % block["line"]
    if last is None:
        return report(False, name, "no command ran just before this block")
    streams = [[" ".join(line.split()) for line in text.split("\n")] for text in last[1:3]]
    cursors = [0, 0]
    for expected in block["body"]:
        expected = " ".join(expected.split())
        if expected in ("", "..."):
            continue
        for stream in (0, 1):
            found = matches(expected, streams[stream], cursors[stream])
            if found is not None:
                cursors[stream] = found + 1
                break
        else:
            return report(False, name, "'%s' not found (in order) in: %s"
                          % (expected, tail(last[1] + "\n" + last[2])))
    return report(True, name)


def check_shipped(block, text):
    shipped = os.path.join(top, block["attrs"]["shipped"])
    same = os.path.isfile(shipped) and open(shipped, encoding="utf-8").read() == text
    return report(same, "tutorial line %d: %s is the repository's %s"
                  % (block["line"], block["attrs"]["file"], block["attrs"]["shipped"]))


def run_block(block, state):
    """Runs one sh block; state holds the last command's result."""
    expected = int(block["attrs"].get("expect-exit", "0"))
    block_commands = commands(block["body"])
    if "expect-exit" in block["attrs"] and len(block_commands) != 1:
        report(False, "tutorial line %d: expect-exit needs exactly one command"
               % block["line"])
    for command in block_commands:
        name = "tutorial line %d: `%s`" % (block["line"], " ".join(
            command.replace("\\\n", " ").split()))
        result = run(command)
        state["last"] = result
        if result is None:
            report(False, name, "still running after %d s" % COMMAND_TIMEOUT_S)
            continue
        status, stdout, stderr = result
        report(status == expected, name + (" exits %d" % expected if expected else ""),
               "exit %d; %s" % (status, tail(stdout + "\n" + stderr)))


def main():
    path = os.path.join(top, tutorial)
    if not report(os.path.isfile(path), "%s exists" % tutorial):
        return
    blocks, problems = parse(path)
    for problem in problems:
        report(False, "%s: %s" % (tutorial, problem))
    kinds = {(block["kind"], tuple(block["flags"])) for block in blocks}
    report(("sh", ()) in kinds and ("lua", ()) in kinds and ("text", ("output",)) in kinds,
           "the tutorial has commands, Lua files and outputs to check")
    shipped = set()
    state = {"last": None}
    previous = None
    for block in blocks:
        problem = info_problem(block)
        if problem:
            report(False, "tutorial line %d: ```%s: %s" % (block["line"], block["info"],
                                                           problem))
            state["last"] = None
            previous = block
            continue
        if block["kind"] == "lua":
            text = "\n".join(block["body"]) + "\n"
            with open(os.path.join(run_dir, block["attrs"]["file"]), "w",
                      encoding="utf-8") as out:
                out.write(text)
            if "shipped" in block["attrs"]:
                shipped.add(os.path.normpath(block["attrs"]["shipped"]))
                check_shipped(block, text)
        elif block["kind"] == "sh" and "setup" in block["flags"]:
            check_setup(block)
        elif block["kind"] == "sh":
            run_block(block, state)
        elif block["kind"] == "text" and "output" in block["flags"]:
            after_sh = previous is not None and previous["kind"] == "sh" and \
                not previous["flags"]
            check_output(block, state["last"] if after_sh else None)
        previous = block
    on_disk = set()
    for folder, _, files in os.walk(os.path.join(top, "scenarios", "tutorial")):
        for file in files:
            on_disk.add(os.path.relpath(os.path.join(folder, file), top))
    report(on_disk == shipped, "every file of scenarios/tutorial/ is a block of the tutorial",
           "on disk only: %s; named only: %s" % (sorted(on_disk - shipped),
                                                  sorted(shipped - on_disk)))


main()
PYTHON
check "the tutorial's checker ran to its end" $?
