//! Long calls report how far they are and let their host stop them.
//!
//! Why a trait and not a plain callback: the page must be able to interrupt a computation the
//! moment a slider moves (a stale sweep point is wasted seconds), and the core has no clock, no
//! thread and no event loop to notice that by itself. So every long call takes a [`Progress`]
//! and asks it, after each unit of work (a pair, a training step, a token), whether to go on.
//! Any `FnMut(usize, usize)` closure is a `Progress` that never stops; [`Stoppable`] adds a
//! stop check, and the call then returns [`Error::Cancelled`] with its state left usable.
use crate::error::{Error, Result};

/// Receives `(done, total)` after each unit of a long call; an `Err` stops the call.
pub trait Progress {
    /// `done` of `total` units are finished. Returning an error (normally
    /// [`Error::Cancelled`]) ends the call, which passes the error on.
    fn report(&mut self, done: usize, total: usize) -> Result<()>;

    /// Lends this progress to a sub-call without giving it away.
    fn by_ref(&mut self) -> ByRef<'_, Self>
    where
        Self: Sized,
    {
        ByRef(self)
    }
}

/// A borrowed [`Progress`] (see [`Progress::by_ref`]).
pub struct ByRef<'a, P: Progress + ?Sized>(pub &'a mut P);

impl<P: Progress + ?Sized> Progress for ByRef<'_, P> {
    fn report(&mut self, done: usize, total: usize) -> Result<()> {
        self.0.report(done, total)
    }
}

impl<F: FnMut(usize, usize)> Progress for F {
    fn report(&mut self, done: usize, total: usize) -> Result<()> {
        self(done, total);
        Ok(())
    }
}

/// A progress callback with a stop check: [`Progress::report`] fails with
/// [`Error::Cancelled`] once `stop()` returns true.
pub struct Stoppable<F, S> {
    /// Called with `(done, total)` as work finishes.
    pub on_progress: F,
    /// Asked after each unit of work; `true` stops the call.
    pub stop: S,
}

impl<F: FnMut(usize, usize), S: FnMut() -> bool> Progress for Stoppable<F, S> {
    fn report(&mut self, done: usize, total: usize) -> Result<()> {
        (self.on_progress)(done, total);
        if (self.stop)() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Offsets a sub-task's progress into a larger whole: `done` of the part becomes
/// `before + done` of `total`.
pub struct Part<'a, P: Progress + ?Sized> {
    /// The whole task's progress.
    pub whole: &'a mut P,
    /// Units of the whole finished before this part started.
    pub before: usize,
    /// Units in the whole task.
    pub total: usize,
}

impl<P: Progress + ?Sized> Progress for Part<'_, P> {
    fn report(&mut self, done: usize, _part_total: usize) -> Result<()> {
        self.whole.report(self.before + done, self.total)
    }
}

/// A sub-task that takes `units` of a larger whole however many steps it reports in: `done` of
/// its own `part_total` becomes `before + done · units / part_total` of `total`. For a part whose
/// own count is not known in advance (a sweep point also prepares its pairs the first time).
pub struct Share<'a, P: Progress + ?Sized> {
    /// The whole task's progress.
    pub whole: &'a mut P,
    /// Units of the whole finished before this part started.
    pub before: usize,
    /// Units of the whole this part stands for.
    pub units: usize,
    /// Units in the whole task.
    pub total: usize,
}

impl<P: Progress + ?Sized> Progress for Share<'_, P> {
    fn report(&mut self, done: usize, part_total: usize) -> Result<()> {
        let done = (done.min(part_total) * self.units).checked_div(part_total).unwrap_or(self.units);
        self.whole.report(self.before + done, self.total)
    }
}

// ---- interrupting a forward pass -----------------------------------------------------------
//
// A `Progress` is asked between units of work, and one unit can be long: a held-out pair is
// ~0.6 s of forward passes in the browser, a training pair's activation pass ~2 s. A host that
// must drop stale work sooner (the page, when a slider moves) also installs an interrupt: a
// check asked before every layer of every forward pass on this thread. It is per thread, as a
// wasm call's host is (and as parallel Rust tests need); the pool's helper threads never ask it.

#[cfg(feature = "std")]
std::thread_local! {
    static INTERRUPT: core::cell::RefCell<Option<alloc::boxed::Box<dyn Fn() -> bool>>> =
        const { core::cell::RefCell::new(None) };
}

/// Installs `check` (or removes the current one with `None`): from now on every forward pass on
/// this thread asks it before each layer and, when it returns `true`, stops with
/// [`Error::Cancelled`] — the same error, and the same usable state afterwards, as a
/// [`Progress`] that stops between pairs (a pair is kept only once it is finished).
#[cfg(feature = "std")]
pub fn set_interrupt(check: Option<alloc::boxed::Box<dyn Fn() -> bool>>) {
    INTERRUPT.with(|i| *i.borrow_mut() = check);
}

/// [`Error::Cancelled`] when this thread's interrupt ([`set_interrupt`]) says stop.
pub fn check_interrupt() -> Result<()> {
    #[cfg(feature = "std")]
    if INTERRUPT.with(|i| i.borrow().as_ref().is_some_and(|stop| stop())) {
        return Err(Error::Cancelled);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closure_never_stops_and_a_stop_check_does() {
        let mut seen = alloc::vec::Vec::new();
        let mut p = |d, t| seen.push((d, t));
        assert!(p.report(1, 2).is_ok());
        assert_eq!(seen, [(1, 2)]);
        let mut calls = 0;
        let mut s = Stoppable {
            on_progress: |_, _| calls += 1,
            stop: {
                let mut n = 0;
                move || {
                    n += 1;
                    n > 1
                }
            },
        };
        assert!(s.report(1, 3).is_ok());
        assert_eq!(s.report(2, 3), Err(Error::Cancelled));
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_part_offsets_into_the_whole() {
        let mut seen = alloc::vec::Vec::new();
        let mut whole = |d, t| seen.push((d, t));
        let mut part = Part { whole: &mut whole, before: 5, total: 9 };
        part.report(2, 4).unwrap();
        assert_eq!(seen, [(7, 9)]);
    }

    /// A part that reports in its own steps (6 here) never runs past the units it stands for.
    #[test]
    fn a_share_scales_into_its_units() {
        let mut seen = alloc::vec::Vec::new();
        let mut whole = |d, _| seen.push(d);
        let mut share = Share { whole: &mut whole, before: 4, units: 2, total: 8 };
        for done in 1..=6 {
            share.report(done, 6).unwrap();
        }
        share.report(0, 0).unwrap();
        assert_eq!(seen, [4, 4, 5, 5, 5, 6, 6]);
    }
}
