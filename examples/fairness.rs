//! Two (or more) writers setting in tight loops on one cache, as processes or as threads of
//! one process: how many writes each made, how many timed out, the longest single write and
//! the 99.9th percentile. It measures what the write locks' handoff bounds trade
//! (`HANDOFF_AFTER` in `src/engine/log/lock.rs`, `CLAIM_AFTER` in `src/engine/handoff.rs`;
//! format-spec/wal.md has the figures): every handoff to a waiter costs the time it takes to
//! wake, so a fairer bound costs throughput.
//!
//! ```text
//! cargo run --release --example fairness -- [--writers N] [--seconds S] [--threads]
//!     [--write-path logged|direct] [--timeout-ms MS] [--dir BASE]
//! ```
//!
//! Defaults: 2 writer processes, 3 s, the logged path, a 500 ms timeout, the system temp
//! directory. Each writer sets keys of its own (`w<N>-<i mod 64>`, 100-byte values) as fast as
//! it can, from a common start; the output is one line per writer and a total.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diskcache::{Cache, CacheBuilder, Error, WritePath};
use serde_bytes::Bytes;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The value every writer sets.
const VALUE: [u8; 100] = [b'x'; 100];

/// What the command line asks for.
struct Args {
    writers: usize,
    seconds: f64,
    threads: bool,
    path: WritePath,
    timeout: Duration,
    base: PathBuf,
    /// Set in a worker process: its number, its directory and the common start (ns since
    /// the epoch).
    worker: Option<(usize, PathBuf, u128)>,
}

/// What one writer did.
#[derive(Default)]
struct Tally {
    ok: u64,
    timeouts: u64,
    /// Every write's latency, in ns.
    latencies: Vec<u64>,
    elapsed: f64,
}

impl Tally {
    fn line(&self, who: &str) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let at = |q: f64| {
            let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
        };
        format!(
            "{who}: {} writes ({:.0}/s), {} timeouts, median {:.2} µs, p99.9 {:.0} µs, longest {:.0} µs",
            self.ok,
            self.ok as f64 / self.elapsed.max(f64::MIN_POSITIVE),
            self.timeouts,
            at(0.5),
            at(0.999),
            sorted.last().copied().unwrap_or(0) as f64 / 1000.0,
        )
    }
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        writers: 2,
        seconds: 3.0,
        threads: false,
        path: WritePath::default(),
        timeout: Duration::from_millis(500),
        base: std::env::temp_dir(),
        worker: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--writers" => args.writers = value()?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => args.seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--threads" => args.threads = true,
            "--write-path" => {
                args.path = match value()?.as_str() {
                    "logged" => WritePath::Logged,
                    "direct" => WritePath::Direct,
                    other => return Err(format!("unknown write path {other}")),
                }
            }
            "--timeout-ms" => {
                args.timeout = Duration::from_millis(value()?.parse().map_err(|e| format!("{e}"))?)
            }
            "--dir" => args.base = PathBuf::from(value()?),
            "--worker" => {
                let id = value()?.parse().map_err(|e| format!("{e}"))?;
                let dir = PathBuf::from(value()?);
                let start = value()?.parse().map_err(|e| format!("{e}"))?;
                args.worker = Some((id, dir, start));
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn open(args: &Args, dir: &Path) -> Res<Cache> {
    Ok(CacheBuilder::new()
        .write_path(args.path)
        .timeout(args.timeout)
        .open(dir)?)
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Writes in a tight loop for `seconds` from the common start `start_ns`.
fn write(cache: &Cache, id: usize, seconds: f64, start_ns: u128) -> Res<Tally> {
    let now = unix_ns();
    if start_ns > now {
        std::thread::sleep(Duration::from_nanos((start_ns - now) as u64));
    }
    let mut tally = Tally::default();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut i = 0u64;
    while Instant::now() < end {
        let t = Instant::now();
        match cache.set(format!("w{id}-{}", i % 64), Bytes::new(&VALUE)) {
            Ok(()) => tally.ok += 1,
            Err(Error::Timeout) => tally.timeouts += 1,
            Err(e) => return Err(e.into()),
        }
        tally.latencies.push(t.elapsed().as_nanos() as u64);
        i += 1;
    }
    tally.elapsed = start.elapsed().as_secs_f64();
    Ok(tally)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fairness: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Res<()> {
    if let Some((id, dir, start)) = &args.worker {
        let cache = open(args, dir)?;
        let tally = write(&cache, *id, args.seconds, *start)?;
        // One line: ok, timeouts, elapsed, then the latencies.
        let mut line = format!("{} {} {}", tally.ok, tally.timeouts, tally.elapsed);
        for l in &tally.latencies {
            line.push(' ');
            line.push_str(&l.to_string());
        }
        println!("{line}");
        return Ok(());
    }
    let dir = tempfile::Builder::new()
        .prefix("fairness-")
        .tempdir_in(&args.base)?;
    let cache = open(args, dir.path())?;
    let start = unix_ns() + 300_000_000;
    let tallies: Vec<Tally> = if args.threads {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..args.writers)
                .map(|id| {
                    let cache = cache.clone();
                    s.spawn(move || {
                        write(&cache, id, args.seconds, start).map_err(|e| e.to_string())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| "a writer panicked".to_string())?)
                .collect::<Result<_, String>>()
        })?
    } else {
        let exe = std::env::current_exe()?;
        let path = match args.path {
            WritePath::Logged => "logged",
            WritePath::Direct => "direct",
        };
        let children = (0..args.writers)
            .map(|id| {
                Command::new(&exe)
                    .args(["--worker", &id.to_string()])
                    .arg(dir.path())
                    .arg(start.to_string())
                    .args(["--seconds", &args.seconds.to_string()])
                    .args(["--write-path", path])
                    .args(["--timeout-ms", &args.timeout.as_millis().to_string()])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .spawn()
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut tallies = Vec::new();
        for child in children {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                return Err(format!("a writer failed: {}", out.status).into());
            }
            let text = String::from_utf8(out.stdout)?;
            let mut fields = text.split_whitespace();
            let mut next = || fields.next().ok_or("a short report");
            let mut tally = Tally {
                ok: next()?.parse()?,
                timeouts: next()?.parse()?,
                elapsed: next()?.parse()?,
                latencies: Vec::new(),
            };
            for l in fields {
                tally.latencies.push(l.parse()?);
            }
            tallies.push(tally);
        }
        tallies
    };
    let kind = if args.threads { "thread" } else { "process" };
    let mut all = Tally::default();
    for (id, t) in tallies.iter().enumerate() {
        println!("{}", t.line(&format!("{kind} {id}")));
        all.ok += t.ok;
        all.timeouts += t.timeouts;
        all.latencies.extend_from_slice(&t.latencies);
        all.elapsed = all.elapsed.max(t.elapsed);
    }
    println!("{}", all.line("all"));
    Ok(())
}
