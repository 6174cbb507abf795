//! `qtforge.monitoring`: hot reload on file change.
//!
//! The watching is [`crate::watch::FileWatcher`]'s (a notify thread, or a
//! polling scan, with debounce); this submodule binds it for
//! `PluginHotReloadManager`, whose Lua side maps changed paths to plugins and
//! reloads them on the Lua thread.

pub mod lua;
