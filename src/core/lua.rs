//! `qtforge.core`: the Rust half of the plugin manager, as Lua sees it.
//!
//! [`Core`] keeps the books (the registry, loads under way, pending
//! configuration) and answers the questions `manager.lua` asks before and
//! after it runs plugin code. Its methods return a value, or `nil, Error` for
//! an expected failure; `manager.lua` turns those into results. The Lua side
//! holds every Lua value of a plugin, so no Lua value is kept alive from Rust.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use mlua::{
    IntoLuaMulti, Lua, LuaSerdeExt, MultiValue, Nil, Table, UserData, UserDataMethods, Value,
};
use serde_json::{Map, Value as Json};

use super::config;
use super::lifecycle::{Operation, State};
use super::manifest::{ConfigValue, HOST_API_VERSION, Manifest};
use super::native::{self, MappedLibraries, NativePlugin};
use super::registry::{Record, Registry};
use super::resolver::{DependencyResolver, Node, Requirement};
use super::source::{self, PluginInfo, PluginSource, SourceKind};
use crate::error::{Error, lua as lua_error};
use crate::module::LUA_FLAVOR;
use qtforge_plugin::abi;

/// `value`, or `nil, Error, plugin id` for the Lua side to turn into a failed
/// result (the id when the error names a plugin, as a refused load does).
fn or_error<T: IntoLuaMulti>(lua: &Lua, result: Result<T, Error>) -> mlua::Result<MultiValue> {
    match result {
        Ok(value) => value.into_lua_multi(lua),
        Err(err) => (Nil, lua_error::to_lua(lua, &err)?, err.plugin()).into_lua_multi(lua),
    }
}

fn path_text(path: &Option<PathBuf>) -> Option<String> {
    path.as_ref().map(|p| p.to_string_lossy().into_owned())
}

/// Plugin info as Lua sees it (`inspect`, `discover`, `plugin:metadata()`).
fn info_table(lua: &Lua, manifest: &Manifest, source: &PluginSource) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("id", manifest.name.as_str())?;
    t.set("name", manifest.name.as_str())?;
    t.set("version", manifest.version.to_string())?;
    t.set("description", manifest.description.as_str())?;
    t.set("api_version", manifest.api_version.to_string())?;
    t.set("kind", source.kind.as_str())?;
    t.set("path", path_text(&source.path))?;
    t.set("root", path_text(&source.root))?;
    t.set("entry", path_text(&source.entry))?;
    t.set("manifest_file", path_text(&source.manifest_file))?;
    t.set("priority", manifest.priority)?;
    t.set("capabilities", manifest.capabilities.clone())?;
    t.set("exports", manifest.exports.clone())?;
    t.set("tags", manifest.tags.clone())?;
    t.set("before", manifest.before.clone())?;
    t.set("after", manifest.after.clone())?;
    t.set("authors", manifest.authors.clone())?;
    t.set("license", manifest.license.as_deref())?;
    t.set("homepage", manifest.homepage.as_deref())?;
    t.set(
        "retain_contracts_on_unload",
        manifest.retain_contracts_on_unload,
    )?;
    let deps = lua.create_table()?;
    for (i, d) in manifest.dependencies.iter().enumerate() {
        let dep = lua.create_table()?;
        dep.set("name", d.name.as_str())?;
        dep.set("version", d.range.to_string())?;
        dep.set("optional", d.optional)?;
        deps.raw_set(i + 1, dep)?;
    }
    t.set("dependencies", deps)?;
    t.set("config", lua.to_value(&manifest.config)?)?;
    let limits = lua.create_table()?;
    limits.set("instructions", manifest.limits.instructions)?;
    limits.set("time_ms", manifest.limits.time_ms)?;
    limits.set("depth", manifest.limits.depth)?;
    t.set("limits", limits)?;
    Ok(t)
}

