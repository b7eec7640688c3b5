//! Fiber stacks: slab reservations, guard pages, per-worker pools.
//!
//! # Layout
//!
//! Stacks of the runtime's default size are carved out of large slabs, one
//! `mmap(MAP_NORESERVE)` each, so that a million stacks cost a few thousand
//! kernel mappings rather than two million:
//!
//! ```text
//!  slab (one mapping, PROT_READ|WRITE, MAP_NORESERVE, MADV_NOHUGEPAGE)
//!  +-------+-------------------+-------+-------------------+-------+----
//!  | guard |  stack 0 usable   | guard |  stack 1 usable   | guard | ...
//!  +-------+-------------------+-------+-------------------+-------+----
//!  ^ base                      ^ top 0 ^                   ^ top 1
//!  <-page-> <----- size ------>
//!  <------------ stride ------->
//! ```
//!
//! A stack grows down from its top, so its guard sits at its low end and an
//! overflow faults in the guard rather than in the stack below it. The guard
//! is installed with `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which marks
//! the page in the page tables without splitting the mapping. Where the kernel
//! refuses it we fall back to `mprotect(PROT_NONE)`, which splits the slab into
//! two mappings per stack; Linux's default `vm.max_map_count` (65530) then caps
//! live stacks near 32k and we report that limit by name when it is hit.
//!
//! # Ownership and accounting
//!
//! - A [`StackAllocator`] (one per runtime) owns every slab and unmaps them
//!   all when it is dropped, which happens after every fiber has finished.
//! - Each worker keeps a [`StackPool`] of at most [`POOL_MAX`] free stacks. A
//!   fiber takes a stack at its first run and gives it back on finish, so a
//!   steady spawn/finish stream makes no syscall and takes no lock.
//! - A pool that grows past [`POOL_MAX`] gives half back to the allocator's
//!   shared free list. Free stacks past [`GLOBAL_KEEP`] on that list have
//!   their pages returned with `MADV_DONTNEED`, so idle memory is capped at
//!   roughly `(workers * POOL_MAX + GLOBAL_KEEP)` touched stacks.
//! - Spawn calls [`StackAllocator::ensure_capacity`] with the number of live
//!   fibers plus every pool's maximum: enough slots are mapped before the
//!   fiber is queued, so mapping failures surface at spawn, as an
//!   `io::Error`, and a fiber's first run always finds a stack.
//!
//! Fibers with a non-default stack size get a mapping of their own at spawn,
//! unmapped when they finish.

use std::io;
use std::ptr::NonNull;

use crate::loom::{AtomicUsize, Mutex, Ordering};

/// Stacks a worker keeps for reuse before handing half back.
pub(crate) const POOL_MAX: usize = 64;
/// Stacks a worker takes from the allocator at once when its pool is empty.
pub(crate) const POOL_REFILL: usize = 16;
/// Free stacks on the shared list that keep their pages; the rest are
/// released with `MADV_DONTNEED`.
pub(crate) const GLOBAL_KEEP: usize = 1024;
/// Bytes of address space a slab aims for.
const SLAB_BYTES: usize = 64 << 20;

/// `madvise` advice that installs a guard region (Linux 6.13+). Not yet in
/// the `libc` crate; the value is from `include/uapi/asm-generic/mman-common.h`.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// The system page size.
pub(crate) fn page_size() -> usize {
    use std::sync::OnceLock;
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 { n as usize } else { 4096 }
    })
}

/// Smallest stack a fiber may ask for: 32 KiB.
///
/// Enough for the runtime's own frames plus a panic that prints a
/// backtrace (`RUST_BACKTRACE=1` or `full`) or captures and formats one
/// (`Backtrace::capture` with `RUST_LIB_BACKTRACE=1`, as anyhow and eyre
/// do): symbolizing a backtrace is the deepest thing std does on a panic.
/// Measured with `tests/stack_sizes.rs` (Rust 1.95, x86-64 Linux), the
/// smallest stack in 4 KiB steps that survives each: printed backtrace
/// 20 KiB in release, 24 KiB in debug; captured 20 KiB in both. 32 KiB
/// keeps a third in hand over the worst of them; that test checks it.
pub const MIN_STACK_SIZE: usize = 32 * 1024;

