//! The batch protocol: error replies that leave the stream going, every key and value form
//! read back as itself, a session replaying the Cache section of Python diskcache's tutorial
//! with the replies the tutorial shows, and the bytes of format-spec/batch-protocol.md's
//! worked examples being the bytes the command stores.

use serde_json::{Value as Json, json};

use diskcache::{Cache, Key};

use crate::Session;

#[test]
fn a_malformed_line_gets_an_error_reply_and_the_stream_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let mut session = Session::diskcache(tmp.path());
    session.expect(json!({"op": "set", "key": "k", "value": 1}), json!(true));
    for (line, error) in [
        ("{not json", "BadRequest"),
        ("[1, 2]", "BadRequest"),
        ("{\"key\": \"k\"}", "BadRequest"),
        ("{\"op\": \"frobnicate\"}", "BadRequest"),
        ("{\"op\": \"get\"}", "BadRequest"),
        (
            "{\"op\": \"get\", \"key\": \"k\", \"defualt\": 1}",
            "BadRequest",
        ),
        (
            "{\"op\": \"set\", \"key\": {\"bytes\": \"zz\"}, \"value\": 1}",
            "BadRequest",
        ),
        (
            "{\"op\": \"incr\", \"key\": \"nope\", \"default\": null}",
            "KeyNotFound",
        ),
        ("{\"op\": \"set\", \"key\": \"s\", \"value\": \"text\"}", ""),
        ("{\"op\": \"incr\", \"key\": \"s\"}", "NotAnInteger"),
        (
            "{\"op\": \"set\", \"key\": {\"float\": \"nan\"}, \"value\": 1}",
            "InvalidArgument",
        ),
        ("{\"op\": \"peekitem\", \"last\": 1}", "BadRequest"),
    ] {
        let reply = session.line(line);
        if error.is_empty() {
            assert_eq!(reply, json!({"ok": true, "result": true}));
        } else {
            assert_eq!(reply["ok"], json!(false), "{line}: {reply}");
            assert_eq!(reply["error"], json!(error), "{line}: {reply}");
        }
    }
    // Every line gets one reply, an empty one included; ids are echoed.
    for blank in ["", "  ", "\r"] {
        let reply = session.line(blank);
        assert_eq!(reply["error"], json!("BadRequest"), "{blank:?}: {reply}");
    }
    assert_eq!(
        session.line("{\"op\": \"get\", \"key\": \"k\", \"id\": [7]}"),
        json!({"ok": true, "result": 1, "id": [7]})
    );
    assert_eq!(
        session.line("{\"op\": \"nope\", \"id\": \"x\"}")["id"],
        json!("x")
    );
    session.expect(json!({"op": "len"}), json!(2));
    // A request failed: exit status 1.
    assert_eq!(session.finish(), 1);
}

#[test]
fn keys_and_values_of_every_kind_round_trip_through_the_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let mut session = Session::diskcache(tmp.path());
    let pairs = [
        (json!(1), json!(-1)),
        (json!(2.5), json!(1.0)),
        (json!("text"), json!("")),
        (json!({"bytes": "00ff"}), json!({"bytes": ""})),
        (json!({"float": "inf"}), json!({"float": "-inf"})),
        (json!([1, ["a", null]]), json!({"a": [1, 2.5]})),
        (
            json!({"json": {"bytes": "00"}}),
            json!({"json": {"float": "x"}}),
        ),
        (json!(true), json!({"json": 5})),
        (json!(null), json!(null)),
        (json!({"json": "x"}), json!([])),
    ];
    for (k, v) in &pairs {
        session.expect(json!({"op": "set", "key": k, "value": v}), json!(true));
        session.expect(json!({"op": "get", "key": k}), v.clone());
    }
    // `{"json": "x"}` is the key "x" itself; other keys come back as they were given.
    let keys: Vec<Json> = pairs
        .iter()
        .map(|(k, _)| {
            if *k == json!({"json": "x"}) {
                json!("x")
            } else {
                k.clone()
            }
        })
        .collect();
    assert_eq!(session.ok(json!({"op": "keys"})), Json::Array(keys));
    session.expect(
        json!({"op": "get_entry", "key": "text"}),
        json!(["", null, null]),
    );
    assert_eq!(session.finish(), 0);
    let cache = Cache::open(tmp.path()).unwrap();
    assert_eq!(cache.get::<f64>(2.5).unwrap(), Some(1.0));
    assert!(cache.contains(Key::from("x")).unwrap());
}

