//! Making a fiber runnable: a new one ([`Shared::spawn`]), or a woken one
//! ([`schedule`], which is what firing a [`Waker`] does).
//!
//! | who makes it runnable            | where it goes                                  |
//! |----------------------------------|------------------------------------------------|
//! | a worker of its runtime          | woken: that worker's run-next slot (run_next.rs), and a fiber it displaces to its queue; new: the worker's fresh queue (run_queue.rs), or with one worker the slot as for a woken one |
//! | anyone else                      | the runtime's injector, and a sleeping worker is woken (sleep.rs) |
//! | anyone, for a pinned fiber       | its worker's pinned inbox, and that worker is woken |
//!
//! The fiber is pushed only once its context is saved (or before it ever
//! ran): wakers hold a `TaskRef` only after the switch that saved it
//! (park.rs, invariant 2 of `README.md`).

use std::io;

use super::Shared;
use super::current::local_worker;
use super::task::{Entry, Status, Task, TaskRef, UNPINNED};
use super::waker::Waker;
use super::worker::{self, Worker};
use crate::arch::Context;
use crate::loom::{Arc, AtomicU64};
use crate::pool::Pooled;
use crate::stack::Stack;

impl Waker {
    /// Make the waiter runnable again (a no-op for a claimed `Once`).
    pub(crate) fn wake(self) {
        match self {
            Waker::Fiber(task) => schedule(task),
            Waker::Thread(parker) => parker.unpark(),
            Waker::Once(once) => {
                if let Some(w) = once.claim() {
                    w.wake();
                }
            }
        }
    }
}

impl Shared {
    /// Queue a new fiber and return its id. `stack` is given for a
    /// custom-size stack mapped by the caller; default-size fibers get
    /// theirs at first run, and here we only make sure enough slots are
    /// mapped. With `pin`, the fiber and its caller are pinned to the
    /// caller's worker (`spawn_local`).
    pub(crate) fn spawn(
        &self,
        name: Option<Arc<str>>,
        stack: Option<Stack>,
        entry: Pooled<dyn Entry>,
        pin: bool,
    ) -> io::Result<u64> {
        // One lookup of this thread's worker serves the id, the live
        // count, the task box and the queue.
        let worker = local_worker(self);
        let pinned = match (pin, worker) {
            (false, _) => UNPINNED,
            (true, Some(w)) => w.pin_current(),
            (true, None) => {
                return Err(io::Error::other(
                    "heddle: spawn_local called outside a fiber of this runtime's workers; \
                     a pinned fiber is spawned from a fiber, onto that fiber's worker",
                ));
            }
        };
        let credit = worker.map(|w| &w.credit);
        let live = self.live.spawn(credit);
        if stack.is_none()
            && let Err(e) = self.stacks.ensure_capacity(live + self.stack_slack)
        {
            self.live.unspawn(credit);
            return Err(e);
        }
        let id = worker.map_or_else(worker::global_id, |w| w.next_id());
        let recycled = worker.and_then(|w| w.recycled_task());
        let task = Task {
            ctx: Context::empty(),
            stack,
            entry: Some(entry),
            id,
            pinned,
            name,
            runtime: core::ptr::from_ref(self).cast(),
            status: AtomicU64::new(Status::Ready.encode()),
            slot: match &recycled {
                Some(boxed) => boxed.slot,
                None => self.registry.new_slot(worker.map(|w| w.index)),
            },
        };
        let slot = task.slot;
        let task = match recycled {
            Some(mut boxed) => {
                debug_assert!(
                    boxed.stack.is_none() && boxed.entry.is_none() && boxed.name.is_none()
                );
                // SAFETY: a plain overwrite of a valid, owned `Task`. The
                // old value is not dropped, and owns nothing that needs it:
                // `Worker::retire` emptied its stack, entry and name before
                // caching the box, and its other fields are plain data.
                unsafe { core::ptr::write(&mut *boxed, task) };
                TaskRef::from_box(boxed)
            }
            None => TaskRef::new(task),
        };
        self.registry.list(slot, task.as_ptr());
        push_new(self, worker, task);
        Ok(id)
    }
}

/// Make a woken fiber runnable: onto this worker's queue if we are one of
/// its runtime's workers, otherwise onto its runtime's injector. A pinned
/// fiber goes to its own worker's pinned inbox, and that worker is woken.
/// `#[inline]` (into `Waker::wake`, its one hot caller): left to the
/// compiler, whether it inlined changed with the crate's codegen units, by
/// 26 instructions per ping-pong round trip (`Status::encode` has the
/// same note).
#[inline]
pub(crate) fn schedule(task: TaskRef) {
    // SAFETY: `shared` outlives every live fiber of its runtime (task.rs),
    // and we own the TaskRef, so its fields hold still.
    let (shared, pinned) = unsafe { (runtime_of(&*task.as_ptr()), (*task.as_ptr()).pinned_to()) };
    // SAFETY: as above; the status is an atomic that dumps read.
    unsafe { (*task.as_ptr()).set_status(Status::Ready) };
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
            // Woken by a fiber of this worker: it runs next here, and a
            // fiber it displaces goes back to its queue. No worker is woken
            // for the slot: this one switches to it at its next pick, or
            // the monitor wakes one a tick later (run_next.rs).
            if w.put_next_woken(task) {
                shared.sleep.notify_work_from_worker();
            }
        }
    }
}

/// The runtime a task belongs to (see `Task::runtime`).
///
/// # Safety
///
/// The task must be live: its runtime outlives it (the runtime's drop
/// waits for every fiber), which bounds the returned borrow in practice.
unsafe fn runtime_of(task: &Task) -> &Shared {
    // SAFETY: `runtime` was set from a `&Shared` at spawn (above), and the
    // caller guarantees the fiber, hence its runtime, is live.
    unsafe { &*task.runtime.cast::<Shared>() }
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

/// Queue a new fiber: onto `worker`'s fresh queue (or, on a runtime of
/// one worker, into its run-next slot: `Worker::push_spawned`) when
/// spawned inside a worker of the same runtime (`local_worker(shared)`),
/// otherwise onto the injector.
#[inline]
pub(crate) fn push_new(shared: &Shared, worker: Option<&Worker>, task: TaskRef) {
    // SAFETY: the task was just made and is ours.
    let pinned = unsafe { (*task.as_ptr()).pinned } != UNPINNED;
    match worker {
        Some(w) if !pinned => {
            w.push_spawned(task);
            shared.sleep.notify_work_from_worker();
        }
        Some(w) => push_new_pinned(w, task),
        None => {
            shared.injector.push(task);
            shared.sleep.notify_work();
        }
    }
}

/// A new pinned fiber: only its worker may run it, and that worker is
/// running (it is the spawner's), so nobody needs waking.
#[cold]
fn push_new_pinned(w: &Worker, task: TaskRef) {
    w.pinned_live.set(w.pinned_live.get() + 1);
    w.shared.pinned[w.index].push(task);
}
