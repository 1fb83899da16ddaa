//! Midpoints: named places inside a change of shared state made in several steps, where a
//! unit test of this crate runs a closure of its own on the changing thread, to see what
//! another reader would see between the steps. Outside the library's unit tests each point
//! compiles to nothing.

#[cfg(test)]
use std::cell::RefCell;

#[cfg(test)]
type Hook = (&'static str, Box<dyn FnMut()>);

#[cfg(test)]
thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// From now on, on this thread, runs `f` each time the change reaches `point`.
#[cfg(test)]
pub(crate) fn on(point: &'static str, f: impl FnMut() + 'static) {
    HOOK.with(|hook| *hook.borrow_mut() = Some((point, Box::new(f))));
}

/// The change has reached `point`: runs the closure set for it on this thread, if any (taken
/// out while it runs, so a closure that reaches a midpoint itself runs nothing there).
#[cfg(test)]
pub(crate) fn reached(point: &str) {
    let Some((name, mut f)) = HOOK.with(|hook| hook.borrow_mut().take()) else {
        return;
    };
    if name == point {
        f();
    }
    HOOK.with(|hook| {
        hook.borrow_mut().get_or_insert((name, f));
    });
}

/// A midpoint outside the library's unit tests: nothing.
#[cfg(not(test))]
#[inline(always)]
pub(crate) fn reached(_point: &str) {}