/// Floats go in and come back to the last bit, alone and inside composites (serde_json parses
/// them correctly rounded only with its `float_roundtrip` feature; without it these lose an
/// ulp, and so does scripts/cross_check.sh's comparison).
#[test]
fn floats_round_trip_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let mut session = Session::diskcache(tmp.path());
    for (i, text) in [
        "0.21244907115183898",
        "8.805385106727886e299",
        "-6.039439488699641e299",
        "0.9688073929072343",
        "5e-324",
    ]
    .into_iter()
    .enumerate()
    {
        let exact: f64 = text.parse().unwrap();
        let plain = session.line(&format!(r#"{{"op":"set","key":{i},"value":{text}}}"#));
        assert_eq!(plain["ok"], json!(true), "{plain}");
        let inside = format!(r#"{{"op":"set","key":[{i}],"value":{{"x":[{text}]}}}}"#);
        assert_eq!(session.line(&inside)["ok"], json!(true));
        let got = session.ok(json!({"op": "get", "key": i}));
        assert_eq!(
            got.as_f64().map(f64::to_bits),
            Some(exact.to_bits()),
            "{text}: {got}"
        );
        let got = session.ok(json!({"op": "get", "key": [i]}));
        let x = got["x"][0].as_f64();
        assert_eq!(x.map(f64::to_bits), Some(exact.to_bits()), "{text}: {got}");
    }
    assert_eq!(session.finish(), 0);
}

/// Seconds since the epoch, now.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The Cache section of Python diskcache's tutorial (docs/tutorial.rst), request by request,
/// with the replies the tutorial shows. `transact`, `read=True` files and the tag index methods
/// are not batch operations: `set` of bytes, and `reset` of `tag_index`, stand in for them.
#[test]
fn a_batch_session_replays_the_tutorial() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Session::diskcache(tmp.path());

    // >>> cache['key'] = 'value'; cache['key']; 'key' in cache; del cache['key']
    c.expect(
        json!({"op": "set", "key": "key", "value": "value"}),
        json!(true),
    );
    c.expect(json!({"op": "get", "key": "key"}), json!("value"));
    c.expect(json!({"op": "contains", "key": "key"}), json!(true));
    c.expect(json!({"op": "delete", "key": "key"}), json!(true));

    // >>> cache.set('key', BytesIO(b'value'), expire=5, read=True, tag='data')
    let value = json!({"bytes": "76616c7565"});
    c.expect(
        json!({"op": "set", "key": "key", "value": value, "expire": 5, "tag": "data"}),
        json!(true),
    );
    // >>> reader, timestamp, tag = cache.get('key', read=True, expire_time=True, tag=True)
    let entry = c.ok(json!({"op": "get_entry", "key": "key"}));
    assert_eq!(entry[0], value);
    let timestamp = entry[1].as_f64().unwrap(); // type(timestamp).__name__ == 'float'
    assert!((now() + 3.0..now() + 6.0).contains(&timestamp), "{entry}");
    assert_eq!(entry[2], json!("data"));
    let shaped = c.ok(json!({"op": "get", "key": "key", "expire_time": true, "tag": true}));
    assert_eq!(shaped, entry);

    // touch
    c.expect(
        json!({"op": "touch", "key": "key", "expire": null}),
        json!(true),
    );
    c.expect(
        json!({"op": "touch", "key": "does-not-exist", "expire": 1}),
        json!(false),
    );
    // add
    let test = json!({"bytes": "74657374"});
    c.expect(json!({"op": "add", "key": test, "value": 123}), json!(true));
    c.expect(json!({"op": "get", "key": test}), json!(123));
    c.expect(
        json!({"op": "add", "key": test, "value": 456}),
        json!(false),
    );
    c.expect(json!({"op": "get", "key": test}), json!(123));
    // incr / decr
    c.expect(json!({"op": "incr", "key": test}), json!(124));
    c.expect(json!({"op": "decr", "key": test, "delta": 24}), json!(100));
    c.expect(json!({"op": "incr", "key": "alice"}), json!(1));
    c.expect(
        json!({"op": "decr", "key": "bob", "default": -9}),
        json!(-10),
    );
    // >>> cache.incr('carol', default=None)  -> KeyError: 'carol'
    assert_eq!(
        c.error(json!({"op": "incr", "key": "carol", "default": null})),
        "KeyNotFound"
    );
    // pop
    c.expect(json!({"op": "pop", "key": "alice"}), json!(1));
    c.expect(
        json!({"op": "pop", "key": "dave", "default": "does not exist"}),
        json!("does not exist"),
    );
    c.expect(
        json!({"op": "set", "key": "dave", "value": 0, "expire": null, "tag": "admin"}),
        json!(true),
    );
    c.expect(
        json!({"op": "pop", "key": "dave", "expire_time": true, "tag": true}),
        json!([0, null, "admin"]),
    );

    // Culling.
    c.expect(json!({"op": "clear"}), json!(3));
    c.expect(
        json!({"op": "reset", "key": "cull_limit", "value": 0}),
        json!(0),
    );
    for num in 0..10 {
        c.expect(
            json!({"op": "set", "key": num, "value": num, "expire": 1e-9}),
            json!(true),
        );
    }
    c.expect(json!({"op": "len"}), json!(10));
    // As Python's `list(cache)`: the 10 expired keys, until `expire` removes them.
    c.expect(json!({"op": "keys"}), json!((0..10).collect::<Vec<_>>()));
    c.expect(json!({"op": "expire"}), json!(10));
    for num in 0..100 {
        let tag = if num % 2 == 1 { "odd" } else { "even" };
        c.ok(json!({"op": "set", "key": num, "value": num, "tag": tag}));
    }
    c.expect(json!({"op": "evict", "tag": "even"}), json!(50));
    c.expect(json!({"op": "clear"}), json!(50));
    for num in 0..100 {
        c.ok(json!({"op": "set", "key": num, "value": num, "tag": num % 2}));
    }
    c.expect(json!({"op": "evict", "tag": 0}), json!(50));
    // drop_tag_index / create_tag_index; cache.tag_index -> 0, then 1.
    c.expect(
        json!({"op": "reset", "key": "tag_index", "value": false}),
        json!(false),
    );
    c.expect(
        json!({"op": "reset", "key": "tag_index", "value": true}),
        json!(true),
    );

    c.expect(json!({"op": "clear"}), json!(50));
    c.expect(
        json!({"op": "reset", "key": "size_limit", "value": 1_000_000}),
        json!(1_000_000),
    );
    c.expect(
        json!({"op": "reset", "key": "cull_limit", "value": 0}),
        json!(0),
    );
    let a1000 = json!({"bytes": "41".repeat(1000)});
    for count in 0..1000 {
        c.ok(json!({"op": "set", "key": count, "value": a1000}));
    }
    assert!(c.ok(json!({"op": "volume"})).as_u64().unwrap() > 1_000_000);
    assert!(c.ok(json!({"op": "cull"})).as_u64().unwrap() > 0);
    assert!(c.ok(json!({"op": "volume"})).as_u64().unwrap() < 1_000_000);
    assert!(c.ok(json!({"op": "clear"})).as_u64().unwrap() > 0);

    // Iteration order, peekitem.
    for key in ["c", "a", "b"] {
        c.ok(json!({"op": "set", "key": key, "value": null}));
    }
    c.expect(json!({"op": "keys"}), json!(["c", "a", "b"]));
    c.expect(json!({"op": "keys_sorted"}), json!(["a", "b", "c"]));
    c.expect(json!({"op": "peekitem"}), json!(["b", null]));
    c.expect(json!({"op": "peekitem", "last": false}), json!(["c", null]));

    // Queues.
    c.expect(
        json!({"op": "push", "value": "first"}),
        json!(500000000000000i64),
    );
    c.expect(
        json!({"op": "get", "key": 500000000000000i64}),
        json!("first"),
    );
    c.ok(json!({"op": "push", "value": "second"}));
    c.ok(json!({"op": "push", "value": "zeroth", "side": "front"}));
    c.expect(json!({"op": "peek"}), json!([499999999999999i64, "zeroth"]));
    c.expect(json!({"op": "pull"}), json!([499999999999999i64, "zeroth"]));

    // Metadata: volume, stats, check.
    assert!(c.ok(json!({"op": "volume"})).as_u64().unwrap() < 100_000);
    c.expect(json!({"op": "stats", "enable": true}), json!([0, 0]));
    for num in 0..100 {
        c.ok(json!({"op": "set", "key": num, "value": num}));
    }
    for num in 0..150 {
        c.ok(json!({"op": "get", "key": num}));
    }
    c.expect(
        json!({"op": "stats", "enable": false, "reset": true}),
        json!([100, 50]),
    );
    c.expect(json!({"op": "check"}), json!([]));
    assert_eq!(c.finish(), 1, "the incr of a missing key failed");
}

/// The rows of `cache.redb`'s `entries` table, read with the redb crate: (key, row).
fn entries(dir: &std::path::Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};
    let table: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(dir.join("cache.redb"))
        .unwrap();
    let txn = db.begin_read().unwrap();
    let rows = txn.open_table(table).unwrap();
    rows.iter()
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.value().to_vec(), v.value().to_vec())
        })
        .collect()
}

