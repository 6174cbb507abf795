//! Configuration as data: JSON and TOML files, dotted keys into nested tables,
//! and the layers a running configuration is merged from.
//!
//! A configuration root is always a table (a JSON object). Values are
//! `serde_json::Value`s whatever the file format, so one set of key functions
//! serves both formats and the Lua binding converts one kind of value.
//!
//! Keys are dotted paths (`server.ports.1`). A numeric segment indexes a list
//! from 1, as Lua does, so a key means the same thing here and in Lua; on a
//! table it is an ordinary key (`{"1": …}`). A table key that itself holds a
//! dot cannot be named by a dotted key.
//!
//! Nothing here knows about Lua: `lua.rs` wraps it.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::Error;

/// How many temporary names [`save_atomic`] tries before giving up: each is
/// taken only by the writer that creates it, so only a folder full of stale
/// temporary files runs out.
const TEMP_ATTEMPTS: u32 = 1000;

// ---------------------------------------------------------------------------
// Formats

/// A configuration file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Toml,
}

impl Format {
    /// The format a file's extension names (`.json`, `.toml`, in any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        path.extension()
            .and_then(OsStr::to_str)
            .and_then(Format::from_name)
    }

    /// The format called `name` (`"json"`, `"toml"`, in any case).
    pub fn from_name(name: &str) -> Option<Format> {
        if name.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else if name.eq_ignore_ascii_case("toml") {
            Some(Format::Toml)
        } else {
            None
        }
    }

    /// The format's name, as [`Format::from_name`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Toml => "toml",
        }
    }
}

/// Reads a configuration file's text. `source` names the file in errors.
///
/// The top level must be a table. TOML datetimes become strings holding their
/// TOML text (RFC 3339 for full datetimes), since JSON has no datetime.
///
/// JSON `null` means "not set": a table key whose value is `null` is dropped,
/// as if the file did not mention it. A list cannot leave an element unset
/// without renumbering the rest, so `null` in a list is a parse error (placed
/// just after the `null`) rather than a silent shift of every later index. A key that appears
/// twice in one JSON object is an error too, as it is in TOML: one of the two
/// values would be lost without a word.
///
/// Line and column count from 1; the column counts characters, not bytes.
pub fn parse(text: &str, format: Format, source: &str) -> Result<Value, Error> {
    // editors on Windows may start a file with a byte-order mark; neither parser
    // takes one, and no editor shows it as a column
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value = match format {
        Format::Json => parse_json(text, source)?,
        Format::Toml => Some(parse_toml(text, source)?),
    };
    match value {
        Some(value @ Value::Object(_)) => Ok(value),
        other => Err(parse_error(
            source,
            1,
            1,
            format!(
                "the top level must be a table, not {}",
                other.as_ref().map_or("null", kind)
            ),
        )),
    }
}

/// Writes a configuration as text: JSON pretty-printed with a final newline,
/// or TOML. A value TOML cannot hold (`null`, an integer beyond 64-bit signed)
/// is an [`Error::InvalidValue`] naming its key.
pub fn serialize(value: &Value, format: Format) -> Result<String, Error> {
    match format {
        Format::Json => {
            let mut text =
                serde_json::to_string_pretty(value).map_err(|e| Error::InvalidValue {
                    key: String::new(),
                    reason: e.to_string(),
                })?;
            text.push('\n');
            Ok(text)
        }
        Format::Toml => {
            let Value::Object(map) = value else {
                return Err(Error::InvalidValue {
                    key: String::new(),
                    reason: format!("the top level must be a table, not {}", kind(value)),
                });
            };
            let table = json_table_to_toml(map, "")?;
            toml::to_string(&table).map_err(|e| Error::InvalidValue {
                key: String::new(),
                reason: e.to_string(),
            })
        }
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

/// What kind of value this is, as a Lua user would call it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

fn parse_json(text: &str, source: &str) -> Result<Option<Value>, Error> {
    serde_json::from_str::<JsonNode>(text)
        .map(|node| node.0)
        .map_err(|e| {
            let line = e.line().max(1);
            let message = e.to_string();
            // serde_json appends its own position, in bytes; ours is in the fields
            let reason = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(head, _)| head)
                .to_owned();
            parse_error(source, line, char_column(text, line, e.column()), reason)
        })
}

/// A JSON value read the way configuration reads it; `None` for `null`.
struct JsonNode(Option<Value>);

impl<'de> Deserialize<'de> for JsonNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsonNode, D::Error> {
        deserializer.deserialize_any(JsonNodeVisitor)
    }
}

struct JsonNodeVisitor;

