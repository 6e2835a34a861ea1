-- test_stream_shutrd (vsock_test.c "SOCK_STREAM SHUT_RD"): once the peer has called shutdown(SHUT_RD), send() fails with EPIPE, with or without MSG_NOSIGNAL; vmcisim has no signals, so "SIGPIPE raised" becomes "send returns EPIPE and the process goes on" (R169, R116, R118, D11).
-- scenarios/conformance/vsock_test_stream_shutrd.lua. Linux: the server accepts and
-- calls shutdown(SHUT_RD) (SHUTRDDONE); the client runs test_stream_check_sigpipe():
-- send() every 10 ms until it fails (the SHUTDOWN packet may still be on its way), expecting
-- EPIPE plus SIGPIPE, then again with MSG_NOSIGNAL. On VMCI the server's shutdown sends a
-- SHUTDOWN packet with mode RCV (R124, R174); the client records it in peer_shutdown (R169)
-- and send() checks "peer RCV_SHUTDOWN -> EPIPE" (R116). The server's own recv() returns 0
-- at once after SHUT_RD (R119).
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

-- test_stream_check_sigpipe(), one loop: send "A" every 10 ms until it fails.
local function send_until_failure(p, s)
  local deadline, attempts = w.now + sim.s(10), 0
  while true do
    attempts = attempts + 1
    local ok, name = s:send("A")
    if ok == nil then return name, attempts end
    if w.now >= deadline then return "no failure", attempts end
    p:sleep(sim.ms(10))                              -- SEND_SLEEP_USEC
  end
end

local function run_case(server_ep, client_ep, port)
  local listening, shutrddone, clientdone = false, false, false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    assert(c:shutdown("r"))
    sim.expect(c:state() == "disconnecting", tag .. ": shut down for reading (6.1): " .. c:state())
    local ready = p:poll({ { c, "r" } }, 0)
    sim.expect(#ready == 1 and ready[1][2] == "r", tag .. ": RCV_SHUTDOWN polls readable (R132), got "
               .. (ready[1] and ready[1][2] or "nothing"))
    shutrddone = true
    local started = w.now
    sim.expect(c:recv(1) == "", tag .. ": the server's recv after SHUT_RD returns 0 (R119)")
    sim.expect(w.now - started < sim.ms(1), tag .. ": at once")
    wait_until(p, function() return clientdone end, "CLIENTDONE")
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    wait_until(p, function() return shutrddone end, "SHUTRDDONE")
    local name = send_until_failure(p, s)
    sim.expect(name == "EPIPE", tag .. ": send to a peer shut down for reading gives EPIPE (R116, D11), got "
               .. name)
    name = send_until_failure(p, s)                  -- the MSG_NOSIGNAL round (D11: same call)
    sim.expect(name == "EPIPE", tag .. ": and again (MSG_NOSIGNAL round): " .. name)
    sim.expect(p:state() == "running", tag .. ": the process was not killed (D11)")
    clientdone = true
    s:close()
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
