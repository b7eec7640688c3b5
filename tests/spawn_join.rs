//! Spawning and joining: many, from fibers and threads, nested, finished or not.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[test]
fn spawn_join_100k_from_a_fiber() {
    for workers in [1, 2, 8] {
        let rt = common::rt(workers);
        let sum = rt.block_on(|| {
            let mut sum = 0u64;
            for i in 0..100_000u64 {
                sum += heddle::spawn(move || i).join().unwrap();
            }
            sum
        });
        assert_eq!(sum, 100_000 * 99_999 / 2, "{workers} workers");
    }
}

#[test]
fn spawn_join_100k_from_a_thread() {
    for workers in [1, 2, 8] {
        let rt = common::rt(workers);
        let mut sum = 0u64;
        for i in 0..100_000u64 {
            sum += rt.spawn(move || i * 2).join().unwrap();
        }
        assert_eq!(sum, 100_000 * 99_999, "{workers} workers");
    }
}

#[test]
fn many_outstanding_handles_from_a_thread() {
    for workers in [2, 8] {
        let rt = common::rt(workers);
        let hs: Vec<_> = (0..10_000u64).map(|i| rt.spawn(move || i)).collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 10_000 * 9_999 / 2);
    }
}

#[test]
fn join_a_fiber_that_already_ended() {
    let rt = common::rt(1);
    let v = rt.block_on(|| {
        let h = heddle::spawn(|| String::from("done"));
        // On one worker the child runs while we yield.
        while !h.is_finished() {
            heddle::yield_now();
        }
        h.join().unwrap()
    });
    assert_eq!(v, "done");
    // And from a thread.
    let h = rt.spawn(|| 7);
    while !h.is_finished() {
        std::thread::yield_now();
    }
    assert_eq!(h.join().unwrap(), 7);
}

#[test]
fn join_a_fiber_still_running() {
    let rt = common::rt(2);
    let go = Arc::new(AtomicBool::new(false));
    let g = go.clone();
    let v = rt.block_on(move || {
        let h = heddle::spawn(move || {
            while !g.load(Ordering::Acquire) {
                heddle::yield_now();
            }
            99
        });
        assert!(!h.is_finished());
        let opener = heddle::spawn(move || go.store(true, Ordering::Release));
        let v = h.join().unwrap(); // parks until the child ends
        opener.join().unwrap();
        v
    });
    assert_eq!(v, 99);
}

#[test]
fn nested_spawns_three_levels() {
    let rt = common::rt(2);
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let total = rt.block_on(move || {
        let hs: Vec<_> = (0..10u64)
            .map(|a| {
                let c = c.clone();
                heddle::spawn(move || {
                    let hs: Vec<_> = (0..10u64)
                        .map(|b| {
                            let c = c.clone();
                            heddle::spawn(move || {
                                let hs: Vec<_> = (0..10u64)
                                    .map(|d| {
                                        let c = c.clone();
                                        heddle::spawn(move || {
                                            c.fetch_add(1, Ordering::Relaxed);
                                            a * 100 + b * 10 + d
                                        })
                                    })
                                    .collect();
                                hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                            })
                        })
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, (0..1000u64).sum::<u64>());
    assert_eq!(count.load(Ordering::Relaxed), 1000);
}

#[test]
fn dropped_handle_detaches_and_runtime_drop_waits_for_it() {
    let done = Arc::new(AtomicUsize::new(0));
    {
        let rt = common::rt(2);
        for _ in 0..100 {
            let d = done.clone();
            drop(rt.spawn(move || {
                for _ in 0..10 {
                    heddle::yield_now();
                }
                d.fetch_add(1, Ordering::SeqCst);
            }));
        }
    } // drop waits for all detached fibers
    assert_eq!(done.load(Ordering::SeqCst), 100);
}

/// A fiber's result is dropped exactly once, whichever of its handle and
/// the fiber lets go of their shared block last: joined (the caller drops
/// it), the handle dropped at once (likely before the fiber finished), or
/// the handle dropped later (likely after: the fiber handed its reference
/// to the handle). On more workers than cores, so both orders happen.
#[test]
fn every_result_is_dropped_once_whoever_lets_go_last() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    const FIBERS: usize = 6_000;
    for workers in [1, 2, 8] {
        let drops = Arc::new(AtomicUsize::new(0));
        {
            let rt = common::rt(workers);
            let d = drops.clone();
            rt.block_on(move || {
                let mut later = Vec::new();
                for i in 0..FIBERS {
                    let d = d.clone();
                    let h = heddle::spawn(move || {
                        if i % 7 == 0 {
                            heddle::yield_now();
                        }
                        Counted(d)
                    });
                    match i % 3 {
                        0 => drop(h.join().unwrap()),
                        1 => drop(h),
                        _ => later.push(h),
                    }
                    if later.len() == 50 {
                        heddle::yield_now();
                        later.clear();
                    }
                }
            });
        } // the runtime's drop waits for the detached fibers
        assert_eq!(drops.load(Ordering::SeqCst), FIBERS, "{workers} workers");
    }
}

/// Detached fibers that spawn detached fibers from inside workers: those
/// spawns count against per-worker credit, not the shared total
/// (scheduler/live.rs), and the drop must still wait for every one, on more
/// workers than cores.
#[test]
fn runtime_drop_waits_for_a_detached_tree_spawned_inside_workers() {
    fn grow(depth: u32, done: Arc<AtomicUsize>) {
        if depth > 0 {
            for _ in 0..4 {
                let d = done.clone();
                drop(heddle::spawn(move || grow(depth - 1, d)));
            }
            heddle::yield_now();
        }
        done.fetch_add(1, Ordering::SeqCst);
    }
    for _ in 0..5 {
        let done = Arc::new(AtomicUsize::new(0));
        {
            let rt = common::rt(8);
            let d = done.clone();
            drop(rt.spawn(move || grow(6, d)));
        } // drop waits for the whole tree
        // 1 + 4 + ... + 4^6 fibers.
        assert_eq!(done.load(Ordering::SeqCst), (4usize.pow(7) - 1) / 3);
    }
}

#[test]
fn fiber_ids_and_names() {
    let rt = common::rt(2);
    let h = heddle::fiber::Builder::new()
        .name("alpha")
        .spawn_on(&rt, || {
            let me = heddle::fiber::current();
            (me.id(), me.name().map(String::from))
        })
        .unwrap();
    let expected_id = h.fiber().id();
    let (id, name) = h.join().unwrap();
    assert_eq!(id, expected_id);
    assert_eq!(name.as_deref(), Some("alpha"));
    let ids: std::collections::HashSet<_> = (0..100)
        .map(|_| rt.spawn(|| heddle::fiber::current().id()))
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(ids.len(), 100);
    assert!(heddle::fiber::try_current().is_none());
}
