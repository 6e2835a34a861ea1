-- scenarios/lifecycle/host_queue_pair_after_suspend.lua: the host's side of a guest's queue
-- pair once the guest is suspended (D20, R97, R205, R206). The pages are the guest's, so
-- after the suspend has detached the guest the host's dequeue, peek and enqueue fail with
-- VMCI_ERROR_QUEUEPAIR_NOT_READY: what the guest had written is out of the host's reach, and
-- nothing the host tries to write reaches the guest. After the resume the guest's own side
-- still reads what was in its consume queue before the suspend, and nothing more.
local sim = require("vmcisim")
local w = sim.world{}
local host = w:host()
local guest = w:vm{ name = "guest1" }
local resumed = false

guest:spawn("guest", function(p)
  local v = p:vmci()
  local dg = assert(v:datagram(1500))
  local qp = assert(v:queue_pair_alloc(sim.CID_HOST, 4096, 4096))
  local context, resource = qp:handle()
  assert(dg:send(sim.CID_HOST, 1500, string.pack("<I4I4", context, resource)))
  sim.expect(qp:enqueue("from guest") == 10, "the guest writes before the suspend")
  while not resumed do p:sleep(sim.us(10)) end   -- suspended and resumed meanwhile
  sim.expect(qp:dequeue(100) == "before", "R206: the guest reads what the host wrote before")
  local bytes, name = qp:dequeue(100)
  sim.expect(bytes == nil and name == "VMCI_ERROR_QUEUEPAIR_NODATA",
             "D20: nothing the host wrote after the suspend arrived: " .. tostring(bytes))
  sim.expect(qp:detach() == true, "the guest's side still detaches")
end)

host:spawn("host", function(p)
  local v = p:vmci()
  local dg = assert(v:datagram(1500))
  local handle = dg:recv()
  local context, resource = string.unpack("<I4I4", handle)
  local qp = assert(v:queue_pair_attach(context, resource))
  sim.expect(qp:enqueue("before") == 6, "the host writes before the suspend")
  while qp:ready() < 10 do p:sleep(sim.us(10)) end
  guest:suspend()
  local function not_ready(what, result, name, code)
    sim.expect(result == nil and name == "VMCI_ERROR_QUEUEPAIR_NOT_READY" and code == -40,
               "D20: " .. what .. " on the host's side: " .. tostring(name))
  end
  not_ready("dequeue after the suspend", qp:dequeue(100))
  not_ready("peek after the suspend", qp:peek(100))
  not_ready("enqueue after the suspend", qp:enqueue("late"))
  guest:resume()
  not_ready("enqueue after the resume", qp:enqueue("late"))
  resumed = true
  sim.expect(qp:detach() == true, "the host's side still detaches")
end)
