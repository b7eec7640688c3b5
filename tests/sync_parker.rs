//! `sync::Parker`: crossbeam's parker tests, ported, and what fibers add:
//! a parked fiber leaves its worker to others (where `thread::park` would
//! block it), tokens that do not add up, unparks from plain threads, and
//! the dump line.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use heddle::sync::{Parker, Unparker};

#[test]
fn crossbeam_park_timeout_unpark_before() {
    let p = Parker::new();
    for _ in 0..10 {
        p.unparker().unpark();
        p.park_timeout(Duration::from_millis(u32::MAX as u64));
    }
}

#[test]
fn crossbeam_park_timeout_unpark_not_called() {
    let p = Parker::new();
    let start = Instant::now();
    for _ in 0..10 {
        p.park_timeout(Duration::from_millis(10));
    }
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[test]
fn crossbeam_park_timeout_unpark_called_other_thread() {
    common::within_a_minute("unpark from another thread", || {
        for _ in 0..10 {
            let p = Parker::new();
            let u = p.unparker().clone();
            std::thread::scope(|s| {
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    u.unpark();
                });
                p.park_timeout(Duration::from_millis(u32::MAX as u64));
            });
        }
    });
}

/// Two fibers on one worker take turns through two parkers, 10,000 times.
/// `thread::park` here would block the only worker at the first park; a
/// lost wake-up would hang, and the watchdog fails the test.
#[test]
fn two_fibers_on_one_worker_take_turns_through_parkers() {
    const ROUNDS: u64 = 10_000;
    let rt = common::rt(1);
    let count = common::within_a_minute("turns", move || {
        rt.block_on(|| {
            let (a, b) = (Parker::new(), Parker::new());
            let (ua, ub) = (a.unparker().clone(), b.unparker().clone());
            let count = Arc::new(AtomicU64::new(0));
            let c = count.clone();
            let other = heddle::spawn(move || {
                for _ in 0..ROUNDS {
                    b.park();
                    c.fetch_add(1, Ordering::SeqCst);
                    ua.unpark();
                }
            });
            for i in 0..ROUNDS {
                ub.unpark();
                a.park();
                assert_eq!(count.load(Ordering::SeqCst), i + 1);
            }
            other.join().unwrap();
            count.load(Ordering::SeqCst)
        })
    });
    assert_eq!(count, ROUNDS);
}

#[test]
fn tokens_do_not_add_up() {
    let p = Parker::new();
    p.unparker().unpark();
    p.unparker().unpark();
    p.park(); // the one token
    let start = Instant::now();
    p.park_timeout(Duration::from_millis(20)); // none left: times out
    assert!(start.elapsed() >= Duration::from_millis(20));
}

/// A plain thread unparks a parked fiber, on more workers than cores,
/// many times over; and a `Duration::MAX` timeout waits for the unpark.
#[test]
fn plain_threads_unpark_parked_fibers() {
    let rt = common::rt(4);
    let woken = common::within_a_minute("thread unparks", move || {
        let fibers: Vec<(Unparker, heddle::JoinHandle<u64>)> = (0..8)
            .map(|_| {
                let p = Parker::new();
                let u = p.unparker().clone();
                let h = rt.spawn(move || {
                    for _ in 0..100 {
                        p.park_timeout(Duration::MAX);
                    }
                    100
                });
                (u, h)
            })
            .collect();
        let (us, hs): (Vec<_>, Vec<_>) = fibers.into_iter().unzip();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d = done.clone();
        let unparker = std::thread::spawn(move || {
            // Keep unparking until every fiber is done (tokens may merge).
            while !d.load(Ordering::SeqCst) {
                for u in &us {
                    u.unpark();
                }
                std::thread::yield_now();
            }
        });
        let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        done.store(true, Ordering::SeqCst);
        unparker.join().unwrap();
        total
    });
    assert_eq!(woken, 800);
}

#[test]
fn a_dump_names_a_parked_fiber() {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let p = Parker::new();
    let u = p.unparker().clone();
    let h = heddle::fiber::Builder::new()
        .name("parked")
        .spawn_on(&rt, move || p.park())
        .unwrap();
    let shown = common::wait_for_dump_line(&rt, "\"parked\": parked on a Parker");
    u.unpark();
    // The runtime goes with the join, so that a fiber never woken fails
    // the test instead of hanging the runtime's drop here.
    common::within_a_minute("the unparked fiber", move || {
        h.join().unwrap();
        drop(rt);
    });
    shown.unwrap();
}

#[test]
fn debug_output_and_auto_traits() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync + Clone>() {}
    send::<Parker>();
    send_sync::<Unparker>();
    let p = Parker::default();
    assert_eq!(
        format!("{p:?} {:?}", p.unparker()),
        "Parker { .. } Unparker { .. }"
    );
}