/// Bytes as the spec writes them: lower-case hex pairs separated by spaces.
fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A row's value kind and inline value bytes, as format-spec/rows.md lays them out.
fn kind_and_value(row: &[u8]) -> String {
    let kind = ["", "int", "float", "text", "bytes", "serialized"][usize::from(row[2])];
    let tag_len = u32::from_le_bytes(row[56..60].try_into().unwrap()) as usize;
    format!("{kind}: `{}`", spaced_hex(&row[60 + tag_len..]))
}

/// Every line of the worked examples of format-spec/batch-protocol.md is what the command
/// stores: the key's bytes in `entries`, and the value's kind and bytes in its row (or a
/// refusal).
#[test]
fn the_worked_examples_of_the_spec_are_the_bytes_the_command_stores() {
    let spec = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("format-spec/batch-protocol.md"),
    )
    .unwrap();
    let table = spec
        .split("<!-- worked examples: | JSON | key | value | -->")
        .nth(1)
        .expect("the worked examples");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(3)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert!(rows.len() >= 10, "{rows:?}");
    for row in rows {
        let [form, key, value] = row[..] else {
            panic!("{row:?}")
        };
        let form = form.trim_matches('`');
        let json: Json = serde_json::from_str(form).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut session = Session::diskcache(tmp.path());
        let as_key = session.ask(json!({"op": "set", "key": json, "value": 0}));
        let as_value = session.ask(json!({"op": "set", "key": "the value", "value": json}));
        let refused = as_key["ok"] != json!(true) || as_value["ok"] != json!(true);
        assert_eq!(session.finish(), i32::from(refused), "{form}");
        let stored = entries(tmp.path());
        let value_key = b"\x20the value".to_vec();
        let got_key = match stored.iter().find(|(k, _)| *k != value_key) {
            Some((k, _)) => format!("`{}`", spaced_hex(k)),
            None => "refused".into(),
        };
        assert_eq!(got_key, key, "{form} as a key: {as_key}");
        let got_value = match stored.iter().find(|(k, _)| *k == value_key) {
            Some((_, row)) => kind_and_value(row),
            None => "refused".into(),
        };
        assert_eq!(got_value, value, "{form} as a value: {as_value}");
    }
}
