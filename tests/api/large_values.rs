//! Large values in their own files (`ab/cd/<32 hex>.val`), and streaming them in and out with
//! `set_reader` and `get_reader`. Guards against a value at or over `min_file_size` staying
//! inline (or a smaller one going to a file), against value files being left behind when their
//! entry is deleted, overwritten, popped, cleared or refused by `add`, against damaged value
//! files being returned as data instead of `Error::Corrupted` (or an `InvalidData` read error),
//! and against a value file deleted behind the cache's back causing a panic instead of a miss.

use crate::common;

use std::fs::{self, OpenOptions};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use diskcache::{Cache, Error, Key, SetOptions};

const MIN: u64 = 1024;

fn small_threshold(dir: &Path) -> Cache {
    Cache::builder().min_file_size(MIN).open(dir).unwrap()
}

fn value_files(cache: &Cache) -> Vec<PathBuf> {
    common::files_ending_with(cache.directory(), ".val")
}

/// The one value file of `cache`, as an absolute path.
fn only_value_file(cache: &Cache) -> PathBuf {
    let files = value_files(cache);
    assert_eq!(files.len(), 1, "{files:?}");
    cache.directory().join(&files[0])
}

/// Bytes that differ from position to position, so a misplaced chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn flip_byte(path: &Path, at: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0xff]).unwrap();
}

#[test]
fn a_value_at_min_file_size_goes_to_a_named_value_file_and_a_smaller_one_stays_inline() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache.set("inline", pattern(MIN as usize - 1)).unwrap();
    assert_eq!(value_files(&cache), Vec::<PathBuf>::new());
    cache.set("file", pattern(MIN as usize)).unwrap();
    let files = value_files(&cache);
    assert_eq!(files.len(), 1);

    // ab/cd/abcd<28 more hex>.val
    let parts: Vec<String> = files[0]
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let name = parts[2].strip_suffix(".val").unwrap();
    assert_eq!(name.len(), 32);
    assert!(hex(name) && hex(&parts[0]) && hex(&parts[1]), "{parts:?}");
    assert_eq!(&name[0..2], parts[0]);
    assert_eq!(&name[2..4], parts[1]);

    let on_disk = fs::read(dir.path().join(&files[0])).unwrap();
    assert_eq!(on_disk, pattern(MIN as usize));
    assert_eq!(
        cache.get::<Vec<u8>>("file").unwrap(),
        Some(pattern(MIN as usize))
    );
    assert_eq!(
        cache.get::<Vec<u8>>("inline").unwrap(),
        Some(pattern(MIN as usize - 1))
    );
}

#[test]
fn the_default_threshold_is_32_kib() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache.set("below", vec![0u8; 32 * 1024 - 1]).unwrap();
    assert!(value_files(&cache).is_empty());
    cache.set("at", vec![0u8; 32 * 1024]).unwrap();
    assert_eq!(value_files(&cache).len(), 1);
}

#[test]
fn text_and_serialized_values_go_to_files_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    let text = "héllo ".repeat(400);
    let words: Vec<String> = (0..300).map(|i| format!("word{i}")).collect();
    cache.set("text", &text).unwrap();
    cache.set("words", &words).unwrap();
    assert_eq!(value_files(&cache).len(), 2);
    assert_eq!(cache.get::<String>("text").unwrap(), Some(text.clone()));
    assert_eq!(cache.get::<Vec<String>>("words").unwrap(), Some(words));
    let entry = cache.get_entry::<String>("text").unwrap().unwrap();
    assert_eq!(entry.value, text);
    assert!(matches!(cache.get::<i64>("text"), Err(Error::Codec(_))));
}

