/*
 * A plugin library of the right ABI and Lua whose one plugin has a bad name
 * ("Bad Name!") and a version that is not semver ("x"): qtforge refuses it as
 * an invalid manifest. Its open raises, so a spec notices if it were ever called.
 */
#include <lua.h>

#include "qtforge_plugin.h"

#ifndef QTFORGE_LUA_FLAVOR
#error "pass -DQTFORGE_LUA_FLAVOR=QTFORGE_LUA54 or QTFORGE_LUAJIT (scripts/build-examples.sh does)"
#endif


static int open_never(lua_State *L) {
    lua_pushstring(L, "bad_info.so: open must not be called");
    return lua_error(L);
}

static const qtforge_plugin_info plugins[] = {{
    .name = "Bad Name!",
    .version = "x",
    .open = open_never,
}};

static const qtforge_descriptor descriptor = {
    .abi_version = QTFORGE_PLUGIN_ABI_VERSION,
    .lua_flavor = QTFORGE_LUA_FLAVOR,
    .plugin_count = 1,
    .plugins = plugins,
};

QTFORGE_PLUGIN_EXPORT const qtforge_descriptor *qtforge_plugin_descriptor(void) {
    return &descriptor;
}
