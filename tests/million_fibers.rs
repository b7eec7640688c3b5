//! A million fibers parked at once, guard pages on, at the default
//! `vm.max_map_count` (65530): they all complete with the right count, and
//! their stacks cost a few thousand kernel mappings, not two million.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::mappings;

#[test]
fn a_million_parked_fibers_complete() {
    const N: usize = 1_000_000;
    let before = mappings();
    let rt = common::rt(2);
    let gate = Arc::new(heddle::sync::WaitGroup::new());
    gate.add(1);
    let arrived = Arc::new(AtomicUsize::new(0));
    let (g, a) = (gate.clone(), arrived.clone());
    let (sum, maps_while_parked) = rt.block_on(move || {
        let hs: Vec<_> = (0..N as u64)
            .map(|i| {
                let (g, a) = (g.clone(), a.clone());
                heddle::spawn(move || {
                    a.fetch_add(1, Ordering::Relaxed);
                    g.wait(); // parks until the root opens the gate
                    i
                })
            })
            .collect();
        while a.load(Ordering::Relaxed) < N {
            heddle::yield_now();
        }
        let maps = mappings();
        g.done();
        (hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>(), maps)
    });
    assert_eq!(sum, (N as u64) * (N as u64 - 1) / 2);
    assert_eq!(arrived.load(Ordering::Relaxed), N);
    let stack_maps = maps_while_parked.saturating_sub(before);
    assert!(stack_maps < 20_000, "{stack_maps} mappings for {N} fibers");
    assert!(
        rt.stack_mappings() < 20_000,
        "{} slab mappings",
        rt.stack_mappings()
    );
    let run: u64 = rt.stats().iter().map(|s| s.fibers_run).sum();
    assert_eq!(run, N as u64 + 1);
}
