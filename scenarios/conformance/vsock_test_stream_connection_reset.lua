-- test_stream_connection_reset (vsock_test.c "SOCK_STREAM connection reset"): connect() to a port nobody is bound to fails with ECONNRESET (R168, R212), not ECONNREFUSED.
-- scenarios/conformance/vsock_test_stream_connection_reset.lua. The Linux case is
-- client-only: it connects to the peer's test port while the peer runs nothing there.
-- Ported in both directions (a guest to the host, the host to a guest): the receiving
-- stack answers the REQUEST with RST (R150), the blocking connect() returns ECONNRESET at
-- once (R157), and the socket is unconnected again afterwards (R112).
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT

local function client(p, peer_cid, who)
  local s = assert(p:socket("stream"))
  local started = w.now
  local ok, name, code = s:connect(peer_cid, PORT)
  sim.expect(ok == nil and name == "ECONNRESET" and code == 104,
             who .. ": connect to a port with no socket gives ECONNRESET (R168, R212), got "
             .. tostring(name))
  sim.expect(w.now - started < sim.ms(100), who .. ": the RST comes back at once, no timeout")
  sim.expect(s:state() == "unconnected", who .. ": unconnected after the failure (R112): "
             .. s:state())
  sim.expect(s:getsockopt("error") == nil, who .. ": the error was reported by connect, not left pending")
  local ready = p:poll({ { s, "rw" } }, 0)
  sim.expect(#ready == 1 and ready[1][2] == "w", who .. ": a failed connection polls writable only (R133, "
             .. "R135; the error was already returned), got " .. (ready[1] and ready[1][2] or "nothing"))
  s:close()
end

local guest_up = false                 -- guest processes start once its driver has loaded (D4)

guest:spawn("client_in_guest", function(p)
  guest_up = true
  client(p, sim.CID_HOST, "guest -> host")
end)

host:spawn("client_on_host", function(p)
  while not guest_up do p:sleep(sim.us(10)) end
  client(p, guest.cid, "host -> guest")
end)
