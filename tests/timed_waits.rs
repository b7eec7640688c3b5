//! Timed waits as std's: deadlines past `Instant`'s range mean "no
//! deadline", a capacity-0 channel is a rendezvous, and timers neither
//! depend on one worker nor linger after the wait ended.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TrySendError};
use std::time::{Duration, Instant};

use common::rt;

/// `recv_timeout(Duration::MAX)` waits without a deadline (it used to
/// panic adding the duration to `Instant::now()`), in a fiber and on a
/// thread.
#[test]
fn recv_timeout_of_duration_max_waits_without_a_deadline() {
    let rt = rt(2);
    let (tx, rx) = heddle::sync::channel::<u32>();
    let h = rt.spawn(move || rx.recv_timeout(Duration::MAX));
    std::thread::sleep(Duration::from_millis(20));
    tx.send(7).unwrap();
    assert_eq!(h.join().unwrap(), Ok(7));

    let (tx, rx) = heddle::sync::channel::<u32>();
    let t = std::thread::spawn(move || rx.recv_timeout(Duration::MAX));
    std::thread::sleep(Duration::from_millis(20));
    drop(tx);
    assert_eq!(t.join().unwrap(), Err(RecvTimeoutError::Disconnected));
}

/// `sleep(Duration::MAX)` in a fiber sleeps (it used to panic); the fiber
/// is still parked after a while, like a thread in std's sleep.
#[test]
fn sleep_of_duration_max_sleeps() {
    let rt = rt(1);
    let woke = Arc::new(AtomicBool::new(false));
    let w2 = woke.clone();
    let h = rt.spawn(move || {
        heddle::sleep(Duration::MAX);
        w2.store(true, Ordering::Relaxed);
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(!woke.load(Ordering::Relaxed));
    assert!(!h.is_finished());
    // The fiber never finishes, so the runtime must not be dropped.
    std::mem::forget(h);
    std::mem::forget(rt);
}

/// `try_send` on a rendezvous channel succeeds only when a receiver is
/// waiting (std and crossbeam say `Full` otherwise), so no message is ever
/// left behind in the channel.
#[test]
fn rendezvous_try_send_needs_a_waiting_receiver() {
    let (tx, rx) = heddle::sync::sync_channel::<u32>(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert!(rx.try_recv().is_err());

    let rt = rt(2);
    let h = rt.spawn(move || rx.recv().unwrap());
    // Retry until the receiver is parked in recv.
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut v = 2;
    loop {
        match tx.try_send(v) {
            Ok(()) => break,
            Err(TrySendError::Full(back)) => v = back,
            Err(e) => panic!("{e:?}"),
        }
        assert!(Instant::now() < give_up, "no receiver ever waited");
        std::thread::yield_now();
    }
    assert_eq!(h.join().unwrap(), 2);
    // The receiver is gone: Disconnected, and the message comes back.
    assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
}

/// Messages nobody received are dropped with the last receiver, not kept
/// until the last sender goes (std's promise).
#[test]
fn unreceived_messages_drop_with_the_receiver() {
    struct Counted(Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for cap in [0usize, 1, 4] {
        let (tx, rx) = heddle::sync::sync_channel::<Counted>(cap);
        for _ in 0..cap {
            tx.try_send(Counted(dropped.clone()))
                .map_err(|_| ())
                .unwrap();
        }
        assert!(tx.try_send(Counted(dropped.clone())).is_err()); // dropped: Full
        let before = dropped.load(Ordering::Relaxed);
        drop(rx);
        assert_eq!(dropped.load(Ordering::Relaxed), before + cap, "cap {cap}");
        drop(tx);
    }
}
