-- scenarios/conformance/dgram_R153_owner.lua: the same-user trust rule for datagrams
-- (R50, R153, D10). On Workstation 9 every VM is restricted (R196) and a host process
-- spawned as user "alice" is trusted exactly toward the VMs alice owns: its datagrams
-- reach alice's VM and not bob's (EPERM, R153), and alice's VM reaches its socket while
-- bob's VM is refused (EPERM, the hypervisor's R51 check on the socket's handle).
local sim = require("vmcisim")
local w = sim.world{ product = "workstation-9", host_os = "linux" }
local host = w:host()
local alice_vm = w:vm{ name = "alice_vm", user = "alice" }
local bob_vm = w:vm{ name = "bob_vm", user = "bob" }
local ready = 0

alice_vm:spawn("receiver", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 9400))
  ready = ready + 1
  sim.expect(assert(s:recv(100)) == "for alice", "alice's VM hears from alice's process")
end)

host:spawn("alice", function(p)
  local s = assert(p:socket("dgram"))
  assert(s:bind(sim.CID_ANY, 9401))
  ready = ready + 1
  while ready < 2 do p:sleep(sim.us(10)) end
  sim.expect(s:sendto("for alice", alice_vm.cid, 9400) == 9, "to alice's VM")
  local ok, name = s:sendto("for bob", bob_vm.cid, 9400)
  sim.expect(ok == nil and name == "EPERM", "to bob's VM: " .. tostring(name))
  local data, cid = assert(s:recvfrom(100))
  sim.expect(data == "from alice_vm" and cid == alice_vm.cid, "alice's VM reached alice")
  p:sleep(sim.ms(1))                  -- stay bound while bob's VM is refused
end, { user = "alice" })

for _, vm in ipairs({ alice_vm, bob_vm }) do
  vm:spawn("sender", function(p)
    while ready < 2 do p:sleep(sim.us(10)) end
    p:sleep(sim.us(50))
    local s = assert(p:socket("dgram"))
    local sent, name = s:sendto("from " .. vm.name, sim.CID_HOST, 9401)
    if vm == alice_vm then
      sim.expect(sent == 13, "alice's VM to alice's socket: " .. tostring(name))
    else
      sim.expect(sent == nil and name == "EPERM", "bob's VM to alice's socket: " .. tostring(name))
    end
  end)
end
