//! A worker: the scheduling loop one OS thread runs at a time.
//!
//! This file is the loop and what it does with a fiber; where it finds
//! one is `find.rs`, how a fiber switches back to it is `suspend.rs`, and
//! how code finds its worker is `current.rs`.
//!
//! ```text
//!  loop {
//!      fire due timers (this worker's shard, timers.rs)
//!      fiber = own queue (run_queue.rs) | injector | steal half from a random worker
//!            | search (spin) | sleep until woken (sleep.rs; the keeper fires timers)
//!      switch(worker ctx -> fiber ctx)         fiber runs until it switches back
//!      -- back on the worker's own stack; the fiber's context is saved --
//!      match transition {
//!          Yield         => push to own yielded queue: only now may others steal it
//!          Block(r)      => r(Waker::Fiber(f)) register it where it waits (park.rs)
//!          BlockUntil(r) => r(Waker::Once(o)), and a timer for o (timers.rs): first to claim o wakes f
//!          Finished      => stack back to the pool, drop the task
//!      }
//!  }
//! ```
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

use super::current;
use super::handoff;
use super::live::Credit;
use super::park::{OnceWaker, Waker};
use super::run_queue::RunQueue;
use super::suspend::{Transition, task_main};
use super::task::{Task, TaskRef, UNPINNED};
use super::{Shared, StatsCell};
use crate::arch::{self, Context};
use crate::loom::{Arc, Ordering};
use crate::overflow::{self, AltStack, RunningFiber};
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
    // Not Send + Sync: the Arc is shared by a worker's successive drivers,
    // one at a time (see the type's docs), never used from two at once.
    #[allow(clippy::arc_with_non_send_sync)]
    pub(crate) fn new(worker: Worker) -> WorkerRef {
        WorkerRef(Arc::new(worker))
    }
}

/// Drive `worker` on this thread until shutdown or a hand-off (spare.rs's
/// `driver_main` calls this).
pub(crate) fn drive(worker: WorkerRef) -> Exit {
    let guard = AbortOnUnwind("a heddle worker's scheduling loop panicked");
    let w = &*worker.0;
    current::enter_worker(w);
    let _alt = AltStack::ensure();
    let exit = w.run_loop();
    if exit == Exit::Shutdown {
        w.stacks.borrow_mut().drain_into(&w.shared.stacks);
    }
    current::leave_worker();
    core::mem::forget(guard);
    exit
}

/// Retire a fiber on a thread that drives no worker (handoff.rs): its
/// stack goes to the runtime's shared list, its count to the total.
pub(crate) fn retire_detached(shared: &Shared, task: TaskRef) {
    // SAFETY: the fiber finished and switched away for the last time.
    let mut task = unsafe { task.into_box() };
    if let Some(stack) = task.stack.take() {
        shared.stacks.take_back(stack);
    }
    drop(task);
    shared.live.retire_outside();
}

