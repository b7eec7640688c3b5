//! Run queues: where Ready fibers wait for a worker.
//!
//! Each worker owns a [`RunQueue`] of three crossbeam deques, and every
//! other worker holds a [`RunQueueStealer`] for it. One [`Injector`] per
//! runtime takes fibers spawned or woken from outside any worker of that
//! runtime.
//!
//! ```text
//!                  owner pushes / pops here                  thieves take here
//!  woken   (FIFO)  woken here                  -> ... ->     oldest first, half at once
//!  fresh   (LIFO)  spawned here, not started   ... <->  |    oldest first, half at once
//!                  (every FRESH_AGING-th fresh pick takes the oldest, from this end)
//!  yielded (FIFO)  yield_now                   -> ... ->     oldest first, half at once
//! ```
//!
//! # The owner's next pick
//!
//! | condition                                       | pick                                      |
//! |-------------------------------------------------|-------------------------------------------|
//! | `woken_streak < BUDGET`, `woken` non-empty      | `woken`, oldest (`woken_streak += 1`)      |
//! | else `fresh_streak < BUDGET`, `fresh` non-empty | `fresh`, newest; oldest on every [`FRESH_AGING`]-th fresh pick (`woken_streak = 0`, `fresh_streak += 1`) |
//! | otherwise                                       | `yielded`, oldest; else `woken`; else `fresh` (both streaks = 0) |
//!
//! # Why three queues
//!
//! A fiber that was spawned and has not started is work: running the newest
//! first (rayon's and Cilk's work-first order) makes a fork-join tree (spawn
//! children, join them) run depth-first, so a tree of a million fibers
//! keeps about depth x fan-out of them alive instead of expanding level by
//! level with a stack for every node. Thieves take the oldest entries, the
//! biggest subtrees.
//!
//! A fiber woken (by a channel, a lock, a join or a timer) is a waiter
//! whose wait is over: it runs first, in strict first-come order, so that
//! nothing another fiber does can push it back. That is also what keeps
//! fork-join depth-first: a parent woken by its last child runs at once,
//! finishes, and wakes its own parent. (Woken fibers used to go on top of
//! the newest-first deque; a pair of fibers waking each other kept landing
//! above an older woken fiber, which then waited until the pair stopped.)
//!
//! A fiber that yields asks to let the others run: it goes behind the
//! woken and the fresh ones, and the yielders take turns round-robin.
//!
//! # The bound
//!
//! Every Ready fiber runs within a bounded number of this worker's picks
//! of becoming ready, whatever the other fibers do. Let `B` be
//! [`BUDGET`]. Nothing is ever put ahead of a fiber in a FIFO queue, nor
//! below one in `fresh` (pushes go on top; thieves take only from the
//! bottom and only remove).
//!
//! - **Woken**, with `q` fibers ahead of it: within `(B + 1) * (q + 1)`
//!   picks. Of any `B + 1` consecutive picks, at least one takes from
//!   `woken` while it is non-empty (a streak of `B` woken picks is followed
//!   by one other pick, then `woken` comes first again).
//! - **Yielded**, with `q` ahead: within `(B + 1)^2 * (q + 1)` picks. Of
//!   any `(B + 1)^2` consecutive picks, at least one takes from `yielded`
//!   while it is non-empty: every `B + 1` picks include one that is not
//!   from `woken`; `B` of those in a row from `fresh` end the fresh streak,
//!   and the next one is from `yielded`.
//! - **Fresh** (not started), with `p` older fresh fibers: within
//!   `FRESH_AGING * (p + 1)` picks from `fresh`, and `fresh` gets at least
//!   one of every `B + 1` picks while it is non-empty (as for `yielded`
//!   after a woken streak). Every [`FRESH_AGING`]-th pick from `fresh`
//!   takes the oldest, which removes one fiber below it (or it), and a
//!   newest-first pick reaches it once everything above it is gone.
//!
//! The aging pick is rare on purpose: each one starts an old, shallow
//! subtree of a fork-join tree ahead of its turn and keeps the current
//! path started meanwhile, which costs a few stacks. At [`FRESH_AGING`] =
//! 65,536 a million-fiber tree sees about seventeen, and the 100,000-leaf
//! tree of `tests/skynet.rs` one or two. `tests/run_order_bound.rs` checks
//! the woken and the fresh bounds in scheduling decisions.
//!
//! Fibers in the injector are reached every `INJECTOR_EVERY` picks
//! (find.rs), fibers pinned to the worker every other pick while there
//! are any; so the bounds hold for them too, with those factors. Ahead of
//! all of these, the worker's run-next slot (run_next.rs) takes at most
//! `RUN_NEXT_BUDGET` picks in a row while anything here waits, which
//! multiplies every bound by at most `RUN_NEXT_BUDGET + 1`. On a runtime
//! of one worker the newest fresh fiber usually waits there, not on top
//! of `fresh`: a spawn puts it in the slot and pushes the fresh fiber it
//! displaces onto `fresh` (run_next.rs), so fresh fibers start in the same
//! order.
//!
//! # Hand-off rule
//!
//! A fiber is pushed to any of these only after `switch` has saved its
//! context, by the context that runs next on its thread (transition.rs),
//! or before it ever ran
//! (invariant 2 of `README.md`). Whoever pops it may resume it at once on
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

