//! Child processes for the multi-process tests: the test binary runs again as one of its own
//! tests (`--exact <role> --include-ignored`), with environment variables naming the role, the
//! cache directory and the child's number. A child role is a test marked
//! `#[ignore = "child role: started by its parent test"]`, so the normal run lists it as
//! ignored instead of counting it as a pass, and it returns at once when it was not started as
//! a child (`--include-ignored` without a parent). Children talk to the parent in lines of the
//! form `@@<message>` on stdout: a [`Proc`] reads one child's messages in turn; a [`Streamed`]
//! child's messages arrive on a channel, which several children may share.
//!
//! A role is the child test's full name as the harness knows it, module path included
//! (`crash_consistency::a_crash_child_...` in the `durability` binary): [`role!`] makes it from
//! the test function, in the module that defines it.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Names the child test a process was started to act as.
const ROLE_VAR: &str = "DISKCACHE_CHILD_ROLE";
/// The cache directory of a child.
const DIR_VAR: &str = "DISKCACHE_CHILD_DIR";
/// A child's number.
const ID_VAR: &str = "DISKCACHE_CHILD_ID";

/// The role of the child test function `$test` of the calling module: its name as the test
/// harness lists it and `--exact` matches it, that is the module path below the test crate's
/// root, then the function's name. A name that is no function of the module does not compile.
#[allow(unused_macros, reason = "some test binaries start no child")]
macro_rules! role {
    ($test:ident) => {{
        const _: fn() = $test;
        $crate::common::child::below_crate_root(concat!(module_path!(), "::", stringify!($test)))
    }};
}
#[allow(unused_imports, reason = "some test binaries start no child")]
pub(crate) use role;

/// `path` without its first segment (the test crate's name) and the `::` after it.
pub const fn below_crate_root(path: &'static str) -> &'static str {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b':' && bytes[i + 1] == b':' {
            return path.split_at(i + 2).1;
        }
        i += 1;
    }
    path
}

/// How long anything waits for another process before failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// In a child: its directory and number, if this process was started as the child `role`.
pub fn child_env(role: &str) -> Option<(PathBuf, usize)> {
    if std::env::var(ROLE_VAR).ok()? != role {
        return None;
    }
    let dir = PathBuf::from(std::env::var_os(DIR_VAR).expect("a child needs its directory"));
    let id = std::env::var(ID_VAR)
        .expect("a child needs its id")
        .parse()
        .expect("the child id is a number");
    Some((dir, id))
}

/// In a child: sends one message to the parent.
pub fn tell_parent(message: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@{message}").unwrap();
    out.flush().unwrap();
}

