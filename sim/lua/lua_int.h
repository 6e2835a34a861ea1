/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/lua_int.h: state shared by the files of sim/lua (not for other layers).
 *
 * Object model: the world, each endpoint and each process is a full userdata
 * with a named metatable ("vmcisim.world", "vmcisim.endpoint",
 * "vmcisim.process"); its type is known by a tag checked on every access, never
 * by the metatable (object.c). The world's C state is owned by the runtime (it must
 * outlive every process); endpoints are indexes into it; a process userdata
 * holds its C state and stays anchored in the registry while the process is
 * live, so the engine's `owner` pointer never dangles.
 */
#ifndef SIM_LUA_LUA_INT_H
#define SIM_LUA_LUA_INT_H

#include <assert.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "runtime.h"
#include "sim/engine/engine.h"
#include "sim/engine/process.h"
#include "vmci/faults.h"
#include "vmci/hypervisor.h"
#include "vmci/vmci.h"
#include "vsock/core.h"
#include "vsock/vmci_transport.h"

#define SIMLUA_WORLD_META "vmcisim.world"
#define SIMLUA_ENDPOINT_META "vmcisim.endpoint"
#define SIMLUA_PROCESS_META "vmcisim.process"

#define SIMLUA_NAME_BYTES_MAX 64u          /* endpoint, user and product names */
#define SIMLUA_PATTERN_BYTES_MAX (256u * 1024 * 1024)
/* The largest cost-model parameter a scenario may set (`timing`, `jitter` bounds): 10 s a
 * step in ns, 10 ms a byte in ps. Far beyond any real cost, and small enough that no cost
 * the model adds up (a copy of the largest ring, stretched by a latency fault) wraps. */
#define SIMLUA_COST_VALUE_MAX 10000000000ll
#define SIMLUA_FAILURES_MAX 10000u         /* failures kept for the result; more are counted */
#define SIMLUA_CID_HOST 2u
#define SIMLUA_CID_RESERVED_LIMIT 16u      /* CIDs 0..15 are never a VM's (R8) */
/* Objects created between two full collections, in bytes, at least (runtime.c). */
#define SIMLUA_GC_OBJECT_BYTES_MIN (4u * 1024 * 1024)
/* Strings at least this large (block bytes) count in the collector's pace (runtime.c). */
#define SIMLUA_GC_STRING_BYTES_MIN 1024u
/* How far the stopped collector's debt is set below zero, in KiB (runtime.c): far more than
 * a state's memory can grow by between two collections (SIMLUA_MEMORY_BYTES_MAX). */
#define SIMLUA_GC_DEBT_LOWER_KIB (-(1 << 30))
_Static_assert(-(long long)SIMLUA_GC_DEBT_LOWER_KIB * 1024 > (long long)SIMLUA_MEMORY_BYTES_MAX,
               "the debt stays below zero while the state grows to its limit");
/* Lua instructions between two full collections at most (a multiple of the hook's). */
#define SIMLUA_GC_INSTRUCTIONS_MAX (64u * 1024 * 1024)
/* Bytes of short strings (the ones Lua interns) made between two full collections, at
 * most: this, or SIMLUA_GC_SHORT_STRING_LIVE_FACTOR times the live objects' bytes when
 * that is more (runtime.c). */
#define SIMLUA_GC_SHORT_STRING_BYTES_MIN (64u * 1024 * 1024)
#define SIMLUA_GC_SHORT_STRING_LIVE_FACTOR 4u
/* The longest string the probe for Lua's short strings makes (runtime.c; Lua 5.4's short
 * strings have at most 40 bytes). */
#define SIMLUA_SHORT_STRING_PROBE_BYTES_MAX 256u
/* User values a full userdata may have for the sandbox to find its creation number. */
#define SIMLUA_USER_VALUES_MAX 3
/* The pool of the Lua state's small blocks (pool.c): blocks (header included) of at most
 * SIMLUA_POOL_BLOCK_BYTES_MAX bytes, rounded up to a class (a multiple of
 * SIMLUA_POOL_CLASS_BYTES up to SIMLUA_POOL_SMALL_BYTES_MAX, then four classes a power of
 * two), carved from slabs of SIMLUA_POOL_SLAB_BYTES. What the pool holds idle counts
 * against SIMLUA_MEMORY_BYTES_MAX, which so bounds the pool too. */
#define SIMLUA_POOL_CLASS_BYTES 16u
#define SIMLUA_POOL_SMALL_BYTES_MAX 512u
#define SIMLUA_POOL_BLOCK_BYTES_MAX 8192u
#define SIMLUA_POOL_CLASS_COUNT (SIMLUA_POOL_SMALL_BYTES_MAX / SIMLUA_POOL_CLASS_BYTES + 4 * 4)
#define SIMLUA_POOL_SLAB_BYTES (64u * 1024)

struct simlua_pool {
    void *free_lists[SIMLUA_POOL_CLASS_COUNT];  /* per class, most recently freed first */
    void *slabs;                        /* every slab, newest first (freed by destroy) */
    char *carve_next;                   /* where the next new block of the newest slab lies */
    char *carve_end;
    uint64_t slab_bytes;                /* every slab's bytes */
    uint64_t live_bytes;                /* class bytes of the blocks Lua holds */
};
/* Whether the runtime's blocks of block_bytes come from the pool (else from malloc).
 * Under AddressSanitizer every block comes from malloc, so that ASan's red zones and
 * quarantine watch each Lua block (a binding reading a collected userdata, a write past
 * a payload); the pool's own tests call it directly. */
