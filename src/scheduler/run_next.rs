//! A worker's run-next slot: the fiber a running fiber of this worker just
//! woke, run at the worker's next pick, so a pair of fibers that wake each
//! other (a channel ping-pong, a join) stays on one worker instead of
//! bouncing between two.
//!
//! # States
//!
//! | slot     | meaning                                                      |
//! |----------|--------------------------------------------------------------|
//! | null     | empty                                                        |
//! | `task`   | a Ready fiber (context saved), owned by the slot              |
//!
//! | step             | who                          | how                                  |
//! |------------------|------------------------------|--------------------------------------|
//! | [`RunNext::put`] | the owner (a fiber of it waking another) | `swap(task, AcqRel)`; an older fiber it displaces goes to the owner's woken queue |
//! | [`RunNext::take`] | the owner, at a pick (find.rs) | a relaxed load, then `swap(null, Acquire)` if non-null |
//! | [`RunNext::steal`] | a searching thief, last       | see below: `compare_exchange(task, null, Acquire)` |
//!
//! Every transfer out of the slot is one atomic read-modify-write that
//! replaces the pointer it returns, so each `TaskRef` leaves the slot
//! exactly once (invariant 1 of `README.md`). The Release half of `put`
//! publishes the fiber's fields; the Acquire of `take`, of `steal` and of
//! the displacing `put` make them visible to whoever resumes it.
//!
//! # Who is woken
//!
//! Nobody, for a fiber put in the slot: its worker is running (the waker
//! is one of its fibers) and switches to it at its next pick. Waking
//! another worker for it would cost a futex wake per message of a
//! ping-pong pair and send the pair bouncing between workers. If the
//! worker keeps running one fiber instead, the monitor (monitor.rs) sees
//! it at its next look, a tick later (half the time slice, 5 ms by
//! default), and wakes a worker through the sleep protocol; that worker's
//! search steals the fiber after the grace period below. A fiber displaced
//! into the woken queue is posted as usual (`notify_work`).
//!
//! # The thieves' grace period
//!
//! A thief looks at other workers' slots only after their queues came up
//! empty. It reads the slot and the owner's switch counter, waits
//! [`GRACE`], and takes the fiber only if the slot still holds it and the
//! owner has not switched since: the owner is busy with one fiber, and the
//! woken one would otherwise wait for it. If the owner switched, it either
//! ran the fiber or will at its next pick; the thief leaves it.
//!
//! # The bound
//!
//! The owner takes from the slot at most [`RUN_NEXT_BUDGET`] picks in a
//! row while its run queue holds anything; the next pick goes by the run
//! queue's table (run_queue.rs). So every bound stated there, in picks,
//! grows by a factor of at most `RUN_NEXT_BUDGET + 1`; a fiber displaced
//! from the slot is a woken fiber like any other.

use core::ptr::{self, NonNull};
use std::time::{Duration, Instant};

use super::task::{Task, TaskRef};
use crate::loom::{AtomicPtr, AtomicU64, Ordering};

/// Most picks in a row from the slot while the run queue is not empty.
pub(crate) const RUN_NEXT_BUDGET: u32 = 16;

/// How long a thief leaves a fiber in a busy worker's slot before it
/// takes it (see the module docs).
pub(crate) const GRACE: Duration = Duration::from_micros(3);

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct RunNext {
    slot: AtomicPtr<Task>,
}

impl RunNext {
    /// The owner: make `task` the next to run; returns the fiber it
    /// displaces, for the owner's woken queue.
    pub(crate) fn put(&self, task: TaskRef) -> Option<TaskRef> {
        let old = self.slot.swap(task.as_ptr(), Ordering::AcqRel);
        // SAFETY: a non-null slot owned its TaskRef; the swap moved it to us.
        NonNull::new(old).map(|t| unsafe { TaskRef::from_raw(t) })
    }

    /// The owner: the fiber in the slot, if any.
    #[inline]
    pub(crate) fn take(&self) -> Option<TaskRef> {
        if self.slot.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let t = self.slot.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: as in `put`.
        NonNull::new(t).map(|t| unsafe { TaskRef::from_raw(t) })
    }

    /// Whether the slot holds a fiber (a hint: it may change at once).
    pub(crate) fn is_empty(&self) -> bool {
        self.slot.load(Ordering::Relaxed).is_null()
    }

    /// A thief: take the fiber in the slot if its owner, whose switch
    /// counter is `switches`, has not switched for [`GRACE`] (module docs).
    #[cold]
    pub(crate) fn steal(&self, switches: &AtomicU64) -> Option<TaskRef> {
        let seen = self.slot.load(Ordering::Relaxed);
        if seen.is_null() {
            return None;
        }
        let before = switches.load(Ordering::Relaxed);
        let until = Instant::now() + GRACE;
        while Instant::now() < until {
            core::hint::spin_loop();
        }
        if switches.load(Ordering::Relaxed) != before {
            return None; // the owner moved on: it runs the fiber itself
        }
        self.slot
            .compare_exchange(seen, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed)
            .ok()
            // SAFETY: as in `put`: the exchange moved the TaskRef to us.
            .map(|t| unsafe { TaskRef::from_raw(NonNull::new(t).expect("non-null")) })
    }
}
