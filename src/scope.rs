//! Structured parallelism: `scope` (borrowing fibers, all joined before it
//! returns) and `join` (rayon-style fork-join).
//!
//! # Why `scope` is sound without destructors
//!
//! The fibers of a scope may borrow from outside it, so they must all have
//! finished before `scope` returns. That wait is in `scope`'s own body, after
//! the user closure returned or panicked (the panic is caught first), not in
//! a destructor: no `mem::forget` of any handle can skip it. (A scoped API
//! that waited in a guard's `Drop` was exactly corosensei's soundness bug.)
//! `ScopedJoinHandle`s borrow the scope, so none outlives it either.
//!
//! # Why `join` keeps stacks bounded
//!
//! rayon's `join` runs *stolen* work on the waiting thread's own stack while
//! it waits, so deep recursion stacks frames without bound. Here the waiting
//! side parks its fiber instead; the only work it runs inline is its own
//! `a` and its own `b` (when nobody took `b`), as sequential code would, and
//! only while the current fiber has at least [`JOIN_INLINE_MIN`] bytes of
//! stack left. Below that, `a` runs in a fresh fiber (a fresh stack), `b` is
//! left to its own fiber, and the caller parks. Any recursion depth then
//! costs fibers, not stack.
//!
//! Running `b` inline when it was not stolen is also what keeps fork-join
//! depth-first: with `b` always left to its fiber, FIFO run queues expand
//! the recursion tree breadth-first, with a parked fiber (and a stack) per
//! open node. That made fib(30) 700 times slower than `rayon::join`.

use crate::scheduler::current;
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use core::cell::UnsafeCell;

use crate::fiber::Builder;
use crate::join::{AnyResult, JoinHandle, ResultPacket, publish, wait};
use crate::loom::{Arc, AtomicBool, Mutex, Ordering};
use crate::scheduler::Shared;
use crate::scheduler::packet::Packet;
use crate::scheduler::task::Entry;
use crate::sync::WaitGroup;

/// `join` runs its first closure inline only with at least this much stack
/// left in the current fiber.
pub const JOIN_INLINE_MIN: usize = 32 * 1024;

/// A scope to spawn fibers that borrow from outside it. See [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pending: Arc<WaitGroup>,
    /// The fibers' result packets, lifetime erased (they hold 'scope data):
    /// `scope` drains this before it returns, see `Scope::spawn`.
    packets: Mutex<Vec<Arc<dyn AnyResult>>>,
    shared: Arc<crate::scheduler::Shared>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.pending.count())
            .finish()
    }
}

/// A handle to join one fiber of a [`Scope`].
#[derive(Debug)]
pub struct ScopedJoinHandle<'scope, T> {
    inner: JoinHandle<T>,
    scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Wait for the fiber and return its result (as
    /// [`JoinHandle::join`]). A panic returned here is not re-raised by the
    /// scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let v = vec![1, 2, 3];
    /// let n = rt.block_on(|| heddle::scope(|s| s.spawn(|| v.len()).join().unwrap()));
    /// assert_eq!(n, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(self) -> thread::Result<T> {
        self.inner.join()
    }

    /// Whether the fiber has finished.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// rt.block_on(|| heddle::scope(|s| {
    ///     let h = s.spawn(|| ());
    ///     while !h.is_finished() {
    ///         heddle::yield_now();
    ///     }
    /// }));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawn a fiber that may borrow anything that outlives the scope.
    ///
    /// # Panics
    ///
    /// When no stack can be mapped for it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let mut counts = [0u32; 4];
    /// rt.block_on(|| heddle::scope(|s| {
    ///     for (i, c) in counts.iter_mut().enumerate() {
    ///         s.spawn(move || *c = i as u32 * 10);
    ///     }
    /// }));
    /// assert_eq!(counts, [0, 10, 20, 30]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.pending.add(1);
        // SAFETY: `scope` waits for `pending` to reach zero before returning,
        // and the fiber lowers it only after its closure finished and its
        // result was stored, so nothing borrowed for 'scope expires first.
        let spawned = unsafe {
            Builder::new().spawn_unchecked_with(&self.shared, f, Some(self.pending.clone()))
        };
        match spawned {
            Ok(h) => {
                // The packet's lifetimes were erased by the spawn (see the
                // SAFETY note above): `scope` takes every packet out of this
                // list and drops any result still in it before it returns,
                // while 'scope is still alive.
                let packet: Arc<dyn AnyResult> = h.packet().clone();
                self.packets.lock().push(packet);
                ScopedJoinHandle {
                    inner: h,
                    scope: PhantomData,
                }
            }
            Err(e) => {
                self.pending.done();
                panic!("{e}");
            }
        }
    }
}

