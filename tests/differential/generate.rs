//! The random operation sequences of the differential test: seeded and deterministic, over a
//! small pool of keys so that operations meet each other, covering every operation of the
//! batch protocol whose reply Python diskcache gives the same meaning. Left out: `volume`
//! (it counts different bytes by design, format-spec/volume.md) and `reset` without a value
//! (Python answers 1 or 0 for a boolean setting).
//!
//! Time never decides an outcome: an expire time is either already past when the next
//! operation runs (`expire` 1e-9 seconds, "past"), or far beyond the run (1e6 or 3e6 seconds).
//! Every past expire time is its operation's time plus the same 1e-9, so expired entries
//! expire in the order of the operations that set them, in both implementations.
//!
//! A size limit is either 1 GiB (never reached by a run) or 0 (every cache is over it, whatever
//! each implementation counts as volume: `cull` removes every entry in both). Under the limit
//! 0, `cull_limit` is 0 unless `write_cull` is on: a write that culls differs by design. Python
//! culls after every write, its own new entry among the candidates (so under the limit 0 a
//! `set` into a cache of fewer than `cull_limit` entries removes what it just stored); this
//! crate culls only after a write that added to the volume, and takes victims from the entries
//! earlier writes left (format-spec/tables.md, "Culling").

use serde_json::{Value as Json, json};

use crate::common::rng::SplitMix;

/// Areas of behaviour the generator can leave out (`DIFF_EXCLUDE=expiry,float-incr`), where
/// this crate and Python diskcache are known to differ until work under way lands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Areas {
    /// Expire times already past: expired entries that stay stored until removed.
    pub expiry: bool,
    /// `incr`/`decr` of a key that may hold a float.
    pub float_incr: bool,
    /// Integer keys at the edges of the integer queue's range (1, 0.5, 999999999999998), where
    /// a `push` leaves the range.
    pub queue_edge: bool,
    /// Keys longer than 16 KiB encoded.
    pub long_keys: bool,
    /// Writes that cull (a size limit of 0 with a `cull_limit` above 0): different by design,
    /// so off unless asked for (`DIFF_INCLUDE=write-cull`), to explore.
    pub write_cull: bool,
}

/// The names `DIFF_EXCLUDE` takes, in the order of [`Areas`]' fields.
pub const AREA_NAMES: [&str; 4] = ["expiry", "float-incr", "queue-edge", "long-keys"];

impl Areas {
    /// Every area of [`AREA_NAMES`] on but those named in `exclude` (comma-separated), and
    /// `write_cull` as `include` (`""` or `"write-cull"`) says.
    pub fn excluding(exclude: &str, include: &str) -> Result<Areas, String> {
        let mut areas = Areas {
            expiry: true,
            float_incr: true,
            queue_edge: true,
            long_keys: true,
            write_cull: false,
        };
        for name in include.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "write-cull" => areas.write_cull = true,
                _ => {
                    return Err(format!(
                        "unknown area {name:?} to include: only \"write-cull\""
                    ));
                }
            }
        }
        for name in exclude.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let flag = match name {
                "expiry" => &mut areas.expiry,
                "float-incr" => &mut areas.float_incr,
                "queue-edge" => &mut areas.queue_edge,
                "long-keys" => &mut areas.long_keys,
                _ => return Err(format!("unknown area {name:?}: one of {AREA_NAMES:?}")),
            };
            *flag = false;
        }
        Ok(areas)
    }

    /// The names of the areas that are off, comma-separated.
    pub fn excluded(&self) -> String {
        let on = [
            self.expiry,
            self.float_incr,
            self.queue_edge,
            self.long_keys,
        ];
        let mut off: Vec<&str> = AREA_NAMES
            .iter()
            .zip(on)
            .filter(|(_, on)| !on)
            .map(|(n, _)| *n)
            .collect();
        if self.write_cull {
            off.push("(write-cull included)");
        }
        off.join(",")
    }
}

/// The expire time of an entry that is expired by the next operation.
const PAST: f64 = 1e-9;
/// Expire times no run reaches.
const FAR: [f64; 2] = [1e6, 3e6];

