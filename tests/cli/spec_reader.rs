//! The independent reader (`tests/spec_reader/read_v1.py`, written from `format-spec/` alone)
//! on the directory of a `diskcache batch` killed with SIGKILL while its log held every kind
//! of record: sets of every key and value form (composites of the command's JSON, a value
//! file, a tag, an expire time), overwrites and deletes of rows the database holds, counters,
//! queue pushes and a pull, and an access record. The reader applies the log over the
//! database's tables and checks `cache.shm`'s words and slots against it; what it finds must
//! be what the command wrote and what the library reads once it recovers the cache.
//!
//! Guards against a format-spec/ that does not say enough to read a crashed cache (the log,
//! its index, the composite encoding), and against the library and its spec disagreeing.

use serde_json::{Value as Json, json};

use crate::common::{self, spec_reader};
use crate::{Session, s};

/// One entry as the reader shows it and as the command reads it back.
struct Want {
    /// The key as the command takes it.
    key: Json,
    /// The key as the reader shows it (Python's `repr`).
    shown: &'static str,
    kind: &'static str,
    /// The value as the reader prints it (bytes as hex, composites as their JSON).
    read: Json,
    /// The value as the command prints it, if not `read`.
    replied: Option<Json>,
    in_file: bool,
    tag: Option<&'static str>,
}

fn want(key: Json, shown: &'static str, kind: &'static str, read: Json) -> Want {
    Want {
        key,
        shown,
        kind,
        read,
        replied: None,
        in_file: false,
        tag: None,
    }
}

fn big(fill: &str) -> String {
    fill.repeat(40_000)
}

/// What the killed writer's cache holds. Its number keys are negative, out of the integer
/// queue's range (a positive one would be an item of the queue the session pushes to).
fn wanted() -> Vec<Want> {
    let composite = json!([1, "a", null, true, {"k": 2.5}]);
    vec![
        want(json!("old-kept"), "'old-kept'", "text", json!("a")),
        want(json!("old-over"), "'old-over'", "text", json!("b")),
        Want {
            in_file: true,
            ..want(json!("big-old"), "'big-old'", "text", json!(big("y")))
        },
        want(json!("int"), "'int'", "int", json!(42)),
        want(json!("float"), "'float'", "float", json!(2.5)),
        want(json!("text"), "'text'", "text", json!("hello")),
        Want {
            replied: Some(json!({"bytes": "00ff10"})),
            ..want(json!("bytes"), "'bytes'", "bytes", json!("00ff10"))
        },
        Want {
            tag: Some("'t1'"),
            ..want(json!(-7), "-7", "text", json!("seven"))
        },
        want(json!(-1.5), "-1.5", "serialized", composite),
        want(
            json!([1, "a"]),
            "(1, 'a')",
            "serialized",
            json!({"a": [2.0], "b": null}),
        ),
        want(
            json!({"x": [true, null]}),
            "{'x': (True, ())}",
            "text",
            json!("obj"),
        ),
        want(json!(null), "()", "int", json!(1)),
        Want {
            in_file: true,
            ..want(json!("big"), "'big'", "text", json!(big("x")))
        },
        want(json!("over"), "'over'", "int", json!(2)),
        want(json!("counter"), "'counter'", "int", json!(7)),
        want(json!("expiring"), "'expiring'", "int", json!(1)),
        want(
            json!(500_000_000_000_001i64),
            "500000000000001",
            "text",
            json!("q2"),
        ),
        Want {
            replied: Some(json!({"json": "five"})),
            ..want(json!(-5), "-5", "serialized", json!("five"))
        },
        want(
            json!("u"),
            "'u'",
            "serialized",
            json!([18_446_744_073_709_551_615u64]),
        ),
    ]
}

