//! The scheduler: workers, run queues, and the protocols between them.
//!
//! See `README.md` in this folder for how the pieces fit together. Each
//! protocol lives in one file with its state table:
//!
//! - `run_queue.rs`: per-worker fresh (LIFO) and yielded (FIFO) deques,
//!   stealers, the injector; `run_next.rs`, the slot for the fiber a
//!   running fiber just woke;
//! - `sleep.rs`: how idle workers sleep and how new work wakes one;
//! - `live.rs`: counting live fibers with per-worker credit;
//! - `park.rs`: how a fiber blocks without racing its waker;
//! - `packet.rs`: the join latch between a fiber and its `JoinHandle`;
//! - `once.rs`: a waker claimed by the first of a wait list and a timer;
//! - `job.rs`, `fork.rs`: a `join`'s `b` on the joiner's stack, offered
//!   to thieves by reference; `claim.rs`, a moved `b`, run by whoever
//!   claims it first;
//! - `registry.rs`: every live fiber, listed for dumps;
//! - `timers.rs`: timed waits, fired by their worker or the keeper thread;
//! - `handoff.rs`: giving a worker to a new thread while a fiber blocks
//!   its own (what keeps `thread::panicking()` per fiber, and what
//!   `blocking` uses); `spare.rs`, the pooled threads that take over;
//! - `worker.rs`: a worker's state; `worker_loop.rs`, the loop that ties
//!   the protocols together; `find.rs`, where it looks for work;
//!   `transition.rs`, how a fiber switches out (straight to the next
//!   fiber, or to the loop) and how the one that left is settled;
//!   `suspend.rs`, when a fiber blocks as a fiber or as a thread;
//!   `schedule.rs`, how a new or woken fiber becomes runnable;
//!   `current.rs`, how code finds its worker (the thread-locals);
//! - `waker.rs`: who waits, as the code that ends the wait sees it.
//!
//! The files form layers, each importing only from the ones before it:
//! `parker`, `once`, `outgoing`, `run_queue`, `sleep`, `live`, `claim`, `packet`,
//! `task`, `run_next`, `job`, `waker`, `timers`, `spare`, `shared`, `registry`,
//! `worker`, `current`, `fork`, `find`, `schedule`, `transition`,
//! `worker_loop`, `handoff`, `suspend`, `park`. (`find.rs` and `schedule.rs` add methods to types of lower
//! layers: an `impl` block may live above its type.) `tests/layers.rs`
//! fails on any import cycle between files.

pub(crate) mod claim;
pub(crate) mod live;
pub(crate) mod once;
pub(crate) mod outgoing;
pub(crate) mod packet;
pub(crate) mod parker;
pub(crate) mod run_next;
pub(crate) mod run_queue;
pub(crate) mod sleep;

#[cfg(not(loom))]
pub(crate) mod current;
#[cfg(not(loom))]
mod find;
#[cfg(not(loom))]
pub(crate) mod fork;
#[cfg(not(loom))]
pub(crate) mod handoff;
#[cfg(not(loom))]
pub(crate) mod job;
#[cfg(not(loom))]
pub(crate) mod park;
#[cfg(not(loom))]
pub(crate) mod registry;
#[cfg(not(loom))]
pub(crate) mod schedule;
#[cfg(not(loom))]
pub(crate) mod spare;
#[cfg(not(loom))]
pub(crate) mod suspend;
#[cfg(not(loom))]
pub(crate) mod task;
#[cfg(not(loom))]
pub(crate) mod timers;
#[cfg(not(loom))]
mod transition;
#[cfg(not(loom))]
pub(crate) mod waker;
#[cfg(not(loom))]
pub(crate) mod worker;
#[cfg(not(loom))]
pub(crate) mod worker_loop;

#[cfg(not(loom))]
mod shared;

#[cfg(not(loom))]
pub(crate) use self::shared::{Shared, StatsCell};
