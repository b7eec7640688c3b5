//! [`Pooled`]: a reference-counted box, like `Arc`, whose memory comes
//! from small per-thread caches, so that spawning a fiber (its closure,
//! result and join latch live in one of these) allocates nothing once the
//! caches are warm.
//!
//! # Layout
//!
//! ```text
//!  block (one of 64 / 128 / 256 / 512 bytes, 16-aligned; or exactly
//!  sized from the global allocator for values that fit no class)
//!  ┌──────────────────────────────┬─────────────────────────────┐
//!  │ Header { refs, size, align } │ value (at Layout::extend's  │
//!  │                              │ offset after the header)    │
//!  └──────────────────────────────┴─────────────────────────────┘
//!   ^ Pooled::header                ^ Pooled::value (thin, or fat for a dyn)
//! ```
//!
//! `size` and `align` are the block's own layout, so whoever drops the last
//! reference (any thread) knows which class the block goes back to.
//!
//! # References
//!
//! As `Arc`: a clone adds one with a relaxed `fetch_add`; a drop takes one
//! away with a release `fetch_sub`, and the one that takes the last drops
//! the value after an acquire fence, then frees the block. A holder that
//! sees a count of 1 with an acquire load is the last one and frees at
//! once, with no locked instruction: every other holder's decrement is
//! ordered before that load, and a reference held alone cannot be cloned
//! by anyone else (the test `Arc::get_mut` makes). That is the common case
//! for a joined fiber's handle, whose fiber dropped its reference first.
//!
//! # Caches
//!
//! | who                      | what                                               |
//! |--------------------------|----------------------------------------------------|
//! | a new `Pooled` on thread T | pops a block of its class from T's cache, else allocates one |
//! | the last drop, on thread U | pushes the block onto U's cache (up to [`CACHED`] per class), else frees it |
//! | thread exit              | its cache frees every block it holds               |
//!
//! A block may be made on one thread and freed on another (a fiber
//! spawned here and joined there): it then joins the second thread's
//! cache. Each cache is bounded, so no thread holds more than
//! `CACHED * (64 + 128 + 256 + 512)` bytes (60 KiB) for reuse. The caches
//! are only touched by their own thread, inside two functions that never
//! switch and are never inlined (see `take_block`: invariant 4 of
//! `scheduler/README.md`).

use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::sync::atomic::{AtomicUsize, Ordering, fence};

/// Block sizes of the caches; values that fit none are allocated exactly.
const CLASSES: [usize; 4] = [64, 128, 256, 512];
/// Alignment of every cached block.
const CLASS_ALIGN: usize = 16;
/// Most free blocks a thread keeps per class.
pub(crate) const CACHED: usize = 64;

/// The start of every block.
struct Header {
    refs: AtomicUsize,
    /// The block's layout (see the module docs).
    size: usize,
    align: usize,
}

/// A free block in a cache: its first word links to the next.
struct Free {
    next: *mut Free,
}

/// One thread's free blocks, a list per class.
struct Cache {
    heads: [Cell<*mut Free>; CLASSES.len()],
    counts: [Cell<usize>; CLASSES.len()],
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, head) in self.heads.iter().enumerate() {
            let mut block = head.replace(ptr::null_mut());
            while !block.is_null() {
                // SAFETY: every block in the list is a free block of this
                // class, linked by `give_back`; nobody else holds it.
                unsafe {
                    let next = (*block).next;
                    dealloc(block.cast(), class_layout(class));
                    block = next;
                }
            }
        }
    }
}

thread_local! {
    static CACHE: Cache = const {
        Cache {
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES.len()],
            counts: [const { Cell::new(0) }; CLASSES.len()],
        }
    };
}

fn class_layout(class: usize) -> Layout {
    // The sizes are non-zero multiples of the alignment: always valid.
    Layout::from_size_align(CLASSES[class], CLASS_ALIGN).expect("a valid class layout")
}

/// The class of a block of `layout`, if one fits it.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN {
        return None;
    }
    CLASSES.iter().position(|&c| layout.size() <= c)
}

