//! Every live fiber of a runtime, listed so that `Runtime::dump` can name
//! them all.
//!
//! A fiber is listed at spawn and unlisted when it is retired, before its
//! task box is freed or reused. The list is sharded: a spawn from worker
//! `i` lists the fiber in shard `i` (spawns from outside the runtime use
//! the last shard), so spawns on different workers never share a lock or
//! a cache line. The fiber remembers its shard and slot (`Task::listed`),
//! and whoever retires it, on any worker, unlists it there.
//!
//! | who                | does, under the shard's lock                        |
//! |--------------------|-----------------------------------------------------|
//! | spawn              | take a free slot (or a new one), store the task     |
//! | retire             | clear the slot, put it on the free list             |
//! | a dump             | visit every stored task: read its id, name, status  |
//!
//! While a task is listed its id and name do not change and it is not
//! freed (retire unlists it first, under the same lock the dump holds), so
//! a dump may read them. Its status is an atomic (task.rs).

use crossbeam_utils::CachePadded;

use super::task::{Status, Task};
use crate::loom::{Arc, Mutex, Ordering};

/// One shard: slots holding listed tasks, and the indexes of free slots.
#[derive(Debug, Default)]
struct Shard {
    slots: Vec<*const Task>,
    free: Vec<u32>,
}

/// A runtime's list of live fibers. See the module docs.
#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

// SAFETY: the raw task pointers are only dereferenced by `snapshot`, under
// the shard's lock, while the task is listed: retire unlists it under that
// lock before freeing it (see the module docs).
unsafe impl Send for Registry {}
// SAFETY: as above; every access to a shard goes through its lock.
unsafe impl Sync for Registry {}

impl Registry {
    /// A registry for `workers` workers, plus one shard for spawns from
    /// outside the runtime.
    pub(crate) fn new(workers: usize) -> Self {
        Registry {
            shards: (0..=workers).map(|_| CachePadded::default()).collect(),
        }
    }

    /// The shard for spawns from worker `index`, or from outside (`None`).
    pub(crate) fn shard_for(&self, worker: Option<usize>) -> u32 {
        worker.unwrap_or(self.shards.len() - 1) as u32
    }

    /// List `task` in `shard`; returns where, for [`unlist`](Self::unlist).
    pub(crate) fn list(&self, shard: u32, task: *const Task) -> (u32, u32) {
        let mut s = self.shards[shard as usize].lock();
        let slot = match s.free.pop() {
            Some(slot) => {
                s.slots[slot as usize] = task;
                slot
            }
            None => {
                s.slots.push(task);
                (s.slots.len() - 1) as u32
            }
        };
        (shard, slot)
    }

    /// Unlist the task listed at `at` (before it is freed or reused).
    pub(crate) fn unlist(&self, at: (u32, u32)) {
        let mut s = self.shards[at.0 as usize].lock();
        s.slots[at.1 as usize] = core::ptr::null();
        s.free.push(at.1);
    }

    /// Every listed fiber's id, name and status, one shard at a time, each
    /// read under its shard's lock (spawns and retires there wait
    /// meanwhile, for a copy of a few words per fiber).
    pub(crate) fn snapshot(&self) -> Vec<Listed> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let s = shard.lock();
            out.reserve(s.slots.len() - s.free.len());
            for &t in s.slots.iter().filter(|t| !t.is_null()) {
                // SAFETY: a listed task is live (retire unlists it under
                // this lock before freeing it). The fiber may be running on
                // another thread, so we make no reference to the whole
                // task: we read, through raw field pointers, only `id` and
                // `name` (not written while listed) and the atomic status.
                out.push(unsafe { read_listed(t) });
            }
        }
        out
    }
}

impl Registry {
    /// The listed fiber with id `id`, if any (a scan, shard by shard).
    pub(crate) fn find(&self, id: u64) -> Option<Listed> {
        for shard in self.shards.iter() {
            let s = shard.lock();
            for &t in s.slots.iter().filter(|t| !t.is_null()) {
                // SAFETY: as in `snapshot`.
                unsafe {
                    if core::ptr::addr_of!((*t).id).read() == id {
                        return Some(read_listed(t));
                    }
                }
            }
        }
        None
    }
}

/// Copy what a dump may read of a listed task.
///
/// # Safety
///
/// `t` is listed, and the caller holds its shard's lock (see `snapshot`).
unsafe fn read_listed(t: *const Task) -> Listed {
    // SAFETY: the caller's promise; see `snapshot` for which fields.
    unsafe {
        Listed {
            id: core::ptr::addr_of!((*t).id).read(),
            name: (*core::ptr::addr_of!((*t).name)).clone(),
            status: Status::decode((*core::ptr::addr_of!((*t).status)).load(Ordering::Relaxed)),
        }
    }
}

/// A listed fiber, as [`Registry::snapshot`] saw it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) status: Status,
}
