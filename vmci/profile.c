/* SPDX-License-Identifier: MIT */
/*
 * vmci/profile.c: the profile table of reference section 9.
 *
 * Rows are families of product ids; a family's host-OS split (Linux/Mac/Windows)
 * is applied in family_apply. Entries the Guide does not state are the
 * reference's simulator choices (its section 9 source note).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "profile.h"

const char *const vmci_profile_ids[] = {
    "esxi-4.0", "esxi-4.1", "esxi-5.0", "esxi-5.1", "esxi-5.5", "esxi-6.0", "esxi-6.5",
    "workstation-6.5", "workstation-7", "workstation-8", "workstation-9", "server-2.0",
    "player-2.5", "player-3", "player-4", "player-5", "fusion-3", "fusion-4", "fusion-5",
    NULL,
};

enum family {
    FAMILY_WS65,        /* WS 6.5, Server 2.0, Player 2.5 */
    FAMILY_ESX4,        /* ESX/ESXi 4.0, 4.1 */
    FAMILY_WS7,         /* WS 7.x, Player 3, Fusion 3.x */
    FAMILY_ESXI50,      /* ESXi 5.0 */
    FAMILY_WS8,         /* WS 8.x, Player 4, Fusion 4.x */
    FAMILY_WS9,         /* WS 9+, Fusion 5+, Player 5+ */
    FAMILY_ESXI51,      /* ESXi 5.1, 5.5, 6.0, 6.5 */
};

static const struct {
    const char *id;
    enum family family;
} product_families[] = {
    { "esxi-4.0", FAMILY_ESX4 }, { "esxi-4.1", FAMILY_ESX4 }, { "esxi-5.0", FAMILY_ESXI50 },
    { "esxi-5.1", FAMILY_ESXI51 }, { "esxi-5.5", FAMILY_ESXI51 }, { "esxi-6.0", FAMILY_ESXI51 },
    { "esxi-6.5", FAMILY_ESXI51 }, { "workstation-6.5", FAMILY_WS65 },
    { "workstation-7", FAMILY_WS7 }, { "workstation-8", FAMILY_WS8 },
    { "workstation-9", FAMILY_WS9 }, { "server-2.0", FAMILY_WS65 },
    { "player-2.5", FAMILY_WS65 }, { "player-3", FAMILY_WS7 }, { "player-4", FAMILY_WS8 },
    { "player-5", FAMILY_WS9 }, { "fusion-3", FAMILY_WS7 }, { "fusion-4", FAMILY_WS8 },
    { "fusion-5", FAMILY_WS9 },
};

const char *vmci_host_os_name(enum vmci_host_os host_os)
{
    switch (host_os) {
    case VMCI_HOST_ESX: return "esx";
    case VMCI_HOST_LINUX: return "linux";
    case VMCI_HOST_WINDOWS: return "windows";
    case VMCI_HOST_MAC: return "mac";
    }
    return "?";
}

static void family_apply(enum family family, enum vmci_host_os os, struct vmci_profile *profile)
{
    bool linux_host = os == VMCI_HOST_LINUX;
    profile->host_queue_pairs = true;
    profile->host_stream_sockets = true;
    profile->unrestricted_honoured = true;
    profile->domain_honoured = false;
    profile->guest_to_guest = true;
    switch (family) {
    case FAMILY_WS65:
        profile->host_queue_pairs = false;                  /* dgram only host<->guest */
        profile->trust = linux_host ? VMCI_TRUST_NET_ADMIN : VMCI_TRUST_NONE;
        break;
    case FAMILY_ESX4:
    case FAMILY_ESXI50:
        profile->domain_honoured = true;
        profile->trust = VMCI_TRUST_ESX_PRIVILEGE;
        break;
    case FAMILY_WS7:
        if (os == VMCI_HOST_WINDOWS) {                      /* WS 7 / Player 3 on Windows */
            profile->host_queue_pairs = false;
            profile->host_stream_sockets = false;
        }
        profile->trust = linux_host ? VMCI_TRUST_NET_ADMIN : VMCI_TRUST_NONE;
        break;
    case FAMILY_WS8:
        profile->trust = VMCI_TRUST_SAME_USER;
        break;
    case FAMILY_WS9:
        profile->guest_to_guest = false;
        profile->unrestricted_honoured = false;
        profile->trust = VMCI_TRUST_SAME_USER;
        break;
    case FAMILY_ESXI51:
        profile->guest_to_guest = false;
        profile->unrestricted_honoured = false;
        profile->trust = VMCI_TRUST_ESX_PRIVILEGE;
        break;
    }
}

static int parse_os(const char *text, enum vmci_host_os *os)
{
    static const char *const names[] = { "esx", "linux", "windows", "mac" };
    for (int index = 0; index < 4; index++) {
        if (strcmp(text, names[index]) == 0) {
            *os = (enum vmci_host_os)index;
            return 0;
        }
    }
    return -1;
}

static bool os_allowed(const char *id, enum vmci_host_os os)
{
    if (strncmp(id, "esxi-", 5) == 0)
        return os == VMCI_HOST_ESX;
    if (strncmp(id, "fusion-", 7) == 0)
        return os == VMCI_HOST_MAC;
    return os == VMCI_HOST_LINUX || os == VMCI_HOST_WINDOWS;
}

int vmci_profile_lookup(const char *id, const char *host_os, struct vmci_profile *profile,
                        char *message, unsigned message_bytes)
{
    assert(id != NULL);
    assert(profile != NULL);
    size_t count = sizeof(product_families) / sizeof(product_families[0]);
    size_t row = 0;
    while (row < count && strcmp(product_families[row].id, id) != 0)
        row++;
    if (row == count) {
        snprintf(message, message_bytes, "unknown product '%s'", id);
        return -1;
    }
    bool esx = strncmp(id, "esxi-", 5) == 0;
    enum vmci_host_os os = esx ? VMCI_HOST_ESX
                               : strncmp(id, "fusion-", 7) == 0 ? VMCI_HOST_MAC : VMCI_HOST_LINUX;
    if (host_os != NULL && (parse_os(host_os, &os) < 0 || !os_allowed(id, os))) {
        snprintf(message, message_bytes, "%s does not run on host_os \"%s\"", id, host_os);
        return -2;
    }
    memset(profile, 0, sizeof(*profile));
    profile->id = product_families[row].id;
    profile->host_os = os;
    profile->esx = esx;
    family_apply(product_families[row].family, os, profile);
    return 0;
}

bool vmci_profile_has_trusted_endpoints(const struct vmci_profile *profile)
{
    return profile->trust != VMCI_TRUST_NONE;
}

void vmci_profile_host_identity(const struct vmci_profile *profile, bool trusted_option,
                                bool user_given, bool net_admin, bool *trusted, bool *owner_rule)
{
    assert(profile != NULL && trusted != NULL && owner_rule != NULL);
    bool linux_admin = net_admin && profile->host_os == VMCI_HOST_LINUX;
    *owner_rule = false;
    switch (profile->trust) {
    case VMCI_TRUST_NONE:
        *trusted = false;
        break;
    case VMCI_TRUST_ESX_PRIVILEGE:
        *trusted = trusted_option;
        break;
    case VMCI_TRUST_NET_ADMIN:
        *trusted = trusted_option || linux_admin;
        break;
    case VMCI_TRUST_SAME_USER:
        /* D1: by default the process acts as the owner of every VM; a named user is
         * trusted exactly for that user's VMs (R50), plus CAP_NET_ADMIN on Linux. */
        *owner_rule = user_given && trusted_option;
        *trusted = (!user_given && trusted_option) || linux_admin;
        break;
    }
}
