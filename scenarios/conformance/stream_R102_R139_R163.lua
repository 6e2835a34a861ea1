-- scenarios/conformance/stream_R102_R139_R163.lua: buffer sizes and inheritance.
-- R102: an accepted socket copies the listener's buffer sizes and connect timeout.
-- R163: the listener's child takes the client's proposed size only inside its own
--       [min, max]; otherwise its own buffer_size; so the connection's queue is that size.
-- R139: changing buffer_size on an established socket does not resize its queue pair.
-- R122: each direction then buffers exactly Q - 1 bytes before a writer would block.
local sim = require("vmcisim")
local w = sim.world{}
local host, guest = w:host(), w:vm{ name = "guest1" }
local accepted

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:setsockopt("buffer_max_size", 32768))
  assert(l:setsockopt("buffer_size", 32768))
  assert(l:setsockopt("connect_timeout", sim.ms(500)))
  assert(l:bind(sim.CID_ANY, 6100)); assert(l:listen(1))
  local c = assert(l:accept())
  accepted = c
  sim.expect(c:getsockopt("buffer_size") == 32768, "R102: buffer_size inherited")
  sim.expect(c:getsockopt("buffer_max_size") == 32768, "R102: buffer_max_size inherited")
  sim.expect(c:getsockopt("connect_timeout") == sim.ms(500), "R102: connect_timeout inherited")
  p:sleep(sim.ms(10))
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:setsockopt("buffer_size", 65536))      -- outside the listener's max: R163
  assert(s:connect(sim.CID_HOST, 6100))
  assert(s:setsockopt("buffer_size", 262144))     -- R139: no effect on this connection
  sim.expect(s:getsockopt("buffer_size") == 262144, "R139: the stored value is returned")
  s:setblocking(false)
  local sent = 0
  for _ = 1, 100 do
    local n = s:send(string.rep("z", 4096))
    if not n then break end
    sent = sent + n
  end
  sim.expect(sent == 32768 - 1, "R163/R139/R122: the queue holds Q - 1 = 32767 bytes: " .. sent)
  local ok, name = s:send("z")
  sim.expect(ok == nil and name == "EAGAIN", "full queue, non-blocking: EAGAIN (R117)")
end)
