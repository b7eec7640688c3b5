//! How a fiber gives its worker back when it yields or blocks: as a fiber
//! (switching out with a transition), or, where it must keep its OS
//! thread, as a thread (handoff.rs).
//!
//! A fiber never publishes itself. It records a [`Transition`] in its
//! worker and switches to the worker's next fiber or to its loop, and
//! whichever comes in acts on it with the fiber's context saved
//! (transition.rs; invariant 2 of `README.md`):
//!
//! | transition          | asked by                    | the next context then     |
//! |---------------------|-----------------------------|---------------------------|
//! | `Yield`             | `yield_now`                 | queue it behind the others |
//! | `Block(r)`          | park.rs `block`             | `r(waker)`: register it where it waits |
//! | `BlockUntil(r, d)`  | park.rs `block_until`       | as `Block`, and a timer at `d` (timers.rs) |
//! | `BlockHeld(r)`, `BlockUntilHeld(r, d)` | park.rs `block_in_place*`, holding a spin lock that `r` releases | as above; no fresh fiber starts before it (transition.rs `start`) |
//! | `Finished`          | the fiber's entry, at its end | retire it                |

use std::time::Instant;

use super::current::{self, GoHome, current, in_fiber};
use super::handoff;
use super::task::Wait;
use super::transition::{go_home, suspend, suspend_on};
use super::waker::Register;
use super::worker::{Held, Transition, Worker};
use crate::loom::Ordering;

/// About to block or yield: whether to do it as a fiber (switch out) or
/// as a thread (park or yield the OS thread).
///
/// - An attached fiber that is unwinding detaches first (handoff.rs), so
///   that its thread's panic count stays with it, and blocks as a thread.
/// - A detached fiber that is done unwinding goes home first and is
///   resumed by a worker, attached again, and blocks as a fiber.
// Not inlined: inlined into `yield_now`, it made a yield round trip
// markedly slower while executing fewer instructions, a code-layout effect
// around the switch (figures in `BENCHMARKS.md`).
#[inline(never)]
pub(crate) fn block_as_fiber() -> bool {
    let attached = in_fiber();
    if attached && !std::thread::panicking() {
        return true;
    }
    block_as_fiber_slow(attached)
}

#[cold]
fn block_as_fiber_slow(attached: bool) -> bool {
    if attached {
        let w = current();
        // SAFETY: in a fiber, CURRENT is this thread's live Worker.
        handoff::detach(unsafe { &*w }, false);
        // Detached, or refused (the worker waits for this thread): either
        // way, block the thread.
        return false;
    }
    if current::detached().is_some_and(|d| !d.in_blocking.get()) && !std::thread::panicking() {
        go_home(GoHome::Rejoin);
        return true;
    }
    false
}

/// Run `f` with this fiber's worker handed to another thread, so that `f`
/// may block this OS thread (the public `heddle::blocking`). Outside a
/// fiber, on a worker that hosts pinned fibers, or with no thread to take
/// the worker, `f` runs in place.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    if !in_fiber() {
        return f();
    }
    let w = current();
    // SAFETY: in a fiber, CURRENT is this thread's live Worker.
    if !handoff::detach(unsafe { &*w }, true) {
        return f();
    }
    /// Ends the blocking region even if `f` unwinds: the fiber then goes on
    /// unwinding detached and rejoins once it is done (handoff.rs).
    struct EndBlocking;
    impl Drop for EndBlocking {
        fn drop(&mut self) {
            if let Some(d) = current::detached() {
                d.in_blocking.set(false);
            }
        }
    }
    let end = EndBlocking;
    let r = f();
    drop(end);
    // Called from a `Drop` while unwinding, the fiber must not rejoin a
    // worker yet: its thread holds its panic count (handoff.rs). It stays
    // detached, and goes home once it is done unwinding.
    if !std::thread::panicking() {
        go_home(GoHome::Rejoin);
    }
    r
}

/// In a fiber: let the worker run its other Ready fibers, then continue.
/// Returns false where the caller should yield its thread instead.
/// `#[inline]` into `fiber::yield_now`: left to the compiler, it stopped
/// inlining once the crate's codegen units were cut differently (14
/// instructions per yield round trip).
#[inline]
pub(crate) fn yield_now() -> bool {
    // `block_as_fiber`'s common case, with the worker kept for the switch.
    if let Some(w) = current::fiber_worker()
        && !std::thread::panicking()
    {
        suspend_on(w, Transition::Yield);
        return true;
    }
    if !block_as_fiber() {
        return false;
    }
    suspend(Transition::Yield);
    true
}

/// In a fiber: block (see park.rs). Must be called inside a fiber.
/// `held`: whether `register` releases a lock the caller holds.
pub(crate) fn suspend_blocked(register: &mut Register<'_>, why: Wait, held: Held) {
    suspend(match held {
        Held::Nothing => Transition::Block(erase(register), why),
        Held::Lock => Transition::BlockHeld(erase(register), why),
    });
}

/// The register closure as the raw pointer a transition carries.
fn erase(register: &mut Register<'_>) -> *mut Register<'static> {
    // SAFETY: only the lifetime is erased. The worker calls the closure
    // while the blocking fiber's frame is suspended (so the borrow is live)
    // and never after the call returns.
    unsafe { core::mem::transmute::<*mut Register<'_>, *mut Register<'static>>(register) }
}

/// In a fiber: block as [`suspend_blocked`], and also be woken at
/// `deadline` by a timer on the current worker.
pub(crate) fn suspend_blocked_until(
    register: &mut Register<'_>,
    deadline: Instant,
    why: Wait,
    held: Held,
) {
    let register = erase(register);
    suspend(match held {
        Held::Nothing => Transition::BlockUntil(register, deadline, why),
        Held::Lock => Transition::BlockUntilHeld(register, deadline, why),
    });
}

/// A preemption point (the public `heddle::checkpoint`): yield if the
/// monitor flagged this worker's time slice as used up and another fiber is
/// ready, here or in the injector. Otherwise a thread-local read and one
/// load. See monitor.rs.
#[inline]
pub(crate) fn checkpoint() {
    let w = current();
    // SAFETY: a non-null CURRENT is this thread's live Worker; the flag is
    // an atomic any thread may read.
    if !w.is_null() && unsafe { (*w).stats().preempt.load(Ordering::Relaxed) } {
        // SAFETY: as above.
        checkpoint_slow(unsafe { &*w });
    }
}

#[cold]
#[inline(never)]
fn checkpoint_slow(w: &Worker) {
    if w.current.get().is_none() {
        return; // the worker's own loop, not a fiber
    }
    let stats = w.stats();
    stats.preempt.store(false, Ordering::Relaxed);
    stats.bump_checkpoints();
    if w.queue.is_empty() && w.run_next().is_empty() && w.shared.pinned[w.index].is_empty() {
        // Only the injector may hold others (woken from outside, or by
        // the timer keeper). The worker reads it only now and then, so
        // take some into our own queue, where they run before the
        // yielded fiber: otherwise the yield would just resume us.
        match w.steal_from_injector() {
            Some(t) => w.queue.push_woken(t),
            None => return,
        }
    }
    yield_now();
}