/// Most picks from `woken` in a row, and from `fresh` in a row, before the
/// next queue gets a turn (see the module docs).
pub(crate) const BUDGET: u32 = 16;

/// Every this many picks from `fresh`, the oldest fresh fiber is taken
/// instead of the newest (see "The bound" in the module docs).
pub(crate) const FRESH_AGING: u32 = 1 << 16;

/// One of a worker's own deques, with an upper bound on its length that
/// only the owner keeps: the owner is the only one who pushes, and thieves
/// only remove, so the bound is never too low. A pick from an empty queue
/// (the common case for two of the three) then costs a `Cell` read, not a
/// call into the deque.
#[derive(Debug)]
struct Local<T> {
    queue: LocalQueue<T>,
    at_most: Cell<usize>,
}

impl<T> Local<T> {
    fn new(queue: LocalQueue<T>) -> Self {
        Local {
            queue,
            at_most: Cell::new(0),
        }
    }

    #[inline]
    fn push(&self, t: T) {
        self.queue.push(t);
        self.at_most.set(self.at_most.get() + 1);
    }

    #[inline]
    fn pop(&self) -> Option<T> {
        if self.at_most.get() == 0 {
            return None;
        }
        let t = self.queue.pop();
        // Taken by thieves meanwhile, if it came back empty.
        self.at_most.set(if t.is_some() {
            self.at_most.get() - 1
        } else {
            0
        });
        t
    }

    /// Fibers were moved in by a batch steal (the owner's own doing).
    fn refresh(&self) {
        self.at_most.set(self.queue.len());
    }
}

/// A worker's own queues. See the module docs.
#[derive(Debug)]
pub(crate) struct RunQueue<T> {
    woken: Local<T>,
    fresh: Local<T>,
    /// Our own thief's handle on `fresh`, for the aging pick.
    fresh_oldest: Stealer<T>,
    yielded: Local<T>,
    /// Picks from `woken` in a row.
    woken_streak: Cell<u32>,
    /// Picks from `fresh` in a row (woken picks do not break it).
    fresh_streak: Cell<u32>,
    /// Picks from `fresh`, modulo [`FRESH_AGING`].
    fresh_picks: Cell<u32>,
}

/// Another worker's handle on a [`RunQueue`], for stealing.
#[derive(Debug)]
pub(crate) struct RunQueueStealer<T> {
    woken: Stealer<T>,
    fresh: Stealer<T>,
    yielded: Stealer<T>,
}