/// Largest stack a fiber may ask for: 1 TiB of address space (x86-64 user
/// space is 128 TiB). Larger requests are refused before any arithmetic
/// on them can overflow.
pub const MAX_STACK_SIZE: usize = 1 << 40;

/// The usable size of a stack asked for as `requested` bytes: rounded up
/// to whole pages, or an `InvalidInput` error naming `what` when it is
/// outside [`MIN_STACK_SIZE`]..=[`MAX_STACK_SIZE`].
pub(crate) fn usable_size(requested: usize, what: &str) -> io::Result<usize> {
    let problem = if requested < MIN_STACK_SIZE {
        format!("is below the minimum of {MIN_STACK_SIZE} bytes")
    } else if requested > MAX_STACK_SIZE {
        format!("is above the maximum of {MAX_STACK_SIZE} bytes")
    } else {
        // In range, so rounding up cannot overflow.
        let p = page_size();
        return Ok(requested.div_ceil(p) * p);
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("heddle: {what} {requested} bytes {problem}"),
    ))
}

/// One fiber stack: a guard page and `size` usable bytes above it.
#[derive(Debug)]
pub(crate) struct Stack {
    /// Lowest address: the start of the guard page.
    base: NonNull<u8>,
    /// Usable bytes above the guard.
    size: usize,
    /// Whether this stack is its own mapping (unmapped on drop) or a slice
    /// of a slab (owned by the allocator).
    owned: bool,
}

// SAFETY: a Stack is plain memory with a unique owner; nothing in it is tied
// to the thread that mapped it.
unsafe impl Send for Stack {}

impl Stack {
    /// Map a stack of its own with `size` usable bytes, a whole number of
    /// pages within [`MAX_STACK_SIZE`] (see [`usable_size`]).
    pub(crate) fn map_single(size: usize) -> io::Result<Stack> {
        debug_assert!(size <= MAX_STACK_SIZE && size.is_multiple_of(page_size()));
        let page = page_size();
        let base = map_region(size + page)?;
        if let Err(e) = install_guard(base, page) {
            // SAFETY: `base` was just mapped with this length and is not
            // shared with anyone yet.
            unsafe { libc::munmap(base.as_ptr().cast(), size + page) };
            return Err(e);
        }
        Ok(Stack {
            base,
            size,
            owned: true,
        })
    }

    /// The high end of the stack (exclusive), 16-byte aligned.
    pub(crate) fn top(&self) -> *mut u8 {
        // SAFETY: base + page + size is the end of this stack's region.
        unsafe { self.base.as_ptr().add(page_size() + self.size) }
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The guard page's address range `[lo, hi)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        let lo = self.base.as_ptr() as usize;
        (lo, lo + page_size())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: an owned stack is its own mapping of guard + size bytes,
            // and dropping the Stack means no fiber runs on it any more.
            unsafe { libc::munmap(self.base.as_ptr().cast(), self.size + page_size()) };
        }
        // Slab stacks are unmapped with their slab by the allocator.
    }
}

fn map_region(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing touches no existing memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!(
                "heddle: cannot map {len} bytes for fiber stacks ({e}): out of memory or \
                 address space; check `ulimit -v` (RLIMIT_AS) and free memory, or use a \
                 smaller stack size"
            ),
        ));
    }
    // Huge pages would turn each touched stack page into 2 MiB.
    // SAFETY: `p` is the mapping just made, of `len` bytes.
    unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
    Ok(NonNull::new(p.cast()).expect("mmap returned null"))
}

/// How guard pages are installed on this kernel.
static GUARD_MODE: AtomicUsize = AtomicUsize::new(GUARD_UNKNOWN);
const GUARD_UNKNOWN: usize = 0;
const GUARD_MADVISE: usize = 1;
const GUARD_MPROTECT: usize = 2;

fn install_guard(addr: NonNull<u8>, len: usize) -> io::Result<()> {
    if GUARD_MODE.load(Ordering::Relaxed) != GUARD_MPROTECT {
        // SAFETY: the range is a page of a mapping we own and no one uses yet.
        let r = unsafe { libc::madvise(addr.as_ptr().cast(), len, MADV_GUARD_INSTALL) };
        if r == 0 {
            GUARD_MODE.store(GUARD_MADVISE, Ordering::Relaxed);
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
        // The kernel does not know MADV_GUARD_INSTALL: use mprotect from now on.
        GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let r = unsafe { libc::mprotect(addr.as_ptr().cast(), len, libc::PROT_NONE) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOMEM) {
        let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "heddle: cannot install a stack guard page: the kernel's limit on memory \
                 mappings is reached (vm.max_map_count = {limit}; this kernel lacks \
                 MADV_GUARD_INSTALL, so each stack costs two mappings). Raise it with \
                 `sysctl vm.max_map_count=N` or keep fewer fibers alive"
            ),
        ));
    }
    Err(e)
}

