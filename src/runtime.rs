//! The runtime: worker threads and their shared state.

use crate::scheduler::current;
use std::fmt;
use std::panic;
use std::time::Duration;

use crate::dump::{self, FiberInfo};
use crate::handle::JoinHandle;
use crate::loom::Arc;
use crate::scheduler::{Shared, StatsCell};
use crate::spawn::{Options, spawn_with};
use crate::stack;

/// A pool of worker threads running fibers.
///
/// # Shutdown
///
/// Dropping a `Runtime` waits until every fiber spawned on it has finished
/// (detached ones included), then stops and joins the worker threads and
/// unmaps every stack. A fiber that never finishes (blocked forever, or
/// looping) therefore makes the drop wait forever, as joining a thread would.
///
/// Dropped inside one of its own fibers (the last `Arc<Runtime>` let go
/// there, say), a runtime cannot wait for itself. The drop then returns at
/// once and the runtime keeps running without an owner: its fibers, the
/// dropping one included, run to their end, and then a helper thread stops
/// and joins the workers and frees the stacks, as a drop outside would have.
///
/// [`shutdown_timeout`](Runtime::shutdown_timeout) bounds the wait: past
/// its timeout the runtime goes on without an owner in the same way.
///
/// # Examples
///
/// ```
/// let rt = heddle::Runtime::new()?;
/// let total: u64 = rt.block_on(|| {
///     let hs: Vec<_> = (0..100u64).map(|i| heddle::spawn(move || i)).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).sum()
/// });
/// assert_eq!(total, 4950);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    /// The timer keeper (timers.rs) and the monitor (monitor.rs), joined
    /// at shutdown after the workers.
    helpers: Vec<std::thread::JoinHandle<()>>,
    /// Set once a helper thread took the shutdown over
    /// (`shut_down_in_background`): the drop has nothing left to do.
    handed_off: bool,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}

/// Counters of one worker since the runtime started, for benchmarks.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(2).build()?;
/// rt.block_on(|| (0..10).map(|_| heddle::spawn(|| ())).for_each(|h| h.join().unwrap()));
/// let run: u64 = rt.stats().iter().map(|s| s.fibers_run).sum();
/// assert_eq!(run, 11); // the root fiber and its ten children
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Fibers started on this worker.
    pub fibers_run: u64,
    /// Switches into fibers (first runs and resumptions).
    pub switches: u64,
    /// Attempts to steal from another worker's queue.
    pub steals_tried: u64,
    /// Attempts that took at least one fiber.
    pub steals: u64,
    /// Times the worker went to sleep for lack of work.
    pub parks: u64,
    /// Fibers reported for holding this worker past the stall threshold
    /// ([`Builder::stall_threshold`](crate::Builder::stall_threshold)).
    pub stalls: u64,
}

impl WorkerStats {
    fn read(c: &StatsCell) -> WorkerStats {
        use crate::loom::Ordering::Relaxed;
        WorkerStats {
            fibers_run: c.fibers_run.load(Relaxed),
            switches: c.switches.load(Relaxed),
            steals_tried: c.steals_tried.load(Relaxed),
            steals: c.steals.load(Relaxed),
            parks: c.parks.load(Relaxed),
            stalls: c.stalls.load(Relaxed),
        }
    }
}

impl Runtime {
    /// A runtime over `shared`, with its timer keeper and monitor threads (the worker
    /// threads are started by `Builder::build` after this).
    pub(crate) fn from_parts(
        shared: Arc<Shared>,
        keeper: std::thread::JoinHandle<()>,
        monitor: Option<std::thread::JoinHandle<()>>,
    ) -> Runtime {
        Runtime {
            shared,
            helpers: vec![Some(keeper), monitor].into_iter().flatten().collect(),
            handed_off: false,
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Number of worker threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// assert_eq!(rt.workers(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.workers()
    }

    /// Every live fiber of this runtime: id, name, and what it is doing
    /// (running where and for how long, ready, or what it waits on). A
    /// snapshot, cheap enough to take in production: see [`dump`]
    /// for how it is taken and what it costs.
    ///
    /// # Examples
    ///
    /// ```
    /// use heddle::dump::FiberState;
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let (tx, rx) = heddle::sync::channel::<u32>();
    /// let h = rt.spawn(move || rx.recv().unwrap());
    /// while !rt.fibers().iter().any(|f| f.state == FiberState::Receiving) {
    ///     std::thread::yield_now();
    /// }
    /// tx.send(7).unwrap();
    /// assert_eq!(h.join().unwrap(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fibers(&self) -> Vec<FiberInfo> {
        dump::fibers(&self.shared)
    }

