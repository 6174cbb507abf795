//! The errors qtforge reports, and their stable codes.
//!
//! Every failure that reaches Lua goes through [`Error`]: misuse becomes a Lua
//! error whose message names the function, an expected failure becomes an
//! `Error` value (`code`, `message`, `details`) in a result table. The code is
//! what programs branch on; it never changes once published.

pub mod lua;

use std::fmt;

/// A failure inside qtforge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A string that should be a semantic version (`1.2.3-rc.1`) is not one.
    InvalidVersion { input: String, reason: String },
    /// A string that should be a version range (`^1.2`, `>=1.0, <2.0`) is not one.
    InvalidRange { input: String, reason: String },
    /// A path that should hold a plugin does not exist.
    NotFound { path: String },
    /// No plugin with this id is loaded.
    UnknownPlugin { id: String },
    /// `ctx.require(name)` found no such module in the plugin's folder.
    ModuleNotFound { name: String, searched: Vec<String> },
    /// A path exists but holds nothing qtforge can load as a plugin.
    NotAPlugin { path: String, reason: String },
    /// A native library does not export the descriptor function.
    SymbolMissing { path: String, symbol: String },
    /// A native library was built for another version of the plugin ABI.
    AbiMismatch {
        path: String,
        found: u32,
        expected: u32,
    },
    /// A native library was built for another Lua (a Lua 5.4 build in a LuaJIT host).
    LuaMismatch {
        path: String,
        found: String,
        host: String,
    },
    /// A manifest does not parse, or a field in it is missing, unknown or wrong.
    InvalidManifest { source: String, reason: String },
    /// A plugin was written for a qtforge plugin API this host does not offer.
    ApiVersionMismatch {
        plugin: String,
        required: String,
        host: String,
    },
    /// A plugin with the same id is already loaded (or being loaded).
    AlreadyLoaded { id: String },
    /// A required dependency is not loaded (or failed to load).
    DependencyMissing {
        plugin: String,
        dependency: String,
        range: String,
        reason: String,
    },
    /// A dependency is loaded, but at a version outside the required range.
    DependencyVersion {
        plugin: String,
        dependency: String,
        range: String,
        found: String,
    },
    /// Plugins depend on each other in a circle; `cycle` starts and ends with the same id.
    DependencyCycle { cycle: Vec<String> },
    /// A plugin's code failed: a syntax error, or an error raised by its entry or a hook.
    LoadError {
        plugin: String,
        stage: String,
        message: String,
        location: String,
    },
    /// A plugin cannot be unloaded while loaded plugins depend on it.
    HasDependents {
        plugin: String,
        dependents: Vec<String>,
    },
    /// A configuration does not match what the plugin's manifest declares.
    InvalidConfig {
        plugin: String,
        key: String,
        reason: String,
    },
    /// An operation is not possible in the plugin's current state.
    InvalidState {
        plugin: String,
        state: String,
        operation: String,
    },
    /// A subscription pattern is not dot-separated segments with whole-segment `*`/`#`.
    InvalidPattern { pattern: String, reason: String },
    /// A topic to publish on is empty, has an empty segment or holds a wildcard.
    InvalidTopic { topic: String, reason: String },
    /// A service contract's definition is malformed.
    InvalidContract { name: String, reason: String },
    /// A configuration or data file does not parse; `line` and `column` count from 1.
    ParseError {
        source: String,
        line: usize,
        column: usize,
        reason: String,
    },
    /// Reading, writing or watching a file failed.
    Io { path: String, reason: String },
    /// A dotted configuration key is malformed (`a..b`), or does not fit the data (`list.x`).
    InvalidKey { key: String, reason: String },
    /// A value cannot be stored where it is asked to go (`nil` in TOML, a function anywhere).
    InvalidValue { key: String, reason: String },
    /// A JSON Schema is itself malformed.
    InvalidSchema { reason: String },
    /// A plugin's files differ from the hashes its manifest's `[integrity]` lists.
    IntegrityMismatch { plugin: String, differences: String },
    /// A plugin's files differ from the hashes the `qtforge.lock` beside its folder lists.
    LockMismatch {
        plugin: String,
        lock: String,
        differences: String,
    },
    /// A plugin's `plugin.sig` is malformed, or its signature does not match the plugin's files.
    SignatureInvalid { plugin: String, reason: String },
    /// An owner holds as many resources of a kind as its quota allows.
    QuotaExceeded {
        owner: String,
        kind: String,
        limit: u64,
    },
    /// A metric handed over for export is malformed: a bad name or label name, a
    /// label or series given twice, a negative counter, a field of the wrong type.
    /// `metric` is its full name (empty when not known yet); `at` is where the
    /// fault sits in what the caller gave (`families[2].samples[1]`, counted
    /// from 1) and `reason` finishes the sentence it starts.
    InvalidMetric {
        metric: String,
        at: String,
        reason: String,
    },
    /// A workflow cannot run: a step named twice, a dependency on no step, a
    /// cycle, a plugin not loaded or an export missing. `problems` lists each,
    /// one sentence apiece, in the order the steps were added.
    InvalidWorkflow {
        workflow: String,
        problems: Vec<String>,
    },
}

