//! The subcommands other than `batch`: each opens the directory, does one thing, and says
//! what it did for people and as JSON.

use std::path::Path;
use std::time::Duration;

use diskcache::Key;
use serde_json::{Value as Json, json};

use crate::args::Command;
use crate::batch::epoch_seconds;
use crate::failure::{Failure, Outcome};
use crate::handle::{Create, Handle};
use crate::json::{key_display, key_to_json, value_display, value_to_json};
use crate::setting;

/// What a command has to say: for people, as JSON, and its exit status.
pub struct Done {
    /// Lines for people (printed with a final newline unless empty).
    pub human: String,
    /// The same as one JSON document.
    pub json: Json,
    /// 0 done, 1 a negative answer.
    pub code: u8,
}

impl Done {
    fn ok(human: String, json: Json) -> Done {
        Done {
            human,
            json,
            code: 0,
        }
    }
}

/// A command-line KEY or TAG.
fn key_arg(text: &str) -> Outcome<Key> {
    crate::json::key_arg(text).map_err(Failure::BadRequest)
}

/// Runs `command` (not `batch`); `None` when it wrote its output itself (`get --raw`).
pub fn run(command: Command, timeout: Option<Duration>) -> Outcome<Option<Done>> {
    let open = |dir: &Path, create| Handle::open(dir, create, timeout);
    let done = match command {
        Command::Stats { dir } => stats(&open(&dir, Create::No)?, &dir)?,
        Command::Check { dir, fix } => check(&open(&dir, Create::No)?, fix)?,
        Command::Keys {
            dir,
            sorted,
            reverse,
            limit,
        } => keys(&open(&dir, Create::No)?, sorted, reverse, limit)?,
        Command::Get {
            dir,
            key,
            raw,
            output,
        } => {
            let h = open(&dir, Create::No)?;
            if raw || output.is_some() {
                return crate::transfer::get_bytes(&h, key_arg(&key)?, output.as_deref());
            }
            get(&h, key_arg(&key)?)?
        }
        Command::Set(args) => crate::transfer::set(args, timeout)?,
        Command::Delete { dir, key } => {
            let key = key_arg(&key)?;
            let h = open(&dir, Create::No)?;
            let deleted = h.delete(key.clone())?;
            let human = if deleted {
                format!("deleted {}", key_display(&key))
            } else {
                format!("no key {}", key_display(&key))
            };
            let done = Done {
                human,
                json: json!({"deleted": deleted}),
                code: u8::from(!deleted),
            };
            finish(h, done)?
        }
        Command::Evict { dir, tag } => {
            let tag = key_arg(&tag)?;
            let h = open(&dir, Create::No)?;
            let n = h.evict(tag.clone())?;
            let human = format!("evicted {} tagged {}", entries(n), key_display(&tag));
            finish(h, Done::ok(human, json!({"evicted": n})))?
        }
        Command::Expire { dir } => {
            let h = open(&dir, Create::No)?;
            let n = h.expire()?;
            finish(
                h,
                Done::ok(format!("expired {}", entries(n)), json!({"expired": n})),
            )?
        }
        Command::Cull { dir } => {
            let h = open(&dir, Create::No)?;
            let n = h.cull()?;
            finish(
                h,
                Done::ok(format!("culled {}", entries(n)), json!({"culled": n})),
            )?
        }
        Command::Clear { dir, yes } => {
            if !yes {
                return Err(Failure::BadRequest(format!(
                    "clear removes every entry of {}: run it again with --yes",
                    dir.display()
                )));
            }
            let h = open(&dir, Create::No)?;
            let n = h.clear()?;
            finish(
                h,
                Done::ok(format!("cleared {}", entries(n)), json!({"cleared": n})),
            )?
        }
        Command::Batch { .. } => {
            return Err(Failure::BadRequest("batch is run by main".into()));
        }
    };
    Ok(Some(done))
}

/// Closes the handle (reporting a failed final flush) and passes `done` on.
fn finish(h: Handle, done: Done) -> Outcome<Done> {
    h.close()?;
    Ok(done)
}

/// "1 entry", "3 entries".
fn entries(n: u64) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

