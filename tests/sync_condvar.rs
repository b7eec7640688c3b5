//! `sync::Condvar`: std's condition-variable tests, ported to fibers, and
//! the cases a fiber runtime adds: more workers than cores, fibers and
//! plain threads on one condvar, timed-out waiters left on the list, a
//! dump that names the wait.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use heddle::dump::FiberState;
use heddle::sync::{Condvar, Mutex};

#[test]
fn smoke_notify_without_waiters() {
    let c = Condvar::new();
    c.notify_one();
    c.notify_all();
    static STATIC: Condvar = Condvar::new();
    STATIC.notify_all();
    assert_eq!(format!("{c:?}"), format!("{:?}", std::sync::Condvar::new()));
}

#[test]
fn notify_one_wakes_a_waiting_fiber() {
    let rt = common::rt(2);
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p = pair.clone();
    let woke = common::within_a_minute("notify_one", move || {
        rt.block_on(move || {
            let (m, c) = &*p;
            let g = m.lock();
            let p2 = p.clone();
            let notifier = heddle::spawn(move || {
                let (m, c) = &*p2;
                *m.lock() = true;
                c.notify_one();
            });
            let g = c.wait_while(g, |ready| !*ready);
            notifier.join().unwrap();
            *g
        })
    });
    assert!(woke);
    assert!(*pair.0.lock());
}

