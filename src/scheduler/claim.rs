//! The claim on a moved `join`'s `b`: run exactly once, by whoever claims
//! it first (join.rs).
//!
//! When a joiner's fiber switches out while its `b` is still queued as a
//! job (job.rs), `b` moves into a heap fiber of its own. Later the joiner
//! tries to take `b` back and run it inline, and that fiber, if a worker
//! started it first, tries to take `b` too. Exactly one of them wins.
//!
//! | `taken` | `f`    | meaning                                   |
//! |---------|--------|-------------------------------------------|
//! | false   | Some   | nobody has claimed it yet                 |
//! | true    | None   | claimed: the claimer runs or drops it     |
//!
//! The claim is a `swap(true, AcqRel)` on `taken`: of two claimers, one
//! reads `false` and owns `f`; the other reads `true` and never touches
//! `f`. The Acquire half makes the joiner's write of `f` (at creation)
//! visible to a thief that wins.

use crate::loom::{AtomicBool, Ordering, UnsafeCell};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Claim<B> {
    taken: AtomicBool,
    /// Written at creation; after that, only by the winner of `taken`.
    f: UnsafeCell<Option<B>>,
}

// SAFETY: the closure is moved out exactly once, by whoever wins `taken`
// (see the module docs); B: Send lets it move to that thread.
unsafe impl<B: Send> Sync for Claim<B> {}
// SAFETY: as above; the Claim owns its B.
unsafe impl<B: Send> Send for Claim<B> {}

impl<B> Claim<B> {
    pub(crate) fn new(f: B) -> Self {
        Claim {
            taken: AtomicBool::new(false),
            f: UnsafeCell::new(Some(f)),
        }
    }

    /// Take `b`, if nobody has yet.
    pub(crate) fn claim(&self) -> Option<B> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: we won the swap, so nobody else reads or writes `f`.
        self.f.with_mut(|f| unsafe { (*f).take() })
    }

    /// Whether someone claimed it (the fiber can then be retired unrun).
    pub(crate) fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use crate::loom::Arc;
    use loom::thread;

    /// The joiner takes `b` back while a thief's fiber claims it: exactly
    /// one of them gets it, and whoever does sees the value the joiner put
    /// in. Mutation caught: a claim that loads `taken` and then stores it
    /// (instead of one swap) lets both take `b` (the model then fails on
    /// the count, or on loom's concurrent access check of `f`).
    #[test]
    fn joiner_and_thief_claim_b_once() {
        loom::model(|| {
            let claim = Arc::new(Claim::new(41u32));
            let thief = {
                let claim = claim.clone();
                thread::spawn(move || claim.claim())
            };
            let mine = claim.claim();
            let theirs = thief.join().unwrap();
            assert_eq!(
                1,
                usize::from(mine.is_some()) + usize::from(theirs.is_some())
            );
            assert_eq!(Some(41), mine.or(theirs));
            assert!(claim.is_taken());
        });
    }
}
