//! Measures what the database really spends per entry, beside the 128 bytes `Cache::volume()`
//! counts per row (`format-spec/volume.md` records the figures).
//!
//! ```text
//! cargo run --release --example row_overhead -- [--entries N] [--key-len K] [--value-len V]
//!     [--shuffle] [--scale-keys] [--only POLICY/VARIANT] [--detail] [--python]
//! ```
//!
//! For each eviction policy and each variant (no expire time or tag; an expire time; a tag
//! without and with the tag index; both): a fresh cache gets N entries (default 100,000) with
//! text keys of K characters (default 10: `k000000042`), byte values of V bytes (default 16,
//! inline), expire time one day ahead, tags `t0`…`t9`; it is closed (which checkpoints the
//! log into `cache.redb`). Keys are inserted in key order, or with `--shuffle` in a scattered
//! order (key number `j * 7919 mod N` for the `j`-th insert), as hashed keys would arrive;
//! then:
//! - `payload` is the sum over entries of encoded key + encoded tag + value bytes, which is
//!   what `volume()` counts besides 128 bytes per row (checked: `volume() == payload + 128 N`);
//! - `file/row` is (size of `cache.redb` − size of an empty cache's `cache.redb` − payload)
//!   / N: the bytes the database spends per row beyond the payload;
//! - `alloc/row` is the same with redb's allocated pages (× page size) in place of the file's
//!   size: the file less the free space at its end;
//! - `compact/row` is the same after [`Cache::compact`] (the cache reopened, compacted and
//!   closed again);
//! - the per-table columns are each table's B-tree pages (leaf + branch) × page size / N,
//!   after compaction (read with redb from the closed file).
//!
//! `--scale-keys` uses the keys of `examples/scale.rs` instead, `key-0`, `key-1`, … (not
//! padded, so key order is not insertion order), with `--value-len 100` its workload.
//! `--only LRS/plain` measures one policy and variant. `--detail` prints, for each cache as
//! closed (before compaction), where the file's bytes go: per table, its entries, the key and
//! value bytes redb stores, its leaf and branch pages, their fill (stored bytes / leaf pages'
//! bytes) and the bytes per entry of its pages; then the pages no table holds (redb's own
//! tables and free pages) and the file's length beyond redb's allocated pages.
//!
//! With `--python`, `python3` builds the same caches with Python diskcache (which must be
//! importable), inserting in the same order, and prints, per row, (SQLite file − empty file −
//! payload) / N, before and after `VACUUM`, where payload is key + tag + value bytes as Python
//! stores them.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use diskcache::{Cache, EvictionPolicy, Key, SetOptions};
use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTableMetadata, TableHandle};

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The fixed part `volume()` counts per row (`ROW_HEADER_LEN` in `src/format/row.rs`).
const COUNTED_HEADER: u64 = 128;

struct Args {
    entries: u64,
    key_len: usize,
    value_len: usize,
    shuffle: bool,
    scale_keys: bool,
    only: Option<String>,
    detail: bool,
    python: bool,
}

impl Args {
    /// The key number of the `j`-th insert: `j`, or with `--shuffle` a permutation of them.
    fn nth(&self, j: u64) -> u64 {
        if self.shuffle {
            (j * stride(self.entries)) % self.entries
        } else {
            j
        }
    }
}

/// A stride coprime with `n`, so that `j * stride mod n` visits every number below `n`.
fn stride(n: u64) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    (7919..).find(|s| gcd(*s, n) == 1).unwrap_or(1)
}

#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    expire: bool,
    tag: bool,
    tag_index: bool,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        name: "plain",
        expire: false,
        tag: false,
        tag_index: false,
    },
    Variant {
        name: "expire",
        expire: true,
        tag: false,
        tag_index: false,
    },
    Variant {
        name: "tag",
        expire: false,
        tag: true,
        tag_index: false,
    },
    Variant {
        name: "tag+index",
        expire: false,
        tag: true,
        tag_index: true,
    },
    Variant {
        name: "expire+tag+index",
        expire: true,
        tag: true,
        tag_index: true,
    },
];

const POLICIES: [(&str, EvictionPolicy); 4] = [
    ("LRS", EvictionPolicy::LeastRecentlyStored),
    ("LRU", EvictionPolicy::LeastRecentlyUsed),
    ("LFU", EvictionPolicy::LeastFrequentlyUsed),
    ("none", EvictionPolicy::None),
];

