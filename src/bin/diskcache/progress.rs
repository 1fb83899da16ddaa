//! The long commands' progress (`check`, `clear`, `expire`, `evict`, `cull`): a bar on stderr
//! when stderr is a terminal and `--quiet` is not given, drawn from the library's progress
//! reports; nothing at all otherwise, so that scripts see only the answer on stdout. Ctrl-C
//! (SIGINT) sets a flag that the next report reads: the operation stops after the slice in
//! progress, which is committed whole, and the command says what it did and exits with 130. A
//! second Ctrl-C exits at once, as a kill would: the slice in progress is then not committed,
//! which the cache survives as it survives a crash.

use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diskcache::{Phase, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// The exit status of a command that Ctrl-C stopped (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// Set by the Ctrl-C handler.
static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once; `false` if it could not be installed (Ctrl-C then ends
/// the process as it would without one).
fn handle_ctrl_c() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                // The second Ctrl-C: the user does not want to wait for the slice.
                std::process::exit(i32::from(INTERRUPTED));
            }
        })
        .is_ok()
    })
}

/// The progress of one command: its bar (if drawn) and the name of what it does.
pub struct Bar {
    /// Whether to draw at all.
    draw: bool,
    /// What `Phase::Removing` is called ("clearing").
    removing: &'static str,
    /// The bar of the phase (and shard) in progress, and what it was drawn for.
    shown: Option<(ProgressBar, Shown)>,
}

/// What a bar is drawn for: a phase, its total and the shard.
type Shown = (Phase, Option<u64>, usize);

impl Bar {
    /// The progress of a command that removes entries under the name `removing`
    /// ("clearing"), drawn on stderr if it is a terminal and `quiet` is off. Installs the
    /// Ctrl-C handler.
    pub fn new(quiet: bool, removing: &'static str) -> Bar {
        handle_ctrl_c();
        Bar {
            draw: !quiet && std::io::stderr().is_terminal(),
            removing,
            shown: None,
        }
    }

    /// The callback the library's `*_with_progress` methods take: draws `p` and stops the
    /// operation once Ctrl-C was pressed.
    pub fn report(&mut self, p: &Progress) -> ControlFlow<()> {
        if self.draw {
            let key = (p.phase, p.total, p.shard);
            match &self.shown {
                Some((bar, shown)) if *shown == key => bar.set_position(p.done),
                _ => {
                    // A new phase (or shard): a bar of its own, with its own count and rate.
                    self.finish();
                    let bar = self.bar_for(p);
                    bar.set_position(p.done);
                    self.shown = Some((bar, key));
                }
            }
        }
        if STOP.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Removes the bar from the terminal (before the answer is printed).
    pub fn finish(&mut self) {
        if let Some((bar, _)) = self.shown.take() {
            bar.finish_and_clear();
        }
    }

    /// A bar for the phase `p` is in, drawn on stderr and ticking on its own (so that the
    /// spinner and the time go on during a long step).
    fn bar_for(&self, p: &Progress) -> ProgressBar {
        let (doing, unit) = describe(p.phase, self.removing);
        let prefix = if p.shards > 1 {
            format!("shard {}/{} {doing}", p.shard + 1, p.shards)
        } else {
            doing.to_owned()
        };
        let counted = !matches!(p.phase, Phase::Integrity | Phase::Files);
        let bar = ProgressBar::with_draw_target(p.total, ProgressDrawTarget::stderr())
            .with_style(style(p.total, counted))
            .with_prefix(prefix)
            .with_message(unit);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    }
}

/// The bar's look: with the total known, a bar with the count, rate and time left; else a
/// spinner with the count and rate (`counted`) or the time so far.
fn style(total: Option<u64>, counted: bool) -> ProgressStyle {
    let template = match (total, counted) {
        (Some(_), true) => "{prefix} [{bar:20}] {human_pos}/{human_len} {msg} ({rate}, {eta} left)",
        (None, true) => "{spinner} {prefix}: {human_pos} {msg} ({rate})",
        (_, false) => "{spinner} {prefix} ({elapsed})",
    };
    ProgressStyle::with_template(template)
        .map(|s| {
            s.progress_chars("=> ").with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", state.per_sec());
                },
            )
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// What a phase is doing, and the unit of its count.
fn describe(phase: Phase, removing: &'static str) -> (&'static str, &'static str) {
    match phase {
        Phase::Removing => (removing, "entries"),
        Phase::Integrity => ("checking the database file", ""),
        Phase::Rows => ("reading rows and values", "rows"),
        Phase::Files => ("listing value files", ""),
        Phase::Tables => ("checking order tables", "tables"),
        Phase::Confirm => ("confirming findings", "findings"),
        Phase::Compact => ("compacting", "attempts"),
        _ => ("working", "steps"),
    }
}
