//! Where a plugin lives, and what its manifest says, found without running it.
//!
//! `load_plugin(path)` decides by the path: a folder with `plugin.toml` or
//! `plugin.json`, a path to such a manifest, a single `.lua` file whose
//! returned table has a `manifest` field (read from the source, not run), or a
//! shared library.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::lua_manifest::extract_manifest;
use super::manifest::{DEFAULT_ENTRY, Manifest};
use super::native;
use crate::error::Error;

/// Manifests are small; a larger file is a mistake, not a manifest.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// Plugin source files are read whole into memory.
const MAX_SOURCE_BYTES: u64 = 64 << 20;
/// Manifest file names a plugin folder is recognised by, in order of preference.
const MANIFEST_FILES: [&str; 2] = ["plugin.toml", "plugin.json"];

/// How a plugin is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A folder with a manifest file and an entry file.
    Folder,
    /// A single `.lua` file carrying its manifest.
    File,
    /// A table handed to `register_plugin`.
    Inline,
    /// A shared library.
    Native,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Folder => "folder",
            SourceKind::File => "file",
            SourceKind::Inline => "inline",
            SourceKind::Native => "native",
        }
    }
}

/// The files a plugin consists of.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSource {
    pub kind: SourceKind,
    /// The folder, `.lua` file or library; `None` for inline plugins.
    pub path: Option<PathBuf>,
    /// The folder the plugin's own modules load from (`ctx.require`).
    pub root: Option<PathBuf>,
    /// `plugin.toml` or `plugin.json` of a folder plugin.
    pub manifest_file: Option<PathBuf>,
    /// The Lua file that returns the plugin table.
    pub entry: Option<PathBuf>,
}

impl PluginSource {
    pub fn inline() -> PluginSource {
        PluginSource {
            kind: SourceKind::Inline,
            path: None,
            root: None,
            manifest_file: None,
            entry: None,
        }
    }
}

/// A plugin's manifest and files, known without running any of its code.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInfo {
    pub source: PluginSource,
    pub manifest: Manifest,
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// Reads a whole file of at most `limit` bytes as UTF-8 text.
fn read_text(path: &Path, limit: u64, what: &str) -> Result<String, Error> {
    let not_read = |reason: String| Error::NotAPlugin {
        path: display(path),
        reason,
    };
    let file = fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            path: display(path),
        },
        _ => not_read(format!("cannot read the {what}: {e}")),
    })?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| not_read(format!("cannot read the {what}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(not_read(format!("the {what} is larger than {limit} bytes")));
    }
    String::from_utf8(bytes).map_err(|e| not_read(format!("the {what} is not UTF-8 text ({e})")))
}

/// A shared library holds native plugins, which `native` reads: not a Lua plugin.
fn library_error(path: &Path) -> Error {
    Error::NotAPlugin {
        path: display(path),
        reason: "it is a shared library: its plugins are native, read by the native loader"
            .to_owned(),
    }
}

/// Finds the plugin at `path` without reading its manifest.
pub fn locate(path: &Path) -> Result<PluginSource, Error> {
    let metadata = fs::metadata(path).map_err(|_| match extension(path).as_deref() {
        // the path alone says it is not a Lua plugin, whether or not the file is there
        _ if native::is_library_path(path) => library_error(path),
        _ => Error::NotFound {
            path: display(path),
        },
    })?;
    if metadata.is_dir() {
        let Some(manifest_file) = MANIFEST_FILES
            .iter()
            .map(|name| path.join(name))
            .find(|p| p.is_file())
        else {
            return Err(Error::NotAPlugin {
                path: display(path),
                reason: "the folder has no plugin.toml or plugin.json".to_owned(),
            });
        };
        return Ok(PluginSource {
            kind: SourceKind::Folder,
            path: Some(path.to_path_buf()),
            root: Some(path.to_path_buf()),
            manifest_file: Some(manifest_file),
            entry: None,
        });
    }
    let root = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(Path::to_path_buf);
    match extension(path).as_deref() {
        Some("toml" | "json") => Ok(PluginSource {
            kind: SourceKind::Folder,
            path: root.clone(),
            root,
            manifest_file: Some(path.to_path_buf()),
            entry: None,
        }),
        Some("lua") => Ok(PluginSource {
            kind: SourceKind::File,
            path: Some(path.to_path_buf()),
            root,
            manifest_file: None,
            entry: Some(path.to_path_buf()),
        }),
        _ if native::is_library_path(path) => Err(library_error(path)),
        _ => Err(Error::NotAPlugin {
            path: display(path),
            reason: "expected a plugin folder, a plugin.toml or plugin.json, a .lua file or a shared library"
                .to_owned(),
        }),
    }
}

/// Reads the manifest of the plugin at `path` and checks its entry file exists.
pub fn inspect(path: &Path) -> Result<PluginInfo, Error> {
    read_info(locate(path)?)
}

