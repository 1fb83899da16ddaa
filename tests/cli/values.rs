//! Values in and out of the command: `set` from stdin (`-`) and from `--file`, streamed (the
//! process does not grow with the value), `get --output`, `--text`, and the strict argument
//! rules (JSON look-alikes, integers outside i64, `--expire` and `--timeout` seconds); then
//! the help and version texts, which name what they refer to.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use diskcache::{Cache, FanoutCache};

use crate::common::rng::Xorshift;
use crate::{run, run_json, run_ok, s, stdout};

/// Runs `diskcache ARGS` with `input` on stdin.
fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_diskcache"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::scope(|scope| {
        // A command that refuses its arguments may exit before it reads: ignore the pipe.
        scope.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output().unwrap()
    })
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn set_streams_a_value_from_stdin_or_a_file_and_get_output_writes_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let d = s(&dir);
    // More than one argument may hold (Linux: 128 KiB): only stdin or a file can carry it.
    let big = Xorshift::seeded(22).bytes(200_000);
    let o = run_with_stdin(
        &[
            "--json", "set", d, "big", "-", "--tag", "t", "--expire", "3600",
        ],
        &big,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        json!({"stored": true, "bytes": 200_000})
    );
    let out = tmp.path().join("out.bin");
    let wrote = run_json(&["get", d, "big", "--output", s(&out)], 0);
    assert_eq!(wrote["bytes"], json!(200_000));
    assert_eq!(std::fs::read(&out).unwrap(), big);
    assert_eq!(run(&["get", d, "big", "--raw"]).stdout, big);
    assert_eq!(run(&["get", d, "big", "--output", "-"]).stdout, big);
    // --json keeps stdout for its one document.
    let refused = run_json(&["get", d, "big", "--output", "-"], 2);
    assert_eq!(refused["error"], json!("BadRequest"));
    let entry = run_json(&["get", d, "big"], 0);
    assert_eq!(entry["tag"], json!("t"));
    assert!(entry["expire_time"].is_number(), "{entry}");

    // --file, several MiB, replacing the value.
    let file = tmp.path().join("in.bin");
    let large = Xorshift::seeded(23).bytes(3 << 20);
    std::fs::write(&file, &large).unwrap();
    let said = run_ok(&["set", d, "big", "--file", s(&file)], 0);
    assert_eq!(
        said,
        format!("stored 'big': {} bytes from {}\n", 3 << 20, file.display())
    );
    run_ok(&["get", d, "big", "--output", s(&out)], 0);
    assert_eq!(std::fs::read(&out).unwrap(), large);
    // Empty stdin is the empty byte string.
    run_ok(&["set", d, "empty", "-"], 0);
    let cache = Cache::open(&dir).unwrap();
    assert_eq!(cache.get::<Vec<u8>>("big").unwrap(), Some(large));
    assert_eq!(cache.get::<Vec<u8>>("empty").unwrap(), Some(vec![]));
    drop(cache);

    // A missing key writes no file; a missing --file creates no cache.
    let nothing = tmp.path().join("nothing.bin");
    run_ok(&["get", d, "nope", "--output", s(&nothing)], 1);
    assert!(!nothing.exists());
    let fresh = tmp.path().join("fresh");
    let o = run(&[
        "set",
        s(&fresh),
        "k",
        "--file",
        s(&tmp.path().join("no-such")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
    assert!(!fresh.exists());
    // VALUE and --file are one or the other.
    assert_eq!(
        run(&["set", d, "k", "v", "--file", s(&file)]).status.code(),
        Some(2)
    );
}

#[test]
fn a_fanout_cache_takes_a_streamed_value() {
    let tmp = tempfile::tempdir().unwrap();
    FanoutCache::builder()
        .shards(2)
        .open(tmp.path())
        .unwrap()
        .close()
        .unwrap();
    let d = s(tmp.path());
    let value = Xorshift::seeded(24).bytes(150_000);
    let o = run_with_stdin(&["set", d, "k", "-"], &value);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(run(&["get", d, "k", "--raw"]).stdout, value);
    let fanout = FanoutCache::open(tmp.path()).unwrap();
    assert_eq!(fanout.get::<Vec<u8>>("k").unwrap(), Some(value));
}

/// The value goes from stdin to its value file in chunks: the process's peak resident memory
/// after 33 MiB is about what it was after 1 MiB (read whole, it would be 32 MiB more).
#[cfg(target_os = "linux")]
#[test]
fn set_from_stdin_does_not_hold_the_value_in_memory() {
    fn peak_kib(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_diskcache"))
        .args(["set", s(tmp.path()), "k", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let chunk = vec![7u8; 1 << 20];
    // Once a write returns, the command has read all but a pipe's buffer of it.
    stdin.write_all(&chunk).unwrap();
    let after_one = peak_kib(child.id());
    for _ in 0..32 {
        stdin.write_all(&chunk).unwrap();
    }
    let after_all = peak_kib(child.id());
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let grown_kib = after_all.saturating_sub(after_one);
    assert!(
        grown_kib < 8 * 1024,
        "peak memory grew by {grown_kib} KiB over 32 MiB of value ({after_one} -> {after_all})"
    );
    let cache = Cache::open(tmp.path()).unwrap();
    let mut reader = cache.get_reader("k").unwrap().unwrap();
    assert_eq!(reader.len(), 33 << 20);
    reader.verify().unwrap();
}

#[test]
fn text_stores_the_argument_as_it_is_and_json_look_alikes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let d = s(&dir);
    // Refused before the cache is created.
    let o = run(&["set", d, "k", "{\"bad json"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("looks like JSON") && err.contains("--text"),
        "{err}"
    );
    assert!(!dir.exists());
    for bad in ["[1,", "\"open", "007", "1e999", ".5"] {
        let o = run(&["set", d, "k", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
    }
    let refused = run_json(&["set", d, "{bad", "1"], 2);
    assert_eq!(refused["error"], json!("BadRequest"));
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .ends_with("JSON string: '\"{bad\"'"),
        "{refused}"
    );
    assert!(!dir.exists());

    run_ok(&["set", d, "bad", "--text", "{\"bad json"], 0);
    run_ok(&["set", d, "dash", "--text", "-"], 0);
    run_ok(&["set", d, "quoted", "\"-\""], 0);
    run_ok(&["set", d, "number", "--text", "42"], 0);
    run_ok(&["set", d, "date", "2024-01-01"], 0);
    assert_eq!(
        run_json(&["get", d, "bad"], 0)["value"],
        json!("{\"bad json")
    );
    for (key, text) in [
        ("dash", "-"),
        ("quoted", "-"),
        ("number", "42"),
        ("date", "2024-01-01"),
    ] {
        assert_eq!(run_json(&["get", d, key], 0)["value"], json!(text), "{key}");
    }
    // --text is for VALUE only.
    assert_eq!(
        run(&["set", d, "k", "--text", "--file", "x"]).status.code(),
        Some(2)
    );
}

#[test]
fn integers_outside_i64_are_errors_not_floats() {
    let tmp = tempfile::tempdir().unwrap();
    let d = s(tmp.path());
    for args in [
        ["set", d, "big", "99999999999999999999"],
        ["set", d, "big", "18446744073709551615"],
        ["set", d, "big", "-9223372036854775809"],
        ["set", d, "big", "[1, 99999999999999999999]"],
        ["set", d, "99999999999999999999", "1"],
        ["set", d, "9223372036854775808", "1"],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("outside i64"), "{}", stderr(&o));
    }
    run_ok(&["set", d, "max", "9223372036854775807"], 0);
    run_ok(&["set", d, "float", "1e20"], 0);
    run_ok(&["set", d, "inside", "[18446744073709551615]"], 0);
    run_ok(&["set", d, "text", "--text", "99999999999999999999"], 0);
    assert_eq!(run_json(&["get", d, "max"], 0)["value"], json!(i64::MAX));
    assert_eq!(run_json(&["get", d, "float"], 0)["value"], json!(1e20));
    assert_eq!(
        run_json(&["get", d, "inside"], 0)["value"],
        json!([u64::MAX])
    );
    assert_eq!(
        run_json(&["get", d, "text"], 0)["value"],
        json!("99999999999999999999")
    );
    assert_eq!(run_json(&["keys", d], 0).as_array().unwrap().len(), 4);

    // The batch protocol reads numbers the same way.
    let lines = concat!(
        "{\"op\": \"set\", \"key\": \"k\", \"value\": 99999999999999999999}\n",
        "{\"op\": \"set\", \"key\": \"k\", \"value\": 18446744073709551615}\n",
        "{\"op\": \"set\", \"key\": 18446744073709551615, \"value\": 1}\n",
        "{\"op\": \"set\", \"key\": \"k\", \"value\": [18446744073709551615]}\n",
    );
    let o = run_with_stdin(&["batch", d], lines.as_bytes());
    let replies: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 4, "{replies:?}");
    for reply in &replies[..3] {
        assert_eq!(reply["error"], json!("BadRequest"), "{reply}");
        assert!(reply["message"].as_str().unwrap().contains("outside i64"));
    }
    assert_eq!(replies[3], json!({"ok": true, "result": true}));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn expire_and_timeout_take_seconds_zero_or_more() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let d = s(&dir);
    for secs in ["nan", "NaN", "-1", "-0.5", "inf", "soon", ""] {
        for args in [
            vec!["set", d, "k", "v", "--expire", secs],
            vec!["--timeout", secs, "set", d, "k", "v"],
        ] {
            let o = run(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}");
            let err = stderr(&o);
            assert!(err.contains("finite number of seconds, 0 or more"), "{err}");
        }
    }
    assert!(!dir.exists());
    run_ok(
        &["--timeout", "5", "set", d, "k", "v", "--expire", "0.5"],
        0,
    );
    run_ok(&["set", d, "gone", "v", "--expire", "0"], 0);
    run_ok(&["get", d, "gone"], 1);
}

#[test]
fn batch_answers_every_line_and_its_exit_status_says_whether_a_request_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = s(tmp.path());
    let o = run_with_stdin(&["batch", d], b"{\"op\": \"len\"}\n{\"op\": \"len\"}\n");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 2);
    // An empty line gets its reply, a BadRequest: a client counting lines stays in step.
    let o = run_with_stdin(&["batch", d], b"{\"op\": \"len\"}\n\n{\"op\": \"len\"}\n");
    assert_eq!(o.status.code(), Some(1));
    let replies: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        replies,
        [
            json!({"ok": true, "result": 0}),
            json!({"ok": false, "error": "BadRequest", "message": "an empty line is not a request"}),
            json!({"ok": true, "result": 0}),
        ]
    );
}

#[test]
fn help_embeds_the_protocol_and_version_names_the_format_versions() {
    let spec_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("format-spec/batch-protocol.md");
    let spec = std::fs::read(spec_file).unwrap();
    assert_eq!(run(&["batch", "--spec"]).stdout, spec);

    let url = format!(
        "https://docs.rs/crate/{}/{}/source/format-spec/batch-protocol.md",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    let top = run_ok(&["--help"], 0);
    assert!(top.contains("batch --spec") && top.contains(&url), "{top}");
    let batch = run_ok(&["batch", "--help"], 0);
    for part in ["empty", "Exit status", "incr", "--spec", &url] {
        assert!(batch.contains(part), "{part} in {batch}");
    }
    let set = run_ok(&["set", "--help"], 0);
    for part in ["--file", "--text", "stdin"] {
        assert!(set.contains(part), "{part} in {set}");
    }
    assert!(run_ok(&["get", "--help"], 0).contains("--output"));

    let version = run_ok(&["--version"], 0);
    let formats = format!(
        "cache format versions {} to {}",
        diskcache::OLDEST_FORMAT_VERSION,
        diskcache::FORMAT_VERSION
    );
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    assert!(version.contains(&formats), "{version}");
}
