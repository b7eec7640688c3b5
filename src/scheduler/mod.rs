//! The scheduler: workers, run queues, and the protocols between them.
//!
//! See `README.md` in this folder for how the pieces fit together. Each
//! protocol lives in one file with its state table:
//!
//! - `run_queue.rs`: per-worker fresh (LIFO) and yielded (FIFO) deques,
//!   stealers, the injector;
//! - `sleep.rs`: how idle workers sleep and how new work wakes one;
//! - `live.rs`: counting live fibers with per-worker credit;
//! - `park.rs`: how a fiber blocks without racing its waker;
//! - `packet.rs`: the join latch between a fiber and its `JoinHandle`;
//! - `once.rs`: a waker claimed by the first of a wait list and a timer;
//! - `claim.rs`: a `join`'s `b`, run by whoever claims it first;
//! - `timers.rs`: timed waits, fired by their worker or the keeper thread;
//! - `handoff.rs`: giving a worker to a new thread while a fiber blocks
//!   its own (what keeps `thread::panicking()` per fiber, and what
//!   `blocking` uses); `spare.rs`, the pooled threads that take over;
//! - `worker.rs`: the loop that ties them together; `find.rs`, where it
//!   looks for work; `suspend.rs`, how a fiber gives it back;
//!   `current.rs`, how code finds its worker.

pub(crate) mod claim;
pub(crate) mod live;
pub(crate) mod once;
pub(crate) mod packet;
pub(crate) mod parker;
pub(crate) mod run_queue;
pub(crate) mod sleep;

#[cfg(not(loom))]
pub(crate) mod current;
#[cfg(not(loom))]
mod find;
#[cfg(not(loom))]
pub(crate) mod handoff;
#[cfg(not(loom))]
pub(crate) mod park;
#[cfg(not(loom))]
pub(crate) mod spare;
#[cfg(not(loom))]
pub(crate) mod suspend;
#[cfg(not(loom))]
pub(crate) mod task;
#[cfg(not(loom))]
pub(crate) mod timers;
#[cfg(not(loom))]
pub(crate) mod worker;

#[cfg(not(loom))]
mod shared;

#[cfg(not(loom))]
pub(crate) use self::shared::{Shared, StatsCell};
