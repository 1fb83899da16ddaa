//! Differential test against Python diskcache 5.6.3: random operation sequences (seeded,
//! deterministic; tests/differential/generate.rs) run on this crate through `diskcache batch`
//! and on Python diskcache through `scripts/differential.py`, and every reply is compared
//! (after the normalizations of tests/differential/compare.rs). A mismatch is reported with
//! its seed, the operation's index, the operation and both replies.
//!
//! By default 30 seeds × 200 operations. Skipped (with a message) where
//! `python3 -c "import diskcache"` fails, except under `CI=true`, where that fails the test
//! (`tests/common/skip.rs`). `scripts/differential.sh` runs many more. Knobs, all optional:
//!
//! - `DIFF_SEEDS` (30), `DIFF_FIRST_SEED` (0), `DIFF_OPS` (200): which sequences;
//! - `DIFF_EXCLUDE`: areas of behaviour to leave out, comma-separated ([`generate::AREA_NAMES`];
//!   default [`EXCLUDED_HERE`]; empty for none);
//! - `DIFF_INCLUDE=write-cull`: also writes that cull, which differ by design (generate.rs);
//! - `DIFF_SHOW` (10): how many mismatching seeds to describe in full;
//! - `DIFF_SHRINK=1`: for each described seed, also the shortest sequence found (by removing
//!   operations one at a time) that still ends in the same kind of mismatch, as JSON lines
//!   that `diskcache batch DIR` and `scripts/differential.py DIR` both read;
//! - `DIFF_DUMP=DIR`: write each seed's requests to `DIR/seed-N.jsonl`, to replay by hand.

#[path = "common/mod.rs"]
mod common;

#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/generate.rs"]
mod generate;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

use generate::Areas;

/// The areas left out unless `DIFF_EXCLUDE` says otherwise (none: every area is compared).
const EXCLUDED_HERE: &str = "";

/// What to run, from the environment.
struct Config {
    first_seed: u64,
    seeds: u64,
    ops: usize,
    areas: Areas,
    show: usize,
    shrink: bool,
    dump: Option<std::path::PathBuf>,
}

impl Config {
    fn from_env() -> Config {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
                Err(_) => default,
            }
        }
        let exclude = std::env::var("DIFF_EXCLUDE").unwrap_or_else(|_| EXCLUDED_HERE.into());
        let include = std::env::var("DIFF_INCLUDE").unwrap_or_default();
        Config {
            first_seed: var("DIFF_FIRST_SEED", 0),
            seeds: var("DIFF_SEEDS", 30),
            ops: var("DIFF_OPS", 200),
            areas: Areas::excluding(&exclude, &include)
                .unwrap_or_else(|e| panic!("DIFF_EXCLUDE/DIFF_INCLUDE: {e}")),
            show: var("DIFF_SHOW", 10),
            shrink: std::env::var("DIFF_SHRINK").is_ok_and(|v| v == "1"),
            dump: std::env::var_os("DIFF_DUMP").map(Into::into),
        }
    }
}

/// The first mismatch of one sequence.
struct Mismatch {
    seed: u64,
    index: usize,
    request: Json,
    ours: Json,
    python: Json,
}

impl Mismatch {
    fn class(&self) -> String {
        compare::class(&self.request, &self.ours, &self.python)
    }
}

/// The Python driver, one process for every sequence.
struct Python {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Python {
    fn start() -> Python {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/differential.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let input = BufWriter::new(child.stdin.take().unwrap());
        let output = BufReader::new(child.stdout.take().unwrap());
        Python {
            child,
            input,
            output,
        }
    }

