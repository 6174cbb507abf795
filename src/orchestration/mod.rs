//! `qtforge.orchestration`: workflows of plugin steps with dependencies, data
//! flow between them, retries, timeouts and steps that yield.
//!
//! Rust checks a workflow's shape once ([`graph`]: duplicate names, unknown
//! dependencies, cycles, the order); `orchestrator.lua` runs the steps, in
//! coroutines, with every per-step action in Lua.

pub mod graph;
pub mod lua;