    /// [`fibers`](Self::fibers) as text, one line per fiber, in the format
    /// documented in [`dump`]: like Go's goroutine dump, for
    /// logs and for a debug endpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let h = rt.spawn(|| {
    ///     heddle::fiber::Builder::new()
    ///         .name("napper")
    ///         .spawn(|| heddle::sleep(Duration::from_millis(200)))
    ///         .unwrap()
    ///         .join()
    ///         .unwrap()
    /// });
    /// std::thread::sleep(Duration::from_millis(50));
    /// let text = rt.dump();
    /// assert!(text.starts_with("heddle runtime: 1 workers, 2 live fibers\n"), "{text}");
    /// assert!(text.contains("\"napper\": sleeping until +"), "{text}");
    /// assert!(text.contains(": blocked on the join of #"), "{text}");
    /// h.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> String {
        dump::dump(&self.shared)
    }

    /// Per-worker counters, indexed by worker.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// assert_eq!(rt.stats().len(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stats(&self) -> Vec<WorkerStats> {
        self.shared
            .stats
            .iter()
            .map(|s| WorkerStats::read(s))
            .collect()
    }

    /// Kernel mappings held by the runtime's stack slabs (for measuring;
    /// one per slab of many stacks where guard pages do not split mappings).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// rt.block_on(|| ());
    /// assert!(rt.stack_mappings() >= 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stack_mappings(&self) -> usize {
        let slabs = self.shared.stacks.slab_count();
        if stack::guards_split_mappings() {
            slabs * 2
        } else {
            slabs
        }
    }

    /// Spawn a fiber from any thread. It goes to the runtime's injector
    /// queue (or, from inside one of this runtime's fibers, the current
    /// worker's queue).
    ///
    /// # Panics
    ///
    /// When no stack can be mapped for it; use
    /// [`fiber::Builder::spawn_on`](crate::fiber::Builder::spawn_on) to get the error instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let hs: Vec<_> = (0..4).map(|i| rt.spawn(move || i * 10)).collect();
    /// let got: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(got, [0, 10, 20, 30]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: F and T are 'static.
        match unsafe { spawn_with(&self.shared, Options::default(), f, None, false) } {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        }
    }

    /// Run `f` as a fiber and block the calling thread until it finishes;
    /// return its result, or re-raise its panic here.
    ///
    /// `f` may borrow from the caller, as with `std::thread::scope`: this
    /// is sound because `block_on` returns (or unwinds) only after the
    /// fiber's closure has run to its end or panicked and been dropped, so
    /// no borrow it holds can outlive the caller's frame. The waiting side
    /// cannot be cut short: it loops on the join latch, and the fiber cannot
    /// be dropped unrun, because a live runtime runs every queued fiber (and
    /// `&self` keeps this one alive).
    ///
    /// # Panics
    ///
    /// Re-raises `f`'s panic. Panics if called from inside a fiber (blocking
    /// a worker thread that way can deadlock; spawn and join instead), or if
    /// no stack can be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let data = vec![1, 2, 3];
    /// let doubled: Vec<i32> = rt.block_on(|| data.iter().map(|x| x * 2).collect());
    /// assert_eq!(doubled, [2, 4, 6]);
    /// assert_eq!(data.len(), 3); // still ours
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        assert!(
            current::current_task().is_none(),
            "heddle: Runtime::block_on called from inside a fiber; spawn and join instead"
        );
        // SAFETY: we join below before returning, and `join` returns only
        // once the fiber finished, so nothing `f` borrows can expire first.
        let handle = unsafe { spawn_with(&self.shared, Options::default(), f, None, false) };
        let handle = match handle {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        };
        match handle.join() {
            Ok(v) => v,
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl Runtime {
    /// Shut the runtime down as dropping it does, but wait at most
    /// `timeout` for its fibers. Returns `true` if every fiber finished in
    /// time: the threads are then stopped and joined and the stacks
    /// unmapped, as by a drop. Returns `false` if some fiber is still live
    /// (or this is called inside one of the runtime's own fibers, which
    /// cannot wait for itself): the runtime then goes on without an owner,
    /// as one dropped inside its own fiber does (see "Shutdown" above). Its
    /// fibers run to their end, and then a helper thread stops its threads
    /// and frees its stacks. A fiber that never finishes keeps the
    /// runtime's threads (parked, if it is blocked) until the process
    /// exits.
    ///
    /// Use it where a drop must not wait forever, as when a fiber may stay
    /// blocked on a channel nobody will send to. `Duration::ZERO` never
    /// waits; `Duration::MAX` waits as a drop does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let (tx, rx) = heddle::sync::channel::<()>();
    /// let _forever = rt.spawn(move || rx.recv()); // nobody sends
    /// assert!(!rt.shutdown_timeout(Duration::from_millis(10)));
    /// drop(tx); // the fiber's `recv` fails, it finishes, the runtime stops
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        let quiet = !self.is_current() && self.shared.live.wait_quiet_for(timeout);
        if quiet {
            // Nothing is live and nobody else holds the runtime: the drop
            // finds it quiet and stops it at once.
            return true;
        }
        self.shut_down_in_background();
        false
    }

    /// Whether the caller is one of this runtime's own fibers.
    fn is_current(&self) -> bool {
        current::with_current_shared(|s| core::ptr::eq(s, &*self.shared)).unwrap_or(false)
    }

    /// Hand the wait for quiet and the stop to a thread of its own (see
    /// "Shutdown" above). It holds `shared`, so the runtime outlives its
    /// last fiber. The drop that follows does nothing.
    fn shut_down_in_background(&mut self) {
        self.handed_off = true;
        let shared = self.shared.clone();
        let helpers = core::mem::take(&mut self.helpers);
        let reaper = std::thread::Builder::new()
            .name("heddle-shutdown".into())
            .spawn(move || shut_down(&shared, helpers));
        if let Err(e) = reaper {
            // Without a thread to wait, the workers run on until the process
            // exits; nothing is freed early, so this is a leak, not a crash.
            eprintln!("heddle: cannot start the thread that shuts the runtime down: {e}");
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if self.handed_off {
            return;
        }
        if self.is_current() {
            // Waiting here would wait for ourselves.
            self.shut_down_in_background();
        } else {
            shut_down(&self.shared, core::mem::take(&mut self.helpers));
        }
    }
}

/// Wait until no fiber of `shared` is live, then stop the workers and the
/// timer keeper and the monitor, and wait for their threads to end.
fn shut_down(shared: &Shared, helpers: Vec<std::thread::JoinHandle<()>>) {
    shared.live.wait_quiet();
    shared.shutdown.store(true, crate::loom::Ordering::SeqCst);
    shared.sleep.wake_all();
    shared.drivers.close();
    shared.drivers.join_all();
    shared.timers.stop_keeper();
    shared.sleep.wake_watcher();
    for h in helpers {
        let _ = h.join();
    }
}
