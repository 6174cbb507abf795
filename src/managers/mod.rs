//! `qtforge.managers`: configuration, logging and resources.
//!
//! Plain Rust for each (`config`, `logging`, `resources`), the file watcher the
//! configuration's `watch` uses (`crate::watch`), and one `lua.rs` binding.

pub mod config;
pub mod logging;
pub mod lua;
pub mod resources;
