//! The one wait-queue primitive every blocking type in `heddle::sync` is
//! built on: some state `S` and the waiters blocked until it changes, under
//! one lock.
//!
//! # Protocol
//!
//! Waiting (a fiber, or a plain thread) for `ready(&mut S)` to hold:
//!
//! 1. lock; if `ready` holds, take its result; unlock. Done.
//! 2. otherwise block (park.rs): the fiber switches out first, and only
//!    then, on its worker's stack, does the register step run:
//! 3. register: queue the waker in `waiters`; unlock.
//! 4. when woken, go to 1 (a wake is a hint: another waiter may have taken
//!    what we were woken for).
//!
//! The lock taken in step 1 is held across the switch and released by the
//! register step: a spin lock (spin_lock.rs), and the register step runs on
//! the same thread right after the switch, before any other code runs
//! there (`park::blocks_in_place`), so the hold is a few dozen
//! instructions longer than the check. Where blocking is not one plain
//! switch (a plain thread, a fiber that is unwinding or detached, which
//! may rejoin its worker on another thread first), step 1 unlocks, and
//! the register step locks again and checks `ready` **again** before it
//! queues the waker; if it holds by then, it keeps the result and hands
//! the waker back (the fiber is re-queued at once).
//!
//! Changing the state: lock; change it; pop as many waiters as the change
//! can satisfy into a [`Wakeups`] list; unlock; wake them.
//!
//! A type with a hot path of its own (a channel's hand-off) takes the lock
//! itself ([`WaitQueue::lock`], a [`Locked`] hold), looks at the state,
//! and either finishes there (a send that fills a parked receiver's slot
//! and wakes it after unlocking) or goes on with one of the steps above
//! under the same hold, so that a check and what follows from it stay one
//! hold of the lock.
//!
//! | waiter                                   | notifier                    | outcome                    |
//! |------------------------------------------|-----------------------------|----------------------------|
//! | check and register under one hold        | before: waiter sees the change; after: pops the waiter | never parked / woken |
//! | re-locking register runs first, `ready` false | later: pops the waiter | woken, re-checks: proceeds |
//! | re-locking register runs after the notifier | changed state first | `ready` true: not parked |
//!
//! The race closed: the wake that arrives after the fiber decided to wait
//! but before its context is saved. The fiber publishes nothing before
//! switching out; the state it checked cannot change before its waker is
//! queued (one hold of the lock), or is checked again under the lock the
//! notifier holds while changing it, so either the notifier finds the
//! waiter in `waiters`, or the waiter finds the changed state. Wakers are
//! fired after unlocking, so a woken fiber never contends on the lock with
//! the notifier that woke it.

use std::collections::VecDeque;

use super::spin_lock::{SpinGuard, SpinLock};

/// Something that can be woken ([`crate::scheduler::park::Waker`], or a test
/// double under loom).
pub(crate) trait Wake: Sized {
    fn wake(self);
    /// The waker to fire, or `None` if its waiter is gone (a timed wait that
    /// already timed out). Claimed under the queue's lock, so a `wake_one`
    /// never spends itself on a waiter that will not run.
    fn claim(self) -> Option<Self> {
        Some(self)
    }
    /// Whether its waiter still waits; a waiter that timed out (or was
    /// woken another way) may be dropped from the list.
    fn is_live(&self) -> bool {
        true
    }
}

/// A list compacts (drops waiters that no longer wait) only from this many
/// entries on.
pub(crate) const COMPACT_AT_LEAST: usize = 16;

/// The wait lists of a queue: list 0 for most types; channels keep their
/// receivers in [`RECEIVERS`] and blocked senders in [`SENDERS`].
pub(crate) const LISTS: usize = 2;
/// Waiters for an item (and the only list most types use).
pub(crate) const RECEIVERS: usize = 0;
/// Waiters for room in a bounded channel.
pub(crate) const SENDERS: usize = 1;

/// Waiters popped under the lock, woken after it is released.
#[derive(Debug)]
pub(crate) struct Wakeups<'a, W> {
    waiters: &'a mut [VecDeque<W>; LISTS],
    popped: Popped<W>,
}

