//! A host's security policy: which capabilities plugins may have, how far they
//! are trusted, which paths and modules they may reach and the quotas they run
//! under. `Policy::admit` decides, once per load, what one plugin gets.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::core::manifest::{CAPABILITIES, Limits, RawLimits};

/// What the default policy grants a plugin that asks: its own logger, bus and
/// configuration, and native plugins (a library the host names by path is the
/// host's choice; it is machine code no sandbox can hold).
pub const SAFE_CAPABILITIES: &[&str] = &[
    "log",
    "bus:publish",
    "bus:subscribe",
    "config:read",
    "config:write",
    "native",
];

/// How far a plugin is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trust {
    /// Runs in the host's globals, with every capability.
    Trusted,
    /// Runs in a sandbox with the capabilities it declared and was granted.
    Sandboxed,
}

impl Trust {
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Trusted => "trusted",
            Trust::Sandboxed => "sandboxed",
        }
    }
}

/// Where a plugin's code comes from, which decides what can be sandboxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A folder or a single file: its code is compiled by qtforge, in a sandbox.
    File,
    /// A table the host built and handed over: the host's own code.
    Inline,
    /// A shared library: machine code.
    Native,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    trust: Option<Trust>,
    #[serde(default)]
    grant: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    modules: Vec<String>,
    #[serde(default)]
    limits: RawLimits,
}

/// A policy as the host writes it (the table given to `SecurityManager`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    #[serde(default)]
    trust: Option<Trust>,
    #[serde(default)]
    grant: Option<Vec<String>>,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    paths: RawPaths,
    #[serde(default)]
    modules: Vec<String>,
    #[serde(default)]
    host_globals: Option<Vec<String>>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    max_quota_failures: Option<f64>,
    #[serde(default)]
    require_integrity: bool,
    #[serde(default)]
    plugins: BTreeMap<String, RawRule>,
}

/// What the policy says about one plugin beyond the general rules.
#[derive(Debug, Clone, Default)]
struct Rule {
    trust: Option<Trust>,
    grant: BTreeSet<String>,
    deny: BTreeSet<String>,
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    modules: BTreeSet<String>,
    limits: Option<Limits>,
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub trust: Trust,
    grant: BTreeSet<String>,
    deny: BTreeSet<String>,
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    modules: BTreeSet<String>,
    /// Globals the `host` capability shows; `None`: every non-standard global.
    pub host_globals: Option<Vec<String>>,
    limits: Limits,
    /// Quota failures after which a plugin is marked `failed`.
    pub max_quota_failures: u64,
    /// Refuse plugins whose files no `[integrity]` table or lock vouches for.
    pub require_integrity: bool,
    plugins: BTreeMap<String, Rule>,
}

/// What one plugin was granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub trust: Trust,
    /// Sorted; for a trusted plugin, every capability.
    pub capabilities: Vec<String>,
    pub limits: Limits,
    /// Folders and files the plugin may read (with `fs:read`) and write (with `fs:write`).
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    /// Modules `require` may load (with `require`).
    pub modules: Vec<String>,
}

/// Why a plugin is refused: the capabilities it asked for and may not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Denied {
    pub capabilities: Vec<String>,
    pub reason: String,
}

fn capability_list(at: &str, names: &[String]) -> Result<BTreeSet<String>, String> {
    let mut set = BTreeSet::new();
    for name in names {
        if !CAPABILITIES.contains(&name.as_str()) {
            return Err(format!(
                "{at}: unknown capability {name:?} (known: {})",
                CAPABILITIES.join(", ")
            ));
        }
        set.insert(name.clone());
    }
    Ok(set)
}

/// A path as the policy lists it: absolute, without `.` or `..` parts (symlinks
/// are resolved when a plugin's path is checked, not here: the folder may not exist yet).
fn policy_path(at: &str, text: &str) -> Result<PathBuf, String> {
    let path = Path::new(text);
    if text.is_empty() || !path.is_absolute() {
        return Err(format!("{at}: {text:?} is not an absolute path"));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(format!("{at}: {text:?} has '.' or '..' parts"));
    }
    Ok(path.to_path_buf())
}

fn policy_paths(at: &str, texts: &[String]) -> Result<Vec<PathBuf>, String> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| policy_path(&format!("{at}[{}]", i + 1), text))
        .collect()
}

fn module_list(at: &str, names: &[String]) -> Result<BTreeSet<String>, String> {
    let mut set = BTreeSet::new();
    for name in names {
        let valid = !name.is_empty()
            && name.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        if !valid {
            return Err(format!("{at}: {name:?} is not a module name"));
        }
        set.insert(name.clone());
    }
    Ok(set)
}

