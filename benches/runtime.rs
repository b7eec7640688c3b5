//! Scheduler costs measured inside fibers:
//! - `yield_round_trip`: two fibers on one worker yielding to each other
//!   (time per round trip: A yields, B runs and yields, A runs again);
//! - `spawn_join`: spawn an empty fiber and join it, from inside a fiber, on
//!   one worker and on two (where the second worker may steal the child).
//!
//! - `channel_ping_pong`: a message to an echo fiber and back over two
//!   unbounded channels, on one worker and on two; `std_mpsc_threads` is the
//!   same between two OS threads with `std::sync::mpsc`, for reference;
//!   `crossbeam_threads` likewise with crossbeam-channel;
//! - `fib30`: fib(30) by fork-join, `heddle::join` against `rayon::join`,
//!   both on two workers;
//! - `mutex_contended`: four fibers on two workers incrementing one counter
//!   under `heddle::sync::Mutex` (time per lock/unlock).
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

/// `iters` round trips to an echo task and back over two unbounded
/// channels made by `$channel`, the echo started by `$spawn`: the same loop
/// for heddle's fibers and for the thread-based peers.
macro_rules! ping_pong {
    ($iters:expr, $channel:path, $spawn:path) => {{
        let (to_echo, echo_rx) = $channel();
        let (echo_tx, back) = $channel();
        let echo = $spawn(move || {
            for v in echo_rx.iter() {
                echo_tx.send(v).unwrap();
            }
        });
        let start = Instant::now();
        for i in 0..$iters {
            to_echo.send(i).unwrap();
            black_box(back.recv().unwrap());
        }
        let t = start.elapsed();
        drop(to_echo);
        echo.join().unwrap();
        t
    }};
}

fn channel_ping_pong(c: &mut Criterion) {
    let mut g = c.benchmark_group("channel_ping_pong");
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(|| ping_pong!(iters, heddle::sync::channel::<u64>, heddle::spawn))
            })
        });
    }
    g.bench_function("crossbeam_threads", |b| {
        b.iter_custom(|iters| {
            ping_pong!(
                iters,
                crossbeam_channel::unbounded::<u64>,
                std::thread::spawn
            )
        })
    });
    g.bench_function("std_mpsc_threads", |b| {
        b.iter_custom(|iters| {
            ping_pong!(iters, std::sync::mpsc::channel::<u64>, std::thread::spawn)
        })
    });
    g.finish();
}

fn fib_heddle(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = heddle::join(|| fib_heddle(n - 1), || fib_heddle(n - 2));
    a + b
}

fn fib_rayon(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn fib30(c: &mut Criterion) {
    let mut g = c.benchmark_group("fib30");
    g.sample_size(10);
    let rt = heddle::Builder::new().workers(2).build().unwrap();
    g.bench_function("heddle_join_2_workers", |b| {
        b.iter(|| assert_eq!(rt.block_on(|| fib_heddle(30)), 832_040))
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    g.bench_function("rayon_join_2_threads", |b| {
        b.iter(|| assert_eq!(pool.install(|| fib_rayon(30)), 832_040))
    });
    g.finish();
}

fn mutex_contended(c: &mut Criterion) {
    let rt = heddle::Builder::new().workers(2).build().unwrap();
    c.bench_function("mutex_contended/4_fibers_2_workers", |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(4);
            let m = Arc::new(heddle::sync::Mutex::new(0u64));
            let start = Instant::now();
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let m = m.clone();
                    rt.spawn(move || {
                        for _ in 0..per {
                            *m.lock() += 1;
                        }
                    })
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            let t = start.elapsed();
            assert_eq!(*m.lock(), per * 4);
            t
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = yield_round_trip, spawn_join, channel_ping_pong, mutex_contended, fib30
}
criterion_main!(benches);
