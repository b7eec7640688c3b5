//! `heddle::blocking`: run code that blocks its OS thread (a system call, a
//! C library call) while the worker's other fibers keep running.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use common::{panic_message, rt};

/// One worker: a fiber ticking every 100 us keeps ticking through a 300 ms
/// blocking call made by another fiber (without the hand-off it would not
/// tick at all).
#[test]
fn other_fibers_run_during_a_blocking_call_on_one_worker() {
    let rt = rt(1);
    let ticks = rt.block_on(|| {
        let ticks = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t2, s2) = (ticks.clone(), stop.clone());
        let ticker = heddle::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                heddle::sleep(Duration::from_micros(100));
                t2.fetch_add(1, Ordering::Relaxed);
            }
        });
        heddle::yield_now(); // the ticker starts
        let before = ticks.load(Ordering::Relaxed);
        let v = heddle::blocking(|| {
            std::thread::sleep(Duration::from_millis(300));
            7
        });
        assert_eq!(v, 7);
        let during = ticks.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        ticker.join().unwrap();
        during
    });
    // Without the hand-off the ticker gets none; 100 us sleeps leave room
    // for thousands. On a loaded 2-core machine it got 32-48, so the bound
    // is well below that.
    assert!(ticks >= 10, "{ticks} ticks during a 300 ms blocking call");
}

#[test]
fn outside_a_fiber_blocking_just_calls_f() {
    let me = std::thread::current().id();
    assert_eq!(heddle::blocking(|| std::thread::current().id()), me);
}

/// Inside `blocking`, heddle's own waits block the thread too: the code
/// stays on the thread it started on, and a fiber of the same (one-worker)
/// runtime can still feed it.
#[test]
fn heddle_waits_inside_blocking_stay_on_the_thread() {
    let rt = rt(1);
    let sum = rt.block_on(|| {
        let (tx, rx) = heddle::sync::channel::<u32>();
        let feeder = heddle::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
                heddle::sleep(Duration::from_micros(50));
            }
        });
        let sum = heddle::blocking(move || {
            let me = std::thread::current().id();
            let mut sum = 0;
            for v in rx.iter() {
                heddle::yield_now();
                assert_eq!(std::thread::current().id(), me);
                sum += v;
            }
            sum
        });
        feeder.join().unwrap();
        // An ordinary fiber again: it can spawn and join.
        sum + heddle::spawn(|| 1).join().unwrap()
    });
    assert_eq!(sum, 4950 + 1);
}

#[test]
fn a_panic_in_blocking_reaches_the_joiner() {
    let rt = rt(2);
    let h = rt.spawn(|| {
        heddle::blocking(|| -> u8 { panic!("blocked and failed") });
    });
    assert_eq!(panic_message(&*h.join().unwrap_err()), "blocked and failed");
    assert_eq!(rt.block_on(|| heddle::blocking(|| 5)), 5);
}

/// Spare threads are reused: many blocking calls one after another leave
/// the thread count where a couple of spares put it.
#[test]
fn spare_threads_are_reused() {
    let rt = rt(2);
    rt.block_on(|| {
        for _ in 0..5 {
            heddle::blocking(|| std::thread::sleep(Duration::from_millis(1)));
        }
    });
    let before = common::thread_count();
    let n = rt.block_on(|| (0..200).map(|i| heddle::blocking(move || i)).sum::<u32>());
    assert_eq!(n, 199 * 200 / 2);
    let after = common::thread_count();
    assert!(
        after <= before + 2,
        "{before} threads before, {after} after"
    );
}

/// With no blocking threads allowed, `blocking` runs in place: correct,
/// just without the hand-off.
#[test]
fn max_blocking_threads_zero_runs_in_place() {
    let rt = heddle::Builder::new()
        .workers(1)
        .max_blocking_threads(0)
        .build()
        .unwrap();
    let (v, same) = rt.block_on(|| {
        let me = std::thread::current().id();
        heddle::blocking(move || (3, std::thread::current().id() == me))
    });
    assert_eq!(v, 3);
    assert!(same);
}

/// `blocking` called while unwinding (from a `Drop`): the fiber must not
/// rejoin its worker still unwinding, or other fibers would see its panic.
#[test]
fn blocking_inside_an_unwinding_drop_keeps_panicking_per_fiber() {
    struct BlockOnDrop;
    impl Drop for BlockOnDrop {
        fn drop(&mut self) {
            heddle::blocking(|| std::thread::sleep(Duration::from_millis(5)));
            heddle::yield_now();
            heddle::sleep(Duration::from_millis(2));
        }
    }
    let rt = rt(1);
    let seen = rt.block_on(|| {
        let seen = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (seen.clone(), stop.clone());
        let watcher = heddle::spawn(move || {
            while !st2.load(Ordering::Relaxed) {
                s2.fetch_add(u32::from(std::thread::panicking()), Ordering::Relaxed);
                heddle::yield_now();
            }
        });
        let h = heddle::spawn(|| {
            let _g = BlockOnDrop;
            panic!("unwinding through blocking");
        });
        assert_eq!(
            panic_message(&*h.join().unwrap_err()),
            "unwinding through blocking"
        );
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
        seen.load(Ordering::Relaxed)
    });
    assert_eq!(seen, 0, "fibers saw panicking() == true");
    // The per-thread counts balance: a panic raised later sees itself.
    // (With a count skewed to -1 on some thread, a panic there would read
    // 0 while it unwinds; with no panic in flight std's global count hides
    // any skew, so the check needs one.)
    struct SeesItself(Arc<AtomicU32>);
    impl Drop for SeesItself {
        fn drop(&mut self) {
            self.0
                .fetch_add(u32::from(std::thread::panicking()), Ordering::Relaxed);
        }
    }
    let saw = Arc::new(AtomicU32::new(0));
    for _ in 0..50 {
        let saw = saw.clone();
        let r = rt.spawn(move || {
            let _g = SeesItself(saw);
            panic!("expected: a later panic");
        });
        assert!(r.join().is_err());
    }
    assert_eq!(
        saw.load(Ordering::Relaxed),
        50,
        "a later panic did not see itself"
    );
}
