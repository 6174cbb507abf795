//! Logging: named loggers with levels, written to stderr, files and a queue.
//!
//! A [`LogHub`] is one logging setup: its sinks, a default level and a level per
//! logger name (`"audio.mixer"` inherits `"audio"`'s level when it has none of
//! its own). Messages go through `tracing`, so qtforge's own Rust code (a
//! watcher thread, say) can log into the same sinks with ordinary `tracing`
//! macros inside [`tracing::dispatcher::with_default`] on [`LogHub::dispatch`].
//!
//! The hub never installs a global subscriber: the module may be loaded into
//! several Lua states in one process, and the host may have a subscriber of its
//! own. Each hub owns a [`Dispatch`] and emits only inside `with_default`.
//!
//! Lua is single-threaded, so nothing here calls into Lua. Records meant for Lua
//! callbacks are pushed onto a bounded queue that the Lua side drains: after
//! each emit on its own thread, and when it polls for records other threads
//! logged.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::error::Error;

/// How many records the queue holds before new ones are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 10_000;

/// The target of events [`LogHub::emit`] sends; they name their logger in a field.
const EMIT_TARGET: &str = "qtforge::logger";

/// Targets under this prefix are qtforge's own: their events are logged even
/// without a `logger` field. Anything else (a dependency's tracing) stays out of
/// the sinks unless it names a logger.
const OWN_TARGETS: &str = "qtforge";

/// How severe a record is; ordered from `Trace` (least) to `Error` (most).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// Reads a level name: `trace`, `debug`, `info`, `warn` (or `warning`),
    /// `error`, in any case, since configuration files write `INFO` as often
    /// as `info`.
    pub fn parse(text: &str) -> Option<Level> {
        const NAMES: &[(&str, Level)] = &[
            ("trace", Level::Trace),
            ("debug", Level::Debug),
            ("info", Level::Info),
            ("warn", Level::Warn),
            ("warning", Level::Warn),
            ("error", Level::Error),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|&(_, level)| level)
    }

    /// The lower-case name, as `parse` reads it and JSON lines carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// The upper-case name padded to one width, so plain-text columns line up.
    fn label(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO ",
            Level::Warn => "WARN ",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Level> for tracing::Level {
    fn from(level: Level) -> tracing::Level {
        match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        }
    }
}

impl From<tracing::Level> for Level {
    fn from(level: tracing::Level) -> Level {
        match level {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            _ => Level::Error,
        }
    }
}

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// One line per record on the process's stderr.
    Stderr { json: bool },
    /// One line per record appended to a file; its folder must exist.
    File { path: PathBuf, json: bool },
    /// The queue [`LogHub::drain`] empties. Any number of queue sinks share
    /// one queue: a record is queued once while at least one is attached.
    Queue,
}

/// One logged message, as sinks write it and the queue hands it to Lua.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub level: Level,
    pub logger: String,
    pub message: String,
    pub fields: Map<String, Value>,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

/// An attached sink with its open writer.
#[derive(Debug)]
enum Sink {
    Stderr { json: bool },
    File { file: File, json: bool },
    Queue,
}

/// The default level and the levels set per logger name.
#[derive(Debug)]
struct Levels {
    default: Level,
    by_logger: HashMap<String, Level>,
}

impl Levels {
    /// The logger's own level, else its nearest dotted ancestor's, else the default.
    fn of(&self, logger: &str) -> Level {
        let mut name = logger;
        loop {
            if let Some(&level) = self.by_logger.get(name) {
                return level;
            }
            match name.rfind('.') {
                Some(dot) => name = &name[..dot],
                None => return self.default,
            }
        }
    }
}

/// What the hub and its layer share; the layer may run on any thread that
/// emits through the hub's dispatch.
#[derive(Debug)]
struct Shared {
    /// By sink id. Held while a record is written, so lines from different
    /// threads never interleave and reach every sink in the same order.
    sinks: Mutex<Vec<(usize, Sink)>>,
    levels: RwLock<Levels>,
    queue: Mutex<VecDeque<LogRecord>>,
    capacity: usize,
    dropped: AtomicU64,
}