#[test]
fn with_a_zero_threshold_numbers_stay_inline_and_everything_else_goes_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder().min_file_size(0).open(dir.path()).unwrap();
    cache.set("int", 1).unwrap();
    cache.set("float", 1.5).unwrap();
    assert!(value_files(&cache).is_empty());
    assert_eq!(cache.incr("int", 1, None).unwrap(), 2);
    cache.set("empty", "").unwrap();
    cache.set("a", "a").unwrap();
    assert_eq!(value_files(&cache).len(), 2);
    assert_eq!(cache.get::<String>("empty").unwrap().as_deref(), Some(""));
    assert_eq!(cache.get::<String>("a").unwrap().as_deref(), Some("a"));
    let mut r = cache.get_reader("empty").unwrap().unwrap();
    assert!(r.is_empty());
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn the_value_file_is_deleted_with_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    let big = pattern(4096);

    cache.set("k", &big).unwrap();
    let first = only_value_file(&cache);
    assert!(cache.delete("k").unwrap());
    assert!(!first.exists());
    assert!(value_files(&cache).is_empty());

    cache.set("k", &big).unwrap();
    let second = only_value_file(&cache);
    assert_eq!(cache.pop::<Vec<u8>>("k").unwrap(), Some(big.clone()));
    assert!(!second.exists());

    cache.set("k", &big).unwrap();
    let third = only_value_file(&cache);
    cache.set("k", "small now").unwrap();
    assert!(!third.exists());
    assert!(value_files(&cache).is_empty());

    cache.set("k", &big).unwrap();
    let fourth = only_value_file(&cache);
    cache.set("k", pattern(5000)).unwrap();
    let fifth = only_value_file(&cache);
    assert_ne!(fourth, fifth);
    assert!(!fourth.exists());
    assert_eq!(cache.get::<Vec<u8>>("k").unwrap(), Some(pattern(5000)));

    for i in 0..3 {
        cache.set(i, &big).unwrap();
    }
    assert_eq!(value_files(&cache).len(), 4);
    assert_eq!(cache.clear().unwrap(), 4);
    assert!(value_files(&cache).is_empty());
}

#[test]
fn touch_keeps_the_value_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache
        .set_with("k", pattern(4096), SetOptions::default().tag("t"))
        .unwrap();
    let file = only_value_file(&cache);
    assert!(
        cache
            .touch("k", Some(std::time::Duration::from_secs(60)))
            .unwrap()
    );
    assert!(cache.touch("k", None).unwrap());
    assert_eq!(only_value_file(&cache), file);
    assert_eq!(cache.get::<Vec<u8>>("k").unwrap(), Some(pattern(4096)));
}

#[test]
fn add_of_a_large_value_over_a_live_key_leaves_no_stray_file() {
    // python-diskcache's test_add_large_value.
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    let value = pattern(4096);
    assert!(
        cache
            .add(&b"test-key"[..], &value, SetOptions::default())
            .unwrap()
    );
    let kept = only_value_file(&cache);
    let doubled = [value.clone(), value.clone()].concat();
    assert!(
        !cache
            .add(&b"test-key"[..], &doubled, SetOptions::default())
            .unwrap()
    );
    assert_eq!(only_value_file(&cache), kept);
    assert_eq!(cache.get::<Vec<u8>>(&b"test-key"[..]).unwrap(), Some(value));
    assert!(common::files_ending_with(dir.path(), ".val.tmp").is_empty());
}

#[test]
fn volume_counts_the_bytes_of_value_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache.set("k", pattern(100_000)).unwrap();
    let v = cache.volume().unwrap();
    assert!((100_000..101_000).contains(&v), "{v}");
    assert!(cache.delete("k").unwrap());
    assert_eq!(cache.volume().unwrap(), 0);
}

#[test]
fn get_reader_reads_and_seeks_a_value_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    let data = pattern(10_000);
    cache.set("k", &data).unwrap();
    let mut r = cache.get_reader("k").unwrap().unwrap();
    assert_eq!(r.len(), 10_000);
    assert!(!r.is_empty());
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert_eq!(all, data);

    assert_eq!(r.seek(SeekFrom::Start(9000)).unwrap(), 9000);
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).unwrap();
    assert_eq!(tail, &data[9000..]);
    assert_eq!(r.seek(SeekFrom::End(-10)).unwrap(), 9990);
    assert_eq!(r.seek(SeekFrom::Current(-90)).unwrap(), 9900);
    let mut hundred = [0u8; 100];
    r.read_exact(&mut hundred).unwrap();
    assert_eq!(&hundred[..], &data[9900..]);
    assert!(r.seek(SeekFrom::Current(-20_000)).is_err());
    r.verify().unwrap();
}

