/* SPDX-License-Identifier: MIT */
/*
 * vmci/spares.h: a short list of freed blocks kept for reuse, for the copies of datagrams
 * in flight (a host delivery, a guest's DATA_IN queue). Every datagram of a stream's
 * notification protocol is copied into one such block and freed a hop later; malloc and
 * free of it cost more than the rest of the hop's own work (issue 10, item 6).
 *
 * Only a small datagram's block is kept: every block for a datagram of at most
 * VMCI_SPARE_DATA_BYTES bytes is allocated with room for that many, so any kept block
 * fits any small datagram; a larger one is allocated to its size and freed as before.
 * Invariants: count <= VMCI_SPARES_MAX (a full list frees what it is given); the list
 * holds only blocks of `header_bytes + VMCI_SPARE_DATA_BYTES`, of one owner, so one
 * owner's list serves only its own kind of block. A block's contents are never read
 * before they are written: reuse changes nothing a run can observe. Under
 * AddressSanitizer nothing is kept, so a use after free is still reported.
 */
#ifndef VMCI_SPARES_H
#define VMCI_SPARES_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The datagrams whose blocks are kept: up to this many bytes, header included (a stream
 * control packet is 56). */
#define VMCI_SPARE_DATA_BYTES 256u
/* The blocks one list keeps at most: a few datagrams in flight at once per owner. */
#if defined(__SANITIZE_ADDRESS__)
#define VMCI_SPARES_MAX 0u
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMCI_SPARES_MAX 0u
#endif
#endif
#ifndef VMCI_SPARES_MAX
#define VMCI_SPARES_MAX 16u
#endif

struct vmci_spare {
    struct vmci_spare *next;
};

struct vmci_spares {
    struct vmci_spare *head;        /* owned */
    uint32_t count;                 /* <= VMCI_SPARES_MAX */
};

/* A block of header_bytes + data_bytes (at least), a kept one when the data is small
 * and one is kept; NULL when out of memory. Give it back with vmci_spares_give(). */
static inline void *vmci_spares_take(struct vmci_spares *spares, size_t header_bytes,
                                     size_t data_bytes)
{
    assert(spares != NULL && header_bytes >= sizeof(struct vmci_spare));
    if (data_bytes > VMCI_SPARE_DATA_BYTES)
        return malloc(header_bytes + data_bytes);
    struct vmci_spare *block = spares->head;
    if (block == NULL)
        return malloc(header_bytes + VMCI_SPARE_DATA_BYTES);
    assert(spares->count > 0);
    spares->head = block->next;
    spares->count--;
    return block;
}

/* Takes back a block of vmci_spares_take(spares, header_bytes, data_bytes): kept while
 * the list has room and the block has the small size, freed otherwise. */
static inline void vmci_spares_give(struct vmci_spares *spares, void *block,
                                    size_t data_bytes)
{
    assert(spares != NULL && block != NULL);
    assert(spares->count <= VMCI_SPARES_MAX);
    if (data_bytes > VMCI_SPARE_DATA_BYTES || spares->count + 1u > VMCI_SPARES_MAX) {
        free(block);
        return;
    }
    struct vmci_spare *spare = block;
    spare->next = spares->head;
    spares->head = spare;
    spares->count++;
}

/* Frees every kept block (the owner's teardown). */
static inline void vmci_spares_free(struct vmci_spares *spares)
{
    assert(spares != NULL);
    for (uint32_t step = 0; step <= VMCI_SPARES_MAX && spares->head != NULL; step++) {
        struct vmci_spare *block = spares->head;
        spares->head = block->next;
        free(block);
        spares->count--;
    }
    assert(spares->head == NULL && spares->count == 0);
}

#endif /* VMCI_SPARES_H */
