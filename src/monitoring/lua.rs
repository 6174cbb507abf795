//! The Lua side of `qtforge.monitoring`: a folder watcher for
//! `PluginHotReloadManager` (`reload.lua`), and the natives the metrics
//! collector calls when a scraper asks (`render_prometheus`, `rust_heap_bytes`).

use std::path::Path;
use std::time::Duration;

use mlua::{IntoLuaMulti, Lua, MultiValue, Nil, Table, UserData, UserDataMethods, Value};

use super::alloc::heap_bytes;
use super::prometheus::{self, Family, Kind, Sample};
use crate::error::{Error, lua as lua_error};
use crate::watch::{FileWatcher, WatchMode};

/// Watches plugin folders; changes wait in its queue until `poll`.
struct LuaWatcher(FileWatcher);

impl UserData for LuaWatcher {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // true | nil, Error
        methods.add_method_mut("watch_dir", |lua, this, dir: String| {
            match this.0.watch_dir(Path::new(&dir), true) {
                Ok(()) => true.into_lua_multi(lua),
                Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
            }
        });
        methods.add_method_mut("unwatch", |_, this, dir: String| {
            Ok(this.0.unwatch(Path::new(&dir)))
        });
        // the settled changed paths, or nil when there are none (no table to
        // make on the frames where nothing changed)
        methods.add_method("poll", |lua, this, ()| -> mlua::Result<MultiValue> {
            let changed = this.0.poll();
            if changed.is_empty() {
                return Nil.into_lua_multi(lua);
            }
            lua.create_sequence_from(changed.iter().map(|p| p.display().to_string()))?
                .into_lua_multi(lua)
        });
        methods.add_method("pending", |_, this, ()| Ok(this.0.pending()));
        // the watcher's errors since the last call, or nil when there are none
        // (poll() asks on every call)
        methods.add_method("errors", |_, this, ()| {
            let errors = this.0.errors();
            Ok((!errors.is_empty()).then_some(errors))
        });
    }
}

fn resolve(path: &Path) -> String {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real.display().to_string();
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => match std::fs::canonicalize(parent) {
            Ok(real) => real.join(name).display().to_string(),
            Err(_) => path.display().to_string(),
        },
        _ => path.display().to_string(),
    }
}

/// Why the families handed to `render_prometheus` could not be read: their
/// shape, an `Error` for the caller, or Lua itself (out of memory), which raises.
enum ReadError {
    Shape(Error),
    Lua(mlua::Error),
}

impl From<mlua::Error> for ReadError {
    fn from(err: mlua::Error) -> Self {
        ReadError::Lua(err)
    }
}

fn malformed(metric: &str, at: &str, reason: String) -> ReadError {
    ReadError::Shape(Error::InvalidMetric {
        metric: metric.to_owned(),
        at: at.to_owned(),
        reason,
    })
}

/// The items of an array in order. Raw reads, and keys other than 1 to n are
/// an error: a table of labels by name (`{ plugin = "x" }`) would otherwise
/// read as no labels at all.
fn array_items(table: &Table, metric: &str, at: &str) -> Result<Vec<Value>, ReadError> {
    let mut items = vec![Nil; table.raw_len()];
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let slot = match &key {
            Value::Integer(n) => usize::try_from(*n)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|index| items.get_mut(index)),
            _ => None,
        };
        match slot {
            Some(slot) => *slot = value,
            None => {
                let shown = match &key {
                    Value::String(s) => format!("{:?}", s.to_string_lossy()),
                    Value::Integer(n) => n.to_string(),
                    other => format!("of type {}", type_of(other)),
                };
                return Err(malformed(
                    metric,
                    at,
                    format!("must be an array, but has the key {shown}"),
                ));
            }
        }
    }
    Ok(items)
}

/// The name Lua's `type()` gives `value` (mlua tells integers apart).
fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::Number(_) => "number",
        Value::LightUserData(_) => "userdata",
        other => other.type_name(),
    }
}

/// `value` as a Rust string, when it is a Lua string of UTF-8.
fn text(value: &Value, metric: &str, at: &str) -> Result<String, ReadError> {
    match value {
        Value::String(s) => match s.to_str() {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(malformed(metric, at, "is not UTF-8".to_owned())),
        },
        other => Err(malformed(
            metric,
            at,
            format!("must be a string, got {}", type_of(other)),
        )),
    }
}

