//! Native qtforge plugins in Rust.
//!
//! Without features this crate is only [`abi`], the C ABI qtforge reads. With
//! `lua54` or `luajit` (matching the Lua the host runs) it is the SDK: implement
//! [`Plugin`] and write one `export_plugin!` line.

pub mod abi;
