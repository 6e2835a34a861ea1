/* SPDX-License-Identifier: MIT */
/*
 * sim/lua/faults.c: the `faults` option of sim.world (docs/faults.md).
 *
 *   faults = nil | false                 off (the default: runs are as without the option)
 *   faults = true                        every `real` site may be enabled
 *   faults = { sites = "real" | "protocol" | "all" | { "site_name", ... },
 *              enable = P,               chance each allowed site is on for the run (0.5)
 *              fire = P,                 chance an enabled site fires when reached (0.05)
 *              dg_drop = P,              dgram_drop always on, firing with probability P
 *              suspend = R, vmotion = R, power_cycle = R, kill = R,   rates per simulated
 *              suspend_ns = D, power_off_ns = D }     second and their delays (fault_rates.c)
 *
 * Everything is checked before the world exists; applying it draws from the world's
 * "faults" stream only (vmci/faults.h), so the draws are a function of the seed.
 */
#include <assert.h>
#include <string.h>

#include "lua_int.h"
#include "vmci/faults.h"
#include "vmci/hypervisor.h"

#define FAULTS_ENABLE_DEFAULT_PPM 500000u   /* a site is on in half the runs */
#define FAULTS_FIRE_DEFAULT_PPM 50000u      /* and then fires at one reach in twenty */

/* A probability in [0, 1] as parts per million. */
static uint32_t check_probability(lua_State *L, int table, const char *field, uint32_t absent)
{
    int type = lua_getfield(L, table, field);
    uint32_t ppm = absent;
    if (type != LUA_TNIL) {
        if (type != LUA_TNUMBER)
            luaL_error(L, "sim.world faults: %s must be a number in [0, 1]", field);
        double value = lua_tonumber(L, -1);
        if (!(value >= 0.0 && value <= 1.0))
            luaL_error(L, "sim.world faults: %s must be a number in [0, 1]", field);
        ppm = (uint32_t)(value * VMCI_FAULT_PPM + 0.5);
    }
    lua_pop(L, 1);
    assert(ppm <= VMCI_FAULT_PPM);
    return ppm;
}

static void allow_class(struct simlua_faults *out, const char *class_name)
{
    for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
        enum vmci_fault_class class = vmci_fault_sites[site].class;
        if (strcmp(class_name, "all") == 0 ||
            strcmp(class_name, vmci_fault_class_name(class)) == 0)
            out->config.allowed[site] = true;
    }
}

/* sites = "real" | "protocol" | "all" | a list of site names. */
static void parse_sites(lua_State *L, int table, struct simlua_faults *out)
{
    int type = lua_getfield(L, table, "sites");
    int sites = lua_gettop(L);
    if (type == LUA_TNIL) {
        allow_class(out, "real");
    } else if (type == LUA_TSTRING) {
        const char *name = lua_tostring(L, sites);
        if (strcmp(name, "real") != 0 && strcmp(name, "protocol") != 0 &&
            strcmp(name, "all") != 0)
            luaL_error(L, "sim.world faults: sites must be \"real\", \"protocol\", \"all\" "
                          "or a list of site names");
        allow_class(out, name);
    } else if (type == LUA_TTABLE) {
        lua_Integer count = (lua_Integer)lua_rawlen(L, sites);
        if (count > VMCI_FAULT_SITE_COUNT * 4)
            luaL_error(L, "sim.world faults: sites lists at most %d names",
                       VMCI_FAULT_SITE_COUNT * 4);
        for (lua_Integer index = 1; index <= count; index++) {
            lua_rawgeti(L, sites, index);
            int site = lua_type(L, -1) == LUA_TSTRING ? vmci_fault_site_of(lua_tostring(L, -1))
                                                      : -1;
            if (site < 0)
                luaL_error(L, "sim.world faults: sites[%d] is not a site name (docs/faults.md)",
                           (int)index);
            out->config.allowed[site] = true;
            lua_pop(L, 1);
        }
    } else {
        luaL_error(L, "sim.world faults: sites must be a string or a list of site names");
    }
    lua_pop(L, 1);
}

void simlua__faults_parse(lua_State *L, int options, bool esx, struct simlua_faults *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof(*out));
    int type = lua_getfield(L, options, "faults");
    int table = lua_gettop(L);
    if (type == LUA_TBOOLEAN && lua_toboolean(L, table)) {
        out->on = true;
        allow_class(out, "real");
        for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
            out->config.enable_ppm[site] = FAULTS_ENABLE_DEFAULT_PPM;
            out->config.fire_ppm[site] = FAULTS_FIRE_DEFAULT_PPM;
        }
    } else if (type == LUA_TTABLE) {
        static const char *const allowed[] = { "sites", "enable", "fire", "dg_drop",
                                               "suspend", "vmotion", "power_cycle", "kill",
                                               "suspend_ns", "power_off_ns", NULL };
        simlua__check_options(L, table, allowed, "sim.world faults");
        simlua__fault_rates_parse(L, table, esx, &out->rates);
        out->on = true;
        parse_sites(L, table, out);
        uint32_t enable_ppm = check_probability(L, table, "enable", FAULTS_ENABLE_DEFAULT_PPM);
        uint32_t fire_ppm = check_probability(L, table, "fire", FAULTS_FIRE_DEFAULT_PPM);
        for (int site = 0; site < VMCI_FAULT_SITE_COUNT; site++) {
            out->config.enable_ppm[site] = enable_ppm;
            out->config.fire_ppm[site] = fire_ppm;
        }
        if (lua_getfield(L, table, "dg_drop") != LUA_TNIL) {
            out->config.allowed[VMCI_FAULT_DGRAM_DROP] = true;
            out->config.enable_ppm[VMCI_FAULT_DGRAM_DROP] = VMCI_FAULT_PPM;
            out->config.fire_ppm[VMCI_FAULT_DGRAM_DROP] = check_probability(L, table, "dg_drop", 0);
        }
        lua_pop(L, 1);
    } else if (type != LUA_TNIL && type != LUA_TBOOLEAN) {
        luaL_error(L, "sim.world: faults must be true, false or a table");
    }
    lua_pop(L, 1);
}

void simlua__faults_apply(struct simlua_world *world, const struct simlua_faults *faults)
{
    assert(world != NULL && faults != NULL);
    if (!faults->on)
        return;                 /* no stream, no event: the run is as without the option */
    int rc = vmci_faults_configure(vmci_hypervisor_faults(world->hypervisor), world->engine,
                                   &faults->config);
    assert(rc == SIM_OK);       /* probabilities checked by the parser; a fresh engine has room */
    (void)rc;
    simlua__fault_rates_start(world, &faults->rates);
}
