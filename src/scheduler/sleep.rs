//! The idle protocol: how workers with nothing to run go to sleep, and how
//! new work wakes exactly one of them.
//!
//! # States of a worker
//!
//! | state     | counted in  | what it does                                    |
//! |-----------|-------------|-------------------------------------------------|
//! | running   | -           | runs fibers from its own queue                  |
//! | searching | `searching` | spins over the injector and other workers' queues |
//! | sleeping  | `sleeping`, and listed in `idle` | parked on its own [`Parker`] |
//!
//! At most half the workers search at once ([`Sleep::start_searching`]
//! refuses past that), so a burst of idleness never has every core spinning.
//!
//! # Posting work (any thread, after pushing a fiber to a queue)
//!
//! 1. push the fiber (a Release store inside the queue);
//! 2. `fence(SeqCst)`;
//! 3. if `searching == 0` and `sleeping > 0`: lock `idle`, re-check
//!    `searching == 0`, pop one sleeper, count it as searching (it will look
//!    for the work when it wakes), unlock, unpark it.
//!
//! If someone is already searching we wake no one: the searcher will find the
//! work, and when the *last* searcher finds work it calls
//! [`Sleep::notify_work`] again ([`Sleep::stop_searching`] returns true), so
//! a burst of N fibers wakes workers one after another, not all at once.
//!
//! A running worker that posts to its own queues in a runtime of one
//! worker skips all three steps ([`Sleep::notify_work_from_worker`]):
//! nobody else could run the work, and the one worker is awake (it runs
//! the poster) and re-checks its own queues before it ever sleeps. A fiber
//! woken into a worker's run-next slot is not posted at all (run_next.rs).
//!
//! Work that only one worker may run (a fiber pinned to it, pushed to its
//! pinned inbox) wakes that worker instead: [`Sleep::notify_worker`] does
//! step 2, then takes the worker off the idle list if it is there.
//!
//! # Falling asleep (worker `i`)
//!
//! 1. if searching: `searching -= 1` (SeqCst);
//! 2. lock `idle`, push `i`, `sleeping += 1` (SeqCst), unlock;
//! 3. `fence(SeqCst)`, then re-check every queue and the shutdown flag;
//! 4. if anything is there: lock `idle`; if `i` is still listed, remove it and
//!    `sleeping -= 1` and go back to work; if not, a notifier already popped
//!    us, so consume its token (`park` returns at once or very soon) and go
//!    back to work as a searcher. A worker that was the last searcher and
//!    goes back to work as a non-searcher then does step 2-3 of "Posting
//!    work" itself: the posts it let pass while it searched woke no one,
//!    and it may take only some of that work (its first fiber may hold it
//!    for long), so the rest needs a worker of its own;
//! 5. otherwise park. Woken by a notifier we are a searcher; a timed-out park
//!    removes itself from `idle` as in step 4.
//!
//! # The race this closes
//!
//! A lost wake-up needs a poster that sees `searching == 0 && sleeping == 0`
//! (so wakes no one) and a sleeper whose re-check misses that post. Both
//! sides do "write, `fence(SeqCst)`, read the other side's variable": the
//! poster writes the queue and reads the counters, the sleeper writes the
//! counters and reads the queues. The two SeqCst fences are totally ordered;
//! whichever comes second reads what the other side wrote before its fence,
//! so either the poster sees the sleeper (and wakes it) or the sleeper sees
//! the fiber (and does not sleep). The same argument covers a searcher that
//! stops searching (step 1) just after a poster saw `searching > 0`.
//!
//! `tests` in this file model-check this under loom.
//!
//! # The watcher: idle when every worker sleeps
//!
//! The runtime's monitor thread (`monitor.rs`) looks at the workers every
//! tick while any of them is awake, and must cost nothing while the
//! runtime is idle. So it sleeps for good once every worker sleeps:
//!
//! | step | watcher ([`Sleep::watch`])               | a worker leaving sleep (every `sleeping -= 1`) |
//! |------|------------------------------------------|------------------------------------------------|
//! | 1    | sees `sleeping == workers`               | `sleeping -= 1` (SeqCst)                       |
//! | 2    | `watcher_parked = true`, `fence(SeqCst)` | `fence(SeqCst)`, reads `watcher_parked`        |
//! | 3    | re-reads `sleeping`: all still asleep? park; else go on | if set: unpark the watcher      |
//!
//! Both sides write, `fence(SeqCst)`, then read the other's variable:
//! whichever fence comes second, its side reads the other's write (the
//! fences are what loom checks; SeqCst accesses alone it models as
//! AcqRel). Either the watcher sees the worker awake, or the worker sees the
//! watcher parked and unparks it (the parker keeps the token if the
//! unpark comes first).

