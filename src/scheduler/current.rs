//! Where code finds its worker: the one reader and writer of the
//! scheduler's thread-locals, `CURRENT` and `DETACHED`.
//!
//! `CURRENT` points at the worker whose loop runs on this thread, or is
//! null. Every read goes through [`current`], which is `#[inline(never)]`
//! and called afresh after every switch: a fiber may resume on another
//! thread (invariant 4 of `README.md`), and in a shared library LLVM would
//! otherwise keep the thread-local's address across the switch.
//!
//! A fiber detached from its worker (handoff.rs) finds `CURRENT` null on
//! its thread; the functions that ask "which fiber, which runtime" then
//! look at its `DETACHED` record instead.

use core::cell::Cell;
use core::ptr;

use super::Shared;
use super::task::Task;
use super::worker::Worker;
use crate::loom::Arc;
use crate::overflow::RunningFiber;

thread_local! {
    /// The worker whose loop runs on this thread, or null.
    static CURRENT: Cell<*const Worker> = const { Cell::new(ptr::null()) };
}

/// Why a detached fiber switched back to its old loop frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GoHome {
    /// Done unwinding: queue me on the runtime again.
    Rejoin,
    /// I have finished: retire me.
    Finished,
}

/// What a detached fiber's thread knows about it. Lives in a `Box` owned
/// by the thread's `DETACHED` slot from detach to go-home.
#[derive(Debug)]
pub(crate) struct Detached {
    /// The saved context of this thread's old worker loop, suspended in
    /// `run_task`; written by detach, resumed by go-home.
    pub(super) home: *mut u8,
    /// The fiber's task (its context slot, id, name, stack).
    pub(super) task: *mut Task,
    /// The fiber's runtime, kept alive while the fiber runs detached.
    pub(crate) shared: Arc<Shared>,
    /// Written by the fiber just before it goes home.
    pub(super) why: Cell<GoHome>,
    /// Inside `heddle::blocking`: heddle's own waits block this thread
    /// too, instead of going home.
    pub(crate) in_blocking: Cell<bool>,
}

thread_local! {
    /// This thread's detached fiber, or null. Only this thread reads or
    /// writes it.
    static DETACHED: Cell<*mut Detached> = const { Cell::new(ptr::null_mut()) };
}

/// The detached fiber running on this thread, if any.
pub(crate) fn detached() -> Option<&'static Detached> {
    let d = DETACHED.with(|d| d.get());
    // SAFETY: a non-null DETACHED points at a live Box owned by this
    // thread's slot until the old loop frame takes it back (go-home), and
    // nothing keeps the reference past the fiber's next switch.
    unsafe { d.as_ref() }
}

/// The task of the detached fiber on this thread, if any.
pub(crate) fn detached_task() -> Option<*mut Task> {
    detached().map(|d| d.task)
}

/// This thread's detached record pointer (null if none), for go-home.
pub(super) fn detached_raw() -> *mut Detached {
    DETACHED.with(|d| d.get())
}

/// Make `record` this thread's detached fiber (handoff.rs's detach).
pub(super) fn set_detached(record: Box<Detached>) {
    DETACHED.with(|d| d.set(Box::into_raw(record)));
}

/// Take this thread's detached record back, if it has one (the old loop
/// frame, once the fiber went home).
pub(super) fn take_detached() -> Option<Box<Detached>> {
    let d = DETACHED.with(|d| d.replace(ptr::null_mut()));
    // SAFETY: a non-null slot holds a record made by `set_detached` with
    // Box::into_raw, and the slot no longer points at it.
    (!d.is_null()).then(|| unsafe { Box::from_raw(d) })
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
    fiber_worker().is_some()
}

/// The worker of the attached fiber calling, if the caller is one (see
/// [`in_fiber`]). The reference must not be kept across a switch.
#[inline]
pub(crate) fn fiber_worker() -> Option<&'static Worker> {
    let w = current();
    // SAFETY: a non-null CURRENT points at the live Worker on this thread,
    // which outlives this synchronous use (see the doc).
    let w = unsafe { w.as_ref()? };
    w.current.get().is_some().then_some(w)
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

/// The task running on this thread, if inside a fiber (attached, or
/// detached: handoff.rs).
pub(crate) fn current_task() -> Option<*const Task> {
    let w = current();
    if w.is_null() {
        return detached_task().map(|t| t.cast_const());
    }
    // SAFETY: a non-null CURRENT is this thread's live Worker.
    unsafe { (*w).current.get().map(|t| t.as_ptr().cast_const()) }
}

/// The fiber running on this thread, for the stack-overflow handler
/// (overflow.rs), which runs it inside a signal handler: only reads of
/// thread-locals and of the running task, whose fields hold still while it
/// runs. (The page size is long known: every stack was mapped with it.)
pub(crate) fn running_fiber() -> RunningFiber {
    let Some(task) = current_task() else {
        return RunningFiber::NONE;
    };
    // SAFETY: the running task lives while it runs; its stack and name are
    // written only while it does not run.
    unsafe {
        let Some(stack) = (*task).stack.as_ref() else {
            return RunningFiber::NONE;
        };
        let (name, name_len) = match &(*task).name {
            Some(n) => (n.as_ptr(), n.len()),
            None => (ptr::null(), 0),
        };
        RunningFiber {
            guard: stack.guard(),
            size: stack.size(),
            id: (*task).id,
            name,
            name_len,
        }
    }
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
            return detached().map(|d| f(&d.shared));
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
        return detached().map(|d| d.shared.clone());
    }
    // SAFETY: a non-null CURRENT is this thread's live Worker.
    unsafe { (*w).current.get().map(|_| (*w).shared.clone()) }
}

/// This thread starts driving `w` (worker_loop.rs's `drive`).
pub(crate) fn enter_worker(w: &Worker) {
    CURRENT.with(|c| c.set(w));
}

/// This thread stops being a worker: its loop ended, or it handed its
/// worker off while its fiber keeps running here (handoff.rs).
pub(crate) fn leave_worker() {
    CURRENT.with(|c| c.set(ptr::null()));
}
