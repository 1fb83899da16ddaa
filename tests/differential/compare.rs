//! Comparing a reply of `diskcache batch` with Python's: what is normalized first, and why.

use serde_json::{Value as Json, json};

use crate::generate;

/// A reply as compared: parsed, with what legitimately differs normalized away.
///
/// - An error's `message` is dropped: errors are compared by name (the Python driver names
///   them as the Rust command does where the meaning is the same).
/// - An expire time in a `get`/`get_entry`/`pop` result becomes the class of its distance
///   from `start` (the run's start): each implementation reads its own clock, so only which of
///   the generator's expire values made it is the same (see generate.rs).
/// - The count of a `cull` under the eviction policy `none` (marked by its `id`): Python's
///   is always 0.
/// - `check`'s "unknown file" warnings: Python's `push` that fails with `IntegrityError`
///   leaves behind the value file it wrote first, which its `check` then reports; this crate
///   deletes it. Every other warning is compared.
pub fn normalize(request: &Json, reply: &str, start: f64) -> Json {
    let Ok(mut reply) = serde_json::from_str::<Json>(reply) else {
        return json!({"unparsable": reply});
    };
    if let Some(map) = reply.as_object_mut() {
        map.remove("message");
    }
    let op = request["op"].as_str().unwrap_or_default();
    let flag = |name: &str| request[name].as_bool().unwrap_or(false);
    let asks_expire_time = match op {
        "get_entry" => true,
        "get" | "pop" => flag("expire_time") || flag("entry"),
        _ => false,
    };
    if asks_expire_time && let Some(t) = reply["result"].get_mut(1) {
        *t = expire_class(t, start);
    }
    if request["id"] == generate::CULL_UNDER_NONE && reply["ok"] == true {
        // Python's `cull` under the policy `none` removes the expired entries but returns 0
        // (`if select_policy is None: return 0` after `count = self.expire(now)`); this
        // crate returns how many it removed, as its documentation and Python's docstring say.
        reply["result"] = json!("count not compared");
    }
    if op == "check"
        && let Some(warnings) = reply["result"].as_array_mut()
    {
        warnings.retain(|w| !w.as_str().is_some_and(|w| w.starts_with("unknown file: ")));
    }
    reply
}

/// The generator's expire value an expire time came from: "past" (1e-9 seconds), "1e6" or
/// "3e6"; `null` stays `null`.
fn expire_class(t: &Json, start: f64) -> Json {
    let Some(t) = t.as_f64() else {
        return t.clone();
    };
    let d = t - start;
    json!(if d < 5e5 {
        "past"
    } else if d < 2e6 {
        "1e6"
    } else {
        "3e6"
    })
}

/// A short name for the kind of a mismatch: the operation and each side's outcome, e.g.
/// `incr: ok vs NotAnInteger`, so that a summary can group mismatches.
pub fn class(request: &Json, ours: &Json, python: &Json) -> String {
    let outcome = |r: &Json| match r["ok"].as_bool() {
        Some(true) => "ok".to_string(),
        _ => r["error"].as_str().unwrap_or("?").to_string(),
    };
    format!(
        "{}: {} vs {}",
        request["op"].as_str().unwrap_or("?"),
        outcome(ours),
        outcome(python)
    )
}

/// A request or reply for a message, long strings shortened.
pub fn short(j: &Json) -> String {
    let s = j.to_string();
    if s.len() <= 300 {
        s
    } else {
        let cut = (0..=300)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}... ({} chars)", &s[..cut], s.len())
    }
}
