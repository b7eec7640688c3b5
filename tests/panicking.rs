//! `std::thread::panicking()` belongs to the fiber: a fiber that suspends
//! while it unwinds (a `Drop` that yields, joins, locks, receives or
//! sleeps) must not make other fibers see a panic, and std's per-thread
//! panic counts must balance wherever it finishes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{panic_message, rt};

/// Runs `f` from its destructor: during the unwinding of a panic.
struct OnUnwind<F: FnMut()>(F);
impl<F: FnMut()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        assert!(std::thread::panicking());
        (self.0)();
    }
}

/// Quiet the default hook for the panics these tests raise on purpose.
fn quiet() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if !msg.starts_with("expected:") {
                default(info);
            }
        }));
    });
}

/// While a fiber on the one worker is parked mid-unwind, the other fibers
/// of that worker see no panic.
#[test]
fn others_do_not_see_a_suspended_unwind() {
    quiet();
    let rt = rt(1);
    let seen = rt.block_on(|| {
        let seen = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let watchers: Vec<_> = (0..4)
            .map(|_| {
                let (seen, stop) = (seen.clone(), stop.clone());
                heddle::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        seen.fetch_add(usize::from(std::thread::panicking()), Ordering::Relaxed);
                        heddle::yield_now();
                    }
                })
            })
            .collect();
        let unwinder = heddle::spawn(|| {
            let _g = OnUnwind(|| {
                for _ in 0..50 {
                    heddle::yield_now();
                }
                heddle::sleep(Duration::from_millis(5));
            });
            panic!("expected: unwinding through a yield");
        });
        let r = unwinder.join();
        assert_eq!(
            panic_message(&*r.unwrap_err()),
            "expected: unwinding through a yield"
        );
        stop.store(true, Ordering::Relaxed);
        watchers.into_iter().for_each(|h| h.join().unwrap());
        seen.load(Ordering::Relaxed)
    });
    assert_eq!(seen, 0, "fibers saw panicking() == true");
}

/// A destructor that joins a fiber queued behind it on the only worker:
/// the worker must keep running while the unwinding fiber waits.
#[test]
fn an_unwinding_fiber_can_join_a_fiber_queued_behind_it() {
    quiet();
    let rt = rt(1);
    let got = rt.block_on(|| {
        let h = heddle::spawn(|| {
            let child = heddle::spawn(|| 40 + 2);
            let mut child = Some(child);
            let got = Arc::new(AtomicUsize::new(0));
            let g2 = got.clone();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let _g = OnUnwind(move || {
                    let v = child.take().unwrap().join().unwrap();
                    g2.store(v, Ordering::Relaxed);
                });
                panic!("expected: join while unwinding");
            }));
            assert!(r.is_err());
            assert!(!std::thread::panicking());
            got.load(Ordering::Relaxed)
        });
        h.join().unwrap()
    });
    assert_eq!(got, 42);
}

/// Every kind of wait inside an unwinding destructor, on 2 workers, many
/// times: afterwards no worker thread believes it is panicking (std's
/// per-thread counts balanced), and a std Mutex is not poisoned by code
/// that never panicked.
#[test]
fn panic_counts_balance_after_suspended_unwinds() {
    quiet();
    let rt = rt(2);
    let lock = Arc::new(heddle::sync::Mutex::new(0u32));
    let (tx, rx) = heddle::sync::channel::<u32>();
    let feeder = std::thread::spawn(move || {
        for i in 0..200 {
            std::thread::sleep(Duration::from_micros(200));
            if tx.send(i).is_err() {
                break;
            }
        }
    });
    let rx = Arc::new(rx);
    let hs: Vec<_> = (0..40u32)
        .map(|i| {
            let (lock, rx) = (lock.clone(), rx.clone());
            rt.spawn(move || {
                let _g = OnUnwind(move || match i % 5 {
                    0 => heddle::yield_now(),
                    1 => *lock.lock() += 1,
                    2 => drop(rx.recv_timeout(Duration::from_millis(2))),
                    3 => heddle::sleep(Duration::from_micros(100)),
                    _ => heddle::spawn(|| ()).join().unwrap(),
                });
                panic!("expected: wait while unwinding");
            })
        })
        .collect();
    for h in hs {
        assert!(h.join().is_err());
    }
    drop(rx);
    feeder.join().unwrap();
    assert_eq!(*lock.lock(), 8);
    // Ask every worker thread, many times, from fresh fibers.
    let std_lock = Arc::new(std::sync::Mutex::new(0u32));
    let checks: Vec<_> = (0..200)
        .map(|_| {
            let std_lock = std_lock.clone();
            rt.spawn(move || {
                let busy = std::time::Instant::now();
                while busy.elapsed() < Duration::from_micros(50) {}
                {
                    let mut g = std_lock.lock().unwrap();
                    *g += 1;
                }
                std::thread::panicking()
            })
        })
        .collect();
    let panicking = checks
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|&p| p)
        .count();
    assert_eq!(panicking, 0, "fibers saw a panic that was not theirs");
    assert!(!std_lock.is_poisoned());
    assert_eq!(*std_lock.lock().unwrap(), 200);
    // With no panic in flight std's global count hides a skewed thread
    // count, so also raise panics: each must see itself while it unwinds.
    let saw = Arc::new(AtomicUsize::new(0));
    let later: Vec<_> = (0..100)
        .map(|_| {
            let saw = saw.clone();
            rt.spawn(move || {
                let _g = OnUnwind(move || {
                    saw.fetch_add(1, Ordering::Relaxed);
                });
                panic!("expected: a later panic");
            })
        })
        .collect();
    for h in later {
        assert!(h.join().is_err());
    }
    assert_eq!(saw.load(Ordering::Relaxed), 100);
}

