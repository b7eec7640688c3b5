//! After a runtime is dropped, every stack mapping it made is gone: the
//! process's mapping count is back where it was.

mod common;

use std::sync::Arc;

fn workload(workers: usize) {
    let rt = common::rt(workers);
    let gate = Arc::new(heddle::sync::WaitGroup::new());
    gate.add(1);
    // 20,000 fibers alive at once (several slabs), some with stacks of their own.
    let hs: Vec<_> = (0..20_000u64)
        .map(|i| {
            let g = gate.clone();
            let f = move || {
                g.wait();
                i
            };
            if i % 100 == 0 {
                heddle::fiber::Builder::new()
                    .stack_size(1 << 20)
                    .spawn_on(&rt, f)
                    .unwrap()
            } else {
                rt.spawn(f)
            }
        })
        .collect();
    gate.done();
    let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 20_000 * 19_999 / 2);
    assert!(rt.stack_mappings() >= 2);
}

#[test]
fn runtime_drop_unmaps_every_stack() {
    // A first run lets malloc set up its per-thread arenas, which outlive
    // the threads; then the count must come back exactly.
    workload(2);
    let before = common::mappings();
    workload(2);
    let after = common::mappings();
    assert_eq!(before, after, "mappings before {before}, after {after}");
}
