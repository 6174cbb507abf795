//! The Lua side of `qtforge.orchestration` (`orchestrator.lua`).

use mlua::{Lua, Table, Value};

use super::graph::{self, StepShape};
use crate::error::Error;

/// Registry key of the Lua tables behind the classes, for specs that check
/// every public method has a type stub.
pub const CLASSES_KEY: &str = "qtforge.orchestration.classes";

/// The most slots a table is made with in advance; more grow as usual.
const MAX_PRESIZE: usize = 1 << 16;

/// `order(steps)`: `steps` is a list of `{ name = string, depends_on = { names } }`.
/// Returns the 1-based indices in run order, or nil and the problems (a list of
/// sentences).
fn order(lua: &Lua, steps: Table) -> mlua::Result<(Value, Value)> {
    let mut shapes = Vec::with_capacity(steps.raw_len());
    for step in steps.sequence_values::<Table>() {
        let step = step?;
        let depends_on: Table = step.get("depends_on")?;
        shapes.push(StepShape {
            name: step.get("name")?,
            depends_on: depends_on
                .sequence_values::<String>()
                .collect::<mlua::Result<_>>()?,
        });
    }
    match graph::order(&shapes) {
        Ok(order) => {
            let list = lua.create_sequence_from(order.into_iter().map(|i| i + 1))?;
            Ok((Value::Table(list), Value::Nil))
        }
        Err(problems) => {
            let list = lua.create_sequence_from(problems.iter().map(ToString::to_string))?;
            Ok((Value::Nil, Value::Table(list)))
        }
    }
}

/// Builds the `qtforge.orchestration` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    natives.set(
        "core",
        lua.named_registry_value::<Table>(crate::core::lua::CLASSES_KEY)?,
    )?;
    natives.set("order", lua.create_function(order)?)?;
    natives.set(
        "invalid_workflow",
        lua.create_function(|lua, (workflow, problems): (String, Vec<String>)| {
            crate::error::lua::to_lua(lua, &Error::InvalidWorkflow { workflow, problems })
        })?,
    )?;
    // what a synchronous run does while every step waits for a time: blocks
    // the thread, which is what execute_workflow promises
    natives.set(
        "sleep",
        lua.create_function(|_, seconds: f64| {
            crate::utils::lua::sleep_seconds(seconds);
            Ok(())
        })?,
    )?;
    // a run's tables made at their final size (Lua has no way to say it)
    natives.set(
        "new_table",
        lua.create_function(|lua, (array, records): (usize, usize)| {
            lua.create_table_with_capacity(array.min(MAX_PRESIZE), records.min(MAX_PRESIZE))
        })?,
    )?;
    let classes = crate::module::run_chunk(
        lua,
        "orchestration/orchestrator.lua",
        include_str!("orchestrator.lua"),
        natives,
    )?;
    lua.set_named_registry_value(CLASSES_KEY, &classes)?;
    crate::module::public(lua, &classes, &["PluginOrchestrator", "Workflow"])
}
