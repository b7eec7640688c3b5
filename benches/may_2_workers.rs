//! may's spawn + join on two workers, for the `spawn_join` group of
//! `benches/runtime.rs`: may reads its worker count once per process, and
//! that bench runs may on one worker.
//!
//! Run: `cargo bench --bench may_2_workers`

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

#[path = "peers/may.rs"]
mod may_peer;

fn spawn_join(c: &mut Criterion) {
    may::config().set_workers(2);
    let mut g = c.benchmark_group("spawn_join");
    g.bench_function("may_2_workers", |b| b.iter_custom(may_peer::spawn_join));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = spawn_join
}
criterion_main!(benches);
