//! The recipes for async code: [`AsyncLock`], [`AsyncSemaphore`] and [`AsyncThrottle`], whose
//! waits run on tokio's blocking pool.
//!
//! A held lock or permit is a guard of the blocking recipe, and a guard borrows its recipe, so
//! it cannot be handed from the blocking pool to a task. Instead the blocking thread that
//! acquired it keeps it, parked (not spinning) until the async guard is released or dropped:
//! each held [`AsyncLockGuard`] and [`AsyncSemaphoreGuard`] occupies one thread of tokio's
//! blocking pool (512 by default) for as long as it is held, and a runtime shutting down waits
//! for the guards still held outside it. An [`crate::RLock`] has no async twin: its owner is
//! a thread, and a task moves between threads.

use std::fmt;
use std::future::Future;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::blocking;
use crate::error::{Error, Result};
use crate::recipes::{BoundedSemaphore, Lock, LockGuard, SemaphoreGuard, Throttle};

/// How long a waiting acquire sleeps or spins before it looks whether its future was
/// dropped.
const LOOK: Duration = Duration::from_millis(100);

/// A recipe whose hold is a guard that borrows it.
trait Holdable: Clone + Send + 'static {
    /// Its guard.
    type Guard<'a>;
    /// What releasing the guard says.
    type Released: Send + 'static;
    /// Takes a hold without waiting.
    fn try_take(&self) -> Result<Option<Self::Guard<'_>>>;
    /// Takes a hold, waiting at most `timeout` ([`Error::Timeout`] then).
    fn take_within(&self, timeout: Duration) -> Result<Self::Guard<'_>>;
    /// Releases a hold, saying what the blocking `release` says.
    fn give_back(guard: Self::Guard<'_>) -> Result<Self::Released>;
}

impl Holdable for Lock {
    type Guard<'a> = LockGuard<'a>;
    type Released = bool;
    fn try_take(&self) -> Result<Option<LockGuard<'_>>> {
        self.try_acquire()
    }
    fn take_within(&self, timeout: Duration) -> Result<LockGuard<'_>> {
        self.acquire_timeout(timeout)
    }
    fn give_back(guard: LockGuard<'_>) -> Result<bool> {
        guard.release()
    }
}

impl Holdable for BoundedSemaphore {
    type Guard<'a> = SemaphoreGuard<'a>;
    type Released = ();
    fn try_take(&self) -> Result<Option<SemaphoreGuard<'_>>> {
        self.try_acquire()
    }
    fn take_within(&self, timeout: Duration) -> Result<SemaphoreGuard<'_>> {
        self.acquire_timeout(timeout)
    }
    fn give_back(guard: SemaphoreGuard<'_>) -> Result<()> {
        guard.release()
    }
}

/// How long an acquire waits.
#[derive(Clone, Copy)]
enum Wait {
    /// Not at all.
    No,
    /// Until it gets in, or its future is dropped.
    Forever,
    /// At most this long.
    Within(Duration),
}

impl Wait {
    /// The longest wait, if any (`None`: for ever).
    fn timeout(self) -> Option<Duration> {
        match self {
            Wait::No => Some(Duration::ZERO),
            Wait::Forever => None,
            Wait::Within(timeout) => Some(timeout),
        }
    }
}

/// Waits in slices of [`LOOK`] by calling `try_within` (which waits at most the slice it is
/// given and says [`Error::Timeout`] if it got nothing), until it gets something, `timeout`
/// (if any) has passed, or `abandoned` says nobody awaits the result any more (then
/// `Ok(None)`).
fn wait_in_slices<G>(
    timeout: Option<Duration>,
    abandoned: impl Fn() -> bool,
    mut try_within: impl FnMut(Duration) -> Result<G>,
) -> Result<Option<G>> {
    let deadline = timeout.map(crate::time::deadline);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let slice = left.map_or(LOOK, |left| left.min(LOOK));
        let started = Instant::now();
        match try_within(slice) {
            Err(Error::Timeout) => {}
            other => return other.map(Some),
        }
        if left.is_some_and(|left| left <= slice) {
            return Err(Error::Timeout);
        }
        if abandoned() {
            return Ok(None);
        }
        // A throttle says Timeout at once when its next token is due after the slice: sleep
        // the rest of the slice rather than asking again at once.
        std::thread::sleep(slice.saturating_sub(started.elapsed()));
    }
}