impl RawPolicy {
    /// The checked policy, or what is wrong with it (naming the field).
    pub fn check(self) -> Result<Policy, String> {
        let grant = match &self.grant {
            Some(names) => capability_list("grant", names)?,
            None => SAFE_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
        };
        let max_quota_failures = match self.max_quota_failures {
            None => 3,
            Some(n) if n.fract() == 0.0 && (1.0..=1e9).contains(&n) => n as u64,
            Some(n) => {
                return Err(format!(
                    "max_quota_failures: {n} is not a whole number of at least 1"
                ));
            }
        };
        if let Some(names) = &self.host_globals {
            for name in names {
                let valid = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    return Err(format!("host_globals: {name:?} is not a global name"));
                }
            }
        }
        let mut plugins = BTreeMap::new();
        for (id, raw) in self.plugins {
            let at = format!("plugins.{id}");
            let limits = raw.limits.check(&format!("{at}.limits"))?;
            plugins.insert(
                id.clone(),
                Rule {
                    trust: raw.trust,
                    grant: capability_list(&format!("{at}.grant"), &raw.grant)?,
                    deny: capability_list(&format!("{at}.deny"), &raw.deny)?,
                    read: policy_paths(&format!("{at}.paths.read"), &raw.paths.read)?,
                    write: policy_paths(&format!("{at}.paths.write"), &raw.paths.write)?,
                    modules: module_list(&format!("{at}.modules"), &raw.modules)?,
                    limits: (!limits.is_empty()).then_some(limits),
                },
            );
        }
        Ok(Policy {
            trust: self.trust.unwrap_or(Trust::Sandboxed),
            grant,
            deny: capability_list("deny", &self.deny)?,
            read: policy_paths("paths.read", &self.paths.read)?,
            write: policy_paths("paths.write", &self.paths.write)?,
            modules: module_list("modules", &self.modules)?,
            host_globals: self.host_globals,
            limits: self.limits.check("limits")?,
            max_quota_failures,
            require_integrity: self.require_integrity,
            plugins,
        })
    }
}

