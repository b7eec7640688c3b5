//! `JoinHandle`: waiting for a fiber's result.
//!
//! The protocol between the finishing fiber and its joiner is the latch in
//! `scheduler/packet.rs`; blocking the joiner (fiber or thread) is
//! `scheduler/park.rs`.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use crate::fiber::Fiber;
use crate::loom::Arc;
use crate::scheduler::packet::Packet;
use crate::scheduler::park::{self, Waker};
use crate::scheduler::task::Entry;

pub(crate) type ResultPacket<T> = Packet<thread::Result<T>, Waker>;

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
#[derive(Debug)]
pub struct JoinHandle<T> {
    packet: Arc<ResultPacket<T>>,
    fiber: Fiber,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(packet: Arc<ResultPacket<T>>, fiber: Fiber) -> Self {
        JoinHandle { packet, fiber }
    }

    pub(crate) fn packet(&self) -> &Arc<ResultPacket<T>> {
        &self.packet
    }

    /// Wait for the fiber to finish and return its result: `Ok` with its
    /// return value, or `Err` with the payload it panicked with.
    ///
    /// Inside a fiber this suspends only the calling fiber; its worker runs
    /// other fibers meanwhile. On a plain thread it blocks the thread.
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
        loop {
            if let Some(result) = self.packet.take() {
                return result;
            }
            park::block(&mut |waker| self.packet.register(waker));
        }
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
        self.packet.is_done()
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

/// Store a fiber's result, computed in place, and wake its joiner if one
/// waits.
pub(crate) fn publish<T>(packet: &ResultPacket<T>, make: impl FnOnce() -> thread::Result<T>) {
    if let Some(waker) = packet.complete(make) {
        waker.wake();
    }
}

/// A fiber's closure together with the packet its result goes to.
pub(crate) struct Spawned<F, T> {
    pub(crate) f: F,
    pub(crate) packet: Arc<ResultPacket<T>>,
    /// Lowered after the result is stored (scoped fibers).
    pub(crate) done: Option<Arc<crate::sync::WaitGroup>>,
}

impl<F, T> Entry for Spawned<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(self: Box<Self>) {
        let Spawned { f, packet, done } = *self;
        publish(&packet, || panic::catch_unwind(AssertUnwindSafe(f)));
        if let Some(done) = done {
            done.done();
        }
    }

    fn abandon(self: Box<Self>, error: io::Error) {
        let Spawned { f, packet, done } = *self;
        drop(f);
        publish(&packet, || Err(Box::new(error.to_string())));
        if let Some(done) = done {
            done.done();
        }
    }
}
