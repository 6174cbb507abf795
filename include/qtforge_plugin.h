/*
 * qtforge native plugin ABI, version 1.
 *
 * A native plugin library exports one function, `qtforge_plugin_descriptor`,
 * that returns a pointer to static data describing every plugin in the
 * library. qtforge reads it without running any plugin code, checks it (ABI
 * version, Lua flavour, names, versions, dependencies), and only then calls a
 * plugin's `open` function, a plain lua_CFunction that pushes the plugin table:
 * the same table a Lua plugin's entry returns (hooks `on_load`, `on_start`,
 * `on_stop`, `on_unload`, `update`, `on_configure`, `on_reload`, `health`, and
 * `exports`, a table of functions).
 *
 * Build the library against the Lua the host runs (Lua 5.4 or LuaJIT), without
 * linking Lua itself: the host interpreter provides the lua_* functions.
 *
 *   cc -shared -fPIC -I/usr/include/lua5.4 -DQTFORGE_LUA_FLAVOR=QTFORGE_LUA54 my_plugin.c -o my_plugin.so
 *   cc -shared -fPIC -I/usr/include/luajit-2.1 -DQTFORGE_LUA_FLAVOR=QTFORGE_LUAJIT my_plugin.c -o my_plugin.so
 *
 * A library, once opened, stays mapped for the life of the process.
 */
#ifndef QTFORGE_PLUGIN_H
#define QTFORGE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. qtforge refuses any other (abi_mismatch). */
#define QTFORGE_PLUGIN_ABI_VERSION 1u

/* The Lua a library is built for; qtforge refuses a library built for another
 * (lua_mismatch) instead of letting it crash. */
#define QTFORGE_LUA54 "lua54"
#define QTFORGE_LUAJIT "luajit"

/* The name of the function every plugin library exports. */
#define QTFORGE_PLUGIN_DESCRIPTOR_SYMBOL "qtforge_plugin_descriptor"

/* One dependency on another plugin. */
typedef struct qtforge_dependency {
    const char *name;    /* the other plugin's id */
    const char *version; /* a semver range such as "^1.0"; NULL means "*" */
    int optional;        /* nonzero: load without it, but after it when present */
} qtforge_dependency;

/* One plugin of the library. Every pointer is to static data; strings are
 * NUL-terminated UTF-8. Lists with a zero count may be NULL. */
typedef struct qtforge_plugin_info {
    const char *name;        /* the plugin id: [a-z0-9_.-]+ */
    const char *version;     /* semver, such as "1.2.0" */
    const char *description; /* may be NULL */
    const char *api_version; /* the qtforge plugin API it was written for, such as "1.0"; NULL means "1.0" */
    const qtforge_dependency *dependencies;
    size_t dependency_count;
    const char *const *capabilities;
    size_t capability_count;
    const char *const *exports; /* functions the plugin table's `exports` must have */
    size_t export_count;
    /* Pushes the plugin table and returns 1, like any lua_CFunction; it may
     * raise a Lua error instead. Called in protected mode. */
    lua_CFunction open;
} qtforge_plugin_info;

/* What qtforge_plugin_descriptor returns. (The type is qtforge_descriptor: in C a
 * typedef and a function share one namespace, and the function needs the name.) */
typedef struct qtforge_descriptor {
    uint32_t abi_version;   /* QTFORGE_PLUGIN_ABI_VERSION */
    const char *lua_flavor; /* QTFORGE_LUA54 or QTFORGE_LUAJIT */
    size_t plugin_count;
    const qtforge_plugin_info *plugins;
} qtforge_descriptor;

/* Makes the descriptor function visible, even under -fvisibility=hidden. */
#if defined(_WIN32)
#define QTFORGE_PLUGIN_EXPORT __declspec(dllexport)
#else
#define QTFORGE_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* The one function a plugin library exports. It must only return a pointer to
 * static data: qtforge calls it to read plugin info without loading anything.
 *
 *   QTFORGE_PLUGIN_EXPORT const qtforge_descriptor *qtforge_plugin_descriptor(void) {
 *       return &descriptor;
 *   }
 */
QTFORGE_PLUGIN_EXPORT const qtforge_descriptor *qtforge_plugin_descriptor(void);

typedef const qtforge_descriptor *(*qtforge_descriptor_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* QTFORGE_PLUGIN_H */
