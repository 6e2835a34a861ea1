-- scenarios/hello.lua: the default scenario (`make run`): what vmcisim is for, in one run.
--
-- An ESXi host and one guest VM. A service on the host listens on a vSockets stream port
-- and a datagram port; a client in the guest connects to the host (CID 2), sends a
-- request, reads the answer until the service closes, then sends one datagram and reads
-- the reply. Every byte crosses the simulated VMCI device and hypervisor: the trace holds
-- each register access, datagram and control packet. Simulated time only moves through
-- the costs of those operations, so the times logged below are the same on every machine.
--
-- The scenario checks itself: if any step fails, vmcisim reports it and exits 1.
local sim = require("vmcisim")

local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 5000                 -- the service's stream port and its datagram port
local finished = {}               -- which steps of the client completed

-- Simulated nanoseconds as microseconds, for the log.
local function us(ns) return string.format("%.3f µs", ns / 1000) end

host:spawn("service", function(p)
  local dgram = assert(p:socket("dgram"))
  assert(dgram:bind(sim.CID_ANY, PORT))      -- bound now, so the client's datagram finds it
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(1))
  sim.log("listening on stream port %d and datagram port %d", PORT, PORT)

  local conn, peer_cid, peer_port = assert(listener:accept())   -- blocks until a client
  sim.log("accepted a connection from %d:%d", peer_cid, peer_port)
  local request = assert(conn:recv(1024))
  sim.log("received %d bytes: %q", #request, request)
  assert(conn:send("pong: " .. request))
  conn:close()                               -- the client reads the end of the stream
  listener:close()

  local data, from_cid, from_port = assert(dgram:recvfrom(4096))
  sim.log("datagram of %d bytes from %d:%d", #data, from_cid, from_port)
  assert(dgram:sendto(string.upper(data), from_cid, from_port))
  dgram:close()
end)

-- Guest processes start once the guest's VMCI driver has loaded.
guest:spawn("client", function(p)
  sim.log("the guest's driver is up; my CID is %d", p:local_cid())
  local s = assert(p:socket("stream"))
  local started = w.now
  assert(s:connect(sim.CID_HOST, PORT))     -- binds a local port (1024) on the way
  sim.log("connected to the host's port %d in %s", PORT, us(w.now - started))

  started = w.now
  local sent = assert(s:send("ping"))
  local answer = assert(s:recv(1024))
  sim.log("sent %d bytes, got %q back after %s", sent, answer, us(w.now - started))
  sim.expect(answer == "pong: ping", "the service answered the request")
  sim.expect(s:recv(1024) == "", "end of stream once the service closed")
  s:close()
  sim.log("stream closed")
  finished.stream = true

  local d = assert(p:socket("dgram"))
  started = w.now
  assert(d:sendto("hello over a datagram", sim.CID_HOST, PORT))
  local reply, cid, port = assert(d:recvfrom(4096))
  sim.log("datagram reply %q from %d:%d after %s", reply, cid, port,
          us(w.now - started))
  sim.expect(reply == "HELLO OVER A DATAGRAM", "the service answered the datagram")
  d:close()
  finished.datagram = true
end)

local result = w:run()
local done = finished.stream and finished.datagram
sim.expect(done, "the client completed both exchanges")
sim.expect(result.stopped == "idle", "the world ran out of things to do")
if done then
  print(string.format("hello: both exchanges done at %s of simulated time, %d engine events",
                      us(result.now_ns), result.events))
end