/// What `manager.lua` needs to run a plugin whose load was approved, and no
/// more: in module mode each string pushed from Rust is a protected allocation,
/// so the full info stays here until `plugin:metadata()` asks for it.
fn plan_table(lua: &Lua, info: &PluginInfo, body: Option<Body>) -> mlua::Result<Table> {
    let manifest = &info.manifest;
    let plan = lua.create_table_with_capacity(0, 10)?;
    plan.raw_set("id", manifest.name.as_str())?;
    plan.raw_set("version", manifest.version.to_string())?;
    plan.raw_set("kind", info.source.kind.as_str())?;
    plan.raw_set("path", path_text(&info.source.path))?;
    plan.raw_set("root", path_text(&info.source.root))?;
    plan.raw_set("entry", path_text(&info.source.entry))?;
    match body {
        Some(Body::Source(Ok(text))) => plan.raw_set("source", text)?,
        Some(Body::Native(open)) => {
            // SAFETY: `open` is a lua_CFunction of a library that is mapped for
            // good (keep_mapped); the ABI's function type is lua_CFunction's
            let open: mlua::ffi::lua_CFunction = unsafe { std::mem::transmute(open) };
            plan.raw_set("open", unsafe { lua.create_c_function(open) }?)?;
        }
        Some(Body::Source(Err(_))) | None => {}
    }
    if !manifest.exports.is_empty() {
        plan.raw_set("exports", manifest.exports.clone())?;
    }
    if !manifest.dependencies.is_empty() {
        let names: Vec<&str> = manifest
            .dependencies
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        plan.raw_set("dependencies", names)?;
    }
    if !manifest.config.is_empty() {
        plan.raw_set("config", lua.to_value(&manifest.config)?)?;
    }
    if manifest.retain_contracts_on_unload {
        plan.raw_set("retain_contracts_on_unload", true)?;
    }
    // what the security policy admits the plugin by
    if !manifest.integrity.is_empty() {
        plan.raw_set("integrity", true)?;
    }
    if !manifest.capabilities.is_empty() {
        plan.raw_set("capabilities", manifest.capabilities.clone())?;
    }
    if !manifest.limits.is_empty() {
        let limits = lua.create_table()?;
        limits.raw_set("instructions", manifest.limits.instructions)?;
        limits.raw_set("time_ms", manifest.limits.time_ms)?;
        limits.raw_set("depth", manifest.limits.depth)?;
        plan.raw_set("limits", limits)?;
    }
    Ok(plan)
}

/// A resolver node for a manifest.
fn node(manifest: &Manifest) -> Node {
    Node {
        id: manifest.name.clone(),
        version: manifest.version.clone(),
        requires: manifest
            .dependencies
            .iter()
            .map(|d| Requirement {
                name: d.name.clone(),
                range: d.range.clone(),
                optional: d.optional,
            })
            .collect(),
        before: manifest.before.clone(),
        after: manifest.after.clone(),
        priority: manifest.priority,
    }
}

/// The configuration a reloaded plugin runs with: the values set at run time
/// where the new defaults still have the key and type, else the new defaults.
/// A native plugin declares no defaults (its configuration is open, as in
/// `check_config`): it keeps every value set at run time.
fn kept_config(info: &PluginInfo, current: &Map<String, Json>) -> Map<String, Json> {
    if info.source.kind == SourceKind::Native && info.manifest.config.is_empty() {
        return current.clone();
    }
    config::carry_over(&info.manifest.config, current)
}

/// How a planned plugin makes its table.
enum Body {
    /// The entry's source text, read when the load was planned, for Lua to run.
    Source(Result<String, Error>),
    /// A native plugin's open function, in a library mapped for good.
    Native(abi::OpenFn),
}

/// `load_directory`'s plan: plugin ids in load order, and what cannot load, by path.
struct DirectoryPlan {
    order: Vec<String>,
    failures: Vec<(String, Error)>,
}

/// `{ order = { id, ... }, failures = { { path =, error = }, ... } }`
fn directory_plan_table(lua: &Lua, plan: DirectoryPlan) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("order", plan.order)?;
    let failures = plan.failures.iter().map(|(path, e)| (path.clone(), e));
    t.set("failures", failures_table(lua, failures)?)?;
    Ok(t)
}

/// `{ { path =, error = }, ... }`
fn failures_table<'a>(
    lua: &Lua,
    failures: impl Iterator<Item = (String, &'a Error)>,
) -> mlua::Result<Table> {
    let list = lua.create_table()?;
    for (i, (path, e)) in failures.enumerate() {
        let f = lua.create_table()?;
        f.set("path", path)?;
        f.set("plugin_id", e.plugin())?;
        f.set("error", lua_error::to_lua(lua, e)?)?;
        list.raw_set(i + 1, f)?;
    }
    Ok(list)
}

/// The Rust state of one `PluginManager`.
#[derive(Default)]
pub struct Core {
    registry: Registry,
    /// Loads and reloads under way: approved, not yet finished.
    pending: HashMap<String, PluginInfo>,
    /// Configuration checked but not yet accepted by the plugin's `on_configure`.
    pending_config: HashMap<String, Map<String, Json>>,
    /// What `plan_directory` read (manifest and entry source), so that loading
    /// each plugin does not read it again.
    planned: HashMap<String, (PluginInfo, Body)>,
    created: Option<Instant>,
}

impl Core {
    /// Approves loading the plugin described by `info`: API version, id, dependencies.
    fn approve(&mut self, info: &PluginInfo) -> Result<(), Error> {
        info.manifest.check_api(HOST_API_VERSION)?;
        self.registry.reserve(&info.manifest.name)?;
        if let Err(e) = self.registry.check_dependencies(&info.manifest) {
            self.registry.release(&info.manifest.name);
            return Err(e);
        }
        self.pending
            .insert(info.manifest.name.clone(), info.clone());
        Ok(())
    }

