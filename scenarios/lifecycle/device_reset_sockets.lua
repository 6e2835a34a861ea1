-- scenarios/lifecycle/device_reset_sockets.lua: vm:reset_device() ends the guest's own
-- stream connections too, and the guest works again afterwards.
--   R34, R209: the reset detaches the guest's queue pairs; the host peer reads EOF, then
--              send gives EPIPE (R171, R220).
--   R209 (as R171 on the guest side): the guest socket still reads what its consume queue
--              held ("hello"), then "" (EOF); send gives EPIPE, never EIO.
--   D4: the driver runs its bring-up again, as after a reload: a new connect and a new
--       datagram from the guest reach the host.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local got = { old_eof = false, old_epipe = false, new_stream = false, new_dgram = false }

host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 4100)); assert(l:listen(2))
  local c = assert(l:accept())
  sim.expect(assert(c:recv(5)) == "12345", "data before the reset arrives")
  assert(c:send("hello"))                   -- left unread in the guest until after the reset
  local eof = c:recv(100)
  sim.expect(eof == "", "host: end of stream after the guest's device reset: " .. tostring(eof))
  local ok, name = c:send("anyone?")
  sim.expect(ok == nil and name == "EPIPE", "host: send after the detach: " .. tostring(name))
  local again = assert(l:accept())          -- D4: the guest connects again after the reload
  sim.expect(assert(again:recv(5)) == "again", "host: data on the new connection")
  got.new_stream = true
  again:close(); c:close(); l:close()
end)

host:spawn("datagrams", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 4200))
  local data = assert(s:recv(100))
  sim.expect(data == "after reset", "host: datagram from the guest after the reset: " .. data)
  got.new_dgram = true
  s:close()
end)

guest:spawn("client", function(p)
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, 4100))
  assert(s:send("12345"))
  p:sleep(sim.ms(2))                        -- the reset happens at 1 ms
  local kept = s:recv(100)
  sim.expect(kept == "hello", "guest: unread bytes stay readable after the reset (R209, "
             .. "R171): " .. tostring(kept))
  local eof = s:recv(100)
  sim.expect(eof == "", "guest: then end of stream, not a block: " .. tostring(eof))
  got.old_eof = eof == ""
  local ok, name = s:send("late")
  sim.expect(ok == nil and name == "EPIPE", "guest: send after the reset gives EPIPE, not EIO: "
             .. tostring(name))
  got.old_epipe = name == "EPIPE"
  s:close()
  local fresh = assert(p:socket("stream"))
  local connected, why = fresh:connect(sim.CID_HOST, 4100)
  sim.expect(connected, "guest: a new connect after the reset works: " .. tostring(why))
  assert(fresh:send("again"))
  local d = assert(p:socket("dgram"))
  local sent, dgram_why = d:sendto("after reset", sim.CID_HOST, 4200)
  sim.expect(sent, "guest: a datagram after the reset is accepted: " .. tostring(dgram_why))
  p:sleep(sim.ms(1))
  fresh:close(); d:close()
end)

w:at(sim.ms(1), function() guest:reset_device() end)
w:run()
for what, seen in pairs(got) do
  sim.expect(seen, "reached: " .. what)
end
