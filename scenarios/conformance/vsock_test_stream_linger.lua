-- test_stream_linger (vsock_test.c "SOCK_STREAM SO_LINGER null-ptr-deref"): close() of a connected socket that asked for SO_LINGER returns at once and the peer sees the remote close (R146, R126, R171).
-- scenarios/conformance/vsock_test_stream_linger.lua. Linux: the client connects, enables
-- SO_LINGER with a 1 s timeout and closes; the server waits for the remote close. The bug
-- it guards against was in exactly this path for VMCI: vsock_linger() called the
-- transport's unsent_bytes(), which VMCI does not provide. The reference makes SO_LINGER
-- accepted and ignored (R146) and close() never block or linger (R126, R222).
-- The option is accepted (s:setsockopt("linger", ...)) and changes nothing: the close
-- costs no waiting, and the peer sees the detach as a peer shutdown (R171).
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
  local listening = false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    wait_until(p, function() return c:state() ~= "connected" end, "the remote close")
    sim.expect(c:recv(1) == "", tag .. ": the remote close reads as end of stream (R171)")
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    assert(s:setsockopt("linger", sim.s(1)))       -- enable_so_linger(fd, 1): accepted (R146)
    local started = w.now
    s:close()
    sim.expect(w.now - started < sim.ms(1), tag .. ": close returns at once, no lingering (R126): "
               .. (w.now - started) .. " ns")
    sim.expect(s:state() == "closed", tag .. ": the socket is closed")
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
