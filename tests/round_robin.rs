//! On one worker, fibers that yield after every step interleave strictly
//! round-robin (the seed demo). Fibers that were just spawned start newest
//! first (like `rayon::spawn`), so a fork-join tree runs depth-first; after
//! their first yield they take turns in a fixed cycle.

mod common;

use std::sync::{Arc, Mutex};

#[test]
fn two_counters_interleave_strictly() {
    let rt = common::rt(1);
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(|| {
        let hs: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                heddle::spawn(move || {
                    for i in 0..10 {
                        log.lock().unwrap().push(format!("{name}{i}"));
                        heddle::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    // b was spawned last, so it starts first; then they alternate.
    let expected: Vec<String> = (0..10)
        .flat_map(|i| [format!("b{i}"), format!("a{i}")])
        .collect();
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn five_fibers_take_turns_in_a_fixed_cycle() {
    let rt = common::rt(1);
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(|| {
        let hs: Vec<_> = (0..5)
            .map(|f| {
                let log = log.clone();
                heddle::spawn(move || {
                    for round in 0..3 {
                        log.lock().unwrap().push((round, f));
                        heddle::yield_now();
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    // Newest first at the start, and the same cycle in every round after.
    let expected: Vec<(i32, i32)> = (0..3)
        .flat_map(|r| (0..5).rev().map(move |f| (r, f)))
        .collect();
    assert_eq!(*log.lock().unwrap(), expected);
}

/// Outside a fiber, `yield_now` yields the OS thread and nothing more: the
/// thread does not become a fiber, and a runtime made afterwards works.
#[test]
fn yield_outside_a_fiber_yields_the_thread() {
    for _ in 0..100 {
        heddle::yield_now();
    }
    assert!(heddle::fiber::try_current().is_none());
    let rt = common::rt(1);
    assert!(rt.block_on(|| heddle::fiber::try_current().is_some()));
}

/// A pair of fibers that keep waking each other (each wake puts the other
/// in the woken queue, which runs first) must not starve a fiber that
/// yields: within a bounded number of picks the oldest yielder gets a turn.
#[test]
fn a_ping_pong_pair_does_not_starve_a_yielder() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const ROUND_TRIPS: u64 = 10_000;
    let rt = common::rt(1);
    let yields = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (y, s) = (yields.clone(), stop.clone());
    let yielder = rt.spawn(move || {
        while !s.load(Ordering::Relaxed) {
            y.fetch_add(1, Ordering::Relaxed);
            heddle::yield_now();
        }
    });
    let during = rt.block_on(move || {
        let (to_echo, echo_rx) = heddle::sync::channel::<u64>();
        let (echo_tx, back) = heddle::sync::channel::<u64>();
        let echo = heddle::spawn(move || {
            for v in echo_rx.iter() {
                echo_tx.send(v).unwrap();
            }
        });
        for i in 0..ROUND_TRIPS {
            to_echo.send(i).unwrap();
            assert_eq!(back.recv().unwrap(), i);
        }
        let during = yields.load(Ordering::Relaxed);
        drop(to_echo);
        echo.join().unwrap();
        during
    });
    stop.store(true, Ordering::Relaxed);
    yielder.join().unwrap();
    // Two fresh picks per round trip, one yielded pick per 16 fresh ones:
    // about 1,250 turns (1,308 seen). Without the budget it got 60.
    assert!(
        during >= ROUND_TRIPS / 20,
        "the yielder ran only {during} times during {ROUND_TRIPS} round trips"
    );
}
