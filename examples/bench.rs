//! The benchmark that stands beside Python diskcache's anchor benchmark
//! (`scripts/bench_python.py`): the same workload, timed the same way, written as JSON of
//! the same shape, so the two can be set side by side.
//!
//! ```text
//! cargo run --release --example bench -- [--json OUT.json] [--compare PY.json] [--ops N]
//!     [--warm N] [--seconds S] [--procs P] [--dir BASE] [--write-path logged|direct]
//!     [--checkpoint-records N] [--durability nosync|normal|sync] [--compare-deque PY2.json]
//!     [--latency] [--report DIR] [--peer NAME=FILE.json]... [--from OURS.json]
//! ```
//!
//! Defaults as the Python script: `--ops 20000 --warm 2000 --seconds 5 --procs 4`, `--dir` the
//! system temp directory (a fresh directory is made inside it and removed at the end).
//! `--compare PY.json` reads the JSON the Python script wrote and prints its `Cache` and
//! `FanoutCache` figures beside ours with the ratio python median / our median (above 1: we
//! are faster). `--latency` adds a table of the tails: p99, p99.9, p99.99 and max of every op
//! and of both sides of every mix, ours beside Python's (a JSON without `p999_us`/`p9999_us`,
//! from an older script, shows `-` there).
//! `--report DIR` also draws the medians and p99s of the `Cache`'s ops and of the 90/10 mix,
//! ours beside Python's (`--compare`) and each `--peer NAME=FILE.json`'s (another system's
//! figures in this bench's JSON shape), to `DIR/bench.svg` (`examples/bench/report.rs`).
//! `--from OURS.json` measures nothing: it draws the report of an earlier run's `--json`.
//! `--write-path` (default: the platform's, `logged` on Linux) is given to the builder of every
//! handle the bench opens, the mixes' worker processes included, and so is
//! `--checkpoint-records` (default: the builder's, 16384), to the `FanoutCache`'s shards too,
//! and `--durability` (default: the builder's, `normal` for a new cache; the bench's caches
//! are new). The JSON's `env` records them (`null` when not given) and `fanout_shards`.
//!
//! # Workload (as Python's `single()` and `multi()`)
//! - warm-up on keys the measured phase never uses: for `warm` keys set, get, get a missing
//!   key, incr one counter; delete them and the counter; then 5 times set, get and delete a
//!   1 MiB value;
//! - `set`: N inserts of new keys `"key-%d"`, value 100 bytes of `b'x'`; `get_hit`: N gets of
//!   those keys; `get_miss`: N gets of `"miss-%d"`; `incr`: N increments of `"counter"`;
//!   `set_update` (extra): N re-sets of the `"key-%d"` keys; `delete`: N deletes of them;
//!   `set_1MiB`: 100 inserts of `"big-%d"`, 1 MiB of `b'y'` (a value file); `get_1MiB`: 100
//!   whole-value gets; `get_1MiB_read` (extra): `get_reader` and read to the end into a `Vec`
//!   (sized from the reader's length, as Python's `fh.read()` sizes from `fstat`); then the big
//!   keys are deleted and `len()` must be 1.
//! - `read_plus_crc_1MiB` (extra, no Python counterpart): the floor for `get_1MiB`, a
//!   `std::fs::read` of a 1 MiB file just written (so in the page cache, like the value files)
//!   plus `crc32fast::hash` of it. The target is `get_1MiB` within 1.25x of it.
//! - `FanoutCache` (as Python's `single()` on its `FanoutCache(shards=8)`): the same workload,
//!   warm-up included, on a [`FanoutCache`] with the default 8 shards in a directory of its
//!   own; the seven ops under `"FanoutCache"`, `set_update` and `get_1MiB_read` under
//!   `extras.FanoutCache`. Its write-lock timeout is ours by default (60 s), not Python's
//!   10 ms, so a set that waits is timed as long as it waits; a set or incr that returned its
//!   timeout value would fail the run (the mixes count such sets in `set_returned_false`).
//! - `mixed_4proc_90get`: 1000 keys `"key-%d"` pre-populated, then P processes (this executable
//!   started again with a hidden `--worker` flag) on the one cache directory for S seconds,
//!   each doing `i % 10 == 0` → set else get on key `"key-%d" % (i % 1000)`, `i` starting at
//!   `p * 7919`. They start together at a wall-clock instant about 300 ms ahead (in place of
//!   Python's barrier) and each writes its latencies as one JSON line on stdout.
//!   `extras.mixed_fanout` is the same on a `FanoutCache` (Python's `extras.mixed_fanout`);
//!   `extras.mixed_4proc_50set` is the same on a `Cache` with `i % 2 == 0` → set (ours only).
//!   The table prints each mix's throughput and its get and set median, p99 and set max.
//! - eviction (extras, no counterpart in Python's anchor script), each on a cache of its own
//!   after the same warm-up: `get_hit_lru`: N inserts of `"key-%d"` under least-recently-used,
//!   then N timed gets of them (each hit notes the access); `set_at_limit`: 2,000 inserts of
//!   `"fill-%d"` under least-recently-stored with `cull_limit` 10, the size limit reset to the
//!   volume they make, then N timed inserts of new keys `"key-%d"`, so the cache stays at its
//!   limit and writes cull. With `--compare`, an inline Python script (`python3`, which must
//!   import `diskcache`) measures Python diskcache's equivalent in the same run; its figures go
//!   to `extras.python_eviction` and into the table's python columns. One difference: Python's
//!   `volume()` is the SQLite file's pages (auto-vacuumed) plus value files, so a Python set
//!   culls whenever the page count is at the limit, ours when the summed entry volumes pass
//!   it (`format-spec/volume.md`); both stay near 2,000 entries
//!   (`extras.set_at_limit_len_after` records ours, `extras.python_eviction`'s Python's).
//!
//! - `Deque` and `Index` (extras, `extras.DequeIndex`), each in a directory of its own after a
//!   warm-up of `warm` pushes and pops, or inserts and gets, on keys the measured phase never
//!   uses: `deque_push_back`: N `push_back`s of the small value to an empty `Deque`;
//!   `deque_pop_front`: N `pop_front`s of them; `cache_push`/`cache_pull`: N pushes to the back
//!   of a plain cache's queue, then N pulls from its front; `index_insert`: N inserts of new keys
//!   `"key-%d"` (the small value) into an empty `Index`; `index_get`: N gets of them. The anchor
//!   script does not measure these; `scripts/bench_deque_index.py PY2.json` measures Python's
//!   `Deque.append`/`popleft` and `Index.__setitem__`/`__getitem__` with the same workload, and
//!   `--compare-deque PY2.json` prints its figures beside ours.
//!
//! Every call is timed on its own with [`Instant`], in nanoseconds; the statistics are those of
//! Python's `stats()` (same indexes, microseconds rounded to 2 decimals): `median_us`,
//! `p90_us`, `p99_us`, `p999_us` (p99.9), `p9999_us` (p99.99), `max_us`, `mean_us`, `n`.
//! With 20,000 calls p99.99 is the second-slowest; with the 100 of the 1 MiB ops it is the max.
//!
//! Values are bytes stored as bytes: `set` is given [`serde_bytes::Bytes`] and `get` asks for a
//! [`serde_bytes::ByteBuf`], so both take the cache's native `Bytes` path (the bytes as they
//! are, no postcard; decoding moves the buffer read into the `ByteBuf` without another copy).
//! A plain `&[u8]` / `Vec<u8>` would be stored the same way but serialized element by element.

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache::{
    Cache, CacheBuilder, DEFAULT_SHARDS, Deque, Durability, EvictionPolicy, FanoutCache, Index,
    SetOptions, Setting, Side, ValueReader, WritePath,
};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_bytes::{ByteBuf, Bytes};
use serde_json::{Value, json};

#[path = "bench/report.rs"]
mod report;

