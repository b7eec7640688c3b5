//! The runtime: worker threads and their shared state.

use crate::scheduler::current;
use std::fmt;
use std::io;
use std::panic;

use crate::handle::JoinHandle;
use crate::loom::Arc;
use crate::scheduler::run_queue::{Injector, RunQueue};
use crate::scheduler::worker::{Exit, Worker, WorkerRef};
use crate::scheduler::worker_loop;
use crate::scheduler::{Shared, StatsCell};
use crate::spawn::{Options, spawn_with};
use crate::stack;

/// Default usable stack size of a fiber: 256 KiB.
///
/// Stacks are reserved with `MAP_NORESERVE`, so this is address space, not
/// memory: a parked fiber keeps only the pages it touched (usually one)
/// resident. A million fibers reserve 260 GB of address space (of 128 TB).
/// Why not smaller: `catch_unwind` keeps a fiber's closure and its result in
/// one frame and the result is moved once more on the way to the
/// `JoinHandle`, so returning a 64 KiB value needs about 3 x 64 KiB of
/// stack; debug builds and panics with backtraces also need tens of KiB.
/// Why not larger: each 2 MiB of stacks shares one page-table page, so at
/// 256 KiB a parked fiber costs 512 bytes of page tables on top of its
/// resident page; that is what keeps a million parked fibers near 5 KiB each.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Most worker threads a runtime may have: 65,536. Far above any core
/// count; a larger request is a mistake, and gets an error before anything
/// is allocated for it.
pub const MAX_WORKERS: usize = 1 << 16;

/// Default of [`Builder::max_blocking_threads`]: 512 (tokio's default for
/// its blocking pool).
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;

/// Configuration for a [`Runtime`], in the manner of `std::thread::Builder`.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(2).stack_size(64 * 1024).build()?;
/// assert_eq!(rt.workers(), 2);
/// assert!(heddle::Builder::new().workers(0).build().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    thread_name: String,
    max_blocking_threads: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// One worker per core, [`DEFAULT_STACK_SIZE`] stacks.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().build()?;
    /// assert_eq!(rt.workers(), num_cpus::get());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK_SIZE,
            thread_name: "heddle-worker".into(),
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
        }
    }

    /// Number of worker threads (default: the number of cores).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(3).build()?;
    /// assert_eq!(rt.workers(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self
    }

    /// Default stack size of the runtime's fibers, in bytes (rounded up to
    /// whole pages; from [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) to [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE)).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = heddle::Builder::new().stack_size(1024).build().unwrap_err();
    /// assert!(err.to_string().contains("below the minimum"));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes;
        self
    }

    /// Prefix of the worker threads' names (default `heddle-worker`); the
    /// worker index is appended.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).thread_name("pool").build()?;
    /// let name = rt.block_on(|| std::thread::current().name().map(String::from));
    /// assert_eq!(name.as_deref(), Some("pool-0"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// Most threads the runtime starts beyond its workers (default
    /// [`DEFAULT_MAX_BLOCKING_THREADS`]). They take a worker over while its
    /// thread is blocked in [`blocking`](crate::blocking) (or by a fiber
    /// that blocks while unwinding), and wait as spares for the next
    /// hand-off afterwards. At the cap, `blocking` runs its closure in
    /// place and the worker waits for it; 0 turns hand-offs off.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).max_blocking_threads(4).build()?;
    /// assert_eq!(rt.block_on(|| heddle::blocking(|| 2 + 2)), 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n;
        self
    }

    /// Start the worker threads.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for zero workers or more than [`MAX_WORKERS`], a
    /// stack size outside [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE)..=[`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE), or a
    /// thread name with a nul byte;
    /// the OS error if a thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = heddle::Builder::new().workers(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("at least one worker"));
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        let workers = self.workers.unwrap_or_else(num_cpus::get);
        if workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "heddle: a runtime needs at least one worker (workers(0) was given)",
            ));
        }
        if workers > MAX_WORKERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("heddle: workers({workers}) is above the maximum of {MAX_WORKERS} workers"),
            ));
        }
        if self.thread_name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "heddle: thread_name({:?}) contains a nul byte, which thread names cannot hold",
                    self.thread_name
                ),
            ));
        }
        let stack_size = stack::usable_size(self.stack_size, "stack size")?;
        crate::overflow::install_handler();
        let queues: Vec<RunQueue<_>> = (0..workers).map(|_| RunQueue::new()).collect();
        let stealers = queues.iter().map(|q| q.stealer()).collect();
        let shared = Arc::new(Shared::new(
            Injector::new(),
            stealers,
            stack_size,
            self.max_blocking_threads,
        ));
        let keeper = std::thread::Builder::new()
            .name(format!("{}-timers", self.thread_name))
            .spawn({
                let shared = shared.clone();
                move || shared.timers.keep()
            })?;
        let rt = Runtime {
            shared: shared.clone(),
            keeper: Some(keeper),
        };
        for (index, queue) in queues.into_iter().enumerate() {
            let worker = WorkerRef::new(Worker::new(index, shared.clone(), queue));
            let name = format!("{}-{index}", self.thread_name);
            let job = Box::new(move || worker_loop::drive(worker) == Exit::HandedOff);
            // On error, dropping `rt` shuts down the workers already started.
            shared.drivers.start(Some(name), job)?;
        }
        Ok(rt)
    }
}

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
    /// The thread that fires due timers (timers.rs).
    keeper: Option<std::thread::JoinHandle<()>>,
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
        }
    }
}

impl Runtime {
    /// A runtime with one worker per core and default stacks.
    ///
    /// # Errors
    ///
    /// The OS error if a worker thread cannot be started.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Runtime::new()?;
    /// assert_eq!(rt.block_on(|| 40 + 2), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
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

impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = self.shared.clone();
        let keeper = self.keeper.take();
        let inside = current::with_current_shared(|s| core::ptr::eq(s, &*shared)).unwrap_or(false);
        if !inside {
            shut_down(&shared, keeper);
            return;
        }
        // Waiting here would wait for ourselves: hand the wait to a thread
        // of its own (see "Shutdown" above). It holds `shared`, so the
        // runtime outlives its last fiber.
        let reaper = std::thread::Builder::new()
            .name("heddle-shutdown".into())
            .spawn(move || shut_down(&shared, keeper));
        if let Err(e) = reaper {
            // Without a thread to wait, the workers run on until the process
            // exits; nothing is freed early, so this is a leak, not a crash.
            eprintln!("heddle: cannot start the thread that shuts the runtime down: {e}");
        }
    }
}

/// Wait until no fiber of `shared` is live, then stop the workers and the
/// timer keeper and wait for their threads to end.
fn shut_down(shared: &Shared, keeper: Option<std::thread::JoinHandle<()>>) {
    shared.live.wait_quiet();
    shared.shutdown.store(true, crate::loom::Ordering::SeqCst);
    shared.sleep.wake_all();
    shared.drivers.close();
    shared.drivers.join_all();
    shared.timers.stop_keeper();
    if let Some(k) = keeper {
        let _ = k.join();
    }
}