    fn begin_load(&mut self, path: &str) -> Result<(PluginInfo, String), Error> {
        let info = source::inspect(Path::new(path))?;
        let entry = info.source.entry.clone().unwrap_or_default();
        let text = source::read_source(&entry)?;
        self.approve(&info)?;
        Ok((info, text))
    }

    /// Approves a plugin `plan_directory` read; its files are not read again but for the entry.
    fn begin_planned(&mut self, id: &str) -> Result<(PluginInfo, Body), Error> {
        let (info, body) = self
            .planned
            .remove(id)
            .ok_or_else(|| Error::UnknownPlugin { id: id.to_owned() })?;
        if let Body::Source(Err(e)) = body {
            return Err(e);
        }
        self.approve(&info)?;
        Ok((info, body))
    }

    fn begin_inline(&mut self, manifest: Json) -> Result<PluginInfo, Error> {
        let manifest = Manifest::from_value(manifest, "inline plugin")?;
        let info = PluginInfo {
            manifest,
            source: PluginSource::inline(),
        };
        self.approve(&info)?;
        Ok(info)
    }

    /// Reads the plugin's files again and checks the new version can replace the old;
    /// also gives the configuration the new version will run with.
    fn begin_reload(
        &mut self,
        mapped: &mut MappedLibraries,
        id: &str,
    ) -> Result<(PluginInfo, Body, Map<String, Json>), Error> {
        let record = self.registry.get(id)?;
        lifecycle_check(record, Operation::Reload)?;
        if record.source.kind == SourceKind::Inline {
            return Err(Error::InvalidState {
                plugin: id.to_owned(),
                state: "inline".to_owned(),
                operation: "reload (inline plugins have no files to read again)".to_owned(),
            });
        }
        if self.pending.contains_key(id) {
            return Err(Error::InvalidState {
                plugin: id.to_owned(),
                state: "reloading".to_owned(),
                operation: "reload".to_owned(),
            });
        }
        let path = record
            .source
            .path
            .clone()
            .or_else(|| record.source.entry.clone())
            .unwrap_or_default();
        let mut native_open = None;
        let info = if record.source.kind == SourceKind::Native {
            // a new copy of the file as it is now, even if it looks unchanged
            let plugins = mapped.reload(&path, LUA_FLAVOR)?;
            let Some(plugin) = plugins.into_iter().find(|p| p.info.manifest.name == id) else {
                return Err(Error::NotAPlugin {
                    path: path.to_string_lossy().into_owned(),
                    reason: format!("the library no longer holds plugin {id:?}"),
                });
            };
            native_open = Some(plugin.open);
            plugin.info
        } else {
            match record.source.manifest_file.clone() {
                // a folder plugin loaded through its manifest path is read the same way again
                Some(file) if record.source.path.as_deref() != file.parent() => {
                    source::inspect(&file)?
                }
                _ => source::inspect(&path)?,
            }
        };
        if info.manifest.name != id {
            return Err(Error::InvalidManifest {
                source: path.to_string_lossy().into_owned(),
                reason: format!(
                    "name: a reload cannot change the plugin id ({id:?} became {:?})",
                    info.manifest.name
                ),
            });
        }
        info.manifest.check_api(HOST_API_VERSION)?;
        self.registry.check_dependencies(&info.manifest)?;
        // the new version must still satisfy every plugin that depends on this one
        for dependent in self.registry.dependents(id) {
            let record = self.registry.get(&dependent)?;
            if let Some(dep) = record.manifest.dependencies.iter().find(|d| d.name == id)
                && !dep.range.matches(&info.manifest.version)
            {
                return Err(Error::DependencyVersion {
                    plugin: dependent.clone(),
                    dependency: id.to_owned(),
                    range: dep.range.to_string(),
                    found: info.manifest.version.to_string(),
                });
            }
        }
        let body = match native_open {
            Some(open) => Body::Native(open),
            None => Body::Source(Ok(source::read_source(
                info.source.entry.as_deref().unwrap_or(Path::new("")),
            )?)),
        };
        let config = kept_config(&info, &self.registry.get(id)?.config);
        self.pending.insert(id.to_owned(), info.clone());
        Ok((info, body, config))
    }

    fn finish_reload(&mut self, id: &str) -> Result<(), Error> {
        let info = self
            .pending
            .remove(id)
            .ok_or_else(|| Error::UnknownPlugin { id: id.to_owned() })?;
        let record = self.registry.get_mut(id)?;
        record.config = kept_config(&info, &record.config);
        record.manifest = info.manifest;
        record.source = info.source;
        record.reloads += 1;
        record.loaded_at = Instant::now();
        self.registry.counters.reloads += 1;
        Ok(())
    }

    fn abort_reload(&mut self, id: &str) {
        if self.pending.remove(id).is_some() {
            self.registry.counters.reload_failures += 1;
        }
    }