/// Locks a mutex even after a panic elsewhere poisoned it: a log sink or
/// queue stays usable, and logging must not start panicking in turn.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn level_of(&self, logger: &str) -> Level {
        self.levels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .of(logger)
    }

    /// Writes a record to every sink and queues it when a queue sink is attached.
    fn publish(&self, record: LogRecord, at: SystemTime) {
        let sinks = lock(&self.sinks);
        let mut text = None;
        let mut json = None;
        let mut queued = false;
        for (_, sink) in sinks.iter() {
            // A failed write is skipped: logging must never fail the code that
            // logs, and there is nowhere better to report it.
            match sink {
                Sink::Stderr { json: as_json } => {
                    let line = line_for(*as_json, &record, at, &mut text, &mut json);
                    let _ = io::stderr().lock().write_all(line.as_bytes());
                }
                Sink::File {
                    file,
                    json: as_json,
                } => {
                    let line = line_for(*as_json, &record, at, &mut text, &mut json);
                    // One write per line, unbuffered, then flush: a crash loses nothing.
                    let mut file: &File = file;
                    let _ = file.write_all(line.as_bytes());
                    let _ = file.flush();
                }
                Sink::Queue => queued = true,
            }
        }
        if queued {
            let mut queue = lock(&self.queue);
            if queue.len() < self.capacity {
                queue.push_back(record);
            } else {
                // Keep what is queued (it explains how things started) and
                // count the loss, as a non-blocking writer drops new lines.
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(sinks);
    }
}

/// The line for a sink, built at most once per record however many sinks share it.
fn line_for<'a>(
    as_json: bool,
    record: &LogRecord,
    at: SystemTime,
    text: &'a mut Option<String>,
    json: &'a mut Option<String>,
) -> &'a str {
    if as_json {
        json.get_or_insert_with(|| json_line(record, at))
    } else {
        text.get_or_insert_with(|| text_line(record, at))
    }
}

/// `2026-11-24T12:00:00.123Z INFO  logger: message key=value ...`
fn text_line(record: &LogRecord, at: SystemTime) -> String {
    let mut line = format!("{} {} ", rfc3339(unix_millis(at)), record.level.label());
    if !record.logger.is_empty() {
        push_escaped(&mut line, &record.logger);
        line.push_str(": ");
    }
    push_escaped(&mut line, &record.message);
    for (key, value) in &record.fields {
        line.push(' ');
        line.push_str(key);
        line.push('=');
        push_text_value(&mut line, value);
    }
    line.push('\n');
    line
}

/// Text with its control characters escaped (`\n`, `\t`, `\u001b`): one
/// record is one line, whatever its message says, so none can forge another.
fn push_escaped(line: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => line.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => line.push(c),
        }
    }
}

/// A field value in a plain-text line: a simple string bare, anything a reader
/// could split wrongly (spaces, `=`, quotes, control characters, empty) quoted
/// as JSON, other values as compact JSON.
fn push_text_value(line: &mut String, value: &Value) {
    match value {
        Value::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '=' || c == '"') =>
        {
            line.push_str(s)
        }
        other => line.push_str(&other.to_string()),
    }
}

/// The shape of a JSON line; the field order is the order written.
#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: String,
    level: &'static str,
    logger: &'a str,
    message: &'a str,
    fields: &'a Map<String, Value>,
}

