//! Scheduler costs measured inside fibers, each group side by side with its
//! peers in the same run so the ratios hold on a noisy machine:
//!
//! - `yield`: two fibers on one worker yielding to each other, time per
//!   round trip (A yields, B runs and yields, A runs again); `may_1_worker`
//!   is the same with two may coroutines on may's one worker;
//! - `spawn_join`: spawn an empty fiber and join it, from inside a fiber, on
//!   one worker and on two (the second may steal the child). Peers: may on
//!   one worker (may's worker count is fixed per process: `may_2_workers` is
//!   in its own bench, `benches/may_2_workers.rs`), `rayon::join` with an
//!   empty closure on 1 and 2 threads, `std::thread::spawn` + `join`;
//! - `channel_ping_pong`: a message to an echo fiber and back over two
//!   unbounded channels, on one worker and on two; `std_mpsc_threads` and
//!   `crossbeam_threads` do the same between two OS threads;
//! - `mutex_contended`: four fibers on two workers incrementing one counter
//!   under `heddle::sync::Mutex` (time per lock/unlock);
//! - `fib30`: fib(30) by fork-join, `heddle::join` against `rayon::join`,
//!   both on two workers.
//!
//! Run: `cargo bench --bench runtime`

#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[path = "peers/may.rs"]
mod may_peer;
use heddle_workloads as workloads;

/// may's scheduler reads its worker count once, at its first spawn.
fn may_one_worker() {
    may::config().set_workers(1);
}

/// The time of `iters` calls of `f(i)` inside one fiber of `rt`.
fn in_a_fiber(rt: &heddle::Runtime, iters: u64, f: impl Fn(u64) + Sync) -> Duration {
    rt.block_on(|| {
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        start.elapsed()
    })
}

/// The time of `iters` calls of `f(i)` inside `pool`.
fn in_rayon(pool: &rayon::ThreadPool, iters: u64, f: impl Fn(u64) + Sync + Send) -> Duration {
    pool.install(|| {
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        start.elapsed()
    })
}

/// Two partners yielding to each other: `iters` yields of the caller, each
/// a round trip through the partner. `$yield_now` and `$spawn` pick the
/// runtime; the caller must already run inside it.
macro_rules! yield_pair {
    ($iters:expr, $spawn:expr, $yield_now:path) => {{
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let partner = $spawn(move || {
            while !d.load(Ordering::Relaxed) {
                $yield_now();
            }
        });
        $yield_now(); // let the partner start
        let start = Instant::now();
        for _ in 0..$iters {
            $yield_now();
        }
        let t = start.elapsed();
        done.store(true, Ordering::Relaxed);
        partner.join().unwrap();
        t
    }};
}

fn yield_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("yield");
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    g.bench_function("heddle_1_worker", |b| {
        b.iter_custom(|iters| rt.block_on(|| yield_pair!(iters, heddle::spawn, heddle::yield_now)))
    });
    may_one_worker();
    g.bench_function("may_1_worker", |b| {
        b.iter_custom(|iters| {
            may_peer::run(move || yield_pair!(iters, may_peer::spawn, may::coroutine::yield_now))
        })
    });
    g.finish();
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join");
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("heddle_{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                in_a_fiber(&rt, iters, |i| {
                    black_box(heddle::spawn(move || black_box(i)).join().unwrap());
                })
            })
        });
    }
    may_one_worker();
    g.bench_function("may_1_worker", |b| b.iter_custom(may_peer::spawn_join));
    // rayon::join of two empty closures is in the join_empty group.
    g.bench_function("std_thread", |b| {
        b.iter(|| black_box(std::thread::spawn(|| black_box(1u64)).join().unwrap()))
    });
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

fn fib30(c: &mut Criterion) {
    let mut g = c.benchmark_group("fib30");
    g.sample_size(10);
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("heddle_join_{workers}_workers"), |b| {
            b.iter(|| assert_eq!(rt.block_on(|| workloads::fib_heddle(30)), 832_040))
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .unwrap();
        g.bench_function(format!("rayon_join_{workers}_threads"), |b| {
            b.iter(|| assert_eq!(pool.install(|| workloads::fib_rayon(30)), 832_040))
        });
    }
    g.finish();
}

/// `join` of two empty closures from a fiber (not stolen: the joiner takes
/// `b` back), against `rayon::join` on its own pool.
fn join_empty(c: &mut Criterion) {
    let mut g = c.benchmark_group("join_empty");
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("heddle_{workers}_workers"), |b| {
            b.iter_custom(|iters| {
                in_a_fiber(&rt, iters, |i| {
                    black_box(heddle::join(|| black_box(i), || black_box(i)));
                })
            })
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .unwrap();
        g.bench_function(format!("rayon_{workers}_threads"), |b| {
            b.iter_custom(|iters| {
                in_rayon(&pool, iters, |i| {
                    black_box(rayon::join(|| black_box(i), || black_box(i)));
                })
            })
        });
    }
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

/// Lock and unlock with nobody else around: the path the fair Mutex keeps
/// to one compare-and-swap each way. std's and parking_lot's mutexes, from
/// the same fiber, as peers.
fn mutex_uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex_uncontended");
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let m = heddle::sync::Mutex::new(0u64);
    g.bench_function("heddle_in_a_fiber", |b| {
        b.iter_custom(|iters| in_a_fiber(&rt, iters, |_| *black_box(&m).lock() += 1))
    });
    let m = std::sync::Mutex::new(0u64);
    g.bench_function("std_in_a_fiber", |b| {
        b.iter_custom(|iters| in_a_fiber(&rt, iters, |_| *black_box(&m).lock().unwrap() += 1))
    });
    let m = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot_in_a_fiber", |b| {
        b.iter_custom(|iters| in_a_fiber(&rt, iters, |_| *black_box(&m).lock() += 1))
    });
    g.finish();
}

/// `heddle::checkpoint` when nothing else waits: the call alone, and a
/// loop of ~10 µs units of work with and without a checkpoint after each.
fn checkpoint(c: &mut Criterion) {
    /// About 10 µs of arithmetic on this machine's cores.
    fn work() {
        let mut x = black_box(1u64);
        for i in 0..90_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        black_box(x);
    }
    let mut g = c.benchmark_group("checkpoint");
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    g.bench_function("call_in_a_fiber", |b| {
        b.iter_custom(|iters| in_a_fiber(&rt, iters, |_| heddle::checkpoint()))
    });
    g.bench_function("work_unit_alone", |b| {
        b.iter_custom(|iters| in_a_fiber(&rt, iters, |_| work()))
    });
    g.bench_function("work_unit_then_checkpoint", |b| {
        b.iter_custom(|iters| {
            in_a_fiber(&rt, iters, |_| {
                work();
                heddle::checkpoint();
            })
        })
    });
    g.finish();
}

/// `heddle::blocking(|| ())` from a fiber: the worker handed to a spare
/// thread and the fiber rejoining a worker, with nothing blocking between.
fn blocking_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("blocking_round_trip");
    for workers in [1, 2] {
        let rt = heddle::Builder::new().workers(workers).build().unwrap();
        g.bench_function(format!("{workers}_workers"), |b| {
            b.iter_custom(|iters| in_a_fiber(&rt, iters, |_| heddle::blocking(|| black_box(()))))
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
    targets = yield_round_trip, spawn_join, channel_ping_pong, mutex_uncontended, mutex_contended,
        fib30, join_empty, checkpoint, blocking_round_trip
}
criterion_main!(benches);