/// The tables whose pages are reported, in column order.
const TABLES: [&str; 7] = [
    "entries",
    "order_insert",
    "order_expire",
    "order_store",
    "order_access",
    "order_frequency",
    "order_tag",
];

fn key_of(i: u64, args: &Args) -> String {
    if args.scale_keys {
        return format!("key-{i}");
    }
    format!("k{i:0>width$}", width = args.key_len.saturating_sub(1))
}

fn tag_of(i: u64) -> String {
    format!("t{}", i % 10)
}

/// What one cache measured.
struct Measured {
    payload: u64,
    closed: u64,
    /// redb's allocated pages × page size, before compaction.
    allocated: u64,
    compacted: u64,
    /// Pages × page size per table of [`TABLES`], after compaction.
    tables: Vec<u64>,
}

/// Builds a cache in `dir`, closes it and measures its `cache.redb`.
fn measure(dir: &Path, policy: EvictionPolicy, v: Variant, args: &Args) -> Res<Measured> {
    let cache = Cache::builder()
        .eviction_policy(policy)
        .tag_index(v.tag_index)
        .size_limit(u64::MAX)
        .cull_limit(0)
        .open(dir)?;
    let value = vec![b'v'; args.value_len];
    let mut payload = 0u64;
    for j in 0..args.entries {
        let i = args.nth(j);
        let key = key_of(i, args);
        let mut opts = SetOptions::default();
        if v.expire {
            opts = opts.expire(Duration::from_secs(86_400));
        }
        payload += Key::from(key.as_str()).encode()?.len() as u64 + value.len() as u64;
        if v.tag {
            let tag = tag_of(i);
            payload += Key::from(tag.as_str()).encode()?.len() as u64;
            opts = opts.tag(tag);
        }
        cache.set_with(key, serde_bytes::Bytes::new(&value), opts)?;
    }
    let volume = cache.volume()?;
    if volume != payload + COUNTED_HEADER * args.entries {
        return Err(format!(
            "volume {volume} != payload {payload} + {COUNTED_HEADER} x {}",
            args.entries
        )
        .into());
    }
    cache.close()?;
    if args.detail {
        detail(&dir.join("cache.redb"), args.entries)?;
    }
    let (closed, allocated, compacted, tables) = sizes(dir)?;
    Ok(Measured {
        payload,
        closed,
        allocated,
        compacted,
        tables,
    })
}

/// Of the closed cache in `dir`: the size of `cache.redb`, redb's allocated pages × page size,
/// the size after [`Cache::compact`], and then each table's pages × page size.
fn sizes(dir: &Path) -> Res<(u64, u64, u64, Vec<u64>)> {
    let file = dir.join("cache.redb");
    let closed = std::fs::metadata(&file)?.len();
    let (allocated, _) = inspect(&file)?;
    let cache = Cache::open(dir)?;
    cache.compact()?;
    cache.close()?;
    let compacted = std::fs::metadata(&file)?.len();
    let (_, tables) = inspect(&file)?;
    Ok((closed, allocated, compacted, tables))
}

/// Of the closed database `file`, opened with redb: the allocated pages × page size, and
/// each table of [`TABLES`]'s pages × page size.
fn inspect(file: &Path) -> Res<(u64, Vec<u64>)> {
    let db = Database::builder()
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .open(file)?;
    let w = db.begin_write()?;
    let stats = w.stats()?;
    let page = stats.page_size() as u64;
    let allocated = stats.allocated_pages() * page;
    w.abort()?;
    let r = db.begin_read()?;
    let mut tables = vec![0; TABLES.len()];
    for handle in r.list_tables()? {
        let Some(at) = TABLES.iter().position(|t| *t == handle.name()) else {
            continue;
        };
        let s = r.open_untyped_table(handle)?.stats()?;
        tables[at] = (s.leaf_pages() + s.branch_pages()) * page;
    }
    Ok((allocated, tables))
}