#[test]
fn get_reader_reads_an_inline_value_and_a_missing_key_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    assert!(cache.get_reader("missing").unwrap().is_none());
    cache.set("text", "inline text").unwrap();
    cache.set("bytes", &b"inline bytes"[..]).unwrap();
    let mut s = String::new();
    cache
        .get_reader("text")
        .unwrap()
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "inline text");
    let mut r = cache.get_reader("bytes").unwrap().unwrap();
    assert_eq!(r.len(), 12);
    r.seek(SeekFrom::Start(7)).unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bytes");
}

/// A reader that yields `left` bytes of [`pattern`] in chunks of at most `chunk`.
struct Trickle {
    pos: usize,
    left: usize,
    chunk: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.left.min(self.chunk).min(buf.len());
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = ((self.pos + i) % 251) as u8;
        }
        self.pos += n;
        self.left -= n;
        Ok(n)
    }
}

#[test]
fn set_reader_streams_five_mib_in_small_chunks() {
    const LEN: usize = 5 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    // NoSync: at the Normal level a delete keeps the value file while a lane is sealed, which
    // the janitor does to a log a second old (a slow run's), and this test looks for the
    // file to go at once.
    let cache = Cache::builder()
        .durability(diskcache::Durability::NoSync)
        .open(dir.path())
        .unwrap();
    let reader = Trickle {
        pos: 0,
        left: LEN,
        chunk: 1000,
    };
    let opts = SetOptions::default().tag("stream");
    cache.set_reader("big", reader, opts).unwrap();
    let file = only_value_file(&cache);
    assert_eq!(fs::metadata(&file).unwrap().len(), LEN as u64);
    assert!(cache.volume().unwrap() >= LEN as u64);

    let mut r = cache.get_reader("big").unwrap().unwrap();
    assert_eq!(r.len(), LEN as u64);
    let mut back = Vec::with_capacity(LEN);
    r.read_to_end(&mut back).unwrap();
    assert!(back == pattern(LEN), "the streamed bytes differ");

    let entry = cache.get_entry::<Vec<u8>>("big").unwrap().unwrap();
    assert_eq!(entry.value.len(), LEN);
    assert_eq!(entry.tag, Some(Key::from("stream")));
    // (Windows removes a deleted file's name only once no reader holds it.)
    drop(r);
    assert!(cache.delete("big").unwrap());
    assert!(!file.exists());
}

#[test]
fn set_reader_values_read_back_as_bytes() {
    // python-diskcache's test_raw.
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    cache
        .set_reader(0, Cursor::new(b"abcd".to_vec()), SetOptions::default())
        .unwrap();
    assert_eq!(cache.get::<Vec<u8>>(0).unwrap(), Some(b"abcd".to_vec()));
    assert!(matches!(cache.get::<String>(0), Err(Error::Codec(_))));
    cache
        .set_reader(1, io::empty(), SetOptions::default())
        .unwrap();
    assert_eq!(cache.get::<Vec<u8>>(1).unwrap(), Some(vec![]));
    assert_eq!(cache.len().unwrap(), 2);
}

#[test]
fn set_reader_over_an_existing_value_replaces_it_and_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache.set("k", pattern(4096)).unwrap();
    let old = only_value_file(&cache);
    cache
        .set_reader("k", Cursor::new(pattern(2048)), SetOptions::default())
        .unwrap();
    assert!(!old.exists());
    assert_eq!(value_files(&cache).len(), 1);
    assert_eq!(cache.get::<Vec<u8>>("k").unwrap(), Some(pattern(2048)));
}

/// A reader that fails after some bytes.
struct Fails {
    sent: usize,
}

impl Read for Fails {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.sent >= 3000 {
            return Err(io::Error::other("the source broke"));
        }
        let n = buf.len().min(1000);
        buf[..n].fill(1);
        self.sent += n;
        Ok(n)
    }
}

#[test]
fn a_failing_reader_stores_nothing_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache.set("k", "before").unwrap();
    let err = cache
        .set_reader("k", Fails { sent: 0 }, SetOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::Io(_)));
    assert!(err.to_string().contains("the source broke"), "{err}");
    assert_eq!(cache.get::<String>("k").unwrap().as_deref(), Some("before"));
    assert!(matches!(
        cache.set_reader("new", Fails { sent: 0 }, SetOptions::default()),
        Err(Error::Io(_))
    ));
    assert!(!cache.contains("new").unwrap());
    assert!(value_files(&cache).is_empty());
    assert!(common::files_ending_with(dir.path(), ".val.tmp").is_empty());
    assert_eq!(cache.len().unwrap(), 1);
}

