//! `WriteGate`: queues this process's writers, with a deadline.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use crate::error::{Error, Result};

/// Serializes this process's writers with a deadline, so threads queue without spinning and
/// `timeout` bounds the wait in-process as well as across processes.
#[derive(Debug, Default)]
pub(crate) struct WriteGate {
    state: Mutex<GateState>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    busy: bool,
    /// Threads waiting in `enter`: a release wakes one only if there is one, since a
    /// condvar notification is a system call even when nobody waits.
    waiting: u32,
}

/// Holds the gate; dropping it lets the next writer in.
pub(crate) struct GateGuard<'a>(&'a WriteGate);

impl WriteGate {
    /// Waits until no other thread of this process writes, or `deadline` passes.
    pub(crate) fn enter(&self, deadline: Instant) -> Result<GateGuard<'_>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            state.waiting += 1;
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiting -= 1;
        }
        state.busy = true;
        Ok(GateGuard(self))
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.busy = false;
        let wake = state.waiting > 0;
        drop(state);
        if wake {
            self.0.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_gate_times_out_while_held_and_admits_after() {
        let gate = Arc::new(WriteGate::default());
        let held = gate.enter(Instant::now()).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(matches!(gate.enter(soon), Err(Error::Timeout)));
        let g2 = gate.clone();
        let waiter = std::thread::spawn(move || {
            g2.enter(Instant::now() + Duration::from_secs(10))
                .map(|_| ())
                .is_ok()
        });
        std::thread::sleep(Duration::from_millis(10));
        drop(held);
        assert!(waiter.join().unwrap());
    }
}
