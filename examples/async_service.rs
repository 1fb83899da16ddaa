//! Many tokio tasks in two processes sharing one cache, through the async handles
//! (`diskcache::asynchronous`, feature `tokio`): this program starts a second copy of itself
//! on the same cache directory, and in each process 64 tasks on a multi-threaded runtime serve
//! "requests": count each one (`incr`), store and read back a typed session, and add one to a
//! shared total under an `AsyncLock` (a read, then a write). Both processes' counts must come
//! out exact.
//!
//! `cargo run --release --example async_service` (about a second; several in a debug build). With `-- --measure`, it prints what
//! a `get` costs called directly on the runtime's thread and through the async handle's hop
//! to tokio's blocking pool (use `--release` for numbers worth comparing).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use diskcache::asynchronous::{AsyncCache, AsyncLock};
use diskcache::{Cache, Lock};
use serde::{Deserialize, Serialize};

/// Tasks in each process.
const TASKS: u64 = 64;
/// Requests each task serves.
const REQUESTS: u64 = 20;
/// Of them, how many add to the total under the lock.
const LOCKED: u64 = 5;

/// What a request stores and reads back: any serde type goes through the async handle.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Session {
    process: String,
    task: u64,
    request: u64,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--second"), Some(dir)) => return serve("second", Path::new(&dir)),
        (Some("--measure"), _) => return measure(),
        _ => {}
    }

    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let mut second = Command::new(std::env::current_exe()?)
        .arg("--second")
        .arg(dir.path())
        .spawn()?;
    serve("first ", dir.path())?;
    if !second.wait()?.success() {
        return Err("the second process failed".into());
    }

    let cache = Cache::open(dir.path())?;
    let requests = cache.get::<i64>("requests")?.unwrap_or(0);
    let total = cache.get::<i64>("total")?.unwrap_or(0);
    println!(
        "both done in {:.1?}: {requests} requests counted (2 x {TASKS} tasks x {REQUESTS}), \
         total {total} under the lock (2 x {TASKS} x {LOCKED})",
        start.elapsed()
    );
    if requests as u64 != 2 * TASKS * REQUESTS || total as u64 != 2 * TASKS * LOCKED {
        return Err(format!("lost updates: {requests} requests, total {total}").into());
    }
    Ok(())
}

/// What each of the two processes does: `TASKS` tasks on a runtime of two worker threads.
fn serve(name: &str, dir: &Path) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    runtime.block_on(async {
        let cache = AsyncCache::open(dir).await?;
        // A lease of 10 s: if this process died holding the lock, the other would get it then.
        let lock =
            AsyncLock::new(Lock::new(cache.cache(), "total-lock").expire(Duration::from_secs(10)));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (cache, lock, process) = (cache.clone(), lock.clone(), name.trim().to_string());
            tasks.push(tokio::spawn(async move {
                for request in 0..REQUESTS {
                    cache.incr("requests", 1, Some(0)).await?;
                    let key = (process.clone(), task, request);
                    let session = Session {
                        process: process.clone(),
                        task,
                        request,
                    };
                    let key = diskcache::Key::from_serialize(&key)?;
                    cache.set(key.clone(), session).await?;
                    let back: Option<Session> = cache.get(key).await?;
                    assert_eq!(back.map(|s| (s.task, s.request)), Some((task, request)));
                    if request < LOCKED {
                        // Read, then write: without the lock, the processes would lose updates.
                        let cache = cache.clone();
                        lock.run(async move {
                            let total = cache.get::<i64>("total").await?.unwrap_or(0);
                            cache.set("total", total + 1).await
                        })
                        .await??;
                    }
                }
                Ok::<(), diskcache::Error>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        println!(
            "{name}: {TASKS} tasks served {} requests in {:.1?}",
            TASKS * REQUESTS,
            start.elapsed()
        );
        cache.close().await?;
        Ok(())
    })
}

/// Prints the cost of a `get` of a 100-byte value called directly and through the hop, and
/// of the hop alone, on a multi-threaded and a one-thread runtime.
fn measure() -> Result<(), Failure> {
    const N: u32 = 20_000;
    let dir = tempfile::tempdir()?;
    let cache = AsyncCache::new(Cache::open(dir.path())?);
    cache.cache().set("k", vec![1u8; 100])?;
    for (flavor, runtime) in [
        (
            "multi-threaded (2 workers)",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()?,
        ),
        (
            "current-thread",
            tokio::runtime::Builder::new_current_thread().build()?,
        ),
    ] {
        runtime.block_on(async {
            let direct = per_op(N, || async {
                cache.cache().get::<Vec<u8>>("k")?;
                Ok(())
            })
            .await?;
            let hop = per_op(N, || async {
                cache.get::<Vec<u8>>("k").await?;
                Ok(())
            })
            .await?;
            let empty = per_op(N, || async { cache.run(|_| Ok(())).await }).await?;
            println!(
                "{flavor}: get direct {direct:.0} ns/op, get through the hop {hop:.0} ns/op \
                 ({:.1}x), the hop alone {empty:.0} ns/op",
                hop / direct
            );
            Ok::<(), Failure>(())
        })?;
    }
    Ok(())
}

/// The mean time of `op` in nanoseconds over `n` calls, after `n / 10` to warm up.
async fn per_op<F, Fut>(n: u32, mut op: F) -> Result<f64, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = diskcache::Result<()>>,
{
    for _ in 0..n / 10 {
        op().await?;
    }
    let start = Instant::now();
    for _ in 0..n {
        op().await?;
    }
    Ok(start.elapsed().as_nanos() as f64 / f64::from(n))
}
