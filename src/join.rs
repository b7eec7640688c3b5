//! Fork-join: [`join`], in the shape of `rayon::join`.
//!
//! rayon's `join` runs *stolen* work on the waiting thread's own stack while
//! it waits, so deep recursion stacks frames without bound. Here the waiting
//! side parks its fiber instead; the only work it runs inline is its own
//! `a` and its own `b` (when nobody took `b`), as sequential code would, and
//! only while the current fiber has at least [`JOIN_INLINE_MIN`] bytes of
//! stack left. Below that, `a` runs in a fresh fiber (a fresh stack), `b` is
//! left to its own fiber, and the caller parks. Any recursion depth then
//! costs fibers, not stack.
//!
//! Running `b` inline when it was not stolen is also what keeps fork-join
//! depth-first: with `b` always left to its fiber, FIFO run queues expand
//! the recursion tree breadth-first, with a parked fiber (and a stack) per
//! open node. That made fib(30) 700 times slower than `rayon::join`.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::handle::{ResultPacket, publish, wait};
use crate::loom::Arc;
use crate::scheduler::Shared;
use crate::scheduler::claim::Claim;
use crate::scheduler::current;
use crate::scheduler::packet::Packet;
use crate::scheduler::task::Entry;
use crate::spawn::{Options, spawn_with};

/// `join` runs its first closure inline only with at least this much stack
/// left in the current fiber.
pub const JOIN_INLINE_MIN: usize = 32 * 1024;

/// The fiber spawned for a `join`'s `b`.
struct JoinB<B, RB> {
    claim: Arc<Claim<B>>,
    packet: Arc<ResultPacket<RB>>,
}

impl<B, RB> Entry for JoinB<B, RB>
where
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    fn run(self: Arc<Self>) {
        if let Some(b) = self.claim.claim() {
            publish(&self.packet, || panic::catch_unwind(AssertUnwindSafe(b)));
        }
    }

    fn abandon(self: Arc<Self>, error: std::io::Error) {
        if let Some(b) = self.claim.claim() {
            drop(b);
            publish(&self.packet, || Err(Box::new(error.to_string())));
        }
    }

    fn is_void(&self) -> bool {
        self.claim.is_taken()
    }
}

/// Run `a` and `b` in parallel and return both results, in the shape of
/// `rayon::join`.
///
/// `b` is offered to other workers as a fiber; `a` runs here (or in a fresh
/// fiber when this one's stack runs low). Then, if no other worker has
/// started `b`, it runs here too, depth-first as in sequential code;
/// otherwise the caller parks until the fiber that took it is done. A fiber
/// whose `b` was taken back is retired without ever getting a stack.
///
/// A panic in either is re-raised after both have finished. Outside a fiber
/// the two run one after the other on the calling thread.
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
    if !current::in_fiber() {
        return (a(), b());
    }
    current::with_current_shared(move |shared| join_in(shared, a, b)).expect("inside a fiber")
}

/// [`join`] inside a fiber of `shared`.
fn join_in<A, B, RA, RB>(shared: &Shared, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let claim = Arc::new(Claim::new(b));
    let packet = Arc::new(Packet::new());
    let entry = Arc::new(JoinB {
        claim: claim.clone(),
        packet: packet.clone(),
    });
    // SAFETY: before returning or unwinding we either run `b` here (the
    // fiber then finds the claim empty and touches nothing of 'a) or wait
    // for the fiber's result, which it publishes after `b` finished.
    let b_id = match unsafe { crate::spawn::spawn_entry(shared, None, None, entry, false) } {
        Ok(id) => id,
        Err(e) => {
            drop(claim.claim());
            panic!("{e}");
        }
    };
    let stack_ok = current::stack_remaining().is_some_and(|left| left >= JOIN_INLINE_MIN);
    let ra = if stack_ok {
        panic::catch_unwind(AssertUnwindSafe(a))
    } else {
        // SAFETY: joined on the next line, before anything `a` borrows ends.
        match unsafe { spawn_with(shared, Options::default(), a, None, false) } {
            Ok(ha) => ha.join(),
            Err(e) => Err(Box::new(e.to_string()) as Box<dyn Any + Send>),
        }
    };
    let mine = if stack_ok { claim.claim() } else { None };
    let rb = match mine {
        Some(b) => panic::catch_unwind(AssertUnwindSafe(b)),
        None => wait(&packet, b_id),
    };
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(p), _) | (_, Err(p)) => panic::resume_unwind(p),
    }
}
