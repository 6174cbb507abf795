/*
 * frame_counter: the seed's LÖVE example (main.lua here) loads two native
 * plugins, "audio_plugin.so" and "graphics_plugin.so"; both are this file,
 * built under the name PLUGIN_NAME. Each counts the frames
 * update_all_plugins gives it: exports frames() -> frames, seconds.
 * Build them for LÖVE's LuaJIT, from this folder:
 *
 *   for p in audio_plugin graphics_plugin; do
 *     cc -shared -fPIC -O2 -I/usr/include/luajit-2.1 -I../../../include \
 *        -DQTFORGE_LUA_FLAVOR=QTFORGE_LUAJIT -DPLUGIN_NAME=$p frame_counter.c -o $p.so
 *   done
 *
 * Lua itself is not linked: LÖVE provides it.
 */
#include <lua.h>
#include <lauxlib.h>

#include "qtforge_plugin.h"

#ifndef QTFORGE_LUA_FLAVOR
#define QTFORGE_LUA_FLAVOR QTFORGE_LUAJIT
#endif

#ifndef PLUGIN_NAME
#define PLUGIN_NAME frame_counter
#endif
#define STRING_OF(x) #x
#define NAME_OF(x) STRING_OF(x)

/* update(dt, info): one more frame, dt more seconds (the state is upvalue 1) */
static int update(lua_State *L) {
    lua_Number dt = luaL_checknumber(L, 1);
    lua_getfield(L, lua_upvalueindex(1), "frames");
    lua_pushnumber(L, lua_tonumber(L, -1) + 1);
    lua_setfield(L, lua_upvalueindex(1), "frames");
    lua_getfield(L, lua_upvalueindex(1), "seconds");
    lua_pushnumber(L, lua_tonumber(L, -1) + dt);
    lua_setfield(L, lua_upvalueindex(1), "seconds");
    return 0;
}

/* frames() -> the frames and seconds update has seen */
static int frames(lua_State *L) {
    lua_getfield(L, lua_upvalueindex(1), "frames");
    lua_getfield(L, lua_upvalueindex(1), "seconds");
    return 2;
}

static int open_plugin(lua_State *L) {
    int state, plugin, exports;
    lua_newtable(L);
    state = lua_gettop(L);
    lua_pushnumber(L, 0);
    lua_setfield(L, state, "frames");
    lua_pushnumber(L, 0);
    lua_setfield(L, state, "seconds");

    lua_newtable(L);
    plugin = lua_gettop(L);
    lua_pushvalue(L, state);
    lua_pushcclosure(L, update, 1);
    lua_setfield(L, plugin, "update");

    lua_newtable(L);
    exports = lua_gettop(L);
    lua_pushvalue(L, state);
    lua_pushcclosure(L, frames, 1);
    lua_setfield(L, exports, "frames");
    lua_setfield(L, plugin, "exports");
    return 1;
}

static const char *const export_names[] = {"frames"};

static const qtforge_plugin_info plugins[] = {{
    .name = NAME_OF(PLUGIN_NAME),
    .version = "1.0.0",
    .description = "One of the seed's plugins: counts the frames it is given",
    .exports = export_names,
    .export_count = 1,
    .open = open_plugin,
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
