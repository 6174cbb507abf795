//! The Lua side of `qtforge.security`: `PluginValidator` and `TrustManager`.

use std::collections::BTreeMap;
use std::path::Path;

use mlua::{IntoLuaMulti, Lua, MultiValue, Nil, Table, Value};

use std::path::PathBuf;

use mlua::{UserData, UserDataMethods};

use super::pattern::{self, Search, Stop};
use super::policy::{Origin, Policy, RawPolicy, resolve_allowed};
use super::{integrity, lock, trust};
use crate::core::manifest::Limits;
use crate::error::lua::or_message;
use crate::error::{Error, lua as lua_error};

/// `{ success = true }` and the fields `fill` sets, or a failed result that
/// names the plugin when the error does.
fn result<T>(
    lua: &Lua,
    outcome: Result<T, Error>,
    fill: impl FnOnce(&Table, T) -> mlua::Result<()>,
) -> mlua::Result<Table> {
    match outcome {
        Ok(value) => {
            let result = lua.create_table()?;
            result.set("success", true)?;
            fill(&result, value)?;
            Ok(result)
        }
        Err(err) => {
            let result = lua_error::failure(lua, &err)?;
            result.set("plugin_id", err.plugin())?;
            Ok(result)
        }
    }
}

/// Where `manager.lua` finds the sandbox and the SecurityManager internals.
pub const CLASSES_KEY: &str = "qtforge.security.classes";

/// A checked policy, held by a `SecurityManager`.
struct LuaPolicy(Policy);

fn limits_from(table: &Table) -> mlua::Result<Limits> {
    Ok(Limits {
        instructions: table.get("instructions")?,
        time_ms: table.get("time_ms")?,
        depth: table.get("depth")?,
    })
}

fn paths_table(lua: &Lua, paths: &[PathBuf]) -> mlua::Result<Table> {
    lua.create_sequence_from(paths.iter().map(|p| p.display().to_string()))
}

impl UserData for LuaPolicy {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // admit(id, origin, capabilities, limits, root, signed) -> grant | nil, { capabilities, reason }
        methods.add_method(
            "admit",
            |lua,
             this,
             (id, origin, requested, limits, root, signed): (
                String,
                String,
                Vec<String>,
                Table,
                Option<String>,
                bool,
            )| {
                let origin = match origin.as_str() {
                    "inline" => Origin::Inline,
                    "native" => Origin::Native,
                    _ => Origin::File,
                };
                let limits = limits_from(&limits)?;
                let root = root.map(PathBuf::from);
                match this
                    .0
                    .admit(&id, origin, &requested, limits, root.as_deref(), signed)
                {
                    Ok(grant) => {
                        let t = lua.create_table()?;
                        t.set("trust", grant.trust.as_str())?;
                        t.set("capabilities", grant.capabilities)?;
                        let limits = lua.create_table()?;
                        limits.set("instructions", grant.limits.instructions)?;
                        limits.set("time_ms", grant.limits.time_ms)?;
                        limits.set("depth", grant.limits.depth)?;
                        t.set("limits", limits)?;
                        t.set("read", paths_table(lua, &grant.read)?)?;
                        t.set("write", paths_table(lua, &grant.write)?)?;
                        t.set("modules", grant.modules)?;
                        t.into_lua_multi(lua)
                    }
                    Err(denied) => {
                        let t = lua.create_table()?;
                        t.set("capabilities", denied.capabilities)?;
                        t.set("reason", denied.reason)?;
                        (Nil, t).into_lua_multi(lua)
                    }
                }
            },
        );
        methods.add_method("max_quota_failures", |_, this, ()| {
            Ok(this.0.max_quota_failures)
        });
        methods.add_method("require_integrity", |_, this, ()| {
            Ok(this.0.require_integrity)
        });
        methods.add_method("host_globals", |_, this, ()| {
            Ok(this.0.host_globals.clone())
        });
    }
}

