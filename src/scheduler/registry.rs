//! Every live fiber of a runtime, listed so that `Runtime::dump` can name
//! them all, at the cost of one plain store per spawn and one atomic swap
//! per retire.
//!
//! # Slots
//!
//! Each task box owns a *slot*, an `AtomicPtr<Task>` in its runtime's
//! registry, for as long as the box lives: it gets one when it is first
//! allocated, keeps it while it sits in a worker's cache of retired boxes
//! and is reused, and gives it back when it is freed. Slots live in
//! chunks that are never moved or freed before the registry, so a slot's
//! address is stable. Slot allocation is sharded by worker (a box
//! allocated on worker `i` takes its slot from shard `i`; from outside the
//! runtime, from the last shard), and locks only that shard; a warm box
//! cache makes it rare.
//!
//! A slot holds the task's address while the fiber is live, null
//! otherwise:
//!
//! | who            | does                                                       |
//! |----------------|------------------------------------------------------------|
//! | spawn          | fill in the task, then `slot = task` (Release)              |
//! | retire         | `slot = null` (SeqCst), then [`Registry::wait_for_readers`], then recycle or free the box |
//! | a reader (dump)| `readers += 1` (SeqCst); per slot: load it (Acquire), read the task's id, name and status; `readers -= 1` |
//!
//! # Why a reader never reads a freed or reused task
//!
//! Retire writes its slot then reads `readers`; a reader writes `readers`
//! then reads the slots, all SeqCst. Whichever write comes second in the
//! total order, its side sees the other's write: either the reader loads
//! null (and skips the slot), or the retire sees a reader and waits until
//! no reader is left before it touches the box. A reader may also load a
//! slot just filled by a spawn; the Release/Acquire pair makes the task's
//! fields visible. While listed, a task's id and name are not written, and
//! its status is an atomic.
//!
//! Readers are rare (dumps, and the monitor naming a stalled fiber) and
//! short: a retire waits at most one read of the registry.

use crossbeam_utils::CachePadded;

use super::task::{Status, Task};
use crate::loom::{Arc, AtomicPtr, AtomicUsize, Mutex, Ordering};

/// Slots per chunk.
const CHUNK: usize = 1024;

/// A chunk of slots. Boxed, so that slot addresses never move.
type Chunk = Box<[AtomicPtr<Task>]>;

/// Where a task box's slot is: its shard, its index there, and its
/// address (for the stores of spawn and retire).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    shard: u32,
    index: u32,
    ptr: *const AtomicPtr<Task>,
}

/// One shard: its chunks and its free slot indexes.
#[derive(Debug, Default)]
struct Shard {
    chunks: Vec<Chunk>,
    /// Slots handed out so far (free ones included).
    used: usize,
    free: Vec<u32>,
}

/// A runtime's list of live fibers. See the module docs.
#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Readers at work (see the module docs).
    readers: CachePadded<AtomicUsize>,
}

impl Registry {
    /// A registry for `workers` workers, plus one shard for boxes made
    /// outside the runtime.
    pub(crate) fn new(workers: usize) -> Self {
        Registry {
            shards: (0..=workers).map(|_| CachePadded::default()).collect(),
            readers: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// A slot for a new task box made on worker `worker` (`None`: outside
    /// the runtime).
    pub(crate) fn new_slot(&self, worker: Option<usize>) -> Slot {
        let shard = worker.unwrap_or(self.shards.len() - 1);
        let mut s = self.shards[shard].lock();
        let index = match s.free.pop() {
            Some(i) => i as usize,
            None => {
                if s.used == s.chunks.len() * CHUNK {
                    s.chunks
                        .push((0..CHUNK).map(|_| AtomicPtr::default()).collect());
                }
                s.used += 1;
                s.used - 1
            }
        };
        let ptr: *const AtomicPtr<Task> = &s.chunks[index / CHUNK][index % CHUNK];
        Slot {
            shard: shard as u32,
            index: index as u32,
            ptr,
        }
    }

    /// Give back the slot of a task box about to be freed (null already).
    pub(crate) fn free_slot(&self, slot: Slot) {
        self.shards[slot.shard as usize]
            .lock()
            .free
            .push(slot.index);
    }

    /// List a fully made task in its box's slot.
    pub(crate) fn list(&self, slot: Slot, task: *const Task) {
        // SAFETY: slots live as long as the registry (chunks are never
        // freed before it), and the caller's task box belongs to it.
        unsafe { (*slot.ptr).store(task.cast_mut(), Ordering::Release) };
    }

    /// Unlist a finished task; once this returns, no reader looks at it
    /// any more, and its box may be reused or freed.
    pub(crate) fn unlist(&self, slot: Slot) {
        // SAFETY: as in `list`.
        unsafe { (*slot.ptr).store(core::ptr::null_mut(), Ordering::SeqCst) };
        self.wait_for_readers();
    }

    /// Wait until no reader is at work (see the module docs).
    fn wait_for_readers(&self) {
        if self.readers.load(Ordering::SeqCst) != 0 {
            self.wait_slow();
        }
    }

    #[cold]
    fn wait_slow(&self) {
        let backoff = crossbeam_utils::Backoff::new();
        while self.readers.load(Ordering::SeqCst) != 0 {
            backoff.snooze();
        }
    }

    /// Call `f` with what a reader may read of every listed task, as a
    /// reader (see the module docs): id, name, status.
    fn read(&self, mut f: impl FnMut(Listed)) {
        /// Ends the read even if `f` unwinds.
        struct Reading<'a>(&'a AtomicUsize);
        impl Drop for Reading<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.readers.fetch_add(1, Ordering::SeqCst);
        let _reading = Reading(&self.readers);
        for shard in self.shards.iter() {
            let s = shard.lock();
            for slot in s.chunks.iter().flat_map(|c| c.iter()).take(s.used) {
                let t = slot.load(Ordering::Acquire);
                if t.is_null() {
                    continue;
                }
                // SAFETY: a non-null slot seen by a reader is a live task
                // that will not be freed or reused before the reader ends
                // (module docs). The fiber may be running on another
                // thread, so we make no reference to the whole task: we
                // read, through raw field pointers, only `id` and `name`
                // (not written while listed) and the atomic status.
                f(unsafe {
                    Listed {
                        id: core::ptr::addr_of!((*t).id).read(),
                        name: (*core::ptr::addr_of!((*t).name)).clone(),
                        status: Status::decode(
                            (*core::ptr::addr_of!((*t).status)).load(Ordering::Relaxed),
                        ),
                    }
                });
            }
        }
    }

    /// Every listed fiber's id, name and status. Retires wait meanwhile,
    /// and slot allocation on each shard while that shard is read.
    pub(crate) fn snapshot(&self) -> Vec<Listed> {
        let mut out = Vec::new();
        self.read(|l| out.push(l));
        out
    }

    /// The listed fiber with id `id`, if any (a full read).
    pub(crate) fn find(&self, id: u64) -> Option<Listed> {
        let mut found = None;
        self.read(|l| {
            if l.id == id {
                found = Some(l);
            }
        });
        found
    }
}

/// A listed fiber, as a read of the registry saw it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) status: Status,
}
