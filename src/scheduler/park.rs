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

use std::time::Instant;

use super::current;
use super::parker::Parker;
use super::suspend;
use super::worker::Held;
use crate::loom::Arc;

pub(crate) use super::task::Wait;
pub(crate) use super::waker::{OnceWaker, Register, Waker};

thread_local! {
    static THREAD_PARKER: Arc<Parker> = Arc::new(Parker::new());
}

/// Block the current fiber, or the current thread outside a fiber, until the
/// waker given to `register` is woken (or `register` declines).
///
/// Wake-ups may be spurious on threads: callers re-check their condition in
/// a loop.
pub(crate) fn block(why: Wait, register: &mut Register<'_>) {
    if suspend::block_as_fiber() {
        suspend::suspend_blocked(register, why, Held::Nothing);
        return;
    }
    let parker = THREAD_PARKER.with(Arc::clone);
    if register(Waker::Thread(parker.clone())).is_ok() {
        parker.park();
    }
}

/// Whether [`block_in_place`] may be used: the caller is a fiber attached
/// to its worker and not unwinding, so blocking is one switch, with no
/// detour through a hand-off or a rejoin (suspend.rs). The register step
/// then runs on this thread right after the switch, before anything else
/// runs here, so a caller may hold a spin lock across it and let the
/// register step release it (wait_queue.rs).
#[inline]
pub(crate) fn blocks_in_place() -> bool {
    current::fiber_worker().is_some() && !std::thread::panicking()
}

/// [`block`] for a caller that checked [`blocks_in_place`] and has not
/// switched since, and holds a spin lock that `register` releases: always
/// a switch, `register` always runs, and no fresh fiber starts on this
/// thread before it (transition.rs).
pub(crate) fn block_in_place(why: Wait, register: &mut Register<'_>) {
    debug_assert!(blocks_in_place());
    suspend::suspend_blocked(register, why, Held::Lock);
}

/// [`block_until`] for a caller that checked [`blocks_in_place`] and has
/// not switched since.
pub(crate) fn block_in_place_until(why: Wait, register: &mut Register<'_>, deadline: Instant) {
    debug_assert!(blocks_in_place());
    suspend::suspend_blocked_until(register, deadline, why, Held::Lock);
}

/// Like [`block`], but also wake up at `deadline`. The waker handed to
/// `register` is a [`Waker::Once`] shared with a timer (the worker's, or
/// the parked thread's own timeout); whichever fires first wins, the other
/// finds it claimed. Callers re-check their condition and the clock.
pub(crate) fn block_until(why: Wait, register: &mut Register<'_>, deadline: Instant) {
    if suspend::block_as_fiber() {
        suspend::suspend_blocked_until(register, deadline, why, Held::Nothing);
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