/// Prints where the bytes of the closed database `file`, holding `n` entries, go (see the
/// module documentation, `--detail`).
fn detail(file: &Path, n: u64) -> Res<()> {
    let length = std::fs::metadata(file)?.len();
    let db = Database::builder()
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .open(file)?;
    let w = db.begin_write()?;
    let stats = w.stats()?;
    w.abort()?;
    let page = stats.page_size() as u64;
    let per = |bytes: u64| bytes as f64 / n as f64;
    println!(
        "\n| table | entries | stored B/entry | leaf pages | branch pages | leaf fill | pages B/entry |"
    );
    println!("|---|---|---|---|---|---|---|");
    let r = db.begin_read()?;
    let mut in_tables = 0;
    for handle in r.list_tables()? {
        let table = r.open_untyped_table(handle.clone())?;
        let s = table.stats()?;
        let pages = s.leaf_pages() + s.branch_pages();
        in_tables += pages;
        let fill = s.stored_bytes() as f64 / (s.leaf_pages().max(1) * page) as f64;
        println!(
            "| {} | {} | {:.1} | {} | {} | {:.0}% | {:.1} |",
            handle.name(),
            table.len()?,
            per(s.stored_bytes()),
            s.leaf_pages(),
            s.branch_pages(),
            fill * 100.0,
            per(pages * page),
        );
    }
    let allocated = stats.allocated_pages();
    println!(
        "| (other allocated pages: redb's own tables) | | | | | | {:.1} |",
        per((allocated.saturating_sub(in_tables)) * page)
    );
    println!(
        "| (file beyond allocated pages: free pages, headers) | | | | | | {:.1} |",
        per(length.saturating_sub(allocated * page))
    );
    println!("| file | | | | | | {:.1} |\n", per(length));
    Ok(())
}

/// An empty cache's `cache.redb`: its size (closed), allocated pages × page size, and size
/// after compaction.
fn empty_size(dir: &Path) -> Res<(u64, u64, u64)> {
    Cache::open(dir)?.close()?;
    let (closed, allocated, compacted, _) = sizes(dir)?;
    Ok((closed, allocated, compacted))
}

fn per_row(total: u64, empty: u64, payload: u64, n: u64) -> f64 {
    (total as f64 - empty as f64 - payload as f64) / n as f64
}

fn run(args: &Args) -> Res<()> {
    let base = tempfile::tempdir()?;
    let (empty_closed, empty_allocated, empty_compacted) = empty_size(&base.path().join("empty"))?;
    println!(
        "{} entries, keys {} chars, values {} bytes, inserted {}; empty cache.redb {} B ({} B \
         compacted)\n",
        args.entries,
        args.key_len,
        args.value_len,
        if args.shuffle {
            "shuffled"
        } else {
            "in key order"
        },
        empty_closed,
        empty_compacted
    );
    print!("| policy | variant | payload/row | file MiB | file/row | alloc/row | compact/row |");
    for t in TABLES {
        print!(" {t} |");
    }
    println!();
    println!("|{}", "---|".repeat(7 + TABLES.len()));
    let n = args.entries;
    for (pname, policy) in POLICIES {
        for v in VARIANTS {
            if args
                .only
                .as_ref()
                .is_some_and(|only| *only != format!("{pname}/{}", v.name))
            {
                continue;
            }
            let dir = base.path().join(format!("{pname}-{}", v.name));
            let m = measure(&dir, policy, v, args)?;
            print!(
                "| {pname} | {} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} |",
                v.name,
                m.payload as f64 / n as f64,
                m.closed as f64 / (1 << 20) as f64,
                per_row(m.closed, empty_closed, m.payload, n),
                per_row(m.allocated, empty_allocated, m.payload, n),
                per_row(m.compacted, empty_compacted, m.payload, n),
            );
            for bytes in &m.tables {
                print!(" {:.1} |", *bytes as f64 / n as f64);
            }
            println!();
            std::fs::remove_dir_all(&dir)?;
        }
    }
    if args.python {
        println!();
        python(base.path(), args)?;
    }
    Ok(())
}

/// Python diskcache's figures for the same workload (see the module documentation).
const PY: &str = r#"
import os, sqlite3, sys
import diskcache

base, n, key_len, value_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
stride = int(sys.argv[5])  # 1: key order
scale_keys = sys.argv[6] == "1"
only = sys.argv[7]
value = b"v" * value_len
variants = [
    ("plain", False, False, False),
    ("expire", True, False, False),
    ("tag", False, True, False),
    ("tag+index", False, True, True),
    ("expire+tag+index", True, True, True),
]
policies = [("LRS", "least-recently-stored"), ("LRU", "least-recently-used"),
            ("LFU", "least-frequently-used"), ("none", "none")]


