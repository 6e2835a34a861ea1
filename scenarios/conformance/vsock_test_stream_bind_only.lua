-- test_stream_bind_only (vsock_test.c "SOCK_STREAM bind only"): connect() to a port that is bound but not listening fails with ECONNRESET (R172, R212).
-- scenarios/conformance/vsock_test_stream_bind_only.lua. The Linux server binds
-- VMADDR_CID_ANY:port without listen() and waits; the client's connect must fail. On VMCI
-- the REQUEST reaches the bound socket in TCP_CLOSE, which answers RST (R172), so the
-- client gets ECONNRESET. Ported with the server on the host and the client in a guest
-- (vsock_test's documented setup), then the other way round on a second port.
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
  local bound, done = false, false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local s = assert(p:socket("stream"))
    assert(s:bind(sim.CID_ANY, port))
    bound = true                                     -- control_writeln("BIND")
    wait_until(p, function() return done end, "DONE")
    sim.expect(s:state() == "unconnected", tag .. ": the bound socket is untouched: " .. s:state())
    s:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return bound end, "BIND")
    local s = assert(p:socket("stream"))
    local ok, name = s:connect(server_ep.cid, port)
    sim.expect(ok == nil and name == "ECONNRESET",
               tag .. ": connect to a bound, non-listening port gives ECONNRESET (R172), got "
               .. tostring(name))
    done = true                                      -- control_writeln("DONE")
    s:close()
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