/// Values large enough for a value file (the default `min_file_size` is 32 KiB).
const LARGE: usize = 40_000;

/// One sequence's generator: its random numbers and what it must avoid.
struct Generator {
    rng: SplitMix,
    areas: Areas,
    keys: Vec<Json>,
    /// Keys that may hold a float: with `float_incr` off, `incr` never picks them.
    floaty: Vec<Json>,
    /// Whether `size_limit` is 0 now (else 1 GiB).
    limit_zero: bool,
    /// `cull_limit` now.
    cull_limit: u64,
    /// Whether the eviction policy is `none` now.
    policy_none: bool,
}

/// The `id` of a `cull` under the eviction policy `none`, whose count is not compared
/// (compare.rs).
pub const CULL_UNDER_NONE: &str = "cull-under-none";

/// The `ops` requests of the sequence of `seed`.
pub fn sequence(seed: u64, ops: usize, areas: Areas) -> Vec<Json> {
    let mut keys = vec![
        // Outside the integer queue's range (0 < key < 999999999999999): 0 is not in it.
        json!(0),
        json!(-3),
        json!(-2.5),
        json!(1_000_000_000_000_000.5),
        // Inside it, more front pushes than a run makes away from its edges: `push` numbers
        // after them in both (from 7.5, a run reached -0.5: the queue-edge area).
        json!(12345),
        json!(12_345.5),
        // The keys the first pushes make.
        json!(500_000_000_000_000i64),
        json!(500_000_000_000_001i64),
        json!(499_999_999_999_999i64),
        json!("q-500000000000000"),
        json!("q-500000000000001"),
        json!("a"),
        json!("b"),
        json!(""),
        json!("ünïcødé ✓"),
        json!({"bytes": "00"}),
        json!({"bytes": "ff01"}),
        json!({"bytes": ""}),
        // Counters.
        json!("n1"),
        json!("n2"),
    ];
    if areas.queue_edge {
        keys.extend([json!(1), json!(0.5), json!(999_999_999_999_998i64)]);
    }
    if areas.long_keys {
        keys.push(json!("k".repeat(20_000)));
    }
    let mut g = Generator {
        rng: SplitMix::new(seed ^ 0x5eed_d1ff_e4e7_0000),
        areas,
        keys,
        floaty: Vec::new(),
        limit_zero: false,
        cull_limit: 10,
        policy_none: false,
    };
    (0..ops).map(|_| g.op()).collect()
}

impl Generator {
    fn key(&mut self) -> Json {
        self.rng.pick(&self.keys)
    }

    /// A key for `incr`/`decr`: mostly the counters. `None` if `float_incr` is off and every
    /// key may hold a float.
    fn counter(&mut self) -> Option<Json> {
        let k = if self.rng.chance(70) {
            json!(["n1", "n2"][self.rng.index(2)])
        } else {
            self.key()
        };
        if self.areas.float_incr || !self.floaty.contains(&k) {
            return Some(k);
        }
        let safe: Vec<Json> = (self.keys.iter())
            .filter(|k| !self.floaty.contains(k))
            .cloned()
            .collect();
        (!safe.is_empty()).then(|| self.rng.pick(&safe))
    }

    fn value(&mut self) -> Json {
        match self.rng.index(20) {
            0..=4 => self.rng.pick(&[
                json!(0),
                json!(1),
                json!(-7),
                json!(42),
                json!(123_456_789_012i64),
            ]),
            5..=7 => self.rng.pick(&[
                json!(3.25),
                json!(-0.5),
                json!(1e300),
                json!(2.0),
                json!({"float": "inf"}),
            ]),
            8..=11 => self
                .rng
                .pick(&[json!(""), json!("text"), json!("ünïcødé ✓")]),
            12..=13 => self.rng.pick(&[
                json!({"bytes": ""}),
                json!({"bytes": "00"}),
                json!({"bytes": "cafe"}),
            ]),
            14..=15 => self.rng.pick(&[
                json!([1, "two", null]),
                json!({"k": [true, false]}),
                json!(null),
                json!(true),
            ]),
            16 => {
                let unit = format!("{:016x}", self.rng.next());
                json!(unit.repeat(LARGE / unit.len()))
            }
            17 => {
                let unit = format!("{:016x}", self.rng.next());
                json!({"bytes": unit.repeat(2 * LARGE / unit.len())})
            }
            _ => json!(self.rng.index(1000) as i64 - 500),
        }
    }

