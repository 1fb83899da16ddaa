//! `set` and the byte outputs of `get`: a value from the VALUE argument, or streamed from
//! stdin (VALUE `-`) or a file (`--file`) through the library's `set_reader`; and a value's
//! stored bytes streamed out (`get --raw`, `get --output`) through its `get_reader`. A
//! streamed value is never held in memory whole.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use diskcache::{Key, SetOptions};
use serde_json::json;

use crate::args::SetArgs;
use crate::commands::Done;
use crate::failure::{Failure, Outcome};
use crate::handle::{Create, Handle};
use crate::json::{key_arg, key_display, key_to_json, parse_arg, value_from_json};
use crate::value::Value;

/// How much a streamed copy moves at a time.
const CHUNK: usize = 256 * 1024;

/// Where `set` takes its value from.
enum Source {
    /// The VALUE argument.
    Arg(Value),
    /// Stdin (VALUE `-`).
    Stdin,
    /// The file of `--file`, opened.
    File(File, PathBuf),
}

/// `diskcache set`: checks every argument, and opens the `--file`, before it opens (or
/// creates) the cache.
pub fn set(args: SetArgs, timeout: Option<Duration>) -> Outcome<Done> {
    let key = key_arg(&args.key).map_err(Failure::BadRequest)?;
    let mut opts = SetOptions::default();
    if let Some(expire) = args.expire {
        opts = opts.expire(expire);
    }
    if let Some(tag) = args.tag.as_deref() {
        opts = opts.tag(key_arg(tag).map_err(Failure::BadRequest)?);
    }
    let source = match (args.value, args.file) {
        (Some(text), _) if args.text => Source::Arg(Value::Text(text)),
        (Some(text), _) if text == "-" => Source::Stdin,
        (Some(text), _) => Source::Arg(value_arg(&text)?),
        (None, Some(path)) => match File::open(&path) {
            Ok(file) => Source::File(file, path),
            Err(e) => {
                let msg = format!("cannot read {}: {e}", path.display());
                return Err(Failure::BadRequest(msg));
            }
        },
        (None, None) => {
            let msg = "set takes VALUE, `-` (stdin) or --file PATH".into();
            return Err(Failure::BadRequest(msg));
        }
    };
    let h = Handle::open(&args.dir, Create::Yes, timeout)?;
    let (stored, streamed) = match source {
        Source::Arg(value) => (h.set(key.clone(), &value, opts)?, None),
        Source::Stdin => {
            if std::io::stdin().is_terminal() {
                eprintln!("diskcache: reading the value from stdin (end it with Ctrl-D)");
            }
            let mut input = Counted::new(std::io::stdin().lock());
            let stored = h.set_reader(key.clone(), &mut input, opts)?;
            (stored, Some((input.count, "stdin".to_owned())))
        }
        Source::File(file, path) => {
            let mut input = Counted::new(file);
            let stored = h.set_reader(key.clone(), &mut input, opts)?;
            (stored, Some((input.count, path.display().to_string())))
        }
    };
    if !stored {
        return Err(diskcache::Error::Timeout.into());
    }
    h.close()?;
    let shown = key_display(&key);
    Ok(match streamed {
        None => Done {
            human: format!("stored {shown}"),
            json: json!({"stored": true}),
            code: 0,
        },
        Some((bytes, from)) => Done {
            human: format!("stored {shown}: {bytes} bytes from {from}"),
            json: json!({"stored": true, "bytes": bytes}),
            code: 0,
        },
    })
}

/// The VALUE argument: JSON when it parses, else text; one that looks like JSON but does not
/// parse, or an integer outside i64, says how to store it as a text.
fn value_arg(text: &str) -> Outcome<Value> {
    let hint = |e: String| format!("{e}; to store it as a text, add --text");
    let v = parse_arg(text).map_err(|e| Failure::BadRequest(hint(e)))?;
    value_from_json(&v).map_err(|e| Failure::BadRequest(if v.is_number() { hint(e) } else { e }))
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// `get --raw` (`output` `None`, or `-`: stdout) and `get --output PATH`: streams the value's
/// stored bytes (a value file through a memory map, not loaded whole; its checksum checked
/// at the end). Returns what to say for a file, `None` after writing to stdout; exit status
/// 1 if there is no such key. A file is created (or truncated) only once the key is found,
/// and removed again if the copy fails, so no partial value is left looking whole.
pub fn get_bytes(h: &Handle, key: Key, output: Option<&Path>) -> Outcome<Option<Done>> {
    let Some(mut reader) = h.get_reader(key.clone())? else {
        return Err(Failure::NotFound(format!("no key {}", key_display(&key))));
    };
    let path = match output {
        Some(path) if path != Path::new("-") => path,
        _ => {
            let mut out = BufWriter::with_capacity(CHUNK, std::io::stdout().lock());
            std::io::copy(&mut reader, &mut out)?;
            out.flush()?;
            return Ok(None);
        }
    };
    let file = File::create(path)
        .map_err(|e| Failure::BadRequest(format!("cannot write {}: {e}", path.display())))?;
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let copied = std::io::copy(&mut reader, &mut out).and_then(|n| {
        out.flush()?;
        Ok(n)
    });
    drop(out);
    let bytes = match copied {
        Ok(n) => n,
        Err(e) => {
            if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    let shown = path.display().to_string();
    Ok(Some(Done {
        human: format!("wrote {bytes} bytes of {} to {shown}", key_display(&key)),
        json: json!({"key": key_to_json(&key), "bytes": bytes, "output": shown}),
        code: 0,
    }))
}
