//! How a fiber leaves its worker and the next context comes in: straight
//! to the next Ready fiber of the worker (a direct switch), or back to the
//! worker's loop (worker_loop.rs); and how whoever comes in next settles
//! the fiber that left.
//!
//! # Who publishes the fiber that switched out
//!
//! A fiber never publishes itself: until `switch` has saved its context,
//! nobody else may see it (invariant 2 of `README.md`). So it leaves its
//! `TaskRef` and its [`Transition`] in its worker (`Worker::outgoing`,
//! outgoing.rs), and the context that runs next on the same
//! thread acts on them as its first step after the switch ([`settle`]).
//!
//! ```text
//!  fiber A (yield / block / finish)         next on this thread: fiber B, or the loop
//!  ───────────────────────────────          ─────────────────────────────────────────
//!  w.outgoing.leave(A, t)
//!  B = w.next_direct()   (own queues only;
//!      None on every INJECTOR_EVERY-th
//!      pick, or when they are empty)
//!  enter(B) (or the loop: leave)
//!  switch(save A.ctx, ─────────────────────> resumes after its own switch (B in
//!         resume B.ctx | w.ctx)              `suspend`, `go_home` or at its entry; the
//!                                            loop in `run_task`):
//!                                            settle(w): (A, t) = w.outgoing.take(); act on t:
//!                                              Yield         push A to yielded
//!                                              Block(r)      r(Waker::Fiber(A))
//!                                              BlockUntil(r) r(Waker::Once(o)), timer for o
//!                                              Finished      retire A
//!  <──── resumed by whoever took A: another fiber's switch or a loop's,
//!        maybe on another thread; A first settles whoever left before it
//! ```
//!
//! | field             | written by                         | read (taken) by                       |
//! |-------------------|------------------------------------|---------------------------------------|
//! | `w.outgoing`      | the fiber switching out, before its switch | the next context on the thread, right after the switch |
//! | `w.current`       | whoever switches in (`enter`) or the loop once back (cleared) | fiber code via `current.rs`, detach |
//!
//! Both are `Cell`s of one worker, touched by one thread at a time
//! (invariant 6): the switch is single-threaded, so the write before it
//! and the take after it are ordered by program order on that thread. A
//! fiber taken from `outgoing` is published only after that take, so a
//! thief that resumes it on another thread reads a context saved before
//! the push that made it visible (the queue's release/acquire). The loom
//! model `outgoing::tests::a_fiber_is_published_after_its_switch` checks
//! that order with the real run queue.
//!
//! Every context that can be switched into calls `settle` first: a
//! fiber's entry (`task_main`), a fiber returning from `suspend` or from
//! `go_home`, and the loop after its switch (worker_loop.rs). The loop
//! goes first on every [`INJECTOR_EVERY`](super::find)-th pick, so due
//! timers and the injector are looked at as often as before.
//!
//! A detached fiber (handoff.rs) goes home by switching to its old loop
//! frame, which publishes it itself (it knows the fiber from its
//! `Detached` record) and never touches the worker, which another thread
//! owns by then.

use core::ptr;

use super::current::{self, GoHome, current};
use super::fork;
use super::task::{Status, Task, TaskRef, UNPINNED};
use super::waker::{OnceWaker, Waker};
use super::worker::{AbortOnUnwind, Transition, Worker};
use crate::arch;
use crate::loom::Ordering;

/// In a fiber: switch out with `transition`, straight to the worker's next
/// Ready fiber if it has one at hand, else to its loop. Returns when the
/// fiber is resumed, possibly on another worker's thread.
pub(super) fn suspend(transition: Transition) {
    let w = current();
    assert!(!w.is_null(), "heddle: suspend called outside a fiber");
    // SAFETY: `w` is the live Worker of this thread (CURRENT is set for its
    // whole loop).
    suspend_on(unsafe { &*w }, transition);
}

