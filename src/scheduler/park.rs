//! Parking a fiber (or a plain thread) until something wakes it.
//!
//! The race to beat: a waker may fire after a fiber decided to wait but
//! before its context is saved. If the waker pushed the fiber to a run queue
//! then, another worker could resume a half-saved context. So a fiber never
//! registers itself. Instead:
//!
//! ```text
//!  fiber (on its stack)            worker (on its own stack)        waker (any thread)
//!  ───────────────────             ─────────────────────────        ──────────────────
//!  check: not ready yet
//!  block(register) ──switch(Block)──> context is now saved
//!                                    register(Waker::Fiber(f)):
//!                                      under X's lock / CAS:
//!                                      ready already? -> Err(w):
//!                                         push f back to the queue
//!                                      else store w in X -> Ok
//!                                                                    X becomes ready:
//!                                                                    take w, w.wake():
//!                                                                    push f to a queue
//!  <────────────── resumed by whichever worker pops f ──────────────
//! ```
//!
//! Because registration runs only after the switch saved the fiber's context,
//! a wake that comes at any moment after it finds a fully saved fiber
//! (invariant 2 of `README.md`). The register closure lives on the blocked fiber's
//! stack: once it has published the waker, the fiber may be resumed
//! elsewhere, so neither the closure nor the worker may touch the closure's
//! captures after that point.
//!
//! On a plain OS thread, `block` hands out a [`Waker::Thread`] for a
//! per-thread [`Parker`] and sleeps on it.

use super::suspend;
use std::time::Instant;

use super::parker::Parker;
use super::task::TaskRef;
use crate::loom::Arc;

/// Whoever waits for a condition: a blocked fiber or a blocked OS thread.
#[derive(Debug)]
pub(crate) enum Waker {
    /// A fiber whose context is saved; waking schedules it.
    Fiber(TaskRef),
    /// A plain thread parked on its parker.
    Thread(Arc<Parker>),
    /// A waiter reachable from two places (a wait list and a timer): the
    /// first to [`claim`](Waker::claim) it gets the real waker, the other
    /// finds it gone. This is what keeps a timed wait from waking one fiber
    /// twice (invariant 1 of `README.md`).
    Once(Arc<OnceWaker>),
}

/// See [`Waker::Once`] and `once.rs`.
pub(crate) type OnceWaker = super::once::Once<Waker>;

impl Waker {
    /// Make the waiter runnable again (a no-op for a claimed `Once`).
    pub(crate) fn wake(self) {
        match self {
            Waker::Fiber(task) => suspend::schedule(task),
            Waker::Thread(parker) => parker.unpark(),
            Waker::Once(once) => {
                if let Some(w) = once.claim() {
                    w.wake();
                }
            }
        }
    }

    /// Whether its waiter still waits: false for a claimed `Once`, which
    /// wait lists may drop.
    pub(crate) fn is_live(&self) -> bool {
        match self {
            Waker::Once(once) => !once.is_claimed(),
            _ => true,
        }
    }

    /// The waker to fire, or `None` if this is a `Once` already claimed
    /// (its waiter timed out or was woken through another path).
    pub(crate) fn claim(self) -> Option<Waker> {
        match self {
            Waker::Once(once) => once.claim(),
            w => Some(w),
        }
    }
}

/// What a blocking primitive hands to [`block`]: called once per block with
/// a waker; returns `Ok` once the waker is stored where the condition's
/// producer will find it, or gives it back with `Err` when the condition
/// already holds (then nobody blocks).
pub(crate) type Register<'a> = dyn FnMut(Waker) -> Result<(), Waker> + 'a;

thread_local! {
    static THREAD_PARKER: Arc<Parker> = Arc::new(Parker::new());
}

/// Block the current fiber, or the current thread outside a fiber, until the
/// waker given to `register` is woken (or `register` declines).
///
/// Wake-ups may be spurious on threads: callers re-check their condition in
/// a loop.
pub(crate) fn block(register: &mut Register<'_>) {
    if suspend::block_as_fiber() {
        suspend::suspend_blocked(register);
        return;
    }
    let parker = THREAD_PARKER.with(Arc::clone);
    if register(Waker::Thread(parker.clone())).is_ok() {
        parker.park();
    }
}

/// Like [`block`], but also wake up at `deadline`. The waker handed to
/// `register` is a [`Waker::Once`] shared with a timer (the worker's, or
/// the parked thread's own timeout); whichever fires first wins, the other
/// finds it claimed. Callers re-check their condition and the clock.
pub(crate) fn block_until(register: &mut Register<'_>, deadline: Instant) {
    if suspend::block_as_fiber() {
        suspend::suspend_blocked_until(register, deadline);
        return;
    }
    let parker = THREAD_PARKER.with(Arc::clone);
    let once = OnceWaker::new(Waker::Thread(parker.clone()));
    if register(Waker::Once(once.clone())).is_err() {
        return;
    }
    if !parker.park_until(deadline) && once.claim().is_none() {
        // A notifier claimed the waker just as we timed out: its unpark is
        // on the way; take the token so it cannot leak into a later park.
        parker.park();
    }
}