/// The waiters a [`Wakeups`] popped, in order: the first inline, so that
/// the common case (a send waking one receiver, an unlock waking one
/// waiter) allocates nothing; more only for a wake of several.
#[derive(Debug)]
pub(crate) struct Popped<W> {
    first: Option<W>,
    more: Vec<W>,
}

impl<W: Wake> Popped<W> {
    pub(crate) const fn new() -> Self {
        Popped {
            first: None,
            more: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, w: W) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.more.push(w);
        }
    }

    /// Wake them all, in the order they were popped (after the lock).
    pub(crate) fn wake(self) {
        let Popped { first, more } = self;
        if let Some(w) = first {
            w.wake();
        }
        if !more.is_empty() {
            wake_more(more);
        }
    }
}

impl<W: Wake> Wakeups<'_, W> {
    /// Wake the longest-waiting live waiter of list 0, if any. Returns
    /// whether there was one.
    pub(crate) fn wake_one(&mut self) -> bool {
        self.wake_one_in(RECEIVERS)
    }

    /// Wake `w`, a waker the state kept outside the lists (a hand-off,
    /// channel.rs), with the others after the lock is released.
    pub(crate) fn wake_kept(&mut self, w: W) {
        if let Some(w) = w.claim() {
            self.popped.push(w);
        }
    }

    /// Wake every waiter of list 0.
    pub(crate) fn wake_all(&mut self) {
        self.wake_all_in(RECEIVERS);
    }

    /// Wake the longest-waiting live waiter of `list`.
    pub(crate) fn wake_one_in(&mut self, list: usize) -> bool {
        while let Some(w) = self.waiters[list].pop_front() {
            if let Some(w) = w.claim() {
                self.popped.push(w);
                return true;
            }
        }
        false
    }

    /// Wake every waiter of `list`.
    pub(crate) fn wake_all_in(&mut self, list: usize) {
        for w in self.waiters[list].drain(..).filter_map(Wake::claim) {
            self.popped.push(w);
        }
    }
}

/// The rest of a wake of several, kept out of the common path (a drained
/// `Vec`'s iterator costs more than the one wake it usually replaces).
#[cold]
fn wake_more<W: Wake>(more: Vec<W>) {
    for w in more {
        w.wake();
    }
}

#[derive(Debug)]
struct Inner<S, W> {
    state: S,
    waiters: [VecDeque<W>; LISTS],
    /// Per list: compact when it reaches this length (see `register`).
    compact_at: [usize; LISTS],
}