/// See the module docs.
pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) queue: RunQueue<TaskRef>,
    /// This worker's share of the live-fiber count (live.rs).
    pub(crate) credit: Credit,
    /// The worker loop's saved context while a fiber runs.
    pub(super) ctx: UnsafeCell<Context>,
    /// The fiber running now, if any.
    pub(super) current: Cell<Option<ptr::NonNull<Task>>>,
    pub(super) transition: Cell<Transition>,
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
    pub(crate) fn new(index: usize, shared: Arc<Shared>, queue: RunQueue<TaskRef>) -> Self {
        Worker {
            index,
            shared,
            queue,
            credit: Credit::default(),
            ctx: UnsafeCell::new(Context::empty()),
            current: Cell::new(None),
            transition: Cell::new(Transition::None),
            stacks: RefCell::new(StackPool::default()),
            tasks: RefCell::new(Vec::new()),
            ids: Cell::new((0, 0)),
            pinned_live: Cell::new(0),
            tick: Cell::new(0),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ),
        }
    }

    pub(super) fn stats(&self) -> &StatsCell {
        &self.shared.stats[self.index]
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

    /// The scheduling loop. Returns at shutdown, once no work is left, or
    /// when this thread has handed the worker to another (handoff.rs).
    fn run_loop(&self) -> Exit {
        let sleep = &self.shared.sleep;
        let mut searching = false;
        loop {
            self.fire_timers();
            // Only searchers (at most half the workers, sleep.rs) look at
            // the other workers' queues; the rest check the injector and
            // go to sleep. Otherwise N idle workers would each scan N
            // queues, and starting or waking many workers costs N * N.
            let task = self
                .next_task()
                .or_else(|| self.steal_from_injector())
                .or_else(|| {
                    searching = searching || sleep.start_searching();
                    if searching {
                        self.spin_for_work()
                    } else {
                        None
                    }
                });
            if let Some(task) = task {
                sleep.found_work(&mut searching);
                if !self.run_task(task) {
                    return Exit::HandedOff;
                }
                continue;
            }
            // Out of work: give back our live-count credit first, so that a
            // runtime waiting for quiet sees zero (live.rs).
            self.shared.live.flush(&self.credit);
            self.stats().bump_parks();
            let shutdown = || self.shared.shutdown.load(Ordering::SeqCst);
            if !sleep.idle(self.index, &mut searching, || self.has_work(), shutdown) {
                return Exit::Shutdown;
            }
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
        if unsafe { (*task.as_ptr()).pinned } == UNPINNED {
            self.queue.push_woken(task);
        } else {
            self.shared.pinned[self.index].push(task);
        }
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

    /// Switch into `task` and deal with whatever it asks for when it comes
    /// back. Returns false if this thread no longer drives the worker (the
    /// fiber handed it off and has now come home, see handoff.rs).
    fn run_task(&self, task: TaskRef) -> bool {
        // SAFETY: we own `task` (it came off a queue), so nobody else touches
        // the Task; the fiber is not running, so its fields are ours to use.
        let fresh = unsafe { (*task.as_ptr()).ctx.rsp().is_null() };
        let task = if fresh {
            match self.start(task) {
                Some(task) => task,
                None => return true,
            }
        } else {
            task
        };
        let t = task.as_ptr();
        // SAFETY: as above; the stack is set once the task has started.
        let (guard, size, id, name) = unsafe {
            let stack = (*t).stack.as_ref().expect("a started fiber has a stack");
            let (ptr, len) = match &(*t).name {
                Some(n) => (n.as_ptr(), n.len()),
                None => (ptr::null(), 0),
            };
            (stack.guard(), stack.size(), (*t).id, (ptr, len))
        };
        overflow::set_running(RunningFiber {
            guard,
            size,
            id,
            name: name.0,
            name_len: name.1,
        });
        self.current.set(ptr::NonNull::new(t));
        self.stats().bump_switches();
        // SAFETY: the task's context was saved by its last switch away (or
        // made by `init_stack` in `start`) and has not been resumed since: we
        // own the TaskRef. Our own ctx slot is valid for the write and stays
        // so while the fiber runs (the Worker outlives every switch). The
        // fiber's entry catches all panics, so nothing unwinds back here.
        unsafe { arch::switch((*self.ctx.get()).slot(), (*t).ctx.rsp()) };
        // Back on the worker's stack: the fiber's context is fully saved.
        // If the fiber detached meanwhile, another thread owns `self` now:
        // check before touching any of its fields.
        let task = match handoff::came_home(task) {
            Ok(()) => return false,
            Err(task) => task,
        };
        overflow::clear_running();
        self.current.set(None);
        match self.transition.replace(Transition::None) {
            Transition::Yield => {
                // SAFETY: the fiber is suspended and we own its TaskRef.
                if unsafe { (*t).pinned } != UNPINNED {
                    self.shared.pinned[self.index].push(task);
                } else if self.queue.push_yielded(task) {
                    self.shared.sleep.hint_surplus();
                }
            }
            Transition::Block(register) => {
                // SAFETY: the closure lives on the blocked fiber's stack,
                // which stays put until the fiber is resumed, and only we can
                // resume it until the closure publishes the waker. After the
                // call we never touch the closure again (park.rs).
                let outcome = unsafe { (*register)(Waker::Fiber(task)) };
                if let Err(waker) = outcome {
                    match waker {
                        Waker::Fiber(task) => self.push_ready(task),
                        other => panic!("block handed back {other:?} for a fiber"),
                    }
                }
            }
            Transition::BlockUntil(register, deadline) => {
                let once = OnceWaker::new(Waker::Fiber(task));
                // SAFETY: as for Block.
                let outcome = unsafe { (*register)(Waker::Once(once.clone())) };
                match outcome {
                    // Ready already: nobody else saw the waker; run it again.
                    Err(_) => match once.claim() {
                        Some(Waker::Fiber(task)) => self.push_ready(task),
                        other => panic!("timed block handed back {other:?}"),
                    },
                    Ok(()) => self.shared.timers.insert(self.index, deadline, once),
                }
            }
            Transition::Finished => self.retire(task),
            Transition::None => panic!("a fiber switched back to its worker without a transition"),
        }
        true
    }

    /// First run: give the task a stack and an initial frame. Returns the
    /// task to run, or `None` if no stack could be had (the task was then
    /// failed to its joiner and retired).
    fn start(&self, task: TaskRef) -> Option<TaskRef> {
        let t = task.as_ptr();
        // SAFETY: we own the task and it has never run, so its fields are
        // ours; the stack top is 16-byte aligned and stays mapped while the
        // task holds the stack.
        unsafe {
            if (*t).entry.as_ref().is_some_and(|e| e.is_void()) {
                drop((*t).entry.take());
                self.retire(task);
                return None;
            }
            if (*t).stack.is_none() {
                match self.stacks.borrow_mut().take(&self.shared.stacks) {
                    Ok(s) => (*t).stack = Some(s),
                    Err(e) => {
                        let entry = (*t).entry.take().expect("unstarted fiber has its closure");
                        entry.abandon(e);
                        self.retire(task);
                        return None;
                    }
                }
            }
            let top = (*t).stack.as_ref().expect("just set").top();
            (*t).ctx = arch::init_stack(top, task_main, t.cast());
        }
        self.stats().bump_fibers_run();
        Some(task)
    }

    /// A fiber finished: return its stack and free it.
    fn retire(&self, task: TaskRef) {
        // SAFETY: the fiber switched back with Finished (or never started),
        // so nothing will resume it and we hold the only pointer.
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
            tasks.push(task);
        }
        self.shared.live.retire(&self.credit);
    }
}
