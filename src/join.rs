//! `JoinHandle`: waiting for a fiber's result.
//!
//! The protocol between the finishing fiber and its joiner is the latch in
//! `scheduler/packet.rs`; blocking the joiner (fiber or thread) is
//! `scheduler/park.rs`.

use core::cell::UnsafeCell;
use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use crate::fiber::Fiber;
use crate::loom::Arc;
use crate::scheduler::packet::Packet;
use crate::scheduler::park::{self, Waker};
use crate::scheduler::task::Entry;

pub(crate) type ResultPacket<T> = Packet<thread::Result<T>, Waker>;

/// A fiber's result seen without its type, for scopes (which hold fibers of
/// many result types).
pub(crate) trait AnyResult: Send + Sync {
    /// Take the result if nobody joined it: the panic payload, if it panicked.
    fn take_panic(&self) -> Option<Box<dyn Any + Send>>;
}

/// Where a [`JoinHandle<T>`] finds its fiber's result.
pub(crate) trait ResultSlot<T>: AnyResult {
    fn packet(&self) -> &ResultPacket<T>;
}

impl<T: Send> AnyResult for ResultPacket<T> {
    fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        match self.take() {
            Some(Err(payload)) => Some(payload),
            _ => None, // joined already, or Ok (the value is dropped here)
        }
    }
}

/// Wait for the result in `packet`: park the fiber (or the thread) until
/// the fiber that fills it finishes.
pub(crate) fn wait<T>(packet: &ResultPacket<T>) -> thread::Result<T> {
    loop {
        if let Some(result) = packet.take() {
            return result;
        }
        park::block(&mut |waker| packet.register(waker));
    }
}

/// An owned permission to wait for a fiber's result.
///
/// Returned by [`spawn`](crate::spawn), [`Runtime::spawn`](crate::Runtime::spawn)
/// and [`fiber::Builder::spawn`](crate::fiber::Builder::spawn). Dropping it
/// detaches the fiber: it still runs to completion, and its result is dropped.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let h = rt.spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinHandle<T> {
    packet: Arc<dyn ResultSlot<T>>,
    fiber: Fiber,
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("fiber", &self.fiber)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(packet: Arc<dyn ResultSlot<T>>, fiber: Fiber) -> Self {
        JoinHandle { packet, fiber }
    }

    pub(crate) fn packet(&self) -> &Arc<dyn ResultSlot<T>> {
        &self.packet
    }

    /// Wait for the fiber to finish and return its result: `Ok` with its
    /// return value, or `Err` with the payload it panicked with.
    ///
    /// Inside a fiber this suspends only the calling fiber; its worker runs
    /// other fibers meanwhile. On a plain thread it blocks the thread.
    ///
    /// # Panics
    ///
    /// When a fiber joins its own handle (std panics likewise when a thread
    /// joins itself): waiting would never end.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let sum = rt.block_on(|| {
    ///     let hs: Vec<_> = (1..=10u64).map(|i| heddle::spawn(move || i * i)).collect();
    ///     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    /// });
    /// assert_eq!(sum, 385);
    /// let failed = rt.spawn(|| panic!("oops")).join();
    /// assert_eq!(*failed.unwrap_err().downcast::<&str>().unwrap(), "oops");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(self) -> thread::Result<T> {
        let packet = self.packet.packet();
        if let Some(result) = packet.take() {
            return result;
        }
        // About to wait. A fiber cannot have finished while it runs, so
        // this is the one place a self-join can be caught.
        if crate::fiber::try_current_id() == Some(self.fiber.id()) {
            joined_itself();
        }
        wait(packet)
    }

    /// Whether the fiber has finished (its result is ready for [`join`](Self::join)).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let h = rt.spawn(|| ());
    /// while !h.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(h.join().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.packet.packet().is_done()
    }

    /// The fiber this handle waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let h = heddle::fiber::Builder::new().name("worker").spawn_on(&rt, || 1)?;
    /// assert_eq!(h.fiber().name(), Some("worker"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fiber(&self) -> &Fiber {
        &self.fiber
    }
}

#[cold]
fn joined_itself() -> ! {
    panic!("heddle: a fiber joined itself (deadlock avoided)");
}

/// Store a fiber's result, computed in place, and wake its joiner if one
/// waits.
pub(crate) fn publish<T>(packet: &ResultPacket<T>, make: impl FnOnce() -> thread::Result<T>) {
    if let Some(waker) = packet.complete(make) {
        waker.wake();
    }
}

/// A spawned fiber's closure, its result packet and its scope's counter, in
/// one allocation shared by the fiber (as its [`Entry`]) and its
/// [`JoinHandle`] (as its [`ResultSlot`]).
///
/// | field    | written by                       | read by                |
/// |----------|----------------------------------|------------------------|
/// | `f`      | spawn; taken once by the fiber   | the fiber only         |
/// | `packet` | see packet.rs                    | the joiner, the scope  |
/// | `done`   | spawn                            | the fiber, at its end  |
pub(crate) struct Spawned<F, T> {
    f: UnsafeCell<Option<F>>,
    packet: ResultPacket<T>,
    /// Lowered after the result is stored (scoped fibers).
    done: Option<Arc<crate::sync::WaitGroup>>,
}

// SAFETY: `f` is taken exactly once, by the worker running (or abandoning)
// the fiber, through `Entry::run` / `Entry::abandon`; no other path touches
// it, so sharing the Arc never shares `f`. F: Send lets it move to that
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
            done,
        }
    }

    /// The handle's view of `this`, with the lifetimes of F and T erased.
    ///
    /// # Safety
    ///
    /// Whatever F and T borrow must outlive every use of the returned Arc
    /// (spawn's `'static` bounds, or a scope that drains its packets before
    /// it returns).
    pub(crate) unsafe fn erase<'a>(this: Arc<Self>) -> Arc<dyn ResultSlot<T>>
    where
        F: 'a,
        T: 'a,
    {
        let this: Arc<dyn ResultSlot<T> + 'a> = this;
        // SAFETY: only the lifetime bound of the trait object changes; the
        // caller keeps the borrowed data alive (see above).
        unsafe { core::mem::transmute::<Arc<dyn ResultSlot<T> + 'a>, Arc<dyn ResultSlot<T>>>(this) }
    }

    /// Take the closure: only `run` and `abandon` call this, once in all.
    fn take_f(&self) -> F {
        // SAFETY: see the Sync impl: we are the one caller of the one take.
        unsafe { (*self.f.get()).take() }.expect("a fiber's closure is taken once")
    }

    fn finish(&self) {
        if let Some(done) = &self.done {
            done.done();
        }
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
    fn run(self: Arc<Self>) {
        let f = self.take_f();
        publish(&self.packet, || panic::catch_unwind(AssertUnwindSafe(f)));
        self.finish();
    }

    fn abandon(self: Arc<Self>, error: io::Error) {
        drop(self.take_f());
        publish(&self.packet, || Err(Box::new(error.to_string())));
        self.finish();
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
