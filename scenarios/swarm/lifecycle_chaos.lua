-- scenarios/swarm/lifecycle_chaos.lua: suspend, resume, vMotion, power cycles, FT, freezes, device
-- resets and killed processes during stream transfers, all drawn from the seed.
--
-- What it does: on esxi-6.5 (vMotion and FT exist only on ESX/ESXi) with jitter on, 3-5 guests each
-- run a worker that must complete 6-12 transfers (a random pause after each) to a host service:
-- connect (connect_timeout 50 ms), send an 8-byte header naming the transfer then a random-length
-- pattern (up to 48 KiB) in writes of random sizes, shut down its writing side, and read the
-- server's answer (the checksum and length of what the server read) until the end of the stream
-- (waiting at most 500 ms: a SHUTDOWN refused by a full queue never arrives, see attempt()).
-- Any error (EPIPE, ECONNRESET, EPERM under FT, a timeout, a cut answer) makes it close and try a
-- new transfer. Meanwhile 16-32 chaos actions at random times in the first 6 ms of simulated time
-- hit random guests (w:at callbacks; the `real` fault sites of `sim.world{ faults }` fire too): suspend
-- then resume later, vMotion, FT on then off later, freeze then thaw later, device reset, power-off
-- then power-on later (the worker is started again), and killing the worker (started again at
-- once). An action that comes due for a guest that is not running, or is in the middle of
-- another action, is skipped; a guest whose driver is still loading (after a power-on or a device
-- reset) refuses it (counted, not a failure).
--
-- What must hold, for every seed: the model cuts streams on purpose (a detach discards the host's
-- unread bytes, docs/sockets.md "What the model discards"), so the server checks that what it read
-- of each transfer is an exact prefix of what was sent (in order, no gap, no duplicate, never
-- more), and answers only a complete one; a client accepts an answer only if it is the exact
-- checksum of its bytes, and any part of an answer it got is a prefix of that; every worker
-- completes its transfers once the chaos is over; the run ends idle and the world invariants hold
-- (docs/invariants.md).
--
-- Sweep it: vmcisim sweep scenarios/swarm/lifecycle_chaos.lua --seeds 1-10000 -j 8
-- In `vmcisim inspect RUN.db timeline` the vm_* events are the chaos; `inspect RUN.db errors` lists
-- each data_discarded (peer_detach) a cut made.
-- seeds: 1-3
local sim = require("vmcisim")
-- Faults (docs/faults.md): every `real` site (a worker retries whatever error a site causes); no
-- `protocol` site, whose lost packets no real host produces and a worker could wait on forever.
local w = sim.world{ product = "esxi-6.5", jitter = true, faults = { sites = "real" } }
local host = w:host()
local PORT = 7200
local CHAOS_END_NS = sim.ms(6)
local HEADER_BYTES = 8

local plans = {}        -- transfer id -> its length (registered before its first byte)
local next_id = 0
local counts = { actions = 0, refused = 0, cut = 0, answered = 0 }

local function transfer_bytes(id)
  return string.format("%08x", id) .. sim.pattern(id, 0, plans[id])
end

