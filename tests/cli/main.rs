//! The `diskcache` command, run as the real binary on real directories: every subcommand and
//! its `--json` output, exit statuses, `check` finding a deleted value file and `check --fix`
//! repairing it, `clear` refusing without `--yes`, FanoutCache and JsonDisk directories,
//! composites of other programs, values streamed in from stdin or a file and out to a file,
//! the strict argument rules, the help and version texts, and the batch protocol: a session
//! replaying the Cache section of Python diskcache's tutorial (docs/tutorial.rst) reply by
//! reply, a malformed line in the middle of a stream, one reply for every line and the exit
//! status, and a differential run against Python diskcache itself (skipped, with a message,
//! where `python3 -c "import diskcache"` fails, except under `CI=true`).

#[path = "../common/mod.rs"]
mod common;

mod batch;
mod progress;
mod python;
mod spec_reader;
mod subcommands;
mod values;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use serde_json::{Value as Json, json};

/// Runs `diskcache ARGS`.
pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_diskcache"))
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Runs `diskcache ARGS`, asserting exit status `code`; returns stdout.
pub(crate) fn run_ok(args: &[&str], code: i32) -> String {
    let o = run(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "diskcache {args:?}\nstdout: {}\nstderr: {}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// Runs `diskcache --json ARGS`, asserting exit status `code`; returns the one JSON document
/// printed.
pub(crate) fn run_json(args: &[&str], code: i32) -> Json {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run_ok(&all, code);
    assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A batch session: requests written one at a time, each reply read before the next request
/// goes, as a script would drive it.
pub(crate) struct Session {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Session {
    pub(crate) fn start(program: &mut Command) -> Session {
        let mut child = program
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().unwrap());
        Session {
            child,
            input,
            output,
        }
    }

    pub(crate) fn diskcache(dir: &Path) -> Session {
        Session::start(Command::new(env!("CARGO_BIN_EXE_diskcache")).args(["batch", s(dir)]))
    }

    /// Sends a raw line; returns the reply.
    pub(crate) fn line(&mut self, line: &str) -> Json {
        let input = self.input.as_mut().unwrap();
        writeln!(input, "{line}").unwrap();
        input.flush().unwrap();
        let mut reply = String::new();
        self.output.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: reply {reply:?} to {line}"))
    }

    pub(crate) fn ask(&mut self, request: Json) -> Json {
        self.line(&request.to_string())
    }

    /// The result of a request that must succeed.
    pub(crate) fn ok(&mut self, request: Json) -> Json {
        let reply = self.ask(request.clone());
        assert_eq!(reply["ok"], json!(true), "{request} -> {reply}");
        reply["result"].clone()
    }

    /// Asserts that `request` answers `result`.
    pub(crate) fn expect(&mut self, request: Json, result: Json) {
        assert_eq!(self.ok(request.clone()), result, "{request}");
    }

    /// The error name of a request that must fail.
    pub(crate) fn error(&mut self, request: Json) -> String {
        let reply = self.ask(request.clone());
        assert_eq!(reply["ok"], json!(false), "{request} -> {reply}");
        assert!(reply["message"].is_string(), "{reply}");
        reply["error"].as_str().unwrap().to_owned()
    }

    /// Kills the command with SIGKILL and reaps it: its cache is left as a crash leaves it.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Ends the input and waits for a clean exit: status 0, or 1 if a request failed (the
    /// Python drivers exit 0). Returns the status.
    pub(crate) fn finish(mut self) -> i32 {
        drop(self.input.take());
        let code = self.child.wait().unwrap().code();
        assert!(matches!(code, Some(0 | 1)), "exit status {code:?}");
        code.unwrap_or(-1)
    }
}