/// Waits until `path` exists (a parent's signal), failing after [`PATIENCE`].
pub fn wait_for_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < PATIENCE,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The command that runs the child test `role` of this binary on `dir` as child number `id`:
/// stdin empty, stdout piped (the messages), stderr shared with the parent. A caller may add
/// environment or change the stdio before spawning it.
pub fn command(role: &str, dir: &Path, id: usize) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            role,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_VAR, role)
        .env(DIR_VAR, dir)
        .env(ID_VAR, id.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// A child process running one child test of this binary; killed if dropped unfinished.
pub struct Proc {
    name: String,
    child: Child,
    /// The child's stdout, unless `configure` in [`Proc::spawn_with`] sent it elsewhere.
    lines: Option<Lines<BufReader<ChildStdout>>>,
}

impl Proc {
    /// Starts the child test `role` on `dir` as child number `id`.
    pub fn spawn(role: &str, dir: &Path, id: usize) -> Proc {
        Proc::spawn_with(role, dir, id, |_| {})
    }

    /// Starts the child test `role` on `dir` as child number `id`, its [`command`] first
    /// changed by `configure` (more environment, say).
    pub fn spawn_with(
        role: &str,
        dir: &Path,
        id: usize,
        configure: impl FnOnce(&mut Command),
    ) -> Proc {
        let mut command = command(role, dir, id);
        configure(&mut command);
        let mut child = command.spawn().unwrap();
        let lines = child.stdout.take().map(|out| BufReader::new(out).lines());
        Proc {
            name: format!("{role} #{id}"),
            child,
            lines,
        }
    }

    /// The next message of the child (the text after `@@`); `None` at the end of its output
    /// (at once if its stdout is not piped).
    pub fn next_message(&mut self) -> Option<String> {
        for line in self.lines.as_mut()?.by_ref() {
            let line = line.unwrap();
            if let Some((_, message)) = line.split_once("@@") {
                return Some(message.to_owned());
            }
        }
        None
    }

    /// Waits for a message starting with `word`, and returns what follows it.
    pub fn expect(&mut self, word: &str) -> String {
        loop {
            match self.next_message() {
                Some(m) => {
                    if let Some(rest) = m.strip_prefix(word) {
                        return rest.trim().to_owned();
                    }
                }
                None => panic!("{} ended without saying {word:?}", self.name),
            }
        }
    }

    /// Waits for the child to exit and checks that its test passed.
    pub fn finish(mut self) {
        while self.next_message().is_some() {}
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} failed: {status}", self.name);
    }

    /// The child's exit status if it has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // After finish() or kill() the child is already reaped and this does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message of one of the [`Streamed`] children that share a channel: the text after `@@`, or
/// `None` at the end of the child's output.
pub struct Event {
    /// The child's number.
    pub child: usize,
    /// The message, or `None` once the child's output has ended.
    pub message: Option<String>,
}

/// The next [`Event`] on `events`, failing after [`PATIENCE`] without one.
pub fn next_event(events: &Receiver<Event>) -> Event {
    match events.recv_timeout(PATIENCE) {
        Ok(event) => event,
        Err(RecvTimeoutError::Timeout) => panic!("no message from a child for {PATIENCE:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("the children's messages stopped"),
    }
}

/// A child process running one child test of this binary whose messages a thread passes on
/// to a channel as they come, for a parent that waits on several children at once, polls, or
/// kills a child at a chosen message; killed if dropped unfinished.
pub struct Streamed {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Streamed {
    /// Starts the child test `role` on `dir` as child number `id`, its [`command`] first
    /// changed by `configure` (a piped stdin is kept for [`Streamed::send`]). Each message
    /// goes to `events` as [`Event`]s do.
    pub fn spawn(
        role: &str,
        dir: &Path,
        id: usize,
        events: Sender<Event>,
        configure: impl FnOnce(&mut Command),
    ) -> Streamed {
        Streamed::spawn_mapped(role, dir, id, events, configure, move |message| {
            Some(Event {
                child: id,
                message: message.map(str::to_owned),
            })
        })
    }

    /// Like [`Streamed::spawn`], but each message (then `None` at the end of the output) is
    /// first turned into what goes to `events` by `map`; a message it maps to `None` is
    /// dropped.
    pub fn spawn_mapped<T: Send + 'static>(
        role: &str,
        dir: &Path,
        id: usize,
        events: Sender<T>,
        configure: impl FnOnce(&mut Command),
        map: impl Fn(Option<&str>) -> Option<T> + Send + 'static,
    ) -> Streamed {
        let mut command = command(role, dir, id);
        configure(&mut command);
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may print `test <name> ... ` before the first message.
                if let Some((_, message)) = line.split_once("@@")
                    && let Some(event) = map(Some(message))
                    && events.send(event).is_err()
                {
                    return;
                }
            }
            if let Some(end) = map(None) {
                let _ = events.send(end);
            }
        });
        Streamed {
            name: format!("{role} #{id}"),
            child,
            stdin,
        }
    }

    /// Sends one line to the child's stdin (piped by the `configure` of its spawn).
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the child's stdin is not piped");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends SIGKILL to the child, without reaping it.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    /// Waits for the child to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// Waits for the end of the output of a child that has `events` to itself, then for its
    /// exit, and checks that its test passed.
    pub fn finish(mut self, events: &Receiver<Event>) {
        while next_event(events).message.is_some() {}
        let status = self.wait();
        assert!(status.success(), "{} failed: {status}", self.name);
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        // After wait() the child is already reaped and this does nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
