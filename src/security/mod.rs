//! `qtforge.security`: what makes running someone else's plugin safe.
//!
//! So far: the integrity of plugin files against the hashes their manifest
//! or a `qtforge.lock` lists (`integrity`, `lock`), and ed25519 signatures of
//! plugin folders with the keys a host trusts (`trust`). Capabilities, the
//! sandbox and quotas follow.

pub mod integrity;
pub mod lock;
pub mod lua;
pub mod pattern;
pub mod policy;
pub mod trust;

/// What the security tests build their plugins from.
#[cfg(test)]
pub(crate) mod testing {
    use std::fs;
    use std::path::{Path, PathBuf};

    /// Writes the plugin folder `root/name` (a manifest, `init.lua` and
    /// `lib/util.lua`) and returns its path.
    pub fn plugin_folder(root: &Path, name: &str, version: &str) -> PathBuf {
        let dir = root.join(name);
        fs::create_dir_all(dir.join("lib")).expect("plugin folder");
        let manifest = format!("name = \"{name}\"\nversion = \"{version}\"\n");
        fs::write(dir.join("plugin.toml"), manifest).expect("write");
        fs::write(dir.join("init.lua"), "return {}\n").expect("write");
        fs::write(dir.join("lib/util.lua"), "return 1\n").expect("write");
        dir
    }
}
