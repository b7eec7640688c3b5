//! Skynet: the classic fiber benchmark. The root spawns ten fibers, each of
//! those ten more, down to a million leaves; leaf `i` returns `i` and every
//! node returns the sum of its children, so the root gets 499,999,500,000.
//! That is 1,111,111 fibers, each spawned, run and joined.
//!
//! It shows what spawn + join costs when nothing else happens, and that the
//! tree runs depth-first: a few dozen fibers are alive at once, not a level
//! of the tree with a stack each. Each worker count runs the same tree with
//! `rayon::join` and `rayon::scope` too (rayon runs closures on the thread's
//! own stack, with no fiber at all: the floor for any fork-join runtime).
//!
//! Run: `cargo run --release --example skynet` (a progress line per run goes
//! to stderr, the table to stdout)
//! Options: `--size N` leaves, a power of ten (default 1000000), `--reps N`
//! runs per cell, best and median shown (default 5), `--max-workers N`
//! (default: the number of cores).

use std::time::{Duration, Instant};

use heddle_workloads as workloads;
use workloads::arg;

/// Runs `f` `reps` times; returns (best, median), checking every result.
fn time(label: &str, reps: u64, expect: u64, mut f: impl FnMut() -> u64) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (1..=reps)
        .map(|rep| {
            let start = Instant::now();
            let sum = f();
            let took = start.elapsed();
            assert_eq!(sum, expect, "{label}: wrong sum");
            eprintln!("  {label}, run {rep}/{reps}: {:.1} ms", ms(took));
            took
        })
        .collect();
    times.sort();
    (times[0], times[times.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let size: u64 = arg("--size", 1_000_000);
    let reps: u64 = arg("--reps", 5u64).max(1);
    let max_workers = arg("--max-workers", num_cpus::get() as u64).max(1) as usize;
    if size < 10 || 10u64.pow(size.ilog10()) != size {
        eprintln!("--size must be a power of ten, at least 10");
        std::process::exit(2);
    }
    let expect = workloads::skynet_sum(size);
    let fibers = (10 * size - 1) / 9;
    println!("skynet: {size} leaves, {fibers} fibers per run; best / median of {reps}");
    println!(
        "{:>8} {:>20} {:>20} {:>20} {:>14}",
        "workers", "heddle", "rayon::join", "rayon::scope", "heddle/join"
    );
    for workers in 1..=max_workers {
        let rt = heddle::Builder::new()
            .workers(workers)
            .build()
            .expect("runtime");
        let h = time(
            &format!("heddle, {workers} worker(s)"),
            reps,
            expect,
            || rt.block_on(move || workloads::skynet_heddle(0, size)),
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .expect("rayon pool");
        let j = time(
            &format!("rayon::join, {workers} thread(s)"),
            reps,
            expect,
            || pool.install(|| workloads::skynet_rayon_join(0, size)),
        );
        let s = time(
            &format!("rayon::scope, {workers} thread(s)"),
            reps,
            expect,
            || pool.install(|| workloads::skynet_rayon_scope(0, size)),
        );
        let cell = |(best, median): (Duration, Duration)| {
            format!("{:.1} / {:.1} ms", ms(best), ms(median))
        };
        println!(
            "{:>8} {:>20} {:>20} {:>20} {:>13.1}x",
            workers,
            cell(h),
            cell(j),
            cell(s),
            ms(h.0) / ms(j.0)
        );
        let per = h.0.as_secs_f64() * 1e9 / fibers as f64;
        println!("{:>8} heddle: {per:.0} ns per fiber (spawn, run, join)", "");
    }
}
