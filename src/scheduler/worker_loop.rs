//! The scheduling loop a thread runs while it drives a worker.
//!
//! The worker's state is `worker.rs`; where the loop finds a fiber is
//! `find.rs`; how fibers switch out, to each other or back to the loop,
//! and how the one that left is settled, is `transition.rs`.
//!
//! ```text
//!  loop {
//!      fire due timers (this worker's shard, timers.rs)
//!      fiber = own queue (run_queue.rs) | injector | steal half from a random worker
//!            | search (spin) | sleep until woken (sleep.rs; the keeper fires timers)
//!      switch(worker ctx -> fiber ctx)   fibers run, switching straight to the
//!                                        worker's next Ready fiber, until one
//!                                        finds none at hand (or the loop's turn
//!                                        is due) and switches back
//!      -- back on the worker's own stack; that fiber's context is saved --
//!      settle it (transition.rs):
//!          Yield         => push to own yielded queue: only now may others steal it
//!          Block(r)      => r(Waker::Fiber(f)) register it where it waits (park.rs)
//!          BlockUntil(r) => r(Waker::Once(o)), and a timer for o (timers.rs): first to claim o wakes f
//!          Finished      => stack back to the pool, drop the task
//!  }
//! ```

use core::ptr;

use super::current::{self, GoHome};
use super::task::{Status, TaskRef};
use super::transition;
use super::worker::{AbortOnUnwind, Exit, Worker, WorkerRef, retire_detached};
use crate::loom::Ordering;
use crate::overflow::AltStack;

/// Drive `worker` on this thread until shutdown or a hand-off (the job
/// of a driver thread, spare.rs).
pub(crate) fn drive(worker: WorkerRef) -> Exit {
    let guard = AbortOnUnwind("a heddle worker's scheduling loop panicked");
    let w = worker.get();
    current::enter_worker(w);
    let _alt = AltStack::ensure();
    let exit = run_loop(w);
    if exit == Exit::Shutdown {
        w.stacks.borrow_mut().drain_into(&w.shared.stacks);
    }
    current::leave_worker();
    core::mem::forget(guard);
    exit
}

/// The scheduling loop. Returns at shutdown, once no work is left, or
/// when this thread has handed the worker to another (handoff.rs).
fn run_loop(w: &Worker) -> Exit {
    let sleep = &w.shared.sleep;
    let mut searching = false;
    loop {
        w.fire_timers();
        // Only searchers (at most half the workers, sleep.rs) look at
        // the other workers' queues; the rest check the injector and
        // go to sleep. Otherwise N idle workers would each scan N
        // queues, and starting or waking many workers costs N * N.
        let task = w
            .loop_next
            .take()
            .or_else(|| w.next_task())
            .or_else(|| w.steal_from_injector())
            .or_else(|| {
                searching = searching || sleep.start_searching();
                if searching { w.spin_for_work() } else { None }
            });
        if let Some(task) = task {
            sleep.found_work(&mut searching);
            if !run_task(w, task) {
                return Exit::HandedOff;
            }
            continue;
        }
        // Out of work: give back our live-count credit first, so that a
        // runtime waiting for quiet sees zero (live.rs).
        w.shared.live.flush(&w.credit);
        w.stats().bump_parks();
        let shutdown = || w.shared.shutdown.load(Ordering::SeqCst);
        if !sleep.idle(w.index, &mut searching, || w.has_work(), shutdown) {
            return Exit::Shutdown;
        }
    }
}

/// Switch into `task`, and settle whichever fiber switches back to the
/// loop (transition.rs). Returns false if this thread no longer drives
/// the worker (a fiber handed it off and has now come home, see
/// handoff.rs).
fn run_task(w: &Worker, task: TaskRef) -> bool {
    let Some(task) = transition::start(w, task) else {
        return true;
    };
    transition::run(w, task);
    // Back on the worker's stack: the fiber that switched back (not
    // necessarily `task`: fibers switch straight to each other) has its
    // context saved. If one detached meanwhile, another thread owns the
    // worker now: check before touching any of its fields.
    if came_home() {
        return false;
    }
    transition::settle(w);
    true
}

/// "Go home", step 2, in the old loop frame right after its switch
/// returned: if this thread's fiber went detached, publish or retire it
/// and return true (the frame must leave the worker's loop without
/// touching the worker). False otherwise (every other switch: one
/// thread-local read).
#[inline(never)]
fn came_home() -> bool {
    if current::detached_raw().is_null() {
        return false;
    }
    welcome_home();
    true
}

#[cold]
fn welcome_home() {
    let record = current::take_detached().expect("came home without a detached record");
    // SAFETY: the detached fiber switched home, so its context is saved,
    // and its record held the one reference to its task since detach.
    let task = unsafe { TaskRef::from_raw(ptr::NonNull::new(record.task).expect("a task")) };
    match record.why.get() {
        GoHome::Rejoin => {
            // SAFETY: the fiber's context is saved and we own its TaskRef.
            unsafe { (*task.as_ptr()).set_status(Status::Ready) };
            record.shared.injector.push(task);
            record.shared.sleep.notify_work();
        }
        GoHome::Finished => retire_detached(&record.shared, task),
    }
}
