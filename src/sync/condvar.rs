//! `Condvar`: wait for a condition guarded by a [`Mutex`], parking the
//! fiber, not its worker.
//!
//! # Protocol
//!
//! A condition variable is a wait list with no state of its own (a
//! [`WaitQueue`] of `()`); the condition lives in the mutex's value.
//!
//! | step      | who                                   | what |
//! |-----------|---------------------------------------|------|
//! | wait 1    | the waiter, holding the mutex         | finds its condition false, calls `wait(guard)` |
//! | wait 2    | park.rs                               | a fiber switches out (its context saved); a thread goes on to step 3 itself |
//! | wait 3    | the register step (the worker's next context; a thread itself) | under the list's lock: release the mutex, queue the waker; unlock the list; wake the mutex's next waiter, if the release picked one |
//! | notify    | anyone                                | under the list's lock: pop the first live waiter (`notify_one`) or all of them; unlock; wake them |
//! | wait 4    | the woken waiter                      | locks the mutex again and returns its guard |
//!
//! The race closed: a notifier that changes the condition under the mutex
//! after the waiter checked it, and notifies before the waiter is on the
//! list. The mutex is released only under the list's lock, in the same
//! hold that queues the waiter. A notifier that took the mutex after that
//! release takes the list's lock after it too, and finds the waiter there.
//! The loom model in `condvar/list.rs` runs [`CondList`], the list half,
//! and shows that releasing first loses the wake-up.
//!
//! Lock order: the list's spin lock, then the mutex's own `waiters` lock
//! (taken by [`Mutex::release`] only when others wait for the mutex).
//! Nothing takes them the other way round. The mutex waiter that the
//! release picks is woken once the list's lock is released, like any
//! waiter popped under it (wait_queue.rs).
//!
//! # Spurious wake-ups
//!
//! A fiber is resumed only by a notify or its own timer. A plain thread
//! can find a stale token in its parker (an unpark meant for an earlier
//! wait) and return early. Its entry would then stay live on the list and
//! could take a later `notify_one` meant for a waiter still waiting. So a
//! thread's waker goes on the list wrapped in a `Once`, and the thread
//! claims it back when it returns: an entry claimed by its own waiter is
//! dead, and notifies skip it (a timed-out waiter's entry is dead the same
//! way, and the list drops dead entries as it grows: wait_queue.rs).

mod list;

pub(crate) use self::list::CondList;

#[cfg(not(loom))]
pub use self::public::{Condvar, WaitTimeoutResult};

#[cfg(not(loom))]
mod public {
    use std::time::{Duration, Instant};

    use super::CondList;
    use crate::loom::Arc;
    use crate::scheduler::park::{self, OnceWaker, Wait, Waker};
    use crate::sync::{Mutex, MutexGuard};

