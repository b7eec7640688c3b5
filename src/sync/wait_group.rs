//! `WaitGroup`: wait until a count of outstanding tasks reaches zero.

use super::wait_queue::WaitQueue;
use crate::scheduler::park::{Wait, Waker};

/// A counter that fibers and threads can wait on until it reaches zero, in
/// the manner of Go's `sync.WaitGroup`.
///
/// [`add`](Self::add) raises the count, [`done`](Self::done) lowers it, and
/// [`wait`](Self::wait) parks the caller until it is zero; reaching zero
/// wakes every waiter.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let wg = Arc::new(heddle::sync::WaitGroup::new());
/// let hits = Arc::new(AtomicUsize::new(0));
/// for _ in 0..100 {
///     wg.add(1);
///     let (wg, hits) = (wg.clone(), hits.clone());
///     rt.spawn(move || {
///         hits.fetch_add(1, Ordering::Relaxed);
///         wg.done();
///     });
/// }
/// wg.wait(); // a plain thread: blocks until all 100 are done
/// assert_eq!(hits.load(Ordering::Relaxed), 100);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct WaitGroup {
    queue: WaitQueue<usize, Waker>,
}

// Like std's sync types: a panic cannot leave a WaitGroup half-changed
// (each operation is one update under its lock), so observing it after a
// caught panic is fine.
impl std::panic::UnwindSafe for WaitGroup {}
impl std::panic::RefUnwindSafe for WaitGroup {}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl WaitGroup {
    /// A wait group with a count of zero. A `const fn`, so a wait group
    /// may be a `static` (as Go's zero value is ready to use).
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = heddle::sync::WaitGroup::new();
    /// wg.wait(); // zero: returns at once
    /// assert_eq!(wg.count(), 0);
    ///
    /// static ALL_DONE: heddle::sync::WaitGroup = heddle::sync::WaitGroup::new();
    /// ALL_DONE.add(1);
    /// ALL_DONE.done();
    /// ALL_DONE.wait();
    /// ```
    pub const fn new() -> WaitGroup {
        WaitGroup {
            queue: WaitQueue::new(0),
        }
    }

    /// Raise the count by `n`.
    ///
    /// # Panics
    ///
    /// If the count would overflow `usize` (the count is left as it was).
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = heddle::sync::WaitGroup::new();
    /// wg.add(3);
    /// assert_eq!(wg.count(), 3);
    /// ```
    pub fn add(&self, n: usize) {
        self.queue.update(|count, _| {
            *count = count
                .checked_add(n)
                .expect("WaitGroup::add overflows the counter");
        });
    }

    /// Lower the count by one; at zero, wake every waiter.
    ///
    /// # Panics
    ///
    /// If the count is already zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = heddle::sync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    pub fn done(&self) {
        self.queue.update(|count, wake| {
            assert!(*count > 0, "WaitGroup::done called more times than add");
            *count -= 1;
            if *count == 0 {
                wake.wake_all();
            }
        });
    }

    /// The current count.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = heddle::sync::WaitGroup::new();
    /// wg.add(2);
    /// wg.done();
    /// assert_eq!(wg.count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        self.queue.update(|count, _| *count)
    }

    /// Park the calling fiber (or block the calling thread) until the count
    /// is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let gate = Arc::new(heddle::sync::WaitGroup::new());
    /// gate.add(1);
    /// let waiters: Vec<_> = (0..10)
    ///     .map(|i| {
    ///         let gate = gate.clone();
    ///         rt.spawn(move || {
    ///             gate.wait(); // parks until the gate opens
    ///             i
    ///         })
    ///     })
    ///     .collect();
    /// gate.done(); // opens the gate for all ten
    /// assert_eq!(waiters.into_iter().map(|h| h.join().unwrap()).sum::<i32>(), 45);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait(&self) {
        self.queue
            .wait_until(Wait::Group, |count, _| (*count == 0).then_some(()));
    }
}
