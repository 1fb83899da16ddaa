//! The long commands' progress and Ctrl-C, through the real binary: nothing on stderr when it
//! is not a terminal (with or without `--quiet`); a progress bar on a terminal (a pty made by
//! util-linux's `script`), and none there with `--quiet`; a real SIGINT stopping `clear`
//! between two slices, with exit status 130, the count of what went, and a consistent cache.

use std::path::Path;

use diskcache::{Cache, SetOptions};

use crate::{run, s, stdout};

/// A cache of `n` entries in `dir` (culling off), half of them tagged "t", every tenth
/// expired, every fourth one's value in a file; returned open.
fn filled(dir: &Path, n: u64) -> Cache {
    let cache = Cache::builder()
        .min_file_size(256)
        .cull_limit(0)
        .size_limit(1 << 40)
        .open(dir)
        .unwrap();
    for i in 0..n {
        let mut opts = SetOptions::default();
        if i % 2 == 0 {
            opts = opts.tag("t");
        }
        if i % 10 == 0 {
            opts = opts.expire(std::time::Duration::from_nanos(1));
        }
        let value = vec![7u8; if i % 4 == 0 { 300 } else { 8 }];
        cache.set_with(i, value, opts).unwrap();
    }
    cache
}

#[test]
fn the_long_commands_write_nothing_on_stderr_when_it_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 300));
    let d = s(dir.path());
    let expected = [
        (vec!["check", d], "no problems found\n"),
        (vec!["check", "--fix", d], "no problems found\n"),
        (vec!["expire", d], "expired 30 entries\n"),
        (vec!["evict", d, "t"], "evicted 120 entries tagged "),
        (vec!["cull", d], "culled 0 entries\n"),
        (vec!["compact", d], "compacted\n"),
        (
            vec!["--quiet", "clear", "--yes", d],
            "cleared 150 entries\n",
        ),
    ];
    for (args, answer) in expected {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(stdout(&o).starts_with(answer), "{args:?}: {}", stdout(&o));
        assert!(o.stderr.is_empty(), "{args:?}: {:?}", o.stderr);
    }
}

/// Runs `diskcache ARGS` on a terminal: a pty that util-linux's `script` makes, whose output
/// (stdout and stderr together, as a terminal shows them) is returned with the exit status.
/// `None` if `script` cannot be run here.
#[cfg(unix)]
fn on_a_terminal(args: &[&str]) -> Option<(Option<i32>, String)> {
    let command = std::iter::once(env!("CARGO_BIN_EXE_diskcache"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new("script")
        .args(["-q", "-f", "-e", "-c", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
    ))
}

#[cfg(unix)]
#[test]
fn on_a_terminal_clear_and_check_draw_a_bar_and_quiet_draws_none() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::common::skip::missing("util-linux's `script` is not installed (it makes the pty)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 1000));
    let d = s(dir.path());

    let (code, quiet) = on_a_terminal(&["--quiet", "check", d]).unwrap();
    assert_eq!(code, Some(0), "{quiet}");
    assert!(quiet.contains("no problems found"), "{quiet}");
    assert!(
        !quiet.contains("reading rows"),
        "--quiet draws no bar: {quiet}"
    );

    let (code, shown) = on_a_terminal(&["check", d]).unwrap();
    assert_eq!(code, Some(0), "{shown}");
    // The rows phase's bar, with its count out of the total and its rate.
    assert!(shown.contains("reading rows and values ["), "{shown}");
    assert!(shown.contains("/1,000 rows ("), "{shown}");
    assert!(shown.contains("/s"), "{shown}");
    assert!(shown.contains("no problems found"), "{shown}");

    let (code, shown) = on_a_terminal(&["clear", "--yes", d]).unwrap();
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("clearing ["), "{shown}");
    assert!(shown.contains("/1,000 entries ("), "{shown}");
    assert!(shown.contains("cleared 1000 entries"), "{shown}");
}

/// Sends SIGINT, as Ctrl-C on a terminal does, to process `pid`.
#[cfg(target_os = "linux")]
fn interrupt(pid: u32) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill(2) with a process id and a signal number touches no memory.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// `diskcache clear` on a cache of 3,000 entries gets a real SIGINT after its first slice:
/// the test waits until the count has dropped (the command has started removing, and so has
/// its Ctrl-C handler), takes the write lock as another process would, so that the command
/// waits before its next slice, sends SIGINT, and lets the lock go. The slice it was waiting
/// for runs whole, then the command stops. (If the whole clear ran before the test had the
/// lock, it is tried again on a new cache.)
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_stops_clear_between_two_slices_and_leaves_the_cache_consistent() {
    const N: u64 = 3000;
    for _attempt in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let cache = filled(dir.path(), N);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_diskcache"))
            .args(["--json", "clear", "--yes", s(dir.path())])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        while cache.len().unwrap() == N {
            assert!(child.try_wait().unwrap().is_none(), "clear ended first");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let held = crate::common::hold_log_lock(dir.path());
        if cache.len().unwrap() == 0 {
            drop(held);
            assert!(child.wait().unwrap().success());
            continue;
        }
        interrupt(child.id());
        drop(held);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{:?}", out.stderr);
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let cleared = answer["cleared"].as_u64().unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"cleared": cleared, "interrupted": true})
        );
        assert!(cleared > 0 && cleared < N, "{answer}");
        // What it says it removed went, the rest stayed, and the cache is in order.
        assert_eq!(cache.len().unwrap(), N - cleared);
        assert_eq!(cache.check(false).unwrap(), Vec::new());
        drop(cache);
        // Running it again goes on.
        assert_eq!(
            crate::run_json(&["clear", "--yes", s(dir.path())], 0),
            serde_json::json!({"cleared": N - cleared})
        );
        return;
    }
    panic!("every clear ran to its end before the test had the write lock");
}
