//! A channel's state under its wait queue's lock, and the steps every
//! operation shares: queueing or handing off a message, taking one, the
//! last sender leaving. The table of fields and the hand-off protocol are
//! in the parent module's docs.

use std::collections::VecDeque;
use std::sync::mpsc::RecvError;

use crate::loom::Arc;
use crate::scheduler::park::Waker;
use crate::sync::wait_queue::{RECEIVERS, SENDERS, WaitQueue, Wakeups};

pub(super) struct State<T> {
    pub(super) items: VecDeque<T>,
    pub(super) cap: Option<usize>,
    pub(super) senders: usize,
    pub(super) receivers: usize,
    pub(super) sent: u64,
    pub(super) received: u64,
    pub(super) handoff: Option<HandOff<T>>,
    /// On a rendezvous, the parked fiber whose queued message waits to be
    /// taken (capacity 0 holds one, so there is at most one such sender);
    /// the receiver that takes the message wakes it (see "Rendezvous" in
    /// the module docs).
    pub(super) taken_waiter: Option<Waker>,
}

/// A parked fiber receiver (see "Hand-off" in the module docs).
pub(super) struct HandOff<T> {
    pub(super) slot: *mut Option<T>,
    pub(super) waker: Waker,
}

impl<T> HandOff<T> {
    /// Write `t` into the parked receiver's slot, counted in `st` (which
    /// this record was just taken from, under the channel's lock) as sent
    /// and received; returns the waker to fire once the lock is released.
    pub(super) fn deliver(self, t: T, st: &mut State<T>) -> Waker {
        // SAFETY: the receiver is parked until `waker` fires, which is
        // after the caller unlocks; only the taker of the record writes the
        // slot (see "Hand-off" in the module docs).
        unsafe { *self.slot = Some(t) };
        st.sent += 1;
        st.received += 1;
        self.waker
    }
}

// SAFETY: the slot is written by one sender, under the channel's lock,
// while its receiver is parked (the module docs' hand-off table); what
// moves between threads through it is a `T`, which is `Send` here.
unsafe impl<T: Send> Send for HandOff<T> {}

impl<T> State<T> {
    /// Whether a bounded channel has no room (capacity 0 holds one message
    /// in flight).
    pub(super) fn is_full(&self) -> bool {
        self.items.len() >= self.cap.unwrap_or(usize::MAX).max(1)
    }

    /// Hand a message to the parked receiver, or queue it and wake one
    /// receiver; returns the message's ticket.
    pub(super) fn push(&mut self, t: T, wake: &mut Wakeups<'_, Waker>) -> u64 {
        if let Some(parked) = self.handoff.take() {
            wake.wake_kept(parked.deliver(t, self));
            return self.sent;
        }
        wake.wake_one();
        self.enqueue(t)
    }

    /// Queue a message (its receiver is woken by the caller); returns its
    /// ticket.
    pub(super) fn enqueue(&mut self, t: T) -> u64 {
        self.items.push_back(t);
        self.sent += 1;
        self.sent
    }
}

pub(super) type Chan<T> = WaitQueue<State<T>, Waker>;

pub(super) fn new_chan<T>(cap: Option<usize>) -> Arc<Chan<T>> {
    Arc::new(WaitQueue::new(State {
        items: VecDeque::new(),
        cap,
        senders: 1,
        receivers: 1,
        sent: 0,
        received: 0,
        handoff: None,
        taken_waiter: None,
    }))
}

/// Take a message if one is queued; used by every receive operation.
pub(super) fn take<T>(
    st: &mut State<T>,
    wake: &mut Wakeups<'_, Waker>,
) -> Option<Result<T, RecvError>> {
    match st.items.pop_front() {
        Some(t) => {
            st.received += 1;
            match st.cap {
                // The taken message's sender parked in its own slot: wake
                // it, and one sender waiting for the room this take made.
                // Otherwise it may be anywhere in the list: wake them all.
                Some(0) => match st.taken_waiter.take() {
                    Some(sender) => {
                        wake.wake_kept(sender);
                        wake.wake_one_in(SENDERS);
                    }
                    None => wake.wake_all_in(SENDERS),
                },
                Some(_) => {
                    wake.wake_one_in(SENDERS);
                }
                None => {}
            }
            Some(Ok(t))
        }
        None if st.senders == 0 => Some(Err(RecvError)),
        None => None,
    }
}

pub(super) fn drop_sender<T>(chan: &Chan<T>) {
    chan.update(|st, wake| {
        st.senders -= 1;
        if st.senders == 0 {
            if let Some(parked) = st.handoff.take() {
                wake.wake_kept(parked.waker);
            }
            wake.wake_all_in(RECEIVERS);
        }
    });
}
