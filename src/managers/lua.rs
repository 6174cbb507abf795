//! The Lua side of `qtforge.managers`: the natives its Lua chunks call.
//!
//! Reads of configuration values and log-level checks run in Lua over tables
//! Rust keeps current; Rust is called when something changes (a file loads, a
//! value is set, a resource is registered or released) and to write log lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mlua::serde::SerializeOptions;
use mlua::{
    IntoLuaMulti, Lua, LuaSerdeExt, MultiValue, Nil, Table, UserData, UserDataMethods, Value,
};
use serde_json::{Map, Value as Json};

use super::config::{self, Format, Layers};
use super::logging::{Level, LogHub, SinkSpec};
use super::resources::Resources;
use crate::error::lua::or_message;
use crate::error::{Error, lua as lua_error};
use crate::watch::{FileWatcher, WatchMode};

/// `value`, or `nil, Error` for the Lua side to hand on in a result.
fn or_error<T: IntoLuaMulti>(lua: &Lua, result: Result<T, Error>) -> mlua::Result<MultiValue> {
    match result {
        Ok(value) => value.into_lua_multi(lua),
        Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
    }
}

/// The books of a ResourceManager.
struct LuaBooks(Resources);

impl UserData for LuaBooks {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // id | nil, Error (quota_exceeded)
        methods.add_method_mut(
            "register",
            |lua, this, (owner, kind, label): (String, String, String)| {
                or_error(lua, this.0.register(&owner, &kind, &label))
            },
        );
        methods.add_method_mut("release", |_, this, id: u64| {
            Ok(this.0.release(id).is_some())
        });
        methods.add_method("owned_by", |lua, this, owner: String| {
            lua.create_sequence_from(this.0.owned_by(&owner))
        });
        methods.add_method_mut(
            "set_quota",
            |_, this, (owner, kind, limit): (Option<String>, String, Option<u64>)| {
                this.0.set_quota(owner.as_deref(), &kind, limit);
                Ok(())
            },
        );
        methods.add_method("quota", |_, this, (owner, kind): (String, String)| {
            Ok(this.0.quota(&owner, &kind))
        });
        methods.add_method("count", |_, this, (owner, kind): (String, String)| {
            Ok(this.0.count(&owner, &kind))
        });
        methods.add_method("stats", |lua, this, ()| {
            let stats = lua.create_table()?;
            stats.set("held", this.0.len())?;
            stats.set("released", this.0.released())?;
            let owners = lua.create_table()?;
            for (owner, kinds) in this.0.by_owner() {
                let by_kind = lua.create_table()?;
                for (kind, count) in kinds {
                    by_kind.set(kind, count)?;
                }
                owners.set(owner, by_kind)?;
            }
            stats.set("owners", owners)?;
            Ok(stats)
        });
        methods.add_method("leaks", |lua, this, ()| {
            let list = lua.create_table()?;
            for (i, held) in this.0.held().enumerate() {
                let entry = lua.create_table()?;
                entry.set("id", held.id)?;
                entry.set("owner", held.owner.as_str())?;
                entry.set("kind", held.kind.as_str())?;
                entry.set("label", held.label.as_str())?;
                entry.set("age", held.since.elapsed().as_secs_f64())?;
                list.set(i + 1, entry)?;
            }
            Ok(list)
        });
    }
}

/// The sinks and levels of a LoggingManager, and, while it captures them,
/// the guard that makes it the Lua thread's tracing dispatcher: qtforge's own
/// Rust code running on that thread (native library loads, watcher errors)
/// then logs to its sinks.
struct LuaHub(LogHub, Option<tracing::dispatcher::DefaultGuard>);

/// A log call's fields as JSON: what converts as is, anything else (a function,
/// a cycle) as its text, so that logging never fails on a field.
fn fields_json(lua: &Lua, fields: Option<Table>) -> Map<String, Json> {
    let Some(fields) = fields else {
        return Map::new();
    };
    let mut map = Map::new();
    for (key, value) in fields.pairs::<Value, Value>().flatten() {
        let key = match &key {
            Value::String(s) => s.to_string_lossy(),
            other => other.to_string().unwrap_or_else(|_| format!("{other:?}")),
        };
        let json = lua
            .from_value::<Json>(value.clone())
            .unwrap_or_else(|_| Json::String(value.to_string().unwrap_or_default()));
        map.insert(key, json);
    }
    map
}

