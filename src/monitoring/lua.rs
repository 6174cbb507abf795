//! The Lua side of `qtforge.monitoring`: a folder watcher for
//! `PluginHotReloadManager` (`reload.lua`).

use std::path::Path;
use std::time::Duration;

use mlua::{IntoLuaMulti, Lua, MultiValue, Nil, Table, UserData, UserDataMethods};

use crate::error::lua as lua_error;
use crate::watch::{FileWatcher, WatchMode};

/// Watches plugin folders; changes wait in its queue until `poll`.
struct LuaWatcher(FileWatcher);

impl UserData for LuaWatcher {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // true | nil, Error
        methods.add_method_mut("watch_dir", |lua, this, dir: String| {
            match this.0.watch_dir(Path::new(&dir), true) {
                Ok(()) => true.into_lua_multi(lua),
                Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
            }
        });
        methods.add_method_mut("unwatch", |_, this, dir: String| {
            Ok(this.0.unwatch(Path::new(&dir)))
        });
        // the settled changed paths, or nil when there are none (no table to
        // make on the frames where nothing changed)
        methods.add_method("poll", |lua, this, ()| -> mlua::Result<MultiValue> {
            let changed = this.0.poll();
            if changed.is_empty() {
                return Nil.into_lua_multi(lua);
            }
            lua.create_sequence_from(changed.iter().map(|p| p.display().to_string()))?
                .into_lua_multi(lua)
        });
        methods.add_method("pending", |_, this, ()| Ok(this.0.pending()));
        methods.add_method("errors", |_, this, ()| Ok(this.0.errors()));
    }
}

fn resolve(path: &Path) -> String {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real.display().to_string();
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(real) => real.join(name).display().to_string(),
            Err(_) => path.display().to_string(),
        },
        _ => path.display().to_string(),
    }
}

/// Builds the `qtforge.monitoring` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    // new_watcher(poll_interval_seconds | nil, debounce_seconds) -> watcher | nil, message
    natives.set(
        "new_watcher",
        lua.create_function(
            |lua, (interval, debounce): (Option<f64>, f64)| -> mlua::Result<MultiValue> {
                let mode = match interval {
                    Some(seconds) => WatchMode::Poll(Duration::from_secs_f64(seconds.max(0.0))),
                    None => WatchMode::Events,
                };
                match FileWatcher::new(mode, Duration::from_secs_f64(debounce.max(0.0))) {
                    Ok(watcher) => lua
                        .create_userdata(LuaWatcher(watcher))?
                        .into_lua_multi(lua),
                    Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
                }
            },
        )?,
    )?;
    // "file", "dir" or nil: what is at a path now
    natives.set(
        "kind_of",
        lua.create_function(|_, path: String| {
            Ok(std::fs::metadata(&path)
                .ok()
                .map(|m| if m.is_dir() { "dir" } else { "file" }))
        })?,
    )?;
    // a path with its symlinks resolved, so that a plugin loaded by one name
    // and a change reported under another meet; a path that is gone resolves
    // through its folder
    natives.set(
        "resolve",
        lua.create_function(|_, path: String| Ok(resolve(Path::new(&path))))?,
    )?;
    natives.set(
        "core",
        lua.named_registry_value::<Table>(crate::core::lua::CLASSES_KEY)?,
    )?;
    let source = include_str!("reload.lua");
    let classes = crate::module::run_chunk(lua, "monitoring/reload.lua", source, natives)?;
    crate::module::public(lua, &classes, &["PluginHotReloadManager"])
}
