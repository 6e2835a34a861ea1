-- scenarios/jitter_three_clients.lua: what `sim.world{ jitter = ... }` changes
-- (docs/cost-model.md, "Jitter").
--
-- Three guests, and on the host one echo server per guest (ports 6001-6003). Each guest's
-- client starts at the same instant, connects, sends 4 KiB in 1 KiB writes, reads the echo
-- back and checks it byte for byte. The three exchanges are the same work, so with constant
-- costs (`-- off`) they finish at the same nanosecond; with jitter (the default here, every
-- cost drawn within +-50 % from the seed's streams, and a seeded order among processes woken
-- at the same instant) they finish at three different nanoseconds, different for each seed
-- and the same for the same seed. The scenario checks whichever applies.
--
--   vmcisim run scenarios/jitter_three_clients.lua --seed 3            # jitter on
--   vmcisim run scenarios/jitter_three_clients.lua --seed 3 -- off     # constant costs
--
-- In `vmcisim inspect RUN.db connections` compare the three connections' end times; in
-- `inspect RUN.db timeline` the interrupt and datagram events are spread out with jitter and
-- in lock-step without.
local sim = require("vmcisim")

local jitter = arg[1] ~= "off"
local w = sim.world{ product = "esxi-6.5", jitter = jitter }
local CLIENTS = 3
local CHUNK_BYTES, CHUNKS = 1024, 4
local finished_ns = {}

for i = 1, CLIENTS do
  w:host():spawn("echo" .. i, function(p)
    local listener = assert(p:socket("stream"))
    assert(listener:bind(sim.CID_ANY, 6000 + i))
    assert(listener:listen(1))
    local conn = assert(listener:accept())
    local echoed = 0
    while echoed < CHUNK_BYTES * CHUNKS do
      local data = assert(conn:recv(CHUNK_BYTES * CHUNKS))
      sim.expect(#data > 0, "echo" .. i .. " got data before the end of the stream")
      if #data == 0 then break end
      assert(conn:send(data))
      echoed = echoed + #data
    end
    conn:close()
    listener:close()
  end)
end

for i = 1, CLIENTS do
  local guest = w:vm{ name = "guest" .. i }
  guest:spawn("client", function(p)
    p:sleep(sim.ms(1))            -- well after every server listens, the same instant for all
    local s = assert(p:socket("stream"))
    assert(s:connect(sim.CID_HOST, 6000 + i))
    local sent = {}
    for chunk = 1, CHUNKS do
      local bytes = sim.pattern(i, (chunk - 1) * CHUNK_BYTES, CHUNK_BYTES)
      sent[#sent + 1] = bytes
      assert(s:send(bytes))
    end
    local expected = table.concat(sent)
    local received = {}
    local total = 0
    while total < #expected do
      local data = assert(s:recv(#expected))
      if #data == 0 then break end
      received[#received + 1] = data
      total = total + #data
    end
    sim.expect(table.concat(received) == expected, "client " .. i .. " got its bytes back")
    s:close()
    finished_ns[i] = w.now
    sim.log("client %d finished at %d ns", i, w.now)
  end)
end

w:run()

for i = 1, CLIENTS do
  sim.expect(finished_ns[i] ~= nil, "client " .. i .. " finished")
end
if #finished_ns == CLIENTS then
  if jitter then
    sim.expect(finished_ns[1] ~= finished_ns[2] and finished_ns[2] ~= finished_ns[3] and
               finished_ns[1] ~= finished_ns[3],
               "with jitter the three clients finish at three different nanoseconds")
  else
    sim.expect(finished_ns[1] == finished_ns[2] and finished_ns[2] == finished_ns[3],
               "with constant costs the three clients finish at the same nanosecond")
  end
end