/// A block for `layout`: from this thread's cache when one of its class is
/// there. Returns the block and the layout it really has.
///
/// Never inlined, like `give_back`: the cache is a thread-local, and a
/// fiber may resume on another thread after any switch. Inlined into a
/// caller that switches (a join that parks, then drops its handle), LLVM
/// could compute the thread-local's address before the switch and use it
/// after (it does in shared libraries), and then touch another thread's
/// cache. Out of line, the address is computed afresh on every call.
#[inline(never)]
fn take_block(layout: Layout) -> (NonNull<u8>, Layout) {
    let layout = match class_of(layout) {
        Some(class) => {
            let cached = CACHE
                .try_with(|c| {
                    let block = c.heads[class].get();
                    if block.is_null() {
                        return None;
                    }
                    // SAFETY: a non-null head is a free block of this
                    // class that only this thread's cache holds.
                    c.heads[class].set(unsafe { (*block).next });
                    c.counts[class].set(c.counts[class].get() - 1);
                    NonNull::new(block.cast::<u8>())
                })
                .ok()
                .flatten();
            if let Some(block) = cached {
                return (block, class_layout(class));
            }
            class_layout(class)
        }
        None => layout,
    };
    // SAFETY: the layout has a non-zero size (it holds at least a Header).
    match NonNull::new(unsafe { alloc(layout) }) {
        Some(block) => (block, layout),
        None => handle_alloc_error(layout),
    }
}

/// Return a block of `layout` (as `take_block` gave it): to this thread's
/// cache if its class has room, else to the global allocator.
///
/// # Safety
///
/// `block` was made by `take_block` with this `layout` and nothing uses it
/// any more.
#[inline(never)]
unsafe fn give_back(block: NonNull<u8>, layout: Layout) {
    if layout.align() == CLASS_ALIGN
        && let Some(class) = CLASSES.iter().position(|&c| c == layout.size())
    {
        let kept = CACHE
            .try_with(|c| {
                if c.counts[class].get() >= CACHED {
                    return false;
                }
                let free = block.as_ptr().cast::<Free>();
                // SAFETY: the block is ours, at least 64 bytes and 16-aligned:
                // room for the link.
                unsafe {
                    free.write(Free {
                        next: c.heads[class].get(),
                    })
                };
                c.heads[class].set(free);
                c.counts[class].set(c.counts[class].get() + 1);
                true
            })
            .unwrap_or(false);
        if kept {
            return;
        }
    }
    // SAFETY: the caller's promise: allocated with this layout.
    unsafe { dealloc(block.as_ptr(), layout) };
}

/// A reference-counted box from the caches. See the module docs.
pub(crate) struct Pooled<S: ?Sized> {
    header: NonNull<Header>,
    value: NonNull<S>,
    _owns: PhantomData<S>,
}

// SAFETY: as for Arc: a Pooled shares its value across threads, so it may
// move or be shared only when the value is Send + Sync; the count is
// atomic, and the caches are per thread.
unsafe impl<S: ?Sized + Send + Sync> Send for Pooled<S> {}
// SAFETY: as above.
unsafe impl<S: ?Sized + Send + Sync> Sync for Pooled<S> {}

impl<S> Pooled<S> {
    /// `value` in a block of its own, with one reference.
    pub(crate) fn new(value: S) -> Pooled<S> {
        Self::with_refs(value, 1)
    }

    /// `value` in a block of its own, with two references: `new` and a
    /// `clone` without the clone's atomic add (a spawn's fiber and handle).
    pub(crate) fn new_pair(value: S) -> (Pooled<S>, Pooled<S>) {
        let first = Self::with_refs(value, 2);
        let second = Pooled {
            header: first.header,
            value: first.value,
            _owns: PhantomData,
        };
        (first, second)
    }

