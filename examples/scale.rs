//! Footprint and speed as the cache grows: for each size N, fill time, peak resident memory
//! per phase, bytes on disk per entry, `volume()`, and get/set medians, beside Python
//! diskcache's for the same sizes (`scripts/scale_python.py`).
//!
//! ```text
//! cargo run --release --example scale -- [--sizes 10000,100000,1000000] [--budgets B,...]
//!     [--json OUT.json] [--compare PY.json] [--dir BASE]
//! python3 scripts/scale_python.py 10000 100000 1000000 --json PY.json
//! ```
//!
//! Each phase runs in a child process of its own (this executable started again with a hidden
//! `--child` flag), so that its peak resident memory (`VmHWM` of `/proc/self/status`, Linux
//! only; `-` elsewhere) is that phase's alone. For each N, in a fresh directory under `--dir`
//! (default: the system temp directory; removed at the end):
//!
//! - `fill`: open, N `set`s of new keys `"key-%d"` with a 100-byte value, close; the time
//!   covers open, sets and close (which checkpoints the log into the database). Then, from the
//!   parent: the bytes of every file in the directory (their lengths, and what the file system
//!   allocated to them), and of `cache.redb` alone, per entry.
//! - `read`: a fresh process opens the cache, does 20,000 gets of random existing keys (the
//!   median is `get_fresh`), 100,000 more untimed, 20,000 timed again (`get_warm`), then
//!   20,000 gets of keys never set (`get_miss`), and reads `volume()`.
//! - `set`: a fresh process sets 20,000 new keys `"new-%d"` (`set_new`), then closes.
//! - `check`: `check(false)` in a fresh process; `compact`: `compact()` in a fresh process, and
//!   the directory's bytes after it (Python diskcache has no `compact`).
//!
//! `--budgets B1,B2,...` (bytes; suffixes k, M, G of 1024) runs the `read` phase once per
//! budget (each handle opened with [`CacheBuilder::memory_budget`]) and prints a row per budget:
//! the trade between read speed and memory. The other phases use the first budget; without
//! the flag, every handle has the default budget.
//!
//! `--compare PY.json` prints Python's figures from the JSON `scripts/scale_python.py` wrote
//! beside ours, with the ratio python / ours (above 1: ours is faster, or smaller).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use diskcache::CacheBuilder;
use serde_bytes::{ByteBuf, Bytes};
use serde_json::{Value, json};

/// The value of every entry: 100 bytes, stored inline.
const VALUE: [u8; 100] = [b'x'; 100];
/// Timed operations per measured phase.
const TIMED: usize = 20_000;
/// Untimed gets between the fresh and the warm medians.
const WARMING: usize = 100_000;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, as flag -> value.
struct Args(BTreeMap<String, String>);

impl Args {
    fn parse() -> Res<Args> {
        let mut map = BTreeMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag}"))?;
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            map.insert(name.to_owned(), value);
        }
        Ok(Args(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn need(&self, name: &str) -> Res<&str> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is needed").into())
    }
}

fn run() -> Res<()> {
    let args = Args::parse()?;
    if let Some(phase) = args.get("child") {
        let budget = args.get("budget").map(parse_bytes).transpose()?;
        let out = child(
            phase,
            Path::new(args.need("dir")?),
            args.need("n")?.parse()?,
            budget,
        )?;
        println!("{out}");
        return Ok(());
    }
    let sizes: Vec<u64> = args
        .get("sizes")
        .unwrap_or("10000,100000,1000000")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let budgets: Vec<Option<u64>> = match args.get("budgets") {
        Some(list) => list
            .split(',')
            .map(|b| parse_bytes(b).map(Some))
            .collect::<Res<_>>()?,
        None => vec![None],
    };
    let base = args
        .get("dir")
        .map_or_else(std::env::temp_dir, PathBuf::from);
    let python = match args.get("compare") {
        Some(path) => Some(serde_json::from_str::<Value>(&std::fs::read_to_string(
            path,
        )?)?),
        None => None,
    };
    let mut all = serde_json::Map::new();
    for &n in &sizes {
        let dir = tempfile::Builder::new()
            .prefix("scale-")
            .tempdir_in(&base)?;
        let figures = measure(dir.path(), n, &budgets)?;
        let py = python
            .as_ref()
            .and_then(|p| p.get("sizes")?.get(n.to_string()).cloned());
        print_table(n, &figures, py.as_ref());
        all.insert(n.to_string(), figures);
    }
    if let Some(path) = args.get("json") {
        let out = json!({ "sizes": all, "env": env() });
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
    }
    Ok(())
}

/// Bytes, with an optional suffix k, M or G (powers of 1024).
fn parse_bytes(text: &str) -> Res<u64> {
    let (digits, shift) = match text.chars().last() {
        Some('k' | 'K') => (&text[..text.len() - 1], 10),
        Some('M') => (&text[..text.len() - 1], 20),
        Some('G') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let n: u64 = digits.parse()?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text}: too many bytes").into())
}

