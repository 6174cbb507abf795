//! Native plugin libraries: checking a file is one, reading its descriptor
//! (ABI version 1, `include/qtforge_plugin.h`), and keeping it mapped.
//!
//! The library is opened with lazy binding, so that one built for the other
//! Lua can be refused by its descriptor instead of by an unresolved symbol.
//! Only the descriptor function runs before every check has passed.

use std::ffi::{CStr, c_char};
use std::fs;
use std::io::Read;
use std::path::Path;

use libloading::os::unix::{Library, RTLD_LAZY, RTLD_LOCAL};
use qtforge_plugin::abi;
use serde_json::{Value, json};

use super::manifest::Manifest;
use super::source::{PluginInfo, PluginSource, SourceKind};
use crate::error::Error;

/// More would be a descriptor pointing at garbage, not a library of plugins.
const MAX_PLUGINS: usize = 256;
const MAX_LIST: usize = 1024;

/// The first bytes of a shared library of this platform.
#[cfg(target_os = "macos")]
const MAGICS: &[&[u8]] = &[
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
];
#[cfg(not(target_os = "macos"))]
const MAGICS: &[&[u8]] = &[b"\x7fELF"];

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn not_a_plugin(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotAPlugin {
        path: display(path),
        reason: reason.into(),
    }
}

/// One plugin of an opened library: what it is, and the function that makes its table.
#[derive(Debug, Clone)]
pub struct NativePlugin {
    pub info: PluginInfo,
    pub open: abi::OpenFn,
}

/// An opened library whose descriptor passed every check.
pub struct NativeLibrary {
    library: Library,
    pub plugins: Vec<NativePlugin>,
}

/// Whether `path` names a shared library by its extension.
pub fn is_library_path(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "so" | "dll" | "dylib"))
}

/// Refuses what is not a shared library of this platform before handing it to the loader.
fn check_file(path: &Path) -> Result<(), Error> {
    let metadata = fs::metadata(path).map_err(|_| Error::NotFound {
        path: display(path),
    })?;
    if !metadata.is_file() {
        return Err(not_a_plugin(
            path,
            "a native plugin is a shared library file, not a folder",
        ));
    }
    let mut head = [0u8; 4];
    let read = fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| not_a_plugin(path, format!("cannot read it: {e}")))?;
    if !MAGICS
        .iter()
        .any(|m| head[..read].starts_with(m) && read >= m.len())
    {
        return Err(not_a_plugin(
            path,
            "it is not a shared library of this platform",
        ));
    }
    Ok(())
}

/// A NUL-terminated UTF-8 string of the descriptor, or `None` for null.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that lives as long as the library.
unsafe fn text(ptr: *const c_char, what: &str) -> Result<Option<String>, String> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, and the ABI says it is a NUL-terminated static string
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| format!("{what} is not UTF-8"))
}

/// A list of strings of the descriptor.
///
/// # Safety
/// `ptr` is null (then `count` must be 0) or points to `count` string pointers.
unsafe fn texts(
    ptr: *const *const c_char,
    count: usize,
    what: &str,
) -> Result<Vec<String>, String> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if ptr.is_null() || count > MAX_LIST {
        return Err(format!("{what}: {count} entries at an invalid address"));
    }
    // SAFETY: the ABI says `ptr` points to `count` entries
    let items = unsafe { std::slice::from_raw_parts(ptr, count) };
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // SAFETY: each entry is a NUL-terminated static string or null
            match unsafe { text(*p, what) }? {
                Some(s) => Ok(s),
                None => Err(format!("{what}[{i}] is null")),
            }
        })
        .collect()
}