/// The records queued for callback sinks, oldest first, as Lua tables.
fn records_table(lua: &Lua, hub: &LogHub) -> mlua::Result<Table> {
    let records = lua.create_table()?;
    for (i, record) in hub.drain().into_iter().enumerate() {
        let entry = lua.create_table_with_capacity(0, 5)?;
        entry.set("level", record.level.as_str())?;
        entry.set("logger", record.logger)?;
        entry.set("message", record.message)?;
        entry.set("fields", lua.to_value(&record.fields)?)?;
        entry.set("timestamp", record.timestamp)?;
        records.set(i + 1, entry)?;
    }
    Ok(records)
}

impl UserData for LuaHub {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // sink id | nil, Error (io_error)
        methods.add_method_mut(
            "add_sink",
            |lua, this, (kind, json, path): (String, bool, Option<String>)| {
                let spec = match kind.as_str() {
                    "stderr" => SinkSpec::Stderr { json },
                    "file" => SinkSpec::File {
                        path: PathBuf::from(path.unwrap_or_default()),
                        json,
                    },
                    _ => SinkSpec::Queue,
                };
                or_error(lua, this.0.add_sink(spec))
            },
        );
        methods.add_method_mut("remove_sink", |_, this, id: usize| {
            Ok(this.0.remove_sink(id))
        });
        methods.add_method_mut(
            "set_level",
            |_, this, (logger, level): (Option<String>, String)| {
                if let Some(level) = Level::parse(&level) {
                    this.0.set_level(logger.as_deref(), level);
                }
                Ok(())
            },
        );
        // with `drain`, the records queued for callback sinks come back in the
        // same call: one crossing per written line, not two
        methods.add_method(
            "emit",
            |lua,
             this,
             (level, logger, message, fields, drain): (
                String,
                String,
                String,
                Option<Table>,
                bool,
            )| {
                if let Some(level) = Level::parse(&level) {
                    this.0
                        .emit(level, &logger, &message, &fields_json(lua, fields));
                }
                if drain {
                    Ok(Value::Table(records_table(lua, &this.0)?))
                } else {
                    Ok(Nil)
                }
            },
        );
        methods.add_method("drain", |lua, this, ()| records_table(lua, &this.0));
        methods.add_method("dropped", |_, this, ()| Ok(this.0.dropped()));
        methods.add_method_mut("capture", |_, this, on: bool| {
            // dropping the guard first restores the dispatcher it replaced
            this.1 = None;
            if on {
                this.1 = Some(tracing::dispatcher::set_default(&this.0.dispatch()));
            }
            Ok(())
        });
    }
}

/// The layers of a ConfigurationManager, the formats of the files loaded into
/// it, and the watcher of the files it watches.
/// A configuration's layers as they were (a transaction's way back).
struct LayersSnapshot(Layers);

impl UserData for LayersSnapshot {}

struct LuaLayers {
    layers: Layers,
    watcher: Option<FileWatcher>,
}

/// How long a watched file must be quiet before its change is applied: an
/// editor's save is often several writes.
const WATCH_DEBOUNCE: Duration = Duration::from_millis(50);

/// Plain Lua tables (no array metatable): what `snapshot()` promises.
fn tree(lua: &Lua, value: &Json) -> mlua::Result<Value> {
    lua.to_value_with(value, SerializeOptions::new().set_array_metatable(false))
}

/// How a failed change reaches Lua: an expected failure (a file that does not
/// parse) as `nil, Error` for a result, misuse (a bad key) as `nil, message`
/// for the Lua side to raise.
#[derive(Clone, Copy)]
enum Failure {
    Result,
    Misuse,
}

