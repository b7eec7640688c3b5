//! Every live fiber of a runtime, listed so that `Runtime::dump` can name
//! them all, at the cost of one plain store per spawn and one per retire
//! (see "The fence goes to the reader").
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
//! | retire         | `slot = null`, full fence, read `reads`: if odd (a read at work), wait until it changes; then recycle or free the box |
//! | a reader (dump)| take the read turn (one read at a time); `reads += 1` (now odd), full fence; per slot: load it (Acquire), read the task's id, name and status; `reads += 1` (even) |
//!
//! # Why a reader never reads a freed or reused task
//!
//! Retire writes its slot then reads `reads`; a reader writes `reads` (to
//! odd) then reads the slots, each with a full fence between its write and
//! its read. Whichever fence comes second, its side sees the other's
//! write: either the reader loads null (and skips the slot), or the retire
//! sees the read at work and waits for it to end before it touches the
//! box. A read that starts after the retire read `reads` comes later on
//! both counts, so it sees the null: the retire waits for one read at
//! most, never for a stream of them. A reader may also load a slot just
//! filled by a spawn; the Release/Acquire pair makes the task's fields
//! visible. While listed, a task's id and name are not written, and its
//! status is an atomic.
//!
//! Reads are rare (dumps, and the monitor naming a stalled fiber), take
//! turns, and are short.
//!
//! # The fence goes to the reader
//!
//! The write-then-read on the retire side needs a full fence between the
//! two (on x86, the SeqCst store is an `xchg`): about 5 ns on every fiber's
//! retire, for the sake of a rare reader. Where the kernel offers
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` (Linux 4.14 and later),
//! the reader pays instead: after `reads += 1` it asks the kernel to run
//! a full memory barrier on every thread of the process that is running
//! (a thread that is not running has passed one in its context switch).
//! Every retire then falls into one of three cases around that barrier
//! point in its own instruction stream: its slot store and its `reads`
//! load both come before it (the barrier makes the null visible before the
//! reader reads the slots), both after it (the load sees the read at work),
//! or
//! the barrier falls between them, which orders the store first (visible
//! to the reader) as well. So retire uses a Release store, a compiler
//! fence and a Relaxed load. The same argument that makes Linux's RCU and
//! folly's asymmetric fences work; which mode runs is decided once per
//! process ([`asymmetric`]).

use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use super::task::{Slot, Status, Task};
use crate::loom::{Arc, AtomicPtr, AtomicU64, Mutex, Ordering};

/// Slots per chunk.
const CHUNK: usize = 1024;

/// A chunk of slots. Boxed, so that slot addresses never move.
type Chunk = Box<[AtomicPtr<Task>]>;

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
    /// Reads so far, times two, plus one while a read is at work: odd
    /// while reading (see the module docs).
    reads: CachePadded<AtomicU64>,
    /// Reads take turns, so that a retire waits for at most one.
    read_turn: Mutex<()>,
}

impl Registry {
    /// A registry for `workers` workers, plus one shard for boxes made
    /// outside the runtime.
    pub(crate) fn new(workers: usize) -> Self {
        asymmetric(); // decide the mode before any fiber is listed
        Registry {
            shards: (0..=workers).map(|_| CachePadded::default()).collect(),
            reads: CachePadded::new(AtomicU64::new(0)),
            read_turn: Mutex::new(()),
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
        let slot = unsafe { &*slot.ptr };
        let reads = if asymmetric() {
            // The reader's membarrier stands in for our fence (module docs).
            slot.store(core::ptr::null_mut(), Ordering::Release);
            core::sync::atomic::compiler_fence(Ordering::SeqCst);
            self.reads.load(Ordering::Relaxed)
        } else {
            slot.store(core::ptr::null_mut(), Ordering::SeqCst);
            self.reads.load(Ordering::SeqCst)
        };
        if reads & 1 == 1 {
            self.wait_for_read(reads);
        }
    }

    /// Wait until the read that was at work (`reads` odd) ends. Reads
    /// that start later see our slot empty, so we never wait for them.
    #[cold]
    fn wait_for_read(&self, reads: u64) {
        let backoff = crossbeam_utils::Backoff::new();
        while self.reads.load(Ordering::Acquire) == reads {
            backoff.snooze();
        }
    }

    /// Call `f` with what a reader may read of every listed task, as a
    /// reader (see the module docs): id, name, status.
    fn read(&self, mut f: impl FnMut(Listed)) {
        /// Ends the read even if `f` unwinds.
        struct Reading<'a>(&'a AtomicU64);
        impl Drop for Reading<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Release); // even: done
            }
        }
        let _turn = self.read_turn.lock();
        self.reads.fetch_add(1, Ordering::SeqCst); // odd: reading
        let _reading = Reading(&self.reads);
        if asymmetric() {
            heavy_barrier();
        }
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

/// `membarrier(2)` commands (linux/membarrier.h).
const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Whether this process uses the asymmetric fence (module docs): decided
/// once, by asking the kernel for the membarrier command and registering
/// for it. Every registry of the process then uses the same mode.
fn asymmetric() -> bool {
    static MODE: OnceLock<bool> = OnceLock::new();
    *MODE.get_or_init(|| {
        // SAFETY: membarrier with QUERY and REGISTER takes no pointers and
        // changes nothing but this process's registration.
        unsafe {
            let cmds = libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
            cmds >= 0
                && cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED != 0
                && libc::syscall(
                    libc::SYS_membarrier,
                    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                    0,
                    0,
                ) == 0
        }
    })
}

/// A full memory barrier on every running thread of the process.
fn heavy_barrier() {
    // SAFETY: as in `asymmetric`, which registered the process for it.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
    // Registered, it cannot fail (EINVAL/EPERM are for unregistered or
    // unsupported commands, which `asymmetric` ruled out).
    assert_eq!(r, 0, "membarrier failed after registering");
}

/// A listed fiber, as a read of the registry saw it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) status: Status,
}
