//! The command line: subcommands and their options (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Where the batch protocol's specification is online: the file in this version's published
/// source on docs.rs (an installed binary has no `format-spec/`; `batch --spec` prints it).
macro_rules! spec_url {
    () => {
        concat!(
            "https://docs.rs/crate/",
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION"),
            "/source/format-spec/batch-protocol.md"
        )
    };
}

const AFTER_HELP: &str = concat!(
    "\
KEY, VALUE and TAG are JSON when they parse as JSON, and text otherwise: 42 is an integer,
'\"42\"' and hello are texts, 2.5 a float, '{\"bytes\":\"00ff\"}' bytes, '[1,\"a\"]' a composite.
An argument that looks like JSON but does not parse ('{\"bad', 007, 1e999) is an error, and so
is an integer outside i64 (99999999999999999999): write a text as a JSON string ('\"{bad\"') or
give `set` --text; write a float with a fraction or an exponent (1e20).

`set DIR KEY -` reads the value from stdin and `set DIR KEY --file PATH` from a file, streamed
(any size, stored as bytes); `set DIR KEY --text -` stores the one-character text \"-\".
`get DIR KEY --output PATH` writes the value's stored bytes to a file.

DIR is a Cache directory (it has cache.redb) or a FanoutCache directory (it has a fanout file).
Only `set` and `batch` create a cache, and only in a missing or empty directory.

Exit status: 0 done; 1 a negative answer (check found problems, get or delete found no such
key, a batch request failed); 2 an error; 130 stopped by Ctrl-C (check, clear, compact, cull, evict
and expire stop between two slices, the cache consistent, and say what they did). With --json, the
answer (or the error) is one JSON document on stdout.

`diskcache batch --help` summarizes the batch protocol; `diskcache batch --spec` prints its
specification, which is also at ",
    spec_url!(),
    "\nfor a published version."
);