impl Default for Policy {
    /// The policy of a manager given none: sandboxed, the safe capabilities.
    fn default() -> Self {
        Policy {
            trust: Trust::Sandboxed,
            grant: SAFE_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
            deny: BTreeSet::new(),
            read: Vec::new(),
            write: Vec::new(),
            modules: BTreeSet::new(),
            host_globals: None,
            limits: Limits::default(),
            max_quota_failures: 3,
            require_integrity: false,
            plugins: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// Whether the policy lets plugin `id` have `capability`: granted to all or
    /// to it, and denied to neither.
    pub fn allows(&self, id: &str, capability: &str) -> bool {
        let rule = self.plugins.get(id);
        let denied =
            self.deny.contains(capability) || rule.is_some_and(|r| r.deny.contains(capability));
        let granted =
            self.grant.contains(capability) || rule.is_some_and(|r| r.grant.contains(capability));
        granted && !denied
    }

    /// The trust the policy gives plugin `id` from `origin`, before signatures.
    pub fn trust_of(&self, id: &str, origin: Origin) -> Trust {
        match origin {
            Origin::Inline | Origin::Native => Trust::Trusted,
            Origin::File => self
                .plugins
                .get(id)
                .and_then(|r| r.trust)
                .unwrap_or(self.trust),
        }
    }

    /// What plugin `id` gets: `requested` are its manifest's capabilities,
    /// `limits` its `[limits]`, `root` its folder (or the folder of its file),
    /// `signed` whether a trusted key signed it.
    pub fn admit(
        &self,
        id: &str,
        origin: Origin,
        requested: &[String],
        limits: Limits,
        root: Option<&Path>,
        signed: bool,
    ) -> Result<Grant, Denied> {
        if origin == Origin::Native && !self.allows(id, "native") {
            return Err(Denied {
                capabilities: vec!["native".into()],
                reason: "the policy does not allow native plugins".into(),
            });
        }
        let trust = if signed {
            Trust::Trusted
        } else {
            self.trust_of(id, origin)
        };
        if trust == Trust::Trusted {
            return Ok(Grant {
                trust,
                capabilities: CAPABILITIES.iter().map(|s| s.to_string()).collect(),
                limits: Limits::default(),
                read: Vec::new(),
                write: Vec::new(),
                modules: Vec::new(),
            });
        }
        let refused: Vec<String> = requested
            .iter()
            .filter(|c| !self.allows(id, c))
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(Denied {
                reason: format!("the policy does not grant {}", refused.join(", ")),
                capabilities: refused,
            });
        }
        let mut capabilities = requested.to_vec();
        capabilities.sort();
        let has = |c: &str| capabilities.iter().any(|x| x == c);
        let rule = self.plugins.get(id);
        let cap = rule.and_then(|r| r.limits).unwrap_or(self.limits);
        // the plugin's folder, the policy's paths, then its rule's
        let paths = |capability: &str, general: &[PathBuf], own_rule: Option<&Vec<PathBuf>>| {
            if !has(capability) {
                return Vec::new();
            }
            root.map(Path::to_path_buf)
                .into_iter()
                .chain(general.iter().cloned())
                .chain(own_rule.into_iter().flatten().cloned())
                .collect()
        };
        let read = paths("fs:read", &self.read, rule.map(|r| &r.read));
        let write = paths("fs:write", &self.write, rule.map(|r| &r.write));
        let modules = if has("require") {
            self.modules
                .iter()
                .chain(rule.map(|r| r.modules.iter()).into_iter().flatten())
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        Ok(Grant {
            trust,
            capabilities,
            limits: limits.capped_by(cap),
            read,
            write,
            modules,
        })
    }
}

/// The file a sandboxed plugin may open at `path` (relative paths start at
/// `base`, the plugin's folder), resolved through symlinks, when it lies in one
/// of `allowed`; otherwise why not. A path that does not exist yet is resolved
/// through its parent folder, which must exist.
pub fn resolve_allowed(
    allowed: &[PathBuf],
    base: Option<&Path>,
    path: &str,
) -> Result<PathBuf, String> {
    if path.is_empty() || path.contains('\0') {
        return Err(format!("{path:?} is not a path"));
    }
    let given = Path::new(path);
    let full = match (given.is_absolute(), base) {
        (true, _) => given.to_path_buf(),
        (false, Some(base)) => base.join(given),
        (false, None) => return Err(format!("{path}: a relative path needs the plugin's folder")),
    };
    let resolved = match fs::canonicalize(&full) {
        Ok(resolved) => resolved,
        Err(_) => {
            let (Some(parent), Some(name)) = (full.parent(), full.file_name()) else {
                return Err(format!("{path}: no such file or folder"));
            };
            let parent = fs::canonicalize(parent).map_err(|e| format!("{path}: {e}"))?;
            parent.join(name)
        }
    };
    let inside = allowed.iter().any(|root| {
        fs::canonicalize(root)
            .map(|root| resolved.starts_with(root))
            .unwrap_or(false)
    });
    if inside {
        Ok(resolved)
    } else {
        Err(format!("{path}: outside the paths this plugin may use"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Result<Policy, String> {
        let raw: RawPolicy = serde_json::from_str(text).map_err(|e| e.to_string())?;
        raw.check()
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_default_policy_grants_the_safe_set_and_sandboxes() {
        let p = Policy::default();
        let g = p
            .admit(
                "a",
                Origin::File,
                &strings(&["log", "bus:publish"]),
                Limits::default(),
                None,
                false,
            )
            .unwrap();
        assert_eq!(g.trust, Trust::Sandboxed);
        assert_eq!(g.capabilities, ["bus:publish", "log"]);
        let d = p
            .admit(
                "a",
                Origin::File,
                &strings(&["log", "fs:read", "os:exec"]),
                Limits::default(),
                None,
                false,
            )
            .unwrap_err();
        assert_eq!(d.capabilities, ["fs:read", "os:exec"]);
        assert!(d.reason.contains("fs:read, os:exec"));
    }

    #[test]
    fn deny_wins_and_rules_add_per_plugin() {
        let p = policy(r#"{"grant": ["log", "fs:read"], "deny": ["fs:read"], "plugins": {"b": {"grant": ["os:env"], "deny": ["log"]}}}"#).unwrap();
        assert!(!p.allows("a", "fs:read"));
        assert!(p.allows("a", "log"));
        assert!(p.allows("b", "os:env"));
        assert!(!p.allows("b", "log"));
        assert!(!p.allows("a", "os:env"));
    }

    #[test]
    fn trust_comes_from_origin_rules_and_signatures() {
        let p = policy(r#"{"plugins": {"t": {"trust": "trusted"}}}"#).unwrap();
        assert_eq!(p.trust_of("t", Origin::File), Trust::Trusted);
        assert_eq!(p.trust_of("u", Origin::File), Trust::Sandboxed);
        assert_eq!(p.trust_of("u", Origin::Inline), Trust::Trusted);
        let g = p
            .admit(
                "u",
                Origin::File,
                &strings(&["os:exec"]),
                Limits::default(),
                None,
                true,
            )
            .unwrap();
        assert_eq!(g.trust, Trust::Trusted);
        let open = policy(r#"{"trust": "trusted"}"#).unwrap();
        assert_eq!(open.trust_of("x", Origin::File), Trust::Trusted);
    }

    #[test]
    fn native_plugins_need_the_native_capability() {
        let p = policy(r#"{"grant": ["log"]}"#).unwrap();
        let d = p
            .admit("n", Origin::Native, &[], Limits::default(), None, false)
            .unwrap_err();
        assert_eq!(d.capabilities, ["native"]);
        let g = Policy::default()
            .admit("n", Origin::Native, &[], Limits::default(), None, false)
            .unwrap();
        assert_eq!(g.trust, Trust::Trusted);
    }

    #[test]
    fn limits_are_capped_by_the_policy_or_the_plugin_rule() {
        let p = policy(r#"{"limits": {"instructions": 1000, "time_ms": 50}, "plugins": {"big": {"limits": {"instructions": 5000}}}}"#).unwrap();
        let asked = Limits {
            instructions: Some(2000),
            time_ms: None,
            depth: Some(10),
        };
        let g = p.admit("a", Origin::File, &[], asked, None, false).unwrap();
        assert_eq!(
            g.limits,
            Limits {
                instructions: Some(1000),
                time_ms: Some(50),
                depth: Some(10)
            }
        );
        let g = p
            .admit("big", Origin::File, &[], asked, None, false)
            .unwrap();
        assert_eq!(
            g.limits,
            Limits {
                instructions: Some(2000),
                time_ms: None,
                depth: Some(10)
            }
        );
    }

    #[test]
    fn paths_and_modules_come_only_with_their_capability() {
        let p = policy(r#"{"grant": ["fs:read", "require"], "paths": {"read": ["/srv/data"], "write": ["/tmp/out"]}, "modules": ["cjson"]}"#).unwrap();
        let root = Path::new("/plugins/a");
        let g = p
            .admit(
                "a",
                Origin::File,
                &strings(&["fs:read", "require"]),
                Limits::default(),
                Some(root),
                false,
            )
            .unwrap();
        assert_eq!(
            g.read,
            [PathBuf::from("/plugins/a"), PathBuf::from("/srv/data")]
        );
        assert!(g.write.is_empty());
        assert_eq!(g.modules, ["cjson"]);
        let g = p
            .admit("a", Origin::File, &[], Limits::default(), Some(root), false)
            .unwrap();
        assert!(g.read.is_empty() && g.modules.is_empty());
    }

    #[test]
    fn malformed_policies_name_the_field() {
        for (text, wanted) in [
            (
                r#"{"grant": ["teleport"]}"#,
                "grant: unknown capability \"teleport\"",
            ),
            (
                r#"{"paths": {"read": ["relative/dir"]}}"#,
                "paths.read[1]: \"relative/dir\" is not an absolute path",
            ),
            (r#"{"paths": {"write": ["/a/../b"]}}"#, "paths.write[1]"),
            (r#"{"modules": ["bad name"]}"#, "modules: \"bad name\""),
            (r#"{"limits": {"instructions": 0}}"#, "limits.instructions"),
            (r#"{"limits": {"time_ms": 1.5}}"#, "limits.time_ms"),
            (r#"{"max_quota_failures": 0}"#, "max_quota_failures"),
            (r#"{"host_globals": ["1x"]}"#, "host_globals"),
            (
                r#"{"plugins": {"p": {"deny": ["nope"]}}}"#,
                "plugins.p.deny",
            ),
            (
                r#"{"plugins": {"p": {"limits": {"depth": -1}}}}"#,
                "plugins.p.limits.depth",
            ),
        ] {
            let err = policy(text).unwrap_err();
            assert!(err.contains(wanted), "{text}: {err}");
        }
        assert!(policy(r#"{"trust": "maybe"}"#).is_err());
        assert!(policy(r#"{"grnt": []}"#).is_err());
    }

    #[test]
    fn paths_resolve_through_symlinks_and_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let inside = dir.join("plugin");
        let outside = dir.join("secret");
        fs::create_dir_all(&inside).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("key"), "x").unwrap();
        fs::write(inside.join("data.txt"), "x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.join("key"), inside.join("link")).unwrap();
        let allowed = [inside.clone()];
        assert!(resolve_allowed(&allowed, Some(&inside), "data.txt").is_ok());
        assert!(resolve_allowed(&allowed, Some(&inside), "new.txt").is_ok());
        assert!(resolve_allowed(&allowed, Some(&inside), "../secret/key").is_err());
        assert!(
            resolve_allowed(
                &allowed,
                Some(&inside),
                outside.join("key").to_str().unwrap()
            )
            .is_err()
        );
        #[cfg(unix)]
        assert!(resolve_allowed(&allowed, Some(&inside), "link").is_err());
        assert!(resolve_allowed(&allowed, Some(&inside), "missing/dir/file").is_err());
        assert!(resolve_allowed(&allowed, None, "data.txt").is_err());
        assert!(resolve_allowed(&allowed, Some(&inside), "").is_err());
    }
}