/// `{"timestamp":"2026-11-24T12:00:00.123Z","level":"info","logger":...,"message":...,"fields":{...}}`
fn json_line(record: &LogRecord, at: SystemTime) -> String {
    let line = JsonLine {
        timestamp: rfc3339(unix_millis(at)),
        level: record.level.as_str(),
        logger: &record.logger,
        message: &record.message,
        fields: &record.fields,
    };
    // Serialising string-keyed JSON values cannot fail; were it to, the line
    // would still say that something was logged.
    let mut text = serde_json::to_string(&line).unwrap_or_else(|_| {
        format!(
            "{{\"level\":\"{}\",\"message\":\"unserialisable record\"}}",
            record.level.as_str()
        )
    });
    text.push('\n');
    text
}

/// Milliseconds since the Unix epoch; negative for a clock set before 1970.
fn unix_millis(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis())
            .map(|m| -m)
            .unwrap_or(i64::MIN),
    }
}

fn unix_seconds(at: SystemTime) -> f64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// RFC 3339 in UTC with milliseconds: `2026-11-24T12:00:00.123Z`.
fn rfc3339(unix_millis: i64) -> String {
    let seconds = unix_millis.div_euclid(1000);
    let millis = unix_millis.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01: Howard Hinnant's
/// `civil_from_days`, which counts in 400-year eras starting on March 1st so
/// the leap day falls at the end of each year and needs no special case.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11], March is 0
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // month is in 1..=12 and day in 1..=31 by construction
    (year, month as u32, day as u32)
}

/// Collects an event's fields: `message`, `logger`, and `fields` (the JSON
/// object [`LogHub::emit`] passes) get their own places, the rest become fields.
#[derive(Default)]
struct Collect {
    message: Option<String>,
    logger: Option<String>,
    fields: Map<String, Value>,
}

impl Collect {
    fn put(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::String(s)) => self.message = Some(s),
            ("logger", Value::String(s)) => self.logger = Some(s),
            (name, value) => {
                self.fields.insert(name.to_string(), value);
            }
        }
    }
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "fields"
            && let Ok(Value::Object(fields)) = serde_json::from_str(value)
        {
            self.fields.extend(fields);
            return;
        }
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match i64::try_from(value) {
            Ok(small) => self.put(field, Value::from(small)),
            Err(_) => self.put(field, Value::from(value.to_string())),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(small) => self.put(field, Value::from(small)),
            Err(_) => self.put(field, Value::from(value.to_string())),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities have no JSON number; they become null
        self.put(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `info!("text {x}")` and `%value` arrive here; Debug of format
        // arguments and Display wrappers is their plain text
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// The layer on a hub's subscriber: turns events into [`LogRecord`]s, filters
/// them by the hub's levels and hands them to the sinks.
struct HubLayer {
    shared: Arc<Shared>,
}

impl<S: Subscriber> Layer<S> for HubLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let target = metadata.target();
        let named = metadata.fields().field("logger").is_some();
        if !named && !target.starts_with(OWN_TARGETS) {
            return;
        }
        let level = Level::from(*metadata.level());
        let mut collect = Collect::default();
        event.record(&mut collect);
        // `qtforge::watch` becomes `qtforge.watch`, so module targets inherit
        // levels the way dotted logger names do
        let logger = match collect.logger {
            Some(logger) => logger,
            None => target.replace("::", "."),
        };
        if level < self.shared.level_of(&logger) {
            return;
        }
        let at = SystemTime::now();
        let record = LogRecord {
            level,
            logger,
            message: collect.message.unwrap_or_default(),
            fields: collect.fields,
            timestamp: unix_seconds(at),
        };
        self.shared.publish(record, at);
    }
}

/// One logging setup: sinks, levels and the queue, behind its own dispatch.
#[derive(Debug)]
pub struct LogHub {
    shared: Arc<Shared>,
    dispatch: Dispatch,
    next_sink: usize,
}

impl Default for LogHub {
    fn default() -> Self {
        LogHub::new()
    }
}

impl LogHub {
    /// A hub with no sinks, every logger at `Info`, and a queue of [`QUEUE_CAPACITY`].
    pub fn new() -> LogHub {
        LogHub::with_queue_capacity(QUEUE_CAPACITY)
    }

