//! std's `sync_channel` behaviour, case by case, against heddle's channels
//! used from plain threads (the shape of std's own mpsc tests): where
//! heddle claims std's API it must answer as std does.

use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError, TrySendError};
use std::thread;
use std::time::Duration;

use heddle::sync::{Receiver, SyncSender, channel, sync_channel};

#[test]
fn rendezvous_send_returns_once_received() {
    let (tx, rx) = sync_channel::<i32>(0);
    let t = thread::spawn(move || rx.recv().unwrap());
    assert_eq!(tx.send(1), Ok(()));
    assert_eq!(t.join().unwrap(), 1);
}

#[test]
fn rendezvous_send_fails_when_the_receiver_goes() {
    let (tx, rx) = sync_channel::<i32>(0);
    let t = thread::spawn(move || drop(rx));
    assert_eq!(tx.send(1).unwrap_err().0, 1);
    t.join().unwrap();
}

#[test]
fn buffered_send_fails_once_the_receiver_is_gone() {
    let (tx, rx) = sync_channel::<i32>(1);
    assert_eq!(tx.send(1), Ok(()));
    thread::spawn(move || drop(rx)).join().unwrap();
    assert!(tx.send(1).is_err());
}

#[test]
fn two_blocked_rendezvous_senders_both_fail_when_the_receiver_drops() {
    let (tx, rx) = sync_channel::<i32>(0);
    let tx2 = tx.clone();
    let (done, done_rx) = channel();
    let done2 = done.clone();
    let a = thread::spawn(move || {
        assert!(tx.send(1).is_err());
        done.send(()).unwrap();
    });
    let b = thread::spawn(move || {
        assert!(tx2.send(2).is_err());
        done2.send(()).unwrap();
    });
    drop(rx);
    done_rx.recv().unwrap();
    done_rx.recv().unwrap();
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn try_send_states() {
    let (tx, _rx) = sync_channel::<i32>(0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));

    let (tx, _rx) = sync_channel::<i32>(1);
    assert_eq!(tx.try_send(1), Ok(()));
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));

    let (tx, rx) = sync_channel::<i32>(1);
    assert_eq!(tx.try_send(1), Ok(()));
    drop(rx);
    assert_eq!(tx.try_send(1), Err(TrySendError::Disconnected(1)));

    let (tx, rx) = sync_channel::<i32>(0);
    drop(rx);
    assert_eq!(tx.try_send(10), Err(TrySendError::Disconnected(10)));
}

#[test]
fn try_recv_states() {
    let (tx, rx) = sync_channel::<i32>(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send(10).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(10));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));

    let (_tx, rx) = sync_channel::<i32>(0);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn recv_on_a_closed_empty_channel_errs_and_panics_through_unwrap() {
    let (tx, rx) = sync_channel::<i32>(0);
    drop(tx);
    assert_eq!(rx.recv(), Err(RecvError));
    let r = thread::spawn(move || {
        let (tx, rx) = sync_channel::<i32>(0);
        drop(tx);
        rx.recv().unwrap();
    })
    .join();
    assert!(r.is_err());
}

#[test]
fn unreceived_boxes_are_freed_when_the_receiver_drops() {
    let (tx, rx) = sync_channel::<Box<i32>>(0);
    drop(rx);
    assert!(tx.send(Box::new(0)).is_err());
}

/// Two channels in a ring, 100 times (std's issue 15761 shape).
#[test]
fn try_send_after_a_recv_in_a_ring() {
    for _ in 0..100 {
        let (tx1, rx1) = sync_channel::<()>(3);
        let (tx2, rx2) = sync_channel::<()>(3);
        let t = thread::spawn(move || {
            rx1.recv().unwrap();
            tx2.try_send(()).unwrap();
        });
        tx1.try_send(()).unwrap();
        rx2.recv().unwrap();
        t.join().unwrap();
    }
}

/// A chain of threads each sending one rendezvous message and handing the
/// sender on, and a chain receiving them in order.
#[test]
fn stream_send_recv_stress() {
    fn send(tx: SyncSender<Box<i32>>, i: i32) {
        if i == 10 {
            return;
        }
        thread::spawn(move || {
            tx.send(Box::new(i)).unwrap();
            send(tx, i + 1);
        });
    }
    fn recv(rx: Receiver<Box<i32>>, i: i32, done: heddle::sync::Sender<()>) {
        if i == 10 {
            done.send(()).unwrap();
            return;
        }
        thread::spawn(move || {
            assert_eq!(*rx.recv().unwrap(), i);
            recv(rx, i + 1, done);
        });
    }
    for _ in 0..50 {
        let (tx, rx) = sync_channel::<Box<i32>>(0);
        let (done, done_rx) = channel();
        send(tx, 0);
        recv(rx, 0, done);
        done_rx.recv().unwrap();
    }
}

/// 10,000 rendezvous messages against a receiver polling with a 1 ms
/// timeout: every message arrives exactly once.
#[test]
fn stress_recv_timeout_two_threads() {
    let (tx, rx) = sync_channel::<i32>(0);
    let t = thread::spawn(move || {
        for _ in 0..10_000 {
            tx.send(1).unwrap();
        }
    });
    let mut received = 0;
    loop {
        match rx.recv_timeout(Duration::from_millis(1)) {
            Ok(v) => {
                assert_eq!(v, 1);
                received += 1;
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    assert_eq!(received, 10_000);
    t.join().unwrap();
}

#[test]
fn recv_timeout_then_data() {
    let (tx, rx) = sync_channel::<i32>(1);
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)),
        Err(RecvTimeoutError::Timeout)
    );
    tx.send(1).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Ok(1));
}

#[test]
fn iterators_end_at_disconnection_and_try_iter_does_not_wait() {
    let (tx, rx) = sync_channel::<i32>(5);
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(rx.try_iter().count(), 0);
    let t = thread::spawn(move || {
        for i in 0..20 {
            tx.send(i).unwrap();
        }
    });
    assert_eq!(rx.iter().sum::<i32>(), 190);
    t.join().unwrap();
}

/// The same rendezvous exchanges between fibers, on one and two workers.
#[test]
fn rendezvous_between_fibers() {
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        let (tx, rx) = sync_channel::<u32>(0);
        let producer = rt.spawn(move || {
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
        });
        let consumer = rt.spawn(move || rx.iter().sum::<u32>());
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), 999 * 1000 / 2);
    }
}
