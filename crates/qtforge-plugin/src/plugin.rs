//! The [`Plugin`] trait a Rust plugin implements, and its [`Dependency`] list.

use mlua::{Lua, Table, Value};

use crate::exports::Exports;

/// One dependency on another plugin, as a plugin declares it in
/// [`Plugin::DEPENDENCIES`]. Plain constants: the host reads them before any
/// plugin code runs, to load plugins in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    /// The other plugin's id.
    pub name: &'static str,
    /// A semver range such as `"^1.0"`; `""` or `"*"` takes any version.
    pub version: &'static str,
    /// Load without it, but after it when it is present.
    pub optional: bool,
}

impl Dependency {
    /// A dependency the plugin cannot load without.
    pub const fn required(name: &'static str, version: &'static str) -> Self {
        Dependency {
            name,
            version,
            optional: false,
        }
    }

    /// A dependency used when present: the plugin loads after it, or without it.
    pub const fn optional(name: &'static str, version: &'static str) -> Self {
        Dependency {
            name,
            version,
            optional: true,
        }
    }
}

/// A native qtforge plugin written in Rust.
///
/// The constants are the plugin's manifest: the host reads them through the
/// library's descriptor without running any plugin code, so they must be
/// constants. `export_plugin!` checks them when the library compiles (a name
/// outside `[a-z0-9_.-]`, a version that is not semver, a NUL byte, two plugins
/// of one name are compile errors).
///
/// One instance is made with [`Default`] each time the host opens the plugin,
/// before `on_load`; put what needs the host (config, dependencies) in
/// `on_load`. A type that cannot derive `Default` implements it by hand.
///
/// Every hook runs with the instance borrowed mutably. While one runs, a call
/// back into the same plugin (an export reached through Lua from inside a hook
/// or export) fails with a Lua error naming both, instead of aliasing `self`.
/// A hook that returns `Err` raises it as a Lua error; the host marks the
/// plugin failed. A panic becomes a Lua error as well: it never unwinds into
/// the host.
pub trait Plugin: Default + 'static {
    /// The plugin id: `[a-z0-9_.-]+`, starting with a letter or digit.
    const NAME: &'static str;
    /// The plugin's version, semver (`"1.2.0"`).
    const VERSION: &'static str;
    /// One line saying what it does; `""` for none.
    const DESCRIPTION: &'static str = "";
    /// The qtforge plugin API it was written for.
    const API_VERSION: &'static str = "1.0";
    /// Plugins it needs, loaded before it; their exports are `ctx.deps.<name>`.
    const DEPENDENCIES: &'static [Dependency] = &[];
    /// What it may use beyond the safe base (`"bus:publish"`, `"fs:read"`...).
    const CAPABILITIES: &'static [&'static str] = &[];
    /// Functions its `exports` table must have; the host checks the table
    /// against this list when the plugin loads.
    const EXPORTS: &'static [&'static str] = &[];
    /// Whether the plugin table gets an `update` hook. Off by default: the
    /// host calls `update` every frame, and a call into Rust costs far more
    /// than a frame of plain Lua does, so a plugin pays for it only when it
    /// overrides [`Plugin::update`] and says so here.
    const UPDATES: bool = false;

    /// Adds the plugin's exported functions: the `exports` table other code
    /// calls. Runs when the host opens the plugin, after the instance is made.
    fn exports(exports: &mut Exports<Self>) -> mlua::Result<()> {
        let _ = exports;
        Ok(())
    }

    /// The plugin was loaded: set up from `ctx` (`ctx.config`, `ctx.deps`,
    /// `ctx.log`). An error here fails the load.
    fn on_load(&mut self, lua: &Lua, ctx: &Table) -> mlua::Result<()> {
        let _ = (lua, ctx);
        Ok(())
    }

    /// The plugin was started.
    fn on_start(&mut self, lua: &Lua, ctx: &Table) -> mlua::Result<()> {
        let _ = (lua, ctx);
        Ok(())
    }

    /// The plugin was stopped.
    fn on_stop(&mut self, lua: &Lua, ctx: &Table) -> mlua::Result<()> {
        let _ = (lua, ctx);
        Ok(())
    }

    /// The plugin is being unloaded (or replaced by a reload). What it returns
    /// reaches the new version's [`Plugin::on_reload`]. Let go of Lua values
    /// kept from `ctx` here: Lua's collector cannot see references held in Rust.
    fn on_unload(&mut self, lua: &Lua, ctx: &Table) -> mlua::Result<Option<Value>> {
        let _ = (lua, ctx);
        Ok(None)
    }

    /// The plugin replaces an older version of itself; `old_state` is what
    /// that version's `on_unload` returned (nil for nothing). Runs after
    /// `on_load`.
    fn on_reload(&mut self, lua: &Lua, old_state: Value) -> mlua::Result<()> {
        let _ = (lua, old_state);
        Ok(())
    }

    /// The configuration changed to `config` (already checked against the
    /// declared defaults). Return an error to refuse it; the old one stays.
    fn on_configure(&mut self, lua: &Lua, config: &Table) -> mlua::Result<()> {
        let _ = (lua, config);
        Ok(())
    }

    /// One frame: `dt` seconds since the last one; `info` holds
    /// `time_since_init`, `time_since_first_update`, `time_since_last_update`.
    /// Called only when [`Plugin::UPDATES`] is `true`.
    fn update(&mut self, lua: &Lua, dt: f64, info: &Table) -> mlua::Result<()> {
        let _ = (lua, dt, info);
        Ok(())
    }

    /// What the plugin reports about its health, such as `{ ok = true }`;
    /// `None` (nil) for nothing to report, as a plugin without the hook.
    fn health(&mut self, lua: &Lua) -> mlua::Result<Option<Value>> {
        let _ = lua;
        Ok(None)
    }
}