/// Runs a change: `changed keys, at, subtree`, or the failure, with nothing
/// changed. `at` is the deepest key holding every change ("" for the root)
/// and `subtree` the merged value there: Lua replaces that part of its tree
/// and shares the rest, so a change costs what it touches, not the whole
/// configuration (a load of the 200th plugin would convert 200 plugins' defaults).
fn change(
    lua: &Lua,
    this: &mut LuaLayers,
    failure: Failure,
    apply: impl FnOnce(&mut Layers) -> Result<(), Error>,
) -> mlua::Result<MultiValue> {
    change_at(lua, this, failure, None, apply)
}

/// [`change`] of a change confined to `scope` (a key set, removed or
/// defaulted): only that part is compared, not the whole configuration.
fn change_at(
    lua: &Lua,
    this: &mut LuaLayers,
    failure: Failure,
    scope: Option<&str>,
    apply: impl FnOnce(&mut Layers) -> Result<(), Error>,
) -> mlua::Result<MultiValue> {
    // a key through something that is not an object: compare everything
    let scope = scope.filter(|key| {
        let merged = this.layers.merged();
        key.rsplit_once('.').is_none_or(|(parent, _)| {
            config::object_path(merged, parent).is_some_and(Json::is_object)
        })
    });
    let before = match scope {
        Some(key) => config::object_path(this.layers.merged(), key).cloned(),
        None => Some(this.layers.merged().clone()),
    };
    match apply(&mut this.layers) {
        Ok(()) => {
            let after = this.layers.merged();
            let changed = match (scope, &before) {
                (Some(key), before) => {
                    config::diff_at(key, before.as_ref(), config::object_path(after, key))
                }
                (None, Some(before)) => config::diff(before, after),
                (None, None) => Vec::new(),
            };
            // nothing changed: nothing to convert
            let (at, subtree) = if changed.is_empty() {
                (String::new(), Nil)
            } else {
                let (at, subtree) = config::changed_subtree(after, &changed);
                (at, tree(lua, subtree)?)
            };
            (lua.create_sequence_from(changed)?, at, subtree).into_lua_multi(lua)
        }
        Err(err) => match failure {
            Failure::Result => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
            Failure::Misuse => or_message(lua, Err::<(), _>(err)),
        },
    }
}

/// A Lua value as JSON, or the reason it cannot be one (a function, a cycle).
fn json_of(lua: &Lua, key: &str, value: Value) -> Result<Json, Error> {
    lua.from_value::<Json>(value)
        .map_err(|err| Error::InvalidValue {
            key: key.to_string(),
            reason: err.to_string(),
        })
}

fn read_file(path: &str) -> Result<(Format, String), Error> {
    let format = Format::from_path(Path::new(path)).ok_or_else(|| Error::Io {
        path: path.to_string(),
        reason: "the format comes from the extension: use .json or .toml".into(),
    })?;
    let text = std::fs::read_to_string(path).map_err(|err| Error::Io {
        path: path.to_string(),
        reason: err.to_string(),
    })?;
    Ok((format, text))
}

/// A JSON Schema violation's place as a dotted key, lists counted from 1.
fn dotted_path(instance: &Json, pointer: &str) -> String {
    let mut node = Some(instance);
    let mut parts = Vec::new();
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Json::Array(items)) => {
                let index = segment.parse::<usize>().ok();
                node = index.and_then(|i| items.get(i));
                parts.push(index.map_or(segment, |i| (i + 1).to_string()));
            }
            Some(Json::Object(map)) => {
                node = map.get(&segment);
                parts.push(segment);
            }
            _ => {
                node = None;
                parts.push(segment);
            }
        }
    }
    parts.join(".")
}

