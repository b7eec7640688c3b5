//! Fibers migrate between worker threads at yields. The runtime's own
//! thread-local state must be re-read after every switch: thousands of
//! fibers yield repeatedly and call runtime functions after every yield, in
//! release mode (where a cached thread-local address would bite).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One storm; returns how many yields resumed on another thread.
fn storm(rt: &heddle::Runtime) -> u64 {
    let migrations = Arc::new(AtomicU64::new(0));
    let m = migrations.clone();
    let total = rt.block_on(move || {
        let hs: Vec<_> = (0..2000u64)
            .map(|f| {
                let m = m.clone();
                heddle::spawn(move || {
                    let me = heddle::fiber::current().id();
                    let mut sum = 0u64;
                    for step in 0..100u64 {
                        let before = std::thread::current().id();
                        heddle::yield_now();
                        if std::thread::current().id() != before {
                            m.fetch_add(1, Ordering::Relaxed);
                        }
                        // Runtime calls right after a possible migration.
                        assert_eq!(heddle::fiber::current().id(), me);
                        if step % 25 == 0 {
                            sum += heddle::spawn(move || step).join().unwrap();
                        } else {
                            sum += step;
                        }
                    }
                    sum + f
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, 2000 * 4950 + 2000 * 1999 / 2);
    migrations.load(Ordering::Relaxed)
}

/// Storms until one saw a migration (likely in any one, not promised:
/// busy workers steal nothing), checking every storm's results.
fn stress(workers: usize) {
    let rt = common::rt(workers);
    let migrated = (0..10).any(|_| storm(&rt) > 0);
    assert!(
        migrated,
        "{workers} workers: no fiber migrated in 10 storms"
    );
}

#[test]
fn yield_storm_on_2_workers() {
    stress(2);
}

#[test]
fn yield_storm_on_8_workers() {
    stress(8);
}
