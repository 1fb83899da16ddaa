//! The batch protocol against Python diskcache: one stream of requests to this command and to
//! a Python driver of the same protocol, reply by reply. Skipped (with a message) where
//! `python3 -c "import diskcache"` fails, except under `CI=true`, where that fails the test
//! (`tests/common/skip.rs`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value as Json, json};

use crate::{Session, s};

/// A Python driver for the same protocol, for the operations whose meaning is the same in
/// both: JSON arrays as keys become tuples, `{"bytes": hex}` bytes; errors are named as the
/// Rust command names them.
const PYTHON_DRIVER: &str = r#"
import json, sqlite3, sys, diskcache

cache = diskcache.Cache(sys.argv[1])

def key(j):
    if isinstance(j, dict) and list(j) == ["bytes"]:
        return bytes.fromhex(j["bytes"])
    if isinstance(j, list):
        return tuple(key(x) for x in j)
    return j

def value(j):
    if isinstance(j, dict) and list(j) == ["bytes"]:
        return bytes.fromhex(j["bytes"])
    return j

def out(v):
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, (tuple, list)):
        return [out(x) for x in v]
    if isinstance(v, dict):
        return {k: out(x) for k, x in v.items()}
    return v

def run(r):
    op = r["op"]
    k = lambda: key(r["key"])
    if op == "set":
        return cache.set(k(), value(r["value"]), expire=r.get("expire"), tag=key(r.get("tag")))
    if op == "add":
        return cache.add(k(), value(r["value"]), expire=r.get("expire"), tag=key(r.get("tag")))
    if op == "get":
        return cache.get(k(), default=r.get("default"), expire_time=r.get("expire_time", False), tag=r.get("tag", False))
    if op == "get_entry":
        return cache.get(k(), default=r.get("default"), expire_time=True, tag=True)
    if op == "pop":
        entry = r.get("entry", False)
        return cache.pop(k(), default=r.get("default"), expire_time=entry or r.get("expire_time", False), tag=entry or r.get("tag", False))
    if op == "delete":
        return cache.delete(k())
    if op == "touch":
        return cache.touch(k(), expire=r.get("expire"))
    if op in ("incr", "decr"):
        return getattr(cache, op)(k(), r.get("delta", 1), default=r.get("default", 0))
    if op == "contains":
        return k() in cache
    if op == "len":
        return len(cache)
    if op in ("clear", "expire", "cull"):
        return getattr(cache, op)()
    if op == "evict":
        return cache.evict(key(r["tag"]))
    if op == "keys":
        keys = list(reversed(cache) if r.get("reverse") else cache)
        return keys
    if op == "keys_sorted":
        return list(cache.iterkeys(reverse=r.get("reverse", False)))
    if op == "peekitem":
        return cache.peekitem(last=r.get("last", True))
    if op == "push":
        return cache.push(value(r["value"]), prefix=r.get("prefix"), side=r.get("side", "back"), expire=r.get("expire"), tag=key(r.get("tag")))
    if op in ("pull", "peek"):
        return getattr(cache, op)(prefix=r.get("prefix"), side=r.get("side", "front"))
    if op == "stats":
        return cache.stats(enable=r.get("enable", True), reset=r.get("reset", False))
    if op == "check":
        return [str(w.message) for w in cache.check(fix=r.get("fix", False))]
    if op == "reset":
        return cache.reset(r["key"], r["value"]) if "value" in r else cache.reset(r["key"])
    raise ValueError("unknown op " + op)

for line in sys.stdin:
    try:
        reply = {"ok": True, "result": out(run(json.loads(line)))}
    except KeyError as e:
        reply = {"ok": False, "error": "KeyNotFound", "message": repr(e)}
    except sqlite3.IntegrityError as e:
        # push's key is stored already: the end of a queue's range (QueueFull here).
        reply = {"ok": False, "error": "QueueFull", "message": str(e)}
    except Exception as e:
        reply = {"ok": False, "error": type(e).__name__, "message": str(e)}
    print(json.dumps(reply), flush=True)
"#;