-- The server's check: `received` is an exact prefix of one transfer. Returns its id when the
-- transfer is complete.
local function check_received(received)
  if #received < HEADER_BYTES then
    sim.expect(received:match("^%x*$") ~= nil, "a cut header is a prefix of a header")
    return nil
  end
  local id = tonumber(received:sub(1, HEADER_BYTES), 16)
  if not sim.expect(id ~= nil and plans[id] ~= nil, "the header names a known transfer") then
    return nil
  end
  local sent = transfer_bytes(id)
  sim.expect(#received <= #sent and sent:sub(1, #received) == received,
             "transfer " .. id .. ": the server read an exact prefix of it (" .. #received ..
             " of " .. #sent .. " bytes)")
  if received == sent then return id end
  counts.cut = counts.cut + 1
  return nil
end

local function handle(conn)
  local parts = {}
  while true do
    local data = conn:recv(math.random(1, 8192))
    if not data or #data == 0 then break end
    parts[#parts + 1] = data
  end
  local received = table.concat(parts)
  if check_received(received) then
    conn:send(sim.checksum(received) .. string.format("%08x", #received))
  end
  conn:close()
end

host:spawn("server", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(64))
  while true do
    local conn = listener:accept()
    if conn then
      local handler = host:spawn("handler", function() handle(conn) end)
      assert(conn:give(handler))
    end
  end
end, { daemon = true })

-- One attempt at a transfer; true when the server's answer proved it complete.
local function attempt(p)
  local s = assert(p:socket("stream"))
  assert(s:setsockopt("connect_timeout", sim.ms(50)))
  if not s:connect(sim.CID_HOST, PORT) then s:close(); return false end
  next_id = next_id + 1
  local id = next_id
  plans[id] = math.random(0, 48 * 1024)
  local bytes, sent = transfer_bytes(id), 0
  while sent < #bytes do
    local size = math.min(#bytes - sent, math.random(1, 4096))
    local count = s:send(bytes:sub(sent + 1, sent + size))
    if not count then s:close(); return false end
    sent = sent + count
  end
  if not s:shutdown("w") then s:close(); return false end
  -- A SHUTDOWN refused by a full queue (a fault site) never reaches the server, and
  -- shutdown() does not say so (Linux ignores that send's result too): without a limit on
  -- the wait for the answer, a worker would wait forever. 500 ms is far more than the
  -- slowest answer the sites allow (a late accept or SHUTDOWN is at most 64 ms).
  assert(s:setsockopt("rcvtimeo", sim.ms(500)))
  local parts = {}
  while true do
    local data = s:recv(64)
    if not data or #data == 0 then break end
    parts[#parts + 1] = data
  end
  s:close()
  local answer = table.concat(parts)
  local expected = sim.checksum(bytes) .. string.format("%08x", #bytes)
  sim.expect(expected:sub(1, #answer) == answer,
             "transfer " .. id .. ": what came of the answer is a prefix of the right one")
  return answer == expected
end

local guests = {}
local function start_worker(g)
  local guest = guests[g]
  guest.worker = guest.vm:spawn("worker", function(p)
    while guest.completed < guest.transfers do
      if attempt(p) then
        guest.completed = guest.completed + 1
        counts.answered = counts.answered + 1
      end
      p:sleep(math.random(sim.us(10), sim.us(800)))   -- think time, spreads transfers
    end
  end)
end

for g = 1, math.random(3, 5) do
  guests[g] = { vm = w:vm{ name = "guest" .. g }, transfers = math.random(6, 12), completed = 0,
                busy = false }
  start_worker(g)
end

-- Runs `action` on a guest; a guest whose driver is still loading refuses (counted).
local function try(what, action)
  local ok, message = pcall(action)
  if ok then return true end
  local text = tostring(message)
  sim.expect(text:find("still powering on", 1, true) ~= nil or
             text:find("driver is not loaded", 1, true) ~= nil,
             what .. " refused for an unexpected reason: " .. tostring(message))
  counts.refused = counts.refused + 1
  return false
end

local function later(guest, undo)
  w:after(math.random(sim.us(50), sim.ms(2)), function()
    undo()
    guest.busy = false
  end)
end

local ACTIONS = {
  function(guest) if try("suspend", function() guest.vm:suspend() end) then
    guest.busy = true; later(guest, function() guest.vm:resume() end) end end,
  function(guest) try("vmotion", function() guest.vm:vmotion() end) end,
  function(guest) if try("ft", function() guest.vm:ft(true) end) then
    guest.busy = true; later(guest, function() guest.vm:ft(false) end) end end,
  function(guest) if try("freeze", function() guest.vm:freeze() end) then
    guest.busy = true; later(guest, function() guest.vm:thaw() end) end end,
  function(guest) try("reset_device", function() guest.vm:reset_device() end) end,
  function(guest) if try("power_off", function() guest.vm:power_off() end) then
    guest.busy = true
    later(guest, function() guest.vm:power_on(); start_worker(guest.index) end) end end,
  function(guest) guest.worker:kill(); start_worker(guest.index) end,
}

for g, guest in ipairs(guests) do guest.index = g end
for _ = 1, math.random(16, 32) do
  local g, a = math.random(#guests), math.random(#ACTIONS)
  w:at(math.random(sim.us(100), CHAOS_END_NS), function()
    local guest = guests[g]
    if guest.busy or guest.vm.state ~= "powered_on" then return end
    counts.actions = counts.actions + 1
    ACTIONS[a](guest)
  end)
end

local result = w:run()
sim.expect(result.stopped == "idle", "the run ends idle: " .. result.stopped)
for g, guest in ipairs(guests) do
  sim.expect(guest.completed == guest.transfers, "guest" .. g .. " completed " ..
             guest.completed .. " of " .. guest.transfers .. " transfers")
end
sim.log("%d chaos actions (%d refused), %d transfers answered, %d cut", counts.actions,
        counts.refused, counts.answered, counts.cut)