impl UserData for LuaLayers {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("tree", |lua, this, ()| tree(lua, this.layers.merged()));
        methods.add_method_mut("set_defaults", |lua, this, defaults: Value| {
            let defaults = json_of(lua, "the defaults", defaults);
            change(lua, this, Failure::Misuse, |layers| {
                layers.set_defaults(defaults?)
            })
        });
        methods.add_method_mut("load_file", |lua, this, path: String| {
            let parsed =
                read_file(&path).and_then(|(format, text)| config::parse(&text, format, &path));
            change(lua, this, Failure::Result, |layers| {
                layers.load_file(&path, parsed?)
            })
        });
        methods.add_method_mut(
            "load_string",
            |lua, this, (text, format, name): (String, String, String)| {
                let parsed = Format::from_name(&format)
                    .ok_or_else(|| Error::InvalidValue {
                        key: name.clone(),
                        reason: "the format is json or toml".into(),
                    })
                    .and_then(|format| config::parse(&text, format, &name));
                change(lua, this, Failure::Result, |layers| {
                    layers.load_file(&name, parsed?)
                })
            },
        );
        methods.add_method("save", |lua, this, path: String| {
            let saved = Format::from_path(Path::new(&path))
                .ok_or_else(|| Error::Io {
                    path: path.clone(),
                    reason: "the format comes from the extension: use .json or .toml".into(),
                })
                .and_then(|format| config::serialize(this.layers.merged(), format))
                .and_then(|text| config::save_atomic(Path::new(&path), &text));
            or_error(lua, saved.map(|()| true))
        });
        methods.add_method_mut("set", |lua, this, (key, value): (String, Value)| {
            let value = json_of(lua, &key, value);
            change_at(lua, this, Failure::Misuse, Some(&key), |layers| {
                layers.set(&key, value?)
            })
        });
        methods.add_method_mut("set_default", |lua, this, (key, value): (String, Value)| {
            let value = match value {
                Nil => Ok(None),
                value => json_of(lua, &key, value).map(Some),
            };
            change_at(lua, this, Failure::Misuse, Some(&key), |layers| {
                layers.set_default(&key, value?)
            })
        });
        // the layers as they are, for a transaction to put back
        methods.add_method("snapshot", |lua, this, ()| {
            lua.create_userdata(LayersSnapshot(this.layers.clone()))
        });
        methods.add_method_mut(
            "restore",
            |lua, this, snapshot: mlua::UserDataRef<LayersSnapshot>| {
                let layers = snapshot.0.clone();
                change(lua, this, Failure::Misuse, |current| {
                    *current = layers;
                    Ok(())
                })
            },
        );
        methods.add_method_mut("remove", |lua, this, key: String| {
            let parsed = config::parse_key(&key).map(|_| ());
            change_at(lua, this, Failure::Misuse, Some(&key), |layers| {
                parsed?;
                layers.remove(&key);
                Ok(())
            })
        });
        methods.add_method("keys", |lua, this, prefix: String| {
            let keys = if prefix.is_empty() {
                Ok(config::keys(this.layers.merged(), ""))
            } else {
                config::parse_key(&prefix).map(|_| config::keys(this.layers.merged(), &prefix))
            };
            match keys {
                Ok(keys) => lua.create_sequence_from(keys)?.into_lua_multi(lua),
                Err(err) => or_message(lua, Err::<(), _>(err)),
            }
        });
        methods.add_method("source", |_, this, key: String| {
            Ok(this.layers.source(&key).map(|source| source.describe()))
        });
        // { { path, message } ... } | nil, Error (invalid_schema)
        methods.add_method("validate", |lua, this, schema: Value| {
            let schema: Result<Json, Error> = match &schema {
                Value::String(text) => {
                    serde_json::from_str(&text.to_string_lossy()).map_err(|err| {
                        Error::InvalidSchema {
                            reason: err.to_string(),
                        }
                    })
                }
                _ => lua.from_value(schema).map_err(|err| Error::InvalidSchema {
                    reason: err.to_string(),
                }),
            };
            let validator = schema.and_then(|schema| {
                jsonschema::validator_for(&schema).map_err(|err| Error::InvalidSchema {
                    reason: err.to_string(),
                })
            });
            let validator = match validator {
                Ok(validator) => validator,
                Err(err) => return or_error(lua, Err::<(), _>(err)),
            };
            let instance = this.layers.merged();
            let violations = lua.create_table()?;
            for (i, violation) in validator.iter_errors(instance).enumerate() {
                let entry = lua.create_table()?;
                entry.set(
                    "path",
                    dotted_path(instance, violation.instance_path().as_str()),
                )?;
                entry.set("message", violation.to_string())?;
                violations.set(i + 1, entry)?;
            }
            violations.into_lua_multi(lua)
        });
        methods.add_method_mut("watch", |lua, this, path: String| {
            if this.watcher.is_none() {
                match FileWatcher::new(WatchMode::Events, WATCH_DEBOUNCE) {
                    Ok(watcher) => this.watcher = Some(watcher),
                    Err(err) => return or_error(lua, Err::<(), _>(err)),
                }
            }
            let watched = match this.watcher.as_mut() {
                Some(watcher) => watcher.watch_file(Path::new(&path)),
                None => Ok(()),
            };
            or_error(lua, watched.map(|()| true))
        });
        methods.add_method_mut("unwatch", |_, this, path: String| {
            Ok(this
                .watcher
                .as_mut()
                .is_some_and(|watcher| watcher.unwatch(Path::new(&path))))
        });
        // the watched files that changed, or nil when none did
        methods.add_method("poll", |lua, this, ()| {
            let Some(watcher) = &this.watcher else {
                return Ok(Nil);
            };
            // the watcher thread's troubles, logged here on the Lua thread
            for problem in watcher.errors() {
                tracing::warn!(target: "qtforge::watch", "{problem}");
            }
            let changed = watcher.poll();
            if changed.is_empty() {
                return Ok(Nil);
            }
            let paths: Vec<String> = changed
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            Ok(Value::Table(lua.create_sequence_from(paths)?))
        });
    }
}

