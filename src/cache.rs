//! `Cache`: one cache directory (one redb file and its value files), the public API.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::builder::CacheBuilder;
use crate::engine::Store;
use crate::engine::janitor;
use crate::error::{Error, Result};
use crate::fork::{ForkSafe, Reopen};
use crate::format::blob;
use crate::format::disk::Codec;
use crate::format::key::{IntoKey, Key};
use crate::format::payload::{Fetched, Prepared, check_crc, describe, encode_tag};
use crate::format::row::{Row, ValuePlace};
use crate::format::value::ValueKind;
use crate::iter::Keys;
use crate::ops::write;
use crate::options::{Entry, Number, SetOptions};
use crate::reader::ValueReader;
use crate::settings::Settings;
use crate::time;

/// A disk-backed key-value cache in one directory, safe to share between threads (clone it)
/// and between processes (open the same directory). A process forked while it holds one can
/// go on using it in the child: the child's first operation opens the cache again there.
///
/// Every operation is atomic. Keys are anything `Into<Key>`: integers, floats, text, bytes,
/// or composites made with [`Key::from_serialize`]. Values are any `serde` type; integers,
/// floats, text and bytes are stored as themselves, anything else through the value codec
/// (postcard). Values of at least `min_file_size` bytes live in their own files.
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// use diskcache::Cache;
/// let cache = Cache::open(dir.path())?;
/// cache.set("answer", &42)?;
/// assert_eq!(cache.get::<i64>("answer")?, Some(42));
/// assert_eq!(cache.incr("answer", 1, None)?, 43);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    /// The store, opened again after a fork in a child process.
    store: Arc<ForkSafe>,
    /// How values become bytes: the built-in encoding or the cache's [`crate::Disk`].
    codec: Codec,
    /// The keys this handle's clones are computing (`get_or_insert_with`).
    gates: Arc<crate::compute::KeyGates>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("directory", &self.directory())
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A handle on `store`; `reopen` opens it again in a forked child.
    pub(crate) fn from_store(store: Store, codec: Codec, reopen: Reopen) -> Cache {
        let store = Arc::new(store);
        janitor::register_store(&store);
        Cache {
            store: Arc::new(ForkSafe::new(store, reopen)),
            codec,
            gates: Arc::default(),
        }
    }

    /// The keys this handle's clones are computing.
    pub(crate) fn gates(&self) -> &crate::compute::KeyGates {
        &self.gates
    }

    /// How this cache's values become bytes.
    pub(crate) fn codec(&self) -> &Codec {
        &self.codec
    }

    /// The store behind this handle (for the `impl Cache` blocks of other modules): after a
    /// fork, in the child, the store opened again there.
    ///
    /// # Errors
    /// In a forked child, as [`Cache::open`] if opening the store again fails.
    #[inline]
    pub(crate) fn store(&self) -> Result<&Arc<Store>> {
        self.store.get()
    }

    /// Opens the cache in `dir`, creating it if needed, with the stored settings.
    ///
    /// # Errors
    /// As [`CacheBuilder::open`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Cache> {
        CacheBuilder::new().open(dir)
    }

    /// Opens a new cache in a fresh temporary directory that only this user can read
    /// (mode `0700` on Unix), removed when the last handle on it is dropped. See
    /// [`CacheBuilder::temp`].
    ///
    /// # Errors
    /// As [`CacheBuilder::temp`].
    pub fn temp() -> Result<Cache> {
        CacheBuilder::new().temp()
    }

    /// A builder to choose settings before opening.
    pub fn builder() -> CacheBuilder {
        CacheBuilder::new()
    }

    /// The cache's directory.
    pub fn directory(&self) -> &Path {
        self.store.original().dir()
    }

    /// The settings in force.
    pub fn settings(&self) -> Settings {
        match self.store.get() {
            Ok(store) => store.settings(),
            // A forked child that cannot open the store again: the settings it had.
            Err(_) => self.store.settings_at_open().clone(),
        }
    }

    /// Closes this handle: applies the shared log to the database and writes the reads and
    /// hit counts this process noted, then drops the handle. The database closes when the
    /// last clone is dropped. Dropping does the same flush, but best effort (waiting at most
    /// 100 ms for the write lock, errors ignored); `close` waits up to the timeout and says.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`]; [`Error::Storage`].
    pub fn close(self) -> Result<()> {
        self.store()?.flush()
    }

    // ----- writes -------------------------------------------------------------------------

    /// Stores `value` under `key`, with no expire time and no tag.
    ///
    /// Re-setting a key keeps its place in [`Cache::keys`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a NaN key or a tag over [`crate::MAX_KEY_BYTES`];
    /// [`Error::Codec`] if the value cannot be serialized; [`Error::Timeout`] if the write
    /// lock was not had within the timeout; [`Error::Io`] if a value file cannot be written.
    pub fn set<V: Serialize>(&self, key: impl IntoKey, value: V) -> Result<()> {
        self.set_with(key, value, SetOptions::default())
    }

    /// Stores `value` under `key` with an expire time and a tag.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use std::time::Duration;
    /// use diskcache::SetOptions;
    /// cache.set_with("k", "v", SetOptions::default().expire(Duration::from_secs(60)).tag("t"))?;
    /// let entry = cache.get_entry::<String>("k")?.unwrap();
    /// assert_eq!(entry.tag, Some("t".into()));
    /// assert!(entry.expire_time.is_some());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Cache::set`].
    pub fn set_with<V: Serialize>(
        &self,
        key: impl IntoKey,
        value: V,
        opts: SetOptions,
    ) -> Result<()> {
        let key = key.into_key()?.encode()?;
        let prepared = self.prepare(&value, &opts)?;
        self.store_prepared(&key, prepared, false).map(|_| ())
    }

    /// Stores the bytes read from `reader` under `key`, streaming them to a value file
    /// without holding the whole value in memory (diskcache's `set(..., read=True)`). The
    /// value reads back as bytes.
    /// value reads back as bytes.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use std::io::Read;
    /// let file = std::io::repeat(7).take(1 << 20); // any `Read`: a file, a socket, stdin
    /// cache.set_reader("blob", file, Default::default())?;
    /// let mut reader = cache.get_reader("blob")?.expect("stored");
    /// assert_eq!(reader.len(), 1 << 20);
    /// let mut first = [0u8; 4];
    /// reader.read_exact(&mut first)?;
    /// assert_eq!(first, [7; 4]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Cache::set`], plus [`Error::Io`] from `reader`.
    pub fn set_reader(
        &self,
        key: impl IntoKey,
        mut reader: impl Read,
        opts: SetOptions,
    ) -> Result<()> {
        let key = key.into_key()?.encode()?;
        let tag = encode_tag(opts.tag.as_ref())?;
        let sync = self.sync_files();
        let written = blob::write_from(self.directory(), &mut reader, sync)?;
        let prepared = Prepared {
            kind: ValueKind::Bytes,
            packed: false,
            place: None,
            blob: Some(written),
            expire: opts.expire,
            tag,
        };
        self.store_prepared(&key, prepared, false).map(|_| ())
    }

    /// Stores `value` only if `key` is absent (or expired). Returns whether it stored.
    /// Stores `value` only if `key` is absent (or expired). Returns whether it stored.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use diskcache::SetOptions;
    /// assert!(cache.add("owner", "first", SetOptions::default())?);
    /// assert!(!cache.add("owner", "second", SetOptions::default())?);
    /// assert_eq!(cache.get::<String>("owner")?.as_deref(), Some("first"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Cache::set`].
    pub fn add<V: Serialize>(&self, key: impl IntoKey, value: V, opts: SetOptions) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        let prepared = self.prepare(&value, &opts)?;
        self.store_prepared(&key, prepared, true)
    }

    /// Removes `key`. Returns whether a live (unexpired) entry was removed; an expired entry
    /// counts as absent and is left for a cull or [`Cache::expire`] to remove (as in Python
    /// diskcache).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad key; [`Error::Timeout`].
    pub fn delete(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        self.store()?.write(|w| write::delete(w, &key))
    }

    /// Sets a live entry's expire time (`None`: never expires). Returns whether the key was
    /// present.
    /// Sets a live entry's expire time (`None`: never expires). Returns whether the key was
    /// present.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use std::time::Duration;
    /// cache.set("session", 1)?;
    /// assert!(cache.touch("session", Some(Duration::from_secs(60)))?);
    /// assert!(cache.get_entry::<i64>("session")?.expect("live").expire_time.is_some());
    /// assert!(!cache.touch("absent", None)?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Cache::delete`].
    pub fn touch(&self, key: impl IntoKey, expire: Option<Duration>) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        self.store()?.write(|w| write::touch(w, &key, expire))
    }

    /// Adds `delta` to the number stored under `key` and returns the result, atomically
    /// across threads and processes. A missing (or expired) key starts from `default`; with
    /// `default: None` it is [`Error::KeyNotFound`]. The expire time and tag are kept.
    ///
    /// As Python diskcache's `+`: an integer stays an integer ([`Number::Int`]); a float
    /// adds `delta` (converted to the nearest `f64`) and is stored and returned as a float
    /// ([`Number::Float`]). Text, bytes and other values are [`Error::NotAnInteger`] (Python's
    /// `TypeError`).
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// assert_eq!(cache.incr("hits", 1, Some(0))?, 1);
    /// assert_eq!(cache.incr("hits", 10, None)?, 11);
    /// cache.set("load", 0.5)?;
    /// assert_eq!(cache.incr("load", 2, None)?, 2.5);
    /// assert!(matches!(cache.incr("nope", 1, None), Err(diskcache::Error::KeyNotFound)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::KeyNotFound`]; [`Error::NotAnInteger`] if the stored value is not an integer
    /// or a float; [`Error::InvalidArgument`] if an integer result overflows an `i64`;
    /// [`Error::Timeout`].
    pub fn incr(&self, key: impl IntoKey, delta: i64, default: Option<i64>) -> Result<Number> {
        let key = key.into_key()?.encode()?;
        self.store()?
            .write(|w| write::incr(w, &key, delta, default))
    }

    /// Subtracts `delta`: `incr(key, -delta, default)`.
    ///
    /// # Errors
    /// As [`Cache::incr`]; `delta == i64::MIN` is [`Error::InvalidArgument`].
    pub fn decr(&self, key: impl IntoKey, delta: i64, default: Option<i64>) -> Result<Number> {
        self.incr(key, write::negate(delta)?, default)
    }

    /// Removes `key` and returns its value, if it was present and live.
    /// Removes `key` and returns its value, if it was present and live.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// cache.set("job", "resize")?;
    /// assert_eq!(cache.pop::<String>("job")?.as_deref(), Some("resize"));
    /// assert_eq!(cache.pop::<String>("job")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Codec`] if the value is not a `V` (the entry is then left in place);
    /// [`Error::Corrupted`] if its bytes fail their crc32; [`Error::Timeout`].
    pub fn pop<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        Ok(self.pop_entry(key)?.map(|e| e.value))
    }

    /// Removes `key` and returns its value with its expire time and tag.
    ///
    /// # Errors
    /// As [`Cache::pop`].
    pub fn pop_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?.encode()?;
        self.store()?
            .write(|w| write::pop_entry(w, &key, |row, k| self.take_value(row, k), &self.codec))
    }

    // ----- reads --------------------------------------------------------------------------

    /// The value stored under `key`, or `None` if it is absent or expired.
    ///
    /// # Errors
    /// [`Error::Codec`] if the value is not a `V`; [`Error::Corrupted`] if its bytes fail their
    /// crc32; [`Error::InvalidArgument`] for a bad key.
    pub fn get<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<V>> {
        let key = key.into_key()?.encode()?;
        self.fetch(&key)?.map(Fetched::value).transpose()
    }

    /// The value with its expire time and tag (diskcache's `get(expire_time=True, tag=True)`).
    ///
    /// # Errors
    /// As [`Cache::get`].
    pub fn get_entry<V: DeserializeOwned>(&self, key: impl IntoKey) -> Result<Option<Entry<V>>> {
        let key = key.into_key()?.encode()?;
        self.fetch(&key)?.map(Fetched::entry).transpose()
    }

    /// [`Cache::get_entry`] that counts neither a hit nor a miss nor an access: a second look
    /// at a key within one call that has already counted its read (a memo's look after
    /// waiting for another thread's computation).
    pub(crate) fn get_entry_uncounted<V: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<Entry<V>>> {
        let key = key.encode()?;
        let row = self.live_row(&key)?;
        self.fetch_live(row, &key, time::now_us())?
            .map(Fetched::entry)
            .transpose()
    }

    /// A `Read + Seek` reader over the value: a memory map of its value file, or its inline
    /// bytes (diskcache's `read`). The crc32 is checked when the reader reaches the end.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// use std::io::Read;
    /// cache.set_reader("blob", &b"streamed bytes"[..], Default::default())?;
    /// let mut text = String::new();
    /// cache.get_reader("blob")?.unwrap().read_to_string(&mut text)?;
    /// assert_eq!(text, "streamed bytes");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Corrupted`] if a value file's length disagrees with its row; [`Error::Io`].
    pub fn get_reader(&self, key: impl IntoKey) -> Result<Option<ValueReader>> {
        let key = key.into_key()?.encode()?;
        let Some(mut row) = self.read_row(&key)? else {
            return Ok(None);
        };
        let origin = describe(&key);
        if row.packed {
            // Unpacked in memory (the stored bytes' crc32 is checked on the way).
            return Ok(self.take_value(&mut row, &key)?.map(|bytes| {
                let crc32 = crc32fast::hash(&bytes);
                ValueReader::inline(bytes, crc32, origin)
            }));
        }
        match &row.place {
            ValuePlace::Inline(bytes) => {
                Ok(Some(ValueReader::inline(bytes.clone(), row.crc32, origin)))
            }
            ValuePlace::File(path) => match blob::open(self.directory(), path)? {
                Some(file) => ValueReader::from_file(file, row.size, row.crc32, origin).map(Some),
                None => Ok(None),
            },
        }
    }

    /// Whether `key` is present and unexpired.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad key; [`Error::Storage`].
    pub fn contains(&self, key: impl IntoKey) -> Result<bool> {
        let key = key.into_key()?.encode()?;
        Ok(self.live_row(&key)?.is_some())
    }

    /// The number of entries, counting expired ones until they are removed (as diskcache):
    /// as many as [`Cache::keys`] yields.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn len(&self) -> Result<u64> {
        self.store()?.count()
    }

    /// Whether the cache holds no entries (expired ones count until removed).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The bytes the entries occupy: per entry, its key, tag, value (inline or in its file)
    /// and a fixed 128 bytes, the database's measured cost of a row and its index entries
    /// (`format-spec/volume.md`). Kept in step with every commit.
    ///
    /// It is not the size of the directory, as Python diskcache's `volume()` (the SQLite
    /// file's length) is: it is a sum over the entries, which `size_limit` bounds. Beside it,
    /// `cache.redb` also holds the pages redb has freed and keeps for reuse (its length only
    /// shrinks with [`Cache::compact`]), writes since the last checkpoint live in `cache.wal`
    /// (64 MiB, sparse), and value files occupy whole file-system blocks. For small entries
    /// the database's pages come to about the volume (one million 100-byte values under
    /// `key-0`, `key-1`, …: volume 239 bytes an entry, `cache.redb` 247 bytes of pages and
    /// 285 of file length an entry); for values in files the volume is the files' length.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn volume(&self) -> Result<u64> {
        self.store()?.volume()
    }

    /// The stored keys in insertion order; re-setting a key keeps its place. As diskcache's
    /// iteration, expired keys are included until they are removed (by a write's cull,
    /// [`Cache::expire`] or [`Cache::cull`]), so there are as many as [`Cache::len`] counts;
    /// reads of an expired key miss. Reads in batches, each from a fresh snapshot, so a long
    /// iteration never holds the database.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// for k in ["b", "a", "c"] { cache.set(k, &0)?; }
    /// cache.set("b", &1)?;
    /// let keys: Vec<_> = cache.keys()?.collect::<diskcache::Result<_>>()?;
    /// assert_eq!(keys, ["b".into(), "a".into(), "c".into()]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`]; each item may carry [`Error::Corrupted`].
    pub fn keys(&self) -> Result<Keys> {
        Ok(Keys::inserted(self.store()?.clone()))
    }

    /// The stored keys, expired ones included as in [`Cache::keys`], in key order
    /// (diskcache's `iterkeys`), descending if `reverse`: numbers by value, then text, then
    /// bytes, then composites (`format-spec/keys.md`). Read in batches from fresh snapshots,
    /// like [`Cache::keys`].
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// for k in ["c", "a", "b"] { cache.set(k, &0)?; }
    /// cache.set(2.5, &0)?;
    /// let keys: Vec<_> = cache.keys_sorted(false)?.collect::<diskcache::Result<_>>()?;
    /// assert_eq!(keys, [2.5.into(), "a".into(), "b".into(), "c".into()]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`] (the log is checkpointed first, under the write lock); each item may
    /// carry [`Error::Corrupted`].
    pub fn keys_sorted(&self, reverse: bool) -> Result<Keys> {
        Ok(Keys::sorted(self.store()?.clone(), reverse))
    }

    /// The first (or, with `last`, the last) live entry in insertion order, without removing
    /// it (diskcache's `peekitem`). Expired entries it passes on the way are removed, as
    /// diskcache's are.
    ///
    /// ```
    /// # fn main() -> diskcache::Result<()> {
    /// # let cache = diskcache::Cache::open(tempfile::tempdir()?.path())?;
    /// for (k, v) in [("c", 1), ("a", 2), ("b", 3)] { cache.set(k, &v)?; }
    /// assert_eq!(cache.peekitem::<i64>(true)?, Some(("b".into(), 3)));
    /// assert_eq!(cache.peekitem::<i64>(false)?, Some(("c".into(), 1)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Codec`] if the value is not a `V`; [`Error::Corrupted`]; [`Error::Timeout`]
    /// (the log is checkpointed first).
    pub fn peekitem<V: DeserializeOwned>(&self, last: bool) -> Result<Option<(Key, V)>> {
        let mut missing: Option<Vec<u8>> = None;
        loop {
            let now = time::now_us();
            let store = self.store()?;
            let edge = store.read_all(|r| r.insertion_edge(last, now))?;
            if !edge.expired.is_empty() {
                // As Python diskcache's peekitem, which deletes the expired items it passes.
                store.write(|w| write::remove_expired(w, &edge.expired))?;
            }
            let Some((key, row)) = edge.live else {
                return Ok(None);
            };
            let whole = crate::format::payload::key_of(&key, &row);
            if let Some(fetched) = self.load(row, &key)? {
                return Ok(Some((whole?, fetched.value()?)));
            }
            // The value file is gone: a concurrent delete since the snapshot (look again),
            // or, if the same entry is still there on a second look, damage.
            if missing.as_deref() == Some(key.as_slice()) {
                return Err(Error::corrupted(format!(
                    "{}: its value file is missing",
                    describe(&key)
                )));
            }
            missing = Some(key);
        }
    }

    /// Applies the shared log to the database file now, so that the database alone holds
    /// every entry (for tools that read `cache.redb`, or before a backup). Checkpoints also
    /// happen on their own: every `checkpoint_records` writes, when the log is full, before
    /// whole-cache operations, and when a handle closes. A no-op on the direct write path.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Io`]; [`Error::Storage`].
    pub fn checkpoint(&self) -> Result<()> {
        self.store()?.checkpoint()
    }

    // ----- internals ----------------------------------------------------------------------

    pub(crate) fn sync_files(&self) -> bool {
        let settings = self.settings();
        settings
            .durability
            .syncs_value_files_when_written(settings.write_path)
    }

    /// Puts a value where it will live (a file if large) before the transaction starts, so
    /// the write lock is never held while a large value is written.
    pub(crate) fn prepare<V: Serialize + ?Sized>(
        &self,
        value: &V,
        opts: &SetOptions,
    ) -> Result<Prepared> {
        let (value, packed) = self.codec.encode(value)?;
        let tag = encode_tag(opts.tag.as_ref())?;
        let numeric = matches!(value.kind, ValueKind::Int | ValueKind::Float);
        let large = value.bytes.len() as u64 >= self.settings().min_file_size;
        let (place, blob) = if large && !numeric {
            let written = blob::write(self.directory(), &value.bytes, self.sync_files())?;
            (None, Some(written))
        } else {
            (Some(value.bytes), None)
        };
        Ok(Prepared {
            kind: value.kind,
            packed,
            place,
            blob,
            expire: opts.expire,
            tag,
        })
    }

    /// Stores a prepared value; with `only_if_absent`, leaves a live entry alone and returns
    /// false. A value file that ends up unused is deleted.
    fn store_prepared(&self, key: &[u8], prepared: Prepared, only_if_absent: bool) -> Result<bool> {
        let blob_path = prepared.blob.as_ref().map(|b| b.path.clone());
        let result = self
            .store()
            .and_then(|store| store.write(|w| write::set(w, key, prepared, only_if_absent)));
        write::discard_unused(self.directory(), blob_path.as_ref(), &result);
        result
    }

    /// The live row under `key`, from a fresh snapshot.
    fn live_row(&self, key: &[u8]) -> Result<Option<Row>> {
        self.store()?.live_row(key, time::now_us(), false)
    }

    /// [`Cache::live_row`] for a read that counts: a hit or miss for the statistics, and an
    /// access for the eviction policy (gathered in memory; the read itself writes nothing).
    fn read_row(&self, key: &[u8]) -> Result<Option<Row>> {
        self.store()?.live_row(key, time::now_us(), true)
    }

    /// The live value under `key`, crc-checked; `None` if absent, expired, or its file was
    /// deleted by a concurrent writer after the snapshot was taken.
    fn fetch(&self, key: &[u8]) -> Result<Option<Fetched>> {
        self.fetch_live(self.read_row(key)?, key, time::now_us())
    }

    /// The value of `row` (the row under `key`, if any), crc-checked, if it is live at `now`;
    /// `None` if its value file is gone.
    pub(crate) fn fetch_live(
        &self,
        row: Option<Row>,
        key: &[u8],
        now: u64,
    ) -> Result<Option<Fetched>> {
        match row.filter(|r| !r.is_expired(now)) {
            Some(row) => self.load(row, key),
            None => Ok(None),
        }
    }

    /// Reads `row`'s value bytes and checks their crc32.
    pub(crate) fn load(&self, mut row: Row, key: &[u8]) -> Result<Option<Fetched>> {
        Ok(self.take_value(&mut row, key)?.map(|bytes| Fetched {
            row,
            bytes,
            codec: self.codec.clone(),
        }))
    }

    /// Reads `row`'s value bytes and checks their crc32; `None` if its value file is gone.
    /// Inline bytes are moved out of the row, which stays fit to be removed.
    pub(crate) fn take_value(&self, row: &mut Row, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let bytes = match &mut row.place {
            ValuePlace::Inline(bytes) => std::mem::take(bytes),
            ValuePlace::File(path) => match blob::read(self.directory(), path)? {
                Some(bytes) => bytes,
                None => return Ok(None),
            },
        };
        check_crc(row, &bytes, key)?;
        self.codec.unpack(row.kind, row.packed, bytes).map(Some)
    }

    /// Does what the clean-shutdown marker asks of a new handle before it serves: after an
    /// unclean shutdown across a reboot, `check(true)`; then records the cache in use.
    ///
    /// # Errors
    /// As [`crate::Cache::check`]; [`crate::Error::Io`] if the marker cannot be written.
    pub(crate) fn settle_marker(&self) -> Result<()> {
        let store = self.store()?;
        let Some(marker) = store.marker() else {
            return Ok(());
        };
        if marker.verdict() == crate::engine::shutdown::Verdict::Check {
            self.check(true)?;
        }
        marker.settle()
    }
}
