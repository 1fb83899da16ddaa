//! The subcommands other than `batch`: each opens the directory, does one thing, and says
//! what it did for people and as JSON. The long ones (`check`, `clear`, `expire`, `evict`,
//! `cull`) show their progress and stop on Ctrl-C (`progress.rs`).

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use diskcache::{Cache, FanoutCache, Key, Progress};
use serde_json::{Value as Json, json};

use crate::args::Command;
use crate::batch::epoch_seconds;
use crate::failure::{Failure, Outcome};
use crate::handle::{Create, Handle, Inner};
use crate::json::{key_display, key_to_json, value_display, value_to_json};
use crate::progress::{Bar, INTERRUPTED};
use crate::setting;

/// What a command has to say: for people, as JSON, and its exit status.
pub struct Done {
    /// Lines for people (printed with a final newline unless empty).
    pub human: String,
    /// The same as one JSON document.
    pub json: Json,
    /// 0 done, 1 a negative answer, 130 stopped by Ctrl-C.
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

/// Runs `command` (not `batch`); `None` when it wrote its output itself (`get --raw`). With
/// `quiet`, the long commands draw no progress bar.
pub fn run(command: Command, timeout: Option<Duration>, quiet: bool) -> Outcome<Option<Done>> {
    let open = |dir: &Path, create| Handle::open(dir, create, timeout);
    let done = match command {
        Command::Stats { dir } => stats(&open(&dir, Create::No)?, &dir)?,
        Command::Check { dir, fix } => check(&open(&dir, Create::No)?, fix, quiet)?,
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
            let (plain, fanout) = (tag.clone(), tag.clone());
            let done = remove(
                &h,
                Removal {
                    quiet,
                    doing: "evicting",
                    did: "evicted",
                    what: format!(" tagged {}", key_display(&tag)),
                },
                |c, f| c.evict_with_progress(plain, f),
                |c, f| c.evict_with_progress(fanout, f),
            )?;
            finish(h, done)?
        }
        Command::Expire { dir } => {
            let h = open(&dir, Create::No)?;
            let done = remove(
                &h,
                Removal::of(quiet, "expiring", "expired"),
                |c, f| c.expire_with_progress(f),
                |c, f| c.expire_with_progress(f),
            )?;
            finish(h, done)?
        }
        Command::Cull { dir } => {
            let h = open(&dir, Create::No)?;
            let done = remove(
                &h,
                Removal::of(quiet, "culling", "culled"),
                |c, f| c.cull_with_progress(f),
                |c, f| c.cull_with_progress(f),
            )?;
            finish(h, done)?
        }
        Command::Compact { dir } => {
            let h = open(&dir, Create::No)?;
            let mut bar = Bar::new(quiet, "compacting");
            let ran = {
                let mut report = |p: &Progress| bar.report(p);
                match h.inner() {
                    Inner::Plain(c) => c.compact_with_progress(&mut report),
                    Inner::Fanout(f) => f.compact_with_progress(&mut report),
                }
            };
            bar.finish();
            let done = if ran?.is_stopped() {
                Done {
                    human: "interrupted: Ctrl-C stopped compact between two shards or attempts;                             the cache is consistent"
                        .into(),
                    json: json!({"compacted": false, "interrupted": true}),
                    code: INTERRUPTED,
                }
            } else {
                Done::ok("compacted".into(), json!({"compacted": true}))
            };
            finish(h, done)?
        }
        Command::Clear { dir, yes } => {
            if !yes {
                return Err(Failure::BadRequest(format!(
                    "clear removes every entry of {}: run it again with --yes",
                    dir.display()
                )));
            }
            let h = open(&dir, Create::No)?;
            let done = remove(
                &h,
                Removal::of(quiet, "clearing", "cleared"),
                |c, f| c.clear_with_progress(f),
                |c, f| c.clear_with_progress(f),
            )?;
            finish(h, done)?
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

/// The callback a long operation reports to.
type Report<'a> = &'a mut dyn FnMut(&Progress) -> ControlFlow<()>;

/// What a library method with progress returns.
type Ran<T> = diskcache::Result<diskcache::Outcome<T>>;

/// How a removal command shows itself.
struct Removal {
    quiet: bool,
    /// Its progress bar's name: "clearing".
    doing: &'static str,
    /// Its answer's verb and JSON field: "cleared".
    did: &'static str,
    /// What its answer adds after the count (" tagged t"), or nothing.
    what: String,
}

impl Removal {
    fn of(quiet: bool, doing: &'static str, did: &'static str) -> Removal {
        Removal {
            quiet,
            doing,
            did,
            what: String::new(),
        }
    }
}

/// Runs a removal (`plain` on a `Cache`, `fanout` on a `FanoutCache`) with its progress bar,
/// stopped by Ctrl-C between slices; says how many entries went, and whether it was stopped.
fn remove(
    h: &Handle,
    how: Removal,
    plain: impl FnOnce(&Cache, Report<'_>) -> Ran<u64>,
    fanout: impl FnOnce(&FanoutCache, Report<'_>) -> Ran<u64>,
) -> Outcome<Done> {
    let mut bar = Bar::new(how.quiet, how.doing);
    let mut report = |p: &Progress| bar.report(p);
    let ran = match h.inner() {
        Inner::Plain(c) => plain(c, &mut report),
        Inner::Fanout(f) => fanout(f, &mut report),
    };
    bar.finish();
    let ran = ran?;
    let n = *ran.value();
    let did = how.did;
    let mut human = format!("{did} {}{}", entries(n), how.what);
    let mut json = json!({ did: n });
    if !ran.is_stopped() {
        return Ok(Done::ok(human, json));
    }
    human = format!(
        "interrupted: {human} before Ctrl-C stopped it; the cache is consistent, and running \
         the command again goes on"
    );
    if let Some(map) = json.as_object_mut() {
        map.insert("interrupted".into(), json!(true));
    }
    Ok(Done {
        human,
        json,
        code: INTERRUPTED,
    })
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

/// `check` (with `fix`, the repair) with its progress bar; the findings as sentences, and
/// whether Ctrl-C stopped it.
fn checked(h: &Handle, fix: bool, bar: &mut Bar) -> Outcome<(Vec<String>, bool)> {
    let mut report = |p: &Progress| bar.report(p);
    Ok(match h.inner() {
        Inner::Plain(c) => {
            let ran = c.check_with_progress(fix, &mut report)?;
            let found = ran.value().iter().map(ToString::to_string).collect();
            (found, ran.is_stopped())
        }
        Inner::Fanout(f) => {
            let ran = f.check_with_progress(fix, &mut report)?;
            let found = ran.value().iter().map(ToString::to_string).collect();
            (found, ran.is_stopped())
        }
    })
}

fn check(h: &Handle, fix: bool, quiet: bool) -> Outcome<Done> {
    let mut bar = Bar::new(quiet, "checking");
    let ran = checked(h, fix, &mut bar);
    let ran = match ran {
        Ok((found, false)) if fix => checked(h, false, &mut bar).map(|again| (found, again)),
        Ok((found, stopped)) => Ok((found.clone(), (found, stopped))),
        Err(e) => Err(e),
    };
    bar.finish();
    let (found, (remaining, stopped)) = ran?;
    if stopped {
        return Ok(interrupted_check(&found, fix));
    }
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

/// What a `check` that Ctrl-C stopped says: the findings confirmed until then.
fn interrupted_check(found: &[String], fix: bool) -> Done {
    let mut lines: Vec<String> = found.iter().map(|w| format!("warning: {w}")).collect();
    lines.push(format!(
        "interrupted: Ctrl-C stopped the check{} before its end; the cache is consistent",
        if fix { " and its repair" } else { "" }
    ));
    Done {
        human: lines.join("\n"),
        json: json!({"warnings": found, "clean": null, "interrupted": true}),
        code: INTERRUPTED,
    }
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