/// The manifest of one plugin of the descriptor, checked like any manifest.
///
/// # Safety
/// `info` comes from a descriptor that passed the ABI version check.
unsafe fn read_info(info: &abi::PluginInfo, source: &str) -> Result<Manifest, Error> {
    let invalid = |reason: String| Error::InvalidManifest {
        source: source.to_owned(),
        reason,
    };
    // SAFETY (all blocks below): pointers and counts as the ABI describes them
    let name = unsafe { text(info.name, "name") }.map_err(invalid)?;
    let version = unsafe { text(info.version, "version") }.map_err(invalid)?;
    let description = unsafe { text(info.description, "description") }.map_err(invalid)?;
    let api_version = unsafe { text(info.api_version, "api_version") }.map_err(invalid)?;
    let capabilities = unsafe { texts(info.capabilities, info.capability_count, "capabilities") }
        .map_err(invalid)?;
    let exports = unsafe { texts(info.exports, info.export_count, "exports") }.map_err(invalid)?;
    let mut dependencies = Vec::new();
    if info.dependency_count > 0 {
        if info.dependencies.is_null() || info.dependency_count > MAX_LIST {
            return Err(invalid(
                "dependencies: entries at an invalid address".to_owned(),
            ));
        }
        let deps = unsafe { std::slice::from_raw_parts(info.dependencies, info.dependency_count) };
        for (i, dep) in deps.iter().enumerate() {
            let at = format!("dependencies[{i}]");
            let name = unsafe { text(dep.name, &at) }.map_err(invalid)?;
            let range = unsafe { text(dep.version, &at) }.map_err(invalid)?;
            dependencies.push(json!({
                "name": name.unwrap_or_default(),
                "version": range.unwrap_or_else(|| "*".to_owned()),
                "optional": dep.optional != 0,
            }));
        }
    }
    let mut manifest = json!({
        "name": name.unwrap_or_default(),
        "version": version.unwrap_or_default(),
        "description": description.unwrap_or_default(),
        "capabilities": capabilities,
        "exports": exports,
        "dependencies": dependencies,
    });
    if let (Some(api), Value::Object(map)) = (api_version, &mut manifest) {
        map.insert("api-version".to_owned(), Value::String(api));
    }
    Manifest::from_value(manifest, source)
}

impl NativeLibrary {
    /// Opens the library at `path` and reads its descriptor, for a host running `host_flavor`.
    pub fn open(path: &Path, host_flavor: &str) -> Result<NativeLibrary, Error> {
        NativeLibrary::open_as(path, path, host_flavor)
    }

    /// Opens a fresh copy of `path` under a name no library has had, so that a
    /// rebuilt library is read anew (the loader would hand back the mapped one).
    pub fn open_copy(path: &Path, host_flavor: &str, tag: &str) -> Result<NativeLibrary, Error> {
        check_file(path)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy =
            std::env::temp_dir().join(format!("qtforge-{}-{tag}-{file_name}", std::process::id()));
        fs::copy(path, &copy)
            .map_err(|e| not_a_plugin(path, format!("cannot copy it for a reload: {e}")))?;
        let opened = NativeLibrary::open_as(&copy, path, host_flavor);
        // mapped (or refused): the copy's name is not needed any more
        let _ = fs::remove_file(&copy);
        opened
    }

    /// Opens `file`, reporting and recording it as `path`.
    fn open_as(file: &Path, path: &Path, host_flavor: &str) -> Result<NativeLibrary, Error> {
        check_file(file)?;
        // SAFETY: opening a library runs its initialisers; the checks above make
        // sure it is at least a shared library of this platform. Lazy binding
        // lets a library built for the other Lua open far enough to be refused.
        let library = unsafe { Library::open(Some(file), RTLD_LAZY | RTLD_LOCAL) }
            .map_err(|e| not_a_plugin(path, format!("the loader refused it: {e}")))?;
        let plugins = read_descriptor(&library, path, host_flavor).inspect_err(|err| {
            tracing::warn!(target: "qtforge::native", path = %path.display(), "refused: {err}");
        })?;
        tracing::debug!(
            target: "qtforge::native",
            path = %path.display(),
            plugins = plugins.len(),
            "opened a native plugin library"
        );
        Ok(NativeLibrary { library, plugins })
    }

    /// Keeps the library mapped for the life of the process and returns its
    /// plugins. Call it before any `open` runs: a plugin's Lua values (and each
    /// copy of mlua's finalizers) point into the library's code.
    pub fn keep_mapped(self) -> Vec<NativePlugin> {
        std::mem::forget(self.library);
        self.plugins
    }
}

