//! Two native qtforge plugins in one library: `bundle_base` adds numbers,
//! `bundle_extra` depends on it and counts frames.
//!
//! ```lua
//! local result = manager:load_plugin("./plugins/bundle.so")   -- loads both, base first
//! print(manager:call("bundle_extra", "add3", 1, 2, 3))        --> 6
//! manager:update_all_plugins(1 / 60)
//! print(manager:call("bundle_extra", "frames"))               --> 1
//! ```

#[cfg(not(any(feature = "lua54", feature = "luajit")))]
compile_error!("build with --features lua54 or --features luajit (the Lua the host runs)");

use qtforge_plugin::mlua::{self, Function, Lua, Table, Value};
use qtforge_plugin::{Dependency, Exports, Plugin, export_plugin};

/// `a + b` as Lua computes it: integers stay integers, anything else is a float.
fn add(a: Value, b: Value) -> mlua::Result<Value> {
    fn number(v: &Value, pos: usize) -> mlua::Result<f64> {
        match v {
            Value::Integer(i) => Ok(*i as f64),
            Value::Number(n) => Ok(*n),
            other => Err(mlua::Error::runtime(format!(
                "bad argument #{pos} to 'add' (number expected, got {})",
                other.type_name()
            ))),
        }
    }
    Ok(match (&a, &b) {
        (Value::Integer(x), Value::Integer(y)) => Value::Integer(x.wrapping_add(*y)),
        _ => Value::Number(number(&a, 1)? + number(&b, 2)?),
    })
}

/// Adds two numbers. Holds no state: its export needs no instance.
#[derive(Default)]
pub struct BundleBase;

impl Plugin for BundleBase {
    const NAME: &'static str = "bundle_base";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Adds numbers";
    const EXPORTS: &'static [&'static str] = &["add"];

    fn exports(exports: &mut Exports<Self>) -> mlua::Result<()> {
        exports.add_function("add", |_, (a, b): (Value, Value)| add(a, b))
    }
}

/// Adds three numbers through `bundle_base`, and counts the frames it sees.
#[derive(Default)]
pub struct BundleExtra {
    /// `ctx.deps`, kept from `on_load`. `bundle_base` is looked up in it on
    /// each call, so a reloaded `bundle_base` is used at once.
    deps: Option<Table>,
    frames: u64,
}

impl BundleExtra {
    fn base_add(&self) -> mlua::Result<Function> {
        let deps = self
            .deps
            .as_ref()
            .ok_or_else(|| mlua::Error::runtime("bundle_extra is not loaded"))?;
        deps.get::<Table>("bundle_base")?.get("add")
    }
}

impl Plugin for BundleExtra {
    const NAME: &'static str = "bundle_extra";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Adds three numbers with bundle_base and counts frames";
    const DEPENDENCIES: &'static [Dependency] = &[Dependency::required("bundle_base", "^1.0")];
    const EXPORTS: &'static [&'static str] = &["add3", "frames"];
    const UPDATES: bool = true;

    fn exports(exports: &mut Exports<Self>) -> mlua::Result<()> {
        exports.add(
            "add3",
            |_, this: &mut Self, (a, b, c): (Value, Value, Value)| {
                let add = this.base_add()?;
                let ab: Value = add.call((a, b))?;
                add.call::<Value>((ab, c))
            },
        )?;
        exports.add("frames", |_, this: &mut Self, ()| Ok(this.frames))
    }

    fn on_load(&mut self, _lua: &Lua, ctx: &Table) -> mlua::Result<()> {
        self.deps = Some(ctx.get("deps")?);
        Ok(())
    }

    fn on_unload(&mut self, _lua: &Lua, _ctx: &Table) -> mlua::Result<Option<Value>> {
        // a Lua table held from Rust is invisible to Lua's collector: let it go
        self.deps = None;
        Ok(None)
    }

    fn update(&mut self, _lua: &Lua, _dt: f64, _info: &Table) -> mlua::Result<()> {
        self.frames += 1;
        Ok(())
    }
}

export_plugin!(BundleBase, BundleExtra);
