//! The run order's bound (see `scheduler/run_queue.rs`): a Ready fiber
//! runs within a bounded number of scheduling decisions of becoming ready,
//! whatever the other fibers do. Decisions are counted with the workers'
//! switch counters, so these tests do not depend on timing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::rt;

fn switches(rt_stats: &[heddle::WorkerStats]) -> u64 {
    rt_stats.iter().map(|s| s.switches).sum()
}

/// Two fibers waking each other through rendezvous channels until `stop`.
/// With `wake`, the first fiber also sends the switch count on it once,
/// after 1,000 round trips, and then carries on: the woken fiber becomes
/// ready in the middle of the pair's run, with the pair's own wakes
/// following it.
fn ping_pong_pair(
    stop: &Arc<AtomicBool>,
    rt: &Arc<heddle::Runtime>,
    wake: Option<heddle::sync::Sender<u64>>,
) -> Vec<heddle::JoinHandle<()>> {
    let (a_tx, a_rx) = heddle::sync::sync_channel::<()>(0);
    let (b_tx, b_rx) = heddle::sync::sync_channel::<()>(0);
    let (s1, s2, rt) = (stop.clone(), stop.clone(), rt.clone());
    let a = heddle::spawn(move || {
        let mut rounds = 0u64;
        let mut wake = wake;
        while !s1.load(Ordering::Relaxed) {
            rounds += 1;
            if rounds == 1000
                && let Some(w) = wake.take()
            {
                w.send(switches(&rt.stats())).unwrap();
            }
            if a_tx.send(()).is_err() || b_rx.recv().is_err() {
                break;
            }
        }
    });
    let b = heddle::spawn(move || {
        while !s2.load(Ordering::Relaxed) {
            if a_rx.recv().is_err() || b_tx.send(()).is_err() {
                break;
            }
        }
    });
    vec![a, b]
}

/// A fiber woken by one of several ping-pong pairs (one per worker) runs
/// within a few dozen scheduling decisions. Before, woken fibers went on
/// top of a LIFO deque and the pair's next wake landed above it: it ran
/// only when the pairs stopped.
fn woken_fiber_behind_pairs(workers: usize) {
    let rt = Arc::new(rt(workers));
    let rt2 = rt.clone();
    let waited = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = heddle::sync::channel::<u64>();
        let waited = Arc::new(AtomicU64::new(u64::MAX));
        let (w2, rt3, stop2) = (waited.clone(), rt2.clone(), stop.clone());
        let sleeper = heddle::spawn(move || {
            let woken_at = rx.recv().unwrap();
            // Switches since the wake, on every worker (an upper bound on
            // this worker's own decisions).
            w2.store(switches(&rt3.stats()) - woken_at, Ordering::Relaxed);
            stop2.store(true, Ordering::Relaxed);
        });
        let mut pairs = ping_pong_pair(&stop, &rt2, Some(tx));
        for _ in 1..workers {
            pairs.extend(ping_pong_pair(&stop, &rt2, None));
        }
        // The pairs run until the woken fiber has run (or forever).
        sleeper.join().unwrap();
        for h in pairs {
            let _ = h.join();
        }
        waited.load(Ordering::Relaxed)
    });
    // Run-queue bound: (FRESH_BUDGET + 1) decisions per started fiber ahead
    // of it; at most 2 per worker are (a pair member each side, the root
    // is parked in a join); counted on all workers together. (The pairs
    // wake each other through the run-next slot, which yields to the
    // woken queue every RUN_NEXT_BUDGET + 1 = 17 picks: inside this.)
    let bound = (16 + 1) * (2 + 1) * workers as u64;
    assert!(
        waited <= bound,
        "woken fiber waited {waited} switches (bound {bound})"
    );
}

#[test]
fn woken_fiber_behind_ping_pong_runs_on_1_worker() {
    woken_fiber_behind_pairs(1);
}

#[test]
fn woken_fiber_behind_ping_pong_runs_on_2_workers() {
    woken_fiber_behind_pairs(2);
}

/// A spawned fiber that has not started yet, on one worker, behind an
/// endless chain of fibers each spawning the next: the chain keeps the top
/// of the newest-first queue busy forever, and the aging pick must still
/// reach the old fiber.
#[test]
fn spawned_fiber_behind_an_endless_spawn_chain_runs() {
    fn chain(stop: Arc<AtomicBool>, links: Arc<AtomicU64>) {
        links.fetch_add(1, Ordering::Relaxed);
        if !stop.load(Ordering::Relaxed) {
            drop(heddle::spawn(move || chain(stop, links)));
        }
    }
    let rt = rt(1);
    let links_before_old_ran = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let links = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(AtomicU64::new(u64::MAX));
        let (s2, l2, seen2) = (stop.clone(), links.clone(), seen.clone());
        let old = heddle::spawn(move || {
            seen2.store(l2.load(Ordering::Relaxed), Ordering::Relaxed);
            s2.store(true, Ordering::Relaxed); // ends the chain
        });
        let (s3, l3) = (stop.clone(), links.clone());
        drop(heddle::spawn(move || chain(s3, l3)));
        old.join().unwrap();
        seen.load(Ordering::Relaxed)
    });
    // FRESH_AGING fresh picks at most, plus the chain's first link.
    assert!(
        links_before_old_ran <= 65_536 + 1,
        "old fiber ran after {links_before_old_ran} chain links"
    );
}
