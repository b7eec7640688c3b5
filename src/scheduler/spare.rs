//! Driver threads: the threads that run workers' loops, pooled and capped,
//! so that a worker whose thread must block can go to a spare (handoff.rs).
//!
//! Every driver thread runs [`Drivers::serve`]: run its job (drive a
//! worker until shutdown or until the worker is handed to another thread),
//! and in the second case wait here, as a spare, for the next job. So a
//! hand-off costs an unpark, not a thread spawn, once spares exist; new
//! threads are started only while fewer than the runtime's
//! `max_blocking_threads` extra threads exist.
//!
//! A job is a boxed closure (the caller's "drive this worker"), so this
//! pool knows nothing of workers and sits below them in the layers.
//!
//! | step           | hand-off side (`hand`)                    | spare side (`wait_for_job`)             |
//! |----------------|-------------------------------------------|-----------------------------------------|
//! | 1              | pop an idle spare under `idle`'s lock     | push itself under `idle`'s lock, unless `closed` |
//! | 2              | put the job in its `job` slot, unpark it  | loop: take `job`; else stop if `closed`; else park |
//!
//! The parker keeps one token, so an unpark before the spare parks is not
//! lost. At shutdown `close` sets `closed` and unparks every idle spare; a
//! spare checks `closed` under the same lock before it lists itself, so
//! none is left parked.

use std::io;
use std::sync::Arc as StdArc;
use std::thread::JoinHandle;

use super::parker::Parker;
use crate::loom::{AtomicBool, AtomicUsize, Mutex, Ordering};

/// What a driver thread runs: returns true if the thread should then wait
/// for another job (it handed its worker off), false if it is done
/// (shutdown).
pub(crate) type Job = Box<dyn FnOnce() -> bool + Send>;

/// One spare thread, waiting for a job.
struct Spare {
    parker: Parker,
    job: Mutex<Option<Job>>,
}

/// A runtime's driver threads. See the module docs.
pub(crate) struct Drivers {
    idle: Mutex<Vec<StdArc<Spare>>>,
    /// Threads started beyond the first workers' (they never exit before
    /// shutdown, so this only grows, up to `max`).
    extra: AtomicUsize,
    max: usize,
    closed: AtomicBool,
    /// Every driver thread started, joined at shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Drivers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drivers")
            .field("extra", &self.extra)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Drivers {
    pub(crate) fn new(max: usize) -> StdArc<Self> {
        StdArc::new(Drivers {
            idle: Mutex::new(Vec::new()),
            extra: AtomicUsize::new(0),
            max,
            closed: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Start a driver thread named `name` for `job` (the first workers'
    /// threads; not counted against the cap).
    pub(crate) fn start(self: &StdArc<Self>, name: Option<String>, job: Job) -> io::Result<()> {
        let mut builder = std::thread::Builder::new();
        if let Some(name) = name {
            builder = builder.name(name);
        }
        let pool = self.clone();
        let handle = builder.spawn(move || pool.serve(job))?;
        self.threads.lock().push(handle);
        Ok(())
    }

    /// Give `job` to a spare thread, or to a new one while under the cap
    /// (named like the calling thread, whose worker it takes). Returns
    /// false (and drops `job`) if neither can be had.
    pub(crate) fn hand(self: &StdArc<Self>, job: Job) -> bool {
        let spare = self.idle.lock().pop();
        if let Some(spare) = spare {
            *spare.job.lock() = Some(job);
            spare.parker.unpark();
            return true;
        }
        let mut n = self.extra.load(Ordering::Relaxed);
        loop {
            if n >= self.max {
                return false;
            }
            match self
                .extra
                .compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        let name = std::thread::current().name().map(String::from);
        if self.start(name, job).is_err() {
            self.extra.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The body of every driver thread: see the module docs.
    fn serve(&self, first: Job) {
        let mut job = Some(first);
        while let Some(j) = job {
            if !j() {
                return;
            }
            job = self.wait_for_job();
        }
    }

    /// Wait, as a spare, for a job; `None` at shutdown.
    fn wait_for_job(&self) -> Option<Job> {
        let me = StdArc::new(Spare {
            parker: Parker::new(),
            job: Mutex::new(None),
        });
        {
            let mut idle = self.idle.lock();
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            idle.push(me.clone());
        }
        loop {
            if let Some(j) = me.job.lock().take() {
                return Some(j);
            }
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            me.parker.park();
        }
    }

    /// Shutdown: every idle spare (and any that would become one) exits.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for spare in self.idle.lock().drain(..) {
            spare.parker.unpark();
        }
    }

    /// Wait for every driver thread to end (after `close`, and after the
    /// workers were told to shut down). Threads started meanwhile by a
    /// last hand-off are joined too.
    pub(crate) fn join_all(&self) {
        loop {
            let handles = core::mem::take(&mut *self.threads.lock());
            if handles.is_empty() {
                return;
            }
            for h in handles {
                let _ = h.join();
            }
        }
    }
}
