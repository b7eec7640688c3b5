//! Skynet, the 1M-leaf fork-join tree (1,111,111 tasks; the sum is
//! 499,999,500,000), side by side in one run:
//!
//! - `heddle_{1,2}_workers`: a fiber per node (`heddle::spawn` + `join`);
//! - `rayon_join_{1,2}_threads`: `rayon::join` splitting each node's ten
//!   children in halves (no stack per task: the floor for fork-join);
//! - `rayon_scope_{1,2}_threads`: each node spawns its children into a
//!   `rayon::scope`.
//!
//! may is not in the 1M group: with one `mmap` and a guard page per
//! coroutine, it dies with ENOMEM at the default `vm.max_map_count` (65530)
//! somewhere below 30,000 leaves (33,333 coroutines). The `skynet_10k` group
//! compares heddle and may at 10,000 leaves (11,111 fibers), on one worker.
//!
//! Run: `cargo bench --bench skynet`

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

#[path = "peers/may.rs"]
mod may_peer;
use heddle_workloads as workloads;

const LEAVES: u64 = 1_000_000;

fn skynet_may(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let children: Vec<_> = (0..10)
        .map(|i| may_peer::spawn(move || skynet_may(num + i * step, step)))
        .collect();
    children.into_iter().map(|h| h.join().unwrap()).sum()
}

fn skynet_1m(c: &mut Criterion) {
    let mut g = c.benchmark_group("skynet_1m");
    let expect = workloads::skynet_sum(LEAVES);
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("heddle_{workers}_workers"), |b| {
            b.iter(|| assert_eq!(rt.block_on(|| workloads::skynet_heddle(0, LEAVES)), expect))
        });
        g.bench_function(format!("heddle_join_{workers}_workers"), |b| {
            b.iter(|| {
                assert_eq!(
                    rt.block_on(|| workloads::skynet_heddle_join(0, LEAVES)),
                    expect
                )
            })
        });
    }
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(format!("rayon_join_{threads}_threads"), |b| {
            b.iter(|| {
                let sum = pool.install(|| workloads::skynet_rayon_join(0, LEAVES));
                assert_eq!(sum, expect)
            })
        });
        g.bench_function(format!("rayon_scope_{threads}_threads"), |b| {
            b.iter(|| {
                let sum = pool.install(|| workloads::skynet_rayon_scope(0, LEAVES));
                assert_eq!(sum, expect)
            })
        });
    }
    g.finish();
}

fn skynet_10k(c: &mut Criterion) {
    const SMALL: u64 = 10_000;
    let mut g = c.benchmark_group("skynet_10k");
    let expect = workloads::skynet_sum(SMALL);
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    g.bench_function("heddle_1_worker", |b| {
        b.iter(|| assert_eq!(rt.block_on(|| workloads::skynet_heddle(0, SMALL)), expect))
    });
    may::config().set_workers(1);
    g.bench_function("may_1_worker", |b| {
        b.iter(|| assert_eq!(may_peer::run(|| skynet_may(0, SMALL)), expect))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = skynet_1m, skynet_10k
}
criterion_main!(benches);