/// Builds the `qtforge.security` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    // { success, plugin_id, integrity, files, source } or a failed result
    natives.set(
        "validate",
        lua.create_function(|lua, path: String| {
            result(lua, integrity::validate(Path::new(&path)), |t, found| {
                t.set("plugin_id", found.plugin_id)?;
                t.set("files", found.files)?;
                t.set("integrity", found.source.is_some())?;
                t.set("source", found.source.map(integrity::Source::as_str))
            })
        })?,
    )?;
    // { file = "sha256:..." } | nil, Error
    natives.set(
        "hash_files",
        lua.create_function(
            |lua, path: String| match integrity::hash_files(Path::new(&path)) {
                Ok(hashes) => lua.create_table_from(hashes)?.into_lua_multi(lua),
                Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
            },
        )?,
    )?;
    // { success, path, plugins } or a failed result
    natives.set(
        "lock",
        lua.create_function(|lua, dir: String| {
            result(lua, lock::write(Path::new(&dir)), |t, (path, count)| {
                t.set("path", path.display().to_string())?;
                t.set("plugins", count)
            })
        })?,
    )?;
    // { success, plugin_id, signed, trusted, key, public_key } or a failed result
    natives.set(
        "verify",
        lua.create_function(|lua, (path, keys): (String, BTreeMap<String, String>)| {
            result(lua, trust::verify(Path::new(&path), &keys), |t, found| {
                t.set("plugin_id", found.plugin_id)?;
                t.set("signed", found.signed)?;
                t.set("trusted", found.trusted)?;
                t.set("key", found.key)?;
                t.set("public_key", found.public_key)
            })
        })?,
    )?;
    // { success, plugin_id, public_key } or a failed result; the Lua side has
    // checked the key's form, so a bad one here is a bug, raised as such
    natives.set(
        "sign",
        lua.create_function(|lua, (path, secret): (String, String)| {
            let secret = trust::parse_secret_key(&secret)
                .map_err(|r| mlua::Error::runtime(format!("the secret key {r}")))?;
            result(lua, trust::sign(Path::new(&path), &secret), |t, signed| {
                t.set("plugin_id", signed.plugin_id)?;
                t.set("public_key", signed.public_key)
            })
        })?,
    )?;
    // public, secret | nil, message
    natives.set(
        "generate_keypair",
        lua.create_function(|lua, ()| or_message(lua, trust::generate_keypair()))?,
    )?;
    // nil | why the key cannot be trusted ("is not 64 lower-case hex digits")
    natives.set(
        "public_key_problem",
        lua.create_function(|lua, hex: String| -> mlua::Result<MultiValue> {
            match trust::parse_public_key(&hex) {
                Ok(_) => Nil.into_lua_multi(lua),
                Err(problem) => problem.into_lua_multi(lua),
            }
        })?,
    )?;
    // a policy table -> the checked policy | nil, "field: what is wrong"
    natives.set(
        "new_policy",
        lua.create_function(|lua, policy: Value| -> mlua::Result<MultiValue> {
            let raw: Result<RawPolicy, String> = serde_path_to_error::deserialize(
                mlua::serde::Deserializer::new(policy),
            )
            .map_err(|e| {
                let at = e.path().to_string();
                if at == "." {
                    e.inner().to_string()
                } else {
                    format!("{at}: {}", e.inner())
                }
            });
            match raw.and_then(RawPolicy::check) {
                Ok(policy) => lua.create_userdata(LuaPolicy(policy))?.into_lua_multi(lua),
                Err(problem) => (Nil, problem).into_lua_multi(lua),
            }
        })?,
    )?;
    // whether a qtforge.lock sits beside the plugin folder `root`
    natives.set(
        "has_lock",
        lua.create_function(|_, root: String| {
            Ok(Path::new(&root)
                .parent()
                .is_some_and(|dir| dir.join(lock::LOCK_FILE).is_file()))
        })?,
    )?;
    // the file a sandboxed plugin may open: (allowed paths, its folder, path) -> resolved | nil, why
    natives.set(
        "resolve_path",
        lua.create_function(
            |lua, (allowed, base, path): (Vec<String>, Option<String>, String)| {
                let allowed: Vec<PathBuf> = allowed.into_iter().map(PathBuf::from).collect();
                match resolve_allowed(&allowed, base.as_deref().map(Path::new), &path) {
                    Ok(resolved) => resolved.display().to_string().into_lua_multi(lua),
                    Err(problem) => (Nil, problem).into_lua_multi(lua),
                }
            },
        )?,
    )?;
    // the steps a pattern search will take: steps | nil (more than `limit`) |
    // false (Lua will refuse the pattern); `each`: gsub/gmatch, `arg` their
    // most matches; otherwise find/match, `arg` their init
    natives.set(
        "pattern_cost",
        lua.create_function(
            |_,
             (subject, pattern, each, arg, limit): (
                mlua::LuaString,
                mlua::LuaString,
                bool,
                f64,
                f64,
            )| {
                let search = if each {
                    Search::Each {
                        max: if arg >= 0.0 { arg as u64 } else { 0 },
                    }
                } else {
                    Search::Once { init: arg as i64 }
                };
                let limit = if limit > 0.0 { limit as u64 } else { 0 };
                Ok(
                    match pattern::cost(&subject.as_bytes(), &pattern.as_bytes(), search, limit) {
                        Ok(steps) => Value::Number(steps as f64),
                        Err(Stop::Exceeded) => Nil,
                        Err(Stop::Malformed) => Value::Boolean(false),
                    },
                )
            },
        )?,
    )?;
    let validator = include_str!("validator.lua");
    let validator =
        crate::module::run_chunk(lua, "security/validator.lua", validator, natives.clone())?;
    let trust = include_str!("trust.lua");
    let trust = crate::module::run_chunk(lua, "security/trust.lua", trust, natives.clone())?;
    natives.set("TrustManagerMeta", trust.get::<Value>("_TrustManager")?)?;
    let sandbox = include_str!("sandbox.lua");
    let sandbox = crate::module::run_chunk(lua, "security/sandbox.lua", sandbox, natives.clone())?;
    let manager = include_str!("manager.lua");
    let manager = crate::module::run_chunk(lua, "security/manager.lua", manager, natives)?;
    manager.set("sandbox", sandbox)?;
    lua.set_named_registry_value(CLASSES_KEY, &manager)?;
    let module = crate::module::public(lua, &validator, &["PluginValidator"])?;
    module.set("TrustManager", trust.get::<Value>("TrustManager")?)?;
    module.set("SecurityManager", manager.get::<Value>("SecurityManager")?)?;
    module.set(
        "PermissionSystem",
        manager.get::<Value>("PermissionSystem")?,
    )?;
    Ok(module)
}
