//! `Mutex`: mutual exclusion that parks fibers, not worker threads, and
//! that is eventually fair.
//!
//! # Protocol
//!
//! `state` holds two bits; waiters queue in `waiters` (a short lock that
//! also orders every hand-off):
//!
//! | `state`            | meaning                                             |
//! |--------------------|-----------------------------------------------------|
//! | 0                  | unlocked, nobody queued                             |
//! | `LOCKED`           | held, nobody queued                                 |
//! | `LOCKED \| PARKED` | held, waiters queued                                |
//! | `PARKED`           | just released, waiters queued (one is being woken)  |
//!
//! - **Lock**: compare-and-swap `0 -> LOCKED` (the whole uncontended
//!   path), or, if `LOCKED` is clear, set it keeping `PARKED`. Otherwise
//!   queue: on the worker's stack after the fiber's context is saved
//!   (park.rs), lock `waiters`, set `PARKED`, re-check `LOCKED` (released
//!   meanwhile: do not park, retry), push `(ticket, since, waker)`. A waiter
//!   that was woken and lost the race to a newcomer queues again at the
//!   *front*, keeping its first `since`.
//! - **Unlock**: compare-and-swap `LOCKED -> 0` (uncontended). With
//!   `PARKED` set: lock `waiters`, pop the first waiter. If it has waited
//!   [`HAND_OFF_AFTER`] or more, *hand the lock off*: `LOCKED` stays set,
//!   `handed` names its ticket, and it wakes owning the lock, so nobody can
//!   barge in. Otherwise release (`state = PARKED` if more wait, else 0)
//!   and wake it to compete, which keeps throughput high while waits are
//!   short (parking_lot's and Go's "eventual fairness").
//! - A woken waiter locks `waiters`: if `handed` is its ticket, it owns the
//!   lock. If its ticket is still queued (a spurious thread wake-up), it
//!   takes it out before trying again, so that no hand-off goes to a
//!   waiter that is not waiting.
//!
//! The race this closes: a release between a waiter's failed try and its
//! registration. The waiter sets `PARKED` and re-checks `LOCKED` under the
//! `waiters` lock; an unlocker that saw `PARKED` takes the same lock
//! before it picks whom to wake; an unlocker that did not see it released
//! with its CAS before the waiter's re-check, which then sees the release.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::loom::{AtomicUsize, Mutex as RawLock, Ordering};
use crate::scheduler::park::{self, Wait, Waker};

/// Held.
const LOCKED: usize = 1;
/// Waiters are queued.
const PARKED: usize = 2;

/// A waiter queued this long or longer is handed the lock at the next
/// unlock instead of competing for it.
pub const HAND_OFF_AFTER: Duration = Duration::from_millis(1);

/// One queued waiter.
#[derive(Debug)]
struct Waiter {
    ticket: u64,
    /// When it first queued (kept when it queues again).
    since: Instant,
    waker: Waker,
}

/// The queue behind [`Mutex::state`]'s `PARKED` bit.
#[derive(Debug)]
struct Waiters {
    queue: VecDeque<Waiter>,
    next_ticket: u64,
    /// The ticket of the waiter the lock was handed to, until it takes it.
    handed: Option<u64>,
}

