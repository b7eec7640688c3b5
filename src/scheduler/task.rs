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
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::arch::Context;
use crate::loom::{Arc, AtomicPtr, AtomicU64, Ordering};
use crate::pool::Pooled;
use crate::stack::Stack;

/// The closure a fiber runs, with its result slot, behind a type-erased
/// [`Pooled`] (shared with the fiber's `JoinHandle`, so spawn allocates
/// once, and from a per-thread cache: pool.rs). Whoever runs or abandons
/// it then does with its reference what the returned [`Release`] says.
pub(crate) trait Entry: Send + Sync {
    /// Run the closure on the fiber's own stack, catching any panic, and
    /// publish the result to the fiber's `JoinHandle`. Called at most once.
    fn run(&self) -> Release;
    /// The fiber cannot start (no stack could be had): drop the closure and
    /// publish `error` as the fiber's panic payload, so its joiner sees it.
    /// Called at most once, and never after `run`.
    fn abandon(&self, error: io::Error) -> Release;
    /// Whether the fiber has nothing left to do before it ever ran (its work
    /// was claimed elsewhere, as `join` does): the worker then retires it
    /// without giving it a stack.
    fn is_void(&self) -> bool {
        false
    }
}

/// What the runner of an [`Entry`] does with its reference once `run` or
/// `abandon` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Release {
    /// Drop it, as usual.
    Drop,
    /// Forget it, without touching the block again: publishing the result
    /// handed it to the fiber's `JoinHandle`, which drops it with its own
    /// (scheduler/packet.rs, "Who frees a spawned fiber's block").
    HandedOver,
}

impl Release {
    /// Act on `self` for `entry`, the runner's reference.
    pub(crate) fn apply(self, entry: Pooled<dyn Entry>) {
        match self {
            Release::Drop => drop(entry),
            Release::HandedOver => core::mem::forget(entry),
        }
    }
}

/// `entry` as the type-erased entry a task holds (an unsizing of the same
/// pooled value, which needs no promise from the caller).
pub(crate) fn erase_entry<'a>(entry: Pooled<impl Entry + 'a>) -> Pooled<dyn Entry + 'a> {
    // SAFETY: an unsizing view: same address, the value's own vtable, and
    // the lifetime kept.
    unsafe { entry.view(|e| e as *const (dyn Entry + 'a)) }
}

/// A fiber's scheduling record. See the module docs.
pub(crate) struct Task {
    /// Saved stack pointer while not running; null before the first run.
    pub(crate) ctx: Context,
    /// Taken at first run (default size) or at spawn (custom size).
    pub(crate) stack: Option<Stack>,
    /// The closure, until the first run takes it.
    pub(crate) entry: Option<Pooled<dyn Entry>>,
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
    /// What the fiber waits on, for `Runtime::dump`: a [`Status`] encoded
    /// by [`Status::encode`]. Written by its worker loop as the fiber
    /// blocks or yields, and by whoever wakes it; read by dumps, under the
    /// registry lock. Only a report: nothing schedules by it.
    pub(crate) status: AtomicU64,
    /// This task box's slot in its runtime's registry (registry.rs), kept
    /// while the box is recycled. Written only while nobody else sees the
    /// task.
    pub(crate) slot: Slot,
}

/// Where a task box's slot in its runtime's registry is (registry.rs): its
/// shard, its index there, and its address (for the stores of spawn and
/// retire). Only registry.rs makes or reads one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) shard: u32,
    pub(crate) index: u32,
    pub(crate) ptr: *const AtomicPtr<Task>,
}

/// What a blocked fiber waits on, as a dump reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The end of the fiber with this id (`JoinHandle::join`); 0: the
    /// half of a `join` that another worker took (its fiber's id is not
    /// known to the joiner).
    Join(u64),
    /// A message (`Receiver::recv` and its timed forms).
    Recv,
    /// Room in a channel, or a receiver (`SyncSender::send`).
    Send,
    /// A `heddle::sync::Mutex`.
    Mutex,
    /// A `heddle::sync::Condvar` (a notify).
    Condvar,
    /// A `heddle::sync::RwLock`.
    RwLock,
    /// A `heddle::sync::Barrier`.
    Barrier,
    /// A `heddle::sync::OnceLock` (or `LazyLock`) another caller initializes.
    Init,
    /// `heddle::sync::Parker::park` (and its timed forms).
    Park,
    /// A `WaitGroup` (and `scope`, which waits on one).
    Group,
    /// `heddle::sleep`, until this instant (`None`: for good).
    Sleep(Option<Instant>),
}

