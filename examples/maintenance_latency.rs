//! Measures how long a concurrent writer waits while a whole-cache operation runs.
//!
//! ```text
//! cargo run --release --example maintenance_latency -- [--entries N] [--value-size B]
//!     [--writer-value B] [--pace-us P] [--direct] [--dir BASE] [--only op,op,...]
//! ```
//!
//! A fresh cache (`min_file_size` 1 KiB, so every value is in its own value file) gets N
//! entries (default 200,000) with values of B bytes (default 4,096), tags `t0`…`t9` (key `i`
//! has tag `t{i % 10}`), and, for one key in ten (`i % 10 == 1`), an expire time one second
//! ahead. Then a second PROCESS (this example again, `--writer`) opens the cache with a 60 s
//! timeout and, while each operation below runs, `set`s a value of `--writer-value` bytes
//! (default 100, inline) under one of 1,000 keys of its own, one `set` every P µs (default
//! 1,000), timing each. The operations, in order (each works on what the earlier ones left):
//!
//! | operation | what it does here |
//! |---|---|
//! | `idle` | nothing, for 6 s: the writer's latency when nothing else holds the lock (the machine's noise, and the writer's own checkpoint every 4,096 sets) |
//! | `check` | `check(false)` of every row and value file |
//! | `check-fix` | `check(true)` |
//! | `evict-scan` | `evict("t0")` without the tag index: a scan of every row |
//! | `reset-policy` | `reset(EvictionPolicy(LeastRecentlyUsed))`: builds `order_access` |
//! | `create-tag-index` | builds `order_tag` |
//! | `evict-index` | `evict("t2")` with the tag index |
//! | `expire` | removes the entries that expired (one in ten) |
//! | `cull` | `size_limit` lowered to half the volume, then `cull()` |
//! | `compact` | gives the free pages back to the file system |
//! | `clear` | removes every entry |
//!
//! It prints one row per operation: its duration, the writer's `set`s during it, and their
//! median, 99th percentile and maximum latency. `--direct` creates the cache on the direct
//! write path instead of the logged one. `--only` runs a subset (the fill always runs).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use diskcache::{Cache, EvictionPolicy, SetOptions, Setting, WritePath};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const OPERATIONS: [&str; 11] = [
    "idle",
    "check",
    "check-fix",
    "evict-scan",
    "reset-policy",
    "create-tag-index",
    "evict-index",
    "expire",
    "cull",
    "compact",
    "clear",
];

struct Args {
    entries: u64,
    value_size: usize,
    writer_value: usize,
    pace: Duration,
    direct: bool,
    base: Option<PathBuf>,
    only: Option<Vec<String>>,
    /// Set in the writer process: the cache directory.
    writer: Option<PathBuf>,
}

fn parse_args() -> Res<Args> {
    let mut args = Args {
        entries: 200_000,
        value_size: 4096,
        writer_value: 100,
        pace: Duration::from_micros(1000),
        direct: false,
        base: None,
        only: None,
        writer: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--entries" => args.entries = value()?.parse()?,
            "--value-size" => args.value_size = value()?.parse()?,
            "--writer-value" => args.writer_value = value()?.parse()?,
            "--pace-us" => args.pace = Duration::from_micros(value()?.parse()?),
            "--direct" => args.direct = true,
            "--dir" => args.base = Some(PathBuf::from(value()?)),
            "--only" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--writer" => args.writer = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if let Some(only) = &args.only
        && let Some(bad) = only.iter().find(|o| !OPERATIONS.contains(&o.as_str()))
    {
        return Err(format!("unknown operation {bad}; known: {}", OPERATIONS.join(",")).into());
    }
    Ok(args)
}

fn main() -> Res<()> {
    let args = parse_args()?;
    if let Some(dir) = &args.writer {
        return writer(dir, &args);
    }
    let base = args.base.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("diskcache-maintenance-")
        .tempdir_in(base)?;
    let dir = tmp.path().join("cache");
    let path = if args.direct {
        WritePath::Direct
    } else {
        WritePath::Logged
    };
    let cache = Cache::builder()
        .min_file_size(1024)
        .size_limit(u64::MAX / 4)
        .cull_limit(0)
        .write_path(path)
        .timeout(Duration::from_secs(60))
        .open(&dir)?;
    let start = Instant::now();
    fill(&cache, &args)?;
    cache.checkpoint()?;
    println!(
        "filled {} entries of {} bytes ({:?} write path) in {:.1} s; volume {} MB",
        args.entries,
        args.value_size,
        path,
        start.elapsed().as_secs_f64(),
        cache.volume()? / 1_000_000
    );
    let mut writer = Writer::spawn(&dir, &args)?;
    println!("\n| operation | duration | result | writer sets | median | p99 | max | errors |");
    println!("|---|---:|---|---:|---:|---:|---:|---:|");
    for op in OPERATIONS {
        if args
            .only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|x| x == op))
        {
            continue;
        }
        if op == "cull" {
            let half = cache.volume()? / 2;
            cache.reset(Setting::SizeLimit(half))?;
        }
        writer.go()?;
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        let result = run(&cache, op)?;
        let took = t.elapsed();
        std::thread::sleep(Duration::from_millis(50));
        let stats = writer.stop()?;
        println!(
            "| {op} | {:.2} s | {result} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            took.as_secs_f64(),
            stats.n,
            stats.median_ms,
            stats.p99_ms,
            stats.max_ms,
            stats.errors
        );
    }
    writer.finish()?;
    Ok(())
}

