---@meta vmcisim
-- SPDX-License-Identifier: MIT
-- lua/vmcisim.lua: definitions of the Lua scenario API for lua-language-server (LuaCATS
-- `---@` annotations), so editors complete and type-check scenarios. Nothing here runs a
-- simulation: the functions have no bodies, and vmcisim itself never loads this file.
-- The reference is docs/scenario-api.md; tests/stubs_test.sh checks that every function,
-- method, field and option documented there is defined here, and that nothing else is.
-- Use: point lua-language-server's `workspace.library` at the folder holding this file
-- (`make install` puts it in PREFIX/share/vmcisim/lua), then `require("vmcisim")` resolves.
-- Integers are simulated nanoseconds wherever a name ends in _ns or the text says "ns".

---A socket call's failure: `nil, "ENAME", errno` (and, on a closed socket, a hint).
---@alias vmcisim.errno_name string

---The vmcisim module: `local sim = require("vmcisim")`.
---@class vmcisim
local sim = {}

---Any CID (4294967295, 0xFFFFFFFF), for `s:bind`.
sim.CID_ANY = 4294967295
---Any port (4294967295, 0xFFFFFFFF).
sim.PORT_ANY = 4294967295
---The hypervisor's CID (0).
sim.CID_HYPERVISOR = 0
---The local CID (1).
sim.CID_LOCAL = 1
---The host's CID (2).
sim.CID_HOST = 2
---The address family number of vSockets (40, what `VMCISock_GetAFValue()` returns).
sim.AF_VSOCK = 40
---The simulator's version, e.g. "0.1.0".
---@type string
sim.version = ""
---Whether `ep:exec` may run real programs in this run (`--allow-exec`).
---@type boolean
sim.exec_allowed = false

---@alias vmcisim.product
---| "esxi-4.0" | "esxi-4.1" | "esxi-5.0" | "esxi-5.1" | "esxi-5.5" | "esxi-6.0" | "esxi-6.5"
---| "workstation-6.5" | "workstation-7" | "workstation-8" | "workstation-9"
---| "server-2.0" | "player-2.5" | "player-3" | "player-4" | "player-5"
---| "fusion-3" | "fusion-4" | "fusion-5"
---| string

---Cost-model parameters by name (integers >= 0), docs/cost-model.md.
---@class vmcisim.timing
---@field register_access_ns? integer
---@field hypercall_ns? integer
---@field route_ns? integer
---@field interrupt_ns? integer
---@field copy_ps_per_byte? integer

---Named limits of the world (positive integers), docs/limits.md.
---@class vmcisim.limits
---@field vms? integer
---@field processes? integer
---@field sockets? integer
---@field events_pending? integer
---@field trace_events? integer
---@field qp_memory_bytes? integer
---@field event_subscriptions? integer
---@field queue_pairs? integer queue pairs per VM
---@field handles? integer
---@field backlog? integer the largest listen() backlog
---@field host_deliveries? integer datagrams in flight to the host kernel
---@field vmci_datagram_queue? integer datagrams a p:vmci() datagram handle keeps unread
---@field world_qp_memory_bytes? integer queue-pair memory of the whole world, the host's included

---Fault sites and fault rates, docs/faults.md.
---@class vmcisim.faults
---@field sites? "real"|"protocol"|"all"|string[] which named fault sites may be enabled
---@field enable? number probability that a site is enabled in this seed
---@field fire? number probability that an enabled site fires when reached
---@field dg_drop? number probability that a datagram is dropped
---@field suspend? number suspends per simulated second
---@field vmotion? number vMotions per simulated second
---@field power_cycle? number power cycles per simulated second
---@field kill? number process kills per simulated second
---@field suspend_ns? integer|integer[] how long a suspended VM stays suspended (ns, or { min, max })
---@field power_off_ns? integer|integer[] how long a power-cycled VM stays off (ns, or { min, max })

