//! `sync::Barrier`: std's barrier test, ported to fibers, and rounds
//! reused back to back on more workers than cores, with plain threads
//! among the fibers.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use heddle::sync::Barrier;

/// std's `test_barrier`: nobody gets past before all have arrived, and
/// exactly one is the leader.
#[test]
fn nobody_passes_before_the_last_arrives_and_one_leads() {
    const N: usize = 10;
    let rt = common::rt(2);
    let (early, leaders) = common::within_a_minute("barrier", move || {
        let barrier = Arc::new(Barrier::new(N));
        let (tx, rx) = mpsc::channel();
        let hs: Vec<_> = (0..N - 1)
            .map(|_| {
                let (barrier, tx) = (barrier.clone(), tx.clone());
                rt.spawn(move || tx.send(barrier.wait().is_leader()).unwrap())
            })
            .collect();
        // Nine are waiting (or about to): none of them may be through.
        std::thread::sleep(Duration::from_millis(20));
        let early = rx.try_recv().is_ok();
        let mut leaders = usize::from(barrier.wait().is_leader());
        for _ in 0..N - 1 {
            leaders += usize::from(rx.recv().unwrap());
        }
        hs.into_iter().for_each(|h| h.join().unwrap());
        (early, leaders)
    });
    assert!(!early, "a waiter got past the barrier early");
    assert_eq!(leaders, 1);
}

/// One barrier reused for many rounds by fibers and a plain thread: in
/// every round each sees everyone's arrival, and one leads.
#[test]
fn rounds_reuse_one_barrier_without_overtaking() {
    const FIBERS: usize = 7;
    const ROUNDS: usize = 300;
    let rt = common::rt(4);
    let leaders = common::within_a_minute("rounds", move || {
        let n = FIBERS + 1;
        let barrier = Arc::new(Barrier::new(n));
        let arrived = Arc::new(AtomicUsize::new(0));
        let leaders = Arc::new(AtomicUsize::new(0));
        let play = {
            let (barrier, arrived, leaders) = (barrier.clone(), arrived.clone(), leaders.clone());
            move |yields: bool| {
                for round in 1..=ROUNDS {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    if barrier.wait().is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                    // Everyone of this round has arrived, and nobody of
                    // the next round can have before this one's wait.
                    let seen = arrived.load(Ordering::SeqCst);
                    assert_eq!(seen, round * n, "round {round}: arrivals");
                    if yields {
                        heddle::yield_now();
                    }
                    // Second barrier: nobody starts round+1 before all saw round.
                    barrier.wait();
                }
            }
        };
        let fibers: Vec<_> = (0..FIBERS)
            .map(|i| {
                let play = play.clone();
                rt.spawn(move || play(i % 2 == 0))
            })
            .collect();
        play(false); // this plain thread is the eighth
        fibers.into_iter().for_each(|h| h.join().unwrap());
        leaders.load(Ordering::SeqCst)
    });
    assert_eq!(leaders, ROUNDS);
}

#[test]
fn zero_and_one_never_wait_and_always_lead() {
    for n in [0, 1] {
        let b = Barrier::new(n);
        for _ in 0..3 {
            assert!(b.wait().is_leader());
        }
    }
}

#[test]
fn debug_output_matches_std() {
    let b = Barrier::new(1);
    let s = std::sync::Barrier::new(1);
    assert_eq!(format!("{b:?}"), format!("{s:?}"));
    assert_eq!(format!("{:?}", b.wait()), format!("{:?}", s.wait()));
}

#[test]
fn a_dump_names_a_fiber_waiting_at_a_barrier() {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let b = Arc::new(Barrier::new(2));
    let b2 = b.clone();
    let h = heddle::fiber::Builder::new()
        .name("at-barrier")
        .spawn_on(&rt, move || b2.wait().is_leader())
        .unwrap();
    let shown = common::wait_for_dump_line(&rt, "\"at-barrier\": blocked on a Barrier");
    assert!(b.wait().is_leader());
    assert!(!h.join().unwrap());
    shown.unwrap();
}