/// Stores the entries: pseudo-random bytes, so that every crc32 is real work.
fn fill(cache: &Cache, args: &Args) -> Res<()> {
    let mut value = vec![0u8; args.value_size];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..args.entries {
        for chunk in value.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let mut options = SetOptions::default().tag(format!("t{}", i % 10));
        if i % 10 == 1 {
            options = options.expire(Duration::from_secs(1));
        }
        cache.set_with(i as i64, &value[..], options)?;
    }
    Ok(())
}

/// Runs one operation; returns what it says (warnings, entries removed).
fn run(cache: &Cache, op: &str) -> Res<String> {
    Ok(match op {
        "idle" => {
            std::thread::sleep(Duration::from_secs(6));
            "-".into()
        }
        "check" => format!("{} warnings", cache.check(false)?.len()),
        "check-fix" => format!("{} warnings", cache.check(true)?.len()),
        "evict-scan" => format!("{} removed", cache.evict("t0")?),
        "reset-policy" => {
            let old = cache.reset(Setting::EvictionPolicy(EvictionPolicy::LeastRecentlyUsed))?;
            format!("was {old:?}")
        }
        "create-tag-index" => {
            cache.create_tag_index()?;
            "built".into()
        }
        "evict-index" => format!("{} removed", cache.evict("t2")?),
        "expire" => format!("{} removed", cache.expire()?),
        "cull" => format!("{} removed", cache.cull()?),
        "compact" => {
            cache.compact()?;
            "compacted".into()
        }
        "clear" => format!("{} removed", cache.clear()?),
        other => return Err(format!("unknown operation {other}").into()),
    })
}

/// The writer's latencies during one operation.
struct Stats {
    n: usize,
    median_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: usize,
}

/// The writer process, driven over its stdin and stdout.
struct Writer {
    child: Child,
    input: ChildStdin,
    output: std::io::Lines<BufReader<ChildStdout>>,
}

impl Writer {
    fn spawn(dir: &Path, args: &Args) -> Res<Writer> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--writer")
            .arg(dir)
            .args(["--writer-value", &args.writer_value.to_string()])
            .args(["--pace-us", &args.pace.as_micros().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let input = child.stdin.take().ok_or("no stdin")?;
        let output = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let mut writer = Writer {
            child,
            input,
            output,
        };
        writer.expect("ready")?;
        Ok(writer)
    }

    fn expect(&mut self, what: &str) -> Res<String> {
        let line = self.output.next().ok_or("the writer exited")??;
        if !line.starts_with(what) {
            return Err(format!("the writer said {line:?}, not {what}").into());
        }
        Ok(line)
    }

    /// Starts the writer's loop; returns once it has made its first `set`.
    fn go(&mut self) -> Res<()> {
        writeln!(self.input, "go")?;
        self.input.flush()?;
        self.expect("going").map(drop)
    }

    fn stop(&mut self) -> Res<Stats> {
        writeln!(self.input, "stop")?;
        self.input.flush()?;
        let line = self.expect("stats")?;
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Res<f64> { Ok(f.get(i).ok_or("short stats line")?.parse()?) };
        Ok(Stats {
            n: num(1)? as usize,
            median_ms: num(2)?,
            p99_ms: num(3)?,
            max_ms: num(4)?,
            errors: num(5)? as usize,
        })
    }

    fn finish(mut self) -> Res<()> {
        drop(self.input);
        self.child.wait()?;
        Ok(())
    }
}

/// The writer process: on `go`, sets in a loop until `stop`, then prints its latencies.
fn writer(dir: &Path, args: &Args) -> Res<()> {
    let cache = Cache::builder()
        .timeout(Duration::from_secs(60))
        .open(dir)?;
    let value = vec![7u8; args.writer_value];
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut n = 0u64;
    while let Ok(command) = rx.recv() {
        if command != "go" {
            continue;
        }
        let (mut latencies, mut errors) = (Vec::new(), 0usize);
        let mut said = false;
        loop {
            if rx.try_recv().is_ok_and(|command| command == "stop") {
                break;
            }
            let t = Instant::now();
            if cache.set(format!("w{}", n % 1000), &value[..]).is_err() {
                errors += 1;
            }
            latencies.push(t.elapsed());
            n += 1;
            if !said {
                writeln!(out, "going")?;
                out.flush()?;
                said = true;
            }
            std::thread::sleep(args.pace);
        }
        latencies.sort_unstable();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let len = latencies.len();
        writeln!(
            out,
            "stats {} {:.3} {:.3} {:.3} {}",
            len,
            ms(latencies.get(len / 2)),
            ms(latencies.get((len * 99 / 100).min(len.saturating_sub(1)))),
            ms(latencies.last()),
            errors
        )?;
        out.flush()?;
    }
    Ok(())
}
