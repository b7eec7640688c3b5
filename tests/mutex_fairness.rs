//! `sync::Mutex` is eventually fair: a waiter that has waited more than
//! about a millisecond is handed the lock at the next unlock, so a holder
//! that unlocks and re-locks at once cannot keep it for good.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::rt;

/// A hog loops `lock; pause(); unlock` for at most `limit`, then stops by
/// itself; returns how many rounds it did while `stop` was unset.
fn hog(
    m: Arc<heddle::sync::Mutex<u64>>,
    stop: Arc<AtomicBool>,
    limit: Duration,
    pause: fn(),
) -> heddle::JoinHandle<()> {
    heddle::spawn(move || {
        let t = Instant::now();
        while !stop.load(Ordering::Relaxed) && t.elapsed() < limit {
            let mut g = m.lock();
            *g += 1;
            pause();
            drop(g);
        }
    })
}

/// The newcomer takes the lock `times` times; every time, the hogs must
/// still be running (before: it got the lock only once they stopped).
fn newcomer_gets_in(workers: usize, hogs: usize, pause: fn(), between: Duration) {
    let rt = rt(workers);
    let (got_while_hogging, got) = rt.block_on(|| {
        let m = Arc::new(heddle::sync::Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let limit = Duration::from_secs(5);
        let hs: Vec<_> = (0..hogs)
            .map(|_| hog(m.clone(), stop.clone(), limit, pause))
            .collect();
        heddle::yield_now(); // let the hogs take the lock
        let start = Instant::now();
        let got = AtomicU32::new(0);
        let mut while_hogging = 0;
        for _ in 0..10 {
            heddle::sleep(between);
            let g = m.lock();
            got.fetch_add(1, Ordering::Relaxed);
            while_hogging += u32::from(start.elapsed() < limit);
            drop(g);
        }
        stop.store(true, Ordering::Relaxed);
        hs.into_iter().for_each(|h| h.join().unwrap());
        (while_hogging, got.load(Ordering::Relaxed))
    });
    assert_eq!(got, 10);
    assert_eq!(
        got_while_hogging, 10,
        "the newcomer waited for the hogs to stop"
    );
}

/// The case: holders that yield while holding, on one worker.
#[test]
fn newcomer_beside_a_holder_that_yields_while_holding_1_worker() {
    newcomer_gets_in(1, 1, heddle::yield_now, Duration::from_micros(100));
}

#[test]
fn newcomer_beside_holders_that_yield_while_holding_2_workers() {
    newcomer_gets_in(2, 2, heddle::yield_now, Duration::from_micros(100));
}

/// Go's TestMutexFairness: one goroutine re-locks at once after a 100 us
/// hold, another must get the lock 10 times (Go allows 10 s).
#[test]
fn go_mutex_fairness() {
    newcomer_gets_in(
        2,
        1,
        || heddle::sleep(Duration::from_micros(100)),
        Duration::from_micros(100),
    );
}

/// The value is intact after heavy contention with hand-offs.
#[test]
fn counts_are_exact_under_contention_and_hand_offs() {
    let rt = rt(3);
    let m = Arc::new(heddle::sync::Mutex::new(0u64));
    let hs: Vec<_> = (0..12)
        .map(|i| {
            let m = m.clone();
            rt.spawn(move || {
                for k in 0..2000 {
                    let mut g = m.lock();
                    *g += 1;
                    if (i + k) % 7 == 0 {
                        heddle::yield_now();
                    }
                }
            })
        })
        .collect();
    // Plain threads contend too.
    let ts: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    *m.lock() += 1;
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    ts.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(*m.lock(), 14 * 2000);
    assert!(m.try_lock().is_some());
}

/// A bounded channel's blocked sender beside a sender that sends in a tight
/// loop on another worker: the blocked one must get its messages in while
/// the fast one still runs (woken waiters used to queue again at the back,
/// and newcomers took the room they were woken for).
#[test]
fn a_blocked_sender_gets_its_turn_beside_a_fast_one() {
    for workers in [1, 2] {
        blocked_sender_beside_a_fast_one(workers);
    }
}

fn blocked_sender_beside_a_fast_one(workers: usize) {
    let rt = rt(workers);
    let (tx, rx) = heddle::sync::sync_channel::<u8>(1);
    let stop = Arc::new(AtomicBool::new(false));
    let limit = Duration::from_secs(5);
    let fast = {
        let (tx, stop) = (tx.clone(), stop.clone());
        rt.spawn(move || {
            let t = Instant::now();
            while !stop.load(Ordering::Relaxed) && t.elapsed() < limit {
                if tx.send(0).is_err() {
                    break;
                }
            }
        })
    };
    let receiver = rt.spawn(move || {
        let mut slow = 0;
        while slow < 10 {
            match rx.recv() {
                Ok(1) => slow += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        slow
    });
    let start = Instant::now();
    let slow = rt.spawn(move || {
        let mut in_time = 0;
        for _ in 0..10 {
            heddle::sleep(Duration::from_micros(100));
            tx.send(1).unwrap();
            in_time += u32::from(start.elapsed() < limit);
        }
        in_time
    });
    let in_time = slow.join().unwrap();
    assert_eq!(receiver.join().unwrap(), 10);
    stop.store(true, Ordering::Relaxed);
    fast.join().unwrap();
    assert_eq!(
        in_time, 10,
        "the slow sender waited for the fast one to stop"
    );
}
