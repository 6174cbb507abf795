//! The library's descriptor, built from the plugins' constants (checked by
//! [`crate::check`]) and laid out as the C ABI wants it, once, for the life of
//! the library.

use std::ffi::{CString, c_char, c_int};
use std::ptr;
use std::sync::OnceLock;

use crate::abi;
use crate::check::check_all;
use crate::plugin::{Dependency, Plugin};

/// The `lua_flavor` of this build, by the crate feature.
pub const LUA_FLAVOR: &str = if cfg!(feature = "luajit") {
    abi::LUAJIT
} else {
    abi::LUA54
};

/// One plugin's constants, as the descriptor lists them.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// [`Plugin::NAME`]
    pub name: &'static str,
    /// [`Plugin::VERSION`]
    pub version: &'static str,
    /// [`Plugin::DESCRIPTION`]
    pub description: &'static str,
    /// [`Plugin::API_VERSION`]
    pub api_version: &'static str,
    /// [`Plugin::DEPENDENCIES`]
    pub dependencies: &'static [Dependency],
    /// [`Plugin::CAPABILITIES`]
    pub capabilities: &'static [&'static str],
    /// [`Plugin::EXPORTS`]
    pub exports: &'static [&'static str],
}

impl Meta {
    /// The constants of `T`; runs none of its code.
    pub const fn of<T: Plugin>() -> Self {
        Meta {
            name: T::NAME,
            version: T::VERSION,
            description: T::DESCRIPTION,
            api_version: T::API_VERSION,
            dependencies: T::DEPENDENCIES,
            capabilities: T::CAPABILITIES,
            exports: T::EXPORTS,
        }
    }
}

/// One plugin of the library: its constants and its `open` function.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// What the descriptor says about it.
    pub meta: Meta,
    /// Pushes its plugin table.
    pub open: abi::OpenFn,
}

impl Entry {
    /// The entry of plugin `T`, opened by [`crate::instance::open`].
    pub const fn of<T: Plugin>() -> Self {
        Entry {
            meta: Meta::of::<T>(),
            open: crate::instance::open::<T>,
        }
    }
}

/// The descriptor and everything it points into, owned together so that the
/// pointers stay valid as long as this value lives (a `static`, in practice).
pub struct DescriptorData {
    descriptor: abi::Descriptor,
    _plugins: Box<[abi::PluginInfo]>,
    _dependencies: Vec<Box<[abi::Dependency]>>,
    _lists: Vec<Box<[*const c_char]>>,
    _strings: Vec<CString>,
}

// SAFETY: never changed after `build`; the raw pointers point into the boxes and
// strings owned alongside them, which move with the value without moving their
// heap data. Reading it from any thread is reading immutable data.
unsafe impl Send for DescriptorData {}
// SAFETY: as above.
unsafe impl Sync for DescriptorData {}

/// Owns the C strings and arrays while the descriptor is being laid out.
#[derive(Default)]
struct Arena {
    strings: Vec<CString>,
    lists: Vec<Box<[*const c_char]>>,
    dependencies: Vec<Box<[abi::Dependency]>>,
}

impl Arena {
    fn string(&mut self, s: &str) -> Result<*const c_char, &'static str> {
        let c = CString::new(s).map_err(|_| "a descriptor string contains a NUL byte")?;
        // the heap buffer does not move when the CString moves into the vector
        let ptr = c.as_ptr();
        self.strings.push(c);
        Ok(ptr)
    }

    /// `s`, or null for `""` (which the ABI reads as "absent").
    fn optional_string(&mut self, s: &str) -> Result<*const c_char, &'static str> {
        if s.is_empty() {
            Ok(ptr::null())
        } else {
            self.string(s)
        }
    }

    /// An array of string pointers, or null for an empty list.
    fn list(&mut self, items: &[&str]) -> Result<(*const *const c_char, usize), &'static str> {
        if items.is_empty() {
            return Ok((ptr::null(), 0));
        }
        let list = items
            .iter()
            .map(|s| self.string(s))
            .collect::<Result<Box<[_]>, _>>()?;
        let ptr = list.as_ptr();
        self.lists.push(list);
        Ok((ptr, items.len()))
    }

    fn dependencies(
        &mut self,
        deps: &[Dependency],
    ) -> Result<(*const abi::Dependency, usize), &'static str> {
        if deps.is_empty() {
            return Ok((ptr::null(), 0));
        }
        let list = deps
            .iter()
            .map(|d| {
                Ok(abi::Dependency {
                    name: self.string(d.name)?,
                    version: self.optional_string(d.version)?,
                    optional: c_int::from(d.optional),
                })
            })
            .collect::<Result<Box<[_]>, &'static str>>()?;
        let ptr = list.as_ptr();
        self.dependencies.push(list);
        Ok((ptr, deps.len()))
    }

    fn plugin(&mut self, entry: &Entry) -> Result<abi::PluginInfo, &'static str> {
        let m = &entry.meta;
        let (dependencies, dependency_count) = self.dependencies(m.dependencies)?;
        let (capabilities, capability_count) = self.list(m.capabilities)?;
        let (exports, export_count) = self.list(m.exports)?;
        Ok(abi::PluginInfo {
            name: self.string(m.name)?,
            version: self.string(m.version)?,
            description: self.optional_string(m.description)?,
            api_version: self.string(m.api_version)?,
            dependencies,
            dependency_count,
            capabilities,
            capability_count,
            exports,
            export_count,
            open: Some(entry.open),
        })
    }
}

