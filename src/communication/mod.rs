//! `qtforge.communication`: the message bus, request/response and service contracts.
//!
//! Rust parses and indexes subscription patterns (`router`) and validates
//! service contracts (`contract`); `bus.lua` holds the handlers and runs every
//! publish, request and service call in Lua, over the routes Rust computes.

pub mod contract;
pub mod lua;
pub mod router;
