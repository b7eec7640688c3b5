//! A worker's state: its queues, its saved loop context, the fiber it
//! runs, its caches. The loop that drives it is `worker_loop.rs`.
//!
//! # Who owns what
//!
//! A `Worker` is held by the thread that drives it (a [`WorkerRef`]; one
//! at a time, invariant 6 of `README.md`); `CURRENT` (current.rs) points
//! at it. Fiber code reaches its worker only through `current::current`,
//! which is `#[inline(never)]` and called afresh after every switch: a
//! fiber may resume on another thread (invariant 4), so an address of a
//! thread-local computed before a switch must never be used after it.
//! Worker fields are `Cell`s: the loop and the fiber it runs take turns on
//! one thread, never at once.

use core::cell::{Cell, RefCell, UnsafeCell};
use core::ptr;
use std::time::Instant;

use super::job::JobRef;
use super::live::Credit;
use super::outgoing::Outgoing;
use super::run_next::RunNext;
use super::run_queue::RunQueue;
use super::task::{Status, Task, TaskRef, UNPINNED, Wait};
use super::waker::Register;
use super::{Shared, StatsCell};
use crate::arch::Context;
use crate::loom::{Arc, Ordering};
use crate::stack::StackPool;

/// Fiber ids are taken from a global counter in blocks, so the spawn path
/// does not contend on it.
const ID_BLOCK: u64 = 1024;
static NEXT_ID: crate::loom::AtomicU64 = crate::loom::AtomicU64::new(1);

/// A fresh fiber id from the global counter (for spawns outside a worker).
pub(crate) fn global_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Retired task boxes a worker keeps for reuse.
const TASK_CACHE: usize = 64;

/// How a thread's run of a worker's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The runtime shut down: this thread was the worker's last driver.
    Shutdown,
    /// This thread gave the worker to another (handoff.rs).
    HandedOff,
}

/// A counted reference to a worker, for the thread that drives it.
///
/// One thread at a time drives a worker and touches its cells: the thread
/// started for it, until it hands the worker off, then the thread it
/// handed it to (handoff.rs). The hand-off goes through a spare's job lock
/// or a thread spawn (spare.rs), either of which orders the old driver's
/// last use before the new one's first.
pub(crate) struct WorkerRef(Arc<Worker>);

// SAFETY: see the type's docs: a WorkerRef moves to a new driver thread
// only at a hand-off, after which the old driver never touches the worker.
unsafe impl Send for WorkerRef {}

impl std::fmt::Debug for WorkerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl WorkerRef {
    /// The worker, for its driver thread.
    pub(crate) fn get(&self) -> &Worker {
        &self.0
    }

    // Not Send + Sync: the Arc is shared by a worker's successive drivers,
    // one at a time (see the type's docs), never used from two at once.
    #[allow(clippy::arc_with_non_send_sync)]
    pub(crate) fn new(worker: Worker) -> WorkerRef {
        WorkerRef(Arc::new(worker))
    }
}

/// Retire a fiber on a thread that drives no worker (handoff.rs): its
/// stack goes to the runtime's shared list, its count to the total.
pub(crate) fn retire_detached(shared: &Shared, task: TaskRef) {
    // SAFETY: the fiber finished and switched away for the last time; its
    // `slot` was set at spawn and is read-only since.
    let slot = unsafe { (*task.as_ptr()).slot };
    shared.registry.unlist(slot);
    shared.registry.free_slot(slot);
    // SAFETY: unlisted, so no dump reads it any more (registry.rs), and the
    // fiber will never run again.
    let mut task = unsafe { task.into_box() };
    if let Some(stack) = task.stack.take() {
        shared.stacks.take_back(stack);
    }
    drop(task);
    shared.live.retire_outside();
}