impl<T> RunQueue<T> {
    pub(crate) fn new() -> Self {
        let fresh = LocalQueue::new_lifo();
        RunQueue {
            woken: Local::new(LocalQueue::new_fifo()),
            fresh_oldest: fresh.stealer(),
            fresh: Local::new(fresh),
            yielded: Local::new(LocalQueue::new_fifo()),
            woken_streak: Cell::new(0),
            fresh_streak: Cell::new(0),
            fresh_picks: Cell::new(0),
        }
    }

    pub(crate) fn stealer(&self) -> RunQueueStealer<T> {
        RunQueueStealer {
            woken: self.woken.queue.stealer(),
            fresh: self.fresh.queue.stealer(),
            yielded: self.yielded.queue.stealer(),
        }
    }

    /// A fiber just spawned (not started): it runs before older fresh ones.
    pub(crate) fn push_fresh(&self, t: T) {
        self.fresh.push(t);
    }

    /// A fiber whose wait is over: it runs after every fiber woken before it.
    pub(crate) fn push_woken(&self, t: T) {
        self.woken.push(t);
    }

    /// A fiber that yielded: it runs after every fiber that yielded before
    /// it. Returns whether other yielded fibers wait too.
    pub(crate) fn push_yielded(&self, t: T) -> bool {
        self.yielded.push(t);
        self.yielded.at_most.get() > 1
    }

    /// The owner's next fiber, by the table in the module docs.
    #[inline(always)]
    pub(crate) fn pop(&self) -> Option<T> {
        if self.woken.at_most.get() | self.fresh.at_most.get() == 0 {
            // The table's last row, which is all it comes to when only
            // yielders can be queued (the yield loop's case).
            self.woken_streak.set(0);
            self.fresh_streak.set(0);
            return self.yielded.pop();
        }
        self.pop_by_table()
    }

    fn pop_by_table(&self) -> Option<T> {
        if self.woken_streak.get() < BUDGET
            && let Some(t) = self.woken.pop()
        {
            self.woken_streak.set(self.woken_streak.get() + 1);
            return Some(t);
        }
        self.woken_streak.set(0);
        if self.fresh_streak.get() < BUDGET
            && let Some(t) = self.pop_fresh()
        {
            self.fresh_streak.set(self.fresh_streak.get() + 1);
            return Some(t);
        }
        self.fresh_streak.set(0);
        self.yielded
            .pop()
            .or_else(|| self.woken.pop())
            .or_else(|| self.pop_fresh())
    }

    /// The newest fresh fiber, or the oldest on every FRESH_AGING-th pick.
    #[inline]
    fn pop_fresh(&self) -> Option<T> {
        let picks = self.fresh_picks.get() + 1;
        if picks < FRESH_AGING {
            let t = self.fresh.pop();
            if t.is_some() {
                self.fresh_picks.set(picks);
            }
            return t;
        }
        self.pop_oldest_fresh()
    }