/// `batch --help`: the protocol in brief, so that the help needs no file.
const BATCH_HELP: &str = concat!(
    "\
Answer JSON requests from stdin, one per line, with one JSON reply per line

Each line is one request, a JSON object naming Python diskcache's method and arguments:
  {\"op\": \"set\", \"key\": \"k\", \"value\": 1, \"expire\": 60, \"tag\": \"t\", \"id\": 7}
Each line gets exactly one reply, written and flushed before the next line is read:
  {\"ok\": true, \"result\": ...}   or   {\"ok\": false, \"error\": NAME, \"message\": ...}
with the request's \"id\" echoed if it had one. A line that is not a valid request (an empty
line included) gets an error reply (BadRequest) and the stream goes on.

Operations: set, add, get, get_entry, pop, delete, touch, incr, decr, contains, len, volume,
clear, expire, cull, evict, keys, keys_sorted, peekitem, push, pull, peek, stats, check, reset.
Keys and values are JSON as on the command line: numbers, strings, {\"bytes\": hex},
{\"float\": \"nan\"|\"inf\"|\"-inf\"}, {\"json\": X} (X as a composite), other JSON a composite.

At the end of the input the cache is closed. Exit status: 0 if every request succeeded, 1 if
any got an error reply, 2 if the cache could not be opened or the output written.
Creates a Cache in a missing or empty directory.

`diskcache batch --spec` prints the full specification (every operation's arguments and
result, errors, the byte encoding of composites); it is also at
",
    spec_url!()
);

/// Inspect, check, repair and script a diskcache directory.
#[derive(Parser, Debug)]
#[command(name = "diskcache", after_help = AFTER_HELP)]
pub struct Cli {
    /// Print machine output: one JSON document on stdout (errors included)
    #[arg(long, global = true)]
    pub json: bool,

    /// How long a write waits for the cache's write lock, in seconds [default: 60]
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        value_parser = seconds,
        allow_hyphen_values = true
    )]
    pub timeout: Option<Duration>,

    /// Draw no progress bar on stderr (drawn only when stderr is a terminal)
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the entry count, volume, settings, shards, hit/miss counters and format version
    Stats {
        /// The cache directory
        dir: PathBuf,
    },
    /// Verify the cache: rows, value files, checksums, counters and order tables
    ///
    /// Exit status 0 if the cache is clean, 1 if problems were found (with --fix: if any
    /// remain after the repair, which a second check looks for).
    Check {
        /// The cache directory
        dir: PathBuf,
        /// Repair what is found (remove damaged entries and stray files, rebuild tables)
        #[arg(long)]
        fix: bool,
    },
    /// List the live keys, in insertion order (a FanoutCache's shard by shard)
    Keys {
        /// The cache directory
        dir: PathBuf,
        /// In key order: numbers, then texts, then bytes, then composites
        #[arg(long)]
        sorted: bool,
        /// In reverse order
        #[arg(long)]
        reverse: bool,
        /// At most N keys
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Print the value stored under KEY (exit status 1 if there is none)
    Get {
        /// The cache directory
        dir: PathBuf,
        /// The key (JSON, or text)
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// Write the value's stored bytes to stdout as they are: a text's UTF-8, a byte
        /// string's bytes, a number's 8 little-endian bytes, a composite's serialized bytes
        #[arg(long, conflicts_with_all = ["json", "output"])]
        raw: bool,
        /// Write the value's stored bytes (as --raw does) to the file PATH, streamed (any
        /// size), replacing it; `-` is stdout
        #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
        output: Option<PathBuf>,
    },
    /// Store a value under KEY (creates a Cache in a missing or empty directory)
    ///
    /// The value is VALUE (JSON, or text), or read from stdin (VALUE `-`) or a file (--file),
    /// streamed whatever its size and stored as bytes. `--text -` stores the text "-".
    Set(SetArgs),
    /// Remove KEY (exit status 1 if it was not there)
    Delete {
        /// The cache directory
        dir: PathBuf,
        /// The key (JSON, or text)
        #[arg(allow_hyphen_values = true)]
        key: String,
    },
    /// Remove every entry tagged TAG
    Evict {
        /// The cache directory
        dir: PathBuf,
        /// The tag (JSON, or text)
        #[arg(allow_hyphen_values = true)]
        tag: String,
    },
    /// Remove every expired entry
    Expire {
        /// The cache directory
        dir: PathBuf,
    },
    /// Remove expired entries, then entries in eviction-policy order down to the size limit
    Cull {
        /// The cache directory
        dir: PathBuf,
    },
    /// Rewrite the database without its free pages (needs the cache to itself meanwhile)
    Compact {
        /// The cache directory
        dir: PathBuf,
    },
    /// Remove every entry (refuses without --yes)
    Clear {
        /// The cache directory
        dir: PathBuf,
        /// Yes, remove every entry
        #[arg(long)]
        yes: bool,
    },
    /// Answer JSON requests from stdin, one per line, with one JSON reply per line
    #[command(long_about = BATCH_HELP)]
    Batch {
        /// The cache directory
        #[arg(required_unless_present = "spec")]
        dir: Option<PathBuf>,
        /// Print the protocol's full specification (format-spec/batch-protocol.md) and exit
        #[arg(long, conflicts_with = "dir")]
        spec: bool,
    },
}

/// `set`'s arguments.
#[derive(Args, Debug)]
pub struct SetArgs {
    /// The cache directory
    pub dir: PathBuf,
    /// The key (JSON, or text)
    #[arg(allow_hyphen_values = true)]
    pub key: String,
    /// The value (JSON, or text); `-` reads it from stdin
    #[arg(
        allow_hyphen_values = true,
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub value: Option<String>,
    /// Read the value from the file PATH, streamed (any size), stored as bytes
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Store VALUE as a text exactly as given, even if it is JSON or `-`
    #[arg(long, requires = "value")]
    pub text: bool,
    /// Expire after SECS seconds (a number, 0 or more)
    #[arg(
        long,
        value_name = "SECS",
        value_parser = seconds,
        allow_hyphen_values = true
    )]
    pub expire: Option<Duration>,
    /// Tag the entry (JSON, or text)
    #[arg(long, allow_hyphen_values = true)]
    pub tag: Option<String>,
}

/// A duration option (`--expire`, `--timeout`): seconds, a finite number, 0 or more.
fn seconds(text: &str) -> Result<Duration, String> {
    let accepted = "SECS is a finite number of seconds, 0 or more (0.5, 60, 86400)";
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("not a number: {accepted}"))?;
    if secs.is_nan() || secs.is_infinite() || secs < 0.0 {
        return Err(format!("{secs} is not accepted: {accepted}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{secs} seconds: {e}"))
}
