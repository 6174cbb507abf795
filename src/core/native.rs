//! Native plugin libraries: checking a file is one, reading its descriptor
//! (ABI version 1, `include/qtforge_plugin.h`), and keeping it mapped.
//!
//! The library is opened with lazy binding, so that one built for the other
//! Lua can be refused by its descriptor instead of by an unresolved symbol.
//! Only the descriptor function runs before every check has passed.
//!
//! What the loader maps is never the user's file but a private copy of it,
//! unlinked once mapped: a file the process has mapped must not be written
//! into (truncating it drops the pages the loader relocated, and the host
//! crashes), and a library is built, copied and hot-reloaded in place.

use std::collections::HashMap;
use std::ffi::{CStr, c_char};
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use libloading::os::unix::{Library, RTLD_LAZY, RTLD_LOCAL};
use qtforge_plugin::abi;
use serde_json::{Value, json};

use super::manifest::Manifest;
use super::source::{PluginInfo, PluginSource, SourceKind};
use crate::error::Error;

/// How long after its last change a file's stamp is trusted to show the next
/// one: more than the coarsest granularity of file times (2 s, FAT).
const SETTLE_SECONDS: i64 = 2;

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

/// Refuses what is not a shared library of this platform before handing it to
/// the loader; gives the file's stamp.
fn check_file(path: &Path) -> Result<Stamp, Error> {
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
    Ok(Stamp::of(&metadata))
}

/// What changes when a file is written into, truncated or replaced, read from
/// its metadata alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Whether the next change to the file must show in its stamp. A file's
    /// times move by a clock tick (by a second or two on some file systems),
    /// so one changed just before it was stamped can change again, in place
    /// and to the same size, and keep the stamp: as git's "racily clean" files.
    fn settled(&self, now: SystemTime) -> bool {
        let newest = self.mtime.max(self.ctime).0;
        now.duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .is_some_and(|now| now.saturating_sub(newest) > SETTLE_SECONDS)
    }
}

/// A copy of a library in a folder of its own under the temp dir, for the
/// loader to map instead of the user's file; dropped, it removes both. Once
/// the copy is mapped its name is not needed: the mapping keeps the inode.
struct PrivateCopy {
    dir: PathBuf,
    file: PathBuf,
}

