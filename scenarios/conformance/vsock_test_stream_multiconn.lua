-- test_stream_multiconn (vsock_test.c "SOCK_STREAM multiple connections"): 100 stream connections are open at once between the two sides and each carries data (R108, R123).
-- scenarios/conformance/vsock_test_stream_multiconn.lua. Linux (MULTICONN_NFDS = 100,
-- "VMCI is able to support about 100 concurrent stream connections"): the server accepts
-- 100 connections one at a time (a fresh listener with backlog 1 for each, closed after
-- its accept), then on connection i sends one byte if i is odd and receives one if i is
-- even; the client does the opposite, then both close everything. 100 connections use
-- 100 queue pairs of 2 x 64 KiB (R101, R211), far below a VM's 128 MiB (Section 11).
-- Ported with the server on the host and the client in a guest, and the other way round.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1" }
local PORT = 1234                                    -- vsock_test's DEFAULT_PEER_PORT
local NFDS = 100                                     -- MULTICONN_NFDS

local function wait_until(p, cond, what)             -- the Linux test's control channel
  local deadline, step = w.now + sim.s(10), sim.us(10)   -- vsock_test's TIMEOUT
  while not cond() do
    if w.now >= deadline then error("timed out waiting for " .. what) end
    p:sleep(step)
    step = math.min(step * 2, sim.ms(1))
  end
end

local function run_case(server_ep, client_ep, port)
  local listening = 0                                -- how many LISTENING were written
  local tag = server_ep.name .. " server, " .. client_ep.name .. " client"
  server_ep:spawn("server", function(p)
    local conns = {}
    for i = 0, NFDS - 1 do
      local l = assert(p:socket("stream"))           -- vsock_stream_accept()
      assert(l:bind(sim.CID_ANY, port))
      assert(l:listen(1))
      listening = i + 1
      local c, peer_cid = assert(l:accept())
      sim.expect(peer_cid == client_ep.cid, tag .. ": accept " .. i .. " from the client")
      l:close()
      conns[i] = c
    end
    for i = 0, NFDS - 1 do
      if i % 2 == 1 then
        sim.expect(conns[i]:send("A") == 1, tag .. ": server sends on connection " .. i)
      else
        sim.expect(conns[i]:recv(1) == "A", tag .. ": server receives on connection " .. i)
      end
    end
    for i = 0, NFDS - 1 do conns[i]:close() end
  end)
  client_ep:spawn("client", function(p)
    local fds = {}
    for i = 0, NFDS - 1 do
      wait_until(p, function() return listening > i end, "LISTENING " .. i)
      local s = assert(p:socket("stream"))
      local ok, name = s:connect(server_ep.cid, port)
      sim.expect(ok == true, tag .. ": connection " .. i .. " is established, got " .. tostring(name))
      fds[i] = s
    end
    local open = 0
    for i = 0, NFDS - 1 do
      if fds[i]:state() == "connected" then open = open + 1 end
    end
    sim.expect(open == NFDS, tag .. ": all " .. NFDS .. " connections are open at once: " .. open)
    for i = 0, NFDS - 1 do
      if i % 2 == 1 then
        sim.expect(fds[i]:recv(1) == "A", tag .. ": client receives on connection " .. i)
      else
        sim.expect(fds[i]:send("A") == 1, tag .. ": client sends on connection " .. i)
      end
    end
    for i = 0, NFDS - 1 do fds[i]:close() end
  end)
end

run_case(host, guest, PORT)
run_case(guest, host, PORT + 1)
local result = w:run()
sim.expect(result.stopped == "idle" and #result.blocked == 0, "both sides finished: " .. result.stopped)
