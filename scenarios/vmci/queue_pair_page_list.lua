-- scenarios/vmci/queue_pair_page_list.lua: the largest queue pair a guest can allocate is set
-- by its page list, not only by R77/R79's 128 MiB: the VMCI_QUEUEPAIR_ALLOC hypercall is one
-- datagram (R78) holding a 40-byte message and one PPN per page, each queue's header page
-- included, and a datagram is at most VMCI_MAX_DG_SIZE = 69632 bytes with its 24-byte header
-- (R52). With 64-bit PPNs (the device's PPN64 capability, on by default) that is
-- (69632 - 64) / 8 = 8696 pages: two queues of 4347 data pages (17805312 bytes) each. One
-- page more is VMCI_ERROR_NO_RESOURCES from the guest's driver (docs/limits.md).
local sim = require("vmcisim")
local w = sim.world{}
local guest = w:vm{ name = "guest1" }

guest:spawn("guest", function(p)
  local v = p:vmci()
  local largest = 4347 * 4096
  local qp, name = v:queue_pair_alloc(sim.CID_HOST, largest, largest)
  sim.expect(qp ~= nil, "two queues of 4347 pages fit one datagram: " .. tostring(name))
  if qp then qp:detach() end
  local none, error_name, code = v:queue_pair_alloc(sim.CID_HOST, largest + 1, largest)
  sim.expect(none == nil and error_name == "VMCI_ERROR_NO_RESOURCES" and code == -19,
             "one page more does not: " .. tostring(error_name))
  -- The split between the queues does not matter, only the pages in all.
  qp, name = v:queue_pair_alloc(sim.CID_HOST, (8696 - 3) * 4096, 4096)
  sim.expect(qp ~= nil, "8693 + 1 data pages fit as well: " .. tostring(name))
  if qp then qp:detach() end
  none, error_name = v:queue_pair_alloc(sim.CID_HOST, (8696 - 2) * 4096, 4096)
  sim.expect(none == nil and error_name == "VMCI_ERROR_NO_RESOURCES",
             "8694 + 1 do not: " .. tostring(error_name))
end)