/// [`suspend`], for a caller that just read this thread's worker `w`
/// (one thread-local read less on the yield path). `w` must not be used
/// by the caller after this returns: the fiber may resume elsewhere.
pub(super) fn suspend_on(w: &Worker, transition: Transition) {
    let (task, to) = hand_over(w, transition);
    // SAFETY: `to` is a context saved by its last switch away and not
    // resumed since (a fiber we own, or the loop, suspended in its switch
    // into the first fiber it ran); our ctx slot lives in our Task, which
    // stays alive while we are suspended: the context that runs next
    // publishes us only after this switch saved us.
    unsafe { arch::switch((*task.as_ptr()).ctx.slot(), to) };
    // Resumed, maybe on another thread: `w` is stale from here on.
    settle_here();
}

/// The running fiber of `w` leaves with `transition`: it goes to
/// `w.outgoing` for the next context to settle, and the context to resume
/// is returned, with the fiber. Everything read through `w` is read here,
/// before the switch.
///
/// Inlined into [`suspend_on`] and into `task_main`: a finishing fiber
/// switches away from its entry's own frame, so it leaves no return
/// address of its own on the CPU's return-stack buffer, and the fiber
/// resumed next (its joiner, typically) returns up its own call chain with
/// every `ret` predicted (see `arch`, "Entering without `call`"). Through a
/// call to `suspend_on`, that call's entry mispredicts the first `ret` of
/// whoever resumes.
#[inline(always)]
fn hand_over(w: &Worker, transition: Transition) -> (ptr::NonNull<Task>, *mut u8) {
    let task = w
        .current
        .get()
        .expect("heddle: suspend called outside a fiber");
    if !w.jobs.is_empty() {
        // Jobs of ours still queued: off our stack first (job.rs).
        fork::convert_pending(w);
    }
    w.outgoing.leave(task, transition);
    let to = match next_direct(w) {
        Some(next) => enter(w, next),
        None => leave(w),
    };
    (task, to)
}

/// The next fiber for a direct switch: the worker's own next pick
/// (find.rs), except on the picks that belong to the loop (timers, the
/// injector) or when a fresh fiber cannot be started now (see
/// `start_fresh`). `None`: go through the loop.
fn next_direct(w: &Worker) -> Option<TaskRef> {
    if w.loop_turn_due() {
        return None;
    }
    let task = w.next_task()?;
    start(w, task)
}

/// Make `task` the running fiber of `w`; returns the context to resume.
/// The TaskRef lives on in `w.current` (as a raw pointer) until the fiber
/// switches out and leaves it in `w.outgoing`.
fn enter(w: &Worker, task: TaskRef) -> *mut u8 {
    let t = task.as_ptr();
    // SAFETY: we own `task` (it came off a queue), so nobody else touches
    // the Task.
    let id = unsafe { (*t).id };
    w.current.set(ptr::NonNull::new(t));
    w.stats().bump_switches();
    now_running(w, id);
    // SAFETY: as above; the context was saved by the fiber's last switch
    // away, or made by `init_stack` in `start`.
    unsafe { (*t).ctx.rsp() }
}

/// No fiber runs on `w` now: the loop comes back in. Returns its context.
fn leave(w: &Worker) -> *mut u8 {
    w.current.set(None);
    now_running(w, 0);
    w.loop_rsp()
}

/// For the monitor (monitor.rs): fiber `id` (0: none) holds `w` now. A
/// slice it flagged belonged to the fiber that switched out.
fn now_running(w: &Worker, id: u64) {
    let stats = w.stats();
    stats.running.store(id, Ordering::Relaxed);
    if stats.preempt.load(Ordering::Relaxed) {
        stats.preempt.store(false, Ordering::Relaxed);
    }
}

/// The loop (worker_loop.rs): switch into `task`, which it took off a
/// queue and `start`ed. Returns when a fiber of this worker switches
/// back to the loop, which is not necessarily `task`, or when a detached
/// fiber goes home (the caller checks that first: see handoff.rs).
pub(super) fn run(w: &Worker, task: TaskRef) {
    let to = enter(w, task);
    // SAFETY: as in `suspend`; the loop's ctx slot is valid for the write
    // and stays so while fibers run (the Worker outlives every switch).
    // Fibers' entries catch all panics, so nothing unwinds back here.
    unsafe { arch::switch((*w.ctx.get()).slot(), to) };
}

