-- scenarios/networkless_guest.lua: a guest with no network at all that still works with
-- services on its host, over vSockets only. The VM "airgapped" has no virtual NIC
-- (`ethernet0.present = FALSE`: vmcisim simulates no IP anyway; the key records the intent)
-- and knows no address but CIDs: its own (VMCISock_GetLocalCID) and the host's, 2. Its agent:
--   1. fetches its configuration from the host's config service (stream, port 15000): asks
--      with "GET agent.conf", gets a length, the bytes and their checksum, and checks both;
--   2. sends a heartbeat datagram to the host's monitor (port 15002) every 10 ms, five times;
--      the monitor identifies the guest by the datagram's source CID, there is nothing else;
--   3. uploads 200 KiB of logs to the host's collector (stream, port 15001) and waits for the
--      collector's checksum of what it stored: it shuts its side down for writing and reads
--      until the collector closes, so no byte can be lost on close (docs/sockets.md, "the
--      close hazard");
--   4. tries a listener in a sibling VM, "neighbour": on ESXi 6.5 guests cannot talk to each
--      other (docs/reference/profiles.md), so the host is the only peer it has (EPERM).
-- The host services check who is calling: getpeername and the `peer_host_vm_id` option of
-- the accepted socket give the guest's CID, which is how a host service tells VMs apart.
--
-- What to look for with `vmcisim run scenarios/networkless_guest.lua --trace ng.db`:
--   vmcisim inspect ng.db vms           the two VMs and their CIDs (the only addresses here)
--   vmcisim inspect ng.db connections   airgapped -> host:15000 (the config, 48 KiB down) and
--                                       airgapped -> host:15001 (200 KiB up), both ended by
--                                       the host's close after the agent's shutdown
--   vmcisim inspect ng.db timeline --vm airgapped --layer api   the agent's calls in order
--   vmcisim inspect ng.db errors        the refused connect to the sibling VM: the router's
--                                       VMCI_ERROR_NO_ACCESS (rule R51), the REQUEST that could
--                                       not be sent, the EPERM; then the neighbour's accept
--                                       giving up (EAGAIN at its 100 ms rcvtimeo)
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "airgapped", vmx = { ["ethernet0.present"] = false } }
local neighbour = w:vm{ name = "neighbour" }
local CONFIG_PORT, LOG_PORT, MONITOR_PORT, NEIGHBOUR_PORT = 15000, 15001, 15002, 15003
local CONFIG = sim.pattern(15000, 0, 48 * 1024)
local LOG_BYTES, HEARTBEATS = 200 * 1024, 5

local function listener(p, port)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, port)); assert(l:listen(4))
  return l
end

-- The host checks that a connection comes from the guest it expects, by CID.
local function expect_caller(conn, what)
  local cid = conn:getpeername()
  sim.expect(cid == guest.cid, what .. ": the caller is airgapped's CID")
  sim.expect(conn:getsockopt("peer_host_vm_id") ~= nil, what .. ": the host knows the VM")
end

local function read_all(s)                 -- until the peer shuts down its side
  local parts = {}
  while true do
    local data = assert(s:recv(65536))
    if data == "" then return table.concat(parts) end
    parts[#parts + 1] = data
  end
end

host:spawn("config-service", function(p)
  local l = listener(p, CONFIG_PORT)
  local conn = assert(l:accept())
  expect_caller(conn, "config")
  local request = read_all(conn)
  sim.expect(request == "GET agent.conf", "a request for agent.conf: " .. request)
  assert(conn:send(string.pack(">I4", #CONFIG) .. CONFIG .. sim.checksum(CONFIG)))
  conn:close(); l:close()
end)

host:spawn("log-collector", function(p)
  local l = listener(p, LOG_PORT)
  local conn = assert(l:accept())
  expect_caller(conn, "logs")
  local stored = read_all(conn)
  sim.log("stored %d bytes of logs from cid %d", #stored, (conn:getpeername()))
  assert(conn:send(sim.checksum(stored)))
  conn:close(); l:close()
end)

host:spawn("monitor", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, MONITOR_PORT))
  for n = 1, HEARTBEATS do
    local data, cid = assert(s:recvfrom(64))
    sim.expect(cid == guest.cid and data == "alive " .. n, "heartbeat " .. n .. " from airgapped")
  end
  s:close()
end)

neighbour:spawn("service", function(p)
  local l = listener(p, NEIGHBOUR_PORT)
  assert(l:setsockopt("rcvtimeo", sim.ms(100)))
  sim.expect(l:accept() == nil, "no guest reaches the neighbour")
  l:close()
end)

guest:spawn("agent", function(p)
  sim.expect(p:local_cid() == guest.cid, "the guest's only address is its CID")
  sim.expect(guest:vmx("ethernet0.present") == "FALSE", "the guest has no network adapter")
  local heartbeat = p.endpoint:spawn("heartbeat", function(q)
    local s = assert(q:socket("dgram"))
    for n = 1, HEARTBEATS do
      assert(s:sendto("alive " .. n, sim.CID_HOST, MONITOR_PORT))
      q:sleep(sim.ms(10))
    end
    s:close()
  end)

  local config = assert(p:socket("stream"))
  assert(config:connect(sim.CID_HOST, CONFIG_PORT))
  assert(config:send("GET agent.conf")); assert(config:shutdown("w"))
  local answer = read_all(config)
  config:close()
  local length = string.unpack(">I4", answer)
  local body, checksum = answer:sub(5, 4 + length), answer:sub(5 + length)
  sim.expect(#body == #CONFIG and checksum == sim.checksum(body), "the config's checksum")
  sim.expect(body == CONFIG, "the config the host holds")

  local logs = sim.pattern(15001, 0, LOG_BYTES)
  local upload = assert(p:socket("stream"))
  assert(upload:connect(sim.CID_HOST, LOG_PORT))
  local sent = 0
  while sent < #logs do sent = sent + assert(upload:send(logs:sub(sent + 1))) end
  assert(upload:shutdown("w"))
  sim.expect(read_all(upload) == sim.checksum(logs), "the collector stored every log byte")
  upload:close()

  local sibling = assert(p:socket("stream"))
  local ok, err = sibling:connect(neighbour.cid, NEIGHBOUR_PORT)
  sim.expect(ok == nil and err == "EPERM", "no path to another guest: " .. tostring(err))
  sibling:close()
  p:join(heartbeat)
  sim.log("configured, logs shipped, %d heartbeats sent, over vSockets only", HEARTBEATS)
end)

local result = w:run()
sim.expect(result.stopped == "idle", "every service finished: " .. result.stopped)
