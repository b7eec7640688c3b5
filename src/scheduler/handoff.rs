//! Handing a worker to another thread, so that a fiber can block its own
//! OS thread: what keeps `std::thread::panicking()` per fiber, and what
//! `heddle::blocking` does around its closure. The thread that takes the
//! worker over is a pooled spare, or a new one under the runtime's cap
//! (spare.rs).
//!
//! # Why
//!
//! std counts panics per OS thread (`thread::panicking()` reads that
//! count), and only std changes it: up when a panic starts, down when
//! `catch_unwind` ends one. A fiber that suspends while it unwinds (a
//! `Drop` that yields, joins, locks, receives or sleeps) would leave its
//! count on its worker's thread: every other fiber run there would see
//! `panicking() == true`, and if it resumed elsewhere, the count would go
//! down on the wrong thread and stay skewed for good.
//!
//! So a fiber that must block while unwinding keeps its thread, and the
//! thread gives its worker away: a new thread takes over the worker (its
//! run queue, pinned inbox, timers, stack pool and live credit) and runs
//! the worker's loop from the top, while the unwinding fiber blocks its
//! own thread like a plain thread would (park.rs's thread path). This is
//! Go's hand-off of a P around a blocking system call.
//!
//! # States of a fiber
//!
//! | state     | `CURRENT` on its thread | `DETACHED` on its thread | blocks by      |
//! |-----------|-------------------------|--------------------------|----------------|
//! | attached  | its worker              | null                     | switching out  |
//! | detached  | null                    | its record               | parking the thread |
//!
//! ```text
//!  attached ──(panicking, about to block: detach)──> detached
//!     ^                                                 │
//!     │   (not panicking any more, about to block or    │
//!     │    yield: rejoin; or finished: retire)           │
//!     └──── injector <── old loop frame <── go_home ────┘
//! ```
//!
//! # Steps
//!
//! Detach (thread T0, inside fiber F, worker W's `current`):
//!
//! 1. refuse if W hosts pinned fibers: they must never change OS thread
//!    (spawn_local's promise), so F blocks T0 in place and W waits for it
//!    (other workers still steal W's ordinary fibers);
//! 2. copy W's saved loop context (`home`: T0's worker loop, suspended in
//!    `run_task` since it switched into F) and clear `W.current`;
//! 3. hand a new reference to W to thread T1, an idle spare or a new
//!    thread (spare.rs); T1 runs W's loop from the top. The spare's job
//!    lock (or the spawn) orders every write of T0 to W before T1's first
//!    read, and T0 never touches W's fields again;
//! 4. on T0: `CURRENT = null`, `DETACHED = { home, runtime }`.
//!
//! F now runs on T0 as a thread would: `in_fiber()` is false, so blocking
//! calls park T0 and `yield_now` yields T0. It is still a fiber to the
//! user: `fiber::current()`, `spawn` and `scope` reach its runtime through
//! `DETACHED`.
//!
//! Inside `heddle::blocking`, F also stays detached while its closure
//! runs (`in_blocking`), unwinding or not; it goes home when the closure
//! returns.
//!
//! Go home (on T0, F detached, `panicking()` false again and not inside
//! `blocking`, at its next block or yield; or F finished):
//!
//! 1. F records why (`Rejoin` or `Finished`) in `DETACHED` and switches to
//!    `home`;
//! 2. T0's old loop frame resumes in `run_task`, sees `DETACHED` set
//!    before it touches W (which T1 owns now), and, with F's context
//!    saved: `Rejoin` pushes F to the runtime's injector (any worker may
//!    take it, and F then carries on as an attached fiber); `Finished`
//!    retires F into the runtime's shared stack list and live count;
//! 3. the frame returns out of W's loop, and T0 becomes a spare that
//!    waits to drive the next worker handed off (spare.rs).
//!
//! The fiber's context is published (injector) only after the switch that
//! saved it, as everywhere else (invariant 2 of `README.md`).
//!
//! T1 and every thread like it is registered with the runtime, which joins
//! it at shutdown like the first worker threads.

