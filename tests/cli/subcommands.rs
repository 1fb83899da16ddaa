//! The subcommands: help, the argument rule, exit statuses, `--json` output, `check` and
//! `check --fix` on a damaged cache, `clear --yes`, and FanoutCache and JsonDisk directories.

use serde_json::{Value as Json, json};

use diskcache::{Cache, FanoutCache, JsonDisk};

use crate::{Session, common, run, run_json, run_ok, s};

#[test]
fn every_subcommand_has_help() {
    let top = run_ok(&["--help"], 0);
    let subcommands = [
        "stats", "check", "keys", "get", "set", "delete", "evict", "expire", "cull", "compact",
        "clear", "batch",
    ];
    for sub in subcommands {
        assert!(top.contains(sub), "{sub} in {top}");
        let help = run_ok(&[sub, "--help"], 0);
        assert!(help.contains("Usage: diskcache"), "{help}");
        assert!(help.contains("--json"), "{help}");
    }
    assert!(run_ok(&["get", "--help"], 0).contains("--raw"));
    assert!(run_ok(&["clear", "--help"], 0).contains("--yes"));
    assert_eq!(run(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn set_get_delete_keys_and_the_argument_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new");
    let d = s(&dir);
    // `set` creates the cache; KEY and VALUE are JSON when they parse, else text.
    run_ok(&["set", d, "greeting", "hello world"], 0);
    run_ok(&["set", d, "42", "\"42\""], 0);
    run_ok(&["set", d, "\"42\"", "42"], 0);
    run_ok(
        &["set", d, "-7", "2.5", "--tag", "nums", "--expire", "3600"],
        0,
    );
    run_ok(
        &["set", d, "{\"bytes\":\"00ff\"}", "{\"bytes\":\"0a0b\"}"],
        0,
    );
    run_ok(&["set", d, "[1,\"a\"]", "{\"list\":[1,null,true]}"], 0);

    assert_eq!(run_ok(&["get", d, "greeting"], 0), "'hello world'\n");
    assert_eq!(run_ok(&["get", d, "42"], 0), "'42'\n");
    assert_eq!(run_ok(&["get", d, "\"42\""], 0), "42\n");
    assert_eq!(run_ok(&["get", d, "-7"], 0), "2.5\n");
    assert_eq!(
        run_ok(&["get", d, "{\"bytes\":\"00ff\"}"], 0),
        "b'\\n\\x0b'\n"
    );
    assert_eq!(
        run_ok(&["get", d, "[1,\"a\"]"], 0),
        "{\"list\":[1,null,true]}\n"
    );
    let got = run_json(&["get", d, "-7"], 0);
    assert_eq!(got["value"], json!(2.5));
    assert_eq!(got["tag"], json!("nums"));
    let expires = got["expire_time"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now + 3500.0..now + 3700.0).contains(&expires), "{got}");

    // --raw: the stored bytes as they are.
    let raw = run(&["get", d, "{\"bytes\":\"00ff\"}", "--raw"]);
    assert_eq!(raw.stdout, [0x0a, 0x0b]);
    assert_eq!(run(&["get", d, "greeting", "--raw"]).stdout, b"hello world");

    assert_eq!(
        run_ok(&["keys", d], 0),
        "'greeting'\n42\n'42'\n-7\nb'\\x00\\xff'\n(1, 'a')\n"
    );
    assert_eq!(
        run_json(&["keys", d, "--sorted"], 0),
        json!([-7, 42, "42", "greeting", {"bytes": "00ff"}, [1, "a"]])
    );
    assert_eq!(
        run_json(&["keys", d, "--sorted", "--reverse", "--limit", "2"], 0),
        json!([[1, "a"], {"bytes": "00ff"}])
    );
    assert_eq!(
        run_json(&["keys", d, "--reverse", "--limit", "1"], 0),
        json!([[1, "a"]])
    );

    // A missing key is exit status 1, an error 2.
    let missing = run(&["get", d, "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(missing.stdout.is_empty());
    assert_eq!(
        run_json(&["get", d, "nope"], 1),
        json!({"ok": false, "error": "KeyNotFound", "message": "no key 'nope'"})
    );
    assert_eq!(run_json(&["delete", d, "42"], 0), json!({"deleted": true}));
    assert_eq!(run_json(&["delete", d, "42"], 1), json!({"deleted": false}));
    assert_eq!(
        run_ok(&["delete", d, "greeting"], 0),
        "deleted 'greeting'\n"
    );
    assert_eq!(run_json(&["evict", d, "nums"], 0), json!({"evicted": 1}));
    assert_eq!(run_json(&["expire", d], 0), json!({"expired": 0}));
    assert_eq!(run_json(&["cull", d], 0), json!({"culled": 0}));

    // The library reads what the command stored.
    let cache = Cache::open(&dir).unwrap();
    assert_eq!(cache.get::<i64>("42").unwrap(), Some(42));
    assert_eq!(
        cache.get::<Vec<u8>>(&[0u8, 0xff][..]).unwrap(),
        Some(vec![10, 11])
    );
    assert_eq!(cache.len().unwrap(), 3);
}

#[test]
fn stats_and_its_json() {
    let tmp = tempfile::tempdir().unwrap();
    let d = s(tmp.path());
    run_ok(&["set", d, "a", "1"], 0);
    // The cache's own version: 3 once the logged write path (Linux's default) has opened it;
    // on the direct path 1, until it stores a key over MAX_KEY_BYTES encoded, then 2.
    let (first, long) = if cfg!(target_os = "linux") {
        (3, 3)
    } else {
        (1, 2)
    };
    let human = run_ok(&["stats", d], 0);
    let version = format!("format version   {first}");
    for part in [
        "kind             Cache",
        "entries          1",
        version.as_str(),
    ] {
        assert!(human.contains(part), "{part} in {human}");
    }
    let stats = run_json(&["stats", d], 0);
    assert_eq!(stats["kind"], json!("Cache"));
    assert_eq!(stats["shards"], Json::Null);
    assert_eq!(stats["count"], json!(1));
    assert_eq!(stats["format_version"], json!(first));
    assert_eq!(stats["disk"], json!("default"));
    run_ok(&["set", d, &"k".repeat(20_000), "1"], 0);
    assert_eq!(run_json(&["stats", d], 0)["format_version"], json!(long));
    assert_eq!(stats["settings"]["cull_limit"], json!(10));
    assert_eq!(
        stats["settings"]["eviction_policy"],
        json!("least-recently-stored")
    );
    assert!(stats["volume"].as_u64().unwrap() > 0);
    assert_eq!(
        (stats["hits"].clone(), stats["misses"].clone()),
        (json!(0), json!(0))
    );
}

#[test]
fn directories_without_a_cache_are_created_only_by_writing_commands_and_others_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    for args in [
        vec!["stats", s(&missing)],
        vec!["keys", s(&missing)],
        vec!["get", s(&missing), "k"],
        vec!["check", s(&missing)],
    ] {
        assert_eq!(run(&args).status.code(), Some(2), "{args:?}");
    }
    assert!(!missing.exists());

    // A directory with other files is not taken for a cache.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let refused = run_json(&["set", s(&other), "k", "v"], 2);
    assert_eq!(refused["error"], json!("BadRequest"));
    assert!(!other.join("cache.redb").exists());
}

#[test]
fn compact_keeps_every_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let d = s(tmp.path());
    for i in 0..50 {
        run_ok(&["set", d, &i.to_string(), "\"v\""], 0);
    }
    run_ok(&["delete", d, "7"], 0);
    assert_eq!(run_json(&["compact", d], 0), json!({"compacted": true}));
    assert_eq!(run_json(&["stats", d], 0)["count"], json!(49));
    assert_eq!(run_ok(&["get", d, "8"], 0), "'v'\n");
    assert_eq!(run_ok(&["check", d], 0), "no problems found\n");
}

#[test]
fn clear_refuses_without_yes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = s(tmp.path());
    run_ok(&["set", d, "a", "1"], 0);
    run_ok(&["set", d, "b", "2"], 0);
    let refused = run(&["clear", d]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    assert_eq!(run_json(&["stats", d], 0)["count"], json!(2));
    assert_eq!(run_json(&["clear", d, "--yes"], 0), json!({"cleared": 2}));
    assert_eq!(run_json(&["stats", d], 0)["count"], json!(0));
}

#[test]
fn check_finds_a_deleted_value_file_and_check_fix_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::builder().min_file_size(64).open(tmp.path()).unwrap();
    cache.set("small", 1).unwrap();
    cache.set("large", vec![7u8; 1000]).unwrap();
    cache.close().unwrap();
    let d = s(tmp.path());
    assert_eq!(run_ok(&["check", d], 0), "no problems found\n");

    let files = common::files_ending_with(tmp.path(), ".val");
    assert_eq!(files.len(), 1);
    std::fs::remove_file(tmp.path().join(&files[0])).unwrap();

    let found = run_ok(&["check", d], 1);
    assert!(
        found.contains("large") && found.contains("missing"),
        "{found}"
    );
    let report = run_json(&["check", d], 1);
    assert_eq!(report["clean"], json!(false));
    assert_eq!(report["warnings"].as_array().unwrap().len(), 1);

    let fixed = run_json(&["check", d, "--fix"], 0);
    assert_eq!(fixed["warnings"].as_array().unwrap().len(), 1, "{fixed}");
    assert_eq!(fixed["remaining"], json!([]));
    assert_eq!(fixed["clean"], json!(true));
    assert_eq!(run_ok(&["check", d], 0), "no problems found\n");
    assert_eq!(run_json(&["keys", d], 0), json!(["small"]));
}

