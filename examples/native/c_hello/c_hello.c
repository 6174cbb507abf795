/*
 * A native qtforge plugin in C: one plugin, "c_hello", exporting greet(name)
 * and loaded_as().
 *
 *   cc -shared -fPIC -O2 -I/usr/include/lua5.4 -Iinclude \
 *      -DQTFORGE_LUA_FLAVOR=QTFORGE_LUA54 examples/native/c_hello/c_hello.c -o c_hello.so
 *
 * (LuaJIT: -I/usr/include/luajit-2.1 -DQTFORGE_LUA_FLAVOR=QTFORGE_LUAJIT.)
 * Without -DQTFORGE_LUA_FLAVOR the flavour follows the lua.h it is compiled
 * against. Lua itself is not linked: the host interpreter provides it.
 *
 * The plugin's state is a Lua table shared by its functions as their first
 * upvalue, so every open makes a fresh instance and nothing is global.
 */
#include <lua.h>
#include <lauxlib.h>

#include "qtforge_plugin.h"

#ifndef QTFORGE_LUA_FLAVOR
#if LUA_VERSION_NUM == 504
#define QTFORGE_LUA_FLAVOR QTFORGE_LUA54
#elif LUA_VERSION_NUM == 501 /* LuaJIT speaks the Lua 5.1 C API */
#define QTFORGE_LUA_FLAVOR QTFORGE_LUAJIT
#else
#error "build against Lua 5.4 or LuaJIT headers, or pass -DQTFORGE_LUA_FLAVOR"
#endif
#endif


/* -DC_HELLO_GREETING='"..."' builds a variant: the specs reload one over the other */
#ifndef C_HELLO_GREETING
#define C_HELLO_GREETING "Hello from C"
#endif

/* on_load(ctx): keeps ctx.id, ctx.deps and ctx.config.greeting (when it is a string) */
static int on_load(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "id");
    lua_setfield(L, lua_upvalueindex(1), "id");
    lua_getfield(L, 1, "deps");
    lua_setfield(L, lua_upvalueindex(1), "deps");
    lua_getfield(L, 1, "config");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "greeting");
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_setfield(L, lua_upvalueindex(1), "greeting");
        }
    }
    return 0;
}

/* greet(name) -> "<greeting>, <name>!"; the greeting comes from the optional
 * dependency c_greeting (a plugin of any kind exporting word()) when it is loaded */
static int greet(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, lua_upvalueindex(1), "deps");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "c_greeting");
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "word");
            if (lua_isfunction(L, -1)) {
                lua_call(L, 0, 1);
                lua_pushfstring(L, "%s, %s!", luaL_checkstring(L, -1), name);
                return 1;
            }
        }
    }
    lua_settop(L, 1);
    lua_getfield(L, lua_upvalueindex(1), "greeting");
    lua_pushfstring(L, "%s, %s!", lua_tostring(L, -1), name);
    return 1;
}

/* loaded_as() -> the id on_load was given, or nil before on_load */
static int loaded_as(lua_State *L) {
    lua_getfield(L, lua_upvalueindex(1), "id");
    return 1;
}

/* pushes fn as a closure over the state table at index `state` */
static void set_method(lua_State *L, int table, int state, const char *name, lua_CFunction fn) {
    lua_pushvalue(L, state);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, table, name);
}

/* open: the plugin table { on_load, exports = { greet, loaded_as } } */
static int open_c_hello(lua_State *L) {
    int state, plugin, exports;
    lua_newtable(L);
    state = lua_gettop(L);
    lua_pushliteral(L, C_HELLO_GREETING);
    lua_setfield(L, state, "greeting");

    lua_newtable(L);
    plugin = lua_gettop(L);
    set_method(L, plugin, state, "on_load", on_load);

    lua_newtable(L);
    exports = lua_gettop(L);
    set_method(L, exports, state, "greet", greet);
    set_method(L, exports, state, "loaded_as", loaded_as);
    lua_setfield(L, plugin, "exports");
    return 1;
}

static const char *const c_hello_exports[] = {"greet", "loaded_as"};

/* optional: loads without it, but after it when it is there */
static const qtforge_dependency c_hello_dependencies[] = {{"c_greeting", "^1.0", 1}};

static const qtforge_plugin_info plugins[] = {{
    .name = "c_hello",
    .version = "1.0.0",
    .description = "Says hello from C",
    .api_version = "1.0",
    .dependencies = c_hello_dependencies,
    .dependency_count = sizeof c_hello_dependencies / sizeof c_hello_dependencies[0],
    .capabilities = NULL,
    .capability_count = 0,
    .exports = c_hello_exports,
    .export_count = sizeof c_hello_exports / sizeof c_hello_exports[0],
    .open = open_c_hello,
}};

static const qtforge_descriptor descriptor = {
    .abi_version = QTFORGE_PLUGIN_ABI_VERSION,
    .lua_flavor = QTFORGE_LUA_FLAVOR,
    .plugin_count = sizeof plugins / sizeof plugins[0],
    .plugins = plugins,
};

QTFORGE_PLUGIN_EXPORT const qtforge_descriptor *qtforge_plugin_descriptor(void) {
    return &descriptor;
}