use super::current;
use core::cell::Cell;
use core::ptr;

use super::Shared;
use super::task::TaskRef;
use super::worker::{self, Worker};
use crate::arch;
use crate::loom::Arc;

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
    home: *mut u8,
    /// The fiber's task (its context slot, id, name, stack).
    task: *mut super::task::Task,
    /// The fiber's runtime, kept alive while the fiber runs detached.
    pub(crate) shared: Arc<Shared>,
    /// Written by the fiber just before it goes home.
    why: Cell<GoHome>,
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
pub(crate) fn detached_task() -> Option<*mut super::task::Task> {
    detached().map(|d| d.task)
}

/// Step 1-4 of "Detach": give worker `w` to a spare or new thread
/// (spare.rs). Returns false (and changes nothing) if `w` hosts pinned
/// fibers or no thread could be had (the runtime's `max_blocking_threads`
/// are busy); the caller then blocks its thread with `w` waiting for it.
/// `in_blocking`: detaching for `heddle::blocking` (see `Detached`).
pub(crate) fn detach(w: &Worker, in_blocking: bool) -> bool {
    if w.hosts_pinned() {
        return false;
    }
    let task = w.running().expect("detach outside a fiber");
    let home = w.loop_rsp();
    let next = w.new_ref();
    // Clear `current` before the taking thread can start reading W.
    w.clear_running();
    let shared = w.shared.clone();
    if !shared.spares.hand(&shared, next) {
        // Undo: W stays with this thread, which blocks with it.
        w.set_running(task);
        return false;
    }
    // From here on `w` belongs to the new thread: do not touch it.
    let record = Box::new(Detached {
        home,
        task,
        shared,
        why: Cell::new(GoHome::Rejoin),
        in_blocking: Cell::new(in_blocking),
    });
    DETACHED.with(|d| d.set(Box::into_raw(record)));
    current::leave_worker();
    true
}

/// "Go home", step 1: on the detached fiber's thread, switch back to the
/// old loop frame. Returns (for `Rejoin`) once a worker resumes the fiber,
/// attached again; never returns for `Finished`.
pub(crate) fn go_home(why: GoHome) {
    let d = DETACHED.with(|d| d.get());
    assert!(!d.is_null(), "go_home without a detached fiber");
    // SAFETY: the record is live (see `detached`); the fiber's task stays
    // alive while the fiber runs, and its context slot is written by this
    // switch and read only by whoever resumes the fiber, after the old
    // loop frame published it. `home` was saved by that frame's switch
    // into this fiber and has not been resumed since.
    unsafe {
        (*d).why.set(why);
        arch::switch((*(*d).task).ctx.slot(), (*d).home);
    }
    // Resumed by some worker, attached again (and maybe on another thread).
}

/// "Go home", step 2, in the old loop frame right after its switch
/// returned: if this thread's fiber went detached, publish or retire it
/// and return `Ok` (the frame must leave the worker's loop without
/// touching the worker). Gives `task` back otherwise (every other switch:
/// one thread-local read).
#[inline(never)]
pub(crate) fn came_home(task: TaskRef) -> Result<(), TaskRef> {
    if DETACHED.with(|d| d.get()).is_null() {
        return Err(task);
    }
    welcome_home(task);
    Ok(())
}

#[cold]
fn welcome_home(task: TaskRef) {
    let d = DETACHED.with(|d| d.replace(ptr::null_mut()));
    // SAFETY: the record was made by `detach` with Box::into_raw and the
    // slot no longer points at it.
    let record = unsafe { Box::from_raw(d) };
    crate::overflow::clear_running();
    match record.why.get() {
        GoHome::Rejoin => {
            record.shared.injector.push(task);
            record.shared.sleep.notify_work();
        }
        GoHome::Finished => worker::retire_detached(&record.shared, task),
    }
}