fn stats(h: &Handle, dir: &Path) -> Outcome<Done> {
    let settings = h.settings();
    // Reading the counters leaves counting as it is.
    let (hits, misses) = h.stats(settings.statistics, false)?;
    let (count, volume) = (h.len()?, h.volume()?);
    let format_version = h.format_version()?;
    let kind = if h.shards().is_some() {
        "FanoutCache"
    } else {
        "Cache"
    };
    let json = json!({
        "directory": dir.display().to_string(),
        "kind": kind,
        "shards": h.shards(),
        "format_version": format_version,
        "disk": h.disk_name(),
        "count": count,
        "volume": volume,
        "hits": hits,
        "misses": misses,
        "settings": setting::all(&settings)?,
    });
    let mut human = format!("directory        {}\n", dir.display());
    human += &match h.shards() {
        Some(n) => format!("kind             FanoutCache, {n} shards\n"),
        None => "kind             Cache\n".into(),
    };
    human += &format!("format version   {format_version}\n");
    human += &format!("disk             {}\n", h.disk_name());
    human += &format!("entries          {count}\n");
    human += &format!("volume           {volume} bytes\n");
    human += &format!("hits             {hits}\n");
    human += &format!("misses           {misses}\n");
    human += "settings";
    for name in setting::NAMES {
        let value = setting::get(&settings, name)?;
        let shown = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        human += &format!("\n  {name:<15} {shown}");
    }
    Ok(Done::ok(human, json))
}

fn check(h: &Handle, fix: bool) -> Outcome<Done> {
    let found = h.check(fix)?;
    let remaining = if fix { h.check(false)? } else { found.clone() };
    let mut lines: Vec<String> = found.iter().map(|w| format!("warning: {w}")).collect();
    lines.push(match (found.len(), fix) {
        (0, _) => "no problems found".into(),
        (n, false) => format!("{n} problem(s) found; `check --fix` repairs them"),
        (n, true) => format!("{n} problem(s) found and repaired"),
    });
    if fix && !remaining.is_empty() {
        lines.push(format!("{} problem(s) remain:", remaining.len()));
        lines.extend(remaining.iter().map(|w| format!("warning: {w}")));
    }
    let mut json = json!({"warnings": found, "clean": remaining.is_empty()});
    if let (true, Some(map)) = (fix, json.as_object_mut()) {
        map.insert("remaining".into(), json!(remaining));
    }
    Ok(Done {
        human: lines.join("\n"),
        json,
        code: u8::from(!remaining.is_empty()),
    })
}

fn keys(h: &Handle, sorted: bool, reverse: bool, limit: Option<usize>) -> Outcome<Done> {
    let limit = limit.unwrap_or(usize::MAX);
    let keys: Vec<Key> = match (sorted, h.shards()) {
        // A plain cache reads its key order from the database, lazily.
        (true, None) => h
            .keys_sorted(reverse)?
            .take(limit)
            .collect::<Result<_, _>>()?,
        // A fanout cache's keys are sorted in memory.
        (true, Some(_)) => {
            let mut all = h.keys()?.collect::<Result<Vec<_>, _>>()?;
            all.sort();
            if reverse {
                all.reverse();
            }
            all.truncate(limit);
            all
        }
        (false, _) if reverse => {
            let mut all = h.keys()?.collect::<Result<Vec<_>, _>>()?;
            all.reverse();
            all.truncate(limit);
            all
        }
        (false, _) => h.keys()?.take(limit).collect::<Result<_, _>>()?,
    };
    let human = keys.iter().map(key_display).collect::<Vec<_>>().join("\n");
    let json = Json::Array(keys.iter().map(key_to_json).collect());
    Ok(Done::ok(human, json))
}

fn get(h: &Handle, key: Key) -> Outcome<Done> {
    let Some(e) = h.get_entry(key.clone())? else {
        return Err(Failure::NotFound(format!("no key {}", key_display(&key))));
    };
    Ok(Done::ok(
        value_display(&e.value),
        json!({
            "key": key_to_json(&key),
            "value": value_to_json(&e.value),
            "expire_time": e.expire_time.map(epoch_seconds),
            "tag": e.tag.as_ref().map(key_to_json),
        }),
    ))
}
