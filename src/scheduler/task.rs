//! A fiber as the scheduler sees it.
//!
//! A [`Task`] is a boxed record: the saved [`Context`], the stack (taken at
//! its first run), the closure still to run, and its id and name. A
//! [`TaskRef`] is the one owning pointer to it; whoever holds the `TaskRef`
//! owns the fiber (invariant 1 of `README.md`):
//!
//! | where the TaskRef is         | fiber state                          |
//! |------------------------------|--------------------------------------|
//! | a run queue or the injector  | Ready, context saved (or never run)  |
//! | `Worker::current`            | Running on that worker               |
//! | a waiter slot (`Waker`)      | Blocked, context saved               |
//! | dropped by `Worker::retire`  | Finished, stack back in a pool       |

use std::io;
use std::ptr::NonNull;

use crate::arch::Context;
use crate::loom::Arc;
use crate::stack::Stack;

/// The closure a fiber runs, with its result slot, behind a type-erased
/// `Arc` (shared with the fiber's `JoinHandle`, so spawn allocates once).
pub(crate) trait Entry: Send + Sync {
    /// Run the closure on the fiber's own stack, catching any panic, and
    /// publish the result to the fiber's `JoinHandle`.
    fn run(self: Arc<Self>);
    /// The fiber cannot start (no stack could be had): drop the closure and
    /// publish `error` as the fiber's panic payload, so its joiner sees it.
    fn abandon(self: Arc<Self>, error: io::Error);
    /// Whether the fiber has nothing left to do before it ever ran (its work
    /// was claimed elsewhere, as `join` does): the worker then retires it
    /// without giving it a stack.
    fn is_void(&self) -> bool {
        false
    }
}

/// A fiber's scheduling record. See the module docs.
pub(crate) struct Task {
    /// Saved stack pointer while not running; null before the first run.
    pub(crate) ctx: Context,
    /// Taken at first run (default size) or at spawn (custom size).
    pub(crate) stack: Option<Stack>,
    /// The closure, until the first run takes it.
    pub(crate) entry: Option<Arc<dyn Entry>>,
    pub(crate) id: u64,
    /// The worker this fiber is pinned to, or [`UNPINNED`]. Set at spawn
    /// (`spawn_local`) or by the fiber itself while it runs (a caller of
    /// `spawn_local` pins itself); read by whoever holds the `TaskRef`.
    /// A pinned fiber is only ever queued in its worker's pinned inbox,
    /// which thieves never look at, so it never changes OS thread.
    pub(crate) pinned: u32,
    pub(crate) name: Option<Arc<str>>,
    /// The runtime this fiber belongs to, a `*const Shared` (read through
    /// schedule.rs's `runtime_of`). Valid while the fiber lives: a
    /// runtime's `Shared` outlives all its fibers (its drop waits for them).
    /// Type-erased so that this file, which `Shared` builds on, does not
    /// import it back.
    pub(crate) runtime: *const (),
}

/// [`Task::pinned`] of a fiber any worker may run.
pub(crate) const UNPINNED: u32 = u32::MAX;

impl Task {
    /// The worker this fiber is pinned to, if it is.
    pub(crate) fn pinned_to(&self) -> Option<usize> {
        (self.pinned != UNPINNED).then_some(self.pinned as usize)
    }
}

/// The unique owning pointer to a [`Task`].
#[derive(Debug)]
pub(crate) struct TaskRef(NonNull<Task>);

// SAFETY: a TaskRef is the sole owner of its Task; moving it to another
// thread moves the whole fiber. The Task's closure is `Send`, its stack is
// plain memory, and its context is only resumed by whoever owns the TaskRef.
unsafe impl Send for TaskRef {}

impl TaskRef {
    pub(crate) fn new(task: Task) -> TaskRef {
        Self::from_box(Box::new(task))
    }

    /// Own a task in a box (a recycled one, say).
    pub(crate) fn from_box(task: Box<Task>) -> TaskRef {
        TaskRef(NonNull::from(Box::leak(task)))
    }

    pub(crate) fn as_ptr(&self) -> *mut Task {
        self.0.as_ptr()
    }

    /// Take back the box to drop it.
    ///
    /// # Safety
    ///
    /// The fiber must have finished: nothing will switch into its context
    /// again and no other pointer to the task is in use.
    pub(crate) unsafe fn into_box(self) -> Box<Task> {
        // SAFETY: the pointer came from Box::leak in `new`; the caller
        // guarantees no other use remains.
        unsafe { Box::from_raw(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}
