//! Timers: the deadlines of timed waits (`sleep`, `recv_timeout`), and who
//! fires them.
//!
//! # Layout
//!
//! One [`Timers`] per runtime holds a shard per worker: a heap of entries
//! behind its own lock, and `next`, the earliest deadline in it (an atomic,
//! readable without the lock). A worker puts the timers of the fibers it
//! parks into its own shard, so that lock is normally uncontended.
//!
//! ```text
//!  Timers { shards: [ Shard { heap: Mutex<heap of (deadline, waker)>, next }; workers ],
//!           keeper: { wake_at, parker } }
//! ```
//!
//! # Who fires a timer
//!
//! - Its worker, between fibers: the loop compares its shard's `next` with
//!   the clock (one relaxed load while the shard is empty) and fires what
//!   is due. The woken fiber goes on that worker's own queue.
//! - The keeper, a thread per runtime that sleeps until the earliest
//!   deadline of any shard and fires everything due in every shard. The
//!   woken fibers go to the injector, where any idle worker takes them. So
//!   a due timer fires even while its worker runs a fiber that never
//!   yields, or sleeps; with no timers at all the keeper sleeps without a
//!   deadline and costs nothing.
//!
//! Both fire by *claiming* the entry's [`OnceWaker`]: the waiter is also
//! in a wait list, and whoever claims first (the notifier that satisfied
//! the wait, or a timer) wakes it; the other finds it claimed and does
//! nothing. ``tests` in `once.rs` model-check that race under loom.
//!
//! # Inserting against a keeper going to sleep
//!
//! | inserter (a worker)                  | keeper                                        |
//! |--------------------------------------|-----------------------------------------------|
//! | 1. push, lower the shard's `next`    | 1. fire what is due, compute the earliest `e` |
//! | 2. `fence(SeqCst)`                   | 2. `wake_at = e`, `fence(SeqCst)`             |
//! | 3. if deadline < `wake_at`: unpark   | 3. earliest again: if < `e`, go to 1          |
//! |                                      | 4. park until `e` (an unpark ends it early)   |
//!
//! Both sides write, fence, then read what the other wrote, so whichever
//! fence comes second sees the other's write: either the inserter sees a
//! `wake_at` no later than its deadline (the keeper will be up in time) or
//! unparks it, or the keeper's re-check sees the new deadline. While the
//! keeper runs, `wake_at` is 0 and inserters leave it alone (it re-checks
//! before it sleeps).
//!
//! # Memory
//!
//! A wait that ends before its deadline (the common case for a timeout)
//! leaves a claimed entry in the heap. Insertion compacts: once the heap
//! holds [`COMPACT_AT_LEAST`] entries and twice as many as after the last
//! compaction, claimed entries are dropped. Each compaction costs the
//! entries it looks at and happens only after as many insertions, so
//! memory stays proportional to the live timed waits, at O(1) amortized
//! time per insertion.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::park::OnceWaker;
use super::parker::{Parker, park_timeout};
use crate::loom::{Arc, AtomicBool, AtomicU64, Mutex, Ordering, fence};

/// A shard compacts only from this many entries on.
pub(crate) const COMPACT_AT_LEAST: usize = 64;

/// `next` of an empty shard, and `wake_at` of a keeper with nothing to do.
const NEVER: u64 = u64::MAX;

/// A timed wait: at `at` (nanoseconds since the epoch), claim and fire the
/// waker, unless the wait already ended another way.
#[derive(Debug)]
struct Entry {
    at: u64,
    /// Registration order within the shard, to break ties.
    seq: u64,
    waker: Arc<OnceWaker>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Debug)]
struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// Compact when `entries` reaches this length.
    compact_at: usize,
}

/// One worker's timers. See the module docs.
#[derive(Debug)]
struct Shard {
    heap: Mutex<Heap>,
    /// The earliest deadline in `heap`, or [`NEVER`]. Written under the
    /// heap's lock; read without it.
    next: AtomicU64,
}

/// What the keeper publishes for inserters.
#[derive(Debug)]
struct Keeper {
    /// When it will wake by itself (nanoseconds since the epoch); 0 while
    /// it is up, [`NEVER`] when it sleeps with no deadline.
    wake_at: AtomicU64,
    parker: Parker,
    stop: AtomicBool,
}

/// A runtime's timers. See the module docs.
#[derive(Debug)]
pub(crate) struct Timers {
    epoch: Instant,
    shards: Box<[CachePadded<Shard>]>,
    keeper: Keeper,
}

