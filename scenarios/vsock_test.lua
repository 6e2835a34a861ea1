-- scenarios/vsock_test.lua: Linux's own vsock_test (tools/testing/vsock of Debian's
-- linux-source-6.1), unmodified, between a guest and the host, as a conformance table
-- (docs/conformance-vsock_test.md, "Linux's vsock_test, unmodified"). `make vsock-test`
-- builds the binary into build/vsock_test/; the run needs `--allow-exec`:
--
--   vmcisim run scenarios/vsock_test.lua --allow-exec [-- guest-server|host-server]
--
-- guest-server (the default): vsock_test's server in guest1, its client on the host, which
-- finds the server's control port by the endpoint name `guest1` over the simulated TCP
-- control channel (docs/programs.md); host-server swaps the roles (the client in the guest
-- connects to `host`). The case list comes from vsock_test's own `--list`; the SOCK_SEQPACKET
-- cases are passed to `--skip` (the VMCI transport has no SOCK_SEQPACKET, R100).
--
-- vsock_test stops at its first failing case (its helpers exit), so a case that fails is
-- recorded and the pair is started again with every case decided so far skipped, until each
-- case has a result. One line per case: `vsock_test <id> <name> pass|fail|skip <reason>`.
-- The run passes only if every result equals EXPECTED below, where each expected failure
-- names the rule behind it; any other result (a new failure, or an expected failure that
-- now passes) fails the run. Without --allow-exec it says so and passes without running
-- anything; with it and no binary it refuses, naming `make vsock-test`.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("vsock_test: skipped: running real programs needs --allow-exec")
  return
end

local LAYOUT = arg[1] or "guest-server"
if LAYOUT ~= "guest-server" and LAYOUT ~= "host-server" then
  error("vsock_test: unknown layout '" .. LAYOUT .. "' (guest-server or host-server)")
end
local BINARY = "../build/vsock_test/vsock_test"      -- from this scenario's directory
local CONTROL_PORT_FIRST = 1234                       -- vsock_test's documented example port
local ROUNDS_MAX = 16           -- pair restarts: one per failing case at most, plus the last
local ROUND_NS_MAX = sim.s(200) -- a round's simulated time: 11 cases x vsock_test's 10 s TIMEOUT
local GRACE_NS = sim.s(30)      -- a side still running this long after its peer ended is stuck
local POLL_NS = sim.ms(100)     -- how often the watchdog looks at the server meanwhile

-- The expected table, per case id: the name vsock_test lists, and the result in each layout.
-- A failure is expected only with the rule that makes VMCI differ (docs/reference/) and the
-- message of the side that fails by it; a failure with another message is unexpected.
local R171 = "R171: the host-side socket loses its unread byte when the guest's socket "
             .. "detaches (vmci_transport_handle_detach), so recv() reads end of stream"
local R100 = "R100: SOCK_SEQPACKET is not offered by the VMCI transport (passed to --skip)"
local EXPECTED = {
  [0] = { name = "SOCK_STREAM connection reset" },
  [1] = { name = "SOCK_STREAM bind only" },
  [2] = { name = "SOCK_STREAM client close",
          ["host-server"] = { "fail", R171, "server: unexpected EOF while receiving byte" } },
  [3] = { name = "SOCK_STREAM server close",
          ["guest-server"] = { "fail", R171, "client: unexpected EOF while receiving byte" } },
  [4] = { name = "SOCK_STREAM multiple connections" },
  [5] = { name = "SOCK_STREAM MSG_PEEK" },
  [6] = { name = "SOCK_SEQPACKET msg bounds", all = { "skip", R100 } },
  [7] = { name = "SOCK_SEQPACKET MSG_TRUNC flag", all = { "skip", R100 } },
  [8] = { name = "SOCK_SEQPACKET timeout", all = { "skip", R100 } },
  [9] = { name = "SOCK_SEQPACKET invalid receive buffer", all = { "skip", R100 } },
  [10] = { name = "SOCK_STREAM poll() + SO_RCVLOWAT" },
}

local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local server_ep, client_ep, control_host, peer_of_server, peer_of_client
if LAYOUT == "guest-server" then
  server_ep, client_ep, control_host = guest, host, "guest1"
  peer_of_server, peer_of_client = sim.CID_HOST, guest.cid
else
  server_ep, client_ep, control_host = host, guest, "host"
  peer_of_server, peer_of_client = guest.cid, sim.CID_HOST
