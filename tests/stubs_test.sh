#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/stubs_test.sh: the lua-language-server definitions lua/vmcisim.lua match the documented
# Lua API, docs/scenario-api.md, both ways.
#
# From the page (outside code blocks): every `sim.x`, `w:x`, `w.x`, `ep:x`, `vm:x`, `p:x`,
# `s:x`, `dev:x`, `v:x`, `dg:x`, `qp:x` it names; the keys of its option and result tables
# and of its `f{ a, b }` headings; the socket option names; the object type names. From the
# stubs: the classes, their `---@field`s, `function class:method` and `function sim.name`
# definitions, module fields and the socket option alias. What the page lists as "Not built"
# is left out. The two sets must be equal, every `vmcisim.*` type the annotations use must
# be defined, and the file must load as Lua. Two deliberate drifts must be caught.
# Prints "ok - NAME" / "not ok - NAME"; scripts/run-tests counts them.
set -u
vmcisim=${VMCISIM:-./vmcisim}
doc=docs/scenario-api.md
stubs=lua/vmcisim.lua
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# stubs_check DOC STUBS: prints one ok / not ok line per comparison.
stubs_check() {
    python3 - "$1" "$2" <<'PYTHON'
import re, sys

doc_path, stubs_path = sys.argv[1], sys.argv[2]
results = []

def check(name, good, detail=""):
    results.append(("ok - " if good else "not ok - ") + name + ("" if good else ": " + detail))

def compare(name, in_doc, in_stubs):
    check(name, in_doc == in_stubs,
          "only in the page: %s; only in the stubs: %s" %
          (sorted(in_doc - in_stubs) or "-", sorted(in_stubs - in_doc) or "-"))

# The page's object names and the stub class each stands for.
CLASS_OF_PREFIX = {
    "sim": "vmcisim", "w": "vmcisim.world", "ep": "vmcisim.endpoint",
    "vm": "vmcisim.endpoint", "host": "vmcisim.endpoint", "p": "vmcisim.process",
    "s": "vmcisim.socket", "dev": "vmcisim.device", "v": "vmcisim.vmci",
    "dg": "vmcisim.datagram", "qp": "vmcisim.queue_pair",
}
MEMBER = re.compile(r"(%s)([.:])([A-Za-z_]\w*)" % "|".join(CLASS_OF_PREFIX))
# Tables of keys (first column without an object prefix), by the heading above them.
TABLE_CLASS = {"sim.world{": "vmcisim.world_options", "w:vm{": "vmcisim.vm_options",
               "ep:spawn(": "vmcisim.spawn_options", "w:run{": "vmcisim.run_result",
               "Socket `s`": "vmcisim.socket_option"}
# Headings `f{ key, key }`: the options table that f takes.
BRACE_CLASS = {"sim.world": "vmcisim.world_options", "w:vm": "vmcisim.vm_options",
               "w:run": "vmcisim.run_options", "ep:vsock": "vmcisim.vsock_options"}

def member_key(prefix, separator, name):
    # Module functions and constants are both `sim.name`; elsewhere `:` is a method.
    kind = "." if prefix == "sim" else separator
    return CLASS_OF_PREFIX[prefix], kind + name

def parse_doc(path):
    members, keys, type_names = {}, {}, set()
    text = re.sub(r"^```.*?^```", "", open(path, encoding="utf-8").read(), flags=re.S | re.M)
    heading = ""
    in_table, table_class = False, None
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line
        # What the page lists as not built has no stub.
        spans = [] if "Not built" in line else re.findall(r"`([^`]+)`", line)
        for span in spans:
            match = MEMBER.match(span)
            if match:
                cls, key = member_key(*match.groups())
                members.setdefault(cls, set()).add(key)
            if re.fullmatch(r'"vmcisim\.\w+"', span):
                type_names.add(span.strip('"'))
        if line.startswith("#"):
            for span in spans:
                brace = re.match(r"(\w+[.:]\w+)\{ ([^}]*) \}", span)
                if brace and brace.group(2) not in ("…", "..."):
                    cls = BRACE_CLASS.get(brace.group(1), "<no stub class for %s>" %
                                          brace.group(1))
                    names = {name.strip() for name in brace.group(2).split(",")}
                    keys.setdefault("heading " + cls, set()).update(names)
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if not cells:
            in_table = False
            continue
        if not in_table:
            in_table = True
            table_class = None
            if cells[0] in ("key", "option", "field", "name"):
                table_class = next((cls for marker, cls in TABLE_CLASS.items()
                                    if marker in heading), "<no stub class for the table "
                                   "under %s>" % heading.strip())
            continue
        if table_class is None or set(cells[0]) <= set("-"):
            continue
        names = [span for span in re.findall(r"`([^`]+)`", cells[0])
                 if re.fullmatch(r"[a-z_]\w*", span)]
        if names:
            keys.setdefault("table " + table_class, set()).update(names)
    return members, keys, type_names

def parse_stubs(path):
    classes, aliases, variables, used_types = {}, {}, {}, set()
    current_class, current_alias = None, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        used_types.update(re.findall(r"\bvmcisim\.\w+", line) if line.startswith("---@") else [])
        match = re.match(r"---@class ([\w.]+)", line)
        if match:
            current_class, current_alias = match.group(1), None
            classes.setdefault(current_class, set())
            continue
        match = re.match(r"---@alias ([\w.]+)(.*)", line)
        if match:
            current_class, current_alias = None, match.group(1)
            aliases[current_alias] = set(re.findall(r'"([^"]*)"', match.group(2)))
            continue
        if current_alias and line.startswith("---|"):
            aliases[current_alias].update(re.findall(r'"([^"]*)"', line))
            continue
        match = re.match(r"---@field ([A-Za-z_]\w*)", line)
        if match and current_class:
            classes[current_class].add("." + match.group(1))
            continue
        match = re.match(r"local (\w+) = \{\}", line)
        if match and current_class:
            variables[match.group(1)] = current_class
            continue
        match = re.match(r"function (\w+)([.:])(\w+)\(", line)
        if match and match.group(1) in variables:
            classes[variables[match.group(1)]].add(match.group(2) + match.group(3))
            continue
        match = re.match(r"(\w+)\.(\w+) = ", line)
        if match and match.group(1) in variables:
            classes[variables[match.group(1)]].add("." + match.group(2))
            continue
        if not line.startswith("---"):
            current_class, current_alias = None, None
    return classes, aliases, used_types

doc_members, doc_keys, doc_types = parse_doc(doc_path)
classes, aliases, used_types = parse_stubs(stubs_path)
check("the page names members of every object", len(doc_members) == len(
      set(CLASS_OF_PREFIX.values())), "found: %s" % sorted(doc_members))
for cls in sorted(set(CLASS_OF_PREFIX.values())):
    compare("%s: members documented and defined" % cls, doc_members.get(cls, set()),
            classes.get(cls, set()) if cls in classes else {"<class %s missing>" % cls})
check("the page has option tables and option headings", len(doc_keys) >= 7,
      "found: %s" % sorted(doc_keys))
for where in sorted(doc_keys):
    cls = where.split(" ", 1)[1]
    if cls in aliases:
        defined = aliases[cls]
    elif cls in classes:
        defined = {member[1:] for member in classes[cls]}
    else:
        defined = {"<%s is not defined in the stubs>" % cls}
    compare("%s %s: keys documented and defined" % tuple(where.split(" ", 1)),
            doc_keys[where], defined)
check("the page names the object types", len(doc_types) >= 8, "found: %s" % sorted(doc_types))
missing = doc_types - set(classes)
check("every object type the page names is a stub class", not missing,
      "missing: %s" % sorted(missing))
undefined = used_types - set(classes) - set(aliases)
check("every vmcisim.* type the annotations use is defined", not undefined,
      "undefined: %s" % sorted(undefined))
# The sim.world rows whose keys live in one cell: `limits` (a list of names) and `faults`
# (a table written as { key = ..., ... }).
world_rows = {}
for line in open(doc_path, encoding="utf-8"):
    row = re.match(r"\| `(limits|faults)` \|[^|]*\|(.*)\|\s*$", line)
    if row:
        world_rows[row.group(1)] = row.group(2)
limit_names = set(re.findall(r"`(\w+)`", world_rows.get("limits", "").split(";")[0]))
compare("sim.world limits: names documented and defined", limit_names,
        {member[1:] for member in classes.get("vmcisim.limits", set())})
fault_keys = set(re.findall(r"(\w+) = ", world_rows.get("faults", "")))
compare("sim.world faults: keys documented and defined", fault_keys,
        {member[1:] for member in classes.get("vmcisim.faults", set())})
print("\n".join(results))
PYTHON
}

