/*
 * A plugin library that claims ABI version 2. Everything else is valid, so the
 * only reason to refuse it is the version: qtforge says abi_mismatch. Its open
 * raises, so a spec notices if it were ever called.
 */
#include <lua.h>

#include "qtforge_plugin.h"

#ifndef QTFORGE_LUA_FLAVOR
#error "pass -DQTFORGE_LUA_FLAVOR=QTFORGE_LUA54 or QTFORGE_LUAJIT (scripts/build-examples.sh does)"
#endif


static int open_never(lua_State *L) {
    lua_pushstring(L, "abi_v2.so: open must not be called");
    return lua_error(L);
}

static const qtforge_plugin_info plugins[] = {{
    .name = "abi_two",
    .version = "1.0.0",
    .open = open_never,
}};

static const qtforge_descriptor descriptor = {
    .abi_version = 2,
    .lua_flavor = QTFORGE_LUA_FLAVOR,
    .plugin_count = 1,
    .plugins = plugins,
};

QTFORGE_PLUGIN_EXPORT const qtforge_descriptor *qtforge_plugin_descriptor(void) {
    return &descriptor;
}
