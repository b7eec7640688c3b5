//! A waker reachable from two places, claimed by the first to want it.
//!
//! A timed wait puts its waiter in a wait list (to be woken when the wait
//! is satisfied) and in the timers (to be woken at the deadline). Both hold
//! the same [`Once`]; whoever calls [`claim`](Once::claim) first gets the
//! waker and wakes the waiter, the other gets `None`. This is what keeps a
//! timed wait from waking one fiber twice (a fiber is in one place at a
//! time: invariant 1 of `README.md`).
//!
//! | inner   | meaning                                          |
//! |---------|--------------------------------------------------|
//! | `Some`  | unclaimed: the waiter still waits                |
//! | `None`  | claimed: by a notifier, by a timer, or taken back by the waiter's worker |
//!
//! A claimed `Once` left in a timer heap or a wait list is garbage; both
//! drop such entries as they grow ([`is_claimed`](Once::is_claimed)).

use crate::loom::{Arc, Mutex};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Once<W> {
    inner: Mutex<Option<W>>,
}

impl<W> Once<W> {
    pub(crate) fn new(waker: W) -> Arc<Once<W>> {
        Arc::new(Once {
            inner: Mutex::new(Some(waker)),
        })
    }

    /// Take the waker, if nobody has yet.
    pub(crate) fn claim(&self) -> Option<W> {
        self.inner.lock().take()
    }

    /// Whether someone claimed it (it can only stay claimed).
    pub(crate) fn is_claimed(&self) -> bool {
        self.inner.lock().is_none()
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use loom::thread;

    /// A timer fires while a notifier satisfies the wait: exactly one of the two gets the waker, and once either
    /// has, the entry reads as claimed. Mutation caught: `claim` reading
    /// the waker without taking it (`self.inner.lock().clone()` for a
    /// `Copy` waker) lets both wake the waiter, and the model fails.
    #[test]
    fn timer_and_notifier_race_for_one_waiter() {
        loom::model(|| {
            let once = Once::new(7u32);
            let timer = {
                let once = once.clone();
                thread::spawn(move || once.claim())
            };
            let notifier = {
                let once = once.clone();
                thread::spawn(move || once.claim())
            };
            let (t, n) = (timer.join().unwrap(), notifier.join().unwrap());
            assert_eq!(1, usize::from(t.is_some()) + usize::from(n.is_some()));
            assert_eq!(Some(7), t.or(n));
            assert!(once.is_claimed());
        });
    }
}
