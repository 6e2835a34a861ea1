-- scenarios/socat_file.lua: Debian's unmodified socat moves a file from the host into a guest.
-- A `socat -u VSOCK-LISTEN:5001 CREATE:received.bin` server in the guest writes what one
-- connection brings into its scratch directory; a `socat -u STDIN VSOCK-CONNECT:<cid>:5001`
-- client on the host reads BYTES (default 200 000) bytes made by this scenario from its
-- standard input and sends them. Then `cksum` runs on both sides: in the guest over the
-- written file, on the host over the same bytes given as standard input; the CRC and the
-- length must match, and both socats must exit 0. Needs `--allow-exec` and socat on PATH;
-- without either it says so and passes without running anything:
--
--   vmcisim run scenarios/socat_file.lua --allow-exec [-- BYTES]
--
-- It prints one `socat_file NAME ok` line per check (or `socat_file NAME FAILED: why`) and
-- exits non-zero when a check failed.
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("socat_file: skipped: running real programs needs --allow-exec")
  return
end
local BYTES = tonumber(arg[1] or "200000")
local PORT = 5001
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local server = guest:exec{ "socat", "-d", "-d", "-u", "VSOCK-LISTEN:" .. PORT,
                           "CREATE:received.bin", name = "socat_server" }

-- Every byte value appears in a pseudo-random block of a prime length (65 521 bytes), repeated:
-- no 8192-byte chunk (socat's buffer) equals another at a different offset, so a lost,
-- doubled or reordered chunk changes the checksum, and making 10 MB stays cheap (the
-- throughput note in docs/programs.md measures the transfer, not this).
local BLOCK_BYTES = 65521
local function content(count)
  local parts = {}
  local state = 12345
  for index = 1, math.min(count, BLOCK_BYTES) do
    state = (state * 1103515245 + 12345) % 2147483648
    parts[index] = string.char((state >> 16) % 256)
  end
  local block = table.concat(parts)
  return string.rep(block, count // BLOCK_BYTES + 1):sub(1, count)
end
local data = content(BYTES)
local programs = {}

w:host():spawn("driver", function(p)
  while server.status == "running" and not server:output():find("listening on", 1, true) do
    p:sleep(sim.us(10))
  end
  programs.client = w:host():exec{ "socat", "-d", "-d", "-u", "STDIN",
                                   "VSOCK-CONNECT:" .. guest.cid .. ":" .. PORT,
                                   stdin = data, name = "socat_client" }
  p:join(programs.client)
  p:join(server)
  programs.sent_sum = w:host():exec{ "cksum", stdin = data, name = "cksum_sent" }
  programs.received_sum = guest:exec{ "cksum", "received.bin", name = "cksum_received" }
  p:join(programs.sent_sum)
  p:join(programs.received_sum)
end)

local run = w:run()
local failed = 0
local function check(name, ok, why)
  if ok then
    print("socat_file " .. name .. " ok")
  else
    failed = failed + 1
    print("socat_file " .. name .. " FAILED: " .. tostring(why))
  end
end

local function sum_of(program)
  if not program then return nil end
  local crc, length = program:output():match("^(%d+) (%d+)")
  return crc and (crc .. " " .. length) or nil
end
io.write(server:output())
if programs.client then io.write(programs.client:output()) end
check("run_idle", run.stopped == "idle", run.stopped)
check("server_exit_0", server.exit_code == 0, server.exit_code)
check("client_exit_0", programs.client and programs.client.exit_code == 0,
      programs.client and programs.client.exit_code)
local sent, received = sum_of(programs.sent_sum), sum_of(programs.received_sum)
print("socat_file sent " .. tostring(sent) .. " received " .. tostring(received))
check("length", received and received:match(" (%d+)$") == tostring(BYTES), received)
check("checksum", sent ~= nil and sent == received, tostring(sent) .. " vs " .. tostring(received))
if failed > 0 then error(failed .. " socat_file check(s) failed", 0) end
