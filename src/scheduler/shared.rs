//! State shared by one runtime's workers and handles.

use crossbeam_utils::CachePadded;

use super::job::JobRef;
use super::live::Live;
use super::registry::Registry;
use super::run_next::RunNext;
use super::run_queue::{Injector, RunQueueStealer};
use super::sleep::Sleep;
use super::spare::Drivers;
use super::task::TaskRef;
use super::timers::Timers;
use crate::loom::{AtomicBool, AtomicU64, Ordering};
use crate::stack::{POOL_MAX, POOL_REFILL, StackAllocator};

/// State shared by a runtime's workers and handles.
///
/// | field        | written by                     | read by              |
/// |--------------|--------------------------------|----------------------|
/// | `injector`   | spawns/wakes from outside      | idle workers         |
/// | `stealers`   | (fixed at start)               | idle workers         |
/// | `job_stealers` | (fixed at start)             | idle workers         |
/// | `pinned[i]`  | anyone waking a fiber pinned to i | worker i only     |
/// | `run_next[i]` | worker i's fibers (put), worker i (take), thieves (steal): run_next.rs | the same |
/// | `sleep`      | see sleep.rs                   | see sleep.rs         |
/// | `timers`     | see timers.rs                  | see timers.rs        |
/// | `drivers`    | see spare.rs                   | see spare.rs         |
/// | `stacks`     | workers (slab refills)         | workers, spawners    |
/// | `live`       | see live.rs                    | spawn, runtime drop  |
/// | `registry`   | spawn, retire (registry.rs)    | dumps                |
/// | `shutdown`   | runtime drop                   | workers              |
/// | `stats[i]`   | worker i only                  | anyone (Relaxed)     |
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) injector: Injector<TaskRef>,
    pub(crate) stealers: Box<[RunQueueStealer<TaskRef>]>,
    /// Thieves' ends of the workers' fork-join job deques (job.rs).
    pub(crate) job_stealers: Box<[crossbeam_deque::Stealer<JobRef>]>,
    /// Ready fibers pinned to worker i, in the order they became ready.
    /// Only worker i takes from its inbox; no thief looks at it.
    pub(crate) pinned: Box<[Injector<TaskRef>]>,
    /// Worker i's run-next slot (run_next.rs).
    pub(crate) run_next: Box<[CachePadded<RunNext>]>,
    pub(crate) sleep: Sleep,
    /// Timed waits, a shard per worker (timers.rs).
    pub(crate) timers: Timers,
    /// The threads that drive workers, and spares for hand-offs (spare.rs).
    pub(crate) drivers: std::sync::Arc<Drivers>,
    pub(crate) stacks: StackAllocator,
    /// Fibers spawned and not yet retired (plus worker credit).
    pub(crate) live: Live,
    /// Every live fiber, for dumps (registry.rs).
    pub(crate) registry: Registry,
    /// Stack slots that worker pools may hold beyond live fibers.
    pub(super) stack_slack: usize,
    pub(crate) shutdown: AtomicBool,
    pub(crate) stats: Box<[CachePadded<StatsCell>]>,
}

impl Shared {
    pub(crate) fn new(
        injector: Injector<TaskRef>,
        stealers: Box<[RunQueueStealer<TaskRef>]>,
        job_stealers: Box<[crossbeam_deque::Stealer<JobRef>]>,
        stack_size: usize,
        max_blocking_threads: usize,
    ) -> Self {
        let workers = stealers.len();
        Shared {
            injector,
            pinned: (0..workers).map(|_| Injector::new()).collect(),
            run_next: (0..workers)
                .map(|_| CachePadded::new(RunNext::new(workers)))
                .collect(),
            sleep: Sleep::new(workers),
            timers: Timers::new(workers),
            drivers: Drivers::new(max_blocking_threads),
            stacks: StackAllocator::new(stack_size),
            live: Live::new(),
            registry: Registry::new(workers),
            stack_slack: workers * (POOL_MAX + POOL_REFILL) + Live::slack(workers),
            shutdown: AtomicBool::new(false),
            stats: (0..workers).map(|_| CachePadded::default()).collect(),
            stealers,
            job_stealers,
        }
    }

    /// Number of workers.
    pub(crate) fn workers(&self) -> usize {
        self.stealers.len()
    }
}

/// Per-worker counters, each set on its own cache line (they change on
/// every switch). Each counter has one writer, its worker or (where
/// noted) the monitor: a Relaxed load and store, no read-modify-write;
/// anyone reads them. `preempt` is the exception: the monitor sets it and
/// the worker clears it, and a set lost to a clear only delays a yield by
/// one monitor tick.
#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    /// The id of the fiber running on this worker now, or 0: written at
    /// each switch in and out, read by the monitor and dumps.
    pub(crate) running: AtomicU64,
    /// Set by the monitor when the running fiber has used up its time
    /// slice; read by `checkpoint`, cleared by it and at each switch.
    pub(crate) preempt: AtomicBool,
    /// `checkpoint`s that found `preempt` set: progress the monitor sees.
    pub(crate) checkpoints: AtomicU64,
    /// Stalls the monitor reported (written by the monitor only).
    pub(crate) stalls: AtomicU64,
    /// The fiber the monitor last saw start running here, and since when
    /// (microseconds since task.rs's `epoch`): dumps' "for X ms". Written
    /// by the monitor only.
    pub(crate) seen_running: AtomicU64,
    pub(crate) seen_since: AtomicU64,
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
    pub(crate) fn bump_checkpoints(&self) {
        bump(&self.checkpoints);
    }
    pub(crate) fn bump_stalls(&self) {
        bump(&self.stalls);
    }
}
