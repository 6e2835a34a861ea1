-- scenarios/guide_dgram.lua: the vSockets Programming Guide's datagram example, as a
-- scenario. The guide's server (here in a guest) creates a SOCK_DGRAM socket, binds it to
-- VMADDR_CID_ANY and VMADDR_PORT_ANY, prints the port getsockname() chose, and answers
-- each datagram with recvfrom()/sendto(); the guide's client (here on the host) sends to
-- the server's CID and port with sendto() and reads the answer with recvfrom(). There is
-- no connection: every sendto() is one VMCI datagram {src = our CID:port, dst = theirs}.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1", os = "linux" }
local server_port = nil                       -- what the guide's server prints

guest:spawn("server", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, sim.PORT_ANY))   -- the port is a VMCI resource ID (R15)
  local cid, port = s:getsockname()
  sim.log("server (cid, port): %d:%d", cid, port)
  server_port = port
  for _ = 1, 2 do
    local data, from_cid, from_port = assert(s:recvfrom(4096))
    sim.log("received %q from %d:%d", data, from_cid, from_port)
    assert(s:sendto(string.upper(data), from_cid, from_port))
  end
  s:close()
end)

host:spawn("client", function(p)
  while server_port == nil do p:sleep(sim.us(10)) end   -- the guide's user copies the port
  local s = assert(p:socket("dgram"))
  for _, message in ipairs({ "hello", "world" }) do
    local sent = assert(s:sendto(message, guest.cid, server_port))   -- auto-binds (R19)
    sim.expect(sent == #message, "sendto returns the payload length (R185)")
    local answer, cid, port = assert(s:recvfrom(4096))
    sim.expect(answer == string.upper(message), "the server answered " .. message)
    sim.expect(cid == guest.cid and port == server_port, "the answer comes from the server")
  end
  s:close()
end)
