-- scenarios/security/rst_from_other_guest.lua: a hazard the model reproduces faithfully.
-- A restricted guest ("mallory", the default: VMs are restricted unless vmci0.unrestricted
-- says otherwise) ends a host process's stream to another guest ("alice") by sending one
-- RST control packet to the host's ephemeral port. The VMCI transport looks a control
-- packet up by (source, destination) among connected sockets and, when none matches, by
-- destination among bound sockets (R149, Linux vmci_transport_recv_stream_cb); the host's
-- client socket is still bound to its port, and an RST in the established state is taken
-- as a clean shutdown without comparing its source with the peer (R170, Linux
-- vmci_transport_recv_connected). The host socket is trusted (D1), so R153 lets the
-- restricted sender's packet through.
-- The port is easy to guess here because every stack's first ephemeral stream port is 1024
-- (R14 with D13); Linux starts its counter at a random value above 1023, so on a real
-- system the attacker must also guess the port (and the host must not be talking to it).
-- The guest needs its own kernel to do this: the packet goes out through its VMCI device
-- (DATA_OUT) with source {mallory, 1}, as its vSockets stack's packets do (R22, R37).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local alice = w:vm{ name = "alice" }
local mallory = w:vm{ name = "mallory" }
local PORT = 5000
local outcome = {}
local listening = false

alice:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, PORT)); assert(l:listen(1))
  listening = true
  local c = assert(l:accept())
  sim.expect(assert(c:recv(4)) == "ping", "alice reads the host's first message")
  assert(c:send("pong"))
  p:sleep(sim.us(1500))                     -- after mallory's RST, before the host closes
  outcome.alice_state = c:state()
  local eof = c:recv(100)                   -- the host's close reaches her as a detach
  sim.expect(eof == "", "alice reads end of stream once the host closed: " .. tostring(eof))
  c:close(); l:close()
end)

host:spawn("client", function(p)
  while not listening do p:sleep(sim.us(10)) end  -- alice starts once her driver loaded (D4)
  local s = assert(p:socket("stream"))
  assert(s:connect(alice.cid, PORT))
  local _, port = s:getsockname()
  outcome.host_port = port
  assert(s:send("ping"))
  sim.expect(assert(s:recv(4)) == "pong", "the host reads alice's answer")
  p:sleep(sim.ms(2))                        -- mallory's RST comes at 1 ms
  outcome.eof = s:recv(100)
  local ok, name = s:send("still there?")
  outcome.send_error = ok == nil and name or "sent"
  s:close()
end)

-- Mallory's kernel writes one control packet to its device: a datagram {2, 1} <- {mallory, 1}
-- whose 32-byte payload is an RST (version 1, type 7) to the host's port 1024.
w:at(sim.ms(1), function()
  local header = string.pack("<I4I4I4I4I8", sim.CID_HOST, 1, mallory.cid, 1, 32)
  local rst = string.pack("<BBI2I4I4I4I8I8", 1, 7, 0, 4242, 1024, 0, 0, 0)
  local result = mallory:device():write_datagram_raw(header .. rst)
  sim.expect(result == 56, "the hypervisor accepts mallory's packet (R55): " .. result)
end)

w:run()
sim.expect(outcome.host_port == 1024, "the host's first ephemeral port is 1024 (R14, D13): "
           .. tostring(outcome.host_port))
sim.expect(outcome.eof == "", "the host reads end of stream: mallory's RST ended the "
           .. "connection to alice (R149, R170): " .. tostring(outcome.eof))
sim.expect(outcome.send_error == "EPIPE", "and its send fails with EPIPE: "
           .. tostring(outcome.send_error))
sim.expect(outcome.alice_state == "connected", "alice saw nothing of the RST: her socket "
           .. "was still connected: " .. tostring(outcome.alice_state))