/// Right after a switch into a fiber's context: settle the fiber that
/// switched out on this thread, if any.
fn settle_here() {
    let w = current();
    // SAFETY: a fiber runs attached to this thread's live Worker, or
    // detached (CURRENT null: nobody switched into us through a worker).
    if let Some(w) = unsafe { w.as_ref() } {
        // Scheduler code on a fiber's stack: it must not unwind into the
        // fiber (invariant 3).
        let guard = AbortOnUnwind("settling a fiber that switched out panicked");
        settle(w);
        core::mem::forget(guard);
    }
}

/// Act on the transition of the fiber that left `w` (see the module
/// docs). Its context is saved: we run after its switch.
pub(super) fn settle(w: &Worker) {
    let Some((task, transition)) = w.outgoing.take() else {
        return;
    };
    // SAFETY: `outgoing` held the running fiber's TaskRef as a raw pointer
    // from its switch to now; we are the one taker.
    let task = unsafe { TaskRef::from_raw(task) };
    let t = task.as_ptr();
    match transition {
        Transition::Yield => {
            // SAFETY: the fiber is suspended and we own its TaskRef.
            if unsafe { (*t).pinned } != UNPINNED {
                w.shared.pinned[w.index].push(task);
            } else if w.queue.push_yielded(task) {
                w.shared.sleep.hint_surplus();
            }
        }
        Transition::Block(register, why) | Transition::BlockHeld(register, why) => {
            // Before registering: once registered, a waker may mark it
            // Ready at any moment, and that must be the last word.
            // SAFETY: the fiber is suspended and we own its TaskRef.
            unsafe { (*t).set_status(Status::Waiting(why)) };
            // SAFETY: the closure lives on the blocked fiber's stack,
            // which stays put until the fiber is resumed, and only we can
            // resume it until the closure publishes the waker. After the
            // call we never touch the closure again (park.rs).
            let outcome = unsafe { (*register)(Waker::Fiber(task)) };
            if let Err(waker) = outcome {
                match waker {
                    Waker::Fiber(task) => w.push_ready(task),
                    other => panic!("block handed back {other:?} for a fiber"),
                }
            }
        }
        Transition::BlockUntil(register, deadline, why)
        | Transition::BlockUntilHeld(register, deadline, why) => {
            // SAFETY: as for Block.
            unsafe { (*t).set_status(Status::Waiting(why)) };
            let once = OnceWaker::new(Waker::Fiber(task));
            // SAFETY: as for Block.
            let outcome = unsafe { (*register)(Waker::Once(once.clone())) };
            match outcome {
                // Ready already: nobody else saw the waker; run it again.
                Err(_) => match once.claim() {
                    Some(Waker::Fiber(task)) => w.push_ready(task),
                    other => panic!("timed block handed back {other:?}"),
                },
                Ok(()) => w.shared.timers.insert(w.index, deadline, once),
            }
        }
        Transition::Finished => w.retire(task),
    }
}

/// First run: give the task a stack and an initial frame. Returns the
/// task to run (at once if it ran before), or `None` if no stack could be
/// had (the task was then failed to its joiner and retired), it had
/// nothing left to do, or it must wait for the loop (below).
///
/// A fiber that switches out holding a spin lock (`Transition::BlockHeld`)
/// keeps it until it is settled, so a fresh pick is not started on its
/// way out: a fresh stack's first touch can fault, for microseconds,
/// while every other thread that wants the lock spins. The pick goes to
/// `w.loop_next`, and the loop starts it once it has settled the fiber
/// and the lock is free.
#[inline]
pub(super) fn start(w: &Worker, task: TaskRef) -> Option<TaskRef> {
    // SAFETY: we own the task (it came off a queue), so its fields are
    // ours while it does not run.
    if !unsafe { (*task.as_ptr()).ctx.rsp().is_null() } {
        return Some(task);
    }
    start_fresh(w, task)
}

