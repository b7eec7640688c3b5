//! Where a worker finds its next fiber: its own queues (run_queue.rs), its
//! pinned inbox, the injector, and, when searching, the other workers'
//! queues; and its own due timers, between fibers.
//!
//! | source         | when                                                   |
//! |----------------|--------------------------------------------------------|
//! | own run-next slot | first, up to `RUN_NEXT_BUDGET` picks in a row (run_next.rs); last, when all else is empty |
//! | own timers     | every loop turn (one relaxed load while none is set)   |
//! | injector       | first on every [`INJECTOR_EVERY`]-th pick; otherwise when own queues are empty |
//! | pinned inbox   | first on every other pick while fibers are pinned here |
//! | own run queue  | by its table (run_queue.rs)                            |
//! | other workers  | only while searching (at most half the workers, sleep.rs), [`SEARCH_ROUNDS`] full scans |
//! | other workers' run-next slots | last in a scan that found nothing else, after a grace period (run_next.rs) |

use crossbeam_utils::Backoff;

use super::job::{JobFiber, JobRef};
use super::run_next::RUN_NEXT_BUDGET;
use super::run_queue::Steal;
use super::task::{self, Entry, TaskRef};
use super::worker::Worker;
use crate::loom::Ordering;
use crate::pool::Pooled;

/// How often (in scheduling ticks) a worker looks at the injector before its
/// own queue, so fibers woken from outside cannot starve.
pub(super) const INJECTOR_EVERY: u32 = 61;

/// Full scans of the other workers' queues a searching worker makes before
/// it goes to sleep (where it checks them all once more, see sleep.rs).
pub(super) const SEARCH_ROUNDS: u32 = 2;

impl Worker {
    /// Fire the timers of this worker's shard that are due (timers.rs).
    pub(super) fn fire_timers(&self) {
        let timers = &self.shared.timers;
        let mut now = 0;
        if timers.has_due(self.index, || {
            now = timers.now();
            now
        }) {
            timers.fire_due(self.index, now);
        }
    }

    /// Whether the next pick is the loop's (every [`INJECTOR_EVERY`]-th):
    /// a fiber switching out then goes to the loop, which fires due timers
    /// and looks at the injector first (transition.rs).
    pub(super) fn loop_turn_due(&self) -> bool {
        self.tick
            .get()
            .wrapping_add(1)
            .is_multiple_of(INJECTOR_EVERY)
    }

    /// Own queue, with a look at the injector every [`INJECTOR_EVERY`]
    /// ticks. While fibers are pinned here, the pinned inbox comes first
    /// on every other tick: a pinned fiber at the head of the inbox waits
    /// at most two picks, whatever the run queue holds.
    pub(super) fn next_task(&self) -> Option<TaskRef> {
        let streak = self.run_next_streak.get();
        if streak < RUN_NEXT_BUDGET
            && let Some(t) = self.run_next().take()
        {
            self.run_next_streak.set(streak + 1);
            return Some(t);
        }
        self.run_next_streak.set(0);
        self.next_from_queues().or_else(|| self.run_next().take())
    }

