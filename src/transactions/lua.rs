//! The Lua side of `qtforge.transactions` (`transaction.lua`).

use mlua::{Lua, Table};

/// Registry key of the Lua tables behind the classes, for specs that check
/// every public method has a type stub.
pub const CLASSES_KEY: &str = "qtforge.transactions.classes";

/// Builds the `qtforge.transactions` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    // the parts of the manager, bus and configuration a transaction holds,
    // journals and puts back
    for (name, key) in [
        ("core", crate::core::lua::CLASSES_KEY),
        ("communication", crate::communication::lua::CLASSES_KEY),
        ("managers", crate::managers::lua::CLASSES_KEY),
    ] {
        natives.set(name, lua.named_registry_value::<Table>(key)?)?;
    }
    let classes = crate::module::run_chunk(
        lua,
        "transactions/transaction.lua",
        include_str!("transaction.lua"),
        natives,
    )?;
    lua.set_named_registry_value(CLASSES_KEY, &classes)?;
    crate::module::public(lua, &classes, &["PluginTransactionManager"])
}
