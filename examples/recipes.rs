//! A lock and a throttle shared by two processes: this program starts a second copy of itself
//! on the same cache directory, and both count visits under a `Lock` (a read, then a write of
//! one plus what was read) and make calls through a `Throttle` of 5 calls a second.
//!
//! Run with `cargo run --example recipes` (it takes about two seconds). The count comes out
//! exact, and the throttle is shared: the first 5 calls go through at once (a full bucket,
//! often all taken by one process), and the next come 200 ms apart, whichever process makes
//! them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use diskcache::{Cache, Lock, Throttle};

/// Visits each process counts under the lock.
const VISITS: i64 = 20;
/// Calls each process makes through the throttle.
const CALLS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if let (Some(flag), Some(dir)) = (args.next(), args.next())
        && flag == "--second"
    {
        // The copy started by the first process.
        return work("second", Path::new(&dir));
    }

    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let mut second = Command::new(std::env::current_exe()?)
        .arg("--second")
        .arg(dir.path())
        .spawn()?;
    work("first ", dir.path())?;
    if !second.wait()?.success() {
        return Err("the second process failed".into());
    }

    let cache = Cache::open(dir.path())?;
    let visits = cache.get::<i64>("visits")?.unwrap_or(0);
    println!(
        "both done in {:.1?}: {visits} visits counted (2 x {VISITS}), {} calls made",
        start.elapsed(),
        2 * CALLS
    );
    if visits != 2 * VISITS {
        return Err(format!("lost visits: {visits} of {}", 2 * VISITS).into());
    }
    Ok(())
}

/// What each of the two processes does.
fn work(name: &str, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let cache = Cache::open(dir)?;

    // A lease of 10 s: if this process died holding the lock, the other would get it then.
    let lock = Lock::new(&cache, "visits-lock").expire(Duration::from_secs(10));
    for _ in 0..VISITS {
        // Read, then write: without the lock, the two processes would lose visits.
        lock.run(|| -> diskcache::Result<()> {
            let visits = cache.get::<i64>("visits")?.unwrap_or(0);
            std::thread::sleep(Duration::from_micros(500));
            cache.set("visits", visits + 1)
        })??;
        // Let the other process have a turn.
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("{name}: counted {VISITS} visits under the lock");

    let throttle = Throttle::new(&cache, "api", 5, Duration::from_secs(1))?;
    let start = Instant::now();
    for call in 1..=CALLS {
        throttle.acquire()?;
        println!("{name}: call {call} at {:.2?}", start.elapsed());
    }
    Ok(())
}