impl<S, W: Wake> Inner<S, W> {
    /// Run `f` on the state; the waiters it pops come back, to be woken
    /// once the lock is released.
    fn run<R>(&mut self, f: impl FnOnce(&mut S, &mut Wakeups<'_, W>) -> R) -> (R, Popped<W>) {
        let Inner { state, waiters, .. } = self;
        let mut wake = Wakeups {
            waiters,
            popped: Popped::new(),
        };
        let r = f(state, &mut wake);
        (r, wake.popped)
    }

    /// Queue `waker` in `list`. Queueing also keeps the list proportional
    /// to the waiters that still wait: a timed-out waiter's entry stays
    /// behind (claimed, so wakes skip it), and once a list reaches twice
    /// its length after the last compaction (and at least
    /// [`COMPACT_AT_LEAST`]), such entries are dropped. O(1) amortized.
    fn enqueue(&mut self, list: usize, waker: W) {
        let queue = &mut self.waiters[list];
        if queue.len() >= self.compact_at[list] {
            queue.retain(W::is_live);
            self.compact_at[list] = COMPACT_AT_LEAST.max(2 * queue.len());
        }
        queue.push_back(waker);
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct WaitQueue<S, W> {
    inner: SpinLock<Inner<S, W>>,
}

impl<S, W> Inner<S, W> {
    const fn new(state: S) -> Self {
        Inner {
            state,
            waiters: [VecDeque::new(), VecDeque::new()],
            compact_at: [COMPACT_AT_LEAST; LISTS],
        }
    }
}

impl<S, W> WaitQueue<S, W> {
    /// A queue with `state` and nobody waiting. A `const fn` outside loom,
    /// so that types built on it can be `static` (loom's lock is not const).
    #[cfg(not(loom))]
    pub(crate) const fn new(state: S) -> Self {
        WaitQueue {
            inner: SpinLock::new(Inner::new(state)),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(state: S) -> Self {
        WaitQueue {
            inner: SpinLock::new(Inner::new(state)),
        }
    }
}

/// A queue's lock, held: for a type's own fast path, which looks at the
/// state first and either finishes the step itself or goes on with one of
/// the general steps below under the same hold (channel.rs).
pub(crate) struct Locked<'a, S, W> {
    guard: SpinGuard<'a, Inner<S, W>>,
}

impl<S, W: Wake> Locked<'_, S, W> {
    /// The state.
    #[inline]
    pub(crate) fn state(&mut self) -> &mut S {
        &mut self.guard.state
    }

    /// Whether nobody waits in `list`.
    #[inline]
    pub(crate) fn list_is_empty(&self, list: usize) -> bool {
        self.guard.waiters[list].is_empty()
    }

    /// [`WaitQueue::update`] under this hold.
    #[inline]
    pub(crate) fn update<R>(mut self, f: impl FnOnce(&mut S, &mut Wakeups<'_, W>) -> R) -> R {
        let (r, popped) = self.guard.run(f);
        drop(self);
        popped.wake();
        r
    }
}

impl<S, W: Wake> WaitQueue<S, W> {
    /// Take the lock (see [`Locked`]).
    #[inline]
    pub(crate) fn lock(&self) -> Locked<'_, S, W> {
        Locked {
            guard: self.inner.lock(),
        }
    }

    /// Change the state under the lock; waiters popped through `Wakeups`
    /// are woken after the lock is released.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut S, &mut Wakeups<'_, W>) -> R) -> R {
        self.lock().update(f)
    }

    /// Step 3: re-check `ready` under the lock and either keep its result
    /// (handing `waker` back) or queue `waker` (see `Inner::enqueue`).
    pub(crate) fn register<R>(
        &self,
        list: usize,
        waker: W,
        ready: &mut impl FnMut(&mut S, &mut Wakeups<'_, W>) -> Option<R>,
        out: &mut Option<R>,
    ) -> Result<(), W> {
        // Woken waiters are fired only after unlocking, and nothing of the
        // caller's is touched then: once queued, the waiter may already be
        // running elsewhere (park.rs).
        let (r, popped) = {
            let mut g = self.inner.lock();
            match g.run(ready) {
                (Some(r), popped) => {
                    *out = Some(r);
                    (Err(waker), popped)
                }
                (None, popped) => {
                    g.enqueue(list, waker);
                    (Ok(()), popped)
                }
            }
        };
        popped.wake();
        r
    }
}

#[cfg(not(loom))]
mod blocking {
    use super::*;
    use crate::scheduler::park::{self, Wait, Waker};

    use std::time::Instant;

    impl Wake for Waker {
        fn wake(self) {
            Waker::wake(self)
        }
        fn claim(self) -> Option<Self> {
            Waker::claim(self)
        }
        fn is_live(&self) -> bool {
            Waker::is_live(self)
        }
    }

    impl<S> WaitQueue<S, Waker> {
        /// Block the current fiber (or thread) until `ready` returns `Some`,
        /// and return that. `ready` runs under the lock and may wake others.
        pub(crate) fn wait_until<R>(
            &self,
            why: Wait,
            ready: impl FnMut(&mut S, &mut Wakeups<'_, Waker>) -> Option<R>,
        ) -> R {
            self.wait_in(RECEIVERS, why, ready)
        }

        /// [`wait_until`](Self::wait_until), waiting in wait list `list`.
        /// `why` says what a dump reports the waiter waits on.
        pub(crate) fn wait_in<R>(
            &self,
            list: usize,
            why: Wait,
            mut ready: impl FnMut(&mut S, &mut Wakeups<'_, Waker>) -> Option<R>,
        ) -> R {
            loop {
                if park::blocks_in_place() {
                    if let Some(r) =
                        self.wait_once_in_place(list, why, None, &mut ready)
                    {
                        return r;
                    }
                    continue;
                }
                if let Some(r) = self.update(&mut ready) {
                    return r;
                }
                let mut out = None;
                park::block(why, &mut |waker| {
                    self.register(list, waker, &mut ready, &mut out)
                });
                if let Some(r) = out {
                    return r;
                }
            }
        }

        /// One round of a wait, for a fiber that checked
        /// [`park::blocks_in_place`]: lock; if `ready` holds, return its
        /// result; otherwise block holding the lock (and also until
        /// `deadline`, if given), and in the register step queue the waker
        /// in `list` and unlock. `None` once woken: the caller checks again.
        pub(crate) fn wait_once_in_place<R>(
            &self,
            list: usize,
            why: Wait,
            deadline: Option<Instant>,
            ready: &mut impl FnMut(&mut S, &mut Wakeups<'_, Waker>) -> Option<R>,
        ) -> Option<R> {
            self.lock().wait_once_in_place(list, why, deadline, ready)
        }

        /// Like [`wait_in`](Self::wait_in), but give up at `deadline`:
        /// `None` if `ready` never held by then.
        pub(crate) fn wait_in_until<R>(
            &self,
            list: usize,
            why: Wait,
            deadline: Instant,
            mut ready: impl FnMut(&mut S, &mut Wakeups<'_, Waker>) -> Option<R>,
        ) -> Option<R> {
            loop {
                // Read the clock before locking, to keep it out of the lock.
                if Instant::now() >= deadline {
                    return self.update(&mut ready);
                }
                if park::blocks_in_place() {
                    let got =
                        self.wait_once_in_place(list, why, Some(deadline), &mut ready);
                    if got.is_some() {
                        return got;
                    }
                    continue;
                }
                if let Some(r) = self.update(&mut ready) {
                    return Some(r);
                }
                let mut out = None;
                park::block_until(
                    why,
                    &mut |waker| self.register(list, waker, &mut ready, &mut out),
                    deadline,
                );
                if out.is_some() {
                    return out;
                }
            }
        }
    }

    impl<S> Locked<'_, S, Waker> {
        /// [`WaitQueue::wait_once_in_place`] under this hold.
        pub(crate) fn wait_once_in_place<R>(
            self,
            list: usize,
            why: Wait,
            deadline: Option<Instant>,
            ready: &mut impl FnMut(&mut S, &mut Wakeups<'_, Waker>) -> Option<R>,
        ) -> Option<R> {
            let mut g = self.guard;
            let (r, popped) = g.run(ready);
            if r.is_some() {
                drop(g);
                popped.wake();
                return r;
            }
            // The register step, on this thread right after the switch:
            // the condition was checked under this very lock, so nobody
            // can have changed it since.
            let mut held = Some((g, popped));
            let register = &mut |waker| {
                let (mut g, popped) = held.take().expect("a block registers once");
                g.enqueue(list, waker);
                drop(g);
                popped.wake();
                Ok(())
            };
            match deadline {
                None => park::block_in_place(why, register),
                Some(deadline) => park::block_in_place_until(why, register, deadline),
            }
            None
        }

        /// Block the caller (which checked [`park::blocks_in_place`] and
        /// found its condition false under this hold) holding the lock;
        /// the register step, right after the switch, gives the waker to
        /// `keep`, which stores it in the state, and unlocks. Returns once
        /// woken; the caller checks again.
        pub(crate) fn block_in_place(self, why: Wait, keep: impl FnOnce(&mut S, Waker)) {
            let mut held = Some((self.guard, keep));
            park::block_in_place(why, &mut |waker| {
                let (mut g, keep) = held.take().expect("a block registers once");
                keep(&mut g.state, waker);
                Ok(())
            });
        }
    }

}

#[cfg(all(test, loom))]
mod tests;
