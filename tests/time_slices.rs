//! `heddle::checkpoint` and `Builder::time_slice`: a long computation that
//! checkpoints shares its worker with the fibers queued behind it; one that
//! does not, holds it; with nothing else ready, a checkpoint never yields.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Spin for about `d` without yielding.
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// On one worker, a ticker that sleeps 1 ms at a time beside a 300 ms hog:
/// the number of ticks that land while the hog runs.
fn ticks_during_hog(checkpoints: bool) -> usize {
    let rt = heddle::Builder::new()
        .workers(1)
        .time_slice(Duration::from_millis(2))
        .build()
        .unwrap();
    rt.block_on(move || {
        let hog_running = Arc::new(AtomicBool::new(false));
        let during = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (hog_running, during, stop) = (hog_running.clone(), during.clone(), stop.clone());
            heddle::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    heddle::sleep(Duration::from_millis(1));
                    if hog_running.load(Ordering::Relaxed) {
                        during.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        heddle::yield_now(); // the ticker starts its first sleep
        let hog = {
            let hog_running = hog_running.clone();
            heddle::spawn(move || {
                hog_running.store(true, Ordering::Relaxed);
                let t = Instant::now();
                while t.elapsed() < Duration::from_millis(300) {
                    spin(Duration::from_micros(10));
                    if checkpoints {
                        heddle::checkpoint();
                    }
                }
                hog_running.store(false, Ordering::Relaxed);
            })
        };
        hog.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        ticker.join().unwrap();
        during.load(Ordering::Relaxed)
    })
}

#[test]
fn a_checkpointing_hog_lets_a_ticker_run() {
    // About 300 / 3 = 100 ticks on a quiet machine (a 2 ms slice plus the
    // monitor's 1 ms tick per turn); a tenth of that proves the sharing.
    let ticks = ticks_during_hog(true);
    assert!(ticks >= 10, "only {ticks} ticks while the hog ran");
}

#[test]
fn a_hog_without_checkpoints_holds_its_worker() {
    // One worker and no switch point: the ticker cannot run meanwhile.
    assert_eq!(ticks_during_hog(false), 0);
}

#[test]
fn a_checkpoint_with_nothing_ready_does_not_yield() {
    let rt = heddle::Builder::new()
        .workers(1)
        .time_slice(Duration::from_millis(1))
        .build()
        .unwrap();
    let before = rt.stats()[0].switches;
    let n = rt.block_on(|| {
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            spin(Duration::from_micros(10));
            heddle::checkpoint();
            n += 1;
        }
        n
    });
    assert!(n > 100, "{n} checkpoints");
    // Its one switch in: 50 slices went by, but nobody else was ready.
    assert_eq!(rt.stats()[0].switches - before, 1);
}

#[test]
fn a_checkpoint_yields_to_a_fiber_woken_from_outside() {
    // The woken fiber sits in the injector (woken by a plain thread); the
    // hog's checkpoint sees it and yields, so the reply comes long before
    // the hog would end on its own.
    let rt = heddle::Builder::new()
        .workers(1)
        .time_slice(Duration::from_millis(2))
        .build()
        .unwrap();
    let (tx, rx) = heddle::sync::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Instant>();
    let waiter = rt.spawn(move || {
        rx.recv().unwrap();
        done_tx.send(Instant::now()).unwrap();
    });
    while !rt
        .fibers()
        .iter()
        .any(|f| f.state == heddle::dump::FiberState::Receiving)
    {
        std::thread::yield_now();
    }
    let hog_done = Arc::new(AtomicBool::new(false));
    let hog = {
        let hog_done = hog_done.clone();
        rt.spawn(move || {
            let t = Instant::now();
            while t.elapsed() < Duration::from_millis(1000) {
                spin(Duration::from_micros(10));
                heddle::checkpoint();
            }
            hog_done.store(true, Ordering::SeqCst);
        })
    };
    std::thread::sleep(Duration::from_millis(20)); // the hog is running
    tx.send(()).unwrap();
    done_rx.recv().unwrap();
    assert!(
        !hog_done.load(Ordering::SeqCst),
        "the woken fiber waited for the hog to end"
    );
    waiter.join().unwrap();
    hog.join().unwrap();
}

#[test]
fn checkpoint_outside_a_fiber_returns_at_once() {
    let rt = common::rt(1); // a runtime exists, but this thread is not its worker
    let t = Instant::now();
    for _ in 0..1_000_000 {
        heddle::checkpoint();
    }
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(rt.block_on(|| 2 + 2), 4);
}
