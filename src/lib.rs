//! heddle: a multi-core M:N scheduler for stackful fibers.
//!
//! Many fibers (user-space threads, each with its own stack) run on a few OS
//! worker threads, one per core by default. Each worker runs its Ready fibers
//! with a hand-written x86-64 context switch: fibers just spawned or woken
//! first, newest first (so fork-join trees run depth-first, as in rayon), and
//! fibers that yield round-robin. A worker that runs dry steals half the
//! queue of another, and parks when nobody has work.
//!
//! ```
//! // A runtime with one worker per core.
//! let rt = heddle::Runtime::new()?;
//!
//! // Run a closure as the root fiber; the calling thread waits for it.
//! let total: u64 = rt.block_on(|| {
//!     let handles: Vec<_> = (0..1000u64)
//!         .map(|i| heddle::spawn(move || (0..i).sum::<u64>()))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum()
//! });
//! assert_eq!(total, 166_167_000);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The API at a glance
//!
//! | std / rayon                  | heddle                                      |
//! |------------------------------|---------------------------------------------|
//! | `thread::spawn`              | [`spawn`](fn@spawn) (inside a fiber), [`Runtime::spawn`] (anywhere) |
//! | tokio's `spawn_local`        | [`spawn_local`]: pinned to its worker, `!Send` allowed |
//! | `thread::Builder`            | [`fiber::Builder`] (name, stack size, fallible `spawn`) |
//! | `JoinHandle::join`           | [`JoinHandle::join`]: suspends a fiber, blocks a thread |
//! | `thread::yield_now`          | [`yield_now`]                               |
//! | `thread::park`, `Thread::unpark` | [`sync::Parker`], [`sync::Unparker`] (crossbeam's shape) |
//! | `thread::current`            | [`fiber::current`]                          |
//! | `ThreadPoolBuilder`          | [`Builder`] (workers, stack size)           |
//! | `ThreadPool::install`        | [`Runtime::block_on`] (may borrow)          |
//! | tokio's `shutdown_timeout`   | [`Runtime::shutdown_timeout`] (a drop that gives up waiting) |
//! | `thread::scope`              | [`scope`] (borrowing fibers)                |
//! | `rayon::join`                | [`join`]                                    |
//! | `sync::mpsc`                 | [`sync::channel()`], [`sync::sync_channel`] |
//! | `sync::{Mutex, RwLock, Condvar, Barrier, OnceLock, LazyLock}` | [`sync::Mutex`], [`sync::RwLock`], [`sync::Condvar`], [`sync::Barrier`], [`sync::OnceLock`], [`sync::LazyLock`]: they park the fiber, not its worker |
//! | Go's `sync.WaitGroup`        | [`sync::WaitGroup`]                         |
//!
//! # Fibers move between threads
//!
//! A fiber may resume on a different worker thread after any point where it
//! gives up its worker: [`yield_now`], [`JoinHandle::join`], or any other
//! blocking call of this crate. This is what makes work stealing possible,
//! and it shapes the rules:
//!
//! - **Why `Send + 'static`.** A spawned closure and its result cross
//!   threads (the closure may run on any worker, and the result is read by
//!   whoever joins), hence `Send`; and the fiber may outlive the spawner,
//!   hence `'static`. These are exactly `std::thread::spawn`'s bounds.
//!   [`Runtime::block_on`] lifts `'static` because it returns only after
//!   its fiber finished.
//!
//! - **What must not be held across a yield.** Whatever is tied to an OS
//!   thread: a `std::sync::MutexGuard` (unlocking it from another thread
//!   is undefined at the OS level), `!Send` values such as `Rc` that other
//!   fibers on the old thread could still reach, and thread-locals. For
//!   thread-locals the rule is stricter than it looks: **do not touch a
//!   `thread_local!` both before and after a suspension point in one
//!   function** of a migrating fiber. In an executable, each
//!   `LOCAL.with(..)` finds the current thread's slot afresh. In a shared
//!   library (a `cdylib` or `dylib`: a Python extension, a plugin), LLVM
//!   computes a thread-local's address once per function and keeps it
//!   across calls, so a `LOCAL.with(..)` after a [`yield_now`] reads the
//!   *old* thread's slot. Measured in a cdylib loaded with `dlopen`, on
//!   this crate's 2-core development machine: 8 fibers alternating
//!   `LOCAL.with`, `yield_now`, `LOCAL.with` 20,000 times each resumed on
//!   another thread 73,739 times, and every one of those reads went to the
//!   old thread's slot, with or without LTO. The runtime obeys the same
//!   rule: its own "current worker" is read through an `#[inline(never)]`
//!   accessor after every switch.
//!
//! - **The sound answer: [`spawn_local`].** A pinned fiber runs only on
//!   the worker thread that spawned it, so thread-locals, `Rc`s and
//!   `RefCell` borrows are safe to keep across yields and blocking calls.
//!   Its closure need not be `Send`, and the fiber that spawns it is
//!   pinned too, so what the two share never crosses threads. In the same
//!   cdylib measurement, pinned fibers resumed on another thread 0 times
//!   in 160,000 yields. Use it for thread-bound state, and plain
//!   [`spawn`](fn@spawn) for everything else, so that work stealing can spread it.
//!
//! - **Is `spawn` honestly safe?** Not completely, and we say so. The
//!   `Send` bound stops a fiber from *capturing* a `!Send` value, but not
//!   from *making* one inside and holding it across a yield. Most such values
//!   are reachable only from their own fiber, and moving the whole fiber
//!   moves every path to them, which is harmless. The gap is thread-locals:
//!   `let rc = LOCAL.with(|l| l.clone());` (an `Rc` shared through a
//!   `thread_local!`), then a yield, then `rc` used on the new thread while
//!   fibers on the old one use the same `Rc`: a data race written in safe
//!   code; and, in shared libraries, the hoisted thread-local address above.
//!   Every runtime that migrates stackful fibers has this gap; `may`
//!   answers it by making `spawn` `unsafe`. We keep `spawn` a safe function,
//!   document the rule ("never hold a value taken from a thread-local, or
//!   a thread-local's address, across a yield or a blocking call of a
//!   migrating fiber"), and offer [`spawn_local`] where a fiber needs such
//!   state: an `unsafe spawn` would put an `unsafe` block at every call site
//!   and teach users to stop reading them.
//!
//! The bounds are checked at compile time, each for its own reason:
//!
//! ```compile_fail,E0277
//! let rt = heddle::Runtime::new().unwrap();
//! let rc = std::rc::Rc::new(5);
//! rt.spawn(move || *rc); // error: `Rc` cannot be sent between threads
//! ```
//!
//! ```compile_fail,E0373
//! let rt = heddle::Runtime::new().unwrap();
//! let v = vec![1];
//! rt.spawn(|| v.len()); // error: the closure may outlive `v`
//! ```
//!
//! ```compile_fail,E0277
//! let rt = heddle::Runtime::new().unwrap();
//! // The result crosses threads too.
//! rt.block_on(|| std::rc::Rc::new(1));
//! ```
//!
//! A scoped fiber may borrow only what outlives its scope, and its handle
//! cannot leave the scope:
//!
//! ```compile_fail,E0373
//! let rt = heddle::Runtime::new().unwrap();
//! rt.block_on(|| {
//!     heddle::scope(|s| {
//!         let local = vec![1, 2, 3];
//!         s.spawn(|| local.len()); // error: `local` dies before the scope ends
//!     });
//! });
//! ```
//!
//! ```compile_fail,E0521
//! let rt = heddle::Runtime::new().unwrap();
//! rt.block_on(|| {
//!     let mut escaped = None;
//!     heddle::scope(|s| {
//!         escaped = Some(s.spawn(|| 1)); // error: the handle outlives the scope
//!     });
//! });
//! ```
//!
//! `join`'s closures may borrow, but what they return may not borrow from
//! inside them:
//!
//! ```compile_fail,E0515
//! let (a, _b) = heddle::join(
//!     || {
//!         let local = vec![1];
//!         &local[0] // error: returns a reference to a local
//!     },
//!     || 2,
//! );
//! ```
//!
//! # Cooperative scheduling
//!
//! A fiber runs until it yields, blocks or finishes: heddle never
//! interrupts it (a fiber stopped inside `malloc`, or holding a std lock,
//! would deadlock the next fiber on its thread). A fiber that computes for
//! a long time without yielding holds its worker; other workers can still
//! steal the fibers queued behind it. For long computations:
//!
//! - [`checkpoint`] yields once the fiber has used up its time slice
//!   ([`Builder::time_slice`]) and another fiber is ready, and otherwise
//!   costs about a nanosecond;
//! - [`blocking`] runs code that blocks its thread while a spare thread
//!   runs the worker's other fibers;
//! - the stall monitor ([`Builder::stall_threshold`]) names a fiber that
//!   holds its worker too long, and [`Runtime::dump`] shows what every
//!   fiber is doing.
//!
//! # Platform
//!
//! x86-64 Linux only. Other targets fail to build with a clear message.