#[test]
fn notify_all_wakes_every_waiter() {
    const N: usize = 10;
    let rt = common::rt(4);
    let state = Arc::new((Mutex::new((0usize, false)), Condvar::new()));
    let s = state.clone();
    let woken = common::within_a_minute("notify_all", move || {
        let waiters: Vec<_> = (0..N)
            .map(|_| {
                let s = s.clone();
                rt.spawn(move || {
                    let (m, c) = &*s;
                    let mut g = m.lock();
                    g.0 += 1; // one more waiting
                    while !g.1 {
                        g = c.wait(g);
                    }
                })
            })
            .collect();
        // Wait until all ten are in `wait` (each counted itself under the lock).
        let (m, c) = &*s;
        while m.lock().0 < N {
            std::thread::sleep(Duration::from_millis(1));
        }
        m.lock().1 = true;
        c.notify_all();
        waiters
            .into_iter()
            .map(|h| h.join().is_ok())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(woken, N);
}

#[test]
fn wait_timeout_times_out_and_gives_the_lock_back() {
    let rt = common::rt(1);
    let (elapsed, timed_out, value) = rt.block_on(|| {
        let m = Mutex::new(1);
        let c = Condvar::new();
        let start = Instant::now();
        let (mut g, r) = c.wait_timeout(m.lock(), Duration::from_millis(20));
        *g += 1; // the guard is live again
        (start.elapsed(), r.timed_out(), *g)
    });
    assert!(timed_out);
    assert!(elapsed >= Duration::from_millis(20), "{elapsed:?}");
    assert_eq!(value, 2);
}

#[test]
fn wait_timeout_while_times_out_with_the_condition_still_true() {
    let rt = common::rt(1);
    let (timed_out, elapsed) = rt.block_on(|| {
        let m = Mutex::new(());
        let c = Condvar::new();
        let start = Instant::now();
        let (_g, r) = c.wait_timeout_while(m.lock(), Duration::from_millis(10), |_| true);
        (r.timed_out(), start.elapsed())
    });
    assert!(timed_out);
    assert!(elapsed >= Duration::from_millis(10), "{elapsed:?}");
}

#[test]
fn wait_timeout_while_with_a_false_condition_does_not_wait() {
    let m = Mutex::new(());
    let c = Condvar::new();
    let start = Instant::now();
    let (_g, r) = c.wait_timeout_while(m.lock(), Duration::from_secs(60), |_| false);
    assert!(!r.timed_out());
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn wait_timeout_while_is_woken_before_its_time() {
    let rt = common::rt(2);
    let (timed_out, flag) = common::within_a_minute("wait_timeout_while", move || {
        rt.block_on(|| {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let p = pair.clone();
            let g = pair.0.lock();
            heddle::spawn(move || {
                heddle::sleep(Duration::from_millis(5));
                *p.0.lock() = true;
                p.1.notify_one();
            });
            let (g, r) = pair
                .1
                .wait_timeout_while(g, Duration::from_secs(24 * 3600), |flag| !*flag);
            (r.timed_out(), *g)
        })
    });
    assert!(!timed_out);
    assert!(flag);
}

#[test]
fn a_wait_longer_than_the_clock_can_add_waits_until_notified() {
    let rt = common::rt(2);
    let (timed_out, flag) = common::within_a_minute("Duration::MAX", move || {
        rt.block_on(|| {
            let pair = Arc::new((Mutex::new(false), Condvar::new()));
            let p = pair.clone();
            heddle::spawn(move || {
                heddle::sleep(Duration::from_millis(5));
                *p.0.lock() = true;
                p.1.notify_all();
            });
            let mut g = pair.0.lock();
            let mut timed_out = false;
            while !*g {
                let (next, r) = pair.1.wait_timeout(g, Duration::MAX);
                timed_out |= r.timed_out();
                g = next;
            }
            (timed_out, *g)
        })
    });
    assert!(!timed_out);
    assert!(flag);
}

/// std's producer/consumer shape, on more workers than this machine has
/// cores, with a bounded buffer: two condvars, `notify_one` only. A lost
/// wake-up hangs a producer or a consumer, and the watchdog fails the
/// test; a wrong hand-off shows in the sum.
#[test]
fn bounded_buffer_producers_and_consumers_move_every_item_once() {
    const PER_PRODUCER: u64 = 5_000;
    const PRODUCERS: u64 = 4;
    const CONSUMERS: u64 = 4;
    const CAP: usize = 4;
    let rt = common::rt(8);
    let total = common::within_a_minute("bounded buffer", move || {
        struct Buffer {
            items: std::collections::VecDeque<u64>,
            done_producers: u64,
        }
        let shared = Arc::new((
            Mutex::new(Buffer {
                items: Default::default(),
                done_producers: 0,
            }),
            Condvar::new(), // not empty (or all producers done)
            Condvar::new(), // not full
        ));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let s = shared.clone();
                rt.spawn(move || {
                    let (m, not_empty, not_full) = &*s;
                    for i in 0..PER_PRODUCER {
                        let mut b = not_full.wait_while(m.lock(), |b| b.items.len() == CAP);
                        b.items.push_back(p * PER_PRODUCER + i + 1);
                        drop(b);
                        not_empty.notify_one();
                    }
                    m.lock().done_producers += 1;
                    not_empty.notify_all();
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let s = shared.clone();
                rt.spawn(move || {
                    let (m, not_empty, not_full) = &*s;
                    let mut sum = 0u64;
                    loop {
                        let mut b = not_empty.wait_while(m.lock(), |b| {
                            b.items.is_empty() && b.done_producers < PRODUCERS
                        });
                        let Some(v) = b.items.pop_front() else {
                            return sum; // empty and every producer done
                        };
                        drop(b);
                        not_full.notify_one();
                        sum += v;
                    }
                })
            })
            .collect();
        producers.into_iter().for_each(|h| h.join().unwrap());
        consumers
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<u64>()
    });
    let n = PRODUCERS * PER_PRODUCER;
    assert_eq!(total, n * (n + 1) / 2);
}

/// A plain thread waits on the same condvar as fibers; fibers notify it,
/// and it notifies them back: a turn counter passed round 1 thread and 3
/// fibers, 300 turns each, with `notify_all`.
#[test]
fn threads_and_fibers_take_turns_on_one_condvar() {
    const PLAYERS: u64 = 4;
    const ROUNDS: u64 = 300;
    let rt = common::rt(2);
    let turns = common::within_a_minute("turns", move || {
        let s = Arc::new((Mutex::new(0u64), Condvar::new()));
        let play = |me: u64, s: Arc<(Mutex<u64>, Condvar)>| {
            let (m, c) = &*s;
            let mut played = 0;
            for _ in 0..ROUNDS {
                let mut turn = c.wait_while(m.lock(), |t| *t % PLAYERS != me);
                *turn += 1;
                played += 1;
                drop(turn);
                c.notify_all();
            }
            played
        };
        let fibers: Vec<_> = (1..PLAYERS)
            .map(|me| {
                let s = s.clone();
                rt.spawn(move || play(me, s))
            })
            .collect();
        let mine = play(0, s.clone());
        let theirs: u64 = fibers.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(mine + theirs, PLAYERS * ROUNDS);
        *s.0.lock()
    });
    assert_eq!(turns, PLAYERS * ROUNDS);
}

/// Timed-out waits leave dead entries on the list; a later `notify_one`
/// skips them and reaches the one waiter still waiting.
#[test]
fn a_notify_one_skips_waiters_that_timed_out() {
    let rt = common::rt(2);
    let got = common::within_a_minute("skip timed-out", move || {
        let s = Arc::new((Mutex::new(false), Condvar::new()));
        let timed_out: Vec<_> = (0..50)
            .map(|_| {
                let s = s.clone();
                rt.spawn(move || {
                    let (m, c) = &*s;
                    let mut n = 0;
                    for _ in 0..20 {
                        n += usize::from(c.wait_timeout(m.lock(), Duration::ZERO).1.timed_out());
                    }
                    n
                })
            })
            .collect();
        let expired: usize = timed_out.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(expired, 1000);
        let s2 = s.clone();
        let waiter = rt.spawn(move || *s2.1.wait_while(s2.0.lock(), |ready| !*ready));
        // Give the waiter time to queue behind the dead entries, then one notify.
        while rt
            .fibers()
            .iter()
            .all(|f| f.state != FiberState::WaitingCondvar)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        *s.0.lock() = true;
        s.1.notify_one();
        waiter.join().unwrap()
    });
    assert!(got);
}

/// The mutex a waiter releases is handed on to the fibers queued for it,
/// and the counts under it stay exact.
#[test]
fn a_wait_releases_a_contended_mutex_to_its_waiters() {
    let rt = common::rt(4);
    let (count, seen) = common::within_a_minute("contended release", move || {
        let s = Arc::new((Mutex::new(0u32), Condvar::new()));
        let s2 = s.clone();
        let waiter = rt.spawn(move || {
            let (m, c) = &*s2;
            let g = c.wait_while(m.lock(), |n| *n < 800);
            *g
        });
        let adders: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                rt.spawn(move || {
                    for _ in 0..100 {
                        let mut g = s.0.lock();
                        *g += 1;
                        heddle::yield_now(); // held across a switch: others queue
                        drop(g);
                        s.1.notify_one();
                    }
                })
            })
            .collect();
        adders.into_iter().for_each(|h| h.join().unwrap());
        s.1.notify_all();
        let seen = waiter.join().unwrap();
        let count = *s.0.lock();
        (count, seen)
    });
    assert_eq!(count, 800);
    assert_eq!(seen, 800);
}

#[test]
fn a_dump_names_a_fiber_waiting_on_a_condvar() {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let s = Arc::new((Mutex::new(false), Condvar::new()));
    let s2 = s.clone();
    let h = heddle::fiber::Builder::new()
        .name("cv-waiter")
        .spawn_on(&rt, move || drop(s2.1.wait_while(s2.0.lock(), |r| !*r)))
        .unwrap();
    let shown = common::wait_for_dump_line(&rt, "\"cv-waiter\": blocked on a Condvar");
    *s.0.lock() = true;
    s.1.notify_one();
    h.join().unwrap();
    shown.unwrap();
}

#[test]
fn wait_timeout_result_matches_std_in_shape() {
    let m = Mutex::new(());
    let c = Condvar::new();
    let (_g, r) = c.wait_timeout(m.lock(), Duration::ZERO);
    let std_m = std::sync::Mutex::new(());
    let std_c = std::sync::Condvar::new();
    let (_sg, sr) = std_c
        .wait_timeout(std_m.lock().unwrap(), Duration::ZERO)
        .unwrap();
    assert_eq!(r.timed_out(), sr.timed_out());
    assert_eq!(format!("{r:?}"), format!("{sr:?}"));
    let copy = r;
    assert_eq!(copy, r);
}