/// The small value: 100 bytes, stored inline.
const SMALL: [u8; 100] = [b'x'; 100];
/// The size of the big value, which goes to a value file.
const BIG_LEN: usize = 1 << 20;
/// How many big values.
const BIG_N: usize = 100;
/// How many keys the multi-process mixes use.
const MIX_KEYS: u64 = 1000;
/// How far ahead of the spawn the workers' common start is.
const START_DELAY: Duration = Duration::from_millis(300);
/// How many entries the `set_at_limit` cache holds at its size limit.
const AT_LIMIT: usize = 2000;

type BoxError = Box<dyn std::error::Error>;
type Res<T> = std::result::Result<T, BoxError>;

const USAGE: &str = "usage: cargo run --release --example bench -- [--json OUT.json] \
[--compare PY.json] [--ops N] [--warm N] [--seconds S] [--procs P] [--dir BASE]
[--write-path logged|direct] [--checkpoint-records N] [--durability nosync|normal|sync]
[--compare-deque PY2.json] [--latency] [--report DIR] [--peer NAME=FILE.json]... [--from OURS.json]

  --json OUT.json    write the figures as JSON (same shape as scripts/bench_python.py's)
  --compare PY.json  print Python diskcache's Cache and FanoutCache figures from
                     scripts/bench_python.py beside ours, and measure Python's get_hit_lru
                     and set_at_limit (needs python3)
  --latency          also print the tail-latency table: p99, p99.9, p99.99 and max per op
                     and per mix, ours beside Python's
  --ops N            operations per single-process op (default 20000)
  --warm N           warm-up keys (default 2000)
  --seconds S        length of each multi-process mix (default 5)
  --procs P          processes in each mix (default 4)
  --dir BASE         where to make the benchmark's directory (default: the temp dir)
  --write-path P     logged (the shared log, default) or direct (a redb transaction per write)
  --checkpoint-records N
                     records the log gathers before a checkpoint, 1 to 16384 (default: the
                     builder's default, 16384); every handle, workers and shards too
  --durability D     nosync, normal or sync (default: the builder's, normal for a new
                     cache); every handle, workers and shards too
  --compare-deque PY2.json
                     print Python's Deque/Index figures from scripts/bench_deque_index.py
                     beside ours
  --report DIR       also draw the Cache's medians and p99s, ours beside Python's (--compare)
                     and the peers', to DIR/bench.svg (DIR is made if missing)
  --peer NAME=FILE.json
                     another system's figures, in this bench's --json shape, for the report
                     (repeatable)
  --from OURS.json   measure nothing: draw the report (--report) from an earlier --json";

// ----- command line ---------------------------------------------------------------------------

struct Args {
    json: Option<PathBuf>,
    compare: Option<PathBuf>,
    /// `scripts/bench_deque_index.py`'s JSON.
    compare_deque: Option<PathBuf>,
    ops: usize,
    warm: usize,
    seconds: f64,
    procs: u64,
    dir: PathBuf,
    /// `--latency`: print the tail-latency table too.
    latency: bool,
    /// `--report DIR`: where to draw the SVG.
    report: Option<PathBuf>,
    /// `--peer NAME=FILE.json`, in the order given.
    peers: Vec<(String, PathBuf)>,
    /// `--from OURS.json`: draw the report of an earlier run instead of measuring.
    from: Option<PathBuf>,
    open: OpenArgs,
}

/// How every handle is opened: the bench's own and the workers'.
#[derive(Clone, Copy)]
struct OpenArgs {
    write_path: WritePath,
    /// `None`: the builder's default.
    checkpoint_records: Option<u64>,
    /// `None`: the builder's default.
    durability: Option<Durability>,
}

impl OpenArgs {
    fn open(&self, dir: &Path) -> Res<Cache> {
        Ok(self.builder().open(dir)?)
    }

    /// A [`FanoutCache`] with the default shard count (8, as Python's) and these settings.
    fn fanout(&self, dir: &Path) -> Res<FanoutCache> {
        let b = FanoutCache::builder().write_path(self.write_path);
        let b = match self.checkpoint_records {
            Some(n) => b.checkpoint_records(n),
            None => b,
        };
        let b = match self.durability {
            Some(d) => b.durability(d),
            None => b,
        };
        Ok(b.open(dir)?)
    }

    /// A builder with these settings, for handles that choose more.
    fn builder(&self) -> CacheBuilder {
        let b = Cache::builder().write_path(self.write_path);
        let b = match self.checkpoint_records {
            Some(n) => b.checkpoint_records(n),
            None => b,
        };
        match self.durability {
            Some(d) => b.durability(d),
            None => b,
        }
    }

    /// The three worker arguments that carry these settings (`0` for the default N,
    /// `default` for the default durability).
    fn worker_args(&self) -> [String; 3] {
        [
            write_path_name(self.write_path).to_owned(),
            self.checkpoint_records.unwrap_or(0).to_string(),
            self.durability
                .map_or("default", durability_name)
                .to_owned(),
        ]
    }
}

fn write_path_name(p: WritePath) -> &'static str {
    match p {
        WritePath::Logged => "logged",
        WritePath::Direct => "direct",
    }
}

fn durability_name(d: Durability) -> &'static str {
    match d {
        Durability::NoSync => "nosync",
        Durability::Normal => "normal",
        Durability::Sync => "sync",
    }
}

/// `default` (for workers: the builder's) is `None`.
fn parse_durability(flag: &str, value: &str) -> Result<Option<Durability>, String> {
    match value {
        "nosync" => Ok(Some(Durability::NoSync)),
        "normal" => Ok(Some(Durability::Normal)),
        "sync" => Ok(Some(Durability::Sync)),
        "default" => Ok(None),
        _ => Err(format!("{flag}: {value:?} is not nosync, normal or sync")),
    }
}

fn parse_write_path(flag: &str, value: &str) -> Result<WritePath, String> {
    match value {
        "logged" => Ok(WritePath::Logged),
        "direct" => Ok(WritePath::Direct),
        _ => Err(format!("{flag}: {value:?} is not logged or direct")),
    }
}

/// Which kind of cache a mix runs on.
#[derive(Clone, Copy)]
enum Kind {
    Cache,
    Fanout,
}

impl Kind {
    /// The name Python's JSON gives it (the mixes' `kind`), also the worker's argument.
    fn name(self) -> &'static str {
        match self {
            Kind::Cache => "Cache",
            Kind::Fanout => "FanoutCache",
        }
    }

    fn parse(flag: &str, value: &str) -> Result<Kind, String> {
        match value {
            "Cache" => Ok(Kind::Cache),
            "FanoutCache" => Ok(Kind::Fanout),
            _ => Err(format!("{flag}: {value:?} is not Cache or FanoutCache")),
        }
    }
}

/// What a worker process is told.
struct WorkerArgs {
    dir: PathBuf,
    seconds: f64,
    seed: u64,
    start_at_ns: u128,
    set_every: u64,
    open: OpenArgs,
    kind: Kind,
}

enum Mode {
    Bench(Args),
    Worker(WorkerArgs),
}

