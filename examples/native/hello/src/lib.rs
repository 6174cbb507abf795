//! A native qtforge plugin in Rust: `greet(name)` and `count()`.
//!
//! ```lua
//! local result = manager:load_plugin("./plugins/hello.so")
//! local hello = manager:get_plugin(result.plugin_id)
//! print(hello:greet("world"))   --> Hello, world!
//! print(hello:count())          --> 1
//! ```

#[cfg(not(any(feature = "lua54", feature = "luajit")))]
compile_error!("build with --features lua54 or --features luajit (the Lua the host runs)");

use qtforge_plugin::mlua::{self, Lua, Table, Value};
use qtforge_plugin::{Exports, Plugin, export_plugin};

const DEFAULT_GREETING: &str = "Hello";

/// Greets people, with the greeting from its config when there is one.
pub struct Hello {
    greeting: String,
    greeted: u64,
}

impl Default for Hello {
    fn default() -> Self {
        Hello {
            greeting: DEFAULT_GREETING.to_owned(),
            greeted: 0,
        }
    }
}

impl Hello {
    /// Takes `config.greeting` when it is set; a config without it keeps the current one.
    fn configure(&mut self, config: Option<Table>) -> mlua::Result<()> {
        if let Some(greeting) = config
            .map(|c| c.get::<Option<String>>("greeting"))
            .transpose()?
            .flatten()
        {
            self.greeting = greeting;
        }
        Ok(())
    }
}

impl Plugin for Hello {
    const NAME: &'static str = "hello";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Says hello, in the greeting its config gives";
    const EXPORTS: &'static [&'static str] = &["greet", "count"];

    fn exports(exports: &mut Exports<Self>) -> mlua::Result<()> {
        exports.add("greet", |_, this: &mut Self, name: String| {
            this.greeted += 1;
            Ok(format!("{}, {name}!", this.greeting))
        })?;
        exports.add("count", |_, this: &mut Self, ()| Ok(this.greeted))
    }

    fn on_load(&mut self, _lua: &Lua, ctx: &Table) -> mlua::Result<()> {
        self.configure(ctx.get("config")?)
    }

    fn on_configure(&mut self, _lua: &Lua, config: &Table) -> mlua::Result<()> {
        self.configure(Some(config.clone()))
    }

    // a reload keeps the count
    fn on_unload(&mut self, lua: &Lua, _ctx: &Table) -> mlua::Result<Option<Value>> {
        let state = lua.create_table()?;
        state.set("greeted", self.greeted)?;
        Ok(Some(Value::Table(state)))
    }

    fn on_reload(&mut self, _lua: &Lua, old_state: Value) -> mlua::Result<()> {
        if let Value::Table(state) = old_state {
            self.greeted = state.get::<Option<u64>>("greeted")?.unwrap_or(0);
        }
        Ok(())
    }
}

export_plugin!(Hello);