    /// [`next_task`](Self::next_task) without the run-next slot.
    fn next_from_queues(&self) -> Option<TaskRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick.is_multiple_of(INJECTOR_EVERY)
            && let Some(t) = self.steal_from_injector()
        {
            return Some(t);
        }
        if self.pinned_live.get() == 0 {
            return self.queue.pop();
        }
        if tick & 1 == 1
            && let Some(t) = self.pop_pinned()
        {
            return Some(t);
        }
        self.queue.pop().or_else(|| self.pop_pinned())
    }

    /// The oldest ready fiber pinned to this worker.
    fn pop_pinned(&self) -> Option<TaskRef> {
        let inbox = &self.shared.pinned[self.index];
        // `is_empty` is two loads; an empty `steal` costs a SeqCst fence.
        if inbox.is_empty() {
            return None;
        }
        loop {
            match inbox.steal() {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    pub(super) fn steal_from_injector(&self) -> Option<TaskRef> {
        loop {
            match self.queue.refill_from(&self.shared.injector) {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    fn next_random(&self) -> u64 {
        // xorshift64*
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The injector, then every other worker from a random start, taking
    /// about half of the first non-empty queue.
    fn steal_any(&self) -> Option<TaskRef> {
        if let Some(t) = self.steal_from_injector() {
            return Some(t);
        }
        let stealers = &self.shared.stealers;
        let n = stealers.len();
        if n <= 1 {
            return None;
        }
        loop {
            let mut retry = false;
            let start = (self.next_random() % n as u64) as usize;
            for victim in self.others(start, n) {
                self.stats().bump_steals_tried();
                match stealers[victim].steal_into(&self.queue) {
                    Steal::Success(t) => {
                        self.stats().bump_steals();
                        return Some(t);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
                match self.shared.job_stealers[victim].steal() {
                    Steal::Success(job) => {
                        self.stats().bump_steals();
                        if let Some(t) = self.start_job(job) {
                            return Some(t);
                        }
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return self.steal_run_next(start, n);
            }
        }
    }

    /// The other workers' indices, from `start` round the `n` workers.
    fn others(&self, start: usize, n: usize) -> impl Iterator<Item = usize> + use<'_> {
        (0..n)
            .map(move |k| (start + k) % n)
            .filter(move |&v| v != self.index)
    }

    /// Last, a fiber another worker's running fiber woke and that worker
    /// has not switched to within the grace period (run_next.rs).
    #[cold]
    fn steal_run_next(&self, start: usize, n: usize) -> Option<TaskRef> {
        for victim in self.others(start, n) {
            let switches = &self.shared.stats[victim].switches;
            if let Some(t) = self.shared.run_next[victim].steal(switches) {
                self.stats().bump_steals();
                return Some(t);
            }
        }
        None
    }

    /// Spin a little (crossbeam's Backoff) looking for work before sleeping:
    /// our own queue at every step, every other queue [`SEARCH_ROUNDS`]
    /// times in all, so a search costs O(workers) however long it spins.
    pub(super) fn spin_for_work(&self) -> Option<TaskRef> {
        let backoff = Backoff::new();
        let mut rounds = 0;
        loop {
            if let Some(t) = self.next_task() {
                return Some(t);
            }
            if !backoff.is_completed() && rounds < SEARCH_ROUNDS {
                rounds += 1;
                if let Some(t) = self.steal_any() {
                    return Some(t);
                }
            }
            if backoff.is_completed() || self.shared.shutdown.load(Ordering::Relaxed) {
                return None;
            }
            backoff.snooze();
        }
    }

    /// A stolen fork-join job gets a fiber of its own (job.rs), queued
    /// here; returns it to run now.
    fn start_job(&self, job: JobRef) -> Option<TaskRef> {
        let fiber = Pooled::new(JobFiber(job));
        let entry = task::erase_entry(fiber.clone());
        if let Err(e) = self.shared.spawn(None, None, entry, false) {
            // No stack to run it on: fail it to its joiner, who waits. A
            // job fiber's block has no handle to hand a reference to.
            let release = fiber.abandon(e);
            debug_assert_eq!(release, task::Release::Drop);
            return None;
        }
        self.queue.pop()
    }

    /// Whether any queue holds a fiber, or the runtime shuts down.
    pub(super) fn has_work(&self) -> bool {
        !self.queue.is_empty()
            || !self.run_next().is_empty()
            || self.shared.job_stealers.iter().any(|s| !s.is_empty())
            || !self.shared.pinned[self.index].is_empty()
            || !self.shared.injector.is_empty()
            || self.shared.stealers.iter().any(|s| !s.is_empty())
            || self.shared.shutdown.load(Ordering::SeqCst)
    }
}