fn start_fresh(w: &Worker, task: TaskRef) -> Option<TaskRef> {
    if w.outgoing.asked(Transition::holds_lock) {
        w.loop_next.set(Some(task));
        return None;
    }
    let t = task.as_ptr();
    // SAFETY: as above, and it has never run; the stack top is 16-byte
    // aligned and stays mapped while the task holds the stack.
    unsafe {
        if (*t).entry.as_ref().is_some_and(|e| e.is_void()) {
            drop((*t).entry.take());
            w.retire(task);
            return None;
        }
        if (*t).stack.is_none() {
            match w.stacks.borrow_mut().take(&w.shared.stacks) {
                Ok(s) => (*t).stack = Some(s),
                Err(e) => {
                    let entry = (*t).entry.take().expect("unstarted fiber has its closure");
                    let release = entry.abandon(e);
                    release.apply(entry);
                    w.retire(task);
                    return None;
                }
            }
        }
        let top = (*t).stack.as_ref().expect("just set").top();
        (*t).ctx = arch::init_stack(top, task_main, t.cast());
    }
    w.stats().bump_fibers_run();
    Some(task)
}

/// "Go home", step 1: on the detached fiber's thread, switch back to the
/// old loop frame. Returns (for `Rejoin`) once a worker resumes the fiber,
/// attached again; never returns for `Finished`.
pub(crate) fn go_home(why: GoHome) {
    let d = current::detached_raw();
    assert!(!d.is_null(), "go_home without a detached fiber");
    // SAFETY: the record is live (see `detached`); the fiber's task stays
    // alive while the fiber runs, and its context slot is written by this
    // switch and read only by whoever resumes the fiber, after the old
    // loop frame published it. `home` was saved by that frame's switch
    // into a fiber and has not been resumed since.
    unsafe {
        (*d).why.set(why);
        arch::switch((*(*d).task).ctx.slot(), (*d).home);
    }
    // Resumed by some worker, attached again (and maybe on another thread).
    settle_here();
}

/// A fiber's closure returned with MXCSR's rounding, exception-mask or
/// denormal modes changed (debug builds only: see `arch`, "The last
/// switch").
#[cold]
fn mxcsr_not_restored() -> ! {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "heddle: a fiber returned with MXCSR's control bits (rounding, exception masks, \
         FTZ/DAZ) not at their defaults; Rust requires the default floating-point \
         environment, so restore them before returning (see core::arch::x86_64::_mm_setcsr)"
    );
    std::process::abort();
}

/// The entry function of every fiber (see `arch::init_stack`).
///
/// # Safety
///
/// `arg` is the fiber's `*mut Task`, passed by `start`.
unsafe extern "sysv64" fn task_main(arg: *mut u8) -> ! {
    settle_here();
    let task = arg.cast::<Task>();
    // SAFETY: we are running, so whoever switched into us owned the task
    // and handed it to `Worker::current`; the entry is ours to take.
    let entry = unsafe { (*task).entry.take() }.expect("fiber started without a closure");
    let guard = AbortOnUnwind("a panic escaped a fiber's entry");
    let release = entry.run(); // catches the closure's panics itself
    release.apply(entry);
    core::mem::forget(guard);
    if current::detached().is_some() {
        go_home(GoHome::Finished);
    } else {
        let w = current();
        // SAFETY: attached (not detached), so `w` is this thread's live
        // Worker. Inline, not through `suspend`: see `hand_over`.
        let (_, to) = hand_over(unsafe { &*w }, Transition::Finished);
        if cfg!(debug_assertions) && !arch::mxcsr_controls_are_default() {
            mxcsr_not_restored();
        }
        // SAFETY: `to` as in `suspend_on`; we are finished and never
        // resumed (the next context retires us), and we run Rust code after
        // the closure returned, so MXCSR's control bits are the defaults
        // (checked above in debug builds; see `arch`, "The last switch").
        unsafe { arch::exit_to(to) }
    }
    // A finished fiber is never resumed.
    std::process::abort();
}