    /// A hub whose queue holds at most `capacity` records (at least one).
    pub fn with_queue_capacity(capacity: usize) -> LogHub {
        let shared = Arc::new(Shared {
            sinks: Mutex::new(Vec::new()),
            levels: RwLock::new(Levels {
                default: Level::Info,
                by_logger: HashMap::new(),
            }),
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
        });
        let subscriber = tracing_subscriber::registry().with(HubLayer {
            shared: Arc::clone(&shared),
        });
        LogHub {
            shared,
            dispatch: Dispatch::new(subscriber),
            next_sink: 1,
        }
    }

    /// Attaches a sink and returns its id. A file is opened for appending and
    /// created when missing, but its folder is not: a typo in a path should
    /// fail here rather than scatter folders.
    pub fn add_sink(&mut self, spec: SinkSpec) -> Result<usize, Error> {
        let sink = match spec {
            SinkSpec::Stderr { json } => Sink::Stderr { json },
            SinkSpec::Queue => Sink::Queue,
            SinkSpec::File { path, json } => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| Error::Io {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                Sink::File { file, json }
            }
        };
        let id = self.next_sink;
        self.next_sink += 1;
        lock(&self.shared.sinks).push((id, sink));
        Ok(id)
    }

    /// Detaches a sink (closing its file); false when no sink has this id.
    /// Records already queued stay queued.
    pub fn remove_sink(&mut self, id: usize) -> bool {
        let mut sinks = lock(&self.shared.sinks);
        let before = sinks.len();
        sinks.retain(|(sink, _)| *sink != id);
        sinks.len() != before
    }

    /// Sets a logger's level, or with `None` the default of every logger
    /// (and its descendants) without a level of its own.
    pub fn set_level(&mut self, logger: Option<&str>, level: Level) {
        let mut levels = self
            .shared
            .levels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match logger {
            Some(logger) => {
                levels.by_logger.insert(logger.to_string(), level);
            }
            None => levels.default = level,
        }
    }

    /// The level a logger logs at: its own, else that of its nearest dotted
    /// ancestor (`a.b` inherits `a`), else the default.
    pub fn level_of(&self, logger: &str) -> Level {
        self.shared.level_of(logger)
    }

    /// The levels set per logger, sorted by name; the Lua side mirrors them
    /// (with [`default_level`](Self::default_level)) to skip calling in for
    /// records that would be dropped.
    pub fn levels(&self) -> Vec<(String, Level)> {
        let levels = self
            .shared
            .levels
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<(String, Level)> = levels
            .by_logger
            .iter()
            .map(|(name, &level)| (name.clone(), level))
            .collect();
        list.sort_unstable();
        list
    }

    pub fn default_level(&self) -> Level {
        self.shared
            .levels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .default
    }

    /// Logs a message unless it is below the logger's level. It goes out as a
    /// `tracing` event on this hub's dispatch only, never the global one; the
    /// fields travel as one JSON text field, since tracing's field names are
    /// fixed at compile time.
    pub fn emit(&self, level: Level, logger: &str, message: &str, fields: &Map<String, Value>) {
        if level < self.level_of(logger) {
            return;
        }
        let fields = serde_json::to_string(fields).unwrap_or_else(|_| String::from("{}"));
        let fields = fields.as_str();
        tracing::dispatcher::with_default(&self.dispatch, || {
            macro_rules! at {
                ($level:expr) => {
                    tracing::event!(
                        target: EMIT_TARGET,
                        $level,
                        logger = logger,
                        fields = fields,
                        message = message
                    )
                };
            }
            match level {
                Level::Trace => at!(tracing::Level::TRACE),
                Level::Debug => at!(tracing::Level::DEBUG),
                Level::Info => at!(tracing::Level::INFO),
                Level::Warn => at!(tracing::Level::WARN),
                Level::Error => at!(tracing::Level::ERROR),
            }
        });
    }

