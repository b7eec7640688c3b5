//! Fibers: spawning with options, and who is running.
//!
//! This module mirrors `std::thread`'s: a [`Builder`] for named fibers and
//! custom stack sizes with a fallible `spawn`, a [`Fiber`] handle with an id
//! and a name, and [`current`](fn@current) to ask which fiber is running.

use crate::scheduler::current;
use crate::scheduler::suspend;
use std::io;

use crate::handle::JoinHandle;
pub use crate::handle::{Fiber, FiberId};
use crate::loom::Arc;
use crate::runtime::Runtime;
use crate::scheduler::Shared;
use crate::scheduler::park::Wait;
use crate::scope::{Scope, ScopedJoinHandle};
use crate::spawn::{Options, StaysOnThisThread, spawn_with};

/// The fiber running this code.
///
/// # Panics
///
/// Outside a fiber. See [`try_current`] for a version that does not.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let named = rt.block_on(|| heddle::fiber::current().name().is_some());
/// assert!(!named);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn current() -> Fiber {
    try_current().expect("heddle::fiber::current() called outside a fiber")
}

/// The fiber running this code, or `None` on a plain thread.
///
/// # Examples
///
/// ```
/// assert!(heddle::fiber::try_current().is_none());
/// let rt = heddle::Builder::new().workers(1).build()?;
/// assert!(rt.block_on(|| heddle::fiber::try_current().is_some()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn try_current() -> Option<Fiber> {
    let task = current::current_task()?;
    // SAFETY: the running task lives at least as long as this call, and we
    // are on its stack, so nobody else touches its id and name.
    unsafe { Some(Fiber::new((*task).id, (*task).name.clone())) }
}