/// Whether guard pages split mappings on this kernel (`mprotect` fallback).
pub(crate) fn guards_split_mappings() -> bool {
    GUARD_MODE.load(Ordering::Relaxed) == GUARD_MPROTECT
}

/// Owner of every slab of one stack size.
#[derive(Debug)]
pub(crate) struct StackAllocator {
    size: usize,
    stride: usize,
    per_slab: usize,
    /// Slots mapped so far. Written under `inner`'s lock, read without it.
    mapped: AtomicUsize,
    inner: Mutex<Slabs>,
}

#[derive(Debug)]
struct Slabs {
    /// (base, length) of every slab, for munmap on drop.
    maps: Vec<(usize, usize)>,
    /// Stacks given back by pools.
    free: Vec<Stack>,
    /// Never-used slots: (next slot's base, slots left), one entry per slab
    /// not yet carved up; carved from the last entry.
    uncarved: Vec<(usize, usize)>,
}

impl StackAllocator {
    /// An allocator of stacks with `size` usable bytes, a whole number of
    /// pages within [`MAX_STACK_SIZE`] (see [`usable_size`]).
    pub(crate) fn new(size: usize) -> Self {
        debug_assert!(size <= MAX_STACK_SIZE && size.is_multiple_of(page_size()));
        let stride = size + page_size();
        StackAllocator {
            size,
            stride,
            per_slab: (SLAB_BYTES / stride).max(1),
            mapped: AtomicUsize::new(0),
            inner: Mutex::new(Slabs {
                maps: Vec::new(),
                free: Vec::new(),
                uncarved: Vec::new(),
            }),
        }
    }

    /// Usable bytes per stack.
    pub(crate) fn stack_size(&self) -> usize {
        self.size
    }

    /// Kernel mappings held by slabs (one per slab, or one per stack plus one
    /// under the `mprotect` fallback).
    pub(crate) fn slab_count(&self) -> usize {
        self.inner.lock().maps.len()
    }

    /// Make sure at least `slots` stacks are mapped, mapping slabs as needed.
    pub(crate) fn ensure_capacity(&self, slots: usize) -> io::Result<()> {
        if self.mapped.load(Ordering::Acquire) >= slots {
            return Ok(());
        }
        let mut inner = self.inner.lock();
        while self.mapped.load(Ordering::Relaxed) < slots {
            self.map_slab(&mut inner)?;
        }
        Ok(())
    }

    fn map_slab(&self, inner: &mut Slabs) -> io::Result<()> {
        let page = page_size();
        let len = self.per_slab * self.stride;
        let base = map_region(len)?;
        let mut guarded = 0;
        let mut error = None;
        for i in 0..self.per_slab {
            // SAFETY: slot i's guard page lies inside the slab just mapped.
            let guard = unsafe { NonNull::new_unchecked(base.as_ptr().add(i * self.stride)) };
            if let Err(e) = install_guard(guard, page) {
                error = Some(e);
                break;
            }
            guarded += 1;
        }
        if guarded == 0 {
            // SAFETY: the slab was just mapped and nothing points into it.
            unsafe { libc::munmap(base.as_ptr().cast(), len) };
            return Err(error.expect("no stack guarded but no error"));
        }
        let used = guarded * self.stride;
        if used < len {
            // Keep only the guarded slots (the mapping limit was hit midway).
            // SAFETY: the tail past the guarded slots is unused.
            unsafe { libc::munmap(base.as_ptr().add(used).cast(), len - used) };
        }
        inner.maps.push((base.as_ptr() as usize, used));
        inner.uncarved.push((base.as_ptr() as usize, guarded));
        self.mapped.fetch_add(guarded, Ordering::Release);
        Ok(())
    }

