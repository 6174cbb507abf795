//! Native qtforge plugins in Rust.
//!
//! Without features this crate is only [`abi`], the C ABI qtforge reads. With
//! `lua54` or `luajit` (matching the Lua the host runs) it is the SDK: implement
//! `Plugin` and write one `export_plugin!` line.
//!
//! ```no_run
//! use qtforge_plugin::{export_plugin, mlua, Dependency, Exports, Plugin};
//!
//! #[derive(Default)]
//! pub struct Hello {
//!     greeting: String,
//! }
//!
//! impl Plugin for Hello {
//!     const NAME: &'static str = "hello";
//!     const VERSION: &'static str = "1.0.0";
//!     const DESCRIPTION: &'static str = "Says hello";
//!     const DEPENDENCIES: &'static [Dependency] = &[];
//!     const EXPORTS: &'static [&'static str] = &["greet"]; // the host checks the table against it
//!
//!     fn exports(exports: &mut Exports<Self>) -> mlua::Result<()> {
//!         exports.add("greet", |_lua, this: &mut Self, name: String| {
//!             Ok(format!("{}, {name}!", this.greeting))
//!         })
//!     }
//!
//!     fn on_load(&mut self, _lua: &mlua::Lua, ctx: &mlua::Table) -> mlua::Result<()> {
//!         let config: mlua::Table = ctx.get("config")?;
//!         self.greeting = config.get::<Option<String>>("greeting")?.unwrap_or("Hello".into());
//!         Ok(())
//!     }
//! }
//!
//! export_plugin!(Hello);              // one plugin
//! // export_plugin!(Base, Extra);     // several plugins in one library
//! ```
//!
//! The library is a `cdylib` built with this crate's `lua54` or `luajit`
//! feature; it links no Lua, the host interpreter provides it. It exports one
//! symbol, `qtforge_plugin_descriptor` (see `include/qtforge_plugin.h`), whose
//! data comes from the plugins' constants alone. Each plugin's `open` makes a
//! fresh instance with `Default` and returns its plugin table: the hooks
//! `on_load`, `on_start`, `on_stop`, `on_unload`, `on_reload`, `on_configure`,
//! `health`, `update` when `Plugin::UPDATES` says so, and `exports`.
//!
//! Errors and panics in plugin code become Lua errors (mlua catches panics at
//! every Lua-to-Rust boundary, the module entry point included), so a plugin
//! crate must keep the default `panic = "unwind"`: with `"abort"` this crate
//! refuses to compile.
//!
//! Build the library with `-C relro-level=partial` on ELF platforms (the
//! examples' `.cargo/config.toml` does): with rustc's default, full RELRO,
//! every `lua_*` symbol is bound when the library is opened, so a build for
//! the other Lua fails in the loader ("undefined symbol") before qtforge can
//! read its descriptor and refuse it as `lua_mismatch`.
//!
//! mlua runs in module mode with its memory checks on, as qtforge itself does
//! (see qtforge's docs/performance.md): a failed allocation is a Lua error, not
//! undefined behaviour.

#[cfg(all(feature = "lua54", feature = "luajit"))]
compile_error!("qtforge-plugin: enable one of the features `lua54` and `luajit`, not both");

#[cfg(all(panic = "abort", any(feature = "lua54", feature = "luajit")))]
compile_error!(
    "qtforge-plugin: plugins must build with panic = \"unwind\": a panic is turned into a Lua error, an abort would kill the host"
);

pub mod abi;

#[cfg(any(feature = "lua54", feature = "luajit"))]
mod check;
#[cfg(any(feature = "lua54", feature = "luajit"))]
mod descriptor;
#[cfg(any(feature = "lua54", feature = "luajit"))]
mod exports;
#[cfg(any(feature = "lua54", feature = "luajit"))]
mod instance;
#[cfg(any(feature = "lua54", feature = "luajit"))]
mod macros;
#[cfg(any(feature = "lua54", feature = "luajit"))]
mod plugin;

#[cfg(any(feature = "lua54", feature = "luajit"))]
pub use mlua;

#[cfg(any(feature = "lua54", feature = "luajit"))]
pub use crate::descriptor::LUA_FLAVOR;
#[cfg(any(feature = "lua54", feature = "luajit"))]
pub use crate::exports::Exports;
#[cfg(any(feature = "lua54", feature = "luajit"))]
pub use crate::plugin::{Dependency, Plugin};

/// What `export_plugin!` expands to; not a stable API.
#[doc(hidden)]
#[cfg(any(feature = "lua54", feature = "luajit"))]
pub mod __private {
    pub use crate::check::{assert_distinct, assert_valid};
    pub use crate::descriptor::{DescriptorData, Entry, Meta, descriptor};
    pub use crate::instance::open;
}