/// Every phase for one size, each in a child process; their figures in one object.
fn measure(dir: &Path, n: u64, budgets: &[Option<u64>]) -> Res<Value> {
    let cache = dir.join("cache");
    let first = budgets.first().copied().flatten();
    let mut out = serde_json::Map::new();
    let fill = spawn("fill", &cache, n, first)?;
    out.insert("fill".into(), fill);
    let (total, db) = disk_bytes(&cache)?;
    out.insert("disk_bytes".into(), json!(total));
    out.insert("db_file_bytes".into(), json!(db));
    out.insert("disk_per_entry".into(), json!(total as f64 / n as f64));
    let allocated = allocated_bytes(&cache)?;
    out.insert(
        "disk_allocated_per_entry".into(),
        json!(allocated as f64 / n as f64),
    );
    out.insert("db_file_per_entry".into(), json!(db as f64 / n as f64));
    let mut reads = Vec::new();
    for &budget in budgets {
        let mut read = spawn("read", &cache, n, budget)?;
        read["budget"] = json!(budget);
        reads.push(read);
    }
    out.insert("read".into(), reads[0].clone());
    if budgets.len() > 1 {
        out.insert("read_by_budget".into(), Value::Array(reads));
    }
    out.insert("set".into(), spawn("set", &cache, n, first)?);
    out.insert("check".into(), spawn("check", &cache, n, first)?);
    out.insert("compact".into(), spawn("compact", &cache, n, first)?);
    out.insert(
        "disk_bytes_after_compact".into(),
        json!(disk_bytes(&cache)?.0),
    );
    Ok(Value::Object(out))
}

/// Runs one phase in a child process and returns the JSON object it printed.
fn spawn(phase: &str, dir: &Path, n: u64, budget: Option<u64>) -> Res<Value> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["--child", phase, "--n", &n.to_string(), "--dir"])
        .arg(dir);
    if let Some(b) = budget {
        cmd.args(["--budget", &b.to_string()]);
    }
    let output = cmd.output()?;
    if !output.status.success() {
        return Err(format!(
            "phase {phase} (N={n}) failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// One phase, in the child process; its figures, with the process's peak resident memory.
fn child(phase: &str, dir: &Path, n: u64, budget: Option<u64>) -> Res<Value> {
    let builder = match budget {
        Some(b) => CacheBuilder::new().memory_budget(b),
        None => CacheBuilder::new(),
    };
    let mut rng = SplitMix(0x5ca1e ^ n);
    let mut out = match phase {
        "fill" => {
            let start = Instant::now();
            let cache = builder.open(dir)?;
            for i in 0..n {
                cache.set(format!("key-{i}"), Bytes::new(&VALUE))?;
            }
            cache.close()?;
            json!({ "seconds": start.elapsed().as_secs_f64() })
        }
        "read" => {
            let cache = builder.open(dir)?;
            let get = |key: String| -> Res<u64> {
                let start = Instant::now();
                let value = cache.get::<ByteBuf>(key)?;
                let ns = start.elapsed().as_nanos() as u64;
                std::hint::black_box(value);
                Ok(ns)
            };
            let timed = |count: usize, key: &mut dyn FnMut() -> String| -> Res<f64> {
                let ts = (0..count).map(|_| get(key())).collect::<Res<Vec<u64>>>()?;
                Ok(median_us(ts))
            };
            let fresh = timed(TIMED, &mut || format!("key-{}", rng.below(n)))?;
            timed(WARMING, &mut || format!("key-{}", rng.below(n)))?;
            let warm = timed(TIMED, &mut || format!("key-{}", rng.below(n)))?;
            let mut i = 0u64;
            let miss = timed(TIMED, &mut || {
                i += 1;
                format!("miss-{i}")
            })?;
            json!({
                "get_fresh_us": fresh,
                "get_warm_us": warm,
                "get_miss_us": miss,
                "volume": cache.volume()?,
            })
        }
        "set" => {
            let cache = builder.open(dir)?;
            let ts = (0..TIMED)
                .map(|i| {
                    let key = format!("new-{i}");
                    let start = Instant::now();
                    cache.set(key, Bytes::new(&VALUE))?;
                    Ok(start.elapsed().as_nanos() as u64)
                })
                .collect::<Res<Vec<u64>>>()?;
            cache.close()?;
            json!({ "set_new_us": median_us(ts) })
        }
        "check" | "compact" => {
            let cache = builder.open(dir)?;
            let start = Instant::now();
            if phase == "check" {
                let findings = cache.check(false)?;
                if !findings.is_empty() {
                    return Err(format!("check found {findings:?}").into());
                }
            } else {
                cache.compact()?;
            }
            let seconds = start.elapsed().as_secs_f64();
            cache.close()?;
            json!({ "seconds": seconds })
        }
        other => return Err(format!("no phase {other}").into()),
    };
    out["peak_rss_bytes"] = json!(peak_rss());
    Ok(out)
}

/// This process's peak resident set, in bytes (`VmHWM`); `None` where `/proc` has no such
/// line (not Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The bytes of every file under `dir` (their lengths), and of `cache.redb` alone.
fn disk_bytes(dir: &Path) -> Res<(u64, u64)> {
    Ok((
        walk(dir, |m| m.len())?,
        std::fs::metadata(dir.join("cache.redb"))?.len(),
    ))
}

/// The bytes the file system allocated to the files under `dir` (Unix; their lengths
/// elsewhere): a preallocated or sparse file counts what it occupies.
fn allocated_bytes(dir: &Path) -> Res<u64> {
    #[cfg(unix)]
    return walk(dir, |m| std::os::unix::fs::MetadataExt::blocks(m) * 512);
    #[cfg(not(unix))]
    return walk(dir, |m| m.len());
}

/// The sum of `size` over every file under `dir`.
fn walk(dir: &Path, size: impl Fn(&std::fs::Metadata) -> u64) -> Res<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += size(&meta);
            }
        }
    }
    Ok(total)
}

