//! Plugin configuration checked against the manifest's `[config]` defaults.
//!
//! The defaults fix the keys and their types: a configure call may change
//! values, never add keys or change what kind of value a key holds. Tables
//! merge key by key; lists are replaced whole.

use serde_json::{Map, Value};

/// What went wrong, and where (`"server.port"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "table",
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Checks `changes` against `defaults` and returns `current` with the changes applied.
/// On error nothing is applied. A plugin that cannot declare its configuration
/// (a native one: the ABI has no `[config]`) passes `declared = false` and takes
/// any keys; the types of the values it already has still hold.
pub fn apply(
    defaults: &Map<String, Value>,
    current: &Map<String, Value>,
    changes: &Value,
) -> Result<Map<String, Value>, ConfigError> {
    apply_to(defaults, current, changes, true)
}

/// [`apply`], for plugins whose configuration is declared (`declared`) or not.
pub fn apply_to(
    defaults: &Map<String, Value>,
    current: &Map<String, Value>,
    changes: &Value,
    declared: bool,
) -> Result<Map<String, Value>, ConfigError> {
    let Value::Object(changes) = changes else {
        return Err(ConfigError {
            key: String::new(),
            reason: format!("expected a table, got a {}", kind(changes)),
        });
    };
    let mut merged = current.clone();
    if !declared && defaults.is_empty() {
        // nothing declared: what the plugin has so far fixes the types
        merge(current, &mut merged, changes, "", true)?;
        return Ok(merged);
    }
    merge(defaults, &mut merged, changes, "", false)?;
    Ok(merged)
}

/// The configuration a new version of a plugin starts with: its defaults, with
/// each value of `current` whose key the new defaults still declare with the
/// same type. A key that went away, or changed type, falls back to its default.
pub fn carry_over(
    defaults: &Map<String, Value>,
    current: &Map<String, Value>,
) -> Map<String, Value> {
    let mut kept = defaults.clone();
    for (key, value) in current {
        let mut one = Map::new();
        one.insert(key.clone(), value.clone());
        if let Ok(merged) = apply(defaults, &kept, &Value::Object(one)) {
            kept = merged;
        }
    }
    kept
}