/// A fiber's state as [`Task::status`] records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Queued to run (or running: the worker's own record says which).
    Ready,
    /// Blocked until woken.
    Waiting(Wait),
    /// Inside `heddle::blocking`, on a thread of its own.
    InBlocking,
    /// Off its worker while it unwinds (handoff.rs), on a thread of its own.
    Detached,
}

/// Status word layout: the kind in the low 8 bits, a payload (a fiber id,
/// or a deadline in microseconds since [`epoch`]) in the other 56.
const KIND_BITS: u32 = 8;
const READY: u64 = 0;
const JOIN: u64 = 1;
const RECV: u64 = 2;
const SEND: u64 = 3;
const MUTEX: u64 = 4;
const WAIT_GROUP: u64 = 5;
const SLEEP: u64 = 6;
const IN_BLOCKING: u64 = 7;
const DETACHED: u64 = 8;
const CONDVAR: u64 = 9;
const RW_LOCK: u64 = 10;
const BARRIER: u64 = 11;
const INIT: u64 = 12;
const PARK: u64 = 13;
/// The payload of a sleep without end.
const FOREVER: u64 = u64::MAX >> KIND_BITS;

/// The instant status deadlines count from (the first use in the process).
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Status {
    /// `#[inline]`, as is `Task::set_status`: both sit on every spawn,
    /// wake and block, and without the attribute whether they inline into
    /// the caller's crate depends on their size and on codegen-unit
    /// boundaries. Adding wait reasons made `encode` too big to be
    /// inlined by default, and a ping-pong round trip gained 36 to 78
    /// instructions in a user's binary (`BENCHMARKS.md`, sixth session).
    #[inline]
    pub(crate) fn encode(self) -> u64 {
        let (kind, payload) = match self {
            Status::Ready => (READY, 0),
            Status::Waiting(Wait::Join(id)) => (JOIN, id),
            Status::Waiting(Wait::Recv) => (RECV, 0),
            Status::Waiting(Wait::Send) => (SEND, 0),
            Status::Waiting(Wait::Mutex) => (MUTEX, 0),
            Status::Waiting(Wait::Condvar) => (CONDVAR, 0),
            Status::Waiting(Wait::RwLock) => (RW_LOCK, 0),
            Status::Waiting(Wait::Barrier) => (BARRIER, 0),
            Status::Waiting(Wait::Init) => (INIT, 0),
            Status::Waiting(Wait::Park) => (PARK, 0),
            Status::Waiting(Wait::Group) => (WAIT_GROUP, 0),
            Status::Waiting(Wait::Sleep(None)) => (SLEEP, FOREVER),
            Status::Waiting(Wait::Sleep(Some(until))) => {
                let us = until.saturating_duration_since(epoch()).as_micros();
                (SLEEP, us.min(u128::from(FOREVER - 1)) as u64)
            }
            Status::InBlocking => (IN_BLOCKING, 0),
            Status::Detached => (DETACHED, 0),
        };
        kind | (payload << KIND_BITS)
    }

    pub(crate) fn decode(word: u64) -> Status {
        let payload = word >> KIND_BITS;
        match word & ((1 << KIND_BITS) - 1) {
            JOIN => Status::Waiting(Wait::Join(payload)),
            RECV => Status::Waiting(Wait::Recv),
            SEND => Status::Waiting(Wait::Send),
            MUTEX => Status::Waiting(Wait::Mutex),
            CONDVAR => Status::Waiting(Wait::Condvar),
            RW_LOCK => Status::Waiting(Wait::RwLock),
            BARRIER => Status::Waiting(Wait::Barrier),
            INIT => Status::Waiting(Wait::Init),
            PARK => Status::Waiting(Wait::Park),
            WAIT_GROUP => Status::Waiting(Wait::Group),
            SLEEP if payload == FOREVER => Status::Waiting(Wait::Sleep(None)),
            SLEEP => Status::Waiting(Wait::Sleep(Some(epoch() + Duration::from_micros(payload)))),
            IN_BLOCKING => Status::InBlocking,
            DETACHED => Status::Detached,
            _ => Status::Ready,
        }
    }
}

/// [`Task::pinned`] of a fiber any worker may run.
pub(crate) const UNPINNED: u32 = u32::MAX;

impl Task {
    /// Record what the fiber does now (see [`Task::status`]).
    #[inline]
    pub(crate) fn set_status(&self, status: Status) {
        self.status.store(status.encode(), Ordering::Relaxed);
    }

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

    /// Own the task at `ptr` again (one kept as a raw pointer meanwhile:
    /// `Worker::current`, `Worker::outgoing`).
    ///
    /// # Safety
    ///
    /// `ptr` came from a TaskRef whose ownership passed to the caller, and
    /// no other TaskRef for it exists.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Task>) -> TaskRef {
        TaskRef(ptr)
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
