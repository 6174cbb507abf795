//! One opened plugin: its instance, shared by the Lua functions of its table,
//! and the `open` function that builds that table.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::rc::Rc;

use mlua::{FromLuaMulti, Function, IntoLuaMulti, Lua, Table, Value};

use crate::exports::Exports;
use crate::plugin::Plugin;

/// What holds the instance while it is borrowed: named in the error a
/// re-entrant call gets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Hook(&'static str),
    Export(&'static str),
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Hook(name) => write!(f, "hook {name:?}"),
            Op::Export(name) => write!(f, "export {name:?}"),
        }
    }
}

/// The plugin instance every function of one plugin table shares.
pub(crate) struct Instance<T> {
    plugin: RefCell<T>,
    /// Who borrowed `plugin` last; read only when a borrow fails.
    holder: Cell<Op>,
}

impl<T: Plugin> Instance<T> {
    fn new(plugin: T) -> Self {
        Instance {
            plugin: RefCell::new(plugin),
            holder: Cell::new(Op::Hook("open")),
        }
    }

    /// A Lua function running `f` on the borrowed instance; a call made while
    /// the instance is already borrowed fails with a Lua error, never a panic.
    pub(crate) fn method<A, R, F>(
        self: &Rc<Self>,
        lua: &Lua,
        op: Op,
        f: F,
    ) -> mlua::Result<Function>
    where
        A: FromLuaMulti,
        R: IntoLuaMulti,
        F: Fn(&mut T, &Lua, A) -> mlua::Result<R> + 'static,
    {
        let this = Rc::clone(self);
        lua.create_function(move |lua, args: A| {
            let Ok(mut plugin) = this.plugin.try_borrow_mut() else {
                return Err(mlua::Error::runtime(format!(
                    "plugin {:?}: {op} was called while {} is running (a plugin cannot re-enter itself)",
                    T::NAME,
                    this.holder.get(),
                )));
            };
            this.holder.set(op);
            f(&mut plugin, lua, args)
        })
    }
}

/// Builds the plugin table of a fresh instance of `T`: the hooks, then
/// `exports`. `update` is left out unless `T::UPDATES`.
pub(crate) fn plugin_table<T: Plugin>(lua: &Lua) -> mlua::Result<Table> {
    let instance = Rc::new(Instance::new(T::default()));
    let table = lua.create_table_with_capacity(0, 9)?;
    table.raw_set(
        "on_load",
        instance.method(lua, Op::Hook("on_load"), |p, lua, ctx: Table| {
            p.on_load(lua, &ctx)
        })?,
    )?;
    table.raw_set(
        "on_start",
        instance.method(lua, Op::Hook("on_start"), |p, lua, ctx: Table| {
            p.on_start(lua, &ctx)
        })?,
    )?;
    table.raw_set(
        "on_stop",
        instance.method(lua, Op::Hook("on_stop"), |p, lua, ctx: Table| {
            p.on_stop(lua, &ctx)
        })?,
    )?;
    table.raw_set(
        "on_unload",
        instance.method(lua, Op::Hook("on_unload"), |p, lua, ctx: Table| {
            p.on_unload(lua, &ctx)
        })?,
    )?;
    table.raw_set(
        "on_reload",
        instance.method(lua, Op::Hook("on_reload"), |p, lua, old: Value| {
            p.on_reload(lua, old)
        })?,
    )?;
    table.raw_set(
        "on_configure",
        instance.method(lua, Op::Hook("on_configure"), |p, lua, config: Table| {
            p.on_configure(lua, &config)
        })?,
    )?;
    table.raw_set(
        "health",
        instance.method(lua, Op::Hook("health"), |p, lua, ()| p.health(lua))?,
    )?;
    if T::UPDATES {
        table.raw_set(
            "update",
            instance.method(
                lua,
                Op::Hook("update"),
                |p, lua, (dt, info): (f64, Table)| p.update(lua, dt, &info),
            )?,
        )?;
    }

    let mut exports = Exports::new(lua, instance)?;
    T::exports(&mut exports)?;
    table.raw_set("exports", exports.into_table())?;
    Ok(table)
}

/// The `open` function of plugin `T`, as the descriptor lists it: a
/// `lua_CFunction` that pushes a new plugin table and returns 1, or raises a
/// Lua error. mlua's module entry point runs the plugin's code (its `Default`,
/// its `exports`) under `catch_unwind`, so a panic comes out as a Lua error.
///
/// # Safety
///
/// `state` is the `lua_State*` of the Lua this library was built for, and the
/// call comes from Lua (as a C function, in protected mode).
pub unsafe extern "C-unwind" fn open<T: Plugin>(state: *mut c_void) -> c_int {
    // SAFETY: the host calls `open` as a lua_CFunction with a live state
    unsafe { Lua::entrypoint1(state.cast::<mlua::lua_State>(), plugin_table::<T>) }
}
