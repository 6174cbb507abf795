//! `qtforge.utils`: the Lua side of [`super::version`].

use mlua::{Lua, LuaString, Table};

use super::version;
use crate::error::lua::or_message;

/// Registry key of the `Version` class, for Rust code that hands versions to Lua.
pub const VERSION_CLASS_KEY: &str = "qtforge.utils.Version";
/// Registry key of `utils.monotonic`, for the Lua chunks of other submodules.
pub const MONOTONIC_KEY: &str = "qtforge.utils.monotonic";

/// The functions `version.lua` calls for the parts it leaves to the semver crate.
fn version_natives(lua: &Lua) -> mlua::Result<Table> {
    let natives = lua.create_table()?;
    natives.set(
        "parse",
        lua.create_function(|lua, text: LuaString| {
            let parsed = version::parse(&text.to_string_lossy()).map(|v| {
                // absent tags go back as nil: a string would cost an allocation
                let tag = |t: String| (!t.is_empty()).then_some(t);
                (v.major, v.minor, v.patch, tag(v.pre), tag(v.build))
            });
            or_message(lua, parsed)
        })?,
    )?;
    natives.set(
        "check_tag",
        lua.create_function(|lua, (kind, tag): (LuaString, LuaString)| {
            let checked = version::check_tag(&kind.to_string_lossy(), &tag.to_string_lossy());
            or_message(lua, checked.map(|()| true))
        })?,
    )?;
    natives.set(
        "compare_prerelease",
        lua.create_function(|lua, (a, b): (LuaString, LuaString)| {
            let ordering = version::compare_prerelease(&a.to_string_lossy(), &b.to_string_lossy());
            or_message(lua, ordering.map(|o| o as i8))
        })?,
    )?;
    natives.set(
        "satisfies",
        lua.create_function(|lua, (text, range): (LuaString, LuaString)| {
            or_message(
                lua,
                version::satisfies(&text.to_string_lossy(), &range.to_string_lossy()),
            )
        })?,
    )?;
    Ok(natives)
}

/// Builds the `qtforge.utils` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let version_class: Table = lua
        .load(include_str!("version.lua"))
        .set_name("=qtforge/utils/version.lua")
        .call(version_natives(lua)?)?;
    lua.set_named_registry_value(VERSION_CLASS_KEY, &version_class)?;
    let utils = lua.create_table()?;
    utils.set("Version", version_class)?;
    // plain Lua has no sub-second wall clock (os.clock is CPU time, os.time whole seconds)
    let origin = std::time::Instant::now();
    let monotonic = lua.create_function(move |_, ()| Ok(origin.elapsed().as_secs_f64()))?;
    lua.set_named_registry_value(MONOTONIC_KEY, &monotonic)?;
    utils.set("monotonic", monotonic)?;
    // plain Lua cannot wait without spinning or starting a process
    let sleep = lua.create_function(|_, seconds: f64| {
        sleep_seconds(seconds);
        Ok(())
    })?;
    let checked: mlua::Function = lua
        .load(
            r#"
local sleep = ...
return function(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
    local got = type(seconds) == "number" and tostring(seconds) or type(seconds)
    error("utils.sleep: argument 'seconds' must be a non-negative number, got " .. got, 2)
  end
  sleep(seconds)
end
"#,
        )
        .set_name("=qtforge/utils/sleep")
        .call(sleep)?;
    utils.set("sleep", checked)?;
    Ok(utils)
}

/// The longest one sleep lasts: a day, so that a huge or infinite wait cannot
/// overflow a `Duration`.
const LONGEST_SLEEP: f64 = 86_400.0;

/// Blocks the thread for `seconds` (at most a day); nothing for zero, a
/// negative number or NaN.
pub fn sleep_seconds(seconds: f64) {
    if seconds > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(
            seconds.min(LONGEST_SLEEP),
        ));
    }
}