    #[cold]
    fn pop_oldest_fresh(&self) -> Option<T> {
        loop {
            match self.fresh_oldest.steal() {
                Steal::Success(t) => {
                    self.fresh_picks.set(0);
                    let n = self.fresh.at_most.get();
                    self.fresh.at_most.set(n.saturating_sub(1));
                    return Some(t);
                }
                Steal::Empty => {
                    self.fresh.at_most.set(0);
                    return None;
                }
                Steal::Retry => continue,
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.woken.queue.is_empty() && self.fresh.queue.is_empty() && self.yielded.queue.is_empty()
    }

    /// Take about half of the injector's fibers into `fresh`, and one to run.
    pub(crate) fn refill_from(&self, injector: &Injector<T>) -> Steal<T> {
        let got = injector.steal_batch_and_pop(&self.fresh.queue);
        self.fresh.refresh();
        got
    }
}

impl<T> RunQueueStealer<T> {
    /// Take about half of the victim's fresh fibers (the oldest, the
    /// biggest subtrees), or if it has none, half of its woken ones, or
    /// else of its yielded ones; one of them to run now.
    pub(crate) fn steal_into(&self, dest: &RunQueue<T>) -> Steal<T> {
        let (from, to) = match self.fresh.steal_batch_and_pop(&dest.fresh.queue) {
            Steal::Empty => match self.woken.steal_batch_and_pop(&dest.woken.queue) {
                Steal::Empty => (
                    self.yielded.steal_batch_and_pop(&dest.yielded.queue),
                    &dest.yielded,
                ),
                found => (found, &dest.woken),
            },
            found => (found, &dest.fresh),
        };
        to.refresh();
        from
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.woken.is_empty() && self.fresh.is_empty() && self.yielded.is_empty()
    }
}

#[cfg(loom)]
mod model {
    //! The stand-in for crossbeam-deque under loom: the items under a
    //! mutex, and their count in an atomic that emptiness checks read
    //! without the lock, as crossbeam's checks read its indices. So a
    //! sleeper's re-check can miss a push that is not yet visible to it,
    //! and the `SeqCst` fences of `sleep.rs` are what the models test.

    use crate::loom::{Arc, AtomicUsize, Mutex, Ordering};
    use std::collections::VecDeque;

    /// Result of a steal, as in crossbeam-deque.
    #[derive(Debug)]
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        #[allow(dead_code)]
        Retry,
    }

    /// Items, and their count for lock-free reads.
    #[derive(Debug)]
    pub(crate) struct Q<T> {
        items: Mutex<VecDeque<T>>,
        /// Written under `items`' lock (Release), read without it (Acquire).
        len: AtomicUsize,
    }

    impl<T> Q<T> {
        fn new() -> Self {
            Q {
                items: Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
            }
        }
        fn with<R>(&self, f: impl FnOnce(&mut VecDeque<T>) -> R) -> R {
            let mut items = self.items.lock();
            let r = f(&mut items);
            self.len.store(items.len(), Ordering::Release);
            r
        }
        fn is_empty(&self) -> bool {
            self.len.load(Ordering::Acquire) == 0
        }
        fn len(&self) -> usize {
            self.len.load(Ordering::Acquire)
        }
    }

    #[derive(Debug)]
    pub(crate) struct LocalQueue<T>(Arc<Q<T>>, bool);
    #[derive(Debug)]
    pub(crate) struct Stealer<T>(Arc<Q<T>>);
    #[derive(Debug)]
    pub(crate) struct Injector<T>(Q<T>);

    impl<T> LocalQueue<T> {
        pub(crate) fn new_fifo() -> Self {
            LocalQueue(Arc::new(Q::new()), false)
        }
        pub(crate) fn new_lifo() -> Self {
            LocalQueue(Arc::new(Q::new()), true)
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.clone())
        }
        pub(crate) fn push(&self, t: T) {
            self.0.with(|q| q.push_back(t));
        }
        pub(crate) fn pop(&self) -> Option<T> {
            let lifo = self.1;
            self.0
                .with(|q| if lifo { q.pop_back() } else { q.pop_front() })
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    fn steal_half<T>(from: &Q<T>, dest: &LocalQueue<T>) -> Steal<T> {
        let moved = from.with(|from| {
            let first = from.pop_front()?;
            let extra = from.len() / 2;
            let rest: Vec<T> = from.drain(..extra).collect();
            Some((first, rest))
        });
        let Some((first, rest)) = moved else {
            return Steal::Empty;
        };
        dest.0.with(|d| d.extend(rest));
        Steal::Success(first)
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal(&self) -> Steal<T> {
            match self.0.with(|q| q.pop_front()) {
                Some(t) => Steal::Success(t),
                None => Steal::Empty,
            }
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Steal<T> {
            steal_half(&self.0, dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Q::new())
        }
        pub(crate) fn push(&self, t: T) {
            self.0.with(|q| q.push_back(t));
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Steal<T> {
            steal_half(&self.0, dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}
