//! A reader-writer lock's state and its queue of waiters, in first-come
//! order, under one spin lock: the protocol of `rw_lock.rs` over any
//! waker, so that the loom model below runs it with a test waker.

use std::collections::VecDeque;

use crate::sync::spin_lock::SpinLock;
use crate::sync::wait_queue::{Popped, Wake};

/// What a waiter wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// One queued waiter: its ticket (queue order), what it wants, and how to
/// wake it.
#[derive(Debug)]
struct Entry<W> {
    ticket: u64,
    access: Access,
    waker: W,
}

#[derive(Debug)]
struct State<W> {
    /// Readers holding the lock.
    readers: usize,
    /// Whether a writer holds it.
    writer: bool,
    /// Waiters, oldest first. Entries leave only from the front, and only
    /// when they are granted the lock (nothing else ends a wait).
    queue: VecDeque<Entry<W>>,
    next_ticket: u64,
}

impl<W> State<W> {
    const fn new() -> Self {
        State {
            readers: 0,
            writer: false,
            queue: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// Whether `access` may be taken now: the lock allows it and nobody
    /// waits (newcomers never pass a queued waiter).
    fn may_enter(&self, access: Access) -> bool {
        self.queue.is_empty() && !self.writer && (access == Access::Read || self.readers == 0)
    }

    fn enter(&mut self, access: Access) {
        match access {
            Access::Read => self.readers += 1,
            Access::Write => self.writer = true,
        }
    }

    /// Whether the waiter with `ticket` was granted the lock: its entry
    /// left the queue, which happens only by a grant, in ticket order.
    fn granted(&self, ticket: u64) -> bool {
        self.queue.front().is_none_or(|e| e.ticket > ticket)
    }

    /// The lock is free of writers: grant it to the front of the queue,
    /// a writer alone (once no reader holds it) or every reader up to the
    /// first queued writer. Their wakers go to `woken`.
    fn grant(&mut self, woken: &mut Popped<W>)
    where
        W: Wake,
    {
        debug_assert!(!self.writer);
        while let Some(front) = self.queue.front() {
            match front.access {
                Access::Write if self.readers == 0 => {
                    self.writer = true;
                    let e = self.queue.pop_front().expect("front exists");
                    woken.push(e.waker);
                    return;
                }
                Access::Write => return,
                Access::Read => {
                    self.readers += 1;
                    let e = self.queue.pop_front().expect("front exists");
                    woken.push(e.waker);
                }
            }
        }
    }
}

/// The lock's state and waiters (see the module docs of `rw_lock.rs`).
#[derive(Debug)]
pub(crate) struct RwQueue<W> {
    state: SpinLock<State<W>>,
}

/// A waiter's place: `None` until it queued, then its ticket.
pub(crate) type Ticket = Option<u64>;

impl<W: Wake> RwQueue<W> {
    /// A free lock. `const` outside loom (loom's lock is not const).
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        RwQueue {
            state: SpinLock::new(State::new()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RwQueue {
            state: SpinLock::new(State::new()),
        }
    }

    /// Take `access` if nobody holds the lock against it and nobody waits.
    pub(crate) fn try_enter(&self, access: Access) -> bool {
        let mut s = self.state.lock();
        let ok = s.may_enter(access);
        if ok {
            s.enter(access);
        }
        ok
    }

    /// The register step of a wait for `access`: take it now if
    /// [`try_enter`](Self::try_enter) would (handing `waker` back), or
    /// queue `waker` and note the ticket. Called again after a spurious
    /// wake-up (a thread's), with the ticket: hands `waker` back if the
    /// lock was granted meanwhile, or else replaces the queued waker.
    /// Nothing of the caller's is touched once the waker is queued and the
    /// lock released.
    pub(crate) fn register(&self, access: Access, ticket: &mut Ticket, waker: W) -> Result<(), W> {
        let mut s = self.state.lock();
        match *ticket {
            None if s.may_enter(access) => {
                s.enter(access);
                Err(waker)
            }
            None => {
                let t = s.next_ticket;
                s.next_ticket += 1;
                *ticket = Some(t);
                s.queue.push_back(Entry {
                    ticket: t,
                    access,
                    waker,
                });
                Ok(())
            }
            Some(t) if s.granted(t) => Err(waker),
            Some(t) => {
                let e = s.queue.iter_mut().find(|e| e.ticket == t);
                e.expect("a waiter not granted is queued").waker = waker;
                Ok(())
            }
        }
    }

    /// After a wake-up: whether the waiter holds the lock now (it took it
    /// at registration, or was granted it). `false`: a spurious wake-up;
    /// wait again.
    pub(crate) fn holds(&self, ticket: Ticket) -> bool {
        match ticket {
            None => true,
            Some(t) => self.state.lock().granted(t),
        }
    }

    /// Release `access`, granting the lock to whoever is next; they are
    /// woken after the spin lock is released.
    pub(crate) fn release(&self, access: Access) {
        let woken = {
            let mut s = self.state.lock();
            let mut woken = Popped::new();
            match access {
                Access::Read => s.readers -= 1,
                Access::Write => s.writer = false,
            }
            if !s.writer && s.readers == 0 {
                s.grant(&mut woken);
            }
            woken
        };
        woken.wake();
    }

    /// A writer becomes a reader without letting go: readers queued at
    /// the front come in with it.
    pub(crate) fn downgrade(&self) {
        let woken = {
            let mut s = self.state.lock();
            debug_assert!(s.writer && s.readers == 0);
            s.writer = false;
            s.readers = 1;
            let mut woken = Popped::new();
            s.grant(&mut woken);
            woken
        };
        woken.wake();
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use crate::loom::{Arc, AtomicUsize, Ordering};
    use loom::sync::Notify;
    use loom::thread;

    /// A waker that counts its wake-ups and lets its waiter go on.
    struct Wakes(Arc<(AtomicUsize, Notify)>);
    impl Wake for Wakes {
        fn wake(self) {
            self.0.0.fetch_add(1, Ordering::SeqCst);
            self.0.1.notify();
        }
    }

    /// A writer holds the lock. A reader and a second writer register
    /// (after switching out, in the runtime) while the first writer
    /// releases. Each waiter either takes the lock at registration or is
    /// woken once, holding it (a spurious wake-up re-registers, as in
    /// `RwLock::acquire_contended`); the reader and the second writer
    /// never hold it together; and nobody is left queued.
    ///
    /// Mutations tried: `grant` going on past the writer it just granted
    /// (`continue` for `return`), so the reader queued behind it comes in
    /// too: loom finds the reader and the second writer inside at once.
    /// `register` queueing without checking again (a release between the
    /// check and the registration then grants nobody): loom reports the
    /// deadlock.
    #[test]
    fn waiters_racing_a_release_are_granted_once_and_exclusively() {
        loom::model(|| {
            let q = Arc::new(RwQueue::<Wakes>::new());
            assert!(q.try_enter(Access::Write));
            let inside = Arc::new(AtomicUsize::new(0));
            let waiter = |access: Access| {
                let (q, inside) = (q.clone(), inside.clone());
                thread::spawn(move || {
                    let wakes = Arc::new((AtomicUsize::new(0), Notify::new()));
                    let mut ticket = None;
                    // As `RwLock::acquire_contended`: park until holding
                    // it (loom's `Notify` may wake spuriously, as a
                    // thread's parker may).
                    while q
                        .register(access, &mut ticket, Wakes(wakes.clone()))
                        .is_ok()
                    {
                        wakes.1.wait();
                        if q.holds(ticket) {
                            break;
                        }
                    }
                    assert!(q.holds(ticket));
                    let bit = if access == Access::Write { 1 } else { 2 };
                    let before = inside.fetch_or(bit, Ordering::SeqCst);
                    assert_eq!(before, 0, "reader and writer inside together");
                    inside.fetch_and(!bit, Ordering::SeqCst);
                    q.release(access);
                    wakes.0.load(Ordering::SeqCst)
                })
            };
            let reader = waiter(Access::Read);
            let writer = waiter(Access::Write);
            q.release(Access::Write);
            assert!(reader.join().unwrap() <= 1, "a reader woken twice");
            assert!(writer.join().unwrap() <= 1, "a writer woken twice");
            assert!(q.try_enter(Access::Write), "left held or queued");
        });
    }
}
