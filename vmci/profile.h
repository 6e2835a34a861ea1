/* SPDX-License-Identifier: MIT */
/*
 * vmci/profile.h: product profiles (reference section 9, decisions D1, D2, D9).
 *
 * One row per product id of D2. A profile decides what the Guide says differs
 * between releases: host queue pairs (host<->guest streams), guest-to-guest
 * traffic, whether vmci0.unrestricted and vmci0.domain are honoured, and how a
 * host process becomes a trusted endpoint.
 */
#ifndef VMCI_PROFILE_H
#define VMCI_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

enum vmci_host_os {
    VMCI_HOST_ESX = 0,
    VMCI_HOST_LINUX,
    VMCI_HOST_WINDOWS,
    VMCI_HOST_MAC,
};

/* How a host process can be a trusted endpoint (R50). */
enum vmci_trust_rule {
    VMCI_TRUST_NONE = 0,        /* no trusted host endpoint at all */
    VMCI_TRUST_ESX_PRIVILEGE,   /* dgram_vsocket_trusted / stream_vsocket_trusted */
    VMCI_TRUST_NET_ADMIN,       /* Linux host: CAP_NET_ADMIN */
    VMCI_TRUST_SAME_USER,       /* WS 8+/Fusion 4+/Player 4+: owner of the peer VM (+ CAP_NET_ADMIN on Linux) */
};

struct vmci_profile {
    const char *id;                 /* "esxi-6.5" ... */
    enum vmci_host_os host_os;
    bool esx;                       /* ESX/ESXi: vMotion, FT, LOCAL host queue pairs (D9) */
    bool host_queue_pairs;          /* R98/R200: queue pairs between host and guests */
    bool host_stream_sockets;       /* false: host socket(SOCK_STREAM) fails ESOCKTNOSUPPORT */
    bool guest_to_guest;            /* R197, when both VMs are unrestricted (and same domain) */
    bool unrestricted_honoured;     /* R196 */
    bool domain_honoured;           /* R198, D5 */
    enum vmci_trust_rule trust;
};

/* Fills *profile for (id, host_os). host_os NULL means the product's default (linux for
 * hosted products, mac for Fusion, esx for ESX). Returns 0, -1 for an unknown id, -2 for
 * a host OS the product never ran on (a message for both is in `message`). */
int vmci_profile_lookup(const char *id, const char *host_os, struct vmci_profile *profile,
                        char *message, unsigned message_bytes);
const char *vmci_host_os_name(enum vmci_host_os host_os);
/* Whether the profile can make any trusted host endpoint (D1's default trust). */
bool vmci_profile_has_trusted_endpoints(const struct vmci_profile *profile);
/* D1, R50: the identity of a host process under this profile. trusted_option is the
 * spawn option (default true), user_given says whether a `user` was named, net_admin
 * whether the process holds CAP_NET_ADMIN. Returns false in *trusted and *owner_rule
 * where the profile makes no trusted endpoint. */
void vmci_profile_host_identity(const struct vmci_profile *profile, bool trusted_option,
                                bool user_given, bool net_admin, bool *trusted, bool *owner_rule);
/* Product ids in D2 order, NULL-terminated. */
extern const char *const vmci_profile_ids[];

#endif /* VMCI_PROFILE_H */
