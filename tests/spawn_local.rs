//! Pinned fibers (`spawn_local`): never stolen, never migrated, so they may
//! hold `!Send` state across every suspension point; everything else keeps
//! work stealing.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use common::{panic_message, rt};

fn me() -> ThreadId {
    std::thread::current().id()
}

/// A plain thread that answers every request on `rx` through the channel
/// it names: a wake from outside the runtime, which goes to the injector
/// and so to whichever worker looks first.
fn outside_echo() -> heddle::sync::Sender<heddle::sync::Sender<()>> {
    let (tx, rx) = heddle::sync::channel::<heddle::sync::Sender<()>>();
    std::thread::spawn(move || {
        for reply in rx.iter() {
            let _ = reply.send(());
        }
    });
    tx
}

/// Wait for the plain thread behind `echo` to answer.
fn wait_for_outside(echo: &heddle::sync::Sender<heddle::sync::Sender<()>>) {
    let (tx, rx) = heddle::sync::channel();
    echo.send(tx).unwrap();
    rx.recv().unwrap();
}

/// Keep every worker but one busy with fibers that yield, so that an idle
/// worker is always looking for something to steal.
fn hogs(n: usize, stop: &Arc<AtomicBool>) -> Vec<heddle::JoinHandle<u64>> {
    (0..n)
        .map(|_| {
            let stop = stop.clone();
            heddle::spawn(move || {
                let mut turns = 0;
                while !stop.load(Ordering::Relaxed) {
                    heddle::yield_now();
                    turns += 1;
                }
                turns
            })
        })
        .collect()
}

/// Through yields, sleeps, channel waits, wakes from outside, mutex waits
/// and joins, on 4 workers of which most are idle and hunting for work to
/// steal, a pinned fiber and its caller stay on the thread where they
/// started.
#[test]
fn pinned_fibers_never_change_thread() {
    let rt = rt(4);
    let moved = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let hs = hogs(1, &stop);
        let start = me();
        let lock = Arc::new(heddle::sync::Mutex::new(0u32));
        let echo = outside_echo();
        let pinned: Vec<_> = (0..8)
            .map(|i| {
                let (lock, echo) = (lock.clone(), echo.clone());
                heddle::spawn_local(move || {
                    let home = me();
                    let mut moved = 0;
                    for k in 0..1000 {
                        match k % 5 {
                            0 => heddle::yield_now(),
                            1 => heddle::sleep(Duration::from_micros(50)),
                            2 => *lock.lock() += 1,
                            3 => wait_for_outside(&echo),
                            _ => heddle::spawn(move || i).join().map(|_| ()).unwrap(),
                        }
                        moved += usize::from(me() != home);
                    }
                    moved
                })
            })
            .collect();
        let mut moved: usize = pinned.into_iter().map(|h| h.join().unwrap()).sum();
        // The caller was pinned by its first spawn_local.
        for _ in 0..100 {
            heddle::yield_now();
            moved += usize::from(me() != start);
        }
        stop.store(true, Ordering::Relaxed);
        let turns: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(turns > 0);
        assert_eq!(*lock.lock(), 8 * 200);
        moved
    });
    assert_eq!(moved, 0, "pinned fibers resumed on another thread");
}

/// The same setup without pinning does migrate, so the test above would
/// see a broken pin. Migration is likely, not promised, in any one run:
/// the setup is retried, and only never seeing one fails.
#[test]
fn unpinned_fibers_do_migrate_in_that_setup() {
    let rt = rt(4);
    let migrated = (0..20).any(|_| {
        let moved = rt.block_on(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let hs = hogs(1, &stop);
            let echo = outside_echo();
            let movers: Vec<_> = (0..8)
                .map(|_| {
                    let echo = echo.clone();
                    heddle::spawn(move || {
                        let mut moved = 0;
                        let mut last = me();
                        for _ in 0..200 {
                            wait_for_outside(&echo);
                            moved += usize::from(me() != last);
                            last = me();
                        }
                        moved
                    })
                })
                .collect();
            let moved: usize = movers.into_iter().map(|h| h.join().unwrap()).sum();
            stop.store(true, Ordering::Relaxed);
            hs.into_iter().for_each(|h| drop(h.join()));
            moved
        });
        moved > 0
    });
    assert!(migrated, "unpinned fibers never changed thread in 20 tries");
}

/// `Rc` and `RefCell` shared between a caller and its pinned fibers, used
/// across yields on a busy multi-worker runtime.
#[test]
fn rc_state_is_shared_across_yields() {
    let rt = rt(2);
    let total = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let hs = hogs(4, &stop);
        let counter = Rc::new(Cell::new(0u64));
        let log = Rc::new(RefCell::new(Vec::new()));
        let pinned: Vec<_> = (0..10u64)
            .map(|i| {
                let (counter, log) = (counter.clone(), log.clone());
                heddle::spawn_local(move || {
                    for _ in 0..100 {
                        counter.set(counter.get() + 1);
                        heddle::yield_now();
                    }
                    log.borrow_mut().push(i);
                    i
                })
            })
            .collect();
        let ids: u64 = pinned.into_iter().map(|h| h.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        hs.into_iter().for_each(|h| drop(h.join()));
        let mut log = log.borrow().clone();
        log.sort();
        assert_eq!(log, (0..10).collect::<Vec<_>>());
        assert_eq!(ids, 45);
        counter.get()
    });
    assert_eq!(total, 1000);
}