/// Options for spawning a fiber: a name and a stack size.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let h = heddle::fiber::Builder::new()
///     .name("big-stack")
///     .stack_size(1 << 20)
///     .spawn_on(&rt, || {
///         let buf = [1u8; 512 * 1024]; // too big for the default stack
///         buf.iter().map(|&b| b as u64).sum::<u64>()
///     })?;
/// assert_eq!(h.join().unwrap(), 512 * 1024);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    fn options(self) -> Options {
        Options {
            name: self.name,
            stack_size: self.stack_size,
        }
    }

    /// Default options: no name, the runtime's stack size.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = heddle::fiber::Builder::new();
    /// # let _ = b;
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Name the fiber. The name shows in [`Fiber::name`] and in the stack
    /// overflow report.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let h = heddle::fiber::Builder::new().name("io").spawn_on(&rt, || ())?;
    /// assert_eq!(h.fiber().name(), Some("io"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The fiber's stack size in bytes (rounded up to whole pages). A size
    /// other than the runtime's default gets its own mapping at spawn,
    /// released when the fiber finishes; default-size stacks are pooled.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let tiny = heddle::fiber::Builder::new().stack_size(100).spawn_on(&rt, || ());
    /// assert!(tiny.unwrap_err().to_string().contains("below the minimum"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawn the fiber on the current fiber's runtime.
    ///
    /// # Errors
    ///
    /// - called outside a fiber (use [`spawn_on`](Self::spawn_on));
    /// - the stack size is below the minimum;
    /// - stacks cannot be mapped (out of memory, `RLIMIT_AS`, the kernel's
    ///   mapping limit). The message says what ran out.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let v = rt.block_on(|| heddle::fiber::Builder::new().spawn(|| 5).unwrap().join().unwrap());
    /// assert_eq!(v, 5);
    /// // Outside any runtime the fallible spawn reports it:
    /// assert!(heddle::fiber::Builder::new().spawn(|| ()).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        current::with_current_shared(move |shared| self.spawn_in(shared, f)).unwrap_or_else(|| {
            Err(io::Error::other(
                "heddle: fiber::Builder::spawn called outside a fiber; use spawn_on(&runtime, f)",
            ))
        })
    }

    /// Spawn the fiber on `runtime`, from any thread.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Self::spawn), except that it works outside a fiber.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let h = heddle::fiber::Builder::new().spawn_on(&rt, || "hi")?;
    /// assert_eq!(h.join().unwrap(), "hi");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_on<F, T>(self, runtime: &Runtime, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_in(runtime.shared(), f)
    }

    /// Spawn the fiber in `scope`, as [`Scope::spawn`] does, with this
    /// builder's name and stack size: std's `thread::Builder::spawn_scoped`.
    ///
    /// # Errors
    ///
    /// A stack size out of range, or a stack that cannot be mapped; the
    /// scope carries on without the fiber.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let data = vec![7u8; 300 * 1024];
    /// let total = rt.block_on(|| {
    ///     heddle::scope(|s| {
    ///         let h = heddle::fiber::Builder::new()
    ///             .name("summer")
    ///             .stack_size(1 << 20)
    ///             .spawn_scoped(s, || {
    ///                 let copy = [0u8; 400 * 1024]; // too big for the default stack
    ///                 assert_eq!(heddle::fiber::current().name(), Some("summer"));
    ///                 data.iter().map(|&b| u64::from(b)).sum::<u64>() + u64::from(copy[1])
    ///             })?;
    ///         Ok::<u64, std::io::Error>(h.join().unwrap())
    ///     })
    /// })?;
    /// assert_eq!(total, 7 * 300 * 1024);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        scope.spawn_with_options(self.options(), f)
    }

    pub(crate) fn spawn_in<F, T>(self, shared: &Shared, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: F and T are 'static, so nothing they borrow can expire.
        unsafe { self.spawn_unchecked_with(shared, f, None) }
    }

    /// Spawn a fiber pinned to the current worker: it never leaves the
    /// worker thread it was spawned on, so its closure need not be `Send`
    /// and it may keep `Rc`s, `RefCell` borrows of thread-locals and other
    /// `!Send` state across yields and blocking calls. See
    /// [`spawn_local`] for what pinning means.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Self::spawn): outside a fiber, a stack size out of
    /// range, or stacks that cannot be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let n = rt.block_on(|| {
    ///     let shared = Rc::new(std::cell::Cell::new(1));
    ///     let mine = shared.clone();
    ///     let h = heddle::fiber::Builder::new()
    ///         .name("local")
    ///         .spawn_local(move || {
    ///             heddle::yield_now(); // still on the same thread after this
    ///             mine.set(mine.get() + 1);
    ///             mine.get()
    ///         })
    ///         .unwrap();
    ///     h.join().unwrap() + shared.get()
    /// });
    /// assert_eq!(n, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_local<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + 'static,
        T: Send + 'static,
    {
        let f = StaysOnThisThread(f);
        let spawned = current::with_current_shared(move |shared| {
            // SAFETY: F and T are 'static. `pin` keeps the closure on this
            // worker's thread (see StaysOnThisThread).
            unsafe { spawn_with(shared, self.options(), move || f.call(), None, true) }
        });
        spawned.unwrap_or_else(|| {
            Err(io::Error::other(
                "heddle: spawn_local called outside a fiber; a pinned fiber is spawned from a \
                 fiber, onto that fiber's worker",
            ))
        })
    }

    /// Spawn without requiring `'static`.
    ///
    /// # Safety
    ///
    /// The caller must make sure the fiber finishes (its closure has run or
    /// been dropped) before anything `f` or `T` borrows goes away.
    /// `done`, if given, is lowered once the fiber's result is stored.
    pub(crate) unsafe fn spawn_unchecked_with<'a, F, T>(
        self,
        shared: &Shared,
        f: F,
        done: Option<Arc<crate::sync::WaitGroup>>,
    ) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'a,
        T: Send + 'a,
    {
        // SAFETY: passed on from our caller.
        unsafe { spawn_with(shared, self.options(), f, done, false) }
    }
}