    /// A condition variable: fibers (and threads) wait on it until another
    /// changes a condition guarded by a [`Mutex`] and notifies them.
    ///
    /// The API is `std::sync::Condvar`'s, with heddle's [`Mutex`]: a wait
    /// parks the calling fiber and its worker runs other fibers meanwhile
    /// (a plain thread blocks). As with heddle's `Mutex`, there is no
    /// poisoning, so the methods return the guard itself, not a
    /// `LockResult`. Wake-ups may be spurious (a thread's may): wait in a
    /// loop on the condition, or use [`wait_while`](Self::wait_while).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use heddle::sync::{Condvar, Mutex};
    ///
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let pair = Arc::new((Mutex::new(false), Condvar::new()));
    /// let pair2 = pair.clone();
    /// let waiter = rt.spawn(move || {
    ///     let (lock, cv) = &*pair2;
    ///     let mut started = lock.lock();
    ///     while !*started {
    ///         started = cv.wait(started); // parks this fiber
    ///     }
    /// });
    /// let (lock, cv) = &*pair;
    /// *lock.lock() = true;
    /// cv.notify_one();
    /// waiter.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub struct Condvar {
        list: CondList<Waker>,
    }

    // As std's Condvar: a panic cannot leave it half-changed (each
    // operation is one hold of its list's lock).
    impl std::panic::UnwindSafe for Condvar {}
    impl std::panic::RefUnwindSafe for Condvar {}

    /// Whether a timed wait on a [`Condvar`] returned because its time ran
    /// out, as std's `WaitTimeoutResult`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use heddle::sync::{Condvar, Mutex};
    ///
    /// let (lock, cv) = (Mutex::new(()), Condvar::new());
    /// let (_guard, result) = cv.wait_timeout(lock.lock(), Duration::from_millis(1));
    /// assert!(result.timed_out()); // nobody notified
    /// ```
    #[derive(Debug, PartialEq, Eq, Copy, Clone)]
    pub struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        /// Whether the wait ended because its time ran out.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use heddle::sync::{Condvar, Mutex};
        ///
        /// let (lock, cv) = (Mutex::new(true), Condvar::new());
        /// // The condition is already false: no wait, no time-out.
        /// let (_g, r) = cv.wait_timeout_while(lock.lock(), Duration::from_secs(1), |ready| !*ready);
        /// assert!(!r.timed_out());
        /// ```
        pub fn timed_out(&self) -> bool {
            self.0
        }
    }

    impl Condvar {
        /// A condition variable nobody waits on. A `const fn`, as std's is.
        ///
        /// # Examples
        ///
        /// ```
        /// static READY: heddle::sync::Condvar = heddle::sync::Condvar::new();
        /// READY.notify_all(); // nobody waits: nothing happens
        /// ```
        pub const fn new() -> Condvar {
            Condvar {
                list: CondList::new(),
            }
        }

        /// Release the mutex of `guard`, park until notified, lock the
        /// mutex again and return its guard. Releasing and starting to
        /// wait are one step for notifiers: a notify made by whoever takes
        /// the mutex next reaches this waiter.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use heddle::sync::{Condvar, Mutex};
        ///
        /// let rt = heddle::Builder::new().workers(1).build()?;
        /// let state = Arc::new((Mutex::new(0), Condvar::new()));
        /// let s = state.clone();
        /// let h = rt.spawn(move || {
        ///     let (lock, cv) = &*s;
        ///     let mut n = lock.lock();
        ///     while *n < 3 {
        ///         n = cv.wait(n);
        ///     }
        ///     *n
        /// });
        /// for _ in 0..3 {
        ///     *state.0.lock() += 1;
        ///     state.1.notify_all();
        /// }
        /// assert_eq!(h.join().unwrap(), 3);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.wait_until(guard, None).0
        }

        /// Wait while `condition` holds of the guarded value: it is checked
        /// first, and again after every wake-up, with the mutex held.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use heddle::sync::{Condvar, Mutex};
        ///
        /// let rt = heddle::Builder::new().workers(2).build()?;
        /// let queue = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        /// let q = queue.clone();
        /// let consumer = rt.spawn(move || {
        ///     let (lock, cv) = &*q;
        ///     let mut items = cv.wait_while(lock.lock(), |items| items.len() < 2);
        ///     items.drain(..).sum::<i32>()
        /// });
        /// for i in [20, 22] {
        ///     queue.0.lock().push(i);
        ///     queue.1.notify_one();
        /// }
        /// assert_eq!(consumer.join().unwrap(), 42);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn wait_while<'a, T: ?Sized, F>(
            &self,
            mut guard: MutexGuard<'a, T>,
            mut condition: F,
        ) -> MutexGuard<'a, T>
        where
            F: FnMut(&mut T) -> bool,
        {
            while condition(&mut *guard) {
                guard = self.wait(guard);
            }
            guard
        }

        /// [`wait`](Self::wait), but for at most `dur`. The result says
        /// whether the time ran out; the guard is returned either way. A
        /// `dur` too long to add to the current time waits without limit.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use heddle::sync::{Condvar, Mutex};
        ///
        /// let rt = heddle::Builder::new().workers(1).build()?;
        /// let timed_out = rt.block_on(|| {
        ///     let (lock, cv) = (Mutex::new(()), Condvar::new());
        ///     cv.wait_timeout(lock.lock(), Duration::from_millis(5)).1.timed_out()
        /// });
        /// assert!(timed_out);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn wait_timeout<'a, T: ?Sized>(
            &self,
            guard: MutexGuard<'a, T>,
            dur: Duration,
        ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
            let deadline = Instant::now().checked_add(dur);
            let (guard, timed_out) = self.wait_until(guard, deadline);
            (guard, WaitTimeoutResult(timed_out))
        }

        /// [`wait_while`](Self::wait_while), but for at most `dur` in all.
        /// The result says whether the time ran out with `condition` still
        /// holding; the guard is returned either way.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        /// use heddle::sync::{Condvar, Mutex};
        ///
        /// let (lock, cv) = (Mutex::new(0), Condvar::new());
        /// let (n, r) = cv.wait_timeout_while(lock.lock(), Duration::from_millis(2), |n| *n == 0);
        /// assert!(r.timed_out());
        /// assert_eq!(*n, 0);
        /// ```
        pub fn wait_timeout_while<'a, T: ?Sized, F>(
            &self,
            mut guard: MutexGuard<'a, T>,
            dur: Duration,
            mut condition: F,
        ) -> (MutexGuard<'a, T>, WaitTimeoutResult)
        where
            F: FnMut(&mut T) -> bool,
        {
            let start = Instant::now();
            loop {
                if !condition(&mut *guard) {
                    return (guard, WaitTimeoutResult(false));
                }
                let Some(left) = dur.checked_sub(start.elapsed()) else {
                    return (guard, WaitTimeoutResult(true));
                };
                guard = self.wait_timeout(guard, left).0;
            }
        }

        /// Wake one waiter, the one that has waited longest, if any.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use heddle::sync::{Condvar, Mutex};
        ///
        /// let rt = heddle::Builder::new().workers(1).build()?;
        /// let permits = Arc::new((Mutex::new(0u32), Condvar::new()));
        /// let p = permits.clone();
        /// let h = rt.spawn(move || {
        ///     let (lock, cv) = &*p;
        ///     let mut n = cv.wait_while(lock.lock(), |n| *n == 0);
        ///     *n -= 1;
        /// });
        /// *permits.0.lock() += 1;
        /// permits.1.notify_one();
        /// h.join().unwrap();
        /// assert_eq!(*permits.0.lock(), 0);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn notify_one(&self) {
            self.list.notify_one();
        }

        /// Wake every waiter.
        ///
        /// # Examples
        ///
        /// ```
        /// use std::sync::Arc;
        /// use heddle::sync::{Condvar, Mutex};
        ///
        /// let rt = heddle::Builder::new().workers(2).build()?;
        /// let gate = Arc::new((Mutex::new(false), Condvar::new()));
        /// let waiters: Vec<_> = (0..10)
        ///     .map(|i| {
        ///         let g = gate.clone();
        ///         rt.spawn(move || {
        ///             let (lock, cv) = &*g;
        ///             drop(cv.wait_while(lock.lock(), |open| !*open));
        ///             i
        ///         })
        ///     })
        ///     .collect();
        /// *gate.0.lock() = true;
        /// gate.1.notify_all();
        /// assert_eq!(waiters.into_iter().map(|h| h.join().unwrap()).sum::<i32>(), 45);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn notify_all(&self) {
            self.list.notify_all();
        }

        /// Steps 2-4 of the protocol (module docs), until `deadline` if
        /// given. Returns the guard and whether the deadline had passed
        /// when the wait ended (read before locking again, so a slow
        /// re-lock does not count as a time-out).
        fn wait_until<'a, T: ?Sized>(
            &self,
            guard: MutexGuard<'a, T>,
            deadline: Option<Instant>,
        ) -> (MutexGuard<'a, T>, bool) {
            let mutex: &'a Mutex<T> = guard.into_locked();
            let mut released = false;
            // A thread's entry, to claim back when it returns (module docs).
            let mut own_entry: Option<Arc<OnceWaker>> = None;
            let register = &mut |waker: Waker| {
                let waker = match waker {
                    Waker::Thread(parker) => {
                        let once = OnceWaker::new(Waker::Thread(parker));
                        own_entry = Some(once.clone());
                        Waker::Once(once)
                    }
                    Waker::Once(once) => {
                        own_entry = Some(once.clone());
                        Waker::Once(once)
                    }
                    fiber => fiber,
                };
                released = true;
                // Last: once queued, the waiter may run elsewhere, and
                // nothing of this frame may be touched.
                self.list.enqueue_releasing(waker, || mutex.release());
                Ok(())
            };
            match deadline {
                None => park::block(Wait::Condvar, register),
                Some(deadline) => park::block_until(Wait::Condvar, register, deadline),
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if let Some(once) = own_entry {
                // Unclaimed: nobody woke us (a stale token, or a time-out
                // the parker saw first); claiming makes the entry dead.
                drop(once.claim());
            }
            if !released {
                // park.rs calls the register step once per block, so this
                // is not reached; if it were, the mutex is still ours.
                // SAFETY: `into_locked` above kept the mutex locked, and
                // nothing released it: this guard is its only one.
                return (unsafe { MutexGuard::still_held(mutex) }, timed_out);
            }
            (mutex.lock(), timed_out)
        }
    }

    impl Default for Condvar {
        /// A condition variable nobody waits on (as [`Condvar::new`]).
        fn default() -> Condvar {
            Condvar::new()
        }
    }

    /// The same output as std's `Condvar`: `Condvar { .. }`.
    impl std::fmt::Debug for Condvar {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Condvar").finish_non_exhaustive()
        }
    }
}
