//! Fiber-aware synchronization.
//!
//! Every blocking operation here parks the calling *fiber*, never its
//! worker thread: the worker runs other fibers meanwhile. Called from a
//! plain OS thread, the same operation blocks the thread. Channels,
//! `WaitGroup`, `Barrier`, `Condvar`, `OnceLock` and `Parker` are built on one wait-queue primitive
//! (`wait_queue.rs`) that implements the park/wake protocol once; `Mutex`
//! and `RwLock` keep queues of their own (for hand-off and for first-come
//! order) and register their waiters the same way (park.rs).

pub(crate) mod spin_lock;
pub(crate) mod wait_queue;

#[cfg(not(loom))]
mod barrier;
mod condvar;
#[cfg(not(loom))]
mod once_lock;
#[cfg(not(loom))]
mod parker;
#[cfg(not(loom))]
mod rw_lock;
// Under loom, only the lock's protocol half, for its model.
#[cfg(loom)]
#[path = "rw_lock/queue.rs"]
mod rw_lock_queue;

#[cfg(not(loom))]
pub mod channel;
#[cfg(not(loom))]
mod mutex;
#[cfg(not(loom))]
mod wait_group;

#[cfg(not(loom))]
pub use self::barrier::{Barrier, BarrierWaitResult};
#[cfg(not(loom))]
pub use self::channel::{Receiver, Sender, SyncSender, channel, sync_channel};
#[cfg(not(loom))]
pub use self::condvar::{Condvar, WaitTimeoutResult};
#[cfg(not(loom))]
pub use self::mutex::{HAND_OFF_AFTER, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use self::once_lock::{LazyLock, OnceLock};
#[cfg(not(loom))]
pub use self::parker::{Parker, Unparker};
#[cfg(not(loom))]
pub use self::rw_lock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(not(loom))]
pub use self::wait_group::WaitGroup;