impl DescriptorData {
    /// Lays out the descriptor of a library holding `entries`, for `flavor`.
    pub fn build(entries: &[Entry], flavor: &str) -> Result<Self, &'static str> {
        check_all(entries)?;
        let mut arena = Arena::default();
        let plugins = entries
            .iter()
            .map(|e| arena.plugin(e))
            .collect::<Result<Box<[_]>, _>>()?;
        let descriptor = abi::Descriptor {
            abi_version: abi::ABI_VERSION,
            lua_flavor: arena.string(flavor)?,
            plugin_count: plugins.len(),
            plugins: plugins.as_ptr(),
        };
        Ok(DescriptorData {
            descriptor,
            _plugins: plugins,
            _dependencies: arena.dependencies,
            _lists: arena.lists,
            _strings: arena.strings,
        })
    }

    /// The descriptor, pointing into `self`.
    pub fn descriptor(&self) -> &abi::Descriptor {
        &self.descriptor
    }
}

/// What `qtforge_plugin_descriptor` returns: the descriptor in `cell`, built
/// on the first call and the same pointer on every later one. Null if the
/// constants are invalid, which `export_plugin!`'s compile-time check rules out.
pub fn descriptor(
    cell: &'static OnceLock<Option<DescriptorData>>,
    entries: &[Entry],
) -> *const abi::Descriptor {
    cell.get_or_init(|| DescriptorData::build(entries, LUA_FLAVOR).ok())
        .as_ref()
        .map_or(ptr::null(), |data| ptr::from_ref(data.descriptor()))
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;
    use crate::check::tests::{entry, meta};

    /// The string at `p`, or `None` for null.
    fn text(p: *const c_char) -> Result<Option<String>, Box<dyn std::error::Error>> {
        if p.is_null() {
            return Ok(None);
        }
        // SAFETY: the descriptor's strings are NUL-terminated and outlive the test
        Ok(Some(unsafe { CStr::from_ptr(p) }.to_str()?.to_owned()))
    }

    fn texts(p: *const *const c_char, n: usize) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        if n == 0 {
            assert!(p.is_null());
            return Ok(Vec::new());
        }
        // SAFETY: `p` points to `n` string pointers owned by the descriptor data
        let items = unsafe { std::slice::from_raw_parts(p, n) };
        items
            .iter()
            .map(|&s| text(s)?.ok_or_else(|| "null entry".into()))
            .collect()
    }

    #[test]
    fn lays_out_every_constant() -> Result<(), Box<dyn std::error::Error>> {
        const DEPS: &[Dependency] = &[
            Dependency::required("logger", "^1.0"),
            Dependency::optional("metrics", ""),
        ];
        let full = Meta {
            name: "greeter",
            version: "1.2.0",
            description: "Greets people",
            api_version: "1.0",
            dependencies: DEPS,
            capabilities: &["bus:publish", "fs:read"],
            exports: &["greet", "count"],
        };
        let data = DescriptorData::build(&[entry(full), entry(meta("bare", "0.1.0"))], abi::LUA54)?;
        let d = data.descriptor();
        assert_eq!(d.abi_version, abi::ABI_VERSION);
        assert_eq!(text(d.lua_flavor)?.as_deref(), Some("lua54"));
        assert_eq!(d.plugin_count, 2);

        // SAFETY: `plugins` points to `plugin_count` infos owned by `data`
        let plugins = unsafe { std::slice::from_raw_parts(d.plugins, d.plugin_count) };
        let p = &plugins[0];
        assert_eq!(text(p.name)?.as_deref(), Some("greeter"));
        assert_eq!(text(p.version)?.as_deref(), Some("1.2.0"));
        assert_eq!(text(p.description)?.as_deref(), Some("Greets people"));
        assert_eq!(text(p.api_version)?.as_deref(), Some("1.0"));
        assert_eq!(
            texts(p.capabilities, p.capability_count)?,
            ["bus:publish", "fs:read"]
        );
        assert_eq!(texts(p.exports, p.export_count)?, ["greet", "count"]);
        assert!(p.open.is_some());
        assert_eq!(p.dependency_count, 2);
        // SAFETY: as above, for the dependencies
        let deps = unsafe { std::slice::from_raw_parts(p.dependencies, p.dependency_count) };
        assert_eq!(text(deps[0].name)?.as_deref(), Some("logger"));
        assert_eq!(text(deps[0].version)?.as_deref(), Some("^1.0"));
        assert_eq!(deps[0].optional, 0);
        assert_eq!(text(deps[1].name)?.as_deref(), Some("metrics"));
        assert_eq!(
            text(deps[1].version)?,
            None,
            "an empty range is null, read as \"*\""
        );
        assert_eq!(deps[1].optional, 1);

        let bare = &plugins[1];
        assert_eq!(text(bare.name)?.as_deref(), Some("bare"));
        assert_eq!(
            text(bare.description)?,
            None,
            "an empty description is null"
        );
        assert!(bare.dependencies.is_null() && bare.dependency_count == 0);
        assert!(bare.capabilities.is_null() && bare.capability_count == 0);
        assert!(bare.exports.is_null() && bare.export_count == 0);
        Ok(())
    }

    #[test]
    fn the_pointers_survive_a_move() -> Result<(), Box<dyn std::error::Error>> {
        let data = DescriptorData::build(&[entry(meta("moved", "1.0.0"))], abi::LUAJIT)?;
        let name = data.descriptor().plugins;
        let moved = Box::new(data);
        assert_eq!(moved.descriptor().plugins, name);
        assert_eq!(
            text(moved.descriptor().lua_flavor)?.as_deref(),
            Some("luajit")
        );
        // SAFETY: one info, owned by `moved`
        let info = unsafe { &*moved.descriptor().plugins };
        assert_eq!(text(info.name)?.as_deref(), Some("moved"));
        Ok(())
    }

    #[test]
    fn returns_the_same_pointer_every_call() {
        static CELL: OnceLock<Option<DescriptorData>> = OnceLock::new();
        let entries = [entry(meta("once", "1.0.0"))];
        let first = descriptor(&CELL, &entries);
        assert!(!first.is_null());
        assert_eq!(first, descriptor(&CELL, &entries));
    }

    #[test]
    fn gives_null_for_invalid_constants() {
        static CELL: OnceLock<Option<DescriptorData>> = OnceLock::new();
        assert!(descriptor(&CELL, &[entry(meta("Bad Name!", "1.0.0"))]).is_null());
    }

    #[test]
    fn refuses_two_plugins_of_one_name() {
        let twice = [entry(meta("same", "1.0.0")), entry(meta("same", "2.0.0"))];
        assert!(DescriptorData::build(&twice, abi::LUA54).is_err());
    }

    #[derive(Default)]
    struct Base;
    impl Plugin for Base {
        const NAME: &'static str = "base";
        const VERSION: &'static str = "1.0.0";
        const EXPORTS: &'static [&'static str] = &["add"];
    }

    #[derive(Default)]
    struct Extra;
    impl Plugin for Extra {
        const NAME: &'static str = "extra";
        const VERSION: &'static str = "0.2.0-beta.1";
        const DESCRIPTION: &'static str = "needs base";
        const DEPENDENCIES: &'static [Dependency] = &[Dependency::required("base", "^1.0")];
        const CAPABILITIES: &'static [&'static str] = &["bus:publish"];
        const UPDATES: bool = true;
    }

    // The macro's expansion must compile (its const checks included). Its
    // descriptor function is not called here: that would link `open`, whose
    // Lua symbols only a host interpreter provides (the examples test it).
    crate::export_plugin!(Base, Extra);

    #[test]
    fn reads_the_trait_constants() -> Result<(), Box<dyn std::error::Error>> {
        let m = Meta::of::<Extra>();
        assert_eq!(
            (m.name, m.version, m.description),
            ("extra", "0.2.0-beta.1", "needs base")
        );
        assert_eq!(m.api_version, "1.0", "the default API version");
        assert_eq!(m.dependencies, [Dependency::required("base", "^1.0")]);
        assert_eq!(m.capabilities, ["bus:publish"]);
        assert!(m.exports.is_empty());

        let entries = [Meta::of::<Base>(), m].map(entry);
        let data = DescriptorData::build(&entries, LUA_FLAVOR)?;
        let d = data.descriptor();
        assert_eq!(text(d.lua_flavor)?.as_deref(), Some(LUA_FLAVOR));
        // SAFETY: two infos owned by `data`
        let plugins = unsafe { std::slice::from_raw_parts(d.plugins, d.plugin_count) };
        assert_eq!(text(plugins[0].name)?.as_deref(), Some("base"));
        assert_eq!(texts(plugins[0].exports, plugins[0].export_count)?, ["add"]);
        assert_eq!(text(plugins[1].name)?.as_deref(), Some("extra"));
        assert_eq!(plugins[1].dependency_count, 1);
        Ok(())
    }
}
