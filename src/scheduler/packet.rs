//! The join latch: where a finished fiber leaves its result and finds the
//! one party (fiber or thread) waiting for it.
//!
//! # States (`Packet::state`)
//!
//! | state     | result  | waiter   | meaning                                  |
//! |-----------|---------|----------|------------------------------------------|
//! | `RUNNING` | empty   | empty    | the fiber has not finished, nobody waits |
//! | `WAITING` | empty   | set      | a joiner registered and is parked        |
//! | `DONE`    | set     | empty    | finished; the result may be taken        |
//! | `DETACHED`| empty   | empty    | the fiber's handle was dropped unjoined  |
//!
//! ```text
//!  RUNNING ──register(w)──> WAITING
//!     │  │                     │
//!     │  complete(r)        complete(r): returns Wake(w), the caller wakes it
//!     │  v                     v
//!     │ DONE <─────────────────┘
//!     │   register(w) here fails and hands w back: the joiner does not park
//!  detach()
//!     v
//!  DETACHED ──complete(r)──> DONE  (returns Detached)
//! ```
//!
//! # Who frees a spawned fiber's block
//!
//! A spawned fiber and its `JoinHandle` share one pooled block (spawn.rs)
//! with two references. The fiber never drops its reference with a
//! locked decrement when its handle still lives: its `complete` swap
//! hands the reference to the handle, which drops both at once.
//!
//! | `complete` read | the handle          | the fiber's reference            |
//! |-----------------|---------------------|----------------------------------|
//! | `RUNNING`       | lives, not waiting  | handed over: the fiber forgets it, the handle drops two |
//! | `WAITING`       | lives, parked in join | handed over, as above          |
//! | `DETACHED`      | gone (dropped one)  | dropped by the fiber as usual    |
//!
//! The handle's drop: `DONE` (read with Acquire) means the fiber's
//! reference is its to drop too; otherwise `detach()` moves `RUNNING` to
//! `DETACHED` with a compare-exchange, which fails only if `complete`
//! came first (`DONE` again). Exactly one of `complete` and `detach` sees
//! the other's mark, so the reference is dropped once. The loom model
//! `handle_drop_and_completion_agree_on_the_reference` checks it.
//!
//! # Steps and orderings
//!
//! - `complete(r)` (the finishing fiber, exactly once): write `result` (made
//!   in place by a closure), then
//!   `state.swap(DONE, AcqRel)`. The Release half publishes `result`; the
//!   Acquire half, when it reads `WAITING`, makes the waiter written by
//!   `register` visible, so `complete` can take it.
//! - `register(w)` (the joiner, on its worker's stack after its context was
//!   saved, or on a plain thread): write `waiter` (nobody reads it while the
//!   state is `RUNNING`), then `compare_exchange(RUNNING -> WAITING, AcqRel)`.
//!   Failure means `DONE`: take `waiter` back and do not park.
//! - `take()`: `state.load(Acquire) == DONE` then read `result`.
//!
//! The race it closes: the fiber may finish between the joiner's "not done
//! yet" check and its registration. Registration is a compare-exchange
//! against `RUNNING`, so it either lands before `complete`'s swap (which then
//! sees `WAITING` and returns the waiter) or fails after it (the joiner sees
//! `DONE`). There is no window in which both miss each other.

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

/// Not finished, nobody waiting.
const RUNNING: usize = 0;
/// Not finished, one waiter registered.
const WAITING: usize = 1;
/// Finished, result stored.
const DONE: usize = 2;
/// Not finished, and the handle is gone: nobody will take the result.
const DETACHED: usize = 3;

/// What [`Packet::complete`] found.
#[derive(Debug)]
pub(crate) enum Completed<W> {
    /// Nobody waits yet; the handle (still alive) will take the result.
    Unjoined,
    /// A joiner waits: wake it.
    Wake(W),
    /// The handle was dropped unjoined.
    Detached,
}

/// See the module docs. `W` is what wakes the joiner ([`super::park::Waker`]
/// in the runtime, a test double under loom).
#[derive(Debug)]
pub(crate) struct Packet<T, W> {
    state: AtomicUsize,
    /// Written by the joiner while `RUNNING`, taken by `complete` after it
    /// read `WAITING`, or by the joiner after its register failed.
    waiter: UnsafeCell<Option<W>>,
    /// Written by `complete` before `DONE`, taken by the joiner after `DONE`.
    result: UnsafeCell<Option<T>>,
}

// SAFETY: the state machine gives each cell one accessor at a time (see the
// module docs); T and W only move between threads, so Send suffices.
unsafe impl<T: Send, W: Send> Sync for Packet<T, W> {}
// SAFETY: as above.
unsafe impl<T: Send, W: Send> Send for Packet<T, W> {}

impl<T, W> Packet<T, W> {
    pub(crate) fn new() -> Self {
        Packet {
            state: AtomicUsize::new(RUNNING),
            waiter: UnsafeCell::new(None),
            result: UnsafeCell::new(None),
        }
    }

