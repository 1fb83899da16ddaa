//! The batch protocol's operations: each takes its arguments by Python diskcache's names and
//! answers with the JSON result Python's method would give (`format-spec/batch-protocol.md`).

use diskcache::{Entry, Key, Side};
use serde_json::{Value as Json, json};

use crate::batch::{Request, epoch_seconds};
use crate::failure::{Failure, Outcome};
use crate::handle::Handle;
use crate::json::{key_to_json, value_to_json};
use crate::setting;
use crate::value::Value;

/// Every operation's name.
pub const OPS: [&str; 25] = [
    "set",
    "get",
    "get_entry",
    "delete",
    "add",
    "touch",
    "incr",
    "decr",
    "pop",
    "contains",
    "len",
    "clear",
    "expire",
    "evict",
    "cull",
    "keys",
    "keys_sorted",
    "peekitem",
    "push",
    "pull",
    "peek",
    "volume",
    "stats",
    "check",
    "reset",
];

/// Runs the operation `op` of `req` on `h` and returns its result.
pub fn run(h: &Handle, op: &str, req: &Request) -> Outcome<Json> {
    let allow = |names: &[&str]| req.allow(op, names);
    Ok(match op {
        "set" => {
            allow(&["key", "value", "expire", "tag"])?;
            json!(h.set(req.key("key")?, &req.value()?, req.set_options()?)?)
        }
        "add" => {
            allow(&["key", "value", "expire", "tag"])?;
            json!(h.add(req.key("key")?, &req.value()?, req.set_options()?)?)
        }
        "get" | "get_entry" | "pop" => {
            if op == "get_entry" {
                allow(&["key", "default"])?;
            } else {
                allow(&["key", "default", "expire_time", "tag", "entry"])?;
            }
            let key = req.key("key")?;
            let (want_time, want_tag) = if op == "get_entry" || req.flag("entry", false)? {
                (true, true)
            } else {
                (req.flag("expire_time", false)?, req.flag("tag", false)?)
            };
            let entry = if op == "pop" {
                h.pop_entry(key)?
            } else {
                h.get_entry(key)?
            };
            shaped(entry, req.get("default"), want_time, want_tag)
        }
        "delete" => {
            allow(&["key"])?;
            json!(h.delete(req.key("key")?)?)
        }
        "touch" => {
            allow(&["key", "expire"])?;
            json!(h.touch(req.key("key")?, req.expire()?)?)
        }
        "contains" => {
            allow(&["key"])?;
            json!(h.contains(req.key("key")?)?)
        }
        "incr" | "decr" => {
            allow(&["key", "delta", "default"])?;
            let key = req.key("key")?;
            let delta = req.int("delta", 1)?;
            // Python's default is 0; an explicit null means "no default" (KeyError).
            let default = match req.get("default") {
                None => Some(0),
                Some(Json::Null) => None,
                Some(_) => Some(req.int("default", 0)?),
            };
            let n = if op == "incr" {
                h.incr(key, delta, default)?
            } else {
                h.decr(key, delta, default)?
            };
            n.map_or(Json::Null, crate::json::number_to_json)
        }
        "len" => {
            allow(&[])?;
            json!(h.len()?)
        }
        "volume" => {
            allow(&[])?;
            json!(h.volume()?)
        }
        "clear" => {
            allow(&[])?;
            json!(h.clear()?)
        }
        "expire" => {
            allow(&[])?;
            json!(h.expire()?)
        }
        "cull" => {
            allow(&[])?;
            json!(h.cull()?)
        }
        "evict" => {
            allow(&["tag"])?;
            json!(h.evict(req.key("tag")?)?)
        }
        "keys" => {
            allow(&["reverse"])?;
            let mut keys = h.keys()?.collect::<diskcache::Result<Vec<Key>>>()?;
            if req.flag("reverse", false)? {
                keys.reverse();
            }
            Json::Array(keys.iter().map(key_to_json).collect())
        }
        "keys_sorted" => {
            allow(&["reverse"])?;
            let keys = h.keys_sorted(req.flag("reverse", false)?)?;
            let keys = keys.collect::<diskcache::Result<Vec<Key>>>()?;
            Json::Array(keys.iter().map(key_to_json).collect())
        }
        "peekitem" => {
            allow(&["last"])?;
            match h.peekitem(req.flag("last", true)?)? {
                Some(item) => pair(Some(item)),
                None => return Err(Failure::NotFound("the cache is empty".into())),
            }
        }
        "push" => {
            allow(&["value", "prefix", "side", "expire", "tag"])?;
            let prefix = req.prefix()?;
            let side = req.side(Side::Back)?;
            key_to_json(&h.push(&req.value()?, prefix.as_deref(), side, req.set_options()?)?)
        }
        "pull" | "peek" => {
            allow(&["prefix", "side", "default"])?;
            let prefix = req.prefix()?;
            let side = req.side(Side::Front)?;
            let item = if op == "pull" {
                h.pull(prefix.as_deref(), side)?
            } else {
                h.peek(prefix.as_deref(), side)?
            };
            match (item, req.get("default")) {
                (None, Some(default)) => default.clone(),
                (item, _) => pair(item),
            }
        }
        "stats" => {
            allow(&["enable", "reset"])?;
            let (hits, misses) = h.stats(req.flag("enable", true)?, req.flag("reset", false)?)?;
            json!([hits, misses])
        }
        "check" => {
            allow(&["fix"])?;
            json!(h.check(req.flag("fix", false)?)?)
        }
        "reset" => {
            allow(&["key", "value"])?;
            let name = match req.get("key") {
                Some(Json::String(name)) => name.as_str(),
                other => {
                    return Err(Failure::BadRequest(format!(
                        "reset's \"key\" is a setting's name, not {}",
                        other.unwrap_or(&Json::Null)
                    )));
                }
            };
            if let Some(v) = req.get("value") {
                h.reset(setting::parse(name, v)?)?;
            }
            // As Python's `reset`: the value now in force.
            setting::get(&h.settings(), name)?
        }
        _ => {
            return Err(Failure::BadRequest(format!(
                "unknown op {op:?}: one of {}",
                OPS.join(", ")
            )));
        }
    })
}

/// A `get`/`pop` result shaped as Python's: the value alone, or a list of the value with the
/// expire time and/or the tag asked for. A missing key gives `default` (null if not given) in
/// the value's place.
fn shaped(entry: Option<Entry<Value>>, default: Option<&Json>, time: bool, tag: bool) -> Json {
    let (value, expire_time, entry_tag) = match entry {
        Some(e) => (
            value_to_json(&e.value),
            e.expire_time
                .map_or(Json::Null, |t| json!(epoch_seconds(t))),
            e.tag.as_ref().map_or(Json::Null, key_to_json),
        ),
        None => (
            default.cloned().unwrap_or(Json::Null),
            Json::Null,
            Json::Null,
        ),
    };
    if !time && !tag {
        return value;
    }
    let mut out = vec![value];
    if time {
        out.push(expire_time);
    }
    if tag {
        out.push(entry_tag);
    }
    Json::Array(out)
}

/// A `(key, value)` item as `[key, value]`; none as `[null, null]` (Python's default).
fn pair(item: Option<(Key, Value)>) -> Json {
    match item {
        Some((k, v)) => json!([key_to_json(&k), value_to_json(&v)]),
        None => json!([null, null]),
    }
}
