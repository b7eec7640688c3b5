//! `OnceLock` and `LazyLock`: a value written once, whose other callers
//! park their fiber (not the worker) while the first one initializes it.
//!
//! # Protocol
//!
//! `state` says where the value stands; callers that find it `RUNNING`
//! wait on the wait queue (wait_queue.rs) until it is not:
//!
//! | `state`      | meaning                                 | next                        |
//! |--------------|-----------------------------------------|-----------------------------|
//! | `INCOMPLETE` | no value                                | a caller's CAS -> `RUNNING` |
//! | `RUNNING`    | one caller (`initializer`) runs its closure | `COMPLETE` (value written), or `INCOMPLETE` if the closure panicked |
//! | `COMPLETE`   | the value is written and never changes  | (only `&mut self` resets it: `take`) |
//!
//! - **Initialize:** compare-and-swap `INCOMPLETE -> RUNNING` (Acquire),
//!   record who runs it, run the closure, write the value, store
//!   `COMPLETE` (Release), then wake every waiter through the queue.
//!   A panicking closure stores `INCOMPLETE` instead and wakes them too;
//!   one of them initializes next.
//! - **Wait:** under the queue's lock, read `state`; if `RUNNING`, queue.
//!   The initializer changes `state` *before* it takes that lock to wake,
//!   so a waiter either reads the new state or is queued before the wake.
//! - **Read:** `state == COMPLETE` (Acquire) makes the value visible.
//!
//! A caller that finds the cell `RUNNING` with itself as the initializer
//! (its closure called back into the same cell) would wait for itself
//! forever; it panics instead, naming the misuse. std's `OnceLock` leaves
//! that case unspecified (it deadlocks). An initializer that waits for
//! another fiber which in turn waits for the cell still deadlocks, as
//! with std.

use core::cell::UnsafeCell;
use core::fmt;
use core::mem::MaybeUninit;
use core::ops::Deref;
use std::panic::{RefUnwindSafe, UnwindSafe};

use super::wait_queue::WaitQueue;
use crate::loom::{AtomicU8, AtomicU64, Ordering};
use crate::scheduler::current;
use crate::scheduler::park::{Wait, Waker};

/// No value.
const INCOMPLETE: u8 = 0;
/// A caller runs its initializing closure.
const RUNNING: u8 = 1;
/// The value is written.
const COMPLETE: u8 = 2;

/// Who is running an initializer, as [`OnceLock::initializer`] records it:
/// a fiber's id, tagged odd, or (outside fibers) the address of a
/// thread-local of the calling thread, which is even.
fn caller() -> u64 {
    if let Some(task) = current::current_task() {
        // SAFETY: the running task lives at least as long as this call,
        // and its id is not written while it runs.
        return unsafe { (*task).id } << 1 | 1;
    }
    thread_local!(static ME: u8 = const { 0 });
    ME.with(|me| core::ptr::from_ref(me) as u64 & !1)
}

/// A cell written at most once, as std's `OnceLock`, whose waiting
/// callers park their fiber while another initializes it.
///
/// With std's `OnceLock`, a fiber that finds another initializing the
/// cell blocks its worker thread; if the initializer yields or blocks
/// (a heddle channel, `sleep`, a `Mutex`), the worker stalls, and on a
/// runtime of one worker both wait forever. Here the waiter parks and
/// the worker runs the initializer meanwhile.
///
/// Differences from std's: calling back into the same cell from its own
/// initializer panics with a message (std's deadlocks).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use heddle::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
///
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let hs: Vec<_> = (0..4)
///     .map(|_| {
///         rt.spawn(|| {
///             CONFIG
///                 .get_or_init(|| {
///                     heddle::sleep(Duration::from_millis(5)); // the others park meanwhile
///                     String::from("loaded")
///                 })
///                 .len()
///         })
///     })
///     .collect();
/// for h in hs {
///     assert_eq!(h.join().unwrap(), 6);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct OnceLock<T> {
    state: AtomicU8,
    /// Who runs the initializer while `state` is `RUNNING` ([`caller`]).
    initializer: AtomicU64,
    waiters: WaitQueue<(), Waker>,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by the one caller whose CAS took the