#[test]
fn a_fanout_cache_directory_works_with_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let fanout = FanoutCache::builder().shards(4).open(tmp.path()).unwrap();
    for i in 0..20 {
        assert!(fanout.set(i, i * 10).unwrap());
    }
    fanout.set("tagged", "x").unwrap();
    drop(fanout);
    let d = s(tmp.path());

    let stats = run_json(&["stats", d], 0);
    assert_eq!(stats["kind"], json!("FanoutCache"));
    assert_eq!(stats["shards"], json!(4));
    assert_eq!(stats["count"], json!(21));
    assert!(run_ok(&["stats", d], 0).contains("FanoutCache, 4 shards"));
    assert_eq!(run_ok(&["get", d, "7"], 0), "70\n");
    run_ok(&["set", d, "new", "[1,2]", "--tag", "t"], 0);
    assert_eq!(run_json(&["get", d, "new"], 0)["value"], json!([1, 2]));
    let mut sorted: Vec<Json> = (0..20).map(|i| json!(i)).collect();
    sorted.extend([json!("new"), json!("tagged")]);
    assert_eq!(run_json(&["keys", d, "--sorted"], 0), Json::Array(sorted));
    assert_eq!(run_json(&["evict", d, "t"], 0), json!({"evicted": 1}));
    assert_eq!(run_ok(&["check", d], 0), "no problems found\n");

    let mut session = Session::diskcache(tmp.path());
    session.expect(json!({"op": "len"}), json!(21));
    session.expect(json!({"op": "incr", "key": 3}), json!(31));
    session.expect(json!({"op": "pop", "key": 3}), json!(31));
    session.expect(json!({"op": "contains", "key": 3}), json!(false));
    for op in ["push", "pull", "peek", "peekitem", "keys_sorted"] {
        let mut request = json!({"op": op});
        if op == "push" {
            request["value"] = json!(1);
        }
        assert_eq!(session.error(request), "Unsupported", "{op}");
    }
    session.expect(json!({"op": "clear"}), json!(20));
    assert_eq!(session.finish(), 1, "the Unsupported requests failed");
    // Still a fanout cache: the command created nothing else there.
    assert!(!tmp.path().join("cache.redb").exists());
    assert_eq!(FanoutCache::open(tmp.path()).unwrap().len().unwrap(), 0);
}