/// Run `f` with a [`Scope`] whose fibers may borrow from the caller, and wait
/// for all of them before returning, like `std::thread::scope`.
///
/// If `f` panics, or a fiber panicked and was not joined, the panic is
/// re-raised here, after every fiber of the scope has finished.
///
/// # Panics
///
/// Outside a fiber (use [`Runtime::block_on`](crate::Runtime::block_on) to
/// get into one).
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let data: Vec<u64> = (1..=1000).collect();
/// let total = rt.block_on(|| {
///     heddle::scope(|s| {
///         let hs: Vec<_> = data.chunks(100).map(|c| s.spawn(move || c.iter().sum::<u64>())).collect();
///         hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
///     })
/// });
/// assert_eq!(total, 500_500);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let shared = current::current_shared()
        .expect("heddle::scope called outside a fiber; use Runtime::block_on to get into one");
    let scope = Scope {
        pending: Arc::new(WaitGroup::new()),
        packets: Mutex::new(Vec::new()),
        shared,
        scope: PhantomData,
        env: PhantomData,
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.pending.wait();
    // Every fiber has finished: collect unjoined panics, drop unjoined values.
    let packets = std::mem::take(&mut *scope.packets.lock());
    let mut unjoined_panic = None;
    for p in packets {
        if let Some(payload) = p.take_panic() {
            unjoined_panic.get_or_insert(payload);
        }
    }
    match result {
        Err(payload) => panic::resume_unwind(payload),
        Ok(_) if unjoined_panic.is_some() => panic::resume_unwind(unjoined_panic.expect("checked")),
        Ok(v) => v,
    }
}

/// The `b` of a [`join`], to be run exactly once: by the joiner, inline
/// after `a` (when no other worker took it first), or by the fiber spawned
/// for it (when a worker stole and started that fiber first).
///
/// | `taken` | `f`    | meaning                                   |
/// |---------|--------|-------------------------------------------|
/// | false   | Some   | nobody has claimed it yet                 |
/// | true    | None   | claimed: the claimer runs or drops it     |
struct Claim<B> {
    taken: AtomicBool,
    f: UnsafeCell<Option<B>>,
}

// SAFETY: the closure is moved out exactly once, by whoever wins `taken`.
unsafe impl<B: Send> Sync for Claim<B> {}

impl<B> Claim<B> {
    fn claim(&self) -> Option<B> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: we won the swap, so nobody else reads or writes `f`.
        unsafe { (*self.f.get()).take() }
    }

    fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }
}

/// The fiber spawned for a `join`'s `b`.
struct JoinB<B, RB> {
    claim: Arc<Claim<B>>,
    packet: Arc<ResultPacket<RB>>,
}

impl<B, RB> Entry for JoinB<B, RB>
where
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    fn run(self: Arc<Self>) {
        if let Some(b) = self.claim.claim() {
            publish(&self.packet, || panic::catch_unwind(AssertUnwindSafe(b)));
        }
    }

    fn abandon(self: Arc<Self>, error: std::io::Error) {
        if let Some(b) = self.claim.claim() {
            drop(b);
            publish(&self.packet, || Err(Box::new(error.to_string())));
        }
    }

    fn is_void(&self) -> bool {
        self.claim.is_taken()
    }
}

/// Run `a` and `b` in parallel and return both results, in the shape of
/// `rayon::join`.
///
/// `b` is offered to other workers as a fiber; `a` runs here (or in a fresh
/// fiber when this one's stack runs low). Then, if no other worker has
/// started `b`, it runs here too, depth-first as in sequential code;
/// otherwise the caller parks until the fiber that took it is done. A fiber
/// whose `b` was taken back is retired without ever getting a stack.
///
/// A panic in either is re-raised after both have finished. Outside a fiber
/// the two run one after the other on the calling thread.
///
/// # Examples
///
/// ```
/// fn fib(n: u64) -> u64 {
///     if n < 2 {
///         return n;
///     }
///     let (a, b) = heddle::join(|| fib(n - 1), || fib(n - 2));
///     a + b
/// }
/// let rt = heddle::Builder::new().workers(2).build()?;
/// assert_eq!(rt.block_on(|| fib(20)), 6765);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    if !current::in_fiber() {
        return (a(), b());
    }
    current::with_current_shared(move |shared| join_in(shared, a, b)).expect("inside a fiber")
}

/// [`join`] inside a fiber of `shared`.
fn join_in<A, B, RA, RB>(shared: &Shared, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let claim = Arc::new(Claim {
        taken: AtomicBool::new(false),
        f: UnsafeCell::new(Some(b)),
    });
    let packet = Arc::new(Packet::new());
    let entry = Arc::new(JoinB {
        claim: claim.clone(),
        packet: packet.clone(),
    });
    // SAFETY: before returning or unwinding we either run `b` here (the
    // fiber then finds the claim empty and touches nothing of 'a) or wait
    // for the fiber's result, which it publishes after `b` finished.
    if let Err(e) = unsafe { crate::fiber::spawn_entry(shared, None, None, entry, false) } {
        drop(claim.claim());
        panic!("{e}");
    }
    let stack_ok = current::stack_remaining().is_some_and(|left| left >= JOIN_INLINE_MIN);
    let ra = if stack_ok {
        panic::catch_unwind(AssertUnwindSafe(a))
    } else {
        // SAFETY: joined on the next line, before anything `a` borrows ends.
        match unsafe { Builder::new().spawn_unchecked_with(shared, a, None) } {
            Ok(ha) => ha.join(),
            Err(e) => Err(Box::new(e.to_string()) as Box<dyn Any + Send>),
        }
    };
    let mine = if stack_ok { claim.claim() } else { None };
    let rb = match mine {
        Some(b) => panic::catch_unwind(AssertUnwindSafe(b)),
        None => wait(&packet),
    };
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(p), _) | (_, Err(p)) => panic::resume_unwind(p),
    }
}
