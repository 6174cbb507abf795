//! Integrity of plugin files: sha256 hashes, as a manifest's `[integrity]`
//! table or a `qtforge.lock` lists them (`"init.lua" = "sha256:<64 hex
//! digits>"`), checked against what is on disk.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use super::lock;
use crate::core::source::{self, SourceKind};
use crate::error::Error;

const PREFIX: &str = "sha256:";

/// The signature of a plugin folder, at its top. It vouches for the files, so
/// it is not one of them: no list of hashes holds it and no signature covers it.
pub const SIGNATURE_FILE: &str = "plugin.sig";

/// `sha256:` and the file's digest in lower-case hex.
pub fn hash_file(path: &Path) -> Result<String, Error> {
    let io_error = |e: io::Error| Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut file = File::open(path).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).map_err(io_error)?;
        if read == 0 {
            break;
        }
        hasher.update(buffer.get(..read).unwrap_or_default());
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{PREFIX}{hex}"))
}

/// Whether `text` is a hash as `[integrity]` writes one.
pub fn is_hash(text: &str) -> bool {
    text.strip_prefix(PREFIX).is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether `file` is a path inside a plugin folder: relative, `/`-separated,
/// no `..`, nothing absolute.
pub fn is_inside(file: &str) -> bool {
    !file.is_empty()
        && !file.contains('\\')
        && Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Every file under `root` (hidden files and folders, such as `.git`, and the
/// top-level `plugin.sig` left out), as `/`-separated paths relative to it, sorted.
pub fn plugin_files(root: &Path) -> Result<Vec<String>, Error> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), Error> {
        let entries = fs::read_dir(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (dir == root && name == SIGNATURE_FILE) {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if let Ok(relative) = path.strip_prefix(root) {
                let parts: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    files.sort();
    Ok(files)
}

/// The hash of every file of a plugin folder: what `[integrity]` should say.
pub fn hash_files(root: &Path) -> Result<BTreeMap<String, String>, Error> {
    plugin_files(root)?
        .into_iter()
        .map(|file| {
            let hash = hash_file(&root.join(&file))?;
            Ok((file, hash))
        })
        .collect()
}

/// Where a plugin folder differs from its `[integrity]` table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// (file, expected, found)
    pub changed: Vec<(String, String, String)>,
    /// Listed, not on disk.
    pub missing: Vec<String>,
    /// On disk, not listed: code nobody vouched for.
    pub unlisted: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.changed.is_empty() && self.missing.is_empty() && self.unlisted.is_empty()
    }

    /// One line per difference, for an error's details; `list` names where
    /// the expected hashes come from (`[integrity]`, `qtforge.lock`).
    pub fn describe(&self, list: &str) -> String {
        let mut lines = Vec::new();
        for (file, expected, found) in &self.changed {
            lines.push(format!("{file}: expected {expected}, found {found}"));
        }
        for file in &self.missing {
            lines.push(format!("{file}: listed, but missing"));
        }
        for file in &self.unlisted {
            lines.push(format!("{file}: not listed in {list}"));
        }
        lines.join("; ")
    }
}

/// Compares the files of `root` with `expected` (file -> hash).
pub fn check(root: &Path, expected: &BTreeMap<String, String>) -> Result<Report, Error> {
    let mut report = Report::default();
    let on_disk = plugin_files(root)?;
    for (file, hash) in expected {
        if !on_disk.contains(file) {
            report.missing.push(file.clone());
            continue;
        }
        let found = hash_file(&root.join(file))?;
        if &found != hash {
            report.changed.push((file.clone(), hash.clone(), found));
        }
    }
    report.unlisted = on_disk
        .into_iter()
        .filter(|file| !expected.contains_key(file))
        .collect();
    Ok(report)
}

/// Which list of hashes a plugin's files were checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The manifest's `[integrity]` table.
    Manifest,
    /// The `qtforge.lock` beside the plugin's folder.
    Lock,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Manifest => "manifest",
            Source::Lock => "lock",
        }
    }
}

/// What `validate` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub plugin_id: String,
    /// How many files were checked.
    pub files: usize,
    /// Where their hashes came from; `None` when nothing lists any.
    pub source: Option<Source>,
}

