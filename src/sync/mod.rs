//! Fiber-aware synchronization.
//!
//! Every blocking operation here parks the calling *fiber*, never its
//! worker thread: the worker runs other fibers meanwhile. Called from a
//! plain OS thread, the same operation blocks the thread. All of them are
//! built on one wait-queue primitive (`wait_queue.rs`) that implements the
//! park/wake protocol once.

pub(crate) mod spin_lock;
pub(crate) mod wait_queue;

mod condvar;

#[cfg(not(loom))]
pub mod channel;
#[cfg(not(loom))]
mod mutex;
#[cfg(not(loom))]
mod wait_group;

#[cfg(not(loom))]
pub use self::channel::{Receiver, Sender, SyncSender, channel, sync_channel};
#[cfg(not(loom))]
pub use self::condvar::{Condvar, WaitTimeoutResult};
#[cfg(not(loom))]
pub use self::mutex::{HAND_OFF_AFTER, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use self::wait_group::WaitGroup;
