-- scenarios/lifecycle/resume_interrupt_first.lua: no guest code runs before the resume's
-- interrupt (docs/lifecycle.md, "How a guest stops").
-- R207: a vMotion is a suspend and a resume at the same instant; the resume raises the
--       guest's interrupt (QP_RESUMED), taken interrupt_ns later. A guest timer due in
--       between (here sleeps ending 1 ns, 1 us, 1999 ns and exactly 2 us after the
--       vMotion) runs only after the guest has taken that interrupt, at the interrupt's
--       time: its stream has ended as after a peer detach, so send gives EPIPE (R206),
--       never EIO, and recv gives end of stream.
-- R206: the same with the suspend and the resume apart: a sleep that ended while the VM
--       was suspended and one ending 1 us after the resume both run at the interrupt.
local sim = require("vmcisim")
local w = sim.world{ product = "esxi-6.5" }
local host = w:host()
local guest = w:vm{ name = "guest1", vmx = { ["vmci0.id"] = "3100" } }

local VMOTION_AT = sim.ms(1)
local SUSPEND_AT, RESUME_AT = sim.ms(3), sim.ms(4)
local INTERRUPT_NS = 2000      -- docs/cost-model.md interrupt_ns
local PHASES = {
  { first = VMOTION_AT, back = VMOTION_AT, delays = { 1, 1000, 1999, 2000 } },
  { first = SUSPEND_AT, back = RESUME_AT, delays = { -sim.us(500), 1000 } },
}
local ran = 0

-- The host holds every connection open, so only the lifecycle can end them.
host:spawn("server", function(p)
  local l = assert(p:socket("stream"))
  assert(l:bind(sim.CID_ANY, 5000)); assert(l:listen(8))
  local held = {}
  for i = 1, #PHASES[1].delays + #PHASES[2].delays do held[i] = assert(l:accept()) end
  p:sleep(sim.ms(6) - w.now)
end)

for number, phase in ipairs(PHASES) do
  for _, delay in ipairs(phase.delays) do
    guest:spawn("client", function(p)
      p:sleep(phase.first - sim.us(500) - w.now)  -- connect shortly before the lifecycle
      local s = assert(p:socket("stream"))
      assert(s:connect(sim.CID_HOST, 5000))
      p:sleep(phase.back + delay - w.now)
      local label = "phase " .. number .. ", " .. delay .. " ns: "
      sim.expect(w.now == phase.back + INTERRUPT_NS, label .. "woke at the interrupt: " .. w.now)
      local ok, name = s:send("x")
      sim.expect(ok == nil and name == "EPIPE", label .. "R206: send: " .. tostring(name))
      sim.expect(s:recv(10) == "", label .. "R206: end of stream")
      sim.expect(p:local_cid() == 3100, label .. "the CID is kept: " .. p:local_cid())
      s:close()
      ran = ran + 1
    end)
  end
end

w:at(VMOTION_AT, function() guest:vmotion() end)
w:at(SUSPEND_AT, function() guest:suspend() end)
w:at(RESUME_AT, function() guest:resume() end)

local result = w:run()
sim.expect(result.stopped == "idle", "stopped: " .. result.stopped)
sim.expect(ran == #PHASES[1].delays + #PHASES[2].delays, "every client ran: " .. ran)
