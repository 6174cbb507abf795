//! `qtforge.lock`: the sha256 of every file of the plugins in a folder, for
//! plugins whose manifest lists no `[integrity]`. It sits in the folder that
//! holds the plugin folders and lists each by its folder name:
//!
//! ```toml
//! version = 1
//! [plugins.greeter]
//! version = "1.2.0"
//! [plugins.greeter.files]
//! "init.lua" = "sha256:..."
//! "plugin.toml" = "sha256:..."
//! ```
//!
//! Unlike `[integrity]`, the lock lives outside the plugin, so it lists the
//! manifest too.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::integrity;
use crate::core::source;
use crate::error::Error;
use crate::managers::config::save_atomic;

/// The lock's file name, in the folder of plugin folders.
pub const LOCK_FILE: &str = "qtforge.lock";
/// The format this qtforge reads and writes.
const FORMAT_VERSION: u32 = 1;
const HEADER: &str = "# qtforge.lock: written by PluginValidator.lock; do not edit\n";
/// A lock of hashes is small; a larger file is a mistake, not a lock.
const MAX_LOCK_BYTES: u64 = 16 << 20;
/// The manifest files a plugin folder is recognised by, as `source` has them.
const MANIFEST_FILES: [&str; 2] = ["plugin.toml", "plugin.json"];

/// One plugin folder in a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockedPlugin {
    /// The manifest's version when it was locked: for people reading the
    /// lock; what is checked is the manifest's hash.
    pub version: String,
    /// Relative path -> `sha256:...`, the manifest included.
    pub files: BTreeMap<String, String>,
}

/// A whole lock: plugin folder name -> what it held when locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lock {
    version: u32,
    pub plugins: BTreeMap<String, LockedPlugin>,
}

// What the file holds, checked as it is read so that a bad value keeps its
// position in the file for the error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    #[serde(deserialize_with = "format_version")]
    version: u32,
    #[serde(default)]
    plugins: BTreeMap<String, RawPlugin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    version: String,
    files: BTreeMap<FilePath, Hash>,
}

#[derive(Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(try_from = "String")]
struct FilePath(String);

impl TryFrom<String> for FilePath {
    type Error = String;
    fn try_from(file: String) -> Result<Self, String> {
        if integrity::is_inside(&file) {
            Ok(FilePath(file))
        } else {
            Err(format!("{file:?} is not a path inside the plugin's folder"))
        }
    }
}

#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Hash(String);

impl TryFrom<String> for Hash {
    type Error = String;
    fn try_from(hash: String) -> Result<Self, String> {
        if integrity::is_hash(&hash) {
            Ok(Hash(hash))
        } else {
            Err(format!(
                "{hash:?} is not \"sha256:\" and 64 lower-case hex digits"
            ))
        }
    }
}

fn format_version<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let version = u32::deserialize(deserializer)?;
    if version == FORMAT_VERSION {
        Ok(version)
    } else {
        Err(serde::de::Error::custom(format!(
            "lock format version {version} is not supported (this qtforge reads version {FORMAT_VERSION})"
        )))
    }
}

/// 1-based line and column of a byte offset, for parse errors.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn io_error(path: &Path, e: &io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

impl Lock {
    /// Parses the text of a lock; `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Lock, Error> {
        let at = |span: Option<std::ops::Range<usize>>| {
            span.map_or((1, 1), |span| line_column(text, span.start))
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| {
            let (line, column) = at(e.span());
            parse_error(source, line, column, e.message().trim().to_owned())
        })?;
        let raw: RawLock = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let (line, column) = at(e.inner().span());
            let message = e.inner().message().trim().to_owned();
            let reason = if path == "." {
                message
            } else {
                format!("{path}: {message}")
            };
            parse_error(source, line, column, reason)
        })?;
        let plugins = raw
            .plugins
            .into_iter()
            .map(|(name, plugin)| {
                let files = plugin
                    .files
                    .into_iter()
                    .map(|(file, hash)| (file.0, hash.0))
                    .collect();
                let locked = LockedPlugin {
                    version: plugin.version,
                    files,
                };
                (name, locked)
            })
            .collect();
        Ok(Lock {
            version: raw.version,
            plugins,
        })
    }

    /// The text of the lock file.
    pub fn to_toml(&self) -> Result<String, Error> {
        let body = toml::to_string(self).map_err(|e| Error::Io {
            path: LOCK_FILE.to_owned(),
            reason: format!("cannot write the lock: {e}"),
        })?;
        Ok(format!("{HEADER}{body}"))
    }
}