    /// Store the result, computed straight into its slot (a large result is
    /// not copied through the stack). Returns what it found: the waiter to
    /// wake, if one registered. Must be called at most once.
    pub(crate) fn complete(&self, make: impl FnOnce() -> T) -> Completed<W> {
        // SAFETY: only `complete` writes `result`, once, and the joiner reads
        // it only after seeing DONE, which we have not published yet.
        self.result.with_mut(|r| unsafe { (*r).insert(make()) });
        match self.state.swap(DONE, Ordering::AcqRel) {
            RUNNING => Completed::Unjoined,
            // SAFETY: WAITING means the joiner wrote `waiter` before its
            // Release CAS, which our Acquire swap synchronised with, and it
            // will not touch `waiter` again.
            WAITING => Completed::Wake(
                self.waiter
                    .with_mut(|w| unsafe { (*w).take() })
                    .expect("a registered waiter"),
            ),
            DETACHED => Completed::Detached,
            s => panic!("join packet completed twice (state {s})"),
        }
    }

    /// The handle is dropped: mark the packet `DETACHED` unless it is
    /// `DONE` already. Returns whether it did (then `complete` will see it
    /// and the fiber keeps its reference); `false` means `complete` came
    /// first. See "Who frees a spawned fiber's block" above.
    pub(crate) fn detach(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, DETACHED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(DONE) => false,
            // A handle is dropped only outside `join` (which returns after
            // DONE), so it never finds its own registration.
            Err(s) => panic!("join packet detached in state {s}"),
        }
    }

    /// Register `waiter` to be woken by [`complete`](Self::complete).
    /// Returns it back if the packet is already complete.
    pub(crate) fn register(&self, waiter: W) -> Result<(), W> {
        // SAFETY: the state is RUNNING or DONE (one joiner, registering once
        // per wake), so `complete` is not reading `waiter` now.
        self.waiter.with_mut(|w| unsafe { *w = Some(waiter) });
        match self
            .state
            .compare_exchange(RUNNING, WAITING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            // SAFETY: DONE: `complete` never reads `waiter` after its swap
            // saw RUNNING, so the value we wrote is ours to take back.
            Err(DONE) => Err(self
                .waiter
                .with_mut(|w| unsafe { (*w).take() })
                .expect("waiter vanished")),
            Err(s) => panic!("join packet registered twice (state {s})"),
        }
    }

    /// Whether the result is stored.
    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Take the result if it is stored. Only the (single) joiner calls this.
    pub(crate) fn take(&self) -> Option<T> {
        if !self.is_done() {
            return None;
        }
        // SAFETY: DONE (Acquire) means `complete` wrote `result` and will not
        // touch it again; only the single joiner takes it.
        self.result.with_mut(|r| unsafe { (*r).take() })
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use crate::loom::{Arc, Mutex};
    use loom::thread;

    /// The joiner's worker registers (after "saving its context") while the
    /// fiber completes on another thread: the joiner ends up woken exactly
    /// once or sees DONE at registration, never both, never neither.
    #[test]
    fn wake_before_or_after_registration() {
        loom::model(|| {
            let p: Arc<Packet<u32, u8>> = Arc::new(Packet::new());
            let woken = Arc::new(Mutex::new(Vec::new()));
            let (p2, woken2) = (p.clone(), woken.clone());
            let completer = thread::spawn(move || {
                if let Completed::Wake(w) = p2.complete(|| 42) {
                    woken2.lock().push(w);
                }
            });
            let registered = p.register(7).is_ok();
            completer.join().unwrap();
            let woken = woken.lock().clone();
            if registered {
                assert_eq!(vec![7], woken);
            } else {
                assert!(woken.is_empty());
            }
            assert_eq!(Some(42), p.take());
            assert_eq!(None, p.take());
        });
    }

    /// A handle dropped (on its own thread) while its fiber completes:
    /// exactly one side keeps the fiber's reference to the shared block.
    /// The handle takes it over when it sees DONE, first or through a
    /// failed `detach`; the fiber keeps it when `complete` reads DETACHED.
    ///
    /// Mutation caught: `detach` as a load and a store instead of a
    /// compare-exchange. Loom finds the handle reading RUNNING, the fiber
    /// completing (and handing its reference over), then the handle
    /// storing DETACHED: both sides think the other drops the reference.
    #[test]
    fn handle_drop_and_completion_agree_on_the_reference() {
        loom::model(|| {
            let p: Arc<Packet<u32, u8>> = Arc::new(Packet::new());
            let p2 = p.clone();
            let completer =
                thread::spawn(move || matches!(p2.complete(|| 42), Completed::Detached));
            let handle_took_it = p.is_done() || !p.detach();
            let fiber_kept_it = completer.join().unwrap();
            assert!(handle_took_it != fiber_kept_it);
            assert!(p.is_done());
        });
    }
}