use std::time::Duration;

use super::parker::{Parker, park_timeout};
use crate::loom::{AtomicBool, AtomicUsize, Mutex, Ordering, fence};

/// Sleep bookkeeping for one runtime. See the module docs.
#[derive(Debug)]
pub(crate) struct Sleep {
    /// Workers spinning for work while not parked.
    searching: AtomicUsize,
    /// Workers listed in `idle`. Written under `idle`'s lock, read without.
    sleeping: AtomicUsize,
    /// Indexes of sleeping workers; the last one listed is woken first.
    idle: Mutex<Vec<usize>>,
    /// One parker per worker.
    parkers: Box<[Parker]>,
    /// The monitor thread's parker, and whether it sleeps for good (see
    /// "The watcher" in the module docs).
    watcher: Parker,
    watcher_parked: AtomicBool,
}

impl Sleep {
    pub(crate) fn new(workers: usize) -> Self {
        Sleep {
            searching: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            idle: Mutex::new(Vec::with_capacity(workers)),
            parkers: (0..workers).map(|_| Parker::new()).collect(),
            watcher: Parker::new(),
            watcher_parked: AtomicBool::new(false),
        }
    }

    /// Become a searcher, unless half the workers already are.
    pub(crate) fn start_searching(&self) -> bool {
        let limit = self.parkers.len().div_ceil(2);
        let mut n = self.searching.load(Ordering::Relaxed);
        loop {
            if n >= limit {
                return false;
            }
            match self.searching.compare_exchange_weak(
                n,
                n + 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    /// Stop searching. Returns true if this was the last searcher: the caller
    /// found work and must call [`notify_work`](Self::notify_work), since
    /// more work may be waiting that nobody is looking for now.
    pub(crate) fn stop_searching(&self) -> bool {
        let prev = self.searching.fetch_sub(1, Ordering::SeqCst);
        assert!(prev > 0, "stop_searching with searching = {prev}");
        prev == 1
    }

    /// Work was just pushed to its own queues by a running worker: as
    /// [`notify_work`](Self::notify_work), except that a runtime of one
    /// worker skips it, fence and all. Its only worker is the caller's,
    /// which is awake (it runs the caller) and looks at its own queues
    /// before it ever sleeps.
    #[inline]
    pub(crate) fn notify_work_from_worker(&self) {
        if self.parkers.len() > 1 {
            self.notify_work();
        }
    }

    /// Work was just pushed: wake one sleeper if nobody is searching.
    pub(crate) fn notify_work(&self) {
        fence(Ordering::SeqCst);
        if self.searching.load(Ordering::SeqCst) == 0 && self.sleeping.load(Ordering::SeqCst) > 0 {
            self.wake_one();
        }
    }

    /// Work only worker `index` may run (a fiber pinned to it) was just
    /// pushed to its inbox: wake that worker if it sleeps.
    ///
    /// The same argument as for [`notify_work`](Self::notify_work): we
    /// wrote the inbox, fence, then read `sleeping` and the idle list; the
    /// sleeper wrote both, fences, then re-checks its inbox (its
    /// `has_work`). Whichever fence comes second sees the other's write.
    pub(crate) fn notify_worker(&self, index: usize) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut idle = self.idle.lock();
        if let Some(pos) = idle.iter().position(|&i| i == index) {
            idle.swap_remove(pos);
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            // Woken like any notified sleeper: as a searcher.
            self.searching.fetch_add(1, Ordering::SeqCst);
            drop(idle);
            self.parkers[index].unpark();
            self.rouse_watcher();
        }
    }

    /// A cheap hint for surplus work (a yield that left more than one fiber
    /// queued): wake a sleeper if one obviously sleeps and nobody searches.
    /// Not part of the no-lost-wake-up argument, so no fence.
    pub(crate) fn hint_surplus(&self) {
        if self.sleeping.load(Ordering::Relaxed) > 0 && self.searching.load(Ordering::Relaxed) == 0
        {
            self.wake_one();
        }
    }

    fn wake_one(&self) {
        let mut idle = self.idle.lock();
        if self.searching.load(Ordering::SeqCst) != 0 {
            return; // someone started searching meanwhile: they will find it
        }
        if let Some(i) = idle.pop() {
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            self.searching.fetch_add(1, Ordering::SeqCst);
            drop(idle);
            self.parkers[i].unpark();
            self.rouse_watcher();
        }
    }

    /// Wake every sleeper (shutdown). They come back as searchers.
    pub(crate) fn wake_all(&self) {
        let mut idle = self.idle.lock();
        let woken: Vec<usize> = idle.drain(..).collect();
        self.sleeping.fetch_sub(woken.len(), Ordering::SeqCst);
        self.searching.fetch_add(woken.len(), Ordering::SeqCst);
        drop(idle);
        for i in woken {
            self.parkers[i].unpark();
        }
        self.watcher.unpark();
    }

    /// A worker found work: if it was searching, it stops, and if it was the
    /// last searcher it wakes another, since more work may be waiting that
    /// nobody is looking for now. Called by the worker loop and the models.
    pub(crate) fn found_work(&self, searching: &mut bool) {
        if *searching {
            *searching = false;
            if self.stop_searching() {
                self.notify_work();
            }
        }
    }

    /// The idle step of a worker that found no work: leave at shutdown,
    /// otherwise sleep (steps 1-5 of the module docs, no deadline: timers
    /// have their own keeper). Returns false when the worker must exit.
    /// Called by the worker loop and the models.
    ///
    /// A worker woken for shutdown leaves without searching: no fiber is
    /// left anywhere (the runtime waited for quiet first), and with N
    /// workers woken at once, a search each would cost N * N looks.
    pub(crate) fn idle(
        &self,
        index: usize,
        searching: &mut bool,
        has_work: impl Fn() -> bool,
        shutdown: impl Fn() -> bool,
    ) -> bool {
        let leave = |searching: &mut bool| {
            if *searching {
                self.stop_searching();
                *searching = false;
            }
            false
        };
        if shutdown() {
            return leave(searching);
        }
        *searching = self.sleep(index, *searching, has_work, None);
        if shutdown() {
            return leave(searching);
        }
        true
    }

    /// Put worker `index` to sleep (steps 1-5 of the module docs).
    ///
    /// `searching`: whether the worker is counted as a searcher now.
    /// `has_work`: re-checks every queue (and the shutdown flag) after the
    /// announcement. `timeout`: wake up by itself after this long (timers).
    ///
    /// Returns whether the worker is counted as a searcher on return.
    pub(crate) fn sleep(
        &self,
        index: usize,
        searching: bool,
        has_work: impl Fn() -> bool,
        timeout: Option<Duration>,
    ) -> bool {
        // The last searcher to give up owes the posts it let pass (they woke
        // no one because it was searching) a wake-up if it then finds work
        // in its re-check and takes it itself: see step 4.
        let last_searcher = searching && self.stop_searching();
        {
            let mut idle = self.idle.lock();
            idle.push(index);
            self.sleeping.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        if has_work() {
            let now_searching = self.cancel(index);
            if last_searcher && !now_searching {
                self.notify_work();
            }
            return now_searching;
        }
        if park_timeout(&self.parkers[index], timeout) {
            true // the notifier counted us as searching
        } else {
            self.cancel(index)
        }
    }

    /// Take `index` off the idle list, or, if a notifier already did, take
    /// its token. Returns whether we are now counted as searching.
    fn cancel(&self, index: usize) -> bool {
        let mut idle = self.idle.lock();
        if let Some(pos) = idle.iter().position(|&i| i == index) {
            idle.swap_remove(pos);
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            drop(idle);
            self.rouse_watcher();
            false
        } else {
            drop(idle);
            // Popped by a notifier, whose unpark is on its way.
            self.parkers[index].park();
            true
        }
    }

    /// The watcher's wait between two looks at the workers: `tick` while
    /// any worker is awake, for good (until one wakes, or shutdown) while
    /// all sleep. See "The watcher" in the module docs.
    pub(crate) fn watch(&self, tick: Duration) {
        let all = self.parkers.len();
        if self.sleeping.load(Ordering::SeqCst) < all {
            park_timeout(&self.watcher, Some(tick));
            return;
        }
        self.watcher_parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) == all {
            self.watcher.park();
        }
        self.watcher_parked.store(false, Ordering::SeqCst);
    }

    /// A worker just left sleep: wake the watcher if it sleeps for good.
    fn rouse_watcher(&self) {
        fence(Ordering::SeqCst);
        if self.watcher_parked.load(Ordering::SeqCst) {
            self.watcher.unpark();
        }
    }

    /// Wake the watcher whatever it waits for (shutdown).
    pub(crate) fn wake_watcher(&self) {
        self.watcher.unpark();
    }

    /// Number of workers sleeping now (for tests and stats).
    #[cfg(all(test, loom))]
    pub(crate) fn sleeping(&self) -> usize {
        self.sleeping.load(Ordering::SeqCst)
    }
}

#[cfg(all(test, loom))]
mod tests;
