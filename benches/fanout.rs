//! Criterion benches of `FanoutCache` (8 shards) against one `Cache`, same workload: small
//! sets and gets from 1, 2 and 4 threads of one process, and from 4 processes.
//!
//! A measurement of `iters` operations gives each of the `w` workers `iters / w` of them,
//! started together; its time is the slowest worker's. So the figure criterion prints per
//! iteration is wall time per operation of the whole pool: it falls as workers are added as
//! far as the cache lets them run in parallel.
//!
//! The processes are this bench binary itself, started with the environment variable
//! `DISKCACHE_FANOUT_BENCH_WORKER` (`cache <dir>` or `fanout <dir>`); each opens the cache
//! once, then for each line `set N` or `get N` on its stdin does N operations and answers
//! `done <nanoseconds>`. Process start-up and opening are not measured.
//!
//! Run with `cargo bench --bench fanout`.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use diskcache::{Cache, FanoutCache};

const VALUE: [u8; 100] = [b'x'; 100];
/// Keys prefilled for the gets, and the keys each worker cycles through for its sets.
const KEYS: u64 = 10_000;
const WORKER_VAR: &str = "DISKCACHE_FANOUT_BENCH_WORKER";

/// The cache under test, of either kind.
#[derive(Clone)]
enum Target {
    Cache(Cache),
    Fanout(FanoutCache),
}

impl Target {
    fn open(kind: &str, dir: &Path) -> Target {
        match kind {
            "cache" => Target::Cache(Cache::open(dir).unwrap()),
            "fanout" => Target::Fanout(FanoutCache::open(dir).unwrap()),
            other => panic!("unknown cache kind {other:?}"),
        }
    }

    fn set(&self, key: String) {
        let value = serde_bytes::Bytes::new(&VALUE);
        match self {
            Target::Cache(c) => c.set(key, value).unwrap(),
            Target::Fanout(c) => assert!(c.set(key, value).unwrap(), "a set timed out"),
        }
    }

    fn get(&self, key: String) -> Option<serde_bytes::ByteBuf> {
        match self {
            Target::Cache(c) => c.get(key).unwrap(),
            Target::Fanout(c) => c.get(key).unwrap(),
        }
    }

    /// `n` operations `op` as worker `worker`.
    fn run(&self, op: &str, worker: u64, n: u64) {
        for i in 0..n {
            match op {
                "set" => self.set(format!("set-{worker}-{}", i % KEYS)),
                "get" => {
                    let key = format!("key-{}", (i * 7 + worker * 1013) % KEYS);
                    assert!(black_box(self.get(key)).is_some());
                }
                other => panic!("unknown operation {other:?}"),
            }
        }
    }
}

/// A new cache of `kind` with `KEYS` keys for the gets.
fn prefilled(kind: &str) -> (tempfile::TempDir, Target) {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::open(kind, dir.path());
    for i in 0..KEYS {
        target.set(format!("key-{i}"));
    }
    (dir, target)
}

/// `iters` operations over `threads` threads; the slowest thread's time.
fn threads(target: &Target, op: &str, threads: u64, iters: u64) -> Duration {
    let per_thread = iters.div_ceil(threads);
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|worker| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    target.run(op, worker, per_thread);
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

/// A worker process, kept for the whole benchmark.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn spawn(kind: &str, dir: &Path, id: u64) -> Worker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(WORKER_VAR, format!("{kind} {id} {}", dir.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        Worker {
            child,
            stdin,
            lines,
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

/// `iters` operations over the worker processes; the slowest one's time.
fn processes(workers: &mut [Worker], op: &str, iters: u64) -> Duration {
    let per_worker = iters.div_ceil(workers.len() as u64);
    for w in workers.iter_mut() {
        writeln!(w.stdin, "{op} {per_worker}").unwrap();
        w.stdin.flush().unwrap();
    }
    workers
        .iter_mut()
        .map(|w| {
            let line = w.lines.next().unwrap().unwrap();
            let nanos: u64 = line.strip_prefix("done ").unwrap().parse().unwrap();
            Duration::from_nanos(nanos)
        })
        .max()
        .unwrap()
}

/// The body of a worker process.
fn worker(spec: &str) {
    let mut parts = spec.splitn(3, ' ');
    let (kind, id, dir) = (
        parts.next().unwrap(),
        parts.next().unwrap().parse::<u64>().unwrap(),
        parts.next().unwrap(),
    );
    let target = Target::open(kind, Path::new(dir));
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let Some((op, n)) = line.split_once(' ') else {
            break;
        };
        let start = Instant::now();
        target.run(op, id, n.parse().unwrap());
        writeln!(out, "done {}", start.elapsed().as_nanos()).unwrap();
        out.flush().unwrap();
    }
}

fn bench(c: &mut Criterion) {
    for op in ["set", "get"] {
        let mut group = c.benchmark_group(format!("fanout/{op}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for kind in ["cache", "fanout"] {
            let (dir, target) = prefilled(kind);
            for n in [1u64, 2, 4] {
                group.bench_function(BenchmarkId::new(kind, format!("{n}t")), |b| {
                    b.iter_custom(|iters| threads(&target, op, n, iters))
                });
            }
            let mut workers: Vec<Worker> = (0..4)
                .map(|id| Worker::spawn(kind, dir.path(), id))
                .collect();
            group.bench_function(BenchmarkId::new(kind, "4p"), |b| {
                b.iter_custom(|iters| processes(&mut workers, op, iters))
            });
            drop(workers);
            drop(target);
        }
        group.finish();
    }
}

fn main() {
    if let Ok(spec) = std::env::var(WORKER_VAR) {
        worker(&spec);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
