//! The checks `export_plugin!` runs on the plugins' constants when the library
//! compiles: `const fn`s, so a mistake the host would refuse is a compile
//! error. The same functions check again when the descriptor is laid out.

use crate::descriptor::{Entry, Meta};
use crate::plugin::Plugin;

/// The longest plugin id qtforge accepts.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` is a plugin id: `[a-z0-9_.-]+`, starting with a letter or
/// digit, at most [`MAX_NAME_LEN`] bytes.
pub const fn is_plugin_id(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty()
        || b.len() > MAX_NAME_LEN
        || !(b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
    {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'.' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// Reads one semver number (no leading zero) at `i`; returns where it ends.
const fn number_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    if j == i || (b[i] == b'0' && j - i > 1) {
        None
    } else {
        Some(j)
    }
}

/// Whether `b[i..]` is a run of dot-separated identifiers `[0-9A-Za-z-]+`,
/// stopping at `stop` (a `+` ends a pre-release); returns where it ends.
const fn identifiers_end(b: &[u8], i: usize, stop: u8) -> Option<usize> {
    let mut j = i;
    let mut start = i;
    while j < b.len() && b[j] != stop {
        let c = b[j];
        if c == b'.' {
            if j == start {
                return None;
            }
            start = j + 1;
        } else if !(c.is_ascii_alphanumeric() || c == b'-') {
            return None;
        }
        j += 1;
    }
    if j == start { None } else { Some(j) }
}

/// Whether `version` is a semver version: `MAJOR.MINOR.PATCH`, then an
/// optional `-pre.release` and `+build`.
pub const fn is_semver(version: &str) -> bool {
    let b = version.as_bytes();
    let mut i = 0;
    let mut part = 0;
    while part < 3 {
        i = match number_end(b, i) {
            Some(end) => end,
            None => return false,
        };
        if part < 2 {
            if i >= b.len() || b[i] != b'.' {
                return false;
            }
            i += 1;
        }
        part += 1;
    }
    if i < b.len() && b[i] == b'-' {
        i = match identifiers_end(b, i + 1, b'+') {
            Some(end) => end,
            None => return false,
        };
    }
    if i < b.len() && b[i] == b'+' {
        i = match identifiers_end(b, i + 1, 0) {
            Some(end) => end,
            None => return false,
        };
    }
    i == b.len()
}

/// Whether `name` is a Lua function name: `[A-Za-z_][A-Za-z0-9_]*`.
pub const fn is_identifier(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return false;
    }
    let mut i = 1;
    while i < b.len() {
        if !(b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `version` is an API version: `major.minor`, or `major.minor.patch`.
pub const fn is_api_version(version: &str) -> bool {
    let b = version.as_bytes();
    let mut i = 0;
    let mut parts = 0;
    while parts < 3 {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
        parts += 1;
        if i == b.len() {
            return parts >= 2;
        }
        if b[i] != b'.' {
            return false;
        }
        i += 1;
    }
    false
}

const fn has_nul(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == 0 {
            return true;
        }
        i += 1;
    }
    false
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `names` holds `name` before index `before`.
const fn listed(names: &[&str], name: &str, before: usize) -> bool {
    let mut i = 0;
    while i < before {
        if str_eq(names[i], name) {
            return true;
        }
        i += 1;
    }
    false
}

/// Checks one plugin's constants the way the host will, so that a mistake
/// shows when the library compiles rather than when a host loads it. (The
/// host also checks capabilities against the ones it knows, and dependency
/// ranges; those are left to it.)
pub const fn check(meta: &Meta) -> Result<(), &'static str> {
    if !is_plugin_id(meta.name) {
        return Err(
            "Plugin::NAME must match [a-z0-9_.-]+, start with a letter or digit, and be at most 64 bytes",
        );
    }
    if !is_semver(meta.version) {
        return Err("Plugin::VERSION must be a semver version such as \"1.2.0\"");
    }
    if has_nul(meta.description) {
        return Err("Plugin::DESCRIPTION must not contain a NUL byte");
    }
    if !is_api_version(meta.api_version) {
        return Err("Plugin::API_VERSION must be a version such as \"1.0\"");
    }
    let deps = meta.dependencies;
    let mut i = 0;
    while i < deps.len() {
        if !is_plugin_id(deps[i].name) {
            return Err("Plugin::DEPENDENCIES: a name must be a plugin id ([a-z0-9_.-]+)");
        }
        if str_eq(deps[i].name, meta.name) {
            return Err("Plugin::DEPENDENCIES: a plugin cannot depend on itself");
        }
        if has_nul(deps[i].version) {
            return Err("Plugin::DEPENDENCIES: a version range must not contain a NUL byte");
        }
        let mut j = 0;
        while j < i {
            if str_eq(deps[j].name, deps[i].name) {
                return Err("Plugin::DEPENDENCIES: a plugin is listed twice");
            }
            j += 1;
        }
        i += 1;
    }
    let caps = meta.capabilities;
    i = 0;
    while i < caps.len() {
        if caps[i].is_empty() || has_nul(caps[i]) {
            return Err("Plugin::CAPABILITIES: a capability must be non-empty, without NUL bytes");
        }
        if listed(caps, caps[i], i) {
            return Err("Plugin::CAPABILITIES: a capability is listed twice");
        }
        i += 1;
    }
    let exports = meta.exports;
    i = 0;
    while i < exports.len() {
        if !is_identifier(exports[i]) {
            return Err(
                "Plugin::EXPORTS: an export must be a Lua function name ([A-Za-z_][A-Za-z0-9_]*)",
            );
        }
        if listed(exports, exports[i], i) {
            return Err("Plugin::EXPORTS: an export is listed twice");
        }
        i += 1;
    }
    Ok(())
}

/// Checks that a library lists at least one plugin and no two of one name.
pub const fn check_distinct(entries: &[Entry]) -> Result<(), &'static str> {
    if entries.is_empty() {
        return Err("export_plugin! needs at least one plugin");
    }
    let mut i = 0;
    while i < entries.len() {
        let mut j = 0;
        while j < i {
            if str_eq(entries[i].meta.name, entries[j].meta.name) {
                return Err(
                    "export_plugin!: two plugins of the library have the same Plugin::NAME",
                );
            }
            j += 1;
        }
        i += 1;
    }
    Ok(())
}

/// Checks every plugin of a library ([`check`]), then [`check_distinct`].
pub const fn check_all(entries: &[Entry]) -> Result<(), &'static str> {
    let mut i = 0;
    while i < entries.len() {
        if let Err(e) = check(&entries[i].meta) {
            return Err(e);
        }
        i += 1;
    }
    check_distinct(entries)
}

/// `check` for `T`, failing compilation (when evaluated in a `const`) with
/// the reason; the compiler's note names `T`.
pub const fn assert_valid<T: Plugin>() {
    if let Err(reason) = check(&Meta::of::<T>()) {
        panic!("{}", reason);
    }
}

/// `check_distinct`, failing compilation with the reason.
pub const fn assert_distinct(entries: &[Entry]) {
    if let Err(reason) = check_distinct(entries) {
        panic!("{}", reason);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::ffi::{c_int, c_void};

    use super::*;
    use crate::plugin::Dependency;

    unsafe extern "C-unwind" fn no_open(_state: *mut c_void) -> c_int {
        0
    }

    /// The constants of a plugin with only a name and a version.
    pub(crate) const fn meta(name: &'static str, version: &'static str) -> Meta {
        Meta {
            name,
            version,
            description: "",
            api_version: "1.0",
            dependencies: &[],
            capabilities: &[],
            exports: &[],
        }
    }

    /// An entry whose `open` must not be called (it would need a Lua state).
    pub(crate) fn entry(meta: Meta) -> Entry {
        Entry {
            meta,
            open: no_open,
        }
    }

    #[test]
    fn checks_plugin_ids() {
        for good in ["hello", "a", "0day", "bundle_base", "x.y-z"] {
            assert!(is_plugin_id(good), "{good}");
        }
        for bad in ["", "Hello", "Bad Name!", "_x", ".x", "-x", "a/b", "é"] {
            assert!(!is_plugin_id(bad), "{bad}");
        }
        assert!(is_plugin_id(&"a".repeat(MAX_NAME_LEN)));
        assert!(!is_plugin_id(&"a".repeat(MAX_NAME_LEN + 1)));
    }

    #[test]
    fn checks_versions() {
        for good in [
            "0.0.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-alpha.1",
            "1.0.0+build.5",
            "1.0.0-rc-1+x",
        ] {
            assert!(is_semver(good), "{good}");
        }
        for bad in [
            "",
            "x",
            "1",
            "1.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0 ",
            "1.0.0.0",
            "v1.0.0",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn checks_api_versions_and_function_names() {
        for good in ["1.0", "1.2.3", "10.0"] {
            assert!(is_api_version(good), "{good}");
        }
        for bad in ["", "1", "1.", ".1", "1.0.0.0", "a.b", "1.0-rc"] {
            assert!(!is_api_version(bad), "{bad}");
        }
        for good in ["greet", "_x", "add3", "A_b"] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", "3d", "a-b", "a.b", "a b"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn refuses_bad_constants() {
        let with = |f: fn(&mut Meta)| {
            let mut m = meta("ok", "1.0.0");
            f(&mut m);
            check(&m)
        };
        assert_eq!(with(|_| ()), Ok(()));
        assert!(with(|m| m.name = "Bad Name!").is_err());
        assert!(with(|m| m.version = "x").is_err());
        assert!(with(|m| m.description = "a\0b").is_err());
        assert!(with(|m| m.api_version = "").is_err());
        assert!(with(|m| m.api_version = "one").is_err());
        const BAD_NAME: &[Dependency] = &[Dependency::required("Nope", "*")];
        const BAD_RANGE: &[Dependency] = &[Dependency::required("ok2", "^1\0")];
        const ITSELF: &[Dependency] = &[Dependency::required("ok", "*")];
        const TWICE: &[Dependency] = &[
            Dependency::required("dep", "*"),
            Dependency::optional("dep", "^2"),
        ];
        assert!(with(|m| m.dependencies = BAD_NAME).is_err());
        assert!(with(|m| m.dependencies = BAD_RANGE).is_err());
        assert!(with(|m| m.dependencies = ITSELF).is_err());
        assert!(with(|m| m.dependencies = TWICE).is_err());
        assert!(with(|m| m.capabilities = &[""]).is_err());
        assert!(with(|m| m.capabilities = &["log", "log"]).is_err());
        assert!(with(|m| m.exports = &["a\0"]).is_err());
        assert!(with(|m| m.exports = &["not-a-name"]).is_err());
        assert!(with(|m| m.exports = &["f", "f"]).is_err());
    }

    #[test]
    fn refuses_two_plugins_of_one_name() {
        let twice = [entry(meta("same", "1.0.0")), entry(meta("same", "2.0.0"))];
        assert!(check_all(&twice).is_err());
        assert!(check_all(&[]).is_err());
    }
}
