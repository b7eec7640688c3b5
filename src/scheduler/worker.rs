//! A worker: one OS thread running the scheduling loop of DESIGN.md.
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
//! A `Worker` lives on its thread's stack for the thread's whole life;
//! `CURRENT` (a thread-local) points at it. Fiber code reaches its worker only
//! through [`current`], which is `#[inline(never)]` and called afresh after
//! every switch: a fiber may resume on another thread (DESIGN.md invariant
//! 4), so an address of a thread-local computed before a switch must never
//! be used after it. Worker fields are `Cell`s: the loop and the fiber it
//! runs take turns on one thread, never at once.

use core::cell::{Cell, RefCell, UnsafeCell};
use core::ptr;
use std::time::Instant;

use crossbeam_utils::Backoff;

use super::handoff;
use super::live::Credit;
use super::park::{OnceWaker, Register, Waker};
use super::run_queue::{RunQueue, Steal};
use super::task::{Task, TaskRef, UNPINNED};
use super::{Shared, StatsCell};
use crate::arch::{self, Context};
use crate::loom::{Arc, Ordering};
use crate::overflow::{self, AltStack, RunningFiber};
use crate::stack::StackPool;

thread_local! {
    /// The worker whose loop runs on this thread, or null.
    static CURRENT: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

/// The worker running on this thread now, or null.
///
/// Never inlined, and called again after every switch: see the module docs.
#[inline(never)]
pub(crate) fn current() -> *const Worker {
    CURRENT.with(|c| c.get())
}

/// Whether the caller is a fiber attached to a worker (of any runtime):
/// one that blocks by switching out. A detached fiber (handoff.rs) is not.
pub(crate) fn in_fiber() -> bool {
    let w = current();
    // SAFETY: a non-null CURRENT points at the live Worker on this thread.
    !w.is_null() && unsafe { (*w).current.get().is_some() }
}

/// About to block or yield: whether to do it as a fiber (switch out) or
/// as a thread (park or yield the OS thread).
///
/// - An attached fiber that is unwinding detaches first (handoff.rs), so
///   that its thread's panic count stays with it, and blocks as a thread.
/// - A detached fiber that is done unwinding goes home first and is
///   resumed by a worker, attached again, and blocks as a fiber.
// Not inlined: inlined into `yield_now`, it made a yield round trip about
// 10 ns slower on the development VM (0.23 s -> 0.33 s for 10 M yields)
// while executing fewer instructions, a code-layout effect around the
// switch.
#[inline(never)]
pub(crate) fn block_as_fiber() -> bool {
    let attached = in_fiber();
    if attached && !std::thread::panicking() {
        return true;
    }
    block_as_fiber_slow(attached)
}

#[cold]
fn block_as_fiber_slow(attached: bool) -> bool {
    if attached {
        let w = current();
        // SAFETY: in a fiber, CURRENT is this thread's live Worker.
        handoff::detach(unsafe { &*w });
        // Detached, or refused (the worker waits for this thread): either
        // way, block the thread.
        return false;
    }
    if handoff::detached().is_some() && !std::thread::panicking() {
        handoff::go_home(handoff::GoHome::Rejoin);
        return true;
    }
    false
}

/// What a fiber asked for when it switched back to its worker.
#[derive(Clone, Copy, Debug)]
enum Transition {
    /// Nothing yet (the worker resets to this after reading it).
    None,
    /// Put me at the back of the run queue.
    Yield,
    /// Register me with this (see park.rs); the closure lives on my stack.
    Block(*mut Register<'static>),
    /// As `Block`, and also wake me at `Worker::deadline` (a timer on this
    /// worker). The instant lives outside the enum to keep it two words.
    BlockUntil(*mut Register<'static>),
    /// I am done; free me.
    Finished,
}

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

/// How often (in scheduling ticks) a worker looks at the injector before its
/// own queue, so fibers woken from outside cannot starve.
const INJECTOR_EVERY: u32 = 61;

/// How a thread's run of a worker's loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// The runtime shut down: this thread was the worker's last driver.
    Shutdown,
    /// This thread gave the worker to another (handoff.rs).
    HandedOff,
}

/// A counted reference to a worker, for the thread that drives it.
///
/// One thread at a time drives a worker and touches its cells: the thread
/// started for it, until it hands the worker off, then the thread it
/// handed it to (handoff.rs). The hand-off is a thread spawn, which orders
/// the old driver's last use before the new one's first.
pub(crate) struct WorkerRef(Arc<Worker>);

// SAFETY: see the type's docs: a WorkerRef moves to a new driver thread
// only at a hand-off, after which the old driver never touches the worker.
unsafe impl Send for WorkerRef {}

impl WorkerRef {
    // Not Send + Sync: the Arc is shared by a worker's successive drivers,
    // one at a time (see the type's docs), never used from two at once.
    #[allow(clippy::arc_with_non_send_sync)]
    pub(crate) fn new(worker: Worker) -> WorkerRef {
        WorkerRef(Arc::new(worker))
    }
}

/// A worker thread's body: drive `worker` until shutdown or a hand-off.
pub(crate) fn drive(worker: WorkerRef) {
    let guard = AbortOnUnwind("a heddle worker's scheduling loop panicked");
    let w = &*worker.0;
    CURRENT.with(|c| c.set(w));
    let _alt = AltStack::ensure();
    if w.run_loop() == Exit::Shutdown {
        w.stacks.borrow_mut().drain_into(&w.shared.stacks);
    }
    CURRENT.with(|c| c.set(ptr::null()));
    core::mem::forget(guard);
}

/// This thread stops being a worker (it handed its worker off while its
/// fiber keeps running here; handoff.rs).
pub(crate) fn leave_worker() {
    CURRENT.with(|c| c.set(ptr::null()));
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

/// Full scans of the other workers' queues a searching worker makes before
/// it goes to sleep (where it checks them all once more, see sleep.rs).
const SEARCH_ROUNDS: u32 = 2;

/// See the module docs.
pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) queue: RunQueue<TaskRef>,
    /// This worker's share of the live-fiber count (live.rs).
    pub(crate) credit: Credit,
    /// The worker loop's saved context while a fiber runs.
    ctx: UnsafeCell<Context>,
    /// The fiber running now, if any.
    current: Cell<Option<ptr::NonNull<Task>>>,
    transition: Cell<Transition>,
    stacks: RefCell<StackPool>,
    /// Boxes of retired tasks, reused by spawns on this worker (saves a
    /// malloc and a free per fiber; at most [`TASK_CACHE`]). Boxed on
    /// purpose: a TaskRef is the box's address.
    #[allow(clippy::vec_box)]
    tasks: RefCell<Vec<Box<Task>>>,
    /// The deadline of a `BlockUntil` transition.
    deadline: Cell<Option<Instant>>,
    ids: Cell<(u64, u64)>,
    /// Live fibers pinned to this worker (spawn_local, and their callers).
    pinned_live: Cell<usize>,
    tick: Cell<u32>,
    rng: Cell<u64>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .finish()
    }
}