/// Reads the manifest of a located plugin and checks its entry file exists.
fn read_info(mut source: PluginSource) -> Result<PluginInfo, Error> {
    let path = source.path.clone().unwrap_or_default();
    let path = path.as_path();
    let manifest = match (&source.kind, &source.manifest_file, &source.entry) {
        (SourceKind::Folder, Some(file), _) => {
            let text = read_text(file, MAX_MANIFEST_BYTES, "manifest")?;
            let name = display(file);
            if extension(file).as_deref() == Some("json") {
                Manifest::from_json(&text, &name)?
            } else {
                Manifest::from_toml(&text, &name)?
            }
        }
        (SourceKind::File, _, Some(file)) => {
            let text = read_text(file, MAX_SOURCE_BYTES, "plugin file")?;
            let value = extract_manifest(&text).map_err(|reason| Error::InvalidManifest {
                source: display(file),
                reason,
            })?;
            Manifest::from_value(value, &display(file))?
        }
        _ => {
            return Err(Error::NotAPlugin {
                path: display(path),
                reason: "no manifest to read".to_owned(),
            });
        }
    };
    if source.kind == SourceKind::Folder {
        let entry = manifest.entry.as_deref().unwrap_or(DEFAULT_ENTRY);
        let root = source.root.clone().unwrap_or_default();
        let file = root.join(entry);
        if !file.is_file() {
            return Err(Error::InvalidManifest {
                source: display(source.manifest_file.as_deref().unwrap_or(path)),
                reason: format!("entry: {entry:?} does not exist in {}", display(&root)),
            });
        }
        source.entry = Some(file);
    }
    Ok(PluginInfo { source, manifest })
}

/// What `discover` found in a folder.
#[derive(Debug, Default)]
pub struct Discovery {
    pub found: Vec<PluginInfo>,
    /// Paths that look like plugins but cannot be read, with the reason.
    pub unreadable: Vec<(PathBuf, Error)>,
}

/// Every plugin directly inside `dir` (folders with a manifest, `.lua` files),
/// by file name; what looks like a plugin but cannot be read is listed with its error.
pub fn discover(dir: &Path, host_flavor: &str) -> Result<Discovery, Error> {
    let entries = fs::read_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound { path: display(dir) },
        _ => Error::NotAPlugin {
            path: display(dir),
            reason: format!("cannot list the folder: {e}"),
        },
    })?;
    // the listing's file type saves a stat per entry (symlinks are followed)
    let mut paths: Vec<(PathBuf, bool)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let path = e.path();
            let is_dir = match e.file_type() {
                Ok(t) if t.is_symlink() => path.is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => false,
            };
            Some((path, is_dir))
        })
        .collect();
    paths.sort();
    paths.retain(|(path, _)| {
        !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    let read = in_parallel(paths, |(path, is_dir)| {
        let result = if is_dir {
            // a folder without a manifest is not a plugin (a shared `lib/`, say): skipped
            let manifest_file = MANIFEST_FILES
                .iter()
                .map(|name| path.join(name))
                .find(|p| p.is_file())?;
            read_info(PluginSource {
                kind: SourceKind::Folder,
                path: Some(path.clone()),
                root: Some(path.clone()),
                manifest_file: Some(manifest_file),
                entry: None,
            })
            .map(|info| vec![info])
        } else if extension(&path).as_deref() == Some("lua") {
            inspect(&path).map(|info| vec![info])
        } else if native::is_library_path(&path) {
            // one library may hold several plugins
            native::inspect(&path, host_flavor)
        } else {
            return None;
        };
        Some((path, result))
    });
    let mut discovery = Discovery::default();
    for (path, result) in read.into_iter().flatten() {
        match result {
            Ok(infos) => discovery.found.extend(infos),
            Err(e) => discovery.unreadable.push((path, e)),
        }
    }
    Ok(discovery)
}

/// `f` over every item, on a few threads when there are enough items to share,
/// results in the items' order. For file reading and parsing only: nothing here
/// may touch a Lua state.
pub fn in_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 16;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let chunks = threads.min(items.len() / MIN_PER_THREAD).max(1);
    if chunks == 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk_len = items.len().div_ceil(chunks);
    let mut groups: Vec<Vec<T>> = Vec::with_capacity(chunks);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        groups.push(items.by_ref().take(chunk_len).collect());
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| scope.spawn(move || group.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        // a worker that panicked (it cannot: f returns errors as values) would lose its share
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// The file `ctx.require(name)` loads: `root/a/b.lua` or `root/a/b/init.lua` for `"a.b"`.
/// Names are dot-separated words, so a module cannot reach outside the plugin's folder.
pub fn module_path(root: &Path, name: &str) -> Result<PathBuf, Error> {
    let valid = !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        });
    let relative: PathBuf = name.split('.').collect();
    let candidates = [
        root.join(&relative).with_extension("lua"),
        root.join(&relative).join("init.lua"),
    ];
    if valid && let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    Err(Error::ModuleNotFound {
        name: name.to_owned(),
        searched: if valid {
            candidates.iter().map(|p| display(p)).collect()
        } else {
            vec!["nothing: module names are dot-separated words".to_owned()]
        },
    })
}

