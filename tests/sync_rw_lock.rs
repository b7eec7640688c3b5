//! `sync::RwLock`: std's RwLock tests, ported to fibers, and what a fiber
//! runtime adds: guards held across yields on more workers than cores,
//! first-come order (neither writers nor readers starve), fibers and
//! threads on one lock, and the dump line.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use heddle::sync::{RwLock, RwLockWriteGuard, WaitGroup};

#[test]
fn smoke() {
    let l = RwLock::new(());
    drop(l.read());
    drop(l.write());
    drop((l.read(), l.read()));
    drop(l.write());
}

#[test]
fn try_forms_follow_the_holders() {
    let l = RwLock::new(0);
    let r = l.read();
    assert!(l.try_read().is_some(), "readers share");
    assert!(l.try_write().is_none(), "a reader keeps writers out");
    drop(r);
    let w = l.write();
    assert!(l.try_read().is_none());
    assert!(l.try_write().is_none());
    drop(w);
    assert!(l.try_write().is_some());
}

#[test]
fn unsized_values_into_inner_and_get_mut() {
    let l: &RwLock<[i32]> = &RwLock::new([1, 2, 3]);
    l.write()[0] = 4;
    assert_eq!(*l.read(), [4, 2, 3]);
    let mut l = RwLock::new(vec![1]);
    l.get_mut().push(2);
    assert_eq!(l.into_inner(), [1, 2]);
    static S: RwLock<u32> = RwLock::new(0);
    *S.write() += 1;
    assert_eq!(*S.read(), 1);
    assert_eq!(*RwLock::<u8>::default().read(), 0);
    assert_eq!(*RwLock::from(5).read(), 5);
}

#[test]
fn debug_and_display_match_std() {
    let l = RwLock::new(7);
    let s = std::sync::RwLock::new(7);
    assert_eq!(format!("{l:?}"), format!("{s:?}"));
    let (w, sw) = (l.write(), s.write().unwrap());
    assert_eq!(format!("{l:?}"), format!("{s:?}"));
    assert_eq!(format!("{w} {w:?}"), format!("{sw} {sw:?}"));
    drop((w, sw));
    let (r, sr) = (l.read(), s.read().unwrap());
    assert_eq!(format!("{r:>3} {r:?}"), format!("{sr:>3} {sr:?}"));
    assert_eq!(
        format!("{l:?}"),
        format!("{s:?}"),
        "readable while read-held"
    );
}

/// std's `frob`: fibers on more workers than cores, each taking the lock
/// at random to read or write, yielding while they hold it. A pair
/// written together must always be read together.
#[test]
fn random_readers_and_writers_never_see_a_half_write() {
    const FIBERS: u64 = 16;
    const ITERS: u64 = 2_000;
    let rt = common::rt(4);
    let (writes, reads) = common::within_a_minute("frob", move || {
        let l = Arc::new(RwLock::new((0u64, 0u64)));
        let reads = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..FIBERS)
            .map(|seed| {
                let (l, reads) = (l.clone(), reads.clone());
                rt.spawn(move || {
                    let mut x = seed * 2 + 1;
                    let mut wrote = 0;
                    for _ in 0..ITERS {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        if x % 5 == 0 {
                            let mut w = l.write();
                            w.0 += 1;
                            heddle::yield_now(); // others run meanwhile
                            w.1 += 1;
                            wrote += 1;
                        } else {
                            let r = l.read();
                            assert_eq!(r.0, r.1, "a half-done write was seen");
                            if x % 3 == 0 {
                                heddle::yield_now();
                            }
                            assert_eq!(r.0, r.1, "a write came in under a reader");
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    wrote
                })
            })
            .collect();
        let wrote: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        let pair = *l.read();
        assert_eq!(pair, (wrote, wrote));
        (wrote, reads.load(Ordering::Relaxed) as u64)
    });
    assert_eq!(writes + reads, FIBERS * ITERS);
}

/// Readers share: four readers each hold the lock until all four hold it.
#[test]
fn readers_hold_the_lock_together() {
    let rt = common::rt(2);
    let held = common::within_a_minute("shared", move || {
        let l = Arc::new(RwLock::new(()));
        let all_in = Arc::new(WaitGroup::new());
        all_in.add(4);
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (l, all_in) = (l.clone(), all_in.clone());
                rt.spawn(move || {
                    let _r = l.read();
                    all_in.done();
                    all_in.wait(); // every reader is inside at once
                    true
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&b| b)
            .count()
    });
    assert_eq!(held, 4);
}

/// A writer is not starved by readers that keep coming: readers loop
/// (read, yield) until the writer has been in; a reader-preferring lock
/// would keep the writer out for good.
#[test]
fn a_stream_of_readers_does_not_starve_a_writer() {
    let rt = common::rt(2);
    let rounds = common::within_a_minute("writer starvation", move || {
        let l = Arc::new(RwLock::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                rt.spawn(move || {
                    let mut rounds = 0u64;
                    loop {
                        let r = l.read();
                        heddle::yield_now(); // holding it: readers overlap
                        if *r {
                            return rounds;
                        }
                        rounds += 1;
                    }
                })
            })
            .collect();
        let l2 = l.clone();
        let writer = rt.spawn(move || {
            heddle::sleep(Duration::from_millis(5)); // readers are streaming by now
            *l2.write() = true;
        });
        writer.join().unwrap();
        readers.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert!(rounds > 0);
}

/// Readers are not starved by writers that keep coming.
#[test]
fn a_stream_of_writers_does_not_starve_a_reader() {
    let rt = common::rt(2);
    let writes = common::within_a_minute("reader starvation", move || {
        let l = Arc::new(RwLock::new(0u64));
        let seen = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|_| {
                let (l, seen) = (l.clone(), seen.clone());
                rt.spawn(move || {
                    while !seen.load(Ordering::SeqCst) {
                        let mut w = l.write();
                        *w += 1;
                        heddle::yield_now(); // holding it: the others queue
                    }
                })
            })
            .collect();
        let (l2, seen2) = (l.clone(), seen.clone());
        let reader = rt.spawn(move || {
            heddle::sleep(Duration::from_millis(5));
            let v = *l2.read();
            seen2.store(true, Ordering::SeqCst);
            v
        });
        let v = reader.join().unwrap();
        writers.into_iter().for_each(|h| h.join().unwrap());
        v
    });
    assert!(writes > 0, "the reader got in before any writer ran");
}

/// Plain threads and fibers on one lock: counts exact.
#[test]
fn threads_and_fibers_share_one_lock() {
    let rt = common::rt(2);
    let total = common::within_a_minute("threads and fibers", move || {
        let l = Arc::new(RwLock::new(0u64));
        let fibers: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                rt.spawn(move || {
                    for i in 0..1_000 {
                        if i % 4 == 0 {
                            *l.write() += 1;
                        } else {
                            drop(l.read());
                            heddle::yield_now();
                        }
                    }
                })
            })
            .collect();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..1_000 {
                        if i % 4 == 0 {
                            *l.write() += 1;
                        } else {
                            drop(l.read());
                        }
                    }
                })
            })
            .collect();
        fibers.into_iter().for_each(|h| h.join().unwrap());
        threads.into_iter().for_each(|h| h.join().unwrap());
        *l.read()
    });
    assert_eq!(total, 6 * 250);
}

