//! Fibers migrate between worker threads at yields. The runtime's own
//! thread-local state must be re-read after every switch: thousands of
//! fibers yield repeatedly and call runtime functions after every yield, in
//! release mode (where a cached thread-local address would bite).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn stress(workers: usize) {
    let rt = common::rt(workers);
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
    assert!(
        migrations.load(Ordering::Relaxed) > 0,
        "{workers} workers: no fiber ever migrated"
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
