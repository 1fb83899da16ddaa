//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz), one per decoder of the format plus
//! a model target. Not part of the API: `tests/internals/fuzz_corpus.rs` runs each over its
//! seed corpus (`tests/corpus/<target>/`) on stable, and `fuzz/fuzz_targets/<target>.rs` is a
//! one-line wrapper around it.
//!
//! Every function takes arbitrary bytes, ignores the errors its decoder returns, and must never
//! panic: a panic is the bug the fuzzer looks for. The model target also panics when the cache
//! and its in-memory model disagree.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::log::overlay::Overlay;
use crate::engine::log::shm::{self, SHM_FILE, SHM_SIZE};
use crate::engine::log::wal::{self, WAL_FILE, WAL_HEADER_LEN};
use crate::error::Error;
use crate::format::blob::{self, BlobPath};
use crate::format::key::Key;
use crate::format::row::Row;
use crate::reader::ValueReader;
use crate::settings::{Setting, Settings, WritePath};
use crate::{Cache, Result, SetOptions, Side};

mod database;

pub use database::{PAGE, database, database_len, inside_boundary};

/// Splits `data` at a length given by its first two bytes (little-endian), capped at the
/// data's length: (first part, rest).
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return (&[], data);
    };
    rest.split_at(usize::from(u16::from_le_bytes(*len)).min(rest.len()))
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> Option<TempDir> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("diskcache-fuzz-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir(&path).ok()?;
    Some(TempDir(path))
}

/// `Key::from_encoded` (`format-spec/keys.md`); a key that decodes must encode back to the same
/// bytes, display, and decode as a tuple or a string without panicking.
pub fn key(data: &[u8]) {
    let Ok(key) = Key::from_encoded(data) else {
        return;
    };
    let again = key.encode();
    if let Ok(bytes) = &again {
        let back = Key::from_encoded(bytes).ok();
        if back.as_ref() != Some(&key) {
            fail(format!("key {key:?} does not round-trip through {bytes:?}"));
        }
    }
    let _ = key.to_string();
    let _ = key.decode::<String>();
    let _ = key.decode::<(i64, String)>();
    let _ = key.decode::<Vec<Option<f64>>>();
    let _ = key.decode::<serde_json_free::Any>();
}

/// `Row::decode` (`format-spec/rows.md`); a row that decodes must encode back to itself.
pub fn row(data: &[u8]) {
    let Ok(row) = Row::decode(data) else {
        return;
    };
    let _ = row.volume(data.len());
    let _ = row.is_expired(u64::MAX / 2);
    if let Ok(bytes) = row.encode()
        && Row::decode(&bytes).ok().as_ref() != Some(&row)
    {
        fail(format!("row {row:?} does not round-trip"));
    }
}

/// The settings records: `(name, code)` pairs, each a length byte, the name, and an 8-byte
/// code, decoded one by one with `Setting::decode`, then stored in a `settings` table of an
/// in-memory redb and read back with `Settings::read_from`.
pub fn settings(data: &[u8]) {
    let mut pairs = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (name, tail) = tail.split_at(len);
        let Some((code, tail)) = tail.split_first_chunk::<8>() else {
            break;
        };
        rest = tail;
        let name = String::from_utf8_lossy(name).into_owned();
        let code = u64::from_le_bytes(*code);
        if let Ok(Some(setting)) = Setting::decode(&name, code) {
            let mut s = Settings::default();
            s.apply(setting);
            if Setting::decode(setting.name(), setting.code()).ok() != Some(Some(setting)) {
                fail(format!("setting {setting:?} does not round-trip"));
            }
        }
        pairs.push((name, code));
    }
    let _ = settings_table(&pairs);
}

/// The clean-shutdown marker record (`cache.boot`): decoded; a record that decodes encodes
/// to bytes that decode to it again. Then the bytes are written as a cache's marker and the
/// cache opened: whatever the record says, the open decides (checking if it must) and works.
pub fn marker(data: &[u8]) {
    if let Err(e) = crate::engine::shutdown::check_decoder(data) {
        fail(e);
    }
    let Some(dir) = temp_dir() else {
        return;
    };
    if std::fs::write(dir.path().join(crate::engine::shutdown::MARKER_FILE), data).is_ok() {
        match Cache::open(dir.path()) {
            Ok(cache) => {
                if cache.set("k", "v").is_err() || cache.get::<String>("k").ok().flatten().is_none()
                {
                    fail("a cache opened over this marker does not work".into());
                }
            }
            Err(e) => fail(format!("a cache with this marker does not open: {e}")),
        }
    }
}