/// A cache whose database holds a first session's entries (closed cleanly) and whose log
/// holds a second session's, killed with SIGKILL while waiting for its next request.
fn killed_batch(dir: &std::path::Path) {
    let mut first = Session::diskcache(dir);
    first.expect(
        json!({"op": "reset", "key": "eviction_policy", "value": "least-recently-used"}),
        json!("least-recently-used"),
    );
    for key in ["old-kept", "old-over", "old-del"] {
        first.expect(json!({"op": "set", "key": key, "value": "a"}), json!(true));
    }
    first.expect(
        json!({"op": "set", "key": "big-old", "value": big("y")}),
        json!(true),
    );
    first.finish();

    let mut second = Session::diskcache(dir);
    for (request, result) in [
        (json!({"op": "get", "key": "old-kept"}), json!("a")),
        (
            json!({"op": "set", "key": "old-over", "value": "b"}),
            json!(true),
        ),
        (json!({"op": "delete", "key": "old-del"}), json!(true)),
        (json!({"op": "set", "key": "int", "value": 42}), json!(true)),
        (
            json!({"op": "set", "key": "float", "value": 2.5}),
            json!(true),
        ),
        (
            json!({"op": "set", "key": "text", "value": "hello"}),
            json!(true),
        ),
        (
            json!({"op": "set", "key": "bytes", "value": {"bytes": "00ff10"}}),
            json!(true),
        ),
        (
            json!({"op": "set", "key": -7, "value": "seven", "tag": "t1"}),
            json!(true),
        ),
        (
            json!({"op": "set", "key": -1.5, "value": [1, "a", null, true, {"k": 2.5}]}),
            json!(true),
        ),
        (
            json!({"op": "set", "key": [1, "a"], "value": {"b": null, "a": [2.0]}}),
            json!(true),
        ),
        (
            json!({"op": "set", "key": {"x": [true, null]}, "value": "obj"}),
            json!(true),
        ),
        (json!({"op": "set", "key": null, "value": 1}), json!(true)),
        (
            json!({"op": "set", "key": "big", "value": big("x")}),
            json!(true),
        ),
        (json!({"op": "set", "key": "gone", "value": 1}), json!(true)),
        (json!({"op": "delete", "key": "gone"}), json!(true)),
        (json!({"op": "set", "key": "over", "value": 1}), json!(true)),
        (json!({"op": "set", "key": "over", "value": 2}), json!(true)),
        (
            json!({"op": "incr", "key": "counter", "delta": 5}),
            json!(5),
        ),
        (
            json!({"op": "incr", "key": "counter", "delta": 2}),
            json!(7),
        ),
        (
            json!({"op": "set", "key": "expiring", "value": 1, "expire": 3600}),
            json!(true),
        ),
        (
            json!({"op": "push", "value": "q1"}),
            json!(500_000_000_000_000i64),
        ),
        (
            json!({"op": "push", "value": "q2"}),
            json!(500_000_000_000_001i64),
        ),
        (json!({"op": "pull"}), json!([500_000_000_000_000i64, "q1"])),
        (
            json!({"op": "set", "key": -5, "value": {"json": "five"}}),
            json!(true),
        ),
        (
            json!({"op": "set", "key": "u", "value": [18_446_744_073_709_551_615u64]}),
            json!(true),
        ),
    ] {
        second.expect(request, result);
    }
    second.kill();
}