/// The families of a `render_prometheus` call, read from
/// `{ { name =, help =, type =, samples = { { labels =, value = }, ... } }, ... }`.
fn families_from_lua(prefix: &str, families: &Table) -> Result<Vec<Family>, ReadError> {
    let items = array_items(families, "", "families")?;
    let mut read = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        read.push(family_from_lua(
            prefix,
            item,
            &format!("families[{}]", index + 1),
        )?);
    }
    Ok(read)
}

fn family_from_lua(prefix: &str, item: Value, at: &str) -> Result<Family, ReadError> {
    let Value::Table(family) = item else {
        return Err(malformed(
            "",
            at,
            format!("must be a table, got {}", type_of(&item)),
        ));
    };
    let name = text(&family.raw_get("name")?, "", &format!("{at}.name"))?;
    let metric = format!("{prefix}{name}");
    // no help is an empty one
    let help = match family.raw_get::<Value>("help")? {
        Nil => String::new(),
        other => text(&other, &metric, &format!("{at}.help"))?,
    };
    let kind_value: Value = family.raw_get("type")?;
    let kind = match &kind_value {
        Value::String(s) => s.to_str().ok().and_then(|s| Kind::from_name(&s)),
        _ => None,
    };
    let Some(kind) = kind else {
        let got = match &kind_value {
            Value::String(s) => format!("{:?}", s.to_string_lossy()),
            other => type_of(other).to_owned(),
        };
        return Err(malformed(
            &metric,
            &format!("{at}.type"),
            format!("must be \"counter\" or \"gauge\", got {got}"),
        ));
    };
    let samples_at = format!("{at}.samples");
    let Value::Table(samples) = family.raw_get("samples")? else {
        return Err(malformed(
            &metric,
            &samples_at,
            "must be an array of samples".to_owned(),
        ));
    };
    let items = array_items(&samples, &metric, &samples_at)?;
    let mut read = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        read.push(sample_from_lua(
            item,
            &metric,
            &format!("{samples_at}[{}]", index + 1),
        )?);
    }
    Ok(Family {
        name,
        help,
        kind,
        samples: read,
    })
}

fn sample_from_lua(item: Value, metric: &str, at: &str) -> Result<Sample, ReadError> {
    let Value::Table(sample) = item else {
        return Err(malformed(
            metric,
            at,
            format!("must be a table, got {}", type_of(&item)),
        ));
    };
    let value = match sample.raw_get::<Value>("value")? {
        Value::Integer(n) => n as f64,
        Value::Number(n) => n,
        other => {
            return Err(malformed(
                metric,
                &format!("{at}.value"),
                format!("must be a number, got {}", type_of(&other)),
            ));
        }
    };
    let labels_at = format!("{at}.labels");
    let labels = match sample.raw_get::<Value>("labels")? {
        Nil => Vec::new(),
        Value::Table(labels) => {
            let items = array_items(&labels, metric, &labels_at)?;
            let mut read = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                read.push(label_from_lua(
                    item,
                    metric,
                    &format!("{labels_at}[{}]", index + 1),
                )?);
            }
            read
        }
        other => {
            return Err(malformed(
                metric,
                &labels_at,
                format!(
                    "must be an array of {{name, value}} pairs, got {}",
                    type_of(&other)
                ),
            ));
        }
    };
    Ok(Sample { labels, value })
}

/// One `{name, value}` pair; a number value becomes its text (`3`, not `3.0`).
fn label_from_lua(item: Value, metric: &str, at: &str) -> Result<(String, String), ReadError> {
    let Value::Table(pair) = item else {
        return Err(malformed(
            metric,
            at,
            format!("must be a {{name, value}} pair, got {}", type_of(&item)),
        ));
    };
    let items = array_items(&pair, metric, at)?;
    let Ok([name, value]) = <[Value; 2]>::try_from(items) else {
        return Err(malformed(
            metric,
            at,
            format!(
                "must be a {{name, value}} pair, got a table of {} item(s)",
                pair.raw_len()
            ),
        ));
    };
    let name = text(&name, metric, &format!("{at}[1]"))?;
    let value = match value {
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => prometheus::format_value(n),
        Value::String(_) => text(&value, metric, &format!("{at}[2]"))?,
        other => {
            return Err(malformed(
                metric,
                &format!("{at}[2]"),
                format!("must be a string or a number, got {}", type_of(&other)),
            ));
        }
    };
    Ok((name, value))
}

/// `render_prometheus(prefix, families) -> text | nil, Error`.
fn render_prometheus(lua: &Lua, (prefix, families): (String, Table)) -> mlua::Result<MultiValue> {
    let rendered = match families_from_lua(&prefix, &families) {
        Ok(families) => prometheus::render(&prefix, &families),
        Err(ReadError::Shape(err)) => Err(err),
        Err(ReadError::Lua(err)) => return Err(err),
    };
    match rendered {
        Ok(text) => text.into_lua_multi(lua),
        Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
    }
}

