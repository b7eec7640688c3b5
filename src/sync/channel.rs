//! Channels: `channel()` (unbounded) and `sync_channel(cap)` (bounded, with
//! back-pressure; capacity 0 is a rendezvous).
//!
//! The API is `std::sync::mpsc`'s, with its error types, except that the
//! [`Receiver`] may be cloned too (many consumers). Blocking parks the fiber.
//!
//! # State (one `WaitQueue`, two wait lists)
//!
//! | field      | meaning                                                   |
//! |------------|-----------------------------------------------------------|
//! | `items`    | messages sent and not yet received                        |
//! | `cap`      | `None` unbounded; `Some(c)`: at most `max(c, 1)` queued     |
//! | `senders`  | live senders; 0 = disconnected for receivers              |
//! | `receivers`| live receivers; 0 = disconnected for senders              |
//! | `sent`, `received` | message counts; a rendezvous sender waits for `received >= its ticket` |
//!
//! | `handoff`  | a parked fiber receiver's slot and waker (see below)       |
//! | `taken_waiter` | a rendezvous: the parked fiber whose queued message waits to be taken (see below) |
//!
//! Receivers wait in list `RECEIVERS` for an item (or disconnection);
//! bounded senders wait in list `SENDERS` for room (or, for capacity 0, for
//! their message to be taken). Each send wakes one receiver; each receive
//! on a bounded channel wakes one sender (all of them for a rendezvous,
//! where the taken message's own sender is among them); disconnection wakes
//! the whole other side.
//!
//! # Hand-off
//!
//! A fiber that blocks in `recv` (attached, not unwinding: it blocks with
//! the lock held, wait_queue.rs) while no other receiver waits parks in
//! `handoff` instead of the list:
//! a pointer to an empty slot on its own stack, and its waker. The next
//! send takes the record under the lock, writes the message into the slot
//! (counted as sent and received at once), and wakes the fiber, which
//! returns the message without locking again. On a rendezvous the
//! message is then taken as the send completes, so the sender returns at
//! once: it has nothing left to wait for.
//!
//! | step | who | under the lock |
//! |------|-----|----------------|
//! | park | receiver, before its switch | nothing queued, a sender left, `handoff` empty and no receiver in the list: block holding the lock, and its register step (right after the switch) stores slot + waker and unlocks; else the general wait (wait_queue.rs) |
//! | send | sender | `handoff` set: take it, write the slot, unlock, wake (a parked receiver is a live one, so nothing else to check); else the general send: queue the message and wake one from the list (a rendezvous sender then waits until it is taken) |
//! | `try_send`, rendezvous | sender | `handoff` set: as `send`; else hand it to a receiver in the list, or fail with `Full` |
//! | last sender gone | dropping sender | take `handoff` and wake it with the list |
//! | woken | receiver | (no lock) slot full: return it; empty (disconnected): check again under the lock |
//!
//! The slot is written only by the sender that took the record, before the
//! wake that resumes the receiver (whose resumption acquires what the wake
//! published), and the receiver cannot leave `recv`, so its stack cannot
//! move, before its waker fires: an untimed fiber waker fires once, from
//! whoever took the record. Receivers that are not parked fibers and
//! timed receives use the list alone. Messages keep their order: the
//! record is set only while no message is queued, and a send fills it
//! before queueing anything.
//!
//! # Rendezvous
//!
//! Capacity 0 queues at most one message, so at most one sender waits for
//! its message to be taken. A fiber parks for that in `taken_waiter`
//! rather than the senders' list, so the take wakes it alone instead of
//! the whole list.
//!
//! | step | who | under the lock |
//! |------|-----|----------------|
//! | send, no receiver parked | sender | queue the message (a receiver in the list is woken); then, as an attached fiber, check `received >= ticket` and park in `taken_waiter` in one hold (the register step stores the waker); a thread waits in the senders' list |
//! | take | receiver | pop the message, count it received; `taken_waiter` set: wake it and one sender in the list (for the room the take made); else wake the whole list (the taken message's sender is there, or not parked yet and sees the count) |
//! | last receiver gone | dropping receiver | wake the list and `taken_waiter`: the sender takes its message back |

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

mod iter;
pub use self::iter::{IntoIter, Iter, TryIter};

mod state;
use self::state::{Chan, HandOff, State, drop_sender, new_chan, take};

use super::wait_queue::{RECEIVERS, SENDERS, Wakeups};
use crate::loom::Arc;
use crate::scheduler::park::{self, Wait, Waker};