    /// Takes every queued record, oldest first.
    pub fn drain(&self) -> Vec<LogRecord> {
        lock(&self.shared.queue).drain(..).collect()
    }

    /// How many records the queue has dropped for want of room, in all.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The dispatch other qtforge code logs into this hub's sinks with, from
    /// any thread: `tracing::dispatcher::with_default(&dispatch, || tracing::info!(...))`.
    /// An event names its logger with a `logger` field; without one, events
    /// with a `qtforge` target log under the target (`qtforge::watch` as
    /// `qtforge.watch`) and others are ignored.
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn none() -> Map<String, Value> {
        Map::new()
    }

    fn queued_hub() -> Result<LogHub, Error> {
        let mut hub = LogHub::new();
        hub.add_sink(SinkSpec::Queue)?;
        Ok(hub)
    }

    #[test]
    fn plain_lines_escape_control_characters() {
        let record = LogRecord {
            level: Level::Info,
            logger: "app\nx".into(),
            message: "first\nINFO  app: forged\t\u{1b}".into(),
            fields: Map::new(),
            timestamp: 0.0,
        };
        let line = text_line(&record, SystemTime::UNIX_EPOCH);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(
            line.ends_with("app\\nx: first\\nINFO  app: forged\\t\\u001b\n"),
            "{line}"
        );
    }