// cell to RUNNING, before the Release store of COMPLETE; it is read only
// after an Acquire load of COMPLETE, and then never written again (`take`
// and `get_mut` need `&mut self`). So sharing the cell shares `&T`
// (T: Sync) and may move a T in from another thread (T: Send), as std's.
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: the cell owns its T.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell. A `const fn`, as std's is.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell: heddle::sync::OnceLock<u32> = heddle::sync::OnceLock::new();
    /// assert_eq!(cell.get(), None);
    /// ```
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            state: AtomicU8::new(INCOMPLETE),
            initializer: AtomicU64::new(0),
            waiters: WaitQueue::new(()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if it has been written.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = heddle::sync::OnceLock::new();
    /// assert_eq!(cell.get(), None);
    /// cell.set(5).unwrap();
    /// assert_eq!(cell.get(), Some(&5));
    /// ```
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == COMPLETE {
            // SAFETY: COMPLETE (Acquire) means the value was written and
            // is never written again while shared (protocol, module docs).
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, mutably, if it has been written (`&mut self`: nobody
    /// else can be initializing it).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cell = heddle::sync::OnceLock::from(1);
    /// *cell.get_mut().unwrap() += 1;
    /// assert_eq!(cell.get(), Some(&2));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if *self.state.get_mut() == COMPLETE {
            // SAFETY: written (COMPLETE), and `&mut self` is unique.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// Write `value` if the cell is empty; if it has a value (or gets one
    /// from a concurrent initializer first), `value` comes back.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = heddle::sync::OnceLock::new();
    /// assert_eq!(cell.set(1), Ok(()));
    /// assert_eq!(cell.set(2), Err(2));
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("the initializer runs once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// The value, running `f` to write it if the cell is empty. Exactly
    /// one caller runs its `f`; the others park until it is done. If `f`
    /// panics, the panic goes to its caller, the cell stays empty, and a
    /// waiting caller runs its own `f`.
    ///
    /// # Panics
    ///
    /// If `f` calls back into this same cell's initialization (it would
    /// wait for itself forever), and whatever `f` panics with.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = heddle::sync::OnceLock::new();
    /// assert_eq!(*cell.get_or_init(|| 92), 92);
    /// assert_eq!(*cell.get_or_init(|| unreachable!()), 92);
    /// ```
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.get() {
            return v;
        }
        self.initialize(f);
        self.get().expect("initialized")
    }

    /// Take the value out, leaving the cell empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cell = heddle::sync::OnceLock::from(String::from("x"));
    /// assert_eq!(cell.take().as_deref(), Some("x"));
    /// assert_eq!(cell.get(), None);
    /// ```
    pub fn take(&mut self) -> Option<T> {
        if *self.state.get_mut() != COMPLETE {
            return None;
        }
        *self.state.get_mut() = INCOMPLETE;
        // SAFETY: it was written (COMPLETE), and the state now says it is
        // not, so it is read out exactly once.
        Some(unsafe { self.value.get_mut().assume_init_read() })
    }

    /// The value, consuming the cell.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = heddle::sync::OnceLock::from(3);
    /// assert_eq!(cell.into_inner(), Some(3));
    /// ```
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// The slow path of [`get_or_init`](Self::get_or_init): initialize, or
    /// wait while another does. Returns once the cell is `COMPLETE`.
    #[cold]
    fn initialize<F: FnOnce() -> T>(&self, f: F) {
        let me = caller();
        loop {
            match self.state.compare_exchange(
                INCOMPLETE,
                RUNNING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.initializer.store(me, Ordering::Relaxed);
                    self.run(f);
                    return;
                }
                Err(COMPLETE) => return,
                Err(_) => {
                    assert!(
                        self.initializer.load(Ordering::Relaxed) != me,
                        "heddle::sync::OnceLock initialized from within its own initializer"
                    );
                    // Under the queue's lock: the initializer changes the
                    // state before it takes that lock to wake us.
                    self.waiters.wait_until(Wait::Init, |_, _| {
                        (self.state.load(Ordering::Acquire) != RUNNING).then_some(())
                    });
                }
            }
        }
    }

    /// Run `f` as the initializer (state `RUNNING`, ours) and publish the
    /// outcome: `COMPLETE` with the value, or `INCOMPLETE` if `f` panicked
    /// (then the panic goes on to our caller). Wakes every waiter either
    /// way.
    fn run<F: FnOnce() -> T>(&self, f: F) {
        /// Wakes the waiters whichever way `run` ends.
        struct Publish<'a, T> {
            cell: &'a OnceLock<T>,
            state: u8,
        }
        impl<T> Drop for Publish<'_, T> {
            fn drop(&mut self) {
                self.cell.initializer.store(0, Ordering::Relaxed);
                self.cell.state.store(self.state, Ordering::Release);
                self.cell.waiters.update(|_, wake| wake.wake_all());
            }
        }
        let mut publish = Publish {
            cell: self,
            state: INCOMPLETE, // until `f` returns
        };
        let value = f();
        // SAFETY: state RUNNING is ours (our CAS), so nobody else reads or
        // writes the value until our Release store of COMPLETE.
        unsafe { (*self.value.get()).write(value) };
        publish.state = COMPLETE;
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == COMPLETE {
            // SAFETY: written (COMPLETE), dropped once, here.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

/// A cell that already holds `value`.
///
/// # Examples
///
/// ```
/// let cell = heddle::sync::OnceLock::from(7);
/// assert_eq!(cell.get(), Some(&7));
/// ```
impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> OnceLock<T> {
        match self.get() {
            Some(v) => OnceLock::from(v.clone()),
            None => OnceLock::new(),
        }
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

/// The same output as std's: `OnceLock(value)` or `OnceLock(<uninit>)`.
impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

/// A value computed on first use, as std's `LazyLock`, on a
/// [`OnceLock`]: callers that come while the first one computes it park
/// their fiber.
///
/// If the initializer panics, the `LazyLock` is poisoned, as std's:
/// every later access panics.
///
/// # Examples
///
/// ```
/// use heddle::sync::LazyLock;
///
/// static SQUARES: LazyLock<Vec<u64>> = LazyLock::new(|| (0..10).map(|i| i * i).collect());
///
/// let rt = heddle::Builder::new().workers(2).build()?;
/// assert_eq!(rt.block_on(|| SQUARES[9]), 81);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    /// Taken by the one initializer (state `RUNNING` guards it).
    init: UnsafeCell<Option<F>>,
}

// SAFETY: `init` is taken only inside the cell's initializer, which one
// caller at a time runs (the cell's RUNNING state), so sharing the
// LazyLock moves F to that caller (F: Send) and shares &T as OnceLock does.
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A value that `f` computes on first use. A `const fn`, as std's is.
    ///
    /// # Examples
    ///
    /// ```
    /// let lazy = heddle::sync::LazyLock::new(|| 6 * 7);
    /// assert_eq!(*lazy, 42);
    /// ```
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            cell: OnceLock::new(),
            init: UnsafeCell::new(Some(f)),
        }
    }

    /// The value, computing it first if nobody has.
    ///
    /// # Panics
    ///
    /// If the initializer panics, or panicked before (poisoned).
    ///
    /// # Examples
    ///
    /// ```
    /// use heddle::sync::LazyLock;
    /// let lazy = LazyLock::new(|| String::from("once"));
    /// assert_eq!(LazyLock::force(&lazy), "once");
    /// ```
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| {
            // SAFETY: we run as the cell's one initializer (RUNNING is
            // ours), so nobody else touches `init` now.
            match unsafe { (*this.init.get()).take() } {
                Some(f) => f(),
                None => panic!("LazyLock instance has previously been poisoned"),
            }
        })
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    /// A `LazyLock` whose value is `T::default()`.
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

/// As std's: `LazyLock(value)` once computed, `LazyLock(<uninit>)`
/// before (formatting never computes it).
impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
