-- test_stream_shutwr (vsock_test.c "SOCK_STREAM SHUT_WR"): after shutdown(SHUT_WR) a send() fails with EPIPE, with or without MSG_NOSIGNAL; vmcisim has no signals, so "SIGPIPE raised" becomes "send returns EPIPE and the process goes on" (R116, R118, D11).
-- scenarios/conformance/vsock_test_stream_shutwr.lua. Linux: the client connects,
-- calls shutdown(SHUT_WR) and then test_stream_check_sigpipe(): send() in a loop (10 ms
-- apart) until it fails, expecting EPIPE plus SIGPIPE, then again with MSG_NOSIGNAL,
-- expecting EPIPE and no signal. Here both loops expect EPIPE; the local SEND_SHUTDOWN is
-- checked before anything else in send (R116), so the very first attempt already fails.
-- The server also sees the peer's SHUTDOWN packet (R174, R169) as end of stream (R121).
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
  local listening, clientdone = false, false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    sim.expect(c:recv(1) == "", tag .. ": the peer's SHUT_WR reads as end of stream (R169, R121)")
    local ready = p:poll({ { c, "rw" } }, 0)
    sim.expect(#ready == 1 and ready[1][2] == "rw", tag .. ": the server polls readable (peer SEND_SHUTDOWN, "
               .. "R132) and writable (R133), got " .. (ready[1] and ready[1][2] or "nothing"))
    wait_until(p, function() return clientdone end, "CLIENTDONE")
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    assert(s:shutdown("w"))
    local ready = p:poll({ { s, "rw" } }, 0)
    sim.expect(#ready == 0, tag .. ": after SHUT_WR: not writable (R133), not readable, no hang-up (R131), got "
               .. (ready[1] and ready[1][2] or "nothing"))
    local pcid, pname = s:getpeername()
    sim.expect(pcid == nil and pname == "ENOTCONN", tag .. ": getpeername after shutdown: ENOTCONN (R125), got "
               .. tostring(pname))
    local name, attempts = send_until_failure(p, s)
    sim.expect(name == "EPIPE", tag .. ": send after SHUT_WR gives EPIPE (R116, D11), got " .. name)
    sim.expect(attempts == 1, tag .. ": at the first attempt: " .. attempts)
    -- The MSG_NOSIGNAL round: without signals (D11) it is the same call.
    name = send_until_failure(p, s)
    sim.expect(name == "EPIPE", tag .. ": and again (MSG_NOSIGNAL round): " .. name)
    sim.expect(p:state() == "running", tag .. ": the process was not killed (D11)")
    clientdone = true
    s:close()
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
