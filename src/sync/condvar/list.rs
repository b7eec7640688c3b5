//! A condition variable's wait list: the half of the protocol in
//! `condvar.rs` that notifiers see, over any waker, so that the loom model
//! below runs it with a test waker.

use core::fmt;

use crate::sync::wait_queue::{RECEIVERS, WaitQueue, Wake};

/// The wait list of a condition variable: the protocol's list half,
/// over any waker (a test waker under loom).
pub(crate) struct CondList<W> {
    queue: WaitQueue<(), W>,
}

impl<W> fmt::Debug for CondList<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CondList").finish_non_exhaustive()
    }
}

impl<W: Wake> CondList<W> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        CondList {
            queue: WaitQueue::new(()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        CondList {
            queue: WaitQueue::new(()),
        }
    }

    /// Wait step 3: queue `waker` and `release` the caller's lock, in one
    /// hold of the list's lock. A waiter of that lock which `release`
    /// hands back is woken after the list's lock is released. Nothing of
    /// the caller's is touched once the waker is queued and the lock
    /// released: the waiter may be running elsewhere by then.
    pub(crate) fn enqueue_releasing(&self, waker: W, release: impl FnOnce() -> Option<W>) {
        let mut release = Some(release);
        let mut never: Option<()> = None;
        let queued = self.queue.register(
            RECEIVERS,
            waker,
            &mut |_: &mut (), wake| {
                if let Some(release) = release.take()
                    && let Some(waiter) = release()
                {
                    wake.wake_kept(waiter);
                }
                None
            },
            &mut never,
        );
        debug_assert!(queued.is_ok(), "a condvar's waiter is always queued");
    }

    /// Wake the longest-waiting live waiter, if any.
    pub(crate) fn notify_one(&self) {
        self.queue.update(|_, wake| {
            wake.wake_one();
        });
    }

    /// Wake every waiter.
    pub(crate) fn notify_all(&self) {
        self.queue.update(|_, wake| wake.wake_all());
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use crate::loom::{Arc, Mutex as LoomMutex};
    use loom::thread;

    /// A waker that records that it was woken.
    struct Recorder(Arc<LoomMutex<u32>>);
    impl Wake for Recorder {
        fn wake(self) {
            *self.0.lock() += 1;
        }
    }

    /// A waiter checks a flag under the user's mutex and, finding it
    /// false, queues itself and releases the mutex (wait step 3); a
    /// notifier sets the flag under the mutex and notifies one. Either
    /// the waiter saw the flag, or it is woken exactly once.
    ///
    /// Mutation tried: releasing the mutex before `enqueue_releasing`
    /// takes the list's lock (`drop(guard)`, then queue the waker):
    /// the notifier can set the flag and notify an empty list in between,
    /// and loom finds the waiter queued and never woken.
    #[test]
    fn a_notify_after_the_check_reaches_the_waiter() {
        loom::model(|| {
            let flag = Arc::new(LoomMutex::new(false));
            let list = Arc::new(CondList::<Recorder>::new());
            let woken = Arc::new(LoomMutex::new(0));
            let notifier = {
                let (flag, list) = (flag.clone(), list.clone());
                thread::spawn(move || {
                    *flag.lock() = true;
                    list.notify_one();
                })
            };
            let guard = flag.lock();
            let waited = !*guard;
            if waited {
                let mut guard = Some(guard);
                list.enqueue_releasing(Recorder(woken.clone()), || {
                    drop(guard.take());
                    None
                });
            } else {
                drop(guard);
            }
            notifier.join().unwrap();
            assert_eq!(*woken.lock(), u32::from(waited));
        });
    }
}