#if defined(__SANITIZE_ADDRESS__)
#define SIMLUA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMLUA_ASAN 1
#endif
#endif
#ifndef SIMLUA_ASAN
#define SIMLUA_ASAN 0
#endif
#define SIMLUA_POOL_IN_RUNTIME (!SIMLUA_ASAN)
static inline bool simlua__pool_serves(size_t block_bytes)
{
    return SIMLUA_POOL_IN_RUNTIME && block_bytes <= SIMLUA_POOL_BLOCK_BYTES_MAX;
}
#if SIMLUA_ASAN
#include <sanitizer/asan_interface.h>
#define SIMLUA_POOL_POISON(address, bytes) ASAN_POISON_MEMORY_REGION((address), (bytes))
#define SIMLUA_POOL_UNPOISON(address, bytes) ASAN_UNPOISON_MEMORY_REGION((address), (bytes))
#else
#define SIMLUA_POOL_POISON(address, bytes) ((void)(address), (void)(bytes))
#define SIMLUA_POOL_UNPOISON(address, bytes) ((void)(address), (void)(bytes))
#endif
/* A size class: SIMLUA_POOL_CLASS_BYTES apart up to SIMLUA_POOL_SMALL_BYTES_MAX, then four
 * a power of two (a block wastes at most a fifth of its bytes). */
struct simlua_pool_class {
    uint32_t index;
    size_t bytes;                       /* what a block of the class takes */
};
#define SIMLUA_POOL_SMALL_CLASSES (SIMLUA_POOL_SMALL_BYTES_MAX / SIMLUA_POOL_CLASS_BYTES)
#define SIMLUA_POOL_SMALL_LOG2 9
_Static_assert(SIMLUA_POOL_SMALL_BYTES_MAX == 1u << SIMLUA_POOL_SMALL_LOG2, "the first power");
/* Inline: the allocator asks for it on every block taken or given back. */
static inline struct simlua_pool_class simlua__pool_class(size_t block_bytes)
{
    assert(block_bytes > 0 && block_bytes <= SIMLUA_POOL_BLOCK_BYTES_MAX);
    struct simlua_pool_class class_info;
    if (block_bytes <= SIMLUA_POOL_SMALL_BYTES_MAX) {
        class_info.index = (uint32_t)((block_bytes - 1) / SIMLUA_POOL_CLASS_BYTES);
        class_info.bytes = ((size_t)class_info.index + 1) * SIMLUA_POOL_CLASS_BYTES;
        return class_info;
    }
    /* 2^power < block_bytes <= 2^(power+1), in quarters of 2^power */
    uint32_t power = 63u - (uint32_t)__builtin_clzll((unsigned long long)(block_bytes - 1));
    uint32_t quarter = (uint32_t)((block_bytes - 1 - ((size_t)1 << power)) >> (power - 2));
    class_info.index = SIMLUA_POOL_SMALL_CLASSES + (power - SIMLUA_POOL_SMALL_LOG2) * 4 + quarter;
    class_info.bytes = ((size_t)1 << power) + ((size_t)quarter + 1) * ((size_t)1 << (power - 2));
    assert(class_info.index < SIMLUA_POOL_CLASS_COUNT);
    return class_info;
}
/* A free block: the link to the next free block of its class. */
struct simlua_pool_free_block {
    struct simlua_pool_free_block *next;
};
/* A new block of a class whose free list is empty, carved from the newest slab (or a new
 * one); NULL when no slab can be had. */
void *simlua__pool_carve(struct simlua_pool *pool, struct simlua_pool_class class_info,
                         size_t block_bytes);
/* The next block of the newest slab, which has room for one of this class: the one way a
 * block is carved (the inline allocation and pool.c's, after it added a slab, both end here). */
static inline __attribute__((always_inline)) void *
simlua__pool_carve_next(struct simlua_pool *pool, struct simlua_pool_class class_info,
                        size_t block_bytes)
{
    assert((size_t)(pool->carve_end - pool->carve_next) >= class_info.bytes);
    void *carved = pool->carve_next;        /* poisoned with its slab */
    pool->carve_next += class_info.bytes;
    SIMLUA_POOL_UNPOISON(carved, block_bytes);
    pool->live_bytes += class_info.bytes;
    assert(pool->live_bytes <= pool->slab_bytes);
    return carved;
}

/* Whether a block of block_bytes (served by the pool) would come from memory the pool
 * already holds, a free list or the newest slab's unused end: memory counted as idle, so
 * taking it adds nothing to the state's footprint (runtime.c's memory limit). */
static inline bool simlua__pool_has_room(const struct simlua_pool *pool, size_t block_bytes)
{
    assert(pool != NULL);
    struct simlua_pool_class class_info = simlua__pool_class(block_bytes);
    return pool->free_lists[class_info.index] != NULL ||
           (size_t)(pool->carve_end - pool->carve_next) >= class_info.bytes;
}

/* A block of block_bytes (served by the pool), or NULL when no slab can be had. */
static inline __attribute__((always_inline)) void *simlua__pool_alloc(struct simlua_pool *pool,
                                                                   size_t block_bytes)
{
    assert(pool != NULL);
    struct simlua_pool_class class_info = simlua__pool_class(block_bytes);
    struct simlua_pool_free_block *block = pool->free_lists[class_info.index];
    if (block == NULL) {
        /* Most blocks of a short run are new ones (its collections are few): the next
         * block of the newest slab is taken here; a new slab is pool.c's work. */
        if (__builtin_expect((size_t)(pool->carve_end - pool->carve_next) < class_info.bytes, 0))
            return simlua__pool_carve(pool, class_info, block_bytes);
        return simlua__pool_carve_next(pool, class_info, block_bytes);
    }
    SIMLUA_POOL_UNPOISON(block, sizeof(*block));        /* the link, whatever block_bytes is */
    pool->free_lists[class_info.index] = block->next;
    /* The new head is the next block of this class handed out. In a large world it lies
     * on a line no cache holds (the collector freed it long after it was last used), and
     * its link must arrive before that allocation can return: start the load now, with
     * intent to write (the block is written once handed out). A prefetch never faults,
     * so the NULL at the end of a list is harmless. */
    __builtin_prefetch(block->next, 1);
    SIMLUA_POOL_POISON(block, class_info.bytes);
    SIMLUA_POOL_UNPOISON(block, block_bytes);
    pool->live_bytes += class_info.bytes;
    assert(pool->live_bytes <= pool->slab_bytes);
    return block;
}
/* Gives back a block of the pool; block_bytes is what it was allocated or resized with. */
static inline void simlua__pool_free(struct simlua_pool *pool, void *block, size_t block_bytes)
{
    assert(pool != NULL && block != NULL);
    struct simlua_pool_class class_info = simlua__pool_class(block_bytes);
    assert(pool->live_bytes >= class_info.bytes);
    pool->live_bytes -= class_info.bytes;
    struct simlua_pool_free_block *free_block = block;
    SIMLUA_POOL_UNPOISON(free_block, sizeof(*free_block));
    free_block->next = pool->free_lists[class_info.index];
    pool->free_lists[class_info.index] = free_block;
    SIMLUA_POOL_POISON(free_block, class_info.bytes);   /* the link too: alloc unpoisons it */
}
/* Whether a block of old_bytes can hold new_bytes where it lies (the same class). */
bool simlua__pool_resize_in_place(struct simlua_pool *pool, void *block, size_t old_bytes,
                                  size_t new_bytes);