/// Spawn a fiber pinned to the current worker, for state that must not
/// change threads.
///
/// The new fiber runs only on the worker thread that spawned it: it is
/// never stolen and never migrates. So its closure need not be `Send`, and
/// it may hold `Rc`s, `RefCell` borrows, references from `thread_local!`
/// and other thread-bound state across [`yield_now`] and every blocking
/// call of this crate. Its result still crosses to whoever joins it, hence
/// `T: Send`.
///
/// The calling fiber is pinned to the same worker from now on as well:
/// the closure may share `!Send` values with it (an `Rc` clone kept by the
/// caller), and both must stay on one thread for that to be sound. Other
/// fibers keep full work stealing, and a worker with pinned fibers still
/// steals.
///
/// # Panics
///
/// Outside a fiber (pinned fibers are spawned from a fiber, onto its
/// worker), or when no stack can be mapped; use
/// [`Builder::spawn_local`] to get an error instead.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let total = rt.block_on(|| {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let hs: Vec<_> = (0..4)
///         .map(|i| {
///             let log = log.clone();
///             heddle::spawn_local(move || {
///                 log.borrow_mut().push(i);
///                 heddle::yield_now();
///                 log.borrow().len()
///             })
///         })
///         .collect();
///     let seen: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
///     assert_eq!(log.borrow().len(), 4);
///     seen
/// });
/// assert_eq!(total, 16); // each saw all four pushes after its yield
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_local<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn_local(f) {
        Ok(h) => h,
        Err(e) => panic!("{e}"),
    }
}

/// Spawn a fiber on the current fiber's runtime.
///
/// Inside a fiber, the new fiber goes to the current worker's run queue, from
/// where idle workers may steal it.
///
/// # Panics
///
/// Outside a fiber, or when no stack can be mapped for it (with the message
/// of [`Builder::spawn`]'s error). Use [`Runtime::spawn`] from plain threads
/// and [`Builder::spawn`] to handle errors.
///
/// # Examples
///
/// ```
/// let rt = heddle::Runtime::new()?;
/// let v = rt.block_on(|| heddle::spawn(|| 1 + 1).join().unwrap());
/// assert_eq!(v, 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let spawned = current::with_current_shared(move |shared| Builder::new().spawn_in(shared, f));
    match spawned {
        Some(Ok(h)) => h,
        Some(Err(e)) => panic!("{e}"),
        None => panic!(
            "heddle::spawn called outside a heddle runtime; use Runtime::spawn or \
             Runtime::block_on"
        ),
    }
}

/// Put the current fiber to sleep for at least `duration`; its worker runs
/// other fibers meanwhile. Outside a fiber it sleeps the thread. A
/// duration past `Instant`'s range (`Duration::MAX`) sleeps for good, as
/// `std::thread::sleep` does.
///
/// The fiber's timer is fired by its worker between fibers, or by the
/// runtime's timer thread when that worker is busy or asleep; another
/// worker then runs the fiber. A pinned fiber (`spawn_local`) can only
/// run on its own worker, so its wake-up waits for that worker.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let t = Instant::now();
/// rt.block_on(|| {
///     // Ten fibers sleep at once on one worker: about 20 ms in all, not 200.
///     let hs: Vec<_> = (0..10).map(|_| heddle::spawn(|| heddle::sleep(Duration::from_millis(20)))).collect();
///     hs.into_iter().for_each(|h| h.join().unwrap());
/// });
/// assert!(t.elapsed() >= Duration::from_millis(20));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sleep(duration: std::time::Duration) {
    if !suspend::block_as_fiber() {
        std::thread::sleep(duration);
        return;
    }
    let Some(deadline) = std::time::Instant::now().checked_add(duration) else {
        // Past `Instant`'s range: sleep for good, as std's sleep does.
        // Nothing holds the waker, so nothing ever wakes the fiber.
        loop {
            crate::scheduler::park::block(Wait::Sleep(None), &mut |_waker| Ok(()));
        }
    };
    while std::time::Instant::now() < deadline {
        // Nothing but the timer holds the waker.
        crate::scheduler::park::block_until(
            Wait::Sleep(Some(deadline)),
            &mut |_waker| Ok(()),
            deadline,
        );
    }
}

/// Let the current worker run its other Ready fibers, then continue.
///
/// Outside a fiber it yields the OS thread (`std::thread::yield_now`).
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let order = rt.block_on(|| {
///     let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
///     let l = log.clone();
///     let h = heddle::spawn(move || l.lock().unwrap().push("child"));
///     heddle::yield_now(); // the child runs here
///     log.lock().unwrap().push("parent");
///     h.join().unwrap();
///     std::sync::Arc::try_unwrap(log).unwrap().into_inner().unwrap()
/// });
/// assert_eq!(order, ["child", "parent"]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn yield_now() {
    if !suspend::yield_now() {
        std::thread::yield_now();
    }
}