/// How a hold's owner asks its blocking thread to release it, and hears what that said.
type ReleaseRequest<R> = oneshot::Sender<Result<R>>;

/// A hold kept by a thread of the blocking pool: dropping it (the sender) makes that thread
/// drop the guard, which releases it; [`Hold::release`] asks it to release and say how that
/// went.
struct Hold<R> {
    release: Option<mpsc::Sender<ReleaseRequest<R>>>,
}

impl<R> fmt::Debug for Hold<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold")
            .field("held", &self.release.is_some())
            .finish()
    }
}

impl<R: Send + 'static> Hold<R> {
    /// Releases the hold and says what the blocking `release` said.
    async fn release(mut self) -> Result<R> {
        let (answer, answered) = oneshot::channel();
        let sent = self
            .release
            .take()
            .is_some_and(|release| release.send(answer).is_ok());
        if !sent {
            return Err(gone());
        }
        answered.await.map_err(|_| gone())?
    }
}

/// The error of a hold whose thread is gone (the runtime shut down).
fn gone() -> Error {
    Error::Io(std::io::Error::other(
        "the blocking thread keeping a lock or permit is gone (the runtime shut down)",
    ))
}

/// Takes a hold of `recipe` on a thread of the blocking pool and keeps it there; `None` if
/// `wait` is [`Wait::No`] and it is taken.
async fn hold<H: Holdable>(recipe: H, wait: Wait) -> Result<Option<Hold<H::Released>>> {
    let (reply, replied) = oneshot::channel::<Result<Option<Hold<H::Released>>>>();
    // The thread keeps the hold until it is released, so it is not awaited: `replied` tells
    // when it got in.
    drop(super::runtime()?.spawn_blocking(move || keep(&recipe, wait, reply)));
    replied.await.map_err(|_| gone())?
}

/// The blocking thread of [`hold`]: takes a hold, sends it (or why not) through `reply`, then
/// keeps the guard until it is asked to release it or its [`Hold`] is dropped.
fn keep<H: Holdable>(
    recipe: &H,
    wait: Wait,
    reply: oneshot::Sender<Result<Option<Hold<H::Released>>>>,
) {
    let taken = match wait {
        Wait::No => recipe.try_take().map(Some),
        _ => wait_in_slices(
            wait.timeout(),
            || reply.is_closed(),
            |slice| recipe.take_within(slice),
        )
        .map(|guard| guard.map(Some)),
    };
    let guard = match taken {
        Ok(Some(Some(guard))) => guard,
        // Abandoned: nobody to tell.
        Ok(None) => return,
        Ok(Some(None)) => {
            let _ = reply.send(Ok(None));
            return;
        }
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let (release, requests) = mpsc::channel();
    let held = Hold {
        release: Some(release),
    };
    if reply.send(Ok(Some(held))).is_err() {
        // The acquire was dropped as it got in: dropping the guard releases it.
        return;
    }
    match requests.recv() {
        Ok(answer) => {
            let _ = answer.send(H::give_back(guard));
        }
        // The hold was dropped: so is the guard, which releases it.
        Err(mpsc::RecvError) => drop(guard),
    }
}

/// A [`Lock`] for async code: acquiring waits on tokio's blocking pool, and the hold is kept
/// there (see the module's docs).
///
/// ```
/// # fn main() -> diskcache::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// # runtime.block_on(async {
/// use std::time::Duration;
/// use diskcache::{Cache, Lock};
/// use diskcache::asynchronous::AsyncLock;
///
/// let cache = Cache::open(dir.path())?;
/// let lock = AsyncLock::new(Lock::new(&cache, "report").expire(Duration::from_secs(30)));
/// let guard = lock.acquire().await?;
/// assert!(lock.try_acquire().await?.is_none());
/// assert!(guard.release().await?); // or drop it
/// // Or run a future under the lock.
/// assert_eq!(lock.run(async { 1 + 2 }).await?, 3);
/// # Ok::<(), diskcache::Error>(())
/// # })?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncLock {
    lock: Lock,
}