fn parse_args(argv: &[String]) -> Result<Mode, String> {
    if argv.first().map(String::as_str) == Some("--worker") {
        let [
            _,
            dir,
            seconds,
            seed,
            start,
            every,
            path,
            records,
            durability,
            kind,
        ] = argv
        else {
            return Err("--worker DIR SECONDS SEED START_AT_UNIX_NANOS SET_EVERY \
                        WRITE_PATH CHECKPOINT_RECORDS DURABILITY KIND"
                .into());
        };
        let records: u64 = number("--worker CHECKPOINT_RECORDS", records)?;
        return Ok(Mode::Worker(WorkerArgs {
            dir: PathBuf::from(dir),
            seconds: positive_f64("--worker SECONDS", seconds)?,
            seed: number("--worker SEED", seed)?,
            start_at_ns: number("--worker START_AT_UNIX_NANOS", start)?,
            set_every: positive("--worker SET_EVERY", every)?,
            open: OpenArgs {
                write_path: parse_write_path("--worker WRITE_PATH", path)?,
                checkpoint_records: (records != 0).then_some(records),
                durability: parse_durability("--worker DURABILITY", durability)?,
            },
            kind: Kind::parse("--worker KIND", kind)?,
        }));
    }
    let mut args = Args {
        json: None,
        compare: None,
        compare_deque: None,
        ops: 20_000,
        warm: 2000,
        seconds: 5.0,
        procs: 4,
        dir: std::env::temp_dir(),
        latency: false,
        report: None,
        peers: Vec::new(),
        from: None,
        open: OpenArgs {
            write_path: WritePath::default(),
            checkpoint_records: None,
            durability: None,
        },
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if flag == "--latency" {
            args.latency = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        match flag.as_str() {
            "--json" => args.json = Some(PathBuf::from(value)),
            "--compare" => args.compare = Some(PathBuf::from(value)),
            "--compare-deque" => args.compare_deque = Some(PathBuf::from(value)),
            "--report" => args.report = Some(PathBuf::from(value)),
            "--from" => args.from = Some(PathBuf::from(value)),
            "--peer" => {
                let (name, file) = value
                    .split_once('=')
                    .filter(|(name, file)| !name.is_empty() && !file.is_empty())
                    .ok_or_else(|| format!("{flag}: {value:?} is not NAME=FILE.json"))?;
                if args.peers.iter().any(|(n, _)| n == name) {
                    return Err(format!("{flag}: {name:?} is given twice"));
                }
                args.peers.push((name.to_owned(), PathBuf::from(file)));
            }
            "--ops" => args.ops = positive(flag, value)?,
            "--warm" => args.warm = number(flag, value)?,
            "--seconds" => args.seconds = positive_f64(flag, value)?,
            "--procs" => args.procs = positive(flag, value)?,
            "--dir" => args.dir = PathBuf::from(value),
            "--write-path" => args.open.write_path = parse_write_path(flag, value)?,
            // The builder checks the range when the first handle opens, before anything is timed.
            "--checkpoint-records" => args.open.checkpoint_records = Some(positive(flag, value)?),
            "--durability" => {
                args.open.durability =
                    Some(parse_durability(flag, value)?.ok_or_else(|| {
                        format!("{flag}: {value:?} is not nosync, normal or sync")
                    })?);
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if args.report.is_none() {
        if args.from.is_some() {
            return Err("--from draws a report: it needs --report DIR".into());
        }
        if !args.peers.is_empty() {
            return Err("--peer is drawn in the report: it needs --report DIR".into());
        }
    }
    if args.from.is_some() && args.json.is_some() {
        return Err("--from measures nothing, so --json has nothing to write".into());
    }
    Ok(Mode::Bench(args))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a whole number"))
}

fn positive<T: std::str::FromStr + Default + PartialEq>(
    flag: &str,
    value: &str,
) -> Result<T, String> {
    let n: T = number(flag, value)?;
    if n == T::default() {
        return Err(format!("{flag} must be at least 1"));
    }
    Ok(n)
}

fn positive_f64(flag: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e6 => Ok(s),
        _ => Err(format!(
            "{flag}: {value:?} is not a positive number of seconds"
        )),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_args(&argv) {
        Ok(Mode::Worker(w)) => worker(&w),
        Ok(Mode::Bench(args)) => match check_args(&args).and_then(|python| {
            let python_deque = read_compare_deque(&args)?;
            Ok((python, python_deque, read_report_inputs(&args)?))
        }) {
            Ok((python, python_deque, (peers, from))) => match from {
                Some(ours) => draw_report(&args, &ours, python.as_ref(), &peers),
                None => run(&args, python.as_ref(), python_deque.as_ref())
                    .and_then(|ours| draw_report(&args, &ours, python.as_ref(), &peers)),
            },
            Err(msg) => return usage_error(&msg),
        },
        Err(msg) if msg.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => return usage_error(&msg),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("bench: {msg}\n{USAGE}");
    ExitCode::from(2)
}

/// Checks the paths before anything is measured, and reads `--compare`.
fn check_args(args: &Args) -> Result<Option<Value>, String> {
    if !args.dir.is_dir() {
        return Err(format!("--dir {}: not a directory", args.dir.display()));
    }
    if let Some(out) = &args.json {
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) || out.is_dir() {
            return Err(format!("--json {}: cannot write there", out.display()));
        }
    }
    let Some(path) = &args.compare else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--compare {}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("--compare {}: {e}", path.display()))?;
    if !v.get("Cache").is_some_and(Value::is_object) {
        return Err(format!(
            "--compare {}: no \"Cache\" figures; expected scripts/bench_python.py's JSON",
            path.display()
        ));
    }
    Ok(Some(v))
}

/// Reads a JSON file of figures given to `flag`, which must have the object `key`.
fn read_figures(flag: &str, path: &Path, key: &str, what: &str) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    if !v.get(key).is_some_and(Value::is_object) {
        return Err(format!(
            "{flag} {}: no {key:?} figures; expected {what}",
            path.display()
        ));
    }
    Ok(v)
}

/// The peers' figures (`--peer`, with their names) and an earlier run's (`--from`).
type ReportInputs = (Vec<(String, Value)>, Option<Value>);

/// The report's inputs, read and checked before anything is measured; makes the `--report`
/// directory.
fn read_report_inputs(args: &Args) -> Result<ReportInputs, String> {
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).map_err(|e| format!("--report {}: {e}", dir.display()))?;
    }
    let shape = "the JSON of this bench's --json";
    let peers = args
        .peers
        .iter()
        .map(|(name, path)| Ok((name.clone(), read_figures("--peer", path, "Cache", shape)?)))
        .collect::<Result<_, String>>()?;
    let from = args
        .from
        .as_deref()
        .map(|path| read_figures("--from", path, "Cache", shape))
        .transpose()?;
    Ok((peers, from))
}

/// `--report DIR`: draws `DIR/bench.svg` and says where it is.
fn draw_report(
    args: &Args,
    ours: &Value,
    python: Option<&Value>,
    peers: &[(String, Value)],
) -> Res<()> {
    if let Some(dir) = &args.report {
        let path = report::write(dir, ours, python, peers)?;
        println!("report: {}", path.display());
    }
    Ok(())
}

/// Reads `--compare-deque`: `scripts/bench_deque_index.py`'s JSON.
fn read_compare_deque(args: &Args) -> Result<Option<Value>, String> {
    let Some(path) = &args.compare_deque else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--compare-deque {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("--compare-deque {}: {e}", path.display()))?;
    if !v.get("DequeIndex").is_some_and(Value::is_object) {
        return Err(format!(
            "--compare-deque {}: no \"DequeIndex\" figures; expected \
             scripts/bench_deque_index.py's JSON",
            path.display()
        ));
    }
    Ok(Some(v))
}

// ----- statistics -----------------------------------------------------------------------------

/// A latency summary, as Python's `stats()`.
struct Stats {
    median_us: f64,
    p90_us: f64,
    p99_us: f64,
    /// p99.9.
    p999_us: f64,
    /// p99.99.
    p9999_us: f64,
    max_us: f64,
    mean_us: f64,
    n: usize,
}

/// Python's `stats()`: sorted; median `ts[n // 2]`; `pXX` `ts[min(n - 1, int(n * 0.XX))]`.
fn stats(mut ts: Vec<u64>) -> Stats {
    ts.sort_unstable();
    let n = ts.len();
    let at = |i: usize| ts.get(i.min(n.saturating_sub(1))).copied().unwrap_or(0);
    // As Python's int(n * q): the same f64 product, truncated.
    let pct = |q: f64| at((n as f64 * q) as usize);
    let us = |ns: f64| (ns / 1000.0 * 100.0).round() / 100.0;
    let sum: u128 = ts.iter().map(|&t| u128::from(t)).sum();
    Stats {
        median_us: us(at(n / 2) as f64),
        p90_us: us(pct(0.90) as f64),
        p99_us: us(pct(0.99) as f64),
        p999_us: us(pct(0.999) as f64),
        p9999_us: us(pct(0.9999) as f64),
        max_us: us(ts.last().copied().unwrap_or(0) as f64),
        mean_us: if n == 0 {
            0.0
        } else {
            us(sum as f64 / n as f64)
        },
        n,
    }
}