/// A ConfigurationManager's layers, with the environment overrides of
/// `env_prefix` from `env` (a table, for tests and hosts that pass their own)
/// or from the process environment.
fn new_layers(
    lua: &Lua,
    env_prefix: Option<String>,
    env: Option<Table>,
) -> mlua::Result<MultiValue> {
    let mut layers = Layers::new();
    if let Some(prefix) = env_prefix {
        let vars: Vec<(String, String)> = match env {
            Some(table) => table.pairs::<String, String>().flatten().collect(),
            None => std::env::vars().collect(),
        };
        let (overrides, variables) = config::env_overrides(&prefix, vars);
        if let Err(err) = layers.set_env(overrides, variables) {
            return or_message(lua, Err::<(), _>(err));
        }
    }
    LuaLayers {
        layers,
        watcher: None,
    }
    .into_lua_multi(lua)
}

/// Registry key of the table of classes the managers' chunks return (with the
/// metatables specs and `manager.lua` use).
pub const CLASSES_KEY: &str = "qtforge.managers.classes";

/// Builds the `qtforge.managers` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    natives.set(
        "new_books",
        lua.create_function(|_, ()| Ok(LuaBooks(Resources::default())))?,
    )?;
    natives.set(
        "new_layers",
        lua.create_function(|lua, (prefix, env): (Option<String>, Option<Table>)| {
            new_layers(lua, prefix, env)
        })?,
    )?;
    natives.set(
        "new_hub",
        lua.create_function(|_, ()| Ok(LuaHub(LogHub::new(), None)))?,
    )?;
    let classes = lua.create_table()?;
    let managers = lua.create_table()?;
    for (name, path, source, class) in [
        (
            "resources",
            "managers/resources.lua",
            include_str!("resources.lua"),
            "ResourceManager",
        ),
        (
            "logging",
            "managers/logging.lua",
            include_str!("logging.lua"),
            "LoggingManager",
        ),
        (
            "config",
            "managers/config.lua",
            include_str!("config.lua"),
            "ConfigurationManager",
        ),
    ] {
        let chunk = crate::module::run_chunk(lua, path, source, natives.clone())?;
        managers.set(class, chunk.get::<Value>(class)?)?;
        classes.set(name, chunk)?;
    }
    lua.set_named_registry_value(CLASSES_KEY, &classes)?;
    Ok(managers)
}