/// An unbounded channel: `send` never blocks.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(2).build()?;
/// let (tx, rx) = heddle::sync::channel();
/// for i in 0..3 {
///     let tx = tx.clone();
///     rt.spawn(move || tx.send(i).unwrap());
/// }
/// drop(tx);
/// let mut got: Vec<i32> = rx.iter().collect(); // ends when all senders are gone
/// got.sort();
/// assert_eq!(got, [0, 1, 2]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = new_chan(None);
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// A bounded channel: `send` parks while `cap` messages are queued. With
/// `cap == 0` every send waits until a receiver has taken its message.
///
/// # Examples
///
/// ```
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let (tx, rx) = heddle::sync::sync_channel(2);
/// let producer = rt.spawn(move || {
///     for i in 0..10 {
///         tx.send(i).unwrap(); // parks whenever two are waiting
///     }
/// });
/// assert_eq!(rx.iter().sum::<i32>(), 45);
/// producer.join().unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn sync_channel<T>(cap: usize) -> (SyncSender<T>, Receiver<T>) {
    let chan = new_chan(Some(cap));
    (SyncSender { chan: chan.clone() }, Receiver { chan })
}

/// The sending side of [`channel`]. Cloneable.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The sending side of [`sync_channel`]. Cloneable.
pub struct SyncSender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving side of a channel. Cloneable: each message goes to exactly
/// one receiver.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

// As std's channel ends are: every operation is one update under the
// channel's lock, so a panic never leaves a channel half-changed.
impl<T> std::panic::UnwindSafe for Sender<T> {}
impl<T> std::panic::RefUnwindSafe for Sender<T> {}
impl<T> std::panic::UnwindSafe for SyncSender<T> {}
impl<T> std::panic::RefUnwindSafe for SyncSender<T> {}
impl<T> std::panic::UnwindSafe for Receiver<T> {}
impl<T> std::panic::RefUnwindSafe for Receiver<T> {}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}
impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncSender { .. }")
    }
}
impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}

impl<T> Sender<T> {
    /// Queue a message. Fails, handing the message back, only when every
    /// receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = heddle::sync::channel();
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        let mut locked = self.chan.lock();
        let st = locked.state();
        // A parked receiver (a live one): hand the message over.
        if let Some(parked) = st.handoff.take() {
            let waker = parked.deliver(t, st);
            drop(locked);
            if let Some(waker) = waker.claim() {
                waker.wake();
            }
            return Ok(());
        }
        locked.update(|st, wake| {
            if st.receivers == 0 {
                return Err(SendError(t));
            }
            st.push(t, wake);
            Ok(())
        })
    }
}

impl<T> SyncSender<T> {
    /// Queue a message, parking while the channel is full (for capacity 0:
    /// until a receiver took it). Fails only when every receiver is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = heddle::Builder::new().workers(2).build()?;
    /// let (tx, rx) = heddle::sync::sync_channel(0); // rendezvous
    /// let h = rt.spawn(move || rx.recv().unwrap());
    /// tx.send("hand-off").unwrap(); // returns once the fiber has it
    /// assert_eq!(h.join().unwrap(), "hand-off");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        let mut item = Some(t);
        let mut room = |st: &mut State<T>, wake: &mut Wakeups<'_, Waker>| {
            if st.receivers == 0 {
                return Some(Err(()));
            }
            if st.is_full() {
                return None;
            }
            let ticket = st.push(item.take().expect("sent once"), wake);
            // A rendezvous waits for its message to be taken, unless a
            // parked receiver has it already (the hand-off counts it).
            let taken = st.received >= ticket;
            Some(Ok((st.cap == Some(0) && !taken).then_some(ticket)))
        };
        // Room now (the usual case) costs one hold of the lock; a full
        // channel parks until there is.
        let sent = match self.chan.update(&mut room) {
            Some(sent) => sent,
            None => self.chan.wait_in(SENDERS, Wait::Send, room),
        };
        let ticket = match sent {
            Ok(None) => return Ok(()),
            Ok(Some(ticket)) => ticket,
            Err(()) => return Err(SendError(item.take().expect("not sent"))),
        };
        // Rendezvous: wait until a receiver took our message.
        let taken_or_back = |st: &mut State<T>| {
            if st.received >= ticket {
                Some(Ok(()))
            } else if st.receivers == 0 {
                // Ours is the one queued message (capacity 0 holds one).
                Some(Err(SendError(
                    st.items.pop_back().expect("our message is queued"),
                )))
            } else {
                None
            }
        };
        // A fiber parks in the channel's slot for this one sender, so the
        // take wakes it alone (module docs).
        while park::blocks_in_place() {
            let mut locked = self.chan.lock();
            if let Some(done) = taken_or_back(locked.state()) {
                return done;
            }
            locked.block_in_place(Wait::Send, |st, waker| {
                debug_assert!(st.taken_waiter.is_none(), "one message in flight");
                st.taken_waiter = Some(waker);
            });
        }
        self.chan.wait_in(SENDERS, Wait::Send, |st, _| taken_or_back(st))
    }

    /// Queue a message if there is room now, without waiting. For capacity
    /// 0 (a rendezvous) that means: if a receiver is waiting for it now,
    /// as in std; otherwise `Full`, and the message comes back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = heddle::sync::sync_channel(1);
    /// tx.try_send(1).unwrap();
    /// assert!(matches!(tx.try_send(2), Err(std::sync::mpsc::TrySendError::Full(2))));
    /// ```
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        self.chan.update(|st, wake| {
            if st.receivers == 0 {
                return Err(TrySendError::Disconnected(t));
            }
            if st.is_full() {
                return Err(TrySendError::Full(t));
            }
            if st.cap == Some(0) {
                // Hand it to a parked receiver, or not at all: a message
                // queued with nobody waiting would outlive the call.
                // (A woken receiver always takes before it gives up.)
                if st.handoff.is_some() {
                    st.push(t, wake);
                    return Ok(());
                }
                if !wake.wake_one() {
                    return Err(TrySendError::Full(t));
                }
                st.enqueue(t);
                return Ok(());
            }
            st.push(t, wake);
            Ok(())
        })
    }
}