#![cfg_attr(loom, allow(dead_code, unused_imports, unreachable_pub))]

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!(
    "heddle supports only x86-64 Linux: its context switch is x86-64 assembly and its stacks \
     and overflow handling use Linux mmap/madvise/signals"
);

mod loom;
mod scheduler;
pub mod sync;

#[cfg(not(loom))]
mod arch;
#[cfg(not(loom))]
mod builder;
#[cfg(not(loom))]
mod cooperate;
#[cfg(not(loom))]
pub mod dump;
#[cfg(not(loom))]
pub mod fiber;
#[cfg(not(loom))]
mod handle;
#[cfg(not(loom))]
mod join;
#[cfg(not(loom))]
mod monitor;
#[cfg(not(loom))]
mod overflow;
#[cfg(not(loom))]
mod pool;
#[cfg(not(loom))]
mod runtime;
#[cfg(not(loom))]
mod scope;
#[cfg(not(loom))]
mod spawn;
#[cfg(not(loom))]
mod stack;

/// Internals for `benches/switch.rs` (feature `bench-internals`).
#[doc(hidden)]
#[cfg(all(not(loom), feature = "bench-internals"))]
pub mod __bench;

#[cfg(not(loom))]
pub use crate::builder::{
    Builder, DEFAULT_MAX_BLOCKING_THREADS, DEFAULT_STACK_SIZE, DEFAULT_STALL_THRESHOLD,
    DEFAULT_TIME_SLICE, MAX_WORKERS,
};
#[cfg(not(loom))]
pub use crate::cooperate::{blocking, checkpoint};
#[cfg(not(loom))]
pub use crate::fiber::{sleep, spawn, spawn_local, yield_now};
#[cfg(not(loom))]
pub use crate::handle::JoinHandle;
#[cfg(not(loom))]
pub use crate::join::{JOIN_INLINE_MIN, join};
#[cfg(not(loom))]
pub use crate::runtime::{Runtime, WorkerStats};
#[cfg(not(loom))]
pub use crate::scope::{Scope, ScopedJoinHandle, scope};
#[cfg(not(loom))]
pub use crate::stack::{MAX_STACK_SIZE, MIN_STACK_SIZE};
