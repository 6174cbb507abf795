//! `qtforge.transactions`: atomic groups of plugin and configuration
//! operations, with rollback.
//!
//! The journal holds Lua values (each operation's undo is a Lua closure over
//! the instance it puts back), so it lives in `transaction.lua`; Rust keeps
//! what can be kept as data: the plugin records and configuration layers a
//! rollback restores (`core` and `managers`), and the invariant a commit
//! checks ([`crate::core::registry::Registry::violations`]).

pub mod lua;