/// Reads and checks the manifest of the plugin at `path` as a load would,
/// then compares its files with its `[integrity]` table or, when it has none,
/// with its folder's entry in the `qtforge.lock` beside it.
pub fn validate(path: &Path) -> Result<Validation, Error> {
    let info = source::inspect(path)?;
    let plugin_id = info.manifest.name.clone();
    let expected = &info.manifest.integrity;
    let root = match (info.source.kind, info.source.root.as_ref()) {
        (SourceKind::Folder, Some(root)) => root,
        _ if expected.is_empty() => {
            return Ok(Validation {
                plugin_id,
                files: 0,
                source: None,
            });
        }
        _ => {
            return Err(Error::IntegrityMismatch {
                plugin: plugin_id,
                differences:
                    "[integrity] applies to folder plugins: a single file cannot list its own hash"
                        .into(),
            });
        }
    };
    if expected.is_empty() {
        let Some((lock_path, locked)) = lock::entry(root)? else {
            return Ok(Validation {
                plugin_id,
                files: 0,
                source: None,
            });
        };
        let report = check(root, &locked.files)?;
        if !report.is_clean() {
            return Err(Error::LockMismatch {
                plugin: plugin_id,
                lock: lock_path.display().to_string(),
                differences: report.describe(lock::LOCK_FILE),
            });
        }
        return Ok(Validation {
            plugin_id,
            files: locked.files.len(),
            source: Some(Source::Lock),
        });
    }
    let mut report = check(root, expected)?;
    // the manifest holds the hashes, so it cannot hash itself
    if let Some(manifest) = info
        .source
        .manifest_file
        .as_ref()
        .and_then(|m| m.file_name())
    {
        let manifest = manifest.to_string_lossy();
        report.unlisted.retain(|file| *file != manifest);
    }
    if !report.is_clean() {
        return Err(Error::IntegrityMismatch {
            plugin: plugin_id,
            differences: report.describe("[integrity]"),
        });
    }
    Ok(Validation {
        plugin_id,
        files: expected.len(),
        source: Some(Source::Manifest),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugin folder with hidden files and signature files in it.
    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("scratch folder");
        let path = dir.path();
        fs::create_dir_all(path.join("lib")).expect("scratch folder");
        fs::create_dir_all(path.join(".git")).expect("scratch folder");
        fs::write(path.join("init.lua"), "return {}\n").expect("write");
        fs::write(path.join("plugin.toml"), "name = \"x\"\n").expect("write");
        fs::write(path.join("lib/util.lua"), "return 1\n").expect("write");
        fs::write(path.join(".git/HEAD"), "ref\n").expect("write");
        fs::write(path.join("plugin.sig"), "key = \"\"\n").expect("write");
        fs::write(path.join("lib/plugin.sig"), "not the signature\n").expect("write");
        dir
    }

    #[test]
    fn hashes_are_sha256_in_hex() -> Result<(), Error> {
        let scratch = scratch();
        let path = scratch.path().join("abc.txt");
        fs::write(&path, "abc").map_err(|e| Error::Io {
            path: String::new(),
            reason: e.to_string(),
        })?;
        // the FIPS 180-2 test vector for "abc"
        assert_eq!(
            hash_file(&path)?,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_hash(&hash_file(&path)?));
        assert!(!is_hash("sha256:BA78"));
        assert!(!is_hash("md5:00"));
        Ok(())
    }

    #[test]
    fn files_are_listed_relative_and_sorted_without_hidden_ones_or_the_signature()
    -> Result<(), Error> {
        let scratch = scratch();
        assert_eq!(
            plugin_files(scratch.path())?,
            vec!["init.lua", "lib/plugin.sig", "lib/util.lua", "plugin.toml"]
        );
        Ok(())
    }

    #[test]
    fn a_clean_folder_checks_clean_and_every_difference_is_named() -> Result<(), Error> {
        let scratch = scratch();
        let mut expected = hash_files(scratch.path())?;
        assert!(check(scratch.path(), &expected)?.is_clean());
        fs::write(scratch.path().join("lib/util.lua"), "return 2\n").expect("tamper");
        fs::write(scratch.path().join("extra.lua"), "os.exit()\n").expect("add");
        expected.insert(
            "gone.lua".into(),
            hash_file(&scratch.path().join("init.lua"))?,
        );
        let report = check(scratch.path(), &expected)?;
        assert_eq!(report.changed.len(), 1);
        assert_eq!(report.changed[0].0, "lib/util.lua");
        assert_eq!(report.missing, vec!["gone.lua"]);
        assert_eq!(report.unlisted, vec!["extra.lua"]);
        let described = report.describe("[integrity]");
        assert!(described.contains("lib/util.lua: expected sha256:"));
        assert!(described.contains("extra.lua: not listed in [integrity]"));
        Ok(())
    }

    #[test]
    fn listed_paths_must_stay_inside_the_folder() {
        assert!(is_inside("init.lua"));
        assert!(is_inside("lib/util.lua"));
        assert!(!is_inside("../x.lua"));
        assert!(!is_inside("/etc/passwd"));
        assert!(!is_inside("lib\\x.lua"));
        assert!(!is_inside(""));
    }
}