impl AsyncLock {
    /// The async handle of `lock` (the same lock, for every thread and process).
    pub fn new(lock: Lock) -> AsyncLock {
        AsyncLock { lock }
    }

    /// The blocking lock.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// [`Lock::acquire`], waiting on the blocking pool. Dropping the future stops the wait
    /// within 100 ms (and releases the lock if it got it meanwhile).
    ///
    /// # Errors
    /// As [`Lock::acquire`].
    pub async fn acquire(&self) -> Result<AsyncLockGuard> {
        let held = hold(self.lock.clone(), Wait::Forever).await?;
        held.map(|hold| AsyncLockGuard { hold }).ok_or_else(gone)
    }

    /// [`Lock::acquire_timeout`], waiting on the blocking pool.
    ///
    /// # Errors
    /// As [`Lock::acquire_timeout`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<AsyncLockGuard> {
        let held = hold(self.lock.clone(), Wait::Within(timeout)).await?;
        held.map(|hold| AsyncLockGuard { hold }).ok_or_else(gone)
    }

    /// [`Lock::try_acquire`]: `None` if the lock is held.
    ///
    /// # Errors
    /// As [`Lock::try_acquire`].
    pub async fn try_acquire(&self) -> Result<Option<AsyncLockGuard>> {
        let held = hold(self.lock.clone(), Wait::No).await?;
        Ok(held.map(|hold| AsyncLockGuard { hold }))
    }

    /// [`Lock::locked`].
    ///
    /// # Errors
    /// As [`Lock::locked`].
    pub fn locked(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        let lock = self.lock.clone();
        blocking(move || lock.locked())
    }

    /// Awaits `work` while holding the lock (acquired first), then releases it (Python's
    /// `barrier`, for a future).
    ///
    /// # Errors
    /// As [`AsyncLock::acquire`]; if releasing fails, that error (after `work` has run).
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T> {
        let guard = self.acquire().await?;
        let value = work.await;
        guard.release().await?;
        Ok(value)
    }
}

/// A held [`AsyncLock`]. Dropping it releases the lock shortly after, on the blocking thread
/// that keeps it (errors ignored); [`AsyncLockGuard::release`] waits for that and says.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct AsyncLockGuard {
    hold: Hold<bool>,
}

impl AsyncLockGuard {
    /// [`LockGuard::release`]: `false` if the lock was no longer this guard's.
    ///
    /// # Errors
    /// As [`LockGuard::release`].
    pub async fn release(self) -> Result<bool> {
        self.hold.release().await
    }
}

/// A [`BoundedSemaphore`] for async code: acquiring waits on tokio's blocking pool, and each
/// permit is kept there (see the module's docs).
#[derive(Clone, Debug)]
pub struct AsyncSemaphore {
    semaphore: BoundedSemaphore,
}

impl AsyncSemaphore {
    /// The async handle of `semaphore`.
    pub fn new(semaphore: BoundedSemaphore) -> AsyncSemaphore {
        AsyncSemaphore { semaphore }
    }

    /// The blocking semaphore.
    pub fn semaphore(&self) -> &BoundedSemaphore {
        &self.semaphore
    }

    /// [`BoundedSemaphore::acquire`], waiting on the blocking pool. Dropping the future stops
    /// the wait within 100 ms (and gives back a permit it got meanwhile).
    ///
    /// # Errors
    /// As [`BoundedSemaphore::acquire`].
    pub async fn acquire(&self) -> Result<AsyncSemaphoreGuard> {
        let held = hold(self.semaphore.clone(), Wait::Forever).await?;
        held.map(|hold| AsyncSemaphoreGuard { hold })
            .ok_or_else(gone)
    }

