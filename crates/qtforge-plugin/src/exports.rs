//! [`Exports`]: what [`Plugin::exports`](crate::Plugin::exports) fills, the
//! plugin table's `exports`.

use std::rc::Rc;

use mlua::{FromLuaMulti, IntoLua, IntoLuaMulti, Lua, Table};

use crate::instance::{Instance, Op};
use crate::plugin::Plugin;

/// The `exports` table of a plugin being opened: the functions other plugins
/// and the host call (`ctx.deps.<name>.f(...)`, `plugin:f(...)`).
///
/// ```no_run
/// # use qtforge_plugin::{mlua, Exports, Plugin};
/// # #[derive(Default)]
/// # struct Hello { greeting: String }
/// # impl Plugin for Hello {
/// #     const NAME: &'static str = "hello";
/// #     const VERSION: &'static str = "1.0.0";
/// fn exports(exports: &mut Exports<Self>) -> mlua::Result<()> {
///     exports.add("greet", |_lua, this: &mut Self, name: String| {
///         Ok(format!("{}, {name}", this.greeting))
///     })?;
///     exports.add_function("version", |_lua, ()| Ok(Self::VERSION))?;
///     // a hot export stays in Lua: calling it never crosses into Rust
///     let twice: mlua::Function = exports.lua().load("return function(x) return 2 * x end").eval()?;
///     exports.set("twice", twice)
/// }
/// # }
/// ```
pub struct Exports<T: Plugin> {
    lua: Lua,
    table: Table,
    instance: Rc<Instance<T>>,
}

impl<T: Plugin> Exports<T> {
    pub(crate) fn new(lua: &Lua, instance: Rc<Instance<T>>) -> mlua::Result<Self> {
        Ok(Exports {
            lua: lua.clone(),
            table: lua.create_table_with_capacity(0, T::EXPORTS.len())?,
            instance,
        })
    }

    /// Exports `name` as a function of the plugin instance: `f` gets the Lua
    /// state, the instance borrowed mutably, and the call's arguments
    /// converted to `A` (a tuple for several); what it returns goes back to
    /// Lua. Arguments that do not convert raise "bad argument" errors.
    pub fn add<A, R, F>(&mut self, name: &'static str, f: F) -> mlua::Result<()>
    where
        A: FromLuaMulti,
        R: IntoLuaMulti,
        F: Fn(&Lua, &mut T, A) -> mlua::Result<R> + 'static,
    {
        let function =
            self.instance
                .method(&self.lua, Op::Export(name), move |this, lua, args| {
                    f(lua, this, args)
                })?;
        self.table.raw_set(name, function)
    }

    /// Exports `name` as a function that does not touch the instance, so it
    /// may be called at any time, even from inside the plugin's own hooks.
    pub fn add_function<A, R, F>(&mut self, name: &'static str, f: F) -> mlua::Result<()>
    where
        A: FromLuaMulti,
        R: IntoLuaMulti,
        F: Fn(&Lua, A) -> mlua::Result<R> + 'static,
    {
        let function = self.lua.create_function(f)?;
        self.table.raw_set(name, function)
    }

    /// Exports any Lua value under `name`: typically a function written in
    /// Lua (`lua.load(...).eval()`), for an export called so often that the
    /// cost of crossing into Rust on each call matters (under LuaJIT a Rust
    /// call also ends the trace that reached it).
    pub fn set(&mut self, name: &'static str, value: impl IntoLua) -> mlua::Result<()> {
        self.table.raw_set(name, value)
    }

    /// The Lua state the plugin is opened in.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    pub(crate) fn into_table(self) -> Table {
        self.table
    }
}