/* The bytes a block of block_bytes really takes in the pool (its class's size). */
size_t simlua__pool_block_bytes(size_t block_bytes);
/* Slab bytes not in a block Lua holds. */
static inline uint64_t simlua__pool_idle_bytes(const struct simlua_pool *pool)
{
    assert(pool->live_bytes <= pool->slab_bytes);
    return pool->slab_bytes - pool->live_bytes;
}
/* Frees every slab; every block must have come back (or be abandoned with the state). */
void simlua__pool_destroy(struct simlua_pool *pool);

/* block_set.c: the blocks the allocator took from malloc instead of the pool, so that a
 * sweep worker can free a state whole (simlua_destroy, teardown_wholesale). Beyond
 * SIMLUA_BLOCK_SET_SLOTS_MAX slots the set gives up (`lost`) and the state is closed with
 * lua_close as without it. */
#define SIMLUA_BLOCK_SET_SLOTS_MAX (1u << 24)
struct simlua_block_set {
    void **slots;                       /* NULL: an empty slot */
    uint32_t capacity;                  /* 0 or a power of two */
    uint32_t count;                     /* blocks recorded, below half the capacity */
    bool lost;                          /* a block could not be recorded: no longer complete */
};
void simlua__block_set_add(struct simlua_block_set *set, void *block);
void simlua__block_set_remove(struct simlua_block_set *set, void *block);
bool simlua__block_set_has(const struct simlua_block_set *set, const void *block);
/* Frees every recorded block, then the set's table (the set must not be lost). */
void simlua__block_set_free_all(struct simlua_block_set *set);
/* Frees the set's table only. */
void simlua__block_set_destroy(struct simlua_block_set *set);

struct simlua_endpoint {
    char name[SIMLUA_NAME_BYTES_MAX];
    uint32_t cid;
    bool is_host;
    uint32_t hw_version;
    char os[SIMLUA_NAME_BYTES_MAX];
    char user[SIMLUA_NAME_BYTES_MAX];
    int vmx_ref;                        /* registry ref of the vmx table (LUA_NOREF: none) */
    int userdata_ref;                   /* registry ref of its userdata (one per endpoint) */
    struct vmci_kernel *kernel;         /* borrowed: owned by the hypervisor */
    struct sim_waitq *driver_waitq;     /* borrowed: &net->driver_waitq */
    struct simlua_net *net;             /* owned: the kernel's vSockets stack */
    bool powered_off;                   /* vm:power_off() until vm:power_on() */
    bool suspended;                     /* vm:suspend() until vm:resume() (R205, R206) */
    bool frozen;                        /* vm:freeze() until vm:thaw() */
    bool ft_mode;                       /* vm:ft(true) until vm:ft(false) (R208) */
    int vmci_objects_ref;               /* p:vmci() handles and queue pairs made here, in
                                         * creation order (closed at power-off) */
    uint32_t hw_version_config;         /* kept for vm:power_on() */
};

/* One kernel's vSockets stack, made when its VMCI driver is ready (D4, R203). */
struct simlua_net {
    struct sim_waitq driver_waitq;      /* processes waiting for the driver (D4) */
    struct vsock_stack stack;
    struct vsock_vmci vmci;
    bool ready;                         /* stack usable: sockets may be created */
    bool force_v1;                      /* ep:vsock{ protocol = 1 } (7.2: REQUEST, pkt notify) */
    uint64_t buffer_size_default;       /* ep:vsock{ flavour = ... } (R211); 0: vmware */
    struct simlua_world *world;         /* borrowed */
    uint32_t endpoint_index;
};

struct simlua_failure {
    uint64_t time_ns;
    char vm[SIMLUA_NAME_BYTES_MAX];     /* "" when not in a process */
    char process[SIM_PROCESS_NAME_BYTES_MAX];
    char *message;                      /* owned */
};

struct simlua_world {
    struct sim_engine *engine;          /* owned */
    struct vmci_hypervisor *hypervisor; /* owned; destroyed before the engine */
    struct simlua_runtime *runtime;     /* borrowed */
    char product[SIMLUA_NAME_BYTES_MAX];
    char host_os[SIMLUA_NAME_BYTES_MAX];
    struct simlua_endpoint *endpoints;  /* [0] is the host; grows up to vms_max + 1 */
    uint32_t endpoint_count;
    uint32_t endpoint_capacity;
    bool run_called;
    bool running;                       /* inside sim_engine_run */
    uint32_t socket_count;              /* every stack's sockets (limit sockets) */
    struct sim_waitq poll_waitq;        /* p:poll sleeps here; any socket change wakes it */
    enum sim_stop last_stop;
    bool has_run;
    uint32_t invariant_reports;         /* violations reported (sim/lua/invariants.c) */
    struct simlua_fault_rates *fault_rates;     /* owned; NULL without fault rates */
    struct simlua_program *programs;    /* owned: ep:exec programs, newest first */
    char *scratch_root;                 /* owned: the programs' scratch directories' parent */
    struct exec_net *exec_net;          /* owned: programs' pipes and control channel */
    struct sim_rng *lua_rng;            /* borrowed: the engine's "lua" stream, found at the
                                         * first math.random (NULL before) */
};

