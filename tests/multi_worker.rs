//! Several workers: work spreads by stealing, and joins work across workers
//! whichever side finishes first.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

fn busy(iters: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

#[test]
fn work_from_one_fiber_runs_on_every_worker() {
    for workers in [2, 8] {
        let rt = common::rt(workers);
        let threads = rt.block_on(|| {
            let hs: Vec<_> = (0..2000)
                .map(|i| {
                    heddle::spawn(move || {
                        std::hint::black_box(busy(2000 + i));
                        heddle::yield_now();
                        std::thread::current().id()
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .collect::<std::collections::HashSet<ThreadId>>()
        });
        let stats = rt.stats();
        let busy_workers = stats.iter().filter(|s| s.fibers_run > 0).count();
        let steals: u64 = stats.iter().map(|s| s.steals).sum();
        assert!(
            threads.len() >= 2,
            "{workers} workers: all fibers ran on {} thread(s)",
            threads.len()
        );
        assert!(busy_workers >= 2, "{workers} workers: stats {stats:?}");
        assert!(steals >= 1, "{workers} workers: no steals: {stats:?}");
        let run: u64 = stats.iter().map(|s| s.fibers_run).sum();
        assert_eq!(run, 2001);
    }
}

/// The parent holds its worker (busy, no yield) until the child has been
/// stolen by another worker, so the two are on different workers for sure.
fn cross_worker_join(child_finishes_first: bool, workers: usize) {
    let rt = common::rt(workers);
    for round in 0..50u64 {
        let (parent_thread, child_thread, finished_at_join, v) = rt.block_on(move || {
            let me = std::thread::current().id();
            let migrated = Arc::new(AtomicBool::new(false));
            let release = Arc::new(AtomicBool::new(false));
            let (m, r) = (migrated.clone(), release.clone());
            let child = heddle::spawn(move || {
                while std::thread::current().id() == me {
                    heddle::yield_now(); // wait to be stolen
                }
                m.store(true, Ordering::Release);
                if !child_finishes_first {
                    while !r.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    std::hint::black_box(busy(20_000));
                }
                (std::thread::current().id(), round * 3)
            });
            while !migrated.load(Ordering::Acquire) {
                std::hint::spin_loop(); // hold this worker: the child must move
            }
            if child_finishes_first {
                while !child.is_finished() {
                    std::hint::spin_loop();
                }
            }
            let finished_at_join = child.is_finished();
            release.store(true, Ordering::Release);
            let (child_thread, v) = child.join().unwrap();
            (me, child_thread, finished_at_join, v)
        });
        assert_ne!(parent_thread, child_thread);
        assert_eq!(v, round * 3);
        if child_finishes_first {
            assert!(finished_at_join);
        } else {
            assert!(!finished_at_join);
        }
    }
}

#[test]
fn join_across_workers_child_finishes_first() {
    cross_worker_join(true, 2);
    cross_worker_join(true, 8);
}

#[test]
fn join_across_workers_joiner_waits_first() {
    cross_worker_join(false, 2);
    cross_worker_join(false, 8);
}

#[test]
fn oversubscribed_runtime_finishes_everything() {
    // 16 workers on a 2-core machine: spawn storms from many threads at once.
    let rt = common::rt(16);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let rt = &rt;
            s.spawn(move || {
                let hs: Vec<_> = (0..5000u64)
                    .map(|i| {
                        rt.spawn(move || {
                            if i % 7 == 0 {
                                heddle::yield_now();
                            }
                            t * 10_000 + i
                        })
                    })
                    .collect();
                let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
                assert_eq!(sum, t * 10_000 * 5000 + 5000 * 4999 / 2);
            });
        }
    });
}

/// Two fibers that never yield, spawned from outside one after the other
/// on 2 workers, while other threads keep the cores busy: both start. A
/// worker that gave up searching, then found them both in its last look
/// and took them, used to keep the second in its own queue without waking
/// the sleeping worker, which the first fiber never let it reach.
#[test]
fn two_busy_fibers_posted_together_both_start_under_load() {
    use std::sync::atomic::AtomicUsize;
    let load_stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let s = load_stop.clone();
            std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let mut late = None;
    for round in 0..40 {
        let rt = common::rt(2);
        std::thread::sleep(Duration::from_millis(2)); // both workers asleep
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (stop, started) = (stop.clone(), started.clone());
                rt.spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let t = Instant::now();
        while started.load(Ordering::SeqCst) < 2 && t.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if started.load(Ordering::SeqCst) < 2 && late.is_none() {
            late = Some(round);
        }
        stop.store(true, Ordering::Relaxed);
        for h in hs {
            h.join().unwrap();
        }
    }
    load_stop.store(true, Ordering::Relaxed);
    for l in load {
        l.join().unwrap();
    }
    assert_eq!(late, None, "a ready fiber waited 2 s for an idle worker");
}

/// Spin without a switch point until `flag` is set, for at most 5 s;
/// returns whether it was set.
fn spin_until_set(flag: &AtomicBool) -> bool {
    let start = Instant::now();
    while !flag.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(5) {
        std::hint::spin_loop();
    }
    flag.load(Ordering::SeqCst)
}

/// A fiber woken by a fiber that then computes without a switch point
/// waits in its worker's run-next slot; the monitor must wake another
/// worker to take it, while the waker still computes.
#[test]
fn a_fiber_woken_by_a_busy_fiber_runs_elsewhere_meanwhile() {
    let rt = common::rt(2);
    let ran_while_busy = rt.block_on(|| {
        let (tx, rx) = heddle::sync::channel::<()>();
        let ran = Arc::new(AtomicBool::new(false));
        let r2 = ran.clone();
        let woken = heddle::spawn(move || {
            rx.recv().unwrap();
            r2.store(true, Ordering::SeqCst);
        });
        // Let it block in recv first.
        heddle::sleep(Duration::from_millis(20));
        let busy = heddle::spawn(move || {
            // Hold this worker while the other one runs dry and sleeps.
            std::thread::sleep(Duration::from_millis(50));
            tx.send(()).unwrap(); // into this worker's run-next slot
            // No switch point: only another worker can run it.
            spin_until_set(&ran)
        });
        let r = busy.join().unwrap();
        woken.join().unwrap();
        r
    });
    assert!(
        ran_while_busy,
        "the woken fiber waited for its waker's 5 s of work"
    );
}

/// A fiber spawned by a fiber that then computes without a switch point
/// must start on another worker while the spawner still computes (spawns
/// go where other workers can take them at once; run_next.rs).
#[test]
fn a_fiber_spawned_by_a_busy_fiber_runs_elsewhere_meanwhile() {
    let rt = common::rt(2);
    let ran_while_busy = rt.block_on(|| {
        let busy = heddle::spawn(|| {
            // Let the other worker run dry and sleep first.
            std::thread::sleep(Duration::from_millis(50));
            let ran = Arc::new(AtomicBool::new(false));
            let r2 = ran.clone();
            let child = heddle::spawn(move || r2.store(true, Ordering::SeqCst));
            // No switch point: only another worker can run the child.
            let r = spin_until_set(&ran);
            child.join().unwrap();
            r
        });
        busy.join().unwrap()
    });
    assert!(
        ran_while_busy,
        "the spawned fiber waited for its spawner's 5 s of work"
    );
}
