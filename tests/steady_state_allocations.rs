//! Once pools are warm, the everyday paths allocate nothing: a message
//! that wakes its receiver, a spawn and its join; and scoped fibers give
//! their blocks back however their handles go. (Un-stolen `join`s are
//! checked in `join_jobs.rs`.) One worker, so every fiber runs
//! on the thread whose allocations are counted.

mod common;
#[path = "common/counting.rs"]
mod counting;

use counting::allocations;

/// Round trips to an echo fiber over two unbounded channels: every send
/// wakes the fiber blocked in `recv` on the other side.
#[test]
fn a_send_that_wakes_its_receiver_allocates_nothing() {
    let rt = common::rt(1);
    let (sum, allocated) = rt.block_on(|| {
        let (to_echo, echo_rx) = heddle::sync::channel::<u64>();
        let (echo_tx, back) = heddle::sync::channel::<u64>();
        let echo = heddle::spawn(move || {
            for v in echo_rx.iter() {
                echo_tx.send(v + 1).unwrap();
            }
        });
        // Warm up: the channels' buffers and wait lists reach their size.
        for i in 0..100 {
            to_echo.send(i).unwrap();
            back.recv().unwrap();
        }
        let before = allocations();
        let mut sum = 0;
        for i in 0..10_000 {
            to_echo.send(i).unwrap();
            sum += back.recv().unwrap();
        }
        let allocated = allocations() - before;
        drop(to_echo);
        echo.join().unwrap();
        (sum, allocated)
    });
    assert_eq!(sum, (1..=10_000).sum::<u64>());
    assert_eq!(allocated, 0, "allocations in 10,000 channel round trips");
}

#[test]
fn spawn_and_join_allocate_nothing_once_pools_are_warm() {
    let rt = common::rt(1);
    let (sum, allocated) = rt.block_on(|| {
        // Warm up: stacks, task boxes and closure blocks reach their pools.
        for i in 0..100u64 {
            heddle::spawn(move || i).join().unwrap();
        }
        let before = allocations();
        let mut sum = 0;
        for i in 0..10_000u64 {
            sum += heddle::spawn(move || i * 2).join().unwrap();
        }
        (sum, allocations() - before)
    });
    assert_eq!(sum, 2 * (0..10_000u64).sum::<u64>());
    assert_eq!(allocated, 0, "allocations in 10,000 spawns and joins");
}

/// A scope's fibers and handles give their pooled blocks back however the
/// handles go: joined, dropped before the fiber finished, or dropped
/// after it (the block's last reference is then the scope's own). Each
/// scope allocates its own bookkeeping (a counter, a list); the fibers'
/// blocks must not add to it: a leak would allocate a block per fiber
/// once the per-thread cache ran dry.
#[test]
fn scoped_spawns_give_their_blocks_back() {
    let rt = common::rt(1);
    let (per_scope, total) = rt.block_on(|| {
        let one_scope = |round: u64| {
            heddle::scope(|s| {
                let mut sum = 0;
                let mut late = Vec::new();
                for i in 0..12u64 {
                    let h = s.spawn(move || round + i);
                    match i % 3 {
                        0 => sum += h.join().unwrap(),
                        1 => drop(h),
                        _ => late.push(h),
                    }
                }
                heddle::yield_now(); // the late ones finish before their drop
                drop(late);
                sum
            })
        };
        // Warm up, then measure one scope alone and many in a row.
        for r in 0..100 {
            one_scope(r);
        }
        let before = allocations();
        let mut total = one_scope(0);
        let per_scope = allocations() - before;
        let before = allocations();
        for r in 0..1_000 {
            total += one_scope(r);
        }
        (per_scope, (allocations() - before, total))
    });
    let (allocated, sum) = total;
    assert_eq!(sum, 18 + (0..1_000u64).map(|r| 4 * r + 18).sum::<u64>());
    // The scope's own bookkeeping is 5 allocations (its counter, and its
    // list of the 12 blocks, grown three times); a block leaked by each
    // of the 8 handles dropped after their fibers finished would add 8.
    assert!(
        per_scope < 8 && allocated <= 1_000 * per_scope,
        "{allocated} allocations in 1,000 scopes of 12 fibers, {per_scope} in one"
    );
}
