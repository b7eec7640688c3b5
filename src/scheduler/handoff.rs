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
//!    `run_task`, worker_loop.rs, since it switched into the fiber it ran
//!    first: fibers switch straight to each other meanwhile, transition.rs) and clear `W.current`;
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

use core::cell::Cell;

use super::current::{self, Detached, GoHome};
use super::fork;
use super::task::Status;
use super::worker::{Exit, Worker};
use super::worker_loop;
use crate::loom::Ordering;

/// Step 1-4 of "Detach": give worker `w` to a spare or new thread
/// (spare.rs). Returns false (and changes nothing) if `w` hosts pinned
/// fibers or no thread could be had (the runtime's `max_blocking_threads`
/// are busy); the caller then blocks its thread with `w` waiting for it.
/// `in_blocking`: detaching for `heddle::blocking` (see `Detached`).
pub(crate) fn detach(w: &Worker, in_blocking: bool) -> bool {
    if w.hosts_pinned() {
        return false;
    }
    // W's next driver runs other fibers: our queued jobs must leave its
    // deque first (job.rs).
    fork::convert_pending(w);
    let task = w.running().expect("detach outside a fiber");
    let home = w.loop_rsp();
    let next = w.new_ref();
    // Clear `current` before the taking thread can start reading W, and
    // tell the monitor that the fiber no longer holds W.
    w.clear_running();
    w.stats().running.store(0, Ordering::Relaxed);
    let status = if in_blocking {
        Status::InBlocking
    } else {
        Status::Detached
    };
    // SAFETY: the running fiber's task is live; its status is an atomic.
    unsafe { (*task).set_status(status) };
    let shared = w.shared.clone();
    let job = Box::new(move || worker_loop::drive(next) == Exit::HandedOff);
    if !shared.drivers.hand(job) {
        // Undo: W stays with this thread, which blocks with it.
        w.set_running(task);
        // SAFETY: as above.
        unsafe {
            w.stats().running.store((*task).id, Ordering::Relaxed);
            (*task).set_status(Status::Ready);
        }
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
    current::set_detached(record);
    current::leave_worker();
    true
}
