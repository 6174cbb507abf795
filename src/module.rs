//! The one place that lists every submodule and builds the `qtforge` table.
//!
//! The table is built once per Lua state and kept in the registry, so that
//! `require('qtforge')` and `require('qtforge.utils')` hand out the same tables
//! whichever runs first. Nothing here starts a thread: OpenResty forks its
//! workers after `init_by_lua`, and a thread would not survive the fork.

use mlua::{Lua, Table};

/// Registry key of the assembled `qtforge` table.
const MODULE_KEY: &str = "qtforge.module";

/// Builds one submodule's table.
type Register = fn(&Lua) -> mlua::Result<Table>;

/// Every submodule, by the name it has in the `qtforge` table, in build order.
const SUBMODULES: &[(&str, Register)] = &[
    ("utils", crate::utils::lua::register),
    ("communication", crate::communication::lua::register),
    ("managers", crate::managers::lua::register),
    ("security", crate::security::lua::register),
    ("core", crate::core::lua::register),
    ("monitoring", crate::monitoring::lua::register),
    ("transactions", crate::transactions::lua::register),
    ("orchestration", crate::orchestration::lua::register),
];

/// Registry key of the helpers the Lua chunks share (`support.lua`).
const SUPPORT_KEY: &str = "qtforge.support";

/// The natives every submodule's Lua chunk starts from: the shared helpers
/// (`support`), the `Error` and `Version` classes and the monotonic clock.
pub fn chunk_natives(lua: &Lua) -> mlua::Result<Table> {
    let natives = lua.create_table()?;
    natives.set("support", support(lua)?)?;
    natives.set(
        "Error",
        lua.named_registry_value::<Table>(crate::error::lua::CLASS_KEY)?,
    )?;
    natives.set(
        "Version",
        lua.named_registry_value::<Table>(crate::utils::lua::VERSION_CLASS_KEY)?,
    )?;
    natives.set(
        "monotonic",
        lua.named_registry_value::<mlua::Function>(crate::utils::lua::MONOTONIC_KEY)?,
    )?;
    Ok(natives)
}

/// Runs a submodule's Lua chunk (`path` under `src/`, for tracebacks) with its
/// natives; returns the table of classes it gives back.
pub fn run_chunk(lua: &Lua, path: &str, source: &str, natives: Table) -> mlua::Result<Table> {
    lua.load(source)
        .set_name(format!("=qtforge/{path}"))
        .call(natives)
}

/// The submodule table: the entries of `classes` named in `names`.
pub fn public(lua: &Lua, classes: &Table, names: &[&str]) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    for name in names {
        table.set(*name, classes.get::<mlua::Value>(*name)?)?;
    }
    Ok(table)
}

/// The shared Lua helpers (`describe`, `check_options`, `class`...), loaded once per state.
pub fn support(lua: &Lua) -> mlua::Result<Table> {
    if let Some(support) = lua.named_registry_value::<Option<Table>>(SUPPORT_KEY)? {
        return Ok(support);
    }
    let support: Table = lua
        .load(include_str!("support.lua"))
        .set_name("=qtforge/support.lua")
        .call(())?;
    lua.set_named_registry_value(SUPPORT_KEY, &support)?;
    Ok(support)
}

/// The `qtforge` table for this Lua state, built on first use.
pub fn qtforge(lua: &Lua) -> mlua::Result<Table> {
    if let Some(module) = lua.named_registry_value::<Option<Table>>(MODULE_KEY)? {
        return Ok(module);
    }
    let module = lua.create_table()?;
    let version = env!("CARGO_PKG_VERSION");
    module.set("version", version)?;
    module.set("_VERSION", format!("qtforge {version}"))?;
    module.set("_DESCRIPTION", env!("CARGO_PKG_DESCRIPTION"))?;
    module.set("_LICENSE", env!("CARGO_PKG_LICENSE"))?;
    module.set("lua_flavor", LUA_FLAVOR)?;
    module.set("Error", crate::error::lua::register(lua)?)?;
    for (name, register) in SUBMODULES {
        module.set(*name, register(lua)?)?;
    }
    lua.set_named_registry_value(MODULE_KEY, &module)?;
    Ok(module)
}

/// One submodule of the `qtforge` table, for `require('qtforge.<name>')`.
pub fn submodule(lua: &Lua, name: &str) -> mlua::Result<Table> {
    qtforge(lua)?.get(name)
}

/// The Lua this build was compiled for; a module or native plugin built for the
/// other flavour will not load.
#[cfg(feature = "luajit")]
pub const LUA_FLAVOR: &str = qtforge_plugin::abi::LUAJIT;
#[cfg(not(feature = "luajit"))]
pub const LUA_FLAVOR: &str = qtforge_plugin::abi::LUA54;

#[cfg(feature = "module")]
mod entry_points {
    use mlua::{Lua, Table};

    #[mlua::lua_module]
    fn qtforge(lua: &Lua) -> mlua::Result<Table> {
        super::qtforge(lua)
    }

    #[mlua::lua_module(name = "qtforge_core")]
    fn qtforge_core(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "core")
    }

    #[mlua::lua_module(name = "qtforge_communication")]
    fn qtforge_communication(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "communication")
    }

    #[mlua::lua_module(name = "qtforge_managers")]
    fn qtforge_managers(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "managers")
    }

    #[mlua::lua_module(name = "qtforge_monitoring")]
    fn qtforge_monitoring(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "monitoring")
    }

    #[mlua::lua_module(name = "qtforge_orchestration")]
    fn qtforge_orchestration(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "orchestration")
    }

    #[mlua::lua_module(name = "qtforge_security")]
    fn qtforge_security(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "security")
    }

    #[mlua::lua_module(name = "qtforge_transactions")]
    fn qtforge_transactions(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "transactions")
    }

    #[mlua::lua_module(name = "qtforge_utils")]
    fn qtforge_utils(lua: &Lua) -> mlua::Result<Table> {
        super::submodule(lua, "utils")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_table_once_per_state() -> mlua::Result<()> {
        let lua = Lua::new();
        let first = qtforge(&lua)?;
        let second = qtforge(&lua)?;
        assert_eq!(first, second);
        assert_eq!(submodule(&lua, "utils")?, first.get::<Table>("utils")?);
        assert_eq!(first.get::<String>("version")?, env!("CARGO_PKG_VERSION"));
        Ok(())
    }
}