    /// The replies to `lines` from a new cache in `dir`.
    fn run(&mut self, dir: &Path, lines: &[String]) -> Vec<String> {
        let open = json!({"driver": "open", "directory": dir.to_str().unwrap()}).to_string();
        let (input, output) = (&mut self.input, &mut self.output);
        std::thread::scope(|s| {
            s.spawn(move || {
                for line in std::iter::once(&open).chain(lines) {
                    writeln!(input, "{line}").expect("write to the Python driver");
                }
                input.flush().expect("write to the Python driver");
            });
            let opened = read_line(output, "the Python driver");
            assert_eq!(opened, r#"{"ok": true, "result": null}"#, "opening {dir:?}");
            (0..lines.len())
                .map(|_| read_line(output, "the Python driver"))
                .collect()
        })
    }

    fn finish(mut self) {
        drop(self.input);
        assert!(
            self.child.wait().unwrap().success(),
            "the Python driver failed"
        );
    }
}

fn read_line(output: &mut impl BufRead, who: &str) -> String {
    let mut line = String::new();
    let n = output.read_line(&mut line).unwrap();
    assert!(n > 0, "{who} ended before replying to every request");
    line.trim_end().to_string()
}

/// The replies of `diskcache batch dir` to `lines`.
fn run_ours(dir: &Path, lines: &[String]) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_diskcache"))
        .arg("batch")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let replies = std::thread::scope(|s| {
        s.spawn(move || {
            let mut input = BufWriter::new(input);
            for line in lines {
                writeln!(input, "{line}").expect("write to diskcache batch");
            }
        });
        (0..lines.len())
            .map(|_| read_line(&mut output, "diskcache batch"))
            .collect()
    });
    // Exit status 1 says a request failed, which random sequences do.
    let code = child.wait().unwrap().code();
    assert!(
        matches!(code, Some(0 | 1)),
        "diskcache batch failed: {code:?}"
    );
    replies
}

/// Runs `requests` on fresh caches under `dir` (named `name`) in both implementations at
/// once; returns the first mismatch, if any.
fn first_mismatch(
    python: &mut Python,
    dir: &Path,
    name: &str,
    seed: u64,
    requests: &[Json],
    start: f64,
) -> Option<Mismatch> {
    let lines: Vec<String> = requests.iter().map(Json::to_string).collect();
    let (ours_dir, python_dir) = (
        dir.join(format!("{name}-rust")),
        dir.join(format!("{name}-python")),
    );
    let (ours, theirs) = std::thread::scope(|s| {
        let ours = s.spawn(|| run_ours(&ours_dir, &lines));
        let theirs = python.run(&python_dir, &lines);
        (ours.join().unwrap(), theirs)
    });
    let _ = std::fs::remove_dir_all(&ours_dir);
    let _ = std::fs::remove_dir_all(&python_dir);
    requests
        .iter()
        .zip(ours.iter().zip(&theirs))
        .enumerate()
        .find_map(|(index, (request, (a, b)))| {
            let (ours, python) = (
                compare::normalize(request, a, start),
                compare::normalize(request, b, start),
            );
            (ours != python).then(|| Mismatch {
                seed,
                index,
                request: request.clone(),
                ours,
                python,
            })
        })
}

/// The shortest prefix-and-subset of `requests` found that still ends in a mismatch of the
/// same class as `m` (`compare::class`: the operation and each side's outcome): the prefix up
/// to the mismatch, then each earlier operation but a `reset` removed if such a mismatch
/// stays without it. Returns them and their mismatch.
fn shrink(
    python: &mut Python,
    dir: &Path,
    requests: &[Json],
    m: &Mismatch,
    start: f64,
) -> (Vec<Json>, Mismatch) {
    let class = m.class();
    let mut kept: Vec<Json> = requests[..=m.index].to_vec();
    let mut trial = 0;
    let still = |python: &mut Python, candidate: &[Json], trial: &mut usize| {
        *trial += 1;
        first_mismatch(
            python,
            dir,
            &format!("shrink{trial}"),
            m.seed,
            candidate,
            start,
        )
        .is_some_and(|n| n.index == candidate.len() - 1 && n.class() == class)
    };
    let mut i = kept.len() - 1;
    while i > 0 {
        i -= 1;
        if kept[i]["op"] == "reset" {
            // Without it the settings may be ones the generator never makes (generate.rs).
            continue;
        }
        let mut candidate = kept.clone();
        candidate.remove(i);
        if still(python, &candidate, &mut trial) {
            kept = candidate;
        }
    }
    let last = first_mismatch(python, dir, "shrunk", m.seed, &kept, start);
    (
        kept,
        last.expect("the shortened sequence mismatches, as it did"),
    )
}

#[test]
fn replies_match_python_diskcache() {
    if !common::skip::python_diskcache() {
        return;
    }
    let cfg = Config::from_env();
    let tmp = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut python = Python::start();
    let mut mismatches = Vec::new();
    let seeds = cfg.first_seed..cfg.first_seed + cfg.seeds;
    for seed in seeds.clone() {
        let requests = generate::sequence(seed, cfg.ops, cfg.areas);
        if let Some(dir) = &cfg.dump {
            let lines: String = requests.iter().map(|r| format!("{r}\n")).collect();
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("seed-{seed}.jsonl")), lines).unwrap();
        }
        if let Some(m) = first_mismatch(
            &mut python,
            tmp.path(),
            &seed.to_string(),
            seed,
            &requests,
            start,
        ) {
            if mismatches.len() < cfg.show {
                eprintln!(
                    "MISMATCH seed {} operation {}: {}\n  rust:   {}\n  python: {}",
                    m.seed,
                    m.index,
                    compare::short(&m.request),
                    compare::short(&m.ours),
                    compare::short(&m.python)
                );
                if cfg.shrink {
                    let (minimal, last) = shrink(&mut python, tmp.path(), &requests, &m, start);
                    eprintln!(
                        "  reproduced by these {} operations (rust: {}, python: {}):",
                        minimal.len(),
                        compare::short(&last.ours),
                        compare::short(&last.python)
                    );
                    for r in &minimal {
                        eprintln!("    {}", compare::short(r));
                    }
                }
            }
            mismatches.push(m);
        }
    }
    python.finish();
    let mut classes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for m in &mismatches {
        classes.entry(m.class()).or_default().push(m.seed);
    }
    eprintln!(
        "differential: seeds {seeds:?} × {} operations, excluded [{}]: {} of {} seeds mismatched ({:.1} s)",
        cfg.ops,
        cfg.areas.excluded(),
        mismatches.len(),
        cfg.seeds,
        began.elapsed().as_secs_f64()
    );
    for (class, seeds) in &classes {
        let shown: Vec<String> = seeds.iter().take(8).map(u64::to_string).collect();
        eprintln!(
            "  {:5} × {class} (seeds {}{})",
            seeds.len(),
            shown.join(", "),
            if seeds.len() > 8 { ", …" } else { "" }
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} seeds end in a mismatch with Python diskcache (above)",
        mismatches.len(),
        cfg.seeds
    );
}