/// Builds the `qtforge.monitoring` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    // new_watcher(poll_interval_seconds | nil, debounce_seconds) -> watcher | nil, message
    natives.set(
        "new_watcher",
        lua.create_function(
            |lua, (interval, debounce): (Option<f64>, f64)| -> mlua::Result<MultiValue> {
                let mode = match interval {
                    Some(seconds) => WatchMode::Poll(Duration::from_secs_f64(seconds.max(0.0))),
                    None => WatchMode::Events,
                };
                match FileWatcher::new(mode, Duration::from_secs_f64(debounce.max(0.0))) {
                    Ok(watcher) => lua
                        .create_userdata(LuaWatcher(watcher))?
                        .into_lua_multi(lua),
                    Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
                }
            },
        )?,
    )?;
    // "file", "dir" or nil: what is at a path now
    natives.set(
        "kind_of",
        lua.create_function(|_, path: String| {
            Ok(std::fs::metadata(&path)
                .ok()
                .map(|m| if m.is_dir() { "dir" } else { "file" }))
        })?,
    )?;
    // a path with its symlinks resolved, so that a plugin loaded by one name
    // and a change reported under another meet; a path that is gone resolves
    // through its folder
    natives.set(
        "resolve",
        lua.create_function(|_, path: String| Ok(resolve(Path::new(&path))))?,
    )?;
    natives.set(
        "core",
        lua.named_registry_value::<Table>(crate::core::lua::CLASSES_KEY)?,
    )?;
    // render_prometheus(prefix, families) -> text | nil, Error: the metrics
    // metrics.lua gathered, as a Prometheus scrape reads them; called per
    // scrape, so reading a table here is no cost on a hot path
    natives.set("render_prometheus", lua.create_function(render_prometheus)?)?;
    // rust_heap_bytes() -> integer: the Rust side's heap, which
    // collectgarbage("count") cannot see
    natives.set(
        "rust_heap_bytes",
        lua.create_function(|_, ()| Ok(heap_bytes()))?,
    )?;
    let reload = crate::module::run_chunk(
        lua,
        "monitoring/reload.lua",
        include_str!("reload.lua"),
        natives.clone(),
    )?;
    let metrics = crate::module::run_chunk(
        lua,
        "monitoring/metrics.lua",
        include_str!("metrics.lua"),
        natives,
    )?;
    let monitoring = crate::module::public(lua, &reload, &["PluginHotReloadManager"])?;
    monitoring.set(
        "PluginMetricsCollector",
        metrics.get::<mlua::Value>("PluginMetricsCollector")?,
    )?;
    Ok(monitoring)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Lua state with `render` bound to the native, and the Error class it
    /// hands errors out with.
    fn lua_with_render() -> mlua::Result<Lua> {
        let lua = Lua::new();
        crate::error::lua::register(&lua)?;
        lua.globals()
            .set("render", lua.create_function(render_prometheus)?)?;
        Ok(lua)
    }

    /// What `render(prefix, <families>)` gives: the text, or the error's code and message.
    fn run(lua: &Lua, families: &str) -> mlua::Result<Result<String, (String, String)>> {
        let (text, err): (Option<String>, Option<Table>) = lua
            .load(format!("return render('qtforge_', {families})"))
            .eval()?;
        match (text, err) {
            (Some(text), None) => Ok(Ok(text)),
            (None, Some(err)) => Ok(Err((err.get("code")?, err.get("message")?))),
            _ => Err(mlua::Error::runtime("expected text, or nil and an Error")),
        }
    }

    #[test]
    fn reads_families_samples_and_labels_in_their_order() -> mlua::Result<()> {
        let lua = lua_with_render()?;
        let text = run(
            &lua,
            r#"{
                { name = "calls_total", help = "Calls.", type = "counter", samples = {
                    { labels = { { "plugin", "greeter" }, { "attempt", 3 } }, value = 2 },
                    { labels = { { "plugin", "say \"hi\"" }, { "attempt", 2.0 } }, value = 0.5 },
                } },
                { name = "up", type = "gauge", samples = { { value = 1 } } },
                { name = "nothing", help = "x", type = "gauge", samples = {} },
            }"#,
        )?;
        assert_eq!(
            text,
            Ok("# HELP qtforge_calls_total Calls.\n\
                # TYPE qtforge_calls_total counter\n\
                qtforge_calls_total{plugin=\"greeter\",attempt=\"3\"} 2\n\
                qtforge_calls_total{plugin=\"say \\\"hi\\\"\",attempt=\"2\"} 0.5\n\
                # HELP qtforge_up \n\
                # TYPE qtforge_up gauge\n\
                qtforge_up 1\n"
                .to_owned())
        );
        // number label values: integers as integers, others round-trip
        let text = run(
            &lua,
            r#"{ { name = "m", type = "gauge", samples = {
                { labels = { { "v", 0.25 } }, value = -1 },
                { labels = { { "v", 1e308 * 10 } }, value = 0 },
            } } }"#,
        )?;
        let text = text.map_err(|(_, message)| mlua::Error::runtime(message))?;
        assert!(text.contains("qtforge_m{v=\"0.25\"} -1\n"), "{text}");
        assert!(text.contains("qtforge_m{v=\"+Inf\"} 0\n"), "{text}");
        assert_eq!(run(&lua, "{}")?, Ok(String::new()));
        Ok(())
    }

    #[test]
    fn names_the_field_of_a_malformed_table() -> mlua::Result<()> {
        let lua = lua_with_render()?;
        let cases = [
            (
                "{ x = 1 }",
                "cannot export metrics: families must be an array, but has the key \"x\"",
            ),
            (
                "{ 'calls' }",
                "cannot export metrics: families[1] must be a table, got string",
            ),
            (
                "{ { type = 'gauge', samples = {} } }",
                "cannot export metrics: families[1].name must be a string, got nil",
            ),
            (
                "{ { name = 'ok', type = 'gauge', samples = {} }, { name = 'm', help = 3, type = 'gauge', samples = {} } }",
                "cannot export metric \"qtforge_m\": families[2].help must be a string, got number",
            ),
            (
                "{ { name = 'm', type = 'histogram', samples = {} } }",
                "cannot export metric \"qtforge_m\": families[1].type must be \"counter\" or \"gauge\", got \"histogram\"",
            ),
            (
                "{ { name = 'm', samples = {} } }",
                "cannot export metric \"qtforge_m\": families[1].type must be \"counter\" or \"gauge\", got nil",
            ),
            (
                "{ { name = 'm', type = 'gauge' } }",
                "cannot export metric \"qtforge_m\": families[1].samples must be an array of samples",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1 }, 5 } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[2] must be a table, got number",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = '1' } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].value must be a number, got string",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = { plugin = 'x' } } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels must be an array, but has the key \"plugin\"",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = 'plugin=x' } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels must be an array of {name, value} pairs, got string",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = { { 'a', 'b', 'c' } } } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels[1] must be a {name, value} pair, got a table of 3 item(s)",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = { { 'a' } } } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels[1] must be a {name, value} pair, got a table of 1 item(s)",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = { 'a' } } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels[1] must be a {name, value} pair, got string",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = { { 1, 'b' } } } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels[1][1] must be a string, got number",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = { { 'a', true } } } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels[1][2] must be a string or a number, got boolean",
            ),
            (
                "{ { name = 'm', type = 'gauge', samples = { { value = 1, labels = { { 'a', '\\255' } } } } } }",
                "cannot export metric \"qtforge_m\": families[1].samples[1].labels[1][2] is not UTF-8",
            ),
            (
                "{ [1] = { name = 'a', type = 'gauge', samples = {} }, [3] = { name = 'b', type = 'gauge', samples = {} } }",
                "cannot export metrics: families must be an array, but has the key 3",
            ),
        ];
        for (families, message) in cases {
            assert_eq!(
                run(&lua, families)?,
                Err(("invalid_metric".to_owned(), message.to_owned())),
                "{families}"
            );
        }
        Ok(())
    }

    #[test]
    fn hands_on_what_the_renderer_rejects() -> mlua::Result<()> {
        let lua = lua_with_render()?;
        let families = "{ { name = 'calls_total', type = 'counter', samples = {
            { labels = { { 'plugin', 'a' }, { 'plugin', 'b' } }, value = 1 } } } }";
        assert_eq!(
            run(&lua, families)?,
            Err((
                "invalid_metric".to_owned(),
                "cannot export metric \"qtforge_calls_total\": families[1].samples[1] gives label \"plugin\" twice"
                    .to_owned()
            ))
        );
        let families =
            "{ { name = 'calls_total', type = 'counter', samples = { { value = -1 } } } }";
        let (code, message) = run(&lua, families)?.err().unwrap_or_default();
        assert_eq!(code, "invalid_metric");
        assert!(message.contains("samples[1].value is -1"), "{message}");
        Ok(())
    }
}