fn settings_table(pairs: &[(String, u64)]) -> Result<Settings> {
    use redb::ReadableDatabase;
    let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new())?;
    let w = db.begin_write()?;
    {
        let mut table = w.open_table(crate::format::schema::SETTINGS)?;
        for (name, code) in pairs {
            table.insert(name.as_str(), code)?;
        }
    }
    w.commit()?;
    let r = db.begin_read()?;
    Settings::read_from(&r.open_table(crate::format::schema::SETTINGS)?)
}

/// The value-file layout (`format-spec/blobs.md`): a value file is the value's bytes, no
/// header or trailer, named by a path the row stores. Input: a 4-byte claimed crc32, an
/// 8-byte claimed size, a length-prefixed path (parsed with `BlobPath::parse`), then the
/// file's contents, read through a `ValueReader` (reads, seeks, `verify`).
pub fn blob(data: &[u8]) {
    let Some((crc, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let Some((size, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let (crc, size) = (u32::from_le_bytes(*crc), u64::from_le_bytes(*size));
    let (path, contents) = split(rest);
    let path = String::from_utf8_lossy(path);
    let parsed = BlobPath::parse(&path);
    if let Ok(p) = &parsed
        && BlobPath::parse(p.as_str()).ok().as_ref() != Some(p)
    {
        fail(format!("blob path {p:?} does not round-trip"));
    }
    let Some(dir) = temp_dir() else {
        return;
    };
    let _ = read_blob(dir.path(), parsed.ok(), contents, size, crc);
}

fn read_blob(
    dir: &Path,
    path: Option<BlobPath>,
    contents: &[u8],
    size: u64,
    crc: u32,
) -> Result<()> {
    let file_path = match &path {
        Some(p) => p.under(dir),
        None => dir.join("value.val"),
    };
    if let Some(parent) = file_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&file_path, contents)?;
    if let Some(p) = &path {
        let _ = blob::read(dir, p);
    }
    let file = std::fs::File::open(&file_path)?;
    // The claimed size, or the true one half of the time, so that reads get past the check.
    let size = if size & 1 == 0 {
        contents.len() as u64
    } else {
        size
    };
    for mut reader in [
        ValueReader::from_file(file, size, crc, "fuzz".into())?,
        ValueReader::inline(contents.to_vec(), crc, "fuzz".into()),
    ] {
        let _ = reader.len();
        let mut buf = [0u8; 7];
        let _ = reader.read(&mut buf);
        let _ = reader.seek(SeekFrom::End(-(size as i64 % 13)));
        let _ = reader.seek(SeekFrom::Current(i64::from(crc as i32)));
        let _ = reader.seek(SeekFrom::Start(size / 3));
        let mut all = Vec::new();
        let _ = reader.read_to_end(&mut all);
        let _ = reader.verify();
    }
    Ok(())
}

/// The write-ahead log's records (`format-spec/wal.md`): `frame` and `parse` at every
/// 8-aligned offset (a record that parses encodes to one that parses the same), and the
/// recovery `scan` with the generation of the first record, which either refuses a newer
/// format's record or covers only whole records, skipping only blocks that hold a damaged one.
pub fn wal(data: &[u8]) {
    let mut at = 0;
    while let Some(bytes) = data.get(at..) {
        if let Some(framed) = wal::frame(bytes) {
            let len = framed.padded;
            if len < wal::RECORD_HEADER_LEN || len % 8 != 0 {
                fail(format!("record at {at} has the padded length {len}"));
            }
            if let wal::Parsed::Record(rec) = framed.parse() {
                let mut out = Vec::new();
                if wal::encode_record(&mut out, &rec).is_ok()
                    && wal::frame(&out).map(|f| f.parse()) != Some(wal::Parsed::Record(rec))
                {
                    fail(format!("record at {at} does not round-trip"));
                }
            }
        }
        at += 8;
    }
    let generation = data
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    match wal::scan(data, generation) {
        Ok(found) => {
            let len = found.len;
            let offsets = found.records.iter().map(|(off, _)| *off);
            if len > data.len()
                || offsets
                    .chain(found.skipped.iter().map(|s| s.offset))
                    .any(|off| off >= len)
            {
                fail(format!("scan covers {len} of {} bytes", data.len()));
            }
            if found.count != (found.records.len() + found.skipped.len()) as u64 {
                fail(format!("scan counts {} records", found.count));
            }
            if !found.skipped.is_empty() && found.skipped.iter().all(|s| s.damage.is_none()) {
                fail("scan skipped blocks with no damaged record".into());
            }
        }
        Err(Error::UnsupportedVersion { .. }) => {}
        Err(e) => fail(format!("scan failed: {e}")),
    }
}

/// The shared-memory header and slot table, with the log they index: the input gives
/// `(word index, value)` pairs written into `cache.shm` (header words and slots), and the
/// bytes of `cache.wal` from its start (header included). Then an `Overlay` over them looks up
/// the keys the log holds (with slots pointing near their records), scans it, and a `Cache`
/// opened on the directory (the logged write path) recovers from it and reads.
pub fn shm(data: &[u8]) {
    let Some(dir) = temp_dir() else {
        return;
    };
    let _ = shm_in(dir.path(), data);
}

fn shm_in(dir: &Path, data: &[u8]) -> Result<()> {
    let (words, log) = split(data);
    let mut shm_bytes = vec![0u8; SHM_SIZE];
    let mut deltas = Vec::new();
    for chunk in words.chunks_exact(10) {
        let (index, value) = chunk.split_at(2);
        let index = usize::from(u16::from_le_bytes(index.try_into().unwrap_or_default()));
        let value: [u8; 8] = value.try_into().unwrap_or_default();
        deltas.push(u64::from_le_bytes(value) % 64);
        let at = (index * 8) % SHM_SIZE;
        if let Some(word) = shm_bytes.get_mut(at..at + 8) {
            word.copy_from_slice(&value);
        }
    }
    std::fs::write(dir.join(SHM_FILE), &shm_bytes)?;
    std::fs::write(dir.join(WAL_FILE), log)?;
    let keys = {
        let overlay = Overlay::open(dir)?;
        let _ = overlay.needs_recovery(&|_, _, _| true);
        // Lane 0 holds what the fuzzer wrote from the file's start.
        let generation = overlay.shm().lane(0, shm::LaneWord::Gen);
        let body = log.get(WAL_HEADER_LEN as usize..).unwrap_or_default();
        let records = wal::scan(body, generation).map_or_else(|_| Vec::new(), |s| s.records);
        let mut keys: Vec<Vec<u8>> = vec![b"\x10k".to_vec()];
        for (i, (off, rec)) in records.iter().enumerate() {
            let delta = deltas.get(i).copied().unwrap_or(0);
            let offset = (WAL_HEADER_LEN + *off as u64).wrapping_add(delta);
            let lane = (delta % 2) as shm::Lane;
            let _ = overlay.shm().insert(
                lane,
                crate::format::key_hash::key_hash(rec.key),
                offset,
                None,
            );
            keys.push(rec.key.to_vec());
        }
        let give_up = || -> Result<()> { Err(Error::Timeout) };
        for k in &keys {
            let _ = overlay.lookup(k, &give_up);
        }
        for lane in [0, 1] {
            let _ = overlay.scan(lane, generation);
        }
        let _ = overlay.records();
        let _ = overlay.headers();
        keys
    };
    // No record, however it decodes, makes the cache unopenable: a newer format's record is
    // refused by name, and anything else is damage that the open works around.
    let cache = match Cache::builder()
        .write_path(WritePath::Logged)
        .timeout(Duration::from_millis(20))
        .open(dir)
    {
        Err(Error::Corrupted(why)) => {
            fail(format!("the log makes the cache unopenable: {why}"));
            return Ok(());
        }
        opened => opened?,
    };
    for k in keys.iter().take(8) {
        if let Ok(key) = Key::from_encoded(k) {
            let _ = cache.get::<Vec<u8>>(key);
        }
    }
    let _ = cache.len();
    let _ = cache.volume();
    if let Err(Error::Corrupted(why)) = cache.checkpoint() {
        fail(format!("the log cannot be checkpointed: {why}"));
    }
    let _ = cache.len();
    Ok(())
}

fn fail(msg: String) {
    // The fuzzer's signal: a decoder accepted bytes it cannot reproduce.
    #[expect(clippy::panic, reason = "a fuzz target reports a bug by panicking")]
    {
        panic!("{msg}");
    }
}

mod serde_json_free {
    //! A self-describing sink for `Key::decode`: accepts whatever the key holds.

    use serde::de::{Deserialize, Deserializer, IgnoredAny};

    pub(super) struct Any;

    impl<'de> Deserialize<'de> for Any {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            IgnoredAny::deserialize(d).map(|_| Any)
        }
    }
}

/// A key of the model target: a few ints and strings, so operations collide.
#[derive(Debug, Clone, Copy)]
enum K {
    Int(u8),
    Str(u8),
}

impl K {
    fn key(self) -> Key {
        match self {
            K::Int(i) => Key::Int(i64::from(i % 6)),
            K::Str(i) => Key::Str(format!("s{}", i % 6)),
        }
    }
}

/// A value: its length (up to a few value files' worth) and fill byte.
#[derive(Debug, Clone, Copy)]
struct V {
    len: u8,
    fill: u8,
    big: bool,
}

impl V {
    fn bytes(self) -> Vec<u8> {
        let len = usize::from(self.len) * if self.big { 9 } else { 1 };
        vec![self.fill; len]
    }
}

/// One step of the model target.
#[derive(Debug, Clone)]
enum Op {
    Set(K, V),
    SetWith {
        key: K,
        value: V,
        expire: bool,
        tag: Option<u8>,
    },
    Get(K),
    Delete(K),
    Incr {
        counter: u8,
        delta: i8,
        default: Option<i8>,
    },
    Pop(K),
    Push {
        value: V,
        front: bool,
    },
    Pull {
        front: bool,
    },
    Evict(u8),
    Cull,
    Clear,
    Transact(Vec<(K, Option<V>)>),
    Checkpoint,
    Reopen,
}

/// A cursor over the fuzzer's bytes: each draw takes what it needs, and zeros once they run
/// out, so every input is a valid sequence of operations.
struct Draw<'a>(&'a [u8]);

impl Draw<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    fn i8(&mut self) -> i8 {
        i8::from_le_bytes([self.u8()])
    }

    fn option<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.bool() { Some(f(self)) } else { None }
    }

    fn key(&mut self) -> K {
        if self.bool() {
            K::Int(self.u8())
        } else {
            K::Str(self.u8())
        }
    }

    fn value(&mut self) -> V {
        V {
            len: self.u8(),
            fill: self.u8(),
            big: self.bool(),
        }
    }

    fn op(&mut self) -> Op {
        match self.u8() % 15 {
            0 => Op::Set(self.key(), self.value()),
            1 => Op::SetWith {
                key: self.key(),
                value: self.value(),
                expire: self.bool(),
                tag: self.option(Self::u8),
            },
            2 => Op::Get(self.key()),
            3 => Op::Delete(self.key()),
            4 => Op::Incr {
                counter: self.u8(),
                delta: self.i8(),
                default: self.option(Self::i8),
            },
            5 => Op::Pop(self.key()),
            6 => Op::Push {
                value: self.value(),
                front: self.bool(),
            },
            7 => Op::Pull { front: self.bool() },
            8 => Op::Evict(self.u8()),
            9 => Op::Cull,
            10 => Op::Clear,
            11 => {
                let n = self.u8() % 6;
                Op::Transact(
                    (0..n)
                        .map(|_| (self.key(), self.option(Self::value)))
                        .collect(),
                )
            }
            12 => Op::Checkpoint,
            13 => Op::Reopen,
            _ => Op::Get(self.key()),
        }
    }
}