fn read_descriptor(
    library: &Library,
    path: &Path,
    host_flavor: &str,
) -> Result<Vec<NativePlugin>, Error> {
    let symbol = abi::DESCRIPTOR_SYMBOL;
    // SAFETY: the symbol has the descriptor function's type by the ABI
    let describe =
        unsafe { library.get::<abi::DescriptorFn>(symbol.as_bytes()) }.map_err(|_| {
            Error::SymbolMissing {
                path: display(path),
                symbol: symbol.to_owned(),
            }
        })?;
    // SAFETY: the descriptor function only returns a pointer to static data
    let descriptor = unsafe { describe() };
    if descriptor.is_null() {
        return Err(not_a_plugin(
            path,
            format!("{symbol} returned no descriptor"),
        ));
    }
    // SAFETY: non-null; `abi_version` is the first field in every ABI version
    let abi_version = unsafe { (*descriptor).abi_version };
    if abi_version != abi::ABI_VERSION {
        return Err(Error::AbiMismatch {
            path: display(path),
            found: abi_version,
            expected: abi::ABI_VERSION,
        });
    }
    // SAFETY: version 1 layout, checked above
    let descriptor = unsafe { &*descriptor };
    let flavor = unsafe { text(descriptor.lua_flavor, "lua_flavor") }
        .map_err(|reason| not_a_plugin(path, reason))?
        .unwrap_or_default();
    if flavor != host_flavor {
        return Err(Error::LuaMismatch {
            path: display(path),
            found: flavor,
            host: host_flavor.to_owned(),
        });
    }
    if descriptor.plugin_count == 0
        || descriptor.plugin_count > MAX_PLUGINS
        || descriptor.plugins.is_null()
    {
        return Err(not_a_plugin(
            path,
            format!("the descriptor lists {} plugins", descriptor.plugin_count),
        ));
    }
    // SAFETY: `plugins` points to `plugin_count` infos by the ABI
    let infos = unsafe { std::slice::from_raw_parts(descriptor.plugins, descriptor.plugin_count) };
    let root = path.parent().map(Path::to_path_buf);
    let mut plugins = Vec::with_capacity(infos.len());
    for (i, info) in infos.iter().enumerate() {
        let source = format!("{} (plugin #{})", display(path), i + 1);
        // SAFETY: version 1 layout
        let manifest = unsafe { read_info(info, &source) }?;
        let Some(open) = info.open else {
            return Err(Error::InvalidManifest {
                source,
                reason: "open: the plugin has no open function".to_owned(),
            });
        };
        plugins.push(NativePlugin {
            info: PluginInfo {
                manifest,
                source: PluginSource {
                    kind: SourceKind::Native,
                    path: Some(path.to_path_buf()),
                    root: root.clone(),
                    manifest_file: None,
                    entry: None,
                },
            },
            open,
        });
    }
    Ok(plugins)
}

/// Info about every plugin of the library at `path`, without opening any plugin.
/// The library is closed again: nothing of it but the descriptor function ran.
pub fn inspect(path: &Path, host_flavor: &str) -> Result<Vec<PluginInfo>, Error> {
    let library = NativeLibrary::open(path, host_flavor)?;
    Ok(library.plugins.iter().map(|p| p.info.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_that_are_not_libraries() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path();
        let text = dir.join("fake.so");
        fs::write(&text, "not a library")?;
        assert!(matches!(
            NativeLibrary::open(&text, "lua54"),
            Err(Error::NotAPlugin { .. })
        ));
        assert!(matches!(
            NativeLibrary::open(&dir.join("missing.so"), "lua54"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            NativeLibrary::open(dir, "lua54"),
            Err(Error::NotAPlugin { .. })
        ));
        let empty = dir.join("empty.so");
        fs::write(&empty, "")?;
        assert!(matches!(
            NativeLibrary::open(&empty, "lua54"),
            Err(Error::NotAPlugin { .. })
        ));
        Ok(())
    }

    #[test]
    fn refuses_a_library_without_the_descriptor() -> Result<(), Box<dyn std::error::Error>> {
        // the C library this test runs with: a shared library of this platform without our symbol
        let maps = fs::read_to_string("/proc/self/maps")?;
        let libc = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| path.contains("/libc.so"))
            .ok_or("no libc in /proc/self/maps")?;
        assert!(matches!(
            NativeLibrary::open(Path::new(libc), "lua54"),
            Err(Error::SymbolMissing { .. })
        ));
        Ok(())
    }

    #[test]
    fn knows_library_paths() {
        assert!(is_library_path(Path::new("x/hello.so")));
        assert!(is_library_path(Path::new("HELLO.DLL")));
        assert!(!is_library_path(Path::new("hello.lua")));
        assert!(!is_library_path(Path::new("so")));
    }
}