    #[test]
    fn levels_parse_order_and_convert() {
        assert_eq!(Level::parse("trace"), Some(Level::Trace));
        assert_eq!(Level::parse("debug"), Some(Level::Debug));
        assert_eq!(Level::parse("INFO"), Some(Level::Info));
        assert_eq!(Level::parse("warn"), Some(Level::Warn));
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse("error"), Some(Level::Error));
        assert_eq!(Level::parse("fatal"), None);
        assert_eq!(Level::parse(""), None);
        assert!(Level::Trace < Level::Debug);
        assert!(Level::Debug < Level::Info);
        assert!(Level::Info < Level::Warn);
        assert!(Level::Warn < Level::Error);
        for level in [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
        ] {
            assert_eq!(Level::parse(level.as_str()), Some(level));
            assert_eq!(Level::from(tracing::Level::from(level)), level);
        }
        assert_eq!(tracing::Level::from(Level::Warn), tracing::Level::WARN);
    }

    #[test]
    fn the_queue_receives_records_oldest_first() -> TestResult {
        let hub = queued_hub()?;
        hub.emit(Level::Info, "app", "one", &none());
        hub.emit(
            Level::Error,
            "app.db",
            "two",
            &fields(serde_json::json!({"n": 2})),
        );
        let records = hub.drain();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].message, "one");
        assert_eq!(records[0].level, Level::Info);
        assert_eq!(records[0].logger, "app");
        assert!(records[0].fields.is_empty());
        assert_eq!(records[1].message, "two");
        assert_eq!(records[1].logger, "app.db");
        assert_eq!(records[1].fields.get("n"), Some(&Value::from(2)));
        let now = unix_seconds(SystemTime::now());
        assert!(records[0].timestamp <= records[1].timestamp);
        assert!((now - records[1].timestamp).abs() < 60.0);
        assert!(hub.drain().is_empty());
        Ok(())
    }

    #[test]
    fn without_a_queue_sink_nothing_is_queued() -> TestResult {
        let mut hub = LogHub::new();
        hub.emit(Level::Error, "app", "lost", &none());
        assert!(hub.drain().is_empty());
        let queue = hub.add_sink(SinkSpec::Queue)?;
        let second = hub.add_sink(SinkSpec::Queue)?;
        assert_ne!(queue, second);
        hub.emit(Level::Error, "app", "once", &none());
        assert_eq!(hub.drain().len(), 1, "two queue sinks share one queue");
        assert!(hub.remove_sink(queue));
        assert!(hub.remove_sink(second));
        assert!(!hub.remove_sink(second));
        hub.emit(Level::Error, "app", "after", &none());
        assert!(hub.drain().is_empty());
        Ok(())
    }

    #[test]
    fn the_file_sink_writes_plain_lines() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("app.log");
        std::fs::write(&path, "earlier line\n")?;
        let mut hub = LogHub::new();
        let id = hub.add_sink(SinkSpec::File {
            path: path.clone(),
            json: false,
        })?;
        hub.emit(
            Level::Warn,
            "audio.mixer",
            "clipping",
            &fields(serde_json::json!({
                "channel": 3,
                "gain": 1.5,
                "name": "left",
                "note": "two words",
                "ok": false,
            })),
        );
        hub.emit(Level::Info, "", "no logger", &none());
        assert!(hub.remove_sink(id));
        hub.emit(Level::Error, "audio", "after removal", &none());
        let text = std::fs::read_to_string(&path)?;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "earlier line", "appends");
        let (stamp, rest) = lines[1].split_once(' ').ok_or("no timestamp")?;
        assert_eq!(stamp.len(), "2026-11-24T12:00:00.123Z".len());
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        assert_eq!(
            rest,
            "WARN  audio.mixer: clipping channel=3 gain=1.5 name=left note=\"two words\" ok=false"
        );
        assert!(lines[2].ends_with(" INFO  no logger"), "{}", lines[2]);
        Ok(())
    }

    #[test]
    fn the_file_sink_writes_json_lines_that_parse_back() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("app.jsonl");
        let mut hub = LogHub::new();
        hub.add_sink(SinkSpec::File {
            path: path.clone(),
            json: true,
        })?;
        hub.emit(
            Level::Error,
            "net",
            "line one\nline \"two\"",
            &fields(serde_json::json!({"code": 503})),
        );
        hub.emit(Level::Info, "net.http", "ok", &none());
        let text = std::fs::read_to_string(&path)?;
        let lines: Vec<Value> = text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["level"], "error");
        assert_eq!(lines[0]["logger"], "net");
        assert_eq!(lines[0]["message"], "line one\nline \"two\"");
        assert_eq!(lines[0]["fields"], serde_json::json!({"code": 503}));
        assert_eq!(lines[1]["fields"], serde_json::json!({}));
        let stamp = lines[0]["timestamp"].as_str().ok_or("no timestamp")?;
        assert!(stamp.ends_with('Z') && stamp.len() == 24, "{stamp}");
        Ok(())
    }

    #[test]
    fn the_stderr_sink_writes_without_failing() -> TestResult {
        let mut hub = LogHub::new();
        hub.add_sink(SinkSpec::Stderr { json: false })?;
        hub.add_sink(SinkSpec::Stderr { json: true })?;
        hub.emit(
            Level::Info,
            "test.stderr",
            "smoke test line",
            &fields(serde_json::json!({"k": "v"})),
        );
        Ok(())
    }

    #[test]
    fn a_file_in_a_missing_folder_is_an_io_error() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("no-such-folder").join("app.log");
        let mut hub = LogHub::new();
        match hub.add_sink(SinkSpec::File {
            path: path.clone(),
            json: false,
        }) {
            Err(err @ Error::Io { .. }) => {
                assert_eq!(err.code(), "io_error");
                assert!(err.to_string().contains("no-such-folder"), "{err}");
                assert!(!err.details().is_empty());
            }
            other => panic!("expected an io error, got {other:?}"),
        }
        // a folder is not a file either
        let folder = hub.add_sink(SinkSpec::File {
            path: dir.path().to_path_buf(),
            json: true,
        });
        assert_eq!(folder.map_err(|e| e.code()), Err("io_error"));
        assert!(!path.exists());
        Ok(())
    }

    #[test]
    fn levels_filter_per_logger_with_inheritance() -> TestResult {
        let mut hub = queued_hub()?;
        assert_eq!(hub.default_level(), Level::Info);
        assert_eq!(hub.level_of("anything"), Level::Info);
        hub.set_level(Some("db"), Level::Error);
        hub.set_level(Some("db.query"), Level::Debug);
        assert_eq!(hub.level_of("db"), Level::Error);
        assert_eq!(hub.level_of("db.pool"), Level::Error);
        assert_eq!(hub.level_of("db.query"), Level::Debug);
        assert_eq!(hub.level_of("db.query.slow"), Level::Debug);
        assert_eq!(hub.level_of("dbx"), Level::Info, "not a dotted child");
        assert_eq!(hub.level_of("web"), Level::Info);

        hub.emit(Level::Warn, "db", "dropped", &none());
        hub.emit(Level::Warn, "db.pool", "dropped", &none());
        hub.emit(Level::Debug, "db.query.slow", "kept 1", &none());
        hub.emit(Level::Debug, "web", "dropped", &none());
        hub.emit(Level::Info, "web", "kept 2", &none());
        hub.emit(Level::Error, "db", "kept 3", &none());
        let kept: Vec<String> = hub.drain().into_iter().map(|r| r.message).collect();
        assert_eq!(kept, ["kept 1", "kept 2", "kept 3"]);

        assert_eq!(
            hub.levels(),
            vec![
                ("db".to_string(), Level::Error),
                ("db.query".to_string(), Level::Debug)
            ]
        );
        Ok(())
    }

    #[test]
    fn levels_change_at_run_time() -> TestResult {
        let mut hub = queued_hub()?;
        hub.emit(Level::Trace, "app", "dropped", &none());
        hub.set_level(None, Level::Trace);
        assert_eq!(hub.default_level(), Level::Trace);
        hub.emit(Level::Trace, "app", "kept 1", &none());
        hub.set_level(Some("app"), Level::Warn);
        hub.emit(Level::Info, "app", "dropped", &none());
        hub.emit(Level::Trace, "other", "kept 2", &none());
        hub.set_level(Some("app"), Level::Info);
        hub.emit(Level::Info, "app.sub", "kept 3", &none());
        let kept: Vec<String> = hub.drain().into_iter().map(|r| r.message).collect();
        assert_eq!(kept, ["kept 1", "kept 2", "kept 3"]);
        Ok(())
    }

    #[test]
    fn fields_of_every_json_type_round_trip() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("types.jsonl");
        let mut hub = queued_hub()?;
        hub.add_sink(SinkSpec::File {
            path: path.clone(),
            json: true,
        })?;
        let sent = fields(serde_json::json!({
            "string": "a \"quoted\"\nline",
            "integer": -42,
            "big": u64::MAX,
            "float": 0.1,
            "true": true,
            "false": false,
            "null": null,
            "array": [1, "two", [3.5], {"four": 4}],
            "object": {"nested": {"deep": [null, false]}},
            "message": "a field named like the message stays a field",
        }));
        hub.emit(Level::Info, "types", "all of them", &sent);
        let records = hub.drain();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].fields, sent);
        assert_eq!(records[0].message, "all of them");
        let line: Value = serde_json::from_str(std::fs::read_to_string(&path)?.trim_end())?;
        assert_eq!(line["fields"], Value::Object(sent));
        Ok(())
    }

    #[test]
    fn events_from_other_threads_reach_the_queue() -> TestResult {
        let mut hub = queued_hub()?;
        hub.set_level(Some("qtforge.watch"), Level::Debug);
        let dispatch = hub.dispatch();
        let worker = std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::debug!(target: "qtforge::watch", path = "/etc/app.toml", count = 3u64, "changed");
                tracing::trace!(target: "qtforge::watch", "below the level");
                tracing::warn!(target: "qtforge::watch", logger = "plugins.audio", "named");
                tracing::error!(target: "some_dependency", "not qtforge's");
                tracing::error!(target: "some_dependency", logger = "dep", ratio = 0.5, ok = true, "named, so kept");
            })
        });
        worker.join().map_err(|_| "the worker panicked")?;
        let records = hub.drain();
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[0].logger, "qtforge.watch");
        assert_eq!(records[0].level, Level::Debug);
        assert_eq!(records[0].message, "changed");
        assert_eq!(
            Value::Object(records[0].fields.clone()),
            serde_json::json!({"path": "/etc/app.toml", "count": 3})
        );
        assert_eq!(records[1].logger, "plugins.audio");
        assert_eq!(records[1].message, "named");
        assert_eq!(records[2].logger, "dep");
        assert_eq!(
            Value::Object(records[2].fields.clone()),
            serde_json::json!({"ratio": 0.5, "ok": true})
        );
        Ok(())
    }

    #[test]
    fn hubs_are_independent_of_each_other_and_the_global_default() -> TestResult {
        let first = queued_hub()?;
        let second = queued_hub()?;
        first.emit(Level::Info, "app", "first only", &none());
        // outside with_default, qtforge events go to the global default, not a hub
        tracing::info!(target: "qtforge::test", "nowhere");
        assert_eq!(first.drain().len(), 1);
        assert!(second.drain().is_empty());
        Ok(())
    }

    #[test]
    fn the_queue_is_bounded_and_counts_drops() -> TestResult {
        let mut hub = LogHub::with_queue_capacity(3);
        hub.add_sink(SinkSpec::Queue)?;
        for n in 0..5 {
            hub.emit(Level::Info, "app", &format!("record {n}"), &none());
        }
        assert_eq!(hub.dropped(), 2);
        let kept: Vec<String> = hub.drain().into_iter().map(|r| r.message).collect();
        assert_eq!(kept, ["record 0", "record 1", "record 2"]);
        hub.emit(Level::Info, "app", "room again", &none());
        assert_eq!(hub.drain().len(), 1);
        assert_eq!(hub.dropped(), 2);
        assert_eq!(LogHub::new().shared.capacity, QUEUE_CAPACITY);
        Ok(())
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_521_600_123), "2026-11-24T12:00:00.123Z");
        assert_eq!(rfc3339(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(rfc3339(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(-1000), "1969-12-31T23:59:59.000Z");
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_795_521_600_123);
        assert_eq!(unix_millis(at), 1_795_521_600_123);
        assert!((unix_seconds(at) - 1_795_521_600.123).abs() < 1e-6);
        let before = UNIX_EPOCH - std::time::Duration::from_millis(1500);
        assert_eq!(unix_millis(before), -1500);
    }

    #[test]
    fn civil_from_days_walks_the_calendar_day_by_day() {
        fn is_leap(year: i64) -> bool {
            (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        }
        fn days_in(year: i64, month: u32) -> u32 {
            match month {
                2 if is_leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }
        // forwards from the epoch to 2401, then backwards to 1600
        let (mut year, mut month, mut day) = (1970_i64, 1_u32, 1_u32);
        for days in 0..(431 * 366) {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            day += 1;
            if day > days_in(year, month) {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
        let (mut year, mut month, mut day) = (1970_i64, 1_u32, 1_u32);
        for days in (-(371 * 366)..=0).rev() {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            day -= 1;
            if day == 0 {
                if month == 1 {
                    month = 12;
                    year -= 1;
                } else {
                    month -= 1;
                }
                day = days_in(year, month);
            }
        }
    }

    #[test]
    fn plain_values_are_quoted_only_when_they_would_split() {
        let mut line = String::new();
        for value in [
            Value::from("bare"),
            Value::from(""),
            Value::from("a=b"),
            Value::from("tab\there"),
            Value::from(1.25),
            Value::Null,
            serde_json::json!([1, "x"]),
        ] {
            push_text_value(&mut line, &value);
            line.push('|');
        }
        assert_eq!(
            line,
            "bare|\"\"|\"a=b\"|\"tab\\there\"|1.25|null|[1,\"x\"]|"
        );
    }
}
