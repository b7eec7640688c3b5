//! [`Builder`]: a runtime's configuration, checked before anything starts.

use std::io;
use std::time::Duration;

use crate::dump::Stall;
use crate::loom::Arc;
use crate::monitor::{self, StallHook};
use crate::runtime::Runtime;
use crate::scheduler::Shared;
use crate::scheduler::run_queue::{Injector, RunQueue};
use crate::scheduler::worker::{Exit, Worker, WorkerRef};
use crate::scheduler::worker_loop;
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

/// Default of [`Builder::time_slice`]: 10 ms (Go's scheduler slice).
pub const DEFAULT_TIME_SLICE: Duration = Duration::from_millis(10);

/// Default of [`Builder::stall_threshold`]: 1 s. Long enough that
/// CPU-bound fibers doing honest work in chunks are not reported; short
/// enough that a fiber stuck in a loop or a blocking call is.
pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_secs(1);

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
    monitor: monitor::Config,
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
            monitor: monitor::Config {
                slice: DEFAULT_TIME_SLICE,
                stall: DEFAULT_STALL_THRESHOLD,
                on_stall: None,
            },
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

    /// How long a fiber may run before [`checkpoint`](crate::checkpoint)
    /// yields to other ready fibers (default [`DEFAULT_TIME_SLICE`]).
    ///
    /// The runtime's monitor thread checks each worker every tick (half
    /// the smaller of this and the stall threshold, between 100 µs and
    /// 50 ms), so a fiber gets between one slice and a slice plus a tick.
    /// `Duration::MAX` makes `checkpoint` never yield.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = heddle::Builder::new().workers(1).time_slice(Duration::from_millis(2)).build()?;
    /// let n = rt.block_on(|| (0..1000u64).inspect(|_| heddle::checkpoint()).sum::<u64>());
    /// assert_eq!(n, 499_500);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn time_slice(mut self, slice: Duration) -> Builder {
        self.monitor.slice = slice;
        self
    }

    /// How long a fiber may hold its worker without reaching a switch
    /// point (a yield, a blocking call, or a [`checkpoint`](crate::checkpoint))
    /// before it is reported (default [`DEFAULT_STALL_THRESHOLD`];
    /// `Duration::MAX` turns reports off).
    ///
    /// Each stall is reported once, on stderr (or to
    /// [`on_stall`](Self::on_stall)), naming the fiber (its name or
    /// `#id`), its worker and how long it has held it, and counted in
    /// [`WorkerStats::stalls`](crate::WorkerStats::stalls). Reports are
    /// made by the monitor thread, which costs nothing while the runtime
    /// is idle.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = heddle::Builder::new()
    ///     .workers(1)
    ///     .stall_threshold(Duration::MAX) // no reports
    ///     .build()?;
    /// rt.block_on(|| std::thread::sleep(Duration::from_millis(10)));
    /// assert_eq!(rt.stats()[0].stalls, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stall_threshold(mut self, threshold: Duration) -> Builder {
        self.monitor.stall = threshold;
        self
    }

    /// Call `hook` with each stall report instead of printing it on stderr
    /// (see [`stall_threshold`](Self::stall_threshold)). The hook runs on
    /// the monitor thread: keep it short. A panic in it is caught and the
    /// report printed instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// let rt = heddle::Builder::new()
    ///     .workers(1)
    ///     .stall_threshold(Duration::from_millis(20))
    ///     .on_stall(move |stall| s.lock().unwrap().push(stall.name.clone()))
    ///     .build()?;
    /// rt.block_on(|| {
    ///     heddle::fiber::Builder::new()
    ///         .name("cruncher")
    ///         .spawn(|| std::thread::sleep(Duration::from_millis(100)))
    ///         .unwrap()
    ///         .join()
    ///         .unwrap()
    /// });
    /// drop(rt);
    /// assert_eq!(*seen.lock().unwrap(), [Some("cruncher".to_string())]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_stall(mut self, hook: impl Fn(&Stall) + Send + Sync + 'static) -> Builder {
        self.monitor.on_stall = Some(StallHook(std::sync::Arc::new(hook)));
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
        crate::overflow::install_handler(crate::scheduler::current::running_fiber);
        let queues: Vec<RunQueue<_>> = (0..workers).map(|_| RunQueue::new()).collect();
        let stealers = queues.iter().map(|q| q.stealer()).collect();
        let jobs: Vec<crossbeam_deque::Worker<_>> = (0..workers)
            .map(|_| crossbeam_deque::Worker::new_lifo())
            .collect();
        let job_stealers = jobs.iter().map(|j| j.stealer()).collect();
        let shared = Arc::new(Shared::new(
            Injector::new(),
            stealers,
            job_stealers,
            stack_size,
            self.max_blocking_threads,
        ));
        let keeper = std::thread::Builder::new()
            .name(format!("{}-timers", self.thread_name))
            .spawn({
                let shared = shared.clone();
                move || shared.timers.keep()
            })?;
        let monitor = std::thread::Builder::new()
            .name(format!("{}-monitor", self.thread_name))
            .spawn({
                let shared = shared.clone();
                let config = self.monitor.clone();
                move || monitor::run(&shared, &config)
            });
        let monitor = match monitor {
            Ok(m) => m,
            Err(e) => {
                drop(Runtime::from_parts(shared, keeper, None));
                return Err(e);
            }
        };
        let rt = Runtime::from_parts(shared.clone(), keeper, Some(monitor));
        for (index, (queue, jobs)) in queues.into_iter().zip(jobs).enumerate() {
            let worker = WorkerRef::new(Worker::new(index, shared.clone(), queue, jobs));
            let name = format!("{}-{index}", self.thread_name);
            let job = Box::new(move || worker_loop::drive(worker) == Exit::HandedOff);
            // On error, dropping `rt` shuts down the workers already started.
            shared.drivers.start(Some(name), job)?;
        }
        Ok(rt)
    }
}

// `Runtime::new` lives here, beside the builder it calls, so that
// runtime.rs does not import this file back.
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
}
