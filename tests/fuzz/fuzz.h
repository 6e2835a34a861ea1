/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz.h: what the four fuzz targets share (docs/fuzzing.md).
 *
 * Each target is one file that defines LLVMFuzzerTestOneInput and, when it needs one-time
 * set-up, LLVMFuzzerInitialize. The same file links either with clang's libFuzzer
 * (`make fuzz`) or with tests/fuzz/replay_main.c (gcc, `make test`), which feeds it the
 * checked-in corpus. A target treats its input as hostile and reads it through a
 * fuzz_input cursor: past the end every read returns zero, so any byte string is a valid
 * input and the decoding never fails. A broken invariant calls fuzz_fail, which prints
 * what broke and aborts: libFuzzer records the input as a crash, the replay driver dies.
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

struct fuzz_input {
    const uint8_t *data;
    size_t size_bytes;
    size_t position;
};

static inline struct fuzz_input fuzz_input_make(const uint8_t *data, size_t size_bytes)
{
    struct fuzz_input input = { data, size_bytes, 0 };
    return input;
}

static inline bool fuzz_input_done(const struct fuzz_input *input)
{
    return input->position >= input->size_bytes;
}

static inline size_t fuzz_input_left(const struct fuzz_input *input)
{
    return input->position >= input->size_bytes ? 0 : input->size_bytes - input->position;
}

static inline uint8_t fuzz_u8(struct fuzz_input *input)
{
    return fuzz_input_done(input) ? 0 : input->data[input->position++];
}

static inline uint16_t fuzz_u16(struct fuzz_input *input)
{
    uint16_t low = fuzz_u8(input);
    return (uint16_t)(low | (uint16_t)fuzz_u8(input) << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_input *input)
{
    uint32_t low = fuzz_u16(input);
    return low | (uint32_t)fuzz_u16(input) << 16;
}

static inline uint64_t fuzz_u64(struct fuzz_input *input)
{
    uint64_t low = fuzz_u32(input);
    return low | (uint64_t)fuzz_u32(input) << 32;
}

/* Up to `size_bytes` bytes of the input (fewer near its end); returns how many. */
static inline size_t fuzz_bytes(struct fuzz_input *input, uint8_t *out, size_t size_bytes)
{
    size_t take = fuzz_input_left(input) < size_bytes ? fuzz_input_left(input) : size_bytes;
    for (size_t index = 0; index < take; index++)
        out[index] = input->data[input->position + index];
    input->position += take;
    return take;
}

/* Prints "fuzz: <target>: <what>" on stderr and aborts. */
_Noreturn void fuzz_fail(const char *target, const char *what);

/* Sends the target's own stdout to /dev/null (a run prints what a scenario logs); the
 * sanitizers and fuzz_fail write to stderr, which stays. */
void fuzz_quiet_stdout(void);

/* Makes glibc keep large blocks and freed memory in its heap, so that an input does not
 * map and fault in afresh what the input before it freed (LLVMFuzzerInitialize). */
void fuzz_keep_heap(void);

/* The vSockets address (AF_VSOCK, cid, port, the rest zero) the stream targets connect to
 * and bind (vsock/vmci_sockets.h defines the type). */
struct sockaddr_vm;
struct sockaddr_vm fuzz_address(uint32_t cid, uint32_t port);

#endif /* TESTS_FUZZ_FUZZ_H */