/// The most operations one input runs.
const MAX_OPS: usize = 256;

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Bytes(Vec<u8>),
    Int(i64),
}

/// What the model holds for a key: its value and tag.
type Model = BTreeMap<Key, (Val, Option<Key>)>;

const QUEUE: &str = "q";

fn tag_key(t: u8) -> Key {
    Key::Str(format!("t{}", t % 3))
}

fn counter_key(c: u8) -> Key {
    Key::Str(format!("c{}", c % 3))
}

fn open_model_cache(dir: &Path, logged: bool) -> Result<Cache> {
    Cache::builder()
        .write_path(if logged {
            WritePath::Logged
        } else {
            WritePath::Direct
        })
        .min_file_size(200)
        .checkpoint_records(64)
        .open(dir)
}

fn check(
    what: &str,
    cache: &Result<impl std::fmt::Debug + PartialEq>,
    model: &impl std::fmt::Debug,
    want: bool,
) {
    if !want {
        fail(format!(
            "{what}: the cache says {cache:?}, the model {model:?}"
        ));
    }
}

/// The model target: a random sequence of operations applied to a `Cache` in a temporary
/// directory and to a `BTreeMap`, compared after every step (the value of the key touched,
/// the length, and at the end every entry). Expiry times are an hour, so nothing expires
/// during a run; values span inline rows and value files.
pub fn model(data: &[u8]) {
    let mut draw = Draw(data);
    let logged = draw.bool();
    let mut ops = Vec::new();
    while !draw.0.is_empty() && ops.len() < MAX_OPS {
        ops.push(draw.op());
    }
    let Some(dir) = temp_dir() else {
        return;
    };
    let Ok(mut cache) = open_model_cache(dir.path(), logged) else {
        return;
    };
    let mut model = Model::new();
    let started = Instant::now();
    for op in ops.into_iter().take(64) {
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
        let Some(next) = step(cache, dir.path(), logged, &mut model, op) else {
            return;
        };
        cache = next;
        let len = cache.len();
        check(
            "len",
            &len,
            &model.len(),
            len.as_ref().ok() == Some(&(model.len() as u64)),
        );
    }
    for (key, (val, _)) in &model {
        match val {
            Val::Bytes(b) => {
                let got = cache.get::<Vec<u8>>(key.clone());
                check(
                    "final get",
                    &got,
                    val,
                    got.as_ref().ok() == Some(&Some(b.clone())),
                );
            }
            Val::Int(i) => {
                let got = cache.get::<i64>(key.clone());
                check("final get", &got, val, got.as_ref().ok() == Some(&Some(*i)));
            }
        }
    }
}