enum simlua_cap {
    SIMLUA_CAP_NET_BIND_SERVICE = 1u << 0,
    SIMLUA_CAP_NET_ADMIN = 1u << 1,
};

/* A process's userdata is in no cache when its turn comes again in a fleet (issue 10):
 * what every resume and blocking call reads (process_resume, simlua__check_blocking, the
 * socket calls) comes first, in 32 bytes, so that it shares one line with the object's
 * tag, or at worst takes two; `started` behind the name cost a line of its own. The
 * size stays what it was: collectgarbage("count") shows it (tests/objects_test.sh). */
struct simlua_process {
    struct sim_process *process;        /* borrowed from the engine; NULL once finished */
    struct simlua_world *world;         /* borrowed */
    lua_State *thread;                  /* the coroutine; anchored by thread_ref */
    uint32_t endpoint_index;
    bool started;
    bool ending;                        /* process_end runs: no blocking call any more */
    bool trusted;
    bool daemon;
    int thread_ref;
    int self_ref;                       /* anchors the userdata while live */
    int fn_ref;
    uint32_t pid;
    char name[SIM_PROCESS_NAME_BYTES_MAX];
    uint32_t caps;
    char user[SIMLUA_NAME_BYTES_MAX];
    bool user_given;
    struct vmci_identity identity;      /* host processes: trust under the profile (D1) */
    const char *exit_status;            /* "running", "done", "failed", "killed" */
    struct sim_waitq joiners;           /* processes in p:join() on this one */
    int sockets_ref;                    /* registry table of its sockets, creation order */
};
_Static_assert(offsetof(struct simlua_process, ending) < 32,
               "a resume's fields are the first 32 bytes of a process");

/* Freed blocks of large strings kept for the next receives (runtime.c, string_block_keep):
 * a collection frees a lap of received strings at once, the newest first, and the newest
 * of them are still in the second-level cache, where writing the next string costs no
 * fetch from memory; beyond about that cache's size (2 MiB here) a kept block would be as
 * cold as any other, and is given back instead. SIMLUA_STRING_BLOCKS_KEPT_MAX slots cover
 * that many bytes of the smallest prepared blocks. */
#define SIMLUA_STRING_BLOCKS_KEPT_BYTES_MAX (2u * 1024 * 1024)
#define SIMLUA_STRING_BLOCKS_KEPT_MAX (SIMLUA_STRING_BLOCKS_KEPT_BYTES_MAX / (16u * 1024))

struct simlua_runtime {
    struct simlua_options options;
    lua_State *L;
    struct simlua_world *world;         /* owned; NULL until sim.world{} */
    char scenario_dir[4096];
    struct simlua_file files[SIMLUA_FILES_MAX];
    uint32_t file_count;
    bool load_failed;                   /* a scenario or required file could not be loaded */
    struct simlua_failure *failures;
    uint32_t failure_count;             /* recorded in `failures` */
    uint32_t failure_capacity;
    uint32_t failures_dropped;          /* beyond SIMLUA_FAILURES_MAX: counted, reported */
    bool run_failed;                    /* deadlock, limit, chunk error */
    bool memory_error_caught;           /* a protected call caught LUA_ERRMEM (once said) */
    uint64_t limit_refusals;            /* allocations refused at SIMLUA_MEMORY_BYTES_MAX in
                                         * this step: a caught LUA_ERRMEM is the limit's only
                                         * then (Lua raises it for error("not enough memory")) */
    uint64_t memory_bytes;              /* bytes of the blocks Lua holds, headers included */
    struct simlua_pool pool;            /* the small blocks (pool.c) */
    struct simlua_block_set malloc_blocks;  /* the others (block_set.c) */
    bool close_needed;                  /* an object whose __gc frees memory outside Lua */
    uint64_t instructions;              /* since the current step began */
    uint64_t instructions_per_step_max;
    uint64_t object_id_next;            /* last creation number given (runtime.c allocator) */
    const void *object_block_last;      /* the last Lua object allocated (measurements) */
    uint64_t object_live_bytes;         /* bytes of paced Lua objects not yet freed */
    uint64_t gc_object_bytes_since;     /* bytes of objects created since the last collection */
    uint64_t gc_threshold_bytes;        /* collect when gc_object_bytes_since reaches this */
    uint64_t gc_instructions_since;     /* Lua instructions since the last collection */
    uint64_t gc_collections;            /* full collections the runtime ran */
    size_t short_string_block_bytes_max;    /* a string block this small is a short
                                             * string (measured: runtime.c); 0 unknown */
    uint64_t gc_short_string_bytes_since;   /* bytes of short strings made since the last
                                             * collection (chunk loads left out) */
    uint64_t gc_short_string_threshold_bytes;   /* collect when the above reaches this */
    bool gc_refused;                    /* the allocator refused one block to make Lua collect */
    bool gc_debt_stale;                 /* a refusal made Lua collect: lower its debt again */
    uint32_t finalizers_running;        /* bindings' __gc functions running (object.c) */
    uint32_t numbering_walks;           /* walks that numbered built-in functions (sandbox.c) */
    /* Offsets from an object's block to the pointer the Lua API gives (sandbox.c). */
    size_t thread_offset_bytes;
    size_t userdata_offset_bytes[SIMLUA_USER_VALUES_MAX + 1];
    /* A block for the next large string a recv makes, filled before the string is made
     * (simlua__string_reserve, runtime.c): owned until Lua takes it, outside malloc_blocks
     * and the accounting until then. */
    void *string_block;
    size_t string_block_bytes;
    enum {
        SIMLUA_STRING_BLOCK_IDLE,
        SIMLUA_STRING_BLOCK_MEASURE,    /* note the block the next string request gets */
        SIMLUA_STRING_BLOCK_OFFER,      /* the next string request of its size takes it */
    } string_block_mode;
    void *string_block_seen;            /* what the measured string request got */
    bool string_block_taken;            /* the offered block was taken */
    size_t string_contents_offset;      /* block Lua sees -> a long string's bytes; 0 unknown */
    bool string_contents_unknowable;    /* measured once and found unusable: never offered */
    uint64_t string_blocks_taken;       /* prepared blocks Lua took (tests, measurements) */
    /* Blocks of the prepared size that Lua freed, kept for the next reserves in the order
     * they were freed (runtime.c, string_block_keep): outside malloc_blocks and the
     * accounting, at most SIMLUA_STRING_BLOCKS_KEPT_BYTES_MAX of them. */
    void *string_blocks_kept[SIMLUA_STRING_BLOCKS_KEPT_MAX];
    uint32_t string_blocks_kept_first;  /* the oldest kept, the next one reused */
    uint32_t string_blocks_kept_count;
    size_t string_kept_block_bytes;     /* the size they have: the last reserve's block */
    uint64_t string_blocks_reused;      /* reserves answered by a kept block (tests) */
};