impl<'de> Visitor<'de> for JsonNodeVisitor {
    type Value = JsonNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonNode, E> {
        Ok(JsonNode(Some(Value::Bool(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonNode, E> {
        Ok(JsonNode(Some(Value::from(v))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonNode, E> {
        Ok(JsonNode(Some(Value::from(v))))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonNode, E> {
        match Number::from_f64(v) {
            Some(n) => Ok(JsonNode(Some(Value::Number(n)))),
            None => Err(E::custom(format!("{v} is not a finite number"))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonNode, E> {
        Ok(JsonNode(Some(Value::String(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<JsonNode, E> {
        Ok(JsonNode(Some(Value::String(v))))
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonNode, E> {
        Ok(JsonNode(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<JsonNode, E> {
        Ok(JsonNode(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsonNode, D::Error> {
        JsonNode::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonNode, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(JsonNode(item)) = seq.next_element()? {
            match item {
                Some(item) => items.push(item),
                None => {
                    return Err(de::Error::custom(format!(
                        "arrays cannot hold null (item {}): an unset item would renumber the rest",
                        items.len() + 1
                    )));
                }
            }
        }
        Ok(JsonNode(Some(Value::Array(items))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<JsonNode, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let JsonNode(value) = access.next_value()?;
            // null stands in for "not set" until the end, so a repeated key is
            // caught whichever of the two is null
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.insert(key, value.unwrap_or(Value::Null));
        }
        map.retain(|_, value| !value.is_null());
        Ok(JsonNode(Some(Value::Object(map))))
    }
}

/// The character column of serde_json's byte column on `line` (both from 1).
fn char_column(text: &str, line: usize, byte_column: usize) -> usize {
    let Some(row) = text.split('\n').nth(line - 1) else {
        return byte_column.max(1);
    };
    // the byte column points into the character the error is at; count it whole
    let mut end = byte_column.min(row.len());
    while !row.is_char_boundary(end) {
        end += 1;
    }
    row.get(..end).map_or(1, |s| s.chars().count()).max(1)
}

/// 1-based line and character column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse_toml(text: &str, source: &str) -> Result<Value, Error> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map_or((1, 1), |span| line_column(text, span.start));
        parse_error(source, line, column, e.message().trim().to_owned())
    })?;
    toml_table_to_json(table).map_err(|mut e| {
        e.path.reverse();
        let (line, column) = locate_toml(text, &e.path).map_or((1, 1), |at| line_column(text, at));
        parse_error(
            source,
            line,
            column,
            format!(
                "{}: {} has no JSON form; configuration numbers must be finite",
                steps_to_key(&e.path),
                e.value
            ),
        )
    })
}

/// One step of a path into a parsed TOML document.
#[derive(Debug)]
enum Step {
    Key(String),
    /// From 0.
    Index(usize),
}

fn steps_to_key(steps: &[Step]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .map(|step| match step {
            Step::Key(key) => key.clone(),
            Step::Index(i) => (i + 1).to_string(),
        })
        .collect();
    parts.join(".")
}

/// A TOML float JSON cannot hold (`nan`, `inf`), and where it is.
struct NonFinite {
    /// Innermost step first, while the error travels out of the recursion.
    path: Vec<Step>,
    value: f64,
}

fn toml_table_to_json(table: toml::Table) -> Result<Value, NonFinite> {
    let mut map = Map::new();
    for (key, value) in table {
        let value = toml_to_json(value).map_err(|mut e| {
            e.path.push(Step::Key(key.clone()));
            e
        })?;
        map.insert(key, value);
    }
    Ok(Value::Object(map))
}

fn toml_to_json(value: toml::Value) -> Result<Value, NonFinite> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => match Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                return Err(NonFinite {
                    path: Vec::new(),
                    value: f,
                });
            }
        },
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => {
            let mut converted = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                converted.push(toml_to_json(item).map_err(|mut e| {
                    e.path.push(Step::Index(i));
                    e
                })?);
            }
            Value::Array(converted)
        }
        toml::Value::Table(table) => toml_table_to_json(table)?,
    })
}

/// The byte offset of the value at `path` in a TOML text, by parsing it again
/// with spans; only a failed conversion pays for this.
fn locate_toml(text: &str, path: &[Step]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let document = DeTable::parse(text).ok()?;
    let (Step::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let mut current = document
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == first.as_str())?
        .1;
    for step in rest {
        current = match (current.get_ref(), step) {
            (DeValue::Table(table), Step::Key(key)) => {
                table
                    .iter()
                    .find(|(k, _)| k.get_ref().as_ref() == key.as_str())?
                    .1
            }
            (DeValue::Array(items), Step::Index(i)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(current.span().start)
}

fn json_table_to_toml(map: &Map<String, Value>, key: &str) -> Result<toml::Table, Error> {
    let mut table = toml::Table::new();
    for (name, value) in map {
        table.insert(name.clone(), json_to_toml(value, &join(key, name))?);
    }
    Ok(table)
}

fn json_to_toml(value: &Value, key: &str) -> Result<toml::Value, Error> {
    let invalid = |reason: &str| Error::InvalidValue {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    Ok(match value {
        Value::Null => return Err(invalid("TOML has no nil: remove the key instead")),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                toml::Value::Integer(i)
            } else if n.is_u64() {
                return Err(invalid(&format!(
                    "{n} is beyond TOML's integers (64-bit, signed)"
                )));
            } else {
                match n.as_f64() {
                    Some(f) => toml::Value::Float(f),
                    None => return Err(invalid(&format!("{n} is not a number TOML can hold"))),
                }
            }
        }
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => {
            let mut converted = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                converted.push(json_to_toml(item, &join(key, &(i + 1).to_string()))?);
            }
            toml::Value::Array(converted)
        }
        Value::Object(map) => toml::Value::Table(json_table_to_toml(map, key)?),
    })
}

// ---------------------------------------------------------------------------
// Atomic save

/// Replaces the file at `path` with `text` so that a reader, or a crash, sees
/// the old file or the new one, never a half-written one: the text goes to a
/// temporary file beside it (`.<name>.<pid>.<n>.tmp`), is flushed to disk, and
/// is renamed over the target; then the folder is flushed so the rename itself
/// survives a crash.
///
/// An existing file keeps its permissions. A symbolic link at `path` is
/// replaced by the file, not followed. On failure the temporary file is
/// removed and the target is untouched.
pub fn save_atomic(path: &Path, text: &str) -> Result<(), Error> {
    let io_error = |what: &str, e: &io::Error| Error::Io {
        path: path.display().to_string(),
        reason: format!("{what}: {e}"),
    };
    let Some(name) = path.file_name() else {
        return Err(Error::Io {
            path: path.display().to_string(),
            reason: "the path names no file".to_owned(),
        });
    };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let permissions = match fs::metadata(path) {
        Ok(metadata) => Some(metadata.permissions()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error("cannot read the file's permissions", &e)),
    };
    let (temp_path, mut file) = create_temp(folder, name)
        .map_err(|e| io_error("cannot create a temporary file beside it", &e))?;
    let fail = |what: &str, e: io::Error| {
        // the error being reported matters more than a leftover we cannot remove
        let _ = fs::remove_file(&temp_path);
        io_error(what, &e)
    };
    file.write_all(text.as_bytes())
        .map_err(|e| fail("cannot write the temporary file", e))?;
    file.sync_all()
        .map_err(|e| fail("cannot flush the temporary file", e))?;
    if let Some(permissions) = permissions {
        // after writing: a read-only original would otherwise make the copy unwritable
        file.set_permissions(permissions)
            .map_err(|e| fail("cannot give the temporary file the file's permissions", e))?;
    }
    drop(file);
    fs::rename(&temp_path, path).map_err(|e| fail("cannot replace the file", e))?;
    sync_folder(folder).map_err(|e| io_error("cannot flush the file's folder", &e))?;
    remove_stale_temps(folder, name);
    Ok(())
}

/// How old a temporary file beside a saved one must be to count as left
/// behind by a writer that died: a live save holds its own for milliseconds.
const STALE_TEMP_AGE: Duration = Duration::from_secs(60);

/// Removes the temporary files of earlier saves of `name` that never finished
/// (a process killed mid-save leaves its own; each has another pid in its
/// name, so without this they would pile up). Best effort: a save succeeded.
fn remove_stale_temps(folder: &Path, name: &OsStr) {
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if !(file_name.starts_with(&prefix) && file_name.ends_with(".tmp")) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMP_AGE);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates `.<name>.<pid>.<n>.tmp` in `folder` for writing. `create_new` makes
/// each name belong to the one writer that created it, so threads and
/// processes saving the same file at once never share a temporary file.
fn create_temp(folder: &Path, name: &OsStr) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut attempt = 0;
    loop {
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{pid}.{attempt}.tmp"));
        let temp_path = folder.join(temp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
        {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TEMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(unix)]
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

/// Windows cannot open a folder as a file to flush it; its file system
/// journals the rename instead.
#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> io::Result<()> {
    Ok(())
}

// ---------------------------------------------------------------------------
// Dotted keys

/// Splits a dotted key into its segments. No segment may be empty, so the
/// empty key is an error here; functions that take `""` for the root say so.
pub fn parse_key(key: &str) -> Result<Vec<String>, Error> {
    let invalid = |reason: String| Error::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("the key is empty".to_owned()));
    }
    let segments: Vec<String> = key.split('.').map(str::to_owned).collect();
    if let Some(position) = segments.iter().position(String::is_empty) {
        return Err(invalid(format!("segment {} is empty", position + 1)));
    }
    Ok(segments)
}

/// The value at `key`; `""` is the root. `None` when any step is missing, is
/// not a table or list, or does not fit (a word on a list, an index past its end).
pub fn get<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    if key.is_empty() {
        return Some(root);
    }
    get_in(root, &parse_key(key).ok()?)
}

/// Stores `value` at `key`, creating the tables on the way. In a list, an
/// index from 1 to its length replaces an item and one past the end appends.
///
/// `value` is cleaned as [`parse`] cleans a file: `null` in a table means not
/// set and is dropped, `null` in a list is an [`Error::InvalidValue`]; `value`
/// itself may not be `null` (use [`remove`]). On error `root` is unchanged.
pub fn set(root: &mut Value, key: &str, value: Value) -> Result<(), Error> {
    let segments = parse_key(key)?;
    let value = normalize(value, key)?;
    set_in(root, &segments, 0, value, key)
}

/// Takes the value at `key` out of `root`; a list closes the gap. Tables left
/// empty stay, as they would in an edited file.
pub fn remove(root: &mut Value, key: &str) -> Option<Value> {
    remove_in(root, &parse_key(key).ok()?, false)
}

/// The full dotted key of every leaf under `prefix` (`""`: the whole root),
/// sorted as strings. A leaf is anything but a non-empty table: lists are
/// leaves (their items are not listed), and so are empty tables. A prefix that
/// is itself a leaf gives just itself; a missing or malformed one gives nothing.
pub fn keys(root: &Value, prefix: &str) -> Vec<String> {
    let mut leaves: Vec<String> = if prefix.is_empty() {
        root_leaves(root).into_iter().map(|(key, _)| key).collect()
    } else {
        let mut found = Vec::new();
        if let Some(value) = get(root, prefix) {
            collect_leaves(value, prefix.to_owned(), &mut found);
        }
        found.into_iter().map(|(key, _)| key).collect()
    };
    leaves.sort();
    leaves
}

/// The leaves (as [`keys`] counts them) that `new` adds, removes or changes
/// compared with `old`, sorted. A table replaced by a number lists each leaf
/// of the old table and the number's own key.
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    let old: BTreeMap<String, &Value> = root_leaves(old).into_iter().collect();
    let new: BTreeMap<String, &Value> = root_leaves(new).into_iter().collect();
    let mut changed: Vec<String> = old
        .iter()
        .filter(|(key, value)| new.get(*key) != Some(*value))
        .map(|(key, _)| key.clone())
        .chain(new.keys().filter(|key| !old.contains_key(*key)).cloned())
        .collect();
    changed.sort();
    changed.dedup();
    changed
}

/// The value at dotted `key` of `root`, through objects only; `None` when
/// the path ends early or runs into something that is not an object.
pub fn object_path<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(root, |node, segment| match node {
        Value::Object(map) => map.get(segment),
        _ => None,
    })
}

/// [`diff`] of what lies at `key` before and after (a change confined to
/// that key): the same keys, found without walking the rest of the tree.
pub fn diff_at(key: &str, old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    fn leaves<'a>(key: &str, value: Option<&'a Value>) -> BTreeMap<String, &'a Value> {
        let mut out = Vec::new();
        if let Some(value) = value {
            collect_leaves(value, key.to_owned(), &mut out);
        }
        out.into_iter().collect()
    }
    let (old, new) = (leaves(key, old), leaves(key, new));
    let mut changed: Vec<String> = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(new.keys().filter(|k| !old.contains_key(*k)).cloned())
        .collect();
    changed.sort();
    changed.dedup();
    changed
}

/// Where the `changed` keys of `merged` meet: the deepest key that is a
/// prefix of them all and still exists (an object) in `merged`, and its
/// value there; the root when they share nothing.
pub fn changed_subtree<'a>(merged: &'a Value, changed: &[String]) -> (String, &'a Value) {
    let mut common: Vec<&str> = match changed.first() {
        Some(first) => first.split('.').collect(),
        None => return (String::new(), merged),
    };
    for key in changed.iter().skip(1) {
        let shared = common
            .iter()
            .zip(key.split('.'))
            .take_while(|(a, b)| **a == *b)
            .count();
        common.truncate(shared);
    }
    // walk down as far as the merged value has the path
    let mut node = merged;
    let mut depth = 0;
    for segment in &common {
        match node {
            Value::Object(map) => match map.get(*segment) {
                Some(child) => {
                    node = child;
                    depth += 1;
                }
                None => break,
            },
            _ => break,
        }
    }
    // a leaf (or a value that is not an object) is replaced from its parent's
    // side too, so keep `node` as it is: Lua sets it whole at `at`
    (common[..depth].join("."), node)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The number a segment spells (`"3"`), if it is all digits.
fn number(segment: &str) -> Option<usize> {
    if segment.bytes().all(|b| b.is_ascii_digit()) {
        segment.parse().ok()
    } else {
        None
    }
}

/// The 0-based list index a 1-based segment names, if it is within `len`.
fn index(segment: &str, len: usize) -> Option<usize> {
    number(segment)
        .filter(|n| (1..=len).contains(n))
        .map(|n| n - 1)
}

/// The first `depth` segments as a dotted key, for messages.
fn name_of(segments: &[String], depth: usize) -> String {
    if depth == 0 {
        "the root".to_owned()
    } else {
        segments.get(..depth).unwrap_or(segments).join(".")
    }
}

fn get_in<'a>(root: &'a Value, segments: &[String]) -> Option<&'a Value> {
    let mut current = root;
    for segment in segments {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(index(segment, items.len())?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn set_in(
    current: &mut Value,
    segments: &[String],
    depth: usize,
    value: Value,
    key: &str,
) -> Result<(), Error> {
    let Some(segment) = segments.get(depth) else {
        *current = value;
        return Ok(());
    };
    let last = depth + 1 == segments.len();
    match current {
        Value::Object(map) => {
            if last {
                map.insert(segment.clone(), value);
                return Ok(());
            }
            let next = map
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            set_in(next, segments, depth + 1, value, key)
        }
        Value::Array(items) => {
            let len = items.len();
            let at = match number(segment) {
                Some(n) if (1..=len + 1).contains(&n) => n - 1,
                _ => {
                    return Err(Error::InvalidKey {
                        key: key.to_owned(),
                        reason: format!(
                            "{} is a list of {len}: {segment:?} is neither an index from 1 to {len} nor {} to append",
                            name_of(segments, depth),
                            len + 1
                        ),
                    });
                }
            };
            if at == len {
                items.push(Value::Object(Map::new()));
            }
            match items.get_mut(at) {
                Some(item) => set_in(item, segments, depth + 1, value, key),
                None => Ok(()),
            }
        }
        other => Err(Error::InvalidKey {
            key: key.to_owned(),
            reason: format!("{} is {}", name_of(segments, depth), kind(other)),
        }),
    }
}

/// Removes the value at `segments`. With `prune`, tables the removal leaves
/// empty go too (list items stay: removing one would renumber the rest).
fn remove_in(current: &mut Value, segments: &[String], prune: bool) -> Option<Value> {
    let (segment, rest) = segments.split_first()?;
    if rest.is_empty() {
        return match current {
            Value::Object(map) => map.remove(segment),
            Value::Array(items) => {
                let at = index(segment, items.len())?;
                Some(items.remove(at))
            }
            _ => None,
        };
    }
    let (removed, emptied) = {
        let child = match current {
            Value::Object(map) => map.get_mut(segment)?,
            Value::Array(items) => {
                let at = index(segment, items.len())?;
                items.get_mut(at)?
            }
            _ => return None,
        };
        let removed = remove_in(child, rest, prune)?;
        (removed, child.as_object().is_some_and(Map::is_empty))
    };
    if prune
        && emptied
        && let Value::Object(map) = current
    {
        map.remove(segment);
    }
    Some(removed)
}

fn collect_leaves<'a>(value: &'a Value, key: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, child) in map {
                collect_leaves(child, format!("{key}.{name}"), out);
            }
        }
        _ => out.push((key, value)),
    }
}

/// The leaves of a root; the root itself is never one of them.
fn root_leaves(root: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    if let Value::Object(map) = root {
        for (name, child) in map {
            collect_leaves(child, name.clone(), &mut out);
        }
    }
    out
}

/// `value` ready to store at `key`: not `null` itself, `null` dropped from
/// tables and refused in lists (see [`parse`]).
fn normalize(value: Value, key: &str) -> Result<Value, Error> {
    if value.is_null() {
        return Err(Error::InvalidValue {
            key: key.to_owned(),
            reason: "nil is not a value: remove the key instead".to_owned(),
        });
    }
    strip_nulls(value, key)
}

fn strip_nulls(value: Value, key: &str) -> Result<Value, Error> {
    match value {
        Value::Object(map) => {
            let mut kept = Map::new();
            for (name, child) in map {
                if !child.is_null() {
                    let child = strip_nulls(child, &join(key, &name))?;
                    kept.insert(name, child);
                }
            }
            Ok(Value::Object(kept))
        }
        Value::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let at = join(key, &(i + 1).to_string());
                if item.is_null() {
                    return Err(Error::InvalidValue {
                        key: at,
                        reason: "a list cannot hold nil: an unset item would renumber the rest"
                            .to_owned(),
                    });
                }
                kept.push(strip_nulls(item, &at)?);
            }
            Ok(Value::Array(kept))
        }
        other => Ok(other),
    }
}

// ---------------------------------------------------------------------------
// Environment overrides

/// Configuration values from environment variables named `<PREFIX>__<KEY>`,
/// and which variable set each key.
///
/// The part after `<PREFIX>__` splits on `__` into lower-cased segments
/// (`APP__SERVER__PORT` is `server.port`; `APP__LOG_LEVEL` is `log_level`).
/// Variables without the prefix, with an empty segment, or with a `.` in a
/// segment (no dotted key could name it) are ignored.
///
/// A value is typed by its form: `true`/`false` is a boolean, an integer
/// literal (JSON's form: no `+`, no leading zeros, within 64 bits) an integer,
/// a JSON number with a fraction or exponent a float, text starting with `[`
/// or `{` that parses as JSON (nulls as in [`parse`]) that JSON; anything else,
/// `01234` and `+1` included, stays a string.
///
/// When two variables collide (`APP__DB=x` and `APP__DB__HOST=y`) the more
/// specific one wins, whatever their order in `vars`: `db.host` is `"y"`.
/// The map's keys are dotted keys, each the exact key a variable set.
pub fn env_overrides(
    prefix: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> (Value, HashMap<String, String>) {
    let lead = format!("{prefix}__");
    let mut found: Vec<(Vec<String>, String, String)> = Vec::new();
    for (name, text) in vars {
        let Some(rest) = name.strip_prefix(&lead) else {
            continue;
        };
        let segments: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if segments.iter().any(|s| s.is_empty() || s.contains('.')) {
            continue;
        }
        found.push((segments, name, text));
    }
    // a table's key sorts before the keys inside it, so the more specific
    // variable always comes later and replaces
    found.sort();
    let mut root = Value::Object(Map::new());
    let mut variables: HashMap<String, String> = HashMap::new();
    for (segments, name, text) in found {
        let key = segments.join(".");
        variables.retain(|set, _| {
            !(set == &key
                || key.starts_with(&format!("{set}."))
                || set.starts_with(&format!("{key}.")))
        });
        insert_override(&mut root, &segments, typed(&text));
        variables.insert(key, name);
    }
    (root, variables)
}

/// Stores `value` at `segments`, replacing whatever is in the way.
fn insert_override(root: &mut Value, segments: &[String], value: Value) {
    let Some((segment, rest)) = segments.split_first() else {
        *root = value;
        return;
    };
    if !root.is_object() {
        *root = Value::Object(Map::new());
    }
    if let Value::Object(map) = root {
        let slot = map.entry(segment.clone()).or_insert(Value::Null);
        insert_override(slot, rest, value);
    }
}

/// An environment variable's text as the value it spells.
fn typed(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if is_json_number(text) {
        if text.contains(['.', 'e', 'E']) {
            if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
        } else if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
    }
    if text.starts_with(['[', '{'])
        && let Ok(JsonNode(Some(value))) = serde_json::from_str::<JsonNode>(text)
    {
        return value;
    }
    Value::String(text.to_owned())
}

/// Whether `text` is a number as JSON writes one: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    fn digits(bytes: &[u8]) -> usize {
        bytes.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    let bytes = text.as_bytes();
    let mut at = usize::from(bytes.first() == Some(&b'-'));
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => at += digits(bytes.get(at..).unwrap_or_default()),
        _ => return false,
    }
    if bytes.get(at) == Some(&b'.') {
        let n = digits(bytes.get(at + 1..).unwrap_or_default());
        if n == 0 {
            return false;
        }
        at += 1 + n;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let n = digits(bytes.get(at..).unwrap_or_default());
        if n == 0 {
            return false;
        }
        at += n;
    }
    at == bytes.len()
}

// ---------------------------------------------------------------------------
// Layers

/// Where a key's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    /// A loaded file, by the source it was loaded as.
    File(String),
    /// An environment variable, by its name (`APP__SERVER__PORT`).
    Env(String),
    Runtime,
}

impl Source {
    /// `"default"`, `"file:<path>"`, `"env:<VAR>"` or `"runtime"`.
    pub fn describe(&self) -> String {
        match self {
            Source::Default => "default".to_owned(),
            Source::File(path) => format!("file:{path}"),
            Source::Env(name) => format!("env:{name}"),
            Source::Runtime => "runtime".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct FileLayer {
    source: String,
    values: Value,
}

/// The layers a running configuration is merged from, lowest first: defaults,
/// files in load order, environment overrides, values set at run time.
///
/// Tables merge key by key; anything else, lists included, replaces what is
/// below it whole. A key removed at run time stays removed whatever the lower
/// layers say (a file reloaded later cannot bring it back) until it, or a
/// table above it, is set again.
#[derive(Debug, Clone)]
pub struct Layers {
    defaults: Value,
    files: Vec<FileLayer>,
    env: Value,
    /// The key each environment variable set, as segments, sorted.
    env_variables: Vec<(Vec<String>, String)>,
    runtime: Value,
    /// Keys removed at run time: hidden in every layer below the runtime one.
    removed: Vec<Vec<String>>,
    /// The merged view, built on first use after a change.
    merged: OnceCell<Value>,
}

impl Default for Layers {
    fn default() -> Layers {
        Layers::new()
    }
}

/// What lies along a key in the merged view.
enum Along {
    /// Tables all the way, or a missing step: the key can be made.
    Open,
    /// A list at the first `n` segments: lists replace whole, so a change
    /// inside one is a change to the whole list.
    List(usize),
    /// A number, string or boolean at the first `n` segments.
    Blocked(usize),
}

fn walk(root: &Value, segments: &[String]) -> Along {
    let mut current = root;
    for (depth, segment) in segments.iter().enumerate() {
        match current {
            Value::Object(map) => match map.get(segment) {
                Some(next) => current = next,
                None => return Along::Open,
            },
            Value::Array(_) => return Along::List(depth),
            _ => return Along::Blocked(depth),
        }
    }
    Along::Open
}

fn empty_table() -> Value {
    Value::Object(Map::new())
}

/// Checks a layer's root and cleans it as [`parse`] cleans a file.
fn layer_root(values: Value, what: &str) -> Result<Value, Error> {
    if !values.is_object() {
        return Err(Error::InvalidValue {
            key: String::new(),
            reason: format!("{what} must be a table, not {}", kind(&values)),
        });
    }
    strip_nulls(values, "")
}

/// Merges `top` over `base`: tables key by key, anything else replaces.
fn merge_into(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (name, value) in top {
                match base.get_mut(name) {
                    Some(slot) => merge_into(slot, value),
                    None => {
                        base.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        (base, top) => *base = top.clone(),
    }
}

/// Whether `value` (found at `path` in a layer) shows any leaf that no
/// removal hides.
fn has_visible_leaf(value: &Value, path: &mut Vec<String>, removed: &[Vec<String>]) -> bool {
    if removed.iter().any(|r| path.starts_with(r)) {
        return false;
    }
    match value {
        Value::Object(map) if !map.is_empty() => map.iter().any(|(name, child)| {
            path.push(name.clone());
            let visible = has_visible_leaf(child, path, removed);
            path.pop();
            visible
        }),
        // the root is not a leaf of itself
        Value::Object(_) => !path.is_empty(),
        _ => true,
    }
}

impl Layers {
    /// No values in any layer.
    pub fn new() -> Layers {
        Layers {
            defaults: empty_table(),
            files: Vec::new(),
            env: empty_table(),
            env_variables: Vec::new(),
            runtime: empty_table(),
            removed: Vec::new(),
            merged: OnceCell::new(),
        }
    }

    /// Replaces the defaults. `defaults` must be a table.
    pub fn set_defaults(&mut self, defaults: Value) -> Result<(), Error> {
        self.defaults = layer_root(defaults, "the defaults")?;
        self.changed();
        Ok(())
    }

    /// Adds a file's values above the files loaded before. A source loaded
    /// again replaces its earlier values where they were, keeping its rank.
    pub fn load_file(&mut self, source: &str, values: Value) -> Result<(), Error> {
        let values = layer_root(values, "a file's values")?;
        match self.files.iter_mut().find(|f| f.source == source) {
            Some(file) => file.values = values,
            None => self.files.push(FileLayer {
                source: source.to_owned(),
                values,
            }),
        }
        self.changed();
        Ok(())
    }

    /// Drops a file's values; false when no file was loaded as `source`.
    pub fn remove_file(&mut self, source: &str) -> bool {
        let before = self.files.len();
        self.files.retain(|f| f.source != source);
        let removed = self.files.len() != before;
        if removed {
            self.changed();
        }
        removed
    }

    /// Replaces the environment overrides, with the variable that set each
    /// key, as [`env_overrides`] gives them.
    pub fn set_env(
        &mut self,
        overrides: Value,
        variables: HashMap<String, String>,
    ) -> Result<(), Error> {
        self.env = layer_root(overrides, "the environment overrides")?;
        let mut variables: Vec<(Vec<String>, String)> = variables
            .into_iter()
            .filter_map(|(key, name)| parse_key(&key).ok().map(|segments| (segments, name)))
            .collect();
        variables.sort();
        self.env_variables = variables;
        self.changed();
        Ok(())
    }

    /// Sets `key` at run time, above every other layer. Inside a list, the
    /// runtime layer takes the whole merged list and changes that item (lists
    /// replace whole, so this is what keeps the other items). Through a
    /// number, string or boolean in the merged view: [`Error::InvalidKey`].
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), Error> {
        let segments = parse_key(key)?;
        let value = normalize(value, key)?;
        let stored = match walk(self.merged(), &segments) {
            Along::Blocked(depth) => {
                let blocker = get_in(self.merged(), segments.get(..depth).unwrap_or_default());
                return Err(Error::InvalidKey {
                    key: key.to_owned(),
                    reason: format!(
                        "{} is {}",
                        name_of(&segments, depth),
                        blocker.map_or("nil", kind)
                    ),
                });
            }
            Along::List(depth) => {
                let at = segments.get(..depth).unwrap_or_default();
                let mut list = get_in(self.merged(), at)
                    .cloned()
                    .unwrap_or_else(empty_table);
                set_in(&mut list, &segments, depth, value, key)?;
                set_in(&mut self.runtime, at, 0, list, key)?;
                depth
            }
            Along::Open => {
                set_in(&mut self.runtime, &segments, 0, value, key)?;
                segments.len()
            }
        };
        let stored = segments.get(..stored).unwrap_or_default();
        self.removed.retain(|r| !r.starts_with(stored));
        self.changed();
        Ok(())
    }

    /// Removes `key` from the merged view, whatever layer gives it, until it
    /// is set again; true when it had a value. An item of a list is taken out
    /// of the merged list (see [`Layers::set`]). A malformed key has no value:
    /// false.
    pub fn remove(&mut self, key: &str) -> bool {
        let Ok(segments) = parse_key(key) else {
            return false;
        };
        let had = get_in(self.merged(), &segments).is_some();
        match walk(self.merged(), &segments) {
            Along::Blocked(_) => return false,
            Along::List(depth) => {
                if !had {
                    return false;
                }
                let at = segments.get(..depth).unwrap_or_default().to_vec();
                let Some(mut list) = get_in(self.merged(), &at).cloned() else {
                    return false;
                };
                let Some(rest) = segments.get(depth..) else {
                    return false;
                };
                remove_in(&mut list, rest, false);
                if set_in(&mut self.runtime, &at, 0, list, key).is_err() {
                    return false;
                }
                self.removed.retain(|r| !r.starts_with(&at));
            }
            Along::Open => {
                remove_in(&mut self.runtime, &segments, true);
                // also before the key exists: a file loaded later must not bring it in
                if !self.removed.iter().any(|r| segments.starts_with(r)) {
                    self.removed.retain(|r| !r.starts_with(&segments));
                    self.removed.push(segments);
                }
            }
        }
        self.changed();
        had
    }

    /// Sets (`Some`) or takes out (`None`) one key of the defaults, creating
    /// the tables above it: how a plugin's manifest `[config]` comes and goes.
    pub fn set_default(&mut self, key: &str, value: Option<Value>) -> Result<(), Error> {
        let segments = parse_key(key)?;
        match value {
            Some(value) => {
                let value = normalize(value, key)?;
                let mut defaults = self.defaults.clone();
                set_in(&mut defaults, &segments, 0, value, key)?;
                self.defaults = defaults;
            }
            None => {
                remove_in(&mut self.defaults, &segments, true);
            }
        }
        self.changed();
        Ok(())
    }

    /// Forgets what was set and removed at run time at and under `key`, so
    /// the lower layers show through again (unlike `remove`, which hides them).
    pub fn reset(&mut self, key: &str) -> Result<(), Error> {
        let segments = parse_key(key)?;
        remove_in(&mut self.runtime, &segments, true);
        self.removed.retain(|r| !r.starts_with(&segments));
        self.changed();
        Ok(())
    }

    /// The merged configuration.
    pub fn merged(&self) -> &Value {
        self.merged.get_or_init(|| {
            let mut view = self.defaults.clone();
            for file in &self.files {
                merge_into(&mut view, &file.values);
            }
            merge_into(&mut view, &self.env);
            for removed in &self.removed {
                remove_in(&mut view, removed, true);
            }
            merge_into(&mut view, &self.runtime);
            view
        })
    }

    /// The highest layer that gives `key` its value (`""`: the root); for a
    /// table, the highest layer giving any leaf under it. `None` when the
    /// merged view has no such key.
    pub fn source(&self, key: &str) -> Option<Source> {
        let segments = if key.is_empty() {
            Vec::new()
        } else {
            parse_key(key).ok()?
        };
        get_in(self.merged(), &segments)?;
        let gives = |layer: &Value, removed: &[Vec<String>]| {
            get_in(layer, &segments)
                .is_some_and(|value| has_visible_leaf(value, &mut segments.clone(), removed))
        };
        if gives(&self.runtime, &[]) {
            return Some(Source::Runtime);
        }
        if gives(&self.env, &self.removed) {
            return Some(Source::Env(self.env_variable(&segments)));
        }
        if let Some(file) = self
            .files
            .iter()
            .rev()
            .find(|file| gives(&file.values, &self.removed))
        {
            return Some(Source::File(file.source.clone()));
        }
        if gives(&self.defaults, &self.removed) {
            return Some(Source::Default);
        }
        None
    }

    /// The variable that set `segments`, a table above it, or a visible key
    /// inside it; empty when the overrides came without their variables.
    fn env_variable(&self, segments: &[String]) -> String {
        self.env_variables
            .iter()
            .find(|(set, _)| {
                segments.starts_with(set)
                    || (set.starts_with(segments)
                        && !self.removed.iter().any(|r| set.starts_with(r)))
            })
            .map(|(_, name)| name.clone())
            .unwrap_or_default()
    }

    fn changed(&mut self) {
        self.merged.take();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_at_a_key_agrees_with_the_whole_diff() {
        use serde_json::json;
        let before = json!({"plugins": {"a": {"x": 1, "y": {"z": 2}}, "b": 1}, "k": 3});
        for after in [
            json!({"plugins": {"a": {"x": 2, "y": {"z": 2}}, "b": 1}, "k": 3}),
            json!({"plugins": {"a": 7, "b": 1}, "k": 3}),
            json!({"plugins": {"b": 1}, "k": 3}),
            json!({"plugins": {"a": {}, "b": 1}, "k": 3}),
            json!({"plugins": {"a": {"x": 1, "y": {"z": 2}, "w": [1]}, "b": 1}, "k": 3}),
        ] {
            let at = super::diff_at(
                "plugins.a",
                super::object_path(&before, "plugins.a"),
                super::object_path(&after, "plugins.a"),
            );
            assert_eq!(at, super::diff(&before, &after), "{after}");
        }
        assert_eq!(super::object_path(&before, "k.x"), None);
        assert_eq!(super::object_path(&before, "plugins.b"), Some(&json!(1)));
    }

    #[test]
    fn changed_subtree_is_where_the_changes_meet() {
        use serde_json::json;
        let merged = json!({"plugins": {"a": {"x": 1, "y": 2}, "b": {"x": 3}}, "top": 5});
        let keys = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (at, value) = super::changed_subtree(&merged, &keys(&["plugins.a.x", "plugins.a.y"]));
        assert_eq!(
            (at.as_str(), value),
            ("plugins.a", &json!({"x": 1, "y": 2}))
        );
        let (at, value) = super::changed_subtree(&merged, &keys(&["plugins.a.x"]));
        assert_eq!((at.as_str(), value), ("plugins.a.x", &json!(1)));
        let (at, _) = super::changed_subtree(&merged, &keys(&["plugins.a.x", "plugins.b.x"]));
        assert_eq!(at, "plugins");
        let (at, _) = super::changed_subtree(&merged, &keys(&["plugins.a.x", "top"]));
        assert_eq!(at, "");
        // a key taken out: the deepest part of its path still there
        let (at, value) = super::changed_subtree(&merged, &keys(&["plugins.c.x"]));
        assert_eq!((at.as_str(), value), ("plugins", &merged["plugins"]));
        let (at, _) = super::changed_subtree(&merged, &keys(&["gone.deep.key"]));
        assert_eq!(at, "");
    }

    use super::*;
    use serde_json::json;

    type Result<T = ()> = std::result::Result<T, Error>;

    fn parse_fails(text: &str, format: Format) -> (usize, usize, String) {
        match parse(text, format, "test") {
            Err(Error::ParseError {
                line,
                column,
                reason,
                ..
            }) => (line, column, reason),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    // ---- formats

    #[test]
    fn formats_come_from_extensions_and_names() {
        assert_eq!(Format::from_path(Path::new("a/b.JSON")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("app.toml")), Some(Format::Toml));
        assert_eq!(Format::from_path(Path::new("app.yaml")), None);
        assert_eq!(Format::from_path(Path::new("toml")), None);
        assert_eq!(Format::from_name("TOML"), Some(Format::Toml));
        assert_eq!(Format::from_name("json"), Some(Format::Json));
        assert_eq!(Format::from_name("ini"), None);
        assert_eq!(Format::Toml.name(), "toml");
    }

    fn sample() -> Value {
        json!({
            "name": "qtforge ✓ — ünïcödé 日本",
            "quoted": "line \"one\"\n\ttwo \\ \"",
            "enabled": true,
            "off": false,
            "ratio": 0.25,
            "big": 1.0e300,
            "negative": -17,
            "count": 42,
            "tags": ["a", "b", "ç"],
            "matrix": [[1, 2], [3.5, 4]],
            "server": {
                "host": "localhost",
                "ports": [8080, 8081],
                "tls": { "enabled": false, "ciphers": [] },
            },
            "plugins": [
                { "name": "audio", "priority": 1 },
                { "name": "video", "priority": 2.5 },
            ],
            "empty": {},
        })
    }

    #[test]
    fn json_round_trips() -> Result {
        let value = sample();
        let text = serialize(&value, Format::Json)?;
        assert!(text.ends_with("}\n"));
        assert_eq!(parse(&text, Format::Json, "a.json")?, value);
        Ok(())
    }

    #[test]
    fn toml_round_trips() -> Result {
        let value = sample();
        let text = serialize(&value, Format::Toml)?;
        assert!(text.contains("[server.tls]"), "{text}");
        let back = parse(&text, Format::Toml, "a.toml")?;
        assert_eq!(back, value);
        assert_eq!(
            parse(&serialize(&back, Format::Toml)?, Format::Toml, "b")?,
            value
        );
        Ok(())
    }

    #[test]
    fn toml_reads_into_the_same_values_as_json() -> Result {
        let text = r#"
            title = "x"
            when = 1979-05-27T07:32:00Z
            day = 1979-05-27
            [server]
            port = 8080
            ratio = 1.5
            [[plugins]]
            name = "a"
            [[plugins]]
            name = "b"
        "#;
        let value = parse(text, Format::Toml, "t")?;
        assert_eq!(
            value,
            json!({
                "title": "x",
                "when": "1979-05-27T07:32:00Z",
                "day": "1979-05-27",
                "server": { "port": 8080, "ratio": 1.5 },
                "plugins": [{ "name": "a" }, { "name": "b" }],
            })
        );
        Ok(())
    }

    #[test]
    fn json_nulls_mean_not_set_in_tables_and_fail_in_lists() -> Result {
        let value = parse(
            r#"{"a": null, "b": {"c": null, "d": 1}}"#,
            Format::Json,
            "n",
        )?;
        assert_eq!(value, json!({"b": {"d": 1}}));
        let (line, column, reason) = parse_fails("{\n  \"a\": [1, null]\n}", Format::Json);
        assert_eq!((line, column), (2, 16));
        assert!(reason.contains("arrays cannot hold null"), "{reason}");
        Ok(())
    }

    #[test]
    fn json_errors_say_where() {
        let (line, column, reason) = parse_fails("{\n  \"a\": 1,\n  \"b\": ]\n}", Format::Json);
        assert_eq!((line, column), (3, 8));
        assert!(reason.contains("expected value"), "{reason}");
        assert!(!reason.contains("line"), "{reason}");
        // columns count characters, not bytes
        let (line, column, _) = parse_fails("{\"ключ\": ]}", Format::Json);
        assert_eq!((line, column), (1, 10));
        let (line, _, reason) = parse_fails("{\"a\": 1, \"a\": 2}", Format::Json);
        assert_eq!(line, 1);
        assert!(reason.contains("duplicate key \"a\""), "{reason}");
        let (line, column, reason) = parse_fails("[1, 2]", Format::Json);
        assert_eq!((line, column), (1, 1));
        assert_eq!(reason, "the top level must be a table, not a list");
        let (.., reason) = parse_fails("null", Format::Json);
        assert_eq!(reason, "the top level must be a table, not null");
    }

    #[test]
    fn toml_errors_say_where() {
        let (line, column, _) = parse_fails("a = 1\nb = \n", Format::Toml);
        assert_eq!((line, column), (2, 5));
        let (line, column, reason) = parse_fails("a = 1\n[t]\nx = 1\nx = 2\n", Format::Toml);
        assert_eq!((line, column), (4, 1));
        assert!(reason.contains("duplicate"), "{reason}");
        // columns count characters, not bytes
        let (line, column, _) = parse_fails("ключ = \"ö\" !\n", Format::Toml);
        assert_eq!((line, column), (1, 12));
        let (line, column, reason) = parse_fails("[s]\nlimit = 1\nratio = nan\n", Format::Toml);
        assert_eq!((line, column), (3, 9));
        assert!(reason.starts_with("s.ratio: NaN"), "{reason}");
        let (line, column, reason) = parse_fails("list = [1.0, -inf]\n", Format::Toml);
        assert_eq!((line, column), (1, 14));
        assert!(reason.starts_with("list.2:"), "{reason}");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() -> Result {
        assert_eq!(
            parse("\u{feff}{\"a\": 1}", Format::Json, "bom")?,
            json!({"a": 1})
        );
        assert_eq!(
            parse("\u{feff}a = 1", Format::Toml, "bom")?,
            json!({"a": 1})
        );
        Ok(())
    }

    #[test]
    fn toml_refuses_what_it_cannot_hold() {
        let invalid_at = |value: Value| match serialize(&value, Format::Toml) {
            Err(Error::InvalidValue { key, .. }) => key,
            other => panic!("expected an invalid value, got {other:?}"),
        };
        assert_eq!(invalid_at(json!({"a": {"b": null}})), "a.b");
        assert_eq!(invalid_at(json!({"list": [1, null]})), "list.2");
        assert_eq!(invalid_at(json!({"n": u64::MAX})), "n");
        assert_eq!(invalid_at(json!([1])), "");
        assert!(serialize(&json!({"n": u64::MAX}), Format::Json).is_ok());
    }

    // ---- atomic save

    /// The names in a folder, hidden ones included, sorted.
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("list scratch folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn save_atomic_writes_and_replaces_leaving_no_temporary_files() -> Result {
        let scratch = tempfile::tempdir().expect("scratch folder");
        let path = scratch.path().join("app.toml");
        save_atomic(&path, "a = 1\n")?;
        assert_eq!(fs::read_to_string(&path).ok().as_deref(), Some("a = 1\n"));
        save_atomic(&path, "a = 2\n")?;
        assert_eq!(fs::read_to_string(&path).ok().as_deref(), Some("a = 2\n"));
        assert_eq!(entries(scratch.path()), vec!["app.toml".to_owned()]);
        Ok(())
    }

    #[test]
    fn save_atomic_removes_what_dead_saves_left_behind() -> Result {
        let scratch = tempfile::tempdir().expect("scratch folder");
        let path = scratch.path().join("state.json");
        let old = scratch.path().join(".state.json.99999.0.tmp");
        let fresh = scratch.path().join(".state.json.99998.0.tmp");
        let other = scratch.path().join(".other.json.99999.0.tmp");
        for leftover in [&old, &fresh, &other] {
            fs::write(leftover, "{\"n\": 1").expect("write a leftover");
        }
        let long_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        for leftover in [&old, &other] {
            File::options()
                .write(true)
                .open(leftover)
                .and_then(|f| f.set_modified(long_ago))
                .expect("age a leftover");
        }
        save_atomic(&path, "{}\n")?;
        // an old leftover of this file goes; a recent one (a save under way) and
        // another file's stay
        assert_eq!(
            entries(scratch.path()),
            vec![
                ".other.json.99999.0.tmp".to_owned(),
                ".state.json.99998.0.tmp".to_owned(),
                "state.json".to_owned()
            ]
        );
        Ok(())
    }

    #[test]
    fn save_atomic_fails_cleanly_without_a_folder() {
        let scratch = tempfile::tempdir().expect("scratch folder");
        let path = scratch.path().join("no-such-folder").join("app.json");
        match save_atomic(&path, "{}") {
            Err(Error::Io { path: at, reason }) => {
                assert_eq!(at, path.display().to_string());
                assert!(
                    reason.starts_with("cannot create a temporary file"),
                    "{reason}"
                );
            }
            other => panic!("expected an io error, got {other:?}"),
        }
        assert!(entries(scratch.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn save_atomic_keeps_permissions() -> Result {
        use std::os::unix::fs::PermissionsExt;
        let scratch = tempfile::tempdir().expect("scratch folder");
        let path = scratch.path().join("secret.json");
        fs::write(&path, "{}").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        save_atomic(&path, "{\"a\": 1}\n")?;
        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            fs::read_to_string(&path).ok().as_deref(),
            Some("{\"a\": 1}\n")
        );
        assert_eq!(entries(scratch.path()), vec!["secret.json".to_owned()]);
        Ok(())
    }

    // ---- dotted keys

    #[test]
    fn keys_parse_into_segments() -> Result {
        assert_eq!(parse_key("server.ports.1")?, vec!["server", "ports", "1"]);
        let reason_of = |key: &str| match parse_key(key) {
            Err(Error::InvalidKey { reason, .. }) => reason,
            other => panic!("expected an invalid key, got {other:?}"),
        };
        assert_eq!(reason_of("a..b"), "segment 2 is empty");
        assert_eq!(reason_of(".a"), "segment 1 is empty");
        assert_eq!(reason_of("a."), "segment 2 is empty");
        assert_eq!(reason_of(""), "the key is empty");
        Ok(())
    }

    #[test]
    fn get_follows_tables_and_lists_from_one() {
        let root = json!({"server": {"ports": [80, 443], "1": "one"}, "n": 3});
        assert_eq!(get(&root, "server.ports.1"), Some(&json!(80)));
        assert_eq!(get(&root, "server.ports.2"), Some(&json!(443)));
        assert_eq!(get(&root, "server.ports.0"), None);
        assert_eq!(get(&root, "server.ports.3"), None);
        assert_eq!(get(&root, "server.ports.x"), None);
        assert_eq!(get(&root, "server.1"), Some(&json!("one")));
        assert_eq!(get(&root, "server.2"), None);
        assert_eq!(get(&root, "n.x"), None);
        assert_eq!(get(&root, "a..b"), None);
        assert_eq!(get(&root, ""), Some(&root));
    }

    #[test]
    fn set_creates_tables_and_fits_lists() -> Result {
        let mut root = json!({"server": {"port": 80, "ports": [1, 2]}});
        set(&mut root, "a.b.c", json!(true))?;
        set(&mut root, "server.ports.1", json!(10))?;
        set(&mut root, "server.ports.3", json!(30))?;
        set(&mut root, "server.ports.4.name", json!("x"))?;
        set(&mut root, "server.extra", json!({"keep": 1, "unset": null}))?;
        assert_eq!(
            root,
            json!({
                "a": {"b": {"c": true}},
                "server": {"port": 80, "ports": [10, 2, 30, {"name": "x"}], "extra": {"keep": 1}},
            })
        );
        let before = root.clone();
        let reason_of = |root: &mut Value, key: &str| match set(root, key, json!(1)) {
            Err(Error::InvalidKey { reason, .. }) => reason,
            other => panic!("expected an invalid key, got {other:?}"),
        };
        assert_eq!(
            reason_of(&mut root, "server.port.x"),
            "server.port is a number"
        );
        assert_eq!(reason_of(&mut root, "a.b.c.d"), "a.b.c is a boolean");
        assert!(reason_of(&mut root, "server.ports.6").contains("list of 4"));
        assert!(reason_of(&mut root, "server.ports.0").contains("list of 4"));
        assert!(reason_of(&mut root, "server.ports.x").contains("\"x\""));
        assert_eq!(reason_of(&mut root, "a..b"), "segment 2 is empty");
        assert!(matches!(
            set(&mut root, "a", Value::Null),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(
            set(&mut root, "a", json!([1, null])),
            Err(Error::InvalidValue { key, .. }) if key == "a.2"
        ));
        assert_eq!(root, before);
        Ok(())
    }

    #[test]
    fn remove_takes_values_out_and_closes_list_gaps() {
        let mut root = json!({"s": {"ports": [1, 2, 3], "host": "h"}});
        assert_eq!(remove(&mut root, "s.ports.2"), Some(json!(2)));
        assert_eq!(get(&root, "s.ports"), Some(&json!([1, 3])));
        assert_eq!(remove(&mut root, "s.ports.3"), None);
        assert_eq!(remove(&mut root, "s.host"), Some(json!("h")));
        assert_eq!(remove(&mut root, "s.host"), None);
        assert_eq!(remove(&mut root, "s.ports.1.x"), None);
        assert_eq!(remove(&mut root, ""), None);
        assert_eq!(root, json!({"s": {"ports": [1, 3]}}));
    }

    #[test]
    fn keys_lists_leaves_under_a_prefix() {
        let root = json!({
            "server": {"host": "h", "ports": [1, 2], "tls": {"on": true}},
            "empty": {},
            "name": "x",
            "plugins": [{"id": "a"}],
        });
        assert_eq!(
            keys(&root, ""),
            vec![
                "empty",
                "name",
                "plugins",
                "server.host",
                "server.ports",
                "server.tls.on"
            ]
        );
        assert_eq!(
            keys(&root, "server"),
            vec!["server.host", "server.ports", "server.tls.on"]
        );
        assert_eq!(keys(&root, "server.ports"), vec!["server.ports"]);
        assert_eq!(keys(&root, "plugins.1"), vec!["plugins.1.id"]);
        assert_eq!(keys(&root, "empty"), vec!["empty"]);
        assert!(keys(&root, "missing").is_empty());
        assert!(keys(&json!({}), "").is_empty());
    }

    #[test]
    fn diff_lists_changed_leaves() {
        let old = json!({
            "a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2], "d": "same", "gone": true,
        });
        let new = json!({
            "a": 2, "b": 5, "c": [1, 2, 3], "d": "same", "added": {"deep": 1},
        });
        assert_eq!(
            diff(&old, &new),
            vec!["a", "added.deep", "b", "b.x", "b.y", "c", "gone"]
        );
        assert!(diff(&old, &old).is_empty());
        assert_eq!(
            diff(&json!({"t": {}}), &json!({"t": {"k": 1}})),
            vec!["t", "t.k"]
        );
    }

    // ---- layers

    fn layered() -> Result<Layers> {
        let mut layers = Layers::new();
        layers.set_defaults(json!({
            "server": {"host": "localhost", "port": 80, "timeout": 30},
            "log": {"level": "info"},
            "ports": [1, 2, 3],
        }))?;
        layers.load_file("one.toml", json!({"server": {"port": 81, "timeout": 31}}))?;
        layers.load_file("two.json", json!({"server": {"port": 82}}))?;
        let (env, variables) =
            env_overrides("APP", [("APP__LOG__LEVEL".to_owned(), "debug".to_owned())]);
        layers.set_env(env, variables)?;
        Ok(layers)
    }

    #[test]
    fn higher_layers_win() -> Result {
        let mut layers = layered()?;
        assert_eq!(
            get(layers.merged(), "server.host"),
            Some(&json!("localhost"))
        );
        assert_eq!(get(layers.merged(), "server.timeout"), Some(&json!(31)));
        assert_eq!(get(layers.merged(), "server.port"), Some(&json!(82)));
        assert_eq!(get(layers.merged(), "log.level"), Some(&json!("debug")));
        layers.set("server.port", json!(83))?;
        assert_eq!(get(layers.merged(), "server.port"), Some(&json!(83)));
        assert_eq!(
            get(layers.merged(), "server.host"),
            Some(&json!("localhost"))
        );
        Ok(())
    }

    #[test]
    fn each_layer_is_named_as_a_source() -> Result {
        let mut layers = layered()?;
        layers.set("extra", json!({"on": true}))?;
        let source = |key: &str| layers.source(key).map(|s| s.describe());
        assert_eq!(source("server.host").as_deref(), Some("default"));
        assert_eq!(source("server.timeout").as_deref(), Some("file:one.toml"));
        assert_eq!(source("server.port").as_deref(), Some("file:two.json"));
        assert_eq!(source("server").as_deref(), Some("file:two.json"));
        assert_eq!(source("log.level").as_deref(), Some("env:APP__LOG__LEVEL"));
        assert_eq!(source("log").as_deref(), Some("env:APP__LOG__LEVEL"));
        assert_eq!(source("extra.on").as_deref(), Some("runtime"));
        assert_eq!(source("").as_deref(), Some("runtime"));
        assert_eq!(source("ports.2").as_deref(), Some("default"));
        assert_eq!(source("missing"), None);
        assert_eq!(source("a..b"), None);
        Ok(())
    }

    #[test]
    fn a_removed_key_stays_removed_until_set_again() -> Result {
        let mut layers = layered()?;
        assert!(layers.remove("server.port"));
        assert_eq!(get(layers.merged(), "server.port"), None);
        assert_eq!(layers.source("server.port"), None);
        // the highest layer still giving a leaf under server
        assert_eq!(
            layers.source("server"),
            Some(Source::File("one.toml".to_owned()))
        );
        // reloading a file does not bring it back
        layers.load_file("two.json", json!({"server": {"port": 92}}))?;
        assert_eq!(get(layers.merged(), "server.port"), None);
        assert!(!layers.remove("server.port"));
        // a key below a removed one shows through from the runtime layer
        assert!(layers.remove("log"));
        assert_eq!(get(layers.merged(), "log"), None);
        layers.set("log.file", json!("a.log"))?;
        assert_eq!(get(layers.merged(), "log"), Some(&json!({"file": "a.log"})));
        // setting the key (or a table above it) again ends the removal
        layers.set("server", json!({"extra": 1}))?;
        assert_eq!(get(layers.merged(), "server.port"), Some(&json!(92)));
        assert_eq!(
            layers.source("server.port"),
            Some(Source::File("two.json".to_owned()))
        );
        assert_eq!(layers.source("server"), Some(Source::Runtime));
        Ok(())
    }

    #[test]
    fn removing_runtime_values_leaves_no_empty_tables() -> Result {
        let mut layers = Layers::new();
        layers.set("a.b", json!(1))?;
        assert!(layers.remove("a.b"));
        assert_eq!(layers.merged(), &json!({}));
        assert!(!layers.remove("a.b"));
        assert!(!layers.remove("a..b"));
        Ok(())
    }

    #[test]
    fn list_items_change_within_the_merged_list() -> Result {
        let mut layers = layered()?;
        layers.set("ports.4", json!(4))?;
        layers.set("ports.1", json!(10))?;
        assert_eq!(get(layers.merged(), "ports"), Some(&json!([10, 2, 3, 4])));
        assert!(layers.remove("ports.2"));
        assert_eq!(get(layers.merged(), "ports"), Some(&json!([10, 3, 4])));
        assert!(!layers.remove("ports.9"));
        assert!(matches!(
            layers.set("ports.9", json!(9)),
            Err(Error::InvalidKey { .. })
        ));
        assert_eq!(layers.source("ports"), Some(Source::Runtime));
        Ok(())
    }

    #[test]
    fn layer_set_refuses_to_go_through_a_value() -> Result {
        let mut layers = layered()?;
        match layers.set("server.port.x", json!(1)) {
            Err(Error::InvalidKey { key, reason }) => {
                assert_eq!(key, "server.port.x");
                assert_eq!(reason, "server.port is a number");
            }
            other => panic!("expected an invalid key, got {other:?}"),
        }
        assert!(matches!(
            layers.set("x", Value::Null),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(
            layers.set_defaults(json!([1])),
            Err(Error::InvalidValue { .. })
        ));
        Ok(())
    }

    #[test]
    fn a_reloaded_file_keeps_its_place() -> Result {
        let mut layers = layered()?;
        layers.load_file("one.toml", json!({"server": {"port": 91, "host": "one"}}))?;
        // one.toml still ranks below two.json
        assert_eq!(get(layers.merged(), "server.port"), Some(&json!(82)));
        assert_eq!(get(layers.merged(), "server.host"), Some(&json!("one")));
        // its earlier values are gone
        assert_eq!(get(layers.merged(), "server.timeout"), Some(&json!(30)));
        assert!(layers.remove_file("two.json"));
        assert!(!layers.remove_file("two.json"));
        assert_eq!(get(layers.merged(), "server.port"), Some(&json!(91)));
        Ok(())
    }

    #[test]
    fn single_defaults_come_and_go_and_resets_uncover_them() -> Result {
        let mut layers = Layers::new();
        layers.set_default("plugins.a", Some(json!({"x": 1, "y": 2})))?;
        layers.set_default("plugins.b", Some(json!({"x": 5})))?;
        layers.set("plugins.a.x", json!(10))?;
        assert!(layers.remove("plugins.a.y"));
        assert_eq!(get(layers.merged(), "plugins.a"), Some(&json!({"x": 10})));
        layers.reset("plugins.a")?;
        assert_eq!(
            get(layers.merged(), "plugins.a"),
            Some(&json!({"x": 1, "y": 2}))
        );
        layers.set_default("plugins.a", None)?;
        assert_eq!(layers.merged(), &json!({"plugins": {"b": {"x": 5}}}));
        assert!(layers.set_default("plugins.b.x.z", Some(json!(1))).is_err());
        assert!(layers.reset("a..b").is_err());
        Ok(())
    }

    #[test]
    fn lists_replace_whole_across_layers() -> Result {
        let mut layers = Layers::new();
        layers.set_defaults(json!({"ports": [1, 2, 3], "t": {"a": 1}}))?;
        layers.load_file("f", json!({"ports": [9], "t": {"b": 2}}))?;
        assert_eq!(
            layers.merged(),
            &json!({"ports": [9], "t": {"a": 1, "b": 2}})
        );
        Ok(())
    }

    // ---- environment

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_values_are_typed_by_their_form() {
        let table = [
            ("true", json!(true)),
            ("false", json!(false)),
            ("True", json!("True")),
            ("8080", json!(8080)),
            ("-3", json!(-3)),
            ("0", json!(0)),
            ("01234", json!("01234")),
            ("+1", json!("+1")),
            ("99999999999999999999", json!("99999999999999999999")),
            ("1.5", json!(1.5)),
            ("-2.5e3", json!(-2500.0)),
            ("1e3", json!(1000.0)),
            ("1.", json!("1.")),
            (".5", json!(".5")),
            ("nan", json!("nan")),
            ("inf", json!("inf")),
            ("[1, \"a\"]", json!([1, "a"])),
            ("{\"h\": \"x\", \"n\": null}", json!({"h": "x"})),
            ("[1, null]", json!("[1, null]")),
            ("[not json", json!("[not json")),
            ("", json!("")),
            (" 8080", json!(" 8080")),
            ("hello world", json!("hello world")),
        ];
        for (text, expected) in table {
            assert_eq!(typed(text), expected, "{text:?}");
        }
    }

    #[test]
    fn environment_variables_become_keys() {
        let (value, variables) = env_overrides(
            "APP",
            vars(&[
                ("APP__SERVER__PORT", "8080"),
                ("APP__LOG_LEVEL", "debug"),
                ("APP_OTHER", "x"),
                ("OTHER__X", "x"),
                ("APP__", "x"),
                ("APP__A____B", "x"),
                ("APP__A.B", "x"),
                ("APP__DB__HOST", "h"),
                ("APP__DB", "whole"),
            ]),
        );
        assert_eq!(
            value,
            json!({"server": {"port": 8080}, "log_level": "debug", "db": {"host": "h"}})
        );
        let mut variables: Vec<(String, String)> = variables.into_iter().collect();
        variables.sort();
        assert_eq!(
            variables,
            vars(&[
                ("db.host", "APP__DB__HOST"),
                ("log_level", "APP__LOG_LEVEL"),
                ("server.port", "APP__SERVER__PORT"),
            ])
        );
    }

    #[test]
    fn an_environment_table_names_its_variable() -> Result {
        let mut layers = Layers::new();
        let (env, variables) = env_overrides(
            "APP",
            vars(&[("APP__DB", "{\"host\": \"h\", \"port\": 5}")]),
        );
        layers.set_env(env, variables)?;
        assert_eq!(
            layers.source("db.port"),
            Some(Source::Env("APP__DB".to_owned()))
        );
        assert_eq!(
            layers.source("db").map(|s| s.describe()).as_deref(),
            Some("env:APP__DB")
        );
        Ok(())
    }
}