def size(d):
    return os.path.getsize(os.path.join(d, "cache.db"))


def vacuumed(d):
    con = sqlite3.connect(os.path.join(d, "cache.db"))
    con.execute("VACUUM")
    con.close()
    return size(d)


empty = os.path.join(base, "py-empty")
diskcache.Cache(empty).close()
e_closed, e_vac = size(empty), vacuumed(empty)
print(f"Python diskcache {diskcache.__version__}, sqlite {sqlite3.sqlite_version}: "
      f"empty cache.db {e_closed} B ({e_vac} B vacuumed)\n")
print("| policy | variant | payload/row | file MiB | file/row | vacuum/row |")
print("|---|---|---|---|---|---|")
for pname, policy in policies:
    for vname, expire, tag, index in variants:
        if only and only != f"{pname}/{vname}":
            continue
        d = os.path.join(base, f"py-{pname}-{vname}")
        c = diskcache.Cache(d, eviction_policy=policy, tag_index=index, size_limit=2**62,
                            cull_limit=0)
        payload = 0
        for start in range(0, n, 1000):
            with c.transact():
                for j in range(start, min(n, start + 1000)):
                    i = (j * stride) % n
                    key = f"key-{i}" if scale_keys else "k" + str(i).rjust(key_len - 1, "0")
                    t = f"t{i % 10}" if tag else None
                    c.set(key, value, expire=86400 if expire else None, tag=t)
                    payload += len(key) + len(value) + (len(t) if t else 0)
        c.close()
        closed = size(d)
        vac = vacuumed(d)
        print(f"| {pname} | {vname} | {payload / n:.1f} | {closed / 2**20:.2f} | "
              f"{(closed - e_closed - payload) / n:.1f} | {(vac - e_vac - payload) / n:.1f} |")
"#;

fn python(base: &Path, args: &Args) -> Res<()> {
    let status = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .arg(base)
        .arg(args.entries.to_string())
        .arg(args.key_len.to_string())
        .arg(args.value_len.to_string())
        .arg(
            if args.shuffle {
                stride(args.entries)
            } else {
                1
            }
            .to_string(),
        )
        .arg(if args.scale_keys { "1" } else { "0" })
        .arg(args.only.as_deref().unwrap_or(""))
        .status()?;
    if !status.success() {
        return Err(format!("python3: {status}").into());
    }
    Ok(())
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut args = Args {
        entries: 100_000,
        key_len: 10,
        value_len: 16,
        shuffle: false,
        scale_keys: false,
        only: None,
        detail: false,
        python: false,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--python" => args.python = true,
            "--shuffle" => args.shuffle = true,
            "--scale-keys" => args.scale_keys = true,
            "--detail" => args.detail = true,
            _ => {}
        }
        if ["--python", "--shuffle", "--scale-keys", "--detail"].contains(&flag.as_str()) {
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: {v:?} is not a positive whole number"))
        };
        match flag.as_str() {
            "--entries" => args.entries = number(value)?,
            "--only" => args.only = Some(value.clone()),
            "--key-len" => args.key_len = usize::try_from(number(value)?).unwrap_or(usize::MAX),
            "--value-len" => {
                args.value_len = usize::try_from(number(value)?).unwrap_or(usize::MAX);
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    // Larger values go to value files, outside the database this measures.
    if args.value_len >= 32 * 1024 {
        return Err("--value-len must be below 32768 (min_file_size)".into());
    }
    let digits = args.entries.saturating_sub(1).to_string().len();
    if !args.scale_keys && args.key_len < digits + 1 {
        return Err(format!(
            "--key-len {} is too short for {} distinct keys",
            args.key_len, args.entries
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!(
                "row_overhead: {msg}\nusage: cargo run --release --example row_overhead -- \
                 [--entries N] [--key-len K] [--value-len V] [--shuffle] [--scale-keys] \
                 [--only POLICY/VARIANT] [--detail] [--python]"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("row_overhead: error: {e}");
            ExitCode::FAILURE
        }
    }
}
