-- test_stream_poll_rcvlowat (vsock_test.c "SOCK_STREAM poll() + SO_RCVLOWAT"): with SO_RCVLOWAT = 128, poll() does not report POLLIN for 1 ready byte, reports exactly POLLIN|POLLRDNORM once 128 bytes are ready, and a MSG_DONTWAIT recv() then returns all 128 (D6, R132, R145, R120).
-- scenarios/conformance/vsock_test_stream_poll_rcvlowat.lua. Linux (RCVLOWAT_BUF_SIZE =
-- 128): the client sets SO_RCVLOWAT to 128; the server sends 1 byte (SRVSENT); the
-- client's poll(POLLIN|POLLRDNORM, 1 s) must return no event; after CLNSENT the server
-- sends the other 127 bytes one send() at a time; the client's poll (10 s) must then
-- return exactly POLLIN|POLLRDNORM, and recv(128, MSG_DONTWAIT) must return 128 bytes.
-- Here "r" is POLLIN|POLLRDNORM; "h" and "e" would be reported if set (they must not be).
-- Note: on VMCI the 127 later bytes send no WROTE (R176: only an enqueue into an empty
-- queue does), so the second poll may only see them when its 10 s timeout expires.
-- Ported with the server on the host and the client in a guest, and the other way round.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT
local LOWAT = 128                                    -- RCVLOWAT_BUF_SIZE

local function wait_until(p, cond, what)             -- the Linux test's control channel
  local deadline, step = w.now + sim.s(10), sim.us(10)   -- vsock_test's TIMEOUT
  while not cond() do
    if w.now >= deadline then error("timed out waiting for " .. what) end
    p:sleep(step)
    step = math.min(step * 2, sim.ms(1))
  end
end

local function run_case(server_ep, client_ep, port)
  local listening, srvsent, clnsent, polldone = false, false, false, false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    sim.expect(c:send("A") == 1, tag .. ": first byte sent")
    srvsent = true
    wait_until(p, function() return clnsent end, "CLNSENT")
    for _ = 1, LOWAT - 1 do assert(c:send("A") == 1) end
    wait_until(p, function() return polldone end, "POLLDONE")   -- keep the socket active
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    assert(s:setsockopt("rcvlowat", LOWAT))
    sim.expect(s:getsockopt("rcvlowat") == LOWAT, tag .. ": SO_RCVLOWAT reads back 128 (R145)")
    wait_until(p, function() return srvsent end, "SRVSENT")
    local started = w.now
    local ready = p:poll({ { s, "r" } }, sim.s(1))
    sim.expect(#ready == 0, tag .. ": 1 byte < SO_RCVLOWAT: no event within 1 s (D6, R132), got "
               .. (ready[1] and ready[1][2] or ""))
    sim.expect(w.now - started == sim.s(1), tag .. ": the poll ran to its timeout")
    clnsent = true
    -- Only the first byte sent a WROTE (qstate sends one only when the queue was empty,
    -- R176), so nothing need wake this poller before its timeout; as in Linux, the poll
    -- re-evaluates at the latest when it expires, and then 128 bytes are ready.
    ready = p:poll({ { s, "r" } }, sim.s(10))
    sim.expect(#ready == 1 and ready[1][2] == "r",
               tag .. ": 128 bytes ready: exactly POLLIN|POLLRDNORM (D6, R132), got "
               .. (ready[1] and ready[1][2] or "nothing"))
    local data, name = s:recv(LOWAT, "dontwait")
    sim.expect(data == string.rep("A", LOWAT),
               tag .. ": recv(128, MSG_DONTWAIT) returns all 128 bytes (R120), got "
               .. (data and #data or tostring(name)))
    polldone = true
    s:close()
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
