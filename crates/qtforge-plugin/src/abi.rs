//! The C ABI between qtforge and a native plugin library, version 1: the Rust
//! mirror of `include/qtforge_plugin.h`. Plain data, no Lua: the host reads it
//! before anything of the plugin runs.

use std::ffi::{c_char, c_int, c_void};

/// The ABI these types describe; the host refuses any other.
pub const ABI_VERSION: u32 = 1;

/// `lua_flavor` of a library built for Lua 5.4.
pub const LUA54: &str = "lua54";
/// `lua_flavor` of a library built for LuaJIT.
pub const LUAJIT: &str = "luajit";

/// The symbol every plugin library exports.
pub const DESCRIPTOR_SYMBOL: &str = "qtforge_plugin_descriptor";

/// A `lua_CFunction`: takes the `lua_State*`, returns how many values it pushed.
/// "C-unwind": a Lua error raised inside may unwind through it.
pub type OpenFn = unsafe extern "C-unwind" fn(state: *mut c_void) -> c_int;

/// One dependency on another plugin.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Dependency {
    pub name: *const c_char,
    /// A semver range such as `"^1.0"`; null means `"*"`.
    pub version: *const c_char,
    pub optional: c_int,
}

/// One plugin of the library. Every pointer is to static data.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginInfo {
    pub name: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub api_version: *const c_char,
    pub dependencies: *const Dependency,
    pub dependency_count: usize,
    pub capabilities: *const *const c_char,
    pub capability_count: usize,
    pub exports: *const *const c_char,
    pub export_count: usize,
    pub open: Option<OpenFn>,
}

/// What the descriptor function returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Descriptor {
    pub abi_version: u32,
    pub lua_flavor: *const c_char,
    pub plugin_count: usize,
    pub plugins: *const PluginInfo,
}

/// The descriptor function's type.
pub type DescriptorFn = unsafe extern "C" fn() -> *const Descriptor;

// The descriptor is static, read-only data shared by every thread that reads it.
unsafe impl Sync for Dependency {}
unsafe impl Sync for PluginInfo {}
unsafe impl Sync for Descriptor {}
