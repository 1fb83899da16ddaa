//! `diskcache`: inspect, check, repair and script a cache directory (a `Cache` or a
//! `FanoutCache`). `diskcache --help` lists the commands; `diskcache batch` speaks the line
//! protocol of `format-spec/batch-protocol.md`.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod args;
mod batch;
mod commands;
mod failure;
mod handle;
mod json;
mod ops;
mod progress;
mod raw;
mod setting;
mod value;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use args::{Cli, Command};
use failure::{Failure, Outcome};
use handle::{Create, Handle};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if json {
                let reply = batch::Reply::failure(None, &f);
                println!("{}", serde_json::to_string(&reply).unwrap_or_default());
            } else {
                eprintln!("diskcache: {f}");
            }
            // "No such key" is a negative answer, not a failure.
            ExitCode::from(if matches!(f, Failure::NotFound(_)) {
                1
            } else {
                2
            })
        }
    }
}

/// Runs the command; returns the exit status.
fn run(cli: Cli) -> Outcome<u8> {
    let timeout = cli
        .timeout
        .map(|secs| batch::seconds(secs).map_err(Failure::BadRequest))
        .transpose()?;
    if let Command::Batch { dir } = &cli.command {
        return serve(dir, timeout);
    }
    let Some(done) = commands::run(cli.command, timeout, cli.quiet)? else {
        return Ok(0);
    };
    let text = if cli.json {
        done.json.to_string()
    } else {
        done.human
    };
    let mut out = std::io::stdout().lock();
    if !text.is_empty() {
        writeln!(out, "{text}")?;
    }
    out.flush()?;
    Ok(done.code)
}

/// `diskcache batch DIR`: serves stdin until it ends.
fn serve(dir: &std::path::Path, timeout: Option<Duration>) -> Outcome<u8> {
    let handle = Handle::open(dir, Create::Yes, timeout)?;
    let served = batch::serve(&handle, std::io::stdin().lock(), std::io::stdout().lock());
    let closed = handle.close();
    match served {
        // The reader went away: nothing left to answer.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    closed?;
    Ok(0)
}
