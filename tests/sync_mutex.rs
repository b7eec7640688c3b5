//! The fiber-aware Mutex: exact totals under contention from fibers on
//! several workers and from plain threads at once.

mod common;

use std::sync::Arc;

#[test]
fn counter_reaches_exact_total_under_mixed_contention() {
    for workers in [2, 8] {
        let rt = common::rt(workers);
        let m = Arc::new(heddle::sync::Mutex::new(0u64));
        let fibers: Vec<_> = (0..200)
            .map(|i| {
                let m = m.clone();
                rt.spawn(move || {
                    for k in 0..200 {
                        let mut g = m.lock();
                        let v = *g;
                        if (i + k) % 17 == 0 {
                            heddle::yield_now(); // hold it across a yield
                        }
                        *g = v + 1;
                    }
                })
            })
            .collect();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..5000 {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        fibers.into_iter().for_each(|h| h.join().unwrap());
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*m.lock(), 200 * 200 + 4 * 5000, "{workers} workers");
    }
}

#[test]
fn a_panic_while_locked_unlocks() {
    let rt = common::rt(1);
    let m = Arc::new(heddle::sync::Mutex::new(1));
    let m2 = m.clone();
    let r = rt.spawn(move || {
        let _g = m2.lock();
        panic!("while holding the lock");
    });
    assert!(r.join().is_err());
    assert_eq!(*m.try_lock().expect("unlocked by the unwind"), 1);
}

/// std's `Mutex::new` is a `const fn`: a mutex may live in a `static`.
static TOTAL: heddle::sync::Mutex<u64> = heddle::sync::Mutex::new(0);

#[test]
fn a_mutex_in_a_static_counts_exactly_from_fibers_on_several_workers() {
    let rt = common::rt(4);
    let hs: Vec<_> = (1..=100u64)
        .map(|i| {
            rt.spawn(move || {
                let mut g = TOTAL.lock();
                let v = *g;
                heddle::yield_now(); // held across a yield, maybe a move
                *g = v + i;
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*TOTAL.lock(), 5050);
}

#[test]
fn from_and_a_displayed_guard_are_std_s() {
    let m = heddle::sync::Mutex::from(String::from("fiber"));
    let s = std::sync::Mutex::from(String::from("fiber"));
    // Display forwards to the value, flags included, as std's guard does.
    assert_eq!(m.lock().to_string(), "fiber");
    assert_eq!(
        format!("[{:>8}]", m.lock()),
        format!("[{:>8}]", s.lock().unwrap())
    );
    assert_eq!(format!("[{:<8}]", m.lock()), "[fiber   ]");
}

/// A `try_lock` that fails must leave the lock to its holder: it used to
/// build a guard before checking, and dropping that guard unlocked the
/// mutex under the holder's feet.
#[test]
fn a_failed_try_lock_leaves_the_holders_lock_alone() {
    let m = heddle::sync::Mutex::new(0u32);
    let g = m.lock();
    assert!(m.try_lock().is_none());
    assert!(m.try_lock().is_none(), "the failed try_lock unlocked it");
    drop(g);
    assert!(m.try_lock().is_some());
}

/// Mutual exclusion with `try_lock` from fibers on several workers and
/// from plain threads: every increment counted, none lost.
#[test]
fn try_lock_counts_exactly_under_contention() {
    let rt = common::rt(4);
    let m = Arc::new(heddle::sync::Mutex::new(0u64));
    let bump = |m: &heddle::sync::Mutex<u64>| {
        let mut done = 0;
        while done < 2000 {
            if let Some(mut g) = m.try_lock() {
                let v = *g;
                heddle::yield_now(); // others try meanwhile
                *g = v + 1;
                done += 1;
            } else {
                heddle::yield_now(); // a fiber spinning here would keep the holder off its worker
            }
        }
    };
    let fibers: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            rt.spawn(move || bump(&m))
        })
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || bump(&m))
        })
        .collect();
    fibers.into_iter().for_each(|h| h.join().unwrap());
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(*m.lock(), 10 * 2000);
}

/// Debug output as std's, and formatting a locked mutex leaves it locked.
#[test]
fn debug_output_is_std_s_unlocked_and_locked() {
    let m = heddle::sync::Mutex::new(vec![1, 2]);
    let s = std::sync::Mutex::new(vec![1, 2]);
    assert_eq!(format!("{m:?}"), format!("{s:?}"));
    let (g, sg) = (m.lock(), s.lock().unwrap());
    assert_eq!(format!("{m:?}"), format!("{s:?}"));
    assert_eq!(
        format!("{m:?}"),
        r#"Mutex { data: "<locked>", poisoned: false, .. }"#
    );
    assert!(m.try_lock().is_none(), "formatting released the lock");
    drop((g, sg));
}
