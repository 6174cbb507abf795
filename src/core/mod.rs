//! `qtforge.core`: the plugin manager's decisions and books, in plain Rust.
//!
//! Rust reads and validates manifests, resolves dependencies, checks lifecycle
//! transitions and keeps the registry. The Lua side (`manager.lua`) owns what
//! is made of Lua values (environments, plugin tables, hooks) and runs the
//! per-call and per-frame paths.

pub mod config;
pub mod lifecycle;
pub mod lua;
pub mod lua_manifest;
pub mod manifest;
pub mod native;
pub mod registry;
pub mod resolver;
pub mod source;
