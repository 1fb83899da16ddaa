//! `diskcache`: inspect, check, repair and script a cache directory (a `Cache` or a
//! `FanoutCache`). `diskcache --help` lists the commands; `diskcache batch` speaks the line
//! protocol of `format-spec/batch-protocol.md`, which `diskcache batch --spec` prints.

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
mod transfer;
mod value;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};
use failure::{Failure, Outcome};
use handle::{Create, Handle};

fn main() -> ExitCode {
    let cli = parse();
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

/// The command line, with `--version` naming the cache format versions this build reads.
fn parse() -> Cli {
    let version = format!(
        "{} (reads cache format versions {} to {})",
        env!("CARGO_PKG_VERSION"),
        diskcache::OLDEST_FORMAT_VERSION,
        diskcache::FORMAT_VERSION
    );
    let matches = Cli::command().version(version.leak() as &str).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Runs the command; returns the exit status.
fn run(cli: Cli) -> Outcome<u8> {
    let timeout = cli.timeout;
    match &cli.command {
        Command::Batch {
            dir: Some(dir),
            spec: false,
        } => return serve(dir, timeout),
        Command::Batch { .. } => return print_spec(),
        Command::Get {
            output: Some(path), ..
        } if cli.json && path.as_os_str() == "-" => {
            return Err(Failure::BadRequest(
                "--json prints one JSON document on stdout: write the value to a file with \
                 --output PATH"
                    .into(),
            ));
        }
        _ => {}
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

/// `diskcache batch --spec`: prints the protocol's specification (all of it, or as much as
/// the reader of the output takes).
fn print_spec() -> Outcome<u8> {
    let mut out = std::io::stdout().lock();
    match out
        .write_all(batch::SPEC.as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(0),
    }
}

/// `diskcache batch DIR`: serves stdin until it ends; exit status 1 if a request failed.
fn serve(dir: &std::path::Path, timeout: Option<Duration>) -> Outcome<u8> {
    let handle = Handle::open(dir, Create::Yes, timeout)?;
    let (tally, served) = batch::serve(&handle, std::io::stdin().lock(), std::io::stdout().lock());
    let closed = handle.close();
    match served {
        // The reader went away: nothing left to answer.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    closed?;
    Ok(u8::from(tally.failed > 0))
}