/// std's downgrade tests: no writer gets in between, and readers may
/// join the downgraded holder.
#[test]
fn downgrade_keeps_writers_out_and_lets_readers_in() {
    let rt = common::rt(2);
    let (seen, after) = common::within_a_minute("downgrade", move || {
        rt.block_on(|| {
            let l = Arc::new(RwLock::new(0));
            let mut w = l.write();
            let l2 = l.clone();
            let writer = heddle::spawn(move || *l2.write() = 99);
            heddle::sleep(Duration::from_millis(5)); // the writer queues
            *w = 1;
            let r = RwLockWriteGuard::downgrade(w);
            heddle::sleep(Duration::from_millis(5)); // the writer had its chance
            let seen = *r;
            drop(r);
            writer.join().unwrap();
            (seen, *l.read())
        })
    });
    assert_eq!(
        seen, 1,
        "a writer came in between the write and the downgrade"
    );
    assert_eq!(after, 99);
    let l = RwLock::new(5);
    let r = RwLockWriteGuard::downgrade(l.write());
    let r2 = l.try_read().expect("readers join a downgraded holder");
    assert_eq!(*r + *r2, 10);
}

/// A panic while holding a guard releases it (no poisoning).
#[test]
fn a_panic_releases_the_lock() {
    let rt = common::rt(2);
    let l = Arc::new(RwLock::new(1));
    let l2 = l.clone();
    let r = rt.block_on(move || {
        heddle::spawn(move || {
            let _w = l2.write();
            panic!("holding the write lock")
        })
        .join()
    });
    assert!(r.is_err());
    assert_eq!(*l.read(), 1);
    assert!(l.try_write().is_some());
}

#[test]
fn a_dump_names_a_fiber_waiting_on_an_rwlock() {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let l = Arc::new(RwLock::new(0));
    let w = l.write();
    let l2 = l.clone();
    let h = heddle::fiber::Builder::new()
        .name("rw-reader")
        .spawn_on(&rt, move || *l2.read())
        .unwrap();
    let shown = common::wait_for_dump_line(&rt, "\"rw-reader\": blocked on an RwLock");
    drop(w);
    assert_eq!(h.join().unwrap(), 0);
    shown.unwrap();
}

#[test]
fn auto_traits_match_std() {
    fn send_sync<T: Send + Sync>() {}
    fn unwind<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    send_sync::<RwLock<Vec<u8>>>();
    unwind::<RwLock<Vec<u8>>>();
    send_sync::<heddle::sync::RwLockReadGuard<'static, u8>>();
    send_sync::<heddle::sync::RwLockWriteGuard<'static, u8>>();
}
