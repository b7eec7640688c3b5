//! `RwLock`: many readers or one writer, parking fibers, first come first
//! served.
//!
//! # Protocol
//!
//! The state (readers holding it, whether a writer does) and a queue of
//! waiters in arrival order live under one spin lock (`rw_lock/queue.rs`).
//!
//! | step            | who                          | what (under the spin lock) |
//! |-----------------|------------------------------|----------------------------|
//! | enter           | a reader or a writer         | if the lock allows it **and nobody is queued**: take it. Otherwise wait: |
//! | register        | the waiter's register step (after its fiber switched out, park.rs) | the same check again (take it and do not park), else queue `(ticket, access, waker)` |
//! | release         | the holder                   | drop its hold; once no writer and no reader hold it, *grant* it to the front of the queue: a writer alone, or every reader up to the first queued writer (readers += n); wake them after unlocking |
//! | woken           | the waiter                   | its ticket left the queue: it holds the lock (the granter entered it on its behalf) |
//!
//! Queue entries leave only from the front and only by a grant, so "my
//! ticket is no longer queued" is "granted", one comparison with the
//! front's ticket. A thread woken spuriously (a stale parker token) finds
//! its ticket still queued, puts its new waker in its entry and parks
//! again.
//!
//! Fairness: a newcomer never passes a queued waiter, so every waiter
//! gets the lock after the holders and the waiters ahead of it, whatever
//! arrives later: writers are not starved by a stream of readers, nor
//! readers by a stream of writers. The price is that a reader arriving
//! while a writer waits queues behind it, though the lock is read-held.
//!
//! The race closed: a release between a waiter's failed check and its
//! registration. The register step checks again under the spin lock, and
//! a release changes the state under the same lock, so the waiter either
//! sees the release or is queued before it and granted by it. The loom
//! model in `rw_lock/queue.rs` races two waiters against a release.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};

use self::queue::{Access, RwQueue, Ticket};
use crate::scheduler::park::{self, Wait, Waker};

mod queue;

/// A reader-writer lock whose waiters park their fiber (a plain thread
/// blocks instead): any number of readers, or one writer.
///
/// The API is `std::sync::RwLock`'s. As with heddle's
/// [`Mutex`](crate::sync::Mutex), its guards may be held across yields
/// and blocking calls, and there is no poisoning: `read` and `write`
/// return the guard, and the `try_` forms an `Option`, where std returns
/// `LockResult`s. Waiters are served in arrival order, so neither readers
/// nor writers starve: a reader that arrives while a writer waits queues
/// behind it, even if the lock is read-held. (std leaves the policy to
/// the platform.)
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let config = Arc::new(heddle::sync::RwLock::new(String::from("v1")));
/// let readers: Vec<_> = (0..4)
///     .map(|_| {
///         let c = config.clone();
///         rt.spawn(move || c.read().len())
///     })
///     .collect();
/// *config.write() = String::from("v2");
/// for r in readers {
///     assert_eq!(r.join().unwrap(), 2);
/// }
/// assert_eq!(*config.read(), "v2");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RwLock<T: ?Sized> {
    queue: RwQueue<Waker>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one writer at a time and `&T` to
// readers only while no writer holds it (the protocol in the module docs),
// so sharing the lock shares `T` by moving it between threads (Send) and
// by reading it from several at once (Sync), as std's RwLock requires.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

// As std's RwLock is (no poisoning here: a panic while holding a guard
// releases it, and the next holder sees the value as it was left).
impl<T: ?Sized> std::panic::UnwindSafe for RwLock<T> {}
impl<T: ?Sized> std::panic::RefUnwindSafe for RwLock<T> {}

/// Shared access to an [`RwLock`]'s value; releases it when dropped.
///
/// # Examples
///
/// ```
/// let l = heddle::sync::RwLock::new(3);
/// let (a, b) = (l.read(), l.read()); // readers share
/// assert_eq!(*a + *b, 6);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