impl Waiters {
    const fn new() -> Self {
        Waiters {
            queue: VecDeque::new(),
            next_ticket: 0,
            handed: None,
        }
    }
}

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
    /// `LOCKED` and `PARKED` bits; see the module docs.
    state: AtomicUsize,
    waiters: RawLock<Waiters>,
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
    /// A new, unlocked mutex. A `const fn`, as std's is, so a mutex may
    /// live in a `static`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = heddle::sync::Mutex::new(5);
    /// assert_eq!(*m.lock(), 5);
    ///
    /// static NEXT: heddle::sync::Mutex<u32> = heddle::sync::Mutex::new(0);
    /// *NEXT.lock() += 1;
    /// assert_eq!(*NEXT.lock(), 1);
    /// ```
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            state: AtomicUsize::new(0),
            waiters: RawLock::new(Waiters::new()),
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
        if self
            .state
            .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        MutexGuard { lock: self }
    }

    /// Take `LOCKED` if it is clear (keeping `PARKED`).
    fn try_acquire(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    #[cold]
    fn lock_contended(&self) {
        // When this waiter first queued, and its latest ticket.
        let mut since: Option<Instant> = None;
        let mut ticket = u64::MAX;
        loop {
            if self.try_acquire() {
                return;
            }
            park::block(Wait::Mutex, &mut |waker| {
                let mut w = self.waiters.lock();
                // PARKED first, then the re-check (see the module docs).
                if self.state.fetch_or(PARKED, Ordering::AcqRel) & LOCKED == 0 {
                    if w.queue.is_empty() {
                        self.state.fetch_and(!PARKED, Ordering::Relaxed);
                    }
                    return Err(waker); // released meanwhile: try again
                }
                ticket = w.next_ticket;
                w.next_ticket += 1;
                let first = since.is_none();
                let waiter = Waiter {
                    ticket,
                    since: *since.get_or_insert_with(Instant::now),
                    waker,
                };
                if first {
                    w.queue.push_back(waiter);
                } else {
                    w.queue.push_front(waiter); // keep its turn
                }
                Ok(())
            });
            let mut w = self.waiters.lock();
            if w.handed == Some(ticket) {
                w.handed = None;
                return; // handed off: LOCKED was kept set for us
            }
            // Woken to compete, or a spurious wake-up while still queued:
            // then leave the queue before competing.
            if let Some(pos) = w.queue.iter().position(|q| q.ticket == ticket) {
                w.queue.remove(pos);
                if w.queue.is_empty() {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            }
        }
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
        // Not `then_some(MutexGuard { .. })`: its argument is built even
        // when the acquire fails, and dropping that guard would unlock
        // the current holder's lock.
        if self.try_acquire() {
            Some(MutexGuard { lock: self })
        } else {
            None
        }
    }

    fn unlock(&self) {
        if let Some(waiter) = self.release() {
            waiter.wake();
        }
    }

    /// Unlock, handing back the waiter to wake (if one was picked) for the
    /// caller to wake: `unlock`, or a `Condvar` wait once its own lock is
    /// released (condvar.rs).
    #[inline]
    pub(super) fn release(&self) -> Option<Waker> {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return None;
        }
        self.release_contended()
    }

    #[cold]
    fn release_contended(&self) -> Option<Waker> {
        let mut w = self.waiters.lock();
        let Some(first) = w.queue.pop_front() else {
            // PARKED was being cleared by a waiter that gave up queueing.
            self.state.fetch_and(!LOCKED, Ordering::Release);
            return None;
        };
        let parked = if w.queue.is_empty() { 0 } else { PARKED };
        if first.since.elapsed() >= HAND_OFF_AFTER {
            // Hand off: LOCKED stays set, and `handed` (under this lock)
            // carries the ownership and our writes to the value.
            w.handed = Some(first.ticket);
            self.state.store(LOCKED | parked, Ordering::Relaxed);
        } else {
            self.state.store(parked, Ordering::Release);
        }
        drop(w);
        Some(first.waker)
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

/// A new, unlocked mutex holding `value` (as [`Mutex::new`]).
///
/// # Examples
///
/// ```
/// let m = heddle::sync::Mutex::from(7);
/// assert_eq!(*m.lock(), 7);
/// ```
impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

/// The same output as std's `Mutex`: `Mutex { data: .., poisoned: false,
/// .. }`, with `"<locked>"` for the data while another holder has it. A
/// heddle mutex is never poisoned, so `poisoned` is always false.
impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &"<locked>"),
        };
        d.field("poisoned", &false);
        d.finish_non_exhaustive()
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

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex, still locked, with the guard gone: the caller unlocks it
    /// ([`Mutex::release`]) or builds a guard again ([`Mutex::lock`]).
    pub(super) fn into_locked(self) -> &'a Mutex<T> {
        let lock = self.lock;
        core::mem::forget(self);
        lock
    }

    /// A guard for `lock` again, without locking it.
    ///
    /// # Safety
    ///
    /// The caller holds `lock` (it came from [`into_locked`](Self::into_locked)
    /// and was not released since), and no other guard for it exists.
    pub(super) unsafe fn still_held(lock: &'a Mutex<T>) -> Self {
        MutexGuard { lock }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Displays the guarded value, formatting flags and all, as std's guard
/// does.
///
/// # Examples
///
/// ```
/// let m = heddle::sync::Mutex::new(42);
/// assert_eq!(format!("{:>4}", m.lock()), "  42");
/// ```
impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