/* A recv of at least this many bytes has its string's block prepared (runtime.c): below,
 * the bytes are in the first-level cache for the hash and the copy alike, and the pool
 * (up to SIMLUA_POOL_BLOCK_BYTES_MAX) serves the string. */
#define SIMLUA_STRING_RESERVE_BYTES_MIN 16384u
/* ... and at most this many (the largest recv, SIMLUA_RECV_BYTES_MAX in socket.c): the one
 * block kept outside the limit's accounting is never larger. */
#define SIMLUA_STRING_RESERVE_BYTES_MAX (64u * 1024 * 1024)
/* The most a long string's block may hold before its bytes (Lua 5.4: 24 on 64-bit); a
 * measured offset beyond it turns the prepared blocks off for the run. */
#define SIMLUA_STRING_HEADER_BYTES_MAX 64u
_Static_assert(SIMLUA_STRING_RESERVE_BYTES_MIN > SIMLUA_POOL_BLOCK_BYTES_MAX,
               "a prepared string's block is never a pool block");
_Static_assert(SIMLUA_STRING_BLOCKS_KEPT_MAX * (size_t)SIMLUA_STRING_RESERVE_BYTES_MIN >=
                   SIMLUA_STRING_BLOCKS_KEPT_BYTES_MAX,
               "a slot for every block the bytes bound admits");

/* Where the bytes of the next string of at most `size_bytes` (SIMLUA_STRING_RESERVE_BYTES_MIN
 * to SIMLUA_STRING_RESERVE_BYTES_MAX) should be written so that simlua__push_reserved
 * need not copy them, or NULL (then make the string as usual). Nothing is allocated in
 * Lua: the collector's pace and the memory limit see only the string, when it is made. */
uint8_t *simlua__string_reserve(lua_State *L, size_t size_bytes);
/* Pushes the string of the first `size_bytes` (at most the reserved size) at `contents`
 * (what simlua__string_reserve returned): lua_pushlstring, whose new string takes the
 * prepared block when the size is the reserved one, so that its copy is of the bytes onto
 * themselves (glibc returns at once); otherwise it copies as usual and the block stays
 * for the next one. */
void simlua__push_reserved(lua_State *L, const uint8_t *contents, size_t size_bytes);

/* luaL_checkinteger in one call into Lua when the argument is an integer (or converts to
 * one): the usual case of the hot bindings. Otherwise luaL_checkinteger itself, which
 * raises its own error, so the messages are the same. */
static inline lua_Integer simlua__check_integer(lua_State *L, int index)
{
    int is_integer = 0;
    lua_Integer value = lua_tointegerx(L, index, &is_integer);
    return is_integer ? value : luaL_checkinteger(L, index);
}

/* The runtime of a Lua state (its allocator's user data). Inline: the bindings ask for it
 * on nearly every call. */
static inline struct simlua_runtime *simlua__runtime(lua_State *L)
{
    void *state = NULL;
    lua_getallocf(L, &state);
    assert(state != NULL);
    return state;
}

/* object.c: every scenario-visible userdata is made and checked here (a tag, never the
 * metatable, says its type; see the file's header). */
enum simlua_type {
    SIMLUA_TYPE_WORLD = 1,
    SIMLUA_TYPE_ENDPOINT,
    SIMLUA_TYPE_PROCESS,
    SIMLUA_TYPE_SOCKET,
    SIMLUA_TYPE_SOCKET_OP,
    SIMLUA_TYPE_DEVICE,
    SIMLUA_TYPE_VMCI,
    SIMLUA_TYPE_DATAGRAM,
    SIMLUA_TYPE_QUEUE_PAIR,
    SIMLUA_TYPE_PROGRAM,
    SIMLUA_TYPE_COUNT,
};
const char *simlua__type_name(enum simlua_type type);
/* Pushes a new zeroed object with its type's metatable; returns its payload. */
void *simlua__object_new(lua_State *L, size_t payload_bytes, enum simlua_type type);
/* The same object without a metatable, for state that only ever sits in a stack slot of a
 * binding's own C frame (the scenario never gets it, so no metatable can matter); checked
 * by its tag like any other. The Lua objects made are the same as simlua__object_new's. */
void *simlua__object_new_hidden(lua_State *L, size_t payload_bytes, enum simlua_type type);
/* The header before each payload (object.c); its size keeps the payload maximally
 * aligned. Here so that the checks every method call makes are inline. */
#define SIMLUA_OBJECT_MAGIC 0x766d63697369d00dull     /* "vmcisi" + a marker */
struct simlua_object_tag {
    alignas(max_align_t) uint64_t magic;
    uint32_t type;
    uint32_t payload_bytes;
};
/* The payload, or NULL when the value is not such an object. Never raises. Inline: every
 * method call runs it (two calls into Lua: the pointer, and the length that proves the
 * block holds a whole tag and payload before either is read; a light userdata has no
 * length, so the pointer it holds is never read). */
static inline void *simlua__object_test(lua_State *L, int index, enum simlua_type type)
{
    assert(type > 0 && type < SIMLUA_TYPE_COUNT);
    struct simlua_object_tag *tag = lua_touserdata(L, index);
    if (tag == NULL)
        return NULL;
    size_t length = (size_t)lua_rawlen(L, index);
    if (length < sizeof(*tag) || tag->magic != SIMLUA_OBJECT_MAGIC ||
        tag->type != (uint32_t)type || length != sizeof(*tag) + tag->payload_bytes)
        return NULL;
    return tag + 1;
}
/* Raises the argument error of simlua__object_check (the value at index is not a `type`). */
_Noreturn void simlua__object_check_failed(lua_State *L, int index, enum simlua_type type);
/* Whether a payload pointer kept by C (a continuation's context) is still that of a live
 * object of this type: its tag, read without asking Lua. For assertions. */
