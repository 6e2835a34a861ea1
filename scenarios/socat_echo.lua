-- scenarios/socat_echo.lua: Debian's unmodified socat (1.7.4, installed by
-- scripts/install-deps) as a vSockets echo server in a guest: `socat VSOCK-LISTEN:5000 PIPE`
-- writes what a connection brings into a pipe and sends back what the pipe gives (docs/
-- programs.md, "socat and Linux's vsock_test"). A Lua client on the host sends BYTES
-- (default 100 000) and checks the echo byte for byte. Needs `--allow-exec` and socat on
-- PATH; without either it says so and passes without running anything:
--
--   vmcisim run scenarios/socat_echo.lua --allow-exec [-- BYTES]
--
-- It prints `socat_echo BYTES equal` (or what went wrong) and socat's own log (-d -d).
local sim = require("vmcisim")
if not sim.exec_allowed then
  sim.log("socat_echo: skipped: running real programs needs --allow-exec")
  return
end
local BYTES = tonumber(arg[1] or "100000")
local w = sim.world{ product = "esxi-6.5" }
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.unrestricted"] = "TRUE" } }
local relay = guest:exec{ "socat", "-d", "-d", "VSOCK-LISTEN:5000", "PIPE", name = "socat" }
local result = "not run"

local function pattern(count)
  local parts = {}
  for index = 0, count - 1 do parts[#parts + 1] = string.char((index * 13 + 5) % 256) end
  return table.concat(parts)
end

w:host():spawn("client", function(p)
  while relay.status == "running" and not relay:output():find("listening on", 1, true) do
    p:sleep(sim.us(10))
  end
  local s = assert(p:socket("stream"))
  assert(s:connect(guest.cid, 5000))
  local message = pattern(BYTES)
  local echoed, sent, received = {}, 0, 0
  while received < BYTES do
    if sent < BYTES then
      sent = sent + assert(s:send(message:sub(sent + 1, math.min(sent + 8192, BYTES))))
      if sent == BYTES then assert(s:shutdown("w")) end
    end
    local ready = p:poll({ { s, "r" } }, sim.ms(100))
    if ready and #ready > 0 then
      local data = assert(s:recv(65536))
      if data == "" then break end
      echoed[#echoed + 1] = data
      received = received + #data
    end
  end
  result = table.concat(echoed) == message and "equal" or ("broken after " .. received)
  s:close()
end)

local run = w:run()
print(string.format("socat_echo %d %s", BYTES, result))
io.write(relay:output())
sim.expect(run.stopped == "idle", "everything ended: " .. run.stopped)
sim.expect(result == "equal", "the echo came back byte for byte: " .. result)
sim.expect(relay.exit_code == 0, "socat exited 0: " .. tostring(relay.exit_code))