/// Aborts the process if dropped during unwinding: the scheduler's own code
/// must never unwind (style rule 6), and nothing may unwind across a switch.
struct AbortOnUnwind(&'static str);

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
            deadline: Cell::new(None),
            ids: Cell::new((0, 0)),
            pinned_live: Cell::new(0),
            tick: Cell::new(0),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
            ),
        }
    }

    fn stats(&self) -> &StatsCell {
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
                if searching {
                    searching = false;
                    if sleep.stop_searching() {
                        sleep.notify_work();
                    }
                }
                if !self.run_task(task) {
                    return Exit::HandedOff;
                }
                continue;
            }
            // Out of work: give back our live-count credit first, so that a
            // runtime waiting for quiet sees zero (live.rs).
            self.shared.live.flush(&self.credit);
            if self.shared.shutdown.load(Ordering::SeqCst) {
                if searching {
                    sleep.stop_searching();
                }
                return Exit::Shutdown;
            }
            self.stats().bump_parks();
            // No deadline: the keeper thread fires timers while we sleep
            // (timers.rs).
            searching = sleep.sleep(self.index, searching, || self.has_work(), None);
            // Woken for shutdown: no fiber is left anywhere (the runtime
            // waited for quiet first), so leave without searching. With N
            // workers woken at once, a search each would cost N * N looks.
            if self.shared.shutdown.load(Ordering::SeqCst) {
                if searching {
                    sleep.stop_searching();
                }
                return Exit::Shutdown;
            }
        }
    }

    /// Fire the timers of this worker's shard that are due (timers.rs).
    fn fire_timers(&self) {
        let timers = &self.shared.timers;
        let mut now = 0;
        if timers.has_due(self.index, || {
            now = timers.now();
            now
        }) {
            timers.fire_due(self.index, now);
        }
    }

    /// Own queue, with a look at the injector every [`INJECTOR_EVERY`]
    /// ticks. While fibers are pinned here, the pinned inbox comes first
    /// on every other tick: a pinned fiber at the head of the inbox waits
    /// at most two picks, whatever the run queue holds.
    fn next_task(&self) -> Option<TaskRef> {
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
    fn push_ready(&self, task: TaskRef) {
        // SAFETY: we own `task`; its `pinned` field is read-only for us.
        if unsafe { (*task.as_ptr()).pinned } == UNPINNED {
            self.queue.push_woken(task);
        } else {
            self.shared.pinned[self.index].push(task);
        }
    }

    fn steal_from_injector(&self) -> Option<TaskRef> {
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
            for k in 0..n {
                let victim = (start + k) % n;
                if victim == self.index {
                    continue;
                }
                self.stats().bump_steals_tried();
                match stealers[victim].steal_into(&self.queue) {
                    Steal::Success(t) => {
                        self.stats().bump_steals();
                        return Some(t);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Spin a little (crossbeam's Backoff) looking for work before sleeping:
    /// our own queue at every step, every other queue [`SEARCH_ROUNDS`]
    /// times in all, so a search costs O(workers) however long it spins.
    fn spin_for_work(&self) -> Option<TaskRef> {
        let backoff = Backoff::new();
        let mut rounds = 0;
        loop {
            if let Some(t) = self.queue.pop().or_else(|| self.pop_pinned()) {
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

    /// Whether any queue holds a fiber, or the runtime shuts down.
    fn has_work(&self) -> bool {
        !self.queue.is_empty()
            || !self.shared.pinned[self.index].is_empty()
            || !self.shared.injector.is_empty()
            || self.shared.stealers.iter().any(|s| !s.is_empty())
            || self.shared.shutdown.load(Ordering::SeqCst)
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
            Transition::BlockUntil(register) => {
                let deadline = self.deadline.take().expect("BlockUntil sets a deadline");
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

/// The entry function of every fiber (see `arch::init_stack`).
///
/// # Safety
///
/// `arg` is the fiber's `*mut Task`, passed by `Worker::start`.
unsafe extern "sysv64" fn task_main(arg: *mut u8) -> ! {
    let task = arg.cast::<Task>();
    // SAFETY: the worker that started us owns the task and is suspended in
    // `switch` until we switch back, so the entry is ours to take.
    let entry = unsafe { (*task).entry.take() }.expect("fiber started without a closure");
    let guard = AbortOnUnwind("a panic escaped a fiber's entry");
    entry.run(); // catches the closure's panics itself
    core::mem::forget(guard);
    if handoff::detached().is_some() {
        handoff::go_home(handoff::GoHome::Finished);
    } else {
        suspend(Transition::Finished);
    }
    // A finished fiber is never resumed.
    std::process::abort();
}

/// In a fiber: switch back to the worker with `transition`. Returns when the
/// fiber is resumed, possibly on another worker's thread.
fn suspend(transition: Transition) {
    let w = current();
    assert!(!w.is_null(), "heddle: suspend called outside a fiber");
    // SAFETY: `w` is the live Worker of this thread (CURRENT is set for its
    // whole loop). Everything read through it is read before the switch.
    unsafe {
        let w = &*w;
        let task = w
            .current
            .get()
            .expect("heddle: suspend called outside a fiber");
        w.transition.set(transition);
        let worker_rsp = (*w.ctx.get()).rsp();
        // SAFETY: the worker's context was saved by its switch into us and
        // is resumed only here; our ctx slot lives in our Task, which stays
        // alive while we are suspended.
        arch::switch((*task.as_ptr()).ctx.slot(), worker_rsp);
        // Resumed, maybe on another thread: `w` is stale from here on.
    }
}

/// In a fiber: let the worker run its other Ready fibers, then continue.
/// Returns false where the caller should yield its thread instead.
pub(crate) fn yield_now() -> bool {
    if !block_as_fiber() {
        return false;
    }
    suspend(Transition::Yield);
    true
}

/// In a fiber: block (see park.rs). Must be called inside a fiber.
pub(crate) fn suspend_blocked(register: &mut Register<'_>) {
    suspend(Transition::Block(erase(register)));
}

/// The register closure as the raw pointer a transition carries.
fn erase(register: &mut Register<'_>) -> *mut Register<'static> {
    // SAFETY: only the lifetime is erased. The worker calls the closure
    // while the blocking fiber's frame is suspended (so the borrow is live)
    // and never after the call returns.
    unsafe { core::mem::transmute::<*mut Register<'_>, *mut Register<'static>>(register) }
}

/// In a fiber: block as [`suspend_blocked`], and also be woken at
/// `deadline` by a timer on the current worker.
pub(crate) fn suspend_blocked_until(register: &mut Register<'_>, deadline: Instant) {
    let register = erase(register);
    let w = current();
    // SAFETY: inside a fiber, CURRENT is this thread's live Worker; the
    // deadline is read back by the same worker right after the switch.
    unsafe { (*w).deadline.set(Some(deadline)) };
    suspend(Transition::BlockUntil(register));
}

/// Make a woken fiber runnable: onto this worker's queue if we are one of
/// its runtime's workers, otherwise onto its runtime's injector. A pinned
/// fiber goes to its own worker's pinned inbox, and that worker is woken.
pub(crate) fn schedule(task: TaskRef) {
    // SAFETY: `shared` outlives every live fiber of its runtime (task.rs),
    // and we own the TaskRef, so its fields hold still.
    let (shared, pinned) = unsafe { (&*(*task.as_ptr()).shared, (*task.as_ptr()).pinned_to()) };
    let local = local_worker(shared);
    if let Some(home) = pinned {
        if local.is_some_and(|w| w.index == home) {
            shared.pinned[home].push(task); // we run there: we will see it
            return;
        }
        let shared = hold_runtime(shared, local);
        shared.pinned[home].push(task);
        shared.sleep.notify_worker(home);
        return;
    }
    if let Some(w) = local {
        w.queue.push_woken(task);
        w.shared.sleep.notify_work();
        return;
    }
    let shared = hold_runtime(shared, None);
    shared.injector.push(task);
    shared.sleep.notify_work();
}

/// A counted reference to `shared`, for a waker that is not one of its
/// workers: once the task is pushed, its fiber may run, finish and let the
/// runtime drop before the waker is done notifying.
fn hold_runtime(shared: &Shared, local: Option<&Worker>) -> Arc<Shared> {
    if let Some(w) = local {
        return w.shared.clone();
    }
    // SAFETY: the task is live, so its runtime's Arc<Shared> is too, and
    // bumping the count of a live Arc through its raw pointer is allowed.
    unsafe {
        let ptr: *const Shared = shared;
        Arc::increment_strong_count(ptr);
        Arc::from_raw(ptr)
    }
}

/// This thread's worker, if it is one of `shared`'s workers.
///
/// The reference must not be kept across a switch: the caller's fiber may
/// resume on another thread (see the module docs).
pub(crate) fn local_worker(shared: &Shared) -> Option<&Worker> {
    let w = current();
    // SAFETY: a non-null CURRENT is this thread's live Worker, which outlives
    // this synchronous use.
    let w = unsafe { w.as_ref()? };
    ptr::eq(Arc::as_ptr(&w.shared), shared).then_some(w)
}

/// Queue a new fiber: onto `worker`'s queue when spawned inside a worker of
/// the same runtime (`local_worker(shared)`), otherwise onto the injector.
#[inline]
pub(crate) fn push_new(shared: &Shared, worker: Option<&Worker>, task: TaskRef) {
    // SAFETY: the task was just made and is ours.
    let pinned = unsafe { (*task.as_ptr()).pinned } != UNPINNED;
    match worker {
        Some(w) if !pinned => w.queue.push_fresh(task),
        Some(w) => return push_new_pinned(w, task),
        None => shared.injector.push(task),
    }
    shared.sleep.notify_work();
}

/// A new pinned fiber: only its worker may run it, and that worker is
/// running (it is the spawner's), so nobody needs waking.
#[cold]
fn push_new_pinned(w: &Worker, task: TaskRef) {
    w.pinned_live.set(w.pinned_live.get() + 1);
    w.shared.pinned[w.index].push(task);
}

/// The task running on this thread, if inside a fiber (attached, or
/// detached: handoff.rs).
pub(crate) fn current_task() -> Option<*const Task> {
    let w = current();
    if w.is_null() {
        return handoff::detached_task().map(|t| t.cast_const());
    }
    // SAFETY: a non-null CURRENT is this thread's live Worker.
    unsafe { (*w).current.get().map(|t| t.as_ptr().cast_const()) }
}

/// Bytes of stack left below the caller in the running fiber, if in one.
pub(crate) fn stack_remaining() -> Option<usize> {
    let task = current_task()?;
    // SAFETY: the running task is ours; the worker does not touch its stack
    // field while the fiber runs.
    let low = unsafe { (*task).stack.as_ref()?.guard().1 };
    let marker = 0u8;
    let here = core::hint::black_box(&marker) as *const u8 as usize;
    Some(here.saturating_sub(low))
}

/// Call `f` with the runtime of the fiber running on this thread, if any,
/// without touching the runtime's reference count (a cache line every
/// worker shares: one clone per spawn cost a third of the 2-worker skynet).
pub(crate) fn with_current_shared<R>(f: impl FnOnce(&Shared) -> R) -> Option<R> {
    let w = current();
    // SAFETY: a non-null CURRENT is this thread's live Worker. Its `shared`
    // outlives every fiber of its runtime (the runtime's drop waits for them
    // all), and the fiber calling us is one of them and stays alive while
    // `f` runs, even if `f` switches away and resumes on another worker.
    let shared: &Shared = unsafe {
        let Some(w) = w.as_ref() else {
            return handoff::detached().map(|d| f(&d.shared));
        };
        w.current.get()?;
        &*Arc::as_ptr(&w.shared)
    };
    Some(f(shared))
}

/// The runtime of the fiber running on this thread, if any.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    let w = current();
    if w.is_null() {
        return handoff::detached().map(|d| d.shared.clone());
    }
    // SAFETY: a non-null CURRENT is this thread's live Worker.
    unsafe { (*w).current.get().map(|_| (*w).shared.clone()) }
}
