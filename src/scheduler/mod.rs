//! The scheduler: workers, run queues, and the protocols between them.
//!
//! See `README.md` in this folder for how the pieces fit together. Each
//! protocol lives in one file with its state table:
//!
//! - `run_queue.rs`: local FIFO deques, stealers, the injector;
//! - `sleep.rs`: how idle workers sleep and how new work wakes one;
//! - `park.rs`: how a fiber blocks without racing its waker;
//! - `packet.rs`: the join latch between a fiber and its `JoinHandle`;
//! - `worker.rs`: the loop that ties them together.

pub(crate) mod packet;
pub(crate) mod parker;
pub(crate) mod run_queue;
pub(crate) mod sleep;

#[cfg(not(loom))]
pub(crate) mod park;
#[cfg(not(loom))]
pub(crate) mod task;
#[cfg(not(loom))]
pub(crate) mod worker;

#[cfg(not(loom))]
pub(crate) use self::shared::{Shared, StatsCell};

#[cfg(not(loom))]
mod shared {
    use std::io;

    use super::run_queue::{Injector, Stealer};
    use super::sleep::Sleep;
    use super::task::{Entry, Task, TaskRef};
    use super::worker;
    use crate::arch::Context;
    use crate::loom::{Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering};
    use crate::stack::{POOL_MAX, POOL_REFILL, Stack, StackAllocator};

    /// State shared by a runtime's workers and handles.
    ///
    /// | field        | written by                     | read by              |
    /// |--------------|--------------------------------|----------------------|
    /// | `injector`   | spawns/wakes from outside      | idle workers         |
    /// | `stealers`   | (fixed at start)               | idle workers         |
    /// | `sleep`      | see sleep.rs                   | see sleep.rs         |
    /// | `stacks`     | workers (slab refills)         | workers, spawners    |
    /// | `live`       | spawn (+1), retire (-1)        | spawn, runtime drop  |
    /// | `shutdown`   | runtime drop                   | workers              |
    /// | `stats[i]`   | worker i only                  | anyone (Relaxed)     |
    #[derive(Debug)]
    pub(crate) struct Shared {
        pub(crate) injector: Injector<TaskRef>,
        pub(crate) stealers: Box<[Stealer<TaskRef>]>,
        pub(crate) sleep: Sleep,
        pub(crate) stacks: StackAllocator,
        /// Fibers spawned and not yet retired.
        live: AtomicUsize,
        /// Stack slots that worker pools may hold beyond live fibers.
        stack_slack: usize,
        pub(crate) shutdown: AtomicBool,
        /// Signalled when `live` drops to zero.
        quiet: Mutex<()>,
        quiet_cv: Condvar,
        pub(crate) stats: Box<[StatsCell]>,
    }

    impl Shared {
        pub(crate) fn new(
            injector: Injector<TaskRef>,
            stealers: Box<[Stealer<TaskRef>]>,
            stack_size: usize,
        ) -> Self {
            let workers = stealers.len();
            Shared {
                injector,
                sleep: Sleep::new(workers),
                stacks: StackAllocator::new(stack_size),
                live: AtomicUsize::new(0),
                stack_slack: workers * (POOL_MAX + POOL_REFILL),
                shutdown: AtomicBool::new(false),
                quiet: Mutex::new(()),
                quiet_cv: Condvar::new(),
                stats: (0..workers).map(|_| StatsCell::default()).collect(),
                stealers,
            }
        }

        /// Number of workers.
        pub(crate) fn workers(&self) -> usize {
            self.stealers.len()
        }

        /// Queue a new fiber. `stack` is given for a custom-size stack mapped
        /// by the caller; default-size fibers get theirs at first run, and
        /// here we only make sure enough slots are mapped.
        pub(crate) fn spawn(
            &self,
            id: u64,
            name: Option<Arc<str>>,
            stack: Option<Stack>,
            entry: Box<dyn Entry>,
        ) -> io::Result<()> {
            let live = self.live.fetch_add(1, Ordering::Relaxed) + 1;
            if stack.is_none()
                && let Err(e) = self.stacks.ensure_capacity(live + self.stack_slack)
            {
                self.fiber_finished();
                return Err(e);
            }
            let task = TaskRef::new(Task {
                ctx: Context::empty(),
                stack,
                entry: Some(entry),
                id,
                name,
                shared: self,
            });
            worker::push_new(self, task);
            Ok(())
        }

        /// A fiber was retired (or a spawn failed after counting it).
        pub(crate) fn fiber_finished(&self) {
            if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _quiet = self.quiet.lock();
                self.quiet_cv.notify_all();
            }
        }

        /// Block the calling thread until no fiber is live.
        pub(crate) fn wait_quiet(&self) {
            let mut quiet = self.quiet.lock();
            while self.live.load(Ordering::Acquire) != 0 {
                self.quiet_cv.wait(&mut quiet);
            }
        }
    }

    /// Per-worker counters. Each is written only by its worker (a Relaxed
    /// load and store, no read-modify-write) and read by anyone.
    #[derive(Debug, Default)]
    pub(crate) struct StatsCell {
        pub(crate) fibers_run: AtomicU64,
        pub(crate) switches: AtomicU64,
        pub(crate) steals_tried: AtomicU64,
        pub(crate) steals: AtomicU64,
        pub(crate) parks: AtomicU64,
    }

    fn bump(c: &AtomicU64) {
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    impl StatsCell {
        pub(crate) fn bump_fibers_run(&self) {
            bump(&self.fibers_run);
        }
        pub(crate) fn bump_switches(&self) {
            bump(&self.switches);
        }
        pub(crate) fn bump_steals_tried(&self) {
            bump(&self.steals_tried);
        }
        pub(crate) fn bump_steals(&self) {
            bump(&self.steals);
        }
        pub(crate) fn bump_parks(&self) {
            bump(&self.parks);
        }
    }
}
