//! `scope` and `join`: borrowing fibers, panics re-raised after everyone has
//! finished, and recursion depth bounded by fibers, not by one stack.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn scope_borrows_a_local_vec_and_sums_it_in_parallel() {
    for workers in [2, 8] {
        let rt = common::rt(workers);
        let data: Vec<u64> = (0..100_000).collect();
        let mut partials = [0u64; 10];
        let threads = rt.block_on(|| {
            let seen = std::sync::Mutex::new(std::collections::HashSet::new());
            heddle::scope(|s| {
                for (chunk, out) in data.chunks(10_000).zip(partials.iter_mut()) {
                    let seen = &seen;
                    s.spawn(move || {
                        for (k, x) in chunk.iter().enumerate() {
                            *out += x;
                            if k % 1000 == 0 {
                                heddle::yield_now();
                            }
                        }
                        let me = std::thread::current();
                        seen.lock().unwrap().insert(me.name().map(String::from));
                    });
                }
            });
            seen.into_inner().unwrap()
        });
        assert_eq!(partials.iter().sum::<u64>(), 100_000 * 99_999 / 2);
        // Scoped fibers run on the runtime's workers, never on the caller.
        assert!(threads.len() <= workers, "{threads:?}");
        for name in &threads {
            assert!(
                name.as_deref()
                    .is_some_and(|n| n.starts_with("heddle-worker-")),
                "{threads:?}"
            );
        }
        assert_eq!(data.len(), 100_000); // still ours
    }
}

#[test]
fn a_panic_in_scope_is_reraised_after_the_others_finished() {
    let rt = common::rt(2);
    let finished = AtomicUsize::new(0);
    let r = rt.block_on(|| {
        panic::catch_unwind(AssertUnwindSafe(|| {
            heddle::scope(|s| {
                s.spawn(|| panic!("one fiber fails"));
                for _ in 0..20 {
                    s.spawn(|| {
                        for _ in 0..50 {
                            heddle::yield_now();
                        }
                        finished.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        }))
    });
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"one fiber fails"));
    assert_eq!(finished.load(Ordering::SeqCst), 20);
}

/// A scoped fiber's result is dropped exactly once, and before `scope`
/// returns (it may borrow from outside), whichever of its handle, the
/// fiber and the scope's own reference lets go of the shared block last.
#[test]
fn scoped_results_are_dropped_once_before_the_scope_returns() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    const FIBERS: usize = 3_000;
    for workers in [1, 2, 8] {
        let rt = common::rt(workers);
        let drops = AtomicUsize::new(0);
        rt.block_on(|| {
            heddle::scope(|s| {
                let mut kept = Vec::new();
                for i in 0..FIBERS {
                    let drops = &drops;
                    let h = s.spawn(move || {
                        if i % 5 == 0 {
                            heddle::yield_now();
                        }
                        Counted(drops)
                    });
                    match i % 3 {
                        0 => drop(h.join().unwrap()),
                        1 => drop(h),
                        _ => kept.push(h),
                    }
                    if i % 100 == 99 {
                        heddle::yield_now();
                        kept.truncate(kept.len() / 2);
                    }
                }
            });
            assert_eq!(drops.load(Ordering::SeqCst), FIBERS, "{workers} workers");
        });
    }
}

#[test]
fn a_joined_panic_is_not_reraised() {
    let rt = common::rt(2);
    let v = rt.block_on(|| {
        heddle::scope(|s| {
            let h = s.spawn(|| -> u32 { panic!("handled") });
            assert!(h.join().is_err());
            s.spawn(|| 7).join().unwrap()
        })
    });
    assert_eq!(v, 7);
}

fn depth(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let (a, b) = heddle::join(|| depth(n - 1), || 1u64);
    a + b
}

#[test]
fn join_recursion_100k_deep_on_a_small_stack() {
    let rt = heddle::Builder::new()
        .workers(2)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(|| depth(100_000)), 100_000);
}

use heddle_workloads::fib_heddle as fib;

#[test]
fn join_computes_fib_on_several_worker_counts() {
    for workers in [1, 2, 8] {
        let rt = common::rt(workers);
        assert_eq!(rt.block_on(|| fib(22)), 17_711);
    }
    assert_eq!(fib(15), 610); // outside a fiber: sequential
}

#[test]
fn a_panic_in_join_waits_for_the_other_side() {
    let rt = common::rt(2);
    let other_done = AtomicUsize::new(0);
    let r = rt.block_on(|| {
        panic::catch_unwind(AssertUnwindSafe(|| {
            heddle::join(
                || -> () { panic!("left side") },
                || {
                    for _ in 0..100 {
                        heddle::yield_now();
                    }
                    other_done.store(1, Ordering::SeqCst);
                },
            )
        }))
    });
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"left side"));
    assert_eq!(other_done.load(Ordering::SeqCst), 1);
}

/// The documented difference from `std::thread::scope`: an unjoined
/// fiber's own payload is re-raised (the first in spawn order, not the
/// first to panic), and a panic its handle already returned is not.
#[test]
fn the_first_unjoined_panic_in_spawn_order_is_reraised_with_its_payload() {
    let rt = common::rt(2);
    let r = rt.block_on(|| {
        panic::catch_unwind(AssertUnwindSafe(|| {
            heddle::scope(|s| {
                let joined = s.spawn(|| panic!("joined, so not re-raised"));
                s.spawn(|| {
                    for _ in 0..100 {
                        heddle::yield_now();
                    }
                    panic!("first spawned")
                });
                s.spawn(|| panic!("first to panic"));
                assert!(joined.join().is_err());
            })
        }))
    });
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"first spawned"));
}

/// std's `thread::Builder::spawn_scoped`: a named scoped fiber with its own
/// stack size borrows from outside; a bad stack size is an error the scope
/// carries on after (no fiber counted, so the scope does not wait for it).
#[test]
fn builder_spawn_scoped_names_sizes_and_fails_cleanly() {
    let rt = common::rt(2);
    let words = ["weft", "warp", "heddle"];
    let (total, err) = rt.block_on(|| {
        heddle::scope(|s| {
            let big = heddle::fiber::Builder::new()
                .name("reader")
                .stack_size(2 << 20)
                .spawn_scoped(s, || {
                    let scratch = [1u8; 1 << 20]; // needs the bigger stack
                    assert_eq!(heddle::fiber::current().name(), Some("reader"));
                    words.iter().map(|w| w.len()).sum::<usize>() + usize::from(scratch[7])
                })
                .expect("a 2 MiB stack");
            assert_eq!(big.fiber().name(), Some("reader"));
            let err = heddle::fiber::Builder::new()
                .stack_size(usize::MAX)
                .spawn_scoped(s, || unreachable!("never spawned"))
                .expect_err("no such stack");
            (big.join().unwrap(), err)
        })
    });
    assert_eq!(total, 4 + 4 + 6 + 1);
    assert!(err.to_string().contains("stack size"), "{err}");
}