fn parse_error(source: &str, line: usize, column: usize, reason: String) -> Error {
    Error::ParseError {
        source: source.to_owned(),
        line,
        column,
        reason,
    }
}

/// Reads the lock at `path`; `None` when there is no such file.
pub fn read(path: &Path) -> Result<Option<Lock>, Error> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, &e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_LOCK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, &e))?;
    let source = path.display().to_string();
    if bytes.len() as u64 > MAX_LOCK_BYTES {
        return Err(parse_error(
            &source,
            1,
            1,
            format!("the lock is larger than {MAX_LOCK_BYTES} bytes"),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| parse_error(&source, 1, 1, format!("the lock is not UTF-8 text ({e})")))?;
    Lock::parse(&text, &source).map(Some)
}

/// The lock of the plugin folders directly inside `dir` (those with a
/// `plugin.toml` or `plugin.json`; hidden ones left out). Every manifest must
/// read: a lock of a broken plugin would vouch for something that cannot load.
pub fn build(dir: &Path) -> Result<Lock, Error> {
    let entries = fs::read_dir(dir).map_err(|e| io_error(dir, &e))?;
    let mut plugins = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, &e))?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            return Err(Error::Io {
                path: path.display().to_string(),
                reason: "the folder's name is not UTF-8, so a lock cannot name it".to_owned(),
            });
        };
        let is_plugin = path.is_dir() && MANIFEST_FILES.iter().any(|m| path.join(m).is_file());
        if name.starts_with('.') || !is_plugin {
            continue;
        }
        let info = source::inspect(&path)?;
        let locked = LockedPlugin {
            version: info.manifest.version.to_string(),
            files: integrity::hash_files(&path)?,
        };
        plugins.insert(name, locked);
    }
    Ok(Lock {
        version: FORMAT_VERSION,
        plugins,
    })
}

/// Writes `dir/qtforge.lock` for the plugin folders in `dir`, atomically.
/// Returns its path and how many plugins it lists.
pub fn write(dir: &Path) -> Result<(PathBuf, usize), Error> {
    let lock = build(dir)?;
    let path = dir.join(LOCK_FILE);
    save_atomic(&path, &lock.to_toml()?)?;
    Ok((path, lock.plugins.len()))
}

