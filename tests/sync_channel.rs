//! Channels: exactly-once delivery with many producers and consumers,
//! back-pressure, disconnection, rendezvous, and timeouts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

fn many_to_many(workers: usize, cap: Option<usize>) {
    let rt = common::rt(workers);
    const PRODUCERS: u64 = 8;
    const PER: u64 = 5_000;
    let seen = rt.block_on(|| {
        let (tx, rx, bounded) = match cap {
            None => {
                let (tx, rx) = heddle::sync::channel::<u64>();
                (Some(tx), rx, None)
            }
            Some(c) => {
                let (tx, rx) = heddle::sync::sync_channel::<u64>(c);
                (None, rx, Some(tx))
            }
        };
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (tx, btx) = (tx.clone(), bounded.clone());
                heddle::spawn(move || {
                    for i in 0..PER {
                        let m = p * PER + i;
                        match (&tx, &btx) {
                            (Some(tx), _) => tx.send(m).unwrap(),
                            (_, Some(btx)) => btx.send(m).unwrap(),
                            _ => unreachable!(),
                        }
                        if i % 64 == 0 {
                            heddle::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop((tx, bounded));
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                heddle::spawn(move || rx.iter().collect::<Vec<u64>>())
            })
            .collect();
        drop(rx);
        producers.into_iter().for_each(|h| h.join().unwrap());
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all
    });
    let expected: Vec<u64> = (0..PRODUCERS * PER).collect();
    assert_eq!(seen.len(), expected.len(), "{workers} workers, cap {cap:?}");
    assert!(
        seen == expected,
        "{workers} workers, cap {cap:?}: lost or duplicated messages"
    );
}

#[test]
fn every_message_delivered_exactly_once() {
    for workers in [2, 8] {
        many_to_many(workers, None);
        many_to_many(workers, Some(16));
        many_to_many(workers, Some(0));
    }
}

#[test]
fn a_bounded_channel_blocks_the_producer_at_capacity() {
    let rt = common::rt(2);
    let (tx, rx) = heddle::sync::sync_channel(3);
    let sent = Arc::new(AtomicUsize::new(0));
    let s = sent.clone();
    let producer = rt.spawn(move || {
        for i in 0..10 {
            tx.send(i).unwrap();
            s.fetch_add(1, Ordering::SeqCst);
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        sent.load(Ordering::SeqCst),
        3,
        "the producer must stop at capacity"
    );
    assert_eq!(rx.recv().unwrap(), 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        sent.load(Ordering::SeqCst),
        4,
        "one slot freed, one more send"
    );
    let rest: Vec<i32> = rx.iter().collect();
    assert_eq!(rest, (1..10).collect::<Vec<_>>());
    producer.join().unwrap();
}

#[test]
fn dropping_every_sender_ends_iteration() {
    let rt = common::rt(2);
    let (tx, rx) = heddle::sync::channel();
    let hs: Vec<_> = (0..5)
        .map(|i| {
            let tx = tx.clone();
            rt.spawn(move || {
                heddle::sleep(Duration::from_millis(5 * i));
                tx.send(i).unwrap();
            })
        })
        .collect();
    drop(tx);
    let got = rt.block_on(|| rx.iter().sum::<u64>());
    assert_eq!(got, 10);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    hs.into_iter().for_each(|h| h.join().unwrap());
}

#[test]
fn rendezvous_send_returns_after_the_receive() {
    let rt = common::rt(2);
    let (tx, rx) = heddle::sync::sync_channel::<u32>(0);
    let received = Arc::new(AtomicUsize::new(0));
    let r = received.clone();
    let consumer = rt.spawn(move || {
        heddle::sleep(Duration::from_millis(30));
        let v = rx.recv().unwrap();
        r.store(1, Ordering::SeqCst);
        v
    });
    rt.block_on(|| tx.send(9).unwrap());
    // send returned: the message was taken (the flag follows right after).
    assert_eq!(consumer.join().unwrap(), 9);
    assert_eq!(received.load(Ordering::SeqCst), 1);
    // With the receiver gone, a rendezvous send (parked, waiting for its
    // message to be taken) gets its message back. On a runtime of its own,
    // under a watchdog: a sender never woken fails the test, not hangs it.
    let back = common::within_a_minute("a rendezvous sender whose receiver left", || {
        let rt = common::rt(2);
        let (tx, rx) = heddle::sync::sync_channel::<String>(0);
        let h = rt.spawn(move || tx.send("lost".into()));
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
        h.join().unwrap().unwrap_err().0
    });
    assert_eq!(back, "lost");
}

/// A fiber parked in `recv` on a rendezvous holds the hand-off record:
/// `try_send` must find it there (as std's finds a waiting receiver), and a
/// `send` to it returns without waiting, the message taken.
#[test]
fn a_rendezvous_reaches_a_fiber_parked_in_recv() {
    let rt = common::rt(1);
    let (attempts, got, sent_back) = rt.block_on(|| {
        let (tx, rx) = heddle::sync::sync_channel::<u32>(0);
        let (back_tx, back_rx) = heddle::sync::sync_channel::<u32>(0);
        let h = heddle::spawn(move || {
            let first = rx.recv().unwrap();
            let mut sum = first;
            for _ in 0..1_000 {
                let v = rx.recv().unwrap();
                sum += v;
                back_tx.send(v * 2).unwrap();
            }
            (first, sum)
        });
        // One worker: the receiver runs and parks at our first yield.
        let mut attempts = 1;
        while tx.try_send(7).is_err() {
            assert!(attempts < 100, "try_send never reached the parked receiver");
            attempts += 1;
            heddle::yield_now();
        }
        let mut sent_back = 0;
        for i in 1..=1_000 {
            tx.send(i).unwrap();
            sent_back += back_rx.recv().unwrap();
        }
        (attempts, h.join().unwrap(), sent_back)
    });
    assert_eq!(attempts, 2);
    assert_eq!(got, (7, 7 + 500_500));
    assert_eq!(sent_back, 1_001_000);
}

#[test]
fn recv_timeout_times_out_and_receives() {
    let rt = common::rt(2);
    let (tx, rx) = heddle::sync::channel::<u32>();
    let (elapsed, r1, r2, r3) = rt.block_on(|| {
        let t = Instant::now();
        let r1 = rx.recv_timeout(Duration::from_millis(40));
        let elapsed = t.elapsed();
        // A timed-out wait leaves a dead entry behind: the next wait must
        // still be woken by the next send.
        let tx2 = tx.clone();
        let sender = heddle::spawn(move || {
            heddle::sleep(Duration::from_millis(20));
            tx2.send(7).unwrap();
        });
        let r2 = rx.recv_timeout(Duration::from_secs(5));
        sender.join().unwrap();
        drop(tx.clone());
        let r3 = rx.recv_timeout(Duration::from_millis(1));
        (elapsed, r1, r2, r3)
    });
    assert_eq!(r1, Err(RecvTimeoutError::Timeout));
    assert!(
        elapsed >= Duration::from_millis(40) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert_eq!(r2, Ok(7));
    assert_eq!(r3, Err(RecvTimeoutError::Timeout));
    drop(tx);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Disconnected)
    );
}

#[test]
fn recv_timeout_from_a_plain_thread() {
    let rt = common::rt(1);
    let (tx, rx) = heddle::sync::channel();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(10)),
        Err(RecvTimeoutError::Timeout)
    );
    let h = rt.spawn(move || {
        heddle::sleep(Duration::from_millis(10));
        tx.send(3).unwrap();
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(3));
    h.join().unwrap();
}

/// Receivers that time out all the time (a timed wait, then a wait
/// without a deadline, in turn) on 4 workers and a plain thread, against
/// bursty bounded senders: every message arrives exactly once, and every
/// receiver sees the channel's end. A lost wake-up shows as a hang, so a
/// watchdog fails the test after a minute instead.
#[test]
fn timed_and_untimed_receivers_lose_nothing() {
    within_a_minute(timed_and_untimed_receivers);
}

/// Run `f` on a thread; fail if it is still running after 60 s (a lost
/// wake-up hangs rather than fails).
fn within_a_minute(f: fn()) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        done_tx.send(()).unwrap();
    });
    match done_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("still running after 60 s: a receiver missed its wake-up")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            panic!("the run panicked (its message is above)")
        }
    }
}