    /// [`BoundedSemaphore::acquire_timeout`], waiting on the blocking pool.
    ///
    /// # Errors
    /// As [`BoundedSemaphore::acquire_timeout`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<AsyncSemaphoreGuard> {
        let held = hold(self.semaphore.clone(), Wait::Within(timeout)).await?;
        held.map(|hold| AsyncSemaphoreGuard { hold })
            .ok_or_else(gone)
    }

    /// [`BoundedSemaphore::try_acquire`]: `None` if no permit is free.
    ///
    /// # Errors
    /// As [`BoundedSemaphore::try_acquire`].
    pub async fn try_acquire(&self) -> Result<Option<AsyncSemaphoreGuard>> {
        let held = hold(self.semaphore.clone(), Wait::No).await?;
        Ok(held.map(|hold| AsyncSemaphoreGuard { hold }))
    }

    /// [`BoundedSemaphore::available`].
    ///
    /// # Errors
    /// As [`BoundedSemaphore::available`].
    pub fn available(&self) -> impl Future<Output = Result<u32>> + Send + 'static {
        let semaphore = self.semaphore.clone();
        blocking(move || semaphore.available())
    }
}

/// A permit of an [`AsyncSemaphore`]. Dropping it gives the permit back shortly after, on
/// the blocking thread that keeps it (errors ignored); [`AsyncSemaphoreGuard::release`] waits
/// for that and says.
#[derive(Debug)]
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct AsyncSemaphoreGuard {
    hold: Hold<()>,
}

impl AsyncSemaphoreGuard {
    /// [`SemaphoreGuard::release`].
    ///
    /// # Errors
    /// As [`SemaphoreGuard::release`].
    pub async fn release(self) -> Result<()> {
        self.hold.release().await
    }
}

/// A [`Throttle`] for async code: waiting for a token sleeps on tokio's blocking pool.
#[derive(Clone, Debug)]
pub struct AsyncThrottle {
    throttle: Throttle,
}

impl AsyncThrottle {
    /// The async handle of `throttle`.
    pub fn new(throttle: Throttle) -> AsyncThrottle {
        AsyncThrottle { throttle }
    }

    /// The blocking throttle.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// [`Throttle::try_acquire`]: whether a token was there (and is now taken).
    ///
    /// # Errors
    /// As [`Throttle::try_acquire`].
    pub fn try_acquire(&self) -> impl Future<Output = Result<bool>> + Send + 'static {
        let throttle = self.throttle.clone();
        blocking(move || throttle.try_acquire())
    }

    /// [`Throttle::acquire`], sleeping on the blocking pool. Dropping the future stops the
    /// wait within 100 ms.
    ///
    /// # Errors
    /// As [`Throttle::acquire`].
    pub async fn acquire(&self) -> Result<()> {
        self.wait(Wait::Forever).await
    }

    /// [`Throttle::acquire_timeout`], sleeping on the blocking pool.
    ///
    /// # Errors
    /// As [`Throttle::acquire_timeout`].
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<()> {
        self.wait(Wait::Within(timeout)).await
    }

    /// Waits for a token on the blocking pool, as long as `wait` says or until the future is
    /// dropped.
    async fn wait(&self, wait: Wait) -> Result<()> {
        let throttle = self.throttle.clone();
        // The blocking thread's way to see that the future was dropped.
        let (awaited, abandoned) = oneshot::channel::<()>();
        let taken = blocking(move || {
            wait_in_slices(
                wait.timeout(),
                || awaited.is_closed(),
                |slice| throttle.acquire_timeout(slice),
            )
        });
        let taken = taken.await;
        drop(abandoned);
        match taken? {
            Some(()) => Ok(()),
            None => Err(gone()),
        }
    }
}
