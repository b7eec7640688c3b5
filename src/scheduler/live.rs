//! Counting live fibers without a shared cache line on the spawn path.
//!
//! A runtime must know how many fibers are live for two things: its drop
//! waits until none is, and spawn maps stack slots ahead of need (so a spawn
//! fails with `io::Error` instead of a fiber failing later). One atomic
//! counter, bumped by every spawn and every retire, is one cache line that
//! every worker writes, and it cost more than half of a 2-worker skynet run
//! (figures in `BENCHMARKS.md`).
//!
//! So each worker keeps a private [`Credit`]: counts it has already added to
//! the shared total and may hand out without touching it.
//!
//! ```text
//!  total = live fibers + the credit every worker holds      (invariant)
//!
//!  event                     on a worker, credit c                 from outside
//!  ------------------------  ------------------------------------  --------------
//!  spawn                     c > 0: c -= 1                          total += 1
//!                            c = 0: total += BATCH, c = BATCH - 1
//!  retire (always a worker)  c += 1; c > 2*BATCH: total -= BATCH,
//!                                                c -= BATCH
//!  failed spawn (undo)       c += 1                                 total -= 1 *
//!  retire after a hand-off   -                                      total -= 1 *
//!  worker about to sleep     total -= c, c = 0 *
//!  or exit
//!                            * reaching 0 here notifies the quiet condvar
//! ```
//!
//! `total` can reach zero only at a starred step: a retire that returns a
//! batch keeps `c > BATCH` of its own credit in the total. When the last
//! fiber retires, every worker runs out of work, flushes its credit before
//! it sleeps, and the last flush reaches zero and wakes whoever waits for
//! quiet. A waiter checks `total` under the quiet mutex and the notifier
//! takes that mutex before notifying, so the wake-up cannot fall between the
//! check and the wait.
//!
//! The total over-counts live fibers by at most `2 * BATCH` per worker;
//! stack mapping adds that to its slack ([`Live::slack`]).

use core::cell::Cell;

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicUsize, Condvar, Mutex, Ordering};

/// Counts a worker takes from, or gives back to, the total at once. Small
/// under loom, so that the models run the batched paths (a worker taking a
/// new batch, and giving one back) with a handful of fibers.
#[cfg(not(loom))]
const BATCH: usize = 64;
#[cfg(loom)]
const BATCH: usize = 2;

/// The runtime-wide count. See the module docs.
#[derive(Debug)]
pub(crate) struct Live {
    total: CachePadded<AtomicUsize>,
    quiet: Mutex<()>,
    quiet_cv: Condvar,
}

/// A worker's private share of [`Live`]'s total. Used only by its worker's
/// thread.
#[derive(Debug, Default)]
pub(crate) struct Credit(Cell<usize>);

impl Live {
    pub(crate) fn new() -> Self {
        Live {
            total: CachePadded::new(AtomicUsize::new(0)),
            quiet: Mutex::new(()),
            quiet_cv: Condvar::new(),
        }
    }

    /// How far the total may run ahead of the live fibers, for `workers`.
    pub(crate) fn slack(workers: usize) -> usize {
        workers * 2 * BATCH
    }

    /// Count a new fiber, spawned on the worker owning `credit` (or from
    /// outside any worker). Returns a count at least the number of live
    /// fibers, for sizing stacks.
    pub(crate) fn spawn(&self, credit: Option<&Credit>) -> usize {
        match credit {
            Some(c) if c.0.get() > 0 => {
                c.0.set(c.0.get() - 1);
                self.total.load(Ordering::Relaxed)
            }
            Some(c) => {
                c.0.set(BATCH - 1);
                self.total.fetch_add(BATCH, Ordering::Relaxed) + BATCH
            }
            None => self.total.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    /// Undo [`spawn`](Self::spawn) for a fiber that never got queued.
    pub(crate) fn unspawn(&self, credit: Option<&Credit>) {
        match credit {
            Some(c) => c.0.set(c.0.get() + 1),
            None => self.sub(1),
        }
    }

    /// A fiber retired by a thread that holds no credit: the old thread of
    /// a worker that was handed off (handoff.rs).
    pub(crate) fn retire_outside(&self) {
        self.sub(1);
    }

    /// A fiber retired on the worker owning `credit`.
    pub(crate) fn retire(&self, credit: &Credit) {
        let c = credit.0.get() + 1;
        if c > 2 * BATCH {
            // Cannot reach zero: we keep c - BATCH > BATCH in the total.
            self.total.fetch_sub(BATCH, Ordering::Release);
            credit.0.set(c - BATCH);
        } else {
            credit.0.set(c);
        }
    }

    /// Give back all of `credit`: its worker is about to sleep or exit.
    pub(crate) fn flush(&self, credit: &Credit) {
        let c = credit.0.replace(0);
        if c > 0 {
            self.sub(c);
        }
    }

    fn sub(&self, n: usize) {
        if self.total.fetch_sub(n, Ordering::AcqRel) == n {
            let _quiet = self.quiet.lock();
            self.quiet_cv.notify_all();
        }
    }

    /// Block the calling thread until no fiber is live and no worker holds
    /// credit.
    pub(crate) fn wait_quiet(&self) {
        let mut quiet = self.quiet.lock();
        while self.total.load(Ordering::Acquire) != 0 {
            self.quiet_cv.wait(&mut quiet);
        }
    }

    /// [`wait_quiet`](Self::wait_quiet), giving up after `timeout`; true if
    /// quiet. A timeout past `Instant`'s range waits without a deadline.
    #[cfg(not(loom))]
    pub(crate) fn wait_quiet_for(&self, timeout: std::time::Duration) -> bool {
        let Some(deadline) = std::time::Instant::now().checked_add(timeout) else {
            self.wait_quiet();
            return true;
        };
        let mut quiet = self.quiet.lock();
        while self.total.load(Ordering::Acquire) != 0 {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            crate::loom::wait_timeout(&self.quiet_cv, &mut quiet, deadline - now);
        }
        true
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use crate::loom::Arc;
    use loom::thread;

    /// Two fibers spawned from outside retire on two workers, which then
    /// flush; a waiter for quiet returns only after both retired, and never
    /// misses the wake-up.
    #[test]
    fn quiet_after_last_flush() {
        loom::model(|| {
            let live = Arc::new(Live::new());
            live.spawn(None);
            live.spawn(None);
            let retired = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (live, retired) = (live.clone(), retired.clone());
                    thread::spawn(move || {
                        let credit = Credit::default();
                        retired.fetch_add(1, Ordering::Relaxed);
                        live.retire(&credit);
                        live.flush(&credit);
                    })
                })
                .collect();
            live.wait_quiet();
            assert_eq!(retired.load(Ordering::Relaxed), 2);
            workers.into_iter().for_each(|w| w.join().unwrap());
        });
    }
}