/// A fiber parked in `recv` is handed the next message directly (the
/// channel's hand-off), gets the ones queued behind it in order, and sees
/// the channel's end when the last sender goes while it is parked.
#[test]
fn a_parked_receiver_gets_messages_in_order_then_the_end() {
    within_a_minute(|| {
        let rt = common::rt(1);
        rt.block_on(|| {
            let (tx, rx) = heddle::sync::channel::<u32>();
            let (sync_tx, sync_rx) = heddle::sync::sync_channel::<u32>(4);
            let r = heddle::spawn(move || {
                let mut got: Vec<u32> = rx.iter().collect();
                got.extend(sync_rx.iter());
                got
            });
            let park = || heddle::sleep(Duration::from_millis(5)); // the receiver parks
            park();
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            park();
            tx.send(3).unwrap();
            park();
            drop(tx);
            park();
            sync_tx.send(4).unwrap();
            sync_tx.send(5).unwrap();
            park();
            drop(sync_tx);
            assert_eq!(r.join().unwrap(), [0, 1, 2, 3, 4, 5]);
        });
    });
}

fn timed_and_untimed_receivers() {
    const SENDERS: u64 = 4;
    const PER: u64 = 3_000;
    let rt = common::rt(4);
    let (tx, rx) = heddle::sync::sync_channel::<u64>(2);
    let thread_rx = rx.clone();
    let on_thread = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            match thread_rx.recv_timeout(Duration::from_micros(50)) {
                Ok(m) => got.push(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return got,
            }
        }
    });
    let mut seen = rt.block_on(move || {
        let receivers: Vec<_> = (0..6)
            .map(|r| {
                let rx = rx.clone();
                heddle::spawn(move || {
                    let mut got = Vec::new();
                    for turn in 0u64.. {
                        let m = if (turn + r) % 2 == 0 {
                            match rx.recv_timeout(Duration::from_micros(20 + 10 * r)) {
                                Ok(m) => m,
                                Err(RecvTimeoutError::Timeout) => continue,
                                Err(RecvTimeoutError::Disconnected) => return got,
                            }
                        } else {
                            match rx.recv() {
                                Ok(m) => m,
                                Err(_) => return got,
                            }
                        };
                        got.push(m);
                    }
                    unreachable!()
                })
            })
            .collect();
        drop(rx);
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let tx = tx.clone();
                heddle::spawn(move || {
                    for i in 0..PER {
                        tx.send(s * PER + i).unwrap();
                        if i % 100 == 0 {
                            heddle::sleep(Duration::from_micros(100));
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        senders.into_iter().for_each(|h| h.join().unwrap());
        receivers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<u64>>()
    });
    seen.extend(on_thread.join().unwrap());
    seen.sort_unstable();
    assert!(
        seen == (0..SENDERS * PER).collect::<Vec<u64>>(),
        "lost or duplicated messages: {} received of {}",
        seen.len(),
        SENDERS * PER
    );
}