/// Exclusive access to an [`RwLock`]'s value; releases it when dropped.
///
/// # Examples
///
/// ```
/// let l = heddle::sync::RwLock::new(vec![1]);
/// l.write().push(2);
/// assert_eq!(*l.read(), [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: a read guard gives `&T` only; sharing it shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: a write guard gives `&T` through `&self`; sharing it shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock. A `const fn`, as std's is.
    ///
    /// # Examples
    ///
    /// ```
    /// static TABLE: heddle::sync::RwLock<Vec<u32>> = heddle::sync::RwLock::new(Vec::new());
    /// TABLE.write().push(1);
    /// assert_eq!(TABLE.read().len(), 1);
    /// ```
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            queue: RwQueue::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Consume the lock and return its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = heddle::sync::RwLock::new(String::from("x"));
    /// assert_eq!(l.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, parking the calling fiber (or blocking the thread)
    /// while a writer holds the lock or anyone waits for it.
    ///
    /// Taking a read lock again while already holding one deadlocks as
    /// soon as a writer waits: the second read queues behind the writer,
    /// which waits for the first (std warns of the same with its
    /// writer-preferring platforms).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = heddle::sync::RwLock::new(1);
    /// assert_eq!(*l.read(), 1);
    /// ```
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.acquire(Access::Read);
        RwLockReadGuard { lock: self }
    }

    /// Exclusive access, parking the calling fiber (or blocking the
    /// thread) while anyone holds the lock or waits for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = heddle::sync::RwLock::new(1);
    /// *l.write() += 1;
    /// assert_eq!(*l.read(), 2);
    /// ```
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.acquire(Access::Write);
        RwLockWriteGuard { lock: self }
    }

    /// Shared access if it can be had without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = heddle::sync::RwLock::new(1);
    /// let w = l.write();
    /// assert!(l.try_read().is_none());
    /// drop(w);
    /// assert!(l.try_read().is_some());
    /// ```
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        if self.queue.try_enter(Access::Read) {
            Some(RwLockReadGuard { lock: self })
        } else {
            None
        }
    }

    /// Exclusive access if it can be had without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let l = heddle::sync::RwLock::new(1);
    /// let r = l.read();
    /// assert!(l.try_write().is_none());
    /// drop(r);
    /// assert!(l.try_write().is_some());
    /// ```
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        if self.queue.try_enter(Access::Write) {
            Some(RwLockWriteGuard { lock: self })
        } else {
            None
        }
    }

    /// Mutable access without locking (the `&mut` proves exclusivity).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut l = heddle::sync::RwLock::new(1);
    /// *l.get_mut() = 3;
    /// assert_eq!(*l.read(), 3);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Take `access`, waiting in line (module docs).
    fn acquire(&self, access: Access) {
        if self.queue.try_enter(access) {
            return;
        }
        self.acquire_contended(access);
    }

    #[cold]
    fn acquire_contended(&self, access: Access) {
        let mut ticket: Ticket = None;
        loop {
            park::block(Wait::RwLock, &mut |waker| {
                self.queue.register(access, &mut ticket, waker)
            });
            if self.queue.holds(ticket) {
                return;
            }
        }
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turn write access into read access without letting go: no writer
    /// can come in between, and readers queued at the front of the line
    /// come in with it. As std's `RwLockWriteGuard::downgrade`.
    ///
    /// # Examples
    ///
    /// ```
    /// use heddle::sync::{RwLock, RwLockWriteGuard};
    /// let l = RwLock::new(1);
    /// let mut w = l.write();
    /// *w = 2;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*r, 2);
    /// assert!(l.try_read().is_some()); // other readers may share now
    /// assert!(l.try_write().is_none());
    /// ```
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let lock = this.lock;
        core::mem::forget(this);
        lock.queue.downgrade();
        RwLockReadGuard { lock }
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

/// A new, unlocked lock holding `value` (as [`RwLock::new`]).
///
/// # Examples
///
/// ```
/// let l = heddle::sync::RwLock::from(7);
/// assert_eq!(*l.read(), 7);
/// ```
impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

/// The same output as std's `RwLock`: `RwLock { data: .., poisoned: false,
/// .. }`, with `<locked>` for the data when a reader could not enter now
/// (a writer holds it or waits for it). Never waits.
impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            // Unquoted, as std's RwLock prints it (std's Mutex quotes it).
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &false);
        d.finish_non_exhaustive()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while it holds read access, and
        // no writer holds the lock meanwhile.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while it holds write access, which
        // excludes every other holder.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and `&mut self` makes this access unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.queue.release(Access::Read);
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.queue.release(Access::Write);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Displays the guarded value, as std's guard does.
///
/// # Examples
///
/// ```
/// let l = heddle::sync::RwLock::new(42);
/// assert_eq!(format!("{:>4}", l.read()), "  42");
/// ```
impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Displays the guarded value, as std's guard does.
///
/// # Examples
///
/// ```
/// let l = heddle::sync::RwLock::new(42);
/// assert_eq!(format!("{}", l.write()), "42");
/// ```
impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