    fn is_float(v: &Json) -> bool {
        v.is_f64() || v.get("float").is_some()
    }

    /// Notes that `key` may now hold `value` (with `replaced`, holds nothing else).
    fn stored(&mut self, key: &Json, value: &Json, replaced: bool) {
        if Self::is_float(value) {
            if !self.floaty.contains(key) {
                self.floaty.push(key.clone());
            }
        } else if replaced {
            self.floaty.retain(|k| k != key);
        }
    }

    fn tag(&mut self) -> Json {
        if self.rng.chance(50) {
            return Json::Null;
        }
        self.rng
            .pick(&[json!("t1"), json!("t2"), json!(7), json!({"bytes": "07"})])
    }

    fn expire(&mut self) -> Option<f64> {
        match self.rng.index(100) {
            0..=14 if self.areas.expiry => Some(PAST),
            15..=34 => Some(self.rng.pick(&FAR)),
            _ => None,
        }
    }

    fn prefix(&mut self) -> Json {
        self.rng.pick(&[Json::Null, json!("q")])
    }

    fn side(&mut self) -> &'static str {
        ["front", "back"][self.rng.index(2)]
    }

    /// Sets `name` in `req` to `value` half of the time.
    fn maybe(&mut self, req: &mut Json, name: &str, value: Json) {
        if self.rng.chance(50) {
            req[name] = value;
        }
    }

    fn op(&mut self) -> Json {
        match self.rng.index(100) {
            0..=13 => self.write("set"),
            14..=17 => self.write("add"),
            18..=27 => {
                let mut r = json!({"op": "get", "key": self.key()});
                self.maybe(&mut r, "default", json!("missing"));
                self.maybe(&mut r, "expire_time", json!(true));
                self.maybe(&mut r, "tag", json!(true));
                if self.rng.chance(15) {
                    r["entry"] = json!(true);
                }
                r
            }
            28..=30 => json!({"op": "get_entry", "key": self.key()}),
            31..=34 => {
                let mut r = json!({"op": "pop", "key": self.key()});
                self.maybe(&mut r, "default", json!("missing"));
                match self.rng.index(4) {
                    0 => r["entry"] = json!(true),
                    1 => r["expire_time"] = json!(true),
                    2 => r["tag"] = json!(true),
                    _ => {}
                }
                r
            }
            35..=38 => json!({"op": "delete", "key": self.key()}),
            39..=42 => {
                let mut r = json!({"op": "touch", "key": self.key()});
                if let Some(e) = self.expire() {
                    r["expire"] = json!(e);
                }
                r
            }
            43..=51 => {
                let op = if self.rng.chance(65) { "incr" } else { "decr" };
                let Some(key) = self.counter() else {
                    // Every key may hold a float: make one a counter again.
                    let n = json!("n1");
                    self.stored(&n, &json!(0), true);
                    return json!({"op": "set", "key": n, "value": 0});
                };
                let mut r = json!({"op": op, "key": key});
                let delta = self.rng.index(6) as i64 - 2;
                self.maybe(&mut r, "delta", json!(delta));
                if self.rng.chance(40) {
                    r["default"] = self.rng.pick(&[json!(0), json!(10), Json::Null]);
                }
                r
            }
            52..=55 => json!({"op": "contains", "key": self.key()}),
            56..=58 => json!({"op": "len"}),
            59 => json!({"op": "expire"}),
            60 if self.policy_none => json!({"op": "cull", "id": CULL_UNDER_NONE}),
            60 => json!({"op": "cull"}),
            61 => {
                if self.rng.chance(40) {
                    json!({"op": "clear"})
                } else {
                    json!({"op": "len"})
                }
            }
            62..=63 => json!({"op": "evict", "tag": self.tag()}),
            64..=65 => json!({"op": "keys", "reverse": self.rng.chance(50)}),
            66..=67 => json!({"op": "keys_sorted", "reverse": self.rng.chance(50)}),
            68..=69 => json!({"op": "peekitem", "last": self.rng.chance(50)}),
            70..=78 => {
                let value = self.value();
                let prefix = self.prefix();
                let mut r = json!({"op": "push", "value": value, "prefix": prefix,
                                   "side": self.side(), "tag": self.tag()});
                if let Some(e) = self.expire() {
                    r["expire"] = json!(e);
                }
                if Self::is_float(&value) {
                    // Any key of the queue may now hold it.
                    for k in self.keys.clone() {
                        let queue_key = if prefix.is_null() {
                            k.is_number()
                        } else {
                            k.as_str().is_some_and(|s| s.starts_with("q-"))
                        };
                        if queue_key {
                            self.stored(&k, &value, false);
                        }
                    }
                }
                r
            }
            79..=85 => {
                let op = if self.rng.chance(55) { "pull" } else { "peek" };
                let mut r = json!({"op": op, "prefix": self.prefix(), "side": self.side()});
                if self.rng.chance(20) {
                    r["default"] = json!("empty");
                }
                r
            }
            86..=87 => {
                json!({"op": "stats", "enable": self.rng.chance(70), "reset": self.rng.chance(30)})
            }
            88..=89 => self.reset(),
            90 => json!({"op": "check"}),
            _ => self.write("set"),
        }
    }

    /// A `set` or `add`.
    fn write(&mut self, op: &str) -> Json {
        let key = self.key();
        let value = self.value();
        self.stored(&key, &value, op == "set");
        let mut r = json!({"op": op, "key": key, "value": value});
        if let Some(e) = self.expire() {
            r["expire"] = json!(e);
        }
        let tag = self.tag();
        if !tag.is_null() {
            r["tag"] = tag;
        }
        r
    }

    /// A `reset` of a setting: mostly those culling depends on.
    fn reset(&mut self) -> Json {
        let policies = [
            "least-recently-stored",
            "least-recently-used",
            "least-frequently-used",
            "none",
        ];
        let size = json!({"op": "reset", "key": "size_limit"});
        let cull = json!({"op": "reset", "key": "cull_limit"});
        let (mut zero, mut limit) = (self.limit_zero, self.cull_limit);
        let mut r = match self.rng.index(4) {
            0 => {
                zero = self.rng.chance(50);
                if zero && limit > 0 && !self.areas.write_cull {
                    // Writes would cull: first stop them culling.
                    (zero, limit) = (false, 0);
                    cull
                } else {
                    size
                }
            }
            1 => {
                limit = self.rng.pick(&[0, 1, 2, 10]);
                if zero && limit > 0 && !self.areas.write_cull {
                    // Writes would cull: first lift the size limit.
                    (zero, limit) = (false, self.cull_limit);
                    size
                } else {
                    cull
                }
            }
            2 => {
                let (key, value) = match self.rng.index(3) {
                    0 => ("statistics", json!(self.rng.chance(50))),
                    1 => ("tag_index", json!(self.rng.chance(50))),
                    _ => (
                        "disk_min_file_size",
                        self.rng.pick(&[json!(0), json!(100), json!(32768)]),
                    ),
                };
                return json!({"op": "reset", "key": key, "value": value});
            }
            _ => {
                let policy = self.rng.pick(&policies);
                self.policy_none = policy == "none";
                return json!({"op": "reset", "key": "eviction_policy", "value": policy});
            }
        };
        (self.limit_zero, self.cull_limit) = (zero, limit);
        r["value"] = if r["key"] == "cull_limit" {
            json!(limit)
        } else if zero {
            json!(0)
        } else {
            json!(1u64 << 30)
        };
        r
    }
}