---The options of `sim.world{}`.
---@class vmcisim.world_options
---@field seed? integer seeds every random stream (default: `--seed`, else 1)
---@field product? vmcisim.product the product profile (default "esxi-6.5")
---@field host_os? "linux"|"windows"|"mac" hosted products only (default: the profile's)
---@field timing? vmcisim.timing cost-model parameters
---@field limits? vmcisim.limits named limits
---@field faults? boolean|vmcisim.faults fault sites and rates (default off)
---@field jitter? boolean|table costs and equal-time wake-up order drawn from the seed

---Creates the one world of the run (a second call raises).
---@param options? vmcisim.world_options
---@return vmcisim.world
function sim.world(options) end

---Nanoseconds as nanoseconds (a float is rounded to the nearest ns, halves away from zero).
---@param x number
---@return integer ns
function sim.ns(x) end

---Microseconds as nanoseconds.
---@param x number
---@return integer ns
function sim.us(x) end

---Milliseconds as nanoseconds.
---@param x number
---@return integer ns
function sim.ms(x) end

---Seconds as nanoseconds.
---@param x number
---@return integer ns
function sim.s(x) end

---Logs a line (stdout unless -q) and a `log` trace event; formats like string.format when
---arguments follow, else logs `format` verbatim. At most 4096 bytes.
---@param format string
---@param ... any
function sim.log(format, ...) end

---Records a failure when `condition` is falsy and lets the run go on (it then exits 1).
---@param condition any
---@param message? string default "expectation failed"
---@return boolean
function sim.expect(condition, message) end

---`length` deterministic bytes of pattern `seed` from `offset`, for data-integrity checks.
---@param seed integer
---@param offset integer
---@param length integer at most 256 MiB
---@return string
function sim.pattern(seed, offset, length) end

---The XXH3-64 of `bytes` as 16 lowercase hex digits.
---@param bytes string
---@return string
function sim.checksum(bytes) end


---A failure recorded during the run.
---@class vmcisim.failure
---@field time_ns integer
---@field vm? string absent when not from a process
---@field process? string absent when not from a process
---@field message string

---A process still blocked when the run stopped.
---@class vmcisim.blocked
---@field process string
---@field vm string
---@field pid integer
---@field waits_on string the wait queue, e.g. "socket:dgram", "join:worker"
---@field daemon boolean

---The options of `w:run{}`.
---@class vmcisim.run_options
---@field until_ns? integer stop at this simulated time (events at it run)
---@field max_events? integer stop after this many engine events of this call (0: no cap)

---What `w:run{}` returns.
---@class vmcisim.run_result
---@field stopped "idle"|"until"|"max_events"|"deadlock"
---@field now_ns integer simulated time at the stop
---@field events integer engine events run since the world began
---@field failures vmcisim.failure[] every failure so far (at most 10000 kept)
---@field blocked vmcisim.blocked[] processes still blocked

---The options of `w:vm{}`.
---@class vmcisim.vm_options
---@field name string 1..63 bytes, unique among endpoints (required)
---@field os? string a label (default "linux")
---@field hw_version? integer 1..64 (default 13); a VMCI device needs >= 7
---@field vmx? table<string, string|number|boolean> VMX keys (vmci0.id, vmci0.present, ...)
---@field user? string the VM's owner (default "user")

---The world: one per run.
---@class vmcisim.world
---@field now integer current simulated time, ns
---@field seed integer the world's seed
---@field events integer engine events run so far
---@field product string the profile's name, e.g. "esxi-6.5"
---@field host_os string the profile's host OS name, e.g. "esx"
local world = {}

---The host endpoint (CID 2).
---@return vmcisim.endpoint
function world:host() end

---Creates and powers on a VM.
---@param options vmcisim.vm_options
---@return vmcisim.endpoint
function world:vm(options) end

---The VMs in creation order (not the host).
---@return vmcisim.endpoint[]
function world:vms() end

---Runs `fn()` at simulated time `time_ns`, outside any process (it may not block).
---@param time_ns integer
---@param fn fun()
function world:at(time_ns, fn) end

---Runs `fn()` `delay_ns` from now, outside any process (it may not block).
---@param delay_ns integer
---@param fn fun()
function world:after(delay_ns, fn) end

---Runs the world until idle, `until_ns` or `max_events`; only from the main chunk.
---@param options? vmcisim.run_options
---@return vmcisim.run_result
function world:run(options) end

---Changes cost-model parameters from now on.
---@param timing vmcisim.timing
function world:timing(timing) end

---The options of `ep:spawn`.
---@class vmcisim.spawn_options
---@field caps? ("net_bind_service"|"net_admin")[] capabilities (default none)
---@field trusted? boolean host processes only (default true on the host)
---@field user? string 1..63 bytes (default "user")
---@field daemon? boolean a server loop: blocked at the end is no deadlock (default false)

---The table of `ep:exec{}`: the command line as its list part, then the options.
---@class vmcisim.exec_options
---@field [integer] string the binary (found as execvp does), then its arguments
---@field env? table<string, string> added to PATH, TZ=UTC, LANG=C
---@field cwd? string its working directory (default: the endpoint's scratch directory)
---@field stdin? string its standard input (default /dev/null)
---@field name? string 1..63 bytes (default: the binary's base name)
---@field daemon? boolean blocked at the end is no deadlock (default false)
---@field call_cost? integer|string simulated time per call (default 1 µs)
---@field channel? "shm"|"socket" how calls cross to the simulator (default "shm"; same run)

---A real program started by `ep:exec` (docs/programs.md).
---@class vmcisim.program
---@field name string
---@field pid integer
---@field status "running"|"exited"|"signalled"|"killed"|"failed"
---@field exit_code? integer nil until it exited (128 + N when signal N ended it)
---@field calls integer calls served so far
---@field endpoint vmcisim.endpoint
local program = {}

---Its stdout and stderr as captured so far (at most 1 MiB).
---@return string
function program:output() end

---From a Lua process: blocks until the program has ended: true, or nil, "ETIMEDOUT", 110.
---@param timeout_ns? integer
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function program:join(timeout_ns) end

---Kills the program (its blocked call ends, then the real process): true, or false when
---it had ended.
---@return boolean
function program:kill() end

---The options of `ep:vsock{}`.
---@class vmcisim.vsock_options
---@field protocol? 1|2 the clients' protocol (default 2, the queue-state protocol)
---@field flavour? "vmware"|"linux" the default buffer size: 65536 or 262144

---The host or a VM. Fields marked VM are nil on the host.
---@class vmcisim.endpoint
---@field name string "host" or the VM's name
---@field cid integer the current CID
---@field is_host boolean
---@field os string
---@field user string
---@field hw_version? integer VM: its virtual hardware version
---@field state? "powered_on"|"suspended"|"frozen"|"powered_off" VM: its power state
---@field fault_tolerant? boolean VM: between vm:ft(true) and vm:ft(false)
local endpoint = {}

---Starts a process running `fn(p)` in this endpoint.
---@param name string 1..63 bytes
---@param fn fun(p: vmcisim.process)
---@param options? vmcisim.spawn_options
---@return vmcisim.process
function endpoint:spawn(name, fn, options) end

---Starts a real program as a simulated process of this endpoint (needs --allow-exec).
---@param options vmcisim.exec_options
---@return vmcisim.program
function endpoint:exec(options) end

---The VM's VMX value as text (nil when absent, always nil on the host).
---@param key string
---@return string?
function endpoint:vmx(key) end

---Configures the endpoint's vSockets stack for sockets created afterwards.
---@param options vmcisim.vsock_options
function endpoint:vsock(options) end

---The VM's VMCI device for raw register access, or nil and a message.
---@return vmcisim.device? device
---@return string? message
function endpoint:device() end

---Powers the VM off: its processes are killed, their sockets closed first.
function endpoint:power_off() end

---Powers the VM on again.
function endpoint:power_on() end

---Suspends the VM.
function endpoint:suspend() end

---Resumes a suspended VM.
function endpoint:resume() end

---vMotion: suspend and resume in the same instant (ESX/ESXi products).
function endpoint:vmotion() end

---Fault tolerance on or off (ESX/ESXi products).
---@param on boolean
function endpoint:ft(on) end

---Freezes the guest: it stops running but keeps its VMCI state.
function endpoint:freeze() end

---Thaws a frozen guest.
function endpoint:thaw() end

---Resets the VMCI device and reloads the guest's driver.
function endpoint:reset_device() end

---@alias vmcisim.process_state "runnable"|"running"|"blocked"|"done"|"failed"|"killed"

---An entry of `p:poll`'s list: `{ socket, "r" | "w" | "rw" }`.
---@alias vmcisim.poll_entry { [1]: vmcisim.socket, [2]: "r"|"w"|"rw"|nil }

---A ready socket in `p:poll`'s result: `{ socket, events }`, events letters of "rwhe".
---@alias vmcisim.poll_ready { [1]: vmcisim.socket, [2]: string }

---A simulated process: the argument of its function.
---@class vmcisim.process
---@field name string
---@field pid integer per world, from 1, in spawn order
---@field endpoint vmcisim.endpoint the endpoint it runs in
---@field user string
---@field trusted boolean whether its sockets are trusted
local process = {}

---@return vmcisim.process_state
function process:state() end

---Its kernel's current CID.
---@return integer
function process:local_cid() end

---Blocks for `delay_ns` of simulated time.
---@param delay_ns integer
function process:sleep(delay_ns) end

---Blocks until `other` has ended: true, or nil, "ETIMEDOUT", 110 after the timeout.
---@param other vmcisim.process|vmcisim.program
---@param timeout_ns? integer
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function process:join(other, timeout_ns) end

---Ends the process at its next engine step: true, or false when it had already ended.
---@return boolean
function process:kill() end

---A new socket, or nil and an errno name (EAFNOSUPPORT, ESOCKTNOSUPPORT, ENFILE).
---@param type "stream"|"dgram"|"seqpacket"
---@return vmcisim.socket? socket
---@return vmcisim.errno_name? error
---@return integer? errno
function process:socket(type) end

---Waits for socket readiness; returns the ready entries (empty on timeout).
---@param list vmcisim.poll_entry[]
---@param timeout_ns? integer nil: forever; 0: do not block
---@return vmcisim.poll_ready[]
function process:poll(list, timeout_ns) end

---The VMCI driver API of the process's kernel.
---@return vmcisim.vmci
function process:vmci() end

---@alias vmcisim.socket_option
---| "buffer_size" | "buffer_min_size" | "buffer_max_size" | "connect_timeout"
---| "peer_host_vm_id" | "trusted" | "rcvlowat" | "rcvtimeo" | "sndtimeo" | "rcvbuf"
---| "sndbuf" | "keepalive" | "linger" | "reuseaddr" | "error"

---@alias vmcisim.socket_state
---| "unconnected" | "connecting" | "connected" | "disconnecting" | "listening" | "closed"

---@alias vmcisim.send_flag "peek"|"dontwait"|"waitall"

---A vSockets socket. A failing call returns nil, an errno name and its number (and, on a
---closed socket, a fourth value saying who closed it and when).
---@class vmcisim.socket
local socket = {}

---@param cid integer
---@param port integer
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:bind(cid, port) end

---@param backlog? integer default 16
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:listen(backlog) end

---Blocks until a connection arrives.
---@return vmcisim.socket|nil socket
---@return integer|vmcisim.errno_name peer_cid_or_error
---@return integer? peer_port_or_errno
function socket:accept() end

---Stream: blocks until established or failed. Datagram: sets the default destination.
---@param cid integer
---@param port integer
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:connect(cid, port) end

---Blocks until all is queued; returns the count.
---@param bytes string
---@param flags? vmcisim.send_flag|vmcisim.send_flag[]
---@return integer|nil count
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:send(bytes, flags) end

---Up to `maxlen` bytes; "" at the end of a stream.
---@param maxlen integer 0 .. 64 MiB
---@param flags? vmcisim.send_flag|vmcisim.send_flag[]
---@return string|nil bytes
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:recv(maxlen, flags) end

---Datagram: sends one datagram (binds the socket if needed).
---@param bytes string
---@param cid integer
---@param port integer
---@return integer|nil count
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:sendto(bytes, cid, port) end

---One datagram and its source; `truncated` when it was longer than `maxlen`.
---@param maxlen integer
---@param flags? vmcisim.send_flag|vmcisim.send_flag[]
---@return string|nil bytes
---@return integer|vmcisim.errno_name cid_or_error
---@return integer? port_or_errno
---@return boolean? truncated
function socket:recvfrom(maxlen, flags) end

---@param how "r"|"w"|"rw"
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:shutdown(how) end

---Datagram: dissolves the default destination.
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:disconnect() end

---Closes the socket; never blocks.
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:close() end

---Hands the socket to another live process of the same endpoint.
---@param process vmcisim.process
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:give(process) end

---@return integer|nil cid
---@return integer|vmcisim.errno_name port_or_error
---@return integer? errno
function socket:getsockname() end

---@return integer|nil cid
---@return integer|vmcisim.errno_name port_or_error
---@return integer? errno
function socket:getpeername() end

---@param blocking boolean
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:setblocking(blocking) end

---@return vmcisim.socket_state
function socket:state() end

---@param name vmcisim.socket_option
---@param value integer|boolean times in ns, sizes in bytes
---@return true|nil ok
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:setsockopt(name, value) end

---@param name vmcisim.socket_option
---@return any value
---@return vmcisim.errno_name? error
---@return integer? errno
function socket:getsockopt(name) end

---@alias vmcisim.register
---| "STATUS" | "CONTROL" | "ICR" | "IMR" | "DATA_OUT" | "DATA_IN" | "CAPS" | "RESULT_LOW"
---| "RESULT_HIGH" | "DATA_OUT_LOW" | "DATA_OUT_HIGH" | "DATA_IN_LOW" | "DATA_IN_HIGH"
---| "GUEST_PAGE_SHIFT" | integer

---A VM's VMCI device, driven as a hostile or buggy guest kernel would (no simulated cost).
---@class vmcisim.device
local device = {}

---@param register vmcisim.register
---@return integer value the 32-bit value
function device:read(register) end

---@param register vmcisim.register
---@param value integer -2^31 .. 2^32-1
function device:write(register, value) end

---Writes `bytes` to DATA_OUT as one transfer; returns RESULT_LOW as a signed number.
---@param bytes string
---@return integer
function device:write_datagram_raw(bytes) end

---`n` bytes of the DATA_IN stream (0xFF where nothing is pending).
---@param n integer
---@return string
function device:read_data_in(n) end

---A VMCI call's failure: nil, "VMCI_ERROR_NAME", code.
---@alias vmcisim.vmci_error_name string

---The VMCI driver API of a process's kernel.
---@class vmcisim.vmci
local vmci = {}

---@return integer
function vmci:local_cid() end

---A datagram handle {own CID, rid}; without `rid`, the next dynamic resource ID.
---@param rid? integer
---@return vmcisim.datagram|nil handle
---@return vmcisim.vmci_error_name? error
---@return integer? code
function vmci:datagram(rid) end

---Allocates a queue pair with `peer_cid`.
---@param peer_cid integer
---@param produce_size integer
---@param consume_size integer
---@param flags? integer the VMCI bit set (1 ATTACH_ONLY, 2 LOCAL, ...)
---@return vmcisim.queue_pair|nil queue_pair
---@return vmcisim.vmci_error_name? error
---@return integer? code
function vmci:queue_pair_alloc(peer_cid, produce_size, consume_size, flags) end

---Attaches to a queue pair (sizes default to the mirror of the creator's).
---@param context integer
---@param resource integer
---@param produce_size? integer
---@param consume_size? integer
---@param flags? integer
---@return vmcisim.queue_pair|nil queue_pair
---@return vmcisim.vmci_error_name? error
---@return integer? code
function vmci:queue_pair_attach(context, resource, produce_size, consume_size, flags) end

---A VMCI datagram handle.
---@class vmcisim.datagram
local datagram = {}

---Returns the datagram's size (24-byte header + payload), or a VMCI error.
---@param cid integer
---@param rid integer
---@param bytes string
---@return integer|nil size
---@return vmcisim.vmci_error_name? error
---@return integer? code
function datagram:send(cid, rid, bytes) end

---Blocks for a datagram: bytes, source CID and RID; nil, "ETIMEDOUT", 110 on timeout.
---@param timeout_ns? integer
---@return string|nil bytes
---@return integer|string src_cid_or_error
---@return integer? src_rid_or_errno
function datagram:recv(timeout_ns) end

---@return integer cid
---@return integer rid
function datagram:handle() end

---@return true?
function datagram:close() end

---A VMCI queue pair.
---@class vmcisim.queue_pair
local queue_pair = {}

---Bytes written (partial writes are normal).
---@param bytes string
---@return integer|nil count
---@return vmcisim.vmci_error_name? error
---@return integer? code
function queue_pair:enqueue(bytes) end

---@param n integer up to 64 MiB
---@return string|nil bytes
---@return vmcisim.vmci_error_name? error
---@return integer? code
function queue_pair:dequeue(n) end

---@param n integer up to 64 MiB
---@return string|nil bytes
---@return vmcisim.vmci_error_name? error
---@return integer? code
function queue_pair:peek(n) end

---Bytes ready to read.
---@return integer
function queue_pair:ready() end

---Room to write.
---@return integer
function queue_pair:free_space() end

---@return integer cid
---@return integer rid
function queue_pair:handle() end

---@return true
function queue_pair:detach() end

return sim
