//! `sync::OnceLock` and `sync::LazyLock`: std's tests, ported, and what
//! fibers add: waiters park while an initializer yields (on one worker,
//! where std's would deadlock), a panicking initializer hands over to a
//! waiter, a reentrant initializer panics instead of hanging.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use heddle::sync::{LazyLock, OnceLock};

#[test]
fn std_once_cell_smoke() {
    static ONCE_CELL: OnceLock<i32> = OnceLock::new();
    assert!(ONCE_CELL.get().is_none());
    std::thread::spawn(|| {
        assert_eq!(*ONCE_CELL.get_or_init(|| 92), 92);
    })
    .join()
    .unwrap();
    assert_eq!(ONCE_CELL.get(), Some(&92));
    assert_eq!(*ONCE_CELL.get_or_init(|| panic!("not run")), 92);
}

#[test]
fn std_get_mut_set_take_into_inner_from_eq_clone() {
    let mut c = OnceLock::new();
    assert!(c.get_mut().is_none());
    c.set(90).unwrap();
    *c.get_mut().unwrap() += 2;
    assert_eq!(c.get(), Some(&92));
    assert_eq!(c.set(1), Err(1));
    assert_eq!(c.clone(), c);
    assert_eq!(OnceLock::<u8>::new().clone(), OnceLock::new());
    assert_ne!(OnceLock::from(1), OnceLock::new());
    assert_eq!(c.take(), Some(92));
    assert_eq!(c.get(), None);
    assert_eq!(
        OnceLock::from(String::from("x")).into_inner().as_deref(),
        Some("x")
    );
    assert_eq!(OnceLock::<u8>::default().into_inner(), None);
}

#[test]
fn std_drop_runs_once_and_never_for_an_empty_cell() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Dropper;
    impl Drop for Dropper {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let full = OnceLock::new();
    let _ = full.set(Dropper);
    drop(OnceLock::<Dropper>::new());
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    drop(full);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    let lazy = LazyLock::new(|| Dropper);
    drop(lazy); // never forced: nothing built, nothing dropped
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}

#[test]
fn debug_output_matches_std() {
    let (h, s) = (OnceLock::new(), std::sync::OnceLock::new());
    assert_eq!(format!("{h:?}"), format!("{s:?}"));
    h.set(5).unwrap();
    s.set(5).unwrap();
    assert_eq!(format!("{h:?}"), format!("{s:?}"));
    let (hl, sl) = (LazyLock::new(|| 1), std::sync::LazyLock::new(|| 1));
    assert_eq!(format!("{hl:?}"), format!("{sl:?}"));
    assert_eq!((*hl, *sl), (1, 1));
    assert_eq!(format!("{hl:?}"), format!("{sl:?}"));
}

#[test]
fn std_lazy_statics_and_default() {
    static SQUARE: LazyLock<u64> = LazyLock::new(|| 13 * 13);
    fn via_fn() -> Vec<u8> {
        vec![1, 2]
    }
    static V: LazyLock<Vec<u8>> = LazyLock::new(via_fn);
    assert_eq!(*SQUARE, 169);
    assert_eq!(V.len(), 2);
    let d: LazyLock<String> = LazyLock::default();
    assert_eq!(LazyLock::force(&d), "");
}

#[test]
fn std_lazy_poisoning() {
    let x: LazyLock<String> = LazyLock::new(|| panic!("kaboom"));
    for _ in 0..2 {
        let r = panic::catch_unwind(AssertUnwindSafe(|| x.len()));
        assert!(r.is_err());
    }
    let second = panic::catch_unwind(AssertUnwindSafe(|| x.len())).unwrap_err();
    assert_eq!(
        common::panic_message(&*second),
        "LazyLock instance has previously been poisoned"
    );
}

#[test]
fn auto_traits_match_std() {
    fn send_sync<T: Send + Sync>() {}
    fn unwind<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    send_sync::<OnceLock<Vec<u8>>>();
    send_sync::<LazyLock<Vec<u8>>>();
    unwind::<OnceLock<Vec<u8>>>();
    unwind::<LazyLock<Vec<u8>>>();
}