thread_local! {
    static LOCAL: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// A thread-local seen from a pinned fiber is the same one after every
/// yield, so a value taken from it stays valid.
#[test]
fn thread_locals_stay_put_for_pinned_fibers() {
    let rt = rt(2);
    let same = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let hs = hogs(4, &stop);
        let h = heddle::spawn_local(|| {
            let before = LOCAL.with(|l| l as *const _ as usize);
            let mut same = 0;
            for i in 0..500 {
                LOCAL.with(|l| l.borrow_mut().push(i));
                heddle::yield_now();
                same += usize::from(LOCAL.with(|l| l as *const _ as usize) == before);
            }
            same
        });
        let same = h.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        hs.into_iter().for_each(|h| drop(h.join()));
        same
    });
    assert_eq!(same, 500);
}

/// A pinned fiber woken from a plain thread while its worker sleeps: the
/// waker must wake that worker, not just any.
#[test]
fn a_sleeping_worker_is_woken_for_its_pinned_fiber() {
    let rt = rt(4);
    let (tx, rx) = heddle::sync::channel::<u32>();
    let (ready_tx, ready_rx) = heddle::sync::channel::<()>();
    let h = rt.spawn(move || {
        heddle::spawn_local(move || {
            let home = me();
            let mut sum = 0;
            ready_tx.send(()).unwrap();
            for v in rx.iter() {
                assert_eq!(me(), home);
                sum += v;
            }
            sum
        })
        .join()
        .unwrap()
    });
    ready_rx.recv().unwrap();
    for v in 1..=50 {
        std::thread::sleep(Duration::from_millis(1)); // let the workers fall asleep
        tx.send(v).unwrap();
    }
    drop(tx);
    assert_eq!(h.join().unwrap(), 1275);
}

/// Fibers pinned to every worker at once, woken by each other.
#[test]
fn pinned_fibers_on_every_worker_ping_each_other() {
    let rt = rt(3);
    let total = rt.block_on(|| {
        let spawners: Vec<_> = (0..6)
            .map(|_| {
                heddle::spawn(|| {
                    // Each spawner pins itself and a partner where it runs.
                    let (to_partner, from_me) = heddle::sync::channel::<u32>();
                    let (to_me, from_partner) = heddle::sync::channel::<u32>();
                    let partner = heddle::spawn_local(move || {
                        let mut n = 0;
                        for v in from_me.iter() {
                            n += v;
                            to_me.send(v + 1).unwrap();
                        }
                        n
                    });
                    let mut v = 0;
                    for _ in 0..200 {
                        to_partner.send(v).unwrap();
                        v = from_partner.recv().unwrap();
                    }
                    drop(to_partner);
                    partner.join().unwrap() + v
                })
            })
            .collect();
        spawners.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
    });
    // Partner sums 0 + 1 + ... + 199 and the spawner ends at 200.
    assert_eq!(total, 6 * (199 * 200 / 2 + 200));
}

/// A worker that hosts pinned fibers still steals ordinary ones.
#[test]
fn workers_with_pinned_fibers_still_steal() {
    let rt = rt(2);
    rt.block_on(|| {
        // Pin the root: its worker now hosts a pinned fiber for good.
        let local = heddle::spawn_local(|| 1);
        assert_eq!(local.join().unwrap(), 1);
        let hs: Vec<_> = (0..64u64)
            .map(|i| {
                heddle::spawn(move || {
                    let t = std::time::Instant::now();
                    while t.elapsed() < Duration::from_micros(300) {
                        std::hint::spin_loop();
                    }
                    i
                })
            })
            .collect();
        assert_eq!(hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>(), 2016);
    });
    let stats = rt.stats();
    assert!(
        stats.iter().all(|s| s.fibers_run > 0),
        "a worker ran nothing: {stats:?}"
    );
}

#[test]
fn spawn_local_outside_a_fiber_is_a_clear_error() {
    let err = heddle::fiber::Builder::new()
        .spawn_local(|| ())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("spawn_local called outside a fiber"),
        "{err}"
    );
    let r = std::panic::catch_unwind(|| heddle::spawn_local(|| ()));
    assert!(panic_message(&*r.unwrap_err()).contains("spawn_local called outside a fiber"));
}

#[test]
fn pinned_fibers_propagate_panics_and_names() {
    let rt = rt(2);
    let (name, msg) = rt.block_on(|| {
        let h = heddle::fiber::Builder::new()
            .name("pinned-one")
            .spawn_local(|| heddle::fiber::current().name().map(String::from))
            .unwrap();
        let name = h.join().unwrap();
        let p = heddle::spawn_local(|| -> u8 { panic!("pinned boom") });
        (name, panic_message(&*p.join().unwrap_err()))
    });
    assert_eq!(name.as_deref(), Some("pinned-one"));
    assert_eq!(msg, "pinned boom");
}
