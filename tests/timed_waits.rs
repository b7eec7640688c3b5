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

/// A 10 ms sleeper whose worker then runs a fiber that never yields for
/// 400 ms: another worker (or the timer thread) must wake it on time, not
/// the busy one 390 ms late. The limit is generous (the goal is 30 ms);
/// a regression is 390 ms.
#[test]
fn a_timer_fires_while_its_worker_is_busy() {
    let rt = rt(2);
    // The hog must run on the sleeper's worker (where its timer is): the
    // sleeper spawns it just before sleeping, so it is next on that
    // worker's queue; a run where the other worker stole it does not count.
    let mut counted = 0;
    for _ in 0..20 {
        let (same_thread, slept) = rt.block_on(|| {
            let h = heddle::spawn(|| {
                let (tx, rx) = heddle::sync::channel();
                let hog = heddle::spawn(move || {
                    tx.send(std::thread::current().id()).unwrap();
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_millis(400) {
                        std::hint::spin_loop();
                    }
                });
                let here = std::thread::current().id();
                let t = Instant::now();
                heddle::sleep(Duration::from_millis(10));
                let slept = t.elapsed();
                let hog_thread = rx.recv().unwrap();
                hog.join().unwrap();
                (hog_thread == here, slept)
            });
            h.join().unwrap()
        });
        if same_thread {
            counted += 1;
            assert!(
                slept < Duration::from_millis(200),
                "a 10 ms sleep took {slept:?} behind a busy worker"
            );
            if counted == 3 {
                return;
            }
        }
    }
    assert!(counted > 0, "the hog never ran on the sleeper's worker");
}

/// 500,000 `recv_timeout(1 h)` satisfied at once: their timers must not
/// stay behind for the hour (before: +39 MB resident).
#[test]
fn early_satisfied_timed_waits_leave_nothing_behind() {
    let rt = rt(1);
    let grown = rt.block_on(|| {
        let (tx, rx) = heddle::sync::channel::<u32>();
        let (back_tx, back_rx) = heddle::sync::channel::<u32>();
        let echo = heddle::spawn(move || {
            for v in rx.iter() {
                back_tx.send(v).unwrap();
            }
        });
        let round = |n: u32| {
            for i in 0..n {
                tx.send(i).unwrap();
                // Parks (the echo runs after us), then is woken early.
                assert_eq!(back_rx.recv_timeout(Duration::from_secs(3600)), Ok(i));
            }
        };
        round(50_000); // warm up allocators and pools
        let before = common::status_bytes("VmRSS");
        round(500_000);
        let grown = common::status_bytes("VmRSS").saturating_sub(before);
        drop(tx);
        echo.join().unwrap();
        grown
    });
    assert!(grown < 8 << 20, "resident memory grew by {grown} bytes");
}

/// Timed-out polls of an idle channel, from a fiber and from a thread:
/// each leaves neither a timer nor a stale waiter behind.
#[test]
fn timed_out_polls_leave_nothing_behind() {
    let rt = rt(1);
    let (tx, rx) = heddle::sync::channel::<u32>();
    let rx = Arc::new(rx);
    let poll = |rx: &heddle::sync::Receiver<u32>, n: usize| {
        for _ in 0..n {
            assert_eq!(
                rx.recv_timeout(Duration::from_micros(20)),
                Err(RecvTimeoutError::Timeout)
            );
        }
    };
    let r2 = rx.clone();
    rt.block_on(|| poll(&r2, 2_000));
    poll(&rx, 2_000);
    let before = common::status_bytes("VmRSS");
    let r3 = rx.clone();
    let fiber = rt.spawn(move || poll(&r3, 20_000));
    poll(&rx, 5_000);
    fiber.join().unwrap();
    let grown = common::status_bytes("VmRSS").saturating_sub(before);
    assert!(grown < 256 << 10, "resident memory grew by {grown} bytes");
    // And the channel still works.
    tx.send(5).unwrap();
    assert_eq!(rx.recv(), Ok(5));
}