/// A fiber whose unwinding waits keeps working as a fiber: it knows who
/// it is, can spawn, and its panic reaches its joiner.
#[test]
fn an_unwinding_fiber_is_still_a_fiber() {
    quiet();
    let rt = rt(2);
    let (name, spawned, payload) = rt.block_on(|| {
        let out = Arc::new(std::sync::Mutex::new((None, 0)));
        let o2 = out.clone();
        let h = heddle::fiber::Builder::new()
            .name("unwinder")
            .spawn(move || {
                let _g = OnUnwind(move || {
                    let name = heddle::fiber::current().name().map(String::from);
                    let v = heddle::spawn(|| 7).join().unwrap();
                    heddle::yield_now();
                    *o2.lock().unwrap() = (name, v);
                });
                panic!("expected: still a fiber");
            })
            .unwrap();
        let payload = panic_message(&*h.join().unwrap_err());
        let (name, v) = out.lock().unwrap().clone();
        (name, v, payload)
    });
    assert_eq!(name.as_deref(), Some("unwinder"));
    assert_eq!(spawned, 7);
    assert_eq!(payload, "expected: still a fiber");
}

/// After its unwinding ends, the fiber goes back to being scheduled: it
/// can block on its runtime again and finish normally.
#[test]
fn a_fiber_goes_back_to_the_runtime_after_unwinding() {
    quiet();
    let rt = rt(1);
    let sum = rt.block_on(|| {
        let h = heddle::spawn(|| {
            let r = std::panic::catch_unwind(|| {
                let _g = OnUnwind(heddle::yield_now);
                panic!("expected: caught");
            });
            assert!(r.is_err());
            // Ordinary fiber life from here on.
            let hs: Vec<_> = (0..10u64).map(|i| heddle::spawn(move || i)).collect();
            heddle::yield_now();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        h.join().unwrap()
    });
    assert_eq!(sum, 45);
    // The runtime drops cleanly: nothing is left running on a lost thread.
    drop(rt);
}

/// A pinned fiber unwinding through waits: its worker cannot change
/// thread (other pinned fibers live there), so it waits for the fiber in
/// place; nothing else on it sees the panic, and an ordinary fiber it
/// waits for runs on the other worker.
#[test]
fn a_pinned_fiber_unwinds_through_waits_in_place() {
    quiet();
    let rt = rt(2);
    let (seen, got) = rt.block_on(|| {
        let seen = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (seen.clone(), stop.clone());
        let watcher = heddle::spawn_local(move || {
            while !st2.load(Ordering::Relaxed) {
                s2.fetch_add(usize::from(std::thread::panicking()), Ordering::Relaxed);
                heddle::yield_now();
            }
        });
        let got = Arc::new(AtomicUsize::new(0));
        let g2 = got.clone();
        let unwinder = heddle::spawn_local(move || {
            let _g = OnUnwind(move || {
                heddle::yield_now();
                heddle::sleep(Duration::from_millis(2));
                let v = heddle::spawn(|| 5).join().unwrap();
                g2.store(v, Ordering::Relaxed);
            });
            panic!("expected: pinned unwind");
        });
        assert!(unwinder.join().is_err());
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap();
        (seen.load(Ordering::Relaxed), got.load(Ordering::Relaxed))
    });
    assert_eq!(seen, 0);
    assert_eq!(got, 5);
}
