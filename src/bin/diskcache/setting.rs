//! Settings by the names Python diskcache gives them, and their JSON values.

use diskcache::{Durability, EvictionPolicy, Setting, Settings, WritePath};
use serde_json::{Value as Json, json};

use crate::failure::{Failure, Outcome};

/// Every setting's name, in the order `stats` shows them.
pub const NAMES: [&str; 8] = [
    "size_limit",
    "cull_limit",
    "eviction_policy",
    "statistics",
    "tag_index",
    "min_file_size",
    "durability",
    "write_path",
];

fn policy_name(p: EvictionPolicy) -> &'static str {
    match p {
        EvictionPolicy::LeastRecentlyStored => "least-recently-stored",
        EvictionPolicy::LeastRecentlyUsed => "least-recently-used",
        EvictionPolicy::LeastFrequentlyUsed => "least-frequently-used",
        EvictionPolicy::None => "none",
    }
}

fn durability_name(d: Durability) -> &'static str {
    match d {
        Durability::NoSync => "no-sync",
        Durability::Sync => "sync",
        Durability::Normal => "normal",
    }
}

fn write_path_name(w: WritePath) -> &'static str {
    match w {
        WritePath::Logged => "logged",
        WritePath::Direct => "direct",
    }
}

/// The canonical name of a setting (`disk_min_file_size` is Python's `min_file_size`).
fn canonical(name: &str) -> Outcome<&'static str> {
    let name = if name == "disk_min_file_size" {
        "min_file_size"
    } else {
        name
    };
    NAMES.iter().find(|n| **n == name).copied().ok_or_else(|| {
        Failure::BadRequest(format!(
            "unknown setting {name:?}: one of {}",
            NAMES.join(", ")
        ))
    })
}

/// The JSON value of the setting `name` in `s`.
pub fn get(s: &Settings, name: &str) -> Outcome<Json> {
    Ok(match canonical(name)? {
        "size_limit" => json!(s.size_limit),
        "cull_limit" => json!(s.cull_limit),
        "eviction_policy" => json!(policy_name(s.eviction_policy)),
        "statistics" => json!(s.statistics),
        "tag_index" => json!(s.tag_index),
        "min_file_size" => json!(s.min_file_size),
        "durability" => json!(durability_name(s.durability)),
        _ => json!(write_path_name(s.write_path)),
    })
}

/// Every setting of `s` as a JSON object.
pub fn all(s: &Settings) -> Outcome<Json> {
    let mut map = serde_json::Map::new();
    for name in NAMES {
        map.insert(name.to_owned(), get(s, name)?);
    }
    Ok(Json::Object(map))
}

/// The setting `name` with the JSON value `v`: a number for sizes, a boolean (or 0/1) for
/// flags, a name for the policy, durability and write path.
pub fn parse(name: &str, v: &Json) -> Outcome<Setting> {
    let name = canonical(name)?;
    let bad = || Failure::BadRequest(format!("{v} is not a value of the setting {name}"));
    let number = || v.as_u64().ok_or_else(bad);
    let flag = || match v {
        Json::Bool(b) => Ok(*b),
        Json::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Json::Number(n) if n.as_u64() == Some(1) => Ok(true),
        _ => Err(bad()),
    };
    let text = v.as_str().ok_or_else(bad);
    Ok(match name {
        "size_limit" => Setting::SizeLimit(number()?),
        "cull_limit" => Setting::CullLimit(number()?),
        "min_file_size" => Setting::MinFileSize(number()?),
        "statistics" => Setting::Statistics(flag()?),
        "tag_index" => Setting::TagIndex(flag()?),
        "eviction_policy" => Setting::EvictionPolicy(match text? {
            "least-recently-stored" => EvictionPolicy::LeastRecentlyStored,
            "least-recently-used" => EvictionPolicy::LeastRecentlyUsed,
            "least-frequently-used" => EvictionPolicy::LeastFrequentlyUsed,
            "none" => EvictionPolicy::None,
            _ => return Err(bad()),
        }),
        "durability" => Setting::Durability(match text? {
            "no-sync" => Durability::NoSync,
            "sync" => Durability::Sync,
            "normal" => Durability::Normal,
            _ => return Err(bad()),
        }),
        _ => Setting::WritePath(match text? {
            "logged" => WritePath::Logged,
            "direct" => WritePath::Direct,
            _ => return Err(bad()),
        }),
    })
}