    /// `value` in a fresh block whose count starts at `refs`; the caller
    /// makes that many `Pooled`s of it.
    fn with_refs(value: S, refs: usize) -> Pooled<S> {
        let (layout, offset) = Layout::new::<Header>()
            .extend(Layout::new::<S>())
            .expect("a value of a sane size");
        let (block, layout) = take_block(layout.pad_to_align());
        let header = block.cast::<Header>();
        // SAFETY: the block is ours and big and aligned enough for the
        // header at its start and the value at `offset` (Layout::extend).
        unsafe {
            header.write(Header {
                refs: AtomicUsize::new(refs),
                size: layout.size(),
                align: layout.align(),
            });
            let at = block.as_ptr().add(offset).cast::<S>();
            at.write(value);
            Pooled {
                header,
                value: NonNull::new_unchecked(at),
                _owns: PhantomData,
            }
        }
    }
}

impl<S: ?Sized> Pooled<S> {
    /// The same reference seen as another type of the same value: an
    /// unsizing (`|p| p as *const dyn Trait`), a trait upcast, or a
    /// lifetime's erasure.
    ///
    /// # Safety
    ///
    /// `view` must return its argument with only its type changed (same
    /// address, the value's own vtable), and the caller must keep whatever
    /// the value borrows alive while any reference to it is used.
    pub(crate) unsafe fn view<U: ?Sized>(
        self,
        view: impl FnOnce(*const S) -> *const U,
    ) -> Pooled<U> {
        let this = core::mem::ManuallyDrop::new(self);
        let value = view(this.value.as_ptr());
        Pooled {
            header: this.header,
            // SAFETY: the caller's promise: the same non-null address.
            value: unsafe { NonNull::new_unchecked(value.cast_mut()) },
            _owns: PhantomData,
        }
    }
}

impl<S: ?Sized> Clone for Pooled<S> {
    fn clone(&self) -> Self {
        // SAFETY: the block lives while we hold a reference.
        let refs = unsafe { &(*self.header.as_ptr()).refs };
        if refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort(); // as Arc: a leak of clones, not a real count
        }
        Pooled {
            header: self.header,
            value: self.value,
            _owns: PhantomData,
        }
    }
}

impl<S: ?Sized> core::ops::Deref for Pooled<S> {
    type Target = S;
    fn deref(&self) -> &S {
        // SAFETY: the value lives while we hold a reference, and it is
        // only ever shared (no &mut is handed out).
        unsafe { self.value.as_ref() }
    }
}

impl<S: ?Sized> Pooled<S> {
    /// Drop this reference and one more that its holder handed to us: it
    /// gave it up for good, touching the block no more, and its last use
    /// is ordered before this call. Frees the block if the two were the
    /// last; with no locked instruction when a load shows they are (as in
    /// `Drop`). A joined fiber's handle does this (scheduler/packet.rs,
    /// "Who frees a spawned fiber's block").
    ///
    /// # Safety
    ///
    /// The caller owns a second reference to this block, as above; it is
    /// dropped by this call.
    pub(crate) unsafe fn drop_with_handed_over(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the caller's promise: we hold two references.
        unsafe { this.release(2) };
    }

    /// Give up `n` references held by the caller, and free the block if
    /// they were the last ones. The last holders free with no
    /// read-modify-write (a locked instruction): a count of `n` seen by an
    /// acquire load means every other holder's release decrement is done
    /// and ordered before us, and nobody can clone references only we
    /// hold. A joined fiber's handle is the common case (its fiber gave up
    /// its reference before its joiner resumed, or handed it over).
    ///
    /// # Safety
    ///
    /// The caller holds `n` references and uses none of them afterwards.
    unsafe fn release(&self, n: usize) {
        // SAFETY: the block lives while we hold references.
        let header = unsafe { &*self.header.as_ptr() };
        if header.refs.load(Ordering::Acquire) != n {
            if header.refs.fetch_sub(n, Ordering::Release) != n {
                return;
            }
            // Every other holder's use of the value happens before its
            // release decrement, which this acquire fence orders before
            // the drop.
            fence(Ordering::Acquire);
        }
        // SAFETY: ours were the last references, and every other holder's
        // use is ordered before us (above).
        unsafe { self.free() };
    }

