//! Loom models of the idle protocol (sleep.rs), run on its real steps.

use super::*;
use crate::loom::{Arc, AtomicBool};
use crate::scheduler::run_queue::{Injector, LocalQueue, Steal, Stealer};
use loom::thread;

/// Workers with the run-queue stand-in: a local FIFO each, stealers,
/// and an injector that the poster pushes to.
struct World {
    sleep: Sleep,
    injector: Injector<u32>,
    stealers: Vec<Stealer<u32>>,
    done: AtomicUsize,
    shutdown: AtomicBool,
}

impl World {
    fn new(workers: usize) -> (Arc<World>, Vec<LocalQueue<u32>>) {
        let locals: Vec<_> = (0..workers).map(|_| LocalQueue::new_fifo()).collect();
        let w = World {
            sleep: Sleep::new(workers),
            injector: Injector::new(),
            stealers: locals.iter().map(|l| l.stealer()).collect(),
            done: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
        };
        (Arc::new(w), locals)
    }

    fn find(&self, index: usize, local: &LocalQueue<u32>) -> Option<u32> {
        if let Some(t) = local.pop() {
            return Some(t);
        }
        if let Steal::Success(t) = self.injector.steal_batch_and_pop(local) {
            return Some(t);
        }
        for (i, s) in self.stealers.iter().enumerate() {
            if i != index
                && let Steal::Success(t) = s.steal_batch_and_pop(local)
            {
                return Some(t);
            }
        }
        None
    }

    fn has_work(&self, local: &LocalQueue<u32>) -> bool {
        !local.is_empty()
            || !self.injector.is_empty()
            || self.stealers.iter().any(|s| !s.is_empty())
            || self.shutdown.load(Ordering::SeqCst)
    }
}

/// The worker loop of worker_loop.rs with fibers as numbers: the same
/// `found_work` and `idle` steps, around a simpler search.
fn worker(w: &World, index: usize, local: LocalQueue<u32>, total: usize, searching: bool) {
    worker_running(w, index, local, total, searching, |_| {});
}

/// [`worker`], calling `run` with each fiber it takes before counting it
/// done.
fn worker_running(
    w: &World,
    index: usize,
    local: LocalQueue<u32>,
    total: usize,
    mut searching: bool,
    run: impl Fn(u32),
) {
    loop {
        if let Some(fiber) = w.find(index, &local) {
            w.sleep.found_work(&mut searching);
            run(fiber);
            if w.done.fetch_add(1, Ordering::SeqCst) + 1 == total {
                w.shutdown.store(true, Ordering::SeqCst);
                w.sleep.wake_all();
            }
            continue;
        }
        let shutdown = || w.shutdown.load(Ordering::SeqCst);
        if !w
            .sleep
            .idle(index, &mut searching, || w.has_work(&local), shutdown)
        {
            return;
        }
    }
}

/// Two sleepy workers, one poster of two fibers: every fiber is run and
/// every worker exits (a lost wake-up would leave one parked forever,
/// which loom reports as a deadlock).
#[test]
fn no_lost_wakeup() {
    loom::model(|| {
        let total = 2;
        let (w, locals) = World::new(2);
        let ws: Vec<_> = locals
            .into_iter()
            .enumerate()
            .map(|(i, local)| {
                let w = w.clone();
                thread::spawn(move || worker(&w, i, local, total, false))
            })
            .collect();
        for t in 0..total as u32 {
            w.injector.push(t);
            w.sleep.notify_work();
        }
        for h in ws {
            h.join().unwrap();
        }
        assert_eq!(total, w.done.load(Ordering::SeqCst));
        assert_eq!(0, w.sleep.sleeping());
    });
}

/// A searcher that gives up races a poster that saw it searching (and
/// so woke no one): the searcher's re-check must find the fiber.
#[test]
fn last_searcher_rechecks() {
    loom::model(|| {
        let (w, mut locals) = World::new(2);
        assert!(w.sleep.start_searching());
        let local = locals.remove(0);
        let w2 = w.clone();
        let t = thread::spawn(move || worker(&w2, 0, local, 1, true));
        w.injector.push(7);
        w.sleep.notify_work();
        t.join().unwrap();
        assert_eq!(1, w.done.load(Ordering::SeqCst));
    });
}

/// A searcher that gives up just as two fibers are posted (the posts
/// wake no one: someone is searching), then finds them in its
/// re-check and runs the first, which holds its worker until the
/// second has run. Only the sleeping worker can run the second, so
/// the searcher must hand the skipped posts on by waking it.
#[test]
fn a_searcher_that_finds_work_while_giving_up_wakes_another() {
    loom::model(|| {
        let (w, mut locals) = World::new(2);
        assert!(w.sleep.start_searching());
        let local1 = locals.pop().unwrap();
        let local0 = locals.pop().unwrap();
        let w1 = w.clone();
        let sleeper = thread::spawn(move || worker(&w1, 1, local1, 2, false));
        let w0 = w.clone();
        let searcher = thread::spawn(move || {
            worker_running(&w0, 0, local0, 2, true, |fiber| {
                if fiber == 0 {
                    // A hog that waits for fiber 1 to run elsewhere.
                    while w0.done.load(Ordering::SeqCst) == 0 {
                        thread::yield_now();
                    }
                }
            })
        });
        for t in 0..2 {
            w.injector.push(t);
            w.sleep.notify_work();
        }
        searcher.join().unwrap();
        sleeper.join().unwrap();
        assert_eq!(2, w.done.load(Ordering::SeqCst));
    });
}

/// The monitor's watcher against a worker that falls asleep and is
/// woken: if the watcher parks for good (every worker asleep), the
/// wake must rouse it; a watcher left parked is a loom deadlock.
#[test]
fn watcher_wakes_with_the_workers() {
    loom::model(|| {
        let (w, mut locals) = World::new(1);
        let local = locals.remove(0);
        let w1 = w.clone();
        let worker = thread::spawn(move || {
            w1.sleep.sleep(0, false, || w1.has_work(&local), None);
        });
        let w2 = w.clone();
        let watcher = thread::spawn(move || w2.sleep.watch(Duration::from_millis(1)));
        w.injector.push(1);
        w.sleep.notify_work();
        worker.join().unwrap();
        watcher.join().unwrap();
    });
}
