//! The command line: subcommands and their options (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

const AFTER_HELP: &str = "\
KEY, VALUE and TAG are JSON when they parse as JSON, and text otherwise: 42 is an integer,
'\"42\"' and hello are texts, 2.5 a float, '{\"bytes\":\"00ff\"}' bytes, '[1,\"a\"]' a composite.

DIR is a Cache directory (it has cache.redb) or a FanoutCache directory (it has a fanout file).
Only `set` and `batch` create a cache, and only in a missing or empty directory.

Exit status: 0 done; 1 a negative answer (check found problems, get or delete found no such
key); 2 an error. With --json, the answer (or the error) is one JSON document on stdout.

The batch protocol is specified in format-spec/batch-protocol.md.";

/// Inspect, check, repair and script a diskcache directory.
#[derive(Parser, Debug)]
#[command(name = "diskcache", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print machine output: one JSON document on stdout (errors included)
    #[arg(long, global = true)]
    pub json: bool,

    /// How long a write waits for the cache's write lock, in seconds [default: 60]
    #[arg(long, global = true, value_name = "SECS")]
    pub timeout: Option<f64>,

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
        #[arg(long, conflicts_with = "json")]
        raw: bool,
    },
    /// Store VALUE under KEY (creates a Cache in a missing or empty directory)
    Set {
        /// The cache directory
        dir: PathBuf,
        /// The key (JSON, or text)
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// The value (JSON, or text)
        #[arg(allow_hyphen_values = true)]
        value: String,
        /// Expire after SECS seconds (a float)
        #[arg(long, value_name = "SECS")]
        expire: Option<f64>,
        /// Tag the entry (JSON, or text)
        #[arg(long, allow_hyphen_values = true)]
        tag: Option<String>,
    },
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
    /// Remove every entry (refuses without --yes)
    Clear {
        /// The cache directory
        dir: PathBuf,
        /// Yes, remove every entry
        #[arg(long)]
        yes: bool,
    },
    /// Answer JSON requests from stdin, one per line, with one JSON reply per line
    ///
    /// Requests name Python diskcache's methods and arguments:
    /// {"op": "set", "key": "k", "value": 1, "expire": 60, "tag": "t"}; replies are
    /// {"ok": true, "result": ...} or {"ok": false, "error": NAME, "message": ...}.
    /// format-spec/batch-protocol.md specifies every operation. Creates a Cache in a missing
    /// or empty directory.
    Batch {
        /// The cache directory
        dir: PathBuf,
    },
}