    /// Plans `load_directory`: every plugin in `dir` in dependency order, and
    /// the ones that cannot load with their error.
    fn plan_directory(
        &mut self,
        mapped: &mut MappedLibraries,
        dir: &str,
    ) -> Result<DirectoryPlan, Error> {
        let source::Discovery { found, unreadable } = source::discover(Path::new(dir), LUA_FLAVOR)?;
        let mut failures: Vec<(String, Error)> = unreadable
            .into_iter()
            .map(|(path, e)| (path.to_string_lossy().into_owned(), e))
            .collect();
        let order = self.resolve(&found, &mut failures);
        let loadable: HashSet<&String> = order.iter().collect();
        let (natives, scripts): (Vec<PluginInfo>, Vec<PluginInfo>) = found
            .into_iter()
            .filter(|i| loadable.contains(&i.manifest.name))
            .partition(|i| i.source.kind == SourceKind::Native);
        // the entry sources are read now, beside each other, rather than one per load
        let mut planned: HashMap<String, (PluginInfo, Body)> =
            source::in_parallel(scripts, |info| {
                let text =
                    source::read_source(info.source.entry.as_deref().unwrap_or(Path::new("")));
                (info.manifest.name.clone(), (info, Body::Source(text)))
            })
            .into_iter()
            .collect();
        // each library is opened once more (or found mapped), now to stay, for the open functions
        let mut opened: HashMap<PathBuf, Result<Vec<NativePlugin>, Error>> = HashMap::new();
        for info in natives {
            let path = info.source.path.clone().unwrap_or_default();
            let library = opened
                .entry(path.clone())
                .or_insert_with(|| mapped.load(&path, LUA_FLAVOR));
            let body = match library {
                Ok(plugins) => match plugins
                    .iter()
                    .find(|p| p.info.manifest.name == info.manifest.name)
                {
                    Some(plugin) => Body::Native(plugin.open),
                    None => Body::Source(Err(Error::NotAPlugin {
                        path: path.to_string_lossy().into_owned(),
                        reason: format!(
                            "the library no longer holds plugin {:?}",
                            info.manifest.name
                        ),
                    })),
                },
                Err(e) => Body::Source(Err(e.clone())),
            };
            planned.insert(info.manifest.name.clone(), (info, body));
        }
        self.planned = planned;
        Ok(DirectoryPlan { order, failures })
    }

    /// Plans loading every plugin of the native library at `path`, in dependency order.
    fn plan_native(
        &mut self,
        mapped: &mut MappedLibraries,
        path: &str,
    ) -> Result<DirectoryPlan, Error> {
        let plugins = mapped.load(Path::new(path), LUA_FLAVOR)?;
        let infos: Vec<PluginInfo> = plugins.iter().map(|p| p.info.clone()).collect();
        let mut failures = Vec::new();
        let order = self.resolve(&infos, &mut failures);
        self.planned = plugins
            .into_iter()
            .map(|p| (p.info.manifest.name.clone(), (p.info, Body::Native(p.open))))
            .collect();
        Ok(DirectoryPlan { order, failures })
    }

    /// Load order of `found` among the loaded plugins; what cannot load goes to `failures`.
    fn resolve(&self, found: &[PluginInfo], failures: &mut Vec<(String, Error)>) -> Vec<String> {
        let mut resolver = DependencyResolver::new();
        for (id, version) in self.registry.available() {
            resolver.add_available(id, version.clone());
        }
        let mut paths: HashMap<String, String> = HashMap::new();
        for info in found {
            let path = path_text(&info.source.path)
                .or_else(|| path_text(&info.source.entry))
                .unwrap_or_default();
            match resolver.add(node(&info.manifest)) {
                Ok(()) => {
                    paths.insert(info.manifest.name.clone(), path);
                }
                Err(e) => failures.push((path, e)),
            }
        }
        let resolution = resolver.resolve();
        for (id, e) in resolution.failures {
            failures.push((paths.get(&id).cloned().unwrap_or(id), e));
        }
        resolution.order
    }
}

fn lifecycle_check(record: &Record, operation: Operation) -> Result<State, Error> {
    super::lifecycle::check(&record.manifest.name, record.state, operation)
}

fn to_json(lua: &Lua, value: Value, what: &str) -> Result<Json, Error> {
    // finite floats only: serde_json would make a NaN a null
    lua.from_value::<ConfigValue>(value)
        .map(|v| v.0)
        .map_err(|e| Error::InvalidConfig {
            plugin: what.to_owned(),
            key: String::new(),
            reason: format!("not plain data: {e}"),
        })
}