    /// Drop the value and give the block back.
    ///
    /// # Safety
    ///
    /// The caller held the last reference, and every other holder's use of
    /// the block is ordered before this call.
    unsafe fn free(&self) {
        // SAFETY: the caller's promise: the block lives until we give it back.
        let header = unsafe { &*self.header.as_ptr() };
        let layout = Layout::from_size_align(header.size, header.align).expect("a valid layout");
        // SAFETY: nobody else uses the value or the block. The value was
        // written by `new` and not dropped since.
        unsafe {
            ptr::drop_in_place(self.value.as_ptr());
            give_back(self.header.cast(), layout);
        }
    }
}

impl<S: ?Sized> Drop for Pooled<S> {
    fn drop(&mut self) {
        // SAFETY: we hold one reference, dropped here.
        unsafe { self.release(1) };
    }
}

impl<S: ?Sized> core::fmt::Debug for Pooled<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pooled").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct CountsDrops<'a>(&'a AtomicUsize, [u8; 40]);
    impl Drop for CountsDrops<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn the_value_drops_once_with_the_last_reference_and_the_block_is_reused() {
        let drops = AtomicUsize::new(0);
        let a = Pooled::new(CountsDrops(&drops, [7; 40]));
        let first = a.header;
        let b = a.clone();
        drop(a);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        assert_eq!(b.1[39], 7);
        drop(b);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        // Same class, same thread: the freed block comes back.
        let c = Pooled::new(CountsDrops(&drops, [1; 40]));
        assert_eq!(c.header, first);
        drop(c);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_pair_is_two_references_to_one_value() {
        let drops = AtomicUsize::new(0);
        let (a, b) = Pooled::new_pair(CountsDrops(&drops, [5; 40]));
        assert_eq!(a.header, b.header);
        drop(b);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        assert_eq!(a.1[0], 5);
        let c = a.clone();
        drop(a);
        drop(c);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn two_holders_dropping_at_once_drop_the_value_once() {
        use std::sync::Barrier;
        const PAIRS: usize = 20_000;
        let drops = AtomicUsize::new(0);
        let (mine, theirs): (Vec<_>, Vec<_>) = (0..PAIRS)
            .map(|i| Pooled::new_pair(CountsDrops(&drops, [i as u8; 40])))
            .unzip();
        let start = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                for p in theirs {
                    assert_eq!(p.1[39], p.1[0]);
                }
            });
            start.wait();
            for p in mine {
                assert_eq!(p.1[0], p.1[39]);
            }
        });
        assert_eq!(drops.load(Ordering::Relaxed), PAIRS);
    }

    #[test]
    fn big_and_overaligned_values_get_blocks_of_their_own() {
        #[repr(align(64))]
        struct Aligned(u8);
        let big = Pooled::new([3u64; 200]);
        assert_eq!(big.iter().sum::<u64>(), 600);
        let aligned = Pooled::new(Aligned(9));
        assert_eq!(aligned.value.as_ptr() as usize % 64, 0);
        assert_eq!(aligned.0, 9);
    }

    #[test]
    fn a_view_as_a_trait_object_shares_the_count() {
        let drops = AtomicUsize::new(0);
        let p = Pooled::new(CountsDrops(&drops, [0; 40]));
        // SAFETY: an unsizing coercion; `drops` outlives both.
        let any: Pooled<dyn Send + Sync + '_> =
            unsafe { p.clone().view(|v| v as *const (dyn Send + Sync)) };
        drop(p);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        drop(any);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_thread_keeps_at_most_cached_blocks_per_class() {
        let blocks: Vec<_> = (0..CACHED + 10)
            .map(|i| Pooled::new([i as u8; 30]))
            .collect();
        drop(blocks);
        // A header and 30 bytes: the 64-byte class.
        let kept = CACHE.with(|c| c.counts[0].get());
        assert_eq!(kept, CACHED);
    }
}
