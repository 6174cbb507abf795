//! The Lua side of [`Error`]: the `qtforge.Error` class and the result tables
//! that carry an error to Lua code.

use mlua::{IntoLuaMulti, Lua, MultiValue, Nil, Table};

use super::Error;

/// Registry key of the metatable shared by every `qtforge.Error` value.
const METATABLE_KEY: &str = "qtforge.Error.metatable";
/// Registry key of the `qtforge.Error` class, for submodules that hand it to their Lua side.
pub const CLASS_KEY: &str = "qtforge.Error.class";

/// Loads the `qtforge.Error` class into `lua` and remembers its metatable.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let (class, metatable): (Table, Table) = lua
        .load(include_str!("error.lua"))
        .set_name("=qtforge/error.lua")
        .call(())?;
    lua.set_named_registry_value(METATABLE_KEY, metatable)?;
    lua.set_named_registry_value(CLASS_KEY, &class)?;
    Ok(class)
}

/// The `Error` value Lua sees for `err`: `{ code, message, details }`.
pub fn to_lua(lua: &Lua, err: &Error) -> mlua::Result<Table> {
    let value = lua.create_table_with_capacity(0, 3)?;
    value.raw_set("code", err.code())?;
    value.raw_set("message", err.to_string())?;
    value.raw_set("details", err.details())?;
    let metatable: Table = lua.named_registry_value(METATABLE_KEY)?;
    value.set_metatable(Some(metatable))?;
    Ok(value)
}

/// `value`, or `nil, message` (the error and its details in one line) for the
/// Lua side to raise at its caller's line: how natives report misuse.
pub fn or_message<T: IntoLuaMulti>(
    lua: &Lua,
    result: Result<T, Error>,
) -> mlua::Result<MultiValue> {
    match result {
        Ok(value) => value.into_lua_multi(lua),
        Err(err) => {
            let details = err.details();
            let message = if details.is_empty() {
                err.to_string()
            } else {
                format!("{err} ({details})")
            };
            (Nil, message).into_lua_multi(lua)
        }
    }
}

/// A failed result: `{ success = false, error = Error }`.
pub fn failure(lua: &Lua, err: &Error) -> mlua::Result<Table> {
    let result = lua.create_table_with_capacity(0, 2)?;
    result.raw_set("success", false)?;
    result.raw_set("error", to_lua(lua, err)?)?;
    Ok(result)
}