impl UserData for Core {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("begin_load", |lua, this, path: String| {
            let planned = this.begin_load(&path);
            match planned {
                Ok((info, text)) => {
                    plan_table(lua, &info, Some(Body::Source(Ok(text))))?.into_lua_multi(lua)
                }
                Err(e) => or_error::<()>(lua, Err(e)),
            }
        });
        methods.add_method_mut("begin_inline", |lua, this, manifest: Value| {
            let planned = lua
                .from_value::<ConfigValue>(manifest)
                .map(|v| v.0)
                .map_err(|e| Error::InvalidManifest {
                    source: "inline plugin".to_owned(),
                    reason: format!("the manifest is not plain data: {e}"),
                })
                .and_then(|json| this.begin_inline(json));
            match planned {
                Ok(info) => plan_table(lua, &info, None)?.into_lua_multi(lua),
                Err(e) => or_error::<()>(lua, Err(e)),
            }
        });
        methods.add_method_mut("finish_load", |lua, this, id: String| {
            let Some(info) = this.pending.remove(&id) else {
                return or_error::<()>(lua, Err(Error::UnknownPlugin { id }));
            };
            this.registry.insert(info.manifest, info.source);
            true.into_lua_multi(lua)
        });
        // a load that failed in plugin code: forget it, and describe the failure
        methods.add_method_mut(
            "abort_load",
            |lua, this, (id, stage, message, location): (String, String, String, String)| {
                this.pending.remove(&id);
                this.registry.release(&id);
                let err = Error::LoadError {
                    plugin: id,
                    stage,
                    message,
                    location,
                };
                lua_error::to_lua(lua, &err)
            },
        );
        // the policy refused the plugin: the load ends without an error of its own
        methods.add_method_mut("refuse_load", |_, this, id: String| {
            this.pending.remove(&id);
            this.registry.release(&id);
            Ok(())
        });
        methods.add_method_mut("refuse_reload", |_, this, id: String| {
            this.abort_reload(&id);
            Ok(())
        });
        methods.add_method_mut("begin_reload", |lua, this, id: String| {
            let begun = with_mapped(lua, |mapped| this.begin_reload(mapped, &id))?;
            match begun {
                Ok((info, body, config)) => {
                    let plan = plan_table(lua, &info, Some(body))?;
                    // the new version's ctx.config: the configuration in force carries over
                    plan.set("current_config", lua.to_value(&config)?)?;
                    plan.into_lua_multi(lua)
                }
                Err(e) => {
                    this.registry.counters.reload_failures += 1;
                    or_error::<()>(lua, Err(e))
                }
            }
        });
        methods.add_method_mut("finish_reload", |lua, this, id: String| {
            let done = this.finish_reload(&id).map(|()| true);
            or_error(lua, done)
        });
        methods.add_method_mut(
            "abort_reload",
            |lua, this, (id, stage, message, location): (String, String, String, String)| {
                this.abort_reload(&id);
                let err = Error::LoadError {
                    plugin: id,
                    stage,
                    message,
                    location,
                };
                lua_error::to_lua(lua, &err)
            },
        );
        methods.add_method("check", |lua, this, (id, operation): (String, String)| {
            let Some(op) = Operation::parse(&operation) else {
                return Err(mlua::Error::runtime(format!(
                    "unknown operation {operation:?}"
                )));
            };
            or_error(lua, this.registry.check(&id, op).map(State::as_str))
        });
        methods.add_method_mut("set_state", |lua, this, (id, state): (String, String)| {
            let Some(state) = State::parse(&state) else {
                return Err(mlua::Error::runtime(format!("unknown state {state:?}")));
            };
            or_error(lua, this.registry.set_state(&id, state).map(|()| true))
        });
        // plugin code failed while the plugin was loaded: mark it failed, describe the failure
        methods.add_method_mut(
            "fail",
            |lua, this, (id, stage, message, location): (String, String, String, String)| {
                let err = Error::LoadError {
                    plugin: id.clone(),
                    stage,
                    message,
                    location,
                };
                this.registry
                    .fail(&id, err.clone())
                    .map_err(mlua::Error::external)?;
                lua_error::to_lua(lua, &err)
            },
        );
        methods.add_method_mut("remove", |_, this, id: String| {
            Ok(this.registry.remove(&id).is_some())
        });
        // a copy of a plugin's record, for a transaction to put back; nil when none
        methods.add_method("snapshot_record", |lua, this, id: String| {
            match this.registry.get(&id) {
                Ok(record) => Ok(Value::UserData(
                    lua.create_userdata(RecordSnapshot(record.clone()))?,
                )),
                Err(_) => Ok(Nil),
            }
        });
        methods.add_method_mut(
            "restore_record",
            |_, this, snapshot: mlua::UserDataRef<RecordSnapshot>| {
                this.registry.restore(snapshot.0.clone());
                Ok(true)
            },
        );
        // { Error, ... }: running plugins whose dependencies are not met
        methods.add_method("violations", |lua, this, ()| {
            let list = lua.create_table()?;
            for err in this.registry.violations() {
                list.push(lua_error::to_lua(lua, &err)?)?;
            }
            Ok(list)
        });
        methods.add_method("unload_plan", |lua, this, (id, cascade): (String, bool)| {
            or_error(lua, this.registry.unload_plan(&id, cascade))
        });
        methods.add_method("state", |_, this, id: String| {
            Ok(this.registry.get(&id).ok().map(|r| r.state.as_str()))
        });
        methods.add_method("last_error", |lua, this, id: String| {
            match this
                .registry
                .get(&id)
                .ok()
                .and_then(|r| r.last_error.as_ref())
            {
                Some(e) => Ok(Value::Table(lua_error::to_lua(lua, e)?)),
                None => Ok(Nil),
            }
        });
        methods.add_method("info", |lua, this, id: String| {
            match this.registry.get(&id) {
                Ok(r) => {
                    let t = info_table(lua, &r.manifest, &r.source)?;
                    t.set("state", r.state.as_str())?;
                    t.set("reloads", r.reloads)?;
                    t.set("load_order", r.sequence + 1)?;
                    t.set("uptime", r.loaded_at.elapsed().as_secs_f64())?;
                    Ok(Value::Table(t))
                }
                Err(_) => Ok(Nil),
            }
        });
        methods.add_method("query", |lua, this, (field, value): (String, String)| {
            let matches = |r: &&&Record| match field.as_str() {
                "tag" => r.manifest.tags.contains(&value),
                "capability" => r.manifest.capabilities.contains(&value),
                "state" => r.state.as_str() == value,
                "kind" => r.source.kind.as_str() == value,
                _ => false,
            };
            if !matches!(field.as_str(), "tag" | "capability" | "state" | "kind") {
                return Err(mlua::Error::runtime(format!(
                    "unknown query field {field:?}"
                )));
            }
            let ids: Vec<String> = this
                .registry
                .in_load_order()
                .iter()
                .filter(matches)
                .map(|r| r.manifest.name.clone())
                .collect();
            ids.into_lua_multi(lua)
        });
        methods.add_method("stats", |lua, this, ()| {
            let t = lua.create_table()?;
            let c = this.registry.counters;
            t.set("plugins", this.registry.len())?;
            t.set("loads", c.loads)?;
            t.set("load_failures", c.load_failures)?;
            t.set("unloads", c.unloads)?;
            t.set("reloads", c.reloads)?;
            t.set("reload_failures", c.reload_failures)?;
            let by_state = lua.create_table()?;
            for (state, n) in this.registry.count_by_state() {
                by_state.set(state.as_str(), n)?;
            }
            t.set("by_state", by_state)?;
            t.set(
                "uptime",
                this.created.map_or(0.0, |c| c.elapsed().as_secs_f64()),
            )?;
            Ok(t)
        });
        methods.add_method("config", |lua, this, id: String| {
            match this.registry.get(&id) {
                Ok(r) => lua.to_value(&r.config),
                Err(_) => Ok(Nil),
            }
        });
        // checks a configuration change; `commit_config` applies it once on_configure accepted it
        methods.add_method_mut(
            "check_config",
            |lua, this, (id, changes): (String, Value)| {
                let checked = this.registry.get(&id).and_then(|r| {
                    lifecycle_check(r, Operation::Configure)?;
                    let changes = to_json(lua, changes, &id)?;
                    // a native plugin cannot declare [config]: its configuration is open
                    let declared = r.source.kind != SourceKind::Native;
                    config::apply_to(&r.manifest.config, &r.config, &changes, declared).map_err(
                        |e| Error::InvalidConfig {
                            plugin: id.clone(),
                            key: e.key,
                            reason: e.reason,
                        },
                    )
                });
                match checked {
                    Ok(merged) => {
                        let value = lua.to_value(&merged)?;
                        this.pending_config.insert(id, merged);
                        value.into_lua_multi(lua)
                    }
                    Err(e) => or_error::<()>(lua, Err(e)),
                }
            },
        );
        methods.add_method_mut("commit_config", |_, this, (id, accept): (String, bool)| {
            let Some(merged) = this.pending_config.remove(&id) else {
                return Ok(false);
            };
            if accept && let Ok(record) = this.registry.get_mut(&id) {
                record.config = merged;
                return Ok(true);
            }
            Ok(false)
        });
        methods.add_method_mut("begin_planned", |lua, this, id: String| {
            match this.begin_planned(&id) {
                Ok((info, body)) => plan_table(lua, &info, Some(body))?.into_lua_multi(lua),
                Err(e) => or_error::<()>(lua, Err(e)),
            }
        });
        methods.add_method_mut("plan_native", |lua, this, path: String| {
            let planned = with_mapped(lua, |mapped| this.plan_native(mapped, &path))?;
            match planned {
                Ok(plan) => directory_plan_table(lua, plan)?.into_lua_multi(lua),
                Err(e) => or_error::<()>(lua, Err(e)),
            }
        });
        methods.add_method_mut("plan_directory", |lua, this, dir: String| {
            let planned = with_mapped(lua, |mapped| this.plan_directory(mapped, &dir))?;
            match planned {
                Ok(plan) => directory_plan_table(lua, plan)?.into_lua_multi(lua),
                Err(e) => or_error::<()>(lua, Err(e)),
            }
        });
        methods.add_meta_method("__tostring", |_, this, ()| {
            Ok(format!(
                "qtforge.core.Core ({} plugins)",
                this.registry.len()
            ))
        });
    }
}