/// What a fiber asked for when it switched out (transition.rs).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Transition {
    /// Put me at the back of the run queue.
    Yield,
    /// Register me with this (see park.rs); the closure lives on my stack.
    Block(*mut Register<'static>, Wait),
    /// As `Block`, and the closure releases a spin lock I took before
    /// switching out (wait_queue.rs), so the way to it must stay short:
    /// no fresh fiber is started before it (its first touch of its stack
    /// can fault).
    BlockHeld(*mut Register<'static>, Wait),
    /// As `Block`, and also wake me at this deadline (a timer in this
    /// worker's shard, timers.rs).
    BlockUntil(*mut Register<'static>, Instant, Wait),
    /// As `BlockUntil`, holding a lock as in `BlockHeld`.
    BlockUntilHeld(*mut Register<'static>, Instant, Wait),
    /// I am done; free me.
    Finished,
}

/// Whether a blocking fiber's register closure releases a lock the fiber
/// holds across its switch (see [`Transition::BlockHeld`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    Nothing,
    Lock,
}

impl Transition {
    /// Whether the context that comes in next must settle this transition
    /// before anything slow (see [`Transition::BlockHeld`]).
    pub(super) fn holds_lock(&self) -> bool {
        matches!(
            self,
            Transition::BlockHeld(..) | Transition::BlockUntilHeld(..)
        )
    }
}

/// See the module docs.
pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    /// `&shared.stats[index]`, kept for the switch path (no reference
    /// count or bounds check there).
    stats: *const StatsCell,
    /// `&shared.run_next[index]`, likewise (a spawn and its join reach it
    /// about five times).
    run_next: *const RunNext,
    pub(crate) queue: RunQueue<TaskRef>,
    /// Fork-join jobs of the fiber running now, newest on top (job.rs);
    /// empty whenever the worker switches to a fiber.
    pub(crate) jobs: crossbeam_deque::Worker<JobRef>,
    /// This worker's share of the live-fiber count (live.rs).
    pub(crate) credit: Credit,
    /// The worker loop's saved context while a fiber runs.
    pub(super) ctx: UnsafeCell<Context>,
    /// The fiber running now, if any.
    pub(super) current: Cell<Option<ptr::NonNull<Task>>>,
    /// The fiber that switched out last and what it asked for, until the
    /// context that runs next settles it (outgoing.rs, transition.rs).
    pub(super) outgoing: Outgoing<ptr::NonNull<Task>, Transition>,
    /// A fresh fiber a blocking fiber picked but left for the loop to
    /// start, because it held a lock (transition.rs `start`). Taken
    /// by the loop's next pick, right after it settled that fiber.
    pub(super) loop_next: Cell<Option<TaskRef>>,
    pub(super) stacks: RefCell<StackPool>,
    /// Boxes of retired tasks, reused by spawns on this worker (saves a
    /// malloc and a free per fiber; at most [`TASK_CACHE`]). Boxed on
    /// purpose: a TaskRef is the box's address.
    #[allow(clippy::vec_box)]
    pub(super) tasks: RefCell<Vec<Box<Task>>>,
    ids: Cell<(u64, u64)>,
    /// Live fibers pinned to this worker (spawn_local, and their callers).
    pub(super) pinned_live: Cell<usize>,
    pub(super) tick: Cell<u32>,
    /// Picks from the run-next slot in a row (run_next.rs).
    pub(super) run_next_streak: Cell<u32>,
    /// Whether the fiber this worker last put in its run-next slot was a
    /// fresh one (spawned, not started) rather than a woken one. Read
    /// only while the slot is non-empty, when that fiber is still there.
    run_next_fresh: Cell<bool>,
    pub(super) rng: Cell<u64>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .finish()
    }
}

/// Aborts the process if dropped during unwinding: the scheduler's own code
/// must never unwind, and nothing may unwind across a switch (invariant 3
/// of `README.md`).
pub(super) struct AbortOnUnwind(pub(super) &'static str);

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        eprintln!("heddle: fatal: {}", self.0);
        std::process::abort();
    }
}

