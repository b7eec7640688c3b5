//! A latency-sensitive ticker beside CPU hogs, with and without
//! `heddle::checkpoint`.
//!
//! The ticker sleeps 1 ms at a time and records how late each wake-up is
//! (when it ran, minus when it asked to wake). Beside it, on the same
//! workers, hogs compute for a fixed time in ~10 µs steps. Without
//! checkpoints a hog holds its worker to the end, and the ticker waits for
//! it; with a `checkpoint()` after each step, the hog yields once its time
//! slice is used up and the ticker runs. The table shows the ticker's
//! lateness percentiles while the hogs run, and how long the hogs took.
//!
//! Run: `cargo run --release --example fairness`
//! Options: `--workers N` (default 1), `--hogs N` (default: one per worker),
//! `--hog-ms N` (default 400), `--slice-ms N` (time slice, default 2).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use heddle_workloads::arg;

/// Spin for about `d`, without yielding.
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

struct Run {
    /// Lateness of each tick due while the hogs ran, sorted.
    lateness: Vec<Duration>,
    /// Wall time from the hogs' start to the last one's end.
    hogs_took: Duration,
}

fn run(workers: usize, hogs: usize, hog: Duration, slice: Duration, checkpoints: bool) -> Run {
    let rt = heddle::Builder::new()
        .workers(workers)
        .time_slice(slice)
        .stall_threshold(Duration::MAX) // the hogs without checkpoints stall on purpose
        .build()
        .expect("runtime");
    rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let stop = stop.clone();
            heddle::spawn(move || {
                let mut ticks = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let due = Instant::now() + Duration::from_millis(1);
                    heddle::sleep(Duration::from_millis(1));
                    ticks.push((due, Instant::now().saturating_duration_since(due)));
                }
                ticks
            })
        };
        heddle::sleep(Duration::from_millis(5)); // the ticker is ticking
        let start = Instant::now();
        let hs: Vec<_> = (0..hogs)
            .map(|_| {
                heddle::spawn(move || {
                    let t = Instant::now();
                    while t.elapsed() < hog {
                        spin(Duration::from_micros(10));
                        if checkpoints {
                            heddle::checkpoint();
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let end = Instant::now();
        stop.store(true, Ordering::Relaxed);
        // Ticks that were due while the hogs ran.
        let mut lateness: Vec<_> = ticker
            .join()
            .unwrap()
            .into_iter()
            .filter(|&(due, _)| due >= start && due < end)
            .map(|(_, late)| late)
            .collect();
        lateness.sort();
        let hogs_took = end - start;
        Run {
            lateness,
            hogs_took,
        }
    })
}

fn percentile(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    format!("{:.2}", sorted[i].as_secs_f64() * 1e3)
}

fn main() {
    let workers: usize = arg("--workers", 1);
    let hogs: usize = arg("--hogs", workers);
    let hog = Duration::from_millis(arg("--hog-ms", 400));
    let slice = Duration::from_millis(arg("--slice-ms", 2));
    println!(
        "{workers} worker(s), {hogs} hog(s) of {} ms each, {} ms time slice; a ticker sleeps 1 ms at a time",
        hog.as_millis(),
        slice.as_millis()
    );
    println!();
    println!(
        "| hogs call checkpoint() | ticks due while hogs ran | lateness p50 | p90 | p99 | max (ms) | hogs took (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for checkpoints in [false, true] {
        let r = run(workers, hogs, hog, slice, checkpoints);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} |",
            if checkpoints { "every ~10 µs" } else { "no" },
            r.lateness.len(),
            percentile(&r.lateness, 0.50),
            percentile(&r.lateness, 0.90),
            percentile(&r.lateness, 0.99),
            percentile(&r.lateness, 1.0),
            r.hogs_took.as_secs_f64() * 1e3,
        );
    }
}