/// The entry of the plugin folder `root` in the `qtforge.lock` beside it,
/// with the lock's path; `None` when there is no lock or it does not list the
/// folder.
pub fn entry(root: &Path) -> Result<Option<(PathBuf, LockedPlugin)>, Error> {
    // the folder's own name and its parent, also for `.` or `plugins/x/..`
    let mut folder = std::path::absolute(root).map_err(|e| io_error(root, &e))?;
    if folder.file_name().is_none() {
        folder = fs::canonicalize(&folder).map_err(|e| io_error(root, &e))?;
    }
    let (Some(name), Some(parent)) = (folder.file_name(), folder.parent()) else {
        return Ok(None);
    };
    let lock_path = parent.join(LOCK_FILE);
    let Some(mut lock) = read(&lock_path)? else {
        return Ok(None);
    };
    let name = name.to_string_lossy();
    Ok(lock
        .plugins
        .remove(name.as_ref())
        .map(|locked| (lock_path, locked)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::testing::plugin_folder;

    /// Two plugin folders, and two that are not plugins (no manifest; hidden).
    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("scratch folder");
        let path = dir.path();
        plugin_folder(path, "alpha", "1.0.0");
        plugin_folder(path, "beta", "2.1.0");
        fs::create_dir_all(path.join("shared")).expect("scratch folder");
        fs::create_dir_all(path.join(".cache")).expect("scratch folder");
        fs::write(path.join(".cache/plugin.toml"), "junk").expect("write");
        dir
    }

    #[test]
    fn a_lock_lists_every_plugin_folder_and_reads_back() -> Result<(), Error> {
        let scratch = scratch();
        let (path, count) = write(scratch.path())?;
        assert_eq!(count, 2);
        assert_eq!(path, scratch.path().join(LOCK_FILE));
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(HEADER));
        assert!(text.contains("[plugins.alpha.files]"));
        let lock = read(&path)?.expect("a lock");
        assert_eq!(lock, build(scratch.path())?);
        let alpha = &lock.plugins["alpha"];
        assert_eq!(alpha.version, "1.0.0");
        let files: Vec<&str> = alpha.files.keys().map(String::as_str).collect();
        assert_eq!(files, ["init.lua", "lib/util.lua", "plugin.toml"]);
        Ok(())
    }

    #[test]
    fn an_entry_is_found_by_folder_name_and_compares_with_the_files() -> Result<(), Error> {
        let scratch = scratch();
        assert_eq!(entry(&scratch.path().join("alpha"))?, None);
        write(scratch.path())?;
        let (lock_path, alpha) =
            entry(&scratch.path().join("alpha").join("lib").join(".."))?.expect("alpha is locked");
        assert_eq!(lock_path, scratch.path().join(LOCK_FILE));
        let root = scratch.path().join("alpha");
        assert!(integrity::check(&root, &alpha.files)?.is_clean());
        fs::write(root.join("lib/util.lua"), "return 2\n").expect("tamper");
        let report = integrity::check(&root, &alpha.files)?;
        assert_eq!(report.changed.len(), 1);
        assert_eq!(report.changed[0].0, "lib/util.lua");
        assert_eq!(entry(&scratch.path().join("shared"))?, None);
        Ok(())
    }

    #[test]
    fn a_bad_lock_is_a_parse_error_at_the_bad_value() {
        let hash = format!("sha256:{}", "0".repeat(64));
        let cases = [
            ("version = 1\n[plugins.a\n", 2, "parse"),
            ("version = 2\n", 1, "lock format version 2 is not supported"),
            (
                "version = 1\n[plugins.a]\nversion = \"1.0.0\"\n[plugins.a.files]\n\"x.lua\" = \"md5:0\"\n",
                5,
                "plugins.a.files.x.lua: \"md5:0\" is not \"sha256:\"",
            ),
            (
                &format!(
                    "version = 1\n[plugins.a]\nversion = \"1.0.0\"\nfiles = {{ \"../x.lua\" = \"{hash}\" }}\n"
                ),
                4,
                "is not a path inside the plugin's folder",
            ),
            ("version = 1\nextra = true\n", 2, "unknown field `extra`"),
        ];
        for (text, expected_line, words) in cases {
            match Lock::parse(text, "qtforge.lock") {
                Err(Error::ParseError { line, reason, .. }) => {
                    assert_eq!(line, expected_line, "{reason}");
                    if words != "parse" {
                        assert!(reason.contains(words), "{reason:?} lacks {words:?}");
                    }
                }
                other => panic!("expected a parse error for {text:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_broken_plugin_in_the_folder_fails_the_lock() {
        let scratch = scratch();
        fs::write(scratch.path().join("beta/plugin.toml"), "name = 3\n").expect("write");
        let err = write(scratch.path()).expect_err("beta does not read");
        assert_eq!(err.code(), "invalid_manifest");
        assert!(!scratch.path().join(LOCK_FILE).exists());
    }
}