/// The reader finds in the killed writer's directory exactly what it wrote: every entry with
/// its kind, value, file, tag and expire time; the read's access record applied; the log
/// whole, none of it left out, and `cache.shm` in step with it. Then the library, recovering
/// the cache, reads the same values.
#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "reads the log and index of the logged write path, Linux's only"
)]
fn the_spec_reader_reads_a_killed_writers_log_and_index_as_the_library_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    killed_batch(dir);
    let wal = std::fs::read(dir.join("cache.wal")).unwrap();
    assert!(
        wal[64..72] != [0; 8],
        "the second session's records are in the log"
    );
    let Some(out) = spec_reader::run(dir) else {
        return;
    };
    assert!(
        out.status.success(),
        "the spec reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        read["index"],
        json!("in step with the log"),
        "{}",
        read["index"]
    );
    let log = &read["log"];
    assert_eq!(log["left_out"], json!([]));
    assert!(log["records"].as_u64().unwrap() >= 25, "{log}");
    let entries = read["entries"].as_array().unwrap();
    let wanted = wanted();
    let shown: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
    let mut want_shown: Vec<&str> = wanted.iter().map(|w| w.shown).collect();
    want_shown.sort_unstable_by_key(|k| shown.iter().position(|s| s == k));
    assert_eq!(shown, want_shown);
    for w in &wanted {
        let got = entries.iter().find(|e| e["key"] == w.shown).unwrap();
        let ctx = w.shown;
        assert_eq!(got["kind"], w.kind, "{ctx}");
        assert_eq!(got["value"], w.read, "{ctx}");
        assert_eq!(got["in_file"], w.in_file, "{ctx}");
        assert_eq!(got["tag"], json!(w.tag), "{ctx}");
        assert_eq!(got["expire_time"] != 0, w.shown == "'expiring'", "{ctx}");
        // The one read, of a row the database held, under least-recently-used.
        let hit = w.shown == "'old-kept'";
        assert_eq!(got["access_count"], u64::from(hit), "{ctx}");
        let (stored, accessed) = (&got["store_time"], &got["access_time"]);
        assert_eq!(accessed.as_u64() > stored.as_u64(), hit, "{ctx}");
    }

    let damaged = damaged_copy(dir, "int");
    assert_reader_and_library_leave_out(damaged.path(), "'int'", &json!("int"));

    let mut session = Session::diskcache(dir);
    for w in &wanted {
        let replied = w.replied.clone().unwrap_or_else(|| w.read.clone());
        session.expect(json!({"op": "get", "key": w.key}), replied);
    }
    session.expect(json!({"op": "len"}), json!(wanted.len()));
    session.expect(json!({"op": "check"}), json!([]));
    session.finish();
    assert!(!crate::stdout(&crate::run(&["check", s(dir)])).contains("warning"));
}

/// A copy of the cache in `dir` whose log's set record of the text key `key` has row version
/// 2, its crc32 made to match: a damaged record (format-spec/wal.md, "The valid log").
fn damaged_copy(dir: &std::path::Path, key: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in walk(dir) {
        let to = copy.path().join(entry.strip_prefix(dir).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    let path = copy.path().join("cache.wal");
    let mut wal = std::fs::read(&path).unwrap();
    let word = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let mut key_bytes = vec![0x20];
    key_bytes.extend_from_slice(key.as_bytes());
    // Each lane that holds a generation (format-spec/wal.md): its header, then its records.
    for lane in [0, 1] {
        let Some(generation) = common::wal::lane_generation(&wal, lane) else {
            continue;
        };
        let lane = lane * common::wal::LANE_SIZE;
        let mut at = lane + 64;
        loop {
            let len = u32::from_le_bytes(wal[at..at + 4].try_into().unwrap()) as usize;
            if len < 32 || word(&wal, at + 8) != generation {
                break;
            }
            let key_len = usize::from(u16::from_le_bytes(
                wal[at + 26..at + 28].try_into().unwrap(),
            ));
            if wal[at + 24] == 1 && wal[at + 32..at + 32 + key_len] == key_bytes[..] {
                wal[at + 32 + key_len] = 2;
                let crc = crc32fast::hash(&wal[at + 8..at + len]);
                wal[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(&path, &wal).unwrap();
                return copy;
            }
            at += len.next_multiple_of(8);
        }
    }
    panic!("no record of {key}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// In a cache whose log holds one damaged record (of the key shown as `shown`, given to the
/// command as `key`, a one-record block), the reader leaves that record out and reads the
/// rest, and so does the library, whose `check` then reports the record once.
fn assert_reader_and_library_leave_out(dir: &std::path::Path, shown: &str, key: &Json) {
    let Some(out) = spec_reader::run(dir) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        read["log"]["left_out"].as_array().unwrap().len(),
        1,
        "{}",
        read["log"]
    );
    assert_eq!(read["index"], json!("the log holds a damaged block"));
    let entries = read["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["key"] != shown), "{shown} is read");
    assert_eq!(entries.len(), wanted().len() - 1);
    let mut session = Session::diskcache(dir);
    session.expect(json!({"op": "get", "key": key}), json!(null));
    session.expect(json!({"op": "len"}), json!(wanted().len() - 1));
    let warnings = session.ok(json!({"op": "check", "fix": true}));
    assert_eq!(warnings.as_array().unwrap().len(), 1, "{warnings}");
    session.expect(json!({"op": "check"}), json!([]));
    session.finish();
}