/// The median of nanosecond durations, in microseconds (as Python's `ts[n // 2]`).
fn median_us(mut ts: Vec<u64>) -> f64 {
    ts.sort_unstable();
    let ns = ts.get(ts.len() / 2).copied().unwrap_or(0);
    (ns as f64 / 10.0).round() / 100.0
}

/// A small deterministic generator (SplitMix64) for the random keys.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough below `n` (n is far below 2^64).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env() -> Value {
    json!({
        "os": std::env::consts::OS,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "default_memory_budget": diskcache::DEFAULT_MEMORY_BUDGET,
    })
}

/// One row: a label, our figure, Python's (if any), and python / ours.
fn row(label: &str, ours: Option<f64>, py: Option<f64>) {
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    let ratio = match (ours, py) {
        (Some(o), Some(p)) if o > 0.0 => format!("{:.1}x", p / o),
        _ => "-".to_owned(),
    };
    println!(
        "  {label:<34} {:>12} {:>12} {:>8}",
        fmt(ours),
        fmt(py),
        ratio
    );
}

fn print_table(n: u64, ours: &Value, py: Option<&Value>) {
    let at = |v: Option<&Value>, path: &[&str]| -> Option<f64> {
        let mut v = v?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_f64()
    };
    let mb = |v: Option<f64>| v.map(|b| b / (1 << 20) as f64);
    println!(
        "N = {n}{}",
        if py.is_some() {
            "   (ratio = python / ours: above 1, ours is faster or smaller)"
        } else {
            ""
        }
    );
    println!(
        "  {:<34} {:>12} {:>12} {:>8}",
        "", "ours", "python", "ratio"
    );
    let both = |label: &str, path: &[&str], scale: &dyn Fn(Option<f64>) -> Option<f64>| {
        row(label, scale(at(Some(ours), path)), scale(at(py, path)));
    };
    let id = |v: Option<f64>| v;
    both("fill s", &["fill", "seconds"], &id);
    both("fill peak RSS MiB", &["fill", "peak_rss_bytes"], &mb);
    both("disk bytes/entry", &["disk_per_entry"], &id);
    both(
        "  allocated bytes/entry",
        &["disk_allocated_per_entry"],
        &id,
    );
    both(
        "  database file alone bytes/entry",
        &["db_file_per_entry"],
        &id,
    );
    both("volume() MiB", &["read", "volume"], &mb);
    both("get hit fresh median us", &["read", "get_fresh_us"], &id);
    both("get hit warm median us", &["read", "get_warm_us"], &id);
    both("get miss median us", &["read", "get_miss_us"], &id);
    both("read phase peak RSS MiB", &["read", "peak_rss_bytes"], &mb);
    both("set new key median us", &["set", "set_new_us"], &id);
    both("set phase peak RSS MiB", &["set", "peak_rss_bytes"], &mb);
    both("check s", &["check", "seconds"], &id);
    both("check peak RSS MiB", &["check", "peak_rss_bytes"], &mb);
    both("compact s", &["compact", "seconds"], &id);
    both("compact peak RSS MiB", &["compact", "peak_rss_bytes"], &mb);
    both(
        "disk bytes/entry after compact",
        &["disk_bytes_after_compact"],
        &|v| v.map(|b| b / (n + TIMED as u64) as f64),
    );
    if let Some(Value::Array(reads)) = ours.get("read_by_budget") {
        println!("  by memory budget (ours; read phase):");
        println!(
            "  {:>14} {:>10} {:>10} {:>10} {:>12}",
            "budget", "fresh us", "warm us", "miss us", "peak RSS MiB"
        );
        for r in reads {
            let f = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
            let budget = r
                .get("budget")
                .and_then(Value::as_u64)
                .map_or_else(|| "default".to_owned(), |b| b.to_string());
            println!(
                "  {budget:>14} {:>10.2} {:>10.2} {:>10.2} {:>12.1}",
                f("get_fresh_us"),
                f("get_warm_us"),
                f("get_miss_us"),
                f("peak_rss_bytes") / (1 << 20) as f64
            );
        }
    }
    println!();
}
