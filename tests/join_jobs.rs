//! `join`'s `b` as a job on the joiner's stack: taken back without any
//! allocation, stolen and run elsewhere, or moved to a fiber of its own
//! when `a` blocks or yields first; run exactly once in every case.

mod common;

#[path = "common/counting.rs"]
mod counting;

use counting::allocations;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use heddle_workloads::fib_heddle as fib;

#[test]
fn joins_that_nobody_steals_allocate_nothing() {
    let rt = common::rt(1);
    let (sum, allocated) = rt.block_on(|| {
        fib(10); // warm up whatever is lazily made
        let before = allocations();
        let mut sum = 0;
        for _ in 0..100 {
            sum += fib(15); // 986 joins each
        }
        (sum, allocations() - before)
    });
    assert_eq!(sum, 100 * 610);
    assert_eq!(allocated, 0, "allocations in 98,600 un-stolen joins");
}

#[test]
fn b_runs_once_when_a_yields_first() {
    // `a` switches out with `b` still queued: `b` moves to a fiber of its
    // own, and the joiner takes it back from there or waits for it.
    let rt = common::rt(1);
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let total: u64 = rt.block_on(move || {
        (0..1000u64)
            .map(|i| {
                let r = r.clone();
                let (a, b) = heddle::join(
                    || {
                        heddle::yield_now();
                        i
                    },
                    move || {
                        r.fetch_add(1, Ordering::SeqCst);
                        2 * i
                    },
                );
                a + b
            })
            .sum()
    });
    assert_eq!(total, 3 * (0..1000u64).sum::<u64>());
    assert_eq!(runs.load(Ordering::SeqCst), 1000);
}

#[test]
fn a_can_wait_for_b_on_one_worker() {
    // `a` blocks until `b` has sent: on one worker, only moving `b` off the
    // blocked joiner's stack lets it run.
    let rt = common::rt(1);
    let got = rt.block_on(|| {
        let (tx, rx) = heddle::sync::channel::<u32>();
        let (got, ()) = heddle::join(|| rx.recv().unwrap(), move || tx.send(7).unwrap());
        got
    });
    assert_eq!(got, 7);
}

/// Spin, never yielding, until `flag` is set: only another worker can set
/// it meanwhile.
fn spin_until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
}

#[test]
fn a_stolen_b_runs_on_another_worker_and_returns_its_result() {
    // `a` spins until `b` has run: only a thief can run it meanwhile.
    let rt = common::rt(2);
    for _ in 0..50 {
        let (a, b) = rt.block_on(|| {
            let ran = AtomicBool::new(false);
            let here = std::thread::current().id();
            heddle::join(
                || {
                    spin_until(&ran);
                    1
                },
                || {
                    ran.store(true, Ordering::Release);
                    (std::thread::current().id() != here, 2)
                },
            )
        });
        assert_eq!(a, 1);
        assert_eq!(b, (true, 2));
    }
}

#[test]
fn a_panic_in_a_still_runs_b_and_propagates() {
    let rt = common::rt(2);
    let b_ran = Arc::new(AtomicBool::new(false));
    let br = b_ran.clone();
    let r = rt.block_on(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            heddle::join(|| panic!("a failed"), || br.store(true, Ordering::SeqCst))
        }))
    });
    assert_eq!(common::panic_message(&*r.unwrap_err()), "a failed");
    assert!(b_ran.load(Ordering::SeqCst));
}

/// Outside a fiber `join` runs `a`, then `b`, on the calling thread, and
/// keeps rayon's promise there too: `b` runs even if `a` panicked, and
/// `a`'s panic is the one re-raised when both do.
#[test]
fn outside_a_fiber_a_panic_in_a_still_runs_b() {
    let b_ran = AtomicBool::new(false);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        heddle::join(
            || panic!("a failed"),
            || b_ran.store(true, Ordering::SeqCst),
        )
    }));
    assert_eq!(common::panic_message(&*r.unwrap_err()), "a failed");
    assert!(
        b_ran.load(Ordering::SeqCst),
        "b did not run after a panicked"
    );
    let r = std::panic::catch_unwind(|| {
        heddle::join(
            || -> () { panic!("a failed") },
            || -> () { panic!("b failed") },
        )
    });
    assert_eq!(common::panic_message(&*r.unwrap_err()), "a failed");
    let r = std::panic::catch_unwind(|| heddle::join(|| 1, || -> () { panic!("b failed") }));
    assert_eq!(common::panic_message(&*r.unwrap_err()), "b failed");
}

#[test]
fn a_panic_in_a_stolen_b_comes_back_to_the_joiner() {
    let rt = common::rt(2);
    for _ in 0..20 {
        let r = rt.block_on(|| {
            std::panic::catch_unwind(|| {
                let ran = AtomicBool::new(false);
                heddle::join(
                    || spin_until(&ran),
                    || {
                        ran.store(true, Ordering::Release);
                        panic!("b failed")
                    },
                )
            })
        });
        assert_eq!(common::panic_message(&*r.unwrap_err()), "b failed");
    }
}

#[test]
fn deep_fork_join_with_sleeps_on_many_workers() {
    // Joins whose halves sleep: converted, stolen and taken-back jobs mix.
    fn tree(depth: u32) -> u64 {
        if depth == 0 {
            heddle::sleep(Duration::from_micros(50));
            return 1;
        }
        let (a, b) = heddle::join(|| tree(depth - 1), || tree(depth - 1));
        a + b
    }
    let rt = common::rt(4);
    assert_eq!(rt.block_on(|| tree(10)), 1024);
}
