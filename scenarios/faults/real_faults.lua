-- scenarios/faults/real_faults.lua: an application that copes with what a real VMware system
-- can do to it, under every `real` fault site (docs/faults.md) enabled from the seed.
--
-- `sim.world{ faults = { sites = "real" } }` lets each `real` site be enabled for this run
-- with probability 0.5 (drawn from the seed's "faults" stream) and fire at one reach in
-- twenty (`fire`, here raised to 0.1): late interrupts and routing, slow exits, hypercalls
-- and copies, queue pair allocations refused, a listener's backlog full, no free ephemeral
-- port, datagrams dropped by a full receive queue, a VM's or the host's datagram queue
-- full (which refuses stream control packets too), datagrams lost, spurious interrupts, a
-- guest's VMCI driver reloading once (its streams end early); in vSockets, an RST during
-- the handshake (a failed attach, a half-open expiry, a listener out of memory), a connect
-- answered too late, late SHUTDOWN and WROTE packets, short sends and receives, a slow
-- accept, datagrams to a guest refused with ENOBUFS. No `protocol` site is allowed: the
-- checks below would not survive a control packet lost.
--
-- Four guests each open a stream to a host echo service, send 16 KiB without waiting (a
-- send may come back short, R117, and the rest goes in the next one), shut down their
-- sending side and check the 16 KiB echoed byte for byte; a connect that fails as a real
-- system can make it fail (RETRIED below: a refused handshake, the quota, the port space, a
-- refused control packet, an answer too late) is retried after 1 ms, as a careful client
-- does, and a stream that ends early (the driver reloaded) is started over once what came
-- back is checked to be the start of what was sent. Each guest then sends 20 numbered
-- datagrams to a host echo port and resends any whose echo does not come back within 1 ms
-- or that a full queue refused. What it checks: every byte echoed in order,
-- every datagram echoed, the world ends idle, and the world invariants hold (checked at the
-- end of every run). It passes for every seed:
--   vmcisim sweep scenarios/faults/real_faults.lua --seeds 1-2000     (2000 passed)
--
-- What to look for with `--trace f.db`: `vmcisim inspect f.db sql "SELECT * FROM events
-- WHERE kind IN ('faults_enabled', 'fault', 'fault_site')"`: the sites this seed enabled,
-- every firing (site, class) and, at the end, each site's reached and fired counts; the run
-- summary prints the same counts.
-- seeds: 1-20
local sim = require("vmcisim")

local w = sim.world{ product = "esxi-6.5", faults = { sites = "real", fire = 0.1 } }
local GUESTS, STREAM_BYTES, DATAGRAMS = 4, 16384, 20
local STREAM_PORT, DGRAM_PORT = 7000, 7001
local done = { streams = 0, datagrams = 0, connect_retries = 0, resends = 0, clients = 0,
               stream_restarts = 0 }

w:host():spawn("echo", function(p)
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, STREAM_PORT))
  assert(listener:listen(GUESTS))
  assert(listener:setsockopt("rcvtimeo", sim.ms(50)))
  while done.clients < GUESTS do    -- one connection at a time: the others wait in backlog
    local conn = listener:accept()  -- nil after 50 ms without one
    while conn do
      local data = conn:recv(4096)  -- "" once the client closed, or its driver reloaded
      if data == nil or #data == 0 or not conn:send(data) then break end
    end
    if conn then conn:close() end
  end
  listener:close()
end)

w:host():spawn("dgram_echo", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, DGRAM_PORT))
  assert(s:setsockopt("rcvtimeo", sim.ms(50)))
  while true do                     -- ends once every client is done (a connect may take 2 s)
    local data, cid, port = s:recvfrom(64)
    if data == nil and done.clients == GUESTS then break end
    if data == nil then goto continue end
    local ok, err = s:sendto(data, cid, port)    -- a full queue refuses it: the client resends
    sim.expect(ok or err == "ENOBUFS" or err == "ENOMEM", "an echo fails only for resources")
    ::continue::
  end
end)