/// The text of a plugin's Lua file.
pub fn read_source(path: &Path) -> Result<String, Error> {
    read_text(path, MAX_SOURCE_BYTES, "Lua source")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `rel` under `dir`, making its folders; the file's path.
    fn write(dir: &tempfile::TempDir, rel: &str, text: &str) -> std::io::Result<PathBuf> {
        let path = dir.path().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, text)?;
        Ok(path)
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn reads_folder_plugins_by_folder_or_manifest_path() -> TestResult {
        let tmp = tempfile::tempdir()?;
        write(
            &tmp,
            "greeter/plugin.toml",
            "name = \"greeter\"\nversion = \"1.0.0\"\n",
        )?;
        write(&tmp, "greeter/init.lua", "return {}")?;
        let info = inspect(&tmp.path().join("greeter"))?;
        assert_eq!(info.manifest.name, "greeter");
        assert_eq!(info.source.kind, SourceKind::Folder);
        assert_eq!(info.source.entry, Some(tmp.path().join("greeter/init.lua")));
        let by_file = inspect(&tmp.path().join("greeter/plugin.toml"))?;
        assert_eq!(by_file.manifest, info.manifest);
        Ok(())
    }

    #[test]
    fn reads_json_manifests_and_custom_entries() -> TestResult {
        let tmp = tempfile::tempdir()?;
        write(
            &tmp,
            "p/plugin.json",
            r#"{"name": "p", "version": "0.1.0", "entry": "src/main.lua"}"#,
        )?;
        write(&tmp, "p/src/main.lua", "return {}")?;
        let info = inspect(&tmp.path().join("p"))?;
        assert_eq!(info.source.entry, Some(tmp.path().join("p/src/main.lua")));
        Ok(())
    }

    #[test]
    fn reads_single_file_manifests_without_running_them() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let path = write(
            &tmp,
            "solo.lua",
            "error('must not run')\nreturn { manifest = { name = \"solo\", version = \"2.0.0\" } }",
        )?;
        let info = inspect(&path)?;
        assert_eq!(info.manifest.name, "solo");
        assert_eq!(info.source.kind, SourceKind::File);
        Ok(())
    }

    #[test]
    fn says_what_is_wrong_with_a_path() -> TestResult {
        let tmp = tempfile::tempdir()?;
        assert!(matches!(
            inspect(&tmp.path().join("nope")),
            Err(Error::NotFound { .. })
        ));
        fs::create_dir_all(tmp.path().join("empty"))?;
        assert!(matches!(
            inspect(&tmp.path().join("empty")),
            Err(Error::NotAPlugin { .. })
        ));
        let lib = write(&tmp, "x.so", "not really")?;
        for lib in [lib, tmp.path().join("missing.so")] {
            match inspect(&lib) {
                Err(Error::NotAPlugin { reason, .. }) => assert!(reason.contains("shared library")),
                other => panic!("{other:?}"),
            }
        }
        let txt = write(&tmp, "notes.txt", "hi")?;
        assert!(matches!(inspect(&txt), Err(Error::NotAPlugin { .. })));
        write(
            &tmp,
            "noentry/plugin.toml",
            "name = \"noentry\"\nversion = \"1.0.0\"\n",
        )?;
        match inspect(&tmp.path().join("noentry")) {
            Err(Error::InvalidManifest { reason, .. }) => assert!(reason.contains("init.lua")),
            other => panic!("{other:?}"),
        }
        Ok(())
    }

    #[test]
    fn discovers_plugins_and_lists_broken_ones() -> TestResult {
        let tmp = tempfile::tempdir()?;
        write(&tmp, "b/plugin.toml", "name = \"b\"\nversion = \"1.0.0\"\n")?;
        write(&tmp, "b/init.lua", "return {}")?;
        write(
            &tmp,
            "a.lua",
            "return { manifest = { name = \"a\", version = \"1.0.0\" } }",
        )?;
        write(&tmp, "broken/plugin.toml", "name = \n")?;
        write(&tmp, "README.md", "not a plugin")?;
        write(&tmp, "lib/helper.lua", "return {}")?;
        write(&tmp, ".hidden.lua", "return {}")?;
        let Discovery {
            found,
            unreadable: failed,
        } = discover(tmp.path(), "lua54")?;
        let names: Vec<&str> = found.iter().map(|i| i.manifest.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, tmp.path().join("broken"));
        assert!(matches!(
            discover(&tmp.path().join("missing"), "lua54"),
            Err(Error::NotFound { .. })
        ));
        Ok(())
    }

    #[test]
    fn refuses_oversized_manifests() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let big = format!(
            "name = \"big\"\nversion = \"1.0.0\"\n#{}\n",
            "x".repeat(MAX_MANIFEST_BYTES as usize)
        );
        write(&tmp, "big/plugin.toml", &big)?;
        write(&tmp, "big/init.lua", "return {}")?;
        assert!(matches!(
            inspect(&tmp.path().join("big")),
            Err(Error::NotAPlugin { .. })
        ));
        Ok(())
    }
}
