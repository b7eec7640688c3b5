//! Handles to fibers: [`FiberId`] and [`Fiber`] (who a fiber is) and
//! [`JoinHandle`] (the permission to wait for its result).
//!
//! The protocol between the finishing fiber and its joiner is the latch in
//! `scheduler/packet.rs`; blocking the joiner (fiber or thread) is
//! `scheduler/park.rs`.

use std::any::Any;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::thread;

use crate::loom::Arc;
use crate::pool::Pooled;
use crate::scheduler::current;
use crate::scheduler::packet::{Completed, Packet};
use crate::scheduler::park::{self, Wait, Waker};

/// A fiber's identifier: unique among all fibers of the process, never reused.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let (a, b) = rt.block_on(|| {
///     let h = heddle::spawn(|| heddle::fiber::current().id());
///     (heddle::fiber::current().id(), h.join().unwrap())
/// });
/// assert_ne!(a, b);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiberId(NonZeroU64);

impl FiberId {
    /// The id as a number.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let id = rt.block_on(|| heddle::fiber::current().id().as_u64());
    /// assert!(id.get() >= 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }

    pub(crate) fn new(id: u64) -> FiberId {
        FiberId(NonZeroU64::new(id).expect("fiber ids start at 1"))
    }
}

/// A handle naming a fiber: its id and optional name.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let name = rt.block_on(|| {
///     heddle::fiber::Builder::new()
///         .name("parser")
///         .spawn(|| heddle::fiber::current().name().map(String::from))
///         .unwrap()
///         .join()
///         .unwrap()
/// });
/// assert_eq!(name.as_deref(), Some("parser"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Fiber {
    id: FiberId,
    name: Option<Arc<str>>,
}

impl Fiber {
    pub(crate) fn new(id: u64, name: Option<Arc<str>>) -> Fiber {
        Fiber {
            id: FiberId::new(id),
            name,
        }
    }

    /// The fiber's id.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let h = rt.spawn(|| heddle::fiber::current().id());
    /// let id = h.fiber().id();
    /// assert_eq!(h.join().unwrap(), id);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn id(&self) -> FiberId {
        self.id
    }

    /// The fiber's name, if it was given one with [`Builder::name`](crate::fiber::Builder::name).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// assert_eq!(rt.spawn(|| ()).fiber().name(), None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The id of the fiber running this code, without cloning its name.
fn current_id() -> Option<FiberId> {
    let task = current::current_task()?;
    // SAFETY: the running task lives at least as long as this call, and we
    // are on its stack, so nobody else touches its id.
    Some(FiberId::new(unsafe { (*task).id }))
}

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
/// the fiber that fills it (fiber `id`) finishes.
pub(crate) fn wait<T>(packet: &ResultPacket<T>, id: u64) -> thread::Result<T> {
    loop {
        if let Some(result) = packet.take() {
            return result;
        }
        park::block(Wait::Join(id), &mut |waker| packet.register(waker));
    }
}

/// An owned permission to wait for a fiber's result.
///
/// Returned by [`spawn`](fn@crate::spawn), [`Runtime::spawn`](crate::Runtime::spawn)
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
    /// The block shared with the fiber (spawn.rs); dropped in `Drop`.
    packet: ManuallyDrop<Pooled<dyn ResultSlot<T>>>,
    fiber: Fiber,
}

/// Once the fiber finished, its reference to the shared block is ours
/// (scheduler/packet.rs, "Who frees a spawned fiber's block"): we drop
/// both, with no locked instruction when nobody else holds one. Before
/// that, `detach` tells the fiber to drop its own.
impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let packet = unsafe { ManuallyDrop::take(&mut self.packet) };
        let latch = packet.packet();
        if latch.is_done() || !latch.detach() {
            // SAFETY: DONE, read with Acquire after the fiber's AcqRel
            // `complete`: the fiber handed its reference over and never
            // touches the block again.
            unsafe { packet.drop_with_handed_over() };
        } else {
            drop(packet); // the fiber keeps its own reference
        }
    }
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
    pub(crate) fn new(packet: Pooled<dyn ResultSlot<T>>, fiber: Fiber) -> Self {
        JoinHandle {
            packet: ManuallyDrop::new(packet),
            fiber,
        }
    }

    pub(crate) fn packet(&self) -> &Pooled<dyn ResultSlot<T>> {
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
        if current_id() == Some(self.fiber.id()) {
            joined_itself();
        }
        wait(packet, self.fiber.id().as_u64().get())
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
pub(crate) fn publish<T>(
    packet: &ResultPacket<T>,
    make: impl FnOnce() -> thread::Result<T>,
) -> Completed<()> {
    match packet.complete(make) {
        Completed::Wake(waker) => {
            waker.wake();
            Completed::Wake(())
        }
        Completed::Unjoined => Completed::Unjoined,
        Completed::Detached => Completed::Detached,
    }
}
