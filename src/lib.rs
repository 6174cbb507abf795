//! qtforge: a plugin runtime for Lua hosts, backed by Rust.
//!
//! `require('qtforge')` returns a table of submodules. Each submodule folder
//! keeps its logic in plain Rust and its Lua binding in `lua.rs` (with the Lua
//! chunks that run hot paths beside it); [`module`] assembles them.
//!
//! - `core`: the plugin manager: manifests, dependencies, lifecycle, registry.
//! - `communication`: the message bus, request/response and service contracts.
//! - `monitoring`: hot reload of plugins when their files change.
//! - `orchestration`: workflows of plugin steps with dependencies and retries.
//! - `utils`: `Version`, semantic versions and ranges.
//! - `Error`: the error value every failed result carries.

pub mod communication;
pub mod core;
pub mod error;
pub mod managers;
pub mod module;
pub mod monitoring;
pub mod orchestration;
pub mod security;
pub mod transactions;
pub mod utils;
pub mod watch;

pub use error::Error;
