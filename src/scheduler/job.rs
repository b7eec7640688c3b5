//! Fork-join jobs: a `join`'s `b`, left on the joiner's stack and offered
//! to thieves by reference (rayon's `StackJob`/`JobRef`).
//!
//! A [`JobRef`] is a pointer to a job on some fiber's stack and the two
//! functions that can take it over. It sits in the job deque of the worker
//! running that fiber (`Worker::jobs`, LIFO) until exactly one of three
//! takes it out, which the deque decides (one pop or steal per entry):
//!
//! | who takes it            | how               | then                                      |
//! |-------------------------|-------------------|-------------------------------------------|
//! | the joiner, after `a`   | `pop` (fork.rs)   | runs `b` inline: no allocation at all     |
//! | a thief (find.rs)       | `steal`           | runs it in a fresh fiber ([`JobFiber`]): [`JobOp::Run`] |
//! | the joiner's fiber, switching out while the job is queued | `pop` (fork.rs) | [`JobOp::Convert`]: `b` moves to a heap fiber of its own |
//!
//! The last row keeps the deque's invariant: **a worker's job deque holds
//! only jobs of the fiber it runs now**, and is empty whenever the worker
//! switches to a fiber. So, with joins properly nested within a fiber, a
//! joiner that did not switch out meanwhile finds its own job on top of
//! the deque, or finds the deque empty (stolen); and a job never waits in
//! a deque while its fiber is suspended (its stack could not be reached
//! safely, and the fiber might resume on another worker).
//!
//! The job's memory is the joiner's stack frame: the joiner does not return
//! before the job is done (it waits on the job's latch when a thief has
//! it), and whoever runs the job touches it for the last time when it
//! completes the latch.

use super::task::{Entry, Release};

/// What to do with a job (see the module docs).
pub(crate) enum JobOp {
    /// Run it here, in the thief's fresh fiber: take `b`, run it, publish
    /// its result to the joiner. At most once per job.
    Run,
    /// The thief's fiber could not get a stack: publish the error to the
    /// joiner as `b`'s panic, without running `b`.
    Abandon(std::io::Error),
    /// The joiner's fiber is switching out with the job still queued: move
    /// `b` to a heap fiber of its own (join.rs's slow path).
    Convert,
}

/// A job on a fiber's stack: see the module docs.
#[derive(Clone, Copy)]
pub(crate) struct JobRef {
    data: *const (),
    op: unsafe fn(*const (), JobOp),
}

// SAFETY: a JobRef moves to a thief's thread at most once (the deque hands
// each entry out once), and the job it points to is `Send` (join's bounds:
// B and its result are Send); the joiner's frame outlives it (module docs).
unsafe impl Send for JobRef {}

impl std::fmt::Debug for JobRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRef").field("data", &self.data).finish()
    }
}

impl JobRef {
    /// # Safety
    ///
    /// `data` points to a job that `op` accepts, and stays valid until `op`
    /// has run on it (or the joiner popped it back).
    pub(crate) unsafe fn new(data: *const (), op: unsafe fn(*const (), JobOp)) -> JobRef {
        JobRef { data, op }
    }

    /// Whether this refers to the job at `data`.
    pub(crate) fn is(&self, data: *const ()) -> bool {
        core::ptr::eq(self.data, data)
    }

    /// Move the job off its joiner's stack (see [`JobOp::Convert`]).
    ///
    /// # Safety
    ///
    /// Called by the joiner's own fiber, with the job just popped from its
    /// deque (so nobody else has it).
    pub(crate) unsafe fn convert(self) {
        // SAFETY: the caller's promise; `op` matches `data` (new).
        unsafe { (self.op)(self.data, JobOp::Convert) }
    }
}

/// The fiber a thief starts for a stolen job (a pooled block, on the
/// stolen path only).
pub(crate) struct JobFiber(pub(crate) JobRef);

// SAFETY: the job is touched only through `run` or `abandon`, each called
// at most once, by the fiber's one runner (or the thief that failed to
// start it); sharing the reference shares no access to the job.
unsafe impl Sync for JobFiber {}

impl Entry for JobFiber {
    fn run(&self) -> Release {
        // SAFETY: stolen, so this fiber is the job's one runner; the joiner
        // waits for its latch, so the job is valid.
        unsafe { (self.0.op)(self.0.data, JobOp::Run) };
        Release::Drop
    }

    fn abandon(&self, error: std::io::Error) -> Release {
        // SAFETY: as in `run`.
        unsafe { (self.0.op)(self.0.data, JobOp::Abandon(error)) };
        Release::Drop
    }
}
