-- scenarios/lifecycle/close_unread_hazard.lua: a hazard the model reproduces faithfully,
-- and its cure.
-- Hazard (R171, D20): a guest sends one byte and closes at once. Its close detaches the
--   queue pair; the host side of a queue pair has no memory once the guest's side is
--   gone, so the host reader, which had not read yet, gets "" (EOF) and the byte is lost.
--   The trace records it: transport `data_discarded` reason=peer_detach bytes=1 at the
--   host, and `vmcisim inspect FILE connections` says "lost 1 byte unread at guest1 close".
-- Cure: the sender says it is done with shutdown("w") and waits for the reader's EOF
--   (the reader closes once it has read everything) before closing its own socket.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local HAZARD, CURE = 4300, 4301
local done = 0

local function reader(port, expected, what)
  return function(p)
    local l = assert(p:socket("stream"))
    assert(l:bind(sim.CID_ANY, port)); assert(l:listen(1))
    local c = assert(l:accept())
    p:sleep(sim.ms(1))                      -- the reader is slow: the sender is done by now
    local data = c:recv(100)
    sim.expect(data == expected, what .. ": the host reads " .. string.format("%q", expected)
               .. ", got " .. string.format("%q", tostring(data)))
    c:close(); l:close()
    done = done + 1
  end
end

-- The hazard: the byte is lost, the host sees only EOF.
host:spawn("hazard_reader", reader(HAZARD, "", "hazard (send, close at once)"))
-- The cure: every byte arrives.
host:spawn("cure_reader", reader(CURE, "x", "cure (wait for the reader's EOF)"))

guest:spawn("hazard_sender", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, HAZARD))
  assert(s:send("x"))
  s:close()                                 -- at once: the unread byte goes with the pair
end)

guest:spawn("cure_sender", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, CURE))
  assert(s:send("x"))
  assert(s:shutdown("w"))                   -- "no more data from me"
  local eof = s:recv(1)                     -- blocks until the reader has closed
  sim.expect(eof == "", "cure: the sender sees the reader's EOF: " .. tostring(eof))
  s:close()
  done = done + 1
end)

w:run()
sim.expect(done == 3, "every reader and the cure's sender finished: " .. done)