/// Applies `op` to both; returns the cache to go on with (a new one after `Reopen`), or
/// `None` to stop the run (the cache could not be reopened).
fn step(cache: Cache, dir: &Path, logged: bool, model: &mut Model, op: Op) -> Option<Cache> {
    match op {
        Op::Set(k, v) => {
            let r = cache.set(k.key(), v.bytes());
            check("set", &r, &(), r.is_ok());
            model.insert(k.key(), (Val::Bytes(v.bytes()), None));
        }
        Op::SetWith {
            key,
            value,
            expire,
            tag,
        } => {
            let mut opts = SetOptions::default();
            if expire {
                opts = opts.expire(Duration::from_secs(3600));
            }
            if let Some(t) = tag {
                opts = opts.tag(tag_key(t));
            }
            let r = cache.set_with(key.key(), value.bytes(), opts);
            check("set_with", &r, &(), r.is_ok());
            model.insert(key.key(), (Val::Bytes(value.bytes()), tag.map(tag_key)));
        }
        Op::Get(k) => {
            let want = model.get(&k.key()).map(|(v, _)| v.clone());
            match &want {
                Some(Val::Int(i)) => {
                    let got = cache.get::<i64>(k.key());
                    check("get", &got, &want, got.as_ref().ok() == Some(&Some(*i)));
                }
                _ => {
                    let got = cache.get::<Vec<u8>>(k.key()).map(|o| o.map(Val::Bytes));
                    check("get", &got, &want, got.as_ref().ok() == Some(&want));
                }
            }
        }
        Op::Delete(k) => {
            let got = cache.delete(k.key());
            let want = model.remove(&k.key()).is_some();
            check("delete", &got, &want, got.as_ref().ok() == Some(&want));
        }
        Op::Incr {
            counter,
            delta,
            default,
        } => {
            let key = counter_key(counter);
            let (delta, default) = (i64::from(delta), default.map(i64::from));
            let got = cache.incr(key.clone(), delta, default);
            let want = match model.get(&key) {
                Some((Val::Int(i), _)) => Some(i + delta),
                Some(_) => None,
                None => default.map(|d| d + delta),
            };
            match want {
                Some(n) => {
                    let got = got.map(|n| n.as_i64());
                    check("incr", &got, &want, got.as_ref().ok() == Some(&Some(n)));
                    let tag = model.get(&key).and_then(|(_, t)| t.clone());
                    model.insert(key, (Val::Int(n), tag));
                }
                None => check("incr", &got, &want, got.is_err()),
            }
        }
        Op::Pop(k) => {
            let want = model.remove(&k.key()).map(|(v, _)| v);
            match &want {
                Some(Val::Int(i)) => {
                    let got = cache.pop::<i64>(k.key());
                    check("pop", &got, &want, got.as_ref().ok() == Some(&Some(*i)));
                }
                _ => {
                    let got = cache.pop::<Vec<u8>>(k.key()).map(|o| o.map(Val::Bytes));
                    check("pop", &got, &want, got.as_ref().ok() == Some(&want));
                }
            }
        }
        Op::Push { value, front } => {
            let side = if front { Side::Front } else { Side::Back };
            let got = cache.push(value.bytes(), Some(QUEUE), side, SetOptions::default());
            let queue = queue_keys(model);
            let ok = match &got {
                Ok(k) if !model.contains_key(k) => {
                    if front {
                        queue.first().is_none_or(|f| k < f)
                    } else {
                        queue.last().is_none_or(|l| k > l)
                    }
                }
                _ => false,
            };
            check("push", &got, &queue, ok);
            if let Ok(k) = got {
                model.insert(k, (Val::Bytes(value.bytes()), None));
            }
        }
        Op::Pull { front } => {
            let side = if front { Side::Front } else { Side::Back };
            let queue = queue_keys(model);
            let edge = if front { queue.first() } else { queue.last() };
            let want = edge.and_then(|k| model.get(k).map(|(v, _)| (k.clone(), v.clone())));
            let got = cache
                .pull::<Vec<u8>>(Some(QUEUE), side)
                .map(|o| o.map(|(k, v)| (k, Val::Bytes(v))));
            check("pull", &got, &want, got.as_ref().ok() == Some(&want));
            if let Some((k, _)) = want {
                model.remove(&k);
            }
        }
        Op::Evict(t) => {
            let tag = tag_key(t);
            let got = cache.evict(tag.clone());
            let before = model.len();
            model.retain(|_, (_, t)| t.as_ref() != Some(&tag));
            let want = (before - model.len()) as u64;
            check("evict", &got, &want, got.as_ref().ok() == Some(&want));
        }
        Op::Cull => {
            let got = cache.cull();
            check("cull", &got, &0u64, got.as_ref().ok() == Some(&0));
        }
        Op::Clear => {
            let got = cache.clear();
            let want = model.len() as u64;
            check("clear", &got, &want, got.as_ref().ok() == Some(&want));
            model.clear();
        }
        Op::Transact(writes) => {
            let got = cache.transact(|t| {
                for (k, v) in writes.iter().take(8) {
                    match v {
                        Some(v) => t.set(k.key(), v.bytes())?,
                        None => {
                            t.delete(k.key())?;
                        }
                    }
                }
                Ok(())
            });
            check("transact", &got, &(), got.is_ok());
            for (k, v) in writes.into_iter().take(8) {
                match v {
                    Some(v) => model.insert(k.key(), (Val::Bytes(v.bytes()), None)),
                    None => model.remove(&k.key()),
                };
            }
        }
        Op::Checkpoint => {
            let got = cache.checkpoint();
            check("checkpoint", &got, &(), got.is_ok());
        }
        Op::Reopen => {
            let closed = cache.close();
            check("close", &closed, &(), closed.is_ok());
            return open_model_cache(dir, logged).ok();
        }
    }
    Some(cache)
}