impl Error {
    /// The stable code programs branch on (`error.code` in Lua).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidVersion { .. } => "invalid_version",
            Error::InvalidRange { .. } => "invalid_range",
            Error::NotFound { .. } | Error::UnknownPlugin { .. } | Error::ModuleNotFound { .. } => {
                "not_found"
            }
            Error::NotAPlugin { .. } => "not_a_plugin",
            Error::SymbolMissing { .. } => "symbol_missing",
            Error::AbiMismatch { .. } => "abi_mismatch",
            Error::LuaMismatch { .. } => "lua_mismatch",
            Error::InvalidManifest { .. } => "invalid_manifest",
            Error::ApiVersionMismatch { .. } => "api_version_mismatch",
            Error::AlreadyLoaded { .. } => "already_loaded",
            Error::DependencyMissing { .. } => "dependency_missing",
            Error::DependencyVersion { .. } => "dependency_version",
            Error::DependencyCycle { .. } => "dependency_cycle",
            Error::LoadError { .. } => "load_error",
            Error::HasDependents { .. } => "has_dependents",
            Error::InvalidConfig { .. } => "invalid_config",
            Error::InvalidState { .. } => "invalid_state",
            Error::InvalidPattern { .. } => "invalid_pattern",
            Error::InvalidTopic { .. } => "invalid_topic",
            Error::InvalidContract { .. } => "invalid_contract",
            Error::ParseError { .. } => "parse_error",
            Error::Io { .. } => "io_error",
            Error::InvalidKey { .. } => "invalid_key",
            Error::InvalidValue { .. } => "invalid_value",
            Error::InvalidSchema { .. } => "invalid_schema",
            Error::QuotaExceeded { .. } => "quota_exceeded",
            Error::InvalidMetric { .. } => "invalid_metric",
            Error::InvalidWorkflow { .. } => "invalid_workflow",
            Error::IntegrityMismatch { .. } | Error::LockMismatch { .. } => "integrity_mismatch",
            Error::SignatureInvalid { .. } => "signature_invalid",
        }
    }

    /// The plugin the failure concerns, when it names one.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Error::UnknownPlugin { id } | Error::AlreadyLoaded { id } => Some(id),
            Error::ApiVersionMismatch { plugin, .. }
            | Error::DependencyMissing { plugin, .. }
            | Error::DependencyVersion { plugin, .. }
            | Error::LoadError { plugin, .. }
            | Error::HasDependents { plugin, .. }
            | Error::InvalidConfig { plugin, .. }
            | Error::InvalidState { plugin, .. }
            | Error::IntegrityMismatch { plugin, .. }
            | Error::LockMismatch { plugin, .. }
            | Error::SignatureInvalid { plugin, .. } => Some(plugin),
            _ => None,
        }
    }

    /// More about the failure (`error.details` in Lua); empty when there is nothing more.
    pub fn details(&self) -> String {
        match self {
            Error::InvalidVersion { reason, .. }
            | Error::InvalidRange { reason, .. }
            | Error::NotAPlugin { reason, .. }
            | Error::InvalidManifest { reason, .. }
            | Error::DependencyMissing { reason, .. }
            | Error::InvalidConfig { reason, .. }
            | Error::InvalidPattern { reason, .. }
            | Error::InvalidTopic { reason, .. }
            | Error::InvalidContract { reason, .. }
            | Error::Io { reason, .. }
            | Error::InvalidKey { reason, .. }
            | Error::InvalidValue { reason, .. }
            | Error::SignatureInvalid { reason, .. }
            | Error::InvalidSchema { reason } => reason.clone(),
            Error::ParseError {
                source,
                line,
                column,
                reason,
            } => format!("{source}:{line}:{column}: {reason}"),
            Error::QuotaExceeded { .. } => String::new(),
            Error::InvalidMetric { .. } => String::new(),
            Error::InvalidWorkflow { problems, .. } => problems.join("; "),
            Error::IntegrityMismatch { differences, .. }
            | Error::LockMismatch { differences, .. } => differences.clone(),
            Error::LoadError { location, .. } => location.clone(),
            Error::DependencyCycle { cycle } => cycle.join(" -> "),
            Error::ModuleNotFound { searched, .. } => format!("looked for {}", searched.join(", ")),
            Error::HasDependents { dependents, .. } => dependents.join(", "),
            Error::NotFound { .. }
            | Error::UnknownPlugin { .. }
            | Error::ApiVersionMismatch { .. }
            | Error::AlreadyLoaded { .. }
            | Error::DependencyVersion { .. }
            | Error::InvalidState { .. } => String::new(),
            Error::SymbolMissing { path, .. }
            | Error::AbiMismatch { path, .. }
            | Error::LuaMismatch { path, .. } => path.clone(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidVersion { input, .. } => {
                write!(f, "{input:?} is not a semantic version")
            }
            Error::InvalidRange { input, .. } => write!(f, "{input:?} is not a version range"),
            Error::NotFound { path } => write!(f, "no plugin at {path}"),
            Error::UnknownPlugin { id } => write!(f, "no plugin {id:?} is loaded"),
            Error::ModuleNotFound { name, .. } => {
                write!(f, "no module {name:?} in the plugin's folder")
            }
            Error::NotAPlugin { path, .. } => write!(f, "{path} is not a plugin qtforge can load"),
            Error::SymbolMissing { symbol, .. } => {
                write!(
                    f,
                    "the library does not export {symbol}: it is not a qtforge plugin library"
                )
            }
            Error::AbiMismatch {
                found, expected, ..
            } => write!(
                f,
                "the library was built for plugin ABI version {found}, this qtforge reads version {expected}"
            ),
            Error::LuaMismatch { found, host, .. } => write!(
                f,
                "the library was built for {found}, but this host runs {host}: rebuild it for {host}"
            ),
            Error::InvalidManifest { source, .. } => write!(f, "invalid manifest in {source}"),
            Error::ApiVersionMismatch {
                plugin,
                required,
                host,
            } => write!(
                f,
                "plugin {plugin:?} needs plugin API {required}, this host offers {host}"
            ),
            Error::AlreadyLoaded { id } => write!(f, "a plugin {id:?} is already loaded"),
            Error::DependencyMissing {
                plugin,
                dependency,
                range,
                ..
            } => write!(
                f,
                "plugin {plugin:?} needs {dependency:?} ({range}), which is not loaded"
            ),
            Error::DependencyVersion {
                plugin,
                dependency,
                range,
                found,
            } => write!(
                f,
                "plugin {plugin:?} needs {dependency:?} {range}, but {found} is loaded"
            ),
            Error::DependencyCycle { cycle } => match cycle.first() {
                Some(first) => write!(f, "plugin {first:?} depends on itself through a cycle"),
                None => write!(f, "plugins depend on each other in a cycle"),
            },
            Error::LoadError {
                plugin,
                stage,
                message,
                ..
            } => {
                write!(f, "plugin {plugin:?} failed in {stage}: {message}")
            }
            Error::HasDependents { plugin, dependents } => write!(
                f,
                "plugin {plugin:?} has {} dependent plugin(s) loaded; unload them first or pass cascade = true",
                dependents.len()
            ),
            Error::InvalidConfig { plugin, key, .. } => {
                write!(f, "invalid configuration for plugin {plugin:?} at {key:?}")
            }
            Error::InvalidState {
                plugin,
                state,
                operation,
            } => {
                write!(
                    f,
                    "cannot {operation} plugin {plugin:?} while it is {state}"
                )
            }
            Error::InvalidPattern { pattern, .. } => {
                write!(f, "{pattern:?} is not a subscription pattern")
            }
            Error::InvalidTopic { topic, .. } => write!(f, "{topic:?} is not a topic"),
            Error::InvalidContract { name, .. } => {
                write!(f, "service contract {name:?} is malformed")
            }
            Error::ParseError {
                source,
                line,
                column,
                ..
            } => write!(f, "{source} does not parse at line {line}, column {column}"),
            Error::Io { path, .. } => write!(f, "cannot use {path}"),
            Error::InvalidKey { key, .. } => write!(f, "{key:?} is not a usable key"),
            Error::InvalidValue { key, .. } => write!(f, "the value at {key:?} cannot be stored"),
            Error::InvalidSchema { .. } => write!(f, "the JSON Schema is malformed"),
            Error::IntegrityMismatch { plugin, .. } => write!(
                f,
                "the files of plugin {plugin:?} are not the ones its [integrity] lists"
            ),
            Error::LockMismatch { plugin, lock, .. } => write!(
                f,
                "the files of plugin {plugin:?} are not the ones {lock} lists"
            ),
            Error::SignatureInvalid { plugin, .. } => {
                write!(f, "the signature of plugin {plugin:?} is not valid")
            }
            Error::QuotaExceeded { owner, kind, limit } => write!(
                f,
                "{owner:?} already holds {limit} resource(s) of kind {kind:?}, its quota"
            ),
            // all in the message: the place and the reason are what name the
            // label or field at fault
            Error::InvalidMetric { metric, at, reason } if metric.is_empty() => {
                write!(f, "cannot export metrics: {at} {reason}")
            }
            Error::InvalidMetric { metric, at, reason } => {
                write!(f, "cannot export metric {metric:?}: {at} {reason}")
            }
            Error::InvalidWorkflow { workflow, problems } => match problems.as_slice() {
                [] => write!(f, "workflow {workflow:?} cannot run"),
                [only] => write!(f, "workflow {workflow:?} cannot run: {only}"),
                [first, rest @ ..] => write!(
                    f,
                    "workflow {workflow:?} cannot run: {first} (and {} more problem(s))",
                    rest.len()
                ),
            },
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_messages_name_the_input() {
        let e = Error::InvalidVersion {
            input: "x.y".into(),
            reason: "unexpected character 'x' while parsing major version number".into(),
        };
        assert_eq!(e.code(), "invalid_version");
        assert_eq!(e.to_string(), "\"x.y\" is not a semantic version");
        assert!(e.details().contains("major version"));
        let e = Error::InvalidRange {
            input: ">>1".into(),
            reason: "bad".into(),
        };
        assert_eq!(e.code(), "invalid_range");
    }

    #[test]
    fn an_invalid_workflow_names_its_first_problem_and_lists_all() {
        let one = Error::InvalidWorkflow {
            workflow: "etl".into(),
            problems: vec!["two steps are named \"a\"".into()],
        };
        assert_eq!(one.code(), "invalid_workflow");
        assert_eq!(
            one.to_string(),
            "workflow \"etl\" cannot run: two steps are named \"a\""
        );
        let two = Error::InvalidWorkflow {
            workflow: "etl".into(),
            problems: vec!["first".into(), "second".into()],
        };
        assert_eq!(
            two.to_string(),
            "workflow \"etl\" cannot run: first (and 1 more problem(s))"
        );
        assert_eq!(two.details(), "first; second");
    }

    #[test]
    fn a_cycle_reads_as_a_path() {
        let e = Error::DependencyCycle {
            cycle: vec!["a".into(), "b".into(), "a".into()],
        };
        assert_eq!(e.code(), "dependency_cycle");
        assert_eq!(e.details(), "a -> b -> a");
        assert_eq!(
            e.to_string(),
            "plugin \"a\" depends on itself through a cycle"
        );
    }
}
