//! Plugin manifests: `plugin.toml`, `plugin.json`, or the `manifest` table of a
//! Lua plugin. Every form goes through the same serde structure and the same
//! checks, so a plugin means the same thing whichever way it is written.

use std::collections::BTreeMap;
use std::fmt;

use semver::{Version, VersionReq};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::Error;

/// The qtforge plugin API this host implements (`qtforge.core.API_VERSION`).
pub const HOST_API_VERSION: ApiVersion = ApiVersion { major: 1, minor: 0 };

/// The entry file of a folder plugin whose manifest names none.
pub const DEFAULT_ENTRY: &str = "init.lua";

/// Capabilities a manifest may request; each grants one part of the host.
pub const CAPABILITIES: &[&str] = &[
    "log",
    "bus:publish",
    "bus:subscribe",
    "config:read",
    "config:write",
    "fs:read",
    "fs:write",
    "os:env",
    "os:exec",
    "require",
    "debug",
    "host",
    "plugins",
    "native",
];

/// Longest plugin id; ids appear in paths, logs and metric labels.
const MAX_NAME_LEN: usize = 64;

/// A plugin API version, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    pub major: u64,
    pub minor: u64,
}

impl ApiVersion {
    /// Reads `"1.0"` (a third, patch part is accepted and ignored).
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let mut parts = text.trim().split('.');
        let number = |part: Option<&str>| {
            part.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u64>().ok())
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        match parts.next() {
            None => {}
            Some(patch) => {
                number(Some(patch))?;
                if parts.next().is_some() {
                    return None;
                }
            }
        }
        Some(ApiVersion { major, minor })
    }

    /// A plugin written for `self` runs on `host` when the majors match and
    /// the host's minor is at least the plugin's.
    pub fn runs_on(self, host: ApiVersion) -> bool {
        self.major == host.major && self.minor <= host.minor
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One entry of `[[dependencies]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub name: String,
    pub range: VersionReq,
    pub optional: bool,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub version: Version,
    pub description: String,
    pub api_version: ApiVersion,
    /// Entry file relative to the plugin folder; `None` for single-file and inline plugins.
    pub entry: Option<String>,
    pub capabilities: Vec<String>,
    pub priority: i64,
    pub exports: Vec<String>,
    pub tags: Vec<String>,
    pub dependencies: Vec<Dependency>,
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// `[config]`: the defaults, which also fix each key's type.
    pub config: Map<String, Value>,
    pub authors: Vec<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    /// Keep the service contracts the plugin registered after it unloads.
    pub retain_contracts_on_unload: bool,
    /// `[integrity]`: the sha256 of each file of the plugin, by relative path.
    pub integrity: BTreeMap<String, String>,
    /// `[limits]`: the quotas the plugin asks for (the host's policy caps them).
    pub limits: Limits,
}

/// Quotas on each call into a sandboxed plugin; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// VM instructions per call (counted by a hook every few hundred).
    pub instructions: Option<u64>,
    /// Wall time per call, in milliseconds.
    pub time_ms: Option<u64>,
    /// Lua call depth below the call.
    pub depth: Option<u64>,
}

impl Limits {
    /// Each limit the smaller of the two; a limit only one side sets is kept.
    pub fn capped_by(self, cap: Limits) -> Limits {
        fn min(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        Limits {
            instructions: min(self.instructions, cap.instructions),
            time_ms: min(self.time_ms, cap.time_ms),
            depth: min(self.depth, cap.depth),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.instructions.is_none() && self.time_ms.is_none() && self.depth.is_none()
    }
}

/// `[limits]` as written: numbers, checked to be whole and positive.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    #[serde(default)]
    instructions: Option<f64>,
    #[serde(default)]
    time_ms: Option<f64>,
    #[serde(default)]
    depth: Option<f64>,
}

/// Largest limit accepted: integers every Lua represents exactly.
const MAX_LIMIT: f64 = 9_007_199_254_740_992.0;

impl RawLimits {
    /// The checked limits, or what is wrong with them (`at` names the table).
    pub fn check(&self, at: &str) -> Result<Limits, String> {
        let field = |name: &str, value: Option<f64>| match value {
            None => Ok(None),
            Some(v) if v.fract() == 0.0 && (1.0..=MAX_LIMIT).contains(&v) => Ok(Some(v as u64)),
            Some(v) => Err(format!(
                "{at}.{name}: {v} is not a whole number of at least 1"
            )),
        };
        Ok(Limits {
            instructions: field("instructions", self.instructions)?,
            time_ms: field("time_ms", self.time_ms)?,
            depth: field("depth", self.depth)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default, rename = "api-version", alias = "api_version")]
    api_version: Option<String>,
    #[serde(default)]
    entry: Option<String>,
    #[serde(default, deserialize_with = "list")]
    capabilities: Vec<String>,
    #[serde(default, deserialize_with = "integer")]
    priority: i64,
    #[serde(default, deserialize_with = "list")]
    exports: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    dependencies: Vec<RawDependency>,
    #[serde(default, deserialize_with = "list")]
    before: Vec<String>,
    #[serde(default, deserialize_with = "list")]
    after: Vec<String>,
    #[serde(default, deserialize_with = "config")]
    config: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "list")]
    authors: Vec<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    homepage: Option<String>,
    #[serde(default)]
    retain_contracts_on_unload: bool,
    #[serde(default)]
    integrity: BTreeMap<String, String>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    optional: bool,
}

/// A list; an empty Lua table `{}` arrives as an empty map and counts as an empty list.
fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ListVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
            match map.next_key::<serde::de::IgnoredAny>()? {
                None => Ok(Vec::new()),
                Some(_) => Err(serde::de::Error::custom(
                    "expected a list, got a table with keys",
                )),
            }
        }
    }

    deserializer.deserialize_any(ListVisitor(std::marker::PhantomData))
}

/// An integer; LuaJIT has only doubles, so `3.0` is accepted as 3.
fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Ok(value as i64)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected an integer, got {value}"
        )))
    }
}

/// `[config]` as JSON values, refusing what JSON cannot hold: serde_json
/// would quietly make a TOML `nan` or `inf` a null.
fn config<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Map<String, Value>>, D::Error> {
    match Option::<ConfigValue>::deserialize(deserializer)? {
        None => Ok(None),
        Some(ConfigValue(Value::Object(map))) => Ok(Some(map)),
        Some(_) => Err(serde::de::Error::custom("expected a table")),
    }
}

/// One configuration value, read as a `serde_json::Value` is, but a float
/// must be finite.
pub(crate) struct ConfigValue(pub(crate) Value);

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> serde::de::Visitor<'de> for ConfigVisitor {
    type Value = ConfigValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a configuration value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<ConfigValue, E> {
        Ok(ConfigValue(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<ConfigValue, E> {
        Ok(ConfigValue(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<ConfigValue, E> {
        Ok(ConfigValue(Value::from(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ConfigValue, E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => Ok(ConfigValue(Value::Number(n))),
            None => Err(E::custom(format!(
                "{v} is not a value JSON can hold (configuration is JSON: no nan or inf)"
            ))),
        }
    }

    fn visit_str<E>(self, v: &str) -> Result<ConfigValue, E> {
        Ok(ConfigValue(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<ConfigValue, E> {
        Ok(ConfigValue(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<ConfigValue, E> {
        Ok(ConfigValue(Value::Null))
    }

    fn visit_none<E>(self) -> Result<ConfigValue, E> {
        Ok(ConfigValue(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<ConfigValue, D::Error> {
        ConfigValue::deserialize(deserializer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<ConfigValue, A::Error> {
        let mut items = Vec::new();
        while let Some(ConfigValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(ConfigValue(Value::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ConfigValue, A::Error> {
        let mut entries = Map::new();
        while let Some((ConfigKey(key), ConfigValue(value))) = map.next_entry()? {
            entries.insert(key, value);
        }
        Ok(ConfigValue(Value::Object(entries)))
    }
}

/// A key of a configuration table: a string, as JSON's are.
struct ConfigKey(String);

impl<'de> Deserialize<'de> for ConfigKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = ConfigKey;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_str<E>(self, v: &str) -> Result<ConfigKey, E> {
                Ok(ConfigKey(v.to_owned()))
            }

            fn visit_string<E>(self, v: String) -> Result<ConfigKey, E> {
                Ok(ConfigKey(v))
            }
        }

        deserializer.deserialize_string(KeyVisitor)
    }
}

/// Whether `name` is a valid plugin id: `[a-z0-9_.-]+`, starting with a letter or digit.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

fn is_identifier(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// 1-based line and column of a byte offset, for parse errors.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Manifest {
    /// Reads a `plugin.toml`. `source` names the file in error messages.
    pub fn from_toml(text: &str, source: &str) -> Result<Manifest, Error> {
        // straight into the manifest's fields: no intermediate value, and a
        // misplaced value keeps its position in the file
        let at = |e: &toml::de::Error| {
            e.span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!(" (line {line}, column {column})")
                })
                .unwrap_or_default()
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            invalid(source, format!("{at}{}", e.message().trim()))
        })?;
        let raw: RawManifest = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.inner();
            let message = format!("{}{}", inner.message().trim(), at(inner));
            if path == "." {
                invalid(source, message)
            } else {
                invalid(source, format!("{path}: {message}"))
            }
        })?;
        raw.validate(source)
    }

    /// Reads a `plugin.json`.
    pub fn from_json(text: &str, source: &str) -> Result<Manifest, Error> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            invalid(
                source,
                format!("line {}, column {}: {message}", e.line(), e.column()),
            )
        })?;
        Manifest::from_value(value, source)
    }

    /// Checks a manifest already read into a value (a Lua table, a parsed file).
    pub fn from_value(value: Value, source: &str) -> Result<Manifest, Error> {
        if !value.is_object() {
            return Err(invalid(source, "a manifest must be a table".to_owned()));
        }
        let raw: RawManifest = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." {
                invalid(source, inner)
            } else {
                invalid(source, format!("{path}: {inner}"))
            }
        })?;
        raw.validate(source)
    }

    /// Refuses a plugin written for an API this host does not offer.
    pub fn check_api(&self, host: ApiVersion) -> Result<(), Error> {
        if self.api_version.runs_on(host) {
            Ok(())
        } else {
            Err(Error::ApiVersionMismatch {
                plugin: self.name.clone(),
                required: self.api_version.to_string(),
                host: host.to_string(),
            })
        }
    }
}

fn invalid(source: &str, reason: String) -> Error {
    Error::InvalidManifest {
        source: source.to_owned(),
        reason,
    }
}

impl RawManifest {
    fn validate(self, source: &str) -> Result<Manifest, Error> {
        let fail = |reason: String| Err(invalid(source, reason));
        if !is_valid_name(&self.name) {
            return fail(format!(
                "name: {:?} is not a plugin id (lower-case letters, digits, '_', '.', '-'; at most {MAX_NAME_LEN})",
                self.name
            ));
        }
        let version = match Version::parse(self.version.trim()) {
            Ok(v) => v,
            Err(e) => {
                return fail(format!(
                    "version: {:?} is not a semantic version ({e})",
                    self.version
                ));
            }
        };
        let api_version = match self.api_version.as_deref() {
            None => HOST_API_VERSION,
            Some(text) => match ApiVersion::parse(text) {
                Some(v) => v,
                None => {
                    return fail(format!(
                        "api-version: {text:?} is not a version such as \"1.0\""
                    ));
                }
            },
        };
        if let Some(entry) = &self.entry {
            let bad = entry.is_empty()
                || entry.starts_with('/')
                || entry.contains('\\')
                || entry.split('/').any(|part| part == ".." || part.is_empty())
                || !entry.ends_with(".lua");
            if bad {
                return fail(format!(
                    "entry: {entry:?} must be a relative path to a .lua file inside the plugin folder"
                ));
            }
        }
        unique("capabilities", &self.capabilities).map_err(|r| invalid(source, r))?;
        if let Some(unknown) = self
            .capabilities
            .iter()
            .find(|c| !CAPABILITIES.contains(&c.as_str()))
        {
            return fail(format!(
                "capabilities: unknown capability {unknown:?} (known: {})",
                CAPABILITIES.join(", ")
            ));
        }
        unique("exports", &self.exports).map_err(|r| invalid(source, r))?;
        if let Some(bad) = self.exports.iter().find(|e| !is_identifier(e)) {
            return fail(format!("exports: {bad:?} is not a function name"));
        }
        if let Some(bad) = self.tags.iter().find(|t| t.trim().is_empty()) {
            return fail(format!("tags: {bad:?} is empty"));
        }
        for (field, names) in [("before", &self.before), ("after", &self.after)] {
            unique(field, names).map_err(|r| invalid(source, r))?;
            if let Some(bad) = names.iter().find(|n| !is_valid_name(n) || **n == self.name) {
                return fail(format!("{field}: {bad:?} is not another plugin's id"));
            }
        }
        for (file, hash) in &self.integrity {
            if !crate::security::integrity::is_inside(file) {
                return fail(format!(
                    "integrity: {file:?} is not a path inside the plugin's folder"
                ));
            }
            if !crate::security::integrity::is_hash(hash) {
                return fail(format!(
                    "integrity.{file}: {hash:?} is not \"sha256:\" and 64 lower-case hex digits"
                ));
            }
        }
        let limits = self
            .limits
            .check("limits")
            .map_err(|r| invalid(source, r))?;
        let mut dependencies = Vec::with_capacity(self.dependencies.len());
        for (i, dep) in self.dependencies.into_iter().enumerate() {
            let at = format!("dependencies[{i}]");
            if !is_valid_name(&dep.name) {
                return fail(format!("{at}.name: {:?} is not a plugin id", dep.name));
            }
            if dep.name == self.name {
                return fail(format!("{at}.name: a plugin cannot depend on itself"));
            }
            if dependencies.iter().any(|d: &Dependency| d.name == dep.name) {
                return fail(format!("{at}.name: {:?} is listed twice", dep.name));
            }
            let text = dep.version.as_deref().unwrap_or("*");
            let range = match VersionReq::parse(text.trim()) {
                Ok(r) => r,
                Err(e) => {
                    return fail(format!(
                        "{at}.version: {text:?} is not a version range ({e})"
                    ));
                }
            };
            dependencies.push(Dependency {
                name: dep.name,
                range,
                optional: dep.optional,
            });
        }
        Ok(Manifest {
            name: self.name,
            version,
            description: self.description,
            api_version,
            entry: self.entry,
            capabilities: self.capabilities,
            priority: self.priority,
            exports: self.exports,
            tags: self.tags,
            dependencies,
            before: self.before,
            after: self.after,
            config: self.config.unwrap_or_default(),
            authors: self.authors,
            license: self.license,
            homepage: self.homepage,
            retain_contracts_on_unload: self.retain_contracts_on_unload,
            integrity: self.integrity,
            limits,
        })
    }
}

fn unique(field: &str, items: &[String]) -> Result<(), String> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(format!("{field}: {item:?} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits_parse_and_cap() {
        let m = super::Manifest::from_toml(
            "name = \"a\"\nversion = \"1.0.0\"\n[limits]\ninstructions = 1000\ndepth = 20\n",
            "plugin.toml",
        )
        .unwrap();
        let asked = m.limits;
        assert_eq!(asked.instructions, Some(1000));
        assert_eq!(asked.time_ms, None);
        let cap = super::Limits {
            instructions: Some(500),
            time_ms: Some(10),
            depth: None,
        };
        let got = asked.capped_by(cap);
        assert_eq!(
            (got.instructions, got.time_ms, got.depth),
            (Some(500), Some(10), Some(20))
        );
    }

    use super::*;

    #[test]
    fn config_refuses_what_json_cannot_hold() {
        for (value, shown) in [("nan", "NaN"), ("inf", "inf"), ("-inf", "-inf")] {
            let text = format!(
                "name = \"n\"\nversion = \"1.0.0\"\n[config]\nok = 1.5\n[config.deep]\nlist = [1, {value}]\n"
            );
            let err = Manifest::from_toml(&text, "plugin.toml")
                .err()
                .map(|e| e.details());
            let err = err.unwrap_or_default();
            assert!(err.contains("config.deep.list[1]"), "{err}");
            assert!(
                err.contains(&format!("{shown} is not a value JSON can hold")),
                "{err}"
            );
            assert!(err.contains("line 6"), "{err}");
        }
        let text = "name = \"n\"\nversion = \"1.0.0\"\n[config]\nf = 1.5\nl = [1, \"a\"]\nt = { a = true }\n";
        let m = Manifest::from_toml(text, "plugin.toml").map_err(|e| e.to_string());
        let config = m.map(|m| Value::Object(m.config));
        assert_eq!(
            config,
            Ok(serde_json::json!({ "f": 1.5, "l": [1, "a"], "t": { "a": true } }))
        );
    }

    const FULL: &str = r#"
name = "greeter"
version = "1.2.0"
description = "Greets people"
api-version = "1.0"
entry = "init.lua"
capabilities = ["bus:publish", "fs:read"]
priority = 5
exports = ["greet"]
tags = ["example"]
before = ["late"]
after = ["early"]
[[dependencies]]
name = "logger"
version = "^1.0"
[[dependencies]]
name = "metrics"
optional = true
[config]
greeting = "Hello"
"#;

    fn reason(result: Result<Manifest, Error>) -> String {
        match result {
            Err(Error::InvalidManifest { reason, .. }) => reason,
            other => panic!("expected invalid_manifest, got {other:?}"),
        }
    }

    #[test]
    fn reads_every_field_of_a_toml_manifest() -> Result<(), Error> {
        let m = Manifest::from_toml(FULL, "plugin.toml")?;
        assert_eq!(m.name, "greeter");
        assert_eq!(m.version, Version::new(1, 2, 0));
        assert_eq!(m.api_version, ApiVersion { major: 1, minor: 0 });
        assert_eq!(m.entry.as_deref(), Some("init.lua"));
        assert_eq!(m.capabilities, ["bus:publish", "fs:read"]);
        assert!(m.limits.is_empty());
        assert_eq!(m.priority, 5);
        assert_eq!(m.dependencies.len(), 2);
        assert_eq!(m.dependencies[0].range.to_string(), "^1.0");
        assert!(m.dependencies[1].optional);
        assert_eq!(m.dependencies[1].range, VersionReq::STAR);
        assert_eq!(m.config.get("greeting"), Some(&Value::from("Hello")));
        assert_eq!(
            (m.before.as_slice(), m.after.as_slice()),
            (&["late".to_owned()][..], &["early".to_owned()][..])
        );
        Ok(())
    }

    #[test]
    fn json_and_toml_mean_the_same() -> Result<(), Error> {
        let json = r#"{"name": "greeter", "version": "1.2.0", "api-version": "1.0",
            "dependencies": [{"name": "logger", "version": "^1.0"}], "config": {"greeting": "Hello"}}"#;
        let toml = "name = \"greeter\"\nversion = \"1.2.0\"\napi-version = \"1.0\"\n[[dependencies]]\nname = \"logger\"\nversion = \"^1.0\"\n[config]\ngreeting = \"Hello\"\n";
        assert_eq!(
            Manifest::from_json(json, "a")?,
            Manifest::from_toml(toml, "a")?
        );
        Ok(())
    }

    #[test]
    fn names_the_unknown_key() {
        let r = reason(Manifest::from_toml(
            "name = \"a\"\nversion = \"1.0.0\"\ncolour = 3\n",
            "p",
        ));
        assert!(r.contains("unknown field `colour`"), "{r}");
    }

    #[test]
    fn names_the_field_of_a_wrong_type() {
        let r = reason(Manifest::from_toml(
            "name = \"a\"\nversion = \"1.0.0\"\n[[dependencies]]\nname = \"b\"\nversion = 1\n",
            "p",
        ));
        assert!(
            r.starts_with("dependencies[0].version: invalid type"),
            "{r}"
        );
        let r = reason(Manifest::from_json(
            r#"{"name": "a", "version": "1.0.0", "tags": "x"}"#,
            "p",
        ));
        assert!(r.starts_with("tags:"), "{r}");
        let r = reason(Manifest::from_json(
            r#"{"name": 5, "version": "1.0.0"}"#,
            "p",
        ));
        assert!(r.starts_with("name: invalid type"), "{r}");
    }

    #[test]
    fn gives_line_and_column_of_syntax_errors() {
        let r = reason(Manifest::from_toml("name = \"a\"\nversion = \n", "p"));
        assert!(r.starts_with("line 2, column"), "{r}");
        let r = reason(Manifest::from_json(
            "{\"name\": \"a\",\n \"version\": }",
            "p",
        ));
        assert!(r.starts_with("line 2, column"), "{r}");
    }

    #[test]
    fn requires_name_and_version() {
        assert!(
            reason(Manifest::from_toml("version = \"1.0.0\"", "p"))
                .contains("missing field `name`")
        );
        assert!(
            reason(Manifest::from_toml("name = \"a\"", "p")).contains("missing field `version`")
        );
    }

    #[test]
    fn checks_each_field() {
        let cases = [
            ("name = \"Bad Name\"\nversion = \"1.0.0\"", "name:"),
            ("name = \"a\"\nversion = \"1.0\"", "version:"),
            (
                "name = \"a\"\nversion = \"1.0.0\"\napi-version = \"one\"",
                "api-version:",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\nentry = \"../x.lua\"",
                "entry:",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\nentry = \"/x.lua\"",
                "entry:",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\nentry = \"x.txt\"",
                "entry:",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\ncapabilities = [\"teleport\"]",
                "capabilities: unknown capability",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\n[limits]\ninstructions = 0",
                "limits.instructions: 0 is not a whole number",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\n[limits]\ntime_ms = 2.5",
                "limits.time_ms: 2.5 is not a whole number",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\n[limits]\nmemory = 5",
                "unknown field `memory`",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\ncapabilities = [\"log\", \"log\"]",
                "listed twice",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\nexports = [\"not valid\"]",
                "exports:",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\nbefore = [\"a\"]",
                "before:",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\n[[dependencies]]\nname = \"a\"",
                "itself",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\n[[dependencies]]\nname = \"b\"\nversion = \">>1\"",
                "not a version range",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\n[[dependencies]]\nname = \"b\"\n[[dependencies]]\nname = \"b\"",
                "listed twice",
            ),
            (
                "name = \"a\"\nversion = \"1.0.0\"\npriority = 1.5",
                "priority:",
            ),
        ];
        for (text, expected) in cases {
            let r = reason(Manifest::from_toml(text, "p"));
            assert!(r.contains(expected), "{text:?}: {r}");
        }
    }

    #[test]
    fn accepts_empty_lua_tables_as_empty_lists() -> Result<(), Error> {
        let value = serde_json::json!({"name": "a", "version": "1.0.0", "capabilities": {}, "dependencies": {}, "priority": 2.0});
        let m = Manifest::from_value(value, "inline")?;
        assert!(m.capabilities.is_empty() && m.dependencies.is_empty());
        assert_eq!(m.priority, 2);
        Ok(())
    }

    #[test]
    fn api_versions_match_on_major_and_minor() -> Result<(), Error> {
        let host = ApiVersion { major: 1, minor: 2 };
        assert!(ApiVersion::parse("1.0").is_some_and(|v| v.runs_on(host)));
        assert!(ApiVersion::parse("1.2.7").is_some_and(|v| v.runs_on(host)));
        assert!(!ApiVersion::parse("1.3").is_some_and(|v| v.runs_on(host)));
        assert!(!ApiVersion::parse("2.0").is_some_and(|v| v.runs_on(host)));
        for bad in ["", "1", "1.", "a.b", "1.0.0.0", "-1.0"] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad:?}");
        }
        let m = Manifest::from_toml(
            "name = \"a\"\nversion = \"1.0.0\"\napi-version = \"2.0\"",
            "p",
        )?;
        assert!(matches!(
            m.check_api(HOST_API_VERSION),
            Err(Error::ApiVersionMismatch { .. })
        ));
        Ok(())
    }

    #[test]
    fn plugin_ids() {
        for good in ["a", "greeter", "my-plugin", "x.y_z", "0day"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "A", "-a", ".a", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