fn queue_keys(model: &Model) -> Vec<Key> {
    model
        .keys()
        .filter(|k| matches!(k, Key::Str(s) if s.starts_with("q-")))
        .cloned()
        .collect()
}

/// A fuzz target's entry function.
pub type Entry = fn(&[u8]);

/// The fuzz targets, by name, with their entry functions (`batch` is in the command's code:
/// see `fuzz/fuzz_targets/batch.rs`).
pub const TARGETS: [(&str, Entry); 9] = [
    ("key", key),
    ("row", row),
    ("settings", settings),
    ("marker", marker),
    ("blob", blob),
    ("wal", wal),
    ("shm", shm),
    ("model", model),
    ("database", database),
];

/// Meaningful seed inputs for each target, as `(target, name, bytes)`: valid encodings made by
/// the crate's own encoders (and a real cache's log and index for `shm`).
/// `tests/internals/fuzz_corpus.rs` writes them to `tests/corpus/` when asked to (see there).
pub fn seeds() -> Result<Vec<(&'static str, String, Vec<u8>)>> {
    let mut out = Vec::new();
    let keys = [
        ("int0", Key::Int(0)),
        ("int_neg", Key::Int(-5)),
        ("int_max", Key::Int(i64::MAX)),
        ("float", Key::Float(1.5)),
        ("float_neg_inf", Key::Float(f64::NEG_INFINITY)),
        ("str", Key::from("hello")),
        ("bytes", Key::from(b"\x00\xff")),
        ("tuple", Key::from_serialize(&("user", 7))?),
        (
            "nested",
            Key::from_serialize(&(1, ("a", [2.5, -0.0]), Some(b"x".to_vec())))?,
        ),
        ("unit", Key::from_serialize(&())?),
    ];
    for (name, k) in &keys {
        out.push(("key", name.to_string(), k.encode()?));
    }
    let file = BlobPath::parse("ab/cd/abcd0123456789abcdef0123456789ab.val")?;
    let inline = Row {
        row_id: 7,
        store_time: 1_700_000_000_000_000,
        expire_time: 0,
        access_time: 1_700_000_000_000_000,
        access_count: 3,
        kind: crate::format::value::ValueKind::Bytes,
        packed: false,
        size: 5,
        crc32: crc32fast::hash(b"hello"),
        tag: None,
        full_key: None,
        place: crate::format::row::ValuePlace::Inline(b"hello".to_vec()),
    };
    let tagged = Row {
        expire_time: 1_800_000_000_000_000,
        kind: crate::format::value::ValueKind::Serialized,
        packed: true,
        size: 100_000,
        tag: Some(Key::from("web").encode()?),
        place: crate::format::row::ValuePlace::File(file.clone()),
        ..inline.clone()
    };
    out.push(("row", "inline".into(), inline.encode()?));
    out.push(("row", "file_tagged".into(), tagged.encode()?));
    // A long key's row holds its whole key (flag bit 2); the decoder reads any length.
    let whole_key = Row {
        full_key: Some(Key::from("a long key").encode()?),
        ..inline.clone()
    };
    out.push(("row", "full_key".into(), whole_key.encode()?));
    let mut all = Vec::new();
    for setting in Setting::all_of(&Settings::default()) {
        let mut one = Vec::new();
        let name = setting.name();
        one.push(u8::try_from(name.len()).unwrap_or(0));
        one.extend_from_slice(name.as_bytes());
        one.extend_from_slice(&setting.code().to_le_bytes());
        all.extend_from_slice(&one);
        out.push(("settings", setting.name().into(), one));
    }
    all.extend_from_slice(b"\x0bfuture_knob\x05\0\0\0\0\0\0\0");
    out.push(("settings", "all_and_unknown".into(), all));
    for (name, contents) in [
        ("hello", &b"hello"[..]),
        ("empty", b""),
        ("zeros", &[0u8; 300]),
    ] {
        let mut seed = crc32fast::hash(contents).to_le_bytes().to_vec();
        seed.extend_from_slice(&(contents.len() as u64 * 2).to_le_bytes());
        seed.extend_from_slice(&(file.as_str().len() as u16).to_le_bytes());
        seed.extend_from_slice(file.as_str().as_bytes());
        seed.extend_from_slice(contents);
        out.push(("blob", name.into(), seed));
    }
    let row_bytes = inline.encode()?;
    let key_bytes = Key::from("k").encode()?;
    let records = [
        (wal::KIND_SET, 0, &row_bytes[..]),
        (wal::KIND_DELETE, wal::FLAG_COMMIT, &[][..]),
        (
            wal::KIND_ACCESS,
            wal::FLAG_COMMIT,
            &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0][..],
        ),
    ];
    let mut log = Vec::new();
    for (seq, (kind, flags, payload)) in records.iter().enumerate() {
        let rec = wal::Record {
            generation: 42,
            seq: seq as u64,
            kind: *kind,
            flags: *flags,
            key: &key_bytes,
            payload,
        };
        wal::encode_record(&mut log, &rec)?;
    }
    for (name, damaged) in damaged_variants(&log, 0) {
        out.push(("wal", format!("set_delete_access-{name}"), damaged));
    }
    out.push(("wal", "set_delete_access".into(), log));
    // A long key (over MAX_KEY_BYTES encoded): a set under its index key, the row holding the
    // whole key, then its delete; both records say version 2.
    let whole = Key::from("L".repeat(crate::MAX_KEY_BYTES + 8)).encode()?;
    let hash = crate::format::key::long::long_hash(&whole);
    let index = crate::format::key::long::index_key(&whole, &hash, 0);
    let long_row = Row {
        full_key: Some(whole),
        ..inline.clone()
    }
    .encode()?;
    let mut long_log = Vec::new();
    for (seq, (kind, payload)) in [(wal::KIND_SET, &long_row[..]), (wal::KIND_DELETE, &[][..])]
        .into_iter()
        .enumerate()
    {
        let rec = wal::Record {
            generation: 42,
            seq: seq as u64,
            kind,
            flags: wal::FLAG_COMMIT,
            key: &index,
            payload,
        };
        wal::encode_record(&mut long_log, &rec)?;
    }
    out.push(("wal", "long_key_set_delete".into(), long_log));
    for (name, logged) in [("logged_sets", true), ("logged_after_checkpoint", false)] {
        if let Some(seed) = shm_seed(logged)? {
            if logged {
                // The words come first, then the log, whose first record follows its header.
                let (words, _) = split(&seed);
                let words = words.len();
                for (variant, damaged) in damaged_variants(&seed, 2 + words + 64) {
                    out.push(("shm", format!("{name}-{variant}"), damaged));
                }
            }
            out.push(("shm", name.into(), seed));
        }
    }
    for (name, n) in [("short", 64usize), ("long", 1024), ("longer", 4096)] {
        let mut x: u32 = 0x9e37_79b9 ^ n as u32;
        let bytes = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        out.push(("model", name.into(), bytes));
    }
    for (name, bytes) in crate::engine::shutdown::seed_records() {
        out.push(("marker", name, bytes));
    }
    // The template's database undamaged, on each write path; then a page's header bytes
    // flipped, and bytes across the middle of the file.
    for (name, path) in [("logged", 0u8), ("direct", 1)] {
        out.push(("database", format!("undamaged_{name}"), vec![path]));
        let mut header = vec![path];
        for at in [4096u32 * 2, 4096 * 2 + 1, 4096 * 2 + 8] {
            header.extend(at.to_le_bytes());
            header.push(0xff);
        }
        out.push(("database", format!("page_header_{name}"), header));
        let mut body = vec![path];
        for at in [40_000u32, 60_000, 80_000] {
            body.extend(at.to_le_bytes());
            body.push(0x5a);
        }
        out.push(("database", format!("body_{name}"), body));
    }
    Ok(out)
}

