//! `Mutex`: mutual exclusion that parks fibers, not worker threads.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};

use super::wait_queue::WaitQueue;
use crate::scheduler::park::Waker;

/// A mutual-exclusion lock whose waiters park their fiber (a plain thread
/// blocks instead).
///
/// Unlike `std::sync::Mutex`, its guard may be held across
/// [`yield_now`](crate::yield_now) and blocking calls, even though the fiber
/// may resume on another worker thread: the lock is not tied to an OS
/// thread. There is no poisoning: a panic while holding the guard unlocks
/// it, and the next holder sees the value as the panicking one left it.
/// Like std's `Mutex` it is `UnwindSafe` and `RefUnwindSafe`, so it may be
/// used across `catch_unwind`; check your invariants after a caught panic.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let counter = Arc::new(heddle::sync::Mutex::new(0u64));
/// let hs: Vec<_> = (0..100)
///     .map(|_| {
///         let c = counter.clone();
///         rt.spawn(move || {
///             let mut g = c.lock();
///             heddle::yield_now(); // held across a yield: fine
///             *g += 1;
///         })
///     })
///     .collect();
/// hs.into_iter().for_each(|h| h.join().unwrap());
/// assert_eq!(*counter.lock(), 100);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Mutex<T: ?Sized> {
    /// `true` while locked; waiters queue for the unlock.
    queue: WaitQueue<bool, Waker>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one holder at a time, so
// sharing the Mutex shares T only by moving access between threads.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: as above; the Mutex owns its T.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

// As std's Mutex is (see "There is no poisoning" above: a panic while
// holding the guard unlocks it, and the next holder sees whatever state the
// panicking one left, as with parking_lot).
impl<T: ?Sized> std::panic::UnwindSafe for Mutex<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for Mutex<T> {}

/// Access to a [`Mutex`]'s value; unlocks when dropped.
///
/// # Examples
///
/// ```
/// let m = heddle::sync::Mutex::new(vec![1]);
/// m.lock().push(2);
/// assert_eq!(*m.lock(), [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
}

// SAFETY: the guard gives &T and &mut T; sharing it across threads shares &T.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = heddle::sync::Mutex::new(5);
    /// assert_eq!(*m.lock(), 5);
    /// ```
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            queue: WaitQueue::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Consume the mutex and return its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = heddle::sync::Mutex::new(String::from("x"));
    /// assert_eq!(m.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Lock, parking the calling fiber (or blocking the thread) while another
    /// holder has it.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = heddle::sync::Mutex::new(1);
    /// *m.lock() += 1;
    /// assert_eq!(*m.lock(), 2);
    /// ```
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.queue
            .wait_until(|locked, _| (!*locked).then(|| *locked = true));
        MutexGuard { lock: self }
    }

    /// Lock if nobody holds it, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = heddle::sync::Mutex::new(1);
    /// let g = m.lock();
    /// assert!(m.try_lock().is_none());
    /// drop(g);
    /// assert!(m.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let took = self
            .queue
            .update(|locked, _| !std::mem::replace(locked, true));
        took.then_some(MutexGuard { lock: self })
    }

    /// Mutable access without locking (the `&mut` proves exclusivity).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = heddle::sync::Mutex::new(1);
    /// *m.get_mut() = 3;
    /// assert_eq!(*m.lock(), 3);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Some(g) => f.debug_struct("Mutex").field("value", &&*g).finish(),
            None => f.debug_struct("Mutex").field("value", &"<locked>").finish(),
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held by it.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this access unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.queue.update(|locked, wake| {
            *locked = false;
            wake.wake_one();
        });
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
