//! State shared by one runtime's workers and handles.

use super::current;
use super::suspend;
use std::io;

use crossbeam_utils::CachePadded;

use super::live::Live;
use super::run_queue::{Injector, RunQueueStealer};
use super::sleep::Sleep;
use super::spare::Spares;
use super::task::{Entry, Task, TaskRef, UNPINNED};
use super::timers::Timers;
use super::worker;
use crate::arch::Context;
use crate::loom::{Arc, AtomicBool, AtomicU64, Mutex, Ordering};
use crate::stack::{POOL_MAX, POOL_REFILL, Stack, StackAllocator};

/// State shared by a runtime's workers and handles.
///
/// | field        | written by                     | read by              |
/// |--------------|--------------------------------|----------------------|
/// | `injector`   | spawns/wakes from outside      | idle workers         |
/// | `stealers`   | (fixed at start)               | idle workers         |
/// | `pinned[i]`  | anyone waking a fiber pinned to i | worker i only     |
/// | `sleep`      | see sleep.rs                   | see sleep.rs         |
/// | `timers`     | see timers.rs                  | see timers.rs        |
/// | `spares`     | see spare.rs                   | see spare.rs         |
/// | `stacks`     | workers (slab refills)         | workers, spawners    |
/// | `live`       | see live.rs                    | spawn, runtime drop  |
/// | `shutdown`   | runtime drop                   | workers              |
/// | `drivers`    | a thread handing its worker off | runtime drop        |
/// | `stats[i]`   | worker i only                  | anyone (Relaxed)     |
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) injector: Injector<TaskRef>,
    pub(crate) stealers: Box<[RunQueueStealer<TaskRef>]>,
    /// Ready fibers pinned to worker i, in the order they became ready.
    /// Only worker i takes from its inbox; no thief looks at it.
    pub(crate) pinned: Box<[Injector<TaskRef>]>,
    pub(crate) sleep: Sleep,
    /// Timed waits, a shard per worker (timers.rs).
    pub(crate) timers: Timers,
    /// Spare threads for hand-offs (spare.rs).
    pub(crate) spares: Spares,
    pub(crate) stacks: StackAllocator,
    /// Fibers spawned and not yet retired (plus worker credit).
    pub(crate) live: Live,
    /// Stack slots that worker pools may hold beyond live fibers.
    stack_slack: usize,
    pub(crate) shutdown: AtomicBool,
    /// Threads that took a worker over from another (handoff.rs), joined
    /// at shutdown after the first worker threads.
    drivers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    pub(crate) stats: Box<[CachePadded<StatsCell>]>,
}

impl Shared {
    pub(crate) fn new(
        injector: Injector<TaskRef>,
        stealers: Box<[RunQueueStealer<TaskRef>]>,
        stack_size: usize,
        max_blocking_threads: usize,
    ) -> Self {
        let workers = stealers.len();
        Shared {
            injector,
            pinned: (0..workers).map(|_| Injector::new()).collect(),
            sleep: Sleep::new(workers),
            timers: Timers::new(workers),
            spares: Spares::new(max_blocking_threads),
            stacks: StackAllocator::new(stack_size),
            live: Live::new(),
            stack_slack: workers * (POOL_MAX + POOL_REFILL) + Live::slack(workers),
            shutdown: AtomicBool::new(false),
            drivers: Mutex::new(Vec::new()),
            stats: (0..workers).map(|_| CachePadded::default()).collect(),
            stealers,
        }
    }

    /// Keep the handle of a thread that took a worker over.
    pub(crate) fn register_driver(&self, handle: std::thread::JoinHandle<()>) {
        self.drivers.lock().push(handle);
    }

    /// Join every thread that took a worker over (shutdown, after the
    /// workers were told to stop).
    pub(crate) fn join_drivers(&self) {
        loop {
            let handles = core::mem::take(&mut *self.drivers.lock());
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }

    /// Number of workers.
    pub(crate) fn workers(&self) -> usize {
        self.stealers.len()
    }

    /// Queue a new fiber and return its id. `stack` is given for a
    /// custom-size stack mapped by the caller; default-size fibers get
    /// theirs at first run, and here we only make sure enough slots are
    /// mapped. With `pin`, the fiber and its caller are pinned to the
    /// caller's worker (`spawn_local`).
    pub(crate) fn spawn(
        &self,
        name: Option<Arc<str>>,
        stack: Option<Stack>,
        entry: Arc<dyn Entry>,
        pin: bool,
    ) -> io::Result<u64> {
        // One lookup of this thread's worker serves the id, the live
        // count, the task box and the queue.
        let worker = current::local_worker(self);
        let pinned = match (pin, worker) {
            (false, _) => UNPINNED,
            (true, Some(w)) => w.pin_current(),
            (true, None) => {
                return Err(io::Error::other(
                    "heddle: spawn_local called outside a fiber of this runtime's workers; \
                     a pinned fiber is spawned from a fiber, onto that fiber's worker",
                ));
            }
        };
        let credit = worker.map(|w| &w.credit);
        let live = self.live.spawn(credit);
        if stack.is_none()
            && let Err(e) = self.stacks.ensure_capacity(live + self.stack_slack)
        {
            self.live.unspawn(credit);
            return Err(e);
        }
        let id = worker.map_or_else(worker::global_id, |w| w.next_id());
        let task = Task {
            ctx: Context::empty(),
            stack,
            entry: Some(entry),
            id,
            pinned,
            name,
            shared: self,
        };
        let task = match worker.and_then(|w| w.recycled_task()) {
            Some(mut boxed) => {
                *boxed = task;
                TaskRef::from_box(boxed)
            }
            None => TaskRef::new(task),
        };
        suspend::push_new(self, worker, task);
        Ok(id)
    }
}

/// Per-worker counters, each set on its own cache line (they change on
/// every switch). Each is written only by its worker (a Relaxed
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
