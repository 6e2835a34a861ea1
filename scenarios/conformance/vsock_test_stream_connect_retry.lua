-- test_stream_connect_retry (vsock_test.c "SOCK_STREAM retry failed connect()"): a socket whose connect() failed may connect() again and succeed once the peer listens (R112, R168, R19).
-- scenarios/conformance/vsock_test_stream_connect_retry.lua. Linux: the client's first
-- connect() must fail (nobody listens yet), then it asks the server to LISTEN and
-- connects the same socket again, which must succeed; the server accepts and waits for
-- the remote close. On VMCI the first attempt is answered with RST, so it fails with
-- ECONNRESET (R168, R212); the socket returns to unconnected with its error cleared
-- (R112), keeps the port its first connect auto-bound (R19), and the second connect()
-- establishes a connection from that port.
-- Ported with the server on the host and the client in a guest, and the other way round.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT

local function wait_until(p, cond, what)             -- the Linux test's control channel
  local deadline, step = w.now + sim.s(10), sim.us(10)   -- vsock_test's TIMEOUT
  while not cond() do
    if w.now >= deadline then error("timed out waiting for " .. what) end
    p:sleep(step)
    step = math.min(step * 2, sim.ms(1))
  end
end

local function run_case(server_ep, client_ep, port)
  local started, listen, listening, client_port = false, false, false, nil
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    started = true          -- vsock_test's run_tests() barrier: both sides run (a guest's once its driver is up, D4)
    wait_until(p, function() return listen end, "LISTEN")
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c, peer_cid, peer_port = assert(l:accept())
    l:close()
    sim.expect(peer_cid == client_ep.cid and peer_port == client_port,
               tag .. ": the connection comes from the port the first connect bound")
    wait_until(p, function() return c:state() ~= "connected" end, "the remote close")
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return started end, "the server side")
    local s = assert(p:socket("stream"))
    local ok, name = s:connect(server_ep.cid, port)
    sim.expect(ok == nil and name == "ECONNRESET",
               tag .. ": connect #1 fails with ECONNRESET (R168, R212), got " .. tostring(name))
    sim.expect(s:state() == "unconnected", tag .. ": unconnected after the failure (R112): " .. s:state())
    sim.expect(s:getsockopt("error") == nil, tag .. ": no error left pending (R112)")
    local cid
    cid, client_port = s:getsockname()
    sim.expect(client_port ~= sim.PORT_ANY, tag .. ": connect #1 auto-bound the socket (R19)")
    listen = true                                    -- control_writeln("LISTEN")
    wait_until(p, function() return listening end, "LISTENING")
    ok, name = s:connect(server_ep.cid, port)
    sim.expect(ok == true, tag .. ": connect #2 on the same socket succeeds (R112), got " .. tostring(name))
    sim.expect(s:state() == "connected", tag .. ": connected: " .. s:state())
    local _, port_after = s:getsockname()
    sim.expect(port_after == client_port, tag .. ": still the same local port")
    s:close()
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