/// `PluginDependencyResolver`: the resolver on its own, for hosts that order
/// their own things by the same rules.
/// A plugin's record as it was, held by a transaction until it commits.
struct RecordSnapshot(Record);

impl UserData for RecordSnapshot {}

#[derive(Default)]
pub struct LuaResolver(DependencyResolver);

/// Reads a resolver node from a plugin info table (`inspect` output or hand-made).
fn node_from_table(info: &Table) -> Result<Node, String> {
    let id: Option<String> = info.get("id").ok().flatten();
    let name: Option<String> = info.get("name").ok().flatten();
    let Some(id) = id.or(name) else {
        return Err("info.id (or info.name) must be a plugin id string".to_owned());
    };
    if !super::manifest::is_valid_name(&id) {
        return Err(format!("info.id: {id:?} is not a plugin id"));
    }
    let version: String = info
        .get::<Option<String>>("version")
        .ok()
        .flatten()
        .unwrap_or_else(|| "0.0.0".to_owned());
    let version = semver::Version::parse(&version)
        .map_err(|e| format!("info.version: {version:?} is not a semantic version ({e})"))?;
    let names = |field: &str| -> Result<Vec<String>, String> {
        match info.get::<Value>(field) {
            Ok(Value::Nil) => Ok(Vec::new()),
            Ok(Value::Table(t)) => t
                .sequence_values::<String>()
                .collect::<mlua::Result<Vec<_>>>()
                .map_err(|_| format!("info.{field} must be a list of plugin ids")),
            _ => Err(format!("info.{field} must be a list of plugin ids")),
        }
    };
    let mut requires = Vec::new();
    if let Ok(Value::Table(deps)) = info.get::<Value>("dependencies") {
        for (i, dep) in deps.sequence_values::<Value>().enumerate() {
            let at = format!("info.dependencies[{}]", i + 1);
            let (name, range, optional) = match dep {
                Ok(Value::String(s)) => (s.to_string_lossy(), "*".to_owned(), false),
                Ok(Value::Table(t)) => (
                    t.get::<String>("name")
                        .map_err(|_| format!("{at}.name must be a plugin id string"))?,
                    t.get::<Option<String>>("version")
                        .ok()
                        .flatten()
                        .unwrap_or_else(|| "*".to_owned()),
                    t.get::<Option<bool>>("optional")
                        .ok()
                        .flatten()
                        .unwrap_or(false),
                ),
                _ => {
                    return Err(format!(
                        "{at} must be a plugin id or a table {{ name, version, optional }}"
                    ));
                }
            };
            let range = semver::VersionReq::parse(&range)
                .map_err(|e| format!("{at}.version: {range:?} is not a version range ({e})"))?;
            requires.push(Requirement {
                name,
                range,
                optional,
            });
        }
    }
    let priority = match info.get::<Value>("priority") {
        Ok(Value::Nil) => 0,
        Ok(Value::Integer(n)) => n,
        Ok(Value::Number(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => n as i64,
        _ => return Err("info.priority must be an integer".to_owned()),
    };
    Ok(Node {
        id,
        version,
        requires,
        before: names("before")?,
        after: names("after")?,
        priority,
    })
}

// Misuse comes back as `nil, message` (a string) for resolver.lua to raise at
// the caller's line; an expected failure as `nil, Error`.
impl UserData for LuaResolver {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("add", |lua, this, info: Table| {
            match node_from_table(&info) {
                Ok(node) => or_error(lua, this.0.add(node).map(|()| true)),
                Err(message) => (Nil, message).into_lua_multi(lua),
            }
        });
        methods.add_method_mut(
            "add_available",
            |lua, this, (id, version): (String, String)| match semver::Version::parse(
                version.trim(),
            ) {
                Ok(v) => {
                    this.0.add_available(&id, v);
                    true.into_lua_multi(lua)
                }
                Err(e) => (Nil, format!("{version:?} is not a semantic version ({e})"))
                    .into_lua_multi(lua),
            },
        );
        methods.add_method_mut("remove", |_, this, id: String| Ok(this.0.remove(&id)));
        methods.add_method("count", |_, this, ()| Ok(this.0.len()));
        methods.add_method("resolve", |lua, this, ()| {
            let resolution = this.0.resolve();
            let t = lua.create_table()?;
            t.set("order", resolution.order)?;
            let failures = lua.create_table()?;
            for (id, e) in &resolution.failures {
                failures.set(id.as_str(), lua_error::to_lua(lua, e)?)?;
            }
            t.set("failures", failures)?;
            Ok(t)
        });
        methods.add_method("order", |lua, this, ()| or_error(lua, this.0.order()));
    }
}

/// Runs `f` with the native libraries this Lua state keeps mapped, which all
/// its managers share: the mapping is the process's, not one manager's.
fn with_mapped<R>(lua: &Lua, f: impl FnOnce(&mut MappedLibraries) -> R) -> mlua::Result<R> {
    // nothing in `f` calls back into Lua, so none of these is expected
    fn busy<E>(_: E) -> mlua::Error {
        mlua::Error::runtime("qtforge.core: the list of mapped native libraries is in use")
    }
    if lua
        .try_app_data_ref::<MappedLibraries>()
        .map_err(busy)?
        .is_none()
    {
        lua.try_set_app_data(MappedLibraries::default())
            .map_err(busy)?;
    }
    let mut mapped = lua
        .try_app_data_mut::<MappedLibraries>()
        .map_err(busy)?
        .ok_or_else(|| busy(()))?;
    Ok(f(&mut mapped))
}

/// Where other submodules find the core's classes (`add_poller`, metatables).
pub const CLASSES_KEY: &str = "qtforge.core.classes";

/// The functions `manager.lua` gets from Rust.
fn natives(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    natives.set(
        "communication",
        lua.named_registry_value::<Table>(crate::communication::lua::CLASSES_KEY)?,
    )?;
    natives.set(
        "managers",
        lua.named_registry_value::<Table>(crate::managers::lua::CLASSES_KEY)?,
    )?;
    natives.set(
        "security",
        lua.named_registry_value::<Table>(crate::security::lua::CLASSES_KEY)?,
    )?;
    natives.set(
        "new_core",
        lua.create_function(|_, ()| {
            Ok(Core {
                created: Some(Instant::now()),
                ..Core::default()
            })
        })?,
    )?;
    // load_plugin decides by the path: a shared library holds native plugins
    natives.set(
        "is_library",
        lua.create_function(|_, path: String| Ok(native::is_library_path(Path::new(&path))))?,
    )?;
    natives.set(
        "new_resolver",
        lua.create_function(|_, ()| Ok(LuaResolver::default()))?,
    )?;
    natives.set(
        "inspect",
        lua.create_function(|lua, path: String| {
            let path = Path::new(&path);
            if !native::is_library_path(path) {
                return match source::inspect(path) {
                    Ok(info) => info_table(lua, &info.manifest, &info.source)?.into_lua_multi(lua),
                    Err(e) => or_error::<()>(lua, Err(e)),
                };
            }
            // a library may hold several plugins: the first, with all of them in `plugins`
            match native::inspect(path, LUA_FLAVOR) {
                Ok(infos) => {
                    let all = lua.create_table()?;
                    for (i, info) in infos.iter().enumerate() {
                        all.raw_set(i + 1, info_table(lua, &info.manifest, &info.source)?)?;
                    }
                    let first: Table = all.raw_get(1)?;
                    first.set("plugins", all)?;
                    first.into_lua_multi(lua)
                }
                Err(e) => or_error::<()>(lua, Err(e)),
            }
        })?,
    )?;
    natives.set(
        "discover",
        lua.create_function(|lua, dir: String| {
            match source::discover(Path::new(&dir), LUA_FLAVOR) {
                Ok(discovery) => {
                    let infos = lua.create_table()?;
                    for (i, info) in discovery.found.iter().enumerate() {
                        infos.raw_set(i + 1, info_table(lua, &info.manifest, &info.source)?)?;
                    }
                    let unreadable = discovery
                        .unreadable
                        .iter()
                        .map(|(path, e)| (path.to_string_lossy().into_owned(), e));
                    (infos, failures_table(lua, unreadable)?).into_lua_multi(lua)
                }
                Err(e) => or_error::<()>(lua, Err(e)),
            }
        })?,
    )?;
    natives.set(
        "read_module",
        lua.create_function(|lua, (root, name): (String, String)| {
            let found = source::module_path(Path::new(&root), &name).and_then(|path| {
                Ok((
                    source::read_source(&path)?,
                    path.to_string_lossy().into_owned(),
                ))
            });
            or_error(lua, found)
        })?,
    )?;
    Ok(natives)
}

/// Builds the `qtforge.core` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let source = include_str!("manager.lua");
    let classes = crate::module::run_chunk(lua, "core/manager.lua", source, natives(lua)?)?;
    lua.set_named_registry_value(CLASSES_KEY, &classes)?;
    let core = crate::module::public(
        lua,
        &classes,
        &[
            "PluginManager",
            "PluginLoader",
            "PluginLifecycleManager",
            "PluginDependencyResolver",
        ],
    )?;
    core.set("API_VERSION", HOST_API_VERSION.to_string())?;
    Ok(core)
}
