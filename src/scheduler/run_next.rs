//! A worker's run-next slot: the fiber a running fiber of this worker just
//! woke, run at the worker's next pick, so a pair of fibers that wake each
//! other (a channel ping-pong, a join) stays on one worker instead of
//! bouncing between two. On a runtime of one worker, the fiber a running
//! fiber just spawned goes there too, so a child its spawner joins at
//! once runs without a trip through the fresh deque.
//!
//! # What goes in (`Worker::put_next_woken`, `Worker::push_spawned`)
//!
//! | put by                 | slot holds      | then                                              |
//! |------------------------|-----------------|---------------------------------------------------|
//! | a wake                 | anything        | the new fiber goes in; a displaced one goes back to its queue: fresh if a spawn put it there, else woken |
//! | a spawn, one worker    | nothing, or a fresh fiber | the new fiber goes in; a displaced fresh one goes on top of `fresh`, so fresh fibers still start newest first |
//! | a spawn, one worker    | a woken fiber   | the new fiber goes on top of `fresh`; the woken one keeps its turn |
//! | a spawn, more workers  | anything        | the new fiber goes on top of `fresh`, where others may take it at once |
//!
//! Why spawns use the slot only without other workers: a spawn asks for
//! parallelism, and a fiber in the slot is out of thieves' reach for the
//! grace period below, while displacing one costs an atomic swap per
//! spawn. A fan-out of ten spawns per node (the 1M-fiber skynet) ran
//! about 5% slower on 2 workers with spawns in the slot; on one worker the
//! slot is plain loads and stores (below) and saves the deque's fenced pop.
//!
//! Which kind the slot holds is a `Cell` of the worker
//! (`run_next_fresh`), written at every put and read only while the slot
//! is non-empty.
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
//! | [`RunNext::put`] | the owner (a fiber of it waking or spawning another) | empty (relaxed load): `store(task, Release)`; else `swap(task, AcqRel)`, and an older fiber it displaces goes back to the owner's queues (one worker: a plain store) |
//! | [`RunNext::take`] | the owner, at a pick (find.rs) | a relaxed load, then `swap(null, Acquire)` if non-null (one worker: a plain store) |
//! | [`RunNext::steal`] | a searching thief, last (never with one worker) | see below: `compare_exchange(task, null, Acquire)` |
//!
//! Every transfer out of the slot is one atomic read-modify-write that
//! replaces the pointer it returns, so each `TaskRef` leaves the slot
//! exactly once (invariant 1 of `README.md`; the loom model below runs
//! [`Slot`], the protocol over any pointer, with an owner and a thief).
//! Transfers in need no read-modify-write when the slot is empty: only
//! the owner ever makes it non-null, so once the owner reads null, the
//! slot stays null until the owner's own store. In a runtime of one
//! worker there are no thieves, and the owner's displacing `put` and its
//! `take` are a plain load and store too (`Slot::thieves`). The Release of `put`
//! publishes the fiber's fields; the Acquire of `take`, of `steal` and of
//! the displacing `put` make them visible to whoever resumes it.
//!
//! # Who is woken
//!
//! Nobody, for a woken fiber put in the slot: its worker is running (the
//! waker is one of its fibers) and switches to it at its next pick. Waking
//! another worker for it would cost a futex wake per message of a
//! ping-pong pair and send the pair bouncing between workers. If the
//! worker keeps running one fiber instead, the monitor (monitor.rs) sees
//! it at its next look, a tick later (half the time slice, 5 ms by
//! default), and wakes a worker through the sleep protocol; that worker's
//! search steals the fiber after the grace period below. A fiber displaced
//! into a queue is posted as usual (`notify_work`).
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
//! from the slot is a woken or a fresh fiber like any other, and a fresh
//! one goes on top of `fresh`, where it is newer than every fiber there.

use core::ptr::{self, NonNull};
use std::time::{Duration, Instant};

#[cfg(not(loom))]
use super::task::{Task, TaskRef};
use crate::loom::{AtomicPtr, AtomicU64, Ordering};

/// Most picks in a row from the slot while the run queue is not empty.
pub(crate) const RUN_NEXT_BUDGET: u32 = 16;

/// How long a thief leaves a fiber in a busy worker's slot before it
/// takes it (see the module docs).
pub(crate) const GRACE: Duration = Duration::from_micros(3);

/// The slot's protocol over any owned pointer (a task's, or a test's box
/// under loom): the steps of the module docs, with the ownership of the
/// pointee moving in and out by one atomic read-modify-write each.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    slot: AtomicPtr<T>,
    /// Whether anyone but the owner may take from the slot: false in a
    /// runtime of one worker, which has no thieves, so its owner moves
    /// items in and out with plain loads and stores.
    thieves: bool,
}

impl<T> Slot<T> {
    pub(crate) fn new(thieves: bool) -> Self {
        Slot {
            slot: AtomicPtr::new(ptr::null_mut()),
            thieves,
        }
    }

    /// The owner: hand `item` to the slot; returns the one it displaces.
    #[inline]
    pub(crate) fn put(&self, item: NonNull<T>) -> Option<NonNull<T>> {
        // Only the owner makes the slot non-null; everyone else only
        // empties it. So an empty slot stays empty until this store, and
        // filling it needs no read-modify-write.
        let held = self.slot.load(Ordering::Relaxed);
        if held.is_null() {
            self.slot.store(item.as_ptr(), Ordering::Release);
            return None;
        }
        if !self.thieves {
            self.slot.store(item.as_ptr(), Ordering::Relaxed);
            return NonNull::new(held);
        }
        NonNull::new(self.slot.swap(item.as_ptr(), Ordering::AcqRel))
    }