impl Stats {
    fn to_ordered(&self) -> Ordered {
        let mut o = Ordered::new();
        o.val("median_us", json!(self.median_us));
        o.val("p90_us", json!(self.p90_us));
        o.val("p99_us", json!(self.p99_us));
        o.val("p999_us", json!(self.p999_us));
        o.val("p9999_us", json!(self.p9999_us));
        o.val("max_us", json!(self.max_us));
        o.val("mean_us", json!(self.mean_us));
        o.val("n", json!(self.n));
        o
    }
}

/// Times `f` once per key, each call on its own.
fn timed<K>(keys: &[K], mut f: impl FnMut(&K) -> Res<()>) -> Res<Stats> {
    let mut ts = Vec::with_capacity(keys.len());
    for k in keys {
        let t = Instant::now();
        f(k)?;
        ts.push(elapsed_ns(t));
    }
    Ok(stats(ts))
}

fn elapsed_ns(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A JSON object that keeps its keys in the order given (serde_json's `Map` sorts them).
struct Ordered(Vec<(&'static str, Node)>);

/// A value in an [`Ordered`] object: a nested ordered object or a plain JSON value.
enum Node {
    Obj(Ordered),
    Val(Value),
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            match v {
                Node::Obj(o) => map.serialize_entry(k, o)?,
                Node::Val(v) => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

impl Ordered {
    fn new() -> Ordered {
        Ordered(Vec::new())
    }
    fn val(&mut self, k: &'static str, v: Value) {
        self.0.push((k, Node::Val(v)));
    }
    fn obj(&mut self, k: &'static str, o: Ordered) {
        self.0.push((k, Node::Obj(o)));
    }
    fn stats(&mut self, k: &'static str, s: &Stats) {
        self.obj(k, s.to_ordered());
    }
}

// ----- the single-process workload ------------------------------------------------------------

/// The calls the workload makes, on a [`Cache`] or a [`FanoutCache`]: bytes stored as bytes
/// (see the module's documentation), one call of the cache's each.
trait Store {
    /// Python's `set`: `Ok(false)` if a fanout shard's lock was not had in time.
    fn put(&self, key: &str, value: &[u8]) -> Res<bool>;
    /// Python's `get`.
    fn fetch(&self, key: &str) -> Res<Option<ByteBuf>>;
    /// Python's `incr(key)`: adds 1, from 0 if absent.
    fn bump(&self, key: &str) -> Res<()>;
    /// Python's `delete`: whether the key was there.
    fn remove(&self, key: &str) -> Res<bool>;
    /// Python's `read`: a reader of the value.
    fn reader(&self, key: &str) -> Res<Option<ValueReader>>;
    /// Python's `len`.
    fn count(&self) -> Res<u64>;
}

impl Store for Cache {
    fn put(&self, key: &str, value: &[u8]) -> Res<bool> {
        self.set(key, Bytes::new(value))?;
        Ok(true)
    }
    fn fetch(&self, key: &str) -> Res<Option<ByteBuf>> {
        Ok(self.get::<ByteBuf>(key)?)
    }
    fn bump(&self, key: &str) -> Res<()> {
        black_box(self.incr(key, 1, Some(0))?);
        Ok(())
    }
    fn remove(&self, key: &str) -> Res<bool> {
        Ok(self.delete(key)?)
    }
    fn reader(&self, key: &str) -> Res<Option<ValueReader>> {
        Ok(self.get_reader(key)?)
    }
    fn count(&self) -> Res<u64> {
        Ok(self.len()?)
    }
}

impl Store for FanoutCache {
    fn put(&self, key: &str, value: &[u8]) -> Res<bool> {
        Ok(self.set(key, Bytes::new(value))?)
    }
    fn fetch(&self, key: &str) -> Res<Option<ByteBuf>> {
        Ok(self.get::<ByteBuf>(key)?)
    }
    fn bump(&self, key: &str) -> Res<()> {
        match self.incr(key, 1, Some(0))? {
            Some(n) => {
                black_box(n);
                Ok(())
            }
            None => Err(format!("{key}: incr timed out").into()),
        }
    }
    fn remove(&self, key: &str) -> Res<bool> {
        Ok(self.delete(key)?)
    }
    fn reader(&self, key: &str) -> Res<Option<ValueReader>> {
        Ok(self.get_reader(key)?)
    }
    fn count(&self) -> Res<u64> {
        Ok(self.len()?)
    }
}

/// A set that must be done: a fanout cache's `Ok(false)` (a timeout) is an error here.
fn put_done<S: Store>(cache: &S, key: &str, value: &[u8]) -> Res<()> {
    if cache.put(key, value)? {
        Ok(())
    } else {
        Err(format!("{key}: set timed out").into())
    }
}

fn bytes_value(v: Option<ByteBuf>, len: usize, key: &str) -> Res<()> {
    match v {
        Some(b) if b.len() == len => {
            black_box(b);
            Ok(())
        }
        Some(b) => Err(format!("{key}: got {} bytes, expected {len}", b.len()).into()),
        None => Err(format!("{key}: missing").into()),
    }
}

/// Python's `warm_up`: every code path once per key, on keys the measured phase never uses.
fn warm_up<S: Store>(cache: &S, n: usize, big: &[u8]) -> Res<()> {
    for i in 0..n {
        put_done(cache, &format!("warm-{i}"), &SMALL)?;
        black_box(cache.fetch(&format!("warm-{i}"))?);
        black_box(cache.fetch(&format!("warm-miss-{i}"))?);
        cache.bump("warm-counter")?;
    }
    for i in 0..n {
        cache.remove(&format!("warm-{i}"))?;
    }
    cache.remove("warm-counter")?;
    for i in 0..5 {
        put_done(cache, &format!("warm-big-{i}"), big)?;
        black_box(cache.fetch(&format!("warm-big-{i}"))?);
        cache.remove(&format!("warm-big-{i}"))?;
    }
    Ok(())
}

/// Python's `single()` on a `Cache` or a `FanoutCache`: (the ops under "Cache" or
/// "FanoutCache", the extras).
fn single<S: Store>(cache: &S, n: usize, warm: usize) -> Res<(Ordered, Ordered)> {
    let big = vec![b'y'; BIG_LEN];
    warm_up(cache, warm, &big)?;
    let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
    let miss: Vec<String> = (0..n).map(|i| format!("miss-{i}")).collect();
    let bigs: Vec<String> = (0..BIG_N).map(|i| format!("big-{i}")).collect();
    let (mut r, mut x) = (Ordered::new(), Ordered::new());

    let set = |k: &String| put_done(cache, k, &SMALL);
    r.stats("set", &timed(&keys, set)?);
    r.stats(
        "get_hit",
        &timed(&keys, |k| bytes_value(cache.fetch(k)?, SMALL.len(), k))?,
    );
    r.stats(
        "get_miss",
        &timed(&miss, |k| match cache.fetch(k)? {
            None => Ok(()),
            Some(_) => Err(format!("{k}: found, expected a miss").into()),
        })?,
    );
    r.stats("incr", &timed(&keys, |_| cache.bump("counter"))?);
    x.stats("set_update", &timed(&keys, set)?);
    r.stats(
        "delete",
        &timed(&keys, |k| {
            if cache.remove(k)? {
                Ok(())
            } else {
                Err(format!("{k}: delete found nothing").into())
            }
        })?,
    );
    r.stats("set_1MiB", &timed(&bigs, |k| put_done(cache, k, &big))?);
    r.stats(
        "get_1MiB",
        &timed(&bigs, |k| bytes_value(cache.fetch(k)?, BIG_LEN, k))?,
    );
    x.stats(
        "get_1MiB_read",
        &timed(&bigs, |k| {
            let mut reader = cache.reader(k)?.ok_or_else(|| format!("{k}: missing"))?;
            let mut buf = Vec::with_capacity(usize::try_from(reader.len())?);
            reader.read_to_end(&mut buf)?;
            bytes_value(Some(ByteBuf::from(buf)), BIG_LEN, k)
        })?,
    );
    for k in &bigs {
        cache.remove(k)?;
    }
    let len = cache.count()?;
    if len != 1 {
        return Err(format!("{len} entries left, expected 1 (\"counter\")").into());
    }
    Ok((r, x))
}

/// The floor for `get_1MiB`: `fs::read` of a 1 MiB file just written, plus its crc32.
fn read_plus_crc(dir: &Path) -> Res<Stats> {
    std::fs::create_dir_all(dir)?;
    let big = vec![b'y'; BIG_LEN];
    let files: Vec<PathBuf> = (0..BIG_N)
        .map(|i| dir.join(format!("raw-{i}.bin")))
        .collect();
    for f in &files {
        std::fs::write(f, &big)?;
    }
    // One untimed pass, as the cache's warm-up reads big values before it is timed.
    for f in files.iter().take(5) {
        black_box(crc32fast::hash(&std::fs::read(f)?));
    }
    let s = timed(&files, |f| {
        let bytes = std::fs::read(f)?;
        black_box(crc32fast::hash(&bytes));
        drop(black_box(bytes));
        Ok(())
    })?;
    for f in &files {
        std::fs::remove_file(f)?;
    }
    Ok(s)
}

// ----- eviction -------------------------------------------------------------------------------

/// `get_hit_lru`: N gets of keys just set, on a least-recently-used cache (each hit notes its
/// access, which the janitor logs and a checkpoint folds into the order table).
fn get_hit_lru(dir: &Path, n: usize, warm: usize, open: OpenArgs) -> Res<Stats> {
    let cache = open
        .builder()
        .eviction_policy(EvictionPolicy::LeastRecentlyUsed)
        .open(dir)?;
    warm_up(&cache, warm, &vec![b'y'; BIG_LEN])?;
    let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
    for k in &keys {
        cache.set(k.as_str(), Bytes::new(&SMALL))?;
    }
    let s = timed(&keys, |k| {
        bytes_value(cache.get::<ByteBuf>(k.as_str())?, SMALL.len(), k)
    })?;
    cache.close()?;
    Ok(s)
}

/// `set_at_limit`: N inserts of new keys on a least-recently-stored cache whose size limit is
/// the volume of [`AT_LIMIT`] entries, `cull_limit` 10: the write that crosses the limit culls
/// ten entries. Returns the figures and how many entries are left.
fn set_at_limit(dir: &Path, n: usize, warm: usize, open: OpenArgs) -> Res<(Stats, u64)> {
    let cache = open
        .builder()
        .eviction_policy(EvictionPolicy::LeastRecentlyStored)
        .cull_limit(10)
        .open(dir)?;
    warm_up(&cache, warm, &vec![b'y'; BIG_LEN])?;
    for i in 0..AT_LIMIT {
        cache.set(format!("fill-{i}"), Bytes::new(&SMALL))?;
    }
    cache.reset(Setting::SizeLimit(cache.volume()?))?;
    let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
    let s = timed(&keys, |k| Ok(cache.set(k.as_str(), Bytes::new(&SMALL))?))?;
    // Near the limit, not at it exactly: the keys grow longer, and a write may cull fewer.
    let len = cache.len()?;
    if !(AT_LIMIT * 9 / 10..=AT_LIMIT * 11 / 10).contains(&usize::try_from(len)?) {
        return Err(format!("set_at_limit: {len} entries left, expected about {AT_LIMIT}").into());
    }
    cache.close()?;
    Ok((s, len))
}

/// Python diskcache's counterparts of [`get_hit_lru`] and [`set_at_limit`], run by `python3`
/// with arguments DIR N WARM AT_LIMIT; prints one JSON object.
const PY_EVICTION: &str = r#"
import json, sys, time
import diskcache

SMALL = b"x" * 100
BIG = b"y" * (1 << 20)


def stats(ts):
    ts = sorted(ts)
    n = len(ts)
    us = lambda v: round(v / 1000.0, 2)  # noqa: E731
    return {
        "median_us": us(ts[n // 2]),
        "p90_us": us(ts[min(n - 1, int(n * 0.90))]),
        "p99_us": us(ts[min(n - 1, int(n * 0.99))]),
        "p999_us": us(ts[min(n - 1, int(n * 0.999))]),
        "p9999_us": us(ts[min(n - 1, int(n * 0.9999))]),
        "max_us": us(ts[-1]),
        "mean_us": us(sum(ts) / n),
        "n": n,
    }


def timed(fn, keys):
    clock = time.perf_counter_ns
    ts = []
    for k in keys:
        t = clock()
        fn(k)
        ts.append(clock() - t)
    return stats(ts)


def warm_up(cache, n):
    for i in range(n):
        cache.set(f"warm-{i}", SMALL)
        cache.get(f"warm-{i}")
        cache.get(f"warm-miss-{i}")
        cache.incr("warm-counter")
    for i in range(n):
        cache.delete(f"warm-{i}")
    cache.delete("warm-counter")
    for i in range(5):
        cache.set(f"warm-big-{i}", BIG)
        cache.get(f"warm-big-{i}")
        cache.delete(f"warm-big-{i}")


base, n, warm, fill = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keys = [f"key-{i}" for i in range(n)]
out = {"diskcache_version": diskcache.__version__}
with diskcache.Cache(base + "/lru", eviction_policy="least-recently-used") as c:
    warm_up(c, warm)
    for k in keys:
        c.set(k, SMALL)
    out["get_hit_lru"] = timed(c.get, keys)
with diskcache.Cache(base + "/limit", eviction_policy="least-recently-stored", cull_limit=10) as c:
    warm_up(c, warm)
    for i in range(fill):
        c.set(f"fill-{i}", SMALL)
    c.reset("size_limit", c.volume())
    out["set_at_limit"] = timed(lambda k: c.set(k, SMALL), keys)
    out["set_at_limit_len_after"] = len(c)
print(json.dumps(out))
"#;

/// Runs [`PY_EVICTION`]; `None` (with a warning) if python3 or its diskcache is missing or fails.
fn python_eviction(dir: &Path, n: usize, warm: usize) -> Option<Value> {
    std::fs::create_dir_all(dir).ok()?;
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY_EVICTION)
        .arg(dir)
        .arg(n.to_string())
        .arg(warm.to_string())
        .arg(AT_LIMIT.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    match out {
        Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("bench: warning: python eviction figures unreadable: {e}");
                None
            }
        },
        Ok(o) => {
            eprintln!(
                "bench: warning: python eviction script failed: {}",
                o.status
            );
            None
        }
        Err(e) => {
            eprintln!("bench: warning: cannot run python3 for the eviction rows: {e}");
            None
        }
    }
}

// ----- the multi-process mixes ----------------------------------------------------------------

/// What a worker prints: one JSON line.
#[derive(serde::Serialize, serde::Deserialize)]
struct WorkerReport {
    ops: u64,
    elapsed_s: f64,
    get_ns: Vec<u64>,
    set_ns: Vec<u64>,
    set_false: u64,
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// One worker process of a mix (Python's `worker`).
fn worker(w: &WorkerArgs) -> Res<()> {
    match w.kind {
        Kind::Cache => worker_on(&w.open.open(&w.dir)?, w),
        Kind::Fanout => worker_on(&w.open.fanout(&w.dir)?, w),
    }
}

/// The worker's loop on its open cache; prints its report.
fn worker_on<S: Store>(cache: &S, w: &WorkerArgs) -> Res<()> {
    black_box(cache.fetch("key-0")?); // open everything before the clock starts
    let now = unix_ns();
    if w.start_at_ns > now {
        let wait = u64::try_from(w.start_at_ns - now).unwrap_or(u64::MAX);
        std::thread::sleep(Duration::from_nanos(wait));
    } else {
        eprintln!(
            "bench worker {}: started {:.1} ms after the common start",
            w.seed,
            (now - w.start_at_ns) as f64 / 1e6
        );
    }
    let (mut get_ns, mut set_ns) = (Vec::new(), Vec::new());
    let mut set_false = 0;
    let mut i = w.seed;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(w.seconds);
    while Instant::now() < end {
        let k = format!("key-{}", i % MIX_KEYS);
        let t = Instant::now();
        if i.is_multiple_of(w.set_every) {
            let done = cache.put(&k, &SMALL)?;
            set_ns.push(elapsed_ns(t));
            if !done {
                set_false += 1;
            }
        } else {
            black_box(cache.fetch(&k)?);
            get_ns.push(elapsed_ns(t));
        }
        i += 1;
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let report = WorkerReport {
        ops: (get_ns.len() + set_ns.len()) as u64,
        elapsed_s,
        get_ns,
        set_ns,
        set_false,
    };
    let mut line = serde_json::to_string(&report)?;
    line.push('\n');
    std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes())?;
    Ok(())
}

/// The keys a mix works on, each set once.
fn populate<S: Store>(cache: &S) -> Res<()> {
    for i in 0..MIX_KEYS {
        put_done(cache, &format!("key-{i}"), &SMALL)?;
    }
    Ok(())
}

/// Python's `multi()`: P processes on one pre-populated cache of `kind` for `seconds`; a set
/// every `set_every` ops.
fn multi(
    kind: Kind,
    dir: &Path,
    procs: u64,
    seconds: f64,
    set_every: u64,
    open: OpenArgs,
) -> Res<Ordered> {
    match kind {
        Kind::Cache => populate(&open.open(dir)?)?,
        Kind::Fanout => populate(&open.fanout(dir)?)?,
    }
    let exe = std::env::current_exe()?;
    let start_at = unix_ns() + START_DELAY.as_nanos();
    let mut children = Vec::new();
    for p in 0..procs {
        let child = Command::new(&exe)
            .arg("--worker")
            .arg(dir)
            .arg(seconds.to_string())
            .arg((p * 7919).to_string())
            .arg(start_at.to_string())
            .arg(set_every.to_string())
            .args(open.worker_args())
            .arg(kind.name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        children.push(child);
    }
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for (p, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            failed.push(format!("worker {p}: {}", out.status));
            continue;
        }
        reports.push(serde_json::from_slice::<WorkerReport>(&out.stdout)?);
    }
    if !failed.is_empty() {
        return Err(failed.join("; ").into());
    }
    let ops: u64 = reports.iter().map(|r| r.ops).sum();
    let rate: f64 = reports
        .iter()
        .map(|r| r.ops as f64 / r.elapsed_s.max(f64::MIN_POSITIVE))
        .sum();
    let set_false: u64 = reports.iter().map(|r| r.set_false).sum();
    let mut get_ts = Vec::new();
    let mut set_ts = Vec::new();
    for r in reports {
        get_ts.extend(r.get_ns);
        set_ts.extend(r.set_ns);
    }
    let mut o = Ordered::new();
    o.val("kind", json!(kind.name()));
    o.val("procs", json!(procs));
    o.val("seconds", json!(seconds));
    o.val("ops", json!(ops));
    o.val("ops_per_s", json!(rate.round() as u64));
    o.stats("get", &stats(get_ts));
    o.stats("set", &stats(set_ts));
    o.val("set_returned_false", json!(set_false));
    Ok(o)
}

// ----- environment ----------------------------------------------------------------------------

/// (device, fstype, mount point) of the file system holding `path`, from /proc/mounts.
fn mount_of(path: &Path) -> Value {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut best = ("?".to_owned(), "?".to_owned(), String::new());
    if let Ok(mounts) = std::fs::read_to_string("/proc/mounts") {
        for line in mounts.lines() {
            let mut f = line.split_whitespace();
            let (Some(dev), Some(mnt), Some(fstype)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if path.starts_with(mnt) && mnt.len() >= best.2.len() {
                best = (dev.to_owned(), fstype.to_owned(), mnt.to_owned());
            }
        }
    }
    let device = Path::new(&best.0)
        .file_name()
        .map_or(best.0.clone(), |d| d.to_string_lossy().into_owned());
    json!({"device": device, "fstype": best.1, "mount": best.2})
}

/// The version of `name` in the crate's Cargo.lock, as built.
fn locked_version(name: &str) -> String {
    let lock = include_str!("../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|at| lock.get(at + needle.len()..))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("?")
        .to_owned()
}

fn rustc_version() -> String {
    Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "?".to_owned(), |s| s.trim().to_owned())
}

fn env_json(base: &Path, open: OpenArgs) -> Ordered {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned());
    let mut o = Ordered::new();
    o.val("rustc", json!(rustc_version()));
    o.val("redb", json!(locked_version("redb")));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    o.val("profile", json!(profile));
    let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
    o.val("platform", json!(format!("{os}-{kernel}-{arch}")));
    o.val("machine", json!(arch));
    o.val("tmp_fs", mount_of(base));
    o.val("write_path", json!(write_path_name(open.write_path)));
    o.val("checkpoint_records", json!(open.checkpoint_records));
    o.val("durability", json!(open.durability.map(durability_name)));
    o.val("fanout_shards", json!(DEFAULT_SHARDS));
    o
}

// ----- Deque and Index ------------------------------------------------------------------------

/// `Deque` push/pop and `Index` insert/get, as `scripts/bench_deque_index.py` times Python's.
fn deque_index(dir: &Path, n: usize, warm: usize, open: OpenArgs) -> Res<Ordered> {
    let mut out = Ordered::new();
    let builder = || open.builder().eviction_policy(EvictionPolicy::None);
    let deque: Deque<ByteBuf> = Deque::from_cache(builder().open(dir.join("deque"))?);
    for _ in 0..warm {
        deque.push_back(Bytes::new(&SMALL))?;
    }
    for _ in 0..warm {
        black_box(deque.pop_front()?);
    }
    deque.clear()?;
    let count: Vec<usize> = (0..n).collect();
    let push = timed(&count, |_| Ok(deque.push_back(Bytes::new(&SMALL))?))?;
    out.stats("deque_push_back", &push);
    let pop = timed(&count, |_| {
        let item = deque.pop_front()?;
        bytes_value(item, SMALL.len(), "deque item")
    })?;
    out.stats("deque_pop_front", &pop);
    if !deque.is_empty()? {
        return Err("the deque is not empty after its pops".into());
    }
    deque.cache().clone().close()?;

    let index: Index<String, ByteBuf> = Index::from_cache(builder().open(dir.join("index"))?);
    for i in 0..warm {
        index.insert(&format!("warm-{i}"), Bytes::new(&SMALL))?;
        black_box(index.get(&format!("warm-{i}"))?);
    }
    index.clear()?;
    let keys: Vec<String> = (0..n).map(|i| format!("key-{i}")).collect();
    let insert = timed(&keys, |k| Ok(index.insert(k, Bytes::new(&SMALL))?))?;
    out.stats("index_insert", &insert);
    let get = timed(&keys, |k| bytes_value(index.get(k)?, SMALL.len(), k))?;
    out.stats("index_get", &get);
    if index.len()? != n as u64 {
        return Err("the index lost keys".into());
    }

    // The queue methods of a plain cache (Python's `Cache.push`/`Cache.pull`).
    let cache = open.builder().open(dir.join("queue"))?;
    let push = timed(&count, |_| {
        Ok(cache
            .push(Bytes::new(&SMALL), None, Side::Back, SetOptions::default())
            .map(|_| ())?)
    })?;
    out.stats("cache_push", &push);
    let pull = timed(&count, |_| {
        let item = cache.pull::<ByteBuf>(None, Side::Front)?.map(|(_, v)| v);
        bytes_value(item, SMALL.len(), "queue item")
    })?;
    out.stats("cache_pull", &pull);
    Ok(out)
}

// ----- the run and its table ------------------------------------------------------------------

/// Measures everything, prints the tables, writes `--json`; returns our figures.
fn run(args: &Args, python: Option<&Value>, python_deque: Option<&Value>) -> Res<Value> {
    if cfg!(debug_assertions) {
        eprintln!(
            "bench: warning: a debug build; run with --release for figures that mean anything"
        );
    }
    let t0 = Instant::now();
    let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let env = env_json(&args.dir, args.open);
    let tmp = tempfile::Builder::new()
        .prefix("diskcache-bench-")
        .tempdir_in(&args.dir)
        .map_err(|e| format!("--dir {}: {e}", args.dir.display()))?;

    let cache = args.open.open(&tmp.path().join("c"))?;
    let (ops, mut extras) = single(&cache, args.ops, args.warm)?;
    cache.close()?;
    let fanout = args.open.fanout(&tmp.path().join("f"))?;
    let (fanout_ops, fanout_extras) = single(&fanout, args.ops, args.warm)?;
    fanout.close()?;
    let floor = read_plus_crc(&tmp.path().join("raw"))?;
    extras.stats("read_plus_crc_1MiB", &floor);
    let lru = get_hit_lru(&tmp.path().join("lru"), args.ops, args.warm, args.open)?;
    extras.stats("get_hit_lru", &lru);
    let (limit, limit_len) =
        set_at_limit(&tmp.path().join("limit"), args.ops, args.warm, args.open)?;
    extras.stats("set_at_limit", &limit);
    let deque_index = deque_index(&tmp.path().join("dq"), args.ops, args.warm, args.open)?;
    let py_eviction = python
        .is_some()
        .then(|| python_eviction(&tmp.path().join("py"), args.ops, args.warm))
        .flatten();
    let (procs, seconds) = (args.procs, args.seconds);
    let mixed = multi(
        Kind::Cache,
        &tmp.path().join("m"),
        procs,
        seconds,
        10,
        args.open,
    )?;
    let mixed50 = multi(
        Kind::Cache,
        &tmp.path().join("m50"),
        procs,
        seconds,
        2,
        args.open,
    )?;
    let mixed_fanout = multi(
        Kind::Fanout,
        &tmp.path().join("mf"),
        procs,
        seconds,
        10,
        args.open,
    )?;
    drop(tmp);
    let wall_s = (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0;

    let mut all_extras = Ordered::new();
    all_extras.obj("Cache", extras);
    all_extras.obj("FanoutCache", fanout_extras);
    all_extras.obj("mixed_fanout", mixed_fanout);
    all_extras.obj("mixed_4proc_50set", mixed50);
    all_extras.val("set_at_limit_len_after", json!(limit_len));
    all_extras.obj("DequeIndex", deque_index);
    if let Some(py) = &py_eviction {
        all_extras.val("python_eviction", py.clone());
    }
    let mut result = Ordered::new();
    result.val("diskcache_version", json!(env!("CARGO_PKG_VERSION")));
    result.val("nproc", json!(nproc));
    result.obj("env", env);
    result.obj("extras", all_extras);
    result.obj("Cache", ops);
    result.obj("FanoutCache", fanout_ops);
    result.obj("mixed_4proc_90get", mixed);
    result.val("wall_s", json!(wall_s));

    // The python columns of the eviction rows come from the inline script, if it ran.
    let python = python.map(|py| {
        let mut py = py.clone();
        if let (Some(inline), Some(Value::Object(extras))) =
            (&py_eviction, py.pointer_mut("/extras/Cache"))
        {
            for op in EVICTION_OPS {
                if let Some(s) = inline.get(op) {
                    extras.insert(op.to_owned(), s.clone());
                }
            }
        }
        py
    });
    let result_value = serde_json::to_value(&result)?;
    print!("{}", table(&result_value, python.as_ref(), args));
    if args.latency {
        print!("{}", latency_table(&result_value, python.as_ref()));
    }
    print!("{}", deque_table(&result_value, python_deque));
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&result)?;
        text.push('\n');
        std::fs::write(path, text).map_err(|e| format!("--json {}: {e}", path.display()))?;
    }
    Ok(result_value)
}

/// Looks a path of keys up in a JSON value.
fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn f(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

fn cell(v: Option<f64>, width: usize) -> String {
    v.map_or_else(|| format!("{:>width$}", "-"), |v| format!("{v:>width$.1}"))
}

fn ratio(num: Option<f64>, den: Option<f64>) -> String {
    match (num, den) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:>7.2}x", a / b),
        _ => format!("{:>8}", "-"),
    }
}

fn mix_line(name: &str, ours: Option<&Value>, py: Option<&Value>) -> String {
    let g = |v: Option<&Value>, p: &[&str]| v.and_then(|v| f(at(v, p)));
    let desc = |v: Option<&Value>| {
        format!(
            "{:.0} ops/s (get med {:.1} p99 {:.1} us; set med {:.1} p99 {:.1} max {:.1} us; \
             set false {:.0})",
            g(v, &["ops_per_s"]).unwrap_or(f64::NAN),
            g(v, &["get", "median_us"]).unwrap_or(f64::NAN),
            g(v, &["get", "p99_us"]).unwrap_or(f64::NAN),
            g(v, &["set", "median_us"]).unwrap_or(f64::NAN),
            g(v, &["set", "p99_us"]).unwrap_or(f64::NAN),
            g(v, &["set", "max_us"]).unwrap_or(f64::NAN),
            g(v, &["set_returned_false"]).unwrap_or(f64::NAN),
        )
    };
    let mut s = format!("{name}\n  ours:   {}\n", desc(ours));
    if py.is_some() {
        let r = ratio(g(ours, &["ops_per_s"]), g(py, &["ops_per_s"]));
        let _ = writeln!(
            s,
            "  python: {}\n  throughput ours / python: {} (>1 means we are faster)",
            desc(py),
            r.trim()
        );
    }
    s
}

/// The rows of the table: the ops under "Cache" (and "FanoutCache"), then the extras, in the
/// JSON's order.
const OPS: [&str; 7] = [
    "set", "get_hit", "get_miss", "incr", "delete", "set_1MiB", "get_1MiB",
];
const EXTRA_OPS: [&str; 5] = [
    "set_update",
    "get_1MiB_read",
    "read_plus_crc_1MiB",
    "get_hit_lru",
    "set_at_limit",
];
/// The extras measured on the `FanoutCache` too (Python's `single()` extras).
const FANOUT_EXTRA_OPS: [&str; 2] = ["set_update", "get_1MiB_read"];
/// The extras the inline Python script measures (see [`PY_EVICTION`]).
const EVICTION_OPS: [&str; 2] = ["get_hit_lru", "set_at_limit"];

/// The JSON paths of one kind's single-process rows: `(op, path)`.
fn op_paths(kind: Kind) -> Vec<(&'static str, Vec<&'static str>)> {
    let (name, extras): (&str, &[&str]) = match kind {
        Kind::Cache => ("Cache", &EXTRA_OPS),
        Kind::Fanout => ("FanoutCache", &FANOUT_EXTRA_OPS),
    };
    OPS.iter()
        .map(|&op| (op, vec![name, op]))
        .chain(extras.iter().map(|&op| (op, vec!["extras", name, op])))
        .collect()
}

/// The statistic `field` of the figures at `path`.
fn stat(v: &Value, path: &[&str], field: &str) -> Option<f64> {
    f(at(v, path).and_then(|v| v.get(field)))
}

/// A median / p99 table: its header (`title` in the op column), then one row per path.
fn median_rows(
    s: &mut String,
    title: &str,
    result: &Value,
    py: Option<&Value>,
    rows: &[(&str, Vec<&str>)],
) {
    let _ = write!(s, "\n{title:<20} {:>10} {:>9}", "ours med", "p99");
    if py.is_some() {
        let _ = write!(s, "   {:>10} {:>9}   {:>8}", "python med", "p99", "py/ours");
    }
    s.push('\n');
    for (op, path) in rows {
        let om = stat(result, path, "median_us");
        let _ = write!(
            s,
            "{op:<20} {} {}",
            cell(om, 10),
            cell(stat(result, path, "p99_us"), 9)
        );
        if let Some(py) = py {
            let pm = stat(py, path, "median_us");
            let p99 = cell(stat(py, path, "p99_us"), 9);
            let _ = write!(s, "   {} {p99}   {}", cell(pm, 10), ratio(pm, om));
        }
        s.push('\n');
    }
}

fn table(result: &Value, py: Option<&Value>, args: &Args) -> String {
    let mut s = String::new();
    let text = |v: &Value, p: &[&str]| at(v, p).map_or_else(|| "?".to_owned(), value_text);
    let _ = writeln!(
        s,
        "diskcache (Rust) {}, redb {}, nproc {}, tmp on {} ({}), n={}, warm={}, {} procs x {} s",
        text(result, &["diskcache_version"]),
        text(result, &["env", "redb"]),
        text(result, &["nproc"]),
        text(result, &["env", "tmp_fs", "device"]),
        text(result, &["env", "tmp_fs", "fstype"]),
        args.ops,
        args.warm,
        args.procs,
        args.seconds,
    );
    let _ = writeln!(
        s,
        "write path {}, checkpoint_records {}, durability {}; FanoutCache {} shards",
        text(result, &["env", "write_path"]),
        at(result, &["env", "checkpoint_records"])
            .filter(|v| !v.is_null())
            .map_or_else(|| "default (16384)".to_owned(), value_text),
        at(result, &["env", "durability"])
            .filter(|v| !v.is_null())
            .map_or_else(|| "default (normal)".to_owned(), value_text),
        text(result, &["env", "fanout_shards"]),
    );
    if let Some(py) = py {
        let _ = writeln!(
            s,
            "compared with Python diskcache {}, sqlite {}, nproc {}, tmp on {} ({}), n={} (--compare)",
            text(py, &["diskcache_version"]),
            text(py, &["env", "sqlite"]),
            text(py, &["nproc"]),
            text(py, &["env", "tmp_fs", "device"]),
            text(py, &["env", "tmp_fs", "fstype"]),
            text(py, &["Cache", "set", "n"]),
        );
    }
    median_rows(&mut s, "Cache (us)", result, py, &op_paths(Kind::Cache));
    if py.is_some() {
        s.push_str("(py/ours = python median / our median: >1 means we are faster)\n");
    }
    if let Some(inline) = at(result, &["extras", "python_eviction"]) {
        let _ = writeln!(
            s,
            "(get_hit_lru, set_at_limit: python measured in this run by an inline script, \
             diskcache {}; {} entries left at its limit, ours {})",
            text(inline, &["diskcache_version"]),
            text(inline, &["set_at_limit_len_after"]),
            text(result, &["extras", "set_at_limit_len_after"]),
        );
    }
    median_rows(
        &mut s,
        "FanoutCache (us)",
        result,
        py,
        &op_paths(Kind::Fanout),
    );
    let get = f(at(result, &["Cache", "get_1MiB", "median_us"]));
    let floor = f(at(
        result,
        &["extras", "Cache", "read_plus_crc_1MiB", "median_us"],
    ));
    let _ = writeln!(
        s,
        "\nget_1MiB vs read+crc: median {} us vs {} us = {} (target <= 1.25x)",
        cell(get, 0),
        cell(floor, 0),
        ratio(get, floor).trim()
    );
    for mix in mixes(args.procs) {
        let _ = write!(
            s,
            "\n{}",
            mix_line(
                &mix.title,
                at(result, &mix.path),
                py.filter(|_| mix.compared).and_then(|p| at(p, &mix.path)),
            )
        );
    }
    let _ = writeln!(s, "wall {} s", text(result, &["wall_s"]));
    s
}

/// A multi-process mix in the tables.
struct Mix {
    /// Its heading in the main table.
    title: String,
    /// Its short name in the latency table.
    label: &'static str,
    /// Where its figures are, in our JSON and Python's.
    path: Vec<&'static str>,
    /// Whether Python's anchor measures it.
    compared: bool,
}

/// The multi-process mixes, in the order they are printed.
fn mixes(procs: u64) -> [Mix; 3] {
    [
        Mix {
            title: format!("{procs} procs 90% get / 10% set, Cache (mixed_4proc_90get)"),
            label: "cache 90/10",
            path: vec!["mixed_4proc_90get"],
            compared: true,
        },
        Mix {
            title: format!("{procs} procs 90% get / 10% set, FanoutCache (extras.mixed_fanout)"),
            label: "fanout 90/10",
            path: vec!["extras", "mixed_fanout"],
            compared: true,
        },
        Mix {
            title: format!(
                "{procs} procs 50% get / 50% set, Cache (extras.mixed_4proc_50set, ours only)"
            ),
            label: "cache 50/50",
            path: vec!["extras", "mixed_4proc_50set"],
            compared: false,
        },
    ]
}

/// A row of the latency table: its label, the JSON path of its figures, whether Python's
/// anchor has them.
type LatencyRow = (String, Vec<&'static str>, bool);

/// `--latency`: per op, our p99, p99.9, p99.99 and max beside Python's.
fn latency_table(result: &Value, py: Option<&Value>) -> String {
    const FIELDS: [&str; 4] = ["p99_us", "p999_us", "p9999_us", "max_us"];
    let mut s = String::from("\nTail latency (us; --latency)");
    if py.is_none() {
        s.push_str("; --compare PY.json adds Python's");
    }
    s.push('\n');
    let mut mix_rows = Vec::new();
    for mix in mixes(0) {
        for side in ["get", "set"] {
            let mut path = mix.path.clone();
            path.push(side);
            mix_rows.push((format!("{} {side}", mix.label), path, mix.compared));
        }
    }
    let sections = [
        ("Cache", op_paths(Kind::Cache)),
        ("FanoutCache", op_paths(Kind::Fanout)),
    ];
    let mut rows: Vec<(String, Vec<LatencyRow>)> = sections
        .into_iter()
        .map(|(title, paths)| {
            let rows = paths
                .into_iter()
                .map(|(op, p)| (op.to_owned(), p, true))
                .collect();
            (title.to_owned(), rows)
        })
        .collect();
    rows.push(("mixes".to_owned(), mix_rows));
    for (title, section) in rows {
        let _ = write!(s, "\n{title:<20}");
        for side in ["ours", "python"] {
            if side == "python" && py.is_none() {
                continue;
            }
            let _ = write!(
                s,
                "   {:>9} {:>9} {:>9} {:>9}",
                format!("{side} p99"),
                "p99.9",
                "p99.99",
                "max"
            );
        }
        s.push('\n');
        for (op, path, compared) in section {
            let _ = write!(s, "{op:<20}");
            let theirs = py.filter(|_| compared);
            for v in std::iter::once(Some(result)).chain(py.map(|_| theirs)) {
                s.push_str("  ");
                for field in FIELDS {
                    let _ = write!(s, " {}", cell(v.and_then(|v| stat(v, &path, field)), 9));
                }
            }
            s.push('\n');
        }
    }
    s
}

/// The rows of the Deque/Index table (`extras.DequeIndex`).
const DEQUE_OPS: [&str; 6] = [
    "deque_push_back",
    "deque_pop_front",
    "index_insert",
    "index_get",
    "cache_push",
    "cache_pull",
];

/// Our `Deque`/`Index` figures, with Python's from `--compare-deque` beside them.
fn deque_table(result: &Value, py: Option<&Value>) -> String {
    let mut s = String::from("\nDeque / Index (extras.DequeIndex");
    match py {
        Some(py) => {
            let text = |p: &[&str]| at(py, p).map_or_else(|| "?".to_owned(), value_text);
            let _ = write!(
                s,
                "; python: diskcache {}, n={}, --compare-deque)",
                text(&["diskcache_version"]),
                text(&["n"])
            );
        }
        None => s.push_str("; --compare-deque PY2.json adds Python's)"),
    }
    let _ = write!(s, "\n{:<20} {:>10} {:>9}", "op (us)", "ours med", "p99");
    if py.is_some() {
        let _ = write!(s, "   {:>10} {:>9}   {:>8}", "python med", "p99", "py/ours");
    }
    s.push('\n');
    for op in DEQUE_OPS {
        let ours = |field: &str| f(at(result, &["extras", "DequeIndex", op, field]));
        let _ = write!(
            s,
            "{op:<20} {} {}",
            cell(ours("median_us"), 10),
            cell(ours("p99_us"), 9)
        );
        if let Some(py) = py {
            let theirs = |field: &str| f(at(py, &["DequeIndex", op, field]));
            let _ = write!(
                s,
                "   {} {}   {}",
                cell(theirs("median_us"), 10),
                cell(theirs("p99_us"), 9),
                ratio(theirs("median_us"), ours("median_us"))
            );
        }
        s.push('\n');
    }
    s
}

fn value_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}