#[test]
fn a_flipped_byte_in_a_value_file_is_reported_as_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache.set("k", pattern(4096)).unwrap();
    flip_byte(&only_value_file(&cache), 2000);

    assert!(matches!(
        cache.get::<Vec<u8>>("k"),
        Err(Error::Corrupted(_))
    ));
    assert!(matches!(
        cache.get_entry::<Vec<u8>>("k"),
        Err(Error::Corrupted(_))
    ));
    let msg = cache.get::<Vec<u8>>("k").unwrap_err().to_string();
    assert!(msg.contains("crc32") && msg.contains("'k'"), "{msg}");

    let mut r = cache.get_reader("k").unwrap().unwrap();
    let mut out = Vec::new();
    let err = r.read_to_end(&mut out).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(matches!(r.verify(), Err(Error::Corrupted(_))));
    drop(r);
    // Reading only the start does not reach the check.
    let mut r = cache.get_reader("k").unwrap().unwrap();
    let mut head = [0u8; 100];
    r.read_exact(&mut head).unwrap();
    // (Windows removes a deleted file's name only once no reader holds it.)
    drop(r);

    assert!(matches!(
        cache.pop::<Vec<u8>>("k"),
        Err(Error::Corrupted(_))
    ));
    // The damaged entry can still be deleted, and its file goes with it.
    assert!(cache.delete("k").unwrap());
    assert!(value_files(&cache).is_empty());
}

#[test]
fn a_truncated_value_file_is_reported_as_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache.set("k", pattern(4096)).unwrap();
    let file = only_value_file(&cache);
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(1000)
        .unwrap();
    assert!(matches!(
        cache.get::<Vec<u8>>("k"),
        Err(Error::Corrupted(_))
    ));
    assert!(matches!(cache.get_reader("k"), Err(Error::Corrupted(_))));
}

#[test]
fn a_value_file_deleted_behind_the_caches_back_reads_as_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    cache.set("k", pattern(4096)).unwrap();
    cache.set("p", pattern(4096)).unwrap();
    for f in value_files(&cache) {
        fs::remove_file(dir.path().join(f)).unwrap();
    }
    assert_eq!(cache.get::<Vec<u8>>("k").unwrap(), None);
    assert_eq!(cache.get_entry::<Vec<u8>>("k").unwrap(), None);
    assert!(cache.get_reader("k").unwrap().is_none());
    // pop drops the row that names the missing file.
    assert_eq!(cache.pop::<Vec<u8>>("p").unwrap(), None);
    assert_eq!(cache.len().unwrap(), 1);
    // And the key can be used again.
    cache.set("k", pattern(2000)).unwrap();
    assert_eq!(cache.get::<Vec<u8>>("k").unwrap(), Some(pattern(2000)));
    assert!(cache.delete("k").unwrap());
    assert_eq!(cache.len().unwrap(), 0);
}

#[test]
fn a_reader_keeps_its_bytes_after_the_value_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    let data = pattern(8192);
    cache.set("k", &data).unwrap();
    let mut r = cache.get_reader("k").unwrap().unwrap();
    assert!(cache.delete("k").unwrap());
    // Unix removes the file's name at once, Windows once the reader's handle closes.
    if cfg!(unix) {
        assert!(value_files(&cache).is_empty());
    }
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(out, data);
    drop(r);
    assert!(value_files(&cache).is_empty());
}

#[test]
fn a_set_reader_with_an_invalid_key_or_tag_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = small_threshold(dir.path());
    assert!(matches!(
        cache.set_reader(f64::NAN, Cursor::new(pattern(4096)), SetOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cache.set_reader(
            1,
            Cursor::new(pattern(4096)),
            SetOptions::default().tag(f64::NAN)
        ),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        cache.set_with(1, pattern(4096), SetOptions::default().tag(f64::NAN)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(common::files_ending_with(dir.path(), ".val").is_empty());
    assert!(common::files_ending_with(dir.path(), ".val.tmp").is_empty());
    assert_eq!(cache.len().unwrap(), 0);
}