/// A deterministic stream of requests over a small set of keys: every operation whose meaning
/// is the same in Python diskcache and here (no expire times, volumes or culls, whose numbers
/// differ by design; counters only on keys that hold integers).
fn differential_requests() -> Vec<Json> {
    let keys = [
        // Integers in the integer queue's range (0 to 10^15) are queue ends for `push`; at 1,
        // a front push stores its item under 0 and the next one fails (Python's
        // IntegrityError, this library's QueueFull).
        json!(0),
        json!(1),
        json!(1000),
        json!(12345),
        json!(-3),
        json!(-2.5),
        json!("a"),
        json!("b"),
        json!(""),
        json!({"bytes": "00"}),
        json!({"bytes": "ff01"}),
    ];
    let values = [
        json!(1),
        json!(-2),
        json!(3.25),
        json!("text"),
        json!({"bytes": "cafe"}),
        json!([1, "two", null]),
        json!({"k": [true, false]}),
        json!(null),
    ];
    let counters = [json!("n1"), json!("n2")];
    let tags = [json!(null), json!("t"), json!(1), json!({"bytes": "07"})];
    let prefixes = [json!(null), json!("q")];
    let sides = ["front", "back"];
    let mut rng = crate::common::rng::Xorshift::new(0x2545_f491_4f6c_dd1d);
    let mut pick = |n: usize| (rng.next() % n as u64) as usize;
    let mut requests = vec![
        json!({"op": "stats", "enable": true}),
        // A float counter: incr and decr add to it and keep it a float, as Python's.
        json!({"op": "set", "key": "n2", "value": 3.25}),
        json!({"op": "peekitem"}),
        json!({"op": "pull"}),
        json!({"op": "reset", "key": "cull_limit", "value": 0}),
    ];
    for _ in 0..400 {
        let k = keys[pick(keys.len())].clone();
        let v = values[pick(values.len())].clone();
        let tag = tags[pick(tags.len())].clone();
        let n = counters[pick(counters.len())].clone();
        let prefix = prefixes[pick(prefixes.len())].clone();
        let side = sides[pick(sides.len())];
        let r = match pick(20) {
            0..=3 => json!({"op": "set", "key": k, "value": v, "tag": tag}),
            4 => json!({"op": "add", "key": k, "value": v}),
            5 | 6 => json!({"op": "get", "key": k, "default": "missing"}),
            7 => json!({"op": "get_entry", "key": k}),
            8 => json!({"op": "pop", "key": k, "entry": pick(2) == 0}),
            9 => json!({"op": "delete", "key": k}),
            10 => json!({"op": "contains", "key": k}),
            11 => json!({"op": "incr", "key": n, "delta": pick(5) as i64 - 2}),
            12 => json!({"op": "decr", "key": n, "default": null}),
            13 => json!({"op": "push", "value": v, "prefix": prefix, "side": side, "tag": tag}),
            14 => json!({"op": "pull", "prefix": prefix, "side": side}),
            15 => json!({"op": "peek", "prefix": prefix, "side": side}),
            16 => json!({"op": "peekitem", "last": pick(2) == 0}),
            17 => json!({"op": "evict", "tag": tag}),
            18 => json!({"op": "touch", "key": k}),
            _ => match pick(3) {
                0 => json!({"op": "keys", "reverse": pick(2) == 0}),
                1 => json!({"op": "keys_sorted", "reverse": pick(2) == 0}),
                _ => json!({"op": "len"}),
            },
        };
        requests.push(r);
    }
    requests.extend([
        json!({"op": "stats", "enable": false, "reset": true}),
        json!({"op": "check"}),
        json!({"op": "clear"}),
        json!({"op": "len"}),
    ]);
    requests
}

#[test]
fn replies_match_python_diskcache() {
    if !crate::common::skip::python_diskcache() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs): (PathBuf, PathBuf) = (tmp.path().join("rust"), tmp.path().join("python"));
    let mut rust = Session::diskcache(&ours);
    let mut python =
        Session::start(Command::new("python3").args(["-c", PYTHON_DRIVER, s(&theirs)]));
    for (i, request) in differential_requests().into_iter().enumerate() {
        let mut a = rust.ask(request.clone());
        let mut b = python.ask(request.clone());
        // Errors are compared by name; messages differ.
        for reply in [&mut a, &mut b] {
            if let Some(map) = reply.as_object_mut() {
                map.remove("message");
            }
        }
        assert_eq!(a, b, "request {i}: {request}\nrust:   {a}\npython: {b}");
    }
    rust.finish();
    python.finish();
}