static inline bool simlua__payload_has_type(const void *payload, enum simlua_type type)
{
    assert(type > 0 && type < SIMLUA_TYPE_COUNT);
    const struct simlua_object_tag *tag = (const struct simlua_object_tag *)payload - 1;
    return payload != NULL && tag->magic == SIMLUA_OBJECT_MAGIC && tag->type == (uint32_t)type;
}
/* Creates the type's named metatable (protected by __metatable) and leaves it pushed. */
void simlua__metatable_new(lua_State *L, enum simlua_type type);
/* Whether Lua is running a __gc finalizer now (also during lua_close). */
bool simlua__in_finalizer(lua_State *L);
/* Every __gc a binding sets starts and ends with these (simlua__in_finalizer counts them). */
struct simlua_runtime *simlua__finalizer_begin(lua_State *L);
void simlua__finalizer_end(struct simlua_runtime *runtime);
/* Raises unless bindings may run now: not in a finalizer, and the world still exists. */
void simlua__check_usable(lua_State *L, const char *what);
/* The raising half of simlua__check_usable (called only when bindings may not run). */
_Noreturn void simlua__check_usable_failed(lua_State *L, struct simlua_runtime *runtime,
                                           const char *what);
/* The payload of the object at index, or raises (wrong type, inside a finalizer, or the
 * world is gone). Inline: every method call runs it; what raises is out of line. The _in
 * form takes the state's runtime, for a binding that needs it again. */
static inline void *simlua__object_check_in(lua_State *L, struct simlua_runtime *runtime,
                                            int index, enum simlua_type type)
{
    assert(runtime != NULL);   /* simlua__runtime(L), which costs a call into Lua */
    if (runtime->finalizers_running > 0 || runtime->world == NULL)
        simlua__check_usable_failed(L, runtime, simlua__type_name(type));
    void *payload = simlua__object_test(L, index, type);
    if (payload == NULL)
        simlua__object_check_failed(L, index, type);
    return payload;
}
static inline void *simlua__object_check(lua_State *L, int index, enum simlua_type type)
{
    return simlua__object_check_in(L, simlua__runtime(L), index, type);
}

/* Pushes the table the runtime keeps at registry[reference] (a list of objects). The
 * registry is reachable from a scenario with debug.getregistry, so a value found there
 * that is not a table is replaced by an empty one (returns false then). */
bool simlua__registry_table(lua_State *L, int reference);

/* chunk_cache.c: compiled chunks a sweep worker loads again without parsing. */
#define SIMLUA_CHUNK_CACHE_ENTRIES_MAX 16u
#define SIMLUA_CHUNK_CACHE_BYTES_MAX (16u * 1024 * 1024)    /* texts and their code, in all */
/* Names longer than this are not cached (the parser may reuse such a name's string). */
#define SIMLUA_CHUNK_CACHE_NAME_BYTES_MAX 1000u
/* luaL_loadbufferx(L, text, text_bytes, name, "t"), from the cache when the runtime's
 * option reuse_chunks allows it; the same result and, for a scenario, the same objects. */
int simlua__chunk_load(lua_State *L, const char *text, size_t text_bytes, const char *name);
/* Loads this process served from the cache so far (for tests). */
uint64_t simlua__chunk_cache_loads(void);

/* pattern.c: sim.pattern (docs/scenario-api.md). */
int simlua__sim_pattern(lua_State *L);
/* Bytes offset .. offset + length - 1 of pattern `seed` into out; vector_allowed false keeps
 * to one word at a time (the tests compare both ways). */
void simlua__pattern_fill(uint8_t *out, uint64_t seed, uint64_t offset, uint64_t length,
                          bool vector_allowed);

/* coroutine_guard.c: coroutines never cross simulated processes (see the file). */
/* Replaces coroutine.create/resume/wrap/close with the guarded ones (sandbox opening). */
void simlua__coroutine_guard_open(lua_State *L);
/* Marks `thread` as the body of process `pid`: only the engine resumes it. */
void simlua__coroutine_mark_fiber(lua_State *thread, uint32_t pid);

/* runtime.c */
/* The allocator's rules (runtime.c): whether a new block of `tag` (Lua's type tag, 0 for a
 * block that is no object) and `bytes` counts in the collector's pace, whether such an
 * object gets a creation number, and whether it is a short string's block, whose bytes
 * pace the collector apart (short_string_block_bytes_max: the runtime's measure). */
bool simlua__block_is_paced(size_t tag, size_t bytes);
bool simlua__tag_is_numbered(size_t tag);
bool simlua__block_is_short_string(size_t tag, size_t bytes, size_t short_string_block_bytes_max);
int simlua__file_record(struct simlua_runtime *runtime, const char *path, const char *text,
                        size_t text_bytes);
void simlua__failure(struct simlua_runtime *runtime, const char *vm, const char *process,
                     const char *message);
/* A protected call of the scenario (pcall, xpcall, coroutine.resume, a coroutine.wrap
 * function) caught a memory error (LUA_ERRMEM). When the allocator refused a block at
 * SIMLUA_MEMORY_BYTES_MAX in this step, the limit was met, which stops the run and fails
 * it although the scenario caught the error (docs/limits.md); otherwise it was
 * error("not enough memory"), which Lua raises as a memory error, and nothing happens.
 * Asks nothing of the Lua state and never raises. */
void simlua__memory_error_caught(lua_State *L);
/* sandbox_protected.c: pcall and xpcall as Lua's, which also tell a caught memory error
 * to simlua__memory_error_caught. */
