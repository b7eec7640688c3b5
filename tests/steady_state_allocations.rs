//! Once pools are warm, the everyday paths allocate nothing: a message
//! that wakes its receiver, a spawn and its join. (Un-stolen `join`s are
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
