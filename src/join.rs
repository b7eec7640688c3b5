//! Fork-join: [`join`], in the shape of `rayon::join`.
//!
//! `b` is a job on the joiner's own stack (scheduler/job.rs): its
//! worker's job deque holds a reference to it while `a` runs here. If no
//! other worker has stolen it by then, the joiner pops it back and runs
//! `b` inline, depth-first as sequential code would, with no allocation at
//! all. A thief runs a stolen `b` in a fresh fiber (a pooled stack) and
//! completes the job's latch, which the joiner parks on. If the joiner's
//! fiber switches out while `b` is still queued (`a` blocked or yielded),
//! `b` moves to a heap fiber of its own first ([`JobOp::Convert`]), and
//! the joiner later takes it back from there or waits for it.
//!
//! rayon's `join` runs *stolen* work on the waiting thread's own stack
//! while it waits, so deep recursion stacks frames without bound. Here the
//! waiting side parks its fiber instead; the only work it runs inline is
//! its own `a` and its own `b`, and only while the current fiber has at
//! least [`JOIN_INLINE_MIN`] bytes of stack left. Below that, `a` and `b`
//! run in fresh fibers and the caller parks: any recursion depth costs
//! fibers, not stack.
//!
//! [`JobOp::Convert`]: crate::scheduler::job::JobOp::Convert

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use std::cell::UnsafeCell;

use crate::handle::{ResultPacket, publish, wait};
use crate::loom::Arc;
use crate::pool::Pooled;
use crate::scheduler::Shared;
use crate::scheduler::claim::Claim;
use crate::scheduler::current;
use crate::scheduler::fork;
use crate::scheduler::job::{JobOp, JobRef};
use crate::scheduler::packet::Packet;
use crate::scheduler::task::{self, Entry, Release};
use crate::spawn::{Options, spawn_with};

/// `join` runs its first closure inline only with at least this much stack
/// left in the current fiber.
pub const JOIN_INLINE_MIN: usize = 32 * 1024;

/// The fiber a switching-out joiner moves its queued `b` to.
struct JoinB<B, RB> {
    claim: Arc<Claim<B>>,
    packet: Arc<ResultPacket<RB>>,
}

impl<B, RB> Entry for JoinB<B, RB>
where
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    fn run(&self) -> Release {
        if let Some(b) = self.claim.claim() {
            // The packet has its own Arc and no handle: nothing to hand over.
            let _ = publish(&self.packet, || panic::catch_unwind(AssertUnwindSafe(b)));
        }
        Release::Drop
    }

    fn abandon(&self, error: std::io::Error) -> Release {
        if let Some(b) = self.claim.claim() {
            drop(b);
            let _ = publish(&self.packet, || Err(Box::new(error.to_string())));
        }
        Release::Drop
    }

    fn is_void(&self) -> bool {
        self.claim.is_taken()
    }
}

/// Where a converted `b` went (set by [`JobOp::Convert`], read by the
/// joiner; both on the joiner's fiber).
enum Moved<B, RB> {
    /// To a heap fiber, which the joiner may still claim it back from.
    Fiber {
        claim: Arc<Claim<B>>,
        packet: Arc<ResultPacket<RB>>,
        id: u64,
    },
    /// Nowhere: no fiber could be spawned, so `b` is the joiner's again.
    Back(B),
}

/// A `join`'s `b` on the joiner's stack. See the module docs.
struct StackJob<B, RB> {
    /// `b`, until the one taker the job deque picks takes it.
    b: UnsafeCell<Option<B>>,
    /// The latch a thief's fiber completes with `b`'s result.
    packet: ResultPacket<RB>,
    /// Where `b` went if the joiner's fiber switched out first.
    moved: UnsafeCell<Option<Moved<B, RB>>>,
}

impl<B, RB> StackJob<B, RB>
where
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    /// [`JobRef`]'s operation for this job type.
    ///
    /// # Safety
    ///
    /// `data` is a live `StackJob<B, RB>` handed out once by its deque (so
    /// the caller is its one taker) and the joiner waits for it: see
    /// scheduler/job.rs.
    unsafe fn op(data: *const (), op: JobOp) {
        // SAFETY: the caller's promise.
        let job = unsafe { &*data.cast::<StackJob<B, RB>>() };
        // SAFETY: the one taker moves `b` out; the joiner does not touch it.
        let b = unsafe { (*job.b.get()).take() }.expect("a queued join job has its closure");
        match op {
            JobOp::Run => {
                let r = panic::catch_unwind(AssertUnwindSafe(b));
                // The last touch of `job`: the joiner may return once the
                // latch is complete (publish wakes it with the waker it
                // took out of the latch first).
                publish(&job.packet, || r);
            }
            JobOp::Abandon(error) => {
                drop(b);
                publish(&job.packet, || Err(Box::new(error.to_string())));
            }
            JobOp::Convert => {
                let claim = Arc::new(Claim::new(b));
                let packet = Arc::new(Packet::new());
                let entry = Pooled::new(JoinB {
                    claim: claim.clone(),
                    packet: packet.clone(),
                });
                let entry = task::erase_entry(entry);
                // SAFETY: the joiner either claims `b` back or waits for
                // this fiber's result before its frame ends.
                let spawned = current::with_current_shared(|shared| unsafe {
                    crate::spawn::spawn_entry(shared, None, None, entry, false)
                });
                let moved = match spawned {
                    Some(Ok(id)) => Moved::Fiber { claim, packet, id },
                    _ => Moved::Back(claim.claim().expect("no fiber was made to claim it")),
                };
                // SAFETY: we are the joiner's own fiber (JobOp::Convert is
                // only run by it), so nobody else reads `moved` now.
                unsafe { *job.moved.get() = Some(moved) };
            }
        }
    }
}