stubs_check "$doc" "$stubs" | tee "$work/check.out"
if grep -q '^ok - ' "$work/check.out"; then
    echo "ok - the stubs checker ran"
else
    echo "not ok - the stubs checker ran"
fi

# The stubs are a Lua chunk the sandbox loads (a syntax error would fail here), and the file
# starts with ---@meta, which tells lua-language-server it holds definitions only.
"$vmcisim" run "$stubs" -q >"$work/run.out" 2>&1
status=$?
if [ "$status" -eq 0 ]; then
    echo "ok - the stubs load as a Lua chunk"
else
    echo "not ok - the stubs load as a Lua chunk: exit $status: $(head -c 300 "$work/run.out")"
fi
if head -n 1 "$stubs" | grep -qx -- '---@meta vmcisim'; then
    echo "ok - the stubs start with ---@meta vmcisim"
else
    echo "not ok - the stubs start with ---@meta vmcisim"
fi

# The checker must catch a drift either way: a method gone from the stubs...
grep -v '^function socket:give(' "$stubs" >"$work/no_give.lua"
stubs_check "$doc" "$work/no_give.lua" >"$work/no_give.out"
if cmp -s "$stubs" "$work/no_give.lua"; then
    echo "not ok - drift test: the stubs have no socket:give to remove"
elif grep -q "^not ok - vmcisim.socket: .*':give'" "$work/no_give.out"; then
    echo "ok - a documented method missing from the stubs is caught"
else
    echo "not ok - a documented method missing from the stubs is not caught"
fi
# ...and an option key the stubs have but the page does not.
sed 's/^---@field daemon? boolean/&\n---@field frobnicate? boolean/' "$stubs" >"$work/extra.lua"
stubs_check "$doc" "$work/extra.lua" >"$work/extra.out"
if grep -q "^not ok - table vmcisim.spawn_options: .*frobnicate" "$work/extra.out"; then
    echo "ok - an undocumented option in the stubs is caught"
else
    echo "not ok - an undocumented option in the stubs is not caught"
fi