#[test]
fn a_json_disk_cache_is_opened_with_its_disk_and_its_composites_read_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .disk(JsonDisk::new(6).unwrap())
        .open(tmp.path())
        .unwrap();
    let map = std::collections::BTreeMap::from([("a", 1), ("b", 2)]);
    cache.set("map", &map).unwrap();
    cache.close().unwrap();
    let d = s(tmp.path());

    assert_eq!(run_json(&["stats", d], 0)["disk"], json!("json-zlib"));
    assert_eq!(
        run_json(&["get", d, "map"], 0)["value"],
        json!({"a": 1, "b": 2})
    );
    run_ok(&["set", d, "list", "[1,\"two\",{\"three\":3}]"], 0);
    run_ok(&["set", d, "empty", "{\"json\":[]}"], 0);
    assert_eq!(run_json(&["get", d, "empty"], 0)["value"], json!([]));

    let cache = Cache::builder()
        .disk(JsonDisk::new(6).unwrap())
        .open(tmp.path())
        .unwrap();
    assert_eq!(
        cache.get::<Json>("list").unwrap(),
        Some(json!([1, "two", {"three": 3}]))
    );
}

#[test]
fn composites_of_other_programs_show_as_their_serialized_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::open(tmp.path()).unwrap();
    // postcard of (5u8, "hi"): 05 02 68 69.
    cache.set("foreign", (5u8, "hi")).unwrap();
    cache.set("foreign2", (5u8, "hi")).unwrap();
    cache.close().unwrap();
    let d = s(tmp.path());
    assert_eq!(
        run_json(&["get", d, "foreign"], 0)["value"],
        json!({"serialized": "05026869"})
    );
    assert_eq!(
        run(&["get", d, "foreign", "--raw"]).stdout,
        [5, 2, b'h', b'i']
    );
    let mut session = Session::diskcache(tmp.path());
    session.expect(
        json!({"op": "pop", "key": "foreign", "entry": true}),
        json!([{"serialized": "05026869"}, null, null]),
    );
    session.expect(json!({"op": "contains", "key": "foreign"}), json!(false));
    session.expect(json!({"op": "pull", "prefix": null}), json!([null, null]));
    assert_eq!(
        session.error(json!({"op": "set", "key": "k", "value": {"serialized": "00"}})),
        "BadRequest"
    );
    assert_eq!(session.finish(), 1, "the BadRequest failed");
    let cache = Cache::open(tmp.path()).unwrap();
    assert_eq!(
        cache.get::<(u8, String)>("foreign2").unwrap(),
        Some((5, "hi".to_owned()))
    );
}
