//! `Barrier`: `n` fibers (or threads) wait until all `n` have arrived.
//!
//! The state is the round's arrival count and a generation number, on the
//! wait queue (wait_queue.rs). The `n`-th arrival starts the next
//! generation and wakes every waiter of the round; a waiter waits for the
//! generation to move past the one it arrived in, so a waiter that is slow
//! to run after its wake-up cannot be caught by the next round.

use core::fmt;

use super::wait_queue::WaitQueue;
use crate::scheduler::park::{Wait, Waker};

/// The current round: how many have arrived, and its generation.
#[derive(Debug)]
struct Round {
    arrived: usize,
    generation: u64,
}

/// A barrier for `n` fibers (or threads): each [`wait`](Self::wait)
/// parks until `n` have called it, then all go on together. It may be
/// used again for the next round.
///
/// The API is `std::sync::Barrier`'s; waiting parks the calling fiber and
/// its worker runs other fibers meanwhile.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let barrier = Arc::new(heddle::sync::Barrier::new(4));
/// let arrived = Arc::new(AtomicUsize::new(0));
/// let hs: Vec<_> = (0..4)
///     .map(|_| {
///         let (barrier, arrived) = (barrier.clone(), arrived.clone());
///         rt.spawn(move || {
///             arrived.fetch_add(1, Ordering::SeqCst);
///             let leader = barrier.wait().is_leader();
///             // Past the barrier, all four have arrived.
///             assert_eq!(arrived.load(Ordering::SeqCst), 4);
///             leader
///         })
///     })
///     .collect();
/// let leaders = hs.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count();
/// assert_eq!(leaders, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Barrier {
    n: usize,
    round: WaitQueue<Round, Waker>,
}

// As std's Barrier: a panic cannot leave it half-changed (each step is one
// hold of its lock).
impl std::panic::UnwindSafe for Barrier {}
impl std::panic::RefUnwindSafe for Barrier {}

/// What [`Barrier::wait`] returns: whether this caller was the round's
/// leader (exactly one per round is), as std's `BarrierWaitResult`.
///
/// # Examples
///
/// ```
/// let b = heddle::sync::Barrier::new(1);
/// assert!(b.wait().is_leader()); // a barrier of one: every caller leads
/// ```
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this caller was the round's leader (the last to arrive).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = heddle::sync::Barrier::new(0); // as std's: like a barrier of one
    /// assert!(b.wait().is_leader());
    /// ```
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` callers of [`wait`](Self::wait) per round (`0`
    /// behaves as `1`, as std's). A `const fn`, as std's is.
    ///
    /// # Examples
    ///
    /// ```
    /// static START: heddle::sync::Barrier = heddle::sync::Barrier::new(1);
    /// assert!(START.wait().is_leader());
    /// ```
    pub const fn new(n: usize) -> Barrier {
        Barrier {
            n,
            round: WaitQueue::new(Round {
                arrived: 0,
                generation: 0,
            }),
        }
    }

    /// Park until `n` callers have called `wait` this round; the last to
    /// arrive is the round's leader and wakes the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let b = Arc::new(heddle::sync::Barrier::new(2));
    /// let b2 = b.clone();
    /// let other = rt.spawn(move || b2.wait().is_leader());
    /// let me = b.wait().is_leader(); // a plain thread: blocks until the fiber arrives
    /// assert!(me != other.join().unwrap());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&self) -> BarrierWaitResult {
        let (leader, generation) = self.round.update(|round, wake| {
            round.arrived += 1;
            if round.arrived < self.n {
                return (false, round.generation);
            }
            round.arrived = 0;
            round.generation += 1;
            wake.wake_all();
            (true, round.generation)
        });
        if !leader {
            self.round.wait_until(Wait::Barrier, |round, _| {
                (round.generation != generation).then_some(())
            });
        }
        BarrierWaitResult(leader)
    }
}

/// The same output as std's `Barrier`: `Barrier { .. }`.
impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

/// The same output as std's: `BarrierWaitResult { is_leader: .. }`.
impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.0)
            .finish()
    }
}
