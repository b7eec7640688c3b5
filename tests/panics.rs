//! A fiber's panic reaches its JoinHandle; block_on re-raises; the runtime
//! keeps working afterwards.

mod common;

use std::panic::{self, AssertUnwindSafe};

#[test]
fn panic_payload_reaches_join_and_runtime_carries_on() {
    let rt = common::rt(2);
    let n = std::hint::black_box(7);
    let err = rt
        .spawn(move || -> u32 { panic!("boom {n}") })
        .join()
        .unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("boom 7")
    );
    let err = rt.spawn(|| std::panic::panic_any(42u8)).join().unwrap_err();
    assert_eq!(err.downcast_ref::<u8>(), Some(&42));
    // Still usable, from a fiber too.
    let v = rt.block_on(|| {
        let bad = heddle::spawn(|| -> i32 { panic!("inner") });
        let good = heddle::spawn(|| 5);
        (bad.join().is_err(), good.join().unwrap())
    });
    assert_eq!(v, (true, 5));
    let sum: u64 = (0..100u64)
        .map(|i| rt.spawn(move || i))
        .map(|h| h.join().unwrap())
        .sum();
    assert_eq!(sum, 4950);
}

#[test]
fn block_on_reraises_the_panic() {
    let rt = common::rt(1);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(|| -> () { panic!("root failed") })
    }));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"root failed"));
    assert_eq!(rt.block_on(|| 1), 1);
}

#[test]
fn panics_in_many_fibers_are_all_reported() {
    for workers in [2, 8] {
        panics_on(workers);
    }
}

fn panics_on(workers: usize) {
    let rt = common::rt(workers);
    let hs: Vec<_> = (0..200)
        .map(|i| {
            rt.spawn(move || {
                heddle::yield_now();
                if i % 2 == 0 {
                    panic!("even {i}");
                }
                i
            })
        })
        .collect();
    let mut ok = 0;
    let mut failed = 0;
    for h in hs {
        match h.join() {
            Ok(i) => {
                assert_eq!(i % 2, 1);
                ok += 1
            }
            Err(p) => {
                assert!(p.downcast_ref::<String>().unwrap().starts_with("even "));
                failed += 1
            }
        }
    }
    assert_eq!((ok, failed), (100, 100));
}
