//! `WriteGate`: queues this process's writers in arrival order, with a deadline.
//!
//! A mutex guards whether the gate is held and the queue of waiting threads. A release with
//! a waiter does not open the gate: it hands it to the first waiter (sets its `granted` flag,
//! then unparks it), so a thread that releases and at once enters again queues behind it
//! instead of winning the race against the woken thread. A waiter spins on its flag briefly,
//! then parks; one whose deadline passes leaves the queue under the mutex, unless the gate
//! was handed to it meanwhile (then it has it). Entering and leaving a free gate take the
//! mutex once each and make no system call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::testing::sabotage::{self, Sabotage};

/// Checks of its flag a waiter makes before it parks: about as long as a short write holds
/// the gate, so that a handoff between two busy threads usually costs no system call.
const SPINS: u32 = 200;

/// Serializes this process's writers in arrival order with a deadline, so threads queue
/// without spinning for long and `timeout` bounds the wait in-process as well as across
/// processes.
#[derive(Debug, Default)]
pub(crate) struct WriteGate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    /// Whether a thread holds the gate (or it has been handed to the first waiter).
    busy: bool,
    /// Threads waiting, first come first.
    queue: VecDeque<Arc<Waiter>>,
}

/// One thread waiting in [`WriteGate::enter`].
#[derive(Debug)]
struct Waiter {
    /// Set (under the mutex) when the gate is handed to this thread.
    granted: AtomicBool,
    thread: Thread,
}

/// Holds the gate; dropping it hands the gate to the next writer, or opens it.
pub(crate) struct GateGuard<'a>(&'a WriteGate);

impl WriteGate {
    /// Waits until every thread of this process that came first has written, or `deadline`
    /// passes ([`Error::Timeout`]).
    pub(crate) fn enter(&self, deadline: Instant) -> Result<GateGuard<'_>> {
        let mut state = self.state();
        if !state.busy || barging(&state) {
            state.busy = true;
            return Ok(GateGuard(self));
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout);
        }
        let me = Arc::new(Waiter {
            granted: AtomicBool::new(false),
            thread: std::thread::current(),
        });
        state.queue.push_back(Arc::clone(&me));
        drop(state);
        let since = Instant::now();
        let entered = self.wait(&me, deadline);
        match &entered {
            Ok(_) => crate::observe::lock_waited("in-process", since.elapsed()),
            Err(_) => crate::observe::lock_timed_out("in-process", since.elapsed()),
        }
        entered
    }

    /// Waits, queued as `me`, until the gate is handed over or `deadline` passes.
    fn wait(&self, me: &Arc<Waiter>, deadline: Instant) -> Result<GateGuard<'_>> {
        let unfair = sabotage::on(Sabotage::UnfairLock);
        let mut spins = if unfair { SPINS } else { 0 };
        loop {
            if me.granted.load(Ordering::Acquire) {
                return Ok(GateGuard(self));
            }
            if unfair && self.barge(me) {
                return Ok(GateGuard(self));
            }
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let mut state = self.state();
                if me.granted.load(Ordering::Acquire) {
                    return Ok(GateGuard(self));
                }
                state.queue.retain(|w| !Arc::ptr_eq(w, me));
                return Err(Error::Timeout);
            }
            // A handoff after the flag was read unparks this thread (or makes this return at
            // once): no wake-up is lost.
            std::thread::park_timeout(left);
        }
    }

    /// Negative control (`unfair-lock`): takes the gate if it is open, whoever is queued
    /// first, leaving the queue.
    fn barge(&self, me: &Arc<Waiter>) -> bool {
        let mut state = self.state();
        if state.busy {
            return false;
        }
        state.busy = true;
        state.queue.retain(|w| !Arc::ptr_eq(w, me));
        true
    }

    fn state(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether an open gate may be taken past the queue: only in the `unfair-lock` negative
/// control (in the fair gate an open gate has an empty queue).
fn barging(state: &GateState) -> bool {
    sabotage::on(Sabotage::UnfairLock) && !state.busy
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        if sabotage::on(Sabotage::UnfairLock) {
            // Negative control: open the gate and wake the first waiter to race for it.
            state.busy = false;
            let first = state.queue.front().map(|w| w.thread.clone());
            drop(state);
            if let Some(thread) = first {
                thread.unpark();
            }
            return;
        }
        match state.queue.pop_front() {
            Some(next) => {
                next.granted.store(true, Ordering::Release);
                drop(state);
                next.thread.unpark();
            }
            None => state.busy = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[test]
    fn the_gate_times_out_while_held_and_admits_after() {
        let gate = Arc::new(WriteGate::default());
        let held = gate.enter(Instant::now()).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(matches!(gate.enter(soon), Err(Error::Timeout)));
        assert!(
            gate.state().queue.is_empty(),
            "a timed-out waiter left the queue"
        );
        let g2 = gate.clone();
        let waiter = std::thread::spawn(move || {
            g2.enter(Instant::now() + Duration::from_secs(10))
                .map(|_| ())
                .is_ok()
        });
        std::thread::sleep(Duration::from_millis(10));
        drop(held);
        assert!(waiter.join().unwrap());
        assert!(!gate.state().busy);
    }

    #[test]
    fn waiters_get_the_gate_in_the_order_they_came() {
        let gate = Arc::new(WriteGate::default());
        let held = gate.enter(Instant::now()).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for i in 0..4 {
            let (g, order) = (Arc::clone(&gate), Arc::clone(&order));
            threads.push(std::thread::spawn(move || {
                let _g = g.enter(Instant::now() + Duration::from_secs(30)).unwrap();
                order.lock().unwrap().push(i);
            }));
            // The next one queues only once this one has.
            while gate.state().queue.len() < i + 1 {
                std::thread::yield_now();
            }
        }
        drop(held);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_thread_that_releases_and_enters_again_queues_behind_the_waiter() {
        let gate = Arc::new(WriteGate::default());
        let held = gate.enter(Instant::now()).unwrap();
        let entered = Arc::new(AtomicUsize::new(0));
        let (g2, e2) = (Arc::clone(&gate), Arc::clone(&entered));
        let waiter = std::thread::spawn(move || {
            let _g = g2.enter(Instant::now() + Duration::from_secs(30)).unwrap();
            e2.fetch_add(1, Ordering::SeqCst);
        });
        while gate.state().queue.is_empty() {
            std::thread::yield_now();
        }
        // Long enough for the waiter to be parked, so that it needs waking.
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        // Handed over: the gate is not open to this thread, however soon it comes back.
        let again = gate
            .enter(Instant::now() + Duration::from_secs(30))
            .unwrap();
        assert_eq!(entered.load(Ordering::SeqCst), 1);
        drop(again);
        waiter.join().unwrap();
    }
}
