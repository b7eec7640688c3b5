//! The scaling demo's CPU-bound workload (`examples/scale.rs`, shared code in
//! `heddle-workloads`), smaller: 200 fibers of 30 work units each (about
//! 0.75 ms), yielding 10 times, on 1 and 2 workers. The speedup is the ratio
//! of the two medians.
//!
//! Run: `cargo bench --bench scaling`

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

use heddle_workloads as workloads;

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("scaling");
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("{workers}_workers"), |b| {
            b.iter(|| black_box(rt.block_on(|| workloads::scale_all(200, 30, 10))))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = scaling
}
criterion_main!(benches);
