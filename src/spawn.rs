//! The one spawn path: a fiber's closure and result in one allocation
//! ([`Spawned`]), queued through the runtime's `Shared::spawn`.
//! `fiber::Builder`, `Runtime::spawn` and `block_on`, `scope` and `join`
//! all come through [`spawn_with`].

/// A spawn's options, as `fiber::Builder` collects them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Options {
    pub(crate) name: Option<String>,
    pub(crate) stack_size: Option<usize>,
}

/// Spawn `f` as a fiber of `shared` with `opts`. With `pin`, the fiber
/// (and its caller) are pinned to the caller's worker (`spawn_local`).
/// `done`, if given, is lowered once the fiber's result is stored.
///
/// # Safety
///
/// The caller must make sure the fiber finishes (its closure has run or
/// been dropped) before anything `f` or `T` borrows goes away (trivially
/// true for `'static` ones).
pub(crate) unsafe fn spawn_with<'a, F, T>(
    shared: &Shared,
    opts: Options,
    f: F,
    done: Option<Arc<crate::sync::WaitGroup>>,
    pin: bool,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'a,
    T: Send + 'a,
{
    let stack = match opts.stack_size {
        Some(size) => match usable_size(size, "fiber stack size")? {
            size if size == shared.stacks.stack_size() => None,
            size => Some(Stack::map_single(size)?),
        },
        None => None,
    };
    let name: Option<Arc<str>> = opts.name.map(Arc::from);
    let (spawned, for_fiber) = Pooled::new_pair(Spawned::new(f, done));
    let entry = task::erase_entry(for_fiber);
    // SAFETY: passed on from our caller.
    let id = unsafe { spawn_entry(shared, name.clone(), stack, entry, pin)? };
    // SAFETY: as above: the caller keeps what F and T borrow alive until
    // the fiber finished and the handle is gone (see Spawned::erase).
    let packet = unsafe { Spawned::erase(spawned) };
    Ok(JoinHandle::new(packet, Fiber::new(id, name)))
}

use core::cell::UnsafeCell;
use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};

use crate::handle::{AnyResult, Fiber, JoinHandle, ResultPacket, ResultSlot, publish};
use crate::loom::Arc;
use crate::pool::Pooled;
use crate::scheduler::Shared;
use crate::scheduler::packet::{Completed, Packet};
use crate::scheduler::task::{self, Entry, Release};
use crate::stack::{Stack, usable_size};

/// A spawned fiber's closure, its result packet and its scope's counter, in
/// one pooled block (pool.rs) shared by the fiber (as its [`Entry`]) and its
/// [`JoinHandle`] (as its [`ResultSlot`]).
///
/// | field    | written by                       | read by                |
/// |----------|----------------------------------|------------------------|
/// | `f`      | spawn; taken once by the fiber   | the fiber only         |
/// | `packet` | see packet.rs                    | the joiner, the scope  |
/// | `done`   | spawn; taken once by the fiber   | the fiber only         |
///
/// Every field is interior-mutable on purpose: once the fiber's `complete`
/// has handed its reference to the handle (packet.rs), the handle may free
/// the block while the fiber's `run` is still returning, as an `Arc` may
/// be freed by another thread right after a `fetch_sub`. `run` touches
/// nothing of `self` after publishing.
pub(crate) struct Spawned<F, T> {
    f: UnsafeCell<Option<F>>,
    packet: ResultPacket<T>,
    /// Lowered after the result is stored (scoped fibers).
    done: UnsafeCell<Option<Arc<crate::sync::WaitGroup>>>,
}

// SAFETY: `f` and `done` are taken exactly once, by the worker running (or
// abandoning) the fiber, through `Entry::run` / `Entry::abandon`; no other
// path touches them (but their drop, by the block's last holder), so
// sharing the block never shares them. F: Send lets `f` move to that
// worker. The packet is Sync for T: Send (packet.rs).
unsafe impl<F: Send, T: Send> Sync for Spawned<F, T> {}
// SAFETY: as above; every field is Send for F: Send, T: Send.
unsafe impl<F: Send, T: Send> Send for Spawned<F, T> {}

