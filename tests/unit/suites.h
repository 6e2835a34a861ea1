/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/suites.h: the one list of CUnit suites.
 *
 * Each tests/unit/<module>_test.c defines one `<module>_suite_add()` that adds
 * its suite to the registry and returns a CUnit error code. test_main.c calls
 * them in this order.
 */
#ifndef TESTS_UNIT_SUITES_H
#define TESTS_UNIT_SUITES_H

#include <CUnit/CUnit.h>

#define TEST_SUITES(X) \
    X(rng)             \
    X(evq)             \
    X(process)         \
    X(domain)          \
    X(fiber)           \
    X(digest)          \
    X(trace_writer)    \
    X(lua_runtime)     \
    X(sandbox)         \
    X(lua_hostile)     \
    X(queue_pair)      \
    X(vmci_routing)    \
    X(device)          \
    X(vmci_broker)     \
    X(vmci_hostile)    \
    X(vsock_stream)    \
    X(vsock_dgram)     \
    X(vsock_address_rules) \
    X(vsock_core_rules) \
    X(vsock_options_rules) \
    X(vsock_handshake_rules) \
    X(vsock_notify_rules) \
    X(lifecycle)       \
    X(export)          \
    X(jitter)          \
    X(invariants)      \
    X(faults)          \
    X(fault_rates)     \
    X(fault_sites_vsock) \
    X(fault_sites_vmci) \
    X(lookups)         \
    X(exec_sandbox) \
    X(summary_tables) \
    X(summary_live) \
    X(lua_pool) \
    X(exec_fdmap)      \
    X(exec_protocol) \
    X(exec_channel) \
    X(vsock_isolation) \
    X(exec_pipe) \
    X(exec_process) \
    X(exec_thread) \
    X(layout) \
    X(data_hash) \
    X(avx_upper_state) \
    X(lua_block_set)

#define TEST_SUITE_DECLARE(name) CU_ErrorCode name##_suite_add(void);
TEST_SUITES(TEST_SUITE_DECLARE)
#undef TEST_SUITE_DECLARE

#endif /* TESTS_UNIT_SUITES_H */
