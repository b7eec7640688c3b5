//! Run queues: where Ready fibers wait for a worker.
//!
//! Each worker owns a [`RunQueue`] of two crossbeam deques, and every other
//! worker holds a [`RunQueueStealer`] for it. One [`Injector`] per runtime
//! takes fibers spawned or woken from outside any worker of that runtime.
//!
//! ```text
//!                 owner pushes / pops here             thieves take here
//!  fresh   (LIFO)  spawned here, woken here ... <-> |  oldest first, half at once
//!  yielded (FIFO)  yield_now                -> ... ->  oldest first, half at once
//!                  owner pops the oldest    <-
//! ```
//!
//! | the owner's next pick                          | from      |
//! |------------------------------------------------|-----------|
//! | `streak < FRESH_BUDGET` and `fresh` non-empty  | `fresh`, newest first (`streak += 1`) |
//! | otherwise                                      | `yielded`, oldest first (`streak = 0`), else `fresh` |
//!
//! Why two queues. Fibers that yield take turns strictly round-robin, as
//! users expect from `yield_now`. Fibers that were just spawned or woken run
//! newest first, like rayon's and Cilk's work-first order: in a fork-join tree
//! (spawn children, join them) the worker descends depth-first, so a tree of
//! a million fibers keeps about depth x fan-out of them alive instead of
//! expanding level by level with a stack for every node (skynet: 4x faster,
//! and no page faults for a million stacks). Thieves take the oldest entries,
//! the biggest subtrees. `FRESH_BUDGET` bounds how long fresh work (say a
//! ping-pong pair that keeps waking each other) can keep yielded fibers
//! waiting: every `FRESH_BUDGET` picks the oldest yielded fiber gets a turn.
//!
//! Hand-off rule (DESIGN.md invariant 2): a fiber is pushed to any of these
//! only after `switch` has saved its context and the worker is back on its
//! own stack, or before it ever ran. Whoever pops it may resume it at once on
//! another thread, so nothing may touch the fiber after the push.
//!
//! Normally these are crossbeam-deque's lock-free queues. crossbeam-deque has
//! no loom support, so under `cfg(loom)` they are a mutex-backed stand-in
//! with the same API and the same LIFO / FIFO / steal-half behaviour.

use core::cell::Cell;

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};

#[cfg(loom)]
pub(crate) use self::model::{Injector, LocalQueue, Steal, Stealer};

/// After this many picks from `fresh` in a row, the oldest yielded fiber
/// gets a turn (see the module docs).
const FRESH_BUDGET: u32 = 16;

/// A worker's own queues. See the module docs.
#[derive(Debug)]
pub(crate) struct RunQueue<T> {
    fresh: LocalQueue<T>,
    yielded: LocalQueue<T>,
    /// Picks from `fresh` since the last pick from `yielded`.
    streak: Cell<u32>,
}

/// Another worker's handle on a [`RunQueue`], for stealing.
#[derive(Debug)]
pub(crate) struct RunQueueStealer<T> {
    fresh: Stealer<T>,
    yielded: Stealer<T>,
}

impl<T> RunQueue<T> {
    pub(crate) fn new() -> Self {
        RunQueue {
            fresh: LocalQueue::new_lifo(),
            yielded: LocalQueue::new_fifo(),
            streak: Cell::new(0),
        }
    }

    pub(crate) fn stealer(&self) -> RunQueueStealer<T> {
        RunQueueStealer {
            fresh: self.fresh.stealer(),
            yielded: self.yielded.stealer(),
        }
    }

    /// A fiber just spawned or woken: it runs before older fresh ones.
    pub(crate) fn push_fresh(&self, t: T) {
        self.fresh.push(t);
    }

    /// A fiber that yielded: it runs after every fiber that yielded before
    /// it. Returns whether other yielded fibers wait too.
    pub(crate) fn push_yielded(&self, t: T) -> bool {
        self.yielded.push(t);
        self.yielded.len() > 1
    }

    /// The owner's next fiber, by the table in the module docs.
    pub(crate) fn pop(&self) -> Option<T> {
        if self.streak.get() < FRESH_BUDGET
            && let Some(t) = self.fresh.pop()
        {
            self.streak.set(self.streak.get() + 1);
            return Some(t);
        }
        self.streak.set(0);
        self.yielded.pop().or_else(|| self.fresh.pop())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.yielded.is_empty()
    }

    /// Take about half of the injector's fibers into `fresh`, and one to run.
    pub(crate) fn refill_from(&self, injector: &Injector<T>) -> Steal<T> {
        injector.steal_batch_and_pop(&self.fresh)
    }
}

impl<T> RunQueueStealer<T> {
    /// Take about half of the victim's fresh fibers (the oldest), or if it
    /// has none, half of its yielded ones; one of them to run now.
    pub(crate) fn steal_into(&self, dest: &RunQueue<T>) -> Steal<T> {
        match self.fresh.steal_batch_and_pop(&dest.fresh) {
            Steal::Empty => self.yielded.steal_batch_and_pop(&dest.yielded),
            found => found,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.yielded.is_empty()
    }
}

#[cfg(loom)]
mod model {
    use crate::loom::{Arc, Mutex};
    use std::collections::VecDeque;

    /// Result of a steal, as in crossbeam-deque.
    #[derive(Debug)]
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        #[allow(dead_code)]
        Retry,
    }

    #[derive(Debug)]
    pub(crate) struct LocalQueue<T>(Arc<Mutex<VecDeque<T>>>, bool);
    #[derive(Debug)]
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
    #[derive(Debug)]
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    impl<T> LocalQueue<T> {
        pub(crate) fn new_fifo() -> Self {
            LocalQueue(Arc::new(Mutex::new(VecDeque::new())), false)
        }
        pub(crate) fn new_lifo() -> Self {
            LocalQueue(Arc::new(Mutex::new(VecDeque::new())), true)
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.clone())
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            let mut q = self.0.lock();
            if self.1 { q.pop_back() } else { q.pop_front() }
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    fn steal_half<T>(from: &mut VecDeque<T>, dest: &LocalQueue<T>) -> Steal<T> {
        let Some(first) = from.pop_front() else {
            return Steal::Empty;
        };
        let extra = from.len() / 2;
        let mut d = dest.0.lock();
        for _ in 0..extra {
            d.push_back(from.pop_front().expect("counted"));
        }
        Steal::Success(first)
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Steal<T> {
            steal_half(&mut self.0.lock(), dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Steal<T> {
            steal_half(&mut self.0.lock(), dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }
}
