//! Several workers: work spreads by stealing, and joins work across workers
//! whichever side finishes first.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

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
