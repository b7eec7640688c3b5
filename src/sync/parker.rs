//! `Parker` and `Unparker`: `thread::park` for fibers, in the shape of
//! crossbeam's `Parker`.
//!
//! The token is a `bool` on the wait queue (wait_queue.rs): `unpark` sets
//! it and wakes the parked waiter, if any; `park` waits until it is set and
//! clears it. Both steps take the queue's lock, so an `unpark` that comes
//! before the `park` leaves the token for it, and one that comes while the
//! waiter registers either finds it queued or is seen by its check.
//! (The runtime's own thread parker, `scheduler/parker.rs`, is a different
//! thing: it puts OS threads to sleep.)

use core::fmt;
use core::marker::PhantomData;
use std::time::{Duration, Instant};

use super::wait_queue::{RECEIVERS, WaitQueue};
use crate::loom::Arc;
use crate::scheduler::park::{Wait, Waker};

/// A token for one fiber (or thread) to wait on, as `thread::park` does
/// for threads: [`park`](Self::park) waits until the token is available
/// and takes it; an [`Unparker`] makes it available. Unlike
/// `thread::park` inside a fiber, which blocks the worker thread, this
/// parks only the fiber.
///
/// The API is crossbeam's `crossbeam_utils::sync::Parker` (without its
/// raw-pointer conversions). A `Parker` belongs to the one fiber that
/// parks on it (it is `Send`, not `Sync`); its `Unparker` may be cloned
/// and used from anywhere.
///
/// A `Parker` is not `Sync`:
///
/// ```compile_fail,E0277
/// fn shared<T: Sync>(_: &T) {}
/// shared(&heddle::sync::Parker::new());
/// ```
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let got = rt.block_on(|| {
///     let p = heddle::sync::Parker::new();
///     let u = p.unparker().clone();
///     let (tx, rx) = heddle::sync::channel();
///     heddle::spawn(move || {
///         tx.send(42).unwrap();
///         u.unpark();
///     });
///     p.park(); // parks this fiber; the worker runs the other one
///     rx.try_recv().unwrap()
/// });
/// assert_eq!(got, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Parker {
    unparker: Unparker,
    /// `!Sync`: one fiber parks on a parker.
    _not_sync: PhantomData<*const ()>,
}

// SAFETY: nothing in a Parker is tied to a thread (the token lives behind
// an Arc of a Sync queue); `_not_sync` only keeps it from being shared.
unsafe impl Send for Parker {}

/// Makes a [`Parker`]'s token available, waking its fiber if it is parked.
///
/// # Examples
///
/// ```
/// let p = heddle::sync::Parker::new();
/// p.unparker().unpark(); // the token is kept for the next park
/// p.park(); // returns at once
/// ```
#[derive(Clone)]
pub struct Unparker {
    /// The token, and the parked waiter if there is one.
    token: Arc<WaitQueue<bool, Waker>>,
}

impl Parker {
    /// A parker whose token is not available.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = heddle::sync::Parker::new();
    /// p.park_timeout(Duration::from_millis(1)); // nobody unparks: times out
    /// ```
    pub fn new() -> Parker {
        Parker {
            unparker: Unparker {
                token: Arc::new(WaitQueue::new(false)),
            },
            _not_sync: PhantomData,
        }
    }

    /// Park until the token is available, then take it. Returns at once
    /// if it already is.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = heddle::sync::Parker::new();
    /// let u = p.unparker().clone();
    /// std::thread::spawn(move || u.unpark());
    /// p.park(); // a plain thread blocks until the unpark
    /// ```
    pub fn park(&self) {
        self.unparker.token.wait_until(Wait::Park, take_token);
    }

    /// Park until the token is available or `timeout` has passed, taking
    /// the token if it came. A `timeout` too long to add to the current
    /// time waits without limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let p = heddle::sync::Parker::new();
    /// let t = Instant::now();
    /// p.park_timeout(Duration::from_millis(5));
    /// assert!(t.elapsed() >= Duration::from_millis(5));
    /// ```
    pub fn park_timeout(&self, timeout: Duration) {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.park_deadline(deadline),
            None => self.park(),
        }
    }

    /// Park until the token is available or `deadline` has come, taking
    /// the token if it came.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let p = heddle::sync::Parker::new();
    /// p.unparker().unpark();
    /// p.park_deadline(Instant::now() + Duration::from_secs(60)); // the token: at once
    /// ```
    pub fn park_deadline(&self, deadline: Instant) {
        let _taken = self
            .unparker
            .token
            .wait_in_until(RECEIVERS, Wait::Park, deadline, take_token);
    }

    /// This parker's unparker (clone it to hand it out).
    ///
    /// # Examples
    ///
    /// ```
    /// let p = heddle::sync::Parker::new();
    /// let u: heddle::sync::Unparker = p.unparker().clone();
    /// u.unpark();
    /// p.park();
    /// ```
    pub fn unparker(&self) -> &Unparker {
        &self.unparker
    }
}

/// The `ready` step of a park: take the token if it is there.
fn take_token(token: &mut bool, _: &mut super::wait_queue::Wakeups<'_, Waker>) -> Option<()> {
    core::mem::take(token).then_some(())
}

impl Unparker {
    /// Make the token available (tokens do not add up: one is kept at
    /// most), and wake the parker's fiber if it is parked.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = heddle::sync::Parker::new();
    /// let u = p.unparker();
    /// u.unpark();
    /// u.unpark(); // still one token
    /// p.park(); // takes it
    /// ```
    pub fn unpark(&self) {
        self.token.update(|token, wake| {
            *token = true;
            wake.wake_one();
        });
    }
}

impl Default for Parker {
    fn default() -> Parker {
        Parker::new()
    }
}

/// As crossbeam's: `Parker { .. }`.
impl fmt::Debug for Parker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Parker { .. }")
    }
}

/// As crossbeam's: `Unparker { .. }`.
impl fmt::Debug for Unparker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Unparker { .. }")
    }
}