fn merge(
    defaults: &Map<String, Value>,
    target: &mut Map<String, Value>,
    changes: &Map<String, Value>,
    prefix: &str,
    open: bool,
) -> Result<(), ConfigError> {
    // an empty table in the defaults is free-form: the plugin takes any keys there;
    // so is every table of an `open` (undeclared) configuration
    let free_form = open || (defaults.is_empty() && !prefix.is_empty());
    for (key, value) in changes {
        let path = join(prefix, key);
        let Some(default) = defaults.get(key) else {
            if free_form {
                target.insert(key.clone(), value.clone());
                continue;
            }
            let mut known: Vec<&str> = defaults.keys().map(String::as_str).collect();
            known.sort_unstable();
            let reason = if known.is_empty() {
                "unknown key: the manifest declares no configuration here".to_owned()
            } else {
                format!("unknown key (known: {})", known.join(", "))
            };
            return Err(ConfigError { key: path, reason });
        };
        check_type(default, value, &path)?;
        match (default, value) {
            (Value::Object(nested_defaults), Value::Object(nested_changes)) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(nested_target) = slot {
                    merge(nested_defaults, nested_target, nested_changes, &path, open)?;
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(())
}

fn check_type(default: &Value, value: &Value, path: &str) -> Result<(), ConfigError> {
    let fits = match (default, value) {
        (Value::Array(defaults), Value::Array(items)) => match defaults.first() {
            // a list of defaults fixes the kind of its items
            Some(first) => items.iter().all(|item| kind(item) == kind(first)),
            None => true,
        },
        // an empty Lua table arrives as an empty map; it is also an empty list
        (Value::Array(_), Value::Object(map)) => map.is_empty(),
        _ => kind(default) == kind(value),
    };
    if fits {
        Ok(())
    } else {
        Err(ConfigError {
            key: path.to_owned(),
            reason: format!(
                "expected a {}, got a {}",
                describe(default),
                describe(value)
            ),
        })
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Array(items) => match items.first() {
            Some(first) => format!("list of {}s", kind(first)),
            None => "list".to_owned(),
        },
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn defaults() -> Map<String, Value> {
        match json!({
            "greeting": "Hello",
            "retries": 3,
            "loud": false,
            "server": { "host": "localhost", "port": 8080 },
            "names": ["a"],
            "extra": {}
        }) {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn merges_known_keys_deeply() -> Result<(), ConfigError> {
        let d = defaults();
        let merged = apply(
            &d,
            &d,
            &json!({"greeting": "Hi", "server": {"port": 9090}, "names": ["x", "y"]}),
        )?;
        assert_eq!(merged["greeting"], "Hi");
        assert_eq!(merged["server"], json!({"host": "localhost", "port": 9090}));
        assert_eq!(merged["names"], json!(["x", "y"]));
        assert_eq!(merged["retries"], 3);
        Ok(())
    }

    #[test]
    fn names_unknown_keys_with_their_path() {
        let d = defaults();
        let err = apply(&d, &d, &json!({"server": {"tls": true}})).err();
        assert_eq!(err.as_ref().map(|e| e.key.as_str()), Some("server.tls"));
        assert!(err.is_some_and(|e| e.reason.contains("known: host, port")));
    }

    #[test]
    fn refuses_wrong_types_naming_both() {
        let d = defaults();
        let cases = [
            (
                json!({"retries": "3"}),
                "retries",
                "expected a number, got a string",
            ),
            (
                json!({"loud": 1}),
                "loud",
                "expected a boolean, got a number",
            ),
            (
                json!({"server": "x"}),
                "server",
                "expected a table, got a string",
            ),
            (
                json!({"names": [1]}),
                "names",
                "expected a list of strings, got a list of numbers",
            ),
        ];
        for (changes, key, reason) in cases {
            let err = apply(&d, &d, &changes).err();
            assert_eq!(
                err,
                Some(ConfigError {
                    key: key.into(),
                    reason: reason.into()
                })
            );
        }
    }

    #[test]
    fn leaves_current_untouched_on_error() {
        let d = defaults();
        let current = d.clone();
        assert!(apply(&d, &current, &json!({"greeting": "Hi", "bogus": 1})).is_err());
        assert_eq!(current["greeting"], "Hello");
    }

    #[test]
    fn free_form_tables_take_any_keys() -> Result<(), ConfigError> {
        let d = defaults();
        let merged = apply(&d, &d, &json!({"extra": {"anything": [1, 2]}}))?;
        assert_eq!(merged["extra"], json!({"anything": [1, 2]}));
        Ok(())
    }

    #[test]
    fn without_declared_config_nothing_is_accepted() {
        let err = apply(&Map::new(), &Map::new(), &json!({"x": 1})).err();
        assert!(err.is_some_and(|e| e.reason.contains("declares no configuration")));
        assert!(apply(&Map::new(), &Map::new(), &json!({})).is_ok());
        assert!(apply(&Map::new(), &Map::new(), &json!(5)).is_err());
    }

    #[test]
    fn a_new_version_keeps_each_value_it_still_declares() {
        let old = match json!({"greeting": "Hi", "retries": 9, "gone": true}) {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let mut new_defaults = defaults();
        new_defaults.insert("retries".into(), json!("three"));
        let kept = carry_over(&new_defaults, &old);
        assert_eq!(kept["greeting"], "Hi");
        assert_eq!(kept["retries"], "three");
        assert!(!kept.contains_key("gone"));
    }

    #[test]
    fn an_undeclared_configuration_takes_any_keys_and_keeps_their_types() -> Result<(), ConfigError>
    {
        let empty = Map::new();
        let first = apply_to(&empty, &empty, &json!({"greeting": "Hi", "n": 1}), false)?;
        assert_eq!(first["greeting"], "Hi");
        let second = apply_to(&empty, &first, &json!({"n": 2, "extra": true}), false)?;
        assert_eq!(
            (second["n"].clone(), second["extra"].clone()),
            (json!(2), json!(true))
        );
        let err = apply_to(&empty, &second, &json!({"n": "two"}), false).err();
        assert_eq!(err.map(|e| e.key), Some("n".to_owned()));
        assert!(apply_to(&empty, &empty, &json!({"x": 1}), true).is_err());
        Ok(())
    }

    #[test]
    fn an_empty_table_counts_as_an_empty_list() -> Result<(), ConfigError> {
        let d = defaults();
        let merged = apply(&d, &d, &json!({"names": {}}))?;
        assert_eq!(merged["names"], json!({}));
        Ok(())
    }
}
