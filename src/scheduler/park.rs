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
//! (DESIGN.md invariant 2). The register closure lives on the blocked fiber's
//! stack: once it has published the waker, the fiber may be resumed
//! elsewhere, so neither the closure nor the worker may touch the closure's
//! captures after that point.
//!
//! On a plain OS thread, `block` hands out a [`Waker::Thread`] for a
//! per-thread [`Parker`] and sleeps on it.

use super::parker::Parker;
use super::task::TaskRef;
use super::worker;
use crate::loom::Arc;

/// Whoever waits for a condition: a blocked fiber or a blocked OS thread.
#[derive(Debug)]
pub(crate) enum Waker {
    /// A fiber whose context is saved; waking schedules it.
    Fiber(TaskRef),
    /// A plain thread parked on its parker.
    Thread(Arc<Parker>),
}

impl Waker {
    /// Make the waiter runnable again.
    pub(crate) fn wake(self) {
        match self {
            Waker::Fiber(task) => worker::schedule(task),
            Waker::Thread(parker) => parker.unpark(),
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
    if worker::in_fiber() {
        worker::suspend_blocked(register);
        return;
    }
    let parker = THREAD_PARKER.with(Arc::clone);
    if register(Waker::Thread(parker.clone())).is_ok() {
        parker.park();
    }
}
