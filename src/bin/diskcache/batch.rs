//! `diskcache batch`: one JSON request per line on stdin, one JSON reply per line on stdout
//! (`format-spec/batch-protocol.md`). A bad line, an empty one included, gets an error reply
//! and the stream goes on.

use std::io::{BufRead, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diskcache::{Key, SetOptions, Side};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value as Json};

use crate::failure::{Failure, Outcome};
use crate::handle::Handle;
use crate::json::{integers_fit, key_from_json, value_from_json};
use crate::ops;
use crate::value::Value;

/// The protocol's specification, which `diskcache batch --spec` prints.
pub const SPEC: &str = include_str!("../../../format-spec/batch-protocol.md");

/// How a stream of requests went.
#[derive(Debug, Default)]
pub struct Tally {
    /// The requests answered with an error.
    pub failed: u64,
}

/// Answers every line of `input` on `output`, one reply per line, flushing after each so that
/// a script can wait for it. Returns how the requests went, and how the stream ended: at the
/// end of the input, or with an error writing the output (or reading the input).
pub fn serve(
    handle: &Handle,
    input: impl BufRead,
    output: impl Write,
) -> (Tally, std::io::Result<()>) {
    let mut tally = Tally::default();
    let ended = answer_lines(handle, input, output, &mut tally);
    (tally, ended)
}

/// [`serve`]'s loop, counting the failed requests in `tally`.
fn answer_lines(
    handle: &Handle,
    input: impl BufRead,
    mut output: impl Write,
    tally: &mut Tally,
) -> std::io::Result<()> {
    for line in input.split(b'\n') {
        let line = line?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        let reply = answer(handle, line);
        tally.failed += u64::from(!reply.ok());
        serde_json::to_writer(&mut output, &reply)?;
        output.write_all(b"\n")?;
        output.flush()?;
    }
    Ok(())
}

/// The reply to one request line.
fn answer(handle: &Handle, line: &[u8]) -> Reply {
    if line.iter().all(u8::is_ascii_whitespace) {
        let f = Failure::BadRequest("an empty line is not a request".into());
        return Reply::failure(None, &f);
    }
    let request = match serde_json::from_slice::<Json>(line) {
        Ok(Json::Object(map)) => Request(map),
        Ok(other) => {
            let f = Failure::BadRequest(format!("a request is a JSON object, not {other}"));
            return Reply::failure(None, &f);
        }
        Err(e) => {
            let f = Failure::BadRequest(format!("the line is not JSON: {e}"));
            return Reply::failure(None, &f);
        }
    };
    let id = request.0.get("id").cloned();
    if let Err(e) = integers_fit(line) {
        return Reply::failure(id, &Failure::BadRequest(e));
    }
    match request.op().and_then(|op| ops::run(handle, op, &request)) {
        Ok(result) => Reply(vec![("ok", Json::Bool(true)), ("result", result)]).with_id(id),
        Err(f) => Reply::failure(id, &f),
    }
}