-- What a connect may fail with under `real` faults, and why (docs/faults.md).
local RETRIED = {
  ECONNRESET = true,    -- the listener's backlog full (RST), or a refused ATTACH / attach
  ECONNREFUSED = true,
  EADDRNOTAVAIL = true, -- no free ephemeral port
  ENOBUFS = true,       -- the queue pair quota, or the REQUEST refused by a full queue
  ENOMEM = true,        -- the host out of memory for a datagram or a queue pair
  EINVAL = true,        -- the OFFER refused by a full queue (Linux maps it twice: EINVAL)
  ETIMEDOUT = true,     -- the server's NEGOTIATE and its RST both refused, or the guest's
                        -- driver reloaded during the handshake: no answer
}

local function connect(p)
  while true do
    local s = assert(p:socket("stream"))
    local ok, err = s:connect(sim.CID_HOST, STREAM_PORT)
    if ok then return s end
    sim.expect(RETRIED[err], "a connect fails only as a real system can: " .. tostring(err))
    s:close()
    done.connect_retries = done.connect_retries + 1
    p:sleep(sim.ms(1))
  end
end

-- One attempt: the bytes echoed back, in order. A guest whose VMCI driver reloads
-- (device_reset, R209) sees its stream end early (EOF, or EPIPE on send): what came back
-- must still be the start of what was sent, and the client starts over.
local function stream_attempt(p, sent)
  local s = connect(p)
  local offset = 0
  while offset < #sent do           -- a send that may not wait can be short (R117): go on
    local count, err = s:send(sent:sub(offset + 1), "dontwait")
    if count then offset = offset + count
    elseif err == "EAGAIN" then p:sleep(sim.us(10))
    else break end                  -- EPIPE: the driver reloaded, the stream is gone
  end
  if offset == #sent then s:shutdown("w") end   -- the echo's EOF; the echo stays readable
  local got, total = {}, 0
  while total < #sent do
    local data = s:recv(#sent)
    if data == nil or #data == 0 then break end
    got[#got + 1] = data
    total = total + #data
  end
  s:close()
  return table.concat(got)
end

local function stream_exchange(p, g)
  local sent = sim.pattern(g, 0, STREAM_BYTES)
  while true do
    local echoed = stream_attempt(p, sent)
    sim.expect(echoed == sent:sub(1, #echoed), "guest " .. g .. ": every byte echoed in order")
    if #echoed == #sent then break end
    done.stream_restarts = done.stream_restarts + 1
    p:sleep(sim.ms(1))
  end
  done.streams = done.streams + 1
end

local function dgram_exchange(p, g)
  local s = assert(p:socket("dgram"))
  assert(s:setsockopt("rcvtimeo", sim.ms(1)))
  local echoed = {}
  for i = 1, DATAGRAMS do
    local text = g .. ":" .. i
    while not echoed[text] do
      local ok, err = s:sendto(text, sim.CID_HOST, DGRAM_PORT)
      sim.expect(ok or err == "ENOBUFS" or err == "ENOMEM",
                 "a datagram is refused only for resources: " .. tostring(err))
      local data = s:recvfrom(64)
      if data ~= nil then echoed[data] = true else done.resends = done.resends + 1 end
    end
  end
  done.datagrams = done.datagrams + DATAGRAMS
  s:close()
end

for g = 1, GUESTS do
  w:vm{ name = "guest" .. g }:spawn("client", function(p)
    p:sleep(sim.us(200))
    stream_exchange(p, g)
    dgram_exchange(p, g)
    done.clients = done.clients + 1
  end)
end

local result = w:run()
sim.log("streams %d (%d restarted), datagrams %d, connect retries %d, datagram resends %d",
        done.streams, done.stream_restarts, done.datagrams, done.connect_retries, done.resends)
sim.expect(result.stopped == "idle", "the world ends idle: " .. result.stopped)
sim.expect(done.streams == GUESTS, "every stream exchange completed")
sim.expect(done.datagrams == GUESTS * DATAGRAMS, "every datagram echoed")
