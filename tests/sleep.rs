//! `heddle::sleep`: fibers sleep without holding their worker, and wake
//! within a generous bound.

mod common;

use std::time::{Duration, Instant};

#[test]
fn many_sleepers_share_one_worker() {
    let rt = common::rt(1);
    let t = Instant::now();
    let woke: Vec<Duration> = rt.block_on(|| {
        let hs: Vec<_> = (0..100)
            .map(|i| {
                heddle::spawn(move || {
                    let start = Instant::now();
                    heddle::sleep(Duration::from_millis(50 + (i % 5) * 10));
                    start.elapsed()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = t.elapsed();
    for (i, d) in woke.iter().enumerate() {
        let want = Duration::from_millis(50 + (i as u64 % 5) * 10);
        assert!(*d >= want, "fiber {i} woke after {d:?}, before {want:?}");
    }
    // 100 sleeps of <= 90 ms on one worker: concurrent, not 5+ seconds.
    assert!(total < Duration::from_secs(2), "took {total:?}");
}

#[test]
fn a_sleeping_runtime_wakes_up_for_its_timer() {
    // The only fiber sleeps: the worker parks with a timeout and must come
    // back for the timer (no other work will wake it).
    for workers in [1, 2, 8] {
        let rt = common::rt(workers);
        let d = rt.spawn(|| {
            let s = Instant::now();
            heddle::sleep(Duration::from_millis(30));
            s.elapsed()
        });
        let d = d.join().unwrap();
        assert!(
            d >= Duration::from_millis(30) && d < Duration::from_secs(2),
            "{d:?}"
        );
    }
}

#[test]
fn sleep_outside_a_fiber_sleeps_the_thread() {
    let t = Instant::now();
    heddle::sleep(Duration::from_millis(10));
    assert!(t.elapsed() >= Duration::from_millis(10));
}