/// A reply: its fields in the order they are written (`ok` first, `id` last).
pub struct Reply(Vec<(&'static str, Json)>);

impl Reply {
    /// The reply for a failure.
    pub fn failure(id: Option<Json>, f: &Failure) -> Reply {
        Reply(vec![
            ("ok", Json::Bool(false)),
            ("error", Json::from(f.name())),
            ("message", Json::from(f.to_string())),
        ])
        .with_id(id)
    }

    /// Whether the request succeeded.
    fn ok(&self) -> bool {
        self.0.first() == Some(&("ok", Json::Bool(true)))
    }

    fn with_id(mut self, id: Option<Json>) -> Reply {
        if let Some(id) = id {
            self.0.push(("id", id));
        }
        self
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One request: its arguments by name.
pub struct Request(Map<String, Json>);

impl Request {
    fn bad(msg: String) -> Failure {
        Failure::BadRequest(msg)
    }

    /// The operation's name.
    fn op(&self) -> Outcome<&str> {
        match self.0.get("op") {
            Some(Json::String(op)) => Ok(op),
            Some(other) => Err(Self::bad(format!("\"op\" is a string, not {other}"))),
            None => Err(Self::bad("the request has no \"op\"".into())),
        }
    }

    /// Refuses arguments other than `allowed` (and `op`, `id`), so a misspelt one is not
    /// silently ignored.
    pub fn allow(&self, op: &str, allowed: &[&str]) -> Outcome<()> {
        for name in self.0.keys() {
            if name != "op" && name != "id" && !allowed.contains(&name.as_str()) {
                return Err(Self::bad(if allowed.is_empty() {
                    format!("{op} takes no arguments, not {name:?}")
                } else {
                    format!(
                        "{op} takes no argument {name:?} (it takes {})",
                        allowed.join(", ")
                    )
                }));
            }
        }
        Ok(())
    }

    /// The argument `name`, if given (a JSON `null` counts as given).
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.0.get(name)
    }

    fn required(&self, name: &str) -> Outcome<&Json> {
        self.get(name)
            .ok_or_else(|| Self::bad(format!("the argument {name:?} is missing")))
    }

    /// The key named by the argument `name`.
    pub fn key(&self, name: &str) -> Outcome<Key> {
        key_from_json(self.required(name)?).map_err(Self::bad)
    }

    /// The value named by the argument `value`.
    pub fn value(&self) -> Outcome<Value> {
        value_from_json(self.required("value")?).map_err(Self::bad)
    }

    /// A boolean argument, `default` if not given.
    pub fn flag(&self, name: &str, default: bool) -> Outcome<bool> {
        match self.get(name) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(Self::bad(format!("{name:?} is true or false, not {other}"))),
        }
    }

    /// An integer argument, `default` if not given.
    pub fn int(&self, name: &str, default: i64) -> Outcome<i64> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| Self::bad(format!("{name:?} is an integer, not {v}"))),
        }
    }

    /// `expire` in seconds (a float; `null` or absent: never).
    pub fn expire(&self) -> Outcome<Option<Duration>> {
        match self.get("expire") {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| Self::bad(format!("\"expire\" is seconds or null, not {v}")))
                .and_then(|secs| seconds(secs).map_err(Self::bad))
                .map(Some),
        }
    }

    /// `tag` (`null` or absent: none).
    pub fn tag(&self) -> Outcome<Option<Key>> {
        match self.get("tag") {
            None | Some(Json::Null) => Ok(None),
            Some(v) => key_from_json(v).map(Some).map_err(Self::bad),
        }
    }

    /// `expire` and `tag` as options for a write.
    pub fn set_options(&self) -> Outcome<SetOptions> {
        let mut opts = SetOptions::default();
        if let Some(expire) = self.expire()? {
            opts = opts.expire(expire);
        }
        if let Some(tag) = self.tag()? {
            opts = opts.tag(tag);
        }
        Ok(opts)
    }

    /// `prefix` (`null` or absent: the integer queue).
    pub fn prefix(&self) -> Outcome<Option<String>> {
        match self.get("prefix") {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(Self::bad(format!(
                "\"prefix\" is a string or null, not {v}"
            ))),
        }
    }

    /// `side`: `"front"` or `"back"`, `default` if not given.
    pub fn side(&self, default: Side) -> Outcome<Side> {
        match self.get("side") {
            None => Ok(default),
            Some(Json::String(s)) if s == "front" => Ok(Side::Front),
            Some(Json::String(s)) if s == "back" => Ok(Side::Back),
            Some(v) => Err(Self::bad(format!(
                "\"side\" is \"front\" or \"back\", not {v}"
            ))),
        }
    }
}

/// A time to live of `secs` seconds: a negative one is zero (expired at once), as in Python.
fn seconds(secs: f64) -> Result<Duration, String> {
    if secs.is_nan() {
        return Err("\"expire\" is a number of seconds or null, not NaN".into());
    }
    Ok(Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX))
}

/// A point in time as float seconds since the Unix epoch (Python's `time.time()`).
pub fn epoch_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}
