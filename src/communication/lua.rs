//! The Lua side of `qtforge.communication`: `bus.lua` and the natives it calls.
//!
//! The router is called when a subscription comes or goes and the first time a
//! topic is published on (and again only after a change made its route stale);
//! publishing and delivery themselves never cross into Rust.

use std::time::{SystemTime, UNIX_EPOCH};

use mlua::{
    IntoLuaMulti, Lua, LuaSerdeExt, LuaString, Nil, Table, UserData, UserDataMethods, Value,
};

use super::contract::RawContract;
use super::router::{DEFAULT_CACHE_LIMIT, Router};
use crate::error::Error;
use crate::error::lua::or_message;

/// A list of slot numbers, or nil when there is none (the common case).
fn slots_or_nil(lua: &Lua, slots: Vec<u32>) -> mlua::Result<Value> {
    if slots.is_empty() {
        Ok(Nil)
    } else {
        Ok(Value::Table(lua.create_sequence_from(slots)?))
    }
}

/// The text of a topic or pattern; Lua strings are bytes, and one that is not
/// UTF-8 is refused with a reason rather than a conversion error.
fn topic_text(value: &LuaString) -> Result<String, String> {
    match value.to_str() {
        Ok(text) => Ok(text.to_string()),
        Err(_) => Err(value.to_string_lossy()),
    }
}

const NOT_UTF8: &str = "it is not valid UTF-8";

fn topic_error(topic: String) -> Error {
    Error::InvalidTopic {
        topic,
        reason: NOT_UTF8.into(),
    }
}

struct LuaRouter(Router);

impl UserData for LuaRouter {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // id, stale slots (or nil) | nil, message
        methods.add_method_mut(
            "subscribe",
            |lua, this, (pattern, priority): (LuaString, i64)| {
                let subscribed = topic_text(&pattern)
                    .map_err(|pattern| Error::InvalidPattern {
                        pattern,
                        reason: NOT_UTF8.into(),
                    })
                    .and_then(|pattern| this.0.subscribe(&pattern, priority));
                match subscribed {
                    Ok((id, stale)) => (id, slots_or_nil(lua, stale)?).into_lua_multi(lua),
                    Err(err) => or_message(lua, Err::<(), _>(err)),
                }
            },
        );
        // stale slots (or nil)
        methods.add_method_mut("unsubscribe", |lua, this, id: u64| {
            slots_or_nil(lua, this.0.unsubscribe(id))
        });
        // slot, { subscription id... }, cache cleared | nil, message
        methods.add_method_mut("route", |lua, this, topic: LuaString| {
            let routed = topic_text(&topic)
                .map_err(topic_error)
                .and_then(|topic| this.0.route(&topic));
            match routed {
                Ok(route) => (
                    route.slot,
                    lua.create_sequence_from(route.subscriptions)?,
                    route.cache_cleared,
                )
                    .into_lua_multi(lua),
                Err(err) => or_message(lua, Err::<(), _>(err)),
            }
        });
        methods.add_method("count", |lua, this, topic: LuaString| {
            let counted = topic_text(&topic)
                .map_err(topic_error)
                .and_then(|topic| this.0.count(&topic));
            or_message(lua, counted)
        });
        methods.add_method("patterns", |lua, this, ()| {
            lua.create_sequence_from(this.0.patterns())
        });
        methods.add_method("cached", |_, this, ()| Ok(this.0.cached()));
    }
}

/// The functions `bus.lua` gets from Rust.
fn natives(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    // true/false, or nil and a message when the version or range is malformed
    natives.set(
        "satisfies",
        lua.create_function(|lua, (version, range): (LuaString, LuaString)| {
            or_message(
                lua,
                crate::utils::version::satisfies(
                    &version.to_string_lossy(),
                    &range.to_string_lossy(),
                ),
            )
        })?,
    )?;
    natives.set(
        "new_router",
        lua.create_function(|_, limit: Option<usize>| {
            Ok(LuaRouter(Router::with_cache_limit(
                limit.unwrap_or(DEFAULT_CACHE_LIMIT),
            )))
        })?,
    )?;
    // the contract as a plain table, or nil and a message naming what is wrong
    natives.set(
        "check_contract",
        lua.create_function(|lua, definition: Value| {
            let raw: Result<RawContract, _> = lua.from_value(definition);
            match raw {
                Ok(raw) => match raw.validate() {
                    Ok(contract) => lua.to_value(&contract).into_lua_multi(lua),
                    Err(err) => or_message(lua, Err::<(), _>(err)),
                },
                Err(err) => (Nil, format!("malformed service contract: {err}")).into_lua_multi(lua),
            }
        })?,
    )?;
    // wall-clock seconds since the Unix epoch, for message timestamps
    natives.set(
        "now",
        lua.create_function(|_, ()| {
            Ok(SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()))
        })?,
    )?;
    Ok(natives)
}

/// Builds the `qtforge.communication` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let source = include_str!("bus.lua");
    let classes = crate::module::run_chunk(lua, "communication/bus.lua", source, natives(lua)?)?;
    lua.set_named_registry_value(CLASSES_KEY, &classes)?;
    crate::module::public(
        lua,
        &classes,
        &[
            "MessageBus",
            "Message",
            "RequestResponseSystem",
            "ServiceContract",
            "STOP",
        ],
    )
}

/// Registry key of the table of classes `bus.lua` returns (with the metatables
/// specs and `manager.lua` use).
pub const CLASSES_KEY: &str = "qtforge.communication.classes";
