//! Who waits for a condition, as the code that ends the wait sees it.
//!
//! A [`Waker`] is stored where a condition's producer will find it (a wait
//! list, a join packet, a timer) and fired once the condition holds. This
//! file holds the types only; firing one (`Waker::wake`) makes a fiber
//! runnable, which is schedule.rs's job, and blocking on one is park.rs's.

use super::parker::Parker;
use super::task::TaskRef;
use crate::loom::Arc;

/// Whoever waits for a condition: a blocked fiber or a blocked OS thread.
#[derive(Debug)]
pub(crate) enum Waker {
    /// A fiber whose context is saved; waking schedules it.
    Fiber(TaskRef),
    /// A plain thread parked on its parker.
    Thread(Arc<Parker>),
    /// A waiter reachable from two places (a wait list and a timer): the
    /// first to [`claim`](Waker::claim) it gets the real waker, the other
    /// finds it gone. This is what keeps a timed wait from waking one fiber
    /// twice (invariant 1 of `README.md`).
    Once(Arc<OnceWaker>),
}

/// See [`Waker::Once`] and `once.rs`.
pub(crate) type OnceWaker = super::once::Once<Waker>;

impl Waker {
    /// Whether its waiter still waits: false for a claimed `Once`, which
    /// wait lists may drop.
    pub(crate) fn is_live(&self) -> bool {
        match self {
            Waker::Once(once) => !once.is_claimed(),
            _ => true,
        }
    }

    /// The waker to fire, or `None` if this is a `Once` already claimed
    /// (its waiter timed out or was woken through another path).
    pub(crate) fn claim(self) -> Option<Waker> {
        match self {
            Waker::Once(once) => once.claim(),
            w => Some(w),
        }
    }
}

/// What a blocking primitive hands to park.rs's `block`: called once per block with
/// a waker; returns `Ok` once the waker is stored where the condition's
/// producer will find it, or gives it back with `Err` when the condition
/// already holds (then nobody blocks).
pub(crate) type Register<'a> = dyn FnMut(Waker) -> Result<(), Waker> + 'a;
