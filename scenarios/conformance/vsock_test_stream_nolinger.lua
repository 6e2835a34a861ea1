-- test_stream_nolinger (vsock_test.c "SOCK_STREAM SO_LINGER close() on unread"): close() returns at once even though the byte just sent is still unread by the peer; VMCI never lingers (R126, R222, R146).
-- scenarios/conformance/vsock_test_stream_nolinger.lua. Linux: the client connects,
-- enables SO_LINGER with LINGER_TIMEOUT (TIMEOUT / 2 = 5 s), sends one byte that the
-- server never reads, waits until SIOCOUTQ reports it sent, and times close(): it must
-- take less than LINGER_TIMEOUT; then it writes DONE and the server closes.
-- SO_LINGER is set and, as R146 says, changes nothing. There is no SIOCOUTQ; the byte is in the peer's consume queue as soon as send() returns (a queue
-- pair is shared memory, R123), so nothing is left to wait for. The check is the one
-- that matters: close() with unread data at the peer does not wait (R126; Guide vs Linux,
-- R222) -- here it must not even take 1 ms of simulated time.
-- Ported with the server on the host and the client in a guest, and the other way round.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT
local LINGER_TIMEOUT = sim.s(5)                      -- TIMEOUT / 2

local function wait_until(p, cond, what)             -- the Linux test's control channel
  local deadline, step = w.now + sim.s(10), sim.us(10)   -- vsock_test's TIMEOUT
  while not cond() do
    if w.now >= deadline then error("timed out waiting for " .. what) end
    p:sleep(step)
    step = math.min(step * 2, sim.ms(1))
  end
end

local function run_case(server_ep, client_ep, port)
  local listening, done = false, false
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local l = assert(p:socket("stream"))             -- vsock_stream_accept()
    assert(l:bind(sim.CID_ANY, port))
    assert(l:listen(1))
    listening = true
    local c = assert(l:accept())
    l:close()
    wait_until(p, function() return done end, "DONE")
    c:close()
  end)
  client_ep:spawn("client", function(p)
    wait_until(p, function() return listening end, "LISTENING")
    local s = assert(p:socket("stream"))
    assert(s:connect(server_ep.cid, port))
    assert(s:setsockopt("linger", LINGER_TIMEOUT))  -- accepted and ignored (R146)
    sim.expect(s:send("A") == 1, tag .. ": one byte sent, left unread by the server")
    local started = w.now
    s:close()
    local took = w.now - started
    sim.expect(took < LINGER_TIMEOUT, tag .. ": close is shorter than LINGER_TIMEOUT: " .. took .. " ns")
    sim.expect(took < sim.ms(1), tag .. ": close does not wait at all (R126): " .. took .. " ns")
    done = true                                      -- control_writeln("DONE")
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