    /// The owner: take the item, if any.
    #[inline]
    pub(crate) fn take(&self) -> Option<NonNull<T>> {
        let held = self.slot.load(Ordering::Relaxed);
        if held.is_null() {
            return None;
        }
        if !self.thieves {
            self.slot.store(ptr::null_mut(), Ordering::Relaxed);
            return NonNull::new(held);
        }
        NonNull::new(self.slot.swap(ptr::null_mut(), Ordering::Acquire))
    }

    /// Whether the slot holds an item (a hint: it may change at once).
    pub(crate) fn is_empty(&self) -> bool {
        self.slot.load(Ordering::Relaxed).is_null()
    }

    /// A thief: take the item if the owner, whose switch counter is
    /// `switches`, has not switched for [`GRACE`] (module docs).
    pub(crate) fn steal(&self, switches: &AtomicU64) -> Option<NonNull<T>> {
        assert!(self.thieves, "a thief at a slot made for its owner alone");
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
            .and_then(NonNull::new)
    }
}

/// A worker's slot of fibers: [`Slot`] holding `TaskRef`s.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct RunNext(Slot<Task>);

#[cfg(not(loom))]
impl RunNext {
    /// The slot of one of `workers` workers (see [`Slot::thieves`]).
    pub(crate) fn new(workers: usize) -> Self {
        RunNext(Slot::new(workers > 1))
    }

    /// The owner: make `task` the next to run; returns the fiber it
    /// displaces, for the owner's woken queue.
    pub(crate) fn put(&self, task: TaskRef) -> Option<TaskRef> {
        let t = NonNull::new(task.as_ptr()).expect("a task pointer");
        // SAFETY: the slot owned the TaskRef it held; the swap moved it to us.
        self.0.put(t).map(|t| unsafe { TaskRef::from_raw(t) })
    }

    /// The owner: the fiber in the slot, if any.
    #[inline]
    pub(crate) fn take(&self) -> Option<TaskRef> {
        // SAFETY: as in `put`.
        self.0.take().map(|t| unsafe { TaskRef::from_raw(t) })
    }

    /// Whether the slot holds a fiber (a hint: it may change at once).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether other workers may steal from this slot (see `Slot::thieves`).
    pub(crate) fn has_thieves(&self) -> bool {
        self.0.thieves
    }

    /// A thief: see [`Slot::steal`].
    #[cold]
    pub(crate) fn steal(&self, switches: &AtomicU64) -> Option<TaskRef> {
        // SAFETY: as in `put`: the exchange moved the TaskRef to us.
        self.0
            .steal(switches)
            .map(|t| unsafe { TaskRef::from_raw(t) })
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use crate::loom::Arc;
    use loom::thread;

    /// The owner puts two items (the second displaces the first) and takes
    /// what is left; a thief, seeing the owner never switch, steals. Every
    /// item must end with exactly one of them: none lost, none taken twice.
    ///
    /// Mutation tried: `Slot::take` as a load and a plain store of null
    /// instead of one swap: loom finds the execution where the thief's
    /// exchange and the owner's take both get the same item (the
    /// assertion fails: one item twice, the other never). And `Slot::put`
    /// storing without looking (no swap when the slot is full): the first
    /// item is overwritten and lost (the assertion fails: `[2]`).
    #[test]
    fn each_fiber_leaves_the_slot_once() {
        loom::model(|| {
            let slot = Arc::new(Slot::<u32>::new(true));
            let switches = Arc::new(AtomicU64::new(0));
            let a = NonNull::from(Box::leak(Box::new(1u32)));
            let b = NonNull::from(Box::leak(Box::new(2u32)));
            let thief = {
                let (slot, switches) = (slot.clone(), switches.clone());
                thread::spawn(move || slot.steal(&switches))
            };
            let mut mine = Vec::new();
            assert!(slot.put(a).is_none());
            mine.extend(slot.put(b));
            mine.extend(slot.take());
            let stolen = thief.join().unwrap();
            let got: Vec<NonNull<u32>> = mine.into_iter().chain(stolen).collect();
            // SAFETY: the boxes live until freed below.
            let mut values: Vec<u32> = got.iter().map(|p| unsafe { *p.as_ptr() }).collect();
            values.sort_unstable();
            assert_eq!(values, vec![1, 2], "each item once: got {values:?}");
            for p in got {
                // SAFETY: each pointer came back to exactly one holder
                // (asserted above), so each box is freed once.
                drop(unsafe { Box::from_raw(p.as_ptr()) });
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod owner_alone_tests {
    use super::*;

    /// A slot without thieves (one worker) moves items with plain stores:
    /// a put into a full slot hands back the one it displaces, and a take
    /// empties it.
    #[test]
    fn a_slot_without_thieves_hands_back_what_it_displaces() {
        let slot = Slot::<u32>::new(false);
        let (mut a, mut b) = (1u32, 2u32);
        let (pa, pb) = (NonNull::from(&mut a), NonNull::from(&mut b));
        assert_eq!(slot.put(pa), None);
        assert_eq!(slot.put(pb), Some(pa));
        assert!(!slot.is_empty());
        assert_eq!(slot.take(), Some(pb));
        assert_eq!(slot.take(), None);
        assert!(slot.is_empty());
    }

    #[test]
    #[should_panic(expected = "a thief at a slot made for its owner alone")]
    fn a_thief_at_a_slot_without_thieves_is_a_bug() {
        let slot = Slot::<u32>::new(false);
        let _ = slot.steal(&AtomicU64::new(0));
    }
}