impl Worker {
    pub(crate) fn new(
        index: usize,
        shared: Arc<Shared>,
        queue: RunQueue<TaskRef>,
        jobs: crossbeam_deque::Worker<JobRef>,
    ) -> Self {
        let stats: *const StatsCell = &*shared.stats[index];
        let run_next: *const RunNext = &*shared.run_next[index];
        Worker {
            index,
            shared,
            stats,
            run_next,
            queue,
            jobs,
            credit: Credit::default(),
            ctx: UnsafeCell::new(Context::empty()),
            current: Cell::new(None),
            outgoing: Outgoing::new(),
            loop_next: Cell::new(None),
            stacks: RefCell::new(StackPool::default()),
            tasks: RefCell::new(Vec::new()),
            ids: Cell::new((0, 0)),
            pinned_live: Cell::new(0),
            tick: Cell::new(0),
            run_next_streak: Cell::new(0),
            run_next_fresh: Cell::new(false),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ),
        }
    }

    pub(super) fn stats(&self) -> &StatsCell {
        // SAFETY: `stats` points into `self.shared.stats`, a boxed slice
        // that never moves and lives as long as the `shared` we hold.
        unsafe { &*self.stats }
    }

    /// Whether fibers are pinned to this worker (handoff.rs refuses then).
    pub(crate) fn hosts_pinned(&self) -> bool {
        self.pinned_live.get() > 0
    }

    /// The running fiber's task.
    pub(crate) fn running(&self) -> Option<*mut Task> {
        self.current.get().map(|t| t.as_ptr())
    }

    pub(crate) fn set_running(&self, task: *mut Task) {
        self.current.set(ptr::NonNull::new(task));
    }

    pub(crate) fn clear_running(&self) {
        self.current.set(None);
    }

    /// The loop's saved stack pointer while a fiber runs.
    pub(crate) fn loop_rsp(&self) -> *mut u8 {
        // SAFETY: the slot is written only by the loop's own switch into a
        // fiber, which has happened (a fiber runs) and is not in progress.
        unsafe { (*self.ctx.get()).rsp() }
    }

    /// A new counted reference to this worker.
    pub(crate) fn new_ref(&self) -> WorkerRef {
        let ptr: *const Worker = self;
        // SAFETY: every Worker lives in the Arc of a WorkerRef (`drive`
        // holds one for as long as `self` is in use), so bumping its count
        // through its address is allowed.
        unsafe {
            Arc::increment_strong_count(ptr);
            WorkerRef(Arc::from_raw(ptr))
        }
    }

    /// Pin the running fiber to this worker (a caller of `spawn_local`),
    /// and return this worker's index for a `Task::pinned`.
    pub(crate) fn pin_current(&self) -> u32 {
        let task = self.current.get().expect("pin_current outside a fiber");
        // SAFETY: the running fiber's task is owned by the running fiber,
        // which is our caller; nobody else touches it while it runs.
        let t = unsafe { &mut *task.as_ptr() };
        if t.pinned == UNPINNED {
            t.pinned = self.index as u32;
            self.pinned_live.set(self.pinned_live.get() + 1);
        }
        self.index as u32
    }

    /// Queue a fiber that became ready on this worker (woken, or its wait
    /// was over before it began): pinned ones in the pinned inbox.
    pub(super) fn push_ready(&self, task: TaskRef) {
        // SAFETY: we own `task`; its `pinned` field is read-only for us.
        unsafe { (*task.as_ptr()).set_status(Status::Ready) };
        // SAFETY: as above.
        if unsafe { (*task.as_ptr()).pinned } == UNPINNED {
            self.queue.push_woken(task);
        } else {
            self.shared.pinned[self.index].push(task);
        }
    }

    /// This worker's run-next slot (run_next.rs).
    pub(crate) fn run_next(&self) -> &RunNext {
        // SAFETY: `run_next` points into `self.shared.run_next`, a boxed
        // slice that never moves and lives as long as the `shared` we hold.
        unsafe { &*self.run_next }
    }

    /// A fiber of this worker woke `task`: it runs next here. A fiber it
    /// displaces from the slot goes back to the queue it came for (woken
    /// or fresh). Returns whether one was displaced (queued work that
    /// others may take).
    pub(crate) fn put_next_woken(&self, task: TaskRef) -> bool {
        let displaced = self.run_next().put(task);
        let fresh = self.run_next_fresh.replace(false);
        match displaced {
            Some(older) if fresh => self.queue.push_fresh(older),
            Some(older) => self.queue.push_woken(older),
            None => return false,
        }
        true
    }

    /// A fiber of this worker spawned `task`. With other workers about, it
    /// goes on top of `fresh`, where they may take it at once. A runtime
    /// of one worker has nobody to share it with, and it runs next here:
    /// into the run-next slot, unless a woken fiber holds it (then on top
    /// of `fresh`); a fresh fiber it displaces goes on top of `fresh`,
    /// below it, so fresh fibers start newest first either way
    /// (run_queue.rs).
    pub(crate) fn push_spawned(&self, task: TaskRef) {
        let slot = self.run_next();
        if slot.has_thieves() || !slot.is_empty() && !self.run_next_fresh.get() {
            self.queue.push_fresh(task);
            return;
        }
        self.run_next_fresh.set(true);
        if let Some(older) = slot.put(task) {
            self.queue.push_fresh(older);
        }
    }

    /// Bytes of stack left below the caller, who must be the fiber
    /// running on this worker; `None` if it has no stack of ours.
    #[inline]
    pub(crate) fn stack_left(&self) -> Option<usize> {
        let task = self.current.get()?;
        // SAFETY: the running task is the caller's own; the worker does not
        // touch its stack field while the fiber runs.
        let low = unsafe { (*task.as_ptr()).stack.as_ref()?.guard().1 };
        let marker = 0u8;
        let here = core::hint::black_box(&marker) as *const u8 as usize;
        Some(here.saturating_sub(low))
    }

    /// A retired task's box to reuse, if this worker has one.
    pub(crate) fn recycled_task(&self) -> Option<Box<Task>> {
        self.tasks.borrow_mut().pop()
    }

    /// A fresh fiber id, from this worker's block of ids.
    pub(crate) fn next_id(&self) -> u64 {
        let (next, end) = self.ids.get();
        if next < end {
            self.ids.set((next + 1, end));
            return next;
        }
        let base = NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
        self.ids.set((base + 1, base + ID_BLOCK));
        base
    }

    /// A fiber finished: return its stack and free it.
    pub(super) fn retire(&self, task: TaskRef) {
        // SAFETY: `slot` was set at spawn and is read-only since.
        let slot = unsafe { (*task.as_ptr()).slot };
        self.shared.registry.unlist(slot);
        // SAFETY: the fiber switched back with Finished (or never started),
        // so nothing will resume it, and, unlisted, no dump reads it: we
        // hold the only pointer.
        let mut task = unsafe { task.into_box() };
        if task.pinned != UNPINNED {
            self.pinned_live.set(self.pinned_live.get() - 1);
        }
        if let Some(stack) = task.stack.take() {
            self.stacks.borrow_mut().put(stack, &self.shared.stacks);
        }
        let mut tasks = self.tasks.borrow_mut();
        if tasks.len() < TASK_CACHE {
            task.entry = None;
            task.name = None;
            tasks.push(task); // keeps its slot
        } else {
            self.shared.registry.free_slot(slot);
        }
        self.shared.live.retire(&self.credit);
    }
}
