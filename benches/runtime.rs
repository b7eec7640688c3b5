//! Scheduler costs measured inside fibers:
//! - `yield_round_trip`: two fibers on one worker yielding to each other
//!   (time per round trip: A yields, B runs and yields, A runs again);
//! - `spawn_join`: spawn an empty fiber and join it, from inside a fiber, on
//!   one worker and on two (where the second worker may steal the child).
//!
//! Run: `cargo bench --bench runtime`

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn yield_round_trip(c: &mut Criterion) {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    c.bench_function("yield_round_trip/1_worker", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| {
                let done = Arc::new(AtomicBool::new(false));
                let d = done.clone();
                let partner = heddle::spawn(move || {
                    while !d.load(Ordering::Relaxed) {
                        heddle::yield_now();
                    }
                });
                heddle::yield_now(); // let the partner start
                let start = Instant::now();
                for _ in 0..iters {
                    heddle::yield_now();
                }
                let t = start.elapsed();
                done.store(true, Ordering::Relaxed);
                partner.join().unwrap();
                t
            })
        })
    });
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(|| {
                    let start = Instant::now();
                    for i in 0..iters {
                        black_box(heddle::spawn(move || black_box(i)).join().unwrap());
                    }
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = yield_round_trip, spawn_join
}
criterion_main!(benches);