/// A named change of one byte of a record, at an offset from its start.
type Edit = (&'static str, usize, fn(u8) -> u8);

/// Copies of `bytes` in which the set record at `at` says what this build cannot apply while
/// its crc32 still holds (format-spec/wal.md, "The valid log"): a row version, value kind or
/// row flag the row format does not have, a record kind or flag bit the log does not have, a
/// newer format version; and one with its padding (which says nothing) set.
fn damaged_variants(bytes: &[u8], at: usize) -> Vec<(String, Vec<u8>)> {
    let word = |from: usize, to: usize| bytes.get(at + from..at + to);
    let (Some(len), Some(key_len)) = (
        word(0, 4)
            .and_then(|b| b.try_into().ok())
            .map(|b| u32::from_le_bytes(b) as usize),
        word(26, 28)
            .and_then(|b| b.try_into().ok())
            .map(|b| usize::from(u16::from_le_bytes(b))),
    ) else {
        return Vec::new();
    };
    let row = wal::RECORD_HEADER_LEN + key_len;
    // Row flag bit 2 (the row holds its whole key) under a short key is damage; version 2
    // is read (a long key's records need it), version 3 is refused.
    let edits: [Edit; 8] = [
        ("row_version_2", row, |_| 2),
        ("value_kind_9", row + 2, |_| 9),
        ("row_flag_bit_2", row + 1, |f| f | 4),
        ("row_flag_bit_3", row + 1, |f| f | 8),
        ("record_kind_9", 24, |_| 9),
        ("record_flag_bit_2", 25, |f| f | 4),
        ("needs_version_2", 28, |_| 2),
        ("needs_version_3", 28, |_| 3),
    ];
    let mut out = Vec::new();
    for (name, offset, change) in edits {
        let mut copy = bytes.to_vec();
        let Some(b) = copy.get_mut(at + offset).filter(|_| offset < len) else {
            continue;
        };
        *b = change(*b);
        let crc = crc32fast::hash(copy.get(at + 8..at + len).unwrap_or_default());
        if let Some(slot) = copy.get_mut(at + 4..at + 8) {
            slot.copy_from_slice(&crc.to_le_bytes());
        }
        out.push((name.to_owned(), copy));
    }
    let mut copy = bytes.to_vec();
    if let Some(padding) = copy.get_mut(at + len..at + len.next_multiple_of(8))
        && !padding.is_empty()
    {
        padding.fill(0x55);
        out.push(("padding".to_owned(), copy));
    }
    out
}

/// A `shm` seed from a real cache on the logged write path: its log's written bytes and its
/// index's non-zero words as `(word, value)` pairs.
fn shm_seed(checkpoint: bool) -> Result<Option<Vec<u8>>> {
    let Some(dir) = temp_dir() else {
        return Ok(None);
    };
    let cache = Cache::builder()
        .write_path(WritePath::Logged)
        .min_file_size(64)
        .open(dir.path())?;
    cache.set("a", 1)?;
    cache.set_with("b", vec![7u8; 100], SetOptions::default().tag("t"))?;
    cache.delete("a")?;
    if checkpoint {
        cache.checkpoint()?;
        cache.set(3, "three")?;
    }
    let _ = cache.get::<i64>("a")?;
    let wal_bytes = std::fs::read(dir.path().join(WAL_FILE))?;
    let shm_bytes = std::fs::read(dir.path().join(SHM_FILE))?;
    drop(cache);
    let mut words = Vec::new();
    for (i, w) in shm_bytes.chunks_exact(8).enumerate() {
        if w.iter().any(|&b| b != 0) {
            words.extend_from_slice(&u16::try_from(i).unwrap_or(u16::MAX).to_le_bytes());
            words.extend_from_slice(w);
        }
    }
    let used = wal_bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let mut seed = u16::try_from(words.len())
        .unwrap_or(u16::MAX)
        .to_le_bytes()
        .to_vec();
    seed.extend_from_slice(&words);
    seed.extend_from_slice(
        wal_bytes
            .get(..used.next_multiple_of(8))
            .unwrap_or_default(),
    );
    Ok(Some(seed))
}
