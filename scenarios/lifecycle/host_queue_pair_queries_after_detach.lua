-- scenarios/lifecycle/host_queue_pair_queries_after_detach.lua: what the host's qp:ready() and
-- qp:free_space() report once the guest's side of the guest's queue pair is gone (D20, R97,
-- R89). The pages were the guest's: the host can no longer read the headers, so both queries
-- answer 0, as Linux's vmci_qpair_consume_buf_ready / vmci_qpair_produce_free_space do when
-- qp_get_queue_headers finds neither mapped nor saved headers (a guest detach resets the saved
-- ones), consistent with the host's dequeue and enqueue failing with NOT_READY. The guest's
-- own side (it owns the pages) keeps its counts after the host detaches (R97).
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local host_counted, guest_detached, host_detached = false, false, false

guest:spawn("guest", function(p)
  local v = p:vmci()
  local dg = assert(v:datagram(1500))
  local qp = assert(v:queue_pair_alloc(sim.CID_HOST, 4096, 1024))
  local context, resource = qp:handle()
  assert(dg:send(sim.CID_HOST, 1500, string.pack("<I4I4", context, resource)))
  sim.expect(qp:enqueue("twelve bytes") == 12, "the guest writes 12 bytes")
  while not host_counted do p:sleep(sim.us(10)) end
  sim.expect(qp:ready() == 5, "the guest sees the host's 5 bytes")
  sim.expect(qp:detach() == true, "the guest detaches first")
  guest_detached = true
  -- A second pair, where the host detaches first: the guest keeps its counts.
  local qp2 = assert(v:queue_pair_alloc(sim.CID_HOST, 2048, 512))
  context, resource = qp2:handle()
  assert(dg:send(sim.CID_HOST, 1500, string.pack("<I4I4", context, resource)))
  sim.expect(qp2:enqueue("abc") == 3, "the guest writes 3 bytes into the second pair")
  while not host_detached do p:sleep(sim.us(10)) end
  sim.expect(qp2:ready() == 7, "R97: the guest still sees the 7 bytes the host wrote: "
             .. tostring(qp2:ready()))
  sim.expect(qp2:free_space() == 2047 - 3, "R97: the guest's free space keeps its count: "
             .. tostring(qp2:free_space()))
  sim.expect(qp2:dequeue(100) == "seven b", "R97: and reads them")
  sim.expect(qp2:detach() == true, "the guest's side detaches")
end)

host:spawn("host", function(p)
  local v = p:vmci()
  local dg = assert(v:datagram(1500))
  local context, resource = string.unpack("<I4I4", (dg:recv()))
  local qp = assert(v:queue_pair_attach(context, resource))
  sim.expect(qp:enqueue("hello") == 5, "the host writes 5 bytes")
  while qp:ready() < 12 do p:sleep(sim.us(10)) end
  sim.expect(qp:free_space() == 1023 - 5, "before the detach: the host's free space counts")
  host_counted = true
  while not guest_detached do p:sleep(sim.us(10)) end
  sim.expect(qp:ready() == 0, "D20: no ready bytes once the guest's side is gone: "
             .. tostring(qp:ready()))
  sim.expect(qp:free_space() == 0, "D20: no free space once the guest's side is gone: "
             .. tostring(qp:free_space()))
  local bytes, name = qp:dequeue(100)
  sim.expect(bytes == nil and name == "VMCI_ERROR_QUEUEPAIR_NOT_READY",
             "D20: and the dequeue fails: " .. tostring(name))
  sim.expect(qp:detach() == true, "the host's side still detaches")

  context, resource = string.unpack("<I4I4", (dg:recv()))
  local qp2 = assert(v:queue_pair_attach(context, resource))
  sim.expect(qp2:enqueue("seven b") == 7, "the host writes 7 bytes into the second pair")
  while qp2:ready() < 3 do p:sleep(sim.us(10)) end
  sim.expect(qp2:detach() == true, "the host detaches first")
  host_detached = true
end)
