//! The scheduling loop a thread runs while it drives a worker, and the
//! entry and exit of every fiber it runs.
//!
//! The worker's state is `worker.rs`; where the loop finds a fiber is
//! `find.rs`; how a fiber switches back to it is `switch_out.rs`, and what
//! it asks for then, `Transition`, is in `worker.rs`.
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

use core::ptr;

use super::current::{self, GoHome};
use super::switch_out;
use super::task::{Status, Task, TaskRef, UNPINNED};
use super::waker::{OnceWaker, Waker};
use super::worker::{AbortOnUnwind, Exit, Transition, Worker, WorkerRef, retire_detached};
use crate::arch;
use crate::loom::Ordering;
use crate::overflow::{self, AltStack, RunningFiber};

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
            .next_task()
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

/// Switch into `task` and deal with whatever it asks for when it comes
/// back. Returns false if this thread no longer drives the worker (the
/// fiber handed it off and has now come home, see handoff.rs).
fn run_task(w: &Worker, task: TaskRef) -> bool {
    // SAFETY: we own `task` (it came off a queue), so nobody else touches
    // the Task; the fiber is not running, so its fields are ours to use.
    let fresh = unsafe { (*task.as_ptr()).ctx.rsp().is_null() };
    let task = if fresh {
        match start(w, task) {
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
    w.current.set(ptr::NonNull::new(t));
    let stats = w.stats();
    stats.bump_switches();
    // For the monitor (monitor.rs): who holds this worker now.
    stats.running.store(id, Ordering::Relaxed);
    // SAFETY: the task's context was saved by its last switch away (or
    // made by `init_stack` in `start`) and has not been resumed since: we
    // own the TaskRef. Our own ctx slot is valid for the write and stays
    // so while the fiber runs (the Worker outlives every switch). The
    // fiber's entry catches all panics, so nothing unwinds back here.
    unsafe { arch::switch((*w.ctx.get()).slot(), (*t).ctx.rsp()) };
    // Back on the worker's stack: the fiber's context is fully saved.
    // If the fiber detached meanwhile, another thread owns `self` now:
    // check before touching any of its fields.
    let task = match came_home(task) {
        Ok(()) => return false,
        Err(task) => task,
    };
    overflow::clear_running();
    w.current.set(None);
    stats.running.store(0, Ordering::Relaxed);
    if stats.preempt.load(Ordering::Relaxed) {
        // The slice it ended belonged to the fiber that just switched out.
        stats.preempt.store(false, Ordering::Relaxed);
    }
    match w.transition.replace(Transition::None) {
        Transition::Yield => {
            // SAFETY: the fiber is suspended and we own its TaskRef.
            if unsafe { (*t).pinned } != UNPINNED {
                w.shared.pinned[w.index].push(task);
            } else if w.queue.push_yielded(task) {
                w.shared.sleep.hint_surplus();
            }
        }
        Transition::Block(register, why) => {
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
        Transition::BlockUntil(register, deadline, why) => {
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
        Transition::None => panic!("a fiber switched back to its worker without a transition"),
    }
    true
}

/// First run: give the task a stack and an initial frame. Returns the
/// task to run, or `None` if no stack could be had (the task was then
/// failed to its joiner and retired).
fn start(w: &Worker, task: TaskRef) -> Option<TaskRef> {
    let t = task.as_ptr();
    // SAFETY: we own the task and it has never run, so its fields are
    // ours; the stack top is 16-byte aligned and stays mapped while the
    // task holds the stack.
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
                    entry.abandon(e);
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

/// "Go home", step 2, in the old loop frame right after its switch
/// returned: if this thread's fiber went detached, publish or retire it
/// and return `Ok` (the frame must leave the worker's loop without
/// touching the worker). Gives `task` back otherwise (every other switch:
/// one thread-local read).
#[inline(never)]
fn came_home(task: TaskRef) -> Result<(), TaskRef> {
    if current::detached_raw().is_null() {
        return Err(task);
    }
    welcome_home(task);
    Ok(())
}

#[cold]
fn welcome_home(task: TaskRef) {
    let record = current::take_detached().expect("came home without a detached record");
    crate::overflow::clear_running();
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
    if current::detached().is_some() {
        switch_out::go_home(GoHome::Finished);
    } else {
        switch_out::suspend(Transition::Finished);
    }
    // A finished fiber is never resumed.
    std::process::abort();
}