impl<F, T> Spawned<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    pub(crate) fn new(f: F, done: Option<Arc<crate::sync::WaitGroup>>) -> Self {
        Spawned {
            f: UnsafeCell::new(Some(f)),
            packet: Packet::new(),
            done: UnsafeCell::new(done),
        }
    }

    /// The handle's view of `this`, with the lifetimes of F and T erased.
    ///
    /// # Safety
    ///
    /// Whatever F and T borrow must outlive every use of the returned
    /// reference (spawn's `'static` bounds, or a scope that drains its
    /// packets before it returns).
    pub(crate) unsafe fn erase<'a>(this: Pooled<Self>) -> Pooled<dyn ResultSlot<T>>
    where
        F: 'a,
        T: 'a,
    {
        // SAFETY: an unsizing view of the same value, and only the
        // lifetime bound of the trait object changes; the caller keeps the
        // borrowed data alive (see above).
        unsafe {
            let this = this.view(|s| s as *const (dyn ResultSlot<T> + 'a));
            core::mem::transmute::<Pooled<dyn ResultSlot<T> + 'a>, Pooled<dyn ResultSlot<T>>>(this)
        }
    }

    /// Take the closure: only `run` and `abandon` call this, once in all.
    fn take_f(&self) -> F {
        // SAFETY: see the Sync impl: we are the one caller of the one take.
        unsafe { (*self.f.get()).take() }.expect("a fiber's closure is taken once")
    }

    /// Take the scope's counter, before publishing (see the type's docs);
    /// only `run` and `abandon` call this, once in all.
    fn take_done(&self) -> Option<Arc<crate::sync::WaitGroup>> {
        // SAFETY: see the Sync impl: we are the one caller of the one take.
        unsafe { (*self.done.get()).take() }
    }
}

/// After publishing: lower the scope's counter (the scope then finds the
/// result published), and say who drops the fiber's reference.
fn finish(completed: Completed<()>, done: Option<Arc<crate::sync::WaitGroup>>) -> Release {
    if let Some(done) = done {
        done.done();
    }
    match completed {
        Completed::Detached => Release::Drop,
        Completed::Unjoined | Completed::Wake(()) => Release::HandedOver,
    }
}

/// The result (or panic payload) of a fiber nobody joined is dropped here,
/// by whoever lets go of the `Spawned` last: the finishing fiber, or a
/// `JoinHandle` dropped after it finished. A panic from that drop has no
/// joiner to go to, and unwinding further would run off the base of the
/// fiber's stack, so it aborts as std does for a thread's result.
impl<F, T> Drop for Spawned<F, T> {
    fn drop(&mut self) {
        // Joined already (the common case): nothing left to drop.
        let Some(result) = self.packet.take() else {
            return;
        };
        if panic::catch_unwind(AssertUnwindSafe(move || drop(result))).is_err() {
            result_panicked_on_drop();
        }
    }
}

#[cold]
fn result_panicked_on_drop() -> ! {
    use std::io::Write;
    // std's words for the same event on a thread.
    let _ = writeln!(
        io::stderr(),
        "fatal runtime error: thread result panicked on drop, aborting"
    );
    std::process::abort();
}

impl<F, T> Entry for Spawned<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self) -> Release {
        let f = self.take_f();
        let done = self.take_done();
        let completed = publish(&self.packet, || panic::catch_unwind(AssertUnwindSafe(f)));
        // `self` may be freed from here on (the type's docs).
        finish(completed, done)
    }

    fn abandon(&self, error: io::Error) -> Release {
        drop(self.take_f());
        let done = self.take_done();
        let completed = publish(&self.packet, || Err(Box::new(error.to_string())));
        // `self` may be freed from here on (the type's docs).
        finish(completed, done)
    }
}

impl<F: Send, T: Send> AnyResult for Spawned<F, T> {
    fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.packet.take_panic()
    }
}

impl<F: Send, T: Send> ResultSlot<T> for Spawned<F, T> {
    fn packet(&self) -> &ResultPacket<T> {
        &self.packet
    }
}

/// Queue a fiber running `entry`, erasing its lifetime; returns its id.
///
/// # Safety
///
/// The caller must make sure the fiber finishes (its entry has run or been
/// dropped, or has been emptied so that it touches nothing of 'a) before 'a
/// ends.
pub(crate) unsafe fn spawn_entry<'a>(
    shared: &Shared,
    name: Option<Arc<str>>,
    stack: Option<Stack>,
    entry: Pooled<dyn Entry + 'a>,
    pin: bool,
) -> io::Result<u64> {
    // SAFETY: only the lifetime is erased; the caller guarantees the fiber
    // finishes before 'a ends.
    let entry: Pooled<dyn Entry + 'static> = unsafe { core::mem::transmute(entry) };
    shared.spawn(name, stack, entry, pin)
}

/// A `spawn_local` closure on its way to the fiber that runs it.
///
/// Why it may be `Send` although `F` is not: the closure is made on the
/// current worker's thread and only ever runs (or is dropped) there, since
/// its fiber is pinned to that worker and a pinned fiber is queued only in
/// its worker's pinned inbox, which no other worker takes from. Whatever it
/// captured may still be reachable from the calling fiber (an `Rc` clone
/// kept there): that is why `spawn_local` pins the caller too, so that
/// both ends stay on this one thread for the rest of their lives.
pub(crate) struct StaysOnThisThread<F>(pub(crate) F);

// SAFETY: see the type's docs: the value never leaves the thread it was
// made on; `Send` only lets it pass through the spawn path's `Send` bounds.
unsafe impl<F> Send for StaysOnThisThread<F> {}

impl<F> StaysOnThisThread<F> {
    /// Run the closure (a method, so the closure calling it captures the
    /// whole wrapper and not just its non-`Send` field).
    pub(crate) fn call<T>(self) -> T
    where
        F: FnOnce() -> T,
    {
        (self.0)()
    }
}