/// Run `a` and `b` in parallel and return both results, in the shape of
/// `rayon::join`.
///
/// `b` is offered to other workers (a reference to it, on this fiber's
/// stack); `a` runs here (or in a fresh fiber when this one's stack runs
/// low). Then, if no other worker has taken `b`, it runs here too,
/// depth-first as in sequential code, and the join allocated nothing;
/// otherwise the caller parks until the fiber that took it is done.
/// Like `rayon::join`, `b` runs even if `a` panicked.
///
/// A panic in either is re-raised after both have finished (`a`'s, if
/// both panicked). Outside a fiber the two run one after the other on the
/// calling thread, with the same promises.
///
/// # Examples
///
/// ```
/// fn fib(n: u64) -> u64 {
///     if n < 2 {
///         return n;
///     }
///     let (a, b) = heddle::join(|| fib(n - 1), || fib(n - 2));
///     a + b
/// }
/// let rt = heddle::Builder::new().workers(2).build()?;
/// assert_eq!(rt.block_on(|| fib(20)), 6765);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    // One look at this thread's worker serves the check, the offer, the
    // runtime and the stack test; it is not used once `a` has run (the
    // fiber may have moved to another worker by then).
    let Some(w) = current::fiber_worker() else {
        return join_here(a, b);
    };
    let job = StackJob {
        b: UnsafeCell::new(Some(b)),
        packet: Packet::new(),
        moved: UnsafeCell::new(None),
    };
    let data: *const () = (&raw const job).cast();
    // SAFETY: `job` outlives its queued reference: below, we take it back,
    // wait for the thief's latch, or find it moved (scheduler/job.rs).
    let job_ref = unsafe { JobRef::new(data, StackJob::<B, RB>::op) };
    fork::offer(w, job_ref);
    let stack_ok = w.stack_left().is_some_and(|left| left >= JOIN_INLINE_MIN);
    // SAFETY: the runtime outlives every fiber of it, this one included,
    // wherever it runs after `a` (as in `current::with_current_shared`).
    let shared: &Shared = unsafe { &*Arc::as_ptr(&w.shared) };
    let ra = if stack_ok {
        panic::catch_unwind(AssertUnwindSafe(a))
    } else {
        // SAFETY: joined on the next line, before anything `a` borrows ends.
        // (The join switches this fiber out, which moves `b` off our stack.)
        match unsafe { spawn_with(shared, Options::default(), a, None, false) } {
            Ok(ha) => ha.join(),
            Err(e) => Err(Box::new(e.to_string()) as Box<dyn Any + Send>),
        }
    };
    // Run `b` here, on a fresh fiber if our stack is low.
    let run_b = |b: B| -> std::thread::Result<RB> {
        if stack_ok {
            return panic::catch_unwind(AssertUnwindSafe(b));
        }
        // SAFETY: joined at once, before anything `b` borrows ends.
        match unsafe { spawn_with(shared, Options::default(), b, None, false) } {
            Ok(hb) => hb.join(),
            Err(e) => Err(Box::new(e.to_string()) as Box<dyn Any + Send>),
        }
    };
    // SAFETY: `moved` is written only by our own fiber (JobOp::Convert).
    let rb = match unsafe { (*job.moved.get()).take() } {
        Some(Moved::Fiber { claim, packet, id }) => match claim.claim() {
            Some(b) => run_b(b),
            None => wait(&packet, id),
        },
        Some(Moved::Back(b)) => run_b(b),
        None if fork::take_back(data) => {
            // SAFETY: popped back: we are its one taker.
            let b = unsafe { (*job.b.get()).take() }.expect("our job has its closure");
            run_b(b)
        }
        // Stolen: the thief's fiber completes the latch (its id is not
        // known here: a dump shows FiberState::JoiningHalf).
        None => wait(&job.packet, 0),
    };
    both(ra, rb)
}

/// Outside a fiber: `a`, then `b`, on this thread, with the same promise
/// as inside one (`b` runs even if `a` panicked; `a`'s panic wins).
#[cold]
fn join_here<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB,
{
    let ra = panic::catch_unwind(AssertUnwindSafe(a));
    let rb = panic::catch_unwind(AssertUnwindSafe(b));
    both(ra, rb)
}

/// Both results, or the first panic (`a`'s if both panicked), re-raised.
fn both<RA, RB>(ra: std::thread::Result<RA>, rb: std::thread::Result<RB>) -> (RA, RB) {
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(p), _) | (_, Err(p)) => panic::resume_unwind(p),
    }
}
