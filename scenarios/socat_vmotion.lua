-- scenarios/socat_vmotion.lua: what Debian's unmodified socat does when its guest is vMotioned
-- in the middle of a transfer, in both directions. Each case runs a
-- `socat -u VSOCK-LISTEN:PORT CREATE:received.bin` server on one side and a
-- `socat -u STDIN VSOCK-CONNECT:CID:PORT` client on the other sending BYTES (default
-- 1 000 000) bytes; AFTER_US (default 200) simulated microseconds after the client started,
-- while it is still sending, the scenario vMotions the guest:
--   "to_guest":   the client on the host, the server in the guest (port 5003);
--   "from_guest": the client in the guest, the server on the host (port 5004).
--
-- What the model gives (docs/lifecycle.md: a vMotion is a suspend and a resume at the same
-- instant; the hypervisor detaches the guest's queue pairs, R205-R207, R171), and what each
-- case checks:
--   - the sending socat's connection is dropped: its next write gives EPIPE, so it reports
--     `write(5, ...): Broken pipe` and exits 1 (socat ignores SIGPIPE; a program that does
--     not would be ended by the emulated SIGPIPE, docs/programs.md "Signals");
--   - the receiving socat sees an ordinary end of stream: it writes a shorter file and exits
--     0. In the guest it first reads what had reached its consume queue (the guest's pages
--     outlive the detach); on the host what it had not read yet is lost (R171);
--   - what was written is a prefix of what was sent (nothing reordered or invented): cksum
--     of the received file equals cksum of the same number of leading bytes sent;
--   - the guest keeps its CID (one simulated host).
-- Needs `--allow-exec` and socat on PATH; without either it says so and passes:
--
--   vmcisim run scenarios/socat_vmotion.lua --allow-exec [-- BYTES AFTER_US]
--
-- It prints socat's own logs, one `socat_vmotion CASE NAME ok` line per check (or
-- `socat_vmotion CASE NAME FAILED: why`) and exits non-zero when a check failed.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("socat_vmotion: skipped: running real programs needs --allow-exec")
  return
end
local BYTES = tonumber(arg[1] or "1000000")
local AFTER_US = tonumber(arg[2] or "200")
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local host = w:host()

local function content(count)
  local parts = {}
  local state = 4242
  for index = 1, count do
    state = (state * 1103515245 + 12345) % 2147483648
    parts[index] = string.char((state >> 16) % 256)
  end
  return table.concat(parts)
end
local data = content(BYTES)
local cases = {
  { name = "to_guest", port = 5003, server_side = guest, client_side = host },
  { name = "from_guest", port = 5004, server_side = host, client_side = guest },
}

local function sum_of(program)
  if program == nil then return nil end
  local crc, length = program:output():match("^(%d+) (%d+)")
  return crc, tonumber(length)
end

-- One case, from a host process: start both socats, vMotion the guest, wait, checksum.
local function transfer(p, case)
  case.server = case.server_side:exec{ "socat", "-d", "-d", "-u", "VSOCK-LISTEN:" .. case.port,
                                       "CREATE:received.bin", name = "socat_server" }
  while case.server.status == "running" and
        not case.server:output():find("listening on", 1, true) do
    p:sleep(sim.us(10))
  end
  local peer_cid = case.server_side == guest and guest.cid or sim.CID_HOST
  case.client = case.client_side:exec{ "socat", "-d", "-d", "-u", "STDIN",
                                       "VSOCK-CONNECT:" .. peer_cid .. ":" .. case.port,
                                       stdin = data, name = "socat_client" }
  p:sleep(sim.us(AFTER_US))
  case.mid_transfer = case.client.status == "running" and case.server.status == "running"
  case.cid_before = guest.cid
  guest:vmotion()
  p:join(case.client)
  p:join(case.server)
  case.cid_after = guest.cid
  case.received_sum = case.server_side:exec{ "cksum", "received.bin", name = "cksum_received" }
  p:join(case.received_sum)
  local _, received_bytes = sum_of(case.received_sum)
  case.received_bytes = received_bytes
  if received_bytes ~= nil then
    case.prefix_sum = host:exec{ "cksum", stdin = data:sub(1, received_bytes),
                                 name = "cksum_prefix" }
    p:join(case.prefix_sum)
  end
end

host:spawn("driver", function(p)
  for _, case in ipairs(cases) do transfer(p, case) end
end)

local run = w:run()
local failed = 0
local function check(case, name, ok, why)
  if ok then
    print("socat_vmotion " .. case.name .. " " .. name .. " ok")
  else
    failed = failed + 1
    print("socat_vmotion " .. case.name .. " " .. name .. " FAILED: " .. tostring(why))
  end
end

local function report(case)
  local client, server = case.client, case.server
  if server then io.write(server:output()) end
  if client then io.write(client:output()) end
  print(string.format("socat_vmotion %s client %s exit %s; server %s exit %s; received %s of %d",
                      case.name, client and client.status, client and client.exit_code,
                      server and server.status, server and server.exit_code,
                      case.received_bytes, BYTES))
  check(case, "mid_transfer", case.mid_transfer,
        "client or server had already ended when the vMotion came")
  check(case, "cid_kept", case.cid_before ~= nil and case.cid_before == case.cid_after,
        tostring(case.cid_before) .. " -> " .. tostring(case.cid_after))
  check(case, "client_broken_pipe",
        client ~= nil and client:output():find("): Broken pipe", 1, true) ~= nil,
        client and client:output())
  check(case, "client_exit_1", client ~= nil and client.exit_code == 1,
        client and client.exit_code)
  check(case, "server_exit_0", server ~= nil and server.exit_code == 0,
        server and server.exit_code)
  check(case, "received_part", case.received_bytes ~= nil and case.received_bytes > 0 and
        case.received_bytes < BYTES, case.received_bytes)
  local received_crc, prefix_crc = sum_of(case.received_sum), sum_of(case.prefix_sum)
  check(case, "received_is_prefix", received_crc ~= nil and received_crc == prefix_crc,
        tostring(received_crc) .. " vs " .. tostring(prefix_crc))
end

print("socat_vmotion run stopped " .. run.stopped)
for _, case in ipairs(cases) do report(case) end
if run.stopped ~= "idle" then failed = failed + 1 end
if failed > 0 then error(failed .. " socat_vmotion check(s) failed", 0) end