impl<T> Receiver<T> {
    /// Take the next message, parking until one arrives. Fails when the
    /// channel is empty and every sender is gone.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = heddle::sync::channel();
    /// tx.send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv(), Ok(5));
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut slot: Option<T> = None;
        let slot: *mut Option<T> = &mut slot;
        // A fiber that blocks in place may park in the hand-off record
        // (module docs); anyone else waits in the list.
        while park::blocks_in_place() {
            let mut locked = self.chan.lock();
            let st = locked.state();
            if st.items.is_empty()
                && st.senders > 0
                && st.handoff.is_none()
                && locked.list_is_empty(RECEIVERS)
            {
                // Nothing to take and nobody ahead of us: park in the
                // hand-off record (module docs). The check and the record
                // are one hold of the lock, which the register step
                // releases right after our switch.
                locked.block_in_place(Wait::Recv, |st, waker| {
                    st.handoff = Some(HandOff { slot, waker });
                });
                // SAFETY: `slot` lives in this frame; a sender writes it only
                // while we are parked, before the wake that resumed us.
                if let Some(t) = unsafe { (*slot).take() } {
                    return Ok(t);
                }
                // Woken with the slot empty: the last sender left.
                continue;
            }
            // Anything else (a message queued, disconnected, a rendezvous,
            // another receiver first): the general round, under this hold.
            if let Some(r) = locked.wait_once_in_place(RECEIVERS, Wait::Recv, None, &mut take) {
                return r;
            }
        }
        self.chan.wait_in(RECEIVERS, Wait::Recv, take)
    }

    /// Take a message if one is queued, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::TryRecvError;
    /// let (tx, rx) = heddle::sync::channel::<i32>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.chan.update(take) {
            Some(Ok(t)) => Ok(t),
            Some(Err(RecvError)) => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Like [`recv`](Self::recv), but give up after `timeout`. A timeout
    /// past `Instant`'s range (`Duration::MAX`) waits without a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use std::sync::mpsc::RecvTimeoutError;
    /// let rt = heddle::Builder::new().workers(1).build()?;
    /// let (_tx, rx) = heddle::sync::channel::<u8>();
    /// let r = rt.block_on(|| rx.recv_timeout(Duration::from_millis(10)));
    /// assert_eq!(r, Err(RecvTimeoutError::Timeout));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            // Past `Instant`'s range: no deadline at all, as in std.
            return self
                .recv()
                .map_err(|RecvError| RecvTimeoutError::Disconnected);
        };
        let got = self
            .chan
            .wait_in_until(RECEIVERS, Wait::Recv, deadline, take);
        match got {
            Some(Ok(t)) => Ok(t),
            Some(Err(RecvError)) => Err(RecvTimeoutError::Disconnected),
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// An iterator of messages, parking for each, until disconnection.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = heddle::sync::channel();
    /// (0..4).for_each(|i| tx.send(i).unwrap());
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator of the messages queued now, without waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = heddle::sync::channel();
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// assert_eq!(rx.try_iter().count(), 2);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.update(|st, _| st.senders += 1);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        self.chan.update(|st, _| st.senders += 1);
        SyncSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.update(|st, _| st.receivers += 1);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        drop_sender(&self.chan);
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        drop_sender(&self.chan);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let orphans = self.chan.update(|st, wake| {
            st.receivers -= 1;
            if st.receivers > 0 {
                return VecDeque::new();
            }
            wake.wake_all_in(SENDERS);
            if let Some(sender) = st.taken_waiter.take() {
                wake.wake_kept(sender);
            }
            if st.cap == Some(0) {
                // A rendezvous sender takes its undelivered message back.
                VecDeque::new()
            } else {
                std::mem::take(&mut st.items)
            }
        });
        drop(orphans); // user destructors run outside the lock
    }
}
