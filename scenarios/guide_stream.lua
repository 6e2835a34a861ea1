-- scenarios/guide_stream.lua: the vSockets Programming Guide's stream example, as a
-- scenario. The guide's server (on the host) gets the address family with
-- VMCISock_GetAFValue(), binds to VMADDR_CID_ANY and a port, listens, accepts, and
-- echoes what the client sends; the guide's client (in a guest) connects to the
-- host's CID (2) and that port, sends a message and reads the echo.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1", os = "linux" }
local PORT = 15000

host:spawn("server", function(p)
  sim.expect(sim.AF_VSOCK == 40, "VMCISock_GetAFValue() is 40 (R2)")
  local listener = assert(p:socket("stream"))
  assert(listener:bind(sim.CID_ANY, PORT))
  assert(listener:listen(1))
  local conn, peer_cid, peer_port = assert(listener:accept())
  sim.log("accepted a connection from %d:%d", peer_cid, peer_port)
  local message = assert(conn:recv(1024))
  assert(conn:send(message))
  conn:close()
  listener:close()
end)

guest:spawn("client", function(p)
  sim.log("my CID is %d (VMCISock_GetLocalCID)", p:local_cid())
  local s = assert(p:socket("stream"))
  assert(s:connect(sim.CID_HOST, PORT))
  local cid, port = s:getsockname()
  sim.expect(cid == p:local_cid() and port == 1024, "bound by connect to our CID, port 1024")
  assert(s:send("Hello from the guest"))
  local echo = assert(s:recv(1024))
  sim.expect(echo == "Hello from the guest", "the server echoed the message")
  sim.expect(s:recv(1024) == "", "end of stream after the server closed")
  s:close()
end)