void simlua__sandbox_protected_open(lua_State *L);
/* Starts a step: resets the instruction count, collects garbage when it is due. */
void simlua__step_begin(struct simlua_runtime *runtime);
/* A full collection now (collectgarbage("collect")); restarts the collection pace. */
void simlua__gc_collect(lua_State *L);
/* The creation number stored in front of an object's block (0: not a numbered object). */
uint64_t simlua__block_creation(const void *block);
/* Loads a Lua file as text (records it for the trace). Pushes the chunk or an error. */
int simlua__load_file(lua_State *L, const char *path);
/* Whether `path` can be loaded: on disk, or among the preloaded texts of a replay. */
bool simlua__file_exists(const struct simlua_runtime *runtime, const char *path);
const char *simlua__current_endpoint_name(struct simlua_runtime *runtime);
struct simlua_process *simlua__current_process(struct simlua_runtime *runtime);
/* lua_pcall with a traceback handler; on error leaves the message + traceback. */
int simlua__pcall_traceback(lua_State *L, int argument_count, int result_count);

/* jitter.c: the sim.world `jitter` option (docs/cost-model.md, "Jitter"). */
struct simlua_jitter {
    struct vmci_jitter costs[VMCI_COST_COUNT];  /* stream pointers unset until applied */
    bool schedule;                              /* seeded tie-break of equal-time wake-ups */
};
/* Reads options.jitter (the table at `options`); raises on anything invalid. */
void simlua__jitter_parse(lua_State *L, int options, struct simlua_jitter *out);
/* Gives the new world's costs and engine their streams and, when anything is on, traces the
 * `jitter` event; never fails on a fresh world. */
void simlua__jitter_apply(struct simlua_world *world, const struct simlua_jitter *jitter);

/* fault_rates.c: rates of whole-VM and process faults (docs/faults.md, "Rates"). */
enum simlua_fault_rate {
    SIMLUA_RATE_SUSPEND = 0,        /* a running guest suspended, resumed after suspend_ns */
    SIMLUA_RATE_VMOTION,            /* a running guest moved (vm:vmotion(); ESX/ESXi only) */
    SIMLUA_RATE_POWER_CYCLE,        /* powered off, powered on again after power_off_ns */
    SIMLUA_RATE_KILL,               /* a non-daemon process of a running guest killed */
};
_Static_assert(SIMLUA_RATE_KILL + 1 == SIMLUA_FAULT_RATE_COUNT, "one name per rate");
/* A rate is kept in millionths of an arrival per simulated second (exact everywhere). */
#define SIMLUA_FAULT_RATE_MICRO 1000000u
/* The highest rate a world may ask for, per simulated second (a mean gap of 1 ms). */
#define SIMLUA_FAULT_RATE_PER_S_MAX 1000u
/* The longest suspension or power-off a rate may draw (one simulated hour). */
#define SIMLUA_FAULT_RATE_DELAY_NS_MAX 3600000000000ull
struct simlua_fault_rates_config {
    uint64_t rate_micro_per_s[SIMLUA_FAULT_RATE_COUNT];     /* 0: the rate is off */
    uint64_t suspend_ns_min, suspend_ns_max;                /* drawn uniformly between */
    uint64_t power_off_ns_min, power_off_ns_max;
};
/* The running rates of a world (NULL in a world without any). */
struct simlua_fault_rates;
/* Reads the rate keys of the faults table at `table`; raises `sim.world faults: ...` on
 * anything invalid (vmotion under a product without vMotion: `esx` false). */
void simlua__fault_rates_parse(lua_State *L, int table, bool esx,
                               struct simlua_fault_rates_config *out);
bool simlua__fault_rates_any(const struct simlua_fault_rates_config *config);
/* -ln(x / 2^64) in Q32 fixed point for x >= 1: the exponential draw behind every gap. */
uint64_t simlua__minus_ln_q32(uint64_t x);
/* Starts the rates of a new world whose faults are configured (draws each rate's first
 * arrival from the "faults" stream). Nothing when no rate is on. */
void simlua__fault_rates_start(struct simlua_world *world,
                               const struct simlua_fault_rates_config *config);
/* At the end of the run: one `fault_rate` event per rate that is on. */
void simlua__fault_rates_trace_summary(struct simlua_world *world);
void simlua__fault_rates_destroy(struct simlua_world *world);

/* faults.c: the sim.world `faults` option (docs/faults.md). */
struct simlua_faults {
    bool on;
    struct vmci_faults_config config;
    struct simlua_fault_rates_config rates;
};
/* Reads options.faults (the table at `options`); raises on anything invalid. `esx`: the
 * product has vMotion (a `vmotion` rate needs it). */
void simlua__faults_parse(lua_State *L, int options, bool esx, struct simlua_faults *out);
/* Turns the new world's fault sites on (draws which are enabled, traces `faults_enabled`)
 * when asked; nothing at all otherwise. Never fails on a fresh world. */
void simlua__faults_apply(struct simlua_world *world, const struct simlua_faults *faults);

/* sandbox.c */
void simlua__sandbox_open(lua_State *L);
/* The sandbox's tostring of the value at index (never an address); pushes it. */
const char *simlua__tostring(lua_State *L, int index, size_t *length_out);
/* Replaces table[field] with a function that raises "<shown> is not available". */
void simlua__sandbox_set_absent(lua_State *L, int table_index, const char *field,
                                const char *shown);

/* Pushes a sequence of the keys of the table at index, in the sandbox's order. */
void simlua__sorted_keys(lua_State *L, int index);
/* Raises "<what>: unknown option 'k' (known: ...)" for a key not in `allowed` (NULL-ended);
 * the table may be nil. Keys are checked in the sandbox order, so the message is stable. */
void simlua__check_options(lua_State *L, int index, const char *const allowed[], const char *what);

/* sandbox_lib.c: the replaced parts of math, os, string, io and package. */
void simlua__sandbox_random_open(lua_State *L);
void simlua__sandbox_os_open(lua_State *L);
void simlua__sandbox_string_open(lua_State *L);
void simlua__sandbox_package_open(lua_State *L);
/* table.sort (stable merge sort) */
void simlua__sandbox_table_open(lua_State *L);
/* debug = { traceback }, collectgarbage ("collect" and "count" only) */
void simlua__sandbox_debug_open(lua_State *L);
/* Numbers every light C function reachable from the registry (sandbox.c); run again
 * after a module adds functions (require "vmcisim"). */
