-- scenarios/vmci/queue_pair_stream.lua: a guest creates a queue pair with the host,
-- the host attaches, and 4 MiB stream through the rings in chunks (the bytes never
-- travel as datagrams). Both sides checksum what passed. A datagram handshake tells
-- the host the queue pair's handle, as vSockets' OFFER would.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local total = 4 * 1024 * 1024
local ring = 64 * 1024
local chunk = 16 * 1024
local seed = 42

guest:spawn("producer", function(p)
  local v = p:vmci()
  local dg = assert(v:datagram(1500))
  local qp = assert(v:queue_pair_alloc(sim.CID_HOST, ring, ring))
  local context, resource = qp:handle()
  assert(dg:send(sim.CID_HOST, 1500, string.pack("<I4I4", context, resource)))
  assert(dg:recv())                               -- the host attached
  local sent = 0
  while sent < total do
    local piece = sim.pattern(seed, sent, math.min(chunk, total - sent))
    local n, err = qp:enqueue(piece)
    if n then sent = sent + n else p:sleep(sim.us(1)) end
  end
  sim.log("sent %d bytes, checksum %s", sent, sim.checksum(sim.pattern(seed, 0, total)))
  dg:recv()                                       -- wait until the host has read everything
  assert(qp:detach())
end)

host:spawn("consumer", function(p)
  local v = p:vmci()
  local dg = assert(v:datagram(1500))
  local handle, cid, rid = dg:recv()
  local context, resource = string.unpack("<I4I4", handle)
  local qp = assert(v:queue_pair_attach(context, resource))
  assert(dg:send(cid, rid, "attached"))
  local parts, received = {}, 0
  while received < total do
    local bytes, err = qp:dequeue(chunk)
    if bytes then
      parts[#parts + 1] = bytes
      received = received + #bytes
    else
      p:sleep(sim.us(1))
    end
  end
  local data = table.concat(parts)
  sim.expect(#data == total, "every byte arrived")
  sim.expect(sim.checksum(data) == sim.checksum(sim.pattern(seed, 0, total)), "checksums match")
  sim.log("received %d bytes, checksum %s", #data, sim.checksum(data))
  assert(dg:send(cid, rid, "done"))
  assert(qp:detach())
end)
