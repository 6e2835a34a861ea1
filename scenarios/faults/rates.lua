-- scenarios/faults/rates.lua: guests that stream to a host echo service while every fault
-- rate (docs/faults.md, "Rates") suspends, vMotions, power-cycles their VMs and kills their
-- processes at random, from the seed.
--
-- `faults = { sites = {}, suspend = 20, vmotion = 20, power_cycle = 10, kill = 20, … }`: no
-- fault site, only the rates, per simulated second. Each arrival picks a running guest (or a
-- non-daemon process of one, for kill) from the seed's "faults" stream; a suspended guest is
-- resumed after 1–30 ms, a powered-off one powered on after 1–30 ms.
--
-- Four guests each run SESSIONS sessions against the host echo: connect, send 4 KiB of a
-- pattern, read the echo back, close, then 5 ms later the next session. Any error, an early
-- end of file or a killed client breaks a session, which is then done again from the start.
-- A host watchdog respawns the client of a guest whose client is gone (killed by `kill`, or
-- with the whole guest by `power_cycle`) once the guest runs again; the client goes on with
-- the first session not yet done.
--
-- What it checks, and which rates each check tolerates:
--   * every byte echoed is the byte sent, in order (a prefix of the session's pattern):
--     holds under all four rates (a suspend or vMotion ends the stream, R206: EOF, never a
--     wrong byte; a killed client never reads again);
--   * every guest completes all its sessions: holds under all four, only because sessions
--     are retried (suspend, vmotion) and clients respawned (kill, power_cycle);
--   * the world ends idle with every guest powered on again (the rates' resumes and
--     power-ons are ordinary events, and rates stop with an idle world): under all four;
--   * the world invariants (checked at the end of every run): under all four.
-- It passes for every seed:
--   vmcisim sweep scenarios/faults/rates.lua --seeds 1-2000     (2000 passed)
--
-- What to look for with `--trace f.db`: `vmcisim inspect f.db sql "SELECT time_ns, ctx,
-- kind, fields FROM events WHERE kind IN ('fault', 'fault_rate', 'vm_suspend', 'vm_resume',
-- 'vm_vmotion', 'vm_power_off', 'vm_power_on', 'proc_kill')"`: every arrival (its rate, the
-- VM and for kill the process it picked, the drawn `back_ns`), what it did, and at the end
-- each rate's arrivals and applied count; the run summary prints the same counts.
-- seeds: 1-50
local sim = require("vmcisim")

local MS = sim.ms(1)
local w = sim.world{ product = "esxi-6.5", faults = {
  sites = {}, suspend = 20, vmotion = 20, power_cycle = 10, kill = 20,
  suspend_ns = { 1 * MS, 30 * MS }, power_off_ns = { 1 * MS, 30 * MS },
} }
local GUESTS, SESSIONS, BYTES, PORT = 4, 12, 4096, 7000

w:host():spawn("echo", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(16))
  while true do
    local conn = listener:accept()
    if conn then
      w:host():spawn("echo_conn", function()
        while true do
          local data = conn:recv(BYTES)
          if data == nil or #data == 0 then break end
          if not conn:send(data) then break end
        end
        conn:close()
      end, { daemon = true })
    end
  end
end, { daemon = true })

local vms, clients = {}, {}
local done = {}                     -- sessions completed per guest
local stats = { broken = 0, respawns = 0 }

-- One session; true when the whole echo came back. Every byte read is checked.
local function session(p, g, n)
  local s = p:socket("stream")
  if not s then return false end
  if not s:connect(sim.CID_HOST, PORT) then s:close(); return false end
  local sent = sim.pattern(g * 1000 + n, 0, BYTES)
  local offset = 0
  while offset < BYTES do
    local count = s:send(sent:sub(offset + 1))
    if not count then s:close(); return false end
    offset = offset + count
  end
  local got = 0
  while got < BYTES do
    local data = s:recv(BYTES - got)
    if data == nil or #data == 0 then s:close(); return false end
    sim.expect(data == sent:sub(got + 1, got + #data),
               string.format("guest %d session %d: echo bytes %d.. differ", g, n, got))
    got = got + #data
  end
  s:close()
  return true
end

local function client(g)
  return function(p)
    while done[g] < SESSIONS do
      if session(p, g, done[g] + 1) then
        done[g] = done[g] + 1
      else
        stats.broken = stats.broken + 1
      end
      p:sleep(5 * MS)
    end
  end
end

for g = 1, GUESTS do
  vms[g] = w:vm{ name = "g" .. g }
  done[g] = 0
  clients[g] = vms[g]:spawn("client", client(g))
end

-- Respawns a client that is gone, once its guest runs again; ends when all are done.
w:host():spawn("watchdog", function(p)
  while true do
    local finished = 0
    for g = 1, GUESTS do
      if done[g] >= SESSIONS then
        finished = finished + 1
      else
        local state = clients[g]:state()
        local gone = state == "done" or state == "failed" or state == "killed"
        if gone and vms[g].state == "powered_on" then
          clients[g] = vms[g]:spawn("client", client(g))
          stats.respawns = stats.respawns + 1
        end
      end
    end
    if finished == GUESTS then return end
    p:sleep(2 * MS)
  end
end)

local result = w:run()
sim.expect(result.stopped == "idle", "the world ends idle: " .. result.stopped)
for g = 1, GUESTS do
  sim.expect(done[g] == SESSIONS, string.format("guest %d completed %d of %d sessions", g,
                                                done[g], SESSIONS))
  sim.expect(vms[g].state == "powered_on", vms[g].name .. " runs again: " .. vms[g].state)
end
sim.log("%d sessions broken and done again, %d clients respawned", stats.broken,
        stats.respawns)