impl PrivateCopy {
    /// Copies `path`, whose stamp `check_file` gave; refuses a copy made while
    /// the file changed, which may be torn.
    fn new(path: &Path, stamp: Stamp) -> Result<PrivateCopy, Error> {
        let temp = std::env::temp_dir();
        let io_error = |e: io::Error| Error::Io {
            path: display(path),
            reason: format!(
                "cannot copy it to {} to load it (TMPDIR sets that folder): {e}",
                temp.display()
            ),
        };
        let dir = private_dir(&temp).map_err(io_error)?;
        let file_name = path.file_name().map_or_else(
            || "library".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut copy = PrivateCopy {
            file: dir.join(&file_name),
            dir,
        };
        fs::copy(path, &copy.file).map_err(io_error)?;
        let now = fs::metadata(path).map_err(|_| Error::NotFound {
            path: display(path),
        })?;
        if Stamp::of(&now) != stamp {
            return Err(Error::Io {
                path: display(path),
                reason: "it changed while it was copied to load it: it is still being written"
                    .to_owned(),
            });
        }
        // Named after its own inode: the loader hands back a library already
        // open under the same name, and every library still mapped keeps its
        // copy's inode in use, so none can have this one. The folder's name
        // alone repeats once the folder is gone.
        let ino = fs::metadata(&copy.file).map_err(io_error)?.ino();
        let named = copy.dir.join(format!("{ino}-{file_name}"));
        fs::rename(&copy.file, &named).map_err(io_error)?;
        copy.file = named;
        Ok(copy)
    }

    /// `message` (the loader's) with the copy's name put back to the user's.
    fn as_user_sees(&self, message: &str, path: &Path) -> String {
        let message = message.replace(&*self.file.to_string_lossy(), &display(path));
        if message.contains("failed to map segment") {
            // what a temp folder mounted noexec answers
            return format!(
                "{message} (the copy it loads from sits in {}: set TMPDIR to a folder not mounted noexec)",
                self.dir.parent().unwrap_or(&self.dir).display()
            );
        }
        message
    }
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// A new folder under `temp` that only this user can enter: nobody else can
/// put or change a file the loader maps.
fn private_dir(temp: &Path) -> io::Result<PathBuf> {
    let pid = std::process::id();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..64u32 {
        let dir = temp.join(format!("qtforge-{pid}-{nanos:x}-{attempt}"));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free name for a private folder",
    ))
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
    /// Opens a private copy of the library at `path` and reads its descriptor,
    /// for a host running `host_flavor`. Errors name `path`, never the copy.
    /// Each call maps the file as it is now: a rebuilt library is read anew,
    /// and nothing done to the file later reaches the mapped copy.
    pub fn open(path: &Path, host_flavor: &str) -> Result<NativeLibrary, Error> {
        let stamp = check_file(path)?;
        NativeLibrary::open_checked(path, stamp, host_flavor)
    }

    /// `open`, once `check_file` has passed and given the file's stamp.
    fn open_checked(path: &Path, stamp: Stamp, host_flavor: &str) -> Result<NativeLibrary, Error> {
        let copy = PrivateCopy::new(path, stamp)?;
        // SAFETY: opening a library runs its initialisers; `check_file` made sure
        // it is at least a shared library of this platform. Lazy binding lets a
        // library built for the other Lua open far enough to be refused.
        let library =
            unsafe { Library::open(Some(&copy.file), RTLD_LAZY | RTLD_LOCAL) }.map_err(|e| {
                // libloading's own text is "dlopen failed": the loader's reason is its source
                let why = std::error::Error::source(&e)
                    .map_or_else(|| e.to_string(), |source| source.to_string());
                let reason = copy.as_user_sees(&why, path);
                not_a_plugin(path, format!("the loader refused it: {reason}"))
            })?;
        // mapped: the copy's name and folder go now, not at the end of the process
        drop(copy);
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

/// The libraries a Lua state keeps mapped for good, by the path they were
/// loaded from. Loading a file unchanged since it was mapped (same inode, size
/// and times, and those times settled) takes the mapped copy again, as the
/// loader did when it mapped the file itself: loading, unloading and loading
/// again costs no more memory.
#[derive(Default)]
pub struct MappedLibraries {
    by_path: HashMap<PathBuf, Mapped>,
}

/// A copy mapped for good, and the stamp its file had.
struct Mapped {
    stamp: Stamp,
    /// The stamp was settled: an unchanged stamp means an unchanged file.
    reusable: bool,
    plugins: Vec<NativePlugin>,
}

impl MappedLibraries {
    /// The plugins of the library at `path`, mapped for good: those of the
    /// copy mapped before if the file has not changed since, else of a new one.
    pub fn load(&mut self, path: &Path, host_flavor: &str) -> Result<Vec<NativePlugin>, Error> {
        let stamp = check_file(path)?;
        match self.by_path.get(path) {
            Some(mapped) if mapped.reusable && mapped.stamp == stamp => {
                tracing::debug!(
                    target: "qtforge::native",
                    path = %path.display(),
                    plugins = mapped.plugins.len(),
                    "took the copy of a native plugin library mapped before"
                );
                Ok(mapped.plugins.clone())
            }
            _ => self.map(path, stamp, host_flavor),
        }
    }

    /// `load`, but always from a new copy: a reload reads the file anew even
    /// when it was rewritten within one tick of the clock that stamps it.
    pub fn reload(&mut self, path: &Path, host_flavor: &str) -> Result<Vec<NativePlugin>, Error> {
        let stamp = check_file(path)?;
        self.map(path, stamp, host_flavor)
    }

    fn map(
        &mut self,
        path: &Path,
        stamp: Stamp,
        host_flavor: &str,
    ) -> Result<Vec<NativePlugin>, Error> {
        let plugins = NativeLibrary::open_checked(path, stamp, host_flavor)?.keep_mapped();
        let mapped = Mapped {
            stamp,
            reusable: stamp.settled(SystemTime::now()),
            plugins: plugins.clone(),
        };
        // the copy this replaces stays mapped, as every opened library does
        self.by_path.insert(path.to_path_buf(), mapped);
        Ok(plugins)
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
/// The library (a private copy, as for a load) is closed again: nothing of it
/// but its initialisers and the descriptor function ran.
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
    fn names_the_users_file_not_the_copy() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let fake = tmp.path().join("fake.so");
        fs::write(&fake, b"\x7fELF not really")?;
        let Err(Error::NotAPlugin { path, reason }) = NativeLibrary::open(&fake, "lua54") else {
            return Err("a fake ELF file opened".into());
        };
        assert_eq!(path, display(&fake));
        assert!(reason.starts_with("the loader refused it: "), "{reason}");
        assert!(reason.contains(&path), "{reason}");
        assert!(!reason.contains("qtforge-"), "{reason}");
        Ok(())
    }

    #[test]
    fn trusts_a_stamp_once_its_times_are_settled() {
        let stamp = |secs| Stamp {
            dev: 1,
            ino: 2,
            len: 3,
            mtime: (secs, 0),
            ctime: (secs, 500),
        };
        let at = |secs| UNIX_EPOCH + std::time::Duration::from_secs(secs);
        assert!(stamp(100).settled(at(103)));
        assert!(!stamp(100).settled(at(102)));
        assert!(!stamp(100).settled(at(100)));
        // a file dated in the future is not trusted; one dated before the epoch is old
        assert!(!stamp(200).settled(at(100)));
        assert!(stamp(-5).settled(at(100)));
    }

    #[test]
    fn knows_library_paths() {
        assert!(is_library_path(Path::new("x/hello.so")));
        assert!(is_library_path(Path::new("HELLO.DLL")));
        assert!(!is_library_path(Path::new("hello.lua")));
        assert!(!is_library_path(Path::new("so")));
    }
}
