//! The lock inside every wait queue: a spin lock whose unlock is a plain
//! release store.
//!
//! # Why not parking_lot's mutex
//!
//! A wait queue's critical sections are a few dozen instructions (check a
//! condition, push or pop a waiter), and nobody ever blocks while holding
//! the lock: waiters block only after it is released. A parking mutex must
//! unlock with an atomic read-modify-write (it has to see whether someone
//! parked), and on x86-64 every such instruction drains the store buffer.
//! A channel ping-pong round trip took eight lock round trips, so sixteen
//! locked instructions; the spin lock's unlock is an ordinary store, which
//! halves that (figures in `BENCHMARKS.md`). crossbeam-channel guards its
//! wait lists the same way.
//!
//! # Protocol
//!
//! | step     | operation                                                   |
//! |----------|-------------------------------------------------------------|
//! | lock     | CAS `locked` false -> true (Acquire); on failure spin on a relaxed load with crossbeam's `Backoff`, which yields the OS thread once spinning is done, then CAS again |
//! | unlock   | store `locked` = false (Release), when the guard drops       |
//!
//! The release store of an unlock and the acquire CAS of the next lock
//! order every access to the value. A holder the OS preempts delays the
//! others by one time slice at most: they yield their threads to it.
//!
//! Under loom the lock is loom's mutex, with the same API, so the models
//! of the protocols built on it (wait_queue.rs) run unchanged; the flag
//! protocol above is the textbook one and has no model of its own.

#[cfg(not(loom))]
pub(crate) use self::imp::{SpinGuard, SpinLock};
#[cfg(loom)]
pub(crate) use crate::loom::{Mutex as SpinLock, MutexGuard as SpinGuard};

#[cfg(not(loom))]
mod imp {
    use core::cell::UnsafeCell;
    use core::ops::{Deref, DerefMut};
    use std::sync::atomic::{AtomicBool, Ordering};

    use crossbeam_utils::Backoff;

    /// See the module docs.
    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out access to `value` to one holder at a time
    // (the flag protocol in the module docs), so sharing the lock shares
    // `T` only by moving access between threads.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    impl<T: core::fmt::Debug> core::fmt::Debug for SpinLock<T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("SpinLock { .. }")
        }
    }

    /// Holds the lock; unlocks when dropped.
    pub(crate) struct SpinGuard<'a, T> {
        lock: &'a SpinLock<T>,
    }

    impl<T> SpinLock<T> {
        pub(crate) const fn new(value: T) -> Self {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinGuard { lock: self }
        }

        #[cold]
        fn lock_contended(&self) {
            let backoff = Backoff::new();
            loop {
                while self.locked.load(Ordering::Relaxed) {
                    backoff.snooze();
                }
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.locked.store(false, Ordering::Release);
        }
    }

    impl<T> Deref for SpinGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the guard holds the lock, so no one else accesses the
            // value until it drops.
            unsafe { &*self.lock.value.get() }
        }
    }

    impl<T> DerefMut for SpinGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in `deref`, and `&mut self` makes this the one
            // reference through the guard.
            unsafe { &mut *self.lock.value.get() }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::SpinLock;
        use std::sync::Arc;

        /// Four threads add under the lock, more threads than this
        /// machine's cores: no increment is lost.
        #[test]
        fn no_increment_is_lost() {
            let lock = Arc::new(SpinLock::new(0u64));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let lock = lock.clone();
                    std::thread::spawn(move || {
                        for _ in 0..100_000 {
                            *lock.lock() += 1;
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(*lock.lock(), 400_000);
        }
    }
}
