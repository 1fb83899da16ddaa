//! An open cache directory: a plain `Cache` or a `FanoutCache`, detected from the directory,
//! opened with the [`RawDisk`] of the disk it records, behind one set of operations.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use diskcache::{
    Cache, Entry, Error, FanoutCache, Key, Number, SetOptions, Setting, Settings, Side, ValueReader,
};

use crate::failure::{Failure, Outcome};
use crate::raw::{DiskKind, Fetched, RawDisk};
use crate::value::{Value, Writable, decode_composite};

/// The file that marks a `FanoutCache` directory.
const FANOUT_FILE: &str = "fanout";
/// The database file of a plain `Cache` directory.
const DB_FILE: &str = "cache.redb";

/// A plain cache or a fanout cache.
pub enum Inner {
    /// A `Cache` directory.
    Plain(Cache),
    /// A `FanoutCache` directory.
    Fanout(FanoutCache),
}

/// An open cache directory.
pub struct Handle {
    inner: Inner,
    disk: DiskKind,
}

/// What [`Handle::open`] may do with a directory that holds no cache.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create a plain cache there (writing commands).
    Yes,
    /// Refuse (commands that only read or remove).
    No,
}

impl Handle {
    /// Opens the cache in `dir`: a `FanoutCache` if it has a `fanout` file, a plain `Cache` if
    /// it has `cache.redb`; a missing or empty directory becomes a new plain `Cache` only with
    /// [`Create::Yes`]. Any other directory is refused, so a mistyped path is not filled with
    /// cache files.
    pub fn open(dir: &Path, create: Create, timeout: Option<Duration>) -> Outcome<Handle> {
        let fanout = dir.join(FANOUT_FILE).exists();
        if !fanout && !dir.join(DB_FILE).exists() {
            let empty = match std::fs::read_dir(dir) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(e.into()),
            };
            if !empty {
                return Err(Failure::BadRequest(format!(
                    "{} is not a cache directory: it has neither {DB_FILE} nor a {FANOUT_FILE} file",
                    dir.display()
                )));
            }
            if create == Create::No {
                return Err(Failure::BadRequest(format!(
                    "there is no cache in {}",
                    dir.display()
                )));
            }
        }
        // The directory records its disk; a cache refuses to open with another one.
        let mut first_error = None;
        for disk in DiskKind::ALL {
            let opened = if fanout {
                let mut b = FanoutCache::builder().disk(RawDisk::new(disk)?);
                if let Some(t) = timeout {
                    b = b.timeout(t);
                }
                b.open(dir).map(Inner::Fanout)
            } else {
                let mut b = Cache::builder().disk(RawDisk::new(disk)?);
                if let Some(t) = timeout {
                    b = b.timeout(t);
                }
                b.open(dir).map(Inner::Plain)
            };
            match opened {
                Ok(inner) => return Ok(Handle { inner, disk }),
                Err(e @ Error::InvalidArgument(_)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(first_error
            .map(Failure::from)
            .unwrap_or_else(|| Failure::BadRequest("no disk opened the cache".into())))
    }

    /// Closes the handle, reporting errors of the final flush.
    pub fn close(self) -> Outcome<()> {
        match self.inner {
            Inner::Plain(c) => c.close()?,
            Inner::Fanout(f) => f.close()?,
        }
        Ok(())
    }

    /// The cache itself, for the commands that call the library's methods directly (the
    /// long operations with progress).
    pub fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The number of shards of a fanout cache.
    pub fn shards(&self) -> Option<usize> {
        match &self.inner {
            Inner::Plain(_) => None,
            Inner::Fanout(f) => Some(f.shards().len()),
        }
    }

    /// The name of the disk the cache records.
    pub fn disk_name(&self) -> &'static str {
        self.disk.name()
    }

    /// The plain cache, or [`Failure::Unsupported`] naming `op`.
    fn plain(&self, op: &str) -> Outcome<&Cache> {
        match &self.inner {
            Inner::Plain(c) => Ok(c),
            Inner::Fanout(_) => Err(Failure::Unsupported(format!(
                "{op} needs a plain Cache: a FanoutCache has no {op}"
            ))),
        }
    }

    /// A read value, its composite bytes decoded as this command's JSON if they are.
    fn decode(&self, fetched: Fetched) -> Value {
        match fetched {
            Fetched::Int(i) => Value::Int(i),
            Fetched::Float(x) => Value::Float(x),
            Fetched::Text(s) => Value::Text(s),
            Fetched::Bytes(b) => Value::Bytes(b),
            Fetched::Raw(bytes) => {
                let json = match self.disk {
                    DiskKind::Json => serde_json::from_slice(&bytes).ok(),
                    DiskKind::Builtin | DiskKind::Compressed => decode_composite(&bytes),
                };
                json.map_or(Value::Serialized(bytes), Value::Json)
            }
        }
    }

    fn entry(&self, e: Entry<Fetched>) -> Entry<Value> {
        e.map(|value| self.decode(value))
    }

    fn writable<'a>(&self, value: &'a Value) -> Writable<'a> {
        Writable {
            value,
            json_disk: self.disk == DiskKind::Json,
        }
    }

    // ----- operations: each is the library's method of the same name, on either kind of
    // cache; values go in as `Writable` and come out decoded by `decode`. -----------------

    /// Stores a value; `false` if a fanout shard's lock was not had in time.
    pub fn set(&self, key: Key, value: &Value, opts: SetOptions) -> Outcome<bool> {
        let w = self.writable(value);
        Ok(match &self.inner {
            Inner::Plain(c) => c.set_with(key, &w, opts).map(|()| true)?,
            Inner::Fanout(f) => f.set_with(key, &w, opts)?,
        })
    }

    /// Stores the bytes of `reader`, streamed, as a byte string; `false` if a fanout shard's
    /// lock was not had in time.
    pub fn set_reader(&self, key: Key, reader: impl Read, opts: SetOptions) -> Outcome<bool> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.set_reader(key, reader, opts).map(|()| true)?,
            Inner::Fanout(f) => f.set_reader(key, reader, opts)?,
        })
    }

    pub fn add(&self, key: Key, value: &Value, opts: SetOptions) -> Outcome<bool> {
        let w = self.writable(value);
        Ok(match &self.inner {
            Inner::Plain(c) => c.add(key, &w, opts)?,
            Inner::Fanout(f) => f.add(key, &w, opts)?,
        })
    }

    pub fn get_entry(&self, key: Key) -> Outcome<Option<Entry<Value>>> {
        let e = match &self.inner {
            Inner::Plain(c) => c.get_entry::<Fetched>(key)?,
            Inner::Fanout(f) => f.get_entry::<Fetched>(key)?,
        };
        Ok(e.map(|e| self.entry(e)))
    }

    pub fn pop_entry(&self, key: Key) -> Outcome<Option<Entry<Value>>> {
        let e = match &self.inner {
            Inner::Plain(c) => c.pop_entry::<Fetched>(key)?,
            Inner::Fanout(f) => f.pop_entry::<Fetched>(key)?,
        };
        Ok(e.map(|e| self.entry(e)))
    }

    pub fn get_reader(&self, key: Key) -> Outcome<Option<ValueReader>> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.get_reader(key)?,
            Inner::Fanout(f) => f.get_reader(key)?,
        })
    }

    pub fn delete(&self, key: Key) -> Outcome<bool> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.delete(key)?,
            Inner::Fanout(f) => f.delete(key)?,
        })
    }

    pub fn touch(&self, key: Key, expire: Option<Duration>) -> Outcome<bool> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.touch(key, expire)?,
            Inner::Fanout(f) => f.touch(key, expire)?,
        })
    }

    pub fn contains(&self, key: Key) -> Outcome<bool> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.contains(key)?,
            Inner::Fanout(f) => f.contains(key)?,
        })
    }

    /// `incr`; `None` if a fanout shard's lock was not had in time.
    pub fn incr(&self, key: Key, delta: i64, default: Option<i64>) -> Outcome<Option<Number>> {
        Ok(match &self.inner {
            Inner::Plain(c) => Some(c.incr(key, delta, default)?),
            Inner::Fanout(f) => f.incr(key, delta, default)?,
        })
    }

    /// `decr`; `None` if a fanout shard's lock was not had in time.
    pub fn decr(&self, key: Key, delta: i64, default: Option<i64>) -> Outcome<Option<Number>> {
        Ok(match &self.inner {
            Inner::Plain(c) => Some(c.decr(key, delta, default)?),
            Inner::Fanout(f) => f.decr(key, delta, default)?,
        })
    }

    pub fn len(&self) -> Outcome<u64> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.len()?,
            Inner::Fanout(f) => f.len()?,
        })
    }

    pub fn volume(&self) -> Outcome<u64> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.volume()?,
            Inner::Fanout(f) => f.volume()?,
        })
    }

    pub fn clear(&self) -> Outcome<u64> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.clear()?,
            Inner::Fanout(f) => f.clear()?,
        })
    }

    pub fn expire(&self) -> Outcome<u64> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.expire()?,
            Inner::Fanout(f) => f.expire()?,
        })
    }

    pub fn cull(&self) -> Outcome<u64> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.cull()?,
            Inner::Fanout(f) => f.cull()?,
        })
    }

    pub fn evict(&self, tag: Key) -> Outcome<u64> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.evict(tag)?,
            Inner::Fanout(f) => f.evict(tag)?,
        })
    }

    /// The live keys in insertion order (a fanout cache's shard by shard).
    pub fn keys(&self) -> Outcome<Box<dyn Iterator<Item = diskcache::Result<Key>>>> {
        Ok(match &self.inner {
            Inner::Plain(c) => Box::new(c.keys()?),
            Inner::Fanout(f) => Box::new(f.keys()?),
        })
    }

    /// The live keys in key order (plain caches only).
    pub fn keys_sorted(
        &self,
        reverse: bool,
    ) -> Outcome<impl Iterator<Item = diskcache::Result<Key>> + use<>> {
        Ok(self.plain("keys_sorted")?.keys_sorted(reverse)?)
    }

    pub fn peekitem(&self, last: bool) -> Outcome<Option<(Key, Value)>> {
        let item = self.plain("peekitem")?.peekitem::<Fetched>(last)?;
        Ok(item.map(|(k, v)| (k, self.decode(v))))
    }

    pub fn push(
        &self,
        value: &Value,
        prefix: Option<&str>,
        side: Side,
        opts: SetOptions,
    ) -> Outcome<Key> {
        let w = self.writable(value);
        Ok(self.plain("push")?.push(&w, prefix, side, opts)?)
    }

    pub fn pull(&self, prefix: Option<&str>, side: Side) -> Outcome<Option<(Key, Value)>> {
        let item = self.plain("pull")?.pull::<Fetched>(prefix, side)?;
        Ok(item.map(|(k, v)| (k, self.decode(v))))
    }

    pub fn peek(&self, prefix: Option<&str>, side: Side) -> Outcome<Option<(Key, Value)>> {
        let item = self.plain("peek")?.peek::<Fetched>(prefix, side)?;
        Ok(item.map(|(k, v)| (k, self.decode(v))))
    }

    /// The cache's format version (a fanout cache's: its shards' highest).
    pub fn format_version(&self) -> Outcome<u64> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.format_version()?,
            Inner::Fanout(f) => f.format_version()?,
        })
    }

    /// `(hits, misses)`.
    pub fn stats(&self, enable: bool, reset: bool) -> Outcome<(u64, u64)> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.stats(enable, reset)?,
            Inner::Fanout(f) => f.stats(enable, reset)?,
        }
        .into())
    }

    /// What `check` found, each as its sentence (a fanout cache's prefixed with its shard).
    pub fn check(&self, fix: bool) -> Outcome<Vec<String>> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.check(fix)?.iter().map(ToString::to_string).collect(),
            Inner::Fanout(f) => f.check(fix)?.iter().map(ToString::to_string).collect(),
        })
    }

    /// Changes a setting; returns the value it replaced.
    pub fn reset(&self, setting: Setting) -> Outcome<Setting> {
        Ok(match &self.inner {
            Inner::Plain(c) => c.reset(setting)?,
            Inner::Fanout(f) => f.reset(setting)?,
        })
    }

    /// The settings in force (a fanout cache's `size_limit` is the whole cache's).
    pub fn settings(&self) -> Settings {
        match &self.inner {
            Inner::Plain(c) => c.settings(),
            Inner::Fanout(f) => f.settings(),
        }
    }
}
