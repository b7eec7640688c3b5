//! Spare driver threads: pooled, capped threads that take over a worker
//! when its thread must block (handoff.rs).
//!
//! Every thread that drives a worker runs [`driver_main`]: drive the worker
//! until shutdown or until the worker is handed to another thread, and in
//! the second case wait here, as a spare, to drive the next worker handed
//! off. So a hand-off costs an unpark, not a thread spawn, once spares
//! exist; new threads are started only while fewer than the runtime's
//! `max_blocking_threads` extra threads exist.
//!
//! | step           | hand-off side (`hand`)                    | spare side (`wait_for_work`)            |
//! |----------------|-------------------------------------------|-----------------------------------------|
//! | 1              | pop an idle spare under `idle`'s lock     | push itself under `idle`'s lock, unless `closed` |
//! | 2              | put the worker in its `job`, unpark it    | loop: take `job`; else stop if `closed`; else park |
//!
//! The parker keeps one token, so an unpark before the spare parks is not
//! lost. At shutdown `close` sets `closed` and unparks every idle spare; a
//! spare checks `closed` under the same lock before it lists itself, so
//! none is left parked.

use std::sync::Arc as StdArc;

use super::Shared;
use super::parker::Parker;
use super::worker::{self, Exit, WorkerRef};
use crate::loom::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering};

/// One spare thread, waiting for a worker to drive.
#[derive(Debug)]
struct Spare {
    parker: Parker,
    job: Mutex<Option<WorkerRef>>,
}

/// A runtime's spare threads. See the module docs.
#[derive(Debug)]
pub(crate) struct Spares {
    idle: Mutex<Vec<StdArc<Spare>>>,
    /// Threads started beyond the first workers' (they never exit before
    /// shutdown, so this only grows, up to `max`).
    extra: AtomicUsize,
    max: usize,
    closed: AtomicBool,
}

impl Spares {
    pub(crate) fn new(max: usize) -> Self {
        Spares {
            idle: Mutex::new(Vec::new()),
            extra: AtomicUsize::new(0),
            max,
            closed: AtomicBool::new(false),
        }
    }

    /// Give worker `next` to a spare thread, or to a new one while under the
    /// cap (named like the calling thread, whose worker it takes). Returns
    /// false (and drops `next`) if neither can be had.
    pub(crate) fn hand(&self, shared: &Arc<Shared>, next: WorkerRef) -> bool {
        let spare = self.idle.lock().pop();
        if let Some(spare) = spare {
            *spare.job.lock() = Some(next);
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
        let mut builder = std::thread::Builder::new();
        if let Some(name) = std::thread::current().name() {
            builder = builder.name(name.into());
        }
        let owner = shared.clone();
        match builder.spawn(move || driver_main(&owner, next)) {
            Ok(handle) => {
                shared.register_driver(handle);
                true
            }
            Err(_) => {
                self.extra.fetch_sub(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Wait, as a spare, for a worker to drive; `None` at shutdown.
    fn wait_for_work(&self) -> Option<WorkerRef> {
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
            if let Some(w) = me.job.lock().take() {
                return Some(w);
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
}

/// The body of every thread that drives workers: see the module docs.
pub(crate) fn driver_main(shared: &Shared, first: WorkerRef) {
    let mut job = Some(first);
    while let Some(w) = job {
        if worker::drive(w) == Exit::Shutdown {
            return;
        }
        job = shared.spares.wait_for_work();
    }
}
