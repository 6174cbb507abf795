//! `qtforge.monitoring`: hot reload on file change, and metrics export.
//!
//! The watching is [`crate::watch::FileWatcher`]'s (a notify thread, or a
//! polling scan, with debounce); this submodule binds it for
//! `PluginHotReloadManager`, whose Lua side maps changed paths to plugins and
//! reloads them on the Lua thread.
//!
//! Metrics are counted in Lua, where bumping a number costs nothing; Rust
//! renders them for a scraper ([`prometheus`]) and reports its own heap
//! ([`alloc`]).

pub mod alloc;
pub mod lua;
pub mod prometheus;
