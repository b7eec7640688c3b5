//! How a fiber gives its worker back: the transitions it asks for, and how
//! a woken or new fiber is made runnable.
//!
//! A fiber never publishes itself. It records a [`Transition`] in its
//! worker and switches to the worker's loop (worker.rs), which acts on it
//! with the fiber's context saved (invariant 2 of `README.md`):
//!
//! | transition          | asked by                    | the loop then             |
//! |---------------------|-----------------------------|---------------------------|
//! | `Yield`             | `yield_now`                 | queue it behind the others |
//! | `Block(r)`          | park.rs `block`             | `r(waker)`: register it where it waits |
//! | `BlockUntil(r, d)`  | park.rs `block_until`       | as `Block`, and a timer at `d` (timers.rs) |
//! | `Finished`          | the fiber's entry, at its end | retire it                |

use std::time::Instant;

use super::Shared;
use super::current::{current, in_fiber, local_worker};
use super::handoff;
use super::park::Register;
use super::task::{Task, TaskRef, UNPINNED};
use super::worker::{AbortOnUnwind, Worker};
use crate::arch;
use crate::loom::Arc;

/// About to block or yield: whether to do it as a fiber (switch out) or
/// as a thread (park or yield the OS thread).
///
/// - An attached fiber that is unwinding detaches first (handoff.rs), so
///   that its thread's panic count stays with it, and blocks as a thread.
/// - A detached fiber that is done unwinding goes home first and is
///   resumed by a worker, attached again, and blocks as a fiber.
// Not inlined: inlined into `yield_now`, it made a yield round trip
// markedly slower while executing fewer instructions, a code-layout effect
// around the switch (figures in `BENCHMARKS.md`).
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
        handoff::detach(unsafe { &*w }, false);
        // Detached, or refused (the worker waits for this thread): either
        // way, block the thread.
        return false;
    }
    if handoff::detached().is_some_and(|d| !d.in_blocking.get()) && !std::thread::panicking() {
        handoff::go_home(handoff::GoHome::Rejoin);
        return true;
    }
    false
}

/// Run `f` with this fiber's worker handed to another thread, so that `f`
/// may block this OS thread (the public `heddle::blocking`). Outside a
/// fiber, on a worker that hosts pinned fibers, or with no thread to take
/// the worker, `f` runs in place.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    if !in_fiber() {
        return f();
    }
    let w = current();
    // SAFETY: in a fiber, CURRENT is this thread's live Worker.
    if !handoff::detach(unsafe { &*w }, true) {
        return f();
    }
    /// Ends the blocking region even if `f` unwinds: the fiber then goes on
    /// unwinding detached and rejoins once it is done (handoff.rs).
    struct EndBlocking;
    impl Drop for EndBlocking {
        fn drop(&mut self) {
            if let Some(d) = handoff::detached() {
                d.in_blocking.set(false);
            }
        }
    }
    let end = EndBlocking;
    let r = f();
    drop(end);
    // Called from a `Drop` while unwinding, the fiber must not rejoin a
    // worker yet: its thread holds its panic count (handoff.rs). It stays
    // detached, and goes home once it is done unwinding.
    if !std::thread::panicking() {
        handoff::go_home(handoff::GoHome::Rejoin);
    }
    r
}

/// What a fiber asked for when it switched back to its worker.
#[derive(Clone, Copy, Debug)]
pub(super) enum Transition {
    /// Nothing yet (the worker resets to this after reading it).
    None,
    /// Put me at the back of the run queue.
    Yield,
    /// Register me with this (see park.rs); the closure lives on my stack.
    Block(*mut Register<'static>),
    /// As `Block`, and also wake me at this deadline (a timer in this
    /// worker's shard, timers.rs).
    BlockUntil(*mut Register<'static>, Instant),
    /// I am done; free me.
    Finished,
}

/// The entry function of every fiber (see `arch::init_stack`).
///
/// # Safety
///
/// `arg` is the fiber's `*mut Task`, passed by `Worker::start`.
pub(super) unsafe extern "sysv64" fn task_main(arg: *mut u8) -> ! {
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
    suspend(Transition::BlockUntil(erase(register), deadline));
}

/// Make a woken fiber runnable: onto this worker's queue if we are one of
/// its runtime's workers, otherwise onto its runtime's injector. A pinned
/// fiber goes to its own worker's pinned inbox, and that worker is woken.
pub(crate) fn schedule(task: TaskRef) {
    // SAFETY: `shared` outlives every live fiber of its runtime (task.rs),
    // and we own the TaskRef, so its fields hold still.
    let (shared, pinned) = unsafe { (&*(*task.as_ptr()).shared, (*task.as_ptr()).pinned_to()) };
    let Some(w) = local_worker(shared) else {
        // From outside the runtime: once the task is pushed, its fiber may
        // run, finish and let the runtime drop before we are done
        // notifying, so hold a reference of our own.
        let shared = hold_runtime(shared);
        match pinned {
            Some(home) => {
                shared.pinned[home].push(task);
                shared.sleep.notify_worker(home);
            }
            None => {
                shared.injector.push(task);
                shared.sleep.notify_work();
            }
        }
        return;
    };
    // One of the runtime's own workers: the runtime outlives this call.
    match pinned {
        Some(home) if home == w.index => shared.pinned[home].push(task), // we will see it
        Some(home) => {
            shared.pinned[home].push(task);
            shared.sleep.notify_worker(home);
        }
        None => {
            w.queue.push_woken(task);
            shared.sleep.notify_work();
        }
    }
}

/// A counted reference to `shared`, for a waker that is not one of its
/// workers.
fn hold_runtime(shared: &Shared) -> Arc<Shared> {
    // SAFETY: the task is live, so its runtime's Arc<Shared> is too, and
    // bumping the count of a live Arc through its raw pointer is allowed.
    unsafe {
        let ptr: *const Shared = shared;
        Arc::increment_strong_count(ptr);
        Arc::from_raw(ptr)
    }
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
