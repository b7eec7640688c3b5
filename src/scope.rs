//! Structured parallelism: `scope`, fibers that may borrow from outside
//! it, all joined before it returns. (Fork-join `join` is in `join.rs`.)
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
use crate::scheduler::current;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use crate::handle::{AnyResult, JoinHandle};
use crate::loom::{Arc, Mutex};
use crate::pool::Pooled;
use crate::spawn::{Options, spawn_with};
use crate::sync::WaitGroup;

/// A scope to spawn fibers that borrow from outside it. See [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pending: Arc<WaitGroup>,
    /// The fibers' result packets, lifetime erased (they hold 'scope data):
    /// `scope` drains this before it returns, see `Scope::spawn`.
    packets: Mutex<Vec<Pooled<dyn AnyResult>>>,
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

    /// The fiber this handle waits for (std's `ScopedJoinHandle::thread`).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// rt.block_on(|| heddle::scope(|s| {
    ///     let h = heddle::fiber::Builder::new().name("scoped").spawn_scoped(s, || ())?;
    ///     assert_eq!(h.fiber().name(), Some("scoped"));
    ///     assert_ne!(h.fiber().id(), heddle::fiber::current().id());
    ///     Ok::<(), std::io::Error>(())
    /// }))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fiber(&self) -> &crate::fiber::Fiber {
        self.inner.fiber()
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
        self.spawn_with_options(Options::default(), f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`spawn`](Self::spawn) with a name and stack size
    /// ([`fiber::Builder::spawn_scoped`](crate::fiber::Builder::spawn_scoped)).
    /// An error leaves the scope as it was.
    pub(crate) fn spawn_with_options<F, T>(
        &'scope self,
        opts: Options,
        f: F,
    ) -> std::io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.pending.add(1);
        // SAFETY: `scope` waits for `pending` to reach zero before returning,
        // and the fiber lowers it only after its closure finished and its
        // result was stored, so nothing borrowed for 'scope expires first.
        let spawned =
            unsafe { spawn_with(&self.shared, opts, f, Some(self.pending.clone()), false) };
        match spawned {
            Ok(h) => {
                // The packet's lifetimes were erased by the spawn (see the
                // SAFETY note above): `scope` takes every packet out of this
                // list and drops any result still in it before it returns,
                // while 'scope is still alive.
                // SAFETY: a trait upcast of the same value.
                let packet = unsafe { h.packet().clone().view(|p| p as *const dyn AnyResult) };
                self.packets.lock().push(packet);
                Ok(ScopedJoinHandle {
                    inner: h,
                    scope: PhantomData,
                })
            }
            Err(e) => {
                self.pending.done();
                Err(e)
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
/// One deliberate difference from `std::thread::scope`: where `f`
/// returned but an unjoined fiber panicked, std raises a new panic whose
/// payload is the message "a scoped thread panicked"; heddle re-raises
/// that fiber's own payload (the first such fiber's, in spawn order), as
/// `rayon::scope` does, so a `catch_unwind` around the scope sees what
/// went wrong. Where `f` itself panicked, both re-raise `f`'s payload.
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