/// The case std's `OnceLock` cannot take: on one worker, the initializer
/// sleeps (a heddle sleep parks its fiber) while 15 other fibers call
/// `get_or_init`. They park instead of blocking the worker, the
/// initializer runs once, and everyone sees its value.
#[test]
fn on_one_worker_waiters_park_while_the_initializer_sleeps() {
    let rt = common::rt(1);
    let (inits, values) = common::within_a_minute("one worker", move || {
        let cell = Arc::new(OnceLock::new());
        let inits = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let (cell, inits) = (cell.clone(), inits.clone());
                rt.spawn(move || {
                    *cell.get_or_init(|| {
                        inits.fetch_add(1, Ordering::SeqCst);
                        heddle::sleep(Duration::from_millis(10));
                        1000 + i
                    })
                })
            })
            .collect();
        let values: Vec<u64> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        (inits.load(Ordering::SeqCst), values)
    });
    assert_eq!(inits, 1);
    assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
}

/// The first initializer panics after yielding; a fiber that was waiting
/// runs its own initializer, and the panic goes only to its own caller.
#[test]
fn a_panicking_initializer_hands_over_to_a_waiter() {
    let rt = common::rt(1);
    let (first, second) = common::within_a_minute("panicking initializer", move || {
        rt.block_on(|| {
            let cell = Arc::new(OnceLock::new());
            let c1 = cell.clone();
            let first = heddle::spawn(move || {
                *c1.get_or_init(|| {
                    heddle::sleep(Duration::from_millis(10)); // the second one parks
                    panic!("first initializer failed")
                })
            });
            let c2 = cell.clone();
            let second = heddle::spawn(move || {
                heddle::yield_now(); // let the first one take the cell
                *c2.get_or_init(|| 2)
            });
            let first = first.join().map_err(|p| common::panic_message(&*p));
            (first, second.join().unwrap())
        })
    });
    assert_eq!(first, Err(String::from("first initializer failed")));
    assert_eq!(second, 2);
}

#[test]
fn a_reentrant_initializer_panics_instead_of_hanging() {
    let (on_thread, in_fiber, after) = common::within_a_minute("reentrant", || {
        let reenter = || {
            let cell: OnceLock<u8> = OnceLock::new();
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                *cell.get_or_init(|| *cell.get_or_init(|| 1))
            }));
            let msg = r.map_err(|p| common::panic_message(&*p));
            // The outer initializer's panic left it empty, and usable.
            let after = (cell.get().copied(), *cell.get_or_init(|| 3));
            (msg, after)
        };
        let (on_thread, after) = reenter();
        let (in_fiber, _) = common::rt(1).block_on(reenter);
        (on_thread, in_fiber, after)
    });
    for msg in [on_thread, in_fiber] {
        let msg = msg.unwrap_err();
        assert!(
            msg.contains("initialized from within its own initializer"),
            "{msg}"
        );
    }
    assert_eq!(after, (None, 3));
}

/// A plain thread and fibers on two workers race for one `LazyLock`
/// whose initializer sleeps: it runs once.
#[test]
fn threads_and_fibers_force_one_lazy_lock_once() {
    static INITS: AtomicUsize = AtomicUsize::new(0);
    static LAZY: LazyLock<u64> = LazyLock::new(|| {
        INITS.fetch_add(1, Ordering::SeqCst);
        heddle::sleep(Duration::from_millis(10));
        77
    });
    let rt = common::rt(2);
    let sum = common::within_a_minute("lazy lock", move || {
        let fibers: Vec<_> = (0..8).map(|_| rt.spawn(|| *LAZY)).collect();
        let thread = std::thread::spawn(|| *LAZY);
        fibers.into_iter().map(|h| h.join().unwrap()).sum::<u64>() + thread.join().unwrap()
    });
    assert_eq!(sum, 9 * 77);
    assert_eq!(INITS.load(Ordering::SeqCst), 1);
}

#[test]
fn a_dump_names_a_fiber_waiting_for_an_initializer() {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let cell = Arc::new(OnceLock::new());
    let (go_tx, go_rx) = heddle::sync::channel::<()>();
    let c1 = cell.clone();
    let init = rt.spawn(move || {
        *c1.get_or_init(|| {
            go_rx.recv().unwrap(); // parks, holding the cell RUNNING
            5
        })
    });
    let c2 = cell.clone();
    let waiter = heddle::fiber::Builder::new()
        .name("init-waiter")
        .spawn_on(&rt, move || *c2.get_or_init(|| 6))
        .unwrap();
    let shown = common::wait_for_dump_line(
        &rt,
        "\"init-waiter\": blocked on a OnceLock being initialized",
    );
    go_tx.send(()).unwrap();
    assert_eq!(init.join().unwrap(), 5);
    assert_eq!(waiter.join().unwrap(), 5);
    shown.unwrap();
}