impl Timers {
    pub(crate) fn new(workers: usize) -> Self {
        Timers {
            epoch: Instant::now(),
            shards: (0..workers)
                .map(|_| {
                    CachePadded::new(Shard {
                        heap: Mutex::new(Heap {
                            entries: BinaryHeap::new(),
                            seq: 0,
                            compact_at: COMPACT_AT_LEAST,
                        }),
                        next: AtomicU64::new(NEVER),
                    })
                })
                .collect(),
            keeper: Keeper {
                wake_at: AtomicU64::new(0),
                parker: Parker::new(),
                stop: AtomicBool::new(false),
            },
        }
    }

    /// `t` as nanoseconds since the epoch (0 for earlier instants, and
    /// short of [`NEVER`] for very late ones).
    fn ticks(&self, t: Instant) -> u64 {
        let ns = t.saturating_duration_since(self.epoch).as_nanos();
        ns.min(u128::from(NEVER - 1)) as u64
    }

    /// Now, in ticks.
    pub(crate) fn now(&self) -> u64 {
        self.ticks(Instant::now())
    }

    /// Fire `waker` at `deadline` (shard `shard`: the inserting worker's).
    /// Steps 1-3 of the inserter in the module docs.
    pub(crate) fn insert(&self, shard: usize, deadline: Instant, waker: Arc<OnceWaker>) {
        let at = self.ticks(deadline);
        let s = &self.shards[shard];
        {
            let mut h = s.heap.lock();
            if h.entries.len() >= h.compact_at {
                h.entries.retain(|e| !e.0.waker.is_claimed());
                h.compact_at = COMPACT_AT_LEAST.max(2 * h.entries.len());
                let next = h.entries.peek().map_or(NEVER, |e| e.0.at);
                s.next.store(next, Ordering::Relaxed);
            }
            let seq = h.seq;
            h.seq += 1;
            h.entries.push(Reverse(Entry { at, seq, waker }));
            if at < s.next.load(Ordering::Relaxed) {
                s.next.store(at, Ordering::SeqCst);
            }
        }
        fence(Ordering::SeqCst);
        if at < self.keeper.wake_at.load(Ordering::SeqCst) {
            self.keeper.parker.unpark();
        }
    }

    /// Whether shard `shard` has a timer due at `now` (one relaxed load
    /// while it is empty; the worker's loop asks this between fibers).
    #[inline]
    pub(crate) fn has_due(&self, shard: usize, now: impl FnOnce() -> u64) -> bool {
        let next = self.shards[shard].next.load(Ordering::Relaxed);
        next != NEVER && next <= now()
    }

    /// Fire every timer of shard `shard` due at `now`: claim under the
    /// lock, wake after it.
    pub(crate) fn fire_due(&self, shard: usize, now: u64) {
        let s = &self.shards[shard];
        let mut due = Vec::new();
        {
            let mut h = s.heap.lock();
            while h.entries.peek().is_some_and(|e| e.0.at <= now) {
                let e = h.entries.pop().expect("peeked").0;
                if let Some(w) = e.waker.claim() {
                    due.push(w);
                }
            }
            let next = h.entries.peek().map_or(NEVER, |e| e.0.at);
            s.next.store(next, Ordering::SeqCst);
        }
        for w in due {
            w.wake();
        }
    }

    /// The earliest deadline of any shard, or [`NEVER`].
    fn earliest(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.next.load(Ordering::SeqCst))
            .min()
            .unwrap_or(NEVER)
    }

    /// The keeper thread's body (see the module docs). Returns once
    /// [`stop_keeper`](Self::stop_keeper) was called.
    pub(crate) fn keep(&self) {
        loop {
            self.keeper.wake_at.store(0, Ordering::SeqCst);
            if self.keeper.stop.load(Ordering::SeqCst) {
                return;
            }
            let now = self.now();
            for (i, s) in self.shards.iter().enumerate() {
                let next = s.next.load(Ordering::SeqCst);
                if next != NEVER && next <= now {
                    self.fire_due(i, now);
                }
            }
            let e = self.earliest();
            self.keeper.wake_at.store(e, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if self.earliest() < e || self.keeper.stop.load(Ordering::SeqCst) {
                continue;
            }
            let timeout = (e != NEVER).then(|| Duration::from_nanos(e.saturating_sub(self.now())));
            park_timeout(&self.keeper.parker, timeout);
        }
    }

    /// Make [`keep`](Self::keep) return (runtime shutdown).
    pub(crate) fn stop_keeper(&self) {
        self.keeper.stop.store(true, Ordering::SeqCst);
        self.keeper.parker.unpark();
    }
}