end

-- Starts vsock_test on an endpoint; a missing binary is refused with the command that builds it.
local function start(ep, args, name)
  local command = { BINARY, name = name }
  for _, word in ipairs(args) do command[#command + 1] = word end
  local ok, program = pcall(ep.exec, ep, command)
  if not ok then
    if tostring(program):find("not found", 1, true) then
      error("vsock_test: build/vsock_test/vsock_test is absent: build it with `make vsock-test` "
            .. "(it needs /usr/src/linux-source-6.1.tar.xz, scripts/install-deps)", 0)
    end
    error(program, 0)
  end
  return program
end

-- vsock_test's own list of cases (`--list` prints "ID<tab>name" lines, then exits 1).
local function list_cases()
  local lister = start(host, { "--list" }, "list")
  w:run()
  local cases = {}
  for id, name in lister:output():gmatch("(%d+)\t([^\n]+)") do
    cases[#cases + 1] = { id = tonumber(id), name = name }
  end
  return cases
end

local function running(program) return program ~= nil and program.status == "running" end

-- One round: a server and a client skipping `skips` (sorted ids), started on a fresh control
-- port; the client only once the server listens (within GRACE_NS). A side still running
-- ROUND_NS_MAX after the client started, or GRACE_NS after its peer ended, is stuck
-- (vsock_test's waits are bounded by its 10 s TIMEOUT) and is killed, so a round always ends.
local function run_round(round, skips)
  local port = tostring(CONTROL_PORT_FIRST + round - 1)
  local skip_args = {}
  for _, id in ipairs(skips) do skip_args[#skip_args + 1] = "--skip=" .. id end
  local function arguments(first)
    for _, word in ipairs(skip_args) do first[#first + 1] = word end
    return first
  end
  local pair = { killed = {} }
  pair.server = start(server_ep, arguments{ "--mode=server", "--control-port=" .. port,
                                            "--peer-cid=" .. peer_of_server }, "server")
  client_ep:spawn("round" .. round, function(p)
    local function listening()
      return pair.server:output():find("Control socket listening", 1, true) ~= nil
    end
    local listen_deadline, step = w.now + GRACE_NS, sim.us(10)
    while running(pair.server) and w.now < listen_deadline and not listening() do
      p:sleep(step)
      step = math.min(step * 2, sim.ms(1))
    end
    local deadline = w.now + ROUND_NS_MAX
    if running(pair.server) and listening() then
      pair.client = start(client_ep, arguments{ "--mode=client", "--control-host=" .. control_host,
                                                "--control-port=" .. port,
                                                "--peer-cid=" .. peer_of_client }, "client")
    end
    while (running(pair.server) or running(pair.client)) and w.now < deadline do
      if running(pair.server) and running(pair.client) then
        p:join(pair.client, POLL_NS)          -- wakes at once when the client ends
      else
        local lone = running(pair.server) and pair.server or pair.client
        if not p:join(lone, math.min(GRACE_NS, deadline - w.now)) then break end
      end
    end
    for _, side in ipairs{ "server", "client" } do
      if running(pair[side]) then
        pair[side]:kill()
        pair.killed[side] = true
      end
    end
  end)
  w:run()
  return pair
end

-- What one side's output says: per case id "ok" or "skipped", and the case it was in when it
-- stopped (a line without either word) with the text that followed, up to the end.
local function read_side(text)
  local side = { done = {}, stopped_id = nil, stopped_text = nil }
  local position = 1
  while position <= #text do
    local line_end = text:find("\n", position, true) or (#text + 1)
    local line = text:sub(position, line_end - 1)
    local id, rest = line:match("^(%d+) %- .-%.%.%.(.*)$")
    if id and (rest == "ok" or rest == "skipped") then
      side.done[tonumber(id)] = rest
    elseif id then
      side.stopped_id = tonumber(id)
      side.stopped_text = (rest .. " " .. text:sub(line_end + 1)):gsub("%s+", " ")
      break
    end
    position = line_end + 1
  end
  return side
end

-- The text that explains a side's stop, at most 160 bytes.
local function stop_text(role, program, side, killed)
  local text = side.stopped_text or ""
  if killed then text = text .. " (stuck: killed by the scenario)" end
  if program.exit_code then text = text .. " (exit " .. program.exit_code .. ")" end
  text = (role .. ": " .. text):gsub("%s+", " ")
  if #text > 160 then text = text:sub(1, 157) .. "..." end
  return text
end

-- Decides, from one round's outputs, the undecided cases up to the first one that did not
-- pass on both sides; the cases after it stay undecided for the next round.
local function decide(cases, results, seqpacket, pair)
  local sides = { server = read_side(pair.server:output()),
                  client = read_side(pair.client and pair.client:output() or "") }
  for _, case in ipairs(cases) do
    local id = case.id
    if results[id] == nil then
      local on_server, on_client = sides.server.done[id], sides.client.done[id]
      if on_server == "ok" and on_client == "ok" and not seqpacket[id] then
        results[id] = { "pass", "" }
      elseif on_server == "skipped" and on_client == "skipped" and seqpacket[id] then
        results[id] = { "skip", R100 }
      else
        local texts = {}
        for _, role in ipairs{ "server", "client" } do
          local side = sides[role]
          if side.done[id] ~= "ok" then
            if pair[role] == nil then
              texts[#texts + 1] = role .. ": not started (the server never listened)"
            elseif side.stopped_id == id or side.done[id] then
              texts[#texts + 1] = stop_text(role, pair[role], side, pair.killed[role])
            else
              texts[#texts + 1] = stop_text(role, pair[role],
                                            { stopped_text = "no line for this case: "
                                              .. pair[role]:output() }, pair.killed[role])
            end
          end
        end
        results[id] = { "fail", table.concat(texts, "; ") }
        return
      end
    end
  end
  for _, role in ipairs{ "server", "client" } do      -- every case passed: the final barrier
    if pair[role].exit_code ~= 0 then
      results.barrier = stop_text(role, pair[role], { stopped_text = "after the last case: "
                                                     .. pair[role]:output() }, pair.killed[role])
    end
  end
end

local cases = list_cases()
local listed_as_expected = #cases == #EXPECTED + 1
for index, case in ipairs(cases) do
  local expected = EXPECTED[index - 1]
  if case.id ~= index - 1 or expected == nil or expected.name ~= case.name then
    listed_as_expected = false
  end
end
if not sim.expect(listed_as_expected, "vsock_test --list gives the cases of linux-source-6.1 "
                  .. "that EXPECTED names (" .. #cases .. " listed)") then
  return
end
local seqpacket, results = {}, {}
for _, case in ipairs(cases) do
  seqpacket[case.id] = case.name:find("^SOCK_SEQPACKET") ~= nil
end
print(string.format("vsock_test layout %s: server on %s, client on %s", LAYOUT, server_ep.name,
                    client_ep.name))
for round = 1, ROUNDS_MAX do
  local skips = {}
  for _, case in ipairs(cases) do
    if seqpacket[case.id] or results[case.id] then skips[#skips + 1] = case.id end
  end
  if #skips == #cases then break end
  local pair = run_round(round, skips)
  print(string.format("vsock_test round %d: --skip %s: server %s %s, client %s %s", round,
                      table.concat(skips, ","), pair.server.status,
                      tostring(pair.server.exit_code), pair.client and pair.client.status or "-",
                      tostring(pair.client and pair.client.exit_code)))
  decide(cases, results, seqpacket, pair)
end

local mismatches = 0
for _, case in ipairs(cases) do
  local expected = EXPECTED[case.id]
  local want = expected[LAYOUT] or expected.all or { "pass", "" }
  local got = results[case.id] or { "fail", "no result after " .. ROUNDS_MAX .. " rounds" }
  local reason = got[2]
  if got[1] ~= want[1] then
    mismatches = mismatches + 1
    reason = reason .. " [UNEXPECTED: the table expects " .. want[1] .. "]"
  elseif want[3] and not got[2]:find(want[3], 1, true) then
    mismatches = mismatches + 1
    reason = reason .. " [UNEXPECTED: the table expects the message '" .. want[3] .. "']"
  elseif got[1] == "fail" then
    reason = want[2] .. "; " .. got[2]               -- the rule, then what vsock_test said
  end
  print(string.format("vsock_test %d %s %s%s", case.id, case.name, got[1],
                      reason ~= "" and " " .. reason or ""))
end
sim.expect(results.barrier == nil, "both sides passed the final barrier: "
           .. tostring(results.barrier))
sim.expect(mismatches == 0, mismatches .. " case(s) differ from the expected table")
