//! The `tracing` events an operator sees (src/observe.rs): a wait for the write lock long
//! enough to tell, a write that gave up waiting, a checkpoint, and a cull, each seen by a
//! subscriber of the test's own on the thread that did it.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use diskcache::{Cache, Error, WritePath};
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber, span};

/// A subscriber that keeps every event of the `diskcache` targets as
/// `"<target> <level> <field>=<value>..."`.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl Subscriber for Events {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("diskcache")
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut line = Line(format!("{} {}", meta.target(), meta.level()));
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

impl Events {
    /// Runs `f` with this subscriber as the thread's, and returns what it saw.
    fn during(f: impl FnOnce()) -> Vec<String> {
        let events = Events::default();
        tracing::subscriber::with_default(events.clone(), f);
        events.0.lock().unwrap().clone()
    }
}

/// Runs `f` while another thread holds the cache's write lock (inside a transaction) for
/// `held`.
fn while_locked(cache: &Cache, held: Duration, f: impl FnOnce()) {
    let (inside, entered) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            cache
                .transact(|_| {
                    inside.send(()).unwrap();
                    std::thread::sleep(held);
                    Ok(())
                })
                .unwrap();
        });
        entered.recv().unwrap();
        f();
    });
}

#[test]
fn a_long_wait_for_the_write_lock_is_told_and_so_is_giving_up() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .timeout(Duration::from_secs(10))
        .open(dir.path())
        .unwrap();
    let seen = Events::during(|| {
        while_locked(&cache, Duration::from_millis(100), || {
            cache.set("k", 1).unwrap();
        })
    });
    assert!(
        seen.iter()
            .any(|e| e.starts_with("diskcache::lock INFO")
                && e.contains("waited for the write lock")),
        "{seen:?}"
    );

    let impatient = Cache::builder()
        .timeout(Duration::from_millis(20))
        .open(dir.path())
        .unwrap();
    let seen = Events::during(|| {
        while_locked(&cache, Duration::from_millis(300), || {
            assert!(matches!(impatient.set("k", 2), Err(Error::Timeout)));
        })
    });
    assert!(
        seen.iter()
            .any(|e| e.starts_with("diskcache::lock INFO") && e.contains("gave up")),
        "{seen:?}"
    );
}

#[test]
fn a_quick_write_tells_nothing_at_info() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let seen = Events::during(|| {
        for i in 0..100 {
            cache.set(i, i).unwrap();
        }
    });
    assert!(
        !seen
            .iter()
            .any(|e| e.contains(" INFO") || e.contains(" WARN")),
        "{seen:?}"
    );
}

#[test]
fn a_checkpoint_and_a_cull_are_told_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::builder()
        .size_limit(16 * 1024)
        .open(dir.path())
        .unwrap();
    let value = vec![7u8; 1024];
    let seen = Events::during(|| {
        for i in 0..64 {
            cache.set(i, serde_bytes::Bytes::new(&value)).unwrap();
        }
        cache.checkpoint().unwrap();
    });
    assert!(
        seen.iter()
            .any(|e| e.starts_with("diskcache::cull DEBUG") && e.contains("removed=")),
        "{seen:?}"
    );
    if cache.settings().write_path == WritePath::Logged {
        assert!(
            seen.iter()
                .any(|e| e.starts_with("diskcache::checkpoint DEBUG") && e.contains("records=")),
            "{seen:?}"
        );
    }
}