    /// Move up to `n` free stacks into `out`; maps a slab if none is free.
    pub(crate) fn take(&self, out: &mut Vec<Stack>, n: usize) -> io::Result<()> {
        let mut inner = self.inner.lock();
        let from_free = inner.free.len().min(n);
        let start = inner.free.len() - from_free;
        out.extend(inner.free.drain(start..));
        let mut want = n - from_free;
        while want > 0 {
            let Some(last) = inner.uncarved.last_mut() else {
                if !out.is_empty() {
                    break;
                }
                self.map_slab(&mut inner)?;
                continue;
            };
            let base = last.0;
            last.0 += self.stride;
            last.1 -= 1;
            if last.1 == 0 {
                inner.uncarved.pop();
            }
            want -= 1;
            out.push(Stack {
                // SAFETY: `base` is the next uncarved slot of a live slab,
                // so it is inside a mapping and never null.
                base: unsafe { NonNull::new_unchecked(base as *mut u8) },
                size: self.size,
                owned: false,
            });
        }
        Ok(())
    }

    /// Whether `stack` is a slot of this allocator's slabs (not a mapping
    /// of its own, which is unmapped when dropped).
    fn is_ours(&self, stack: &Stack) -> bool {
        !stack.owned && stack.size == self.size
    }

    /// A finished fiber's stack from a thread without a pool (handoff.rs):
    /// onto the shared free list if it is ours, else dropped (unmapped).
    pub(crate) fn take_back(&self, stack: Stack) {
        if self.is_ours(&stack) {
            self.give_back(core::iter::once(stack));
        }
    }

    /// Take back free stacks from a pool. Past [`GLOBAL_KEEP`] free stacks,
    /// their pages go back to the kernel: runs of adjacent stacks in one
    /// `madvise` each (guard markers survive `MADV_DONTNEED`, and under the
    /// `mprotect` fallback the call just spans the PROT_NONE pages), done
    /// outside the lock.
    pub(crate) fn give_back(&self, stacks: impl Iterator<Item = Stack>) {
        let mut release = Vec::new();
        {
            let mut inner = self.inner.lock();
            for s in stacks {
                debug_assert!(!s.owned && s.size == self.size);
                if inner.free.len() >= GLOBAL_KEEP {
                    release.push(s);
                } else {
                    inner.free.push(s);
                }
            }
        }
        if release.is_empty() {
            return;
        }
        release.sort_by_key(|s| s.base.as_ptr() as usize);
        let page = page_size();
        let mut i = 0;
        while i < release.len() {
            let mut j = i + 1;
            while j < release.len()
                && release[j].base.as_ptr() as usize
                    == release[j - 1].base.as_ptr() as usize + self.stride
            {
                j += 1;
            }
            let start = release[i].base.as_ptr() as usize + page;
            let end = release[j - 1].top() as usize;
            // SAFETY: the range covers free stacks of ours (and the guard
            // pages between them) inside one slab; no fiber runs on them.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
            i = j;
        }
        self.inner.lock().free.extend(release);
    }
}

impl Drop for StackAllocator {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        // Slab stacks own nothing themselves; forget them before unmapping.
        inner.free.clear();
        for &(base, len) in &inner.maps {
            // SAFETY: every slab was mapped by `map_slab` with this length (or
            // trimmed to it), and the allocator is dropped only after every
            // fiber finished and every pool gave its stacks back.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
        }
        inner.maps.clear();
    }
}

/// A worker's cache of free default-size stacks.
#[derive(Debug, Default)]
pub(crate) struct StackPool {
    free: Vec<Stack>,
}

impl StackPool {
    /// A stack for a fiber's first run.
    pub(crate) fn take(&mut self, alloc: &StackAllocator) -> io::Result<Stack> {
        if let Some(s) = self.free.pop() {
            return Ok(s);
        }
        alloc.take(&mut self.free, POOL_REFILL)?;
        Ok(self.free.pop().expect("allocator returned no stack"))
    }

    /// Return a finished fiber's stack.
    pub(crate) fn put(&mut self, stack: Stack, alloc: &StackAllocator) {
        if !alloc.is_ours(&stack) {
            return; // dropping unmaps an owned stack
        }
        self.free.push(stack);
        if self.free.len() > POOL_MAX {
            let half = self.free.len() / 2;
            alloc.give_back(self.free.drain(..half));
        }
    }

    /// Give every stack back (worker exit).
    pub(crate) fn drain_into(&mut self, alloc: &StackAllocator) {
        alloc.give_back(self.free.drain(..));
    }
}