void simlua__sandbox_number_builtins(lua_State *L);
/* Pushes a traceback of L1 from `level` with `message` first (NULL: none). Unlike
 * luaL_traceback it never searches package.loaded for a name (hash order). */
void simlua__traceback(lua_State *L, lua_State *L1, const char *message, int level);

/* world.c */
int simlua__open_module(lua_State *L);
struct simlua_world *simlua__check_world(lua_State *L, int index);
int simlua__world_run(struct simlua_world *world, uint64_t until_ns, uint64_t max_events,
                      lua_State *L);
void simlua__world_destroy(struct simlua_world *world);
/* Records a failure of the current process (or of the world): trace event `kind`, stderr. */
/* invariants.c: checks the world's invariants (at_end: the run is over), reporting each
 * violation as a failure and an `invariant_violation` event; returns how many (0 without
 * checking once an earlier check of the world reported one). _arm
 * installs the after-event check when the options ask for paranoid runs. */
uint32_t simlua__invariants_check(struct simlua_world *world, bool at_end);
void simlua__invariants_arm(struct simlua_world *world);
void simlua__report_failure(lua_State *L, const char *kind, const char *text, size_t length);

/* endpoint.c */
/* Creates the endpoint's vSockets stack once its kernel is ready. */
void simlua__net_start(struct simlua_net *net, struct vmci_kernel *kernel);
void simlua__endpoint_register(lua_State *L);
int simlua__endpoint_push(lua_State *L, struct simlua_world *world, uint32_t index);
/* The VM endpoint at stack index 1 for a lifecycle method; raises a Lua error for the
 * host, or when called from a process of that VM itself. */
struct simlua_endpoint *simlua__check_vm(lua_State *L, struct simlua_world **world,
                                         const char *method);
/* An api-layer event `kind` with field vm = the endpoint's name, ctx = its CID. */
void simlua__trace_lifecycle(struct simlua_world *world, const struct simlua_endpoint *endpoint,
                             const char *kind);
/* lifecycle.c: vm:suspend, resume, vmotion, ft, freeze, thaw (methods table entries). */
void simlua__lifecycle_methods(lua_State *L);
/* The VM's state name for vm.state. */
const char *simlua__vm_state(const struct simlua_endpoint *endpoint);
void simlua__host_create(lua_State *L, struct simlua_world *world);
int simlua__world_host(lua_State *L);
int simlua__world_vm(lua_State *L);
int simlua__world_vms(lua_State *L);

/* vmci_binding.c */
/* Closes every p:vmci() datagram handle and queue pair of the endpoint (power-off). */
void simlua__vmci_objects_close(lua_State *L, struct simlua_endpoint *endpoint);
void simlua__vmci_register(lua_State *L);
/* vm:device(): pushes the raw-register object, or nil and a message (no device). */
int simlua__device_push(lua_State *L, struct simlua_world *world, uint32_t endpoint_index);
/* p:vmci(): pushes the driver-API object of the process at process_index. */
int simlua__vmci_push(lua_State *L, int process_index);

/* socket.c */
void simlua__socket_register(lua_State *L);
int simlua__process_socket(lua_State *L);
int simlua__process_poll(lua_State *L);
void simlua__sockets_close(lua_State *L, struct simlua_process *process);
/* Pushes one new string of the bytes `first` then `second` (a ring's two pieces; second
 * may be empty): copied once when there is one piece (the 5.4 API cannot fill a string in
 * place), gathered in a luaL_Buffer first when there are two. */
void simlua__push_pieces(lua_State *L, const uint8_t *first, uint64_t first_bytes,
                         const uint8_t *second, uint64_t second_bytes);

/* process.c */
void simlua__process_register(lua_State *L);
int simlua__process_spawn(lua_State *L, struct simlua_world *world, uint32_t endpoint_index,
                          int name_index, int fn_index, int options_index);
/* The Lua process behind an engine process, or NULL (a C fiber). */
struct simlua_process *simlua__process_of(struct sim_process *process);
/* Raises unless L is the running process's own coroutine; `method` names the call. */
struct simlua_process *simlua__check_blocking(lua_State *L, int index, const char *method);
/* Raises `<method>: cannot block here: ...` when the running coroutine cannot yield (a C
 * function such as table.sort's lies between it and the call). */
void simlua__check_yieldable(lua_State *L, const char *method);
/* Raises unless `current`, the running process, may block here: called from its own
 * coroutine (not one the scenario created), not ending, and able to yield. */
void simlua__check_may_block(lua_State *L, const struct simlua_process *current,
                             const char *method);

/* exec_binding.c: ep:exec, real programs as simulated processes (docs/programs.md). */
struct simlua_program;
int simlua__endpoint_exec(lua_State *L, struct simlua_world *world, uint32_t index);
void simlua__program_register(lua_State *L);
/* p:join(prog [, timeout_ns]) and prog:join([timeout_ns]) (process.c hands programs here). */
int simlua__program_join(lua_State *L, struct simlua_process *self, int program_index,
                         int timeout_index);
/* Power-off of endpoint `index`: its programs' sockets close, then they are killed. */
void simlua__programs_power_off(struct simlua_world *world, uint32_t index);
/* The endpoint's processes follow a CID change (resume, vMotion: R206, R8). */
void simlua__programs_follow_cid(struct simlua_world *world, uint32_t index, uint32_t cid);
/* Fault rates' kill picker: the live program whose simulated process is `process` (NULL:
 * none), its endpoint's index, and killing it as prog:kill() does (proc_kill traced from
 * no process; false when it had ended). */
struct simlua_program *simlua__program_of(const struct simlua_world *world,
                                          const struct sim_process *process);
uint32_t simlua__program_endpoint(const struct simlua_program *program);
bool simlua__program_kill(struct simlua_program *program);
/* World teardown: children still running are killed, every program freed. */
void simlua__programs_destroy(struct simlua_world *world);

#endif /* SIM_LUA_LUA_INT_H */
